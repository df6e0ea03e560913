//! Health probes (docs/cluster.md §5): `/livez` and `/healthz` answer `OK` while HTTP is served; `/readyz` also needs
//! a working applier and store (no failed commit since the last good one, no engine waiting for a
//! rebuild), running consensus, a known leader and a small apply lag, and with `?leader=true` that this
//! node leads.
use axum::{extract::State, http::StatusCode};

use crate::{
    errors::ApiError,
    http::{params::QueryArgs, AppState},
};

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

/// `GET /readyz[?leader=true]`: 200 `OK`, or 503 with a one-line reason (`doq_consensus::readiness`).
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
    Ok(
        match doq_consensus::readiness(&*app.consensus, leader_only) {
            None => (StatusCode::OK, "OK".to_string()),
            Some(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
        },
    )
}
