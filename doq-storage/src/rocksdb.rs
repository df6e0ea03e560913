//! [`RocksStore`]: the store on [RocksDB](https://docs.rs/rocksdb), one column family per keyspace, one
//! `rocksdb::WriteBatch` per batch (and per log write), written through the WAL.
use std::{
    fmt,
    ops::Range,
    path::{Path, PathBuf},
    sync::{Mutex, MutexGuard},
};

use doq_api::{Body, Counters, GroupRecord, MessageHeader, MessageId, QueueId, QueueRecord};
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DBCompressionType, Direction,
    IteratorMode, Options, ReadOptions, WriteBatch as RocksBatch, WriteOptions, DB,
};

use crate::{
    Backend, Stores,
    batch::Op,
    error::BoxError,
    keys::{self, MetaTag, RaftTag},
    record, Applied, Compression, Error, LogMeta, LogStore, MetaKey, QueueStore, Result, Snapshot,
    Space, StoreOptions, WriteBatch,
};

/// The backend's name.
const BACKEND: &str = "rocksdb";

/// The database directory inside the data directory (RocksDB keeps its own `LOCK` file in it).
const DIR: &str = "rocksdb";

/// RocksDB's line in the backend registry (`registry.rs`).
pub(crate) const ENTRY: Backend = Backend {
    name: BACKEND,
    durable: true,
    caveat: None,
    open: |dir, opts, lock| Ok(Stores::locked(RocksStore::open(&dir.join(DIR), opts)?, lock)),
};

const QUEUES: &str = "queues";
const HEADERS: &str = "headers";
const BODIES: &str = "bodies";
const GROUPS: &str = "groups";
const META: &str = "meta";
const LOG: &str = "log";
const RAFT: &str = "raft";
const TOMBSTONES: &str = "tombstones";
const STAGING: &str = "staging";
/// Every column family besides `default` (which stays empty).
const FAMILIES: [&str; 9] = [
    QUEUES, HEADERS, BODIES, GROUPS, META, LOG, RAFT, TOMBSTONES, STAGING,
];

/// The column family of an ordered byte keyspace.
fn space_cf(space: Space) -> &'static str {
    match space {
        Space::Tombstones => TOMBSTONES,
        Space::Staging => STAGING,
    }
}

/// A key and its value, as a RocksDB iterator yields them.
type Entry = (Box<[u8]>, Box<[u8]>);

/// Bloom filter bits per key: point reads of headers and bodies skip SST files that cannot hold the key.
const BLOOM_BITS_PER_KEY: f64 = 10.0;

/// Wraps a RocksDB error as [`Error::Backend`] for `op`.
fn failed<E: Into<BoxError>>(op: &'static str) -> impl FnOnce(E) -> Error {
    move |e| Error::backend_failed(BACKEND, op, e)
}

/// The exclusive end of a range whose last key is `last`: `last` followed by a zero byte. Every key of a
/// fixed-width keyspace that is `<= last` sorts before it, and every key `> last` after it.
fn just_after(last: &[u8]) -> Vec<u8> {
    let mut end = Vec::with_capacity(last.len() + 1);
    end.extend_from_slice(last);
    end.push(0);
    end
}

/// A [`QueueStore`] and [`LogStore`] in one RocksDB database.
///
/// Tuning (see [`StoreOptions`]): `cache_bytes` sizes one LRU block cache shared by every column family;
/// `rocksdb.compression` picks the SST compression (by default LZ4, and Zstandard on the bottommost level,
/// where most of the data ends up) and `rocksdb.write_buffer_bytes` each family's memtable.
pub struct RocksStore {
    db: DB,
    path: PathBuf,
    /// `true`: every write syncs the WAL before returning. `false`: the WAL is written to the OS but not
    /// synced; `flush` (or a later synced write) syncs it.
    sync: bool,
    /// Serializes `purge`, which reads the old purged index before writing the new one.
    purge_lock: Mutex<()>,
}

impl fmt::Debug for RocksStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RocksStore")
            .field("path", &self.path)
            .field("sync", &self.sync)
            .finish_non_exhaustive()
    }
}

/// The column families of the queue keyspaces, looked up once per batch.
struct Families<'db> {
    queues: &'db ColumnFamily,
    headers: &'db ColumnFamily,
    bodies: &'db ColumnFamily,
    groups: &'db ColumnFamily,
    meta: &'db ColumnFamily,
    tombstones: &'db ColumnFamily,
    staging: &'db ColumnFamily,
}

impl Families<'_> {
    /// Adds `op` to `wb`. RocksDB applies a batch's records in order, range deletes included: a record
    /// covers only what was written before it, so a put after a range delete survives it.
    fn apply(&self, wb: &mut RocksBatch, op: &Op) {
        match op {
            Op::PutMessage { header, body } => {
                let k = keys::message(header.queue, header.id);
                wb.put_cf(self.headers, k, record::encode_header(header));
                wb.put_cf(self.bodies, k, record::encode_body(body));
            }
            Op::PutHeader(header) => {
                let k = keys::message(header.queue, header.id);
                wb.put_cf(self.headers, k, record::encode_header(header));
            }
            Op::DeleteMessage { queue, id } => {
                let k = keys::message(*queue, *id);
                wb.delete_cf(self.headers, k);
                wb.delete_cf(self.bodies, k);
            }
            Op::PutQueue(r) => wb.put_cf(self.queues, keys::queue(r.id), record::encode_queue(r)),
            Op::DeleteQueue(q) => {
                wb.delete_cf(self.queues, keys::queue(*q));
                self.delete_messages(wb, *q);
            }
            Op::DeleteMessages(q) => self.delete_messages(wb, *q),
            Op::PutGroup(g) => {
                wb.put_cf(
                    self.groups,
                    keys::group(g.queue, g.node),
                    record::encode_group(g),
                );
            }
            Op::DeleteGroup { queue, node } => {
                wb.delete_cf(self.groups, keys::group(*queue, *node));
            }
            Op::PutCounters(c) => {
                wb.put_cf(
                    self.meta,
                    [MetaTag::Counters.key()],
                    record::encode_counters(c),
                );
            }
            Op::SetApplied(a) => {
                wb.put_cf(
                    self.meta,
                    [MetaTag::Applied.key()],
                    record::encode_applied(a),
                );
            }
            Op::PutMeta { key, value } => wb.put_cf(self.meta, [key.key()], value),
            Op::Put { space, key, value } => wb.put_cf(self.space(*space), key, value),
            Op::DeleteRange { space, lo, hi } => {
                if lo <= hi {
                    wb.delete_range_cf(
                        self.space(*space),
                        lo.as_slice(),
                        just_after(hi).as_slice(),
                    );
                }
            }
        }
    }

    fn space(&self, space: Space) -> &ColumnFamily {
        match space {
            Space::Tombstones => self.tombstones,
            Space::Staging => self.staging,
        }
    }

    /// Range-deletes queue `q`'s headers, bodies and groups.
    fn delete_messages(&self, wb: &mut RocksBatch, q: QueueId) {
        let (lo, hi) = keys::messages_of(q);
        let end = just_after(&hi);
        wb.delete_range_cf(self.headers, lo.as_slice(), end.as_slice());
        wb.delete_range_cf(self.bodies, lo.as_slice(), end.as_slice());
        let (lo, hi) = keys::groups_of(q);
        wb.delete_range_cf(self.groups, lo.as_slice(), just_after(&hi).as_slice());
    }
}

impl RocksStore {
    /// Opens (or creates) the database in directory `path`. Callers normally use [`crate::open`], which
    /// also locks the data directory and checks its backend marker.
    pub fn open(path: &Path, opts: &StoreOptions) -> Result<Self> {
        let cache = Cache::new_lru_cache(usize::try_from(opts.cache_bytes).unwrap_or(usize::MAX));
        let write_buffer = usize::try_from(opts.rocksdb.write_buffer_bytes).unwrap_or(usize::MAX);
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&cache);
        table.set_bloom_filter(BLOOM_BITS_PER_KEY, false);
        let family = |name: &str| {
            let mut o = Options::default();
            o.set_block_based_table_factory(&table);
            let (most, bottom) = match opts.rocksdb.compression {
                Compression::None => (DBCompressionType::None, DBCompressionType::None),
                Compression::Lz4 => (DBCompressionType::Lz4, DBCompressionType::Zstd),
                Compression::Zstd => (DBCompressionType::Zstd, DBCompressionType::Zstd),
            };
            o.set_compression_type(most);
            o.set_bottommost_compression_type(bottom);
            o.set_write_buffer_size(write_buffer);
            ColumnFamilyDescriptor::new(name, o)
        };
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        // A batch spans column families. The WAL already restores all of it or none; atomic flush keeps
        // the SST files of the families consistent with each other too, whatever happens to the WAL.
        db_opts.set_atomic_flush(true);
        // RocksDB's own info logs, not the WAL: keep a few for diagnosis, not one per open forever.
        db_opts.set_keep_log_file_num(4);
        let db = DB::open_cf_descriptors(&db_opts, path, FAMILIES.map(family))
            .map_err(failed("open database"))?;
        Ok(Self {
            db,
            path: path.to_owned(),
            sync: opts.sync,
            purge_lock: Mutex::new(()),
        })
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn cf(&self, name: &'static str) -> Result<&ColumnFamily> {
        self.db.cf_handle(name).ok_or_else(|| {
            Error::backend_failed(
                BACKEND,
                "open column family",
                format!("column family {name} is missing"),
            )
        })
    }

    fn families(&self) -> Result<Families<'_>> {
        Ok(Families {
            queues: self.cf(QUEUES)?,
            headers: self.cf(HEADERS)?,
            bodies: self.cf(BODIES)?,
            groups: self.cf(GROUPS)?,
            meta: self.cf(META)?,
            tombstones: self.cf(TOMBSTONES)?,
            staging: self.cf(STAGING)?,
        })
    }

    /// Writes `wb` atomically, syncing the WAL first when the store was opened with `sync`.
    fn write(&self, wb: RocksBatch, op: &'static str) -> Result<()> {
        let mut wo = WriteOptions::default();
        wo.set_sync(self.sync);
        self.db.write_opt(wb, &wo).map_err(failed(op))
    }

    fn get(&self, cf: &'static str, key: &[u8], op: &'static str) -> Result<Option<Vec<u8>>> {
        self.db.get_cf(self.cf(cf)?, key).map_err(failed(op))
    }

    /// The entries of `cf` with `lo <= key < end`, ascending, at most `limit`.
    fn range(
        &self,
        cf: &'static str,
        lo: &[u8],
        end: &[u8],
        limit: usize,
        op: &'static str,
    ) -> Result<Vec<Entry>> {
        self.range_at(None, cf, lo, end, limit, op)
    }

    /// Like [`RocksStore::range`], read from `snap` when given.
    fn range_at(
        &self,
        snap: Option<&rocksdb::Snapshot<'_>>,
        cf: &'static str,
        lo: &[u8],
        end: &[u8],
        limit: usize,
        op: &'static str,
    ) -> Result<Vec<Entry>> {
        if limit == 0 || lo >= end {
            return Ok(Vec::new());
        }
        let mut ro = read_options(snap);
        ro.set_iterate_lower_bound(lo);
        ro.set_iterate_upper_bound(end);
        self.db
            .iterator_cf_opt(self.cf(cf)?, ro, IteratorMode::From(lo, Direction::Forward))
            .take(limit)
            .map(|entry| entry.map_err(failed(op)))
            .collect()
    }

    /// A view of the latest committed state, for the store's own reads.
    fn latest(&self) -> RocksSnapshot<'_> {
        RocksSnapshot {
            store: self,
            snap: None,
        }
    }

    fn purge_lock(&self) -> Result<MutexGuard<'_, ()>> {
        self.purge_lock
            .lock()
            .map_err(|_| Error::backend_failed(BACKEND, "lock purge", "poisoned by a panic"))
    }
}

impl Drop for RocksStore {
    fn drop(&mut self) {
        // A clean close makes unsynced commits durable, as with the other backends. Nobody is left to tell
        // about a failure: the next open replays the WAL as far as it reached the disk.
        let _ = self.db.flush_wal(true);
    }
}

impl QueueStore for RocksStore {
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
        let families = self.families()?;
        let mut wb = RocksBatch::default();
        for op in batch.ops() {
            families.apply(&mut wb, op);
        }
        self.write(wb, "commit batch")
    }

    fn flush(&self) -> Result<()> {
        self.db.flush_wal(true).map_err(failed("flush"))
    }

    fn applied(&self) -> Result<Option<Applied>> {
        self.latest().applied()
    }

    fn counters(&self) -> Result<Option<Counters>> {
        self.latest().counters()
    }

    fn queues(&self) -> Result<Vec<QueueRecord>> {
        self.latest().queues()
    }

    fn groups(&self, q: QueueId) -> Result<Vec<GroupRecord>> {
        let (lo, hi) = keys::groups_of(q);
        self.range(GROUPS, &lo, &just_after(&hi), usize::MAX, "scan groups")?
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
        self.latest().scan_headers(q, after, limit)
    }

    fn get_message(&self, q: QueueId, id: MessageId) -> Result<Option<(MessageHeader, Body)>> {
        // One snapshot for both, so the pair is from one commit.
        let snapshot = self.db.snapshot();
        let k = keys::message(q, id);
        let Some(h) = snapshot
            .get_cf(self.cf(HEADERS)?, k)
            .map_err(failed("read header"))?
        else {
            return Ok(None);
        };
        let Some(b) = snapshot
            .get_cf(self.cf(BODIES)?, k)
            .map_err(failed("read body"))?
        else {
            return Ok(None);
        };
        Ok(Some((
            record::decode_header(q, id, &h)?,
            record::decode_body(q, id, &b)?,
        )))
    }

    fn get_body(&self, q: QueueId, id: MessageId) -> Result<Option<Body>> {
        self.latest().get_body(q, id)
    }

    fn meta(&self, key: MetaKey) -> Result<Option<Vec<u8>>> {
        self.latest().meta(key)
    }

    fn scan(
        &self,
        space: Space,
        lo: &[u8],
        hi: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.latest().scan(space, lo, hi, limit)
    }

    fn with_snapshot(&self, f: &mut dyn FnMut(&dyn Snapshot) -> Result<()>) -> Result<()> {
        let snap = RocksSnapshot {
            store: self,
            snap: Some(self.db.snapshot()),
        };
        f(&snap)
    }
}

/// Reads of the store: at a RocksDB snapshot (the database as of its creation while commits go on), or
/// without one at the latest committed state. One read path for the store and its exports.
struct RocksSnapshot<'a> {
    store: &'a RocksStore,
    snap: Option<rocksdb::Snapshot<'a>>,
}

impl RocksSnapshot<'_> {
    fn get(&self, cf: &'static str, key: &[u8], op: &'static str) -> Result<Option<Vec<u8>>> {
        self.store
            .db
            .get_cf_opt(self.store.cf(cf)?, key, &read_options(self.snap.as_ref()))
            .map_err(failed(op))
    }
}

/// Read options that read at `snap`, or at the latest state without one.
fn read_options(snap: Option<&rocksdb::Snapshot<'_>>) -> ReadOptions {
    let mut ro = ReadOptions::default();
    if let Some(snap) = snap {
        ro.set_snapshot(snap);
    }
    ro
}

impl Snapshot for RocksSnapshot<'_> {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn applied(&self) -> Result<Option<Applied>> {
        self.get(META, &[MetaTag::Applied.key()], "read applied marker")?
            .map(|v| record::decode_applied(&v))
            .transpose()
    }

    fn counters(&self) -> Result<Option<Counters>> {
        self.get(META, &[MetaTag::Counters.key()], "read counters")?
            .map(|v| record::decode_counters(&v))
            .transpose()
    }

    fn meta(&self, key: MetaKey) -> Result<Option<Vec<u8>>> {
        self.get(META, &[key.key()], "read meta")
    }

    fn queues(&self) -> Result<Vec<QueueRecord>> {
        let lo = keys::queue(QueueId(0));
        let end = just_after(&keys::queue(QueueId(u32::MAX)));
        self.store
            .range_at(
                self.snap.as_ref(),
                QUEUES,
                &lo,
                &end,
                usize::MAX,
                "scan queues",
            )?
            .into_iter()
            .map(|(k, v)| {
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
        let lo = match after {
            Some(id) => just_after(&keys::message(q, id)),
            None => first.to_vec(),
        };
        self.store
            .range_at(
                self.snap.as_ref(),
                HEADERS,
                &lo,
                &just_after(&last),
                limit,
                "scan headers",
            )?
            .into_iter()
            .map(|(k, v)| {
                let (q, id) =
                    keys::split_message(&k).ok_or_else(|| Error::corrupt("header key"))?;
                record::decode_header(q, id, &v)
            })
            .collect()
    }

    fn get_body(&self, q: QueueId, id: MessageId) -> Result<Option<Body>> {
        self.get(BODIES, &keys::message(q, id), "read body")?
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
        Ok(self
            .store
            .range_at(
                self.snap.as_ref(),
                space_cf(space),
                lo,
                &just_after(hi),
                limit,
                "scan keyspace",
            )?
            .into_iter()
            .map(|(k, v)| (k.into_vec(), v.into_vec()))
            .collect())
    }
}

impl LogStore for RocksStore {
    fn append(&self, entries: &[(u64, Vec<u8>)]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let log = self.cf(LOG)?;
        let mut wb = RocksBatch::default();
        for (index, entry) in entries {
            wb.put_cf(log, keys::log(*index), entry);
        }
        self.write(wb, "append log entries")
    }

    fn read(&self, range: Range<u64>) -> Result<Vec<(u64, Vec<u8>)>> {
        let (lo, end) = (keys::log(range.start), keys::log(range.end));
        self.range(LOG, &lo, &end, usize::MAX, "read log")?
            .into_iter()
            .map(|(k, v)| {
                let index = keys::split_log(&k).ok_or_else(|| Error::corrupt("log key"))?;
                Ok((index, v.into_vec()))
            })
            .collect()
    }

    fn truncate(&self, from: u64) -> Result<()> {
        let mut wb = RocksBatch::default();
        let end = just_after(&keys::log(u64::MAX));
        wb.delete_range_cf(self.cf(LOG)?, keys::log(from).as_slice(), end.as_slice());
        self.write(wb, "truncate log")
    }

    fn purge(&self, upto: u64) -> Result<()> {
        let _serial = self.purge_lock()?;
        let purged = self.last_purged()?.max(Some(upto)).unwrap_or(upto);
        let mut wb = RocksBatch::default();
        let end = just_after(&keys::log(upto));
        wb.delete_range_cf(self.cf(LOG)?, keys::log(0).as_slice(), end.as_slice());
        wb.put_cf(
            self.cf(RAFT)?,
            [RaftTag::PurgedIndex.key()],
            keys::log(purged),
        );
        self.write(wb, "purge log")
    }

    fn last_purged(&self) -> Result<Option<u64>> {
        self.get(RAFT, &[RaftTag::PurgedIndex.key()], "read purged index")?
            .map(|v| keys::decode_purged(&v))
            .transpose()
    }

    fn last_index(&self) -> Result<Option<u64>> {
        let Some(entry) = self.db.iterator_cf(self.cf(LOG)?, IteratorMode::End).next() else {
            return Ok(None);
        };
        let (k, _) = entry.map_err(failed("read last log entry"))?;
        keys::split_log(&k)
            .map(Some)
            .ok_or_else(|| Error::corrupt("log key"))
    }

    fn save(&self, key: LogMeta, value: &[u8]) -> Result<()> {
        let mut wb = RocksBatch::default();
        wb.put_cf(self.cf(RAFT)?, [RaftTag::from(key).key()], value);
        self.write(wb, "save raft metadata")
    }

    fn load(&self, key: LogMeta) -> Result<Option<Vec<u8>>> {
        self.get(RAFT, &[RaftTag::from(key).key()], "read raft metadata")
    }
}
