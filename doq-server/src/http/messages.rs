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
