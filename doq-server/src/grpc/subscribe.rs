//! `DOQExt.Subscribe` (docs/grpc.md §7.4): `DequeueStream` with receipts and a credit window. The first
//! `SubscribeRequest` fixes `queue_name` and `ack` (an empty name gets INVALID_ARGUMENT, an unknown queue
//! NOT_FOUND); each request, the first included, adds `credit` deliveries (0 counts as 1), and the server
//! selects up to the credit owed (at most `limits.max_batch_size`) in one command. Each `Delivery` carries
//! its receipt and delivery count. The waiting and the window are `window.rs`, shared with
//! `DequeueStream`.
use doq_proto::ext::{Delivery, SubscribeRequest};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

use crate::{
    errors::{grpc_status, GrpcOp},
    grpc::{
        batches, convert,
        readiness::Missing,
        window::{self, Ask, Window},
        DoqService,
    },
};

/// Deliveries queued for the client beyond the one being written; the credit window bounds the rest.
const QUEUED: usize = 64;

/// The response stream of one `Subscribe` call.
pub(crate) type Deliveries = ReceiverStream<Result<Delivery, Status>>;

impl Ask for SubscribeRequest {
    fn credit(&self) -> u32 {
        self.credit.max(1)
    }
}

/// Starts the stream's task and returns its deliveries.
pub(crate) fn start(svc: &DoqService, inbound: Streaming<SubscribeRequest>) -> Deliveries {
    let (tx, rx) = mpsc::channel(QUEUED);
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
    mut inbound: Streaming<SubscribeRequest>,
    tx: &mpsc::Sender<Result<Delivery, Status>>,
) {
    let Some(first) = window::first(svc, &mut inbound, tx).await else {
        return;
    };
    let queue = match convert::queue_name("queue_name", &first.queue_name) {
        Ok(q) => q,
        Err(e) => {
            let _ = tx.send(Err(grpc_status(GrpcOp::Subscribe, &e))).await;
            return;
        }
    };
    let window = Window {
        queue: queue.clone(),
        ack: first.ack,
        missing: Missing::Fail,
        batch: svc.batch_cap(),
        op: GrpcOp::Subscribe,
    };
    window::serve(svc, &mut inbound, tx, &window, first.credit(), |d| {
        batches::delivery(d, &queue)
    })
    .await;
}
