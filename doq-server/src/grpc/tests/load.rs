//! The streams under load: many producers and acking consumers at once (every message delivered and
//! acked exactly once), and a thousand clients that vanish mid-stream (their leases lapse and redeliver,
//! and every task they caused ends).
use std::{collections::HashSet, time::Duration};

use doq_proto::queue::{
    doq_client::DoqClient, AckRequest, DequeueRequest, DequeueResponse, EnqueueRequest,
    EnqueueResponse, GetQueueRequest, GetQueueResponse,
};
use futures::{stream::FuturesUnordered, StreamExt as _};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{transport::Channel, Streaming};

use super::{eventually, soon, Harness};

/// Messages each of the 8 producers sends in the acking test.
const PER_PRODUCER: usize = 10_000;
/// Acks one consumer keeps in flight while it already asks for the next message.
const ACKS_IN_FLIGHT: usize = 32;
/// Clients that vanish in the abandonment test, per kind of stream.
const ABANDONED: usize = 1000;
/// Streams opened on one connection (hyper serves at most 200 at once by default).
const PER_CONNECTION: usize = 100;

fn message(queue: &str, content: String) -> EnqueueRequest {
    EnqueueRequest {
        queue_name: queue.into(),
        priority: 1,
        content,
        ..EnqueueRequest::default()
    }
}

fn ready(queue: &str, ack: bool) -> DequeueRequest {
    DequeueRequest {
        queue_name: queue.into(),
        ack,
    }
}

async fn info(client: &DoqClient<Channel>, queue: &str) -> GetQueueResponse {
    client
        .clone()
        .get_queue(GetQueueRequest { name: queue.into() })
        .await
        .expect("get queue")
        .into_inner()
}

/// Opens a DequeueStream with its first request sent.
async fn open_consumer(
    client: &mut DoqClient<Channel>,
    first: DequeueRequest,
) -> (mpsc::Sender<DequeueRequest>, Streaming<DequeueResponse>) {
    let (requests, rx) = mpsc::channel(4);
    requests.send(first).await.expect("request channel open");
    let responses = client
        .dequeue_stream(ReceiverStream::new(rx))
        .await
        .expect("open dequeue stream")
        .into_inner();
    (requests, responses)
}

/// Streams `per` messages into `queue` and returns the ids the answers carry, in order.
async fn produce(mut client: DoqClient<Channel>, p: usize, per: usize) -> Vec<u64> {
    let requests = (0..per).map(move |n| message("q", format!("p{p}-{n}")));
    let mut answers = client
        .enqueue_stream(tokio_stream::iter(requests))
        .await
        .expect("open enqueue stream")
        .into_inner();
    let mut ids = Vec::with_capacity(per);
    while let Some(a) = answers.message().await.expect("an answer, not an error") {
        assert!(a.success);
        ids.push(a.id);
    }
    ids
}

/// A consumer that leases over a DequeueStream (`ack = false`) and acks every message with the unary
/// `Ack`, asking for the next message before the ack returns. Reports each id once it is acked.
async fn consume(mut client: DoqClient<Channel>, acked: mpsc::UnboundedSender<u64>) {
    let (requests, mut responses) = open_consumer(&mut client, ready("q", false)).await;
    let mut acks = FuturesUnordered::new();
    loop {
        tokio::select! {
            Some(done) = acks.next(), if !acks.is_empty() => {
                let id: u64 = done;
                if acked.send(id).is_err() {
                    return;
                }
            }
            m = responses.message(), if acks.len() < ACKS_IN_FLIGHT => {
                let Ok(Some(m)) = m else { return };
                if requests.send(DequeueRequest::default()).await.is_err() {
                    return;
                }
                let mut c = client.clone();
                acks.push(async move {
                    let ok = c
                        .ack(AckRequest { queue_name: "q".into(), id: m.id })
                        .await
                        .expect("the lease is live, so the ack succeeds");
                    assert!(ok.into_inner().success);
                    m.id
                });
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_producers_and_four_acking_consumers_ack_every_message_exactly_once() {
    let h = Harness::start().await;
    h.delayed("q").await;
    let total = PER_PRODUCER * 8;
    let (acked_tx, mut acked_rx) = mpsc::unbounded_channel();
    let mut consumers = Vec::new();
    for _ in 0..4 {
        consumers.push(tokio::spawn(consume(h.connect().await, acked_tx.clone())));
    }
    let mut producers = Vec::new();
    for p in 0..8 {
        producers.push(tokio::spawn(produce(h.connect().await, p, PER_PRODUCER)));
    }
    let mut produced = HashSet::new();
    for p in producers {
        let ids = tokio::time::timeout(Duration::from_secs(120), p)
            .await
            .expect("producers finish")
            .expect("producer task");
        assert_eq!(ids.len(), PER_PRODUCER);
        produced.extend(ids);
    }
    assert_eq!(produced.len(), total, "every enqueue got its own id");
    let mut acked = HashSet::new();
    while acked.len() < total {
        let id = soon("acks", acked_rx.recv())
            .await
            .expect("consumers alive");
        assert!(
            acked.insert(id),
            "message {id} was delivered and acked twice"
        );
    }
    assert_eq!(acked, produced);
    let q = info(&h.client, "q").await;
    assert_eq!(
        (q.ready, q.unacked, q.total),
        (0, 0, 0),
        "nothing left, nothing leased"
    );
    for c in consumers {
        c.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_vanished_clients_leak_no_lease_and_no_task() {
    let h = Harness::start().await;
    h.delayed("q").await;
    h.delayed("in").await;
    let metrics = tokio::runtime::Handle::current().metrics();
    let streams_before = h.service.live_streams();
    let tasks_before = metrics.num_alive_tasks();
    let mut leased = HashSet::new();
    for n in 0..ABANDONED {
        leased.insert(h.enqueue("q", 1, &format!("m{n}")).await.id);
    }

    // 1000 leasing consumers each take one message, ask for another (the queue is empty by then, so
    // they all park) and vanish without acking. Some clients drop only their streams and keep the
    // connection (`kept`), the others drop the whole connection.
    let mut kept = Vec::new();
    let mut delivered = HashSet::new();
    let mut clients = Vec::new();
    let mut open = Vec::new();
    for _ in 0..ABANDONED / PER_CONNECTION {
        let mut client = h.connect().await;
        for _ in 0..PER_CONNECTION {
            let (requests, mut responses) = open_consumer(&mut client, ready("q", false)).await;
            let m = soon("a delivery", responses.message())
                .await
                .expect("a message")
                .expect("not the end");
            assert!(delivered.insert(m.id), "{} delivered twice", m.id);
            open.push((requests, responses));
        }
        clients.push(client);
    }
    assert_eq!(delivered, leased);
    for (requests, _) in &open {
        requests
            .send(DequeueRequest::default())
            .await
            .expect("open");
    }
    eventually("every consumer is parked", || {
        h.service.parked_waiters() == ABANDONED
    })
    .await;
    for (n, client) in clients.into_iter().enumerate() {
        if n % 2 == 0 {
            kept.push(client);
        }
    }
    drop(open);
    eventually("every vanished consumer's task ends", || {
        h.service.live_streams() == streams_before
    })
    .await;

    // 1000 producers vanish mid-stream: each sent requests, read one answer, sent more, and went.
    let mut sent = 0usize;
    for round in 0..ABANDONED / PER_CONNECTION {
        let mut client = h.connect().await;
        let mut open = Vec::new();
        for n in 0..PER_CONNECTION {
            let (requests, rx) = mpsc::channel(8);
            requests
                .send(message("in", format!("{round}-{n}")))
                .await
                .expect("open");
            let mut answers: Streaming<EnqueueResponse> = client
                .enqueue_stream(ReceiverStream::new(rx))
                .await
                .expect("open enqueue stream")
                .into_inner();
            let first = soon("an answer", answers.message()).await.expect("answer");
            assert!(first.expect("not the end").success);
            for more in 0..3 {
                requests
                    .send(message("in", format!("{round}-{n}-{more}")))
                    .await
                    .expect("open");
            }
            sent += 4;
            open.push((requests, answers));
        }
        if round % 2 == 1 {
            kept.push(client);
        }
        drop(open);
    }

    eventually("every vanished client's stream task ends", || {
        h.service.live_streams() == streams_before
    })
    .await;
    assert_eq!(h.service.parked_waiters(), 0);
    let q = info(&h.client, "q").await;
    assert_eq!(
        (q.ready, q.unacked),
        (0, i64::try_from(ABANDONED).expect("small")),
        "the vanished consumers' leases are held until they time out"
    );
    let stored = info(&h.client, "in").await.total;
    assert!(
        (1000..=i64::try_from(sent).expect("small")).contains(&stored),
        "each vanished producer's answered request is stored ({stored} of {sent})"
    );

    // The queue's ack timeout is 10 s: once it passes, every message is delivered again, exactly once.
    h.clock.advance_ms(10_000);
    let mut client = h.client.clone();
    let (requests, mut responses) = open_consumer(&mut client, ready("q", false)).await;
    let mut again = HashSet::new();
    for _ in 0..ABANDONED {
        let m = soon("a redelivery", responses.message())
            .await
            .expect("a message")
            .expect("not the end");
        assert!(again.insert(m.id), "{} redelivered twice", m.id);
        client
            .ack(AckRequest {
                queue_name: "q".into(),
                id: m.id,
            })
            .await
            .expect("ack the redelivery");
        requests
            .send(DequeueRequest::default())
            .await
            .expect("open");
    }
    assert_eq!(again, leased);
    drop((requests, responses, kept));
    let q = info(&h.client, "q").await;
    assert_eq!((q.ready, q.unacked, q.total), (0, 0, 0), "no lease leaked");

    eventually("the server's tasks return to the baseline", || {
        h.service.live_streams() == streams_before && metrics.num_alive_tasks() <= tasks_before
    })
    .await;
}
