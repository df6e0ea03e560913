//! One node, in-process, on a temporary data directory, with a clock the case moves.
//!
//! The harness binds its own port-0 listener, injects a shared [`ManualClock`] through
//! [`doq_server::server::Deps`], and keeps the [`TempDir`] alive so [`Harness::restart`] reopens the
//! same store. Nothing here sleeps: due times and lease expiry are an [`Harness::advance`].
use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use doq_api::{ManualClock, Timestamp};
use doq_server::{
    config::Config,
    server::{self, Deps, Listeners, Node},
};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tracing::info;

use crate::{check::fail, client::Client};

/// Where the clock starts: a realistic Unix time (2027-01-15) on a whole second, so delayed-queue
/// priorities near "now" behave as in production.
pub const START: Timestamp = Timestamp(1_800_000_000_000);

/// The storage backend a node runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// `storage.backend = memory`: nothing survives a restart.
    Memory,
    /// `storage.backend = redb`.
    Redb,
    /// `storage.backend = rocksdb`.
    RocksDb,
    /// `storage.backend = sled`.
    Sled,
}

impl Backend {
    /// The `storage.backend` value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Redb => "redb",
            Self::RocksDb => "rocksdb",
            Self::Sled => "sled",
        }
    }

    /// What the backend can do; cases take capabilities, never backend names.
    pub fn caps(self) -> Caps {
        match self {
            Self::Memory => Caps { durable: false },
            Self::Redb | Self::RocksDb | Self::Sled => Caps { durable: true },
        }
    }
}

/// How the node orders commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// `consensus = single`: one node with group commit.
    Single,
}

/// Capabilities of a matrix row. Cases branch on these, never on the backend or mode itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Caps {
    /// Acknowledged writes survive a restart.
    pub durable: bool,
}

/// A running node plus everything needed to restart it: the data directory, the configuration and
/// the clock.
pub struct Harness {
    backend: Backend,
    mode: Mode,
    clock: ManualClock,
    config: Config,
    client: Client,
    /// `None` only while [`Harness::restart`] swaps nodes.
    node: Mutex<Option<Node>>,
    /// Kept last so the directory outlives the node.
    _dir: TempDir,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("backend", &self.backend)
            .field("mode", &self.mode)
            .field("now", &self.now())
            .field("base", &self.client.base())
            .finish_non_exhaustive()
    }
}

impl Harness {
    /// Starts one node of `backend` in `mode` on a fresh temporary directory.
    #[allow(
        clippy::expect_used,
        reason = "harness start-up: a node that cannot start fails the test"
    )]
    pub async fn start(backend: Backend, mode: Mode) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("doq-conformance-")
            .tempdir()
            .expect("create a temporary data directory");
        let mut config = Config::default();
        config.storage.backend = backend.name().into();
        config.storage.data_dir = dir.path().to_path_buf();
        config.storage.sync = "always".into();
        // A few MiB: rows run in parallel on a 2-core CI box (ARCHITECTURE.md, "CI budget").
        config.storage.cache_bytes = 4 << 20;
        config.storage.rocksdb.write_buffer_bytes = 4 << 20;
        config.http.host = "127.0.0.1".into();
        config.http.port = 0;
        config.grpc.address = String::new();
        match mode {
            Mode::Single => config.consensus = "single".into(),
        }
        let clock = ManualClock::new(START);
        let node = boot(&config, &clock)
            .await
            .expect("start the node under test");
        let client = Client::new(format!("http://{}", node.http_addr));
        info!(backend = backend.name(), ?mode, addr = %node.http_addr, "harness started");
        Self {
            backend,
            mode,
            clock,
            config,
            client,
            node: Mutex::new(Some(node)),
            _dir: dir,
        }
    }

    /// The backend under test.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The consensus mode under test.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// What this row can do.
    pub fn caps(&self) -> Caps {
        self.backend.caps()
    }

    /// Whether acknowledged writes survive [`Harness::restart`].
    pub fn durable(&self) -> bool {
        self.caps().durable
    }

    /// A client of the node (it follows the node across restarts).
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The node's current time.
    pub fn now(&self) -> Timestamp {
        doq_api::Clock::now(&self.clock)
    }

    /// The node's current time in whole Unix seconds, the unit of delayed-queue priorities.
    pub fn now_secs(&self) -> u64 {
        self.now().as_secs()
    }

    /// Moves the shared clock forward by `by`. Never sleep instead.
    pub fn advance(&self, by: Duration) {
        self.clock
            .advance_ms(u64::try_from(by.as_millis()).unwrap_or(u64::MAX));
    }

    /// The engine's digest of the whole logical state (a restart or a replica must agree on it).
    pub fn digest(&self) -> u64 {
        let guard = self.node.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(node) = guard.as_ref() else {
            fail("digest: no node is running")
        };
        node.consensus
            .view()
            .digest()
            .unwrap_or_else(|e| fail(format!("digest: {e}")))
    }

    /// Stops the node gracefully and starts a new one on the same directory and clock.
    pub async fn restart(&self) {
        info!("harness: restarting the node");
        self.stop_node().await;
        let node = boot(&self.config, &self.clock)
            .await
            .unwrap_or_else(|e| fail(format!("restart the node: {e:#}")));
        self.client.set_base(format!("http://{}", node.http_addr));
        *self.node.lock().unwrap_or_else(PoisonError::into_inner) = Some(node);
    }

    /// Stops the node gracefully; fails the test if the shutdown reports an error.
    pub async fn stop(self) {
        self.stop_node().await;
    }

    async fn stop_node(&self) {
        let node = self
            .node
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(node) = node else {
            fail("stop: no node is running")
        };
        if let Err(e) = node.stop().await {
            fail(format!("graceful stop failed: {e:#}"));
        }
    }
}

/// Binds a port-0 listener and starts a node on it.
async fn boot(config: &Config, clock: &ManualClock) -> anyhow::Result<Node> {
    let http = TcpListener::bind("127.0.0.1:0").await?;
    let deps = Deps {
        clock: Some(Arc::new(clock.clone())),
        store: None,
    };
    server::start(config.clone(), Listeners { http, grpc: None }, deps).await
}
