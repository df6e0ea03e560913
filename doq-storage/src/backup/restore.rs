//! Reading a backup for a restore: [`verify`] checks a whole stream without keeping it, and [`chunks`]
//! reads it again as chunks of import items of about `max_bytes` each (a larger record travels alone).
use std::io::Read;

use doq_api::{ImportHeader, ImportItem, Limits};

use super::{
    codec::{BackupError, Reader},
    format::Header,
};

/// Bytes per `StageImport` chunk (docs/backup.md §8.3).
pub const CHUNK_BYTES: usize = 1024 * 1024;

/// Reads and verifies a whole stream (magic, every CRC, order, trailer, and with `limits` every message
/// against the API's limits); returns its header and record count.
pub fn verify<R: Read>(input: R, limits: Option<Limits>) -> Result<(Header, u64), BackupError> {
    let mut r = open(input, limits)?;
    while r.next_item()?.is_some() {}
    Ok((r.header().clone(), r.records()))
}

/// Calls `f` with the stream's records in chunks of about `max_bytes` (at least once, with an empty chunk
/// for a backup without records, so the restore is staged); returns the header. The stream is verified
/// again on the way, so a file that changed since [`verify`] still fails before its last chunk.
pub fn chunks<R: Read, E: From<BackupError>>(
    input: R,
    max_bytes: usize,
    limits: Option<Limits>,
    mut f: impl FnMut(Vec<ImportItem>) -> Result<(), E>,
) -> Result<Header, E> {
    let mut r = open(input, limits)?;
    let mut chunk = Vec::new();
    let mut size = 0;
    let mut sent = false;
    while let Some(item) = r.next_item()? {
        let n = approx_size(&item);
        if !chunk.is_empty() && size + n > max_bytes {
            f(std::mem::take(&mut chunk))?;
            sent = true;
            size = 0;
        }
        size += n;
        chunk.push(item);
    }
    if !chunk.is_empty() || !sent {
        f(chunk)?;
    }
    Ok(r.header().clone())
}

fn open<R: Read>(input: R, limits: Option<Limits>) -> Result<Reader<R>, BackupError> {
    let r = Reader::open(input)?;
    Ok(match limits {
        Some(l) => r.with_limits(l),
        None => r,
    })
}

/// The header facts a commit needs.
pub fn import_header(h: &Header) -> ImportHeader {
    ImportHeader {
        cluster_id: h.cluster_id.clone(),
        since: h.since,
        last_version: h.last_version,
        id_watermark: h.id_watermark,
    }
}

/// Roughly the bytes an item takes in a command.
fn approx_size(item: &ImportItem) -> usize {
    const FIXED: usize = 64;
    match item {
        ImportItem::Message {
            queue, group, body, ..
        } => {
            FIXED
                + queue.as_str().len()
                + group.as_str().len()
                + body.content.len()
                + body
                    .metadata
                    .iter()
                    .map(|(k, v)| k.len() + v.len())
                    .sum::<usize>()
        }
        ImportItem::Queue { name, .. } | ImportItem::QueueDeleted { name } => {
            FIXED + name.as_str().len()
        }
        ImportItem::MessageDeleted { queue, .. } => FIXED + queue.as_str().len(),
    }
}
