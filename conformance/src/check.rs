//! Assertions on wire replies. Every case asserts through these, so a change of the API's shapes or
//! texts touches one place. All of them report the caller's line (`#[track_caller]`).
use std::fmt::Display;

use serde_json::{json, Value};

use crate::client::Reply;

/// Fails the running test with `message`. The one place this crate panics on purpose: a failed
/// expectation of a conformance case is a test failure.
#[allow(clippy::panic, reason = "a failed expectation is a test failure")]
#[track_caller]
pub fn fail(message: impl Display) -> ! {
    panic!("{message}")
}

/// The reply has `status` and exactly `body`.
#[track_caller]
pub fn check(got: &Reply, status: u16, body: &Value) {
    assert_eq!(
        (got.0, &got.1),
        (status, body),
        "expected {status} {body}, got {} {}",
        got.0,
        got.1
    );
}

/// The reply has `status`; returns its body.
#[track_caller]
pub fn check_status(got: &Reply, status: u16) -> Value {
    assert_eq!(
        got.0, status,
        "expected status {status}, got {} {}",
        got.0, got.1
    );
    got.1.clone()
}

/// The standard reason phrase of `status`, the `title` of a problem body.
pub fn reason(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

/// The exact problem body of a runtime error (docs/http.md §2 and §6).
pub fn problem(status: u16, detail: &str, message: &str, code: &str) -> Value {
    json!({
        "title": reason(status),
        "status": status,
        "detail": detail,
        "errors": [{ "message": message }],
        "code": code,
    })
}

/// What a rejected request must get (docs/http.md §2 and §6), comparable without panicking so a table
/// of bad requests can report every mismatch at once.
#[derive(Clone, Debug, PartialEq)]
pub enum Rejection {
    /// A 422 `validation failed` problem with an item at `location` whose message is `message`
    /// (any message when `None`).
    Invalid {
        /// `body.priority`, `path.id`, `query.ack`, …
        location: String,
        /// The item's exact message, if the case pins it.
        message: Option<String>,
    },
    /// A runtime error: exactly `title`, `status`, `detail`, one `errors[]` item with `message`, and
    /// `code`.
    Problem {
        /// HTTP status.
        status: u16,
        /// The route's fixed text.
        detail: String,
        /// `errors[0].message`.
        message: String,
        /// The stable snake_case code.
        code: String,
    },
    /// A problem whose `errors[]` the contract leaves open (missing body, 404, 405, 415, 413):
    /// `title`, `status`, `detail` and `code`.
    Bare {
        /// HTTP status.
        status: u16,
        /// The fixed text.
        detail: String,
        /// The stable snake_case code.
        code: String,
    },
}

impl Rejection {
    /// A 422 at `location`, with any message.
    pub fn invalid(location: &str) -> Self {
        Self::Invalid {
            location: location.into(),
            message: None,
        }
    }

    /// A 422 at `location` with exactly `message`.
    pub fn invalid_with(location: &str, message: &str) -> Self {
        Self::Invalid {
            location: location.into(),
            message: Some(message.into()),
        }
    }

    /// A runtime error.
    pub fn problem(status: u16, detail: &str, message: &str, code: &str) -> Self {
        Self::Problem {
            status,
            detail: detail.into(),
            message: message.into(),
            code: code.into(),
        }
    }

    /// A problem without pinned `errors[]`.
    pub fn bare(status: u16, detail: &str, code: &str) -> Self {
        Self::Bare {
            status,
            detail: detail.into(),
            code: code.into(),
        }
    }

    /// `None` if `got` is this rejection, otherwise what differs.
    pub fn mismatch(&self, got: &Reply) -> Option<String> {
        let (status, body) = got;
        match self {
            Self::Problem {
                status: want,
                detail,
                message,
                code,
            } => {
                let expected = problem(*want, detail, message, code);
                (*status != *want || *body != expected)
                    .then(|| format!("expected {want} {expected}, got {status} {body}"))
            }
            Self::Bare {
                status: want,
                detail,
                code,
            } => {
                let head = json!({
                    "title": body["title"], "status": body["status"], "detail": body["detail"], "code": body["code"],
                });
                let expected = json!({ "title": reason(*want), "status": want, "detail": detail, "code": code });
                (*status != *want || head != expected)
                    .then(|| format!("expected {want} with {expected}, got {status} {body}"))
            }
            Self::Invalid { location, message } => {
                if let Some(m) =
                    Self::bare(422, "validation failed", "validation_failed").mismatch(got)
                {
                    return Some(m);
                }
                let items = body["errors"].as_array().cloned().unwrap_or_default();
                let found = items.iter().any(|item| {
                    item["location"] == location.as_str()
                        && message
                            .as_ref()
                            .is_none_or(|m| item["message"] == m.as_str())
                });
                (!found).then(|| {
                    format!("expected a 422 item at {location} ({message:?}), got {status} {body}")
                })
            }
        }
    }

    /// Asserts that `got` is this rejection.
    #[track_caller]
    pub fn check(&self, got: &Reply) {
        if let Some(m) = self.mismatch(got) {
            fail(m);
        }
    }
}

/// The reply is the runtime error of docs/errors.md §6: `status`, `detail`, one `errors[]` item with exactly
/// `message`, and `code`, and nothing else.
#[track_caller]
pub fn check_problem(got: &Reply, status: u16, detail: &str, message: &str, code: &str) {
    Rejection::problem(status, detail, message, code).check(got);
}

/// The reply is a problem without pinned `errors[]` items (missing body, 404 and 405 routes, 415,
/// 413): `title`, `status`, `detail` and `code` as given.
#[track_caller]
pub fn check_bare_problem(got: &Reply, status: u16, detail: &str, code: &str) {
    Rejection::bare(status, detail, code).check(got);
}

/// The reply is a 422 `validation failed` problem with an item at `location` whose message is
/// `message` (any message when `None`).
#[track_caller]
pub fn check_invalid(got: &Reply, location: &str, message: Option<&str>) {
    let rejection = match message {
        Some(m) => Rejection::invalid_with(location, m),
        None => Rejection::invalid(location),
    };
    rejection.check(got);
}

/// The reply is the empty-queue 400 of a dequeue on `queue` (docs/errors.md §6, §13 vector 4).
#[track_caller]
pub fn check_empty(got: &Reply, queue: &str) {
    check_problem(
        got,
        400,
        "Failed to dequeue a message from a queue",
        &format!("Queue is empty: {queue}"),
        "queue_empty",
    );
}

/// The reply is a 200 dequeue whose body is exactly `expected` plus an opaque `receipt`; returns the
/// receipt.
#[track_caller]
pub fn check_delivered(got: &Reply, expected: &Value) -> String {
    let mut body = check_status(got, 200);
    let receipt = match body.as_object_mut().and_then(|o| o.remove("receipt")) {
        Some(Value::String(r)) => r,
        other => fail(format!(
            "dequeue without a string receipt ({other:?}): {}",
            got.1
        )),
    };
    assert!(
        !receipt.is_empty() && receipt.len() <= 64 && receipt.is_ascii(),
        "receipt must be 1-64 ASCII characters: {receipt:?}"
    );
    assert_eq!(&body, expected, "dequeued (receipt {receipt})");
    receipt
}

/// `v[key]` as a string.
#[track_caller]
pub fn str_field(v: &Value, key: &str) -> String {
    match v[key].as_str() {
        Some(s) => s.to_owned(),
        None => fail(format!("expected a string at {key:?} in {v}")),
    }
}

/// `v[key]` as an unsigned integer.
#[track_caller]
pub fn u64_field(v: &Value, key: &str) -> u64 {
    match v[key].as_u64() {
        Some(n) => n,
        None => fail(format!("expected an unsigned integer at {key:?} in {v}")),
    }
}

/// `v[key]` as a message id: a decimal string of a non-zero u64 (docs/semantics.md §1.2).
#[track_caller]
pub fn id_field(v: &Value, key: &str) -> String {
    let id = str_field(v, key);
    match id.parse::<u64>() {
        Ok(n) if n > 0 && n.to_string() == id => id,
        _ => fail(format!("{key:?} is not a canonical decimal u64 id: {v}")),
    }
}
