//! A node whose disk fills up fails its Raft log writes too, which openraft treats as fatal: Raft used to
//! stop on that node for good, until a restart. Now the log adapter retries each call until the store
//! works, `readiness` says why meanwhile, and once space is back the node catches up by itself: as a
//! follower, and as a leader that the others replaced while it waited for its disk.
use super::*;

fn log_failing(verdict: &Option<String>) -> bool {
    verdict
        .as_deref()
        .is_some_and(|why| why.contains("Raft log cannot be written"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_whose_disk_fills_keeps_its_raft_and_catches_up_once_space_is_back() {
    let dirs: Vec<TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let clock = ManualClock::new(Timestamp(1_800_000_000_000));
    let ([n0, n1, n2], disk) = three_with_faulty_disk(2, &dirs, &clock).await;

    // n2's disk is full: its log appends and its commits fail. n0 and n1 are a majority and go on.
    disk.fill_disk(true);
    let writes = 50;
    for i in 0..writes {
        n0.node.propose(enqueue(i)).await.unwrap();
    }
    until_ready_is(&n2, "the failing log reported", log_failing).await;
    assert_ne!(
        n2.node.status().role,
        Role::Shutdown,
        "Raft keeps running on n2"
    );

    // Space is back: n2 writes its log, applies, and agrees with the leader, without a restart.
    disk.fill_disk(false);
    converge(&n0, &[&n1, &n2]).await;
    until_ready_is(&n2, "ready again", Option::is_none).await;
    assert_eq!(
        n2.node.view().stats(&queue(), 10).await.unwrap().total,
        u64::try_from(writes).unwrap()
    );
    n0.stop().await;
    n1.stop().await;
    n2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_whose_disk_fills_is_replaced_and_follows_once_space_is_back() {
    let dirs: Vec<TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let clock = ManualClock::new(Timestamp(1_800_000_000_000));
    let ([n0, n1, n2], disk) = three_with_faulty_disk(0, &dirs, &clock).await;

    // The leader's disk fills while it appends a write: its Raft waits for the disk, so n1 and n2 hear
    // no heartbeat and elect one of themselves. The stuck write's outcome is for the client to learn.
    disk.fill_disk(true);
    let stuck = {
        let node = n0.node.clone();
        tokio::spawn(async move { node.propose(enqueue(0)).await })
    };
    until_ready_is(&n0, "the failing log reported", log_failing).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let leader = loop {
        let l = [&n1, &n2]
            .into_iter()
            .find(|n| n.node.status().role == Role::Leader);
        if let Some(l) = l {
            break l;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "n1 and n2 elected no leader"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for i in 1..=20 {
        leader.node.propose(enqueue(i)).await.unwrap();
    }

    // Space is back: n0 finishes its append, learns the new term, and follows, without a restart.
    disk.fill_disk(false);
    let _ = stuck.await.unwrap();
    leader.node.propose(enqueue(21)).await.unwrap();
    converge(leader, &[&n0, &n1, &n2]).await;
    until_ready_is(&n0, "ready again", Option::is_none).await;
    assert_eq!(n0.node.status().role, Role::Follower);
    n0.stop().await;
    n1.stop().await;
    n2.stop().await;
}
