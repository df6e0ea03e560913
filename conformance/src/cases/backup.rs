//! Backups and restores (docs/backup.md §8): the full round trip, incrementals with tombstones and the chain
//! rules, restoring into another backend, and bad input that must change nothing.
use std::time::Duration;

use doq_storage::backup::{
    format::{Header, Kind, MessageRecord, QueueRecord},
    restore::verify,
    Writer, MAGIC,
};
use serde_json::{json, Value};
use tracing::info;

use crate::{
    check::{check, check_status, fail},
    ops::{
        ack_ok, create, create_delayed, dequeue, drain, enqueue, queue, restorable_queues as queues,
    },
    Backend, Client, Harness,
};

/// A backup as the wire gave it.
struct Taken {
    bytes: Vec<u8>,
    last_version: u64,
    cluster_id: String,
}

/// `GET /db/backup[?since=N]`; asserts 200, the headers of docs/backup.md §8.1 and a verifiable stream.
async fn take(c: &Client, since: u64) -> Taken {
    let path = if since == 0 {
        "/db/backup".to_string()
    } else {
        format!("/db/backup?since={since}")
    };
    let (status, headers, bytes) = c.get_bytes(&path).await;
    if status != 200 {
        fail(format!(
            "{path}: status {status}: {}",
            String::from_utf8_lossy(&bytes)
        ));
    }
    let header = |k: &str| headers.get(k).cloned().unwrap_or_default();
    assert_eq!(header("content-type"), "application/octet-stream");
    assert_eq!(header("x-doq-backup-format"), "1");
    let cluster_id = header("x-doq-cluster-id");
    assert!(!cluster_id.is_empty(), "X-Doq-Cluster-Id is missing");
    let last_version: u64 = header("x-last-version")
        .parse()
        .unwrap_or_else(|_| fail(format!("X-Last-Version: {headers:?}")));
    assert!(bytes.starts_with(MAGIC), "the stream starts with the magic");
    let (h, _) = verify(bytes.as_slice(), None).unwrap_or_else(|e| fail(format!("{path}: {e}")));
    assert_eq!((h.since, h.last_version), (since, last_version));
    assert_eq!(h.cluster_id, cluster_id);
    Taken {
        bytes,
        last_version,
        cluster_id,
    }
}

/// `POST /db/restore[?mode=…]` with a raw body.
async fn restore(c: &Client, bytes: &[u8], mode: Option<&str>) -> (u16, Value) {
    let path = mode.map_or_else(
        || "/db/restore".to_string(),
        |m| format!("/db/restore?mode={m}"),
    );
    c.post_bytes(&path, bytes.to_vec(), "application/octet-stream")
        .await
}

/// Asserts a successful restore's answer.
fn check_restored(got: &(u16, Value), queues: u64, messages: u64, last_version: u64) {
    check(
        got,
        200,
        &json!({"status": "SUCCEDED", "queues": queues, "messages": messages, "last_version": last_version}),
    );
}

/// Asserts a restore refused with 400 `backup_invalid` whose message contains `needle`.
fn check_invalid(got: &(u16, Value), needle: &str) {
    let body = check_status(got, 400);
    assert_eq!(body["code"], "backup_invalid", "{body}");
    assert_eq!(body["detail"], "Failed to restore database", "{body}");
    let msg = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(msg.contains(needle), "expected {needle:?} in {msg:?}");
}

/// A little of everything a backup holds: a delayed queue with metadata and a live lease, a
/// round-robin queue with groups, and a dead-letter pair.
async fn populate(c: &Client, p: &str) {
    create_delayed(c, &format!("{p}-dlq"), json!({})).await;
    create_delayed(
        c,
        &format!("{p}-jobs"),
        json!({"ack_timeout": 60, "max_deliveries": 3, "dead_letter_queue": format!("{p}-dlq")}),
    )
    .await;
    create(
        c,
        &format!("{p}-fair"),
        "fair",
        json!({"strategy": "round_robin", "max_unacked": 2}),
    )
    .await;
    for i in 0..5 {
        enqueue(
            c,
            &format!("{p}-jobs"),
            json!({"priority": 10 + (i % 3), "content": format!("job-{i}"), "metadata": {"n": i.to_string()}}),
            "default",
        )
        .await;
    }
    for (i, g) in ["a", "b", "a.x", "b", "c"].iter().enumerate() {
        enqueue(
            c,
            &format!("{p}-fair"),
            json!({"group": g, "priority": 10, "content": format!("fair-{i}")}),
            g,
        )
        .await;
    }
    enqueue(
        c,
        &format!("{p}-dlq"),
        json!({"priority": 7, "content": "dead"}),
        "default",
    )
    .await;
    // One live lease: restored messages come back ready, keeping their deliveries.
    check_status(&dequeue(c, &format!("{p}-jobs"), false).await, 200);
}

/// A full backup restores the state it was taken at: after more writes and a queue deletion,
/// `mode=replace` brings back exactly the backed-up queues and messages. Corrupt or truncated
/// uploads are refused and change nothing.
pub async fn backup_full(h: &Harness) {
    let c = h.client();
    info!("--- populate and back up");
    populate(&c, "bf").await;
    let full = take(&c, 0).await;
    let at_backup = queues(&c).await;

    info!("--- change things, then refuse bad uploads without changing anything");
    check(
        &c.delete(&queue("bf-fair")).await,
        200,
        &json!({"status": "DELETED"}),
    );
    create_delayed(&c, "bf-extra", json!({})).await;
    enqueue(
        &c,
        "bf-extra",
        json!({"priority": 1, "content": "x"}),
        "default",
    )
    .await;
    let changed = queues(&c).await;
    let truncated = &full.bytes[..full.bytes.len() - 3];
    check_invalid(&restore(&c, truncated, None).await, "truncated");
    let mut flipped = full.bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    check_invalid(&restore(&c, &flipped, None).await, "");
    check_invalid(&restore(&c, b"not a backup at all", None).await, "magic");
    let future = Writer::new(
        Vec::new(),
        Header {
            format_version: 2,
            ..Header::default()
        },
    )
    .and_then(Writer::finish)
    .unwrap_or_else(|e| fail(e));
    check_invalid(
        &restore(&c, &future, None).await,
        "unsupported format version 2",
    );
    let bad_mode = restore(&c, &full.bytes, Some("sideways")).await;
    assert_eq!(bad_mode.0, 422, "{bad_mode:?}");
    assert_eq!(
        queues(&c).await,
        changed,
        "a refused restore changed nothing"
    );

    info!("--- since: query and body must agree; the future is 422");
    for body in [json!({}), json!({"since": 0})] {
        let (status, _, bytes) = c.get_bytes("/db/backup").await;
        assert_eq!(status, 200);
        let got = c.post("/db/backup", &body).await;
        assert_eq!(got.0, 200, "POST {body}");
        assert!(bytes.starts_with(MAGIC));
    }
    let got = c.post("/db/backup?since=2", &json!({"since": 3})).await;
    assert_eq!(got.0, 422, "{got:?}");
    let got = c
        .get(&format!("/db/backup?since={}", full.last_version + 100))
        .await;
    check_status(&got, 422);
    assert_eq!(got.1["errors"][0]["message"], "since is in the future");

    info!("--- replace restores the backed-up state exactly");
    let got = restore(&c, &full.bytes, Some("replace")).await;
    check_restored(&got, 3, 11, full.last_version);
    let mut want = at_backup;
    // The lease is not kept: the leased job is ready again.
    for q in want.as_array_mut().into_iter().flatten() {
        if q["name"] == "bf-jobs" {
            q["ready"] = json!(5);
            q["unacked"] = json!(0);
        }
    }
    assert_eq!(queues(&c).await, want);
    info!("--- DOQ's multipart form (field `file`) restores the same backup");
    let mut form = b"--doqform\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n".to_vec();
    form.extend_from_slice(&full.bytes);
    form.extend_from_slice(b"\r\n--doqform--\r\n");
    let got = c
        .post_bytes("/db/restore", form, "multipart/form-data; boundary=doqform")
        .await;
    check_restored(&got, 3, 11, full.last_version);
    let got = c
        .post_bytes("/db/restore", b"{}".to_vec(), "application/json")
        .await;
    assert_eq!(got.0, 415, "{got:?}");
    info!("--- the same full restore again is idempotent");
    check_restored(
        &restore(&c, &full.bytes, None).await,
        3,
        11,
        full.last_version,
    );
    assert_eq!(queues(&c).await, want);
    let deliveries: Vec<u64> = drain(&c).await[3]["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["deliveries"].as_u64())
        .collect();
    // Queues drain in name order (bf-dlq, bf-fair, bf-jobs). The leased job kept its delivery, so this
    // is its second.
    assert_eq!(deliveries, vec![2, 1, 1, 1, 1]);
}

/// An incremental holds exactly the changes since a version, deletions included, and a full backup plus
/// its incremental rebuild the source's state elsewhere. The chain rules refuse repeats, strangers and
/// `mode=replace`.
pub async fn backup_incremental(h: &Harness) {
    let c = h.client();
    info!("--- full backup, then changes");
    populate(&c, "bi").await;
    let full = take(&c, 0).await;
    let empty = take(&c, full.last_version + 1).await;
    let (empty_header, records) = verify(empty.bytes.as_slice(), None).unwrap_or_else(|e| fail(e));
    assert_eq!((records, empty_header.last_version), (0, full.last_version));

    let (_, head) = dequeue(&c, "bi-dlq", true).await; // an ack=true dequeue deletes
    assert_eq!(head["content"], "dead");
    let jobs = check_status(&dequeue(&c, "bi-jobs", false).await, 200);
    ack_ok(&c, "bi-jobs", jobs["id"].as_str().unwrap_or_default()).await;
    check(
        &c.delete(&queue("bi-fair")).await,
        200,
        &json!({"status": "DELETED"}),
    );
    create_delayed(&c, "bi-new", json!({})).await;
    enqueue(
        &c,
        "bi-new",
        json!({"priority": 3, "content": "fresh", "metadata": {"k": "v"}}),
        "default",
    )
    .await;
    let inc = take(&c, full.last_version + 1).await;
    assert_eq!(inc.cluster_id, full.cluster_id);
    assert!(inc.last_version > full.last_version);

    info!("--- restore the chain into a fresh node of the same backend");
    let target = Harness::start(h.backend(), h.mode()).await;
    let t = target.client();
    check_invalid(&restore(&t, &inc.bytes, None).await, "cluster mismatch");
    check_restored(
        &restore(&t, &full.bytes, None).await,
        3,
        11,
        full.last_version,
    );
    check_invalid(
        &restore(&t, &inc.bytes, Some("replace")).await,
        "mode=replace",
    );
    // An incremental with no records continues the chain and changes nothing.
    check_restored(
        &restore(&t, &empty.bytes, None).await,
        0,
        0,
        full.last_version,
    );
    check_restored(&restore(&t, &inc.bytes, None).await, 1, 1, inc.last_version);
    check_invalid(&restore(&t, &inc.bytes, None).await, "out of order");
    check_invalid(&restore(&t, &empty.bytes, None).await, "out of order");

    info!("--- same observable state (leases expire on the source first)");
    h.advance(Duration::from_secs(61));
    target.advance(Duration::from_secs(61));
    let want = drain(&c).await;
    assert_eq!(drain(&t).await, want);
    target.stop().await;
}

/// The backend a row restores into: the next one in the registry (the last wraps to the first), so the
/// rows cover every backend as a target.
fn other(b: Backend) -> Backend {
    let all: Vec<Backend> = Backend::all().collect();
    let at = all.iter().position(|x| *x == b).unwrap_or(0);
    all.get((at + 1) % all.len()).copied().unwrap_or(b)
}

/// A backup from this row's backend restores into another backend with the same observable state.
pub async fn restore_cross_backend(h: &Harness) {
    let c = h.client();
    populate(&c, "xb").await;
    let full = take(&c, 0).await;
    let target = Harness::start(other(h.backend()), h.mode()).await;
    info!(
        target = target.backend().name(),
        "--- restore into another backend"
    );
    let t = target.client();
    check_restored(
        &restore(&t, &full.bytes, None).await,
        3,
        11,
        full.last_version,
    );
    if target.durable() {
        target.restart().await;
    }
    h.advance(Duration::from_secs(61));
    target.advance(Duration::from_secs(61));
    let want = drain(&c).await;
    assert_eq!(drain(&t).await, want);
    target.stop().await;
}

/// A one-queue, one-message backup whose message has this group, content and metadata.
fn crafted(group: &str, content: String, metadata: &[(String, String)]) -> Vec<u8> {
    let header = Header {
        format_version: 1,
        cluster_id: "crafted".into(),
        last_version: 5,
        producer: "a test".into(),
        ..Header::default()
    };
    let mut w = Writer::new(Vec::new(), header).unwrap_or_else(|e| fail(e));
    w.write(Kind::Queue(QueueRecord {
        name: "rv-crafted".into(),
        r#type: "fair".into(),
        strategy: "ROUND_ROBIN".into(),
        ack_timeout: 60,
        version: 1,
        created_version: 1,
        ..QueueRecord::default()
    }))
    .unwrap_or_else(|e| fail(e));
    w.write(Kind::Message(MessageRecord {
        queue: "rv-crafted".into(),
        id: 1,
        group: group.into(),
        priority: 1,
        content,
        metadata: metadata.iter().cloned().collect(),
        deliveries: 0,
        version: 2,
    }))
    .unwrap_or_else(|e| fail(e));
    w.finish().unwrap_or_else(|e| fail(e))
}

/// A restore checks every record with the API's own limits (docs/backup.md §8.3): a huge or very deep group,
/// oversize content or metadata is refused as `backup_invalid` naming the record, nothing is applied,
/// and the node keeps serving. (Before, such a record was committed and could exhaust every replica's
/// memory or stack, again after each restart.)
pub async fn restore_refuses_what_the_api_refuses(h: &Harness) {
    let c = h.client();
    create_delayed(&c, "rv-q", json!({})).await;
    enqueue(
        &c,
        "rv-q",
        json!({"priority": 1, "content": "kept"}),
        "default",
    )
    .await;
    let before = queues(&c).await;
    info!("--- a valid crafted backup restores");
    let fine = crafted("a.b", "ok".into(), &[("k".into(), "v".into())]);
    check_restored(&restore(&c, &fine, None).await, 1, 1, 5);
    check_status(&c.delete("/API/v1/queues/rv-crafted").await, 200);
    assert_eq!(queues(&c).await, before);
    let many: Vec<(String, String)> = (0..65).map(|i| (format!("k{i}"), String::new())).collect();
    let cases = [
        (
            "a huge group",
            crafted(&"g".repeat(64 << 10), String::new(), &[]),
        ),
        (
            "a deep group",
            crafted(&"a.".repeat(20_000), String::new(), &[]),
        ),
        (
            "oversize content",
            crafted("g", "c".repeat((1 << 20) + 1), &[]),
        ),
        (
            "too many metadata entries",
            crafted("g", String::new(), &many),
        ),
        (
            "oversize metadata",
            crafted("g", String::new(), &[("k".into(), "v".repeat(16 << 10))]),
        ),
    ];
    for (what, bytes) in cases {
        info!(
            what,
            "--- a backup with {what} is refused and changes nothing"
        );
        check_invalid(&restore(&c, &bytes, None).await, "record 2");
        check_invalid(&restore(&c, &bytes, Some("replace")).await, "record 2");
        assert_eq!(queues(&c).await, before, "{what}");
    }
    info!("--- the node still serves writes and reads");
    enqueue(
        &c,
        "rv-q",
        json!({"priority": 2, "content": "after"}),
        "default",
    )
    .await;
    check_status(&dequeue(&c, "rv-q", true).await, 200);
}
