//! `Gate`: orders the Raft log's writes and the state machine's commits on one node, outside the engine
//! lock. Both live in one database, and a backend with a single writer (redb) holds that writer through
//! the log's fsync. If the state machine took the engine's write lock first and then waited for the
//! writer, every reader (`ready_now`, stats, a proposer reading the clock floor) would queue behind the
//! fsync and stall tokio workers, heartbeats included. Taking the gate first means the applier only ever
//! waits for the disk while holding nothing readers need.
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// A cheap-to-clone mutex that log writes and state-machine commits enter in turn. Only blocking code
/// (tokio's blocking pool) enters it, never an async worker.
#[derive(Clone, Debug, Default)]
pub(crate) struct Gate(Arc<Mutex<()>>);

impl Gate {
    /// Waits until no one else is inside; the guard lets the next one in when dropped.
    pub(crate) fn enter(&self) -> MutexGuard<'_, ()> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::mpsc, time::Duration};

    use super::Gate;

    #[test]
    fn a_second_entrant_waits_for_the_first() {
        let gate = Gate::default();
        let inside = gate.enter();
        let (tx, rx) = mpsc::channel();
        let other = gate.clone();
        let t = std::thread::spawn(move || {
            let _g = other.enter();
            tx.send(()).unwrap();
        });
        assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
        drop(inside);
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        t.join().unwrap();
    }
}
