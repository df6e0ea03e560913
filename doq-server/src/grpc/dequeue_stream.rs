//! `DequeueStream` (API.md §7.2): DOQ's request/ack protocol. The first `DequeueRequest` fixes `queueName`
//! and `ack` for the life of the stream (an empty name gets INVALID_ARGUMENT); the server sends one
//! message per request it has received, so with DOQ's clients exactly one message is in flight. Later
//! requests' fields are ignored.
//!
//! While nothing is deliverable the task parks in [`readiness::dequeue`] (woken by commits and by the
//! next lease deadline or due time, never by polling), even for a queue that does not exist yet. It also
//! listens for requests, for the client going away and for shutdown, and ends on cancellation, EOF (once
//! every request has been answered), a receive error or shutdown (UNAVAILABLE). A vanished client's task
//! ends at once and leases it held simply time out.
use std::pin::pin;

use doq_api::Error;
use doq_proto::queue::{DequeueRequest, DequeueResponse};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

use crate::{
    errors::{grpc_status, grpc_transport_status, GrpcOp},
    grpc::{
        convert,
        readiness::{self, Missing, Waited},
        DoqService,
    },
};

/// The response stream of one `DequeueStream` call.
pub(crate) type Responses = ReceiverStream<Result<DequeueResponse, Status>>;

type Sender = mpsc::Sender<Result<DequeueResponse, Status>>;

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

/// What interrupted a wait.
enum Event {
    /// The client sent something (a request, EOF or a receive error).
    Inbound(Result<Option<DequeueRequest>, Status>),
    /// The client dropped the response stream.
    Gone,
    /// The node is stopping.
    Shutdown,
}

/// Requests received but not yet answered, and whether the client has half-closed.
#[derive(Debug)]
struct Credit {
    owed: u32,
    eof: bool,
}

impl Credit {
    /// Takes one inbound event; `false` ends the stream (a receive error).
    fn take(&mut self, inbound: Result<Option<DequeueRequest>, Status>) -> bool {
        match inbound {
            Ok(Some(_)) => {
                self.owed = self.owed.saturating_add(1);
                true
            }
            Ok(None) => {
                self.eof = true;
                true
            }
            Err(status) => {
                tracing::debug!(%status, "dequeue stream receive failed");
                false
            }
        }
    }
}

async fn run(svc: &DoqService, mut inbound: Streaming<DequeueRequest>, tx: &Sender) {
    let fail = |e: &Error| grpc_status(GrpcOp::Dequeue, e);
    let first = tokio::select! {
        first = inbound.message() => first,
        () = tx.closed() => return,
        () = svc.shutdown.cancelled() => return,
    };
    let first = match first {
        Ok(Some(req)) => req,
        Ok(None) => return,
        Err(status) => {
            let _ = tx.send(Err(grpc_transport_status(status))).await;
            return;
        }
    };
    // [FIX] DOQ served an empty name as a queue called "".
    let queue = match convert::queue_name("queueName", &first.queue_name) {
        Ok(q) => q,
        Err(e) => {
            let _ = tx.send(Err(fail(&e))).await;
            return;
        }
    };
    let ack = first.ack;
    let mut credit = Credit {
        owed: 1,
        eof: false,
    };
    loop {
        if credit.owed == 0 {
            if credit.eof {
                return;
            }
            let event = tokio::select! {
                next = inbound.message() => Event::Inbound(next),
                () = tx.closed() => Event::Gone,
                () = svc.shutdown.cancelled() => Event::Shutdown,
            };
            if !handle(event, &mut credit, tx, &fail).await {
                return;
            }
            continue;
        }
        let waited = {
            let eof = credit.eof;
            let stop = pin!(async {
                tokio::select! {
                    next = inbound.message(), if !eof => Event::Inbound(next),
                    () = tx.closed() => Event::Gone,
                    () = svc.shutdown.cancelled() => Event::Shutdown,
                }
            });
            readiness::dequeue(
                &*svc.consensus,
                &queue,
                ack,
                None,
                Missing::Wait,
                stop,
                &svc.parked,
            )
            .await
        };
        match waited {
            Ok(Waited::Delivered(d)) => {
                credit.owed = credit.owed.saturating_sub(1);
                let sent = tokio::select! {
                    sent = tx.send(Ok(convert::dequeued(d))) => sent.is_ok(),
                    () = svc.shutdown.cancelled() => false,
                };
                if !sent {
                    return;
                }
            }
            Ok(Waited::Stopped(event)) => {
                if !handle(event, &mut credit, tx, &fail).await {
                    return;
                }
            }
            // No deadline: cannot happen, and waiting again is right if it does.
            Ok(Waited::Expired) => {}
            Err(e) => {
                let _ = tx.send(Err(fail(&e))).await;
                return;
            }
        }
    }
}

/// Applies an event; `false` ends the stream.
async fn handle(
    event: Event,
    credit: &mut Credit,
    tx: &Sender,
    fail: &impl Fn(&Error) -> Status,
) -> bool {
    match event {
        Event::Inbound(inbound) => credit.take(inbound),
        Event::Gone => false,
        Event::Shutdown => {
            let stopping = Error::Unavailable("the node is shutting down".into());
            let _ = tx.send(Err(fail(&stopping))).await;
            false
        }
    }
}
