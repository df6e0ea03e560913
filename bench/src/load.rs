//! `doq bench`: `--vus` virtual users, each on its own connection, loop enqueue → dequeue → ack against
//! one queue for `--duration` after a `--warmup` that is not recorded, over HTTP (DOQ's JSON API) or gRPC
//! (`queue.DOQ` unary calls, `doq.ext.v1` for batches). The same loop as DOQ's k6 script and as qbench's
//! `doq-http`/`doq-grpc` targets, so its figures compare with theirs.
//!
//! - `--ack explicit` dequeues with a lease and acks by id (3 requests, at-least-once); `--ack auto`
//!   dequeues with `ack=true` (2 requests, at-most-once).
//! - `--batch N` enqueues N messages in one request (`/batch/enqueue`, `EnqueueBatch`) and dequeues up to
//!   N in one (`/batch/dequeue`, `DequeueBatch`); explicit acks are then one batch ack (`AckBatch` over
//!   gRPC, `/batch/ack` over HTTP).
//!
//! - `--enqueue-only` sends only the enqueues (the queue grows; `--batch` sets messages per request):
//!   the ingest rate of HTTP batch enqueue or gRPC `EnqueueBatch`.
//!
//! It reports iterations, messages and requests per second, and per-operation p50/p99/p999/max, as text
//! and, with `--json FILE`, as JSON.
mod conn;
mod report;

use std::{path::PathBuf, time::Duration};

use anyhow::Context as _;
use clap::ValueEnum;
use tokio::time::Instant;

pub use crate::load::report::{Latency, Report};
use crate::load::{conn::Conn, report::Recorder};

/// The wire protocol the virtual users speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// DOQ's HTTP/1.1 JSON API, one keep-alive connection per VU.
    Http,
    /// DOQ's gRPC API, one HTTP/2 connection per VU.
    Grpc,
}

/// How deliveries are acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AckMode {
    /// Dequeue with a lease, then ack by id.
    Explicit,
    /// Dequeue with `ack=true`: the message is deleted as it is delivered.
    Auto,
}

/// `doq bench` arguments.
#[derive(Clone, Debug, clap::Args)]
pub struct LoadArgs {
    /// Protocol.
    #[arg(long, value_enum, default_value = "http")]
    pub protocol: Protocol,
    /// The node: `http://127.0.0.1:8000` (HTTP) or `http://127.0.0.1:10000` (gRPC) by default.
    #[arg(long)]
    pub addr: Option<String>,
    /// Virtual users, each with its own connection.
    #[arg(short = 'u', long, default_value_t = 100)]
    pub vus: usize,
    /// How long the recorded part runs (`10s`, `500ms`, `2m`, or seconds).
    #[arg(short = 'd', long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// How long the VUs loop first without being recorded.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Explicit ack (lease, then ack) or auto ack (delete on delivery).
    #[arg(long, value_enum, default_value = "explicit")]
    pub ack: AckMode,
    /// Messages per enqueue and per dequeue request (1: the single-message routes).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub batch: u16,
    /// Only enqueue: each iteration is one enqueue request of `--batch` messages, nothing is dequeued.
    #[arg(long)]
    pub enqueue_only: bool,
    /// Content bytes per message.
    #[arg(long, default_value_t = 16)]
    pub size: usize,
    /// The queue (created if missing, deleted at the end unless `--keep`).
    #[arg(short = 'q', long, default_value = "doq-bench")]
    pub queue: String,
    /// Keep the queue afterwards.
    #[arg(long)]
    pub keep: bool,
    /// Limit on each request.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Bearer token (`auth.token` of the node).
    #[arg(long)]
    pub token: Option<String>,
    /// A label for the printout and the JSON.
    #[arg(long)]
    pub label: Option<String>,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Parses `10s`, `500ms`, `2m` or a number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or((s, "s"), |i| s.split_at(i));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a duration such as 10s or 500ms"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("`{s}`: use ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{s}`: {e}"))
}

/// Runs the benchmark and prints (and maybe writes) its report.
pub async fn run(args: LoadArgs) -> anyhow::Result<Report> {
    let addr = args.addr.clone().unwrap_or_else(|| {
        match args.protocol {
            Protocol::Http => "http://127.0.0.1:8000",
            Protocol::Grpc => "http://127.0.0.1:10000",
        }
        .to_string()
    });
    let content = "x".repeat(args.size);
    let mut setup = Conn::open(args.protocol, &addr, args.token.as_deref(), args.timeout)
        .await
        .with_context(|| format!("connect to {addr}"))?;
    setup.create_queue(&args.queue).await?;

    let start = Instant::now();
    let record_from = start + args.warmup;
    let end = record_from + args.duration;
    let mut vus = tokio::task::JoinSet::new();
    for _ in 0..args.vus.max(1) {
        let mut conn = Conn::open(args.protocol, &addr, args.token.as_deref(), args.timeout)
            .await
            .with_context(|| format!("connect to {addr}"))?;
        let (queue, content, batch, ack, only) = (
            args.queue.clone(),
            content.clone(),
            args.batch,
            args.ack,
            args.enqueue_only,
        );
        vus.spawn(async move {
            let mut rec = Recorder::new(record_from, end);
            while Instant::now() < end {
                if only {
                    enqueue_only(&mut conn, &mut rec, &queue, &content, batch).await;
                } else {
                    iteration(&mut conn, &mut rec, &queue, &content, batch, ack).await;
                }
            }
            rec
        });
    }
    let mut total = Recorder::new(record_from, end);
    while let Some(rec) = vus.join_next().await {
        total.merge(rec.context("a virtual user failed")?);
    }
    if !args.keep {
        setup.delete_queue(&args.queue).await?;
    }
    let report = total.report(&args, &addr);
    println!("{}", report.text());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("write {}", path.display()))?;
    }
    Ok(report)
}

/// One enqueue request of `batch` messages, timed as both the operation and the iteration.
async fn enqueue_only(conn: &mut Conn, rec: &mut Recorder, queue: &str, content: &str, batch: u16) {
    let t = Instant::now();
    match conn.enqueue(queue, content, batch).await {
        Ok(()) => {
            rec.op(report::Op::Enqueue, t);
            rec.iteration(t, usize::from(batch));
        }
        Err(e) => rec.error(&e),
    }
}

/// One enqueue → dequeue → (ack) round, each request timed.
async fn iteration(
    conn: &mut Conn,
    rec: &mut Recorder,
    queue: &str,
    content: &str,
    batch: u16,
    ack: AckMode,
) {
    let began = Instant::now();
    let t = Instant::now();
    if let Err(e) = conn.enqueue(queue, content, batch).await {
        rec.error(&e);
        return;
    }
    rec.op(report::Op::Enqueue, t);
    let t = Instant::now();
    let taken = match conn.dequeue(queue, batch, ack == AckMode::Auto).await {
        Ok(taken) => taken,
        Err(e) => {
            rec.error(&e);
            return;
        }
    };
    rec.op(report::Op::Dequeue, t);
    if taken.is_empty() {
        // Others took what this VU enqueued; the queue drains on their next rounds.
        rec.empty();
        return;
    }
    if ack == AckMode::Explicit {
        let t = Instant::now();
        if let Err(e) = conn.ack(queue, &taken).await {
            rec.error(&e);
            return;
        }
        rec.op(report::Op::Ack, t);
    }
    rec.iteration(began, taken.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_and_without_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3h").is_err());
    }
}
