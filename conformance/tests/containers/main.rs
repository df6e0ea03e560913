//! doq in containers, against a real Docker daemon: the image deploy/test-image.sh builds from this
//! build's binary (the runtime layout of deploy/Dockerfile, FROM scratch, since no base image can be
//! pulled), the compose file, containers on a private network (single-node smoke; a 3-node cluster
//! through a leader stop, a follower's network partition and a rolling restart, nothing acknowledged
//! lost), and the rendered Kubernetes manifests (`kubectl kustomize`).
//!
//! Containers are started, stopped and inspected through the `testcontainers` crate (0.28, the Docker
//! API over the daemon's unix socket); images, networks, volumes, network (dis)connects, healthcheck
//! status and log tails through the docker CLI ([`docker`]), which testcontainers has no calls for.
//! Everything a test creates is labelled `doq-test=<run>` and removed by id. Docker Engine 20.10
//! refuses versioned calls newer than API 1.41 ("client version 1.53 is too new"); bollard under
//! testcontainers sends unversioned paths, which the daemon serves at its own version. Containers reach
//! each other by container name, Docker's DNS on a user-defined network (testcontainers sets no aliases).
//!
//! Without a Docker daemon (or kubectl, for the manifests) these tests fail and say so: they never
//! skip. Heavy tests run one at a time ([`serial`]).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions: a failure here is a test failure"
)]
mod cluster;
mod compose;
mod docker;
mod image;
mod k8s;
mod load;
mod single;

use std::{path::PathBuf, sync::OnceLock};

/// The binary the test image runs: the test build's (same `main` as `doq`), so CI builds no release
/// binary and no second RocksDB.
const BIN: &str = env!("CARGO_BIN_EXE_doq-e2e");

/// The repository root.
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("conformance/ lives in the repository")
        .to_path_buf()
}

/// Shows the tests' `--- phase` lines for failed tests; `RUST_LOG` filters.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// Held by every test that starts containers: on 2 cores, clusters started side by side would
/// time each other out.
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: OnceLock<tokio::sync::Mutex<()>> = OnceLock::new();
    LOCK.get_or_init(|| tokio::sync::Mutex::new(()))
        .lock()
        .await
}
