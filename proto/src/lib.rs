//! Generated protobuf and tonic code for doq's public gRPC API. `queue` is DOQ's `doq.proto`,
//! unchanged, so clients generated from DOQ's file work against doq.

/// DOQ's package `queue`: messages, the `DOQ` service server and client.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod queue {
    tonic::include_proto!("queue");
}

/// The encoded file descriptor set, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("doq_descriptor");

/// The internal node-to-node service `doq.cluster.v1.Cluster` (Raft RPCs, forwarding); not a public API.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod cluster {
    tonic::include_proto!("doq.cluster.v1");
}
