//! Generated protobuf and tonic code for doq's public gRPC API. `queue` is DOQ's `doq.proto`,
//! unchanged, so clients generated from DOQ's file work against doq; `ext` is doq's own extension
//! service (`doq_ext.proto`, package `doq.ext.v1`). Both come with server and client code.

/// DOQ's package `queue`: messages, the `DOQ` service server and client.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod queue {
    tonic::include_proto!("queue");
}

/// doq's package `doq.ext.v1`: the `DOQExt` service (batches, `Subscribe`), server and client.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod ext {
    tonic::include_proto!("doq.ext.v1");
}

/// The encoded file descriptor set of both packages, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("doq_descriptor");

/// The internal node-to-node service `doq.cluster.v1.Cluster` (Raft RPCs, forwarding); not a public API.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod cluster {
    tonic::include_proto!("doq.cluster.v1");
}
