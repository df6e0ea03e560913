//! The admin UI (docs/observability.md §12): a single-page app of plain HTML, CSS and JavaScript in
//! `doq-server/ui/`, compiled into the binary (no network at run time, no Node toolchain to build). It talks
//! to the HTTP API like any client, so it needs the token when `auth.token` is set and asks for it.
//!
//! Routes: `/` and the deep links `/queues/{name}`, `/servers`, `/cluster` answer the page; `/assets/{file}`
//! its scripts and styles; `/ui` (DOQ's old address) redirects to `/`. Any other unknown `GET` outside
//! `/API/` and `/db/` also answers the page, like DOQ's single-page-app fallback (docs/http.md §2). With
//! `ui.enabled = false` none of this is served: those paths get the 404 problem.
use axum::{
    extract::{Path, State},
    http::{header, HeaderValue, Method, StatusCode, Uri},
    response::{IntoResponse, Redirect, Response},
    routing::get,
    Router,
};

use crate::{errors::ApiError, http::AppState};

const INDEX_HTML: &str = include_str!("../ui/index.html");
const APP_JS: &str = include_str!("../ui/app.js");
const APP_CSS: &str = include_str!("../ui/app.css");

/// The files under `/assets/`: name, media type, content.
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.js", "text/javascript; charset=utf-8", APP_JS),
    ("app.css", "text/css; charset=utf-8", APP_CSS),
];

/// The UI's routes, or none when `ui.enabled = false`.
pub(crate) fn routes(enabled: bool) -> Router<AppState> {
    if !enabled {
        return Router::new();
    }
    Router::new()
        .route("/", get(index))
        .route("/queues/{name}", get(queue_page))
        .route("/servers", get(servers_page))
        .route("/cluster", get(cluster_page))
        .route("/assets/{file}", get(asset))
        .route("/ui", get(old_address))
}

fn page(content_type: &'static str, body: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The assets change with the binary; revalidating is cheap on the loopback or a LAN.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `GET /`: the queue list.
#[utoipa::path(get, path = "/", tag = "ui",
    responses((status = 200, description = "The admin UI (HTML)", body = String, content_type = "text/html")))]
pub(crate) async fn index() -> Response {
    page("text/html; charset=utf-8", INDEX_HTML)
}

/// `GET /queues/{name}`: one queue (the page routes on the client).
#[utoipa::path(get, path = "/queues/{name}", tag = "ui", params(("name" = String, Path, description = "Queue name")),
    responses((status = 200, description = "The admin UI (HTML)", body = String, content_type = "text/html")))]
pub(crate) async fn queue_page() -> Response {
    index().await
}

/// `GET /servers`: the members, with leave.
#[utoipa::path(get, path = "/servers", tag = "ui",
    responses((status = 200, description = "The admin UI (HTML)", body = String, content_type = "text/html")))]
pub(crate) async fn servers_page() -> Response {
    index().await
}

/// `GET /cluster`: the serving node's Raft status.
#[utoipa::path(get, path = "/cluster", tag = "ui",
    responses((status = 200, description = "The admin UI (HTML)", body = String, content_type = "text/html")))]
pub(crate) async fn cluster_page() -> Response {
    index().await
}

/// `GET /assets/{file}`: the UI's script and stylesheet.
#[utoipa::path(get, path = "/assets/{file}", tag = "ui", params(("file" = String, Path, description = "`app.js` or `app.css`")),
    responses(
        (status = 200, description = "The file", content(
            (String = "text/javascript"),
            (String = "text/css"),
        )),
        (status = 404, description = "No such asset", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => page(content_type, body),
        None => ApiError::route_not_found().into_response(),
    }
}

/// `GET /ui`: DOQ served its UI here; 308 keeps old bookmarks working.
#[utoipa::path(get, path = "/ui", tag = "ui",
    responses((status = 308, description = "Redirect to `/`")))]
pub(crate) async fn old_address() -> Redirect {
    Redirect::permanent("/")
}

/// The app's fallback: the page for an unknown `GET` outside the API when the UI is on (deep links survive
/// a reload), the 404 problem otherwise.
pub(crate) async fn fallback(State(app): State<AppState>, method: Method, uri: Uri) -> Response {
    let path = uri.path().to_ascii_lowercase();
    let api = ["/api", "/db", "/assets"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")));
    if app.ui && !api && (method == Method::GET || method == Method::HEAD) {
        return index().await;
    }
    ApiError::route_not_found().into_response()
}
