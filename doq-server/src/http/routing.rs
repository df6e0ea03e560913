//! DOQ's routing conventions around the route table (docs/http.md §2): literal segments match case-insensitively,
//! one trailing `/` is ignored, unknown paths get a 404 problem and wrong methods a 405 problem with `Allow`.
//! The request id and security headers are added outside, by `http/layers.rs`.
use axum::{
    extract::Request,
    http::{header, uri::PathAndQuery, StatusCode, Uri},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    Router,
};

use crate::{errors::ApiError, http::problem::PROBLEM_JSON};

/// Every literal path segment in its canonical spelling; a segment that matches one case-insensitively
/// is rewritten to it before routing. Path parameters are never rewritten.
const LITERALS: &[&str] = &[
    "API", "v1", "queues", "messages", "ack", "nack", "touch", "priority", "ids", "purge", "batch",
    "enqueue", "dequeue", "peek", "cluster", "servers", "status", "join", "leave", "livez",
    "healthz", "readyz", "db", "backup", "restore", "metrics",
];

/// Wraps the route table so the path is normalized *before* routing: layers on a router run after its
/// route was chosen, so the table sits behind an outer router's fallback.
pub(crate) fn wrap(routes: Router) -> Router {
    Router::new()
        .fallback_service(routes)
        .layer(middleware::from_fn(conventions))
}

async fn conventions(mut req: Request, next: Next) -> Response {
    if let Some(uri) = normalize(req.uri()) {
        *req.uri_mut() = uri;
    }
    let response = next.run(req).await;
    if response.status() == StatusCode::METHOD_NOT_ALLOWED && !is_problem(&response) {
        // axum's own 405 has the right `Allow` but no body: answer DOQ's problem, keeping `Allow`.
        let allow = response.headers().get(header::ALLOW).cloned();
        let mut problem = ApiError::method_not_allowed().into_response();
        if let Some(allow) = allow {
            problem.headers_mut().insert(header::ALLOW, allow);
        }
        return problem;
    }
    response
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
