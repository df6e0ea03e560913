//! Recording a run: per-operation latencies (microseconds, kept whole and sorted at the end, so the
//! percentiles are exact), counts, errors, and the report as text and JSON.
use std::{collections::BTreeMap, fmt::Write as _};

use serde::Serialize;
use tokio::time::Instant;

use crate::load::{AckMode, LoadArgs, Protocol};

/// A timed request kind.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Op {
    Enqueue,
    Dequeue,
    Ack,
}

/// One VU's (or, merged, the whole run's) measurements inside the recorded window.
#[derive(Debug)]
pub(crate) struct Recorder {
    from: Instant,
    until: Instant,
    ops: [Vec<u32>; 3],
    iterations: Vec<u32>,
    messages: u64,
    empty: u64,
    errors: BTreeMap<String, u64>,
}

impl Recorder {
    /// Records what finishes within `[from, until)`.
    pub(crate) fn new(from: Instant, until: Instant) -> Self {
        Self {
            from,
            until,
            ops: [Vec::new(), Vec::new(), Vec::new()],
            iterations: Vec::new(),
            messages: 0,
            empty: 0,
            errors: BTreeMap::new(),
        }
    }

    fn recording(&self, now: Instant) -> bool {
        now >= self.from && now < self.until
    }

    fn micros(since: Instant, now: Instant) -> u32 {
        u32::try_from(now.duration_since(since).as_micros()).unwrap_or(u32::MAX)
    }

    /// A request of kind `op` that started at `start` succeeded now.
    pub(crate) fn op(&mut self, op: Op, start: Instant) {
        let now = Instant::now();
        if self.recording(now) {
            self.ops[op as usize].push(Self::micros(start, now));
        }
    }

    /// A whole round that started at `start` finished now, moving `messages`.
    pub(crate) fn iteration(&mut self, start: Instant, messages: usize) {
        let now = Instant::now();
        if self.recording(now) {
            self.iterations.push(Self::micros(start, now));
            self.messages += messages as u64;
        }
    }

    /// A dequeue found nothing.
    pub(crate) fn empty(&mut self) {
        if self.recording(Instant::now()) {
            self.empty += 1;
        }
    }

    /// A request failed.
    pub(crate) fn error(&mut self, e: &anyhow::Error) {
        if self.recording(Instant::now()) {
            let mut text = format!("{e:#}");
            text.truncate(160);
            *self.errors.entry(text).or_default() += 1;
        }
    }

    /// Adds another VU's measurements.
    pub(crate) fn merge(&mut self, other: Self) {
        for (mine, theirs) in self.ops.iter_mut().zip(other.ops) {
            mine.extend(theirs);
        }
        self.iterations.extend(other.iterations);
        self.messages += other.messages;
        self.empty += other.empty;
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
    }

    /// The run's report.
    pub(crate) fn report(mut self, args: &LoadArgs, addr: &str) -> Report {
        let secs = args.duration.as_secs_f64();
        #[allow(clippy::cast_precision_loss)] // counts far below 2^52
        let per_s = |n: usize| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        let requests: usize = self.ops.iter().map(Vec::len).sum();
        let [enqueue, dequeue, ack] = &mut self.ops;
        #[allow(clippy::cast_precision_loss)]
        let messages_per_s = if secs > 0.0 {
            self.messages as f64 / secs
        } else {
            0.0
        };
        Report {
            label: args.label.clone(),
            protocol: args.protocol,
            addr: addr.to_string(),
            vus: args.vus,
            duration_s: secs,
            warmup_s: args.warmup.as_secs_f64(),
            ack_mode: args.ack,
            batch: args.batch,
            enqueue_only: args.enqueue_only,
            size: args.size,
            iterations: self.iterations.len() as u64,
            iterations_per_s: per_s(self.iterations.len()),
            messages_per_s,
            requests_per_s: per_s(requests),
            empty_dequeues: self.empty,
            errors: self.errors.values().sum(),
            error_kinds: self.errors,
            enqueue: Latency::of(enqueue),
            dequeue: Latency::of(dequeue),
            ack: Latency::of(ack),
            iteration: Latency::of(&mut self.iterations),
        }
    }
}

/// Latency percentiles of one operation, in microseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub avg_us: f64,
    /// Median.
    pub p50_us: u32,
    /// 99th percentile.
    pub p99_us: u32,
    /// 99.9th percentile.
    pub p999_us: u32,
    /// Slowest.
    pub max_us: u32,
}

impl Latency {
    fn of(samples: &mut [u32]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let at = |q: f64| {
            // Nearest rank; the index stays within the slice.
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
            samples.get(i).copied().unwrap_or_default()
        };
        let sum: u64 = samples.iter().map(|&s| u64::from(s)).sum();
        #[allow(clippy::cast_precision_loss)]
        let avg_us = sum as f64 / samples.len() as f64;
        Self {
            count: samples.len() as u64,
            avg_us,
            p50_us: at(0.50),
            p99_us: at(0.99),
            p999_us: at(0.999),
            max_us: samples.last().copied().unwrap_or_default(),
        }
    }
}

/// What `doq bench` measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// `--label`.
    pub label: Option<String>,
    /// HTTP or gRPC.
    pub protocol: Protocol,
    /// The node.
    pub addr: String,
    /// Virtual users.
    pub vus: usize,
    /// The recorded window, in seconds.
    pub duration_s: f64,
    /// The unrecorded warm-up, in seconds.
    pub warmup_s: f64,
    /// Explicit or auto ack.
    pub ack_mode: AckMode,
    /// Only enqueues were sent (`--enqueue-only`).
    pub enqueue_only: bool,
    /// Messages per enqueue/dequeue request.
    pub batch: u16,
    /// Content bytes per message.
    pub size: usize,
    /// Completed rounds in the window.
    pub iterations: u64,
    /// Completed rounds per second.
    pub iterations_per_s: f64,
    /// Messages acknowledged (explicit) or delivered (auto) per second.
    pub messages_per_s: f64,
    /// Successful requests per second.
    pub requests_per_s: f64,
    /// Dequeues that found the queue empty.
    pub empty_dequeues: u64,
    /// Failed requests.
    pub errors: u64,
    /// Failed requests by message.
    pub error_kinds: BTreeMap<String, u64>,
    /// Enqueue latency.
    pub enqueue: Latency,
    /// Dequeue latency.
    pub dequeue: Latency,
    /// Ack latency (all acks of a round together).
    pub ack: Latency,
    /// Whole-round latency.
    pub iteration: Latency,
}

impl Report {
    /// The report for humans.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let label = self.label.as_deref().unwrap_or("doq bench");
        let _ = writeln!(
            out,
            "{label}: {:?} {} · {} VUs · {:.0} s (+{:.0} s warm-up) · {} · batch {} · {} B",
            self.protocol,
            self.addr,
            self.vus,
            self.duration_s,
            self.warmup_s,
            if self.enqueue_only {
                "enqueue only".to_string()
            } else {
                format!("ack {:?}", self.ack_mode)
            },
            self.batch,
            self.size
        );
        let _ = writeln!(
            out,
            "  {:.0} it/s · {:.0} msgs/s · {:.0} req/s · {} empty dequeues · {} errors",
            self.iterations_per_s,
            self.messages_per_s,
            self.requests_per_s,
            self.empty_dequeues,
            self.errors
        );
        let _ = writeln!(
            out,
            "  {:<9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "µs", "avg", "p50", "p99", "p99.9", "max"
        );
        for (name, l) in [
            ("enqueue", &self.enqueue),
            ("dequeue", &self.dequeue),
            ("ack", &self.ack),
            ("iteration", &self.iteration),
        ] {
            if l.count > 0 {
                let _ = writeln!(
                    out,
                    "  {name:<9} {:>9.0} {:>9} {:>9} {:>9} {:>9}",
                    l.avg_us, l.p50_us, l.p99_us, l.p999_us, l.max_us
                );
            }
        }
        for (e, n) in &self.error_kinds {
            let _ = writeln!(out, "  error ×{n}: {e}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut samples: Vec<u32> = (1..=1000).rev().collect();
        let l = Latency::of(&mut samples);
        assert_eq!(
            (l.count, l.p50_us, l.p99_us, l.p999_us, l.max_us),
            (1000, 500, 990, 999, 1000)
        );
        assert!((l.avg_us - 500.5).abs() < 1e-9);
        assert_eq!(Latency::of(&mut []).count, 0);
    }
}
