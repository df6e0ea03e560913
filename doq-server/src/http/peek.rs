//! `GET /API/v1/queues/{queue_name}/peek` [EXT] (docs/http.md §3.5): browse a queue's messages by id without
//! leasing or changing anything. A read: linearizable through the read barrier, answered from durable
//! state.
use axum::{extract::State, Json};
use doq_api::MessageState;

use crate::{
    errors::{ApiError, Route},
    http::{
        dto::{id_string, PeekReply, Peeked},
        params::{PathArgs, QueryArgs},
        AppState,
    },
};

/// `GET …/peek?limit=&after=&state=`.
#[utoipa::path(
    get,
    path = "/API/v1/queues/{queue_name}/peek",
    tag = "batch",
    params(("queue_name" = String, Path, description = "The queue's name (§2.1)"), ("limit" = Option<u32>, Query, description = "At most this many messages (1..`limits.max_batch_size`, default 10)"), ("after" = Option<String>, Query, description = "Only ids greater than this one"), ("state" = Option<String>, Query, description = "`ready`, `delayed`, `leased` or `all` (default)")),
    responses(
        (status = 200, description = "Messages by id; nothing changes", body = PeekReply),
        (status = 404, description = "Unknown queue (`queue_not_found`)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn peek(
    State(app): State<AppState>,
    path: PathArgs,
    query: QueryArgs,
) -> Result<Json<PeekReply>, ApiError> {
    let queue = path.queue()?;
    let limit = query.limit(app.limits.max_batch_size)?;
    let after = query.after()?;
    let filter = query.peek_filter()?;
    app.read_barrier(Route::Peek).await?;
    let (page, more) = app
        .consensus
        .view()
        .peek(&queue, after, limit, filter)
        .await
        .map_err(|e| ApiError::new(Route::Peek, e))?;
    let next_after = page
        .last()
        .filter(|_| more)
        .map(|(view, _)| id_string(view.header.id));
    let messages = page
        .into_iter()
        .map(|(view, body)| Peeked {
            id: id_string(view.header.id),
            group: view.header.group.as_str().to_string(),
            priority: view.header.priority.0,
            content: body.content,
            metadata: body.metadata,
            state: match view.state {
                MessageState::Ready => "ready",
                MessageState::Delayed => "delayed",
                MessageState::Leased => "leased",
            },
            deliveries: view.header.deliveries,
            lease_deadline_ms: view
                .header
                .lease
                .filter(|_| view.state == MessageState::Leased)
                .map(|l| l.deadline.0),
        })
        .collect();
    Ok(Json(PeekReply {
        messages,
        next_after,
    }))
}
