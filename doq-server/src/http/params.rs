//! Path and query parameters: `{queue_name}` and `{id}` from the path, `ack`, `wait`, `receipt` and friends
//! from the query, each parsed with DOQ's rules and a 422 at `path.*` / `query.*` when it does not parse.
use std::time::Duration;

use axum::{
    extract::{FromRequestParts, Query, RawPathParams},
    http::request::Parts,
};
use doq_api::{MessageId, MessageState, PeekFilter, QueueName, Receipt};
use serde_json::Value;

use crate::errors::ApiError;

/// The path parameters of the matched route, percent-decoded, not yet validated.
#[derive(Debug, Default)]
pub(crate) struct PathArgs {
    queue: Option<String>,
    id: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for PathArgs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::violation("path", e.body_text(), None))?;
        let mut args = Self::default();
        for (name, value) in &raw {
            match name {
                "queue_name" => args.queue = Some(value.to_string()),
                "id" => args.id = Some(value.to_string()),
                _ => {}
            }
        }
        Ok(args)
    }
}

impl PathArgs {
    /// `{queue_name}`, validated as a queue name (422 at `path.queue_name`).
    pub(crate) fn queue(&self) -> Result<QueueName, ApiError> {
        let name = self.queue.as_deref().unwrap_or_default();
        match QueueName::problem(name) {
            None => QueueName::new(name)
                .map_err(|e| ApiError::violation("path.queue_name", e.to_string(), None)),
            Some(why) => Err(ApiError::violation(
                "path.queue_name",
                why,
                Some(Value::String(name.to_string())),
            )),
        }
    }

    /// `{id}` as a u64 (422 at `path.id` otherwise).
    pub(crate) fn id(&self) -> Result<MessageId, ApiError> {
        let raw = self.id.as_deref().unwrap_or_default();
        raw.parse::<u64>()
            .ok()
            .filter(|_| raw.bytes().all(|b| b.is_ascii_digit()))
            .map(MessageId)
            .ok_or_else(|| {
                ApiError::violation(
                    "path.id",
                    "invalid integer",
                    Some(Value::String(raw.to_string())),
                )
            })
    }
}

/// The query string as name/value pairs, in order.
#[derive(Debug, Default)]
pub(crate) struct QueryArgs(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryArgs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map(|Query(pairs)| Self(pairs))
            .map_err(|e| ApiError::violation("query", e.body_text(), None))
    }
}

impl QueryArgs {
    /// The first value of `name` (Go's `Query().Get`), if present.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean parsed like Go's `strconv.ParseBool`; absent or empty means `default`.
    pub(crate) fn bool(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(v) => parse_bool(v).ok_or_else(|| {
                ApiError::violation(
                    format!("query.{name}"),
                    "invalid boolean",
                    Some(Value::String(v.to_string())),
                )
            }),
        }
    }

    /// The long-poll `wait` (absent means no wait), at most `max_secs` seconds.
    pub(crate) fn wait(&self, max_secs: u32) -> Result<Duration, ApiError> {
        match self.get("wait") {
            None | Some("") => Ok(Duration::ZERO),
            Some(v) => parse_wait(v, max_secs).map_err(|why| {
                ApiError::violation("query.wait", why, Some(Value::String(v.to_string())))
            }),
        }
    }

    /// The `receipt` of ack, nack and touch: it must decode and name message `id` (422 at `query.receipt`).
    pub(crate) fn receipt(&self, id: MessageId) -> Result<Option<Receipt>, ApiError> {
        let Some(raw) = self.get("receipt").filter(|r| !r.is_empty()) else {
            return Ok(None);
        };
        let bad = |why: &str| {
            ApiError::violation("query.receipt", why, Some(Value::String(raw.to_string())))
        };
        let receipt = Receipt::decode(raw).ok_or_else(|| bad("invalid receipt"))?;
        if receipt.id != id {
            return Err(bad("receipt is for another message"));
        }
        Ok(Some(receipt))
    }
}

impl QueryArgs {
    /// Peek's `limit`: 1..=`max`, absent or empty means 10 (or `max` when that is smaller).
    pub(crate) fn limit(&self, max: usize) -> Result<usize, ApiError> {
        let raw = match self.get("limit") {
            None | Some("") => return Ok(10.min(max)),
            Some(v) => v,
        };
        let bad = |why: String| {
            ApiError::violation("query.limit", why, Some(Value::String(raw.to_string())))
        };
        let n = raw
            .parse::<u64>()
            .ok()
            .filter(|_| raw.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| bad("invalid integer".to_string()))?;
        if n < 1 {
            return Err(bad("expected number >= 1".to_string()));
        }
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= max)
            .ok_or_else(|| bad(format!("expected number <= {max}")))
    }

    /// Peek's `after`: a decimal id (exclusive); absent or empty means from the start.
    pub(crate) fn after(&self) -> Result<Option<MessageId>, ApiError> {
        match self.get("after") {
            None | Some("") => Ok(None),
            Some(raw) => raw
                .parse::<u64>()
                .ok()
                .filter(|_| raw.bytes().all(|b| b.is_ascii_digit()))
                .map(|n| Some(MessageId(n)))
                .ok_or_else(|| {
                    ApiError::violation(
                        "query.after",
                        "invalid integer",
                        Some(Value::String(raw.to_string())),
                    )
                }),
        }
    }

    /// Peek's `state`: `ready`, `delayed`, `leased` or `all` (the default when absent or empty).
    pub(crate) fn peek_filter(&self) -> Result<PeekFilter, ApiError> {
        match self.get("state") {
            None | Some("" | "all") => Ok(PeekFilter::All),
            Some("ready") => Ok(PeekFilter::Only(MessageState::Ready)),
            Some("delayed") => Ok(PeekFilter::Only(MessageState::Delayed)),
            Some("leased") => Ok(PeekFilter::Only(MessageState::Leased)),
            Some(other) => Err(ApiError::violation(
                "query.state",
                "expected value to be one of \"ready, delayed, leased, all\"",
                Some(Value::String(other.to_string())),
            )),
        }
    }
}

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A `wait` duration: seconds (`5`, `0.5`) or with a unit (`1500ms`, `5s`), from 0 to `max_secs`.
pub(crate) fn parse_wait(s: &str, max_secs: u32) -> Result<Duration, String> {
    let syntax = || "expected a duration such as 5, 0.5, 1500ms or 5s".to_string();
    let s = s.trim();
    let (number, scale) = if let Some(ms) = s.strip_suffix("ms") {
        (ms, 0.001)
    } else if let Some(secs) = s.strip_suffix('s') {
        (secs, 1.0)
    } else {
        (s, 1.0)
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(syntax());
    }
    let value: f64 = number.parse().map_err(|_| syntax())?;
    let secs = value * scale;
    if !secs.is_finite() || secs > f64::from(max_secs) {
        return Err(format!("expected duration <= {max_secs}s"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| syntax())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{parse_bool, parse_wait};

    #[test]
    fn wait_takes_seconds_or_units_within_the_limit() {
        assert_eq!(parse_wait("5", 20), Ok(Duration::from_secs(5)));
        assert_eq!(parse_wait("0.5", 20), Ok(Duration::from_millis(500)));
        assert_eq!(parse_wait("1500ms", 20), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_wait("5s", 20), Ok(Duration::from_secs(5)));
        assert_eq!(parse_wait("0", 20), Ok(Duration::ZERO));
        assert_eq!(parse_wait("20", 20), Ok(Duration::from_secs(20)));
        for bad in ["21", "-1", "abc", "", "1m", "s", "1e3", "NaN"] {
            assert!(parse_wait(bad, 20).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn bools_parse_like_go() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_bool(t), Some(true));
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_bool(f), Some(false));
        }
        for bad in ["yes", "tRUE", "2", ""] {
            assert_eq!(parse_bool(bad), None);
        }
    }
}
