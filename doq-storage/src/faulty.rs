//! [`FaultyStore`]: a [`QueueStore`] wrapper that injects faults for tests, in the spirit of Neon's
//! `UnreliableWrapper` and redb's crash backend. Faults are knobs set at run time, never `cfg` branches in
//! production code. Compiled into every build (it costs nothing unless a node is wrapped), because the
//! server's test-only `testing.control_file` hook uses it to make a real node's disk slow; [`FaultyLog`]
//! is the Raft log's half of that.
use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    ops::Range,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Condvar, Mutex, MutexGuard,
    },
    thread,
    time::Duration,
};

use doq_api::{Body, Counters, GroupRecord, MessageHeader, MessageId, QueueId, QueueRecord};

use crate::{Applied, Error, LogMeta, LogStore, QueueStore, Result, WriteBatch};

/// `ENOSPC` on Linux (and most Unixes): "No space left on device".
const ENOSPC: i32 = 28;
mod log;
pub use log::FaultyLog;

/// When an injected commit failure strikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitFault {
    /// Return an error without writing: the store is unchanged, as after any failed atomic commit.
    Before,
    /// Commit the batch, then return an error: the caller cannot tell this from [`Before`](Self::Before)
    /// (a failed commit's outcome is unknown) and must recover from the store either way.
    After,
    /// A torn commit: write the first half of the batch's operations (as one commit), then return an
    /// error. A backend's commit is atomic, so this is the worst a broken disk or a backend bug could
    /// leave; the caller must still rebuild from what the store holds and lose nothing acknowledged.
    Torn,
}

/// The source of every error [`FaultyStore`] injects, so a test can tell an injected fault from a real one
/// (`std::error::Error::source` of the [`Error::Backend`] it returns).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("injected fault")]
pub struct InjectedFault;

impl InjectedFault {
    /// Whether `e` is an error [`FaultyStore`] injected.
    pub fn caused(e: &Error) -> bool {
        std::error::Error::source(e).is_some_and(<dyn std::error::Error>::is::<Self>)
    }
}

/// A [`QueueStore`] that passes everything to `S`, except the faults it is told to inject:
/// - [`fail_commit`](Self::fail_commit): the Nth commit from now fails, before or after writing;
/// - [`delay_commits`](Self::delay_commits): every commit first sleeps;
/// - [`hold_commits`](Self::hold_commits): every commit waits until released, so a test can stage work
///   behind a commit that is known to be in flight;
/// - [`fail_reads`](Self::fail_reads): every read method fails while set;
/// - [`fail_read`](Self::fail_read): the Nth read from now fails, once;
/// - [`fill_disk`](Self::fill_disk): every commit, flush and Raft log write fails with ENOSPC (`No space
///   left on device`, the OS error itself, as a full disk gives it) until the disk is "freed" again.
///
/// Injected errors are [`Error::Backend`] with the inner store's backend name and [`InjectedFault`] as
/// their source. Knobs take `&self`, so a test can turn them while the store is shared. When `S` is also a
/// [`LogStore`], so is the wrapper, passing every log call through untouched except in `fill_disk`: wrap
/// a store with `Stores::shared` to fault its queue half while its log works.
pub struct FaultyStore<S> {
    inner: S,
    /// Commits attempted so far, failed ones included.
    commits: AtomicU64,
    /// Scheduled failures, by the commit number (1-based, counted by `commits`) they strike.
    faults: Mutex<BTreeMap<u64, CommitFault>>,
    /// The delay before every commit; `Duration::ZERO` for none.
    delay: Mutex<Duration>,
    /// While true, commits wait on `released` (after being counted, before writing).
    held: Mutex<bool>,
    released: Condvar,
    reads_fail: AtomicBool,
    /// Reads attempted so far (every read method counts, failed ones included).
    reads: AtomicU64,
    /// Scheduled single read failures, by the read number (1-based, counted by `reads`) they strike.
    read_faults: Mutex<BTreeSet<u64>>,
    /// While true, commits and flushes fail with ENOSPC without writing.
    full: AtomicBool,
}

impl<S: fmt::Debug> fmt::Debug for FaultyStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyStore")
            .field("inner", &self.inner)
            .field("commits", &self.commits)
            .field("faults", &self.faults)
            .field("delay", &self.delay)
            .field("held", &self.held)
            .field("reads_fail", &self.reads_fail)
            .field("reads", &self.reads)
            .field("read_faults", &self.read_faults)
            .field("full", &self.full)
            .finish()
    }
}

impl<S: QueueStore> FaultyStore<S> {
    /// Wraps `inner`, injecting nothing until told to.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            commits: AtomicU64::new(0),
            faults: Mutex::new(BTreeMap::new()),
            delay: Mutex::new(Duration::ZERO),
            held: Mutex::new(false),
            released: Condvar::new(),
            reads_fail: AtomicBool::new(false),
            reads: AtomicU64::new(0),
            read_faults: Mutex::new(BTreeSet::new()),
            full: AtomicBool::new(false),
        }
    }

    /// The wrapped store, for reading behind the faults' back.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Unwraps the store.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Makes the `nth` commit from now fail (`1`: the next one) at `when`. Several may be scheduled; a
    /// later call for the same commit replaces the earlier one. `nth = 0` schedules nothing.
    pub fn fail_commit(&self, nth: u64, when: CommitFault) -> Result<()> {
        if nth == 0 {
            return Ok(());
        }
        let at = self.commits.load(Ordering::SeqCst).saturating_add(nth);
        self.faults()?.insert(at, when);
        Ok(())
    }

    /// Sleeps `by` before every commit from now on (`Duration::ZERO`: no delay).
    pub fn delay_commits(&self, by: Duration) -> Result<()> {
        *self.lock(&self.delay)? = by;
        Ok(())
    }

    /// While `on`, every commit waits (counted in [`commits`](Self::commits), before writing and before
    /// its scheduled fault strikes) until a call with `on = false` releases it. A test sees a commit
    /// arrive by watching `commits`, and can then stage more work behind it.
    pub fn hold_commits(&self, on: bool) -> Result<()> {
        *self.lock(&self.held)? = on;
        if !on {
            self.released.notify_all();
        }
        Ok(())
    }

    /// While `on`, every read method (`applied`, `counters`, `queues`, `groups`, `scan_headers`,
    /// `get_message`, `get_body`) fails.
    pub fn fail_reads(&self, on: bool) {
        self.reads_fail.store(on, Ordering::SeqCst);
    }

    /// Makes the `nth` read from now fail once (`1`: the next one); every read method counts. Several
    /// may be scheduled. `nth = 0` schedules nothing.
    pub fn fail_read(&self, nth: u64) -> Result<()> {
        if nth == 0 {
            return Ok(());
        }
        let at = self.reads.load(Ordering::SeqCst).saturating_add(nth);
        self.lock(&self.read_faults)?.insert(at);
        Ok(())
    }

    /// While `on`, the disk is full: every commit, flush and log write (append, truncate, purge, save)
    /// fails with ENOSPC and writes nothing (reads still work). `false` frees the space.
    pub fn fill_disk(&self, on: bool) {
        self.full.store(on, Ordering::SeqCst);
    }

    /// Clears every scheduled failure, the delay, a hold, `fail_reads`, scheduled read failures and a
    /// full disk.
    pub fn heal(&self) -> Result<()> {
        self.faults()?.clear();
        self.delay_commits(Duration::ZERO)?;
        self.hold_commits(false)?;
        self.fail_reads(false);
        self.lock(&self.read_faults)?.clear();
        self.fill_disk(false);
        Ok(())
    }

    /// How many reads were attempted, failed ones included.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::SeqCst)
    }

    /// The error a full disk gives: ENOSPC as the OS reports it.
    fn no_space(&self, op: &'static str) -> Error {
        Error::backend_failed(
            self.inner.backend(),
            op,
            std::io::Error::from_raw_os_error(ENOSPC),
        )
    }

    /// How many commits were attempted, failed ones included.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::SeqCst)
    }

    fn injected(&self, op: &'static str) -> Error {
        Error::backend_failed(self.inner.backend(), op, InjectedFault)
    }

    fn faults(&self) -> Result<MutexGuard<'_, BTreeMap<u64, CommitFault>>> {
        self.lock(&self.faults)
    }

    fn lock<'a, T>(&self, m: &'a Mutex<T>) -> Result<MutexGuard<'a, T>> {
        m.lock().map_err(|_| {
            Error::backend_failed(
                self.inner.backend(),
                "lock fault knobs",
                "poisoned by a panic",
            )
        })
    }

    fn read<T>(&self, op: &'static str, read: impl FnOnce(&S) -> Result<T>) -> Result<T> {
        let n = self.reads.fetch_add(1, Ordering::SeqCst).saturating_add(1);
        if self.reads_fail.load(Ordering::SeqCst) || self.lock(&self.read_faults)?.remove(&n) {
            return Err(self.injected(op));
        }
        read(&self.inner)
    }
}

#[deny(clippy::missing_trait_methods)]
impl<S: QueueStore> QueueStore for FaultyStore<S> {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    fn commit(&self, batch: WriteBatch) -> Result<()> {
        self.commit_ref(&batch)
    }

    fn commit_ref(&self, batch: &WriteBatch) -> Result<()> {
        let n = self
            .commits
            .fetch_add(1, Ordering::SeqCst)
            .saturating_add(1);
        let delay = *self.lock(&self.delay)?;
        if !delay.is_zero() {
            thread::sleep(delay);
        }
        {
            let mut held = self.lock(&self.held)?;
            while *held {
                held = self.released.wait(held).map_err(|_| {
                    Error::backend_failed(
                        self.inner.backend(),
                        "hold commit",
                        "poisoned by a panic",
                    )
                })?;
            }
        }
        let fault = self.faults()?.remove(&n);
        if self.full.load(Ordering::SeqCst) {
            return Err(self.no_space("commit batch"));
        }
        match fault {
            None => self.inner.commit_ref(batch),
            Some(CommitFault::Before) => Err(self.injected("commit batch")),
            Some(CommitFault::After) => {
                self.inner.commit_ref(batch)?;
                Err(self.injected("commit batch"))
            }
            Some(CommitFault::Torn) => {
                let ops = batch.ops();
                let mut half = WriteBatch::new();
                for op in &ops[..ops.len() / 2] {
                    half.push(op.clone());
                }
                self.inner.commit(half)?;
                Err(self.injected("commit batch"))
            }
        }
    }

    fn flush(&self) -> Result<()> {
        if self.full.load(Ordering::SeqCst) {
            return Err(self.no_space("flush"));
        }
        self.inner.flush()
    }

    fn applied(&self) -> Result<Option<Applied>> {
        self.read("read applied marker", S::applied)
    }

    fn counters(&self) -> Result<Option<Counters>> {
        self.read("read counters", S::counters)
    }

    fn queues(&self) -> Result<Vec<QueueRecord>> {
        self.read("scan queues", S::queues)
    }

    fn groups(&self, q: QueueId) -> Result<Vec<GroupRecord>> {
        self.read("scan groups", |s| s.groups(q))
    }

    fn scan_headers(
        &self,
        q: QueueId,
        after: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<MessageHeader>> {
        self.read("scan headers", |s| s.scan_headers(q, after, limit))
    }

    fn get_message(&self, q: QueueId, id: MessageId) -> Result<Option<(MessageHeader, Body)>> {
        self.read("read message", |s| s.get_message(q, id))
    }

    fn get_body(&self, q: QueueId, id: MessageId) -> Result<Option<Body>> {
        self.read("read body", |s| s.get_body(q, id))
    }

    fn meta(&self, key: crate::MetaKey) -> Result<Option<Vec<u8>>> {
        self.read("read meta", |s| s.meta(key))
    }

    fn scan(
        &self,
        space: crate::Space,
        lo: &[u8],
        hi: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.read("scan", |s| s.scan(space, lo, hi, limit))
    }

    fn with_snapshot(&self, f: &mut dyn FnMut(&dyn crate::Snapshot) -> Result<()>) -> Result<()> {
        self.read("open snapshot", |s| s.with_snapshot(f))
    }

    fn snapshot_blocks_commits(&self) -> bool {
        self.inner.snapshot_blocks_commits()
    }
}

impl<S: QueueStore + LogStore> FaultyStore<S> {
    /// A log write, unless the disk is full.
    fn log_write(&self, op: &'static str, write: impl FnOnce(&S) -> Result<()>) -> Result<()> {
        if self.full.load(Ordering::SeqCst) {
            return Err(self.no_space(op));
        }
        write(&self.inner)
    }
}

#[deny(clippy::missing_trait_methods)]
impl<S: QueueStore + LogStore> LogStore for FaultyStore<S> {
    fn append(&self, entries: &[(u64, Vec<u8>)]) -> Result<()> {
        self.log_write("append log", |s| s.append(entries))
    }

    fn read(&self, range: Range<u64>) -> Result<Vec<(u64, Vec<u8>)>> {
        self.inner.read(range)
    }

    fn truncate(&self, from: u64) -> Result<()> {
        self.log_write("truncate log", |s| s.truncate(from))
    }

    fn purge(&self, upto: u64) -> Result<()> {
        self.log_write("purge log", |s| s.purge(upto))
    }

    fn last_purged(&self) -> Result<Option<u64>> {
        self.inner.last_purged()
    }

    fn last_index(&self) -> Result<Option<u64>> {
        self.inner.last_index()
    }

    fn save(&self, key: LogMeta, value: &[u8]) -> Result<()> {
        self.log_write("save log state", |s| s.save(key, value))
    }

    fn load(&self, key: LogMeta) -> Result<Option<Vec<u8>>> {
        self.inner.load(key)
    }
}

#[cfg(test)]
mod tests;
