//! [`open_stores`] (and [`open`], its queue half): picks a backend from the registry (`registry.rs`) by
//! name, locks the data directory for the store's lifetime and checks the directory's `DOQ_STORE` marker, so a directory is never opened by a
//! second process or the wrong backend.
use std::{
    fs::{self, File, OpenOptions},
    io::{self, Write},
    ops::Range,
    path::Path,
    sync::Arc,
};

use doq_api::{Body, Counters, GroupRecord, MessageHeader, MessageId, QueueId, QueueRecord};

use crate::{
    Applied, Error, LogMeta, LogStore, QueueStore, Result, RocksDbTuning, SledTuning, WriteBatch,
};

/// The marker file naming the backend that owns a data directory.
pub const MARKER_FILE: &str = "DOQ_STORE";
/// The file whose exclusive lock says a process has the data directory open.
pub const LOCK_FILE: &str = "LOCK";
/// How to open a store.
///
/// # Tuning, per backend
/// | option | memory | redb | rocksdb | sled |
/// |---|---|---|---|---|
/// | `sync = true` | no-op | `Durability::Immediate` per write | WAL synced per write (`WriteOptions::set_sync`) | `Db::flush` after each write |
/// | `sync = false` | no-op | `Durability::None`; durable at `flush` | WAL written, not synced; `flush` syncs it | background flush every 500 ms; `flush` at once |
/// | `cache_bytes` | unused | page cache | one LRU block cache shared by all column families | page cache capacity |
/// | `rocksdb` | unused | unused | compression, memtable size per column family | unused |
/// | `sled` | unused | unused | unused | `mode`: low space or high throughput |
///
/// Fixed, not tunable: RocksDB uses 10-bit bloom filters; sled is built without compression; redb has no
/// compression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// `true` (config `sync = always`): every commit and every log write is on stable storage when it
    /// returns. `false` (`sync = never`): they reach the disk at the next `flush` (or clean close, or on
    /// the backend's own schedule), and a crash may lose the writes since then, never part of one. With
    /// `false`, call `flush` now and then: redb reclaims pages only after a durable commit.
    pub sync: bool,
    /// Bytes of cache the backend may use (config `cache_bytes`); see the table above.
    pub cache_bytes: u64,
    /// RocksDB's own knobs.
    pub rocksdb: RocksDbTuning,
    /// sled's own knobs.
    pub sled: SledTuning,
}

impl Default for StoreOptions {
    /// Durable commits and a 64 MiB cache.
    fn default() -> Self {
        Self {
            sync: true,
            cache_bytes: 64 << 20,
            rocksdb: RocksDbTuning::default(),
            sled: SledTuning::default(),
        }
    }
}

/// The two views of one database: the queue keyspaces and the Raft log.
///
/// Both hold the data directory's lock; it is released when the last clone of either is dropped.
#[derive(Clone, Debug)]
pub struct Stores {
    /// Queue records, messages, groups, counters and the applied marker.
    pub queues: Arc<dyn QueueStore>,
    /// The Raft log, vote and committed index, in the same database.
    pub log: Arc<dyn LogStore>,
}

impl Stores {
    /// Both views of one store.
    pub fn shared<S: QueueStore + LogStore>(store: Arc<S>) -> Self {
        Self {
            queues: store.clone(),
            log: store,
        }
    }

    /// Both views of `store`, which keeps the data directory's `lock` until its last clone is dropped
    /// (a backend's [`crate::OpenFn`] returns this).
    pub fn locked<S: QueueStore + LogStore>(store: S, lock: File) -> Self {
        Self::shared(Arc::new(DirLocked { store, _lock: lock }))
    }
}

/// Opens the `backend` store in `dir`, creating the directory and the store if needed, and returns its queue
/// and log views.
///
/// The directory stays locked until both views are dropped: another open of it, from this process or
/// another, fails with [`Error::Locked`]. A directory created by another backend fails with
/// [`Error::WrongBackend`]; a backend this binary was built without fails with [`Error::NotCompiled`].
pub fn open_stores(backend: &str, dir: &Path, opts: &StoreOptions) -> Result<Stores> {
    let backend = crate::Backend::resolve(backend)?;
    fs::create_dir_all(dir).map_err(|e| Error::io("create data dir", dir, e))?;
    let lock = lock(dir)?;
    check_marker(dir, backend.name)?;
    (backend.open)(dir, opts, lock)
}

/// Opens the `backend` store in `dir` like [`open_stores`], for callers that need only the queue view.
pub fn open(backend: &str, dir: &Path, opts: &StoreOptions) -> Result<Arc<dyn QueueStore>> {
    Ok(open_stores(backend, dir, opts)?.queues)
}

/// Whether a running node holds the lock of data directory `dir` (offline tools refuse to touch it).
pub fn is_locked(dir: &Path) -> Result<bool> {
    if !dir.join(LOCK_FILE).exists() {
        return Ok(false);
    }
    match lock(dir) {
        Ok(_released_on_drop) => Ok(false),
        Err(Error::Locked { .. }) => Ok(true),
        Err(e) => Err(e),
    }
}

/// Takes the exclusive lock on `dir/LOCK`; it is released when the returned file is closed.
fn lock(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io("open lock file", &path, e))?;
    match fs4::fs_std::FileExt::try_lock_exclusive(&file) {
        Ok(true) => Ok(file),
        Ok(false) => Err(Error::Locked {
            path: dir.to_owned(),
        }),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(Error::Locked {
            path: dir.to_owned(),
        }),
        Err(e) => Err(Error::io("lock", &path, e)),
    }
}

/// Refuses a directory whose marker names another backend; writes the marker on first open.
fn check_marker(dir: &Path, backend: &'static str) -> Result<()> {
    let path = dir.join(MARKER_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let found = text.lines().next().unwrap_or_default().trim();
            if found == backend {
                Ok(())
            } else {
                Err(Error::WrongBackend {
                    found: found.to_owned(),
                    wanted: backend,
                })
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => write_marker(dir, backend),
        Err(e) => Err(Error::io("read backend marker", &path, e)),
    }
}

/// Writes the marker atomically (temporary file, fsync, rename, fsync of the directory), so a crash never
/// leaves a half-written one.
fn write_marker(dir: &Path, backend: &str) -> Result<()> {
    let tmp = dir.join(format!("{MARKER_FILE}.tmp"));
    let path = dir.join(MARKER_FILE);
    let write = || -> io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(format!("{backend}\n").as_bytes())?;
        f.sync_all()
    };
    write().map_err(|e| Error::io("write backend marker", &tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| Error::io("rename backend marker", &path, e))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("sync data dir", dir, e))
}

/// A store that holds its data directory's lock; fields drop in order, so the store closes before the
/// lock is released.
#[derive(Debug)]
struct DirLocked<S> {
    store: S,
    _lock: File,
}

#[deny(clippy::missing_trait_methods)]
impl<S: QueueStore> QueueStore for DirLocked<S> {
    fn backend(&self) -> &'static str {
        self.store.backend()
    }

    fn commit(&self, batch: WriteBatch) -> Result<()> {
        self.store.commit(batch)
    }

    fn commit_ref(&self, batch: &WriteBatch) -> Result<()> {
        self.store.commit_ref(batch)
    }

    fn flush(&self) -> Result<()> {
        self.store.flush()
    }

    fn applied(&self) -> Result<Option<Applied>> {
        self.store.applied()
    }

    fn counters(&self) -> Result<Option<Counters>> {
        self.store.counters()
    }

    fn queues(&self) -> Result<Vec<QueueRecord>> {
        self.store.queues()
    }

    fn groups(&self, q: QueueId) -> Result<Vec<GroupRecord>> {
        self.store.groups(q)
    }

    fn scan_headers(
        &self,
        q: QueueId,
        after: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<MessageHeader>> {
        self.store.scan_headers(q, after, limit)
    }

    fn get_message(&self, q: QueueId, id: MessageId) -> Result<Option<(MessageHeader, Body)>> {
        self.store.get_message(q, id)
    }

    fn get_body(&self, q: QueueId, id: MessageId) -> Result<Option<Body>> {
        self.store.get_body(q, id)
    }

    fn meta(&self, key: crate::MetaKey) -> Result<Option<Vec<u8>>> {
        self.store.meta(key)
    }

    fn scan(
        &self,
        space: crate::Space,
        lo: &[u8],
        hi: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.store.scan(space, lo, hi, limit)
    }

    fn with_snapshot(&self, f: &mut dyn FnMut(&dyn crate::Snapshot) -> Result<()>) -> Result<()> {
        self.store.with_snapshot(f)
    }

    fn snapshot_blocks_commits(&self) -> bool {
        self.store.snapshot_blocks_commits()
    }
}

#[deny(clippy::missing_trait_methods)]
impl<S: LogStore> LogStore for DirLocked<S> {
    fn append(&self, entries: &[(u64, Vec<u8>)]) -> Result<()> {
        self.store.append(entries)
    }

    fn read(&self, range: Range<u64>) -> Result<Vec<(u64, Vec<u8>)>> {
        self.store.read(range)
    }

    fn truncate(&self, from: u64) -> Result<()> {
        self.store.truncate(from)
    }

    fn purge(&self, upto: u64) -> Result<()> {
        self.store.purge(upto)
    }

    fn last_purged(&self) -> Result<Option<u64>> {
        self.store.last_purged()
    }

    fn last_index(&self) -> Result<Option<u64>> {
        self.store.last_index()
    }

    fn save(&self, key: LogMeta, value: &[u8]) -> Result<()> {
        self.store.save(key, value)
    }

    fn load(&self, key: LogMeta) -> Result<Option<Vec<u8>>> {
        self.store.load(key)
    }
}
