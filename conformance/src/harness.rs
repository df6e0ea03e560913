//! One node (or a Raft cluster of one or three), in-process, on a temporary data directory, with a clock
//! the case moves.
//!
//! The harness binds its own port-0 listeners, injects a shared [`ManualClock`] through
//! [`doq_server::server::Deps`], and keeps the [`TempDir`] alive so [`Harness::restart`] reopens the
//! same stores. Nothing here sleeps to reach a deadline: due times and lease expiry are an
//! [`Harness::advance`]. Raft rows use test timings (heartbeat 50 ms, election 500 ms): node 0
//! bootstraps and leads at once, the others join it over HTTP, and the client talks to a follower in a
//! three-node row, so every write is forwarded and every read goes through ReadIndex.
use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use doq_api::{ManualClock, Timestamp};
use doq_consensus::Role;
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

/// The storage backend a row runs on: an entry of doq-storage's registry (`doq_storage::REGISTRY`), so a
/// new backend gets its matrix rows without a change here, or a mix of them.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Backend {
    /// Every node on this backend.
    One(&'static doq_storage::Backend),
    /// A cluster whose replicas run on different backends: node `i` on the `i`th durable backend of the
    /// registry, round robin (redb, rocksdb, sled in the default build; replication carries commands and
    /// snapshots, never a backend's bytes). Single-node rows use the first.
    Mixed,
}

impl PartialEq for Backend {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Backend {}

impl Backend {
    /// The compiled-in backend called `name` (a `storage.backend` value).
    ///
    /// # Panics
    /// If doq-storage was built without it: the conformance crate enables every backend of the registry.
    #[allow(
        clippy::panic,
        reason = "a matrix row for a backend that is not compiled in is a build error"
    )]
    pub fn named(name: &str) -> Self {
        match doq_storage::Backend::resolve(name) {
            Ok(b) => Self::One(b),
            Err(e) => panic!("conformance backend: {e}"),
        }
    }

    /// Every compiled-in backend, in registry order.
    pub fn all() -> impl Iterator<Item = Self> {
        doq_storage::REGISTRY.iter().map(Self::One)
    }

    /// The `storage.backend` value (`mixed` for [`Backend::Mixed`]).
    pub fn name(self) -> &'static str {
        match self {
            Self::One(b) => b.name,
            Self::Mixed => "mixed",
        }
    }

    /// The backend node `i` of a row runs on.
    #[allow(
        clippy::panic,
        reason = "a mixed row without a durable backend compiled in is a build error"
    )]
    pub fn of_node(self, i: usize) -> Backend {
        match self {
            Self::Mixed => {
                let durable: Vec<_> = doq_storage::REGISTRY.iter().filter(|b| b.durable).collect();
                match durable.get(i % durable.len().max(1)) {
                    Some(b) => Self::One(b),
                    None => panic!("a mixed row needs a durable backend"),
                }
            }
            other => other,
        }
    }

    /// What the backend can do; cases take capabilities, never backend names.
    pub fn caps(self) -> Caps {
        Caps {
            durable: match self {
                Self::One(b) => b.durable,
                Self::Mixed => true,
            },
            voters: 1,
        }
    }
}

/// How the node orders commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// `consensus = single`: one node with group commit.
    Single,
    /// `consensus = raft` with one voter.
    Raft1,
    /// `consensus = raft` with three voters; the client talks to a follower.
    Raft3,
}

impl Mode {
    /// How many nodes the row runs.
    pub fn nodes(self) -> usize {
        match self {
            Self::Single | Self::Raft1 => 1,
            Self::Raft3 => 3,
        }
    }
}

/// How long the harness waits for a leader or for replicas to catch up before it fails the test.
const CONVERGE: Duration = Duration::from_secs(30);

/// Capabilities of a matrix row. Cases branch on these, never on the backend or mode itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Caps {
    /// Acknowledged writes survive a restart.
    pub durable: bool,
    /// How many voting members the cluster view lists.
    pub voters: usize,
}

/// A running node plus everything needed to restart it: the data directory, the configuration and
/// the clock.
pub struct Harness {
    backend: Backend,
    mode: Mode,
    clock: ManualClock,
    /// One configuration per node; node 0 bootstraps, the others join it.
    configs: Mutex<Vec<Config>>,
    client: Client,
    /// Empty only while [`Harness::restart`] swaps nodes.
    nodes: Mutex<Vec<Node>>,
    /// Which of `nodes` the client talks to: a follower in a three-node row.
    client_node: Mutex<usize>,
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
        config.storage.backend = backend.of_node(0).name().into();
        config.storage.data_dir = dir.path().to_path_buf();
        config.storage.sync = "always".into();
        // A few MiB: rows run in parallel on a 2-core CI box (ARCHITECTURE.md, "CI budget").
        config.storage.cache_bytes = 4 << 20;
        config.storage.rocksdb.write_buffer_bytes = 4 << 20;
        config.http.host = "127.0.0.1".into();
        config.http.port = 0;
        config.grpc.address = String::new();
        let mut configs = Vec::new();
        match mode {
            Mode::Single => {
                config.consensus = "single".into();
                configs.push(config);
            }
            Mode::Raft1 | Mode::Raft3 => {
                config.consensus = "raft".into();
                config.raft.heartbeat_interval_ms = 50;
                config.raft.election_timeout_ms = 500;
                config.cluster.secret = "conformance".into();
                for i in 0..mode.nodes() {
                    let mut c = config.clone();
                    c.cluster.node_id = format!("node-{i}");
                    c.storage.backend = backend.of_node(i).name().into();
                    // Port 0 now; the port the OS picks is kept for restarts, since members
                    // remember each other's Raft addresses.
                    c.raft.address = "127.0.0.1:0".into();
                    configs.push(c);
                }
            }
        }
        let clock = ManualClock::new(START);
        let nodes = boot_all(&mut configs, &clock)
            .await
            .expect("start the nodes under test");
        let client_node = client_index(mode, &nodes)
            .await
            .unwrap_or_else(|e| fail(format!("pick the client's node: {e:#}")));
        let client = Client::new(format!("http://{}", nodes[client_node].http_addr));
        info!(backend = backend.name(), ?mode, addr = %nodes[client_node].http_addr, "harness started");
        Self {
            backend,
            mode,
            clock,
            configs: Mutex::new(configs),
            client,
            nodes: Mutex::new(nodes),
            client_node: Mutex::new(client_node),
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
        Caps {
            voters: self.mode.nodes(),
            ..self.backend.caps()
        }
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

    /// The engine's digest of the whole logical state (a restart or a replica must agree on it). In a
    /// cluster it first waits until every replica has applied what the leader has, and fails the test
    /// if any replica's digest differs.
    pub async fn digest(&self) -> u64 {
        let views: Vec<_> = {
            let nodes = self.nodes.lock().unwrap_or_else(PoisonError::into_inner);
            if nodes.is_empty() {
                fail("digest: no node is running")
            }
            nodes.iter().map(|n| n.consensus.clone()).collect()
        };
        let deadline = tokio::time::Instant::now() + CONVERGE;
        loop {
            let applied: Vec<u64> = views.iter().map(|c| c.status().last_applied).collect();
            let digests: Vec<u64> = views
                .iter()
                .map(|c| {
                    c.view()
                        .digest()
                        .unwrap_or_else(|e| fail(format!("digest: {e}")))
                })
                .collect();
            let caught_up = applied.iter().all(|a| *a == applied[0]);
            if caught_up && digests.iter().all(|d| *d == digests[0]) {
                let client = *self
                    .client_node
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                return digests[client.min(digests.len() - 1)];
            }
            if tokio::time::Instant::now() > deadline {
                fail(format!(
                    "replicas disagree: applied {applied:?}, digests {digests:x?}"
                ))
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The log index the serving node has applied, once every replica agrees (see [`Harness::digest`]).
    /// Cases use it to count the commands a request made.
    pub async fn applied(&self) -> u64 {
        self.digest().await;
        let client = *self
            .client_node
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let nodes = self.nodes.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(node) = nodes.get(client.min(nodes.len().saturating_sub(1))) else {
            fail("applied: no node is running")
        };
        node.consensus.status().last_applied
    }

    /// Stops every node gracefully and starts them again on the same directories and clock.
    pub async fn restart(&self) {
        info!("harness: restarting the nodes");
        self.stop_nodes().await;
        let mut configs = self
            .configs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let nodes = boot_all(&mut configs, &self.clock)
            .await
            .unwrap_or_else(|e| fail(format!("restart the nodes: {e:#}")));
        let client_node = client_index(self.mode, &nodes)
            .await
            .unwrap_or_else(|e| fail(format!("pick the client's node: {e:#}")));
        self.client
            .set_base(format!("http://{}", nodes[client_node].http_addr));
        *self
            .client_node
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = client_node;
        *self.configs.lock().unwrap_or_else(PoisonError::into_inner) = configs;
        *self.nodes.lock().unwrap_or_else(PoisonError::into_inner) = nodes;
    }

    /// Stops the nodes gracefully; fails the test if a shutdown reports an error. In a cluster it first
    /// requires every replica to reach the same state ([`Harness::digest`]), so every case checks
    /// replication, not only the ones that ask for a digest.
    pub async fn stop(self) {
        if self.mode.nodes() > 1 {
            self.digest().await;
        }
        self.stop_nodes().await;
    }

    async fn stop_nodes(&self) {
        let nodes = std::mem::take(&mut *self.nodes.lock().unwrap_or_else(PoisonError::into_inner));
        if nodes.is_empty() {
            fail("stop: no node is running")
        }
        // Followers first, so the leader is there while they leave.
        for node in nodes.into_iter().rev() {
            if let Err(e) = node.stop().await {
                fail(format!("graceful stop failed: {e:#}"));
            }
        }
    }
}

/// The node the client talks to: in a three-node row a follower (node 1 unless it leads), so every
/// write is forwarded and every confirming read goes through ReadIndex; the row fails if none is one.
async fn client_index(mode: Mode, nodes: &[Node]) -> anyhow::Result<usize> {
    if mode != Mode::Raft3 {
        return Ok(0);
    }
    let deadline = tokio::time::Instant::now() + CONVERGE;
    loop {
        let status: Vec<_> = nodes.iter().map(|n| n.consensus.status()).collect();
        let leader = status.iter().position(|s| s.role == Role::Leader);
        // A follower that knows the leader, and the leader agrees it leads.
        let follower = [1, 2, 0].into_iter().find(|&i| {
            status.get(i).is_some_and(|s| {
                s.role == Role::Follower
                    && leader.is_some_and(|l| s.leader_id.as_ref() == Some(&status[l].node_id))
            })
        });
        if let Some(i) = follower {
            return Ok(i);
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("no follower that knows the leader within {CONVERGE:?}: {status:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts every node: node 0 first (it bootstraps a new cluster, or restarts as the member it was), then
/// the others, joining through node 0's HTTP address when their store is empty. Waits until the
/// client's node knows a leader. Records the Raft addresses the OS picked in `configs`.
async fn boot_all(configs: &mut [Config], clock: &ManualClock) -> anyhow::Result<Vec<Node>> {
    let mut nodes: Vec<Node> = Vec::with_capacity(configs.len());
    for config in configs.iter_mut() {
        if let Some(first) = nodes.first() {
            config.cluster.join_addr = first.http_addr.to_string();
        }
        let node = boot_retrying(config, clock).await?;
        if let Some(raft) = node.raft_addr {
            config.raft.address = raft.to_string();
        }
        nodes.push(node);
    }
    if configs.len() > 1 || configs.first().is_some_and(|c| c.consensus == "raft") {
        let deadline = tokio::time::Instant::now() + CONVERGE;
        for node in &nodes {
            while node.consensus.status().leader_id.is_none() {
                if tokio::time::Instant::now() > deadline {
                    anyhow::bail!("no leader within {CONVERGE:?}");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    Ok(nodes)
}

/// [`boot`], retried for a few seconds while the data directory is still locked or the Raft port still
/// bound: after a graceful stop, tasks of the stopped Raft node (replication streams, peer connections)
/// may hold them for a moment longer. A process exit ends them at once; in one process the harness waits them out.
async fn boot_retrying(config: &Config, clock: &ManualClock) -> anyhow::Result<Node> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match boot(config, clock).await {
            Err(e)
                if (e
                    .downcast_ref::<doq_storage::Error>()
                    .is_some_and(doq_storage::Error::is_locked)
                    || e.downcast_ref::<std::io::Error>()
                        .is_some_and(|io| io.kind() == std::io::ErrorKind::AddrInUse))
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

/// Binds a port-0 HTTP listener (and the Raft address in raft mode) and starts a node on them.
async fn boot(config: &Config, clock: &ManualClock) -> anyhow::Result<Node> {
    let http = TcpListener::bind("127.0.0.1:0").await?;
    let raft = if config.consensus == "raft" {
        Some(TcpListener::bind(&config.raft.address).await?)
    } else {
        None
    };
    let deps = Deps {
        clock: Some(Arc::new(clock.clone())),
        store: None,
        ..Deps::default()
    };
    server::start(
        config.clone(),
        Listeners {
            http,
            grpc: None,
            raft,
        },
        deps,
    )
    .await
}
