//! `/openapi.json` against a running node: every route of docs/http.md §3.1 is documented, the YAML says the
//! same, and real responses (successes and problem bodies) have a documented status and media type and
//! validate against the documented schema (JSON Schema 2020-12, as OpenAPI 3.1 uses).
use reqwest::{header::CONTENT_TYPE, Method};
use serde_json::{json, Value};

use crate::Doq;

/// Every route of docs/http.md §3.1, as (method, path template).
const ROUTES: &[(&str, &str)] = &[
    ("post", "/API/v1/queues"),
    ("get", "/API/v1/queues"),
    ("get", "/API/v1/queues/{queue_name}"),
    ("put", "/API/v1/queues/{queue_name}"),
    ("delete", "/API/v1/queues/{queue_name}"),
    ("post", "/API/v1/queues/{queue_name}/messages"),
    ("get", "/API/v1/queues/{queue_name}/messages"),
    ("get", "/API/v1/queues/{queue_name}/messages/{id}"),
    ("delete", "/API/v1/queues/{queue_name}/messages/{id}"),
    ("post", "/API/v1/queues/{queue_name}/messages/{id}/ack"),
    ("post", "/API/v1/queues/{queue_name}/messages/{id}/nack"),
    ("post", "/API/v1/queues/{queue_name}/messages/{id}/touch"),
    ("put", "/API/v1/queues/{queue_name}/messages/{id}/priority"),
    ("post", "/API/v1/ids"),
    ("post", "/API/v1/queues/{queue_name}/batch/enqueue"),
    ("post", "/API/v1/queues/{queue_name}/batch/dequeue"),
    ("post", "/API/v1/queues/{queue_name}/batch/ack"),
    ("get", "/API/v1/queues/{queue_name}/peek"),
    ("post", "/API/v1/queues/{queue_name}/purge"),
    ("post", "/API/v1/cluster/join"),
    ("post", "/API/v1/cluster/leave"),
    ("get", "/API/v1/cluster/servers"),
    ("get", "/API/v1/cluster/status"),
    ("get", "/db/backup"),
    ("post", "/db/backup"),
    ("post", "/db/restore"),
    ("get", "/livez"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/openapi.yaml"),
    ("get", "/docs"),
    ("get", "/"),
    ("get", "/queues/{name}"),
    ("get", "/servers"),
    ("get", "/cluster"),
    ("get", "/assets/{file}"),
    ("get", "/ui"),
];

/// The document, and a client that checks every answer against it.
struct Checked {
    doc: Value,
    doq: Doq,
    http: reqwest::Client,
    /// (method, template, status) seen, to show what the run covered.
    seen: Vec<String>,
}

/// The path template of `doc` that `path` instantiates (the one with the fewest parameters).
fn template<'a>(doc: &'a Value, method: &str, path: &str) -> Option<&'a str> {
    let want: Vec<&str> = path.split('/').collect();
    let mut best: Option<(&str, usize)> = None;
    for (t, item) in doc["paths"].as_object()? {
        if item.get(method).is_none() {
            continue;
        }
        let segs: Vec<&str> = t.split('/').collect();
        if segs.len() != want.len() {
            continue;
        }
        let mut params = 0;
        let fits = segs.iter().zip(&want).all(|(s, w)| {
            if s.starts_with('{') && s.ends_with('}') {
                params += 1;
                !w.is_empty()
            } else {
                s == w
            }
        });
        if fits && best.is_none_or(|(_, p)| params < p) {
            best = Some((t.as_str(), params));
        }
    }
    best.map(|(t, _)| t)
}

impl Checked {
    /// Sends the request and checks the answer against the document; returns status and JSON body.
    async fn call(&mut self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(
            Method::from_bytes(method.as_bytes()).unwrap(),
            self.doq.url(path),
        );
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.send(method, path, req).await
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        req: reqwest::RequestBuilder,
    ) -> (u16, Value) {
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let media = res
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_string());
        let bytes = res.bytes().await.expect("response body");
        let m = method.to_ascii_lowercase();
        let route = path.split('?').next().unwrap_or(path);
        let t = template(&self.doc, &m, route)
            .unwrap_or_else(|| panic!("{method} {route} is not in the document"));
        let responses = &self.doc["paths"][t][&m]["responses"];
        let response = responses
            .get(status.to_string())
            .or_else(|| responses.get("default"))
            .unwrap_or_else(|| {
                panic!(
                    "{method} {path} answered {status}, which {t} does not document: {responses}"
                )
            });
        let label = format!("{m} {t} {status}");
        if !self.seen.contains(&label) {
            self.seen.push(label);
        }
        let content = &response["content"];
        let Some(media) = media.filter(|_| !bytes.is_empty()) else {
            assert!(
                content.is_null() || bytes.is_empty(),
                "{method} {path}: {status} without a body"
            );
            return (status, Value::Null);
        };
        let schema = content
            .get(&media)
            .unwrap_or_else(|| {
                panic!("{method} {path} answered {status} as {media}, not documented: {content}")
            })
            .get("schema");
        let json_body = if media.ends_with("json") {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{method} {path}: {media} body is not JSON: {e}"))
        } else {
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        };
        if let Some(schema) = schema {
            if media.ends_with("json") {
                self.validate(schema, &json_body, &format!("{method} {path} → {status}"));
            }
        }
        (status, json_body)
    }

    /// Validates `instance` against `schema`, whose `#/components/…` references resolve in the document.
    fn validate(&self, schema: &Value, instance: &Value, what: &str) {
        let mut root = schema.clone();
        if let Value::Object(map) = &mut root {
            map.insert("components".into(), self.doc["components"].clone());
        }
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&root)
            .unwrap_or_else(|e| panic!("{what}: the documented schema does not compile: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(
            errors.is_empty(),
            "{what}: the body does not match its schema:\n  {}\nbody: {instance}\nschema: {schema}",
            errors.join("\n  ")
        );
    }
}

#[tokio::test]
async fn the_document_covers_every_route_and_real_answers_match_it() {
    let doq = Doq::start(&[]).await;
    let http = reqwest::Client::new();
    let res = http.get(doq.url("/openapi.json")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap_or("").starts_with("3.1"),
        "not OpenAPI 3.1: {}",
        doc["openapi"]
    );
    let missing: Vec<String> = ROUTES
        .iter()
        .filter(|(m, p)| doc["paths"][*p][*m].is_null())
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        missing.is_empty(),
        "routes missing from the document: {missing:?}"
    );
    let yaml = http.get(doq.url("/openapi.yaml")).send().await.unwrap();
    assert_eq!(yaml.status(), 200);
    let yaml: Value = serde_yaml::from_str(&yaml.text().await.unwrap()).expect("YAML parses");
    assert_eq!(yaml, doc, "/openapi.yaml and /openapi.json differ");

    let mut c = Checked {
        doc,
        doq,
        http,
        seen: Vec::new(),
    };
    let q = "/API/v1/queues/jobs";
    // Queues: successes and the problems of docs/errors.md §6.
    let create = json!({"name":"jobs","type":"delayed","settings":{}});
    assert_eq!(c.call("POST", "/API/v1/queues", Some(create)).await.0, 200);
    let fair =
        json!({"name":"fair","type":"fair","settings":{"strategy":"round_robin","max_unacked":2}});
    assert_eq!(c.call("POST", "/API/v1/queues", Some(fair)).await.0, 200);
    let no_strategy = json!({"name":"f2","type":"fair","settings":{}});
    assert_eq!(
        c.call("POST", "/API/v1/queues", Some(no_strategy)).await.0,
        409
    );
    let bad = json!({"name":"x","type":"nope","settings":{},"extra":1});
    assert_eq!(c.call("POST", "/API/v1/queues", Some(bad)).await.0, 422);
    assert_eq!(c.call("GET", "/API/v1/queues", None).await.0, 200);
    assert_eq!(c.call("GET", "/API/v1/queues?type=bad", None).await.0, 422);
    assert_eq!(c.call("GET", q, None).await.0, 200);
    assert_eq!(c.call("GET", "/API/v1/queues/none", None).await.0, 400);
    let update = json!({"settings":{"ack_timeout":120}});
    assert_eq!(c.call("PUT", q, Some(update.clone())).await.0, 200);
    assert_eq!(
        c.call("PUT", "/API/v1/queues/none", Some(update)).await.0,
        409
    );

    // Messages.
    let msg = json!({"priority":1,"content":"hello","metadata":{"k":"v"}});
    let (s, enq) = c
        .call("POST", &format!("{q}/messages"), Some(msg.clone()))
        .await;
    assert_eq!(s, 200);
    let id = enq["id"].as_str().unwrap().to_string();
    assert_eq!(
        c.call("POST", "/API/v1/queues/none/messages", Some(msg.clone()))
            .await
            .0,
        409
    );
    let empty = c.http.post(c.doq.url(&format!("{q}/messages")));
    assert_eq!(c.send("POST", &format!("{q}/messages"), empty).await.0, 400);
    let text = c
        .http
        .post(c.doq.url(&format!("{q}/messages")))
        .header(CONTENT_TYPE, "text/plain")
        .body("hi");
    assert_eq!(c.send("POST", &format!("{q}/messages"), text).await.0, 415);
    assert_eq!(
        c.call("GET", &format!("{q}/messages/{id}"), None).await.0,
        200
    );
    assert_eq!(
        c.call("GET", &format!("{q}/messages/99"), None).await.0,
        400
    );
    assert_eq!(c.call("GET", &format!("{q}/messages/x"), None).await.0, 422);
    assert_eq!(
        c.call("GET", &format!("{q}/peek?state=all"), None).await.0,
        200
    );
    assert_eq!(c.call("GET", "/API/v1/queues/none/peek", None).await.0, 404);
    let (s, d) = c
        .call("GET", &format!("{q}/messages?ack=false"), None)
        .await;
    assert_eq!(s, 200);
    let receipt = d["receipt"].as_str().unwrap().to_string();
    assert_eq!(c.call("GET", &format!("{q}/messages"), None).await.0, 400);
    let touch = format!("{q}/messages/{id}/touch?receipt={receipt}");
    assert_eq!(c.call("POST", &touch, None).await.0, 200);
    let nack = json!({"priority":2});
    let nack_path = format!("{q}/messages/{id}/nack?receipt={receipt}");
    assert_eq!(c.call("POST", &nack_path, Some(nack)).await.0, 200);
    assert_eq!(
        c.call("POST", &format!("{q}/messages/{id}/ack"), None)
            .await
            .0,
        400
    );
    let (s, d) = c.call("GET", &format!("{q}/messages?ack=0"), None).await;
    assert_eq!(s, 200);
    let stale = format!("{q}/messages/{id}/ack?receipt={receipt}");
    assert_eq!(c.call("POST", &stale, None).await.0, 409);
    let fresh = format!(
        "{q}/messages/{id}/ack?receipt={}",
        d["receipt"].as_str().unwrap()
    );
    assert_eq!(c.call("POST", &fresh, None).await.0, 200);
    let (s, enq) = c.call("POST", &format!("{q}/messages"), Some(msg)).await;
    assert_eq!(s, 200);
    let id2 = enq["id"].as_str().unwrap().to_string();
    let prio = format!("{q}/messages/{id2}/priority");
    assert_eq!(
        c.call("PUT", &prio, Some(json!({"priority":7}))).await.0,
        200
    );
    let gone = "/API/v1/queues/jobs/messages/5/priority";
    assert_eq!(
        c.call("PUT", gone, Some(json!({"priority":7}))).await.0,
        409
    );
    assert_eq!(
        c.call("DELETE", &format!("{q}/messages/{id2}"), None)
            .await
            .0,
        204
    );
    assert_eq!(
        c.call("DELETE", &format!("{q}/messages/{id2}"), None)
            .await
            .0,
        400
    );
    assert_eq!(
        c.call("POST", "/API/v1/ids", Some(json!({"number":3})))
            .await
            .0,
        200
    );

    // Batch, peek and purge.
    let batch =
        json!({"messages":[{"priority":1,"content":"a"},{"priority":2,"content":"b","group":"g"}]});
    assert_eq!(
        c.call("POST", &format!("{q}/batch/enqueue"), Some(batch))
            .await
            .0,
        200
    );
    let bad_batch = json!({"messages":[{"priority":-1,"content":"a"}]});
    assert_eq!(
        c.call("POST", &format!("{q}/batch/enqueue"), Some(bad_batch))
            .await
            .0,
        422
    );
    let (s, got) = c
        .call(
            "POST",
            &format!("{q}/batch/dequeue"),
            Some(json!({"max":5})),
        )
        .await;
    assert_eq!(s, 200);
    let mut items: Vec<Value> = got["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| json!({"id": m["id"], "receipt": m["receipt"]}))
        .collect();
    items.push(json!({"id":"12345"}));
    let acks = json!({"messages": items});
    assert_eq!(
        c.call("POST", &format!("{q}/batch/ack"), Some(acks))
            .await
            .0,
        200
    );
    let none = json!({"max":1});
    assert_eq!(
        c.call("POST", "/API/v1/queues/none/batch/dequeue", Some(none))
            .await
            .0,
        404
    );
    assert_eq!(c.call("POST", &format!("{q}/purge"), None).await.0, 200);

    // Cluster, health, backup, unknown routes, the UI.
    assert_eq!(c.call("GET", "/API/v1/cluster/servers", None).await.0, 200);
    assert_eq!(c.call("GET", "/API/v1/cluster/status", None).await.0, 200);
    let leave = json!({"id":"node-0"});
    assert_eq!(
        c.call("POST", "/API/v1/cluster/leave", Some(leave)).await.0,
        409
    );
    let join = json!({"id":"n9","addr":"127.0.0.1:1"});
    assert_eq!(
        c.call("POST", "/API/v1/cluster/join", Some(join)).await.0,
        409
    );
    assert_eq!(c.call("GET", "/livez", None).await.0, 200);
    assert_eq!(c.call("GET", "/healthz", None).await.0, 200);
    assert_eq!(c.call("GET", "/readyz", None).await.0, 200);
    assert_eq!(c.call("GET", "/db/backup", None).await.0, 200);
    assert_eq!(c.call("GET", "/db/backup?since=x", None).await.0, 422);
    assert_eq!(c.call("DELETE", "/API/v1/queues/none", None).await.0, 400);
    assert_eq!(c.call("DELETE", "/API/v1/queues/fair", None).await.0, 200);
    assert_eq!(c.call("GET", "/API/v1/nothing/here", None).await.0, 404);
    assert_eq!(c.call("GET", "/", None).await.0, 200);
    assert_eq!(c.call("GET", "/queues/jobs", None).await.0, 200);
    assert_eq!(c.call("GET", "/assets/app.js", None).await.0, 200);
    assert_eq!(c.call("GET", "/assets/nothing.js", None).await.0, 404);
    assert_eq!(c.call("GET", "/docs", None).await.0, 200);

    // Problems of every class seen above: 400, 404, 409, 415, 422.
    for status in ["400", "404", "409", "415", "422", "204"] {
        assert!(
            c.seen.iter().any(|s| s.ends_with(status)),
            "no {status} answer was checked: {:?}",
            c.seen
        );
    }
}

#[tokio::test]
async fn a_wrong_token_gets_the_documented_401() {
    let doq = Doq::start(&["--auth.token", "s3cret"]).await;
    let http = reqwest::Client::new();
    // The document, the docs and the UI are open without the token (docs/http.md §2).
    for open in ["/openapi.json", "/docs", "/"] {
        let res = http.get(doq.url(open)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{open} needs no token");
    }
    let doc: Value = http
        .get(doq.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut c = Checked {
        doc,
        doq,
        http,
        seen: Vec::new(),
    };
    assert_eq!(c.call("GET", "/API/v1/queues", None).await.0, 401);
    let with = c
        .http
        .get(c.doq.url("/API/v1/queues"))
        .bearer_auth("s3cret");
    assert_eq!(c.send("GET", "/API/v1/queues", with).await.0, 200);
}

#[tokio::test]
async fn ui_disabled_serves_no_page_but_keeps_the_document() {
    let doq = Doq::start(&["--ui.enabled", "false"]).await;
    let http = reqwest::Client::new();
    for path in [
        "/",
        "/ui",
        "/queues/q",
        "/servers",
        "/assets/app.js",
        "/anything",
    ] {
        let res = http.get(doq.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 404, "{path} with ui.enabled = false");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "route_not_found");
    }
    for path in ["/openapi.json", "/openapi.yaml", "/docs"] {
        let res = http.get(doq.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path} with ui.enabled = false");
    }
}

#[tokio::test]
async fn the_ui_is_the_fallback_for_unknown_gets_outside_the_api() {
    let doq = Doq::start(&[]).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in [
        "/",
        "/queues/a%2Fb",
        "/servers",
        "/cluster",
        "/some/deep/link",
    ] {
        let res = http.get(doq.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let media = res.headers()[CONTENT_TYPE].to_str().unwrap().to_string();
        assert!(media.starts_with("text/html"), "{path}: {media}");
        assert!(res.text().await.unwrap().contains("/assets/app.js"));
    }
    let old = http.get(doq.url("/ui")).send().await.unwrap();
    assert_eq!(old.status(), 308);
    assert_eq!(old.headers()["location"], "/");
    for (method, path) in [
        ("GET", "/API/v1/nothing"),
        ("GET", "/db/nothing"),
        ("GET", "/assets/nothing.js"),
        ("POST", "/some/deep/link"),
    ] {
        let res = http
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                doq.url(path),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{method} {path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "route_not_found", "{method} {path}");
    }
}
