//! The credit window behind `DequeueStream` (docs/grpc.md §7.2) and `Subscribe` (§7.4): once the first request
//! has fixed the queue and the ack mode, each request adds credit (one for DOQ's stream, `credit` for
//! `Subscribe`), and the server delivers at most that many messages, selecting up to the credit owed in
//! one command.
//!
//! While nothing is deliverable the task parks in [`readiness::dequeue`] (woken by commits and by the next
//! lease deadline or due time, never by polling). It also listens for requests, for the client going
//! away and for shutdown, and ends on cancellation, EOF (once every credit has been served), a receive
//! error or shutdown (UNAVAILABLE). A vanished client's task ends at once and leases it held simply time
//! out.
use std::pin::pin;

use doq_api::{Delivery, Error, QueueName};
use tokio::sync::mpsc;
use tonic::{Status, Streaming};

use crate::{
    errors::{grpc_status, GrpcOp},
    grpc::{
        readiness::{self, Missing, Waited},
        DoqService,
    },
};

/// A request on a windowed stream: how many deliveries it asks for.
pub(crate) trait Ask: Send + 'static {
    /// Deliveries this request adds to the window (at least 1).
    fn credit(&self) -> u32;
}

/// What a windowed stream serves, fixed by its first request.
#[derive(Clone, Debug)]
pub(crate) struct Window {
    /// The queue.
    pub(crate) queue: QueueName,
    /// At-most-once (delete on delivery) instead of a lease.
    pub(crate) ack: bool,
    /// Whether an unknown queue is waited for or ends the stream with NOT_FOUND.
    pub(crate) missing: Missing,
    /// Most messages one command selects.
    pub(crate) batch: u16,
    /// The RPC, for error texts.
    pub(crate) op: GrpcOp<'static>,
}

/// What interrupted a wait.
enum Event<R> {
    /// The client sent something (a request, EOF or a receive error).
    Inbound(Result<Option<R>, Status>),
    /// The client dropped the response stream.
    Gone,
    /// The node is stopping.
    Shutdown,
}

/// Deliveries asked for but not yet sent, and whether the client has half-closed.
#[derive(Debug)]
struct Credit {
    owed: u32,
    eof: bool,
}

impl Credit {
    /// Takes one inbound event; `false` ends the stream (a receive error).
    fn take<R: Ask>(&mut self, inbound: Result<Option<R>, Status>) -> bool {
        match inbound {
            Ok(Some(req)) => {
                self.owed = self.owed.saturating_add(req.credit().max(1));
                true
            }
            Ok(None) => {
                self.eof = true;
                true
            }
            Err(status) => {
                tracing::debug!(%status, "stream receive failed");
                false
            }
        }
    }
}

/// Serves `window` on `inbound` with `first` credits already granted, sending each delivery through
/// `to_wire`, until the stream ends.
pub(crate) async fn serve<R: Ask, W>(
    svc: &DoqService,
    inbound: &mut Streaming<R>,
    tx: &mpsc::Sender<Result<W, Status>>,
    window: &Window,
    first: u32,
    to_wire: impl Fn(Delivery) -> W,
) {
    let fail = |e: &Error| grpc_status(window.op, e);
    let mut credit = Credit {
        owed: first.max(1),
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
        let max = u16::try_from(credit.owed)
            .unwrap_or(u16::MAX)
            .min(window.batch)
            .max(1);
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
                &window.queue,
                window.ack,
                max,
                None,
                window.missing,
                stop,
                &svc.parked,
            )
            .await
        };
        match waited {
            Ok(Waited::Delivered(items)) => {
                let n = u32::try_from(items.len()).unwrap_or(u32::MAX);
                credit.owed = credit.owed.saturating_sub(n);
                for d in items {
                    let sent = tokio::select! {
                        sent = tx.send(Ok(to_wire(d))) => sent.is_ok(),
                        () = svc.shutdown.cancelled() => false,
                    };
                    if !sent {
                        return;
                    }
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
async fn handle<R: Ask, W>(
    event: Event<R>,
    credit: &mut Credit,
    tx: &mpsc::Sender<Result<W, Status>>,
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

/// Reads a windowed stream's first request, unless the client goes away or the node stops first.
/// `None` ends the stream (after sending the transport error, if there was one).
pub(crate) async fn first<R, W>(
    svc: &DoqService,
    inbound: &mut Streaming<R>,
    tx: &mpsc::Sender<Result<W, Status>>,
) -> Option<R> {
    let first = tokio::select! {
        first = inbound.message() => first,
        () = tx.closed() => return None,
        () = svc.shutdown.cancelled() => return None,
    };
    match first {
        Ok(first) => first,
        Err(status) => {
            let _ = tx
                .send(Err(crate::errors::grpc_transport_status(status)))
                .await;
            None
        }
    }
}
