//! A full disk, for real: a node on a 16 MiB tmpfs (mounted by the test; it needs root, like the
//! fault schedule's network namespaces) writes until the filesystem is full. Writes then get 503 with
//! `Retry-After`, `/readyz` says why, nothing acknowledged is lost, and once space is freed the node
//! accepts writes again without a restart (docs/cluster.md §5, §6). redb and RocksDB latch the I/O error, so this
//! needs the single node's store to reopen itself (`doq_storage::Reopening`). sled is not run here: after
//! ENOSPC its flush never returns, so only the write timeout answers (503) and a restart is needed.
use std::{path::Path, process::Command};

use doq_conformance::ops::{check_counts, create_delayed};
use serde_json::json;
use tracing::info;

use crate::Doq;

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
