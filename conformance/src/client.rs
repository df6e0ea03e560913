//! A small JSON client over reqwest. Every call answers `(status, body)`, so cases compare wire
//! behaviour directly; a transport failure answers status 0, which no expectation matches.
use std::{
    collections::BTreeMap,
    sync::{Arc, PoisonError, RwLock},
    time::Duration,
};

use reqwest::Method;
use serde_json::{json, Value};

/// What a request got: the HTTP status and the body parsed as JSON (`Null` when empty, a JSON
/// string when the body is not JSON). Status 0 means the request never got an answer.
pub type Reply = (u16, Value);

/// A reply with its headers (names lower-cased; a repeated header keeps its last value), for the
/// cases about headers.
#[derive(Clone, Debug, PartialEq)]
pub struct FullReply {
    /// The HTTP status, 0 when the request got no answer.
    pub status: u16,
    /// Response headers.
    pub headers: BTreeMap<String, String>,
    /// The body as in [`Reply`].
    pub body: Value,
}

/// How long one request may take; a hang fails the case instead of blocking the suite.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A client bound to one node's base URL (`http://127.0.0.1:port`). Clones share the base, so a
/// client taken before [`crate::Harness::restart`] follows the node to its new port.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: Arc<RwLock<String>>,
}

impl Client {
    /// A client for the node at `base`, for example `http://127.0.0.1:8000`.
    pub fn new(base: impl Into<String>) -> Self {
        Self::with_timeout(base, REQUEST_TIMEOUT)
    }

    /// Like [`Client::new`] with another per-request timeout (load tests use short ones).
    pub fn with_timeout(base: impl Into<String>, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .unwrap_or_default();
        Self {
            http,
            base: Arc::new(RwLock::new(base.into())),
        }
    }

    /// Points this client and its clones at another base URL.
    pub(crate) fn set_base(&self, base: String) {
        *self.base.write().unwrap_or_else(PoisonError::into_inner) = base;
    }

    /// The current base URL.
    pub fn base(&self) -> String {
        self.base
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None, None).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(
            Method::POST,
            path,
            Some(body.to_string()),
            Some("application/json"),
        )
        .await
    }

    /// `POST path` without a body (ack, touch).
    pub async fn post_empty(&self, path: &str) -> Reply {
        self.send(Method::POST, path, None, None).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.send(
            Method::PUT,
            path,
            Some(body.to_string()),
            Some("application/json"),
        )
        .await
    }

    /// Any method, with a raw body and content type, for malformed requests.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        content_type: Option<&str>,
    ) -> Reply {
        let Ok(method) = Method::from_bytes(method.as_bytes()) else {
            return (
                0,
                json!({ "client_error": format!("bad method {method:?}") }),
            );
        };
        self.send(method, path, body.map(str::to_owned), content_type)
            .await
    }

    /// `method path` with a raw body and extra request headers; answers the headers too.
    pub async fn full(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> FullReply {
        let Ok(method) = Method::from_bytes(method.as_bytes()) else {
            let body = json!({ "client_error": format!("bad method {method:?}") });
            return FullReply {
                status: 0,
                headers: BTreeMap::new(),
                body,
            };
        };
        let url = format!("{}{path}", self.base());
        let mut request = self.http.request(method, &url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(body.to_owned());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                let body = json!({ "transport_error": format!("{url}: {e}") });
                return FullReply {
                    status: 0,
                    headers: BTreeMap::new(),
                    body,
                };
            }
        };
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = match response.bytes().await {
            Ok(bytes) if bytes.is_empty() => Value::Null,
            Ok(bytes) => serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())),
            Err(e) => {
                let body = json!({ "transport_error": format!("{url}: body: {e}") });
                return FullReply {
                    status: 0,
                    headers,
                    body,
                };
            }
        };
        let mut body = body;
        settle_request_id(&headers, &mut body);
        FullReply {
            status,
            headers,
            body,
        }
    }

    /// `GET path` answering the raw body bytes and the headers (for backups).
    pub async fn get_bytes(&self, path: &str) -> (u16, BTreeMap<String, String>, Vec<u8>) {
        let url = format!("{}{path}", self.base());
        let Ok(response) = self.http.get(&url).send().await else {
            return (0, BTreeMap::new(), Vec::new());
        };
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        match response.bytes().await {
            Ok(bytes) => (status, headers, bytes.to_vec()),
            Err(_) => (0, headers, Vec::new()),
        }
    }

    /// `POST path` with a raw byte body of `content_type` (for restores).
    pub async fn post_bytes(&self, path: &str, body: Vec<u8>, content_type: &str) -> Reply {
        let url = format!("{}{path}", self.base());
        let response = match self
            .http
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return (0, json!({ "transport_error": format!("{url}: {e}") })),
        };
        let status = response.status().as_u16();
        let headers: BTreeMap<String, String> = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = match response.bytes().await {
            Ok(bytes) if bytes.is_empty() => Value::Null,
            Ok(bytes) => serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())),
            Err(e) => json!({ "transport_error": format!("{url}: body: {e}") }),
        };
        settle_request_id(&headers, &mut body);
        (status, body)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        content_type: Option<&str>,
    ) -> Reply {
        let headers: Vec<(&str, &str)> = content_type
            .map(|t| ("content-type", t))
            .into_iter()
            .collect();
        let reply = self
            .full(method.as_str(), path, body.as_deref(), &headers)
            .await;
        (reply.status, reply.body)
    }
}

/// Every problem body carries the response's `X-Request-Id` as `request_id` (docs/http.md §2). It is checked
/// here, for every error any case provokes, and then removed, so cases compare the rest exactly. A missing
/// or different id stays visible in the body (`request_id_missing`, or the wrong `request_id`), which no
/// expected body matches.
fn settle_request_id(headers: &BTreeMap<String, String>, body: &mut Value) {
    let is_problem = headers
        .get("content-type")
        .is_some_and(|t| t == "application/problem+json");
    let Some(fields) = body.as_object_mut().filter(|_| is_problem) else {
        return;
    };
    match (fields.get("request_id"), headers.get("x-request-id")) {
        (Some(Value::String(id)), Some(header)) if id == header => {
            fields.remove("request_id");
        }
        (Some(_), _) => {}
        (None, _) => {
            fields.insert("request_id_missing".into(), Value::Bool(true));
        }
    }
}
