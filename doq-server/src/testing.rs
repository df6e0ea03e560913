//! Test-only fault hooks, switched on by `testing.control_file` (docs/config.md §10). **Never set it in
//! production**: it exists so the fault harness (`doq-chaos`, docs/conformance.md §13.1) can jump one
//! real node's clock and make its disk slow while the node runs, without a debugger or root tricks.
//!
//! With the key set, the node polls the named file every [`POLL`] and applies what it says:
//!
//! ```text
//! clock_offset_ms = -3600000   # the node's clock runs an hour behind (may be negative)
//! disk_delay_ms = 50           # every state-machine commit and every Raft log write sleeps first
//! ```
//!
//! A missing or empty file means no faults; a key that is absent is 0. Lines that do not parse are
//! logged and ignored. Without the key none of this is built: the clock is the system clock and the
//! stores are not wrapped.
//!
//! Why the clock hook is safe to have: the replicated state machine never reads a clock; the leader
//! stamps each write, never below the last applied stamp and at the monotonic clock's pace while its
//! wall clock is behind (docs/semantics.md §1). The offset moves only the wall clock, as a real jump
//! does. A node whose clock jumps back changes nothing but its own reads of lease state; the harness
//! checks that.
use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc,
    },
    time::Duration,
};

use doq_api::{Clock, Timestamp};
use doq_consensus::SystemClock;
use doq_storage::{FaultyLog, FaultyStore, LogStore, QueueStore};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// How often the control file is read.
pub const POLL: Duration = Duration::from_millis(100);

/// The system clock moved by an offset the control file sets.
#[derive(Clone, Debug, Default)]
pub struct OffsetClock {
    offset_ms: Arc<AtomicI64>,
}

impl OffsetClock {
    /// Moves the clock to `offset_ms` from the system clock.
    pub fn set_offset_ms(&self, offset_ms: i64) {
        self.offset_ms.store(offset_ms, Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> Timestamp {
        let now = SystemClock.now().0;
        let offset = self.offset_ms.load(Ordering::SeqCst);
        Timestamp(now.saturating_add_signed(offset))
    }

    /// The offset moves only the wall clock, as a real clock jump does.
    fn monotonic(&self) -> Duration {
        SystemClock.monotonic()
    }
}

/// What one read of the control file asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Control {
    /// Milliseconds added to the system clock.
    pub clock_offset_ms: i64,
    /// Milliseconds every store write sleeps first.
    pub disk_delay_ms: u64,
}

impl Control {
    /// Parses `key = value` lines (`#` starts a comment); answers the control and the lines it ignored.
    pub fn parse(text: &str) -> (Self, Vec<String>) {
        let mut c = Self::default();
        let mut bad = Vec::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let parsed = line.split_once('=').and_then(|(k, v)| {
                let v = v.trim();
                match k.trim() {
                    "clock_offset_ms" => v.parse().ok().map(|n| c.clock_offset_ms = n),
                    "disk_delay_ms" => v.parse().ok().map(|n| c.disk_delay_ms = n),
                    _ => None,
                }
            });
            if parsed.is_none() {
                bad.push(line.to_owned());
            }
        }
        (c, bad)
    }
}

/// The knobs of one node: its clock and, once the stores are open, their fault wrappers.
#[derive(Debug)]
pub struct Hooks {
    file: PathBuf,
    /// The node's clock; give it to consensus instead of the system clock.
    pub clock: OffsetClock,
    queues: Option<Arc<FaultyStore<Arc<dyn QueueStore>>>>,
    log: Option<Arc<FaultyLog<Arc<dyn LogStore>>>>,
}

impl Hooks {
    /// Hooks driven by `file`.
    pub fn new(file: &Path) -> Self {
        warn!(file = %file.display(), "testing.control_file is set: this node's clock and disk obey a test harness; never use this in production");
        Self {
            file: file.to_owned(),
            clock: OffsetClock::default(),
            queues: None,
            log: None,
        }
    }

    /// Wraps the queue store so the disk delay reaches its commits.
    pub fn wrap_queues(&mut self, store: Arc<dyn QueueStore>) -> Arc<dyn QueueStore> {
        let wrapped = Arc::new(FaultyStore::new(store));
        self.queues = Some(wrapped.clone());
        wrapped
    }

    /// Wraps the Raft log so the disk delay reaches its writes.
    pub fn wrap_log(&mut self, log: Arc<dyn LogStore>) -> Arc<dyn LogStore> {
        let wrapped = Arc::new(FaultyLog::new(log));
        self.log = Some(wrapped.clone());
        wrapped
    }

    /// Applies `c` to the clock and the wrapped stores.
    pub fn apply(&self, c: Control) {
        self.clock.set_offset_ms(c.clock_offset_ms);
        let delay = Duration::from_millis(c.disk_delay_ms);
        if let Some(q) = &self.queues {
            if let Err(e) = q.delay_commits(delay) {
                warn!(error = %e, "testing: cannot set the commit delay");
            }
        }
        if let Some(l) = &self.log {
            l.delay_writes(delay);
        }
    }

    /// Reads the file now and applies it; then keeps doing so every [`POLL`] until `stop`.
    pub fn spawn(self, stop: CancellationToken) {
        let mut last = self.read();
        info!(?last, "testing: control file applied");
        self.apply(last);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(POLL) => {}
                }
                let now = self.read();
                if now != last {
                    info!(?now, "testing: control file changed");
                    self.apply(now);
                    last = now;
                }
            }
        });
    }

    fn read(&self) -> Control {
        let text = std::fs::read_to_string(&self.file).unwrap_or_default();
        let (c, bad) = Control::parse(&text);
        for line in bad {
            warn!(%line, "testing: ignored a control file line");
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_control_file_parses_offsets_delays_and_comments() {
        let (c, bad) = Control::parse(
            "# jump\nclock_offset_ms = -3600000\n\ndisk_delay_ms=25 # slow\nnope = 1\nclock_offset_ms = x\n",
        );
        assert_eq!(
            c,
            Control {
                clock_offset_ms: -3_600_000,
                disk_delay_ms: 25
            }
        );
        assert_eq!(bad, vec!["nope = 1", "clock_offset_ms = x"]);
        assert_eq!(Control::parse("").0, Control::default());
    }

    #[test]
    fn the_offset_clock_moves_both_ways_from_the_system_clock() {
        let clock = OffsetClock::default();
        let base = SystemClock.now().0;
        clock.set_offset_ms(-3_600_000);
        let back = clock.now().0;
        assert!(back + 3_600_000 >= base && back + 3_600_000 < base + 5_000);
        clock.set_offset_ms(60_000);
        assert!(clock.now().0 >= base + 60_000);
        clock.set_offset_ms(0);
        assert!(clock.now().0 >= base);
    }

    #[tokio::test]
    async fn hooks_follow_the_file_while_the_node_runs() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("control");
        let mut hooks = Hooks::new(&file);
        let store: Arc<dyn QueueStore> = Arc::new(doq_storage::MemoryStore::new());
        let _ = hooks.wrap_queues(store);
        let log = hooks.log.clone();
        assert!(log.is_none());
        let mem: Arc<dyn LogStore> = Arc::new(doq_storage::MemoryStore::new());
        let _ = hooks.wrap_log(mem);
        let log = hooks.log.clone().unwrap();
        let clock = hooks.clock.clone();
        let stop = CancellationToken::new();
        hooks.spawn(stop.clone());
        std::fs::write(&file, "clock_offset_ms = -3600000\ndisk_delay_ms = 7\n").unwrap();
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while log.write_delay() != Duration::from_millis(7) && std::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(log.write_delay(), Duration::from_millis(7));
        assert!(clock.now().0 + 3_000_000 < SystemClock.now().0);
        std::fs::remove_file(&file).unwrap();
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while !log.write_delay().is_zero() && std::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(log.write_delay().is_zero());
        stop.cancel();
    }
}
