//! DOQ's HTTP series: `doq_http_requests_total{service,status_code,method,path}`,
//! `doq_http_request_duration_seconds{…}` and `doq_http_requests_in_progress_total{service,method}`, where
//! `path` is the route template (`/API/v1/queues/{queue_name}/messages`), never the raw path, so queue names
//! and ids do not multiply the series.
//!
//! The route table's `route_layer` ([`remember_route`]) copies the matched template into the response's
//! extensions; the outer [`observe`] layer, which also sees requests refused before routing (401, 403),
//! reads it back. Requests that matched no route are labelled `path="unmatched"`.
use std::{sync::Arc, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};
use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

use super::Metrics;

/// The `service` label DOQ's dashboard filters on.
const SERVICE: &str = "doq";
/// The `path` of a request no route matched (404s, and requests refused before routing).
const UNMATCHED: &str = "unmatched";

/// The HTTP request series.
pub(super) struct HttpMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    in_progress: IntGaugeVec,
}

impl HttpMetrics {
    pub(super) fn register(registry: &Registry) -> prometheus::Result<Self> {
        let labels = ["service", "status_code", "method", "path"];
        let requests = IntCounterVec::new(
            Opts::new("doq_http_requests_total", "HTTP requests answered"),
            &labels,
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "doq_http_request_duration_seconds",
                "Time from request to response headers",
            ),
            &labels,
        )?;
        let in_progress = IntGaugeVec::new(
            Opts::new(
                "doq_http_requests_in_progress_total",
                "HTTP requests being served now",
            ),
            &["service", "method"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(in_progress.clone()))?;
        Ok(Self {
            requests,
            duration,
            in_progress,
        })
    }
}

/// The matched route's template, carried from the route table out to [`observe`].
#[derive(Clone, Debug)]
struct RouteTemplate(MatchedPath);

/// `route_layer` of the route table: remembers which template matched.
pub(crate) async fn remember_route(req: Request, next: Next) -> Response {
    let template = req.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(req).await;
    if let Some(template) = template {
        response.extensions_mut().insert(RouteTemplate(template));
    }
    response
}

/// Decrements the in-progress gauge however the request ends (a client that disconnects drops the future).
struct InProgress(IntGauge);

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The outer layer: counts and times every request, including those refused before routing.
pub(crate) async fn observe(
    State(metrics): State<Arc<Metrics>>,
    req: Request,
    next: Next,
) -> Response {
    let http = &metrics.http;
    let method = req.method().clone();
    let gauge = http
        .in_progress
        .with_label_values(&[SERVICE, method.as_str()]);
    gauge.inc();
    let _in_progress = InProgress(gauge);
    let started = Instant::now();
    let response = next.run(req).await;
    let path = response
        .extensions()
        .get::<RouteTemplate>()
        .map_or(UNMATCHED, |t| t.0.as_str());
    let status = response.status();
    let labels = [SERVICE, status.as_str(), method.as_str(), path];
    http.requests.with_label_values(&labels).inc();
    http.duration
        .with_label_values(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}
