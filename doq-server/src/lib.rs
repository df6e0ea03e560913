//! The doq process: configuration (`config`), the command line (`cli`), the DOQ-compatible HTTP and gRPC
//! APIs (`http`, `grpc`, with `errors` as the one place errors meet the wire), TLS for both (`tls`) and the node
//! itself (`server::run`), what an operator sees of it (`metrics` for `GET /metrics`, `telemetry` for logs),
//! and the admin UI served beside the API (`ui`).
//! The binary only calls [`cli::main`]; tests start nodes in-process with [`server::run_with`].
pub mod access;
mod backup_cli;
mod bearer;
pub mod cli;
pub mod config;
pub mod discovery;
pub mod errors;
#[doc(hidden)]
pub mod fuzzing;
pub mod grpc;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod peer_tls;
mod probe;
#[cfg(feature = "pprof")]
mod profile;
mod progress;
pub mod server;
pub mod telemetry;
pub mod testing;
pub mod tls;
mod ui;
pub mod waiters;
