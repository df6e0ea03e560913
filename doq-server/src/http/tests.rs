//! HTTP tests without sockets: a real `SingleNode` over a `MemoryStore` and a `ManualClock`, driven through
//! `router(state).oneshot(request)`. The conformance vectors of docs/conformance.md §13 are in `vectors.rs`, the §6 error
//! table in `errors.rs`, and the §2 conventions (paths, headers, bodies, 404/405/413/415/422) in `conventions.rs`.
mod conventions;
mod errors;
mod health;
mod vectors;

use std::sync::Arc;

use axum::{
    body::Body,
    http::{HeaderMap, Request, StatusCode},
    Router,
};
use doq_api::{ManualClock, Timestamp};
use doq_consensus::{SingleNode, SingleOptions};
use doq_storage::{MemoryStore, QueueStore};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::{router, AppState};
use crate::limits::RequestLimits;

/// The test clock starts on a whole second, so `now + 1` comes due after exactly 1000 ms.
const START_MS: u64 = 1_700_000_000_000;

/// One node and its router.
struct Harness {
    app: Router,
    clock: ManualClock,
    /// Where restore uploads are spooled; removed with the harness.
    _spool: tempfile::TempDir,
}

/// An answer: status, headers and the body (JSON, a JSON string for text, `Null` when empty).
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    /// Asserts a problem response: status, `detail`, `errors[0].message` and `code`.
    #[track_caller]
    fn problem(&self, status: u16, detail: &str, message: Option<&str>, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(
            self.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "body: {}",
            self.body
        );
        assert_eq!(self.body["status"], json!(status), "body: {}", self.body);
        assert_eq!(self.body["detail"], json!(detail), "body: {}", self.body);
        assert_eq!(self.body["code"], json!(code), "body: {}", self.body);
        // Every problem repeats the response's request id (docs/http.md §2).
        let id = self
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok());
        assert!(id.is_some(), "no x-request-id on a problem");
        assert_eq!(self.body["request_id"].as_str(), id, "body: {}", self.body);
        match message {
            Some(m) => assert_eq!(
                self.body["errors"][0]["message"],
                json!(m),
                "body: {}",
                self.body
            ),
            None => assert!(self.body.get("errors").is_none(), "body: {}", self.body),
        }
    }

    /// Asserts a 422 whose first item is at `location` with `message`.
    #[track_caller]
    fn invalid(&self, location: &str, message: &str) {
        self.problem(422, "validation failed", Some(message), "validation_failed");
        assert_eq!(self.body["title"], json!("Unprocessable Entity"));
        assert_eq!(
            self.body["errors"][0]["location"],
            json!(location),
            "body: {}",
            self.body
        );
    }

    /// Asserts a 200 and returns the body.
    #[track_caller]
    fn ok(&self) -> &Value {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.body);
        &self.body
    }
}

impl Harness {
    fn new() -> Self {
        Self::with_limits(RequestLimits::default())
    }

    fn with_limits(limits: RequestLimits) -> Self {
        Self::with_store(
            limits,
            Arc::new(MemoryStore::new()),
            SingleOptions::default(),
        )
    }

    /// A node over `store` (a `FaultyStore` in fault tests).
    fn with_store(
        limits: RequestLimits,
        store: Arc<dyn QueueStore>,
        options: SingleOptions,
    ) -> Self {
        let clock = ManualClock::new(Timestamp(START_MS));
        let node = SingleNode::open(store, Arc::new(clock.clone()), options).expect("open node");
        let spool = tempfile::tempdir().expect("spool dir");
        let state = AppState {
            consensus: Arc::new(node),
            limits,
            default_ack_timeout: 1800,
            stats_window: 10,
            shutdown: tokio_util::sync::CancellationToken::new(),
            spool_dir: spool.path().to_path_buf(),
            waiters: Default::default(),
            metrics: None,
            // These tests pin the API; `crate::ui`'s tests cover the page and its fallback.
            ui: false,
        };
        Self {
            app: router(state),
            clock,
            _spool: spool,
        }
    }

    /// Unix seconds of the test clock.
    fn now_secs(&self) -> i64 {
        use doq_api::Clock;
        i64::try_from(self.clock.now().as_secs()).expect("clock fits")
    }

    async fn send(&self, req: Request<Body>) -> Answer {
        let response = self
            .app
            .clone()
            .oneshot(req)
            .await
            .expect("router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("read body")
            .to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> Answer {
        let builder = Request::builder().method(method).uri(uri);
        let req = match body {
            Some(b) => builder
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => builder.body(Body::empty()),
        };
        self.send(req.expect("request")).await
    }

    async fn get(&self, uri: &str) -> Answer {
        self.call("GET", uri, None).await
    }

    async fn post(&self, uri: &str, body: Value) -> Answer {
        self.call("POST", uri, Some(body)).await
    }

    async fn create(&self, body: Value) -> Answer {
        self.post("/API/v1/queues", body).await
    }

    async fn create_delayed(&self, name: &str) {
        self.create(json!({"name": name, "type": "delayed", "settings": {}}))
            .await
            .ok();
    }

    async fn create_fair(&self, name: &str, strategy: &str, max_unacked: u32) {
        let settings = json!({"strategy": strategy, "max_unacked": max_unacked});
        self.create(json!({"name": name, "type": "fair", "settings": settings}))
            .await
            .ok();
    }

    /// Enqueues and returns the assigned id.
    async fn enqueue(&self, queue: &str, group: &str, priority: i64, content: &str) -> String {
        let body = json!({"group": group, "priority": priority, "content": content});
        let answer = self
            .post(&format!("/API/v1/queues/{queue}/messages"), body)
            .await;
        answer.ok()["id"].as_str().expect("string id").to_string()
    }

    async fn dequeue(&self, queue: &str, ack: bool) -> Answer {
        self.get(&format!("/API/v1/queues/{queue}/messages?ack={ack}"))
            .await
    }
}
