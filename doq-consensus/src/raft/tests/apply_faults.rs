//! A follower whose store fails its commits: its applies fail, which used to stop Raft on it for good.
//! Now it keeps following (votes, heartbeats, log appends), `readiness` says why it is not ready (the
//! failed commit, then the apply lag), and once the store works it applies everything and agrees with
//! the leader. (A full disk fails the Raft log's appends too: see `log_faults`.)
use doq_storage::CommitFault;

use super::*;
use crate::{readiness, MAX_APPLY_LAG};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_whose_applies_fail_reports_it_lags_and_catches_up() {
    let dirs: Vec<TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let clock = ManualClock::new(Timestamp(1_800_000_000_000));
    let ([n0, n1, n2], disk) = three_with_faulty_disk(2, &dirs, &clock).await;
    assert_eq!(readiness(&*n2.node, false), None);

    // n2's queue store refuses every commit (its Raft log still works): the others go on.
    for nth in 1..=10_000 {
        disk.fail_commit(nth, CommitFault::Before).unwrap();
    }
    let writes = MAX_APPLY_LAG + 100;
    for i in 0..writes {
        // One at a time, so each is a log entry of its own and n2's lag grows past the limit.
        n0.node
            .propose(enqueue(usize::try_from(i).unwrap()))
            .await
            .unwrap();
    }
    let why = readiness(&*n2.node, false).expect("n2 is not ready");
    assert!(why.contains("storage commit failed"), "{why}");
    assert!(why.contains("apply lag"), "{why}");
    assert_eq!(
        n2.node.status().role,
        Role::Follower,
        "Raft keeps running on n2"
    );
    assert_eq!(readiness(&*n1.node, false), None, "n1 is fine");

    // The store works again: n2 applies what it missed, with no restart, and agrees with the leader.
    disk.heal().unwrap();
    converge(&n0, &[&n1, &n2]).await;
    until_ready_is(&n2, "ready again", Option::is_none).await;
    assert_eq!(
        n2.node.view().stats(&queue(), 10).await.unwrap().total,
        writes
    );
    n0.stop().await;
    n1.stop().await;
    n2.stop().await;
}
