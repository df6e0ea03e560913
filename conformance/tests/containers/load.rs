//! Write load over a changing set of nodes, and the check that nothing acknowledged was lost: every
//! enqueue answered 200 must be readable by id, with its content, on every node afterwards.
use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use doq_conformance::Client;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

/// One request's patience under load: a stopped node must not stall a writer for long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a read that answers 503 (a node still catching up) is retried before it counts as missing.
const READ_RETRY: Duration = Duration::from_secs(30);

/// The nodes writers may use now, by index; `None` while a node is down or cut off.
#[derive(Clone, Default)]
pub(crate) struct Targets(Arc<Mutex<Vec<Option<String>>>>);

impl Targets {
    pub(crate) fn new(n: usize) -> Self {
        Self(Arc::new(Mutex::new(vec![None; n])))
    }

    pub(crate) fn set(&self, i: usize, base: Option<String>) {
        self.0.lock().unwrap()[i] = base;
    }

    fn pick(&self, turn: usize) -> Option<String> {
        let all = self.0.lock().unwrap();
        let up: Vec<&String> = all.iter().flatten().collect();
        if up.is_empty() {
            return None;
        }
        up.get(turn % up.len()).map(|s| (*s).clone())
    }
}

/// What the writers saw.
#[derive(Default)]
pub(crate) struct Ledger {
    /// Acknowledged enqueues: id → content.
    pub(crate) acked: Mutex<BTreeMap<String, String>>,
    /// Requests without a 200 (errors, 503s during elections, timeouts): their outcome is unknown.
    pub(crate) unanswered: AtomicUsize,
}

impl Ledger {
    pub(crate) fn acked(&self) -> usize {
        self.acked.lock().unwrap().len()
    }
}

/// Writers enqueueing unique contents into `queue`, spread over `targets`, until `stop()` or `total`
/// acknowledgements or `deadline`.
pub(crate) struct Load {
    pub(crate) ledger: Arc<Ledger>,
    stop: Arc<AtomicBool>,
    writers: Vec<JoinHandle<()>>,
}

impl Load {
    pub(crate) fn start(
        targets: &Targets,
        queue: &str,
        writers: usize,
        total: usize,
        deadline: Duration,
    ) -> Self {
        let ledger = Arc::new(Ledger::default());
        let stop = Arc::new(AtomicBool::new(false));
        let until = Instant::now() + deadline;
        let handles = (0..writers)
            .map(|w| {
                let (targets, ledger, stop) = (targets.clone(), ledger.clone(), stop.clone());
                let path = format!("/API/v1/queues/{queue}/messages");
                tokio::spawn(async move {
                    let mut turn = w;
                    for seq in 0.. {
                        if stop.load(Ordering::Relaxed)
                            || ledger.acked() >= total
                            || Instant::now() > until
                        {
                            break;
                        }
                        turn += 1;
                        let Some(base) = targets.pick(turn) else {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        };
                        let content = format!("w{w}-{seq}");
                        let c = Client::with_timeout(base, REQUEST_TIMEOUT);
                        let got = c
                            .post(&path, &json!({"priority": 0, "content": content}))
                            .await;
                        match (got.0, got.1["id"].as_str()) {
                            (200, Some(id)) => {
                                ledger.acked.lock().unwrap().insert(id.to_string(), content);
                            }
                            _ => {
                                ledger.unanswered.fetch_add(1, Ordering::Relaxed);
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                        }
                    }
                })
            })
            .collect();
        Self {
            ledger,
            stop,
            writers: handles,
        }
    }

    /// Waits (bounded) until at least `n` enqueues were acknowledged in all.
    pub(crate) async fn wait_acked(&self, n: usize, deadline: Duration) {
        let until = Instant::now() + deadline;
        while self.ledger.acked() < n {
            assert!(
                Instant::now() < until,
                "only {} of {n} enqueues acknowledged within {deadline:?} ({} unanswered)",
                self.ledger.acked(),
                self.ledger.unanswered.load(Ordering::Relaxed)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the writers and returns what they saw.
    pub(crate) async fn finish(self) -> Arc<Ledger> {
        self.stop.store(true, Ordering::Relaxed);
        for w in self.writers {
            w.await.unwrap();
        }
        self.ledger
    }
}

/// Every acknowledged enqueue is readable by id with its content on the node at `base`.
pub(crate) async fn assert_nothing_lost(ledger: &Ledger, queue: &str, base: &str, node: &str) {
    let acked = ledger.acked.lock().unwrap().clone();
    assert!(!acked.is_empty(), "the load acknowledged nothing");
    let c = Client::new(base);
    let mut lost = Vec::new();
    for (id, content) in &acked {
        let path = format!("/API/v1/queues/{queue}/messages/{id}");
        let mut got = c.get(&path).await;
        // A node that has just come back may still be applying what it missed: its read barrier then
        // answers 503 (retry), which says nothing about loss. Ask again for a bounded while.
        let until = Instant::now() + READ_RETRY;
        while got.0 == 503 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(250)).await;
            got = c.get(&path).await;
        }
        if got.0 != 200 || got.1["content"] != Value::String(content.clone()) {
            lost.push(format!("{id} ({content}): {} {}", got.0, got.1));
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged enqueues missing on {node}: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(10)]
    );
    tracing::info!(
        node,
        acked = acked.len(),
        unanswered = ledger.unanswered.load(Ordering::Relaxed),
        "nothing acknowledged lost"
    );
}

/// Waits (bounded) until `base` answers `/readyz` with 200.
pub(crate) async fn wait_ready(base: &str, deadline: Duration) -> Result<(), String> {
    let until = Instant::now() + deadline;
    let c = Client::with_timeout(base, Duration::from_secs(2));
    loop {
        let got = c.get("/readyz").await;
        if got.0 == 200 {
            return Ok(());
        }
        if Instant::now() > until {
            return Err(format!("{base}/readyz: {} {}", got.0, got.1));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The leader's node id as the node at `base` sees it (bounded wait for one).
pub(crate) async fn leader_id(base: &str, deadline: Duration) -> String {
    let until = Instant::now() + deadline;
    let c = Client::with_timeout(base, Duration::from_secs(2));
    loop {
        let got = c.get("/API/v1/cluster/status").await;
        if let Some(id) = got.1["leader_id"].as_str() {
            return id.to_string();
        }
        assert!(
            Instant::now() < until,
            "no leader known at {base}: {} {}",
            got.0,
            got.1
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
