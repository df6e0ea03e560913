//! [`RedbStore`]: the store on [redb](https://docs.rs/redb) 4, one table per keyspace, one write transaction
//! per batch (and per log write).
use std::{
    fmt,
    ops::{Bound, Range},
    path::{Path, PathBuf},
};

use doq_api::{Body, Counters, GroupRecord, MessageHeader, MessageId, QueueId, QueueRecord};
use redb::{
    Database, DatabaseError, Durability, ReadTransaction, ReadableDatabase, ReadableTable, Table,
    TableDefinition, WriteTransaction,
};

use crate::{
    Backend, Stores,
    batch::Op,
    error::BoxError,
    keys::{self, GroupKey, LogKey, MessageKey, MetaTag, QueueKey, RaftTag},
    record, Applied, Error, LogMeta, LogStore, MetaKey, QueueStore, Result, Snapshot, Space,
    StoreOptions, WriteBatch,
};

const QUEUES: TableDefinition<'_, &QueueKey, &[u8]> = TableDefinition::new("queues");
const HEADERS: TableDefinition<'_, &MessageKey, &[u8]> = TableDefinition::new("headers");
const BODIES: TableDefinition<'_, &MessageKey, &[u8]> = TableDefinition::new("bodies");
const GROUPS: TableDefinition<'_, &GroupKey, &[u8]> = TableDefinition::new("groups");
const META: TableDefinition<'_, u8, &[u8]> = TableDefinition::new("meta");
const TOMBSTONES: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("tombstones");
const STAGING: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("staging");
const LOG: TableDefinition<'_, &LogKey, &[u8]> = TableDefinition::new("log");
const RAFT: TableDefinition<'_, u8, &[u8]> = TableDefinition::new("raft");

/// The backend's name.
const BACKEND: &str = "redb";

/// The database file inside the data directory.
const FILE: &str = "doq.redb";

/// redb's line in the backend registry (`registry.rs`): one file in the data directory.
pub(crate) const ENTRY: Backend = Backend {
    name: BACKEND,
    durable: true,
    caveat: None,
    open: |dir, opts, lock| Ok(Stores::locked(RedbStore::open(&dir.join(FILE), opts)?, lock)),
};

/// Wraps a redb error as [`Error::Backend`] for `op`.
fn failed<E: Into<BoxError>>(op: &'static str) -> impl FnOnce(E) -> Error {
    move |e| Error::backend_failed(BACKEND, op, e)
}

/// A [`QueueStore`] and [`LogStore`] in one redb file.
pub struct RedbStore {
    db: Database,
    path: PathBuf,
    /// `true`: every commit is `Durability::Immediate` (fsync); `false`: `Durability::None`, made durable by
    /// `flush`, by a later synced commit or by a clean close.
    sync: bool,
}

impl fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.path)
            .field("sync", &self.sync)
            .finish_non_exhaustive()
    }
}

/// The tables of one write transaction, opened once per batch.
struct Tables<'txn> {
    queues: Table<'txn, &'static QueueKey, &'static [u8]>,
    headers: Table<'txn, &'static MessageKey, &'static [u8]>,
    bodies: Table<'txn, &'static MessageKey, &'static [u8]>,
    groups: Table<'txn, &'static GroupKey, &'static [u8]>,
    meta: Table<'txn, u8, &'static [u8]>,
    tombstones: Table<'txn, &'static [u8], &'static [u8]>,
    staging: Table<'txn, &'static [u8], &'static [u8]>,
}

/// The table of an ordered byte keyspace.
fn space_table(space: Space) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    match space {
        Space::Tombstones => TOMBSTONES,
        Space::Staging => STAGING,
    }
}

impl<'txn> Tables<'txn> {
    fn open(txn: &'txn WriteTransaction) -> Result<Self> {
        Ok(Self {
            queues: txn
                .open_table(QUEUES)
                .map_err(failed("open queues table"))?,
            headers: txn
                .open_table(HEADERS)
                .map_err(failed("open headers table"))?,
            bodies: txn
                .open_table(BODIES)
                .map_err(failed("open bodies table"))?,
            groups: txn
                .open_table(GROUPS)
                .map_err(failed("open groups table"))?,
            meta: txn.open_table(META).map_err(failed("open meta table"))?,
            tombstones: txn
                .open_table(TOMBSTONES)
                .map_err(failed("open tombstones table"))?,
            staging: txn
                .open_table(STAGING)
                .map_err(failed("open staging table"))?,
        })
    }

    fn apply(&mut self, op: &Op) -> Result<()> {
        match op {
            Op::PutMessage { header, body } => {
                let k = keys::message(header.queue, header.id);
                let h = record::encode_header(header);
                self.headers
                    .insert(&k, h.as_slice())
                    .map_err(failed("write header"))?;
                let b = record::encode_body(body);
                self.bodies
                    .insert(&k, b.as_slice())
                    .map_err(failed("write body"))?;
            }
            Op::PutHeader(header) => {
                let k = keys::message(header.queue, header.id);
                let h = record::encode_header(header);
                self.headers
                    .insert(&k, h.as_slice())
                    .map_err(failed("write header"))?;
            }
            Op::DeleteMessage { queue, id } => {
                let k = keys::message(*queue, *id);
                self.headers.remove(&k).map_err(failed("delete header"))?;
                self.bodies.remove(&k).map_err(failed("delete body"))?;
            }
            Op::PutQueue(r) => {
                let v = record::encode_queue(r);
                let k = keys::queue(r.id);
                self.queues
                    .insert(&k, v.as_slice())
                    .map_err(failed("write queue"))?;
            }
            Op::DeleteQueue(q) => {
                self.queues
                    .remove(&keys::queue(*q))
                    .map_err(failed("delete queue"))?;
                self.delete_messages(*q)?;
            }
            Op::DeleteMessages(q) => self.delete_messages(*q)?,
            Op::PutGroup(g) => {
                let v = record::encode_group(g);
                let k = keys::group(g.queue, g.node);
                self.groups
                    .insert(&k, v.as_slice())
                    .map_err(failed("write group"))?;
            }
            Op::DeleteGroup { queue, node } => {
                let k = keys::group(*queue, *node);
                self.groups.remove(&k).map_err(failed("delete group"))?;
            }
            Op::PutCounters(c) => {
                let v = record::encode_counters(c);
                let k = MetaTag::Counters.key();
                self.meta
                    .insert(k, v.as_slice())
                    .map_err(failed("write counters"))?;
            }
            Op::SetApplied(a) => {
                let v = record::encode_applied(a);
                let k = MetaTag::Applied.key();
                self.meta
                    .insert(k, v.as_slice())
                    .map_err(failed("write applied marker"))?;
            }
            Op::PutMeta { key, value } => {
                self.meta
                    .insert(key.key(), value.as_slice())
                    .map_err(failed("write meta"))?;
            }
            Op::Put { space, key, value } => {
                self.space(*space)
                    .insert(key.as_slice(), value.as_slice())
                    .map_err(failed("write key"))?;
            }
            Op::DeleteRange { space, lo, hi } => {
                if lo <= hi {
                    self.space(*space)
                        .retain_in::<&[u8], _>(lo.as_slice()..=hi.as_slice(), |_, _| false)
                        .map_err(failed("delete key range"))?;
                }
            }
        }
        Ok(())
    }

    fn space(&mut self, space: Space) -> &mut Table<'txn, &'static [u8], &'static [u8]> {
        match space {
            Space::Tombstones => &mut self.tombstones,
            Space::Staging => &mut self.staging,
        }
    }

    /// Range-deletes queue `q`'s headers, bodies and groups.
    fn delete_messages(&mut self, q: QueueId) -> Result<()> {
        let (lo, hi) = keys::messages_of(q);
        self.headers
            .retain_in::<&MessageKey, _>(&lo..=&hi, |_, _| false)
            .map_err(failed("delete headers of queue"))?;
        self.bodies
            .retain_in::<&MessageKey, _>(&lo..=&hi, |_, _| false)
            .map_err(failed("delete bodies of queue"))?;
        let (lo, hi) = keys::groups_of(q);
        self.groups
            .retain_in::<&GroupKey, _>(&lo..=&hi, |_, _| false)
            .map_err(failed("delete groups of queue"))?;
        Ok(())
    }
}

/// The log tables of one write transaction.
struct LogTables<'txn> {
    log: Table<'txn, &'static LogKey, &'static [u8]>,
    raft: Table<'txn, u8, &'static [u8]>,
}

impl<'txn> LogTables<'txn> {
    fn open(txn: &'txn WriteTransaction) -> Result<Self> {
        Ok(Self {
            log: txn.open_table(LOG).map_err(failed("open log table"))?,
            raft: txn.open_table(RAFT).map_err(failed("open raft table"))?,
        })
    }
}

impl RedbStore {
    /// Opens (or creates) the database file at `path`. Callers normally use [`crate::open`], which also
    /// locks the data directory and checks its backend marker.
    pub fn open(path: &Path, opts: &StoreOptions) -> Result<Self> {
        let cache = usize::try_from(opts.cache_bytes).unwrap_or(usize::MAX);
        let db = Database::builder()
            .set_cache_size(cache)
            .create(path)
            .map_err(|e| match e {
                DatabaseError::DatabaseAlreadyOpen => Error::Locked {
                    path: path.to_owned(),
                },
                e => Error::backend_failed(BACKEND, "open database", e),
            })?;
        let store = Self {
            db,
            path: path.to_owned(),
            sync: opts.sync,
        };
        // Create every table up front, so read transactions never meet a missing one.
        let txn = store.begin_write(Durability::Immediate)?;
        Tables::open(&txn)?;
        LogTables::open(&txn)?;
        txn.commit().map_err(failed("create tables"))?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The durability of a write: fsync only when the store was opened with `sync`.
    fn durability(&self) -> Durability {
        if self.sync {
            Durability::Immediate
        } else {
            Durability::None
        }
    }

    /// Runs `write` on the log tables in one write transaction and commits it.
    fn write_log(
        &self,
        op: &'static str,
        write: impl FnOnce(&mut LogTables<'_>) -> Result<()>,
    ) -> Result<()> {
        let txn = self.begin_write(self.durability())?;
        {
            let mut tables = LogTables::open(&txn)?;
            // On error the transaction is dropped, which aborts it.
            write(&mut tables)?;
        }
        txn.commit().map_err(failed(op))
    }

    fn raft(&self, tag: RaftTag) -> Result<Option<Vec<u8>>> {
        let table = self
            .begin_read()?
            .open_table(RAFT)
            .map_err(failed("open raft table"))?;
        let value = table.get(tag.key()).map_err(failed("read raft metadata"))?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    fn begin_write(&self, durability: Durability) -> Result<WriteTransaction> {
        let mut txn = self
            .db
            .begin_write()
            .map_err(failed("begin write transaction"))?;
        txn.set_durability(durability)
            .map_err(failed("set durability"))?;
        Ok(txn)
    }

    fn begin_read(&self) -> Result<ReadTransaction> {
        self.db
            .begin_read()
            .map_err(failed("begin read transaction"))
    }

    fn meta_tag(&self, tag: MetaTag) -> Result<Option<Vec<u8>>> {
        read_meta(&self.begin_read()?, tag.key())
    }
}

/// Reads reused by the store (one read transaction per call) and by snapshots (one for the export).
fn read_meta(txn: &ReadTransaction, key: u8) -> Result<Option<Vec<u8>>> {
    let table = txn.open_table(META).map_err(failed("open meta table"))?;
    let value = table.get(key).map_err(failed("read meta"))?;
    Ok(value.map(|v| v.value().to_vec()))
}

fn read_queues(txn: &ReadTransaction) -> Result<Vec<QueueRecord>> {
    let table = txn
        .open_table(QUEUES)
        .map_err(failed("open queues table"))?;
    let mut out = Vec::new();
    for entry in table.iter().map_err(failed("scan queues"))? {
        let (k, v) = entry.map_err(failed("scan queues"))?;
        let Some(q) = keys::split_queue(k.value()) else {
            return Err(Error::corrupt("queue key"));
        };
        out.push(record::decode_queue(q, v.value())?);
    }
    Ok(out)
}

fn read_headers(
    txn: &ReadTransaction,
    q: QueueId,
    after: Option<MessageId>,
    limit: usize,
) -> Result<Vec<MessageHeader>> {
    let table = txn
        .open_table(HEADERS)
        .map_err(failed("open headers table"))?;
    let (first, last) = keys::messages_of(q);
    let after = after.map(|id| keys::message(q, id));
    let lower = match &after {
        Some(k) => Bound::Excluded(k),
        None => Bound::Included(&first),
    };
    let mut out = Vec::new();
    for entry in table
        .range::<&MessageKey>((lower, Bound::Included(&last)))
        .map_err(failed("scan headers"))?
        .take(limit)
    {
        let (k, v) = entry.map_err(failed("scan headers"))?;
        let Some((q, id)) = keys::split_message(k.value()) else {
            return Err(Error::corrupt("header key"));
        };
        out.push(record::decode_header(q, id, v.value())?);
    }
    Ok(out)
}

fn read_body(txn: &ReadTransaction, q: QueueId, id: MessageId) -> Result<Option<Body>> {
    let table = txn
        .open_table(BODIES)
        .map_err(failed("open bodies table"))?;
    let value = table
        .get(&keys::message(q, id))
        .map_err(failed("read body"))?;
    value
        .map(|v| record::decode_body(q, id, v.value()))
        .transpose()
}

fn read_scan(
    txn: &ReadTransaction,
    space: Space,
    lo: &[u8],
    hi: &[u8],
    limit: usize,
) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    if lo > hi {
        return Ok(Vec::new());
    }
    let table = txn
        .open_table(space_table(space))
        .map_err(failed("open keyspace table"))?;
    let mut out = Vec::new();
    for entry in table
        .range::<&[u8]>(lo..=hi)
        .map_err(failed("scan keyspace"))?
        .take(limit)
    {
        let (k, v) = entry.map_err(failed("scan keyspace"))?;
        out.push((k.value().to_vec(), v.value().to_vec()));
    }
    Ok(out)
}

/// A redb read transaction: a true snapshot (MVCC), so commits go on while an export reads it.
struct RedbSnapshot {
    txn: ReadTransaction,
}

impl Snapshot for RedbSnapshot {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn applied(&self) -> Result<Option<Applied>> {
        read_meta(&self.txn, MetaTag::Applied.key())?
            .map(|v| record::decode_applied(&v))
            .transpose()
    }

    fn counters(&self) -> Result<Option<Counters>> {
        read_meta(&self.txn, MetaTag::Counters.key())?
            .map(|v| record::decode_counters(&v))
            .transpose()
    }

    fn meta(&self, key: MetaKey) -> Result<Option<Vec<u8>>> {
        read_meta(&self.txn, key.key())
    }

    fn queues(&self) -> Result<Vec<QueueRecord>> {
        read_queues(&self.txn)
    }

    fn scan_headers(
        &self,
        q: QueueId,
        after: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<MessageHeader>> {
        read_headers(&self.txn, q, after, limit)
    }

    fn get_body(&self, q: QueueId, id: MessageId) -> Result<Option<Body>> {
        read_body(&self.txn, q, id)
    }

    fn scan(
        &self,
        space: Space,
        lo: &[u8],
        hi: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        read_scan(&self.txn, space, lo, hi, limit)
    }
}

impl QueueStore for RedbStore {
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
        let txn = self.begin_write(self.durability())?;
        {
            let mut tables = Tables::open(&txn)?;
            for op in batch.ops() {
                // On error the transaction is dropped, which aborts it: all or nothing.
                tables.apply(op)?;
            }
        }
        txn.commit().map_err(failed("commit batch"))
    }

    fn flush(&self) -> Result<()> {
        // An empty durable commit makes every earlier non-durable one durable too.
        let txn = self.begin_write(Durability::Immediate)?;
        txn.commit().map_err(failed("flush"))
    }

    fn applied(&self) -> Result<Option<Applied>> {
        self.meta_tag(MetaTag::Applied)?
            .map(|v| record::decode_applied(&v))
            .transpose()
    }

    fn counters(&self) -> Result<Option<Counters>> {
        self.meta_tag(MetaTag::Counters)?
            .map(|v| record::decode_counters(&v))
            .transpose()
    }

    fn queues(&self) -> Result<Vec<QueueRecord>> {
        read_queues(&self.begin_read()?)
    }

    fn groups(&self, q: QueueId) -> Result<Vec<GroupRecord>> {
        let table = self
            .begin_read()?
            .open_table(GROUPS)
            .map_err(failed("open groups table"))?;
        let (lo, hi) = keys::groups_of(q);
        let mut out = Vec::new();
        for entry in table
            .range::<&GroupKey>(&lo..=&hi)
            .map_err(failed("scan groups"))?
        {
            let (k, v) = entry.map_err(failed("scan groups"))?;
            let Some((q, node)) = keys::split_group(k.value()) else {
                return Err(Error::corrupt("group key"));
            };
            out.push(record::decode_group(q, node, v.value())?);
        }
        Ok(out)
    }

    fn scan_headers(
        &self,
        q: QueueId,
        after: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<MessageHeader>> {
        read_headers(&self.begin_read()?, q, after, limit)
    }

    fn get_message(&self, q: QueueId, id: MessageId) -> Result<Option<(MessageHeader, Body)>> {
        // One read transaction for both, so the pair is from one commit.
        let txn = self.begin_read()?;
        let headers = txn
            .open_table(HEADERS)
            .map_err(failed("open headers table"))?;
        let bodies = txn
            .open_table(BODIES)
            .map_err(failed("open bodies table"))?;
        let k = keys::message(q, id);
        let Some(h) = headers.get(&k).map_err(failed("read header"))? else {
            return Ok(None);
        };
        let Some(b) = bodies.get(&k).map_err(failed("read body"))? else {
            return Ok(None);
        };
        Ok(Some((
            record::decode_header(q, id, h.value())?,
            record::decode_body(q, id, b.value())?,
        )))
    }

    fn get_body(&self, q: QueueId, id: MessageId) -> Result<Option<Body>> {
        read_body(&self.begin_read()?, q, id)
    }

    fn meta(&self, key: MetaKey) -> Result<Option<Vec<u8>>> {
        read_meta(&self.begin_read()?, key.key())
    }

    fn scan(
        &self,
        space: Space,
        lo: &[u8],
        hi: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        read_scan(&self.begin_read()?, space, lo, hi, limit)
    }

    fn with_snapshot(&self, f: &mut dyn FnMut(&dyn Snapshot) -> Result<()>) -> Result<()> {
        let snap = RedbSnapshot {
            txn: self.begin_read()?,
        };
        f(&snap)
    }
}

impl LogStore for RedbStore {
    fn append(&self, entries: &[(u64, Vec<u8>)]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.write_log("append log entries", |t| {
            for (index, entry) in entries {
                t.log
                    .insert(&keys::log(*index), entry.as_slice())
                    .map_err(failed("write log entry"))?;
            }
            Ok(())
        })
    }

    fn read(&self, range: Range<u64>) -> Result<Vec<(u64, Vec<u8>)>> {
        if range.is_empty() {
            return Ok(Vec::new());
        }
        let table = self
            .begin_read()?
            .open_table(LOG)
            .map_err(failed("open log table"))?;
        let (lo, hi) = (keys::log(range.start), keys::log(range.end));
        let mut out = Vec::new();
        for entry in table
            .range::<&LogKey>(&lo..&hi)
            .map_err(failed("read log"))?
        {
            let (k, v) = entry.map_err(failed("read log"))?;
            let Some(index) = keys::split_log(k.value()) else {
                return Err(Error::corrupt("log key"));
            };
            out.push((index, v.value().to_vec()));
        }
        Ok(out)
    }

    fn truncate(&self, from: u64) -> Result<()> {
        self.write_log("truncate log", |t| {
            t.log
                .retain_in::<&LogKey, _>(&keys::log(from).., |_, _| false)
                .map_err(failed("delete log suffix"))
        })
    }

    fn purge(&self, upto: u64) -> Result<()> {
        self.write_log("purge log", |t| {
            t.log
                .retain_in::<&LogKey, _>(..=&keys::log(upto), |_, _| false)
                .map_err(failed("delete log prefix"))?;
            let key = RaftTag::PurgedIndex.key();
            let old = match t.raft.get(key).map_err(failed("read purged index"))? {
                Some(v) => Some(keys::decode_purged(v.value())?),
                None => None,
            };
            let purged = old.max(Some(upto)).unwrap_or(upto);
            t.raft
                .insert(key, keys::log(purged).as_slice())
                .map_err(failed("write purged index"))?;
            Ok(())
        })
    }

    fn last_purged(&self) -> Result<Option<u64>> {
        self.raft(RaftTag::PurgedIndex)?
            .map(|v| keys::decode_purged(&v))
            .transpose()
    }

    fn last_index(&self) -> Result<Option<u64>> {
        let table = self
            .begin_read()?
            .open_table(LOG)
            .map_err(failed("open log table"))?;
        let Some((k, _)) = table.last().map_err(failed("read last log entry"))? else {
            return Ok(None);
        };
        keys::split_log(k.value())
            .map(Some)
            .ok_or_else(|| Error::corrupt("log key"))
    }

    fn save(&self, key: LogMeta, value: &[u8]) -> Result<()> {
        self.write_log("save raft metadata", |t| {
            t.raft
                .insert(RaftTag::from(key).key(), value)
                .map_err(failed("write raft metadata"))?;
            Ok(())
        })
    }

    fn load(&self, key: LogMeta) -> Result<Option<Vec<u8>>> {
        self.raft(RaftTag::from(key))
    }
}
