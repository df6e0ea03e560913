//! The checker on hand-made histories: each rule must fire on the anomaly it names, and stay quiet
//! on what the contract allows.
use super::*;
use crate::chaos::history::{Meta, QueueMeta};

const Q: &str = "q";
/// The queue's ack timeout in the hand-made histories: 60 s.
const ACK_TIMEOUT_MS: u64 = 60_000;
const SEC: u64 = 1_000_000;

/// Builds a history; times are given in microseconds.
struct H(Vec<Event>);

impl H {
    fn new() -> Self {
        Self(vec![Event {
            time_us: 0,
            process: super::super::history::NEMESIS,
            node: None,
            kind: EventKind::Meta(Meta {
                // The run starts at DOQ's epoch, so the small ids below carry stamps from its start.
                started_unix_ms: stamps::EPOCH_MS,
                seed: 0,
                backend: "memory".into(),
                queues: vec![QueueMeta {
                    name: Q.into(),
                    ack_timeout_ms: ACK_TIMEOUT_MS,
                }],
            }),
        }])
    }

    fn push(&mut self, t: u64, p: u32, kind: EventKind) -> &mut Self {
        self.0.push(Event {
            time_us: t,
            process: p,
            node: Some(0),
            kind,
        });
        self
    }

    fn call(&mut self, t: u64, p: u32, call: Call, done: u64, outcome: EventKind) -> &mut Self {
        self.push(t, p, EventKind::Invoke { call })
            .push(done, p, outcome)
    }

    fn enqueue(&mut self, t: u64, p: u32, content: &str, id: Option<&str>) -> &mut Self {
        let outcome = match id {
            Some(id) => ok(Answer::Enqueued { id: id.into() }),
            None => info(),
        };
        self.call(
            t,
            p,
            Call::Enqueue {
                queue: Q.into(),
                content: content.into(),
            },
            t + 1000,
            outcome,
        )
    }

    fn enqueue_failed(&mut self, t: u64, p: u32, content: &str) -> &mut Self {
        self.call(
            t,
            p,
            Call::Enqueue {
                queue: Q.into(),
                content: content.into(),
            },
            t + 1000,
            EventKind::Fail { why: "400".into() },
        )
    }

    fn deliver(
        &mut self,
        t: u64,
        p: u32,
        id: &str,
        content: &str,
        receipt: &str,
        n: u64,
    ) -> &mut Self {
        self.call(
            t,
            p,
            Call::Dequeue { queue: Q.into() },
            t + 1000,
            ok(Answer::Delivered {
                id: id.into(),
                content: content.into(),
                receipt: receipt.into(),
                deliveries: n,
            }),
        )
    }

    fn ack(&mut self, t: u64, p: u32, id: &str, receipt: &str, outcome: EventKind) -> &mut Self {
        self.call(
            t,
            p,
            Call::Ack {
                queue: Q.into(),
                id: id.into(),
                receipt: receipt.into(),
            },
            t + 1000,
            outcome,
        )
    }

    fn nack(&mut self, t: u64, p: u32, id: &str, receipt: &str) -> &mut Self {
        self.call(
            t,
            p,
            Call::Nack {
                queue: Q.into(),
                id: id.into(),
                receipt: receipt.into(),
            },
            t + 1000,
            ok(Answer::Done),
        )
    }

    fn read(&mut self, t: u64, id: &str, found: Option<&str>) -> &mut Self {
        let answer = match found {
            Some(c) => Answer::Found { content: c.into() },
            None => Answer::NotFound,
        };
        self.call(
            t,
            99,
            Call::Read {
                queue: Q.into(),
                id: id.into(),
            },
            t + 1000,
            ok(answer),
        )
    }

    fn check(&self) -> Counts {
        let report = check(&self.0);
        for e in &report.examples {
            eprintln!("{e}");
        }
        report.total
    }
}

fn ok(answer: Answer) -> EventKind {
    EventKind::Ok { answer }
}

fn info() -> EventKind {
    EventKind::Info {
        why: "timeout".into(),
    }
}

fn failed() -> EventKind {
    EventKind::Fail { why: "400".into() }
}

#[test]
fn a_clean_history_is_valid() {
    let c = H::new()
        .enqueue(0, 1, "a", Some("1"))
        .enqueue(0, 2, "b", Some("2"))
        .deliver(SEC, 1, "1", "a", "r1", 1)
        .ack(2 * SEC, 1, "1", "r1", ok(Answer::Done))
        .read(10 * SEC, "1", None)
        .read(10 * SEC, "2", Some("b"))
        .check();
    assert!(c.valid(), "{c:?}");
    assert_eq!((c.attempted, c.acknowledged, c.ok, c.lost), (2, 2, 2, 0));
    assert_eq!((c.duplicated, c.unresolved), (0, 0));
}

#[test]
fn an_acknowledged_enqueue_that_vanished_is_lost() {
    let c = H::new()
        .enqueue(0, 1, "a", Some("1"))
        .read(10 * SEC, "1", None)
        .check();
    assert_eq!(c.lost, 1, "{c:?}");
    assert!(!c.valid());
}

#[test]
fn a_delivered_message_whose_ack_failed_must_stay() {
    let c = H::new()
        .enqueue(0, 1, "a", Some("1"))
        .deliver(SEC, 1, "1", "a", "r1", 1)
        .ack(2 * SEC, 1, "1", "r1", failed())
        .read(10 * SEC, "1", None)
        .check();
    assert_eq!(c.lost, 1, "{c:?}");
}

#[test]
fn an_ack_with_an_unknown_outcome_may_have_consumed_the_message() {
    let c = H::new()
        .enqueue(0, 1, "a", Some("1"))
        .deliver(SEC, 1, "1", "a", "r1", 1)
        .ack(2 * SEC, 1, "1", "r1", info())
        .read(10 * SEC, "1", None)
        .check();
    assert!(c.valid(), "{c:?}");
    assert_eq!((c.lost, c.ok), (0, 1));
}

#[test]
fn a_message_nobody_enqueued_is_unexpected() {
    let c = H::new()
        .enqueue(0, 1, "a", Some("1"))
        .deliver(SEC, 1, "9", "never-sent", "r9", 1)
        .read(10 * SEC, "1", Some("a"))
        .check();
    assert_eq!(c.unexpected, 1, "{c:?}");
    assert!(!c.valid());
}

#[test]
fn a_message_whose_enqueue_certainly_failed_is_unexpected() {
    let c = H::new()
        .enqueue_failed(0, 1, "a")
        .deliver(SEC, 1, "1", "a", "r1", 1)
        .check();
    assert_eq!((c.unexpected, c.failed), (1, 1), "{c:?}");
}

#[test]
fn a_read_that_finds_other_content_is_unexpected() {
    let c = H::new()
        .enqueue(0, 1, "a", Some("1"))
        .read(10 * SEC, "1", Some("b"))
        .check();
    assert_eq!(c.unexpected, 1, "{c:?}");
}

#[test]
fn an_unknown_enqueue_found_later_is_recovered_not_unexpected() {
    let c = H::new()
        .enqueue(0, 1, "a", None)
        .deliver(SEC, 2, "1", "a", "r1", 1)
        .ack(2 * SEC, 2, "1", "r1", ok(Answer::Done))
        .check();
    assert!(c.valid(), "{c:?}");
    assert_eq!((c.recovered, c.unknown, c.acknowledged), (1, 1, 0));
}

#[test]
fn a_delivery_after_a_successful_ack_is_acked_then_delivered() {
    let c = H::new()
        .enqueue(0, 1, "a", Some("1"))
        .deliver(SEC, 1, "1", "a", "r1", 1)
        .ack(2 * SEC, 1, "1", "r1", ok(Answer::Done))
        // Past the lease, so the only thing wrong is the ack.
        .deliver(100 * SEC, 2, "1", "a", "r2", 2)
        .check();
    assert_eq!(c.acked_then_delivered, 1, "{c:?}");
    assert_eq!(c.lease_violations, 0, "{c:?}");
    assert!(!c.valid());
}

#[test]
fn a_read_that_finds_an_acked_message_is_acked_then_delivered() {
    let c = H::new()
        .enqueue(0, 1, "a", Some("1"))
        .deliver(SEC, 1, "1", "a", "r1", 1)
        .ack(2 * SEC, 1, "1", "r1", ok(Answer::Done))
        .read(10 * SEC, "1", Some("a"))
        .check();
    assert_eq!(c.acked_then_delivered, 1, "{c:?}");
}

#[test]
fn a_second_delivery_within_the_lease_without_a_nack_is_a_lease_violation() {
    let c = H::new()
        .enqueue(0, 1, "a", Some("1"))
        .deliver(SEC, 1, "1", "a", "r1", 1)
        .deliver(5 * SEC, 2, "1", "a", "r2", 2)
        .ack(6 * SEC, 2, "1", "r2", ok(Answer::Done))
        .check();
    assert_eq!((c.lease_violations, c.duplicated), (1, 1), "{c:?}");
    assert!(!c.valid());
}

#[test]
fn a_redelivery_after_a_nack_is_an_allowed_duplicate() {
    let c = H::new()
        .enqueue(0, 1, "a", Some("1"))
        .deliver(SEC, 1, "1", "a", "r1", 1)
        .nack(2 * SEC, 1, "1", "r1")
        .deliver(5 * SEC, 2, "1", "a", "r2", 2)
        .ack(6 * SEC, 2, "1", "r2", ok(Answer::Done))
        .check();
    assert!(c.valid(), "{c:?}");
    assert_eq!((c.duplicated, c.redelivered_after_nack), (1, 1), "{c:?}");
}

#[test]
fn a_redelivery_after_the_lease_expired_is_an_allowed_duplicate() {
    let c = H::new()
        .enqueue(0, 1, "a", Some("1"))
        .deliver(SEC, 1, "1", "a", "r1", 1)
        .deliver(62 * SEC, 2, "1", "a", "r2", 2)
        .ack(63 * SEC, 2, "1", "r2", ok(Answer::Done))
        .check();
    assert!(c.valid(), "{c:?}");
    assert_eq!((c.duplicated, c.redelivered_after_expiry), (1, 1), "{c:?}");
}

#[test]
fn one_enqueue_applied_twice_is_a_counted_duplicate() {
    let c = H::new()
        .enqueue(0, 1, "a", Some("1"))
        .deliver(SEC, 1, "1", "a", "r1", 1)
        .ack(2 * SEC, 1, "1", "r1", ok(Answer::Done))
        .deliver(3 * SEC, 1, "2", "a", "r2", 1)
        .ack(4 * SEC, 1, "2", "r2", ok(Answer::Done))
        .check();
    assert!(c.valid(), "{c:?}");
    assert_eq!((c.enqueued_twice, c.duplicated), (1, 1), "{c:?}");
}

#[test]
fn an_acknowledged_enqueue_without_a_final_read_is_unresolved() {
    let h = {
        let mut h = H::new();
        h.enqueue(0, 1, "a", Some("1"));
        h
    };
    let report = check(&h.0);
    assert_eq!(report.total.unresolved, 1);
    assert!(report.valid() && !report.conclusive());
}

#[test]
fn an_invocation_without_completion_counts_as_unknown() {
    let mut h = H::new();
    h.push(
        0,
        1,
        EventKind::Invoke {
            call: Call::Enqueue {
                queue: Q.into(),
                content: "a".into(),
            },
        },
    );
    h.deliver(SEC, 2, "1", "a", "r1", 1)
        .ack(2 * SEC, 2, "1", "r1", ok(Answer::Done));
    let c = h.check();
    assert!(c.valid(), "{c:?}");
    assert_eq!((c.unknown, c.recovered), (1, 1), "{c:?}");
}

#[test]
fn an_id_stamped_after_its_enqueue_was_answered_is_a_clock_violation() {
    // Stamped 10 s into the run, but answered 1 ms after it started: a node's clock leaked in.
    let ahead = (10_000u64 << 22).to_string();
    let c = H::new()
        .enqueue(0, 1, "a", Some(&ahead))
        .read(SEC, &ahead, Some("a"))
        .check();
    assert_eq!(c.stamps_ahead, 1, "{c:?}");
    assert!(!c.valid(), "{c:?}");
    // Stamped before it was sent (a leader whose clock went back keeps the last stamp): allowed.
    let c = H::new()
        .enqueue(20 * SEC, 1, "a", Some("1"))
        .read(30 * SEC, "1", Some("a"))
        .check();
    assert_eq!((c.stamps_ahead, c.stamps_behind), (0, 1), "{c:?}");
    assert!(c.valid(), "{c:?}");
}
