//! Batch routes [EXT] (docs/http.md §3.5): `…/batch/enqueue` stores many messages in one atomic command and
//! `…/batch/dequeue` selects up to `max` in one command (an empty result is a 200 with `[]`), and
//! `…/batch/ack` judges each item on its own within one command.
use axum::{extract::State, Json};
use doq_api::{Body, Command, NewMessage, Reply};

use crate::{
    errors::{item_failure, ApiError, Route},
    http::{
        body::JsonBody,
        dto::{
            id_string, AckResult, BatchAcked, BatchDequeued, BatchEnqueued, Dequeued, EnqueuedRef,
        },
        long_poll,
        params::PathArgs,
        validate, AppState,
    },
};

/// `POST /API/v1/queues/{queue_name}/batch/enqueue` with `{"messages":[…]}`.
#[utoipa::path(
    post,
    path = "/API/v1/queues/{queue_name}/batch/enqueue",
    tag = "batch",
    params(("queue_name" = String, Path, description = "The queue's name (§2.1)")),
    request_body = crate::http::openapi::bodies::BatchEnqueue,
    responses(
        (status = 200, description = "`ENQUEUED`, in request order; one atomic command", body = BatchEnqueued),
        (status = 404, description = "Unknown queue (`queue_not_found`)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn enqueue(
    State(app): State<AppState>,
    path: PathArgs,
    JsonBody(body): JsonBody,
) -> Result<Json<BatchEnqueued>, ApiError> {
    let queue = path.queue()?;
    let items = validate::batch_enqueue(&body, &app.limits)?
        .into_iter()
        .map(|m| NewMessage {
            id: m.id,
            group: m.group,
            priority: m.priority,
            body: Body {
                content: m.content,
                metadata: m.metadata,
            },
        })
        .collect();
    match app
        .propose(Route::BatchEnqueue, Command::Enqueue { queue, items })
        .await?
    {
        Reply::Enqueued(stored) => Ok(Json(BatchEnqueued {
            status: "ENQUEUED",
            messages: stored.into_iter().map(EnqueuedRef::from).collect(),
        })),
        other => Err(ApiError::unexpected_reply(Route::BatchEnqueue, &other)),
    }
}

/// `POST /API/v1/queues/{queue_name}/batch/dequeue` with `{"max","ack"?,"wait"?}`.
#[utoipa::path(
    post,
    path = "/API/v1/queues/{queue_name}/batch/dequeue",
    tag = "batch",
    params(("queue_name" = String, Path, description = "The queue's name (§2.1)")),
    request_body = crate::http::openapi::bodies::BatchDequeue,
    responses(
        (status = 200, description = "`DEQUEUED`; `[]` when nothing is deliverable", body = BatchDequeued),
        (status = 404, description = "Unknown queue (`queue_not_found`)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn dequeue(
    State(app): State<AppState>,
    path: PathArgs,
    JsonBody(body): JsonBody,
) -> Result<Json<BatchDequeued>, ApiError> {
    let queue = path.queue()?;
    let input = validate::batch_dequeue(&body, &app.limits)?;
    let delivered = long_poll::dequeue(
        &app,
        Route::BatchDequeue,
        &queue,
        input.ack,
        input.max,
        input.wait,
    )
    .await?;
    let messages = delivered
        .into_iter()
        .map(|d| Dequeued::new(d, None))
        .collect();
    Ok(Json(BatchDequeued {
        status: "DEQUEUED",
        messages,
    }))
}

/// `POST /API/v1/queues/{queue_name}/batch/ack` with `{"messages":[{"id","receipt"?},…]}`.
///
/// The body is validated as a whole (one bad item or receipt gets 422 and nothing is acked). Then all items
/// go into **one** `AckBatch` command: each is judged on its own within it and answered in request order
/// with `ACKNOWLEDGED`, or `FAILED` with the code and text its single ack would have got. An unknown queue
/// fails the command as a whole: 404.
#[utoipa::path(
    post,
    path = "/API/v1/queues/{queue_name}/batch/ack",
    tag = "batch",
    params(("queue_name" = String, Path, description = "The queue's name (§2.1)")),
    request_body = crate::http::openapi::bodies::BatchAck,
    responses(
        (status = 200, description = "One result per item, in request order", body = BatchAcked),
        (status = 404, description = "Unknown queue (`queue_not_found`)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn ack(
    State(app): State<AppState>,
    path: PathArgs,
    JsonBody(body): JsonBody,
) -> Result<Json<BatchAcked>, ApiError> {
    let queue = path.queue()?;
    let items = validate::batch_ack(&body, &app.limits)?;
    match app
        .propose(Route::BatchAck, Command::AckBatch { queue, items })
        .await?
    {
        Reply::AckedEach(outcomes) => Ok(Json(BatchAcked {
            results: outcomes
                .into_iter()
                .map(|(id, outcome)| match outcome {
                    Ok(()) => AckResult {
                        id: id_string(id),
                        status: "ACKNOWLEDGED",
                        code: None,
                        message: None,
                    },
                    Err(e) => failed(id, &e),
                })
                .collect(),
        })),
        other => Err(ApiError::unexpected_reply(Route::BatchAck, &other)),
    }
}

/// A failed item of a batch ack, with the code and text the single ack would have given.
fn failed(id: doq_api::MessageId, error: &doq_api::Error) -> AckResult {
    let (code, message) = item_failure(error);
    AckResult {
        id: id_string(id),
        status: "FAILED",
        code: Some(code),
        message: Some(message),
    }
}
