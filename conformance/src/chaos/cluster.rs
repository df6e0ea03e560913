//! The cluster under test: three (or more) [`Node`]s, how to start them as one Raft cluster, who
//! leads, and how to bring everything back after the faults.
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::Value;

use super::{
    net::Net,
    node::{Node, NodeConfig, NodeState},
};

/// How long one status request may take (a paused node never answers).
const STATUS_TIMEOUT: Duration = Duration::from_secs(1);
/// Between polls while waiting for the cluster.
const POLL: Duration = Duration::from_millis(200);

/// The nodes and a client for their status routes.
#[derive(Debug)]
pub struct Cluster {
    /// The nodes, by index.
    pub nodes: Vec<Node>,
    net: Net,
    http: reqwest::Client,
}

/// One node's view of the cluster (`GET /API/v1/cluster/status`).
#[derive(Clone, Debug)]
pub struct View {
    /// The node that answered.
    pub node: usize,
    /// Its Raft state (`Leader`, `Follower`, …).
    pub state: String,
    /// The leader it knows, as a node index.
    pub leader: Option<usize>,
    /// Its term.
    pub term: u64,
    /// Its last applied log index.
    pub last_applied: u64,
    /// How many voters it knows.
    pub voters: usize,
}

fn index_of(id: &str) -> Option<usize> {
    id.strip_prefix("node-")?.parse().ok()
}

impl Cluster {
    /// `n` nodes, none started.
    pub fn new(n: usize, net: &Net, config: &NodeConfig) -> Self {
        Self {
            nodes: (0..n).map(|i| Node::new(i, net, config.clone())).collect(),
            net: net.clone(),
            http: reqwest::Client::builder()
                .timeout(STATUS_TIMEOUT)
                .build()
                .unwrap_or_default(),
        }
    }

    /// The network the nodes live in.
    pub fn net(&self) -> &Net {
        &self.net
    }

    /// Node 0 bootstraps, the others join it; answers once every node is a voter and a leader is
    /// known, or fails with the nodes' logs after `deadline`.
    pub async fn start(&mut self, deadline: Duration) -> anyhow::Result<()> {
        let until = Instant::now() + deadline;
        self.nodes[0].spawn(None)?;
        self.wait(until, "node-0 to lead", |views| {
            views.iter().any(|v| v.node == 0 && v.leader == Some(0))
        })
        .await?;
        for i in 1..self.nodes.len() {
            self.nodes[i].spawn(Some(0))?;
        }
        let n = self.nodes.len();
        self.wait(until, "every node to be a voter", |views| {
            views.len() == n && views.iter().all(|v| v.voters == n && v.leader.is_some())
        })
        .await
        .map(|_| ())
    }

    /// Waits until `done` holds over the views of the nodes that answer, or fails at `until`.
    pub async fn wait(
        &mut self,
        until: Instant,
        what: &str,
        done: impl Fn(&[View]) -> bool,
    ) -> anyhow::Result<Vec<View>> {
        loop {
            for node in &mut self.nodes {
                if let Some(status) = node.exited() {
                    bail!(
                        "{} exited on its own ({status}):\n{}",
                        node.id(),
                        node.log_tail(40)
                    );
                }
            }
            let views = self.views().await;
            if done(&views) {
                return Ok(views);
            }
            if Instant::now() > until {
                let logs: Vec<String> = self
                    .nodes
                    .iter()
                    .map(|n| format!("--- {}:\n{}", n.id(), n.log_tail(20)))
                    .collect();
                bail!(
                    "timed out waiting for {what}; views {views:?}\n{}",
                    logs.join("\n")
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The views of every running node that answers within [`STATUS_TIMEOUT`].
    pub async fn views(&self) -> Vec<View> {
        let asks = self
            .nodes
            .iter()
            .filter(|n| n.state() == NodeState::Running)
            .map(|n| self.view(n.index, n.base()));
        futures::future::join_all(asks)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    async fn view(&self, node: usize, base: String) -> Option<View> {
        let r = self
            .http
            .get(format!("{base}/API/v1/cluster/status"))
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        let v: Value = r.json().await.ok()?;
        Some(View {
            node,
            state: v["state"].as_str().unwrap_or_default().to_owned(),
            leader: v["leader_id"].as_str().and_then(index_of),
            term: v["term"].as_u64().unwrap_or(0),
            last_applied: v["last_applied"].as_u64().unwrap_or(0),
            voters: v["members"]
                .as_array()
                .map_or(0, |m| m.iter().filter(|m| m["suffrage"] == "Voter").count()),
        })
    }

    /// The leader as the answering node with the highest term sees it (a node that says it leads,
    /// first), or `None` when nobody knows one.
    pub async fn leader(&self) -> Option<usize> {
        let views = self.views().await;
        let term = views.iter().map(|v| v.term).max()?;
        let current: Vec<&View> = views.iter().filter(|v| v.term == term).collect();
        current
            .iter()
            .find(|v| v.state == "Leader")
            .map(|v| v.node)
            .or_else(|| current.iter().find_map(|v| v.leader))
    }

    /// Node `i` with its current state.
    pub fn state(&self, i: usize) -> NodeState {
        self.nodes[i].state()
    }

    /// Restarts node `i` after a kill and waits until it answers its status route.
    pub async fn restart(&mut self, i: usize, deadline: Duration) -> anyhow::Result<()> {
        self.nodes[i].spawn(None)?;
        let until = Instant::now() + deadline;
        self.wait(
            until,
            &format!("node-{i} to answer after a restart"),
            |views| views.iter().any(|v| v.node == i),
        )
        .await
        .map(|_| ())
    }

    /// Resumes paused nodes and restarts dead ones (partitions are healed by the caller).
    pub async fn revive(&mut self, deadline: Duration) -> anyhow::Result<()> {
        for i in 0..self.nodes.len() {
            match self.nodes[i].state() {
                NodeState::Paused => self.nodes[i].resume()?,
                NodeState::Dead => self.restart(i, deadline).await?,
                NodeState::Running => {}
            }
        }
        Ok(())
    }

    /// Waits until every node answers, agrees on one leader and has applied as far as it.
    pub async fn converge(&mut self, deadline: Duration) -> anyhow::Result<Vec<View>> {
        let n = self.nodes.len();
        self.wait(
            Instant::now() + deadline,
            "the cluster to converge",
            |views| {
                let Some(first) = views.first() else {
                    return false;
                };
                let leader_applied = views
                    .iter()
                    .find(|v| Some(v.node) == first.leader)
                    .map(|v| v.last_applied);
                views.len() == n
                    && first.leader.is_some()
                    && views.iter().all(|v| v.leader == first.leader)
                    && leader_applied.is_some_and(|l| views.iter().all(|v| v.last_applied >= l))
            },
        )
        .await
    }

    /// SIGKILLs every node (used when the run ends or fails).
    pub async fn stop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.resume();
            if let Err(e) = node.kill().await {
                tracing::warn!(node = node.index, error = %e, "could not kill a node");
            }
        }
    }
}
