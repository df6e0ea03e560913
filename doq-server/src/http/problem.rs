//! RFC 7807 `application/problem+json` bodies in DOQ's shape: `title`, `status`, `detail`, `errors`, `code`.
//! What goes into them is decided in `crate::errors`; this file only renders.
use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// The media type of every error body.
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// One `errors[]` item. Runtime errors carry only `message`; validation items add `location` and `value`.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub(crate) struct ProblemItem {
    /// What went wrong.
    pub(crate) message: String,
    /// Where (`body.priority`, `path.id`, `query.ack`), for validation items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) location: Option<String>,
    /// The offending value, for validation items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) value: Option<Value>,
}

impl ProblemItem {
    /// A runtime item: only a message.
    pub(crate) fn text(message: String) -> Self {
        Self {
            message,
            location: None,
            value: None,
        }
    }
}

/// A problem response, ready to render.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Problem {
    status: StatusCode,
    detail: String,
    errors: Vec<ProblemItem>,
    code: &'static str,
    /// `Retry-After` seconds, for failures whose outcome is unknown (503).
    retry_after: Option<u32>,
}

/// The body on the wire; the OpenAPI document names its schema `Problem`.
#[derive(Serialize, ToSchema)]
#[schema(as = Problem)]
pub(crate) struct Wire<'a> {
    /// The standard reason phrase of `status`.
    title: &'a str,
    /// The HTTP status.
    status: u16,
    /// The route's fixed text (docs/errors.md §6).
    detail: &'a str,
    /// The causes; left out when there are none.
    #[serde(skip_serializing_if = "<[ProblemItem]>::is_empty")]
    #[schema(value_type = Vec<ProblemItem>, required = false)]
    errors: &'a [ProblemItem],
    /// A stable snake_case identifier, such as `queue_empty`.
    code: &'a str,
    /// The request's `X-Request-Id`, so a user's report can be matched with the access log.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
}

impl Problem {
    /// A problem with this status, route text, items and stable code.
    pub(crate) fn new(
        status: StatusCode,
        detail: &str,
        errors: Vec<ProblemItem>,
        code: &'static str,
    ) -> Self {
        Self {
            status,
            detail: detail.to_string(),
            errors,
            code,
            retry_after: None,
        }
    }

    /// Adds `Retry-After: secs`.
    pub(crate) fn retry_after(mut self, secs: u32) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

/// The reason phrase DOQ (Go's `http.StatusText`) uses as `title`.
fn title(status: StatusCode) -> &'static str {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => "Request Entity Too Large",
        other => other.canonical_reason().unwrap_or("Error"),
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let wire = Wire {
            title: title(self.status),
            status: self.status.as_u16(),
            detail: &self.detail,
            errors: &self.errors,
            code: self.code,
            request_id: crate::http::layers::current_request_id(),
        };
        let body = serde_json::to_vec(&wire).unwrap_or_else(|_| {
            // Serializing strings and numbers cannot fail; keep a valid body anyway.
            br#"{"title":"Internal Server Error","status":500,"detail":"unexpected error occurred","code":"internal"}"#
                .to_vec()
        });
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
