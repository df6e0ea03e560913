//! `GET /metrics` (docs/observability.md §11): Prometheus text format 0.0.4 through the `prometheus` crate.
//!
//! Three kinds of series, each updated where it is cheapest:
//! - **per request** (`http.rs`, `grpc.rs`): counters, histograms and an in-progress gauge in a
//!   [`Metrics`] registry; each update is a lookup of the label set's child and atomic adds, no lock held
//!   across the request;
//! - **per commit** (`storage.rs`): the store's commit duration and the commands per commit, through
//!   `doq_consensus::CommitObserver`;
//! - **at scrape** (`node.rs`): per-queue gauges and counters, Raft state, waiters and build info, built
//!   into a fresh registry for each scrape from the engine and the cluster status, so the series of a
//!   deleted queue disappear with it.
mod grpc;
mod http;
mod node;
mod storage;

use std::sync::Arc;

use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use doq_consensus::Consensus;
use prometheus::{Encoder, Registry, TextEncoder};
use tracing::debug;

pub use self::grpc::{GrpcMetricsLayer, GrpcMetricsService};
pub(crate) use self::http::{observe, remember_route};
use self::{grpc::GrpcMetrics, http::HttpMetrics, storage::StorageMetrics};
use crate::{
    errors::{ApiError, Route},
    http::AppState,
    waiters::Waiters,
};

/// The metrics of one node: its registry of request and storage series, and what the scrape adds.
/// Per node, not process-global, so tests can run several nodes in one process.
pub struct Metrics {
    registry: Registry,
    http: HttpMetrics,
    grpc: GrpcMetrics,
    storage: Arc<StorageMetrics>,
    backend: &'static str,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// Registers every request, storage and process series for a node on `backend`.
    pub fn new(backend: &'static str) -> prometheus::Result<Self> {
        let registry = Registry::new();
        let http = HttpMetrics::register(&registry)?;
        let grpc = GrpcMetrics::register(&registry)?;
        let storage = Arc::new(StorageMetrics::register(&registry, backend)?);
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Self {
            registry,
            http,
            grpc,
            storage,
            backend,
        })
    }

    /// Starts timing `consensus`'s commits into the storage histograms.
    pub fn observe_commits(&self, consensus: &dyn Consensus) {
        if !consensus.view().observe_commits(self.storage.clone()) {
            debug!("commits are observed already; the storage histograms stay empty here");
        }
    }

    /// The exposition text: the registry's series followed by the node's scrape-time series.
    pub async fn render(
        &self,
        consensus: &dyn Consensus,
        waiters: &Waiters,
        window: u32,
    ) -> prometheus::Result<String> {
        let mut families = self.registry.gather();
        families.extend(node::gather(consensus, waiters, window, self.backend).await?);
        families.sort_by(|a, b| a.name().cmp(b.name()));
        let mut out = Vec::new();
        TextEncoder::new().encode(&families, &mut out)?;
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// `GET /metrics`: 404 when `prometheus.enabled = false` (docs/config.md §10), else the text format.
pub(crate) async fn scrape(State(app): State<AppState>) -> Response {
    let Some(metrics) = app.metrics.clone() else {
        return ApiError::route_not_found().into_response();
    };
    match metrics
        .render(app.consensus.as_ref(), &app.waiters, app.stats_window)
        .await
    {
        Ok(text) => ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response(),
        // Registering or encoding a family failed: a bug (a name or label clash), never bad input.
        Err(e) => ApiError::new(
            Route::Metrics,
            doq_api::Error::Internal(format!("render metrics: {e}")),
        )
        .into_response(),
    }
}
