//! [`SledStore`]: the store on [sled](https://docs.rs/sled) 0.34, one tree per keyspace, one multi-tree
//! transaction per batch (and per multi-key log write), then `flush` when syncing.
//!
//! sled's transactions can neither scan nor range-delete, so a batch is first folded into its net effect on
//! each tree (the last write to each key, range deletes expanded to the keys they cover), and the
//! transaction writes just that. The expansion reads committed keys outside the transaction, so every
//! write holds the store's lock: see [`SledStore`]'s `# Contract`.
use std::{
    collections::BTreeMap,
    convert::Infallible,
    fmt,
    fs::File,
    io,
    ops::{Bound, Range},
    path::{Path, PathBuf},
    sync::{RwLock, RwLockReadGuard, RwLockWriteGuard},
    thread,
    time::{Duration, Instant},
};

use doq_api::{Body, Counters, GroupRecord, MessageHeader, MessageId, QueueId, QueueRecord};
use sled::{
    transaction::{ConflictableTransactionError, TransactionError, TransactionalTree},
    Transactional, Tree,
};

use crate::{
    Backend, Stores,
    batch::Op,
    error::BoxError,
    keys::{self, MetaTag, RaftTag},
    record, Applied, Error, LogMeta, LogStore, MetaKey, QueueStore, Result, SledMode, Snapshot,
    Space, StoreOptions, WriteBatch,
};

/// The backend's name.
const BACKEND: &str = "sled";

/// The database directory inside the data directory.
const DIR: &str = "sled";

/// sled's line in the backend registry (`registry.rs`).
pub(crate) const ENTRY: Backend = Backend {
    name: BACKEND,
    durable: true,
    caveat: Some(
        "storage.backend = sled survives a process crash but not a power loss: sled flushes with \
         sync_file_range, not fsync",
    ),
    open: |dir, opts, lock| Ok(Stores::locked(SledStore::open(&dir.join(DIR), opts)?, lock)),
};

/// How often sled's background thread flushes when the store does not sync every write.
const FLUSH_EVERY_MS: u64 = 500;

/// The file in the database directory that sled locks while the database is open.
const SLED_LOCK_FILE: &str = "db";

/// How long `open` waits for a closed instance to let go of the database (see [`wait_for_release`]).
const RELEASE_WAIT: Duration = Duration::from_secs(5);

/// Wraps a sled error as [`Error::Backend`] for `op`.
fn failed<E: Into<BoxError>>(op: &'static str) -> impl FnOnce(E) -> Error {
    move |e| Error::backend_failed(BACKEND, op, e)
}

/// A [`QueueStore`] and [`LogStore`] in one sled database.
///
/// Tuning (see [`StoreOptions`]): `cache_bytes` is sled's page cache capacity and `sled.mode` trades disk
/// space for write speed. sled is built without its compression feature.
///
/// # Contract
/// Besides [`QueueStore`]'s and [`LogStore`]'s: every write (a commit, a log write) holds the write half of
/// one lock from before it reads the keys a range delete covers until its transaction is committed and, with
/// `sync`, flushed; every read holds the read half. So writes are serialized (range deletes never miss a
/// key committed concurrently) and a read never sees half a batch, even in a scan, which sled alone does
/// not promise. A read waits for a write's flush.
pub struct SledStore {
    db: sled::Db,
    trees: Trees,
    path: PathBuf,
    /// `true`: every write is flushed to disk before it returns. `false`: sled's background thread flushes
    /// every [`FLUSH_EVERY_MS`], and `flush` (or a clean close) does so at once.
    sync: bool,
    lock: RwLock<()>,
}

impl fmt::Debug for SledStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SledStore")
            .field("path", &self.path)
            .field("sync", &self.sync)
            .finish_non_exhaustive()
    }
}

/// One tree per keyspace.
struct Trees {
    queues: Tree,
    headers: Tree,
    bodies: Tree,
    groups: Tree,
    meta: Tree,
    log: Tree,
    raft: Tree,
    tombstones: Tree,
    staging: Tree,
}

impl Trees {
    fn space(&self, space: Space) -> &Tree {
        match space {
            Space::Tombstones => &self.tombstones,
            Space::Staging => &self.staging,
        }
    }
}

/// The net effect of a write on one tree: the last value written to each key, `None` for a removal.
type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// The net effect of a batch on the queue trees, in [`Trees::queue_trees`] order.
#[derive(Default)]
struct Overlay {
    queues: Writes,
    headers: Writes,
    bodies: Writes,
    groups: Writes,
    meta: Writes,
    tombstones: Writes,
    staging: Writes,
}

impl Overlay {
    /// Folds `op` in. Later ops overwrite earlier ones' entries, which is batch order.
    fn apply(&mut self, op: &Op, trees: &Trees) -> Result<()> {
        match op {
            Op::PutMessage { header, body } => {
                let k = keys::message(header.queue, header.id).to_vec();
                self.headers
                    .insert(k.clone(), Some(record::encode_header(header)));
                self.bodies.insert(k, Some(record::encode_body(body)));
            }
            Op::PutHeader(header) => {
                let k = keys::message(header.queue, header.id).to_vec();
                self.headers.insert(k, Some(record::encode_header(header)));
            }
            Op::DeleteMessage { queue, id } => {
                let k = keys::message(*queue, *id).to_vec();
                self.headers.insert(k.clone(), None);
                self.bodies.insert(k, None);
            }
            Op::PutQueue(r) => {
                self.queues
                    .insert(keys::queue(r.id).to_vec(), Some(record::encode_queue(r)));
            }
            Op::DeleteQueue(q) => {
                self.queues.insert(keys::queue(*q).to_vec(), None);
                self.delete_messages(*q, trees)?;
            }
            Op::DeleteMessages(q) => self.delete_messages(*q, trees)?,
            Op::PutGroup(g) => {
                self.groups.insert(
                    keys::group(g.queue, g.node).to_vec(),
                    Some(record::encode_group(g)),
                );
            }
            Op::DeleteGroup { queue, node } => {
                self.groups
                    .insert(keys::group(*queue, *node).to_vec(), None);
            }
            Op::PutCounters(c) => {
                self.meta.insert(
                    vec![MetaTag::Counters.key()],
                    Some(record::encode_counters(c)),
                );
            }
            Op::SetApplied(a) => {
                self.meta.insert(
                    vec![MetaTag::Applied.key()],
                    Some(record::encode_applied(a)),
                );
            }
            Op::PutMeta { key, value } => {
                self.meta.insert(vec![key.key()], Some(value.clone()));
            }
            Op::Put { space, key, value } => {
                self.space(*space).insert(key.clone(), Some(value.clone()));
            }
            Op::DeleteRange { space, lo, hi } => {
                if lo <= hi {
                    let writes = match space {
                        Space::Tombstones => &mut self.tombstones,
                        Space::Staging => &mut self.staging,
                    };
                    remove_range(writes, trees.space(*space), lo, hi)?;
                }
            }
        }
        Ok(())
    }

    fn space(&mut self, space: Space) -> &mut Writes {
        match space {
            Space::Tombstones => &mut self.tombstones,
            Space::Staging => &mut self.staging,
        }
    }

    fn delete_messages(&mut self, q: QueueId, trees: &Trees) -> Result<()> {
        let (lo, hi) = keys::messages_of(q);
        remove_range(&mut self.headers, &trees.headers, &lo, &hi)?;
        remove_range(&mut self.bodies, &trees.bodies, &lo, &hi)?;
        let (lo, hi) = keys::groups_of(q);
        remove_range(&mut self.groups, &trees.groups, &lo, &hi)
    }

    fn into_writes(self) -> [Writes; 7] {
        [
            self.queues,
            self.headers,
            self.bodies,
            self.groups,
            self.meta,
            self.tombstones,
            self.staging,
        ]
    }
}

/// Marks every key in `lo..=hi` removed: those written earlier in the batch and those committed in `tree`.
fn remove_range(writes: &mut Writes, tree: &Tree, lo: &[u8], hi: &[u8]) -> Result<()> {
    for (_, v) in writes.range_mut::<[u8], _>((Bound::Included(lo), Bound::Included(hi))) {
        *v = None;
    }
    for entry in tree.range(lo..=hi) {
        let (k, _) = entry.map_err(failed("scan keys to delete"))?;
        writes.insert(k.to_vec(), None);
    }
    Ok(())
}

/// Writes `writes[i]` to `trees[i]` in one transaction.
fn transact(trees: &[Tree], writes: &[Writes], op: &'static str) -> Result<()> {
    trees
        .transaction(|txn: &Vec<TransactionalTree>| {
            for (tree, writes) in txn.iter().zip(writes) {
                for (k, v) in writes {
                    match v {
                        Some(v) => tree.insert(k.as_slice(), v.as_slice())?,
                        None => tree.remove(k.as_slice())?,
                    };
                }
            }
            Ok::<(), ConflictableTransactionError<Infallible>>(())
        })
        .map_err(|e: TransactionError<Infallible>| failed(op)(e))
}

/// Waits until nothing holds sled's lock on the database in `path`. sled's background threads finish their
/// writes after the last handle is dropped and hold the lock until then, so an open right after a close in
/// the same process (a restart in tests, a reopen) would fail. Gives up with [`Error::Locked`] after
/// [`RELEASE_WAIT`]: then someone really has the database open.
fn wait_for_release(path: &Path) -> Result<()> {
    let file_path = path.join(SLED_LOCK_FILE);
    let file = match File::open(&file_path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("open sled lock file", &file_path, e)),
    };
    let deadline = Instant::now() + RELEASE_WAIT;
    loop {
        // The same kind of lock sled takes (`flock`), on our own descriptor; closing `file` releases it.
        match fs4::fs_std::FileExt::try_lock_exclusive(&file) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(Error::io("lock sled database", &file_path, e)),
        }
        if Instant::now() >= deadline {
            return Err(Error::Locked {
                path: path.to_owned(),
            });
        }
        thread::sleep(Duration::from_millis(5));
    }
}

impl SledStore {
    /// Opens (or creates) the database in directory `path`. Callers normally use [`crate::open`], which
    /// also locks the data directory and checks its backend marker.
    pub fn open(path: &Path, opts: &StoreOptions) -> Result<Self> {
        wait_for_release(path)?;
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(opts.cache_bytes)
            .mode(match opts.sled.mode {
                SledMode::LowSpace => sled::Mode::LowSpace,
                SledMode::HighThroughput => sled::Mode::HighThroughput,
            })
            .flush_every_ms((!opts.sync).then_some(FLUSH_EVERY_MS))
            .open()
            .map_err(failed("open database"))?;
        let tree = |name: &str| db.open_tree(name).map_err(failed("open tree"));
        let trees = Trees {
            queues: tree("queues")?,
            headers: tree("headers")?,
            bodies: tree("bodies")?,
            groups: tree("groups")?,
            meta: tree("meta")?,
            log: tree("log")?,
            raft: tree("raft")?,
            tombstones: tree("tombstones")?,
            staging: tree("staging")?,
        };
        Ok(Self {
            db,
            trees,
            path: path.to_owned(),
            sync: opts.sync,
            lock: RwLock::new(()),
        })
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_lock(&self) -> Result<RwLockWriteGuard<'_, ()>> {
        self.lock
            .write()
            .map_err(|_| Error::backend_failed(BACKEND, "lock for write", "poisoned by a panic"))
    }

    fn read_lock(&self) -> Result<RwLockReadGuard<'_, ()>> {
        self.lock
            .read()
            .map_err(|_| Error::backend_failed(BACKEND, "lock for read", "poisoned by a panic"))
    }

    /// Runs `f` over the trees under the read half of the lock: one read path for the store's own reads
    /// and for [`QueueStore::with_snapshot`].
    fn view<T>(&self, f: impl FnOnce(&SledView<'_>) -> Result<T>) -> Result<T> {
        let _read = self.read_lock()?;
        f(&SledView { trees: &self.trees })
    }

    /// Flushes after a write when the store syncs; call with the write lock held.
    fn sync_if_asked(&self) -> Result<()> {
        if self.sync {
            self.db.flush().map_err(failed("flush"))?;
        }
        Ok(())
    }

    fn get(&self, tree: &Tree, key: &[u8], op: &'static str) -> Result<Option<sled::IVec>> {
        let _read = self.read_lock()?;
        tree.get(key).map_err(failed(op))
    }

    /// The entries of `tree` in `range`, ascending, at most `limit`, read under the read lock.
    fn range(
        &self,
        tree: &Tree,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        limit: usize,
        op: &'static str,
    ) -> Result<Vec<(sled::IVec, sled::IVec)>> {
        let _read = self.read_lock()?;
        tree.range::<&[u8], _>(range)
            .take(limit)
            .map(|entry| entry.map_err(failed(op)))
            .collect()
    }
}

impl QueueStore for SledStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn commit(&self, batch: WriteBatch) -> Result<()> {
        self.commit_ref(&batch)
    }

    fn commit_ref(&self, batch: &WriteBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let _write = self.write_lock()?;
        let mut overlay = Overlay::default();
        for op in batch.ops() {
            overlay.apply(op, &self.trees)?;
        }
        let t = &self.trees;
        let trees = [
            t.queues.clone(),
            t.headers.clone(),
            t.bodies.clone(),
            t.groups.clone(),
            t.meta.clone(),
            t.tombstones.clone(),
            t.staging.clone(),
        ];
        transact(&trees, &overlay.into_writes(), "commit batch")?;
        self.sync_if_asked()
    }

    fn flush(&self) -> Result<()> {
        let _write = self.write_lock()?;
        self.db.flush().map_err(failed("flush")).map(drop)
    }

    fn applied(&self) -> Result<Option<Applied>> {
        self.view(|v| v.applied())
    }

    fn counters(&self) -> Result<Option<Counters>> {
        self.view(|v| v.counters())
    }

    fn queues(&self) -> Result<Vec<QueueRecord>> {
        self.view(|v| v.queues())
    }

    fn groups(&self, q: QueueId) -> Result<Vec<GroupRecord>> {
        let (lo, hi) = keys::groups_of(q);
        self.range(
            &self.trees.groups,
            (Bound::Included(&lo), Bound::Included(&hi)),
            usize::MAX,
            "scan groups",
        )?
        .into_iter()
        .map(|(k, v)| {
            let (q, node) = keys::split_group(&k).ok_or_else(|| Error::corrupt("group key"))?;
            record::decode_group(q, node, &v)
        })
        .collect()
    }

    fn scan_headers(
        &self,
        q: QueueId,
        after: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<MessageHeader>> {
        self.view(|v| v.scan_headers(q, after, limit))
    }

    fn get_message(&self, q: QueueId, id: MessageId) -> Result<Option<(MessageHeader, Body)>> {
        // Both under one read lock, so the pair is from one commit.
        let _read = self.read_lock()?;
        let k = keys::message(q, id);
        let Some(h) = self.trees.headers.get(k).map_err(failed("read header"))? else {
            return Ok(None);
        };
        let Some(b) = self.trees.bodies.get(k).map_err(failed("read body"))? else {
            return Ok(None);
        };
        Ok(Some((
            record::decode_header(q, id, &h)?,
            record::decode_body(q, id, &b)?,
        )))
    }

    fn get_body(&self, q: QueueId, id: MessageId) -> Result<Option<Body>> {
        self.view(|v| v.get_body(q, id))
    }

    fn meta(&self, key: MetaKey) -> Result<Option<Vec<u8>>> {
        self.view(|v| v.meta(key))
    }

    fn scan(
        &self,
        space: Space,
        lo: &[u8],
        hi: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.view(|v| v.scan(space, lo, hi, limit))
    }

    /// sled has no snapshots: the view holds the read half of the store lock, so commits wait until the
    /// export is done (see [`QueueStore::snapshot_blocks_commits`]).
    fn with_snapshot(&self, f: &mut dyn FnMut(&dyn Snapshot) -> Result<()>) -> Result<()> {
        self.view(|v| f(v))
    }

    fn snapshot_blocks_commits(&self) -> bool {
        true
    }
}

/// Reads of the trees without taking the lock; the caller holds its read half.
struct SledView<'a> {
    trees: &'a Trees,
}

impl SledView<'_> {
    fn get(&self, tree: &Tree, key: &[u8], op: &'static str) -> Result<Option<Vec<u8>>> {
        Ok(tree.get(key).map_err(failed(op))?.map(|v| v.to_vec()))
    }
}

impl Snapshot for SledView<'_> {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn applied(&self) -> Result<Option<Applied>> {
        self.get(
            &self.trees.meta,
            &[MetaTag::Applied.key()],
            "read applied marker",
        )?
        .map(|v| record::decode_applied(&v))
        .transpose()
    }

    fn counters(&self) -> Result<Option<Counters>> {
        self.get(
            &self.trees.meta,
            &[MetaTag::Counters.key()],
            "read counters",
        )?
        .map(|v| record::decode_counters(&v))
        .transpose()
    }

    fn meta(&self, key: MetaKey) -> Result<Option<Vec<u8>>> {
        self.get(&self.trees.meta, &[key.key()], "read meta")
    }

    fn queues(&self) -> Result<Vec<QueueRecord>> {
        self.trees
            .queues
            .iter()
            .map(|entry| {
                let (k, v) = entry.map_err(failed("scan queues"))?;
                let q = keys::split_queue(&k).ok_or_else(|| Error::corrupt("queue key"))?;
                record::decode_queue(q, &v)
            })
            .collect()
    }

    fn scan_headers(
        &self,
        q: QueueId,
        after: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<MessageHeader>> {
        let (first, last) = keys::messages_of(q);
        let after = after.map(|id| keys::message(q, id));
        let lower = match &after {
            Some(k) => Bound::Excluded(k.as_slice()),
            None => Bound::Included(first.as_slice()),
        };
        self.trees
            .headers
            .range::<&[u8], _>((lower, Bound::Included(last.as_slice())))
            .take(limit)
            .map(|entry| {
                let (k, v) = entry.map_err(failed("scan headers"))?;
                let (q, id) =
                    keys::split_message(&k).ok_or_else(|| Error::corrupt("header key"))?;
                record::decode_header(q, id, &v)
            })
            .collect()
    }

    fn get_body(&self, q: QueueId, id: MessageId) -> Result<Option<Body>> {
        self.get(&self.trees.bodies, &keys::message(q, id), "read body")?
            .map(|v| record::decode_body(q, id, &v))
            .transpose()
    }

    fn scan(
        &self,
        space: Space,
        lo: &[u8],
        hi: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        if lo > hi {
            return Ok(Vec::new());
        }
        self.trees
            .space(space)
            .range::<&[u8], _>(lo..=hi)
            .take(limit)
            .map(|entry| {
                let (k, v) = entry.map_err(failed("scan keyspace"))?;
                Ok((k.to_vec(), v.to_vec()))
            })
            .collect()
    }
}

impl LogStore for SledStore {
    fn append(&self, entries: &[(u64, Vec<u8>)]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let _write = self.write_lock()?;
        let mut batch = sled::Batch::default();
        for (index, entry) in entries {
            batch.insert(&keys::log(*index), entry.as_slice());
        }
        self.trees
            .log
            .apply_batch(batch)
            .map_err(failed("append log entries"))?;
        self.sync_if_asked()
    }

    fn read(&self, range: Range<u64>) -> Result<Vec<(u64, Vec<u8>)>> {
        if range.is_empty() {
            return Ok(Vec::new());
        }
        let (lo, end) = (keys::log(range.start), keys::log(range.end));
        self.range(
            &self.trees.log,
            (Bound::Included(&lo), Bound::Excluded(&end)),
            usize::MAX,
            "read log",
        )?
        .into_iter()
        .map(|(k, v)| {
            let index = keys::split_log(&k).ok_or_else(|| Error::corrupt("log key"))?;
            Ok((index, v.to_vec()))
        })
        .collect()
    }

    fn truncate(&self, from: u64) -> Result<()> {
        let _write = self.write_lock()?;
        let mut batch = sled::Batch::default();
        for entry in self.trees.log.range(keys::log(from)..) {
            let (k, _) = entry.map_err(failed("scan log suffix"))?;
            batch.remove(k);
        }
        self.trees
            .log
            .apply_batch(batch)
            .map_err(failed("truncate log"))?;
        self.sync_if_asked()
    }

    fn purge(&self, upto: u64) -> Result<()> {
        let _write = self.write_lock()?;
        let old = match self
            .trees
            .raft
            .get([RaftTag::PurgedIndex.key()])
            .map_err(failed("read purged index"))?
        {
            Some(v) => Some(keys::decode_purged(&v)?),
            None => None,
        };
        let purged = old.max(Some(upto)).unwrap_or(upto);
        let mut log = Writes::new();
        remove_range(&mut log, &self.trees.log, &keys::log(0), &keys::log(upto))?;
        let raft = Writes::from([(
            vec![RaftTag::PurgedIndex.key()],
            Some(keys::log(purged).to_vec()),
        )]);
        let trees = [self.trees.log.clone(), self.trees.raft.clone()];
        transact(&trees, &[log, raft], "purge log")?;
        self.sync_if_asked()
    }

    fn last_purged(&self) -> Result<Option<u64>> {
        self.get(
            &self.trees.raft,
            &[RaftTag::PurgedIndex.key()],
            "read purged index",
        )?
        .map(|v| keys::decode_purged(&v))
        .transpose()
    }

    fn last_index(&self) -> Result<Option<u64>> {
        let _read = self.read_lock()?;
        let Some((k, _)) = self
            .trees
            .log
            .last()
            .map_err(failed("read last log entry"))?
        else {
            return Ok(None);
        };
        keys::split_log(&k)
            .map(Some)
            .ok_or_else(|| Error::corrupt("log key"))
    }

    fn save(&self, key: LogMeta, value: &[u8]) -> Result<()> {
        let _write = self.write_lock()?;
        self.trees
            .raft
            .insert([RaftTag::from(key).key()], value)
            .map_err(failed("save raft metadata"))?;
        self.sync_if_asked()
    }

    fn load(&self, key: LogMeta) -> Result<Option<Vec<u8>>> {
        Ok(self
            .get(
                &self.trees.raft,
                &[RaftTag::from(key).key()],
                "read raft metadata",
            )?
            .map(|v| v.to_vec()))
    }
}
