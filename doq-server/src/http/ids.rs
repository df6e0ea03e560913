//! `POST /API/v1/ids` (docs/http.md §3.3): reserve ids through one replicated command, so they never collide
//! with server-assigned ones.
use axum::{extract::State, Json};
use doq_api::{Command, Reply};

use crate::{
    errors::{ApiError, Route},
    http::{
        body::JsonBody,
        dto::{id_string, Ids},
        validate, AppState,
    },
};

/// `POST /API/v1/ids` with `{"number":1..1000}`.
#[utoipa::path(
    post,
    path = "/API/v1/ids",
    tag = "messages",
    request_body = crate::http::openapi::bodies::ReserveIds,
    responses(
        (status = 200, description = "Reserved ids, usable as client ids", body = Ids),
    )
)]
pub(crate) async fn reserve(
    State(app): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Json<Ids>, ApiError> {
    let count = validate::reserve_ids(&body)?;
    match app
        .propose(Route::ReserveIds, Command::ReserveIds { count })
        .await?
    {
        Reply::Ids(ids) => Ok(Json(Ids {
            ids: ids.into_iter().map(id_string).collect(),
        })),
        other => Err(ApiError::unexpected_reply(Route::ReserveIds, &other)),
    }
}
