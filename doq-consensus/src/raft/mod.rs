//! `RaftNode` (`consensus = raft`): the [`Consensus`] of a node in a Raft cluster, on openraft. Modules:
//! `types` (openraft's type config), `codec` (commands and outcomes as bytes), `proposer` (the leader
//! batches many writes into one log entry), `forwarder` (a follower batches writes to the leader),
//! `log_store` (the Raft log on the node's `LogStore`), `state_machine` (the `Applier` with the Raft log
//! id in its applied marker), `gate` (orders log writes and applies outside the engine lock),
//! `rounds` (concurrent read barriers share one quorum round), `timing` (per-stage debug timings), `snapshot`, `wire` (log entries and bulky Raft messages as bytes), `network` and `service`
//! (cluster.proto, client and server). openraft's types stay in here:
//! everything outside sees `Arc<dyn Consensus>` and [`RaftNode`]'s own methods.
pub(crate) mod codec;
mod forwarder;
mod gate;
mod log_store;
pub(crate) mod network;
mod proposer;
mod rounds;
mod service;
mod snapshot;
mod state_machine;
#[cfg(test)]
mod tests;
mod timing;
pub(crate) mod types;
pub(crate) mod wire;

use std::{
    collections::BTreeSet,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use async_trait::async_trait;
use doq_api::{Clock, Command, Engine, Error, ErrorKind, Reply, Result};
use doq_proto::cluster::cluster_server::ClusterServer;
use doq_storage::{Source, Stores};
use openraft::{
    error::{ClientWriteError, RaftError},
    ChangeMembers, Config, Raft, ServerState, SnapshotPolicy,
};
use tonic::service::interceptor::InterceptedService;
use tracing::{debug, info};

pub use service::ClusterService;

use self::{
    forwarder::Forwarder,
    gate::Gate,
    log_store::LogAdapter,
    network::{MembershipChange, NetworkFactory, Peer, Peers},
    proposer::Proposer,
    rounds::Rounds,
    state_machine::{Marker, StateMachine},
    types::{node_id, DoqNode, TypeConfig},
};
use crate::{
    applier::Applier,
    consensus::{ClusterStatus, Consensus, Forwarded, Member, NodeInfo, Role},
    secret::{CallCheck, ClusterSecret},
    view::{Shared, StateView},
};

/// The pause before a leader retries a ReadIndex round that did not reach a quorum.
const READ_RETRY: Duration = Duration::from_millis(20);

/// The first and the longest pause before a write the leader did not take is sent again (unless
/// another leader becomes known sooner).
const RETRY_MIN: Duration = Duration::from_millis(25);
const RETRY_MAX: Duration = Duration::from_millis(400);

/// How long a join may take: the new node must catch up before it is promoted.
const JOIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Settings of a Raft node (config keys `cluster.*` and `raft.*`).
#[derive(Clone, Debug)]
pub struct RaftOptions {
    /// `cluster.node_id`.
    pub node_id: String,
    /// The Raft address peers reach this node at (`raft.advertise_address`, else `raft.address`).
    pub advertise_addr: String,
    /// `raft.heartbeat_interval_ms`.
    pub heartbeat_ms: u64,
    /// `raft.election_timeout_ms` = t: a follower stands for election between t and 1.5t after the last
    /// message from its leader (see `election_timeouts`).
    pub election_timeout_ms: u64,
    /// `raft.apply_timeout`: how long a write waits for its commit.
    pub apply_timeout: Duration,
    /// `raft.snapshot_threshold`: log entries between snapshots.
    pub snapshot_threshold: u64,
    /// `cluster.secret`: presented on, and required of, every node-to-node call when not empty.
    pub secret: String,
    /// Flush the store after every Raft log write. Set it when the store was opened without per-write
    /// sync (`storage.sync = always` in a cluster): the log is then durable before openraft counts it,
    /// and state-machine commits need no fsync of their own. Leave it off for a store that syncs each
    /// write itself, or for `storage.sync = never`.
    pub flush_log: bool,
    /// Node-to-node TLS (`tls.*`): when set, calls to peers use `https://` with this configuration (the
    /// CA peers' certificates must chain to). The server side is the listener's business.
    pub tls: Option<tonic::transport::ClientTlsConfig>,
}

impl Default for RaftOptions {
    fn default() -> Self {
        Self {
            node_id: "node-0".into(),
            advertise_addr: "127.0.0.1:9000".into(),
            heartbeat_ms: 200,
            election_timeout_ms: 1000,
            apply_timeout: Duration::from_secs(5),
            snapshot_threshold: 8192,
            secret: String::new(),
            flush_log: false,
            tls: None,
        }
    }
}

/// openraft's `(election_timeout_min, election_timeout_max)` for `raft.election_timeout_ms = t`.
///
/// openraft 0.9 lets a follower that has a leader stand only after a leader lease of
/// `election_timeout_max` *plus* its own timeout drawn from `[min, max)`. Passing `[t, 2t)` straight
/// through made a follower wait 3t–4t after the last heartbeat (3.1–3.9 s of failover with the
/// defaults). With `[t/4, 3t/4)` it stands between `t` and `1.5t` after the last heartbeat: never sooner
/// than `t`, the silence the setting names, so a loaded machine that delays a few heartbeats (5 at the
/// default 200 ms) still elects no one. The lease of `3t/4` keeps its purpose: a node that heard from a
/// leader that recently refuses a disruptive candidate. Both bounds stay above the heartbeat interval,
/// as openraft requires.
fn election_timeouts(t: u64, heartbeat: u64) -> (u64, u64) {
    let min = (t / 4).max(heartbeat.saturating_add(1));
    let max = (t.saturating_mul(3) / 4).max(min.saturating_add(1));
    (min, max)
}

/// What the node and its cluster service share.
pub(crate) struct Inner {
    raft: Raft<TypeConfig>,
    id: u64,
    options: RaftOptions,
    view: StateView,
    /// One connection per member, shared by replication, read indexes, forwarding and membership calls.
    peers: Arc<Peers>,
    /// Batches this node's writes into log entries when it leads (local and forwarded ones).
    proposer: Proposer,
    /// Batches this node's writes to the leader when it follows.
    forwarder: Forwarder,
    /// Read barriers of this node: concurrent ones share one round (to the leader, or local).
    reads: Rounds,
    /// Leadership confirmations of this node as the leader, for its own reads and its followers'
    /// `ReadIndex` calls: concurrent ones share one heartbeat round.
    local_reads: Rounds,
    /// Forwarded writes answered by the leader, and those that failed (`doq_raft_forwarded_requests_total`).
    forwarded_ok: AtomicU64,
    forwarded_failed: AtomicU64,
    /// While set, Raft traffic from the other members is refused ([`RaftNode::hold_peers`]).
    peers_held: AtomicBool,
    /// Set on shutdown: a Raft log call retrying a failing store gives up, so Raft can stop.
    log_stopping: Arc<AtomicBool>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftNode")
            .field("node_id", &self.options.node_id)
            .field("raft_id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A node of a Raft cluster. Serve [`RaftNode::service`] on `raft.address`, then [`RaftNode::bootstrap`]
/// a new cluster or ask a member to add this node (`POST /API/v1/cluster/join`).
#[derive(Debug)]
pub struct RaftNode {
    inner: Arc<Inner>,
}

fn unavailable(what: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("no leader available: {what}"))
}

fn timed_out() -> Error {
    Error::OutcomeUnknown(
        "commit not confirmed within timeout; the write may have been applied".into(),
    )
}

fn read_timed_out() -> Error {
    Error::Unavailable("no leader available: read not confirmed within timeout".into())
}

impl RaftNode {
    /// Recovers the engine from `stores.queues`, opens the Raft log in `stores.log` and starts Raft.
    /// The node neither bootstraps nor joins by itself.
    pub async fn open(stores: Stores, clock: Arc<dyn Clock>, options: RaftOptions) -> Result<Self> {
        let (view, log, sm) = recover(stores, clock, options.flush_log).await?;
        let peers = Arc::new(Peers::new(options.secret.clone(), options.tls.clone()));
        let (election_min, election_max) =
            election_timeouts(options.election_timeout_ms, options.heartbeat_ms);
        let config = Config {
            cluster_name: "doq".into(),
            heartbeat_interval: options.heartbeat_ms,
            election_timeout_min: election_min,
            election_timeout_max: election_max,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(options.snapshot_threshold.max(1)),
            max_in_snapshot_log_to_keep: options.snapshot_threshold.min(1000),
            ..Config::default()
        }
        .validate()
        .map_err(|e| Error::Internal(format!("raft config: {e}")))?;
        let id = node_id(&options.node_id);
        info!(node_id = %options.node_id, raft_id = id, "raft node recovered");
        let log_stopping = log.stopping();
        let raft = Raft::new(
            id,
            Arc::new(config),
            NetworkFactory::new(peers.clone()),
            log,
            sm,
        )
        .await
        .map_err(|e| Error::Internal(format!("start raft: {e}")))?;
        let proposer = Proposer::start(raft.clone(), view.clone());
        let forwarder = Forwarder::start(peers.clone(), options.apply_timeout);
        let inner = Arc::new_cyclic(|me: &std::sync::Weak<Inner>| {
            // The rounds' tasks hold the node weakly: they end with it.
            let local = me.clone();
            let local_reads = Rounds::start(move || {
                let inner = local.upgrade();
                async move {
                    match inner {
                        Some(inner) => inner.read_index_local().await,
                        None => Err(unavailable("raft stopped")),
                    }
                }
            });
            let node = me.clone();
            let reads = Rounds::start(move || {
                let inner = node.upgrade();
                async move {
                    match inner {
                        Some(inner) => inner.read_index().await,
                        None => Err(unavailable("raft stopped")),
                    }
                }
            });
            Inner {
                raft,
                id,
                options,
                view,
                peers,
                proposer,
                forwarder,
                reads,
                local_reads,
                forwarded_ok: AtomicU64::new(0),
                forwarded_failed: AtomicU64::new(0),
                peers_held: AtomicBool::new(false),
                log_stopping,
            }
        });
        Ok(Self { inner })
    }

    /// The tonic service to serve on `raft.address`. With `cluster.secret` set, every call must carry a
    /// token made with it for this node's address, checked before the message is decoded.
    pub fn service(&self) -> InterceptedService<ClusterServer<ClusterService>, CallCheck> {
        let check = CallCheck::new(
            ClusterSecret::new(&self.inner.options.secret),
            self.inner.options.advertise_addr.clone(),
        );
        let server = ClusterServer::new(ClusterService::new(self.inner.clone()))
            .max_decoding_message_size(network::MAX_MESSAGE)
            .max_encoding_message_size(network::MAX_MESSAGE);
        InterceptedService::new(server, check)
    }

    /// Whether this node has no Raft state at all: never voted, no log, nothing applied (an empty data
    /// directory, or a `memory` store after a restart).
    pub async fn is_pristine(&self) -> Result<bool> {
        let initialized = self
            .inner
            .raft
            .is_initialized()
            .await
            .map_err(unavailable)?;
        let m = self.inner.raft.metrics().borrow().clone();
        Ok(!initialized && m.vote.leader_id().term == 0 && m.last_log_index.is_none())
    }

    /// Starts a new cluster with this node as its only voter. Only for a pristine node.
    pub async fn bootstrap(&self) -> Result<()> {
        let me = DoqNode {
            name: self.inner.options.node_id.clone(),
            addr: self.inner.options.advertise_addr.clone(),
        };
        let members = std::collections::BTreeMap::from([(self.inner.id, me)]);
        self.inner
            .raft
            .initialize(members)
            .await
            .map_err(|e| Error::Internal(format!("bootstrap: {e}")))?;
        info!(node_id = %self.inner.options.node_id, "bootstrapped a one-voter cluster");
        Ok(())
    }

    /// Refuses Raft traffic from the other members (AppendEntries, Vote and InstallSnapshot answer
    /// `UNAVAILABLE`, which their sender retries) until [`RaftNode::admit_peers`]. A pristine node that
    /// is about to join holds them off until its id's old membership is cleared: a node that lost its
    /// data and comes back under the same id would otherwise answer the leader's replication for the
    /// member it was with an empty log, a log going backwards, on which openraft stops the leader's
    /// Raft (docs/cluster.md §5, "a node that lost its data").
    pub fn hold_peers(&self) {
        self.inner.peers_held.store(true, Ordering::Release);
    }

    /// Accepts Raft traffic again (see [`RaftNode::hold_peers`]).
    pub fn admit_peers(&self) {
        self.inner.peers_held.store(false, Ordering::Release);
    }

    /// Waits until this node knows a leader (and, with `leader_only`, is it).
    pub async fn wait_for_leader(&self, timeout: Duration, leader_only: bool) -> Result<()> {
        let me = self.inner.id;
        self.inner
            .raft
            .wait(Some(timeout))
            .metrics(
                |m| match m.current_leader {
                    Some(l) => !leader_only || l == me,
                    None => false,
                },
                "leader known",
            )
            .await
            .map(|_| ())
            .map_err(|e| Error::Unavailable(format!("no leader within {timeout:?}: {e}")))
    }

    /// Waits until this node's own membership config lists it as a voter (after a join, the leader
    /// answers once the promotion is committed; this node learns it from the next append).
    pub async fn wait_voter(&self, timeout: Duration) -> Result<()> {
        let me = self.inner.id;
        self.inner
            .raft
            .wait(Some(timeout))
            .metrics(
                |m| {
                    m.current_leader.is_some()
                        && m.membership_config
                            .membership()
                            .voter_ids()
                            .any(|v| v == me)
                },
                "voter",
            )
            .await
            .map(|_| ())
            .map_err(|e| Error::Unavailable(format!("not a voter within {timeout:?}: {e}")))
    }

    /// Waits until this node has applied at least `index`.
    pub async fn wait_applied(&self, index: u64, timeout: Duration) -> Result<()> {
        self.inner
            .raft
            .wait(Some(timeout))
            .applied_index_at_least(Some(index), "applied")
            .await
            .map(|_| ())
            .map_err(|e| Error::Unavailable(format!("not applied within {timeout:?}: {e}")))
    }

    /// Asks openraft to start an election now instead of waiting out the timeout (tests elect a given
    /// node at once this way).
    pub async fn trigger_election(&self) -> Result<()> {
        self.inner.raft.trigger().elect().await.map_err(unavailable)
    }

    /// Builds a snapshot now (and lets openraft purge the log behind it).
    pub async fn trigger_snapshot(&self) -> Result<()> {
        self.inner
            .raft
            .trigger()
            .snapshot()
            .await
            .map_err(unavailable)
    }

    /// The index of the last snapshot this node built or installed, and the first index still in its
    /// log (for tests of compaction).
    pub fn snapshot_index(&self) -> Option<u64> {
        self.inner.raft.metrics().borrow().snapshot.map(|l| l.index)
    }

    /// The last log index this node has purged.
    pub fn purged_index(&self) -> Option<u64> {
        self.inner.raft.metrics().borrow().purged.map(|l| l.index)
    }
}

/// Rebuilds the engine from the store and wraps both views for openraft.
pub(crate) async fn recover(
    stores: Stores,
    clock: Arc<dyn Clock>,
    flush_log: bool,
) -> Result<(StateView, LogAdapter, StateMachine)> {
    let queues = stores.queues.clone();
    let (engine, applied) = tokio::task::spawn_blocking(move || {
        let engine = Engine::rebuild(&Source(&*queues))?;
        let applied = queues.applied().map_err(Error::from)?;
        Ok::<_, Error>((engine, applied))
    })
    .await
    .map_err(|e| Error::Internal(format!("recovery task: {e}")))??;
    let marker = Marker::decode(applied.as_ref())?;
    let shared = Arc::new(Shared::new(
        engine,
        stores.queues.clone(),
        clock,
        applied.as_ref().map_or(0, |a| a.index),
    ));
    let view = StateView {
        shared: shared.clone(),
    };
    let gate = Gate::default();
    let log = LogAdapter::new(
        stores.log,
        flush_log.then(|| stores.queues.clone()),
        gate.clone(),
        shared.clone(),
    );
    let applier = Applier::new(shared, applied.as_ref().map_or(0, |a| a.index));
    Ok((view, log, StateMachine::new(applier, marker, gate)))
}

impl Inner {
    /// The leader, waiting for one to be elected until `apply_timeout`. A leader that is no longer in the
    /// membership (it just removed itself and steps down) does not count.
    async fn leader(&self) -> Result<(u64, DoqNode)> {
        self.leader_within(self.options.apply_timeout).await
    }

    /// [`Inner::leader`], waiting at most `wait`.
    async fn leader_within(&self, wait: Duration) -> Result<(u64, DoqNode)> {
        let m = self
            .raft
            .wait(Some(wait))
            .metrics(
                |m| {
                    m.current_leader
                        .is_some_and(|l| m.membership_config.membership().get_node(&l).is_some())
                },
                "leader known",
            )
            .await
            .map_err(|_| unavailable("no leader elected"))?;
        let leader = m
            .current_leader
            .ok_or_else(|| unavailable("no leader elected"))?;
        let node = m
            .membership_config
            .membership()
            .get_node(&leader)
            .cloned()
            .ok_or_else(|| unavailable("the leader is not in this node's membership"))?;
        Ok((leader, node))
    }

    /// The cached client of member `id` at `node`.
    fn peer(&self, id: u64, node: &DoqNode) -> Peer {
        self.peers.get(id, node)
    }

    /// Commits `cmd` if this node leads, batched with the other writes waiting here; never forwards
    /// (the receiving end of `Forward`).
    pub(crate) async fn propose_local(&self, command: Command) -> Result<Reply> {
        self.proposer.propose(command).await
    }

    /// Commits `command` through the leader within `apply_timeout`. An attempt that was not acted on
    /// (`Unavailable`: the leader was unreachable, or had lost the leadership before appending) is sent
    /// again, to the new leader once one is known; an attempt whose outcome is unknown is never repeated
    /// here (docs/errors.md §6 `outcome_unknown`).
    async fn propose(&self, command: Command) -> Result<Reply> {
        let deadline = tokio::time::Instant::now() + self.options.apply_timeout;
        let mut pause = RETRY_MIN;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let (leader, node) = self.leader_within(left).await?;
            let attempt = async {
                if leader == self.id {
                    self.propose_local(command.clone()).await
                } else {
                    let outcome = self.forwarder.forward(leader, node, command.clone()).await;
                    self.count_forward(&outcome);
                    outcome
                }
            };
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let outcome = tokio::time::timeout(left, attempt)
                .await
                .unwrap_or_else(|_| Err(timed_out()));
            let Err(Error::Unavailable(why)) = outcome else {
                return outcome;
            };
            if tokio::time::Instant::now() + pause >= deadline {
                return Err(Error::Unavailable(why));
            }
            debug!(leader, reason = %why, "write not taken by the leader; retrying");
            // Until another leader is known, or a short pause (the same leader may come back, or
            // this node's view of it may be stale).
            let _ = self
                .raft
                .wait(Some(pause))
                .metrics(
                    |m| m.current_leader.is_some_and(|l| l != leader),
                    "another leader",
                )
                .await;
            pause = (pause * 2).min(RETRY_MAX);
        }
    }

    /// Counts a forwarded write for `doq_raft_forwarded_requests_total`. An engine verdict
    /// (queue_empty, not_found) is a reply the leader gave; only transport, consensus and storage
    /// failures count as failed forwards.
    fn count_forward(&self, outcome: &Result<Reply>) {
        let failed = outcome.as_ref().is_err_and(|e| {
            matches!(
                e.kind(),
                ErrorKind::Unavailable | ErrorKind::Storage | ErrorKind::Internal
            )
        });
        let counter = if failed {
            &self.forwarded_failed
        } else {
            &self.forwarded_ok
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// ReadIndex on the leader: confirms leadership with a quorum and waits until applied. A quorum
    /// round can miss under load (a heartbeat reply later than its deadline), so it is retried while
    /// this node still leads, for up to `apply_timeout`.
    pub(crate) async fn read_index_local(&self) -> Result<Option<u64>> {
        let deadline = tokio::time::Instant::now() + self.options.apply_timeout;
        loop {
            match self.raft.ensure_linearizable().await {
                Ok(l) => return Ok(l.map(|l| l.index)),
                Err(e) => {
                    let leads = self.raft.metrics().borrow().current_leader == Some(self.id);
                    if !leads || tokio::time::Instant::now() + READ_RETRY > deadline {
                        return Err(unavailable(e));
                    }
                    tokio::time::sleep(READ_RETRY).await;
                }
            }
        }
    }

    /// One read-index round as this node sees it: a shared leadership confirmation when it leads,
    /// else one `ReadIndex` call to the leader.
    async fn read_index(&self) -> Result<Option<u64>> {
        let (leader, node) = self.leader().await?;
        if leader == self.id {
            return self.local_reads.join().await;
        }
        self.peer(leader, &node)
            .read_index(self.options.apply_timeout)
            .await
    }

    /// Waits until this node has applied everything committed before the call: joins the next shared
    /// read-index round, then waits for the local apply to reach its index.
    async fn read_barrier(&self) -> Result<()> {
        if let Some(index) = self.reads.join().await? {
            self.raft
                .wait(Some(self.options.apply_timeout))
                .applied_index_at_least(Some(index), "read index")
                .await
                .map_err(|_| read_timed_out())?;
        }
        Ok(())
    }

    /// Applies a membership change on the leader (the receiving end of `ChangeMembership`).
    pub(crate) async fn change_local(&self, change: MembershipChange) -> Result<()> {
        let m = self.raft.metrics().borrow().clone();
        if m.current_leader != Some(self.id) {
            return Err(unavailable("this node is not the leader; retry"));
        }
        let membership = m.membership_config.membership().clone();
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        match change {
            MembershipChange::Add { name, addr } => {
                let id = node_id(&name);
                let node = DoqNode {
                    name: name.clone(),
                    addr: addr.clone(),
                };
                let current = membership.get_node(&id).cloned();
                if current.as_ref() == Some(&node) && voters.contains(&id) {
                    return Ok(());
                }
                // DOQ: if only the address matches a member, that member is removed first.
                let same_addr: Vec<u64> = membership
                    .nodes()
                    .filter(|(other, n)| **other != id && n.addr == addr)
                    .map(|(other, _)| *other)
                    .collect();
                for other in same_addr {
                    self.remove(other, &voters).await?;
                }
                match current {
                    Some(old) if old != node => {
                        self.membership(ChangeMembers::SetNodes([(id, node)].into()), true)
                            .await?;
                    }
                    Some(_) => {}
                    None => {
                        self.raft
                            .add_learner(id, node, true)
                            .await
                            .map_err(|e| membership_error(&e))?;
                    }
                }
                self.membership(ChangeMembers::AddVoterIds([id].into()), true)
                    .await?;
                info!(node = %name, %addr, "node joined as a voter");
                Ok(())
            }
            MembershipChange::Remove { name } => {
                let id = node_id(&name);
                if membership.get_node(&id).is_none() {
                    return Ok(());
                }
                self.remove(id, &voters).await?;
                info!(node = %name, "node removed");
                Ok(())
            }
        }
    }

    async fn remove(&self, id: u64, voters: &BTreeSet<u64>) -> Result<()> {
        if voters.contains(&id) {
            if voters.len() == 1 {
                return Err(Error::MembershipRefused(
                    "cannot remove the last voter".into(),
                ));
            }
            self.membership(ChangeMembers::RemoveVoters([id].into()), false)
                .await
        } else {
            self.membership(ChangeMembers::RemoveNodes([id].into()), false)
                .await
        }
    }

    async fn membership(&self, change: ChangeMembers<u64, DoqNode>, retain: bool) -> Result<()> {
        self.raft
            .change_membership(change, retain)
            .await
            .map(|_| ())
            .map_err(|e| membership_error(&e))
    }

    async fn change(&self, change: MembershipChange) -> Result<()> {
        let (leader, node) = self.leader().await?;
        if leader == self.id {
            self.change_local(change).await
        } else {
            self.peer(leader, &node)
                .change_membership(&change, JOIN_TIMEOUT)
                .await
        }
    }
}

fn membership_error(e: &RaftError<u64, ClientWriteError<u64, DoqNode>>) -> Error {
    match e {
        RaftError::APIError(ClientWriteError::ChangeMembershipError(c)) => {
            Error::MembershipRefused(c.to_string())
        }
        RaftError::APIError(ClientWriteError::ForwardToLeader(_)) => {
            unavailable("this node lost the leadership; retry")
        }
        RaftError::Fatal(f) => unavailable(format!("raft stopped: {f}")),
    }
}

#[async_trait]
impl Consensus for RaftNode {
    async fn propose(&self, cmd: Command) -> Result<Reply> {
        // Bounded by `apply_timeout` inside, which tells "not sent" from "sent, no answer".
        self.inner.propose(cmd).await
    }

    async fn read_barrier(&self) -> Result<()> {
        tokio::time::timeout(self.inner.options.apply_timeout, self.inner.read_barrier())
            .await
            .unwrap_or_else(|_| Err(read_timed_out()))
    }

    fn view(&self) -> StateView {
        self.inner.view.clone()
    }

    fn status(&self) -> ClusterStatus {
        let m = self.inner.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        let mut members: Vec<Member> = membership
            .nodes()
            .map(|(id, n)| Member {
                id: n.name.clone(),
                addr: n.addr.clone(),
                voter: voters.contains(id),
            })
            .collect();
        members.sort_by(|a, b| b.voter.cmp(&a.voter).then_with(|| a.id.cmp(&b.id)));
        let leader = m.current_leader.and_then(|l| membership.get_node(&l));
        let role = match m.state {
            ServerState::Leader => Role::Leader,
            ServerState::Follower => Role::Follower,
            ServerState::Candidate => Role::Candidate,
            ServerState::Learner => Role::Learner,
            ServerState::Shutdown => Role::Shutdown,
        };
        let applied = m.last_applied.map_or(0, |l| l.index);
        ClusterStatus {
            node_id: self.inner.options.node_id.clone(),
            role,
            leader_id: leader.map(|n| n.name.clone()),
            leader_addr: leader.map(|n| n.addr.clone()),
            term: m.current_term,
            last_log_index: m.last_log_index.unwrap_or(0),
            // openraft 0.9 publishes no commit index; applied is the commit index a node has acted on.
            commit_index: applied,
            last_applied: applied,
            members,
            storage_backend: self.inner.view.backend().to_string(),
            forwarded: Forwarded {
                ok: self.inner.forwarded_ok.load(Ordering::Relaxed),
                failed: self.inner.forwarded_failed.load(Ordering::Relaxed),
            },
        }
    }

    async fn add_node(&self, node: NodeInfo) -> Result<()> {
        let change = MembershipChange::Add {
            name: node.id,
            addr: node.addr,
        };
        tokio::time::timeout(JOIN_TIMEOUT, self.inner.change(change))
            .await
            .unwrap_or_else(|_| Err(unavailable("the join did not finish in time")))
    }

    async fn remove_node(&self, id: &str) -> Result<()> {
        let change = MembershipChange::Remove { name: id.into() };
        tokio::time::timeout(JOIN_TIMEOUT, self.inner.change(change))
            .await
            .unwrap_or_else(|_| Err(unavailable("the leave did not finish in time")))
    }

    async fn shutdown(&self) -> Result<()> {
        self.inner.log_stopping.store(true, Ordering::SeqCst);
        self.inner
            .raft
            .shutdown()
            .await
            .map_err(|e| Error::Internal(format!("stop raft: {e}")))?;
        let store = self.inner.view.shared.store.clone();
        tokio::task::spawn_blocking(move || store.flush())
            .await
            .map_err(|e| Error::Internal(format!("flush task: {e}")))?
            .map_err(Error::from)
    }
}
