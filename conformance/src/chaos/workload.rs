//! The workload: bounded concurrent clients that enqueue, dequeue, ack, nack and touch through every
//! node, and the drain after the faults. Every request has a timeout and is recorded as an
//! invocation and a completion; how an answer maps to `ok`/`fail`/`info` is decided in one place,
//! [`Client::call`].
use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::{json, Value};

use super::history::{Answer, Call, EventKind, QueueMeta, Recorder};

/// The client side of one request: what the history records as its completion.
#[derive(Clone, Debug)]
pub enum Completion {
    /// 2xx (or a definite "not found" for a read).
    Ok(Answer),
    /// Certainly not applied: a 4xx, or the connection was refused.
    Fail(String),
    /// Unknown: a timeout, a broken connection, a 5xx.
    Info(String),
}

impl Completion {
    fn into_event(self) -> EventKind {
        match self {
            Self::Ok(answer) => EventKind::Ok { answer },
            Self::Fail(why) => EventKind::Fail { why },
            Self::Info(why) => EventKind::Info { why },
        }
    }
}

/// One client process: talks to one node, one request at a time.
#[derive(Clone, Debug)]
pub struct Client {
    /// The process number in the history.
    pub process: u32,
    /// The node it talks to.
    pub node: usize,
    base: String,
    http: reqwest::Client,
    rec: Recorder,
}

impl Client {
    /// A client of node `node` at `base`, whose requests time out after `timeout`.
    pub fn new(process: u32, node: usize, base: String, timeout: Duration, rec: Recorder) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(1))
            .build()
            .unwrap_or_default();
        Self {
            process,
            node,
            base,
            http,
            rec,
        }
    }

    /// Sends `call`, recording its invocation and completion, and answers the completion.
    pub async fn call(&self, call: Call) -> Completion {
        let request = match &call {
            Call::Enqueue { queue, content } => {
                let body = json!({ "priority": priority(content), "group": group(content), "content": content });
                self.http
                    .post(format!("{}/API/v1/queues/{queue}/messages", self.base))
                    .json(&body)
            }
            Call::Dequeue { queue } => self.http.get(format!(
                "{}/API/v1/queues/{queue}/messages?ack=false",
                self.base
            )),
            Call::Ack { queue, id, receipt } => self.http.post(format!(
                "{}/API/v1/queues/{queue}/messages/{id}/ack?receipt={receipt}",
                self.base
            )),
            Call::Nack { queue, id, receipt } => self
                .http
                .post(format!(
                    "{}/API/v1/queues/{queue}/messages/{id}/nack?receipt={receipt}",
                    self.base
                ))
                .json(&json!({ "priority": 0 })),
            Call::Touch { queue, id, receipt } => self.http.post(format!(
                "{}/API/v1/queues/{queue}/messages/{id}/touch?receipt={receipt}",
                self.base
            )),
            Call::Read { queue, id } => self
                .http
                .get(format!("{}/API/v1/queues/{queue}/messages/{id}", self.base)),
        };
        self.rec.record(
            self.process,
            Some(self.node),
            EventKind::Invoke { call: call.clone() },
        );
        let completion = match request.send().await {
            Err(e) if e.is_connect() => Completion::Fail(format!("connect: {e}")),
            Err(e) if e.is_timeout() => Completion::Info("timeout".into()),
            Err(e) => Completion::Info(format!("transport: {e}")),
            Ok(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Err(e) => Completion::Info(format!("{status}, body: {e}")),
                    Ok(bytes) => {
                        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                        complete(&call, status, &body)
                    }
                }
            }
        };
        self.rec.record(
            self.process,
            Some(self.node),
            completion.clone().into_event(),
        );
        completion
    }
}

/// Maps an HTTP answer to a completion.
fn complete(call: &Call, status: u16, body: &Value) -> Completion {
    let text = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
    match (call, status) {
        (Call::Enqueue { .. }, 200) => Completion::Ok(Answer::Enqueued { id: text("id") }),
        (Call::Dequeue { .. }, 200) => Completion::Ok(Answer::Delivered {
            id: text("id"),
            content: text("content"),
            receipt: text("receipt"),
            deliveries: body["deliveries"].as_u64().unwrap_or(0),
        }),
        (Call::Ack { .. } | Call::Nack { .. } | Call::Touch { .. }, 200) => {
            Completion::Ok(Answer::Done)
        }
        (Call::Read { .. }, 200) => Completion::Ok(Answer::Found {
            content: text("content"),
        }),
        (Call::Read { .. }, 400 | 404) if body["code"] == "message_not_found" => {
            Completion::Ok(Answer::NotFound)
        }
        (_, 400..=499) => Completion::Fail(format!(
            "{status} {}",
            body["code"].as_str().unwrap_or_default()
        )),
        _ => Completion::Info(format!(
            "{status} {}",
            body["code"].as_str().unwrap_or_default()
        )),
    }
}

/// A small priority derived from the content, so delayed queues see mixed priorities (all due).
/// The checker derives it again to check the order of deliveries.
pub fn priority(content: &str) -> u64 {
    content.bytes().map(u64::from).sum::<u64>() % 50
}

/// A group derived from the content, so fair queues see several groups (delayed queues store
/// `default` whatever is sent).
pub fn group(content: &str) -> String {
    format!("g{}", content.len() % 4)
}

/// What a worker does, in percent: fewer enqueues than dequeues, so the backlog stays short
/// (nacks put messages back) and the drain after the run is quick.
const ENQUEUE_SHARE: u32 = 45;
/// Of held messages: abandoned (never acked; redelivered after the lease expires).
const ABANDON_SHARE: u32 = 5;
/// Of held messages: nacked.
const NACK_SHARE: u32 = 15;
/// Of held messages: touched, then acked.
const TOUCH_SHARE: u32 = 10;

/// A worker: until `stop` is set (or `until` at the latest), picks an operation, sends it, and
/// thinks for 5–30 ms. A failed or unknown request backs off 200 ms, so a dead node is not
/// hammered.
pub async fn worker(
    client: Client,
    queues: Vec<QueueMeta>,
    until: Instant,
    seed: u64,
    stop: &AtomicBool,
) {
    let mut rng = StdRng::seed_from_u64(seed ^ u64::from(client.process).wrapping_mul(0x9e37));
    let mut n = 0u64;
    while Instant::now() < until && !stop.load(Ordering::SeqCst) {
        let queue = queues[rng.random_range(0..queues.len())].name.clone();
        let done = if rng.random_range(0..100) < ENQUEUE_SHARE {
            n += 1;
            let content = format!("p{}-{n}", client.process);
            client.call(Call::Enqueue { queue, content }).await
        } else {
            let got = client
                .call(Call::Dequeue {
                    queue: queue.clone(),
                })
                .await;
            match got {
                Completion::Ok(Answer::Delivered { id, receipt, .. }) => {
                    settle(&client, &mut rng, queue, id, receipt).await
                }
                other => other,
            }
        };
        let think = match done {
            Completion::Ok(_) => rng.random_range(5..30),
            Completion::Fail(_) | Completion::Info(_) => 200,
        };
        tokio::time::sleep(Duration::from_millis(think)).await;
    }
}

/// Acks, nacks, touches and acks, or abandons a delivered message.
async fn settle(
    client: &Client,
    rng: &mut StdRng,
    queue: String,
    id: String,
    receipt: String,
) -> Completion {
    let roll = rng.random_range(0..100);
    if roll < ABANDON_SHARE {
        return Completion::Ok(Answer::Done);
    }
    if roll < ABANDON_SHARE + NACK_SHARE {
        return client.call(Call::Nack { queue, id, receipt }).await;
    }
    if roll < ABANDON_SHARE + NACK_SHARE + TOUCH_SHARE {
        let touched = client
            .call(Call::Touch {
                queue: queue.clone(),
                id: id.clone(),
                receipt: receipt.clone(),
            })
            .await;
        if !matches!(touched, Completion::Ok(_)) {
            return touched;
        }
    }
    client.call(Call::Ack { queue, id, receipt }).await
}

/// After the faults: one drainer takes ready messages out of `queue` through its node (dequeue,
/// then ack with the receipt) until the queue answers empty twice in a row, or `until`. Run one per
/// node and queue at once: a drain one request at a time is too slow for a long run's backlog.
pub async fn drain(client: Client, queue: String, until: Instant) {
    let mut empty = 0;
    while empty < 2 && Instant::now() < until {
        match client
            .call(Call::Dequeue {
                queue: queue.clone(),
            })
            .await
        {
            Completion::Ok(Answer::Delivered { id, receipt, .. }) => {
                empty = 0;
                client
                    .call(Call::Ack {
                        queue: queue.clone(),
                        id,
                        receipt,
                    })
                    .await;
            }
            Completion::Fail(why) if why.contains("queue_empty") => empty += 1,
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Reads every id in `ids` (retrying an unclear answer a few times), so the checker knows which
/// messages are still there.
pub async fn read_all(clients: &[Client], ids: &[(String, String)], until: Instant) {
    for (k, (queue, id)) in ids.iter().enumerate() {
        for attempt in 0..3 {
            if Instant::now() > until {
                return;
            }
            let client = &clients[(k + attempt) % clients.len()];
            let got = client
                .call(Call::Read {
                    queue: queue.clone(),
                    id: id.clone(),
                })
                .await;
            if matches!(got, Completion::Ok(_)) {
                break;
            }
        }
    }
}

/// Waits until no queue has a live lease (abandoned messages are ready again), or `until`.
pub async fn await_leases(client: &Client, queues: &[QueueMeta], until: Instant) -> bool {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap_or_default();
    while Instant::now() < until {
        let mut unacked = 0;
        for q in queues {
            let info: Option<Value> = async {
                http.get(format!("{}/API/v1/queues/{}", client.base, q.name))
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()
            }
            .await;
            unacked += info.and_then(|v| v["unacked"].as_u64()).unwrap_or(1);
        }
        if unacked == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    false
}

/// Whether the workload's queue `name` is a fair (round-robin) queue; the others are delayed queues.
pub fn is_fair(name: &str) -> bool {
    name.ends_with("fair")
}
