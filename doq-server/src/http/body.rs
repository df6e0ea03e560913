//! `JsonBody`: a request body read as an untyped JSON value under DOQ's body rules (docs/http.md §2): 415 for a
//! non-JSON content type (none counts as JSON), 413 over `limits.max_body_bytes`, 400 when empty.
use axum::{
    extract::{FromRequest, Request},
    http::{header, HeaderMap},
};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::Value;

use crate::{errors::ApiError, http::AppState};

/// A JSON request body, parsed but not yet validated (handlers validate by hand to word DOQ's 422s).
#[derive(Debug)]
pub(crate) struct JsonBody(pub(crate) Value);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::unsupported_media_type());
        }
        let limit = state.limits.max_body_bytes;
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| usize::try_from(n).map_or(true, |n| n > limit)) {
            return Err(ApiError::body_too_large());
        }
        let bytes = match Limited::new(req.into_body(), limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
                return Err(ApiError::body_too_large())
            }
            Err(e) => {
                return Err(ApiError::violation(
                    "body",
                    format!("failed to read the request body: {e}"),
                    None,
                ));
            }
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::body_required());
        }
        match serde_json::from_slice(&bytes) {
            Ok(value) => Ok(Self(value)),
            Err(e) => Err(ApiError::violation(
                "body",
                format!("invalid JSON: {e}"),
                None,
            )),
        }
    }
}

/// Whether the request's content type is JSON (`application/json`, `application/*+json`) or absent.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence.is_empty()
        || essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"))
}
