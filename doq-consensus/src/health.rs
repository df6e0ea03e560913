//! [`Health`]: what the applier knows about its own state, for `/readyz` (docs/cluster.md §5). A node whose
//! last commit failed, or whose engine could not be rebuilt after one, must not report ready.
use std::sync::Mutex;

use doq_api::Error;

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
        s.storage
            .as_ref()
            .map(|why| format!("the last storage commit failed: {why}"))
    }
}
