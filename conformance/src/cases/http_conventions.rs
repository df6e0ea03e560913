//! HTTP conventions (docs/http.md §2): request ids, security headers, content types, `Allow` on 405,
//! case-insensitive literal segments with case-sensitive queue names, and an absent content type
//! counting as JSON.
use serde_json::json;
use tracing::info;

use crate::{
    check::{check_problem, check_status},
    ops::{check_counts, create_delayed, message, messages, queue, QUEUES},
    FullReply, Harness,
};

/// The headers every response carries (docs/http.md §2).
const SECURITY_HEADERS: [(&str, &str); 5] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "SAMEORIGIN"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
];

#[track_caller]
fn check_common_headers(got: &FullReply, what: &str) {
    for (name, value) in SECURITY_HEADERS {
        assert_eq!(
            got.headers.get(name).map(String::as_str),
            Some(value),
            "{name} on {what}: {got:?}"
        );
    }
    let id = got.headers.get("x-request-id").cloned().unwrap_or_default();
    assert!(!id.is_empty(), "x-request-id on {what}: {got:?}");
}

#[track_caller]
fn check_content_type(got: &FullReply, want: &str) {
    let ct = got.headers.get("content-type").cloned().unwrap_or_default();
    assert!(
        ct.starts_with(want),
        "content type {ct:?}, want {want}: {got:?}"
    );
}

/// Request ids, security headers and content types on success, 204 and error responses.
pub async fn response_headers(h: &Harness) {
    let c = h.client();
    let q = "headers";
    create_delayed(&c, q, json!({})).await;
    info!("--- X-Request-Id is echoed, or a new UUID");
    {
        let got = c
            .full("GET", &queue(q), None, &[("x-request-id", "conformance-1")])
            .await;
        assert_eq!(got.status, 200, "{got:?}");
        assert_eq!(
            got.headers.get("x-request-id").map(String::as_str),
            Some("conformance-1")
        );
        let got = c.full("GET", &queue(q), None, &[]).await;
        let id = got.headers.get("x-request-id").cloned().unwrap_or_default();
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(
            groups,
            [8, 4, 4, 4, 12],
            "x-request-id {id:?} is not a UUID"
        );
    }
    info!("--- every response has the security headers and the right content type");
    {
        let ok = c.full("GET", &queue(q), None, &[]).await;
        check_common_headers(&ok, "200");
        check_content_type(&ok, "application/json");
        let error = c.full("GET", &queue("no-such-queue"), None, &[]).await;
        assert_eq!(error.status, 400, "{error:?}");
        check_common_headers(&error, "400");
        check_content_type(&error, "application/problem+json");
        let body = r#"{"priority":10,"content":"x"}"#;
        let enqueued = c
            .full(
                "POST",
                &messages(q),
                Some(body),
                &[("content-type", "application/json")],
            )
            .await;
        let id = enqueued.body["id"].as_str().unwrap_or_default().to_owned();
        let deleted = c.full("DELETE", &message(q, &id), None, &[]).await;
        assert_eq!(
            (deleted.status, &deleted.body),
            (204, &serde_json::Value::Null),
            "{deleted:?}"
        );
        check_common_headers(&deleted, "204");
    }
    info!("--- 405 names the allowed methods");
    {
        let got = c.full("PATCH", QUEUES, None, &[]).await;
        assert_eq!(got.status, 405, "{got:?}");
        let allow = got
            .headers
            .get("allow")
            .cloned()
            .unwrap_or_default()
            .to_ascii_uppercase();
        assert!(
            allow.contains("GET") && allow.contains("POST"),
            "Allow: {allow:?}"
        );
        check_common_headers(&got, "405");
    }
    info!("--- an absent content type counts as JSON");
    {
        let got = c
            .full(
                "POST",
                &messages(q),
                Some(r#"{"priority":10,"content":"no-type"}"#),
                &[],
            )
            .await;
        assert_eq!(
            (got.status, &got.body["status"]),
            (200, &json!("ENQUEUED")),
            "{got:?}"
        );
        check_counts(&c, q, 1, 0).await;
    }
    info!("--- literal segments ignore case, queue names do not");
    {
        let name = "CaseQ";
        create_delayed(&c, name, json!({})).await;
        let body = check_status(&c.get(&format!("/api/V1/Queues/{name}")).await, 200);
        assert_eq!(body["name"], json!(name), "{body}");
        check_problem(
            &c.get(&queue("caseq")).await,
            400,
            "Failed to get stats for a queue",
            "queue not found",
            "queue_not_found",
        );
    }
}
