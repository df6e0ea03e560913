//! A full disk, for real: a node on a 16 MiB tmpfs (mounted by the test; it needs root, like the
//! fault schedule's network namespaces) writes until the filesystem is full. Writes then get 503 with
//! `Retry-After`, `/readyz` says why, nothing acknowledged is lost, and once space is freed the node
//! accepts writes again without a restart (docs/cluster.md §5, §6). redb and RocksDB latch the I/O error, so this
//! needs the single node's store to reopen itself (`doq_storage::Reopening`). sled is not run here: after
//! ENOSPC its flush never returns, so only the write timeout answers (503) and a restart is needed.
//! In a cluster, a follower whose disk fills (its Raft log writes fail, which openraft would make fatal)
//! falls behind and says why on `/readyz`; redb latches the error and a raft node does not reopen its
//! database in place, so once space is freed a restart brings it back, with every acknowledged write.
use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use doq_conformance::ops::{check_counts, create_delayed};
use serde_json::json;
use tracing::info;

use crate::{
    cluster::{args, leader_other_than, Three, CONVERGE},
    Doq,
};

/// A size-limited tmpfs at `dir`, unmounted on drop.
struct Tmpfs<'a>(&'a Path);

impl<'a> Tmpfs<'a> {
    fn mount(dir: &'a Path, size: &str) -> Self {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test mounts a tmpfs and needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(dir)
    }
}

impl Drop for Tmpfs<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0).status();
    }
}

async fn full_disk_recovers_without_restart(backend: &str) {
    crate::init_tracing();
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let _fs = Tmpfs::mount(&mnt, "16m");
    let filler = mnt.join("filler");
    std::fs::write(&filler, vec![0u8; 8 << 20]).unwrap();
    let data = mnt.join("data");
    let logs = tempfile::tempdir().unwrap();
    let doq = Doq::start(&data, logs.path(), &["--storage.backend", backend]).await;
    let c = doq.client();
    let q = "full-disk";
    create_delayed(&c, q, json!({})).await;
    info!(backend, "--- write 60 KB messages until the disk is full");
    let content = "x".repeat(60_000);
    let mut acked = 0u64;
    let refused = loop {
        let got = c
            .post(
                &format!("/API/v1/queues/{q}/messages"),
                &json!({"priority": 1, "content": content}),
            )
            .await;
        if got.0 != 200 {
            break got;
        }
        acked += 1;
        assert!(acked < 1000, "16 MiB never filled up:\n{}", doq.log());
    };
    assert!(acked > 0, "nothing fit:\n{}", doq.log());
    assert_eq!(refused.0, 503, "{refused:?}");
    assert_eq!(refused.1["code"], "storage_error", "{refused:?}");
    let ready = c.get("/readyz").await;
    assert_eq!(ready.0, 503, "{ready:?}");
    info!(acked, "--- free space: the next writes succeed, no restart");
    std::fs::remove_file(&filler).unwrap();
    for i in 0..3 {
        let got = c
            .post(
                &format!("/API/v1/queues/{q}/messages"),
                &json!({"priority": 1, "content": format!("after-{i}")}),
            )
            .await;
        assert_eq!(
            got.0,
            200,
            "write {i} after freeing space: {got:?}\n{}",
            doq.log()
        );
    }
    assert_eq!(c.get("/readyz").await.0, 200);
    check_counts(&c, q, acked + 3, 0).await;
    info!("--- and after a restart, every acknowledged write is there");
    drop(doq);
    let doq = Doq::start(&data, logs.path(), &["--storage.backend", backend]).await;
    check_counts(&doq.client(), q, acked + 3, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_recovers_without_restart_redb() {
    full_disk_recovers_without_restart("redb").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_recovers_without_restart_rocksdb() {
    full_disk_recovers_without_restart("rocksdb").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_raft_follower_whose_disk_fills_is_reported_and_catches_up_after_a_restart() {
    crate::init_tracing();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let small = tmp.path().join("small");
    std::fs::create_dir_all(&small).unwrap();
    let _fs = Tmpfs::mount(&small, "24m");
    let filler = small.join("filler");
    std::fs::write(&filler, vec![0u8; 12 << 20]).unwrap();
    // node-2's directory lives on the small filesystem.
    std::fs::create_dir_all(small.join("node-2")).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    std::os::unix::fs::symlink(small.join("node-2"), data.join("node-2")).unwrap();
    let Three {
        ports,
        mut nodes,
        clients,
    } = Three::start(&data, tmp.path()).await;
    let leader = leader_other_than(&clients[0], None).await;
    assert_ne!(leader, "node-2", "node-0 bootstraps and leads");
    let via = &clients[0];
    let q = "full-follower";
    create_delayed(via, q, json!({})).await;

    info!("--- write 60 KB messages through the leader until node-2's disk is full");
    let content = "x".repeat(60_000);
    let mut acked = 0u64;
    loop {
        let got = via
            .post(
                &format!("/API/v1/queues/{q}/messages"),
                &json!({"priority": 1, "content": content}),
            )
            .await;
        assert_eq!(got.0, 200, "node-0 and node-1 are a majority: {got:?}");
        acked += 1;
        let ready = clients[2].get("/readyz").await;
        if ready.0 == 503 && ready.1.to_string().contains("No space left on device") {
            info!(acked, ?ready, "node-2 reports its full disk");
            break;
        }
        assert!(
            acked < 600,
            "node-2's 12 MiB never filled up: {ready:?}\n{}",
            nodes[2].as_ref().unwrap().log()
        );
    }
    for _ in 0..5 {
        let got = via
            .post(
                &format!("/API/v1/queues/{q}/messages"),
                &json!({"priority": 1, "content": "while full"}),
            )
            .await;
        assert_eq!(got.0, 200, "{got:?}");
        acked += 1;
    }
    let log = nodes[2].as_ref().unwrap().log();
    assert!(
        log.contains("the Raft log failed"),
        "node-2's log does not say what failed:\n{log}"
    );

    info!("--- free space, stop node-2 (it must stop while its log retries), start it again");
    std::fs::remove_file(&filler).unwrap();
    let mut full = nodes[2].take().unwrap();
    full.signal("TERM");
    // It exits 1: its last flush fails on the latched error, which it says; nothing acknowledged
    // depends on that flush (the log on the other nodes, and the restart's replay, have it all).
    let status = full.wait_exit().await;
    info!(?status, "node-2 stopped");
    drop(full);
    let p = ports[2];
    nodes[2] = Some(Doq::spawn(&args(2, p, &data, Some(ports[0].http)), p.http, tmp.path()).await);
    let deadline = Instant::now() + CONVERGE;
    loop {
        let ready = clients[2].get("/readyz").await;
        if ready.0 == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node-2 is still not ready: {ready:?}\n{}",
            nodes[2].as_ref().unwrap().log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    check_counts(&clients[2], q, acked, 0).await;
    check_counts(via, q, acked, 0).await;
}
