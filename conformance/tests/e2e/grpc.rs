//! The real binary's gRPC API (docs/grpc.md §7) through the tonic clients generated from doq.proto and
//! doq_ext.proto, over loopback TCP: every `queue.DOQ` RPC, both streams, receipts in metadata, typed
//! error codes, and the `DOQExt` batches and subscription.
use std::{collections::HashSet, path::Path, time::Duration};

use doq_proto::ext::{
    doq_ext_client::DoqExtClient, AckBatchRequest, AckItem, BatchMessage, DequeueBatchRequest,
    EnqueueBatchRequest, SubscribeRequest,
};
use doq_proto::queue::{
    doq_client::DoqClient, queue_settings::Strategy, AckRequest, CreateQueueRequest,
    DeleteQueueRequest, DeleteRequest, DequeueRequest, EnqueueRequest, GenerateIDsRequest,
    GetQueueRequest, GetQueuesRequest, GetRequest, NackRequest, QueueSettings, TouchRequest,
    UpdatePriorityRequest,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{transport::Channel, Code, Request};
use tracing::info;

use crate::{free_port, Doq};

/// Longest a test waits for one answer from the server.
const PATIENCE: Duration = Duration::from_secs(10);

/// Starts a node that also serves gRPC on a free loopback port; returns it and a connected client.
pub(crate) async fn start_with_grpc(
    data_dir: &Path,
    log_dir: &Path,
) -> (Doq, DoqClient<Channel>, String) {
    let port = free_port();
    let grpc = format!("127.0.0.1:{}", free_port());
    let args: Vec<String> = [
        "--http.host",
        "127.0.0.1",
        "--http.port",
        &port.to_string(),
        "--storage.data_dir",
        &data_dir.display().to_string(),
        "--grpc.address",
        &grpc,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let doq = Doq::spawn(&args, port, log_dir).await;
    let url = format!("http://{grpc}");
    let client = DoqClient::connect(url.clone())
        .await
        .unwrap_or_else(|e| panic!("connect to gRPC at {url}: {e}\n{}", doq.log()));
    (doq, client, url)
}

fn enqueue(queue: &str, group: &str, priority: i64, content: &str) -> EnqueueRequest {
    EnqueueRequest {
        queue_name: queue.into(),
        group: group.into(),
        priority,
        content: content.into(),
        ..EnqueueRequest::default()
    }
}

/// `fut`, or a test failure if the server takes longer than [`PATIENCE`].
async fn soon<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_client_drives_every_doq_rpc() {
    crate::init_tracing();
    let tmp = tempfile::tempdir().unwrap();
    let (doq, mut c, _) = start_with_grpc(&tmp.path().join("data"), tmp.path()).await;

    info!("--- queues: create (delayed, fair), list, get");
    let created = c
        .create_queue(CreateQueueRequest {
            name: "jobs".into(),
            r#type: "delayed".into(),
            settings: Some(QueueSettings {
                ack_timeout: 60,
                ..QueueSettings::default()
            }),
        })
        .await
        .unwrap();
    assert!(created.into_inner().success);
    c.create_queue(CreateQueueRequest {
        name: "fair".into(),
        r#type: "fair".into(),
        settings: Some(QueueSettings {
            strategy: Strategy::RoundRobin as i32,
            max_unacked: 2,
            ack_timeout: 0,
        }),
    })
    .await
    .unwrap();
    let list = c
        .get_queues(GetQueuesRequest::default())
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = list.queues.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(names, ["fair", "jobs"]);
    let fair = c
        .get_queue(GetQueueRequest {
            name: "fair".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fair.r#type, "fair");
    let settings = fair.settings.unwrap();
    assert_eq!(settings.strategy(), Strategy::RoundRobin);
    assert_eq!((settings.max_unacked, settings.ack_timeout), (2, 1800));

    info!("--- enqueue: unary and a stream of 200");
    let ids = c
        .generate_i_ds(GenerateIDsRequest { number: 2 })
        .await
        .unwrap()
        .into_inner()
        .ids;
    let mut first = enqueue("jobs", "", 10, "first");
    first.id = ids[0];
    first.metadata.insert("k".into(), "v".into());
    let one = c.enqueue(first).await.unwrap().into_inner();
    assert!(one.success);
    assert_eq!(
        (one.id, one.group.as_str(), one.priority),
        (ids[0], "default", 10)
    );
    let stream = (0..200).map(|n| enqueue("jobs", "", 20, &format!("s{n}")));
    let mut answers = c
        .enqueue_stream(tokio_stream::iter(stream))
        .await
        .unwrap()
        .into_inner();
    let mut streamed = Vec::new();
    while let Some(a) = soon("an enqueue answer", answers.message()).await.unwrap() {
        assert_eq!(
            a.content,
            format!("s{}", streamed.len()),
            "answers in order"
        );
        streamed.push(a.id);
    }
    assert_eq!(streamed.len(), 200);
    let info = c
        .get_queue(GetQueueRequest {
            name: "jobs".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((info.ready, info.unacked, info.total), (201, 0, 201));

    info!("--- dequeue with a receipt; touch, nack, ack");
    let got = c
        .dequeue(DequeueRequest {
            queue_name: "jobs".into(),
            ack: false,
        })
        .await
        .unwrap();
    let receipt = got
        .metadata()
        .get("doq-receipt")
        .expect("a receipt header")
        .clone();
    assert_eq!(
        got.metadata()
            .get("doq-deliveries")
            .unwrap()
            .to_str()
            .unwrap(),
        "1"
    );
    let got = got.into_inner();
    assert_eq!((got.id, got.content.as_str()), (ids[0], "first"));
    assert_eq!(got.metadata.get("k").map(String::as_str), Some("v"));
    let mut touch = Request::new(TouchRequest {
        queue_name: "jobs".into(),
        id: ids[0],
    });
    touch.metadata_mut().insert("doq-receipt", receipt.clone());
    assert!(c.touch(touch).await.unwrap().into_inner().success);
    let mut nack = Request::new(NackRequest {
        queue_name: "jobs".into(),
        id: ids[0],
        priority: 30,
        metadata: [("retry".to_owned(), "1".to_owned())].into(),
    });
    nack.metadata_mut().insert("doq-receipt", receipt.clone());
    assert!(c.nack(nack).await.unwrap().into_inner().success);
    let mut stale = Request::new(AckRequest {
        queue_name: "jobs".into(),
        id: ids[0],
    });
    stale.metadata_mut().insert("doq-receipt", receipt);
    let s = c.ack(stale).await.unwrap_err();
    assert_eq!(s.code(), Code::NotFound, "the nack ended the lease: {s:?}");
    let nacked = c
        .get(GetRequest {
            queue_name: "jobs".into(),
            id: ids[0],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(nacked.priority, 30);
    assert_eq!(nacked.metadata.get("retry").map(String::as_str), Some("1"));

    info!("--- update priority and delete");
    assert!(
        c.update_priority(UpdatePriorityRequest {
            queue_name: "jobs".into(),
            id: ids[0],
            priority: 5,
        })
        .await
        .unwrap()
        .into_inner()
        .success
    );
    let leased = c
        .dequeue(DequeueRequest {
            queue_name: "jobs".into(),
            ack: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(leased.id, ids[0], "priority 5 comes before 20");
    assert!(
        c.ack(AckRequest {
            queue_name: "jobs".into(),
            id: ids[0],
        })
        .await
        .unwrap()
        .into_inner()
        .success
    );
    assert!(
        c.delete(DeleteRequest {
            queue_name: "jobs".into(),
            id: streamed[0],
        })
        .await
        .unwrap()
        .into_inner()
        .success
    );
    let s = c
        .get(GetRequest {
            queue_name: "jobs".into(),
            id: streamed[0],
        })
        .await
        .unwrap_err();
    assert_eq!(
        (s.code(), s.message()),
        (Code::NotFound, "failed to get a message")
    );

    info!("--- DequeueStream: two consumers lease and ack the remaining 199");
    let remaining: HashSet<u64> = streamed[1..].iter().copied().collect();
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel();
    let mut consumers = Vec::new();
    for _ in 0..2 {
        let mut client = c.clone();
        let seen_tx = seen_tx.clone();
        consumers.push(tokio::spawn(async move {
            let (requests, rx) = mpsc::channel(2);
            requests
                .send(DequeueRequest {
                    queue_name: "jobs".into(),
                    ack: false,
                })
                .await
                .unwrap();
            let mut responses = client
                .dequeue_stream(ReceiverStream::new(rx))
                .await
                .unwrap()
                .into_inner();
            while let Ok(Some(m)) = responses.message().await {
                client
                    .ack(AckRequest {
                        queue_name: "jobs".into(),
                        id: m.id,
                    })
                    .await
                    .unwrap();
                if seen_tx.send(m.id).is_err()
                    || requests.send(DequeueRequest::default()).await.is_err()
                {
                    return;
                }
            }
        }));
    }
    let mut seen = HashSet::new();
    while seen.len() < remaining.len() {
        let id = soon("a streamed delivery", seen_rx.recv()).await.unwrap();
        assert!(seen.insert(id), "{id} delivered twice");
    }
    assert_eq!(seen, remaining);
    for consumer in consumers {
        consumer.abort();
    }
    let info = c
        .get_queue(GetQueueRequest {
            name: "jobs".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((info.ready, info.unacked, info.total), (0, 0, 0));

    info!("--- typed errors, then delete the queues");
    let s = c.enqueue(enqueue("missing", "", 1, "x")).await.unwrap_err();
    assert_eq!(
        (s.code(), s.message()),
        (Code::NotFound, "failed to enqueue a message")
    );
    let s = c
        .dequeue(DequeueRequest {
            queue_name: "jobs".into(),
            ack: true,
        })
        .await
        .unwrap_err();
    assert_eq!(
        (s.code(), s.message()),
        (Code::NotFound, "failed to dequeue a message")
    );
    for name in ["jobs", "fair"] {
        assert!(
            c.delete_queue(DeleteQueueRequest { name: name.into() })
                .await
                .unwrap()
                .into_inner()
                .success
        );
    }
    let s = c
        .delete_queue(DeleteQueueRequest {
            name: "jobs".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::NotFound);
    assert!(c
        .get_queues(GetQueuesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .queues
        .is_empty());
    doq.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_ext_client_batches_and_subscribes() {
    crate::init_tracing();
    let tmp = tempfile::tempdir().unwrap();
    let (doq, mut c, url) = start_with_grpc(&tmp.path().join("data"), tmp.path()).await;
    let mut ext = DoqExtClient::connect(url).await.unwrap();
    c.create_queue(CreateQueueRequest {
        name: "batch".into(),
        r#type: "delayed".into(),
        settings: Some(QueueSettings::default()),
    })
    .await
    .unwrap();

    info!("--- EnqueueBatch: 50 messages in one command");
    let messages = (0..50)
        .map(|n| BatchMessage {
            priority: 1,
            content: format!("b{n}"),
            ..BatchMessage::default()
        })
        .collect();
    let stored = ext
        .enqueue_batch(EnqueueBatchRequest {
            queue_name: "batch".into(),
            messages,
        })
        .await
        .unwrap()
        .into_inner()
        .messages;
    let ids: Vec<u64> = stored.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 50);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids in request order");

    info!("--- Subscribe with a window of 20, then AckBatch with the receipts");
    let (requests, rx) = mpsc::channel(2);
    requests
        .send(SubscribeRequest {
            queue_name: "batch".into(),
            ack: false,
            credit: 20,
        })
        .await
        .unwrap();
    let mut deliveries = ext
        .subscribe(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    for _ in 0..20 {
        got.push(
            soon("a delivery", deliveries.message())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    assert_eq!(got.iter().map(|d| d.id).collect::<Vec<_>>(), ids[..20]);
    let items = got
        .iter()
        .map(|d| AckItem {
            id: d.id,
            receipt: d.receipt.clone(),
        })
        .collect();
    let results = ext
        .ack_batch(AckBatchRequest {
            queue_name: "batch".into(),
            items,
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    assert!(results.iter().all(|r| r.ok), "{results:?}");
    drop((requests, deliveries));

    info!("--- DequeueBatch takes the other 30, then answers an empty list");
    let rest = ext
        .dequeue_batch(DequeueBatchRequest {
            queue_name: "batch".into(),
            max: 100,
            ack: true,
            wait_ms: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .messages;
    assert_eq!(rest.iter().map(|d| d.id).collect::<Vec<_>>(), ids[20..]);
    let none = ext
        .dequeue_batch(DequeueBatchRequest {
            queue_name: "batch".into(),
            max: 100,
            ack: true,
            wait_ms: 50,
        })
        .await
        .unwrap()
        .into_inner()
        .messages;
    assert!(none.is_empty());
    let s = ext
        .dequeue_batch(DequeueBatchRequest {
            queue_name: "missing".into(),
            max: 1,
            ack: true,
            wait_ms: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::NotFound);
    doq.stop().await;
}
