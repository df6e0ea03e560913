//! The layers around the whole HTTP app (docs/http.md §2), outermost first: an `X-Request-Id` for every
//! request (tower-http's request-id layers: echoed when the client sent one, else a new UUID), the access
//! log (tower-http's trace layer: one line per request with its id, method, path, status and latency), the
//! security headers (tower-http's set-header layer), and the request id in scope for problem bodies.
//!
//! They sit outside the access rules and the metrics, so a 401 carries an id and the headers too.
use std::time::Duration;

use axum::{
    extract::Request,
    http::{HeaderName, HeaderValue},
    middleware::{self, Next},
    response::Response,
    Router,
};
use tower_http::{
    request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};
use tracing::{info, info_span, Span};

/// The request id header, echoed or generated.
pub(crate) static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-sent request id that is kept; a longer (or empty) one is replaced by a new id.
const MAX_REQUEST_ID: usize = 200;

/// Headers every response carries (docs/http.md §2).
const SECURITY_HEADERS: [(&str, &str); 5] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "SAMEORIGIN"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
];

tokio::task_local! {
    /// The id of the request being served, for the problem body of an error built anywhere below.
    static CURRENT: HeaderValue;
}

/// The id of the request this task is serving, if any (problem bodies carry it as `request_id`).
pub(crate) fn current_request_id() -> Option<String> {
    CURRENT
        .try_with(|id| id.to_str().ok().map(str::to_owned))
        .ok()
        .flatten()
}

/// New request ids: v4 UUIDs from the thread's user-space PRNG. `Uuid::new_v4` (and tower-http's
/// `MakeRequestUuid`) ask the OS for every id, a syscall per request.
#[derive(Clone, Copy, Debug, Default)]
struct NewIds;

impl MakeRequestId for NewIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let id = uuid::Builder::from_random_bytes(rand::random())
            .into_uuid()
            .hyphenated()
            .to_string();
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// Wraps `app` in the layers of this module. `access_log` turns the per-request log line on
/// (`logging.access`).
pub fn wrap(app: Router, access_log: bool) -> Router {
    let mut app = app.layer(middleware::from_fn(scope_request_id));
    for (name, value) in SECURITY_HEADERS {
        app = app.layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        ));
    }
    app = app.layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()));
    if access_log {
        app = app.layer(
            TraceLayer::new_for_http()
                .make_span_with(span)
                .on_request(())
                .on_response(log_response)
                .on_body_chunk(())
                .on_eos(())
                .on_failure(()),
        );
    }
    app.layer(SetRequestIdLayer::new(REQUEST_ID.clone(), NewIds))
        .layer(middleware::from_fn(drop_unusable_id))
}

/// A client's empty or oversized `X-Request-Id` is dropped, so a new one is made for it.
async fn drop_unusable_id(mut req: Request, next: Next) -> Response {
    let unusable = req
        .headers()
        .get(&REQUEST_ID)
        .is_some_and(|v| v.is_empty() || v.len() > MAX_REQUEST_ID);
    if unusable {
        req.headers_mut().remove(&REQUEST_ID);
    }
    next.run(req).await
}

/// Puts the request's id in scope while the rest of the stack serves it.
async fn scope_request_id(req: Request, next: Next) -> Response {
    match req.headers().get(&REQUEST_ID).cloned() {
        Some(id) => CURRENT.scope(id, next.run(req)).await,
        None => next.run(req).await,
    }
}

/// The span every log line of a request is written in: its id, method and path (never the query, which
/// may hold a receipt).
fn span(req: &axum::http::Request<axum::body::Body>) -> Span {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path(),
    )
}

/// The access log line, when the response starts (a streamed backup's body may take longer).
fn log_response(response: &axum::http::Response<axum::body::Body>, latency: Duration, span: &Span) {
    let id = response
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // The id is repeated on the event: JSON and Stackdriver logs then carry it without span support.
    span.in_scope(|| {
        info!(
            target: "doq::access",
            request_id = %id,
            status = response.status().as_u16(),
            latency_ms = latency.as_secs_f64() * 1000.0,
            "served"
        );
    });
}
