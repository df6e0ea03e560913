//! Raft nodes in one process over real loopback gRPC: openraft's storage suite on our adapters, then a
//! three-node cluster (join, forwarding, secret, failover, restart, snapshot install by a late joiner).
// A follower whose store fails: reported, caught up once it works (no Raft stop).
mod apply_faults;
// Forwarding across leader changes (retry of unsent writes, unknown outcomes).
mod forwarding;
// A full disk under the Raft log, of a follower and of the leader: retried, reported, caught up.
mod log_faults;

use std::{path::Path, sync::Arc, time::Duration};

use doq_api::{
    Body, Command, Group, ManualClock, Metadata, NewMessage, Priority, QueueKind, QueueName,
    QueueSettings, Reply, Timestamp,
};
use doq_storage::StoreOptions;
use tempfile::TempDir;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tokio_stream::wrappers::TcpListenerStream;

use super::*;

const WAIT: Duration = Duration::from_secs(20);

fn stores(dir: &Path, sync: bool) -> Stores {
    doq_storage::open_stores(
        "redb",
        dir,
        &StoreOptions {
            sync,
            cache_bytes: 1 << 20,
            ..Default::default()
        },
    )
    .unwrap()
}

struct SuiteBuilder;

impl openraft::testing::StoreBuilder<TypeConfig, LogAdapter, StateMachine, TempDir>
    for SuiteBuilder
{
    async fn build(
        &self,
    ) -> std::result::Result<(TempDir, LogAdapter, StateMachine), openraft::StorageError<u64>> {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp(0)));
        let (_, log, sm) = recover(stores(dir.path(), true), clock, false)
            .await
            .unwrap();
        Ok((dir, log, sm))
    }
}

#[test]
fn a_follower_stands_between_t_and_one_and_a_half_t_after_the_last_heartbeat() {
    // openraft waits a lease of `max`, then its own timeout in [min, max).
    for (t, heartbeat) in [(1000, 200), (500, 50), (300, 200), (10_000, 200)] {
        let (min, max) = election_timeouts(t, heartbeat);
        assert!(min > heartbeat && max > min, "{t} {heartbeat}: {min} {max}");
        assert!(
            max + min >= t,
            "stands before t: {t} {heartbeat}: {min} {max}"
        );
    }
    assert_eq!(election_timeouts(1000, 200), (250, 750));
    assert_eq!(election_timeouts(500, 50), (125, 375));
}

#[test]
fn openraft_storage_suite_passes_on_redb() {
    openraft::testing::Suite::test_all(SuiteBuilder).unwrap();
}

struct TestNode {
    node: Arc<RaftNode>,
    name: String,
    addr: String,
    stop: Option<oneshot::Sender<()>>,
    serving: Option<JoinHandle<()>>,
}

impl TestNode {
    async fn start(name: &str, dir: &Path, addr: Option<&str>, clock: &ManualClock) -> Self {
        Self::start_with(name, dir, addr, clock, 20).await
    }

    /// [`TestNode::start`] with `snapshot_threshold` entries between snapshots.
    async fn start_with(
        name: &str,
        dir: &Path,
        addr: Option<&str>,
        clock: &ManualClock,
        snapshot_threshold: u64,
    ) -> Self {
        Self::start_on_with(name, stores(dir, false), addr, clock, snapshot_threshold).await
    }

    /// A node over `stores` (a `FaultyStore`, say) instead of redb in a directory.
    async fn start_on(name: &str, stores: Stores, addr: Option<&str>, clock: &ManualClock) -> Self {
        Self::start_on_with(name, stores, addr, clock, 20).await
    }

    async fn start_on_with(
        name: &str,
        stores: Stores,
        addr: Option<&str>,
        clock: &ManualClock,
        snapshot_threshold: u64,
    ) -> Self {
        let listener = TcpListener::bind(addr.unwrap_or("127.0.0.1:0"))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let options = RaftOptions {
            node_id: name.into(),
            advertise_addr: addr.clone(),
            heartbeat_ms: 50,
            election_timeout_ms: 500,
            // Generous: under the whole suite's load a debug build writes the multi-MiB entries of the
            // lagging-follower case slowly, and no case waits for this timeout to expire.
            apply_timeout: Duration::from_secs(30),
            snapshot_threshold,
            secret: "s3cret".into(),
            tls: None,
            // As the server runs a cluster: no per-write sync, the log flushed instead.
            flush_log: true,
        };
        let node = Arc::new(
            RaftNode::open(stores, Arc::new(clock.clone()), options)
                .await
                .unwrap(),
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let service = node.service();
        let serving = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                    let _ = stopped.await;
                })
                .await;
        });
        Self {
            node,
            name: name.into(),
            addr,
            stop: Some(stop),
            serving: Some(serving),
        }
    }

    fn info(&self) -> NodeInfo {
        NodeInfo {
            id: self.name.clone(),
            addr: self.addr.clone(),
        }
    }

    async fn stop(mut self) {
        self.node.shutdown().await.unwrap();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(serving) = self.serving.take() {
            let _ = serving.await;
        }
    }

    fn applied(&self) -> u64 {
        self.node.status().last_applied
    }
}

fn queue() -> QueueName {
    QueueName::new("jobs").unwrap()
}

/// Creates delayed queue `name` (a 60 s ack timeout, no other settings).
fn create_delayed(name: QueueName) -> Command {
    Command::CreateQueue {
        name,
        kind: QueueKind::Delayed,
        settings: QueueSettings {
            strategy: None,
            max_unacked: 0,
            ack_timeout: 60,
            max_deliveries: 0,
            dead_letter: None,
        },
    }
}

fn enqueue(n: usize) -> Command {
    Command::Enqueue {
        queue: queue(),
        items: vec![NewMessage {
            id: None,
            group: Group::new("default"),
            priority: Priority(1),
            body: Body {
                content: format!("m{n}"),
                metadata: Metadata::new(),
            },
        }],
    }
}

/// Three voters with delayed queue `jobs`, converged: n0 bootstraps and leads; node `faulty` (0 or 2) runs
/// over `disk`, the others over redb in `dirs` (two of them). The returned disk lets the test fail it.
async fn three_with_faulty_disk(
    faulty: usize,
    dirs: &[TempDir],
    clock: &ManualClock,
) -> (
    [TestNode; 3],
    Arc<doq_storage::FaultyStore<doq_storage::MemoryStore>>,
) {
    let disk = Arc::new(doq_storage::FaultyStore::new(
        doq_storage::MemoryStore::new(),
    ));
    let mut redb = dirs.iter();
    let mut start = |i: usize| {
        let name = format!("n{i}");
        let disk = disk.clone();
        let dir = (i != faulty).then(|| redb.next().expect("two dirs").path().to_owned());
        let clock = clock.clone();
        async move {
            match dir {
                Some(dir) => TestNode::start(&name, &dir, None, &clock).await,
                None => TestNode::start_on(&name, Stores::shared(disk), None, &clock).await,
            }
        }
    };
    let n0 = start(0).await;
    n0.node.bootstrap().await.unwrap();
    n0.node.wait_for_leader(WAIT, true).await.unwrap();
    let n1 = start(1).await;
    let n2 = start(2).await;
    n0.node.add_node(n1.info()).await.unwrap();
    n0.node.add_node(n2.info()).await.unwrap();
    n2.node.wait_voter(WAIT).await.unwrap();
    n0.node.propose(create_delayed(queue())).await.unwrap();
    converge(&n0, &[&n1, &n2]).await;
    ([n0, n1, n2], disk)
}

/// Waits until `node`'s readiness verdict satisfies `ok`, or fails with the last verdict.
async fn until_ready_is(node: &TestNode, what: &str, ok: impl Fn(&Option<String>) -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let verdict = crate::readiness(&*node.node, false);
        if ok(&verdict) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}: waiting for {what}, readiness says {verdict:?}",
            node.name
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every node has applied what `leader` has, then checks they agree on the digest and on the
/// cluster id (which backups carry, so an incremental from any node continues a full one from another).
async fn converge(leader: &TestNode, nodes: &[&TestNode]) -> u64 {
    converge_within(leader, nodes, WAIT).await
}

/// [`converge`], waiting up to `wait` for each node to catch up.
async fn converge_within(leader: &TestNode, nodes: &[&TestNode], wait: Duration) -> u64 {
    let target = leader.applied();
    let digest = leader.node.view().digest().unwrap();
    let cluster_id = doq_storage::cluster_id(&*leader.node.view().store()).unwrap();
    assert!(
        cluster_id.is_some(),
        "the first command sets the cluster id"
    );
    for n in nodes {
        n.node.wait_applied(target, wait).await.unwrap();
        assert_eq!(
            n.node.view().digest().unwrap(),
            digest,
            "{} diverged",
            n.name
        );
        assert_eq!(
            doq_storage::cluster_id(&*n.node.view().store()).unwrap(),
            cluster_id,
            "{} has another cluster id",
            n.name
        );
    }
    digest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_replicate_forward_fail_over_and_install_snapshots() {
    let dirs: Vec<TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let clock = ManualClock::new(Timestamp(1_800_000_000_000));
    let n0 = TestNode::start("n0", dirs[0].path(), None, &clock).await;
    assert!(n0.node.is_pristine().await.unwrap());
    n0.node.bootstrap().await.unwrap();
    n0.node.wait_for_leader(WAIT, true).await.unwrap();
    let n1 = TestNode::start("n1", dirs[1].path(), None, &clock).await;
    let n2 = TestNode::start("n2", dirs[2].path(), None, &clock).await;
    n0.node.add_node(n1.info()).await.unwrap();
    // Joining through a follower is forwarded to the leader.
    n1.node.add_node(n2.info()).await.unwrap();
    n0.node.add_node(n2.info()).await.unwrap(); // the same id and address again: a no-op
                                                // n2 learns its promotion from the leader's next append, after add_node has answered.
    n2.node.wait_voter(WAIT).await.unwrap();
    let status = n2.node.status();
    assert_eq!(status.members.len(), 3);
    assert!(status.members.iter().all(|m| m.voter));
    assert_eq!(status.leader_id.as_deref(), Some("n0"));

    // Writes through a follower are forwarded; every replica applies the same state.
    let created = n2.node.propose(create_delayed(queue())).await;
    assert_eq!(created, Ok(Reply::QueueCreated));
    let nodes = [&n0, &n1, &n2];
    for i in 0..30 {
        let reply = nodes[i % 3].node.propose(enqueue(i)).await.unwrap();
        assert!(matches!(reply, Reply::Enqueued(_)));
    }
    // A follower's linearizable read sees every acknowledged write.
    n1.node.read_barrier().await.unwrap();
    assert_eq!(n1.node.view().stats(&queue(), 10).await.unwrap().total, 30);
    converge(&n0, &nodes).await;
    let Reply::Dequeued(got) = n1
        .node
        .propose(Command::Dequeue {
            queue: queue(),
            ack: true,
            max: 1,
        })
        .await
        .unwrap()
    else {
        panic!("dequeue answered something else")
    };
    assert_eq!(got[0].body.content, "m0");

    // Concurrent writes share log entries: far fewer entries than commands, and each writer still gets
    // its own reply (distinct ids, distinct receipts), on the leader and through followers alike.
    let burst = QueueName::new("burst").unwrap();
    n0.node
        .propose(create_delayed(burst.clone()))
        .await
        .unwrap();
    let before = n0.node.status().last_log_index;
    let writes = (0..300).map(|i| {
        let node = nodes[i % 3].node.clone();
        let cmd = Command::Enqueue {
            queue: burst.clone(),
            items: vec![NewMessage {
                id: None,
                group: Group::new("default"),
                priority: Priority(1),
                body: Body {
                    content: format!("b{i}"),
                    metadata: Metadata::new(),
                },
            }],
        };
        async move { node.propose(cmd).await }
    });
    let mut ids = BTreeSet::new();
    for reply in futures::future::join_all(writes).await {
        let Ok(Reply::Enqueued(e)) = reply else {
            panic!("an enqueue answered {reply:?}")
        };
        ids.insert(e[0].id);
    }
    assert_eq!(ids.len(), 300, "every enqueue got its own id");
    let entries = n0.node.status().last_log_index - before;
    assert!(entries < 150, "300 writes took {entries} log entries");
    let takes = (0..300).map(|i| {
        let node = nodes[i % 3].node.clone();
        let cmd = Command::Dequeue {
            queue: burst.clone(),
            ack: false,
            max: 1,
        };
        async move { node.propose(cmd).await }
    });
    let mut receipts = BTreeSet::new();
    for reply in futures::future::join_all(takes).await {
        let Ok(Reply::Dequeued(d)) = reply else {
            panic!("a dequeue answered {reply:?}")
        };
        assert!(ids.contains(&d[0].id));
        receipts.insert((d[0].receipt.id, d[0].receipt.lease));
    }
    assert_eq!(receipts.len(), 300, "every delivery has its own receipt");
    converge(&n0, &nodes).await;

    // A call without the cluster secret is refused.
    let intruder = Peer::new(
        n0.node.inner.id,
        &DoqNode {
            name: "n0".into(),
            addr: n0.addr.clone(),
        },
        "wrong",
        None,
    );
    let refused = intruder
        .forward(&[enqueue(99)], Duration::from_secs(2))
        .await;
    assert!(matches!(refused, Err(Error::Unavailable(_))), "{refused:?}");

    // Leaving: the last voter cannot go; an unknown id is a no-op.
    n0.node.remove_node("nobody").await.unwrap();

    // Compaction: a snapshot, a purged log, and a late joiner that can only catch up by installing it.
    for i in 30..60 {
        n0.node.propose(enqueue(i)).await.unwrap();
    }
    n0.node.trigger_snapshot().await.unwrap();
    n0.node
        .inner
        .raft
        .wait(Some(WAIT))
        .metrics(|m| m.purged.is_some_and(|p| p.index > 10), "log purged")
        .await
        .unwrap();
    let n3 = TestNode::start("n3", dirs[3].path(), None, &clock).await;
    n0.node.add_node(n3.info()).await.unwrap();
    converge(&n0, &[&n3]).await;
    assert!(
        n3.node.snapshot_index().is_some(),
        "the late joiner installed a snapshot"
    );
    assert_eq!(n3.node.view().stats(&queue(), 10).await.unwrap().total, 59);
    n0.node.remove_node("n3").await.unwrap();
    n3.stop().await;

    // Failover: stop the leader; the others elect a new one and keep accepting writes.
    let n0_addr = n0.addr.clone();
    n0.stop().await;
    n1.node.wait_for_leader(WAIT, false).await.unwrap();
    let mut leader = None;
    for _ in 0..100 {
        let l = n1.node.status().leader_id;
        if l.as_deref().is_some_and(|l| l != "n0") {
            leader = l;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let leader = leader.expect("a new leader");
    for i in 60..70 {
        n2.node.propose(enqueue(i)).await.unwrap();
    }
    // The old leader restarts on its data, never bootstraps again, and catches up.
    let n0 = TestNode::start("n0", dirs[0].path(), Some(&n0_addr), &clock).await;
    assert!(!n0.node.is_pristine().await.unwrap());
    let (new_leader, others) = if leader == "n1" {
        (&n1, [&n0, &n2])
    } else {
        (&n2, [&n0, &n1])
    };
    converge(new_leader, &others).await;
    assert_eq!(n0.node.view().stats(&queue(), 10).await.unwrap().total, 69);
    n0.stop().await;
    n1.stop().await;
    n2.stop().await;
}

/// A follower that was down while the leader took ten 7 MiB batch enqueues catches up from the log: openraft
/// would put all ten entries (70 MiB) in one AppendEntries, over the 64 MiB message cap, and fail the
/// same way on every retry; `encode_append` cuts each request at 16 MiB instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lagging_follower_catches_up_on_large_entries_in_bounded_messages() {
    let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let clock = ManualClock::new(Timestamp(1_800_000_000_000));
    // No snapshot in between: the follower must catch up from the log itself.
    let start = |i: usize, addr: Option<String>| {
        let clock = clock.clone();
        let dir = dirs[i].path().to_path_buf();
        async move {
            TestNode::start_with(&format!("n{i}"), &dir, addr.as_deref(), &clock, 10_000).await
        }
    };
    let n0 = start(0, None).await;
    n0.node.bootstrap().await.unwrap();
    n0.node.wait_for_leader(WAIT, true).await.unwrap();
    let n1 = start(1, None).await;
    let n2 = start(2, None).await;
    n0.node.add_node(n1.info()).await.unwrap();
    n0.node.add_node(n2.info()).await.unwrap();
    n0.node.propose(create_delayed(queue())).await.unwrap();
    converge(&n0, &[&n1, &n2]).await;
    let n2_addr = n2.addr.clone();
    n2.stop().await;
    for i in 0..10 {
        // A batch enqueue near `limits.max_body_bytes`: seven messages at `max_content_bytes` each.
        let Command::Enqueue { queue, items } = enqueue(i) else {
            unreachable!()
        };
        let mut item = items[0].clone();
        item.body.content = format!("{i}").repeat(1 << 20);
        let items = vec![item; 7];
        n0.node
            .propose(Command::Enqueue { queue, items })
            .await
            .unwrap();
    }
    let n2 = start(2, Some(n2_addr)).await;
    // 70 MiB to catch up: a debug build on a loaded 2-core machine took over 20 s (the entries are JSON
    // with base64 inside), so allow more; what this case checks is that it completes, not how fast.
    converge_within(&n0, &[&n1, &n2], Duration::from_secs(120)).await;
    n2.stop().await;
    n1.stop().await;
    n0.stop().await;
}
