//! Time as the engine sees it: `Timestamp` in Unix milliseconds, and the `Clock` a proposer reads.
use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
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
    /// The current wall-clock time. It may jump either way (an operator, NTP stepping, a VM resumed).
    fn now(&self) -> Timestamp;

    /// Time elapsed on a clock that never jumps, from an origin fixed for this clock. Proposers use it
    /// to keep stamps moving at the real rate while the wall clock is behind their last stamp, so a
    /// clock that jumps back neither freezes time nor stretches the leases granted meanwhile.
    fn monotonic(&self) -> Duration;
}

/// A clock that moves only when a test advances it, so due times and lease expiry never need a sleep.
#[derive(Clone, Debug)]
pub struct ManualClock {
    wall: Arc<AtomicU64>,
    /// Milliseconds advanced so far: the monotonic clock, which `set` does not move.
    elapsed: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self {
            wall: Arc::new(AtomicU64::new(start.0)),
            elapsed: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Lets `ms` milliseconds pass: both the wall clock and the monotonic clock move forward.
    pub fn advance_ms(&self, ms: u64) {
        self.wall.fetch_add(ms, Ordering::SeqCst);
        self.elapsed.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the wall clock only, as a jump does (tests use it to jump to a chosen second, or back);
    /// no time passes on the monotonic clock.
    pub fn set(&self, t: Timestamp) {
        self.wall.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.wall.load(Ordering::SeqCst))
    }

    fn monotonic(&self) -> Duration {
        Duration::from_millis(self.elapsed.load(Ordering::SeqCst))
    }
}
