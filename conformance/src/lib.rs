//! doq's conformance suite.
//!
//! - [`harness`] starts one node in-process (any backend, any consensus mode) on a temporary data
//!   directory, with a [`doq_api::ManualClock`] that cases advance instead of sleeping.
//! - [`client`] is a small JSON client; [`check`] holds the assertions every case uses, so an API
//!   change touches one place.
//! - [`cases`] are the semantic cases, plain `async fn case(h: &Harness)`, one file per topic.
//!   `tests/matrix` runs every case on every backend × mode row; `tests/e2e` drives the real binary.
//! - [`chaos`] is the fault harness behind `doq-chaos`: a cluster in network namespaces under
//!   partitions, pauses and kills, and a checker over the recorded history.
pub mod cases;
pub mod chaos;
pub mod check;
pub mod client;
pub mod harness;
pub mod ops;

pub use check::fail;
pub use client::{Client, FullReply, Reply};
pub use harness::{Backend, Caps, Harness, Mode};
