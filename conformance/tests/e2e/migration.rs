//! Moving a live cluster to another backend, as the README describes: three `doq` processes on redb
//! serve a write load; three new nodes on RocksDB join (each is added as a learner, caught up and
//! promoted to voter); the old nodes leave, the leader among them too; the load never stops. At the end
//! the cluster is the three RocksDB nodes, and every acknowledged enqueue is delivered exactly once.
use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use doq_conformance::{
    check::{check_empty, check_status, id_field, str_field},
    ops::{create_delayed, dequeue, messages},
    Client,
};
use serde_json::{json, Value};
use tracing::info;

use crate::{free_port, Doq};

/// Concurrent writers.
const WRITERS: usize = 4;
/// How long the cluster may take to elect a leader or to catch a node up.
const CONVERGE: Duration = Duration::from_secs(30);

fn args(
    name: &str,
    backend: &str,
    http: u16,
    raft: u16,
    data: &Path,
    join: Option<u16>,
) -> Vec<String> {
    let mut a: Vec<String> = [
        "--http.host",
        "127.0.0.1",
        "--http.port",
        &http.to_string(),
        "--storage.data_dir",
        &data.display().to_string(),
        "--storage.backend",
        backend,
        "--grpc.address",
        "",
        "--cluster.node_id",
        name,
        "--raft.address",
        &format!("127.0.0.1:{raft}"),
        "--raft.heartbeat_interval_ms",
        "50",
        "--raft.election_timeout_ms",
        "500",
        // Small, so the new nodes catch up partly by a snapshot and partly from the log.
        "--raft.snapshot_threshold",
        "100",
        "--cluster.secret",
        "e2e-secret",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    if let Some(port) = join {
        a.push("--cluster.join_addr".into());
        a.push(format!("127.0.0.1:{port}"));
    }
    a
}

/// What the writers saw.
#[derive(Default)]
struct Ledger {
    /// Acknowledged (200) enqueues: id -> content.
    acked: BTreeMap<String, String>,
    /// Sends that got no answer or a 503 (outcome unknown).
    unanswered: BTreeSet<String>,
}

/// Enqueues through the nodes in `targets` (which the test swaps mid-run) until `stop`.
async fn writer(
    targets: Arc<Mutex<Vec<Client>>>,
    q: String,
    next: Arc<AtomicUsize>,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        let n = next.fetch_add(1, Ordering::SeqCst);
        let content = format!("{q}-{n}");
        let client = {
            let t = targets.lock().unwrap();
            t[n % t.len()].clone()
        };
        let got = client
            .post(
                &messages(&q),
                &json!({ "priority": 10, "content": content }),
            )
            .await;
        match got.0 {
            200 => {
                assert_eq!(str_field(&got.1, "content"), content, "{got:?}");
                ledger
                    .lock()
                    .unwrap()
                    .acked
                    .insert(id_field(&got.1, "id"), content);
            }
            // A node leaving, or an election in progress: the outcome is unknown.
            0 | 503 => {
                ledger.lock().unwrap().unanswered.insert(content);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            _ => panic!("unexpected answer under load: {got:?}"),
        }
    }
}

async fn status(c: &Client) -> Value {
    check_status(&c.get("/API/v1/cluster/status").await, 200)
}

/// Waits until `c`'s node lists exactly `names` as voting members, with a leader among them.
async fn wait_members(c: &Client, names: &[&str]) -> Value {
    let want: BTreeSet<&str> = names.iter().copied().collect();
    let deadline = Instant::now() + CONVERGE;
    loop {
        let s = status(c).await;
        let members: BTreeSet<&str> = s["members"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter(|m| m["suffrage"] == "Voter")
                    .filter_map(|m| m["id"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        let leader_ok = s["leader_id"].as_str().is_some_and(|l| want.contains(l));
        if members == want && leader_ok {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "members never became {want:?}: {s}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Acknowledged so far.
fn acked(ledger: &Mutex<Ledger>) -> usize {
    ledger.lock().unwrap().acked.len()
}

/// Waits until `more` further enqueues were acknowledged (the load is alive).
async fn progress(ledger: &Mutex<Ledger>, more: usize) {
    let goal = acked(ledger) + more;
    let deadline = Instant::now() + CONVERGE;
    while acked(ledger) < goal {
        assert!(
            Instant::now() < deadline,
            "the load stalled at {}",
            acked(ledger)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_live_cluster_moves_from_redb_to_rocksdb_without_losing_writes() {
    crate::init_tracing();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let ports: Vec<(u16, u16)> = (0..6).map(|_| (free_port(), free_port())).collect();
    let client = |i: usize| {
        Client::with_timeout(
            format!("http://127.0.0.1:{}", ports[i].0),
            Duration::from_secs(8),
        )
    };

    info!("--- three nodes on redb");
    let mut old: Vec<Doq> = Vec::new();
    for i in 0..3 {
        let join = (i > 0).then_some(ports[0].0);
        let a = args(
            &format!("old-{i}"),
            "redb",
            ports[i].0,
            ports[i].1,
            &data,
            join,
        );
        old.push(Doq::spawn(&a, ports[i].0, tmp.path()).await);
    }
    wait_members(&client(0), &["old-0", "old-1", "old-2"]).await;
    let q = "migrate";
    create_delayed(&client(0), q, json!({})).await;

    info!("--- write load through the old nodes");
    let targets = Arc::new(Mutex::new((0..3).map(client).collect::<Vec<_>>()));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let next = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            tokio::spawn(writer(
                targets.clone(),
                q.to_owned(),
                next.clone(),
                ledger.clone(),
                stop.clone(),
            ))
        })
        .collect();
    progress(&ledger, 150).await;

    info!("--- three nodes on rocksdb join: each a learner first, promoted once caught up");
    let mut new: Vec<Doq> = Vec::new();
    for i in 3..6 {
        let a = args(
            &format!("new-{}", i - 3),
            "rocksdb",
            ports[i].0,
            ports[i].1,
            &data,
            Some(ports[0].0),
        );
        new.push(Doq::spawn(&a, ports[i].0, tmp.path()).await);
        progress(&ledger, 20).await;
    }
    wait_members(
        &client(3),
        &["old-0", "old-1", "old-2", "new-0", "new-1", "new-2"],
    )
    .await;
    *targets.lock().unwrap() = (3..6).map(client).collect();

    info!("--- the redb nodes leave, the leader among them; the load goes on");
    for i in 0..3 {
        let id = format!("old-{i}");
        check_status(
            &client(3)
                .post("/API/v1/cluster/leave", &json!({ "id": id }))
                .await,
            200,
        );
        progress(&ledger, 20).await;
    }
    let s = wait_members(&client(3), &["new-0", "new-1", "new-2"]).await;
    // Out of the cluster, the old nodes serve nothing anyone asks for; their processes simply go.
    drop(old);
    progress(&ledger, 50).await;
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        tokio::time::timeout(CONVERGE, w)
            .await
            .expect("a writer hung")
            .expect("a writer failed");
    }
    let ledger = Arc::try_unwrap(ledger).ok().unwrap().into_inner().unwrap();
    info!(acked = ledger.acked.len(), unanswered = ledger.unanswered.len(), leader = %s["leader_id"], "load finished");
    for i in 3..6 {
        let s = status(&client(i)).await;
        assert_eq!(s["storage_backend"], "rocksdb", "{s}");
    }

    info!("--- drain through a new node: every acknowledged enqueue once, nothing unexplained");
    let c = client(4);
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for _ in 0..next.load(Ordering::SeqCst) + 10 {
        let got = dequeue(&c, q, true).await;
        if got.0 == 400 {
            check_empty(&got, q);
            break;
        }
        let body = check_status(&got, 200);
        let (id, content) = (id_field(&body, "id"), str_field(&body, "content"));
        assert!(
            seen.insert(id.clone(), content).is_none(),
            "id {id} dequeued twice"
        );
    }
    let lost: Vec<_> = ledger
        .acked
        .iter()
        .filter(|(id, content)| seen.get(*id) != Some(*content))
        .collect();
    assert!(lost.is_empty(), "acknowledged enqueues lost: {lost:?}");
    let extras = seen.len() - ledger.acked.len();
    assert!(
        extras <= ledger.unanswered.len(),
        "{extras} unacknowledged messages but only {} unanswered sends",
        ledger.unanswered.len()
    );
    for d in new {
        d.stop().await;
    }
}
