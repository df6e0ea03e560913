//! The batch RPCs of `DOQExt` (docs/grpc.md §7.4), the gRPC twins of HTTP's `…/batch/*` routes (§3.5):
//! `EnqueueBatch` stores every message in one atomic command, `DequeueBatch` selects up to `max` in one
//! command (an empty list when nothing is deliverable within `wait_ms`), and `AckBatch` judges each item
//! on its own within one command. Every request is validated in full before anything is proposed.
use std::{pin::pin, time::Duration};

use doq_api::{Command, Delivery, Error, MessageId, QueueName, Reply};
use doq_proto::ext::{
    AckBatchRequest, AckBatchResponse, DequeueBatchRequest, DequeueBatchResponse,
    EnqueueBatchRequest, EnqueueBatchResponse, EnqueuedRef, ItemResult,
};
use tokio::time::Instant;
use tonic::Status;

use crate::{
    errors::{grpc_status, item_failure, GrpcOp},
    grpc::{
        convert,
        queues::unexpected,
        readiness::{self, Missing, Waited},
        DoqService,
    },
};

/// `EnqueueBatch`: 1..=`limits.max_batch_size` messages, checked as a whole (one bad item fails the
/// call at `messages[i].…` and nothing is stored), then stored by one command with ids assigned in order.
pub(crate) async fn enqueue(
    svc: &DoqService,
    req: EnqueueBatchRequest,
) -> Result<EnqueueBatchResponse, Status> {
    let fail = |e: Error| grpc_status(GrpcOp::EnqueueBatch, &e);
    let queue = convert::queue_name("queue_name", &req.queue_name).map_err(fail)?;
    let limits = &svc.options.limits;
    check_count("messages", req.messages.len(), limits.max_batch_size).map_err(fail)?;
    let items = req
        .messages
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            convert::new_message(
                &format!("messages[{i}]."),
                m.id,
                &m.group,
                m.priority,
                m.content,
                m.metadata,
                limits,
            )
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(fail)?;
    match svc
        .consensus
        .propose(Command::Enqueue { queue, items })
        .await
        .map_err(fail)?
    {
        Reply::Enqueued(stored) => Ok(EnqueueBatchResponse {
            messages: stored
                .into_iter()
                .map(|e| EnqueuedRef {
                    id: e.id.0,
                    group: e.group.as_str().to_string(),
                    priority: e.priority.0,
                })
                .collect(),
        }),
        other => Err(fail(unexpected(&other))),
    }
}

/// `DequeueBatch`: up to `max` (1..=`limits.max_batch_size`) messages in one command. With `wait_ms`
/// (at most `limits.max_wait_seconds`) it waits for the first deliverable message; an empty list means
/// none came in time. An unknown queue fails at once with NOT_FOUND.
pub(crate) async fn dequeue(
    svc: &DoqService,
    req: DequeueBatchRequest,
) -> Result<DequeueBatchResponse, Status> {
    let fail = |e: Error| grpc_status(GrpcOp::DequeueBatch, &e);
    let queue = convert::queue_name("queue_name", &req.queue_name).map_err(fail)?;
    let limits = &svc.options.limits;
    let cap = usize::from(svc.batch_cap());
    let max = u16::try_from(req.max)
        .ok()
        .filter(|&m| m >= 1 && usize::from(m) <= cap)
        .ok_or_else(|| {
            fail(Error::invalid(
                "max",
                format!("expected number between 1 and {cap}"),
                req.max.to_string(),
            ))
        })?;
    let longest = u64::from(limits.max_wait_seconds).saturating_mul(1000);
    if u64::from(req.wait_ms) > longest {
        return Err(fail(Error::invalid(
            "wait_ms",
            format!("expected number <= {longest}"),
            req.wait_ms.to_string(),
        )));
    }
    let wait = Duration::from_millis(u64::from(req.wait_ms));
    let until = Instant::now()
        .checked_add(wait)
        .unwrap_or_else(Instant::now);
    let stop = pin!(svc.shutdown.cancelled());
    let waited = readiness::dequeue(
        &*svc.consensus,
        &queue,
        req.ack,
        max,
        Some(until),
        Missing::Fail,
        stop,
        &svc.parked,
    )
    .await
    .map_err(fail)?;
    let messages = match waited {
        Waited::Delivered(items) => items.into_iter().map(|d| delivery(d, &queue)).collect(),
        // Nothing in time, or the node is stopping: an empty batch either way.
        Waited::Expired | Waited::Stopped(()) => Vec::new(),
    };
    Ok(DequeueBatchResponse { messages })
}

/// `AckBatch`: 1..=`limits.max_batch_size` items, each with an optional receipt. Malformed receipts fail
/// the whole call before anything is proposed; otherwise all items go into one `AckBatch` command, where
/// each is judged on its own and answered in request order with `ok` or its error's code and text. An
/// unknown queue fails the command as a whole (NOT_FOUND).
pub(crate) async fn ack(
    svc: &DoqService,
    req: AckBatchRequest,
) -> Result<AckBatchResponse, Status> {
    let fail = |e: Error| grpc_status(GrpcOp::AckBatch, &e);
    let queue = convert::queue_name("queue_name", &req.queue_name).map_err(fail)?;
    check_count("items", req.items.len(), svc.options.limits.max_batch_size).map_err(fail)?;
    let items = req
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let id = MessageId(item.id);
            convert::receipt_text(&format!("items[{i}].receipt"), &item.receipt, id)
                .map(|receipt| (id, receipt))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(fail)?;
    let outcomes = match svc
        .consensus
        .propose(Command::AckBatch { queue, items })
        .await
        .map_err(fail)?
    {
        Reply::AckedEach(outcomes) => outcomes,
        other => return Err(fail(unexpected(&other))),
    };
    let results = outcomes
        .into_iter()
        .map(|(id, outcome)| match outcome {
            Ok(()) => ItemResult {
                id: id.0,
                ok: true,
                code: String::new(),
                message: String::new(),
            },
            Err(e) => failed(id, &e),
        })
        .collect();
    Ok(AckBatchResponse { results })
}

/// A failed item of a batch ack.
fn failed(id: MessageId, error: &Error) -> ItemResult {
    let (code, message) = item_failure(error);
    ItemResult {
        id: id.0,
        ok: false,
        code: code.to_string(),
        message,
    }
}

/// A batch's item count must be 1..=`max` (`field` names the list in the error).
fn check_count(field: &str, n: usize, max: usize) -> Result<(), Error> {
    if n == 0 {
        return Err(Error::invalid(field, "expected array length >= 1", "0"));
    }
    if n > max {
        return Err(Error::invalid(
            field,
            format!("expected array length <= {max}"),
            n.to_string(),
        ));
    }
    Ok(())
}

/// The extension's `Delivery`: the message with its receipt, delivery count and queue.
pub(crate) fn delivery(d: Delivery, queue: &QueueName) -> doq_proto::ext::Delivery {
    doq_proto::ext::Delivery {
        id: d.id.0,
        group: d.group.as_str().to_string(),
        priority: d.priority.0,
        receipt: d.receipt.encode(),
        deliveries: d.deliveries,
        queue_name: queue.to_string(),
        content: d.body.content,
        metadata: d.body.metadata.into_iter().collect(),
    }
}
