//! [`Health`]: what the applier knows about its own state, and [`readiness`], the whole `/readyz` verdict
//! (docs/cluster.md §5). A node whose last commit failed, whose engine could not be rebuilt after one,
//! whose consensus stopped, that knows no leader, or whose apply lags must not report ready.
use std::sync::Mutex;

use doq_api::Error;

use crate::{Consensus, Role};

/// Most entries a ready node may hold in its log without having applied them.
pub const MAX_APPLY_LAG: u64 = 1000;

/// Why `consensus` should not count as ready (every reason that holds, joined by `"; "`), or `None`
/// when it is ready. With `leader_only`, a node that does not lead is not ready either.
pub fn readiness(consensus: &dyn Consensus, leader_only: bool) -> Option<String> {
    let status = consensus.status();
    let mut reasons = Vec::new();
    if let Some(why) = consensus.view().health_problem() {
        reasons.push(why);
    }
    // Entries this node holds in its log but has not applied yet: a follower whose applies are slow or
    // failing keeps appending what the leader sends. (openraft 0.9 publishes no commit index, so
    // `commit_index` equals `last_applied` and their difference alone would always be 0.)
    let lag = status
        .last_log_index
        .max(status.commit_index)
        .saturating_sub(status.last_applied);
    if status.role == Role::Shutdown {
        reasons.push("consensus has stopped on this node".to_string());
    } else if status.leader_id.is_none() {
        reasons.push("no leader known".to_string());
    }
    if lag > MAX_APPLY_LAG {
        reasons.push(format!("apply lag {lag} exceeds {MAX_APPLY_LAG} entries"));
    }
    if leader_only && status.role != Role::Leader {
        reasons.push(format!("not the leader ({})", status.role.as_str()));
    }
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

/// Set and cleared by the applier; read by readiness probes.
#[derive(Debug, Default)]
pub(crate) struct Health {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The applier refuses every command until the engine is rebuilt.
    broken: Option<String>,
    /// The last commit failed; cleared by the next successful one.
    storage: Option<String>,
    /// A Raft log call is failing and being retried; cleared when it works.
    log: Option<String>,
}

impl Health {
    fn with(&self, f: impl FnOnce(&mut State)) {
        let mut s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut s);
    }

    /// A commit succeeded: the store works.
    pub(crate) fn committed(&self) {
        self.with(|s| s.storage = None);
    }

    /// A commit failed.
    pub(crate) fn commit_failed(&self, e: &Error) {
        let why = e.to_string();
        self.with(|s| s.storage = Some(why));
    }

    /// A Raft log call failed (it is being retried).
    pub(crate) fn log_failed(&self, what: &str, e: &doq_storage::Error) {
        let why = format!("{what}: {}", e.with_causes());
        self.with(|s| s.log = Some(why));
    }

    /// The Raft log works again.
    pub(crate) fn log_recovered(&self) {
        self.with(|s| s.log = None);
    }

    /// The engine could not be rebuilt: every command is refused until it is.
    pub(crate) fn broke(&self, e: &Error) {
        let why = e.to_string();
        self.with(|s| s.broken = Some(why));
    }

    /// The engine was rebuilt from the store.
    pub(crate) fn repaired(&self) {
        self.with(|s| s.broken = None);
    }

    /// Why the node should not count as ready, if it should not.
    pub(crate) fn problem(&self) -> Option<String> {
        let s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(why) = &s.broken {
            return Some(format!(
                "applier stopped until the engine is rebuilt: {why}"
            ));
        }
        let mut reasons = Vec::new();
        if let Some(why) = &s.log {
            reasons.push(format!("the Raft log cannot be written or read: {why}"));
        }
        if let Some(why) = &s.storage {
            reasons.push(format!("the last storage commit failed: {why}"));
        }
        (!reasons.is_empty()).then(|| reasons.join("; "))
    }
}
