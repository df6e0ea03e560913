//! The `Consensus` trait: how a front end submits writes and makes reads linearizable.
use async_trait::async_trait;
use doq_api::{Command, Reply, Result};

use crate::view::StateView;

/// A node's role in its cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Orders commands.
    Leader,
    /// Replicates the leader's log.
    Follower,
    /// Asking for votes.
    Candidate,
    /// Replicates without a vote.
    Learner,
    /// Stopped.
    Shutdown,
}

impl Role {
    /// The name `/cluster/status` reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Leader => "Leader",
            Self::Follower => "Follower",
            Self::Candidate => "Candidate",
            Self::Learner => "Learner",
            Self::Shutdown => "Shutdown",
        }
    }
}

/// A cluster member as membership routes report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The node id (`cluster.node_id`).
    pub id: String,
    /// Its Raft advertise address (empty in single mode, where nothing is bound).
    pub addr: String,
    /// Whether it votes (`Voter`) or only replicates (`Nonvoter`).
    pub voter: bool,
}

/// A node to add to the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node id.
    pub id: String,
    /// Its Raft advertise address.
    pub addr: String,
}

/// The serving node's own view of the cluster (docs/cluster.md §5, `/cluster/status`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterStatus {
    /// This node's id.
    pub node_id: String,
    /// This node's role.
    pub role: Role,
    /// The leader this node knows of.
    pub leader_id: Option<String>,
    /// The leader's Raft address.
    pub leader_addr: Option<String>,
    /// The current term (0 in single mode).
    pub term: u64,
    /// The last log index (the command counter in single mode).
    pub last_log_index: u64,
    /// The highest index known committed.
    pub commit_index: u64,
    /// The highest index applied to the engine and store.
    pub last_applied: u64,
    /// Members, voters first.
    pub members: Vec<Member>,
    /// The storage backend in use.
    pub storage_backend: String,
    /// Writes this node forwarded to its leader since it started (always zero in single mode).
    pub forwarded: Forwarded,
}

/// Outcomes of the writes a follower forwarded to its leader, for `doq_raft_forwarded_requests_total`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Forwarded {
    /// Forwarded writes the leader answered with a reply (an engine error such as `queue_empty` included).
    pub ok: u64,
    /// Forwarded writes that failed in transit or in consensus (no leader, timeout, storage).
    pub failed: u64,
}

/// Orders and (in a cluster) replicates commands. Front ends see only `Arc<dyn Consensus>`.
///
/// # Contract
/// - `propose` answers `Ok` only once the command's effects are durable (single) or committed and
///   applied on a majority (raft); an `Err` of kind `Storage` or `Unavailable` means the outcome is unknown.
/// - After `read_barrier` returns, reads through [`StateView`] see every write acknowledged before the call.
#[async_trait]
pub trait Consensus: Send + Sync + 'static {
    /// Orders, applies and persists one command, and returns the engine's reply.
    async fn propose(&self, cmd: Command) -> Result<Reply>;
    /// Waits until local reads are linearizable.
    async fn read_barrier(&self) -> Result<()>;
    /// Read access to the engine and the store.
    fn view(&self) -> StateView;
    /// This node's view of the cluster.
    fn status(&self) -> ClusterStatus;
    /// Adds a node (as a learner, promoted once caught up).
    async fn add_node(&self, node: NodeInfo) -> Result<()>;
    /// Removes a node; refuses to remove the last voter.
    async fn remove_node(&self, id: &str) -> Result<()>;
    /// Stops ordering: waits for in-flight commands, then flushes the store.
    async fn shutdown(&self) -> Result<()>;
}
