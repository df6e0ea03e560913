//! Three `doq` processes on loopback in one Raft cluster: bootstrap and join, HTTP traffic through every
//! node, SIGKILL of the leader under write load, a new leader, writes resuming, the killed node restarting
//! and catching up (by a snapshot: the log is compacted every 50 entries), and no acknowledged enqueue
//! lost (duplicates only from unanswered sends, counted).
use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use doq_conformance::{
    check::{check, check_empty, check_status, id_field, str_field},
    ops::{create_delayed, dequeue, message, messages},
    Client,
};
use serde_json::{json, Value};
use tokio::sync::Notify;
use tracing::info;

use crate::{free_port, Doq};

/// Concurrent writers, spread over the three nodes.
const WRITERS: usize = 6;
/// The load stops once this many enqueues were acknowledged (or at the deadline).
const TOTAL: usize = 240;
/// The leader is killed once this many enqueues were acknowledged.
const KILL_AT: usize = 80;
/// How long the writers may run, at most.
const LOAD_DEADLINE: Duration = Duration::from_secs(40);
/// How long the cluster may take to elect a leader or to catch a node up.
pub(crate) const CONVERGE: Duration = Duration::from_secs(30);

/// One node's fixed ports, so a restart keeps its Raft address (members remember it).
#[derive(Clone, Copy)]
pub(crate) struct Ports {
    pub(crate) http: u16,
    pub(crate) raft: u16,
}

pub(crate) fn args(i: usize, ports: Ports, data: &Path, join: Option<u16>) -> Vec<String> {
    let mut a: Vec<String> = [
        "--http.host",
        "127.0.0.1",
        "--http.port",
        &ports.http.to_string(),
        "--storage.data_dir",
        &data.display().to_string(),
        "--storage.backend",
        "redb",
        "--grpc.address",
        "",
        "--cluster.node_id",
        &format!("node-{i}"),
        "--raft.address",
        &format!("127.0.0.1:{}", ports.raft),
        "--raft.heartbeat_interval_ms",
        "50",
        "--raft.election_timeout_ms",
        "500",
        // Small, so the log is compacted during the run and the restarted node catches up by
        // installing a snapshot rather than by replaying the leader's log.
        "--raft.snapshot_threshold",
        "50",
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

/// Three processes on loopback: node-0 bootstraps, node-1 and node-2 join it.
pub(crate) struct Three {
    pub(crate) ports: Vec<Ports>,
    /// `None` while a node is down.
    pub(crate) nodes: Vec<Option<Doq>>,
    pub(crate) clients: Vec<Client>,
}

impl Three {
    pub(crate) async fn start(data: &Path, log_dir: &Path) -> Self {
        let ports: Vec<Ports> = (0..3)
            .map(|_| Ports {
                http: free_port(),
                raft: free_port(),
            })
            .collect();
        let mut nodes = Vec::new();
        for (i, p) in ports.iter().enumerate() {
            let join = (i > 0).then_some(ports[0].http);
            nodes.push(Some(
                Doq::spawn(&args(i, *p, data, join), p.http, log_dir).await,
            ));
        }
        let clients = ports
            .iter()
            .map(|p| {
                Client::with_timeout(
                    format!("http://127.0.0.1:{}", p.http),
                    Duration::from_secs(8),
                )
            })
            .collect();
        Self {
            ports,
            nodes,
            clients,
        }
    }
}

pub(crate) async fn status(c: &Client) -> Value {
    check_status(&c.get("/API/v1/cluster/status").await, 200)
}

/// Waits until `c`'s node knows a leader other than `not`, and returns its id.
pub(crate) async fn leader_other_than(c: &Client, not: Option<&str>) -> String {
    let deadline = Instant::now() + CONVERGE;
    loop {
        let got = c.get("/API/v1/cluster/status").await;
        if got.0 == 200 {
            if let Some(l) = got.1["leader_id"].as_str() {
                if Some(l) != not {
                    return l.to_owned();
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "no new leader within {CONVERGE:?}: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the writers saw.
#[derive(Default)]
struct Ledger {
    /// Acknowledged (200) enqueues: id -> content.
    acked: BTreeMap<String, String>,
    /// Sends that got no answer or a 503 (outcome unknown).
    unanswered: BTreeSet<String>,
    /// Acknowledged after the kill.
    acked_after_kill: usize,
    /// When the first write sent after the kill was acknowledged (failover time = this - the kill).
    first_ack_after_kill: Option<Instant>,
}

async fn writer(
    clients: Vec<Client>,
    q: String,
    next: Arc<AtomicUsize>,
    ledger: Arc<Mutex<Ledger>>,
    reached: Arc<Notify>,
    killed: Arc<AtomicUsize>,
) {
    let deadline = Instant::now() + LOAD_DEADLINE;
    while Instant::now() < deadline {
        if ledger.lock().unwrap().acked.len() >= TOTAL {
            break;
        }
        let n = next.fetch_add(1, Ordering::SeqCst);
        let content = format!("{q}-{n}");
        let client = &clients[n % clients.len()];
        // Only a write sent after the kill can time the failover: earlier ones may be answered late.
        let sent_after_kill = killed.load(Ordering::SeqCst) == 1;
        let got = client
            .post(
                &messages(&q),
                &json!({ "priority": 10, "content": content }),
            )
            .await;
        let backoff = {
            let mut l = ledger.lock().unwrap();
            let backoff = record(&mut l, &got, content, &killed, &reached);
            if sent_after_kill && got.0 == 200 {
                l.first_ack_after_kill.get_or_insert_with(Instant::now);
            }
            backoff
        };
        if backoff {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Books one answer; returns whether the writer should back off (no answer or 503).
fn record(
    l: &mut Ledger,
    got: &doq_conformance::Reply,
    content: String,
    killed: &AtomicUsize,
    reached: &Notify,
) -> bool {
    {
        match got.0 {
            200 => {
                assert_eq!(str_field(&got.1, "content"), content, "{got:?}");
                l.acked.insert(id_field(&got.1, "id"), content);
                if killed.load(Ordering::SeqCst) == 1 {
                    l.acked_after_kill += 1;
                }
                if l.acked.len() == KILL_AT {
                    reached.notify_one();
                }
                false
            }
            // Killed node (no answer) or an election in progress (503): the outcome is unknown.
            0 | 503 => {
                l.unanswered.insert(content);
                true
            }
            _ => panic!("unexpected answer under load: {got:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_processes_fail_over_without_losing_acknowledged_writes() {
    crate::init_tracing();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");

    info!("--- node-0 bootstraps, node-1 and node-2 join it");
    let Three {
        ports,
        mut nodes,
        clients,
    } = Three::start(&data, tmp.path()).await;
    let servers = check_status(&clients[2].get("/API/v1/cluster/servers").await, 200);
    let list = servers["servers"].as_array().unwrap();
    if list.len() != 3 {
        let logs: Vec<String> = nodes.iter().flatten().map(Doq::log).collect();
        panic!("{servers}\nnode logs:\n{}", logs.join("\n-----\n"));
    }
    assert!(list.iter().all(|s| s["suffrage"] == "Voter"), "{servers}");
    assert_eq!(
        list.iter().filter(|s| s["is_leader"] == true).count(),
        1,
        "{servers}"
    );
    for c in &clients {
        assert_eq!(c.get("/readyz").await.0, 200);
    }
    let leaders: Vec<u16> = {
        let mut v = Vec::new();
        for c in &clients {
            v.push(c.get("/readyz?leader=true").await.0);
        }
        v
    };
    assert_eq!(
        leaders.iter().filter(|s| **s == 200).count(),
        1,
        "{leaders:?}"
    );

    info!("--- traffic through every node: a write on one is readable on the others");
    let q = "failover";
    create_delayed(&clients[1], q, json!({})).await;
    for (i, c) in clients.iter().enumerate() {
        let got = check_status(
            &c.post(
                &messages(q),
                &json!({ "priority": 10, "content": format!("via-{i}") }),
            )
            .await,
            200,
        );
        let id = id_field(&got, "id");
        for other in &clients {
            check(
                &other.get(&message(q, &id)).await,
                200,
                &json!({ "status": "GOT", "id": id, "group": "default", "priority": 10, "content": format!("via-{i}") }),
            );
        }
    }

    info!("--- write load over all nodes; SIGKILL the leader after {KILL_AT} acknowledged");
    let old_leader = leader_other_than(&clients[0], None).await;
    let leader_index: usize = old_leader
        .strip_prefix("node-")
        .and_then(|n| n.parse().ok())
        .unwrap();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let next = Arc::new(AtomicUsize::new(0));
    let reached = Arc::new(Notify::new());
    let killed = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            tokio::spawn(writer(
                clients.clone(),
                q.to_owned(),
                next.clone(),
                ledger.clone(),
                reached.clone(),
                killed.clone(),
            ))
        })
        .collect();
    tokio::time::timeout(LOAD_DEADLINE, reached.notified())
        .await
        .expect("the writers never reached the kill point");
    let mut victim = nodes[leader_index].take().unwrap();
    victim.kill9();
    let killed_at = Instant::now();
    killed.store(1, Ordering::SeqCst);
    info!(%old_leader, "SIGKILL sent to the leader");
    let survivor = &clients[(leader_index + 1) % 3];
    let new_leader = leader_other_than(survivor, Some(&old_leader)).await;
    info!(%new_leader, "a new leader was elected");
    for w in writers {
        tokio::time::timeout(LOAD_DEADLINE + CONVERGE, w)
            .await
            .expect("a writer hung")
            .expect("a writer failed");
    }
    let ledger = Arc::try_unwrap(ledger).ok().unwrap().into_inner().unwrap();
    info!(
        acked = ledger.acked.len(),
        after_kill = ledger.acked_after_kill,
        unanswered = ledger.unanswered.len(),
        failover_ms = ledger
            .first_ack_after_kill
            .map(|t| t.duration_since(killed_at).as_millis()),
        "load finished"
    );
    assert!(
        ledger.acked_after_kill > 0,
        "writes never resumed after the leader was killed"
    );

    info!("--- the killed node restarts on its data (no bootstrap, no re-join) and catches up");
    let p = ports[leader_index];
    let join = (leader_index > 0).then_some(ports[0].http);
    nodes[leader_index] =
        Some(Doq::spawn(&args(leader_index, p, &data, join), p.http, tmp.path()).await);
    let restarted = &clients[leader_index];
    let leader_status = status(&clients[(leader_index + 1) % 3]).await;
    let deadline = Instant::now() + CONVERGE;
    loop {
        let s = status(restarted).await;
        if s["last_applied"].as_u64() >= leader_status["last_applied"].as_u64()
            && s["leader_id"].is_string()
        {
            assert_eq!(s["members"].as_array().map(Vec::len), Some(3), "{s}");
            break;
        }
        assert!(Instant::now() < deadline, "node did not catch up: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let restarted_log = nodes[leader_index]
        .as_ref()
        .map(Doq::log)
        .unwrap_or_default();
    assert!(
        restarted_log.contains("installed a snapshot from the leader"),
        "the restarted node should have caught up from a snapshot (the log was compacted):\n{restarted_log}"
    );
    for (id, content) in &ledger.acked {
        check(
            &restarted.get(&message(q, id)).await,
            200,
            &json!({ "status": "GOT", "id": id, "group": "default", "priority": 10, "content": content }),
        );
    }

    info!("--- drain through the restarted node: no acknowledged id lost, none delivered twice");
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut duplicates = 0usize;
    for _ in 0..next.load(Ordering::SeqCst) + 10 {
        let got = dequeue(restarted, q, true).await;
        if got.0 == 400 {
            check_empty(&got, q);
            break;
        }
        let body = check_status(&got, 200);
        let (id, content) = (id_field(&body, "id"), str_field(&body, "content"));
        if seen.values().any(|c| *c == content) {
            duplicates += 1;
        }
        assert!(
            seen.insert(id.clone(), content).is_none(),
            "id {id} dequeued twice"
        );
    }
    let lost: Vec<_> = ledger
        .acked
        .iter()
        .filter(|(id, c)| seen.get(*id) != Some(*c))
        .collect();
    let extras = seen
        .len()
        .saturating_sub(ledger.acked.len() - lost.len() + 3);
    info!(lost = lost.len(), duplicates, extras, "ledger checked");
    assert!(lost.is_empty(), "acknowledged enqueues lost: {lost:?}");
    assert!(
        extras <= ledger.unanswered.len(),
        "{extras} unacknowledged messages but only {} unanswered sends",
        ledger.unanswered.len()
    );

    info!("--- leave: an unknown id is a no-op; a member leaves and the others keep serving");
    check(
        &clients[0]
            .post("/API/v1/cluster/leave", &json!({"id": "nobody"}))
            .await,
        200,
        &json!({"id": "nobody"}),
    );
    let leaving = (leader_index + 2) % 3;
    let stay = (leader_index + 1) % 3;
    let id = format!("node-{leaving}");
    check(
        &clients[stay]
            .post("/API/v1/cluster/leave", &json!({ "id": id }))
            .await,
        200,
        &json!({ "id": id }),
    );
    let servers = check_status(&clients[stay].get("/API/v1/cluster/servers").await, 200);
    assert_eq!(
        servers["servers"].as_array().map(Vec::len),
        Some(2),
        "{servers}"
    );
    check_status(
        &clients[stay]
            .post(
                &messages(q),
                &json!({ "priority": 10, "content": "after-leave" }),
            )
            .await,
        200,
    );
    for node in nodes.into_iter().flatten() {
        node.stop().await;
    }
}
