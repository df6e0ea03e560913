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
