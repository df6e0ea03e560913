//! The DOQ-compatible HTTP API (docs/http.md §2–§3): [`router`] builds the axum app over a [`Consensus`].
//! Start at `http/routing.rs` (path normalization, headers, 404/405), then one file per resource.
//! Errors reach the wire only through `crate::errors`.
mod backup;
mod batch;
mod body;
mod cluster;
mod dto;
mod health;
mod ids;
pub mod layers;
mod long_poll;
mod messages;
pub(crate) mod openapi;
pub(crate) mod params;
mod peek;
pub(crate) mod problem;
mod queues;
mod restore;
mod routing;
#[cfg(test)]
mod tests;
mod validate;

use std::sync::Arc;

use axum::{
    routing::{get, post, put},
    Router,
};
use doq_api::{Command, Reply};
use doq_consensus::Consensus;

use crate::{
    errors::{ApiError, Route},
    limits::RequestLimits,
    metrics::Metrics,
    waiters::Waiters,
};

/// What every handler needs: the consensus it proposes to and reads through, and resolved configuration.
#[derive(Clone)]
pub struct AppState {
    /// Orders writes and serves linearizable reads.
    pub consensus: Arc<dyn Consensus>,
    /// Request limits (docs/http.md §2.1), restore uploads' included.
    pub limits: RequestLimits,
    /// `queue.default_acknowledgement_timeout` (seconds): the proposer resolves an absent `ack_timeout` to it.
    pub default_ack_timeout: u32,
    /// `queue.stats.window_side` (seconds): the window `*_rps` fields are averaged over.
    pub stats_window: u32,
    /// Cancelled when the node starts shutting down: pending long-polls answer the empty-queue 400 at once.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Where restore uploads are spooled: inside the node directory, never a RAM-backed temp dir (§8.3).
    pub spool_dir: std::path::PathBuf,
    /// Parked long polls by queue (shared with gRPC), for `doq_long_poll_waiters`.
    pub waiters: Waiters,
    /// What `GET /metrics` exports; `None` when `prometheus.enabled = false` (the route answers 404).
    pub metrics: Option<Arc<Metrics>>,
    /// `ui.enabled`: serve the admin UI (`crate::ui`) and answer unknown `GET`s with its page.
    pub ui: bool,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("limits", &self.limits)
            .field("default_ack_timeout", &self.default_ack_timeout)
            .field("stats_window", &self.stats_window)
            .field("ui", &self.ui)
            .finish_non_exhaustive()
    }
}

/// The HTTP app: every route of docs/http.md §3.1 implemented so far, with DOQ's path, header and error
/// conventions (no access rules, metrics or access log: `server` adds those between [`routes`] and the
/// outer layers).
pub fn router(state: AppState) -> Router {
    layers::wrap(routes(state), false)
}

/// The route table with path normalization and DOQ's 404/405 problems, without the outer layers of
/// `http/layers.rs` (request id, security headers, access log).
pub fn routes(state: AppState) -> Router {
    const Q: &str = "/API/v1/queues/{queue_name}";
    let api = Router::new()
        .route("/API/v1/queues", post(queues::create).get(queues::list))
        .route(
            Q,
            get(queues::info).put(queues::update).delete(queues::delete),
        )
        .route(&format!("{Q}/purge"), post(queues::purge))
        .route(
            &format!("{Q}/messages"),
            post(messages::enqueue).get(messages::dequeue),
        )
        .route(
            &format!("{Q}/messages/{{id}}"),
            get(messages::get).delete(messages::delete),
        )
        .route(&format!("{Q}/messages/{{id}}/ack"), post(messages::ack))
        .route(&format!("{Q}/messages/{{id}}/nack"), post(messages::nack))
        .route(&format!("{Q}/messages/{{id}}/touch"), post(messages::touch))
        .route(
            &format!("{Q}/messages/{{id}}/priority"),
            put(messages::update_priority),
        )
        .route(&format!("{Q}/batch/enqueue"), post(batch::enqueue))
        .route(&format!("{Q}/batch/dequeue"), post(batch::dequeue))
        .route(&format!("{Q}/batch/ack"), post(batch::ack))
        .route(&format!("{Q}/peek"), get(peek::peek))
        .route("/API/v1/ids", post(ids::reserve))
        .route("/API/v1/cluster/servers", get(cluster::servers))
        .route("/API/v1/cluster/status", get(cluster::status))
        .route("/API/v1/cluster/join", post(cluster::join))
        .route("/API/v1/cluster/leave", post(cluster::leave))
        .route("/db/backup", get(backup::backup).post(backup::backup))
        .route("/db/restore", post(restore::restore))
        .route("/livez", get(health::live))
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/metrics", get(crate::metrics::scrape))
        .merge(openapi::routes())
        .merge(crate::ui::routes(state.ui))
        // Only matched routes: the route template becomes the `path` label of the HTTP metrics.
        .route_layer(axum::middleware::from_fn(crate::metrics::remember_route))
        .fallback(crate::ui::fallback)
        .with_state(state);
    routing::wrap(api)
}

impl AppState {
    /// Proposes `cmd` on behalf of `route`; errors keep the route so they get its texts.
    pub(crate) async fn propose(&self, route: Route, cmd: Command) -> Result<Reply, ApiError> {
        self.consensus
            .propose(cmd)
            .await
            .map_err(|e| ApiError::new(route, e))
    }

    /// Waits until local reads are linearizable.
    pub(crate) async fn read_barrier(&self, route: Route) -> Result<(), ApiError> {
        self.consensus
            .read_barrier()
            .await
            .map_err(|e| ApiError::new(route, e))
    }
}
