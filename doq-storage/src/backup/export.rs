//! Writing a backup from a store [`Snapshot`] (docs/backup.md §8.1): a full backup holds every queue and message;
//! an incremental (`since = S > 0`) holds the queues and messages written at a version ≥ S and the
//! tombstones of deletions at a version ≥ S. Reads go page by page, so memory stays bounded by a page
//! (plus, for an incremental, the message tombstones it carries).
use std::{
    collections::{BTreeMap, BTreeSet},
    io::{self, Write},
};

use doq_api::{MessageId, QueueId};

use super::{
    codec::{BackupError, Writer},
    format::{
        Header, Kind, MessageRecord, MessageTombstone, QueueRecord, QueueTombstone, FORMAT_VERSION,
    },
};
use crate::{keys, record, MetaKey, Snapshot, Space};

/// Messages read per page.
const PAGE: usize = 1024;

/// What a backup is taken with besides the snapshot.
#[derive(Clone, Debug)]
pub struct ExportRequest {
    /// 0: full; else the first version to include.
    pub since: u64,
    /// `doq <version>`.
    pub producer: String,
    /// Unix milliseconds now.
    pub created_at_ms: i64,
}

/// Counts of a finished export.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Data records written.
    pub records: u64,
    /// Bytes written before the trailer.
    pub bytes: u64,
}

fn io_err(e: crate::Error) -> BackupError {
    BackupError::Io(io::Error::other(e))
}

/// The header a backup of `snap` gets, after the checks of docs/errors.md §6: `since` in the future is a 422,
/// `since` at or before the tombstone horizon a 409 `since_too_old`.
pub fn header(snap: &dyn Snapshot, req: &ExportRequest) -> doq_api::Result<Header> {
    let last_version = snap.applied()?.map_or(0, |a| a.index);
    if req.since > last_version.saturating_add(1) {
        return Err(doq_api::Error::invalid(
            "query.since",
            "since is in the future",
            req.since.to_string(),
        ));
    }
    let horizon = snap
        .meta(MetaKey::TombstoneHorizon)?
        .map(|v| keys::decode_purged(&v))
        .transpose()?
        .unwrap_or(0);
    if req.since > 0 && req.since <= horizon {
        return Err(doq_api::Error::SinceTooOld);
    }
    let cluster_id = snap
        .meta(MetaKey::ClusterId)?
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_default();
    Ok(Header {
        format_version: FORMAT_VERSION,
        cluster_id,
        since: req.since,
        last_version,
        created_at_ms: req.created_at_ms,
        producer: req.producer.clone(),
        id_watermark: snap.counters()?.map_or(0, |c| c.last_id),
        backend: snap.backend().to_owned(),
    })
}

/// Writes the whole backup described by `header` (from [`header`] over the same snapshot) to `out`.
pub fn write<W: Write>(
    snap: &dyn Snapshot,
    header: Header,
    out: W,
) -> Result<(W, ExportSummary), BackupError> {
    let since = header.since;
    let mut w = Writer::new(out, header)?;
    let mut queues = snap.queues().map_err(io_err)?;
    queues.sort_by(|a, b| a.name.cmp(&b.name));
    let live: BTreeSet<QueueId> = queues.iter().map(|q| q.id).collect();
    // Deletions since `since`: queue tombstones go first; message tombstones of live queues merge with
    // the messages by id.
    let mut dead_queues = Vec::new();
    let mut dead_messages: BTreeMap<QueueId, BTreeMap<MessageId, u64>> = BTreeMap::new();
    if since > 0 {
        let lo = keys::tombstone(since, QueueId(0), None);
        let hi = keys::tombstone(u64::MAX, QueueId(u32::MAX), Some(MessageId(u64::MAX)));
        let mut from = lo;
        loop {
            let page = snap
                .scan(Space::Tombstones, &from, &hi, PAGE)
                .map_err(io_err)?;
            let Some((last, _)) = page.last() else { break };
            let mut next = last.clone();
            next.push(0);
            for (k, v) in &page {
                let t = record::decode_tombstone(k, v).map_err(io_err)?;
                match t.id {
                    None => dead_queues.push(QueueTombstone {
                        name: t.name.as_str().to_owned(),
                        version: t.version,
                    }),
                    Some(id) if live.contains(&t.queue) => {
                        let v = dead_messages
                            .entry(t.queue)
                            .or_default()
                            .entry(id)
                            .or_default();
                        *v = (*v).max(t.version);
                    }
                    Some(_) => {}
                }
            }
            if page.len() < PAGE {
                break;
            }
            from = next;
        }
    }
    for t in dead_queues {
        w.write(Kind::QueueDeleted(t))?;
    }
    for q in &queues {
        if since == 0 || q.version >= since || q.created_version >= since {
            w.write(Kind::Queue(QueueRecord::from_store(q)))?;
        }
    }
    for q in &queues {
        let mut tombs = dead_messages.remove(&q.id).unwrap_or_default();
        let mut after = None;
        loop {
            let page = snap.scan_headers(q.id, after, PAGE).map_err(io_err)?;
            for h in &page {
                after = Some(h.id);
                // Deletions of ids below this one come first; one that was re-enqueued is superseded.
                while let Some((&id, &version)) = tombs.first_key_value() {
                    if id > h.id {
                        break;
                    }
                    tombs.pop_first();
                    if id < h.id {
                        write_tombstone(&mut w, q, id, version)?;
                    }
                }
                if h.version < since {
                    continue;
                }
                let Some(body) = snap.get_body(q.id, h.id).map_err(io_err)? else {
                    continue;
                };
                w.write(Kind::Message(MessageRecord {
                    queue: q.name.as_str().to_owned(),
                    id: h.id.0,
                    group: h.group.as_str().to_owned(),
                    priority: h.priority.0,
                    content: body.content,
                    metadata: body.metadata,
                    deliveries: h.deliveries,
                    version: h.version,
                }))?;
            }
            if page.len() < PAGE {
                break;
            }
        }
        for (id, version) in tombs {
            write_tombstone(&mut w, q, id, version)?;
        }
    }
    let summary = ExportSummary {
        records: w.records(),
        bytes: w.bytes(),
    };
    let out = w.finish()?;
    Ok((out, summary))
}

fn write_tombstone<W: Write>(
    w: &mut Writer<W>,
    q: &doq_api::QueueRecord,
    id: MessageId,
    version: u64,
) -> Result<(), BackupError> {
    w.write(Kind::MessageDeleted(MessageTombstone {
        queue: q.name.as_str().to_owned(),
        id: id.0,
        version,
    }))
}
