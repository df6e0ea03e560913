//! Queue routes (docs/http.md §3.2): create, list, info, update, delete, and the EXT purge.
use axum::{extract::State, Json};
use doq_api::{Command, QueueKind, QueueSettings, Reply, SettingsUpdate};
use serde_json::Value;

use crate::{
    errors::{ApiError, Route},
    http::{
        body::JsonBody,
        dto::{Created, Purged, QueueInfo, QueueList, QueueUpdated, SettingsEcho, StatusOnly},
        params::{PathArgs, QueryArgs},
        validate, AppState,
    },
};

/// The stored `ack_timeout`: an absent one is the configured default (the engine never sees 0).
fn ack_timeout(requested: Option<u32>, default: u32) -> u32 {
    requested.filter(|t| *t > 0).unwrap_or(default)
}

/// `POST /API/v1/queues`.
#[utoipa::path(
    post,
    path = "/API/v1/queues",
    tag = "queues",
    request_body = crate::http::openapi::bodies::CreateQueue,
    responses(
        (status = 200, description = "`CREATED` (also when the queue already exists)", body = Created),
        (status = 409, description = "Invalid settings combination (`invalid_settings`)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create(
    State(app): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Json<Created>, ApiError> {
    let input = validate::create_queue(&body)?;
    let s = &input.settings;
    let settings = QueueSettings {
        strategy: s.strategy,
        max_unacked: s.max_unacked.unwrap_or(0),
        ack_timeout: ack_timeout(s.ack_timeout, app.default_ack_timeout),
        max_deliveries: s.max_deliveries.unwrap_or(0),
        dead_letter: s.dead_letter_queue.clone().flatten(),
    };
    let cmd = Command::CreateQueue {
        name: input.name.clone(),
        kind: input.kind,
        settings,
    };
    match app.propose(Route::CreateQueue, cmd).await? {
        Reply::QueueCreated => Ok(Json(Created {
            status: "CREATED",
            name: input.name.to_string(),
            kind: input.kind.as_str(),
            settings: SettingsEcho::from(s),
        })),
        other => Err(ApiError::unexpected_reply(Route::CreateQueue, &other)),
    }
}

/// `GET /API/v1/queues[?type=delayed|fair]`.
#[utoipa::path(
    get,
    path = "/API/v1/queues",
    tag = "queues",
    params(("type" = Option<String>, Query, description = "Only queues of this type: `delayed` or `fair`")),
    responses(
        (status = 200, description = "Every queue with its stats, sorted by name", body = QueueList),
    )
)]
pub(crate) async fn list(
    State(app): State<AppState>,
    query: QueryArgs,
) -> Result<Json<QueueList>, ApiError> {
    let kind = match query.get("type") {
        None | Some("") => None,
        Some(t) => Some(QueueKind::parse(t).ok_or_else(|| {
            let value = Some(Value::String(t.to_string()));
            ApiError::violation(
                "query.type",
                "expected value to be one of \"delayed, fair\"",
                value,
            )
        })?),
    };
    app.read_barrier(Route::ListQueues).await?;
    let all = app
        .consensus
        .view()
        .list(app.stats_window)
        .await
        .map_err(|e| ApiError::new(Route::ListQueues, e))?;
    let queues = all
        .into_iter()
        .filter(|q| kind.is_none_or(|k| q.kind == k))
        .map(QueueInfo::from)
        .collect();
    Ok(Json(QueueList { queues }))
}

/// `GET /API/v1/queues/{queue_name}`.
#[utoipa::path(
    get,
    path = "/API/v1/queues/{queue_name}",
    tag = "queues",
    params(("queue_name" = String, Path, description = "The queue's name (§2.1)")),
    responses(
        (status = 200, description = "Settings and stats", body = QueueInfo),
        (status = 400, description = "Unknown queue (`queue_not_found`)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn info(
    State(app): State<AppState>,
    path: PathArgs,
) -> Result<Json<QueueInfo>, ApiError> {
    let name = path.queue()?;
    app.read_barrier(Route::QueueInfo).await?;
    let stats = app
        .consensus
        .view()
        .stats(&name, app.stats_window)
        .await
        .map_err(|e| ApiError::new(Route::QueueInfo, e))?;
    Ok(Json(QueueInfo::from(stats)))
}

/// `PUT /API/v1/queues/{queue_name}`.
#[utoipa::path(
    put,
    path = "/API/v1/queues/{queue_name}",
    tag = "queues",
    params(("queue_name" = String, Path, description = "The queue's name (§2.1)")),
    request_body = crate::http::openapi::bodies::UpdateQueue,
    responses(
        (status = 200, description = "`UPDATED`", body = QueueUpdated),
        (status = 409, description = "Unknown queue, strategy change or invalid settings", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn update(
    State(app): State<AppState>,
    path: PathArgs,
    JsonBody(body): JsonBody,
) -> Result<Json<QueueUpdated>, ApiError> {
    let name = path.queue()?;
    let s = validate::update_queue(&body)?;
    let settings = SettingsUpdate {
        strategy: s.strategy,
        // DOQ replaces both: absent means unlimited and the default timeout.
        max_unacked: s.max_unacked.unwrap_or(0),
        ack_timeout: ack_timeout(s.ack_timeout, app.default_ack_timeout),
        // [EXT] absent keeps the stored value, so DOQ clients cannot wipe it.
        max_deliveries: s.max_deliveries,
        dead_letter: s.dead_letter_queue.clone(),
    };
    let cmd = Command::UpdateQueue {
        name: name.clone(),
        settings,
    };
    match app.propose(Route::UpdateQueue, cmd).await? {
        Reply::QueueUpdated => Ok(Json(QueueUpdated {
            status: "UPDATED",
            name: name.to_string(),
            settings: SettingsEcho::from(&s),
        })),
        other => Err(ApiError::unexpected_reply(Route::UpdateQueue, &other)),
    }
}

/// `DELETE /API/v1/queues/{queue_name}`.
#[utoipa::path(
    delete,
    path = "/API/v1/queues/{queue_name}",
    tag = "queues",
    params(("queue_name" = String, Path, description = "The queue's name (§2.1)")),
    responses(
        (status = 200, description = "`DELETED`: the queue, its messages and leases are gone", body = StatusOnly),
        (status = 400, description = "Unknown queue (`queue_not_found`)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The queue is another queue's dead-letter queue (`queue_in_use`)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn delete(
    State(app): State<AppState>,
    path: PathArgs,
) -> Result<Json<StatusOnly>, ApiError> {
    let name = path.queue()?;
    match app
        .propose(Route::DeleteQueue, Command::DeleteQueue { name })
        .await?
    {
        Reply::QueueDeleted => Ok(Json(StatusOnly { status: "DELETED" })),
        other => Err(ApiError::unexpected_reply(Route::DeleteQueue, &other)),
    }
}

/// `POST /API/v1/queues/{queue_name}/purge` (EXT).
#[utoipa::path(
    post,
    path = "/API/v1/queues/{queue_name}/purge",
    tag = "queues",
    params(("queue_name" = String, Path, description = "The queue's name (§2.1)")),
    responses(
        (status = 200, description = "`PURGED`: every message and lease deleted, the queue kept", body = Purged),
        (status = 404, description = "Unknown queue (`queue_not_found`)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn purge(
    State(app): State<AppState>,
    path: PathArgs,
) -> Result<Json<Purged>, ApiError> {
    let name = path.queue()?;
    match app
        .propose(Route::Purge, Command::Purge { name: name.clone() })
        .await?
    {
        Reply::Purged { count } => Ok(Json(Purged {
            status: "PURGED",
            name: name.to_string(),
            purged: count,
        })),
        other => Err(ApiError::unexpected_reply(Route::Purge, &other)),
    }
}
