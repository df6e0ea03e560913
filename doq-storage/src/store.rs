//! The [`QueueStore`] trait every backend implements, the [`Applied`] marker, and [`Source`], which lets
//! `Engine::rebuild` read a store.
use std::{fmt, sync::Arc};

use doq_api::{
    BackupState, Body, Counters, GroupRecord, IndexSource, MessageHeader, MessageId, QueueId,
    QueueRecord,
};

use crate::{error::to_api, record, MetaKey, Result, Space, WriteBatch};

/// What a store persists for the queue engine: queue records, message headers and bodies, round-robin
/// group trees, the engine counters and the applied marker, one keyspace each.
///
/// Writes arrive only as a [`WriteBatch`]; reads see the last committed batch.
///
/// # Contract
/// - `commit` is atomic: after it returns, and after a crash, all of a batch is visible or none of it is.
/// - `commit` applies the batch's ops in order: a later op wins over an earlier one on the same key, and a
///   range delete (`delete_queue`, `delete_messages`) removes only what was written before it in the batch.
/// - A store opened with `sync = true` has the batch on stable storage when `commit` returns; with
///   `sync = false` a crash may lose a suffix of committed batches, never part of one. `flush` makes every
///   committed batch durable.
/// - `delete_queue(q)` removes the record of `q` and every header, body and group keyed by `q`, and nothing
///   keyed by another queue. `delete_messages(q)` does the same but keeps the record.
/// - `applied` and `counters` return what the last batch that set them stored, or `None` if none did.
/// - `scan_headers` returns headers of one queue in ascending id order; `get_message` returns a message only
///   when both its header and its body exist.
/// - Stored values round-trip exactly (`==`), and bytes that do not decode are `Error::Corrupt`, never a panic.
/// - Methods take `&self` and may be called from several threads; a read never sees half a batch.
pub trait QueueStore: Send + Sync + fmt::Debug + 'static {
    /// The backend's name, such as `redb`; it shows up in errors and metrics.
    fn backend(&self) -> &'static str;
    /// Applies `batch` atomically, in order; durable on return when the store was opened with `sync = true`.
    fn commit(&self, batch: WriteBatch) -> Result<()>;
    /// [`QueueStore::commit`] of a borrowed batch, with the same contract. A pipelined writer keeps
    /// reading a batch (bodies a later command dequeues) while another thread commits it, so backends
    /// encode straight from the borrowed ops; the default clones the batch.
    fn commit_ref(&self, batch: &WriteBatch) -> Result<()> {
        self.commit(batch.clone())
    }
    /// Makes every committed batch durable.
    fn flush(&self) -> Result<()>;
    /// The applied marker committed with the last batch that set one.
    fn applied(&self) -> Result<Option<Applied>>;
    /// The engine counters, if any batch stored them.
    fn counters(&self) -> Result<Option<Counters>>;
    /// Every queue record, in queue id order.
    fn queues(&self) -> Result<Vec<QueueRecord>>;
    /// The round-robin tree nodes of queue `q`, in node id order.
    fn groups(&self, q: QueueId) -> Result<Vec<GroupRecord>>;
    /// Headers of queue `q` with id > `after` (`None`: from the first), ascending by id, at most `limit`.
    fn scan_headers(
        &self,
        q: QueueId,
        after: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<MessageHeader>>;
    /// A message's header and body, read together.
    fn get_message(&self, q: QueueId, id: MessageId) -> Result<Option<(MessageHeader, Body)>>;
    /// A message's body.
    fn get_body(&self, q: QueueId, id: MessageId) -> Result<Option<Body>>;
    /// A `meta` value stored with [`crate::Op::PutMeta`].
    fn meta(&self, key: MetaKey) -> Result<Option<Vec<u8>>>;
    /// The entries of `space` with `lo <= key <= hi`, ascending, at most `limit`.
    fn scan(
        &self,
        space: Space,
        lo: &[u8],
        hi: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
    /// Runs `f` over a consistent point-in-time view of the store (for exports). Commits may go on
    /// meanwhile unless the backend says otherwise ([`QueueStore::snapshot_blocks_commits`]).
    fn with_snapshot(&self, f: &mut dyn FnMut(&dyn Snapshot) -> Result<()>) -> Result<()>;
    /// Whether commits wait while a [`QueueStore::with_snapshot`] view is open (sled has no snapshots),
    /// so a long export should be spooled rather than streamed to a slow reader.
    fn snapshot_blocks_commits(&self) -> bool {
        false
    }
}

/// A consistent, read-only view of a store at one commit, for exports.
pub trait Snapshot {
    /// The backend's name.
    fn backend(&self) -> &'static str;
    /// The applied marker as of the view.
    fn applied(&self) -> Result<Option<Applied>>;
    /// The engine counters as of the view.
    fn counters(&self) -> Result<Option<Counters>>;
    /// A `meta` value as of the view.
    fn meta(&self, key: MetaKey) -> Result<Option<Vec<u8>>>;
    /// Every queue record, in queue id order.
    fn queues(&self) -> Result<Vec<QueueRecord>>;
    /// Headers of queue `q` with id > `after`, ascending, at most `limit`.
    fn scan_headers(
        &self,
        q: QueueId,
        after: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<MessageHeader>>;
    /// A message's body.
    fn get_body(&self, q: QueueId, id: MessageId) -> Result<Option<Body>>;
    /// The entries of `space` with `lo <= key <= hi`, ascending, at most `limit`.
    fn scan(
        &self,
        space: Space,
        lo: &[u8],
        hi: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
}

/// Reads the backup state a store holds (default when none).
pub fn backup_state(store: &dyn QueueStore) -> Result<BackupState> {
    store
        .meta(MetaKey::BackupState)?
        .map(|v| record::decode_backup_state(&v))
        .transpose()
        .map(Option::unwrap_or_default)
}

/// Reads the deployment's cluster id, if one was stored.
pub fn cluster_id(store: &dyn QueueStore) -> Result<Option<String>> {
    Ok(store
        .meta(MetaKey::ClusterId)?
        .map(|v| String::from_utf8_lossy(&v).into_owned()))
}

/// A shared store is a store, so wrappers such as `FaultyStore` can wrap what `open` returns.
#[deny(clippy::missing_trait_methods)]
impl<S: QueueStore + ?Sized> QueueStore for Arc<S> {
    fn backend(&self) -> &'static str {
        (**self).backend()
    }

    fn commit(&self, batch: WriteBatch) -> Result<()> {
        (**self).commit(batch)
    }

    fn commit_ref(&self, batch: &WriteBatch) -> Result<()> {
        (**self).commit_ref(batch)
    }

    fn flush(&self) -> Result<()> {
        (**self).flush()
    }

    fn applied(&self) -> Result<Option<Applied>> {
        (**self).applied()
    }

    fn counters(&self) -> Result<Option<Counters>> {
        (**self).counters()
    }

    fn queues(&self) -> Result<Vec<QueueRecord>> {
        (**self).queues()
    }

    fn groups(&self, q: QueueId) -> Result<Vec<GroupRecord>> {
        (**self).groups(q)
    }

    fn scan_headers(
        &self,
        q: QueueId,
        after: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<MessageHeader>> {
        (**self).scan_headers(q, after, limit)
    }

    fn get_message(&self, q: QueueId, id: MessageId) -> Result<Option<(MessageHeader, Body)>> {
        (**self).get_message(q, id)
    }

    fn get_body(&self, q: QueueId, id: MessageId) -> Result<Option<Body>> {
        (**self).get_body(q, id)
    }

    fn meta(&self, key: MetaKey) -> Result<Option<Vec<u8>>> {
        (**self).meta(key)
    }

    fn scan(
        &self,
        space: Space,
        lo: &[u8],
        hi: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        (**self).scan(space, lo, hi, limit)
    }

    fn with_snapshot(&self, f: &mut dyn FnMut(&dyn Snapshot) -> Result<()>) -> Result<()> {
        (**self).with_snapshot(f)
    }

    fn snapshot_blocks_commits(&self) -> bool {
        (**self).snapshot_blocks_commits()
    }
}

/// The log position a batch brings the store to, committed in the same batch so replay after a crash starts
/// exactly after it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// The index of the last command the batch contains.
    pub index: u64,
    /// Opaque bytes owned by the consensus layer (such as the Raft log id); the store never looks inside.
    pub data: Vec<u8>,
}

/// A store seen as the engine's [`IndexSource`], for `Engine::rebuild`.
#[derive(Clone, Copy, Debug)]
pub struct Source<'a>(pub &'a dyn QueueStore);

impl Source<'_> {
    /// How many headers `headers` reads per `scan_headers` call: bounded memory on huge queues.
    pub const PAGE: usize = 4096;
}

impl IndexSource for Source<'_> {
    fn counters(&self) -> doq_api::Result<Option<Counters>> {
        self.0.counters().map_err(|e| to_api(self.0, &e))
    }

    fn queues(&self) -> doq_api::Result<Vec<QueueRecord>> {
        self.0.queues().map_err(|e| to_api(self.0, &e))
    }

    fn groups(&self, queue: QueueId) -> doq_api::Result<Vec<GroupRecord>> {
        self.0.groups(queue).map_err(|e| to_api(self.0, &e))
    }

    fn backup_state(&self) -> doq_api::Result<BackupState> {
        backup_state(self.0).map_err(|e| to_api(self.0, &e))
    }

    fn headers(&self, queue: QueueId, visit: &mut dyn FnMut(MessageHeader)) -> doq_api::Result<()> {
        let mut after = None;
        loop {
            let page = self
                .0
                .scan_headers(queue, after, Self::PAGE)
                .map_err(|e| to_api(self.0, &e))?;
            let full = page.len() >= Self::PAGE;
            for h in page {
                after = Some(h.id);
                visit(h);
            }
            if !full {
                return Ok(());
            }
        }
    }
}
