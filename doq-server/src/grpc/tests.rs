//! gRPC tests without sockets: a real `SingleNode` over a `MemoryStore` and a `ManualClock`, served by
//! [`serve`] over in-memory duplex pipes (one per client connection). Every RPC's happy path and error
//! statuses are in `unary.rs`, the two streams in `streams.rs`, auth, health, reflection and message
//! limits in `serving.rs`, the extension service `DOQExt` in `ext.rs`, and the streams under load in
//! `load.rs`.
mod ext;
mod load;
mod serving;
mod streams;
mod unary;

use std::{future::Future, io, sync::Arc, time::Duration};

use doq_api::{ManualClock, Timestamp};
use doq_consensus::{Consensus, SingleNode, SingleOptions};
use doq_proto::queue::{
    doq_client::DoqClient, queue_settings::Strategy as PbStrategy, CreateQueueRequest,
    EnqueueRequest, EnqueueResponse, QueueSettings,
};
use doq_storage::MemoryStore;
use hyper_util::rt::TokioIo;
use tokio::{io::DuplexStream, sync::mpsc};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{
    transport::{Channel, Endpoint, Uri},
    Code, Status,
};

use super::{serve, status_details, DoqService, GrpcOptions};
use crate::limits::RequestLimits;

/// The test clock starts on a whole second, so `now + 1` comes due after exactly 1000 ms.
const START_MS: u64 = 1_700_000_000_000;

/// Longest a test waits for something that should happen at once.
const PATIENCE: Duration = Duration::from_secs(10);

/// One node served over gRPC, and a way to open client connections to it.
struct Harness {
    /// A client on the first connection.
    client: DoqClient<Channel>,
    service: DoqService,
    consensus: Arc<dyn Consensus>,
    clock: ManualClock,
    shutdown: CancellationToken,
    connections: mpsc::UnboundedSender<io::Result<DuplexStream>>,
}

/// Options as `server::start` builds them from the default configuration.
fn options() -> GrpcOptions {
    GrpcOptions {
        limits: RequestLimits::default(),
        default_ack_timeout: 1800,
        stats_window: 10,
        auth_token: String::new(),
        ..GrpcOptions::default()
    }
}

impl Harness {
    async fn start() -> Self {
        Self::with(options()).await
    }

    async fn with(options: GrpcOptions) -> Self {
        let clock = ManualClock::new(Timestamp(START_MS));
        let node = SingleNode::open(
            Arc::new(MemoryStore::new()),
            Arc::new(clock.clone()),
            SingleOptions::default(),
        )
        .expect("open node");
        let consensus: Arc<dyn Consensus> = Arc::new(node);
        let shutdown = CancellationToken::new();
        let service = DoqService::new(consensus.clone(), options, shutdown.clone());
        let (connections, incoming) = mpsc::unbounded_channel();
        tokio::spawn(serve(
            service.clone(),
            UnboundedReceiverStream::new(incoming),
        ));
        let mut h = Self {
            client: DoqClient::new(Endpoint::from_static("http://x").connect_lazy()),
            service,
            consensus,
            clock,
            shutdown,
            connections,
        };
        h.client = h.connect().await;
        h
    }

    /// A client on a new connection of its own.
    async fn connect(&self) -> DoqClient<Channel> {
        DoqClient::new(self.channel().await)
    }

    /// A new in-memory HTTP/2 connection to the server.
    async fn channel(&self) -> Channel {
        let (client_io, server_io) = tokio::io::duplex(1 << 20);
        self.connections
            .send(Ok(server_io))
            .expect("server is accepting");
        let mut client_io = Some(client_io);
        Endpoint::try_from("http://in-memory")
            .expect("endpoint")
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let io = client_io.take();
                async move {
                    io.map(TokioIo::new)
                        .ok_or_else(|| io::Error::other("already connected"))
                }
            }))
            .await
            .expect("connect")
    }

    /// Creates a queue through the API.
    async fn create(
        &self,
        name: &str,
        kind: &str,
        strategy: PbStrategy,
        max_unacked: u32,
        ack_timeout: u32,
    ) {
        let req = CreateQueueRequest {
            name: name.into(),
            r#type: kind.into(),
            settings: Some(QueueSettings {
                strategy: strategy as i32,
                max_unacked,
                ack_timeout,
            }),
        };
        let ok = self
            .client
            .clone()
            .create_queue(req)
            .await
            .expect("create queue");
        assert!(ok.into_inner().success);
    }

    /// Creates a delayed queue with a 10 s ack timeout (the shortest gRPC allows).
    async fn delayed(&self, name: &str) {
        self.create(name, "delayed", PbStrategy::Unspecified, 0, 10)
            .await;
    }

    /// Enqueues one message through the API.
    async fn enqueue(&self, queue: &str, priority: i64, content: &str) -> EnqueueResponse {
        let req = EnqueueRequest {
            queue_name: queue.into(),
            priority,
            content: content.into(),
            ..EnqueueRequest::default()
        };
        self.client
            .clone()
            .enqueue(req)
            .await
            .expect("enqueue")
            .into_inner()
    }

    /// Commands applied so far.
    fn applied(&self) -> u64 {
        self.consensus.status().last_applied
    }
}

/// Asserts a failure: its code, DOQ's exact text, and the `ErrorInfo` reason in domain `doq`.
#[track_caller]
fn check(status: &Status, code: Code, message: &str, reason: &str) {
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(status.message(), message, "{status:?}");
    let info = status_details::error_info(status).expect("ErrorInfo in the status details");
    assert_eq!(info.reason, reason, "{status:?}");
    assert_eq!(info.domain, "doq");
}

/// The error of a call that must fail.
#[track_caller]
fn failure<T: std::fmt::Debug>(result: Result<T, Status>) -> Status {
    match result {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(status) => status,
    }
}

/// Waits (briefly, without driving time) until `cond` holds.
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// `fut`, or a panic if it takes longer than [`PATIENCE`].
async fn soon<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}
