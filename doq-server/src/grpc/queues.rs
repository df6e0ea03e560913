//! Queue RPCs (docs/grpc.md §7.2): CreateQueue, UpdateQueue, DeleteQueue, GetQueue and GetQueues. Each checks
//! its request, proposes the same command HTTP does (or reads through the same view) and translates back.
use doq_api::{Command, Error, QueueKind, QueueSettings, Reply, SettingsUpdate};
use doq_proto::queue::{
    CreateQueueRequest, CreateQueueResponse, DeleteQueueRequest, DeleteQueueResponse,
    GetQueueRequest, GetQueueResponse, GetQueuesRequest, GetQueuesResponse, UpdateQueueRequest,
    UpdateQueueResponse,
};
use tonic::Status;

use crate::{
    errors::{grpc_settings_required, grpc_status, GrpcOp},
    grpc::{convert, DoqService},
};

/// A reply that does not fit its command: a bug in the layers below.
pub(crate) fn unexpected(reply: &Reply) -> Error {
    Error::Internal(format!("unexpected reply {reply:?}"))
}

impl DoqService {
    /// The stored `ack_timeout`: 0 is the configured default (the engine never sees 0).
    fn ack_timeout(&self, requested: Option<u32>) -> u32 {
        requested
            .filter(|t| *t > 0)
            .unwrap_or(self.options.default_ack_timeout)
    }
}

/// `CreateQueue`: settings are required; an existing name changes nothing and still succeeds [DOQ].
pub(crate) async fn create(
    svc: &DoqService,
    req: CreateQueueRequest,
) -> Result<CreateQueueResponse, Status> {
    let op = GrpcOp::CreateQueue(&req.name);
    let fail = |e: Error| grpc_status(op, &e);
    let Some(pb) = &req.settings else {
        return Err(grpc_settings_required(op));
    };
    let name = convert::queue_name("name", &req.name).map_err(fail)?;
    let kind = convert::queue_kind(&req.r#type).map_err(fail)?;
    let s = convert::settings(pb).map_err(fail)?;
    let settings = QueueSettings {
        strategy: s.strategy,
        max_unacked: s.max_unacked,
        ack_timeout: svc.ack_timeout(s.ack_timeout),
        max_deliveries: 0,
        dead_letter: None,
    };
    let cmd = Command::CreateQueue {
        name,
        kind,
        settings,
    };
    match svc.consensus.propose(cmd).await.map_err(fail)? {
        Reply::QueueCreated => Ok(CreateQueueResponse { success: true }),
        other => Err(fail(unexpected(&other))),
    }
}

/// `UpdateQueue`: as HTTP, with the extension settings (`max_deliveries`, dead-letter queue) kept.
pub(crate) async fn update(
    svc: &DoqService,
    req: UpdateQueueRequest,
) -> Result<UpdateQueueResponse, Status> {
    let op = GrpcOp::UpdateQueue(&req.name);
    let fail = |e: Error| grpc_status(op, &e);
    let Some(pb) = &req.settings else {
        return Err(grpc_settings_required(op));
    };
    let name = convert::queue_name("name", &req.name).map_err(fail)?;
    let s = convert::settings(pb).map_err(fail)?;
    let settings = SettingsUpdate {
        strategy: s.strategy,
        max_unacked: s.max_unacked,
        ack_timeout: svc.ack_timeout(s.ack_timeout),
        max_deliveries: None,
        dead_letter: None,
    };
    match svc
        .consensus
        .propose(Command::UpdateQueue { name, settings })
        .await
        .map_err(fail)?
    {
        Reply::QueueUpdated => Ok(UpdateQueueResponse { success: true }),
        other => Err(fail(unexpected(&other))),
    }
}

/// `DeleteQueue`: the queue, its messages and its leases, in one command.
pub(crate) async fn delete(
    svc: &DoqService,
    req: DeleteQueueRequest,
) -> Result<DeleteQueueResponse, Status> {
    let fail = |e: Error| grpc_status(GrpcOp::DeleteQueue(&req.name), &e);
    let name = convert::queue_name("name", &req.name).map_err(fail)?;
    match svc
        .consensus
        .propose(Command::DeleteQueue { name })
        .await
        .map_err(fail)?
    {
        Reply::QueueDeleted => Ok(DeleteQueueResponse { success: true }),
        other => Err(fail(unexpected(&other))),
    }
}

/// `GetQueue`: settings (strategy as the enum), rates and counts.
pub(crate) async fn get(
    svc: &DoqService,
    req: GetQueueRequest,
) -> Result<GetQueueResponse, Status> {
    let fail = |e: Error| grpc_status(GrpcOp::GetQueue(&req.name), &e);
    let name = convert::queue_name("name", &req.name).map_err(fail)?;
    svc.consensus.read_barrier().await.map_err(fail)?;
    let stats = svc
        .consensus
        .view()
        .stats(&name, svc.options.stats_window)
        .await
        .map_err(fail)?;
    Ok(convert::queue_info(&stats))
}

/// `GetQueues`: every queue, sorted by name; a non-empty `type` filters [FIX] (an unknown one matches none).
pub(crate) async fn list(
    svc: &DoqService,
    req: GetQueuesRequest,
) -> Result<GetQueuesResponse, Status> {
    let fail = |e: Error| grpc_status(GrpcOp::GetQueues, &e);
    let kind = match req.r#type.as_str() {
        "" => None,
        t => Some(QueueKind::parse(t)),
    };
    svc.consensus.read_barrier().await.map_err(fail)?;
    let all = svc
        .consensus
        .view()
        .list(svc.options.stats_window)
        .await
        .map_err(fail)?;
    let queues = all
        .iter()
        .filter(|q| kind.is_none_or(|k| k == Some(q.kind)))
        .map(convert::queue_info)
        .collect();
    Ok(GetQueuesResponse { queues })
}
