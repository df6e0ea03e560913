//! DOQ's routing conventions around the route table (docs/http.md §2): literal segments match case-insensitively,
//! one trailing `/` is ignored, every response carries the security headers and an `X-Request-Id`, unknown
//! paths get a 404 problem and wrong methods a 405 problem with `Allow`.
use axum::{
    extract::Request,
    http::{header, uri::PathAndQuery, HeaderName, HeaderValue, StatusCode, Uri},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    Router,
};

use crate::{errors::ApiError, http::problem::PROBLEM_JSON};

/// The request id header, echoed or generated.
static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every literal path segment in its canonical spelling; a segment that matches one case-insensitively
/// is rewritten to it before routing. Path parameters are never rewritten.
const LITERALS: &[&str] = &[
    "API", "v1", "queues", "messages", "ack", "nack", "touch", "priority", "ids", "purge", "batch",
    "enqueue", "dequeue", "peek", "cluster", "servers", "status", "join", "leave", "livez",
    "healthz", "readyz", "db", "backup", "restore", "metrics",
];

/// Headers every response carries (docs/http.md §2).
const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "SAMEORIGIN"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
];

/// Wraps the route table so the path is normalized *before* routing: layers on a router run after its
/// route was chosen, so the table sits behind an outer router's fallback.
pub(crate) fn wrap(routes: Router) -> Router {
    Router::new()
        .fallback_service(routes)
        .layer(middleware::from_fn(conventions))
}

async fn conventions(mut req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .filter(|v| !v.is_empty() && v.len() <= 200)
        .cloned()
        .unwrap_or_else(new_request_id);
    if let Some(uri) = normalize(req.uri()) {
        *req.uri_mut() = uri;
    }
    let mut response = next.run(req).await;
    if response.status() == StatusCode::METHOD_NOT_ALLOWED && !is_problem(&response) {
        // axum's own 405 has the right `Allow` but no body: answer DOQ's problem, keeping `Allow`.
        let allow = response.headers().get(header::ALLOW).cloned();
        response = ApiError::method_not_allowed().into_response();
        if let Some(allow) = allow {
            response.headers_mut().insert(header::ALLOW, allow);
        }
    }
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(*name, HeaderValue::from_static(value));
    }
    headers.insert(REQUEST_ID.clone(), request_id);
    response
}

fn new_request_id() -> HeaderValue {
    // A v4 UUID from the thread's user-space PRNG: `Uuid::new_v4` asks the OS (a syscall per request).
    let id = uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .hyphenated()
        .to_string();
    HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

fn is_problem(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes())
}

/// The URI with its path in canonical form, or `None` when it already is.
fn normalize(uri: &Uri) -> Option<Uri> {
    let path = canonical_path(uri.path())?;
    let pq = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(pq).ok()?);
    Uri::from_parts(parts).ok()
}

/// `path` with one trailing `/` dropped and literal segments in their canonical case; `None` if unchanged.
pub(crate) fn canonical_path(path: &str) -> Option<String> {
    let trimmed = match path.strip_suffix('/') {
        Some(rest) if !rest.is_empty() => rest,
        _ => path,
    };
    let segments: Vec<&str> = trimmed.split('/').skip(1).collect();
    let is = |i: usize, lit: &str| segments.get(i).is_some_and(|s| s.eq_ignore_ascii_case(lit));
    let queue_routes = is(0, "api") && is(2, "queues");
    let message_routes = queue_routes && is(4, "messages");
    let mut out = String::with_capacity(trimmed.len());
    for (i, segment) in segments.iter().enumerate() {
        out.push('/');
        let is_param = (queue_routes && i == 3) || (message_routes && i == 5);
        let literal = if is_param {
            None
        } else {
            LITERALS.iter().find(|l| l.eq_ignore_ascii_case(segment))
        };
        out.push_str(literal.copied().unwrap_or(segment));
    }
    if out.is_empty() {
        out.push('/');
    }
    (out != path).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::canonical_path;

    #[test]
    fn literal_segments_are_canonicalized_and_params_kept() {
        assert_eq!(
            canonical_path("/api/V1/QUEUES/MyQ/Messages/12/ACK").as_deref(),
            Some("/API/v1/queues/MyQ/messages/12/ack")
        );
        assert_eq!(
            canonical_path("/API/v1/queues/").as_deref(),
            Some("/API/v1/queues")
        );
        assert_eq!(
            canonical_path("/API/v1/queues/Ack/messages").as_deref(),
            None
        );
        assert_eq!(
            canonical_path("/API/v1/queues/ack/messages").as_deref(),
            None
        );
        assert_eq!(canonical_path("/Livez/").as_deref(), Some("/livez"));
        assert_eq!(canonical_path("/").as_deref(), None);
        assert_eq!(
            canonical_path("/API/v1/queues//").as_deref(),
            Some("/API/v1/queues/")
        );
    }
}
