//! Message RPCs (docs/grpc.md §7.2): GenerateIDs, Enqueue, Dequeue (with the EXT `doq-wait` long poll and
//! `doq-receipt`/`doq-deliveries` response headers), Get, Delete, Ack, Nack, Touch and UpdatePriority
//! (with the EXT `doq-receipt` check). `EnqueueStream` reuses [`enqueue`] for every request.
use std::{pin::pin, sync::Arc};

use doq_api::{Command, Error, MessageId, Priority, Reply};
use doq_consensus::Consensus;
use doq_proto::queue::{
    AckRequest, AckResponse, DeleteRequest, DeleteResponse, DequeueRequest, DequeueResponse,
    EnqueueResponse, GenerateIDsRequest, GenerateIDsResponse, GetRequest, GetResponse, NackRequest,
    NackResponse, TouchRequest, TouchResponse, UpdatePriorityRequest, UpdatePriorityResponse,
};
use tokio::time::Instant;
use tonic::{
    metadata::{MetadataMap, MetadataValue},
    Request, Response, Status,
};

use crate::{
    errors::{grpc_status, GrpcOp},
    grpc::{
        convert::{self, EnqueueInput, DELIVERIES_KEY, RECEIPT_KEY},
        queues::unexpected,
        readiness::{self, Missing, Waited},
        DoqService,
    },
};

/// `GenerateIDs`: `number` 1..=1000 ids from one replicated command, so they never collide with
/// server-assigned ones.
pub(crate) async fn generate_ids(
    svc: &DoqService,
    req: GenerateIDsRequest,
) -> Result<GenerateIDsResponse, Status> {
    let fail = |e: Error| grpc_status(GrpcOp::GenerateIds, &e);
    let count = u16::try_from(req.number)
        .ok()
        .filter(|n| (1..=1000).contains(n))
        .ok_or_else(|| {
            fail(Error::invalid(
                "number",
                "expected number between 1 and 1000",
                req.number.to_string(),
            ))
        })?;
    match svc
        .consensus
        .propose(Command::ReserveIds { count })
        .await
        .map_err(fail)?
    {
        Reply::Ids(ids) => Ok(GenerateIDsResponse {
            success: true,
            ids: ids.into_iter().map(|id| id.0).collect(),
        }),
        other => Err(fail(unexpected(&other))),
    }
}

/// Stores one validated message: the one code path of `Enqueue` and every `EnqueueStream` request.
/// The response reports the stored id, group and priority, echoes content and metadata, and leaves
/// `queueName` empty [DOQ].
pub(crate) async fn enqueue(
    consensus: Arc<dyn Consensus>,
    input: EnqueueInput,
) -> Result<EnqueueResponse, Error> {
    let content = input.message.body.content.clone();
    let metadata = input.message.body.metadata.clone();
    let cmd = Command::Enqueue {
        queue: input.queue,
        items: vec![input.message],
    };
    let reply = consensus.propose(cmd).await?;
    let Reply::Enqueued(stored) = reply else {
        return Err(unexpected(&reply));
    };
    let Some(e) = stored.into_iter().next() else {
        return Err(Error::Internal("an enqueue stored nothing".into()));
    };
    Ok(EnqueueResponse {
        success: true,
        queue_name: String::new(),
        id: e.id.0,
        group: e.group.as_str().to_string(),
        priority: e.priority.0,
        content,
        metadata: metadata.into_iter().collect(),
    })
}

/// `Dequeue`: one message, with `doq-wait` a long poll [EXT]. An unknown queue fails at once; an empty
/// one answers NOT_FOUND once the wait (if any) runs out or the node stops.
pub(crate) async fn dequeue(
    svc: &DoqService,
    request: Request<DequeueRequest>,
) -> Result<Response<DequeueResponse>, Status> {
    let fail = |e: Error| grpc_status(GrpcOp::Dequeue, &e);
    let wait =
        convert::wait(request.metadata(), svc.options.limits.max_wait_seconds).map_err(fail)?;
    let req = request.into_inner();
    let queue = convert::queue_name("queueName", &req.queue_name).map_err(fail)?;
    let until = Instant::now()
        .checked_add(wait)
        .unwrap_or_else(Instant::now);
    let stop = pin!(svc.shutdown.cancelled());
    let waited = readiness::dequeue(
        &*svc.consensus,
        &queue,
        req.ack,
        1,
        Some(until),
        Missing::Fail,
        stop,
        &svc.parked,
    )
    .await
    .map_err(fail)?;
    // A stopping node answers pending long polls as empty, like HTTP.
    let Waited::Delivered(items) = waited else {
        return Err(fail(Error::QueueEmpty(queue.to_string())));
    };
    let Some(delivery) = items.into_iter().next() else {
        return Err(fail(Error::QueueEmpty(queue.to_string())));
    };
    let receipt = delivery.receipt.encode();
    let deliveries = delivery.deliveries;
    let mut response = Response::new(convert::dequeued(delivery));
    let headers = response.metadata_mut();
    // Receipts are base64url, always a valid header value.
    if let Ok(value) = MetadataValue::try_from(receipt.as_str()) {
        headers.insert(RECEIPT_KEY, value);
    }
    headers.insert(DELIVERIES_KEY, MetadataValue::from(deliveries));
    Ok(response)
}

/// `Get`: a message in any state.
pub(crate) async fn get(svc: &DoqService, req: GetRequest) -> Result<GetResponse, Status> {
    let fail = |e: Error| grpc_status(GrpcOp::Get, &e);
    let queue = convert::queue_name("queueName", &req.queue_name).map_err(fail)?;
    let id = MessageId(req.id);
    svc.consensus.read_barrier().await.map_err(fail)?;
    let (message, body) = svc
        .consensus
        .view()
        .message(&queue, id)
        .await
        .map_err(fail)?;
    Ok(GetResponse {
        success: true,
        queue_name: String::new(),
        id: id.0,
        group: message.header.group.as_str().to_string(),
        priority: message.header.priority.0,
        content: body.content,
        metadata: body.metadata.into_iter().collect(),
    })
}

/// `Delete`: a message in any state.
pub(crate) async fn delete(svc: &DoqService, req: DeleteRequest) -> Result<DeleteResponse, Status> {
    let fail = |e: Error| grpc_status(GrpcOp::Delete, &e);
    let queue = convert::queue_name("queueName", &req.queue_name).map_err(fail)?;
    let cmd = Command::Delete {
        queue,
        id: MessageId(req.id),
    };
    match svc.consensus.propose(cmd).await.map_err(fail)? {
        Reply::Deleted => Ok(DeleteResponse { success: true }),
        other => Err(fail(unexpected(&other))),
    }
}

/// `Ack` with an optional `doq-receipt`.
pub(crate) async fn ack(
    svc: &DoqService,
    request: Request<AckRequest>,
) -> Result<AckResponse, Status> {
    let fail = |e: Error| grpc_status(GrpcOp::Ack, &e);
    let (md, req) = parts(request);
    let queue = convert::queue_name("queueName", &req.queue_name).map_err(fail)?;
    let id = MessageId(req.id);
    let receipt = convert::receipt(&md, id).map_err(fail)?;
    match svc
        .consensus
        .propose(Command::Ack { queue, id, receipt })
        .await
        .map_err(fail)?
    {
        Reply::Acked => Ok(AckResponse { success: true }),
        other => Err(fail(unexpected(&other))),
    }
}

/// `Nack` with an optional `doq-receipt`: priority 0 keeps the stored one, and non-empty metadata
/// replaces the map (proto3 cannot tell an empty map from an absent one, so empty keeps it).
pub(crate) async fn nack(
    svc: &DoqService,
    request: Request<NackRequest>,
) -> Result<NackResponse, Status> {
    let fail = |e: Error| grpc_status(GrpcOp::Nack, &e);
    let (md, req) = parts(request);
    let queue = convert::queue_name("queueName", &req.queue_name).map_err(fail)?;
    let id = MessageId(req.id);
    let receipt = convert::receipt(&md, id).map_err(fail)?;
    let metadata = if req.metadata.is_empty() {
        None
    } else {
        Some(convert::metadata(req.metadata, &svc.options.limits).map_err(fail)?)
    };
    let cmd = Command::Nack {
        queue,
        id,
        priority: Priority(req.priority),
        metadata,
        receipt,
    };
    match svc.consensus.propose(cmd).await.map_err(fail)? {
        Reply::Nacked { .. } => Ok(NackResponse { success: true }),
        other => Err(fail(unexpected(&other))),
    }
}

/// `Touch` with an optional `doq-receipt`: resets the lease deadline.
pub(crate) async fn touch(
    svc: &DoqService,
    request: Request<TouchRequest>,
) -> Result<TouchResponse, Status> {
    let fail = |e: Error| grpc_status(GrpcOp::Touch, &e);
    let (md, req) = parts(request);
    let queue = convert::queue_name("queueName", &req.queue_name).map_err(fail)?;
    let id = MessageId(req.id);
    let receipt = convert::receipt(&md, id).map_err(fail)?;
    match svc
        .consensus
        .propose(Command::Touch { queue, id, receipt })
        .await
        .map_err(fail)?
    {
        Reply::Touched => Ok(TouchResponse { success: true }),
        other => Err(fail(unexpected(&other))),
    }
}

/// `UpdatePriority`: any int64 over gRPC [DOQ].
pub(crate) async fn update_priority(
    svc: &DoqService,
    req: UpdatePriorityRequest,
) -> Result<UpdatePriorityResponse, Status> {
    let fail = |e: Error| grpc_status(GrpcOp::UpdatePriority, &e);
    let queue = convert::queue_name("queueName", &req.queue_name).map_err(fail)?;
    let cmd = Command::UpdatePriority {
        queue,
        id: MessageId(req.id),
        priority: Priority(req.priority),
    };
    match svc.consensus.propose(cmd).await.map_err(fail)? {
        Reply::PriorityUpdated => Ok(UpdatePriorityResponse { success: true }),
        other => Err(fail(unexpected(&other))),
    }
}

/// A request's metadata and message.
fn parts<T>(request: Request<T>) -> (MetadataMap, T) {
    let (md, _, message) = request.into_parts();
    (md, message)
}
