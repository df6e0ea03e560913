//! The extension service `doq.ext.v1.DOQExt` (docs/grpc.md §7.4): each RPC's happy path, its bad input
//! (INVALID_ARGUMENT with the field's location, nothing applied) and unknown queues (NOT_FOUND), and
//! `Subscribe`'s credit window.
use std::collections::HashMap;

use doq_proto::{
    ext::{
        doq_ext_client::DoqExtClient, AckBatchRequest, AckItem, BatchMessage, Delivery,
        DequeueBatchRequest, EnqueueBatchRequest, SubscribeRequest,
    },
    queue::GetQueueRequest,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{transport::Channel, Code, Status, Streaming};

use super::{check, eventually, failure, soon, Harness};
use crate::grpc::status_details;

async fn ext(h: &Harness) -> DoqExtClient<Channel> {
    DoqExtClient::new(h.channel().await)
}

fn item(content: &str, priority: i64) -> BatchMessage {
    BatchMessage {
        content: content.into(),
        priority,
        ..BatchMessage::default()
    }
}

fn batch(queue: &str, messages: Vec<BatchMessage>) -> EnqueueBatchRequest {
    EnqueueBatchRequest {
        queue_name: queue.into(),
        messages,
    }
}

fn take(queue: &str, max: u32, ack: bool, wait_ms: u32) -> DequeueBatchRequest {
    DequeueBatchRequest {
        queue_name: queue.into(),
        max,
        ack,
        wait_ms,
    }
}

fn acks(queue: &str, items: Vec<AckItem>) -> AckBatchRequest {
    AckBatchRequest {
        queue_name: queue.into(),
        items,
    }
}

fn by_id(id: u64) -> AckItem {
    AckItem {
        id,
        receipt: String::new(),
    }
}

fn with_receipt(d: &Delivery) -> AckItem {
    AckItem {
        id: d.id,
        receipt: d.receipt.clone(),
    }
}

/// (ready, unacked, total) of a queue.
async fn counts(h: &Harness, queue: &str) -> (i64, i64, i64) {
    let q = h
        .client
        .clone()
        .get_queue(GetQueueRequest { name: queue.into() })
        .await
        .expect("get queue")
        .into_inner();
    (q.ready, q.unacked, q.total)
}

/// An INVALID_ARGUMENT whose ErrorInfo points at `location`.
#[track_caller]
fn invalid_at(status: &Status, message: &str, location: &str) {
    check(status, Code::InvalidArgument, message, "validation_failed");
    let info = status_details::error_info(status).expect("ErrorInfo");
    assert_eq!(
        info.metadata.get("location").map(String::as_str),
        Some(location),
        "{status:?}"
    );
}

#[tokio::test]
async fn enqueue_batch_stores_every_message_in_order_or_none() {
    let h = Harness::start().await;
    h.delayed("q").await;
    let mut c = ext(&h).await;
    let mut with_id = item("b", 5);
    with_id.id = 77;
    let mut with_meta = item("c", -3);
    with_meta.group = "ignored-for-delayed".into();
    with_meta.metadata = HashMap::from([("k".to_owned(), "v".to_owned())]);
    let stored = c
        .enqueue_batch(batch("q", vec![item("a", 10), with_id, with_meta]))
        .await
        .unwrap()
        .into_inner()
        .messages;
    assert_eq!(stored.len(), 3);
    assert_eq!(stored[1].id, 77, "a client id is kept");
    assert!(stored[0].id != 0 && stored[2].id > stored[0].id);
    let shape: Vec<(&str, i64)> = stored
        .iter()
        .map(|r| (r.group.as_str(), r.priority))
        .collect();
    assert_eq!(
        shape,
        [("default", 10), ("default", 5), ("default", -3)],
        "the stored group and priority, in request order"
    );
    assert_eq!(counts(&h, "q").await, (3, 0, 3));

    let applied = h.applied();
    let mut big = item("x", 1);
    big.content = "x".repeat(1024 * 1024 + 1);
    let s = failure(c.enqueue_batch(batch("q", vec![item("ok", 1), big])).await);
    invalid_at(&s, "failed to enqueue messages", "messages[1].content");
    let mut crowded = item("x", 1);
    crowded.metadata = (0..65).map(|n| (format!("k{n}"), String::new())).collect();
    let s = failure(c.enqueue_batch(batch("q", vec![crowded])).await);
    invalid_at(&s, "failed to enqueue messages", "messages[0].metadata");
    let s = failure(c.enqueue_batch(batch("q", vec![])).await);
    invalid_at(&s, "failed to enqueue messages", "messages");
    let s = failure(
        c.enqueue_batch(batch("q", (0..1001).map(|_| item("x", 1)).collect()))
            .await,
    );
    invalid_at(&s, "failed to enqueue messages", "messages");
    let s = failure(c.enqueue_batch(batch("", vec![item("x", 1)])).await);
    invalid_at(&s, "failed to enqueue messages", "queue_name");
    assert_eq!(h.applied(), applied, "bad input is never proposed");
    let s = failure(c.enqueue_batch(batch("nope", vec![item("x", 1)])).await);
    check(
        &s,
        Code::NotFound,
        "failed to enqueue messages",
        "queue_not_found",
    );
    assert_eq!(counts(&h, "q").await, (3, 0, 3), "nothing half-stored");
}

#[tokio::test]
async fn dequeue_batch_selects_up_to_max_and_answers_empty_with_an_empty_list() {
    let h = Harness::start().await;
    h.delayed("q").await;
    let mut c = ext(&h).await;
    let ids: Vec<u64> = c
        .enqueue_batch(batch(
            "q",
            (0..5).map(|n| item(&format!("m{n}"), 1)).collect(),
        ))
        .await
        .unwrap()
        .into_inner()
        .messages
        .iter()
        .map(|r| r.id)
        .collect();
    let leased = c
        .dequeue_batch(take("q", 3, false, 0))
        .await
        .unwrap()
        .into_inner()
        .messages;
    assert_eq!(
        leased.iter().map(|d| d.id).collect::<Vec<_>>(),
        ids[..3],
        "selection order"
    );
    for (n, d) in leased.iter().enumerate() {
        assert_eq!(d.content, format!("m{n}"));
        assert_eq!((d.queue_name.as_str(), d.deliveries), ("q", 1));
        assert!(!d.receipt.is_empty());
    }
    assert_eq!(counts(&h, "q").await, (2, 3, 5));
    let rest = c
        .dequeue_batch(take("q", 10, true, 0))
        .await
        .unwrap()
        .into_inner()
        .messages;
    assert_eq!(rest.iter().map(|d| d.id).collect::<Vec<_>>(), ids[3..]);
    assert_eq!(counts(&h, "q").await, (0, 3, 3), "ack=true deletes");
    let none = c.dequeue_batch(take("q", 10, true, 0)).await.unwrap();
    assert!(none.into_inner().messages.is_empty());
    let none = c.dequeue_batch(take("q", 10, true, 30)).await.unwrap();
    assert!(
        none.into_inner().messages.is_empty(),
        "a wait that runs out"
    );

    for (bad, location) in [
        (take("q", 0, true, 0), "max"),
        (take("q", 1001, true, 0), "max"),
        (take("q", 1, true, 20_001), "wait_ms"),
        (take("", 1, true, 0), "queue_name"),
    ] {
        let s = failure(c.dequeue_batch(bad).await);
        invalid_at(&s, "failed to dequeue messages", location);
    }
    let s = failure(c.dequeue_batch(take("nope", 1, true, 5000)).await);
    check(
        &s,
        Code::NotFound,
        "failed to dequeue messages",
        "queue_not_found",
    );
}

#[tokio::test]
async fn dequeue_batch_waits_for_the_first_message() {
    let h = Harness::start().await;
    h.delayed("q").await;
    let mut c = ext(&h).await;
    let waiting = tokio::spawn(async move { c.dequeue_batch(take("q", 5, true, 10_000)).await });
    eventually("the batch dequeue is parked", || {
        h.service.parked_waiters() == 1
    })
    .await;
    let id = h.enqueue("q", 1, "wake").await.id;
    let got = soon("the long poll", waiting)
        .await
        .unwrap()
        .unwrap()
        .into_inner()
        .messages;
    assert_eq!(got.iter().map(|d| d.id).collect::<Vec<_>>(), [id]);
}

#[tokio::test]
async fn ack_batch_judges_every_item_on_its_own() {
    let h = Harness::start().await;
    h.delayed("q").await;
    let mut c = ext(&h).await;
    let ids: Vec<u64> = c
        .enqueue_batch(batch(
            "q",
            (0..4).map(|n| item(&format!("m{n}"), 1)).collect(),
        ))
        .await
        .unwrap()
        .into_inner()
        .messages
        .iter()
        .map(|r| r.id)
        .collect();
    let d = c
        .dequeue_batch(take("q", 3, false, 0))
        .await
        .unwrap()
        .into_inner()
        .messages;
    let results = c
        .ack_batch(acks(
            "q",
            vec![with_receipt(&d[0]), by_id(d[1].id), by_id(ids[3]), by_id(1)],
        ))
        .await
        .unwrap()
        .into_inner()
        .results;
    let shape: Vec<(u64, bool, &str, &str)> = results
        .iter()
        .map(|r| (r.id, r.ok, r.code.as_str(), r.message.as_str()))
        .collect();
    assert_eq!(
        shape,
        [
            (d[0].id, true, "", ""),
            (d[1].id, true, "", ""),
            (ids[3], false, "lease_not_held", "Message not found: q"),
            (1, false, "lease_not_held", "Message not found: q"),
        ]
    );
    assert_eq!(counts(&h, "q").await, (1, 1, 2));

    // d[2]'s lease lapses and the message is delivered again: the old receipt is stale.
    h.clock.advance_ms(10_000);
    let again = c
        .dequeue_batch(take("q", 1, false, 0))
        .await
        .unwrap()
        .into_inner()
        .messages;
    assert_eq!((again[0].id, again[0].deliveries), (d[2].id, 2));
    let results = c
        .ack_batch(acks("q", vec![with_receipt(&d[2])]))
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(
        (
            results[0].ok,
            results[0].code.as_str(),
            results[0].message.as_str()
        ),
        (false, "stale_receipt", "Stale receipt: q")
    );
    let results = c
        .ack_batch(acks("q", vec![with_receipt(&again[0])]))
        .await
        .unwrap()
        .into_inner()
        .results;
    assert!(results[0].ok, "{results:?}");

    let applied = h.applied();
    let s = failure(
        c.ack_batch(acks(
            "q",
            vec![
                by_id(ids[3]),
                AckItem {
                    id: ids[3],
                    receipt: "not a receipt!".into(),
                },
            ],
        ))
        .await,
    );
    invalid_at(&s, "failed to ack messages", "items[1].receipt");
    let s = failure(
        c.ack_batch(acks(
            "q",
            vec![AckItem {
                id: ids[3],
                receipt: again[0].receipt.clone(),
            }],
        ))
        .await,
    );
    invalid_at(&s, "failed to ack messages", "items[0].receipt");
    let s = failure(c.ack_batch(acks("q", vec![])).await);
    invalid_at(&s, "failed to ack messages", "items");
    assert_eq!(h.applied(), applied, "bad input is never proposed");
    let s = failure(c.ack_batch(acks("nope", vec![by_id(1)])).await);
    check(
        &s,
        Code::NotFound,
        "failed to ack messages",
        "queue_not_found",
    );
}

/// An open `Subscribe` call: its request side and its deliveries.
struct Subscriber {
    requests: mpsc::Sender<SubscribeRequest>,
    deliveries: Streaming<Delivery>,
}

impl Subscriber {
    async fn open(c: &mut DoqExtClient<Channel>, queue: &str, ack: bool, credit: u32) -> Self {
        let (requests, rx) = mpsc::channel(4);
        requests
            .send(SubscribeRequest {
                queue_name: queue.into(),
                ack,
                credit,
            })
            .await
            .unwrap();
        let deliveries = c
            .subscribe(ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        Self {
            requests,
            deliveries,
        }
    }

    async fn next(&mut self) -> Delivery {
        soon("a delivery", self.deliveries.message())
            .await
            .unwrap()
            .expect("a delivery, not the end")
    }

    async fn grant(&self, credit: u32) {
        // Later requests' queue and ack mode are ignored.
        let req = SubscribeRequest {
            queue_name: "elsewhere".into(),
            ack: true,
            credit,
        };
        self.requests.send(req).await.unwrap();
    }
}

#[tokio::test]
async fn subscribe_delivers_exactly_the_credit_granted() {
    let h = Harness::start().await;
    h.delayed("q").await;
    let mut c = ext(&h).await;
    c.enqueue_batch(batch(
        "q",
        (0..10).map(|n| item(&format!("m{n}"), 1)).collect(),
    ))
    .await
    .unwrap();
    let mut s = Subscriber::open(&mut c, "q", false, 3).await;
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(s.next().await);
    }
    assert_eq!(
        got.iter().map(|d| d.content.as_str()).collect::<Vec<_>>(),
        ["m0", "m1", "m2"]
    );
    assert!(got
        .iter()
        .all(|d| d.queue_name == "q" && d.deliveries == 1 && !d.receipt.is_empty()));
    // Out of credit: the task waits for a request and takes nothing more.
    eventually("the window is spent", || h.service.parked_waiters() == 0).await;
    assert_eq!(counts(&h, "q").await, (7, 3, 10));
    s.grant(0).await;
    got.push(s.next().await);
    assert_eq!(got[3].content, "m3", "credit 0 counts as 1");
    assert_eq!(counts(&h, "q").await, (6, 4, 10));
    s.grant(100).await;
    for _ in 0..6 {
        got.push(s.next().await);
    }
    eventually("the subscriber parks on the empty queue", || {
        h.service.parked_waiters() == 1
    })
    .await;
    let id = h.enqueue("q", 1, "late").await.id;
    got.push(s.next().await);
    assert_eq!(got[10].id, id);
    assert_eq!(
        counts(&h, "q").await,
        (0, 11, 11),
        "the first request's ack=false holds"
    );
    // Receipts from the stream ack the messages.
    let results = c
        .ack_batch(acks("q", got.iter().map(with_receipt).collect()))
        .await
        .unwrap()
        .into_inner()
        .results;
    assert!(results.iter().all(|r| r.ok), "{results:?}");
    assert_eq!(counts(&h, "q").await, (0, 0, 0));
    drop(s);
    eventually("the subscription's task ends", || {
        h.service.live_streams() == 0
    })
    .await;
}

#[tokio::test]
async fn subscribe_with_ack_deletes_and_ends_at_eof() {
    let h = Harness::start().await;
    h.delayed("q").await;
    let mut c = ext(&h).await;
    c.enqueue_batch(batch("q", vec![item("a", 1), item("b", 1)]))
        .await
        .unwrap();
    let mut s = Subscriber::open(&mut c, "q", true, 2).await;
    assert_eq!(s.next().await.content, "a");
    assert_eq!(s.next().await.content, "b");
    drop(s.requests);
    assert!(soon("the end", s.deliveries.message())
        .await
        .unwrap()
        .is_none());
    assert_eq!(counts(&h, "q").await, (0, 0, 0));
    eventually("the task ends", || h.service.live_streams() == 0).await;
}

#[tokio::test]
async fn subscribe_needs_a_name_and_an_existing_queue() {
    let h = Harness::start().await;
    let mut c = ext(&h).await;
    let mut s = Subscriber::open(&mut c, "", false, 1).await;
    let status = failure(soon("the answer", s.deliveries.message()).await);
    invalid_at(&status, "failed to subscribe to a queue", "queue_name");
    let mut s = Subscriber::open(&mut c, "nope", false, 1).await;
    let status = failure(soon("the answer", s.deliveries.message()).await);
    check(
        &status,
        Code::NotFound,
        "failed to subscribe to a queue",
        "queue_not_found",
    );
    eventually("the tasks end", || h.service.live_streams() == 0).await;
}
