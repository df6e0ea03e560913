//! Entry points for the fuzzers in `fuzz/` and the corpus replay of the conformance suite (hidden from
//! the docs; always compiled, so a change that breaks them fails the ordinary build): the gRPC
//! services and the configuration loader on arbitrary bytes. A violation panics, which is how a
//! fuzzer learns of it.
#![allow(
    clippy::panic,
    reason = "a fuzz harness reports a violation by panicking"
)]
use std::{future::Future, sync::Arc, time::Duration};

use doq_api::{ManualClock, Timestamp};
use doq_consensus::{Consensus, SingleNode, SingleOptions};
use doq_proto::{
    ext::{doq_ext_server::DoqExt, AckBatchRequest, DequeueBatchRequest, EnqueueBatchRequest},
    queue::{
        doq_server::Doq, AckRequest, CreateQueueRequest, DeleteQueueRequest, DeleteRequest,
        DequeueRequest, EnqueueRequest, GenerateIDsRequest, GetQueueRequest, GetQueuesRequest,
        GetRequest, NackRequest, TouchRequest, UpdatePriorityRequest, UpdateQueueRequest,
    },
};
use doq_storage::MemoryStore;
use prost::Message;
use tokio_util::sync::CancellationToken;
use tonic::{Code, Request, Status};

use crate::{
    config::{Config, Sources},
    grpc::{DoqExtService, DoqService, GrpcOptions},
    limits::RequestLimits,
};

/// Calls per gRPC input, at most.
const MAX_CALLS: usize = 8;
/// Longest one call may take; long polls are off, so anything longer is a hang.
const CALL_DEADLINE: Duration = Duration::from_secs(5);

/// The unary RPCs of `queue.DOQ` and `doq.ext.v1.DOQExt`, by the selector byte of a frame (modulo
/// their count).
const RPCS: [&str; 17] = [
    "GenerateIDs",
    "CreateQueue",
    "UpdateQueue",
    "DeleteQueue",
    "GetQueue",
    "GetQueues",
    "Enqueue",
    "Dequeue",
    "Get",
    "Delete",
    "Ack",
    "Nack",
    "UpdatePriority",
    "Touch",
    "EnqueueBatch",
    "DequeueBatch",
    "AckBatch",
];

/// Splits a gRPC fuzz input into frames: a selector byte, a little-endian u16 length, then that many
/// bytes of one protobuf message (a short last frame takes what is left).
pub fn grpc_frames(data: &[u8]) -> Vec<(usize, &[u8])> {
    let mut out = Vec::new();
    let mut rest = data;
    while out.len() < MAX_CALLS {
        let [selector, lo, hi, tail @ ..] = rest else {
            break;
        };
        let len = usize::from(u16::from_le_bytes([*lo, *hi])).min(tail.len());
        out.push((usize::from(*selector) % RPCS.len(), &tail[..len]));
        rest = &tail[len..];
    }
    out
}

/// Encodes frames the way [`grpc_frames`] reads them (for seed inputs).
pub fn grpc_input(frames: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (rpc, bytes) in frames {
        let selector = RPCS.iter().position(|r| r == rpc).unwrap_or(0);
        out.push(u8::try_from(selector).unwrap_or(0));
        let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&bytes[..usize::from(len)]);
    }
    out
}

/// Hand-written seeds for the gRPC target: create a queue of each kind, enqueue, dequeue, ack,
/// nack, touch and the batch RPCs on it.
pub fn grpc_seeds() -> Vec<Vec<u8>> {
    let create = |kind: &str| CreateQueueRequest {
        name: "q".into(),
        r#type: kind.into(),
        settings: None,
    };
    let enqueue = EnqueueRequest {
        queue_name: "q".into(),
        group: "g.a".into(),
        priority: 10,
        content: "hello".into(),
        ..EnqueueRequest::default()
    };
    let dequeue = DequeueRequest {
        queue_name: "q".into(),
        ack: false,
    };
    let id_of = |id: u64| AckRequest {
        queue_name: "q".into(),
        id,
    };
    let batch = EnqueueBatchRequest {
        queue_name: "q".into(),
        messages: vec![doq_proto::ext::BatchMessage {
            content: "x".into(),
            priority: 5,
            ..Default::default()
        }],
    };
    let dequeue_batch = DequeueBatchRequest {
        queue_name: "q".into(),
        max: 3,
        ack: false,
        wait_ms: 0,
    };
    vec![
        grpc_input(&[
            ("CreateQueue", create("delayed").encode_to_vec()),
            ("Enqueue", enqueue.encode_to_vec()),
            ("Dequeue", dequeue.encode_to_vec()),
            ("Ack", id_of(1).encode_to_vec()),
        ]),
        grpc_input(&[
            ("CreateQueue", create("fair").encode_to_vec()),
            ("Enqueue", enqueue.encode_to_vec()),
            ("Dequeue", dequeue.encode_to_vec()),
            ("Touch", id_of(1).encode_to_vec()),
            (
                "Nack",
                NackRequest {
                    queue_name: "q".into(),
                    id: 1,
                    priority: 3,
                    ..Default::default()
                }
                .encode_to_vec(),
            ),
            (
                "GetQueue",
                GetQueueRequest { name: "q".into() }.encode_to_vec(),
            ),
        ]),
        grpc_input(&[
            ("CreateQueue", create("delayed").encode_to_vec()),
            ("EnqueueBatch", batch.encode_to_vec()),
            ("DequeueBatch", dequeue_batch.encode_to_vec()),
            (
                "AckBatch",
                AckBatchRequest {
                    queue_name: "q".into(),
                    items: vec![doq_proto::ext::AckItem {
                        id: 1,
                        receipt: "r".into(),
                    }],
                }
                .encode_to_vec(),
            ),
            ("GetQueues", GetQueuesRequest::default().encode_to_vec()),
            (
                "GenerateIDs",
                GenerateIDsRequest { number: 3 }.encode_to_vec(),
            ),
            (
                "DeleteQueue",
                DeleteQueueRequest { name: "q".into() }.encode_to_vec(),
            ),
        ]),
    ]
}

/// Runs one gRPC fuzz input against a fresh single node over a memory store: every frame is decoded
/// as its RPC's request and, if it decodes, called. No call may panic, hang, or answer `INTERNAL`,
/// `UNKNOWN` or `DATA_LOSS` (the gRPC form of a 5xx; bad input is `INVALID_ARGUMENT`, a missing
/// queue `NOT_FOUND`, …).
pub fn grpc(data: &[u8]) {
    let frames = grpc_frames(data);
    if frames.is_empty() {
        return;
    }
    on_fresh_node(|consensus| async move {
        let options = GrpcOptions {
            limits: RequestLimits {
                max_wait_seconds: 0,
                ..RequestLimits::default()
            },
            default_ack_timeout: 1800,
            stats_window: 10,
            auth_token: String::new(),
            waiters: Default::default(),
            metrics: None,
        };
        let service = DoqService::new(consensus.clone(), options, CancellationToken::new());
        let ext = DoqExtService(service.clone());
        for (selector, bytes) in frames {
            let rpc = RPCS[selector];
            if let Some(status) = call(&service, &ext, rpc, bytes).await {
                assert!(
                    !matches!(
                        status.code(),
                        Code::Internal | Code::Unknown | Code::DataLoss
                    ),
                    "{rpc} with {bytes:?} answered {status:?}"
                );
            }
        }
    });
}

/// Decodes `bytes` as `rpc`'s request and calls it; answers the error status, if any (`None` also
/// when the bytes do not decode).
async fn call(
    service: &DoqService,
    ext: &DoqExtService,
    rpc: &str,
    bytes: &[u8],
) -> Option<Status> {
    macro_rules! unary {
        ($svc:expr, $req:ty, $method:path) => {{
            let req = <$req>::decode(bytes).ok()?;
            deadline(rpc, $method($svc, Request::new(req))).await.err()
        }};
    }
    match rpc {
        "GenerateIDs" => unary!(service, GenerateIDsRequest, Doq::generate_i_ds),
        "CreateQueue" => unary!(service, CreateQueueRequest, Doq::create_queue),
        "UpdateQueue" => unary!(service, UpdateQueueRequest, Doq::update_queue),
        "DeleteQueue" => unary!(service, DeleteQueueRequest, Doq::delete_queue),
        "GetQueue" => unary!(service, GetQueueRequest, Doq::get_queue),
        "GetQueues" => unary!(service, GetQueuesRequest, Doq::get_queues),
        "Enqueue" => unary!(service, EnqueueRequest, Doq::enqueue),
        "Dequeue" => unary!(service, DequeueRequest, Doq::dequeue),
        "Get" => unary!(service, GetRequest, Doq::get),
        "Delete" => unary!(service, DeleteRequest, Doq::delete),
        "Ack" => unary!(service, AckRequest, Doq::ack),
        "Nack" => unary!(service, NackRequest, Doq::nack),
        "UpdatePriority" => unary!(service, UpdatePriorityRequest, Doq::update_priority),
        "Touch" => unary!(service, TouchRequest, Doq::touch),
        "EnqueueBatch" => unary!(ext, EnqueueBatchRequest, DoqExt::enqueue_batch),
        "DequeueBatch" => unary!(ext, DequeueBatchRequest, DoqExt::dequeue_batch),
        _ => unary!(ext, AckBatchRequest, DoqExt::ack_batch),
    }
}

/// Runs `f` against a fresh single node over a memory store (manual clock, current-thread runtime),
/// then shuts the node down. Each fuzz input gets its own node, so inputs cannot affect each other.
fn on_fresh_node<F, Fut>(f: F)
where
    F: FnOnce(Arc<dyn Consensus>) -> Fut,
    Fut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build();
    let Ok(runtime) = runtime else { return };
    runtime.block_on(async {
        let clock = ManualClock::new(Timestamp(1_700_000_000_000));
        let node = SingleNode::open(
            Arc::new(MemoryStore::new()),
            Arc::new(clock),
            SingleOptions::default(),
        );
        let Ok(node) = node else { return };
        let consensus: Arc<dyn Consensus> = Arc::new(node);
        f(consensus.clone()).await;
        let _ = consensus.shutdown().await;
    });
}

/// Awaits `f` within [`CALL_DEADLINE`]; a call that takes longer is a hang.
async fn deadline<T>(rpc: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(CALL_DEADLINE, f).await {
        Ok(v) => v,
        Err(_) => panic!("{rpc} hung for {CALL_DEADLINE:?}"),
    }
}

/// Requests per HTTP input, at most.
const MAX_REQUESTS: usize = 8;

/// Runs one HTTP fuzz input against a fresh single node over a memory store: up to eight requests
/// separated by a line `---`, each a first line `METHOD PATH` and then the body (sent as JSON), so the
/// corpus can be written by hand. No request may panic, hang or get a 5xx (bad input is a 4xx,
/// docs/http.md §2).
pub fn http(data: &[u8]) {
    use axum::{body::Body, http::Request as HttpRequest};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

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
    on_fresh_node(|consensus| async move {
        let state = crate::http::AppState {
            consensus: consensus.clone(),
            limits: RequestLimits {
                max_wait_seconds: 0,
                // A small cap, so a fuzzed restore upload cannot fill the disk.
                max_restore_bytes: 1 << 20,
                ..RequestLimits::default()
            },
            default_ack_timeout: 1800,
            stats_window: 10,
            shutdown: CancellationToken::new(),
            spool_dir: std::env::temp_dir(),
            waiters: Default::default(),
            metrics: None,
            ui: false,
        };
        let app = crate::http::router(state);
        for (method, path, body) in requests {
            let Ok(req) = HttpRequest::builder()
                .method(method.as_str())
                .uri(path.as_str())
                .header("content-type", "application/json")
                .body(Body::from(body.clone()))
            else {
                continue;
            };
            let response = deadline(&path, app.clone().oneshot(req))
                .await
                .unwrap_or_else(|never| match never {});
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map(http_body_util::Collected::to_bytes)
                .unwrap_or_default();
            assert!(
                !status.is_server_error(),
                "{method} {path} with body {body:?} got {status}: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
    });
}

/// Loads arbitrary bytes as configuration. The first byte picks the source: a TOML file, a YAML file,
/// command-line flags (the rest split on whitespace) or environment variables (`NAME=value` lines).
/// Loading must answer a configuration or an error, never panic, and a configuration it answers
/// must validate.
pub fn config(data: &[u8]) {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let loaded = match kind % 4 {
        0 | 1 => {
            let Ok(dir) = tempfile::tempdir() else { return };
            let name = if kind % 4 == 0 {
                "doq.toml"
            } else {
                "doq.yaml"
            };
            let path = dir.path().join(name);
            if std::fs::write(&path, rest).is_err() {
                return;
            }
            let sources = Sources {
                file: Some(path),
                flags: Vec::new(),
            };
            Config::load_with_env(&sources, &[])
        }
        2 => {
            let args: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
            match Sources::parse(&args) {
                Ok(sources) if sources.file.is_none() => Config::load_with_env(&sources, &[]),
                _ => return,
            }
        }
        _ => {
            let env: Vec<(String, String)> = text
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            Config::load_with_env(&Sources::default(), &env)
        }
    };
    if let Ok(config) = loaded {
        assert!(
            config.validate().is_ok(),
            "a loaded configuration does not validate: {config:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_run_clean_and_frames_round_trip() {
        for seed in grpc_seeds() {
            assert!(!grpc_frames(&seed).is_empty());
            grpc(&seed);
        }
        let input = grpc_input(&[("Ack", vec![1, 2]), ("AckBatch", vec![])]);
        assert_eq!(
            grpc_frames(&input),
            vec![(10, &[1u8, 2][..]), (16, &[][..])]
        );
        grpc(&[]);
        grpc(&[7, 0xff, 0xff, 0x0a]);
    }

    #[test]
    fn http_requests_run_clean() {
        http(b"POST /API/v1/queues\n{\"name\":\"q\",\"type\":\"delayed\",\"settings\":{}}\n---\nPOST /API/v1/queues/q/messages\n{\"priority\":1,\"content\":\"x\"}\n---\nGET /API/v1/queues/q/messages?ack=false\n");
        http(b"GET /nope\n");
        http(b"");
    }

    #[test]
    fn config_inputs_of_every_kind_load_or_fail_cleanly() {
        config(b"\x00[http]\nport = 8001\n");
        config(b"\x01http:\n  port: 8001\n");
        config(b"\x02--http.port 8001 --storage.backend memory");
        config(b"\x03DOQ_HTTP__PORT=8001\nDOQ_CONSENSUS=raft\n");
        config(b"\x00[http]\nport = \"x\"\n");
        config(b"");
    }
}
