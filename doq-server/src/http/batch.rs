//! Batch routes [EXT] (API.md §3.5): `…/batch/enqueue` stores many messages in one atomic command and
//! `…/batch/dequeue` selects up to `max` in one command (an empty result is a 200 with `[]`).
use axum::{extract::State, Json};
use doq_api::{Body, Command, NewMessage, Reply};

use crate::{
    errors::{ApiError, Route},
    http::{
        body::JsonBody,
        dto::{BatchDequeued, BatchEnqueued, Dequeued, EnqueuedRef},
        long_poll,
        params::PathArgs,
        validate, AppState,
    },
};

/// `POST /API/v1/queues/{queue_name}/batch/enqueue` with `{"messages":[…]}`.
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
