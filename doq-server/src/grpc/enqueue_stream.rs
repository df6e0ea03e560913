//! `EnqueueStream` (docs/grpc.md §7.2): a long-lived bidi stream with one response per request, in request
//! order; the first error ends the stream with that status.
//!
//! One stream can fill group-commit batches on its own: up to [`PIPELINE`] requests are proposed
//! concurrently (a `FuturesOrdered` keeps their answers in request order), so their commands join the
//! same runs instead of waiting one fsync each. A stream's rate is about its proposals in flight divided
//! by the commit latency (one fsync or two), so the pipeline is deep. Buffers are bounded: at most
//! [`PIPELINE`] proposals and [`PIPELINE_BYTES`] of message bytes in flight, and [`QUEUED`] responses
//! queued; beyond that the task stops reading and HTTP/2 flow control pushes back on the client.
use std::collections::VecDeque;

use doq_api::Error;
use doq_proto::queue::{EnqueueRequest, EnqueueResponse};
use futures::{future::BoxFuture, stream::FuturesOrdered, FutureExt as _, StreamExt as _};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

use crate::{
    errors::{grpc_status, grpc_transport_status, GrpcOp},
    grpc::{convert, messages, DoqService},
};

/// Most proposals one stream keeps in flight.
const PIPELINE: usize = 1024;
/// Most content and metadata bytes one stream keeps in flight (one oversized message still goes alone).
const PIPELINE_BYTES: usize = 16 << 20;
/// Responses one stream queues for a slow reader.
const QUEUED: usize = 128;

/// The response stream of one `EnqueueStream` call.
pub(crate) type Responses = ReceiverStream<Result<EnqueueResponse, Status>>;

/// Starts the stream's task and returns its responses.
pub(crate) fn start(svc: &DoqService, inbound: Streaming<EnqueueRequest>) -> Responses {
    let (tx, rx) = mpsc::channel(QUEUED);
    let guard = svc.stream_guard();
    let svc = svc.clone();
    tokio::spawn(async move {
        run(&svc, inbound, &tx).await;
        drop(guard);
    });
    ReceiverStream::new(rx)
}

/// An answer to come, in request order.
type Pending = BoxFuture<'static, Result<EnqueueResponse, Status>>;

/// Reads requests, proposes them (pipelined) and sends the answers in order, until EOF, the first error,
/// a vanished client or shutdown.
async fn run(
    svc: &DoqService,
    mut inbound: Streaming<EnqueueRequest>,
    tx: &mpsc::Sender<Result<EnqueueResponse, Status>>,
) {
    let fail = |e: &Error| grpc_status(GrpcOp::Enqueue, e);
    let mut inflight: FuturesOrdered<Pending> = FuturesOrdered::new();
    // The byte size of each proposal in `inflight`, in the same order.
    let mut sizes: VecDeque<usize> = VecDeque::new();
    let mut bytes = 0usize;
    let mut reading = true;
    loop {
        if !reading && inflight.is_empty() {
            return;
        }
        tokio::select! {
            biased;
            // The client went away: answers are for no one (commands already proposed still commit).
            () = tx.closed() => return,
            Some(answer) = inflight.next(), if !inflight.is_empty() => {
                bytes = bytes.saturating_sub(sizes.pop_front().unwrap_or(0));
                let last = answer.is_err();
                if tx.send(answer).await.is_err() || last {
                    return;
                }
            }
            () = svc.shutdown.cancelled(), if reading => {
                // Answer what is in flight, then end with UNAVAILABLE so the client retries elsewhere.
                reading = false;
                let stopping = Error::Unavailable("the node is shutting down".into());
                sizes.push_back(0);
                inflight.push_back(futures::future::ready(Err(fail(&stopping))).boxed());
            }
            next = inbound.message(), if reading && inflight.len() < PIPELINE && bytes < PIPELINE_BYTES => match next {
                Ok(Some(req)) => match convert::enqueue(req, &svc.options.limits) {
                    Ok(input) => {
                        let size = input.message.body.content.len().saturating_add(
                            input.message.body.metadata.iter().map(|(k, v)| k.len() + v.len()).sum(),
                        );
                        bytes = bytes.saturating_add(size);
                        sizes.push_back(size);
                        let consensus = svc.consensus.clone();
                        inflight.push_back(
                            async move { messages::enqueue(consensus, input).await.map_err(|e| fail(&e)) }
                                .boxed(),
                        );
                    }
                    Err(e) => {
                        // Bad input ends the stream after the answers before it.
                        reading = false;
                        sizes.push_back(0);
                        inflight.push_back(futures::future::ready(Err(fail(&e))).boxed());
                    }
                },
                Ok(None) => reading = false,
                Err(status) => {
                    reading = false;
                    sizes.push_back(0);
                    inflight.push_back(futures::future::ready(Err(grpc_transport_status(status))).boxed());
                }
            }
        }
    }
}
