//! The checker's table, as Markdown (it goes into the README as printed).
use std::fmt::Write as _;

use super::checker::{Counts, Report};

/// The rows of the table: label and value getter (violations are in bold).
type Row = (&'static str, fn(&Counts) -> u64);

const ROWS: [Row; 20] = [
    ("enqueues attempted", |c| c.attempted),
    ("acknowledged (200)", |c| c.acknowledged),
    ("definite failures", |c| c.failed),
    ("unknown outcome", |c| c.unknown),
    ("ok (acknowledged and accounted for)", |c| c.ok),
    ("**lost**", |c| c.lost),
    ("**unexpected**", |c| c.unexpected),
    ("**acked then delivered**", |c| c.acked_then_delivered),
    ("**lease violations**", |c| c.lease_violations),
    ("**order violations**", |c| c.order_violations),
    ("**stamps ahead of real time**", |c| c.stamps_ahead),
    ("recovered (unknown, then seen)", |c| c.recovered),
    ("deliveries", |c| c.deliveries),
    ("duplicated (delivered > once)", |c| c.duplicated),
    ("· redelivered after nack", |c| c.redelivered_after_nack),
    ("· redelivered after lease expiry", |c| {
        c.redelivered_after_expiry
    }),
    ("· one enqueue, two ids", |c| c.enqueued_twice),
    ("unresolved (fate unknown)", |c| c.unresolved),
    ("deliveries checked for order", |c| c.order_checked),
    ("stamps behind real time (clock held back)", |c| {
        c.stamps_behind
    }),
];

/// Renders the report as a Markdown table with one column per queue and a total, then the
/// verdict and any example violations.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let names: Vec<&String> = report.queues.keys().collect();
    let _ = write!(out, "| |");
    for n in &names {
        let _ = write!(out, " {n} |");
    }
    let _ = writeln!(out, " total |");
    let _ = write!(out, "|---|");
    for _ in &names {
        let _ = write!(out, "---:|");
    }
    let _ = writeln!(out, "---:|");
    for (label, get) in ROWS {
        let _ = write!(out, "| {label} |");
        for n in &names {
            let _ = write!(out, " {} |", get(&report.queues[*n]));
        }
        let _ = writeln!(out, " {} |", get(&report.total));
    }
    let verdict = if !report.valid() {
        "INVALID: the contract was violated"
    } else if !report.conclusive() {
        "INCONCLUSIVE: no violation seen, but some acknowledged enqueues could not be accounted for"
    } else {
        "valid"
    };
    let _ = writeln!(out, "\nverdict: {verdict}");
    let ops: Vec<String> = report.ops.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ = writeln!(
        out,
        "operations: {}; nemesis events: {}",
        ops.join(", "),
        report.nemesis_events
    );
    for e in &report.examples {
        let _ = writeln!(out, "- {e}");
    }
    out
}
