//! `Tally`: where a Raft round's time goes, at `debug` level under the target `doq::raft::timing`
//! (`RUST_LOG=warn,doq::raft::timing=debug`). Each stage (the proposer's round, the log's write and
//! fsync, the state machine's apply) counts its calls, the items they carried and their total time, and
//! logs one summary line per stage every few seconds. Off, a record costs a lock and a few additions.
use std::{
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

/// How often a stage logs its summary.
const EVERY: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Counts {
    calls: u64,
    items: u64,
    total: Duration,
    max: Duration,
    since: Instant,
}

/// One stage's counters.
#[derive(Debug)]
pub(crate) struct Tally {
    stage: &'static str,
    counts: Mutex<Counts>,
}

impl Tally {
    /// A stage named `stage` in the log lines.
    pub(crate) fn new(stage: &'static str) -> Self {
        Self {
            stage,
            counts: Mutex::new(Counts {
                calls: 0,
                items: 0,
                total: Duration::ZERO,
                max: Duration::ZERO,
                since: Instant::now(),
            }),
        }
    }

    /// Records one call that carried `items` and took `took`.
    pub(crate) fn record(&self, items: usize, took: Duration) {
        if !tracing::enabled!(target: "doq::raft::timing", tracing::Level::DEBUG) {
            return;
        }
        let mut c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        c.calls += 1;
        c.items += items as u64;
        c.total += took;
        c.max = c.max.max(took);
        let elapsed = c.since.elapsed();
        if elapsed >= EVERY {
            let calls = c.calls.max(1);
            tracing::debug!(
                target: "doq::raft::timing",
                stage = self.stage,
                per_s = format!("{:.0}", c.calls as f64 / elapsed.as_secs_f64()),
                items_per_call = format!("{:.1}", c.items as f64 / calls as f64),
                avg_ms = format!("{:.2}", c.total.as_secs_f64() * 1000.0 / calls as f64),
                max_ms = format!("{:.2}", c.max.as_secs_f64() * 1000.0),
                busy = format!("{:.2}", c.total.as_secs_f64() / elapsed.as_secs_f64()),
                "raft stage timing"
            );
            *c = Counts {
                calls: 0,
                items: 0,
                total: Duration::ZERO,
                max: Duration::ZERO,
                since: Instant::now(),
            };
        }
    }
}

/// A proposer's round: from submitting an entry to its answer (items: commands).
pub(crate) static ROUND: std::sync::LazyLock<Tally> =
    std::sync::LazyLock::new(|| Tally::new("round"));
/// A log append's write (items: entries).
pub(crate) static LOG_WRITE: std::sync::LazyLock<Tally> =
    std::sync::LazyLock::new(|| Tally::new("log-write"));
/// A log append's flush (the fsync).
pub(crate) static LOG_FLUSH: std::sync::LazyLock<Tally> =
    std::sync::LazyLock::new(|| Tally::new("log-flush"));
/// A state-machine apply, gate wait included (items: commands and empty entries).
pub(crate) static APPLY: std::sync::LazyLock<Tally> =
    std::sync::LazyLock::new(|| Tally::new("apply"));
/// A follower's forwarding call (items: commands).
pub(crate) static FORWARD: std::sync::LazyLock<Tally> =
    std::sync::LazyLock::new(|| Tally::new("forward"));
/// An AppendEntries as its receiver handles it (items: entries).
pub(crate) static APPEND_RPC: std::sync::LazyLock<Tally> =
    std::sync::LazyLock::new(|| Tally::new("append-rpc"));
/// A shared read-index round.
pub(crate) static READ_ROUND: std::sync::LazyLock<Tally> =
    std::sync::LazyLock::new(|| Tally::new("read-round"));
