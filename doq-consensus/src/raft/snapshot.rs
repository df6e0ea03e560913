//! Raft snapshots of the replicated state: every queue record, round-robin tree node, message (header with
//! its lease, and body) and the engine counters, read through the `QueueStore` API, in a simple framed
//! stream: the magic `DOQSNAP1`, then frames `kind: u8 | len: u32 LE | payload` (payloads in `codec`'s
//! layout) and a final `END` frame with the record count. Installing one is a single `WriteBatch` that
//! deletes every local queue's range and writes the snapshot's records, so a crash leaves the old state or
//! the new one. Today: the whole snapshot is held in memory; it moves to the backup record format
//! (API.md §8.2) once `export`/`import` land.
use doq_api::{Counters, Error, QueueRecord, Result};
use doq_storage::{Applied, QueueStore, WriteBatch};

use super::codec::{bad, Reader, Writer};

const MAGIC: &[u8; 8] = b"DOQSNAP1";
const COUNTERS: u8 = 1;
const QUEUE: u8 = 2;
const GROUP: u8 = 3;
const MESSAGE: u8 = 4;
const END: u8 = 0xff;
/// Headers read per `scan_headers` call while building.
const PAGE: usize = 1024;

fn frame(out: &mut Vec<u8>, kind: u8, payload: &[u8]) -> Result<()> {
    let len = u32::try_from(payload.len())
        .map_err(|_| Error::Internal("snapshot record over 4 GiB".into()))?;
    out.push(kind);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Serializes everything `store` holds for the engine. The caller keeps the store still meanwhile (it
/// holds the engine's read lock, which the applier needs to commit).
pub(crate) fn build(store: &dyn QueueStore) -> Result<Vec<u8>> {
    let mut out = MAGIC.to_vec();
    let mut records: u64 = 0;
    if let Some(c) = store.counters().map_err(Error::from)? {
        let mut w = Writer::new();
        w.counters(&c);
        frame(&mut out, COUNTERS, &w.0)?;
        records += 1;
    }
    for q in store.queues().map_err(Error::from)? {
        let mut w = Writer::new();
        w.queue_record(&q);
        frame(&mut out, QUEUE, &w.0)?;
        records += 1;
        for g in store.groups(q.id).map_err(Error::from)? {
            let mut w = Writer::new();
            w.group_record(&g);
            frame(&mut out, GROUP, &w.0)?;
            records += 1;
        }
        let mut after = None;
        loop {
            let page = store.scan_headers(q.id, after, PAGE).map_err(Error::from)?;
            let full = page.len() >= PAGE;
            for h in page {
                after = Some(h.id);
                let body = store
                    .get_body(q.id, h.id)
                    .map_err(Error::from)?
                    .ok_or_else(|| Error::Internal(format!("header {} without a body", h.id)))?;
                let mut w = Writer::new();
                w.message(&h, &body);
                frame(&mut out, MESSAGE, &w.0)?;
                records += 1;
            }
            if !full {
                break;
            }
        }
    }
    frame(&mut out, END, &records.to_le_bytes())?;
    Ok(out)
}

/// The batch that turns a store holding `existing` queues into exactly the snapshot's state, with the
/// applied marker `applied`. Checks the whole snapshot before anything is written.
pub(crate) fn install_batch(
    bytes: &[u8],
    existing: &[QueueRecord],
    applied: Applied,
) -> Result<WriteBatch> {
    let mut rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| bad("snapshot magic"))?;
    let mut batch = WriteBatch::new();
    for q in existing {
        batch.delete_queue(q.id);
    }
    let mut counters = Counters::default();
    let mut records: u64 = 0;
    let mut ended = false;
    while !rest.is_empty() {
        if ended {
            return Err(bad("bytes after the snapshot's end"));
        }
        let (&kind, tail) = rest.split_first().ok_or_else(|| bad("snapshot frame"))?;
        let len_bytes: [u8; 4] = tail
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("snapshot frame length"))?;
        let len = u32::from_le_bytes(len_bytes) as usize;
        let payload = tail
            .get(4..4 + len)
            .ok_or_else(|| bad("truncated snapshot frame"))?;
        rest = &tail[4 + len..];
        if kind == END {
            let count: [u8; 8] = payload.try_into().map_err(|_| bad("snapshot end frame"))?;
            if u64::from_le_bytes(count) != records {
                return Err(bad("snapshot record count"));
            }
            ended = true;
            continue;
        }
        let mut r = Reader::new(payload)?;
        match kind {
            COUNTERS => counters = r.counters()?,
            QUEUE => batch.put_queue(r.queue_record()?),
            GROUP => batch.put_group(r.group_record()?),
            MESSAGE => {
                let (h, b) = r.message()?;
                batch.put_message(h, b);
            }
            k => return Err(bad(&format!("snapshot record kind {k}"))),
        }
        r.end()?;
        records += 1;
    }
    if !ended {
        return Err(bad("snapshot without its end frame"));
    }
    batch.put_counters(counters);
    batch.set_applied(applied);
    Ok(batch)
}
