//! The two streams: EnqueueStream (ordered answers, pipelining, first error ends it) and DequeueStream
//! (DOQ's request/ack protocol, waking without polling, no leaked task when a client vanishes).
use std::collections::HashSet;

use doq_proto::queue::{
    doq_client::DoqClient, DequeueRequest, DequeueResponse, EnqueueRequest, EnqueueResponse,
    GetQueueRequest,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{transport::Channel, Code, Streaming};

use super::{check, eventually, failure, soon, Harness, START_MS};

/// Messages per producer in the concurrency test (more with `DOQ_SLOW_TESTS=1`).
fn per_producer() -> usize {
    if std::env::var_os("DOQ_SLOW_TESTS").is_some() {
        10_000
    } else {
        1000
    }
}

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

/// An open DequeueStream: the request side and the responses.
struct Consumer {
    requests: mpsc::Sender<DequeueRequest>,
    responses: Streaming<DequeueResponse>,
}

impl Consumer {
    /// Opens a stream and sends the first request.
    async fn open(client: &mut DoqClient<Channel>, first: DequeueRequest) -> Self {
        let (requests, rx) = mpsc::channel(4);
        requests.send(first).await.unwrap();
        let responses = client
            .dequeue_stream(ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        Self {
            requests,
            responses,
        }
    }

    /// The next message, then a request for the one after.
    async fn next(&mut self) -> DequeueResponse {
        let m = soon("a delivery", self.responses.message())
            .await
            .unwrap()
            .expect("a message, not the end of the stream");
        self.requests.send(DequeueRequest::default()).await.unwrap();
        m
    }
}

#[tokio::test]
async fn enqueue_stream_answers_every_request_in_order() {
    let h = Harness::start().await;
    h.delayed("q").await;
    let (tx, rx) = mpsc::channel(16);
    let mut answers = h
        .client
        .clone()
        .enqueue_stream(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let sender = tokio::spawn(async move {
        for n in 0..300 {
            tx.send(message("q", format!("m{n}"))).await.unwrap();
        }
    });
    let mut ids = HashSet::new();
    for n in 0..300 {
        let a: EnqueueResponse = answers.message().await.unwrap().unwrap();
        assert_eq!(a.content, format!("m{n}"), "answers come in request order");
        assert!(a.success && ids.insert(a.id));
    }
    sender.await.unwrap();
    assert!(
        answers.message().await.unwrap().is_none(),
        "EOF ends the stream with OK"
    );
    let info = h
        .client
        .clone()
        .get_queue(GetQueueRequest { name: "q".into() })
        .await
        .unwrap();
    assert_eq!(info.into_inner().total, 300);
    eventually("the stream task ends", || h.service.live_streams() == 0).await;
}

#[tokio::test]
async fn enqueue_stream_ends_with_the_first_error() {
    let h = Harness::start().await;
    h.delayed("q").await;
    let mut requests: Vec<EnqueueRequest> = (0..3).map(|n| message("q", format!("m{n}"))).collect();
    requests.push(message("nope", "lost".into()));
    requests.extend((3..6).map(|n| message("q", format!("m{n}"))));
    let mut answers = h
        .client
        .clone()
        .enqueue_stream(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    for n in 0..3 {
        assert_eq!(
            answers.message().await.unwrap().unwrap().content,
            format!("m{n}")
        );
    }
    let s = failure(answers.message().await);
    check(
        &s,
        Code::NotFound,
        "failed to enqueue a message",
        "queue_not_found",
    );

    let bad = vec![
        message("q", "ok".into()),
        message("q", "x".repeat(1024 * 1024 + 1)),
    ];
    let mut answers = h
        .client
        .clone()
        .enqueue_stream(tokio_stream::iter(bad))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answers.message().await.unwrap().unwrap().content, "ok");
    let s = failure(answers.message().await);
    check(
        &s,
        Code::InvalidArgument,
        "failed to enqueue a message",
        "validation_failed",
    );
    eventually("the stream tasks end", || h.service.live_streams() == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_producers_and_four_consumers_deliver_every_message_exactly_once() {
    let h = Harness::start().await;
    h.delayed("q").await;
    let per = per_producer();
    let total = per * 8;
    let (ids_tx, mut ids_rx) = mpsc::unbounded_channel::<u64>();
    let mut consumers = Vec::new();
    for _ in 0..4 {
        let mut client = h.client.clone();
        let ids_tx = ids_tx.clone();
        consumers.push(tokio::spawn(async move {
            let mut c = Consumer::open(&mut client, ready("q", true)).await;
            loop {
                let m = c.responses.message().await.unwrap().expect("a message");
                if ids_tx.send(m.id).is_err()
                    || c.requests.send(DequeueRequest::default()).await.is_err()
                {
                    return;
                }
            }
        }));
    }
    let mut producers = Vec::new();
    for p in 0..8 {
        let mut client = h.connect().await;
        producers.push(tokio::spawn(async move {
            let requests = (0..per).map(move |n| message("q", format!("p{p}-{n}")));
            let mut answers = client
                .enqueue_stream(tokio_stream::iter(requests))
                .await
                .unwrap()
                .into_inner();
            let mut ids = Vec::with_capacity(per);
            while let Some(a) = answers.message().await.unwrap() {
                ids.push(a.id);
            }
            ids
        }));
    }
    let mut produced = HashSet::new();
    for p in producers {
        let ids = soon("a producer", p).await.unwrap();
        assert_eq!(ids.len(), per);
        produced.extend(ids);
    }
    assert_eq!(produced.len(), total, "every enqueue got its own id");
    let mut consumed = HashSet::new();
    while consumed.len() < total {
        let id = soon("deliveries", ids_rx.recv())
            .await
            .expect("consumers alive");
        assert!(consumed.insert(id), "message {id} was delivered twice");
    }
    assert_eq!(consumed, produced);
    for c in consumers {
        c.abort();
    }
    let info = h
        .client
        .clone()
        .get_queue(GetQueueRequest { name: "q".into() })
        .await
        .unwrap();
    assert_eq!(
        info.into_inner().total,
        0,
        "nothing left, nothing extra taken"
    );
}

#[tokio::test]
async fn dequeue_stream_sends_one_message_per_request_and_ends_at_eof() {
    let h = Harness::start().await;
    h.delayed("q").await;
    for n in 0..3 {
        h.enqueue("q", 1, &format!("m{n}")).await;
    }
    let mut c = Consumer::open(&mut h.client.clone(), ready("q", true)).await;
    assert_eq!(c.next().await.content, "m0");
    assert_eq!(c.next().await.content, "m1");
    let third = soon("a delivery", c.responses.message())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(third.content, "m2");
    // No request for a fourth: the server waits for one, then the half-close ends the stream.
    drop(c.requests);
    assert!(soon("the end", c.responses.message())
        .await
        .unwrap()
        .is_none());
    eventually("the stream task ends", || h.service.live_streams() == 0).await;
    let info = h
        .client
        .clone()
        .get_queue(GetQueueRequest { name: "q".into() })
        .await
        .unwrap();
    assert_eq!(info.into_inner().total, 0);
}

#[tokio::test]
async fn dequeue_stream_delivers_nothing_before_it_is_asked() {
    let h = Harness::start().await;
    h.delayed("q").await;
    h.enqueue("q", 1, "a").await;
    h.enqueue("q", 1, "b").await;
    let mut c = Consumer::open(&mut h.client.clone(), ready("q", false)).await;
    let first = soon("a delivery", c.responses.message())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.content, "a");
    let applied = h.applied();
    // The task is idle waiting for a request: it must not have taken "b".
    eventually("the task waits for the next request", || {
        h.service.parked_waiters() == 0
    })
    .await;
    let info = h
        .client
        .clone()
        .get_queue(GetQueueRequest { name: "q".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((info.ready, info.unacked), (1, 1));
    assert_eq!(h.applied(), applied);
    c.requests.send(DequeueRequest::default()).await.unwrap();
    assert_eq!(
        soon("a delivery", c.responses.message())
            .await
            .unwrap()
            .unwrap()
            .content,
        "b"
    );
}

#[tokio::test]
async fn dequeue_stream_needs_a_queue_name() {
    let h = Harness::start().await;
    let mut c = Consumer::open(&mut h.client.clone(), ready("", true)).await;
    let s = failure(soon("the answer", c.responses.message()).await);
    check(
        &s,
        Code::InvalidArgument,
        "failed to dequeue a message",
        "validation_failed",
    );
    eventually("the stream task ends", || h.service.live_streams() == 0).await;
}

#[tokio::test]
async fn dequeue_stream_wakes_on_enqueue_without_polling() {
    let h = Harness::start().await;
    h.delayed("q").await;
    let mut c = Consumer::open(&mut h.client.clone(), ready("q", true)).await;
    eventually("the consumer is parked", || h.service.parked_waiters() == 1).await;
    let idle = h.applied();
    tokio::task::yield_now().await;
    assert_eq!(h.applied(), idle, "a parked consumer proposes nothing");
    let id = h.enqueue("q", 1, "wake up").await.id;
    let got = c.next().await;
    assert_eq!((got.id, got.content.as_str()), (id, "wake up"));
    assert_eq!(
        h.applied(),
        idle + 2,
        "one enqueue and one dequeue, no polling proposals"
    );
}

#[tokio::test]
async fn dequeue_stream_waits_for_a_queue_that_does_not_exist_yet() {
    let h = Harness::start().await;
    let mut c = Consumer::open(&mut h.client.clone(), ready("later", true)).await;
    eventually("the consumer is parked", || h.service.parked_waiters() == 1).await;
    h.delayed("later").await;
    let id = h.enqueue("later", 1, "first").await.id;
    assert_eq!(c.next().await.id, id);
}

#[tokio::test]
async fn dequeue_stream_wakes_when_a_lease_lapses_on_its_timer() {
    let h = Harness::start().await;
    h.delayed("q").await;
    let id = h.enqueue("q", 1, "a").await.id;
    let mut c = h.client.clone();
    c.dequeue(ready("q", false)).await.unwrap();
    // The lease ends at START + 10 s; 50 ms before it, the consumer parks with a 50 ms timer.
    h.clock.advance_ms(9_950);
    let mut consumer = Consumer::open(&mut h.client.clone(), ready("q", true)).await;
    eventually("the consumer is parked", || h.service.parked_waiters() == 1).await;
    let idle = h.applied();
    // Time passes with no write at all: only the timer can notice the lapse.
    h.clock.advance_ms(100);
    let got = consumer.next().await;
    assert_eq!(got.id, id, "the lapsed lease's message is delivered again");
    assert_eq!(h.applied(), idle + 1);
}

#[tokio::test]
async fn dequeue_stream_wakes_when_a_lease_lapses_and_anything_commits() {
    let h = Harness::start().await;
    h.delayed("q").await;
    h.delayed("other").await;
    let id = h.enqueue("q", 1, "a").await.id;
    h.client.clone().dequeue(ready("q", false)).await.unwrap();
    let mut consumer = Consumer::open(&mut h.client.clone(), ready("q", true)).await;
    eventually("the consumer is parked", || h.service.parked_waiters() == 1).await;
    h.clock.advance_ms(10_000);
    h.enqueue("other", 1, "unrelated").await;
    assert_eq!(consumer.next().await.id, id);
}

#[tokio::test]
async fn dequeue_stream_wakes_when_a_delayed_message_comes_due() {
    let h = Harness::start().await;
    h.delayed("q").await;
    let due = i64::try_from(START_MS / 1000).unwrap() + 1;
    let id = h.enqueue("q", due, "later").await.id;
    h.clock.advance_ms(950);
    let mut consumer = Consumer::open(&mut h.client.clone(), ready("q", true)).await;
    eventually("the consumer is parked", || h.service.parked_waiters() == 1).await;
    h.clock.advance_ms(100);
    assert_eq!(consumer.next().await.id, id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_dequeue_streams_leak_no_task() {
    let h = Harness::start().await;
    h.delayed("q").await;
    let baseline = h.service.live_streams();
    let mut client = h.client.clone();
    for _round in 0..10 {
        let mut open = Vec::new();
        for _ in 0..100 {
            open.push(Consumer::open(&mut client, ready("q", true)).await);
        }
        eventually("every stream is parked", || {
            h.service.parked_waiters() == 100
        })
        .await;
        assert_eq!(h.service.live_streams(), baseline + 100);
        drop(open);
        eventually("abandoned streams end", || {
            h.service.live_streams() == baseline
        })
        .await;
    }
    // A client whose whole connection vanishes.
    let mut gone = h.connect().await;
    let mut open = Vec::new();
    for _ in 0..10 {
        open.push(Consumer::open(&mut gone, ready("q", false)).await);
    }
    eventually("every stream is parked", || {
        h.service.parked_waiters() == 10
    })
    .await;
    drop(open);
    drop(gone);
    eventually("the vanished connection's streams end", || {
        h.service.live_streams() == baseline
    })
    .await;
    assert_eq!(h.service.parked_waiters(), 0);
    // Nothing was dequeued by the abandoned streams.
    let id = h.enqueue("q", 1, "still here").await.id;
    let got = h
        .client
        .clone()
        .dequeue(ready("q", true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.id, id);
}

#[tokio::test]
async fn shutdown_ends_streams_with_unavailable() {
    let h = Harness::start().await;
    h.delayed("q").await;
    let mut c = Consumer::open(&mut h.client.clone(), ready("q", true)).await;
    eventually("the consumer is parked", || h.service.parked_waiters() == 1).await;
    h.shutdown.cancel();
    let s = failure(soon("the end of the stream", c.responses.message()).await);
    check(
        &s,
        Code::Unavailable,
        "failed to dequeue a message",
        "unavailable",
    );
    eventually("the stream task ends", || h.service.live_streams() == 0).await;
}
