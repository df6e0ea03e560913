//! `DequeueStream` (docs/grpc.md §7.2): DOQ's request/ack protocol. The first `DequeueRequest` fixes `queueName`
//! and `ack` for the life of the stream (an empty name gets INVALID_ARGUMENT); each request, the first
//! included, is credit for one message, so with DOQ's clients exactly one message is in flight. Later
//! requests' fields are ignored. While nothing is deliverable the stream waits, even for a queue that
//! does not exist yet. The waiting and the window are `window.rs`, shared with `Subscribe`.
use doq_proto::queue::{DequeueRequest, DequeueResponse};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

use crate::{
    errors::{grpc_status, GrpcOp},
    grpc::{
        convert,
        readiness::Missing,
        window::{self, Ask, Window},
        DoqService,
    },
};

/// The response stream of one `DequeueStream` call.
pub(crate) type Responses = ReceiverStream<Result<DequeueResponse, Status>>;

impl Ask for DequeueRequest {
    fn credit(&self) -> u32 {
        1
    }
}

/// Starts the stream's task and returns its responses.
pub(crate) fn start(svc: &DoqService, inbound: Streaming<DequeueRequest>) -> Responses {
    // One slot: a message is selected only when its request arrived, so nothing queues up here.
    let (tx, rx) = mpsc::channel(1);
    let guard = svc.stream_guard();
    let svc = svc.clone();
    tokio::spawn(async move {
        run(&svc, inbound, &tx).await;
        drop(guard);
    });
    ReceiverStream::new(rx)
}

async fn run(
    svc: &DoqService,
    mut inbound: Streaming<DequeueRequest>,
    tx: &mpsc::Sender<Result<DequeueResponse, Status>>,
) {
    let Some(first) = window::first(svc, &mut inbound, tx).await else {
        return;
    };
    // [FIX] DOQ served an empty name as a queue called "".
    let queue = match convert::queue_name("queueName", &first.queue_name) {
        Ok(q) => q,
        Err(e) => {
            let _ = tx.send(Err(grpc_status(GrpcOp::Dequeue, &e))).await;
            return;
        }
    };
    let window = Window {
        queue,
        ack: first.ack,
        missing: Missing::Wait,
        batch: svc.batch_cap(),
        op: GrpcOp::Dequeue,
    };
    window::serve(svc, &mut inbound, tx, &window, 1, convert::dequeued).await;
}
