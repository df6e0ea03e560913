//! The HTTP API (router, path and query parameters, JSON bodies) on arbitrary requests, against a
//! fresh single node over a memory store per input. No request may panic or get a 5xx: bad input
//! is a 4xx (docs/http.md §2).
//!
//! An input is up to eight requests separated by a line `---`. Each request is a first line
//! `METHOD PATH`, then the body (everything after the first newline), sent as JSON. So the corpus
//! can be written by hand: `POST /API/v1/queues\n{"name":"q","type":"delayed","settings":{}}`.
#![no_main]
use std::sync::{Arc, OnceLock};

use axum::{body::Body, http::Request};
use doq_api::{ManualClock, Timestamp};
use doq_consensus::{Consensus, SingleNode, SingleOptions};
use doq_server::{
    http::{router, AppState},
    limits::RequestLimits,
};
use doq_storage::{MemoryStore, QueueStore};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

/// Requests per input, at most.
const MAX_REQUESTS: usize = 8;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let requests: Vec<(String, String, String)> = text
        .split("\n---\n")
        .take(MAX_REQUESTS)
        .filter_map(|r| {
            let (head, body) = r.split_once('\n').unwrap_or((r, ""));
            let (method, path) = head.split_once(' ')?;
            Some((method.to_owned(), path.to_owned(), body.to_owned()))
        })
        .collect();
    if requests.is_empty() {
        return;
    }
    runtime().block_on(async {
        let clock = ManualClock::new(Timestamp(1_700_000_000_000));
        let store: Arc<dyn QueueStore> = Arc::new(MemoryStore::new());
        let node = Arc::new(
            SingleNode::open(store, Arc::new(clock), SingleOptions::default()).expect("open"),
        );
        let state = AppState {
            consensus: node.clone(),
            limits: RequestLimits {
                max_wait_seconds: 0,
                // A small cap, so a fuzzed restore upload cannot fill the disk.
                max_restore_bytes: 1 << 20,
                ..RequestLimits::default()
            },
            default_ack_timeout: 1800,
            stats_window: 10,
            shutdown: tokio_util::sync::CancellationToken::new(),
            spool_dir: std::env::temp_dir(),
            waiters: Default::default(),
            metrics: None,
            ui: false,
        };
        let app = router(state);
        for (method, path, body) in requests {
            let Ok(req) = Request::builder()
                .method(method.as_str())
                .uri(path.as_str())
                .header("content-type", "application/json")
                .body(Body::from(body.clone()))
            else {
                continue;
            };
            let response = app.clone().oneshot(req).await.expect("infallible");
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            assert!(
                !status.is_server_error(),
                "{method} {path} with body {body:?} got {status}: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        node.shutdown().await.expect("shutdown");
    });
});
