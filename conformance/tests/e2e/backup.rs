//! Backups across processes and backends (docs/backup.md §8, §13 vector 11): a full and an incremental backup
//! of a RocksDB node taken with `doq backup`, restored offline into sled with `doq restore` and online
//! into a redb node with `POST /db/restore`; all three show the same queues, settings and messages in
//! dequeue order. Bad input to the offline restore exits 1 with one line and leaves the directory empty.
use std::{path::Path, process::Output, time::Duration};

use doq_conformance::{
    check::check_status,
    ops::{ack_ok, create, create_delayed, dequeue, drain, enqueue, queue},
    Client,
};
use serde_json::json;
use tracing::info;

use crate::Doq;

/// Runs the binary with `args`; bounded, killed if it overruns.
async fn run(args: &[&str]) -> Output {
    let child = tokio::process::Command::from(crate::command())
        .args(args)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), child)
        .await
        .unwrap_or_else(|_| panic!("doq {args:?} did not finish"))
        .expect("run doq")
}

/// `doq backup`; asserts exit 0 and returns the `last_version=` it printed.
async fn backup(c: &Client, out: &Path, since: u64) -> u64 {
    let since = since.to_string();
    let got = run(&[
        "backup",
        "--addr",
        &c.base(),
        "--since",
        &since,
        "-o",
        &out.display().to_string(),
    ])
    .await;
    let stderr = String::from_utf8_lossy(&got.stderr).into_owned();
    assert_eq!(got.status.code(), Some(0), "doq backup: {stderr}");
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("last_version="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no last_version= in {stderr:?}"))
}

async fn populate(c: &Client) {
    create_delayed(c, "e2e-dlq", json!({})).await;
    create_delayed(
        c,
        "e2e-jobs",
        json!({"ack_timeout": 120, "max_deliveries": 4, "dead_letter_queue": "e2e-dlq"}),
    )
    .await;
    create(
        c,
        "e2e-fair",
        "fair",
        json!({"strategy": "round_robin", "max_unacked": 3}),
    )
    .await;
    create_delayed(c, "e2e-gone", json!({})).await;
    for i in 0..40u64 {
        enqueue(
            c,
            "e2e-jobs",
            json!({"priority": 10 + i % 4, "content": format!("job-{i}"), "metadata": {"i": i.to_string()}}),
            "default",
        )
        .await;
    }
    for (i, g) in ["u1", "u2", "u1.a", "u3", "u2", "u1"].iter().enumerate() {
        enqueue(
            c,
            "e2e-fair",
            json!({"group": g, "priority": 5, "content": format!("f-{i}")}),
            g,
        )
        .await;
    }
    enqueue(
        c,
        "e2e-gone",
        json!({"priority": 1, "content": "bye"}),
        "default",
    )
    .await;
}

/// After the full backup: an ack, a delete, a nack with new metadata, a priority change, a queue
/// deletion and a new queue, so the incremental carries records and tombstones of every kind.
async fn change(c: &Client) {
    let leased = check_status(&dequeue(c, "e2e-jobs", false).await, 200);
    ack_ok(c, "e2e-jobs", leased["id"].as_str().unwrap_or_default()).await;
    let leased = check_status(&dequeue(c, "e2e-jobs", false).await, 200);
    let id = leased["id"].as_str().unwrap_or_default().to_string();
    let nacked = c
        .post(
            &format!("/API/v1/queues/e2e-jobs/messages/{id}/nack"),
            &json!({"priority": 30, "metadata": {"retry": "1"}}),
        )
        .await;
    check_status(&nacked, 200);
    let (status, _) = dequeue(c, "e2e-jobs", true).await;
    assert_eq!(status, 200);
    check_status(&c.delete(&queue("e2e-gone")).await, 200);
    create_delayed(c, "e2e-new", json!({"ack_timeout": 90})).await;
    enqueue(
        c,
        "e2e-new",
        json!({"priority": 2, "content": "late", "metadata": {"k": "v"}}),
        "default",
    )
    .await;
}

#[tokio::test]
async fn rocksdb_backup_restores_into_sled_offline_and_redb_online() {
    crate::init_tracing();
    let tmp = tempfile::tempdir().unwrap();
    let (src_dir, sled_dir, redb_dir) = (
        tmp.path().join("src"),
        tmp.path().join("sled"),
        tmp.path().join("redb"),
    );
    let (full, inc) = (tmp.path().join("full.bin"), tmp.path().join("inc.bin"));

    info!("--- a rocksdb source: full backup, changes, incremental");
    let src = Doq::start(&src_dir, tmp.path(), &["--storage.backend", "rocksdb"]).await;
    let c = src.client();
    populate(&c).await;
    let v1 = backup(&c, &full, 0).await;
    change(&c).await;
    let v2 = backup(&c, &inc, v1 + 1).await;
    assert!(v2 > v1);

    info!("--- offline restore into sled, and refusals that leave the directory empty");
    let sled = |extra: &[&str]| {
        // The sub-command's own flags first; the settings trail.
        let mut args = vec!["restore"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--storage.backend", "sled"]);
        args.iter().map(|s| (*s).to_string()).collect::<Vec<_>>()
    };
    let full_s = full.display().to_string();
    let inc_s = inc.display().to_string();
    let sled_s = sled_dir.display().to_string();
    let src_s = src_dir.display().to_string();
    let refuse = |out: &Output, needle: &str| {
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(needle), "expected {needle:?} in {stderr:?}");
    };
    // The incremental twice: out of order, checked before anything is written.
    let twice = sled(&[
        "-f",
        &full_s,
        "-i",
        &inc_s,
        "-i",
        &inc_s,
        "--storage.data_dir",
        &sled_s,
    ]);
    refuse(
        &run(&twice.iter().map(String::as_str).collect::<Vec<_>>()).await,
        "out of order",
    );
    // The incremental as the full backup.
    let swapped = sled(&["-f", &inc_s, "--storage.data_dir", &sled_s]);
    refuse(
        &run(&swapped.iter().map(String::as_str).collect::<Vec<_>>()).await,
        "since",
    );
    // A truncated file.
    let cut = tmp.path().join("cut.bin");
    let bytes = std::fs::read(&full).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let cut_s = cut.display().to_string();
    let truncated = sled(&["-f", &cut_s, "--storage.data_dir", &sled_s]);
    refuse(
        &run(&truncated.iter().map(String::as_str).collect::<Vec<_>>()).await,
        "truncated",
    );
    let node_dir = sled_dir.join("node-0");
    assert!(
        !node_dir.exists() || std::fs::read_dir(&node_dir).unwrap().next().is_none(),
        "a refused restore leaves the node directory empty"
    );
    // Into the running source's directory.
    let busy = sled(&["-f", &full_s, "--force", "--storage.data_dir", &src_s]);
    refuse(
        &run(&busy.iter().map(String::as_str).collect::<Vec<_>>()).await,
        "running server",
    );
    let ok = sled(&["-f", &full_s, "-i", &inc_s, "--storage.data_dir", &sled_s]);
    let out = run(&ok.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sled_node = Doq::start(&sled_dir, tmp.path(), &["--storage.backend", "sled"]).await;

    info!("--- online restore into a redb node");
    let redb_node = Doq::start(&redb_dir, tmp.path(), &["--storage.backend", "redb"]).await;
    let r = redb_node.client();
    for (file, last) in [(&full, v1), (&inc, v2)] {
        let got = r
            .post_bytes(
                "/db/restore",
                std::fs::read(file).unwrap(),
                "application/octet-stream",
            )
            .await;
        assert_eq!(got.0, 200, "{got:?}");
        assert_eq!(got.1["last_version"], json!(last));
    }

    info!("--- the same observable state everywhere");
    let want = drain(&c).await;
    assert_eq!(
        drain(&sled_node.client()).await,
        want,
        "sled (offline) differs"
    );
    assert_eq!(drain(&r).await, want, "redb (online) differs");
    src.stop().await;
    sled_node.stop().await;
    redb_node.stop().await;
}
