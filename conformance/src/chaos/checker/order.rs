//! The ordering check: what docs/semantics.md §4 promises about which message a dequeue picks. A
//! delayed queue hands out the ready message with the least `(priority, id)` (§4.1; the workload's
//! priorities are all due); a round-robin fair queue picks a group by its cursor, but within the
//! group the least `(priority, id)` (§4.2). So a delivery of `m` is out of order when another message
//! `x` of the same queue (same group, for a fair queue) with a smaller `(priority, id)` was certainly
//! ready for the whole time the dequeue was in flight:
//!
//! - `x`'s enqueue was acknowledged before the dequeue was sent, and
//! - no dequeue had delivered `x` yet: none that answered with it was sent before this one answered
//!   (a nacked or expired message is ready again, but when is less sure, so only never-delivered
//!   messages count), and
//! - no dequeue of the queue with an unknown outcome was sent within `ack_timeout` + [`HIDDEN_MS`]
//!   before this one answered: it may have leased `x` without anyone seeing it.
//!
//! Deliveries that the last rule excludes are not checked; the report counts those that were.
use std::collections::{BTreeSet, HashMap};

use super::{Op, Outcome, Report};
use crate::chaos::{
    history::{Answer, Call},
    workload,
};

/// How long after it was sent an unknown-outcome dequeue may still take effect, beyond the lease it
/// would grant: a request stuck in a partitioned leader's log is applied or dropped once a new
/// leader commits, within a fault's length.
const HIDDEN_MS: u64 = 30_000;

/// The order of a message among ready ones: `(priority, id)`.
type Key = (u64, u64);

/// A message that may be ready ahead of a delivery.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    /// When its enqueue was acknowledged (µs).
    ready_from: u64,
    key: Key,
    /// When the first dequeue that delivered it was sent (µs), `u64::MAX` if none did.
    first_taken: u64,
}

/// One delivery to check.
#[derive(Clone, Debug)]
struct Taken {
    invoked: u64,
    completed: u64,
    key: Key,
    process: u32,
    content: String,
}

/// Checks the order of every delivery in `ops` and adds the counts to `report`.
pub(super) fn check(ops: &[Op], ack_timeouts: &HashMap<String, u64>, report: &mut Report) {
    // Per queue: enqueued contents with their id and acknowledgement time.
    let mut enqueued: HashMap<&str, HashMap<&str, (u64, u64)>> = HashMap::new();
    // Per (queue, id): the first time a delivery of it was sent.
    let mut first_taken: HashMap<(&str, u64), u64> = HashMap::new();
    // Per queue: when unknown-outcome dequeues were sent.
    let mut hidden: HashMap<&str, Vec<u64>> = HashMap::new();
    let mut taken: HashMap<(&str, String), Vec<Taken>> = HashMap::new();
    for op in ops {
        let q = op.call.queue();
        match (&op.call, &op.outcome) {
            (Call::Enqueue { content, .. }, Outcome::Ok(Answer::Enqueued { id })) => {
                if let Ok(id) = id.parse::<u64>() {
                    enqueued
                        .entry(q)
                        .or_default()
                        .insert(content, (id, op.completed));
                }
            }
            (Call::Dequeue { .. }, Outcome::Ok(Answer::Delivered { id, content, .. })) => {
                let Ok(id) = id.parse::<u64>() else { continue };
                let first = first_taken.entry((q, id)).or_insert(op.invoked);
                *first = (*first).min(op.invoked);
                taken.entry((q, lane(q, content))).or_default().push(Taken {
                    invoked: op.invoked,
                    completed: op.completed,
                    key: (workload::priority(content), id),
                    process: op.process,
                    content: content.clone(),
                });
            }
            (Call::Dequeue { .. }, Outcome::Info) => hidden.entry(q).or_default().push(op.invoked),
            _ => {}
        }
    }
    for times in hidden.values_mut() {
        times.sort_unstable();
    }
    let mut lanes: Vec<_> = taken.into_iter().collect();
    lanes.sort_by(|a, b| a.0.cmp(&b.0));
    for ((q, lane_name), mut ds) in lanes {
        let window = ack_timeouts.get(q).copied().unwrap_or(0) + HIDDEN_MS * 1000;
        let mut cands: Vec<Candidate> = enqueued
            .get(q)
            .into_iter()
            .flatten()
            .filter(|(content, _)| lane(q, content) == lane_name)
            .map(|(content, (id, at))| Candidate {
                ready_from: *at,
                key: (workload::priority(content), *id),
                first_taken: first_taken.get(&(q, *id)).copied().unwrap_or(u64::MAX),
            })
            .collect();
        cands.sort_by_key(|c| (c.ready_from, c.key));
        ds.sort_by_key(|d| (d.invoked, d.key));
        let no_hidden = Vec::new();
        let hidden = hidden.get(q).unwrap_or(&no_hidden);
        // Candidates whose enqueue was acknowledged before the current delivery was sent, ordered
        // by key; those taken before it was sent are dropped for good (later deliveries are sent
        // later still).
        let mut ready: BTreeSet<(Key, u64)> = BTreeSet::new();
        let mut next = 0;
        let counts = report.queues.entry(q.to_owned()).or_default();
        let mut examples = Vec::new();
        for d in &ds {
            while next < cands.len() && cands[next].ready_from < d.invoked {
                ready.insert((cands[next].key, cands[next].first_taken));
                next += 1;
            }
            let since = d.completed.saturating_sub(window);
            let first_hidden = hidden.partition_point(|t| *t < since);
            if hidden.get(first_hidden).is_some_and(|t| *t <= d.completed) {
                continue;
            }
            counts.order_checked += 1;
            let mut gone = Vec::new();
            let mut ahead = None;
            for &(key, first) in &ready {
                if key >= d.key {
                    break;
                }
                if first <= d.invoked {
                    gone.push((key, first));
                } else if first > d.completed {
                    ahead = Some(key);
                    break;
                }
            }
            for g in gone {
                ready.remove(&g);
            }
            if let Some((prio, id)) = ahead {
                counts.order_violations += 1;
                examples.push(format!(
                    "order: {q}{}: process {} got {:?} (priority {}, id {}) in [{}..{} µs] while id {id} (priority {prio}) was ready ahead of it",
                    if lane_name.is_empty() { String::new() } else { format!(" group {lane_name}") },
                    d.process, d.content, d.key.0, d.key.1, d.invoked, d.completed
                ));
            }
        }
        for e in examples {
            report.example(e);
        }
    }
}

/// The part of a queue its order is promised within: the whole queue for a delayed queue (`""`),
/// the message's group for a fair one.
fn lane(queue: &str, content: &str) -> String {
    if workload::is_fair(queue) {
        workload::group(content)
    } else {
        String::new()
    }
}
