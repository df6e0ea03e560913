//! Every conformance case on every backend × consensus row. One module per row, one test per case:
//! `cargo test -p doq-conformance --test matrix redb_single::` runs one row,
//! `… --test matrix ::manual_ack` one case everywhere.
use doq_conformance::{cases, Backend, Harness, Mode};

/// Shows the cases' `--- phase` lines (and the server's logs) for failed tests; `RUST_LOG` filters.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// One `#[tokio::test]` per case, each on a fresh harness of the row.
macro_rules! case_tests {
    ($backend:expr, $mode:expr; $($case:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            crate::init_tracing();
            let h = Harness::start($backend, $mode).await;
            cases::$case(&h).await;
            h.stop().await;
        }
    )*};
}

/// One module per row, over the full case list of `doq_conformance::for_each_case!`.
macro_rules! matrix {
    ($($row:ident => ($backend:expr, $mode:expr)),* $(,)?) => {$(
        mod $row {
            use super::*;
            doq_conformance::for_each_case!(case_tests!($backend, $mode));
        }
    )*};
}

matrix! {
    memory_single => (Backend::Memory, Mode::Single),
    redb_single => (Backend::Redb, Mode::Single),
    rocksdb_single => (Backend::RocksDb, Mode::Single),
    sled_single => (Backend::Sled, Mode::Single),
    memory_raft1 => (Backend::Memory, Mode::Raft1),
    redb_raft1 => (Backend::Redb, Mode::Raft1),
    rocksdb_raft1 => (Backend::RocksDb, Mode::Raft1),
    sled_raft1 => (Backend::Sled, Mode::Raft1),
    memory_raft3 => (Backend::Memory, Mode::Raft3),
    redb_raft3 => (Backend::Redb, Mode::Raft3),
    rocksdb_raft3 => (Backend::RocksDb, Mode::Raft3),
    sled_raft3 => (Backend::Sled, Mode::Raft3),
    mixed_raft3 => (Backend::Mixed, Mode::Raft3),
}
