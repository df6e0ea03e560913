//! The contract suites every backend must pass: [`CASES`] for [`QueueStore`] (plain functions over
//! `&dyn QueueStore`, each given an empty store, in `queue_cases.rs`) and [`LOG_CASES`] for
//! [`LogStore`](crate::LogStore) (over both views of an empty store, [`Stores`], in `log_cases.rs`); sample
//! records (`samples.rs`); and [`snapshot`] and [`log_snapshot`] (`snapshot.rs`), which read a store's full
//! contents for model tests. `tests.rs` runs all of it on every backend of the registry.
//!
//! Built with the `testing` feature, so other crates' tests can run it over wrappers and new backends.
//! A broken promise panics, as in any test; hence the lint exceptions in the case files, for them only.
mod log_cases;
mod queue_cases;
mod samples;
mod snapshot;
#[cfg(test)]
mod tests;

pub use self::{
    log_cases::*,
    queue_cases::*,
    samples::{body, entries, group, header, queue},
    snapshot::{log_snapshot, snapshot, LogSnapshot, Snapshot},
};
use crate::{QueueStore, Result, Stores};

/// One contract case: it gets an empty store and panics on a broken promise.
pub type Case = fn(&dyn QueueStore) -> Result<()>;

/// Every contract case, by name.
pub const CASES: &[(&str, Case)] = &[
    ("commit_then_read_back", commit_then_read_back),
    ("ops_apply_in_batch_order", ops_apply_in_batch_order),
    (
        "delete_queue_removes_only_that_queue",
        delete_queue_removes_only_that_queue,
    ),
    (
        "delete_messages_keeps_the_record",
        delete_messages_keeps_the_record,
    ),
    (
        "staged_body_sees_earlier_writes",
        staged_body_sees_earlier_writes,
    ),
    ("applied_marker_round_trips", applied_marker_round_trips),
    ("counters_round_trip", counters_round_trip),
    (
        "scan_headers_pages_in_id_order",
        scan_headers_pages_in_id_order,
    ),
    ("source_visits_every_header", source_visits_every_header),
    (
        "message_needs_header_and_body",
        message_needs_header_and_body,
    ),
    (
        "keyspaces_put_scan_and_range_delete",
        keyspaces_put_scan_and_range_delete,
    ),
    ("snapshot_is_point_in_time", snapshot_is_point_in_time),
];

/// Runs every case of [`CASES`], each on a fresh store from `new_store`.
pub fn run_all(new_store: &mut dyn FnMut() -> Box<dyn QueueStore>) -> Result<()> {
    for (_, case) in CASES {
        case(new_store().as_ref())?;
    }
    Ok(())
}

/// One [`LogStore`] contract case: it gets both views of an empty store and panics on a broken promise.
pub type LogCase = fn(&Stores) -> Result<()>;

/// Every [`LogStore`] contract case, by name.
pub const LOG_CASES: &[(&str, LogCase)] = &[
    ("log_append_then_read", log_append_then_read),
    (
        "log_truncate_drops_the_suffix",
        log_truncate_drops_the_suffix,
    ),
    ("log_purge_drops_the_prefix", log_purge_drops_the_prefix),
    ("log_meta_round_trips", log_meta_round_trips),
    (
        "log_and_queues_are_independent",
        log_and_queues_are_independent,
    ),
];

/// Runs every case of [`LOG_CASES`], each on fresh stores from `new_stores`.
pub fn run_all_log(new_stores: &mut dyn FnMut() -> Stores) -> Result<()> {
    for (_, case) in LOG_CASES {
        case(&new_stores())?;
    }
    Ok(())
}
