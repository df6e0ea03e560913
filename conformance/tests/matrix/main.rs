//! Every conformance case on every backend × consensus row. One module per row, one test per case:
//! `cargo test -p doq-conformance --test matrix redb::single::` runs one row, `… matrix redb::` one backend,
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

/// One module per backend of doq-storage's registry (`doq_storage::for_each_backend!`) and, in it, one per
/// consensus mode, over the full case list of `doq_conformance::for_each_case!`. The registry's `#[cfg]`s
/// name doq-storage's features, so they are dropped here: this crate builds every backend.
macro_rules! matrix {
    ($($(#[$cfg:meta])* $backend:ident: $store:ident;)*) => {$(
        mod $backend {
            use super::*;
            mod single {
                use super::*;
                doq_conformance::for_each_case!(case_tests!(Backend::named(stringify!($backend)), Mode::Single));
            }
            mod raft1 {
                use super::*;
                doq_conformance::for_each_case!(case_tests!(Backend::named(stringify!($backend)), Mode::Raft1));
            }
            mod raft3 {
                use super::*;
                doq_conformance::for_each_case!(case_tests!(Backend::named(stringify!($backend)), Mode::Raft3));
            }
        }
    )*};
}

doq_storage::for_each_backend!(matrix);

/// Replicas on different backends (`Backend::Mixed`): a three-node row only.
mod mixed {
    use super::*;
    mod raft3 {
        use super::*;
        doq_conformance::for_each_case!(case_tests!(Backend::Mixed, Mode::Raft3));
    }
}
