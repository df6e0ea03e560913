//! The clock check. Every write is stamped with the leader's `ts_ms`, and a message id carries the
//! stamp of its enqueue: `id >> 22` is `ts_ms` minus DOQ's epoch (docs/semantics.md §1.2). All nodes
//! of a run share the host's clock, so a stamp from the future (later than the enqueue's answer,
//! beyond [`SLACK_MS`]) means a node's own clock leaked into the replicated state: what `clock-jump`
//! must not cause. Stamps behind real time are allowed (a leader whose clock went back keeps
//! stamping the last applied `ts_ms`: time stands still rather than going back) and only counted.
use super::{Op, Outcome, Report};
use crate::chaos::history::{Answer, Call};

/// DOQ's snowflake epoch, Unix milliseconds.
pub(super) const EPOCH_MS: u64 = 1_288_834_974_657;
/// Allowed difference between a stamp and the harness's clock.
const SLACK_MS: u64 = 1_000;

/// The `ts_ms` an id was made from.
pub(super) fn stamp_of(id: u64) -> u64 {
    (id >> 22) + EPOCH_MS
}

/// Compares each acknowledged enqueue's stamp with when it was sent and answered (harness time,
/// `started_unix_ms` plus the event's microseconds), and adds the counts to `report`.
pub(super) fn check(ops: &[Op], started_unix_ms: u64, report: &mut Report) {
    for op in ops {
        let (Call::Enqueue { queue, content }, Outcome::Ok(Answer::Enqueued { id })) =
            (&op.call, &op.outcome)
        else {
            continue;
        };
        let Ok(id) = id.parse::<u64>() else { continue };
        let stamp = stamp_of(id);
        let sent = started_unix_ms + op.invoked / 1000;
        let answered = started_unix_ms + op.completed / 1000;
        let counts = report.queues.entry(queue.clone()).or_default();
        if stamp > answered + SLACK_MS {
            counts.stamps_ahead += 1;
            let line = format!(
                "clock: {queue}: {content:?} (id {id}) is stamped {} ms after its enqueue was answered",
                stamp - answered
            );
            report.example(line);
        } else if stamp + SLACK_MS < sent {
            counts.stamps_behind += 1;
        }
    }
}
