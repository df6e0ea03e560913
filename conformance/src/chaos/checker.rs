//! The checker: reads a [`history`](super::history) and counts, per queue, what the contract
//! (docs/semantics.md §1 and §4.4) forbids and what it allows, in the spirit of Jepsen's total-queue
//! checker and RabbitMQ's quorum-queue checker.
//!
//! Every enqueue carries a content unique to the run, so every delivery names the attempt it came
//! from. Client times bracket the server's: a command is stamped (`ts_ms`) after its request was sent
//! and before its answer arrived, so a lease granted by a delivery invoked at `i` and answered at `c`
//! has a deadline in `[i + ack_timeout, c + ack_timeout]` (touch only extends it).
//!
//! - **lost**: an acknowledged enqueue that no ack (ok or unknown) consumed, yet a read after the run
//!   found gone. A message that was delivered but never acked must still be there.
//! - **unexpected**: a delivered or read message whose enqueue was never sent or certainly failed, or
//!   whose content differs from what was enqueued under its id.
//! - **acked then delivered**: a delivery invoked after an ack of the same message had succeeded, or a
//!   read that still finds an acked message.
//! - **lease violations**: two deliveries of one message whose leases certainly overlapped, with no
//!   nack of the first in between: two holders of one lease at once.
//! - **order violations**: a delivery that passed over a message certainly ready ahead of it, by
//!   docs/semantics.md §4.1 (delayed) and §4.2 (within a fair queue's group): see [`order`].
//! - **stamps ahead**: a message id whose `ts_ms` is later than its enqueue's answer: a node's clock
//!   leaked into the replicated state (see [`stamps`]; `clock-jump` must not cause it).
//! - allowed and counted: **duplicated** messages (delivered more than once, after a nack or a lease
//!   expiry, or enqueued twice), **recovered** enqueues (unknown outcome, found later), and
//!   **unresolved** ones (an acknowledged enqueue whose fate the final reads could not settle; the run
//!   is then inconclusive rather than valid).
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use super::history::{Answer, Call, Event, EventKind};

/// Slack between client and server time (the server stamps milliseconds with the wall clock, the
/// harness measures microseconds on its monotonic clock).
const CLOCK_SLACK_US: u64 = 1_000_000;

/// How many example violations the report keeps.
const EXAMPLES: usize = 20;

/// Counts for one queue (or all of them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Enqueues sent.
    pub attempted: u64,
    /// Enqueues answered 200.
    pub acknowledged: u64,
    /// Enqueues that certainly failed.
    pub failed: u64,
    /// Enqueues with an unknown outcome.
    pub unknown: u64,
    /// Acknowledged enqueues seen again (delivered or read) or consumed: the healthy outcome.
    pub ok: u64,
    /// Acknowledged enqueues gone without an ack.
    pub lost: u64,
    /// Messages nobody enqueued (or not with this content).
    pub unexpected: u64,
    /// Enqueues with an unknown outcome that turned out to have been applied.
    pub recovered: u64,
    /// Deliveries (200 answers to a dequeue).
    pub deliveries: u64,
    /// Messages delivered more than once, or created twice by one enqueue.
    pub duplicated: u64,
    /// Redeliveries after a nack of the previous delivery.
    pub redelivered_after_nack: u64,
    /// Redeliveries after the previous lease may have expired.
    pub redelivered_after_expiry: u64,
    /// One enqueue that produced two message ids.
    pub enqueued_twice: u64,
    /// Deliveries (or reads) of a message after its ack succeeded.
    pub acked_then_delivered: u64,
    /// Deliveries while another delivery's lease was certainly live.
    pub lease_violations: u64,
    /// Acknowledged enqueues whose fate is unknown (the final reads failed).
    pub unresolved: u64,
    /// Deliveries whose order could be checked ([`order`]).
    pub order_checked: u64,
    /// Deliveries that passed over a message certainly ready ahead of them ([`order`]).
    pub order_violations: u64,
    /// Acknowledged enqueues stamped later than their answer ([`stamps`]).
    pub stamps_ahead: u64,
    /// Acknowledged enqueues stamped more than a second before they were sent (allowed; [`stamps`]).
    pub stamps_behind: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.attempted += o.attempted;
        self.acknowledged += o.acknowledged;
        self.failed += o.failed;
        self.unknown += o.unknown;
        self.ok += o.ok;
        self.lost += o.lost;
        self.unexpected += o.unexpected;
        self.recovered += o.recovered;
        self.deliveries += o.deliveries;
        self.duplicated += o.duplicated;
        self.redelivered_after_nack += o.redelivered_after_nack;
        self.redelivered_after_expiry += o.redelivered_after_expiry;
        self.enqueued_twice += o.enqueued_twice;
        self.acked_then_delivered += o.acked_then_delivered;
        self.lease_violations += o.lease_violations;
        self.unresolved += o.unresolved;
        self.order_checked += o.order_checked;
        self.order_violations += o.order_violations;
        self.stamps_ahead += o.stamps_ahead;
        self.stamps_behind += o.stamps_behind;
    }

    /// No count that the contract forbids is above zero.
    pub fn valid(&self) -> bool {
        self.lost == 0
            && self.unexpected == 0
            && self.acked_then_delivered == 0
            && self.lease_violations == 0
            && self.order_violations == 0
            && self.stamps_ahead == 0
    }
}

/// The checker's verdict over one history.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// Counts per queue, by name.
    pub queues: BTreeMap<String, Counts>,
    /// The sum over all queues.
    pub total: Counts,
    /// Operations that completed per kind (`enqueue ok`, `ack info`, …), for the record.
    pub ops: BTreeMap<String, u64>,
    /// Faults and phases the nemesis recorded.
    pub nemesis_events: u64,
    /// Up to [`EXAMPLES`] violations, each with the times and processes involved.
    pub examples: Vec<String>,
}

impl Report {
    /// Nothing the contract forbids happened.
    pub fn valid(&self) -> bool {
        self.total.valid()
    }

    /// Valid, and every acknowledged enqueue's fate is known.
    pub fn conclusive(&self) -> bool {
        self.total.unresolved == 0
    }

    fn example(&mut self, line: String) {
        if self.examples.len() < EXAMPLES {
            self.examples.push(line);
        }
    }
}

/// How a call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Ok(Answer),
    Fail,
    Info,
}

/// An invocation and its completion.
#[derive(Clone, Debug)]
struct Op {
    process: u32,
    call: Call,
    invoked: u64,
    /// `u64::MAX` when the history ends before the call completed.
    completed: u64,
    outcome: Outcome,
}

/// Pairs every invocation with its process's next completion. An invocation without one is an
/// unknown outcome that may take effect at any later time.
fn pair(events: &[Event]) -> Vec<Op> {
    let mut open: HashMap<u32, (Call, u64)> = HashMap::new();
    let mut ops = Vec::new();
    for e in events {
        let outcome = match &e.kind {
            EventKind::Invoke { call } => {
                if let Some((call, invoked)) = open.insert(e.process, (call.clone(), e.time_us)) {
                    // A process invoked twice without a completion: keep the first as unknown.
                    ops.push(Op {
                        process: e.process,
                        call,
                        invoked,
                        completed: u64::MAX,
                        outcome: Outcome::Info,
                    });
                }
                continue;
            }
            EventKind::Ok { answer } => Outcome::Ok(answer.clone()),
            EventKind::Fail { .. } => Outcome::Fail,
            EventKind::Info { .. } => Outcome::Info,
            EventKind::Meta(_) | EventKind::Nemesis { .. } => continue,
        };
        if let Some((call, invoked)) = open.remove(&e.process) {
            ops.push(Op {
                process: e.process,
                call,
                invoked,
                completed: e.time_us,
                outcome,
            });
        }
    }
    let mut rest: Vec<_> = open.into_iter().collect();
    rest.sort_by_key(|(p, (_, t))| (*t, *p));
    for (process, (call, invoked)) in rest {
        ops.push(Op {
            process,
            call,
            invoked,
            completed: u64::MAX,
            outcome: Outcome::Info,
        });
    }
    ops
}

/// One delivery of a message.
#[derive(Clone, Debug)]
struct Delivery {
    op: usize,
    id: String,
    receipt: String,
    deliveries: u64,
}

/// What the history says about one content (one enqueue attempt).
#[derive(Debug, Default)]
struct Msg {
    /// The enqueue: outcome and the id it answered.
    enqueue: Option<(Outcome, Option<String>, u64)>,
    deliveries: Vec<Delivery>,
}

/// Checks `events` and returns the counts per queue.
#[allow(
    clippy::too_many_lines,
    reason = "one pass per rule, in the order the module doc lists them"
)]
pub fn check(events: &[Event]) -> Report {
    let mut report = Report::default();
    let ack_timeouts: HashMap<String, u64> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Meta(m) => Some(m),
            _ => None,
        })
        .flat_map(|m| m.queues.iter().map(|q| (q.name.clone(), q.ack_timeout_ms)))
        .collect();
    let started_unix_ms = events.iter().find_map(|e| match &e.kind {
        EventKind::Meta(m) => Some(m.started_unix_ms),
        _ => None,
    });
    report.nemesis_events = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Nemesis { .. }))
        .count() as u64;
    let ops = pair(events);
    for op in &ops {
        let how = match op.outcome {
            Outcome::Ok(_) => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
        };
        *report
            .ops
            .entry(format!("{} {how}", op.call.name()))
            .or_default() += 1;
    }

    // Index the history per queue: contents, ids, and the ack/nack/read ops per id and receipt.
    let mut msgs: BTreeMap<(String, String), Msg> = BTreeMap::new();
    let mut content_of: HashMap<(String, String), String> = HashMap::new();
    let mut acks: HashMap<(String, String), Vec<usize>> = HashMap::new();
    let mut nacks: HashMap<(String, String), Vec<usize>> = HashMap::new();
    let mut reads: HashMap<(String, String), Vec<usize>> = HashMap::new();
    let mut unexpected: Vec<(String, usize, String)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let q = op.call.queue().to_owned();
        let counts = report.queues.entry(q.clone()).or_default();
        match (&op.call, &op.outcome) {
            (Call::Enqueue { content, .. }, outcome) => {
                counts.attempted += 1;
                let id = match outcome {
                    Outcome::Ok(Answer::Enqueued { id }) => {
                        counts.acknowledged += 1;
                        content_of.insert((q.clone(), id.clone()), content.clone());
                        Some(id.clone())
                    }
                    Outcome::Ok(_) | Outcome::Info => {
                        counts.unknown += 1;
                        None
                    }
                    Outcome::Fail => {
                        counts.failed += 1;
                        None
                    }
                };
                msgs.entry((q, content.clone())).or_default().enqueue =
                    Some((outcome.clone(), id, op.completed));
            }
            (
                Call::Dequeue { .. },
                Outcome::Ok(Answer::Delivered {
                    id,
                    content,
                    receipt,
                    deliveries,
                }),
            ) => {
                counts.deliveries += 1;
                msgs.entry((q, content.clone()))
                    .or_default()
                    .deliveries
                    .push(Delivery {
                        op: i,
                        id: id.clone(),
                        receipt: receipt.clone(),
                        deliveries: *deliveries,
                    });
            }
            (Call::Ack { id, .. }, _) => acks.entry((q, id.clone())).or_default().push(i),
            (Call::Nack { receipt, .. }, _) => {
                nacks.entry((q, receipt.clone())).or_default().push(i);
            }
            (Call::Read { id, .. }, _) => reads.entry((q, id.clone())).or_default().push(i),
            _ => {}
        }
    }

    // Deliveries name their enqueue; an id seen with another content is a second message.
    for ((q, content), m) in &mut msgs {
        let Some(first) = m.deliveries.first().map(|d| d.op) else {
            continue;
        };
        let counts = report.queues.entry(q.clone()).or_default();
        match &m.enqueue {
            None | Some((Outcome::Fail, _, _)) => {
                counts.unexpected += 1;
                unexpected.push((q.clone(), first, content.clone()));
                continue;
            }
            Some((Outcome::Ok(_) | Outcome::Info, None, _)) => counts.recovered += 1,
            Some((_, Some(_), _)) => {}
        }
        let ids: BTreeSet<&str> = m.deliveries.iter().map(|d| d.id.as_str()).collect();
        let enqueued = m.enqueue.as_ref().and_then(|(_, id, _)| id.as_deref());
        let extra_ids = ids.iter().filter(|id| Some(**id) != enqueued).count()
            + usize::from(enqueued.is_some())
            - 1;
        counts.enqueued_twice += extra_ids as u64;
        for d in &m.deliveries {
            content_of
                .entry((q.clone(), d.id.clone()))
                .or_insert_with(|| content.clone());
        }
    }
    for (q, op, content) in unexpected {
        let o = &ops[op];
        report.example(format!(
            "unexpected: {q}: process {} dequeued {content:?} at {} µs, which was never (successfully) enqueued",
            o.process, o.invoked
        ));
    }

    // Per message: acked-then-delivered, redeliveries and lease overlaps, then its fate.
    for ((q, content), m) in &msgs {
        let ack_timeout = ack_timeouts.get(q).copied().unwrap_or(0) * 1000;
        let ids: BTreeSet<String> = m
            .deliveries
            .iter()
            .map(|d| d.id.clone())
            .chain(m.enqueue.as_ref().and_then(|(_, id, _)| id.clone()))
            .collect();
        let id_ops = |index: &HashMap<(String, String), Vec<usize>>| -> Vec<usize> {
            ids.iter()
                .flat_map(|id| {
                    index
                        .get(&(q.clone(), id.clone()))
                        .cloned()
                        .unwrap_or_default()
                })
                .collect()
        };
        let my_acks = id_ops(&acks);
        let my_reads = id_ops(&reads);
        // When each id's first successful ack completed.
        let mut acked_at: HashMap<&str, u64> = HashMap::new();
        for a in &my_acks {
            if let (Call::Ack { id, .. }, Outcome::Ok(_)) = (&ops[*a].call, &ops[*a].outcome) {
                let t = acked_at.entry(id.as_str()).or_insert(u64::MAX);
                *t = (*t).min(ops[*a].completed);
            }
        }
        let mut examples = Vec::new();
        let counts = report.queues.entry(q.clone()).or_default();

        for d in &m.deliveries {
            if let Some(t) = acked_at
                .get(d.id.as_str())
                .filter(|t| ops[d.op].invoked > **t)
            {
                counts.acked_then_delivered += 1;
                examples.push(format!(
                    "acked then delivered: {q}: {content:?} (id {}) was acked at {t} µs and delivered again to process {} at {} µs",
                    d.id, ops[d.op].process, ops[d.op].invoked
                ));
            }
        }
        for r in &my_reads {
            let (Call::Read { id, .. }, Outcome::Ok(Answer::Found { .. })) =
                (&ops[*r].call, &ops[*r].outcome)
            else {
                continue;
            };
            if let Some(t) = acked_at.get(id.as_str()).filter(|t| ops[*r].invoked > **t) {
                counts.acked_then_delivered += 1;
                examples.push(format!(
                    "acked then still present: {q}: {content:?} (id {id}) was acked at {t} µs and read back at {} µs",
                    ops[*r].invoked
                ));
            }
        }

        if m.deliveries.len() > 1 {
            counts.duplicated += 1;
        }
        let mut ordered = m.deliveries.clone();
        ordered.sort_by_key(|d| (d.deliveries, ops[d.op].completed));
        for pair in ordered.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let (oa, ob) = (&ops[a.op], &ops[b.op]);
            if a.id != b.id {
                continue; // two messages (an enqueue applied twice): counted above
            }
            // `a` came first (the server's delivery count says so): its lease is released only
            // by a nack of its receipt (an unknown outcome counts) sent before `b` was answered.
            let nacked = nacks
                .get(&(q.clone(), a.receipt.clone()))
                .into_iter()
                .flatten()
                .any(|n| {
                    !matches!(ops[*n].outcome, Outcome::Fail) && ops[*n].invoked < ob.completed
                });
            // `b` was stamped by `ob.completed` at the latest; `a`'s lease lives at least until
            // `oa.invoked + ack_timeout` (a touch only extends it).
            let span = ob.completed.saturating_sub(oa.invoked);
            if nacked {
                counts.redelivered_after_nack += 1;
            } else if span.saturating_add(CLOCK_SLACK_US) >= ack_timeout {
                counts.redelivered_after_expiry += 1;
            } else {
                counts.lease_violations += 1;
                examples.push(format!(
                    "lease violation: {q}: {content:?} (id {}) delivered to process {} [{}..{} µs] and to process {} [{}..{} µs] within the {} ms ack timeout, without a nack",
                    a.id, oa.process, oa.invoked, oa.completed, ob.process, ob.invoked, ob.completed, ack_timeout / 1000
                ));
            }
        }

        // Reads that found the message must find its content.
        for r in &my_reads {
            if let Outcome::Ok(Answer::Found { content: found }) = &ops[*r].outcome {
                if found != content {
                    counts.unexpected += 1;
                    examples.push(format!(
                        "unexpected: {q}: read {found:?} where {content:?} was enqueued"
                    ));
                }
            }
        }

        // The fate of an acknowledged enqueue.
        let Some((Outcome::Ok(_), Some(_), enqueued_at)) = &m.enqueue else {
            for e in examples {
                report.example(e);
            }
            continue;
        };
        let consumed = my_acks
            .iter()
            .any(|a| !matches!(ops[*a].outcome, Outcome::Fail));
        let read_after = |want_found: bool| {
            my_reads.iter().any(|r| {
                ops[*r].invoked > *enqueued_at
                    && match &ops[*r].outcome {
                        Outcome::Ok(Answer::Found { .. }) => want_found,
                        Outcome::Ok(Answer::NotFound) => !want_found,
                        _ => false,
                    }
            })
        };
        if consumed {
            counts.ok += 1;
        } else if read_after(false) {
            counts.lost += 1;
            examples.push(format!(
                "lost: {q}: {content:?} was acknowledged at {enqueued_at} µs, never acked by a consumer, and is gone ({} deliveries seen)",
                m.deliveries.len()
            ));
        } else if read_after(true) {
            counts.ok += 1;
        } else {
            counts.unresolved += 1;
        }
        for e in examples {
            report.example(e);
        }
    }

    // Ids read or delivered that no content maps to cannot happen (every delivery carries its
    // content), but reads of ids nobody enqueued can: they are unexpected if found.
    for ((q, id), rs) in &reads {
        if content_of.contains_key(&(q.clone(), id.clone())) {
            continue;
        }
        for r in rs {
            if matches!(ops[*r].outcome, Outcome::Ok(Answer::Found { .. })) {
                report.queues.entry(q.clone()).or_default().unexpected += 1;
                report.example(format!(
                    "unexpected: {q}: read found id {id}, which no enqueue answered"
                ));
            }
        }
    }

    // The ack timeouts in µs, as the lease check uses them.
    let ack_timeouts_us: HashMap<String, u64> = ack_timeouts
        .iter()
        .map(|(q, ms)| (q.clone(), ms * 1000))
        .collect();
    order::check(&ops, &ack_timeouts_us, &mut report);
    if let Some(started) = started_unix_ms {
        stamps::check(&ops, started, &mut report);
    }

    let mut total = Counts::default();
    for c in report.queues.values() {
        total.add(c);
    }
    report.total = total;
    report
}

mod order;
mod stamps;
#[cfg(test)]
mod tests;
