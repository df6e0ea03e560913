//! SIGKILL under concurrent load: every enqueue that was answered 200 survives, exactly once.
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use doq_conformance::{
    check::{check, check_empty, check_status, id_field, str_field},
    ops::{create_delayed, dequeue, info, message, messages},
    Client,
};
use serde_json::json;
use tokio::sync::Notify;
use tracing::info;

use crate::{slow, Doq};

/// Concurrent writers.
const WRITERS: usize = 6;
/// Messages per trial, at most.
const TOTAL: usize = 300;
/// The kill comes once this many enqueues were acknowledged, so load is still running.
const KILL_AT: usize = 60;
/// How long the writers may run, at most.
const LOAD_DEADLINE: Duration = Duration::from_secs(20);

/// What the writers saw: the acknowledged `id -> content`, and every content they sent.
#[derive(Default)]
struct Ledger {
    acked: BTreeMap<String, String>,
    sent: BTreeSet<String>,
}

/// One writer: enqueues `"<q>-<n>"` for fresh `n` until `TOTAL`, the deadline, or the first request
/// without an answer (the node is gone).
async fn writer(
    client: Client,
    q: String,
    next: Arc<AtomicUsize>,
    ledger: Arc<Mutex<Ledger>>,
    reached: Arc<Notify>,
) {
    let deadline = Instant::now() + LOAD_DEADLINE;
    while Instant::now() < deadline {
        let n = next.fetch_add(1, Ordering::SeqCst);
        if n >= TOTAL {
            break;
        }
        let content = format!("{q}-{n}");
        ledger.lock().unwrap().sent.insert(content.clone());
        let got = client
            .post(
                &messages(&q),
                &json!({ "priority": 10, "content": content }),
            )
            .await;
        match got.0 {
            200 => {
                let id = id_field(&got.1, "id");
                assert_eq!(str_field(&got.1, "content"), content, "{got:?}");
                let mut ledger = ledger.lock().unwrap();
                ledger.acked.insert(id, content);
                if ledger.acked.len() == KILL_AT {
                    reached.notify_one();
                }
            }
            // No answer: the node was killed mid-request; the write may or may not have landed.
            0 => break,
            _ => panic!("unexpected answer under load: {got:?}"),
        }
    }
}

/// Three trials (more with `DOQ_SLOW_TESTS=1`) on one data directory of `backend`: load, SIGKILL
/// mid-load, restart, then every acknowledged id answers `GOT` with its content and dequeues exactly
/// once.
async fn crash_trials(backend: &str) {
    let trials = if slow() { 10 } else { 3 };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let flags = ["--storage.backend", backend];
    for trial in 0..trials {
        let q = format!("crash-{trial}");
        info!(
            "--- trial {trial}: load with {WRITERS} writers, SIGKILL after {KILL_AT} acknowledged"
        );
        let ledger = {
            let mut doq = Doq::start(&data, tmp.path(), &flags).await;
            let client = Client::with_timeout(doq.client().base(), Duration::from_secs(5));
            create_delayed(&client, &q, json!({})).await;
            let ledger = Arc::new(Mutex::new(Ledger::default()));
            let next = Arc::new(AtomicUsize::new(0));
            let reached = Arc::new(Notify::new());
            let writers: Vec<_> = (0..WRITERS)
                .map(|_| {
                    tokio::spawn(writer(
                        client.clone(),
                        q.clone(),
                        next.clone(),
                        ledger.clone(),
                        reached.clone(),
                    ))
                })
                .collect();
            tokio::time::timeout(LOAD_DEADLINE, reached.notified())
                .await
                .expect("the writers never reached the kill point");
            let running = writers.iter().filter(|w| !w.is_finished()).count();
            doq.kill9();
            info!(
                trial,
                running, "SIGKILL sent while {running} writers were running"
            );
            for w in writers {
                tokio::time::timeout(LOAD_DEADLINE, w)
                    .await
                    .expect("a writer hung")
                    .expect("a writer failed");
            }
            Arc::try_unwrap(ledger).ok().unwrap().into_inner().unwrap()
        };
        let unanswered = ledger.sent.len() - ledger.acked.len();
        info!(
            trial,
            acked = ledger.acked.len(),
            unanswered,
            "--- restart on the same data directory"
        );
        let doq = Doq::start(&data, tmp.path(), &flags).await;
        let c = doq.client();
        {
            for (id, content) in &ledger.acked {
                check(
                    &c.get(&message(&q, id)).await,
                    200,
                    &json!({ "status": "GOT", "id": id, "group": "default", "priority": 10, "content": content }),
                );
            }
        }
        info!(
            trial,
            "--- dequeue everything: each acknowledged id once, extras only from unanswered sends"
        );
        {
            let mut seen = BTreeMap::new();
            for _ in 0..=ledger.sent.len() {
                let got = dequeue(&c, &q, true).await;
                if got.0 == 400 {
                    check_empty(&got, &q);
                    break;
                }
                let body = check_status(&got, 200);
                let (id, content) = (id_field(&body, "id"), str_field(&body, "content"));
                assert!(
                    seen.insert(id.clone(), content.clone()).is_none(),
                    "id {id} dequeued twice"
                );
            }
            check_empty(&dequeue(&c, &q, true).await, &q);
            for (id, content) in &ledger.acked {
                assert_eq!(
                    seen.get(id),
                    Some(content),
                    "acknowledged id {id} missing after the crash"
                );
            }
            let extras: Vec<_> = seen
                .iter()
                .filter(|(id, _)| !ledger.acked.contains_key(*id))
                .collect();
            for (id, content) in &extras {
                assert!(
                    ledger.sent.contains(*content) && !ledger.acked.values().any(|c| c == *content),
                    "{id} = {content:?} was never sent unanswered"
                );
            }
            assert!(
                extras.len() <= unanswered,
                "{} extras but only {unanswered} unanswered sends",
                extras.len()
            );
            assert_eq!(seen.len(), ledger.acked.len() + extras.len());
        }
        info!(trial, "--- earlier trials' queues stayed drained");
        {
            for earlier in 0..trial {
                let body = info(&c, &format!("crash-{earlier}")).await;
                assert_eq!(body["total"], json!(0), "{body}");
            }
        }
        doq.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_keeps_acknowledged_writes_redb() {
    crate::init_tracing();
    crash_trials("redb").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_keeps_acknowledged_writes_rocksdb() {
    crate::init_tracing();
    crash_trials("rocksdb").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_keeps_acknowledged_writes_sled() {
    crate::init_tracing();
    crash_trials("sled").await;
}
