//! Tombstone retention (`backup.tombstone_retention`): local housekeeping outside apply. Deletions older
//! than the cutoff are removed and the horizon moves up to the newest removed version, so an incremental
//! that would need them gets `since_too_old` (docs/backup.md §8.1).
use doq_api::{MessageId, QueueId, Timestamp};

use crate::{keys, record, MetaKey, Op, QueueStore, Result, Space, WriteBatch};

/// Tombstones examined per page.
const PAGE: usize = 4096;

/// Removes the tombstones whose command time is before `cutoff`; returns how many. Tombstone keys start
/// with the version, and command time never decreases with the version, so the old ones are a prefix.
pub fn prune(store: &dyn QueueStore, cutoff: Timestamp) -> Result<u64> {
    let lo = keys::tombstone(0, QueueId(0), None);
    let hi = keys::tombstone(u64::MAX, QueueId(u32::MAX), Some(MessageId(u64::MAX)));
    let mut from = lo.clone();
    let mut last: Option<(Vec<u8>, u64)> = None;
    let mut count = 0u64;
    'scan: loop {
        let page = store.scan(Space::Tombstones, &from, &hi, PAGE)?;
        let full = page.len() >= PAGE;
        for (k, v) in page {
            let t = record::decode_tombstone(&k, &v)?;
            if t.now >= cutoff {
                break 'scan;
            }
            count += 1;
            from.clone_from(&k);
            from.push(0);
            last = Some((k, t.version));
        }
        if !full {
            break;
        }
    }
    let Some((last_key, version)) = last else {
        return Ok(0);
    };
    let old = store
        .meta(MetaKey::TombstoneHorizon)?
        .map(|v| keys::decode_purged(&v))
        .transpose()?
        .unwrap_or(0);
    let mut batch = WriteBatch::new();
    batch.push(Op::DeleteRange {
        space: Space::Tombstones,
        lo,
        hi: last_key,
    });
    batch.push(Op::PutMeta {
        key: MetaKey::TombstoneHorizon,
        value: keys::log(old.max(version)).to_vec(),
    });
    store.commit(batch)?;
    Ok(count)
}
