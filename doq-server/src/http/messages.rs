//! Message routes (docs/http.md §3.3): enqueue, dequeue (with the EXT `wait`), get, delete, ack, nack, touch and
//! update priority. Ack, nack and touch take the EXT `?receipt=`.
use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use doq_api::{Body, Command, Error, NewMessage, Reply};

use crate::{
    errors::{ApiError, Route},
    http::{
        body::JsonBody,
        dto::{id_string, Dequeued, IdReply, MessageReply, Nacked, PriorityUpdated},
        long_poll,
        params::{PathArgs, QueryArgs},
        validate, AppState,
    },
};

/// `POST /API/v1/queues/{queue_name}/messages`.
#[utoipa::path(
    post,
    path = "/API/v1/queues/{queue_name}/messages",
    tag = "messages",
    params(("queue_name" = String, Path, description = "The queue's name (§2.1)")),
    request_body = crate::http::openapi::bodies::Enqueue,
    responses(
        (status = 200, description = "`ENQUEUED`", body = MessageReply),
        (status = 409, description = "Unknown queue (`queue_not_found`)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn enqueue(
    State(app): State<AppState>,
    path: PathArgs,
    JsonBody(body): JsonBody,
) -> Result<Json<MessageReply>, ApiError> {
    let queue = path.queue()?;
    let m = validate::enqueue(&body, &app.limits)?;
    let item = NewMessage {
        id: m.id,
        group: m.group,
        priority: m.priority,
        body: Body {
            content: m.content.clone(),
            metadata: m.metadata.clone(),
        },
    };
    let reply = app
        .propose(
            Route::Enqueue,
            Command::Enqueue {
                queue,
                items: vec![item],
            },
        )
        .await?;
    let Reply::Enqueued(stored) = reply else {
        return Err(ApiError::unexpected_reply(Route::Enqueue, &reply));
    };
    let Some(e) = stored.into_iter().next() else {
        return Err(ApiError::new(
            Route::Enqueue,
            Error::Internal("an enqueue stored nothing".into()),
        ));
    };
    Ok(Json(MessageReply {
        status: "ENQUEUED",
        id: id_string(e.id),
        // [FIX] the stored group, not the requested one.
        group: e.group.as_str().to_string(),
        priority: e.priority.0,
        content: m.content,
        metadata: m.metadata,
    }))
}

/// `GET /API/v1/queues/{queue_name}/messages?ack=&wait=`.
#[utoipa::path(
    get,
    path = "/API/v1/queues/{queue_name}/messages",
    tag = "messages",
    params(("queue_name" = String, Path, description = "The queue's name (§2.1)"), ("ack" = Option<String>, Query, description = "Acknowledge at once (Go ParseBool syntax; default false)"), ("wait" = Option<String>, Query, description = "Long-poll up to this long: seconds (`5`, `0.5`) or with a unit (`1500ms`, `5s`)")),
    responses(
        (status = 200, description = "`DEQUEUED`", body = Dequeued),
        (status = 400, description = "Empty queue, nothing deliverable (`queue_empty`) or unknown queue", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn dequeue(
    State(app): State<AppState>,
    path: PathArgs,
    query: QueryArgs,
) -> Result<Json<Dequeued>, ApiError> {
    let queue = path.queue()?;
    let ack = query.bool("ack", false)?;
    let wait = query.wait(app.limits.max_wait_seconds)?;
    let delivered = long_poll::dequeue(&app, Route::Dequeue, &queue, ack, 1, wait).await?;
    match delivered.into_iter().next() {
        Some(d) => Ok(Json(Dequeued::new(d, Some("DEQUEUED")))),
        None => Err(ApiError::new(
            Route::Dequeue,
            Error::QueueEmpty(queue.to_string()),
        )),
    }
}

/// `GET /API/v1/queues/{queue_name}/messages/{id}`.
#[utoipa::path(
    get,
    path = "/API/v1/queues/{queue_name}/messages/{id}",
    tag = "messages",
    params(("queue_name" = String, Path, description = "The queue's name (§2.1)"), ("id" = String, Path, description = "Message id: a decimal u64")),
    responses(
        (status = 200, description = "`GOT`", body = MessageReply),
        (status = 400, description = "Unknown queue or message", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get(
    State(app): State<AppState>,
    path: PathArgs,
) -> Result<Json<MessageReply>, ApiError> {
    let queue = path.queue()?;
    let id = path.id()?;
    app.read_barrier(Route::GetMessage).await?;
    let (message, body) = app
        .consensus
        .view()
        .message(&queue, id)
        .await
        .map_err(|e| ApiError::new(Route::GetMessage, e))?;
    Ok(Json(MessageReply {
        status: "GOT",
        id: id_string(id),
        group: message.header.group.as_str().to_string(),
        priority: message.header.priority.0,
        content: body.content,
        metadata: body.metadata,
    }))
}

/// `DELETE /API/v1/queues/{queue_name}/messages/{id}`: 204 without a body.
#[utoipa::path(
    delete,
    path = "/API/v1/queues/{queue_name}/messages/{id}",
    tag = "messages",
    params(("queue_name" = String, Path, description = "The queue's name (§2.1)"), ("id" = String, Path, description = "Message id: a decimal u64")),
    responses(
        (status = 204, description = "Deleted; no body"),
        (status = 400, description = "Unknown queue or message", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn delete(
    State(app): State<AppState>,
    path: PathArgs,
) -> Result<Response, ApiError> {
    let queue = path.queue()?;
    let id = path.id()?;
    match app
        .propose(Route::DeleteMessage, Command::Delete { queue, id })
        .await?
    {
        Reply::Deleted => Ok(StatusCode::NO_CONTENT.into_response()),
        other => Err(ApiError::unexpected_reply(Route::DeleteMessage, &other)),
    }
}

/// `POST …/messages/{id}/ack[?receipt=]`.
#[utoipa::path(
    post,
    path = "/API/v1/queues/{queue_name}/messages/{id}/ack",
    tag = "messages",
    params(("queue_name" = String, Path, description = "The queue's name (§2.1)"), ("id" = String, Path, description = "Message id: a decimal u64"), ("receipt" = Option<String>, Query, description = "The receipt of the delivery being acted on (docs/http.md §3.4)")),
    responses(
        (status = 200, description = "`ACKNOWLEDGED`", body = IdReply),
        (status = 400, description = "No live lease (`lease_not_held`) or unknown queue", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Stale receipt (`stale_receipt`)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn ack(
    State(app): State<AppState>,
    path: PathArgs,
    query: QueryArgs,
) -> Result<Json<IdReply>, ApiError> {
    let queue = path.queue()?;
    let id = path.id()?;
    let receipt = query.receipt(id)?;
    match app
        .propose(Route::Ack, Command::Ack { queue, id, receipt })
        .await?
    {
        Reply::Acked => Ok(Json(IdReply {
            status: "ACKNOWLEDGED",
            id: id_string(id),
        })),
        other => Err(ApiError::unexpected_reply(Route::Ack, &other)),
    }
}

/// `POST …/messages/{id}/nack[?receipt=]` with `{"priority","metadata"?}`.
#[utoipa::path(
    post,
    path = "/API/v1/queues/{queue_name}/messages/{id}/nack",
    tag = "messages",
    params(("queue_name" = String, Path, description = "The queue's name (§2.1)"), ("id" = String, Path, description = "Message id: a decimal u64"), ("receipt" = Option<String>, Query, description = "The receipt of the delivery being acted on (docs/http.md §3.4)")),
    request_body = crate::http::openapi::bodies::Nack,
    responses(
        (status = 200, description = "`UNACKNOWLEDGED`", body = Nacked),
        (status = 400, description = "No live lease (`lease_not_held`), unknown queue, or no body", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Stale receipt (`stale_receipt`)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn nack(
    State(app): State<AppState>,
    path: PathArgs,
    query: QueryArgs,
    JsonBody(body): JsonBody,
) -> Result<Json<Nacked>, ApiError> {
    let queue = path.queue()?;
    let id = path.id()?;
    let receipt = query.receipt(id)?;
    let (priority, metadata) = validate::nack(&body, &app.limits)?;
    let cmd = Command::Nack {
        queue,
        id,
        priority,
        metadata: metadata.clone(),
        receipt,
    };
    match app.propose(Route::Nack, cmd).await? {
        // [FIX] the priority after the nack; the metadata echoes the request.
        Reply::Nacked { priority } => Ok(Json(Nacked {
            status: "UNACKNOWLEDGED",
            id: id_string(id),
            priority: priority.0,
            metadata: metadata.unwrap_or_default(),
        })),
        other => Err(ApiError::unexpected_reply(Route::Nack, &other)),
    }
}

/// `POST …/messages/{id}/touch[?receipt=]`.
#[utoipa::path(
    post,
    path = "/API/v1/queues/{queue_name}/messages/{id}/touch",
    tag = "messages",
    params(("queue_name" = String, Path, description = "The queue's name (§2.1)"), ("id" = String, Path, description = "Message id: a decimal u64"), ("receipt" = Option<String>, Query, description = "The receipt of the delivery being acted on (docs/http.md §3.4)")),
    responses(
        (status = 200, description = "`TOUCHED`: the lease is extended", body = IdReply),
        (status = 400, description = "No live lease (`lease_not_held`) or unknown queue", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Stale receipt (`stale_receipt`)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn touch(
    State(app): State<AppState>,
    path: PathArgs,
    query: QueryArgs,
) -> Result<Json<IdReply>, ApiError> {
    let queue = path.queue()?;
    let id = path.id()?;
    let receipt = query.receipt(id)?;
    match app
        .propose(Route::Touch, Command::Touch { queue, id, receipt })
        .await?
    {
        Reply::Touched => Ok(Json(IdReply {
            status: "TOUCHED",
            id: id_string(id),
        })),
        other => Err(ApiError::unexpected_reply(Route::Touch, &other)),
    }
}

/// `PUT …/messages/{id}/priority` with `{"priority"}`.
#[utoipa::path(
    put,
    path = "/API/v1/queues/{queue_name}/messages/{id}/priority",
    tag = "messages",
    params(("queue_name" = String, Path, description = "The queue's name (§2.1)"), ("id" = String, Path, description = "Message id: a decimal u64")),
    request_body = crate::http::openapi::bodies::Priority,
    responses(
        (status = 200, description = "`UPDATED`", body = PriorityUpdated),
        (status = 409, description = "Unknown queue or message", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn update_priority(
    State(app): State<AppState>,
    path: PathArgs,
    JsonBody(body): JsonBody,
) -> Result<Json<PriorityUpdated>, ApiError> {
    let queue = path.queue()?;
    let id = path.id()?;
    let priority = validate::priority(&body)?;
    match app
        .propose(
            Route::UpdatePriority,
            Command::UpdatePriority {
                queue,
                id,
                priority,
            },
        )
        .await?
    {
        Reply::PriorityUpdated => Ok(Json(PriorityUpdated {
            status: "UPDATED",
            id: id_string(id),
            priority: priority.0,
        })),
        other => Err(ApiError::unexpected_reply(Route::UpdatePriority, &other)),
    }
}
