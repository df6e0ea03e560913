//! DOQ's gRPC API (docs/grpc.md §7): service `queue.DOQ`, wire-identical to DOQ's, and doq's extension service
//! `doq.ext.v1.DOQExt` (§7.4), over the same [`Consensus`] as HTTP, plus the standard health and
//! reflection services. [`serve`] runs them all; [`DoqService`] holds what the RPCs share. Start at
//! `grpc/service.rs` (one method per `queue.DOQ` RPC) and `grpc/ext.rs` (`DOQExt`), then the streams in
//! `grpc/enqueue_stream.rs`, `grpc/dequeue_stream.rs` and `grpc/subscribe.rs` (the last two share the
//! credit window of `grpc/window.rs`), and `grpc/readiness.rs` for waiting without polling. Errors
//! reach the wire only through `crate::errors`.
mod auth;
mod batches;
mod convert;
mod dequeue_stream;
mod enqueue_stream;
mod ext;
mod messages;
mod queues;
mod readiness;
mod service;
pub(crate) mod status_details;
mod subscribe;
#[cfg(test)]
mod tests;
mod window;

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use doq_consensus::Consensus;
use doq_proto::{ext::doq_ext_server::DoqExtServer, queue::doq_server::DoqServer};
use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;
use tonic::{
    codegen::http,
    service::interceptor::InterceptedService,
    transport::{server::Connected, Server},
};
use tonic_health::ServingStatus;

pub use self::ext::DoqExtService;
use crate::{
    errors,
    limits::RequestLimits,
    metrics::{GrpcMetricsLayer, Metrics},
    waiters::Waiters,
};

/// How often HTTP/2 pings an idle connection, so a vanished client's streams end instead of lingering.
const KEEPALIVE: Duration = Duration::from_secs(30);

/// What the gRPC API needs besides consensus; the same values HTTP uses.
#[derive(Clone, Default)]
pub struct GrpcOptions {
    /// Request limits (docs/http.md §2.1); `max_body_bytes` also caps one gRPC message (RESOURCE_EXHAUSTED above).
    pub limits: RequestLimits,
    /// `queue.default_acknowledgement_timeout` (seconds): the proposer resolves an `ack_timeout` of 0 to it.
    pub default_ack_timeout: u32,
    /// `queue.stats.window_side` (seconds): the window `*RPS` fields are averaged over.
    pub stats_window: u32,
    /// `auth.token`: when non-empty, every RPC except health needs `authorization: Bearer <token>`.
    pub auth_token: String,
    /// Parked dequeuers by queue, shared with HTTP so `/metrics` sees both.
    pub waiters: Waiters,
    /// Request counters and durations, when `prometheus.enabled`.
    pub metrics: Option<Arc<Metrics>>,
}

impl std::fmt::Debug for GrpcOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcOptions")
            .field("limits", &self.limits)
            .field("default_ack_timeout", &self.default_ack_timeout)
            .field("stats_window", &self.stats_window)
            .field(
                "auth_token",
                &(!self.auth_token.is_empty()).then_some("<set>"),
            )
            .finish()
    }
}

/// The `queue.DOQ` service: what every RPC shares. Cheap to clone.
#[derive(Clone)]
pub struct DoqService {
    consensus: Arc<dyn Consensus>,
    options: Arc<GrpcOptions>,
    /// Cancelled when the node stops: streams and long polls end, and [`serve`] drains.
    shutdown: CancellationToken,
    /// Stream tasks alive now; a vanished client must bring it back down (no leaked task).
    streams: Arc<AtomicUsize>,
    /// Dequeuers parked waiting for a deliverable message.
    parked: Waiters,
}

impl std::fmt::Debug for DoqService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DoqService")
            .field("options", &self.options)
            .field("streams", &self.live_streams())
            .field("parked", &self.parked_waiters())
            .finish_non_exhaustive()
    }
}

impl DoqService {
    /// A service over `consensus`; `shutdown` ends its streams and long polls and stops [`serve`].
    pub fn new(
        consensus: Arc<dyn Consensus>,
        options: GrpcOptions,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            consensus,
            parked: options.waiters.clone(),
            options: Arc::new(options),
            shutdown,
            streams: Arc::default(),
        }
    }

    /// Stream tasks (`EnqueueStream`, `DequeueStream`) alive now.
    pub fn live_streams(&self) -> usize {
        self.streams.load(Ordering::SeqCst)
    }

    /// Dequeuers (streams and long polls) parked until something becomes deliverable.
    pub fn parked_waiters(&self) -> usize {
        self.parked.total()
    }

    /// Most messages one batch command may carry (`limits.max_batch_size`, within the command's u16).
    fn batch_cap(&self) -> u16 {
        u16::try_from(self.options.limits.max_batch_size)
            .unwrap_or(u16::MAX)
            .max(1)
    }

    /// Counts one stream task until the guard drops.
    fn stream_guard(&self) -> StreamGuard {
        self.streams.fetch_add(1, Ordering::SeqCst);
        StreamGuard(self.streams.clone())
    }
}

/// Held by a stream task for its whole life; dropping it (however the task ends) uncounts the task.
#[derive(Debug)]
struct StreamGuard(Arc<AtomicUsize>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves `queue.DOQ`, `doq.ext.v1.DOQExt`, health (`grpc.health.v1`, no token needed) and reflection
/// (v1 and v1alpha) on
/// `incoming` until the service's shutdown token is cancelled, then drains: health turns NOT_SERVING,
/// streams end, and in-flight unary calls finish.
pub async fn serve<I, IO, IE>(service: DoqService, incoming: I) -> anyhow::Result<()>
where
    I: Stream<Item = Result<IO, IE>>,
    IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
    IO::ConnectInfo: Clone + Send + Sync + 'static,
    IE: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let shutdown = service.shutdown.clone();
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<DoqServer<DoqService>>().await;
    health.set_serving::<DoqExtServer<DoqExtService>>().await;
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(doq_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let auth = auth::Bearer::new(&service.options.auth_token);
    let max_message = service.options.limits.max_body_bytes;
    let metrics = GrpcMetricsLayer::new(service.options.metrics.clone());
    let ext =
        DoqExtServer::new(DoqExtService(service.clone())).max_decoding_message_size(max_message);
    let doq = DoqServer::new(service).max_decoding_message_size(max_message);
    let drained = async move {
        shutdown.cancelled().await;
        health
            .set_service_status("", ServingStatus::NotServing)
            .await;
        health.set_not_serving::<DoqServer<DoqService>>().await;
        health
            .set_not_serving::<DoqExtServer<DoqExtService>>()
            .await;
    };
    Server::builder()
        .http2_keepalive_interval(Some(KEEPALIVE))
        .layer(tower::util::MapResponseLayer::new(
            transport_status as fn(_) -> _,
        ))
        // Inside the re-mapping, so a re-mapped status is counted under its final code.
        .layer(metrics)
        .add_service(health_service)
        .add_service(InterceptedService::new(doq, auth.clone()))
        .add_service(InterceptedService::new(ext, auth.clone()))
        .add_service(InterceptedService::new(reflection_v1, auth.clone()))
        .add_service(InterceptedService::new(reflection_v1alpha, auth))
        .serve_with_incoming_shutdown(incoming, drained)
        .await?;
    Ok(())
}

/// Re-maps statuses tonic answers on its own before a handler runs (an oversized unary request), through
/// `errors::grpc_transport_status`. Such a status travels in the headers of a trailers-only response.
fn transport_status(
    mut response: http::Response<tonic::body::Body>,
) -> http::Response<tonic::body::Body> {
    let headers = response.headers_mut();
    if let Some(status) = tonic::Status::from_header_map(headers) {
        let mapped = errors::grpc_transport_status(status.clone());
        if mapped.code() != status.code() {
            // A status that cannot be written keeps tonic's own.
            let _ = mapped.add_header(headers);
        }
    }
    response
}
