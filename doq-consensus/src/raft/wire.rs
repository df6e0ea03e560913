//! `wire`: the byte forms of openraft's bulky messages, in `codec`'s binary layout: a log entry (as the
//! log stores it and AppendEntries carries it), an AppendEntries request and an InstallSnapshot chunk.
//! They used to be JSON with the command batch inside as base64 and snapshot chunks as JSON arrays of
//! numbers; now a batch's bytes are written once and copied, never re-encoded. The small, rare messages
//! (votes, responses, membership inside an entry) stay JSON. Each layout starts with its own tag byte;
//! a log entry starting with `{` is the JSON of an older log and still reads.
use doq_api::Result;
use openraft::{
    raft::{AppendEntriesRequest, InstallSnapshotRequest},
    CommittedLeaderId, Entry, EntryPayload, LogId, SnapshotMeta, Vote,
};

use super::{
    codec::{self, bad, Reader, Writer},
    types::{DoqNode, Request, TypeConfig},
};

/// First byte of a log entry.
const ENTRY: u8 = 0xE0;
/// First byte of an AppendEntries request.
const APPEND: u8 = 0xA0;
/// First byte of an InstallSnapshot chunk.
const SNAPSHOT: u8 = 0xB0;

const BLANK: u8 = 0;
const NORMAL: u8 = 1;
const MEMBERSHIP: u8 = 2;

/// A log entry as the log stores it.
pub(crate) fn encode_entry(e: &Entry<TypeConfig>) -> Vec<u8> {
    let mut w = Writer::tagged(ENTRY);
    entry(&mut w, e);
    w.0
}

/// The inverse of [`encode_entry`]; also reads the JSON entries of a log written before.
pub(crate) fn decode_entry(bytes: &[u8]) -> Result<Entry<TypeConfig>> {
    match bytes.split_first() {
        Some((&ENTRY, rest)) => {
            let mut r = Reader::after_tag(rest);
            let e = read_entry(&mut r)?;
            r.end()?;
            Ok(e)
        }
        Some((b'{', _)) => {
            serde_json::from_slice(bytes).map_err(|e| bad(&format!("log entry (JSON): {e}")))
        }
        Some((t, _)) => Err(bad(&format!("log entry tag {t}"))),
        None => Err(bad("empty log entry")),
    }
}

/// An AppendEntries request, cut short after the entries that fit in `budget` bytes (always at least
/// one). Returns the bytes and how many entries they carry; the caller reports a shortened request as
/// openraft's `PartialSuccess`, so a lagging follower catches up in bounded messages instead of
/// failing the same oversized one on every retry.
pub(crate) fn encode_append(
    req: &AppendEntriesRequest<TypeConfig>,
    budget: usize,
) -> (Vec<u8>, usize) {
    let mut body = Writer::empty();
    let mut sent = 0;
    for e in &req.entries {
        let before = body.0.len();
        entry(&mut body, e);
        if sent > 0 && body.0.len() > budget {
            body.0.truncate(before);
            break;
        }
        sent += 1;
    }
    let mut w = Writer::tagged(APPEND);
    vote(&mut w, &req.vote);
    opt_log_id(&mut w, req.prev_log_id.as_ref());
    opt_log_id(&mut w, req.leader_commit.as_ref());
    w.len(sent);
    w.0.extend_from_slice(&body.0);
    (w.0, sent)
}

/// The inverse of [`encode_append`].
pub(crate) fn decode_append(bytes: &[u8]) -> Result<AppendEntriesRequest<TypeConfig>> {
    let mut r = tagged(bytes, APPEND)?;
    let vote = read_vote(&mut r)?;
    let prev_log_id = read_opt_log_id(&mut r)?;
    let leader_commit = read_opt_log_id(&mut r)?;
    let n = r.len()?;
    let mut entries = Vec::with_capacity(n);
    for _ in 0..n {
        entries.push(read_entry(&mut r)?);
    }
    r.end()?;
    Ok(AppendEntriesRequest {
        vote,
        prev_log_id,
        entries,
        leader_commit,
    })
}

/// An InstallSnapshot chunk: the data as raw bytes, the metadata as JSON.
pub(crate) fn encode_snapshot(req: &InstallSnapshotRequest<TypeConfig>) -> Vec<u8> {
    let mut w = Writer::tagged(SNAPSHOT);
    vote(&mut w, &req.vote);
    w.bytes(&serde_json::to_vec(&req.meta).unwrap_or_default());
    w.u64(req.offset);
    w.bytes(&req.data);
    w.bool(req.done);
    w.0
}

/// The inverse of [`encode_snapshot`].
pub(crate) fn decode_snapshot(bytes: &[u8]) -> Result<InstallSnapshotRequest<TypeConfig>> {
    let mut r = tagged(bytes, SNAPSHOT)?;
    let vote = read_vote(&mut r)?;
    let meta: SnapshotMeta<u64, DoqNode> =
        serde_json::from_slice(r.slice()?).map_err(|e| bad(&format!("snapshot meta: {e}")))?;
    let offset = r.u64()?;
    let data = r.bytes()?;
    let done = r.bool()?;
    r.end()?;
    Ok(InstallSnapshotRequest {
        vote,
        meta,
        offset,
        data,
        done,
    })
}

fn tagged(bytes: &[u8], tag: u8) -> Result<Reader<'_>> {
    match bytes.split_first() {
        Some((t, rest)) if *t == tag => Ok(Reader::after_tag(rest)),
        Some((t, _)) => Err(bad(&format!("message tag {t}, expected {tag}"))),
        None => Err(bad("empty message")),
    }
}

fn entry(w: &mut Writer, e: &Entry<TypeConfig>) {
    log_id(w, &e.log_id);
    match &e.payload {
        EntryPayload::Blank => w.u8(BLANK),
        EntryPayload::Normal(req) => {
            w.u8(NORMAL);
            w.bytes(&codec::encode_batch(&req.0));
        }
        EntryPayload::Membership(m) => {
            w.u8(MEMBERSHIP);
            w.bytes(&serde_json::to_vec(m).unwrap_or_default());
        }
    }
}

fn read_entry(r: &mut Reader<'_>) -> Result<Entry<TypeConfig>> {
    let log_id = read_log_id(r)?;
    let payload = match r.u8()? {
        BLANK => EntryPayload::Blank,
        NORMAL => EntryPayload::Normal(Request(codec::decode_batch(r.slice()?)?)),
        MEMBERSHIP => EntryPayload::Membership(
            serde_json::from_slice(r.slice()?)
                .map_err(|e| bad(&format!("membership entry: {e}")))?,
        ),
        t => return Err(bad(&format!("entry payload tag {t}"))),
    };
    Ok(Entry { log_id, payload })
}

fn vote(w: &mut Writer, v: &Vote<u64>) {
    w.u64(v.leader_id.term);
    w.u64(v.leader_id.node_id);
    w.bool(v.committed);
}

fn read_vote(r: &mut Reader<'_>) -> Result<Vote<u64>> {
    let term = r.u64()?;
    let node = r.u64()?;
    Ok(if r.bool()? {
        Vote::new_committed(term, node)
    } else {
        Vote::new(term, node)
    })
}

fn log_id(w: &mut Writer, l: &LogId<u64>) {
    w.u64(l.leader_id.term);
    w.u64(l.leader_id.node_id);
    w.u64(l.index);
}

fn read_log_id(r: &mut Reader<'_>) -> Result<LogId<u64>> {
    let term = r.u64()?;
    let node = r.u64()?;
    let index = r.u64()?;
    Ok(LogId::new(CommittedLeaderId::new(term, node), index))
}

fn opt_log_id(w: &mut Writer, l: Option<&LogId<u64>>) {
    match l {
        None => w.u8(0),
        Some(l) => {
            w.u8(1);
            log_id(w, l);
        }
    }
}

fn read_opt_log_id(r: &mut Reader<'_>) -> Result<Option<LogId<u64>>> {
    match r.u8()? {
        0 => Ok(None),
        1 => Ok(Some(read_log_id(r)?)),
        t => Err(bad(&format!("option tag {t}"))),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use doq_api::{Command, Stamped, Timestamp};
    use openraft::{Membership, StoredMembership};

    use super::*;

    fn id(term: u64, node: u64, index: u64) -> LogId<u64> {
        LogId::new(CommittedLeaderId::new(term, node), index)
    }

    fn entries() -> Vec<Entry<TypeConfig>> {
        let nodes = BTreeMap::from([(
            7,
            DoqNode {
                name: "n7".into(),
                addr: "127.0.0.1:1".into(),
            },
        )]);
        vec![
            Entry {
                log_id: id(1, 7, 1),
                payload: EntryPayload::Blank,
            },
            Entry {
                log_id: id(1, 7, 2),
                payload: EntryPayload::Normal(Request(vec![
                    Stamped {
                        now: Timestamp(5),
                        seed: 6,
                        command: Command::ReserveIds { count: 2 },
                    };
                    3
                ])),
            },
            Entry {
                log_id: id(2, 9, 3),
                payload: EntryPayload::Membership(Membership::new(
                    vec![BTreeSet::from([7])],
                    nodes,
                )),
            },
        ]
    }

    #[test]
    fn entries_round_trip_and_old_json_entries_still_read() {
        for e in entries() {
            let back = decode_entry(&encode_entry(&e)).unwrap();
            assert_eq!(back, e);
            let json = serde_json::to_vec(&e).unwrap();
            assert_eq!(decode_entry(&json).unwrap(), e);
        }
        let good = encode_entry(&entries()[1]);
        for cut in 0..good.len() {
            assert!(decode_entry(&good[..cut]).is_err(), "prefix of {cut} bytes");
        }
    }

    #[test]
    fn append_requests_and_snapshot_chunks_round_trip() {
        let req = AppendEntriesRequest::<TypeConfig> {
            vote: Vote::new_committed(3, 7),
            prev_log_id: Some(id(1, 7, 1)),
            entries: entries(),
            leader_commit: None,
        };
        let (bytes, sent) = encode_append(&req, usize::MAX);
        assert_eq!(sent, 3);
        let back = decode_append(&bytes).unwrap();
        assert_eq!(back.vote, req.vote);
        assert_eq!(back.prev_log_id, req.prev_log_id);
        assert_eq!(back.leader_commit, req.leader_commit);
        assert_eq!(back.entries, req.entries);
        // A budget cuts the request after whole entries, never below one.
        let (bytes, sent) = encode_append(&req, 1);
        assert_eq!(sent, 1);
        assert_eq!(decode_append(&bytes).unwrap().entries, req.entries[..1]);
        let two = encode_entry(&req.entries[0]).len() + encode_entry(&req.entries[1]).len() - 2;
        let (bytes, sent) = encode_append(&req, two);
        assert_eq!(sent, 2);
        assert_eq!(decode_append(&bytes).unwrap().entries, req.entries[..2]);
        let chunk = InstallSnapshotRequest::<TypeConfig> {
            vote: Vote::new(4, 9),
            meta: SnapshotMeta {
                last_log_id: Some(id(2, 9, 3)),
                last_membership: StoredMembership::default(),
                snapshot_id: "3-1".into(),
            },
            offset: 1 << 20,
            data: vec![0, 1, 2, 255],
            done: true,
        };
        let back = decode_snapshot(&encode_snapshot(&chunk)).unwrap();
        assert_eq!(back, chunk);
        assert!(decode_append(&encode_snapshot(&chunk)).is_err());
    }
}
