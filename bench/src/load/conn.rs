//! One virtual user's connection: DOQ's HTTP API on a hyper HTTP/1.1 connection of its own (no pool, so
//! the client costs little CPU next to the server on a small machine), or a tonic channel of its own.
use std::time::Duration;

use anyhow::{bail, Context as _};
use bytes::Bytes;
use doq_proto::{
    ext::{
        doq_ext_client::DoqExtClient, AckBatchRequest, AckItem, BatchMessage, DequeueBatchRequest,
        EnqueueBatchRequest,
    },
    queue::{
        doq_client::DoqClient, AckRequest, CreateQueueRequest, DeleteQueueRequest, DequeueRequest,
        EnqueueRequest, QueueSettings,
    },
};
use http_body_util::{BodyExt as _, Full};
use hyper::{client::conn::http1::SendRequest, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tonic::{transport::Channel, Code};

use crate::load::Protocol;

/// Priority of every bench message: far in the past as a Unix second, so always due.
const PRIORITY: i64 = 10;

/// A delivery to ack: its id, and as the server spelled it over HTTP.
#[derive(Clone, Debug)]
pub(crate) struct Taken {
    id: u64,
    http_id: String,
}

/// A virtual user's connection.
pub(crate) enum Conn {
    Http(Http),
    Grpc(Box<Grpc>),
}

pub(crate) struct Http {
    send: SendRequest<Full<Bytes>>,
    host: String,
    auth: Option<String>,
    timeout: Duration,
}

pub(crate) struct Grpc {
    queue: DoqClient<Channel>,
    ext: DoqExtClient<Channel>,
}

#[derive(Deserialize)]
struct DequeuedHttp {
    id: String,
}

#[derive(Deserialize)]
struct BatchDequeuedHttp {
    messages: Vec<DequeuedHttp>,
}

#[derive(Deserialize)]
struct BatchAckedHttp {
    results: Vec<AckResultHttp>,
}

#[derive(Deserialize)]
struct AckResultHttp {
    id: String,
    status: String,
    #[serde(default)]
    message: Option<String>,
}

impl Conn {
    /// Connects to `addr` (`http://host:port`).
    pub(crate) async fn open(
        protocol: Protocol,
        addr: &str,
        token: Option<&str>,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        match protocol {
            Protocol::Http => {
                let host = addr
                    .strip_prefix("http://")
                    .context("doq bench speaks plain http://")?
                    .trim_end_matches('/')
                    .to_string();
                let stream = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&host))
                    .await
                    .context("connect timed out")??;
                stream.set_nodelay(true)?;
                let (send, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
                tokio::spawn(connection);
                Ok(Self::Http(Http {
                    send,
                    host,
                    auth: token.map(|t| format!("Bearer {t}")),
                    timeout,
                }))
            }
            Protocol::Grpc => {
                let channel = tonic::transport::Endpoint::from_shared(addr.to_string())?
                    .timeout(timeout)
                    .connect_timeout(timeout)
                    .tcp_nodelay(true)
                    .connect()
                    .await?;
                Ok(Self::Grpc(Box::new(Grpc {
                    queue: DoqClient::new(channel.clone()),
                    ext: DoqExtClient::new(channel),
                })))
            }
        }
    }

    /// Creates the delayed queue (an existing one is fine).
    pub(crate) async fn create_queue(&mut self, queue: &str) -> anyhow::Result<()> {
        match self {
            Self::Http(h) => {
                let body = serde_json::json!({"name": queue, "type": "delayed", "settings": {}});
                let (status, text) = h
                    .call(Method::POST, "/API/v1/queues", Some(body.to_string()))
                    .await?;
                if status != StatusCode::OK && !text.contains("already") {
                    bail!("create queue {queue}: {status} {text}");
                }
            }
            Self::Grpc(g) => {
                let made = g
                    .queue
                    .create_queue(CreateQueueRequest {
                        name: queue.to_string(),
                        r#type: "delayed".into(),
                        settings: Some(QueueSettings::default()),
                    })
                    .await;
                match made {
                    Ok(_) => {}
                    Err(s) if s.code() == Code::AlreadyExists => {}
                    Err(s) => bail!("create queue {queue}: {s}"),
                }
            }
        }
        Ok(())
    }

    /// Deletes the queue.
    pub(crate) async fn delete_queue(&mut self, queue: &str) -> anyhow::Result<()> {
        match self {
            Self::Http(h) => {
                let (status, text) = h
                    .call(Method::DELETE, &format!("/API/v1/queues/{queue}"), None)
                    .await?;
                if status != StatusCode::OK {
                    bail!("delete queue {queue}: {status} {text}");
                }
            }
            Self::Grpc(g) => {
                g.queue
                    .delete_queue(DeleteQueueRequest {
                        name: queue.to_string(),
                    })
                    .await?;
            }
        }
        Ok(())
    }

    /// Enqueues `n` messages (one request).
    pub(crate) async fn enqueue(
        &mut self,
        queue: &str,
        content: &str,
        n: u16,
    ) -> anyhow::Result<()> {
        match self {
            Self::Http(h) => {
                let one = serde_json::json!({"content": content, "priority": PRIORITY, "group": "default"});
                let (path, body) = if n == 1 {
                    (format!("/API/v1/queues/{queue}/messages"), one.to_string())
                } else {
                    let all = vec![one; usize::from(n)];
                    (
                        format!("/API/v1/queues/{queue}/batch/enqueue"),
                        serde_json::json!({ "messages": all }).to_string(),
                    )
                };
                h.expect_ok(Method::POST, &path, Some(body)).await?;
            }
            Self::Grpc(g) => {
                if n == 1 {
                    g.queue
                        .enqueue(EnqueueRequest {
                            queue_name: queue.to_string(),
                            group: "default".into(),
                            priority: PRIORITY,
                            content: content.to_string(),
                            ..EnqueueRequest::default()
                        })
                        .await?;
                } else {
                    let message = BatchMessage {
                        group: "default".into(),
                        priority: PRIORITY,
                        content: content.to_string(),
                        ..BatchMessage::default()
                    };
                    g.ext
                        .enqueue_batch(EnqueueBatchRequest {
                            queue_name: queue.to_string(),
                            messages: vec![message; usize::from(n)],
                        })
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Dequeues up to `n` messages (one request); empty when the queue had none.
    pub(crate) async fn dequeue(
        &mut self,
        queue: &str,
        n: u16,
        ack: bool,
    ) -> anyhow::Result<Vec<Taken>> {
        match self {
            Self::Http(h) => {
                if n == 1 {
                    let path = format!("/API/v1/queues/{queue}/messages?ack={ack}");
                    let (status, text) = h.call(Method::GET, &path, None).await?;
                    if status == StatusCode::BAD_REQUEST && text.contains("empty") {
                        return Ok(Vec::new());
                    }
                    if status != StatusCode::OK {
                        bail!("dequeue: {status} {text}");
                    }
                    let d: DequeuedHttp = serde_json::from_str(&text)?;
                    Ok(vec![Taken::http(d.id)?])
                } else {
                    let path = format!("/API/v1/queues/{queue}/batch/dequeue");
                    let body = serde_json::json!({"max": n, "ack": ack}).to_string();
                    let text = h.expect_ok(Method::POST, &path, Some(body)).await?;
                    let d: BatchDequeuedHttp = serde_json::from_str(&text)?;
                    d.messages.into_iter().map(|m| Taken::http(m.id)).collect()
                }
            }
            Self::Grpc(g) => {
                if n == 1 {
                    match g
                        .queue
                        .dequeue(DequeueRequest {
                            queue_name: queue.to_string(),
                            ack,
                        })
                        .await
                    {
                        Ok(r) => Ok(vec![Taken::grpc(r.into_inner().id)]),
                        Err(s) if s.message().contains("empty") => Ok(Vec::new()),
                        Err(s) => Err(s.into()),
                    }
                } else {
                    let r = g
                        .ext
                        .dequeue_batch(DequeueBatchRequest {
                            queue_name: queue.to_string(),
                            max: u32::from(n),
                            ack,
                            wait_ms: 0,
                        })
                        .await?;
                    Ok(r.into_inner()
                        .messages
                        .into_iter()
                        .map(|m| Taken::grpc(m.id))
                        .collect())
                }
            }
        }
    }

    /// Acks `taken` by id: one request per message, except a gRPC batch (one `AckBatch`).
    pub(crate) async fn ack(&mut self, queue: &str, taken: &[Taken]) -> anyhow::Result<()> {
        match self {
            Self::Http(h) => {
                if let [one] = taken {
                    let path = format!("/API/v1/queues/{queue}/messages/{}/ack", one.http_id);
                    h.expect_ok(Method::POST, &path, None).await?;
                } else {
                    let items: Vec<_> = taken
                        .iter()
                        .map(|t| serde_json::json!({ "id": t.http_id }))
                        .collect();
                    let body = serde_json::json!({ "messages": items }).to_string();
                    let path = format!("/API/v1/queues/{queue}/batch/ack");
                    let text = h.expect_ok(Method::POST, &path, Some(body)).await?;
                    let acked: BatchAckedHttp = serde_json::from_str(&text)?;
                    if let Some(failed) = acked.results.iter().find(|r| r.status != "ACKNOWLEDGED")
                    {
                        bail!(
                            "batch ack of {}: {} {}",
                            failed.id,
                            failed.status,
                            failed.message.as_deref().unwrap_or_default()
                        );
                    }
                }
            }
            Self::Grpc(g) => {
                if let [one] = taken {
                    g.queue
                        .ack(AckRequest {
                            queue_name: queue.to_string(),
                            id: one.id,
                        })
                        .await?;
                } else {
                    let r = g
                        .ext
                        .ack_batch(AckBatchRequest {
                            queue_name: queue.to_string(),
                            items: taken
                                .iter()
                                .map(|t| AckItem {
                                    id: t.id,
                                    receipt: String::new(),
                                })
                                .collect(),
                        })
                        .await?;
                    if let Some(failed) = r.into_inner().results.iter().find(|r| !r.ok) {
                        bail!("ack batch: {} {}", failed.code, failed.message);
                    }
                }
            }
        }
        Ok(())
    }
}

impl Taken {
    fn http(id: String) -> anyhow::Result<Self> {
        Ok(Self {
            id: id.parse().with_context(|| format!("message id {id}"))?,
            http_id: id,
        })
    }

    fn grpc(id: u64) -> Self {
        Self {
            id,
            http_id: id.to_string(),
        }
    }
}

impl Http {
    /// Sends one request and reads the whole answer, under the request timeout.
    async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> anyhow::Result<(StatusCode, String)> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, &self.host);
        if body.is_some() {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        if let Some(auth) = &self.auth {
            req = req.header(hyper::header::AUTHORIZATION, auth);
        }
        let req = req.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let exchange = async {
            self.send.ready().await?;
            let res = self.send.send_request(req).await?;
            let status = res.status();
            let bytes = res.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .context("request timed out")?
    }

    /// [`Http::call`], failing unless the answer is 200; returns the body.
    async fn expect_ok(
        &mut self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> anyhow::Result<String> {
        let (status, text) = self.call(method, path, body).await?;
        if status != StatusCode::OK {
            bail!("{path}: {status} {text}");
        }
        Ok(text)
    }
}
