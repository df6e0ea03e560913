//! The node: open the store, recover the engine, start consensus, serve HTTP and gRPC (over TLS when
//! `tls.cert` and `tls.key` are set) until shutdown, then drain in-flight requests, stop consensus and
//! flush. The Raft start-up and join live in `raft_start`.
mod raft_start;

use std::{future::Future, net::SocketAddr, path::Path, sync::Arc, time::Duration};

use anyhow::Context as _;
use axum::{
    extract::Request,
    middleware::{self, Next},
};
use doq_api::Clock;
use doq_consensus::{Checked, Consensus, SingleNode, SingleOptions, SystemClock};
use doq_storage::{QueueStore, StoreOptions, Stores};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;
use tracing::{info, warn};

use self::raft_start::start_raft;
use crate::{
    access::{Access, ClientAddr},
    config::Config,
    discovery::{Discovery, DnsResolver, PeerResolver},
    grpc::{self, DoqService, GrpcOptions},
    http::{self, AppState},
    metrics::Metrics,
    testing::Hooks,
    tls::Tls,
    waiters::Waiters,
};

/// How long shutdown waits for in-flight requests before it stops serving anyway.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// The sockets a node serves. Binding is separate from serving so tests can bind port 0.
#[derive(Debug)]
pub struct Listeners {
    /// The HTTP API.
    pub http: TcpListener,
    /// The gRPC API (`grpc.address`); `None` serves no gRPC.
    pub grpc: Option<TcpListener>,
    /// Node-to-node traffic (`raft.address`); required with `consensus = raft`, unused otherwise.
    pub raft: Option<TcpListener>,
}

impl Listeners {
    /// Binds what `config` asks for.
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        let addr = format!("{}:{}", config.http.host, config.http.port);
        let http = TcpListener::bind(&addr)
            .await
            .with_context(|| format!("bind HTTP on {addr}"))?;
        let grpc = match config.grpc.address.as_str() {
            "" => None,
            addr => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("bind gRPC on {addr}"))?,
            ),
        };
        let raft = if config.consensus == "raft" {
            let addr = config.raft_bind_addr();
            Some(
                TcpListener::bind(&addr)
                    .await
                    .with_context(|| format!("bind Raft on {addr}"))?,
            )
        } else {
            None
        };
        Ok(Self { http, grpc, raft })
    }
}

/// Parts a test may inject instead of the real ones.
#[derive(Debug, Default)]
pub struct Deps {
    /// The proposer's clock (a `ManualClock` in tests).
    pub clock: Option<Arc<dyn Clock>>,
    /// An already opened (or fault-injecting) store instead of opening `storage.*`.
    pub store: Option<Arc<dyn QueueStore>>,
    /// Where `cluster.service_name` discovery finds peers instead of the system's DNS.
    pub resolver: Option<Arc<dyn PeerResolver>>,
}

/// A running node.
pub struct Node {
    /// The node's consensus, for tests that read its state directly.
    pub consensus: Arc<dyn Consensus>,
    /// Where HTTP is served.
    pub http_addr: SocketAddr,
    /// Where gRPC is served, if it is.
    pub grpc_addr: Option<SocketAddr>,
    /// Where node-to-node traffic is served (raft mode).
    pub raft_addr: Option<SocketAddr>,
    stop: CancellationToken,
    serving: JoinHandle<std::io::Result<()>>,
    grpc_serving: Option<JoinHandle<anyhow::Result<()>>>,
    /// Stopped after consensus, so peers can still reach this node while it steps down.
    raft_serving: Option<(
        CancellationToken,
        JoinHandle<Result<(), tonic::transport::Error>>,
    )>,
}

/// Runs a node until `shutdown` completes, then shuts it down gracefully.
pub async fn run(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_with(config, listeners, shutdown, Deps::default()).await
}

/// [`run`] with injected parts.
pub async fn run_with(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
    deps: Deps,
) -> anyhow::Result<()> {
    let node = start(config, listeners, deps).await?;
    shutdown.await;
    info!("shutting down: draining requests");
    node.stop().await
}

/// Opens the store, recovers, and starts serving; returns once the node accepts requests.
pub async fn start(config: Config, listeners: Listeners, deps: Deps) -> anyhow::Result<Node> {
    config.validate()?;
    if let Some(w) = config.durability_warning() {
        warn!("{w}");
    }
    // Bad TLS files stop the node before anything is opened or served.
    let tls = if config.tls.cert.is_empty() {
        None
    } else {
        Some(Tls::load(
            Path::new(&config.tls.cert),
            Path::new(&config.tls.key),
        )?)
    };
    let stop = CancellationToken::new();
    // Test-only: a clock and a disk the fault harness steers through a file (`testing.control_file`).
    let mut hooks = match config.testing.control_file.as_str() {
        "" => None,
        file => Some(Hooks::new(Path::new(file))),
    };
    let clock: Arc<dyn Clock> = match (deps.clock, &hooks) {
        (Some(clock), _) => clock,
        (None, Some(h)) => Arc::new(h.clock.clone()),
        (None, None) => Arc::new(SystemClock),
    };
    let mut raft_parts = None;
    let consensus: Arc<dyn Consensus> = if config.consensus == "raft" {
        if deps.store.is_some() {
            anyhow::bail!("an injected store needs consensus = single");
        }
        let listener = listeners
            .raft
            .context("consensus = raft needs a raft listener")?;
        // No per-write sync: the Raft log flushes itself after each write (`flush_log`), and the
        // state machine's commits ride on it. For that reason the stores are not `reopening`: a
        // database reopened after a failed flush would lose the state machine's commits since the
        // last good one while the engine and Raft count them applied (a restart replays them from
        // the log instead).
        let mut stores = open_stores_with(&config, false).await?;
        if let Some(h) = hooks.as_mut() {
            stores = Stores {
                queues: h.wrap_queues(stores.queues),
                log: h.wrap_log(stores.log),
            };
        }
        if config.storage.sync == "never" {
            warn!("storage.sync = never: acknowledged writes may be lost on a crash, and Raft's guarantees with them");
            spawn_periodic_flush(stores.queues.clone(), stop.clone());
        }
        // The cluster id of a raft deployment comes from its log (see the applier), never from a node.
        spawn_tombstone_pruning(
            &stores.queues,
            clock.clone(),
            config.backup.tombstone_retention,
            stop.clone(),
        );
        let discovery = if config.cluster.service_name.is_empty() {
            None
        } else {
            let resolver: Arc<dyn PeerResolver> = match deps.resolver {
                Some(resolver) => resolver,
                None => Arc::new(DnsResolver::system(
                    &config.cluster.service_name,
                    &config.cluster.namespace,
                )?),
            };
            Some(Discovery::new(&config, resolver)?)
        };
        let (node, raft_addr, raft_serving) = start_raft(
            &config,
            listener,
            stores,
            clock,
            discovery.as_ref(),
            tls.as_ref(),
        )
        .await?;
        raft_parts = Some((raft_addr, raft_serving));
        node
    } else {
        let store = match deps.store {
            Some(store) => store,
            None => reopening(open_stores(&config).await?.queues, &config)?,
        };
        let store = match hooks.as_mut() {
            Some(h) => h.wrap_queues(store),
            None => store,
        };
        if config.storage.sync == "never" {
            warn!("storage.sync = never: acknowledged writes may be lost on a crash");
            spawn_periodic_flush(store.clone(), stop.clone());
        }
        prepare_backups(&store, &config, clock.clone(), &stop).await?;
        let options = SingleOptions {
            node_id: config.cluster.node_id.clone(),
            apply_timeout: Duration::from_secs(config.raft.apply_timeout),
            ..SingleOptions::default()
        };
        Arc::new(
            tokio::task::spawn_blocking(move || SingleNode::open(store, clock, options)).await??,
        )
    };

    if let Some(h) = hooks {
        h.spawn(stop.clone());
    }

    // Requests that must fail (an unknown queue, bad settings) are answered before they are ordered.
    let consensus: Arc<dyn Consensus> = Arc::new(Checked::new(consensus));
    let limits = config.limits;
    let metrics = if config.prometheus.enabled {
        let metrics = Arc::new(Metrics::new(consensus.view().backend())?);
        metrics.observe_commits(consensus.as_ref());
        Some(metrics)
    } else {
        None
    };
    let waiters = Waiters::default();
    let grpc_options = GrpcOptions {
        limits,
        default_ack_timeout: config.queue.default_acknowledgement_timeout,
        stats_window: config.queue.stats.window_side,
        auth_token: config.auth.token.clone(),
        waiters: waiters.clone(),
        metrics: metrics.clone(),
    };
    let state = AppState {
        consensus: consensus.clone(),
        limits,
        default_ack_timeout: config.queue.default_acknowledgement_timeout,
        stats_window: config.queue.stats.window_side,
        shutdown: stop.clone(),
        spool_dir: config.node_dir(),
        waiters,
        metrics: metrics.clone(),
        ui: config.ui.enabled,
    };
    if let Err(e) = std::fs::create_dir_all(&state.spool_dir) {
        warn!(error = %e, dir = %state.spool_dir.display(), "cannot create the node directory; restores will fail");
    }
    let access = Arc::new(
        Access::new(&config.auth.token, &config.cluster.secret)
            .protect_metrics(config.auth.protect_metrics),
    );
    info!("{}", access.describe());
    let mut router =
        http::routes(state).layer(middleware::from_fn(move |req: Request, next: Next| {
            access.clone().check(req, next)
        }));
    if let Some(metrics) = metrics {
        // Outside access, so refused requests (401, 403) are counted too.
        router = router.layer(middleware::from_fn_with_state(
            metrics,
            crate::metrics::observe,
        ));
    }
    let router = http::layers::wrap(router, config.logging.access)
        .into_make_service_with_connect_info::<ClientAddr>();

    let http_addr = listeners.http.local_addr()?;
    let graceful = stop.clone();
    let serving = match &tls {
        None => tokio::spawn(async move {
            axum::serve(listeners.http, router)
                .with_graceful_shutdown(async move { graceful.cancelled().await })
                .await
        }),
        Some(tls) => {
            let listener = tls.http_listener(listeners.http, stop.clone())?;
            tokio::spawn(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(async move { graceful.cancelled().await })
                    .await
            })
        }
    };
    let (grpc_addr, grpc_serving) = match listeners.grpc {
        Some(listener) => {
            let addr = listener.local_addr()?;
            // Same consensus, same shutdown token: streams and long polls end when the node stops.
            let service = DoqService::new(consensus.clone(), grpc_options, stop.clone());
            let serving = match &tls {
                None => {
                    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
                    tokio::spawn(grpc::serve(service, incoming))
                }
                Some(tls) => {
                    let incoming = tls.grpc_incoming(listener, stop.clone());
                    tokio::spawn(grpc::serve(service, incoming))
                }
            };
            (Some(addr), Some(serving))
        }
        None => (None, None),
    };
    let (raft_addr, raft_serving) = match raft_parts {
        Some((addr, serving)) => (Some(addr), Some(serving)),
        None => (None, None),
    };
    info!(%http_addr, ?grpc_addr, ?raft_addr, tls = tls.is_some(), backend = consensus.view().backend(), node_id = %config.cluster.node_id, consensus = %config.consensus, "doq is serving");
    Ok(Node {
        consensus,
        http_addr,
        grpc_addr,
        raft_addr,
        stop,
        serving,
        grpc_serving,
        raft_serving,
    })
}

/// The file in a node directory that names the consensus mode that owns it.
pub const CONSENSUS_FILE: &str = "DOQ_CONSENSUS";

/// Refuses a node directory created in the other consensus mode (docs/cluster.md §5: move data by backup and
/// restore), and records the mode in a new one. A directory with a store but no mode file predates the
/// file and was single-mode.
fn check_mode(dir: &std::path::Path, mode: &str) -> anyhow::Result<()> {
    let path = dir.join(CONSENSUS_FILE);
    match std::fs::read_to_string(&path) {
        Ok(found) if found.trim() == mode => Ok(()),
        Ok(found) => anyhow::bail!(
            "{} was created with consensus = {}; it cannot run with consensus = {mode} (move the data with backup and restore)",
            dir.display(),
            found.trim()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if mode != "single" && dir.join(doq_storage::MARKER_FILE).exists() {
                anyhow::bail!(
                    "{} holds a consensus = single store; it cannot run with consensus = {mode} (move the data with backup and restore)",
                    dir.display()
                );
            }
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
            let mut f = std::fs::File::create(&path)
                .with_context(|| format!("create {}", path.display()))?;
            std::io::Write::write_all(&mut f, format!("{mode}\n").as_bytes())
                .and_then(|()| f.sync_all())
                .with_context(|| format!("write {}", path.display()))
        }
        Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
    }
}

/// Opens both views of the configured store in the node directory.
async fn open_stores(config: &Config) -> anyhow::Result<Stores> {
    open_stores_with(config, config.storage.sync == "always").await
}

/// [`open_stores`] with the per-write `sync` given.
async fn open_stores_with(config: &Config, sync: bool) -> anyhow::Result<Stores> {
    let dir = config.node_dir();
    check_mode(&dir, &config.consensus)?;
    let options = StoreOptions {
        sync,
        ..config.store_options()?
    };
    let backend = config.storage.backend.clone();
    let shown = dir.display().to_string();
    tokio::task::spawn_blocking(move || doq_storage::open_stores(&backend, &dir, &options))
        .await?
        .with_context(|| format!("open {} store in {shown}", config.storage.backend))
}

/// A single node's store, reopened from disk after a failed commit, so a node whose disk was full or
/// failing accepts writes again once it works, without a restart (redb and RocksDB latch I/O errors).
fn reopening(store: Arc<dyn QueueStore>, config: &Config) -> anyhow::Result<Arc<dyn QueueStore>> {
    if config.storage.backend == "memory" {
        return Ok(store); // nothing on disk to reopen
    }
    let backend = config.storage.backend.clone();
    let dir = config.node_dir();
    let options = StoreOptions {
        sync: config.storage.sync == "always",
        ..config.store_options()?
    };
    let open: doq_storage::Opener = Box::new(move || {
        tracing::warn!(%backend, "reopening the store after a storage error");
        doq_storage::open(&backend, &dir, &options)
    });
    Ok(Arc::new(doq_storage::Reopening::new(store, open)))
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("http_addr", &self.http_addr)
            .field("grpc_addr", &self.grpc_addr)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Stops accepting, drains in-flight requests (up to 10 s), stops consensus and flushes storage.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        let deadline = tokio::time::Instant::now() + DRAIN_DEADLINE;
        let mut serving = self.serving;
        match tokio::time::timeout_at(deadline, &mut serving).await {
            Ok(joined) => joined?.context("serve HTTP")?,
            Err(_) => {
                warn!("requests still running after the drain deadline; closing them");
                serving.abort();
            }
        }
        if let Some(mut grpc_serving) = self.grpc_serving {
            match tokio::time::timeout_at(deadline, &mut grpc_serving).await {
                Ok(joined) => joined?.context("serve gRPC")?,
                Err(_) => {
                    warn!("gRPC calls still running after the drain deadline; closing them");
                    grpc_serving.abort();
                }
            }
        }
        self.consensus.shutdown().await?;
        if let Some((token, serving)) = self.raft_serving {
            token.cancel();
            match tokio::time::timeout(DRAIN_DEADLINE, serving).await {
                Ok(joined) => joined?.context("serve Raft")?,
                Err(_) => warn!("Raft service did not stop within the drain deadline"),
            }
        }
        info!("stopped");
        Ok(())
    }
}

/// Draws the deployment's cluster id (docs/README.md, terms) the first time a store is served; backups carry it.
/// Gives the store a cluster id if it has none and starts pruning old tombstones: what backups need.
async fn prepare_backups(
    store: &Arc<dyn QueueStore>,
    config: &Config,
    clock: Arc<dyn Clock>,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let fresh = store.clone();
    tokio::task::spawn_blocking(move || ensure_cluster_id(&*fresh))
        .await?
        .context("store the cluster id")?;
    spawn_tombstone_pruning(
        store,
        clock,
        config.backup.tombstone_retention,
        stop.clone(),
    );
    Ok(())
}

/// Stores a fresh cluster id unless the store has one (backups name their source cluster with it).
fn ensure_cluster_id(store: &dyn QueueStore) -> doq_storage::Result<()> {
    if doq_storage::cluster_id(store)?.is_some() {
        return Ok(());
    }
    let mut batch = doq_storage::WriteBatch::new();
    batch.set_cluster_id(&uuid::Uuid::new_v4().to_string());
    store.commit(batch)
}

/// How often old tombstones are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// `backup.tombstone_retention`: deletions older than the retention (by the node's clock, which stamps
/// command time) are pruned once a minute, outside apply (docs/backup.md §8.1). The task holds the store weakly, so
/// a stopped node's store closes (and unlocks its directory) without waiting for the task to notice.
fn spawn_tombstone_pruning(
    store: &Arc<dyn QueueStore>,
    clock: Arc<dyn Clock>,
    retention_secs: u64,
    stop: CancellationToken,
) {
    let store = Arc::downgrade(store);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PRUNE_EVERY);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tick.tick() => {
                    let Some(store) = store.upgrade() else { break };
                    let cutoff = doq_api::Timestamp(
                        clock.now().0.saturating_sub(retention_secs.saturating_mul(1000)),
                    );
                    match tokio::task::spawn_blocking(move || doq_storage::backup::prune::prune(&*store, cutoff)).await {
                        Ok(Ok(0)) => {}
                        Ok(Ok(n)) => info!(pruned = n, "pruned old tombstones"),
                        Ok(Err(e)) => warn!(error = %e, "pruning tombstones failed"),
                        Err(e) => warn!(error = %e, "pruning task failed"),
                    }
                }
            }
        }
    });
}

/// With `storage.sync = never` commits are not synced one by one; sync them once a second so the
/// window of writes a crash can lose stays bounded (and redb can reclaim pages).
fn spawn_periodic_flush(store: Arc<dyn QueueStore>, stop: CancellationToken) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tick.tick() => {
                    let store = store.clone();
                    match tokio::task::spawn_blocking(move || store.flush()).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => warn!(error = %e, "periodic flush failed"),
                        Err(e) => warn!(error = %e, "periodic flush task failed"),
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::check_mode;

    /// The admin rules run on the real listener: the peer address reaches them (a loopback client may
    /// back up without a token), and a token, once set, is needed even from loopback.
    #[tokio::test]
    async fn admin_routes_see_the_client_address() {
        for (token, want) in [("", 200), ("t0ken", 401)] {
            let dir = tempfile::tempdir().unwrap();
            let mut config = crate::config::Config::default();
            config.http.host = "127.0.0.1".into();
            config.http.port = 0;
            config.grpc.address = String::new();
            config.storage.backend = "memory".into();
            config.storage.data_dir = dir.path().to_path_buf();
            config.auth.token = token.into();
            let listeners = super::Listeners::bind(&config).await.unwrap();
            let node = super::start(config, listeners, super::Deps::default())
                .await
                .unwrap();
            let url = format!("http://{}/db/backup", node.http_addr);
            let got = reqwest::get(&url).await.unwrap();
            assert_eq!(got.status().as_u16(), want, "token {token:?}");
            node.stop().await.unwrap();
        }
    }

    /// `/readyz` in a cluster: ready everywhere with a leader, `?leader=true` only on the leader, and
    /// 503 "no leader known" on a node whose peers are gone (it cannot elect itself).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn readyz_fails_without_a_leader() {
        let dir = tempfile::tempdir().unwrap();
        let start = |id: &str, join: String| {
            let mut config = crate::config::Config {
                consensus: "raft".into(),
                ..crate::config::Config::default()
            };
            config.cluster.node_id = id.into();
            config.cluster.join_addr = join;
            config.http.host = "127.0.0.1".into();
            config.http.port = 0;
            config.grpc.address = String::new();
            config.raft.address = "127.0.0.1:0".into();
            config.raft.heartbeat_interval_ms = 50;
            config.raft.election_timeout_ms = 300;
            config.storage.backend = "memory".into();
            config.storage.data_dir = dir.path().to_path_buf();
            async move {
                let listeners = super::Listeners::bind(&config).await.unwrap();
                super::start(config, listeners, super::Deps::default())
                    .await
                    .unwrap()
            }
        };
        let n0 = start("n0", String::new()).await;
        let seed = n0.http_addr.to_string();
        let n1 = start("n1", seed.clone()).await;
        let n2 = start("n2", seed).await;
        let readyz = |addr: std::net::SocketAddr, q: &'static str| async move {
            let resp = reqwest::get(format!("http://{addr}/readyz{q}"))
                .await
                .unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        };
        assert_eq!(readyz(n2.http_addr, "").await.0, 200);
        let leader = n2.consensus.status().leader_id.unwrap();
        let mut nodes = vec![("n0", n0), ("n1", n1), ("n2", n2)];
        // Keep a follower; stop the other two (the leader among them).
        let at = nodes.iter().position(|(id, _)| *id != leader).unwrap();
        let (_, kept) = nodes.remove(at);
        let (status, why) = readyz(kept.http_addr, "?leader=true").await;
        assert_eq!(status, 503, "{why}");
        assert!(why.starts_with("not the leader"), "{why}");
        for (_, n) in nodes {
            n.stop().await.unwrap();
        }
        // Two of three gone: the follower has no leader (no quorum to elect one) and says so.
        let mut last = (0, String::new());
        for _ in 0..100 {
            last = readyz(kept.http_addr, "").await;
            if last.0 == 503 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(last.0, 503, "{}", last.1);
        assert_eq!(last.1, "no leader known");
        kept.stop().await.unwrap();
    }

    #[test]
    fn a_node_directory_keeps_its_consensus_mode() {
        let dir = tempfile::tempdir().unwrap();
        let node = dir.path().join("node-0");
        check_mode(&node, "raft").unwrap();
        check_mode(&node, "raft").unwrap();
        let refused = check_mode(&node, "single").unwrap_err().to_string();
        assert!(refused.contains("consensus = raft"), "{refused}");
        // A store from before the mode file existed was single-mode.
        let old = dir.path().join("node-1");
        std::fs::create_dir_all(&old).unwrap();
        std::fs::write(old.join(doq_storage::MARKER_FILE), "redb\n").unwrap();
        assert!(check_mode(&old, "raft").is_err());
        check_mode(&old, "single").unwrap();
    }
}
