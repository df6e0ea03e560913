//! A 3-node doq cluster in containers on a private network, under write load: the leader's container
//! stopped and started again, a follower cut off the network and reconnected, and a rolling restart of
//! every node. Nothing acknowledged may be lost, and every node must serve all of it afterwards.
use std::time::Duration;

use doq_conformance::{check::check_status, Client};
use serde_json::json;
use tracing::info;

use crate::{
    docker::{dns_name, Container, Network, Spec},
    load::{assert_nothing_lost, leader_id, wait_ready, Load, Targets},
};

/// How long a node may take to (re)start, join or catch up, and a cluster to elect a leader.
const CONVERGE: Duration = Duration::from_secs(60);
/// The shared secret of these test clusters.
const SECRET: &str = "doq-container-test-secret";

/// Three nodes: doq-0 bootstraps, doq-1 and doq-2 join it, as deploy/docker-compose.yml does.
pub(crate) struct Cluster {
    pub(crate) nodes: Vec<Container>,
    pub(crate) network: Network,
    pub(crate) targets: Targets,
}

impl Cluster {
    pub(crate) async fn start(suffix: &str) -> Self {
        let network = Network::create(suffix);
        let names = ["doq-0", "doq-1", "doq-2"];
        let mut nodes = Vec::new();
        for name in names {
            let mut env: Vec<(String, String)> = [
                ("DOQ_CONSENSUS", "raft"),
                ("DOQ_RAFT__ADDRESS", "0.0.0.0:9000"),
                ("DOQ_CLUSTER__SECRET", SECRET),
                ("DOQ_CLUSTER__NODE_ID", name),
                // Faster elections than the defaults, so a stopped leader is replaced quickly.
                ("DOQ_RAFT__HEARTBEAT_INTERVAL_MS", "100"),
                ("DOQ_RAFT__ELECTION_TIMEOUT_MS", "600"),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
            let host = dns_name(&network, name);
            env.push(("DOQ_RAFT__ADVERTISE_ADDRESS".into(), format!("{host}:9000")));
            if name != "doq-0" {
                let seed = dns_name(&network, "doq-0");
                env.push(("DOQ_CLUSTER__JOIN_ADDR".into(), format!("{seed}:8000")));
            }
            nodes.push(
                Container::run(&Spec {
                    name,
                    network: &network,
                    env,
                })
                .await,
            );
        }
        let cluster = Self {
            targets: Targets::new(nodes.len()),
            nodes,
            network,
        };
        for i in 0..cluster.nodes.len() {
            cluster.wait_up(i).await;
        }
        cluster
    }

    /// Waits until node `i` is ready and points the writers at it.
    pub(crate) async fn wait_up(&self, i: usize) {
        let node = &self.nodes[i];
        let until = tokio::time::Instant::now() + CONVERGE;
        let base = loop {
            if let Some(base) = node.http_base().await {
                if wait_ready(&base, Duration::from_secs(2)).await.is_ok() {
                    break base;
                }
            }
            assert!(
                tokio::time::Instant::now() < until,
                "{} not ready within {CONVERGE:?}\n{}",
                node.alias,
                node.logs()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        self.targets.set(i, Some(base));
    }

    /// The base URL of node `i` now.
    pub(crate) async fn base(&self, i: usize) -> String {
        self.nodes[i]
            .http_base()
            .await
            .unwrap_or_else(|| panic!("{} publishes no HTTP port", self.nodes[i].alias))
    }

    /// The index of the current leader, as node `via` sees it.
    pub(crate) async fn leader(&self, via: usize) -> usize {
        let id = leader_id(&self.base(via).await, CONVERGE).await;
        self.nodes
            .iter()
            .position(|n| n.alias == id)
            .unwrap_or_else(|| panic!("leader {id} is none of this cluster's nodes"))
    }

    pub(crate) async fn stop(&self, i: usize) {
        self.targets.set(i, None);
        self.nodes[i].stop(Duration::from_secs(10)).await;
    }

    pub(crate) async fn restart(&self, i: usize) {
        self.nodes[i].start().await;
        self.wait_up(i).await;
    }

    /// Creates the queue the load writes to.
    pub(crate) async fn create_queue(&self, queue: &str) {
        let c = Client::new(self.base(1).await);
        check_status(
            &c.post(
                "/API/v1/queues",
                &json!({"name": queue, "type": "delayed", "settings": {}}),
            )
            .await,
            200,
        );
    }

    /// Every node serves every acknowledged enqueue.
    pub(crate) async fn assert_nothing_lost(&self, load: Load, queue: &str) {
        let ledger = load.finish().await;
        for i in 0..self.nodes.len() {
            self.wait_up(i).await;
            assert_nothing_lost(&ledger, queue, &self.base(i).await, &self.nodes[i].alias).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_stop_and_follower_partition_lose_nothing_acknowledged() {
    crate::init_tracing();
    let _serial = crate::serial().await;
    info!("--- three containers on a private network: doq-0 bootstraps, the others join");
    let cluster = Cluster::start("failover").await;
    let queue = "failover";
    cluster.create_queue(queue).await;
    let load = Load::start(
        &cluster.targets,
        queue,
        4,
        100_000,
        Duration::from_secs(240),
    );
    load.wait_acked(50, CONVERGE).await;

    info!("--- stop the leader's container under load; a new leader takes over");
    let old = cluster.leader(0).await;
    cluster.stop(old).await;
    let via = (old + 1) % 3;
    let until = tokio::time::Instant::now() + CONVERGE;
    let new = loop {
        let now = cluster.leader(via).await;
        if now != old {
            break now;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "no new leader after stopping {old}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let acked = load.ledger.acked();
    load.wait_acked(acked + 50, CONVERGE).await;
    info!(
        old,
        new, "--- start the old leader's container again; it catches up as a follower"
    );
    cluster.restart(old).await;

    info!("--- cut a follower off the network, keep writing, reconnect it");
    let leader = cluster.leader(0).await;
    let follower = (leader + 1) % 3;
    cluster.targets.set(follower, None);
    cluster.nodes[follower].disconnect(&cluster.network);
    // Long enough (seconds at this rate) for the cut-off node to time out elections and fall behind.
    let acked = load.ledger.acked();
    load.wait_acked(acked + 150, CONVERGE).await;
    cluster.nodes[follower].connect(&cluster.network);
    cluster.wait_up(follower).await;
    let acked = load.ledger.acked();
    load.wait_acked(acked + 20, CONVERGE).await;

    info!("--- stop the load: every node serves every acknowledged enqueue");
    cluster.assert_nothing_lost(load, queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rolling_restart_under_load_loses_nothing_acknowledged() {
    crate::init_tracing();
    let _serial = crate::serial().await;
    let cluster = Cluster::start("rolling").await;
    let queue = "rolling";
    cluster.create_queue(queue).await;
    let load = Load::start(
        &cluster.targets,
        queue,
        4,
        100_000,
        Duration::from_secs(240),
    );
    load.wait_acked(30, CONVERGE).await;
    for i in 0..3 {
        info!(
            node = i,
            "--- restart one node (graceful stop, start, wait until ready)"
        );
        cluster.stop(i).await;
        let acked = load.ledger.acked();
        load.wait_acked(acked + 20, CONVERGE).await;
        cluster.restart(i).await;
        let acked = load.ledger.acked();
        load.wait_acked(acked + 20, CONVERGE).await;
    }
    info!("--- every node serves every acknowledged enqueue");
    cluster.assert_nothing_lost(load, queue).await;
}
