//! `GET /metrics` of the real binary (docs/observability.md §11): traffic over HTTP and gRPC, then a scrape
//! whose names, labels and values are checked; `auth.protect_metrics`, `prometheus.enabled = false`, the
//! series of a deleted queue disappearing, and the Raft series of a raft-mode node.
use std::{collections::BTreeMap, path::Path, time::Duration};

use doq_conformance::{Client, FullReply};
use doq_proto::queue::{doq_client::DoqClient, GetQueueRequest, GetQueuesRequest};
use serde_json::json;
use tokio::time::Instant;

use crate::{free_port, Doq};

/// One sample: the series' labels and its value.
type Samples = Vec<(BTreeMap<String, String>, f64)>;

/// The samples of a scrape by series name (`name`, or `name_bucket`, `name_count`, … for histograms).
#[derive(Debug)]
struct Scrape(BTreeMap<String, Samples>);

impl Scrape {
    /// Parses the text format: `name{k="v",…} value` lines; comments skipped.
    fn parse(text: &str) -> Self {
        let mut out: BTreeMap<String, Samples> = BTreeMap::new();
        for line in text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (series, value) = line.rsplit_once(' ').expect("a sample line has a value");
            let value: f64 = value.parse().expect("a sample value is a number");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, parse_labels(rest.trim_end_matches('}'))),
                None => (series, BTreeMap::new()),
            };
            out.entry(name.to_owned())
                .or_default()
                .push((labels, value));
        }
        Self(out)
    }

    /// The value of the series `name` whose labels include `labels`; `None` when there is none.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.0.get(name)?.iter().find_map(|(have, v)| {
            labels
                .iter()
                .all(|(k, want)| have.get(*k).is_some_and(|h| h == want))
                .then_some(*v)
        })
    }

    fn expect(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels)
            .unwrap_or_else(|| panic!("no series {name}{labels:?} in the scrape:\n{self:#?}"))
    }

    /// Whether any series carries `key="value"`.
    fn mentions(&self, key: &str, value: &str) -> bool {
        self.0
            .values()
            .flatten()
            .any(|(labels, _)| labels.get(key).is_some_and(|v| v == value))
    }
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while let Some((key, after)) = rest.split_once("=\"") {
        let end = after.find('"').expect("a label value is quoted");
        labels.insert(
            key.trim_start_matches(',').to_owned(),
            after[..end].to_owned(),
        );
        rest = &after[end + 1..];
    }
    labels
}

/// The token of the single-node test.
const TOKEN: &str = "t0ken";

/// `method path` with the test's bearer token and an optional JSON body.
async fn call(
    c: &Client,
    method: &str,
    path: String,
    body: Option<serde_json::Value>,
) -> FullReply {
    let body = body.map(|b| b.to_string());
    let auth = format!("Bearer {TOKEN}");
    c.full(method, &path, body.as_deref(), &[("authorization", &auth)])
        .await
}

/// A gRPC request carrying the test's bearer token.
fn with_token<T>(msg: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    let auth = format!("Bearer {TOKEN}").parse().expect("metadata value");
    req.metadata_mut().insert("authorization", auth);
    req
}

/// Dequeues one message of `queue` (a path) with a lease; returns its id.
async fn lease(c: &Client, queue: &str) -> String {
    let r = call(c, "GET", format!("{queue}/messages?ack=false"), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["id"].as_str().expect("id").to_owned()
}

async fn scrape(doq: &Doq, token: Option<&str>) -> Scrape {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("authorization", a)])
        .unwrap_or_default();
    let reply = doq.client().full("GET", "/metrics", None, &headers).await;
    assert_eq!(reply.status, 200, "scrape: {:?}\n{}", reply.body, doq.log());
    assert_eq!(
        reply.headers.get("content-type").map(String::as_str),
        Some("text/plain; version=0.0.4"),
    );
    Scrape::parse(reply.body.as_str().expect("the scrape is text, not JSON"))
}

#[tokio::test]
async fn metrics_report_http_grpc_queue_and_storage_series_of_a_single_node() {
    crate::init_tracing();
    let data = tempfile::tempdir().expect("data dir");
    let logs = tempfile::tempdir().expect("log dir");
    let port = free_port();
    let grpc = format!("127.0.0.1:{}", free_port());
    let args: Vec<String> = [
        "--http.host",
        "127.0.0.1",
        "--http.port",
        &port.to_string(),
        "--storage.data_dir",
        &data.path().display().to_string(),
        "--grpc.address",
        &grpc,
        "--auth.token",
        TOKEN,
        "--auth.protect_metrics",
        "true",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let doq = Doq::spawn(&args, port, logs.path()).await;
    let c = doq.client();

    // Protected: no token, no metrics.
    assert_eq!(
        c.full("GET", "/metrics", None, &[]).await.status,
        401,
        "auth.protect_metrics"
    );

    let create = |name: &'static str, settings: serde_json::Value| {
        call(
            &c,
            "POST",
            "/API/v1/queues".into(),
            Some(json!({"name": name, "type": "delayed", "settings": settings})),
        )
    };
    assert_eq!(create("dlq", json!({})).await.status, 200);
    assert_eq!(
        create(
            "work",
            json!({"max_deliveries": 2, "dead_letter_queue": "dlq"})
        )
        .await
        .status,
        200
    );
    assert_eq!(create("idle", json!({})).await.status, 200);
    let q = "/API/v1/queues/work";
    for i in 0..3 {
        let r = call(
            &c,
            "POST",
            format!("{q}/messages"),
            Some(json!({"content": format!("m{i}"), "priority": 10})),
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    // Lease two: ack the first, nack the second (delivered again later: one redelivery).
    let first = lease(&c, q).await;
    let second = lease(&c, q).await;
    let ack = call(&c, "POST", format!("{q}/messages/{first}/ack"), None).await;
    assert_eq!(ack.status, 200);
    let nack = Some(json!({"priority": 10}));
    let nacked = call(
        &c,
        "POST",
        format!("{q}/messages/{second}/nack"),
        nack.clone(),
    )
    .await;
    assert_eq!(nacked.status, 200, "{:?}", nacked.body);
    // `second` (delivered once) comes first again; `m2` stays ready.
    let again = lease(&c, q).await;
    assert_eq!(again, second, "the nacked message is redelivered first");
    // A 404 of an extension route, for a status label other than 200.
    let missing = call(&c, "GET", "/API/v1/queues/nope/peek".into(), None).await;
    assert_eq!(missing.status, 404);

    // gRPC: one success and one NotFound.
    let mut g = DoqClient::connect(format!("http://{grpc}"))
        .await
        .expect("gRPC");
    g.get_queues(with_token(GetQueuesRequest::default()))
        .await
        .expect("GetQueues");
    let missing = g
        .get_queue(with_token(GetQueueRequest {
            name: "nope".into(),
        }))
        .await
        .expect_err("unknown queue");
    assert_eq!(missing.code(), tonic::Code::NotFound);

    // A long poll parks on `idle` until the scrape has seen it.
    let poller = {
        let c = c.clone();
        tokio::spawn(async move {
            let path = "/API/v1/queues/idle/messages?ack=true&wait=10s";
            call(&c, "GET", path.into(), None).await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let m = loop {
        let m = scrape(&doq, Some(TOKEN)).await;
        if m.value("doq_long_poll_waiters", &[("queue_name", "idle")]) == Some(1.0) {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "the long poll never showed as a waiter"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let work = [("queue_name", "work")];
    assert_eq!(m.expect("doq_queues_enqueue_total", &work), 3.0);
    assert_eq!(m.expect("doq_queues_dequeue_total", &work), 3.0);
    assert_eq!(m.expect("doq_queues_ack_total", &work), 1.0);
    assert_eq!(m.expect("doq_queues_nack_total", &work), 1.0);
    assert_eq!(m.expect("doq_queues_redelivered_total", &work), 1.0);
    assert_eq!(m.expect("doq_queues_dead_lettered_total", &work), 0.0);
    assert_eq!(
        m.expect("doq_queues_dead_letter_failures_total", &work),
        0.0
    );
    assert_eq!(m.expect("doq_queues_messages", &work), 2.0);
    assert_eq!(m.expect("doq_queues_unacked_messages", &work), 1.0);
    assert_eq!(m.expect("doq_queues_ready_messages", &work), 1.0);
    assert_eq!(m.expect("doq_queues_delayed_messages", &work), 0.0);
    assert_eq!(m.expect("doq_long_poll_waiters", &work), 0.0);
    let enqueue_path = [
        ("service", "doq"),
        ("status_code", "200"),
        ("method", "POST"),
        ("path", "/API/v1/queues/{queue_name}/messages"),
    ];
    assert_eq!(m.expect("doq_http_requests_total", &enqueue_path), 3.0);
    assert_eq!(
        m.expect("doq_http_request_duration_seconds_count", &enqueue_path),
        3.0
    );
    assert_eq!(
        m.expect(
            "doq_http_requests_total",
            &[
                ("status_code", "404"),
                ("path", "/API/v1/queues/{queue_name}/peek")
            ]
        ),
        1.0
    );
    assert!(
        m.expect(
            "doq_http_requests_total",
            &[("status_code", "401"), ("path", "unmatched")]
        ) >= 1.0,
        "a request refused before routing is counted too"
    );
    // The scrape itself and the parked long poll are in progress.
    assert!(
        m.expect(
            "doq_http_requests_in_progress_total",
            &[("service", "doq"), ("method", "GET")]
        ) >= 2.0
    );
    assert_eq!(
        m.expect(
            "doq_grpc_requests_total",
            &[("method", "/queue.DOQ/GetQueues"), ("code", "OK")]
        ),
        1.0
    );
    assert_eq!(
        m.expect(
            "doq_grpc_requests_total",
            &[("method", "/queue.DOQ/GetQueue"), ("code", "NotFound")]
        ),
        1.0
    );
    assert_eq!(
        m.expect(
            "doq_grpc_request_duration_seconds_count",
            &[("method", "/queue.DOQ/GetQueues")]
        ),
        1.0
    );
    assert!(
        m.expect(
            "doq_storage_sync_duration_seconds_count",
            &[("backend", "redb")]
        ) >= 9.0
    );
    assert!(m.expect("doq_storage_group_commit_batch_size_count", &[]) >= 9.0);
    assert!(m.expect("doq_storage_group_commit_batch_size_sum", &[]) >= 9.0);
    assert_eq!(m.expect("doq_build_info", &[("backend", "redb")]), 1.0);
    assert!(m.expect("process_resident_memory_bytes", &[]) > 0.0);
    assert!(m.expect("process_cpu_seconds_total", &[]) >= 0.0);
    assert_eq!(m.expect("doq_raft_is_leader", &[]), 1.0);
    assert_eq!(m.expect("doq_raft_members", &[("suffrage", "voter")]), 1.0);
    assert_eq!(m.expect("doq_raft_apply_lag", &[]), 0.0);
    assert_eq!(m.expect("doq_raft_term", &[]), 0.0);
    assert_eq!(
        m.expect("doq_raft_forwarded_requests_total", &[("result", "ok")]),
        0.0
    );
    dashboard_names_exported_series(&m);

    // The enqueue releases the poller; then the delivery past max_deliveries moves `second` to dlq.
    let wake = Some(json!({"content": "wake", "priority": 0}));
    let woke = call(&c, "POST", "/API/v1/queues/idle/messages".into(), wake).await;
    assert_eq!(woke.status, 200);
    assert_eq!(poller.await.expect("poller").status, 200);
    let nacked = call(&c, "POST", format!("{q}/messages/{again}/nack"), nack).await;
    assert_eq!(nacked.status, 200);
    // `again` was delivered twice (max_deliveries = 2): this dequeue moves it and delivers m2.
    let _ = lease(&c, q).await;
    let m = scrape(&doq, Some(TOKEN)).await;
    assert_eq!(m.expect("doq_queues_dead_lettered_total", &work), 1.0);
    assert_eq!(
        m.expect("doq_queues_enqueue_total", &[("queue_name", "dlq")]),
        1.0,
        "the move counts as an enqueue on the target"
    );
    assert_eq!(
        m.expect("doq_long_poll_waiters", &[("queue_name", "idle")]),
        0.0
    );

    // A deleted queue's series are gone.
    assert_eq!(call(&c, "DELETE", q.into(), None).await.status, 200);
    let m = scrape(&doq, Some(TOKEN)).await;
    assert!(!m.mentions("queue_name", "work"), "{m:#?}");
    assert!(m.mentions("queue_name", "dlq"));
    doq.stop().await;
}

/// deploy/grafana/doq-dashboard.json parses, and every series its queries name is in `m`.
fn dashboard_names_exported_series(m: &Scrape) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana/doq-dashboard.json");
    let text = std::fs::read_to_string(&path).expect("read the dashboard");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut queries = Vec::new();
    collect_queries(&dashboard, &mut queries);
    assert!(
        queries.len() >= 20,
        "the dashboard has its queries: {queries:?}"
    );
    let mut named = 0;
    for query in &queries {
        let series: Vec<&str> = query
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .filter(|w| w.starts_with("doq_") || w.starts_with("process_"))
            .collect();
        assert!(!series.is_empty(), "a query names no doq series: {query}");
        for name in series {
            assert!(
                m.0.contains_key(name),
                "the dashboard queries {name}, which /metrics does not export ({query})"
            );
            named += 1;
        }
    }
    assert!(named >= queries.len());
}

/// Every `expr` of the dashboard's panels and every query of its template variables.
fn collect_queries(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr" | "definition", serde_json::Value::String(q)) => out.push(q.clone()),
                    _ => collect_queries(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_queries(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn metrics_are_404_when_prometheus_is_disabled() {
    let data = tempfile::tempdir().expect("data dir");
    let logs = tempfile::tempdir().expect("log dir");
    let doq = Doq::start(data.path(), logs.path(), &["--prometheus.enabled", "false"]).await;
    let (status, body) = doq.client().get("/metrics").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "route_not_found");
    doq.stop().await;
}

/// A one-node raft cluster reports its term, indexes and leadership.
#[tokio::test]
async fn metrics_report_raft_state_in_raft_mode() {
    let data = tempfile::tempdir().expect("data dir");
    let logs = tempfile::tempdir().expect("log dir");
    let raft = format!("127.0.0.1:{}", free_port());
    let doq = start_raft(data.path(), logs.path(), &raft).await;
    let c = doq.client();
    let deadline = Instant::now() + Duration::from_secs(20);
    // Writes succeed once the node has elected itself.
    loop {
        let (status, _) = c
            .post("/API/v1/queues", &json!({"name": "r", "type": "delayed"}))
            .await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "no leader:\n{}", doq.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        c.post(
            "/API/v1/queues/r/messages",
            &json!({"content": "x", "priority": 0})
        )
        .await
        .0,
        200
    );
    let m = scrape(&doq, None).await;
    assert!(m.expect("doq_raft_term", &[]) >= 1.0);
    assert_eq!(m.expect("doq_raft_is_leader", &[]), 1.0);
    let applied = m.expect("doq_raft_last_applied_index", &[]);
    assert!(applied >= 2.0, "applied {applied}");
    assert!(m.expect("doq_raft_last_log_index", &[]) >= applied);
    assert!(m.expect("doq_raft_commit_index", &[]) >= applied);
    assert_eq!(m.expect("doq_raft_members", &[("suffrage", "voter")]), 1.0);
    assert_eq!(
        m.expect("doq_raft_members", &[("suffrage", "nonvoter")]),
        0.0
    );
    assert_eq!(
        m.expect("doq_queues_enqueue_total", &[("queue_name", "r")]),
        1.0
    );
    assert!(m.expect("doq_storage_group_commit_batch_size_count", &[]) >= 1.0);
    doq.stop().await;
}

async fn start_raft(data: &Path, logs: &Path, raft: &str) -> Doq {
    let port = free_port();
    let args: Vec<String> = [
        "--http.host",
        "127.0.0.1",
        "--http.port",
        &port.to_string(),
        "--storage.data_dir",
        &data.display().to_string(),
        "--grpc.address",
        "",
        "--consensus",
        "raft",
        "--raft.address",
        raft,
        "--raft.heartbeat_interval_ms",
        "50",
        "--raft.election_timeout_ms",
        "300",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    Doq::spawn(&args, port, logs).await
}
