//! Cluster routes (docs/cluster.md §5): `servers` and `status` report the serving node's view; `join` and `leave`
//! change membership (refused with 409 in single mode).
use axum::{extract::State, Json};

use crate::{
    errors::{ApiError, Route},
    http::{
        body::JsonBody,
        dto::{Joined, Left, NodeStatus, Servers},
        validate, AppState,
    },
};

/// `GET /API/v1/cluster/servers`.
#[utoipa::path(
    get,
    path = "/API/v1/cluster/servers",
    tag = "cluster",
    responses(
        (status = 200, description = "Members", body = Servers),
    )
)]
pub(crate) async fn servers(State(app): State<AppState>) -> Json<Servers> {
    Json(Servers::from(&app.consensus.status()))
}

/// `GET /API/v1/cluster/status` (EXT).
#[utoipa::path(
    get,
    path = "/API/v1/cluster/status",
    tag = "cluster",
    responses(
        (status = 200, description = "The serving node's Raft view", body = NodeStatus),
    )
)]
pub(crate) async fn status(State(app): State<AppState>) -> Json<NodeStatus> {
    Json(NodeStatus::from(app.consensus.status()))
}

/// `POST /API/v1/cluster/join` with `{"id","addr"}`.
#[utoipa::path(
    post,
    path = "/API/v1/cluster/join",
    tag = "cluster",
    request_body = crate::http::openapi::bodies::Join,
    responses(
        (status = 200, description = "Joined (after promotion to voter)", body = Joined),
        (status = 403, description = "Admin operation from a non-loopback client without `auth.token` (`admin_local_only`)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Refused (`membership_refused`)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn join(
    State(app): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Json<Joined>, ApiError> {
    let node = validate::join(&body)?;
    let answer = Joined {
        id: node.id.clone(),
        addr: node.addr.clone(),
    };
    app.consensus
        .add_node(node)
        .await
        .map_err(|e| ApiError::new(Route::Join, e))?;
    Ok(Json(answer))
}

/// `POST /API/v1/cluster/leave` with `{"id"}`.
#[utoipa::path(
    post,
    path = "/API/v1/cluster/leave",
    tag = "cluster",
    request_body = crate::http::openapi::bodies::Leave,
    responses(
        (status = 200, description = "Left (an unknown id is a no-op)", body = Left),
        (status = 403, description = "Admin operation from a non-loopback client without `auth.token` (`admin_local_only`)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Refused (`membership_refused`)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn leave(
    State(app): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Json<Left>, ApiError> {
    let id = validate::leave(&body)?;
    app.consensus
        .remove_node(&id)
        .await
        .map_err(|e| ApiError::new(Route::Leave, e))?;
    Ok(Json(Left { id }))
}
