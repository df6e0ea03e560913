//! Entry points for the fuzzers in `fuzz/` (hidden from the docs; always compiled, so a change to
//! the codec that breaks them fails the ordinary build): the decoders of bytes that cross the
//! node-to-node channel or come back from the Raft log. Each one decodes arbitrary bytes, which
//! must answer an error rather than panic, and checks that whatever decodes survives an
//! encode/decode round trip unchanged (a panic is how a fuzzer learns of a failure).
use openraft::raft::VoteRequest;

use crate::raft::{codec, network::MembershipChange, wire};

/// A log entry's payload: a batch of stamped commands, or one stamped command as entries were
/// written before they carried batches.
pub fn log_entry(bytes: &[u8]) {
    if let Ok(batch) = codec::decode_batch(bytes) {
        let again = codec::decode_batch(&codec::encode_batch(&batch));
        assert_eq!(again.as_ref(), Ok(&batch), "log entry round trip");
    }
}

/// The writes a follower forwards to the leader in one call.
pub fn forwarded_command(bytes: &[u8]) {
    if let Ok(commands) = codec::decode_commands(bytes) {
        let again = codec::decode_commands(&codec::encode_commands(&commands));
        assert_eq!(
            again.as_ref(),
            Ok(&commands),
            "forwarded commands round trip"
        );
    }
}

/// The outcomes sent back over a forwarding hop, one per command.
pub fn forwarded_outcome(bytes: &[u8]) {
    if let Ok(outcomes) = codec::decode_outcomes(bytes) {
        let again = codec::decode_outcomes(&codec::encode_outcomes(&outcomes));
        assert_eq!(
            again.as_ref(),
            Ok(&outcomes),
            "forwarded outcomes round trip"
        );
    }
    if let Ok(outcome) = codec::decode_outcome(bytes) {
        let again = codec::decode_outcome(&codec::encode_outcome(&outcome));
        assert_eq!(again.as_ref(), Ok(&outcome), "forwarded outcome round trip");
    }
}

/// A log entry as the log stores it and AppendEntries carries it (binary, or the JSON of an older
/// log).
pub fn stored_entry(bytes: &[u8]) {
    if let Ok(entry) = wire::decode_entry(bytes) {
        let again = wire::decode_entry(&wire::encode_entry(&entry)).map(|e| format!("{e:?}"));
        assert_eq!(again, Ok(format!("{entry:?}")), "stored entry round trip");
    }
}

/// The payloads of the cluster service's RPCs (cluster.proto): AppendEntries and InstallSnapshot in
/// `wire`'s binary layout, Vote and ChangeMembership as JSON. Whatever decodes must encode back to
/// the same value (AppendEntries with a budget that fits every entry).
pub fn cluster_rpc(bytes: &[u8]) {
    if let Ok(req) = wire::decode_append(bytes) {
        let (encoded, sent) = wire::encode_append(&req, usize::MAX);
        assert_eq!(sent, req.entries.len(), "append entries: every entry fits");
        let again = wire::decode_append(&encoded).map(|r| format!("{r:?}"));
        assert_eq!(again, Ok(format!("{req:?}")), "append entries round trip");
    }
    if let Ok(req) = wire::decode_snapshot(bytes) {
        let again = wire::decode_snapshot(&wire::encode_snapshot(&req)).map(|r| format!("{r:?}"));
        assert_eq!(again, Ok(format!("{req:?}")), "install snapshot round trip");
    }
    if let Ok(vote) = serde_json::from_slice::<VoteRequest<u64>>(bytes) {
        let again: Option<VoteRequest<u64>> = serde_json::to_vec(&vote)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        assert_eq!(
            format!("{again:?}"),
            format!("{:?}", Some(&vote)),
            "vote round trip"
        );
    }
    if let Ok(change) = serde_json::from_slice::<MembershipChange>(bytes) {
        let again: Option<MembershipChange> = serde_json::to_vec(&change)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        assert_eq!(
            format!("{again:?}"),
            format!("{:?}", Some(&change)),
            "membership change round trip"
        );
    }
}

/// Seed inputs for [`cluster_rpc`] and [`stored_entry`]: an AppendEntries request with a blank, a
/// normal and a membership entry, each of those entries alone, and an InstallSnapshot chunk.
pub fn cluster_seeds() -> Vec<Vec<u8>> {
    use std::collections::{BTreeMap, BTreeSet};

    use doq_api::{Command, Stamped, Timestamp};
    use openraft::{
        raft::{AppendEntriesRequest, InstallSnapshotRequest},
        CommittedLeaderId, Entry, EntryPayload, LogId, Membership, SnapshotMeta, StoredMembership,
        Vote,
    };

    use crate::raft::types::{DoqNode, Request, TypeConfig};

    let id = |term, node, index| LogId::new(CommittedLeaderId::new(term, node), index);
    let nodes = BTreeMap::from([(
        1,
        DoqNode {
            name: "node-1".into(),
            addr: "10.77.0.2:9000".into(),
        },
    )]);
    let entries: Vec<Entry<TypeConfig>> = vec![
        Entry {
            log_id: id(1, 1, 1),
            payload: EntryPayload::Blank,
        },
        Entry {
            log_id: id(1, 1, 2),
            payload: EntryPayload::Normal(Request(vec![Stamped {
                now: Timestamp(1_700_000_000_000),
                seed: 6,
                command: Command::ReserveIds { count: 2 },
            }])),
        },
        Entry {
            log_id: id(2, 1, 3),
            payload: EntryPayload::Membership(Membership::new(vec![BTreeSet::from([1])], nodes)),
        },
    ];
    let append = AppendEntriesRequest::<TypeConfig> {
        vote: Vote::new_committed(2, 1),
        prev_log_id: Some(id(1, 1, 1)),
        entries: entries.clone(),
        leader_commit: Some(id(1, 1, 2)),
    };
    let snapshot = InstallSnapshotRequest::<TypeConfig> {
        vote: Vote::new(2, 1),
        meta: SnapshotMeta {
            last_log_id: Some(id(2, 1, 3)),
            last_membership: StoredMembership::default(),
            snapshot_id: "2-1".into(),
        },
        offset: 0,
        data: vec![1, 2, 3],
        done: true,
    };
    let mut out = vec![
        wire::encode_append(&append, usize::MAX).0,
        wire::encode_snapshot(&snapshot),
    ];
    out.extend(entries.iter().map(wire::encode_entry));
    out
}

#[cfg(test)]
mod tests {
    use doq_api::{Command, QueueName, Reply, Stamped, Timestamp};

    use super::*;

    #[test]
    fn entry_points_accept_valid_and_garbage_bytes() {
        let command = Command::Dequeue {
            queue: QueueName::new("q").unwrap(),
            ack: false,
            max: 3,
        };
        let stamped = Stamped {
            now: Timestamp(5),
            seed: 7,
            command: command.clone(),
        };
        let outcome: doq_api::Result<Reply> = Err(doq_api::Error::Internal("x".into()));
        let inputs = [
            codec::encode_stamped(&stamped),
            codec::encode_batch(&[stamped.clone(), stamped]),
            codec::encode_commands(&[command]),
            codec::encode_outcomes(std::slice::from_ref(&outcome)),
            codec::encode_outcome(&outcome),
            vec![],
            vec![1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ];
        for bytes in inputs.iter().chain(&cluster_seeds()) {
            log_entry(bytes);
            forwarded_command(bytes);
            forwarded_outcome(bytes);
            stored_entry(bytes);
            cluster_rpc(bytes);
        }
        for json in [
            &br#"{"vote":{"leader_id":{"term":3,"node_id":1},"committed":false},"last_log_id":null}"#[..],
            br#"{"Add":{"name":"node-1","addr":"10.0.0.1:9000"}}"#,
            br#"{"Remove":{"name":"node-1"}}"#,
        ] {
            cluster_rpc(json);
        }
    }
}
