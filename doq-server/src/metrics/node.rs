//! Series computed at scrape time from the node's state, in a registry made for that scrape: per-queue
//! gauges and counters (DOQ's names plus ours), Raft state, forwarded writes and build info. A queue that
//! was deleted is not in the engine, so its series are simply not rendered any more.
use doq_api::QueueStats;
use doq_consensus::{ClusterStatus, Consensus, Role};
use prometheus::{proto::MetricFamily, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};
use tracing::debug;

use crate::waiters::Waiters;

/// Builds and gathers the scrape-time families of `consensus`'s node.
pub(super) async fn gather(
    consensus: &dyn Consensus,
    waiters: &Waiters,
    window: u32,
    backend: &str,
) -> prometheus::Result<Vec<MetricFamily>> {
    let registry = Registry::new();
    // A node whose engine cannot be read (a failed commit being repaired) still serves the other series.
    match consensus.view().list(window).await {
        Ok(queues) => queue_series(&registry, &queues, waiters)?,
        Err(e) => debug!(error = %e, "queue series left out of this scrape"),
    }
    raft_series(&registry, &consensus.status())?;
    let build = IntGaugeVec::new(
        Opts::new("doq_build_info", "Build of this doq process; always 1"),
        &["version", "backend"],
    )?;
    build
        .with_label_values(&[env!("CARGO_PKG_VERSION"), backend])
        .set(1);
    registry.register(Box::new(build))?;
    Ok(registry.gather())
}

fn gauge_vec(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntGaugeVec> {
    let g = IntGaugeVec::new(Opts::new(name, help), &["queue_name"])?;
    registry.register(Box::new(g.clone()))?;
    Ok(g)
}

fn counter_vec(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), &["queue_name"])?;
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn queue_series(
    registry: &Registry,
    queues: &[QueueStats],
    waiters: &Waiters,
) -> prometheus::Result<()> {
    let messages = gauge_vec(
        registry,
        "doq_queues_messages",
        "Messages stored (ready + unacked)",
    )?;
    let unacked = gauge_vec(
        registry,
        "doq_queues_unacked_messages",
        "Messages under a live lease",
    )?;
    let ready = gauge_vec(
        registry,
        "doq_queues_ready_messages",
        "Messages not under a live lease",
    )?;
    let delayed = gauge_vec(
        registry,
        "doq_queues_delayed_messages",
        "Ready messages whose priority is still in the future",
    )?;
    let parked = gauge_vec(
        registry,
        "doq_long_poll_waiters",
        "Dequeuers parked waiting for a deliverable message",
    )?;
    let enqueued = counter_vec(
        registry,
        "doq_queues_enqueue_total",
        "Messages enqueued, counted at apply",
    )?;
    let dequeued = counter_vec(
        registry,
        "doq_queues_dequeue_total",
        "Messages delivered, counted at apply",
    )?;
    let acked = counter_vec(registry, "doq_queues_ack_total", "Leases acked")?;
    let nacked = counter_vec(registry, "doq_queues_nack_total", "Leases nacked")?;
    let dead_lettered = counter_vec(
        registry,
        "doq_queues_dead_lettered_total",
        "Messages moved to the dead-letter queue",
    )?;
    let redelivered = counter_vec(
        registry,
        "doq_queues_redelivered_total",
        "Deliveries of messages delivered before",
    )?;
    let dl_failures = counter_vec(
        registry,
        "doq_queues_dead_letter_failures_total",
        "Messages past max_deliveries delivered normally because the dead-letter queue is gone",
    )?;
    let parked_now = waiters.by_queue();
    for q in queues {
        let label = [q.name.as_str()];
        messages.with_label_values(&label).set(as_i64(q.total));
        unacked.with_label_values(&label).set(as_i64(q.unacked));
        ready.with_label_values(&label).set(as_i64(q.ready));
        delayed.with_label_values(&label).set(as_i64(q.delayed));
        let waiting = parked_now.get(&q.name).copied().unwrap_or(0);
        parked
            .with_label_values(&label)
            .set(i64::try_from(waiting).unwrap_or(i64::MAX));
        let t = q.totals;
        enqueued.with_label_values(&label).inc_by(t.enqueued);
        dequeued.with_label_values(&label).inc_by(t.dequeued);
        acked.with_label_values(&label).inc_by(t.acked);
        nacked.with_label_values(&label).inc_by(t.nacked);
        dead_lettered
            .with_label_values(&label)
            .inc_by(q.dead_lettered);
        redelivered.with_label_values(&label).inc_by(t.redelivered);
        dl_failures
            .with_label_values(&label)
            .inc_by(t.dead_letter_failures);
    }
    Ok(())
}

fn raft_series(registry: &Registry, status: &ClusterStatus) -> prometheus::Result<()> {
    let gauge = |name: &str, help: &str, value: u64| -> prometheus::Result<()> {
        let g = IntGauge::new(name, help)?;
        g.set(as_i64(value));
        registry.register(Box::new(g))
    };
    gauge(
        "doq_raft_term",
        "Current Raft term (0 in single mode)",
        status.term,
    )?;
    gauge(
        "doq_raft_last_log_index",
        "Last log index of this node",
        status.last_log_index,
    )?;
    gauge(
        "doq_raft_commit_index",
        "Highest index this node knows committed",
        status.commit_index,
    )?;
    gauge(
        "doq_raft_last_applied_index",
        "Highest index applied to the engine and store",
        status.last_applied,
    )?;
    gauge(
        "doq_raft_apply_lag",
        "Commit index minus applied index",
        status.commit_index.saturating_sub(status.last_applied),
    )?;
    gauge(
        "doq_raft_is_leader",
        "1 when this node leads",
        u64::from(status.role == Role::Leader),
    )?;
    let members = IntGaugeVec::new(
        Opts::new("doq_raft_members", "Cluster members by suffrage"),
        &["suffrage"],
    )?;
    let voters = status.members.iter().filter(|m| m.voter).count();
    let nonvoters = status.members.len() - voters;
    for (suffrage, n) in [("voter", voters), ("nonvoter", nonvoters)] {
        members
            .with_label_values(&[suffrage])
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    registry.register(Box::new(members))?;
    let forwarded = IntCounterVec::new(
        Opts::new(
            "doq_raft_forwarded_requests_total",
            "Writes this node forwarded to its leader, by outcome",
        ),
        &["result"],
    )?;
    forwarded
        .with_label_values(&["ok"])
        .inc_by(status.forwarded.ok);
    forwarded
        .with_label_values(&["error"])
        .inc_by(status.forwarded.failed);
    registry.register(Box::new(forwarded))?;
    Ok(())
}
