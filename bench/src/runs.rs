//! The measurements. Each creates its own delayed queue, moves at most `Limits::messages` messages, stops
//! sending at `Limits::time`, and reports how many messages the server confirmed and how long that took.
use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use anyhow::Context as _;
use doq_proto::{
    ext::{doq_ext_client::DoqExtClient, AckBatchRequest, AckItem, SubscribeRequest},
    queue::{
        doq_client::DoqClient, AckRequest, CreateQueueRequest, DeleteQueueRequest, DequeueRequest,
        EnqueueRequest, QueueSettings,
    },
};
use futures::{stream::FuturesUnordered, StreamExt as _};
use tokio::{sync::mpsc, task::JoinSet, time::Instant};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

/// Longest lease a bench message can hold: far beyond any run, so nothing is redelivered.
const ACK_TIMEOUT_S: u32 = 600;
/// Unary acks one `DequeueStream` consumer keeps in flight at most (its window bounds them too).
const ACKS_IN_FLIGHT: usize = 256;
/// Receipts one `AckBatch` carries at most.
const ACK_BATCH: usize = 100;
/// How often the coordinator looks at the ack counter.
const TICK: Duration = Duration::from_millis(2);

/// What bounds a run, and what its messages look like.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    /// The count bound.
    pub(crate) messages: u64,
    /// The time bound for sending; consumers get as long again to drain.
    pub(crate) time: Duration,
    /// Every message's content.
    pub(crate) content: String,
    /// Consumers in the end-to-end runs.
    pub(crate) consumers: usize,
    /// Deliveries each consumer keeps asked for.
    pub(crate) window: u32,
}

/// The result of one run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outcome {
    /// Messages confirmed (enqueue answers, or acks).
    pub(crate) messages: u64,
    /// Wall time from the first request to the last confirmation.
    pub(crate) elapsed: Duration,
    /// The time bound stopped the run before the count bound.
    pub(crate) timed_out: bool,
}

impl Outcome {
    /// Messages per second.
    pub(crate) fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            // Counts stay far below 2^52, so the conversion is exact.
            #[allow(clippy::cast_precision_loss)]
            let n = self.messages as f64;
            n / secs
        } else {
            0.0
        }
    }
}

async fn client(addr: &str) -> anyhow::Result<DoqClient<Channel>> {
    DoqClient::connect(addr.to_string())
        .await
        .with_context(|| format!("connect to {addr}"))
}

async fn create(addr: &str, queue: &str) -> anyhow::Result<()> {
    client(addr)
        .await?
        .create_queue(CreateQueueRequest {
            name: queue.into(),
            r#type: "delayed".into(),
            settings: Some(QueueSettings {
                ack_timeout: ACK_TIMEOUT_S,
                ..QueueSettings::default()
            }),
        })
        .await
        .context("create the bench queue")?;
    Ok(())
}

async fn delete(addr: &str, queue: &str) -> anyhow::Result<()> {
    client(addr)
        .await?
        .delete_queue(DeleteQueueRequest { name: queue.into() })
        .await
        .context("delete the bench queue")?;
    Ok(())
}

/// One `EnqueueStream` on its own connection: sends until the count or `deadline`, returns how many
/// answers came back.
async fn produce(
    addr: String,
    queue: String,
    limits: Limits,
    deadline: Instant,
) -> anyhow::Result<u64> {
    let mut c = client(&addr).await?;
    let content = limits.content;
    let requests = futures::stream::iter(0..limits.messages)
        .map(move |_| EnqueueRequest {
            queue_name: queue.clone(),
            priority: 1,
            content: content.clone(),
            ..EnqueueRequest::default()
        })
        .take_until(tokio::time::sleep_until(deadline));
    let mut answers = c.enqueue_stream(requests).await?.into_inner();
    let mut n = 0u64;
    while answers.message().await?.is_some() {
        n += 1;
    }
    Ok(n)
}

/// `EnqueueStream` throughput on one stream.
pub(crate) async fn enqueue(addr: &str, queue: &str, limits: &Limits) -> anyhow::Result<Outcome> {
    create(addr, queue).await?;
    let start = Instant::now();
    let n = produce(
        addr.to_string(),
        queue.to_string(),
        limits.clone(),
        start + limits.time,
    )
    .await?;
    let elapsed = start.elapsed();
    delete(addr, queue).await?;
    Ok(Outcome {
        messages: n,
        elapsed,
        timed_out: n < limits.messages,
    })
}

/// Runs one producer against `consumers` (already started, counting acks in `acked`) and waits until
/// every produced message is acked, or twice the time bound has passed.
async fn drain(
    addr: &str,
    queue: &str,
    limits: &Limits,
    start: Instant,
    acked: &AtomicU64,
    mut consumers: JoinSet<anyhow::Result<()>>,
) -> anyhow::Result<Outcome> {
    let produced = produce(
        addr.to_string(),
        queue.to_string(),
        limits.clone(),
        start + limits.time,
    )
    .await?;
    let give_up = start + limits.time * 2;
    loop {
        if acked.load(Ordering::SeqCst) >= produced || Instant::now() >= give_up {
            break;
        }
        if let Some(Ok(Err(e))) = consumers.try_join_next() {
            return Err(e.context("a consumer failed"));
        }
        tokio::time::sleep(TICK).await;
    }
    let elapsed = start.elapsed();
    let done = acked.load(Ordering::SeqCst).min(produced);
    consumers.shutdown().await;
    delete(addr, queue).await?;
    Ok(Outcome {
        messages: done,
        elapsed,
        timed_out: produced < limits.messages || done < produced,
    })
}

/// Stream enqueue → `DequeueStream` (lease) → unary `Ack`.
pub(crate) async fn end_to_end(
    addr: &str,
    queue: &str,
    limits: &Limits,
) -> anyhow::Result<Outcome> {
    create(addr, queue).await?;
    let acked = Arc::new(AtomicU64::new(0));
    let mut consumers = JoinSet::new();
    for _ in 0..limits.consumers {
        let c = client(addr).await?;
        consumers.spawn(lease_and_ack(
            c,
            queue.to_string(),
            limits.window,
            acked.clone(),
        ));
    }
    let start = Instant::now();
    drain(addr, queue, limits, start, &acked, consumers).await
}

/// A DOQ-style consumer with `window` requests outstanding: every ack that returns asks for one more.
async fn lease_and_ack(
    mut c: DoqClient<Channel>,
    queue: String,
    window: u32,
    acked: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let (requests, rx) = mpsc::channel(usize::try_from(window).unwrap_or(1).saturating_add(1));
    for _ in 0..window {
        requests
            .send(DequeueRequest {
                queue_name: queue.clone(),
                ack: false,
            })
            .await?;
    }
    let mut deliveries = c
        .dequeue_stream(ReceiverStream::new(rx))
        .await?
        .into_inner();
    let mut acks = FuturesUnordered::new();
    loop {
        tokio::select! {
            Some(done) = acks.next(), if !acks.is_empty() => {
                let _: () = done?;
                acked.fetch_add(1, Ordering::SeqCst);
                requests.send(DequeueRequest::default()).await?;
            }
            m = deliveries.message(), if acks.len() < ACKS_IN_FLIGHT => {
                let Some(m) = m? else { return Ok(()) };
                let mut c = c.clone();
                let queue_name = queue.clone();
                acks.push(async move {
                    c.ack(AckRequest { queue_name, id: m.id }).await?;
                    anyhow::Ok(())
                });
            }
        }
    }
}

/// Stream enqueue → `DOQExt.Subscribe` (credit window) → `AckBatch` with receipts.
pub(crate) async fn subscribe(addr: &str, queue: &str, limits: &Limits) -> anyhow::Result<Outcome> {
    create(addr, queue).await?;
    let acked = Arc::new(AtomicU64::new(0));
    let mut consumers = JoinSet::new();
    for _ in 0..limits.consumers {
        let c = DoqExtClient::connect(addr.to_string()).await?;
        consumers.spawn(subscribe_and_ack(
            c,
            queue.to_string(),
            limits.window,
            acked.clone(),
        ));
    }
    let start = Instant::now();
    drain(addr, queue, limits, start, &acked, consumers).await
}

/// A subscriber: acks receipts in batches (when `ACK_BATCH` have gathered or the stream pauses) and
/// grants one credit per acked message.
async fn subscribe_and_ack(
    mut c: DoqExtClient<Channel>,
    queue: String,
    window: u32,
    acked: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let (requests, rx) = mpsc::channel(64);
    requests
        .send(SubscribeRequest {
            queue_name: queue.clone(),
            ack: false,
            credit: window,
        })
        .await?;
    let mut deliveries = c.subscribe(ReceiverStream::new(rx)).await?.into_inner();
    let mut pending: Vec<AckItem> = Vec::new();
    let mut batches = FuturesUnordered::new();
    let flush = |pending: &mut Vec<AckItem>, c: &DoqExtClient<Channel>| {
        let items = std::mem::take(pending);
        let mut c = c.clone();
        let queue_name = queue.clone();
        async move {
            let n = u32::try_from(items.len()).unwrap_or(u32::MAX);
            let results = c
                .ack_batch(AckBatchRequest { queue_name, items })
                .await?
                .into_inner()
                .results;
            anyhow::ensure!(results.iter().all(|r| r.ok), "an ack failed: {results:?}");
            anyhow::Ok(n)
        }
    };
    loop {
        tokio::select! {
            Some(done) = batches.next(), if !batches.is_empty() => {
                let n: u32 = done?;
                acked.fetch_add(u64::from(n), Ordering::SeqCst);
                requests.send(SubscribeRequest { credit: n, ..SubscribeRequest::default() }).await?;
            }
            d = deliveries.message() => {
                let Some(d) = d? else { return Ok(()) };
                pending.push(AckItem { id: d.id, receipt: d.receipt });
                if pending.len() >= ACK_BATCH {
                    batches.push(flush(&mut pending, &c));
                }
            }
            () = tokio::time::sleep(Duration::from_millis(1)), if !pending.is_empty() => {
                batches.push(flush(&mut pending, &c));
            }
        }
    }
}
