//! DOQ's gRPC series: `doq_grpc_requests_total{method,code}` and `doq_grpc_request_duration_seconds{method}`,
//! recorded by a tower layer around the tonic server. `method` is the full gRPC path
//! (`/queue.DOQ/Enqueue`); `code` is the status name as Go's gRPC prints it (`OK`, `NotFound`, …).
//!
//! A unary error travels in the response headers (a trailers-only response), so it is seen here; a
//! success, and a stream, is counted `OK` when its response starts, and a stream's duration ends there too.
use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use tonic::codegen::http;
use tower::{Layer, Service};

use super::Metrics;

/// The gRPC request series.
pub(super) struct GrpcMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl GrpcMetrics {
    pub(super) fn register(registry: &Registry) -> prometheus::Result<Self> {
        let requests = IntCounterVec::new(
            Opts::new("doq_grpc_requests_total", "gRPC calls answered"),
            &["method", "code"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "doq_grpc_request_duration_seconds",
                "Time from call to response start",
            ),
            &["method"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        Ok(Self { requests, duration })
    }
}

/// Go's name of a gRPC status code number (`grpc-status` header value).
fn code_name(code: &[u8]) -> &'static str {
    match code {
        b"0" => "OK",
        b"1" => "Canceled",
        b"2" => "Unknown",
        b"3" => "InvalidArgument",
        b"4" => "DeadlineExceeded",
        b"5" => "NotFound",
        b"6" => "AlreadyExists",
        b"7" => "PermissionDenied",
        b"8" => "ResourceExhausted",
        b"9" => "FailedPrecondition",
        b"10" => "Aborted",
        b"11" => "OutOfRange",
        b"12" => "Unimplemented",
        b"13" => "Internal",
        b"14" => "Unavailable",
        b"15" => "DataLoss",
        b"16" => "Unauthenticated",
        _ => "Unknown",
    }
}

/// Wraps the gRPC server's services; a no-op when metrics are off.
#[derive(Clone, Debug, Default)]
pub struct GrpcMetricsLayer(Option<Arc<Metrics>>);

impl GrpcMetricsLayer {
    /// Records into `metrics`, or nothing when `None`.
    pub fn new(metrics: Option<Arc<Metrics>>) -> Self {
        Self(metrics)
    }
}

impl<S> Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetricsService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetricsService {
            inner,
            metrics: self.0.clone(),
        }
    }
}

/// The service [`GrpcMetricsLayer`] makes.
#[derive(Clone, Debug)]
pub struct GrpcMetricsService<S> {
    inner: S,
    metrics: Option<Arc<Metrics>>,
}

impl<S, B, RB> Service<http::Request<B>> for GrpcMetricsService<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let Some(metrics) = self.metrics.clone() else {
            return Box::pin(self.inner.call(req));
        };
        let method = req.uri().path().to_owned();
        let started = Instant::now();
        let call = self.inner.call(req);
        Box::pin(async move {
            let result = call.await;
            let code = match &result {
                Ok(response) => response
                    .headers()
                    .get("grpc-status")
                    .map_or("OK", |v| code_name(v.as_bytes())),
                Err(_) => "Unavailable",
            };
            let grpc = &metrics.grpc;
            grpc.requests
                .with_label_values(&[method.as_str(), code])
                .inc();
            grpc.duration
                .with_label_values(&[method.as_str()])
                .observe(started.elapsed().as_secs_f64());
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::code_name;

    #[test]
    fn status_numbers_get_go_names() {
        assert_eq!(code_name(b"0"), "OK");
        assert_eq!(code_name(b"5"), "NotFound");
        assert_eq!(code_name(b"16"), "Unauthenticated");
        assert_eq!(code_name(b"99"), "Unknown");
    }
}
