//! Time as the engine sees it: `Timestamp` in Unix milliseconds, and the `Clock` a proposer reads.
use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

/// Unix time in milliseconds. The engine only ever sees the one stamped into a command.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// Whole Unix seconds, the unit delayed-queue priorities are compared with.
    pub fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// `self + secs` seconds, saturating instead of overflowing on absurd inputs.
    pub fn plus_secs(self, secs: u32) -> Self {
        Self(self.0.saturating_add(u64::from(secs).saturating_mul(1000)))
    }
}

/// Where a proposer reads `now`. Only proposers read a clock; the engine never does.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// A clock that moves only when a test advances it, so due times and lease expiry never need a sleep.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self(Arc::new(AtomicU64::new(start.0)))
    }

    /// Moves the clock forward by `ms` milliseconds.
    pub fn advance_ms(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock (tests use it to jump to a chosen second).
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}
