//! doq's load generators, driving a node through its public APIs only. [`load`] is `doq bench`: virtual
//! users looping enqueue → dequeue → ack over HTTP or gRPC, with latency percentiles and JSON output.
//! The `doq-grpc-bench` binary (`main.rs`) measures the gRPC streams.
pub mod load;
