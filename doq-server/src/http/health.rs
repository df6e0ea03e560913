//! Health probes (docs/cluster.md §5): `/livez` and `/healthz` answer `OK` while HTTP is served; `/readyz` also needs
//! a working applier and store (no failed commit since the last good one, no engine waiting for a
//! rebuild), running consensus, a known leader and a small apply lag, and with `?leader=true` that this
//! node leads.
use axum::{extract::State, http::StatusCode};
use doq_consensus::Role;

use crate::{
    errors::ApiError,
    http::{params::QueryArgs, AppState},
};

/// Most committed-but-unapplied entries a ready node may have.
const MAX_APPLY_LAG: u64 = 1000;

/// `GET /livez`, `GET /healthz`.
#[utoipa::path(
    get,
    path = "/livez",
    tag = "health",
    responses(
        (status = 200, description = "`OK` while HTTP is served", body = String, content_type = "text/plain"),
    )
)]
pub(crate) async fn live() -> &'static str {
    "OK"
}

/// `GET /readyz[?leader=true]`: 200 `OK`, or 503 with a one-line reason.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    params(("leader" = Option<String>, Query, description = "Also require that this node leads")),
    responses(
        (status = 200, description = "`OK`", body = String, content_type = "text/plain"),
        (status = 503, description = "Not ready: a one-line reason", body = String, content_type = "text/plain"),
    )
)]
pub(crate) async fn ready(
    State(app): State<AppState>,
    query: QueryArgs,
) -> Result<(StatusCode, String), ApiError> {
    let leader_only = query.bool("leader", false)?;
    let status = app.consensus.status();
    // Entries this node holds in its log but has not applied yet. (openraft 0.9 publishes no commit
    // index, so `commit_index` equals `last_applied` and their difference would always be 0.)
    let lag = status
        .last_log_index
        .max(status.commit_index)
        .saturating_sub(status.last_applied);
    let reason = if let Some(why) = app.consensus.view().health_problem() {
        Some(why)
    } else if status.role == Role::Shutdown {
        Some("consensus has stopped on this node".to_string())
    } else if status.leader_id.is_none() {
        Some("no leader known".to_string())
    } else if lag > MAX_APPLY_LAG {
        Some(format!("apply lag {lag} exceeds {MAX_APPLY_LAG} entries"))
    } else if leader_only && status.role != Role::Leader {
        Some(format!("not the leader ({})", status.role.as_str()))
    } else {
        None
    };
    Ok(match reason {
        None => (StatusCode::OK, "OK".to_string()),
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
    })
}
