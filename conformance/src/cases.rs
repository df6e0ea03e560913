//! The semantic cases: plain `pub async fn case(h: &Harness)` functions, one file per topic. Each
//! case uses its own queue names, asserts exact wire behaviour (docs/http.md §3, §4, §6, §13) through
//! [`crate::check`], and moves time only with [`Harness::advance`](crate::Harness::advance).
//! Capabilities come from [`Harness::caps`](crate::Harness::caps), never from the backend's name.
mod backup;
mod bad_input;
mod batch_purge;
mod checked;
mod cluster;
mod dead_letters;
mod delayed;
mod fair_rr;
mod http_conventions;
mod leases;
mod long_poll;
mod messages;
mod nack_touch_priority;
mod peek_batch_ack;
mod priority;
mod queues;
mod receipts;
mod recovery;
mod weighted;

pub use backup::{
    backup_full, backup_incremental, restore_cross_backend, restore_refuses_what_the_api_refuses,
};
pub use bad_input::{bad_bodies, bad_names_and_ids, unknown_queue_and_message};
pub use batch_purge::batch_and_purge;
pub use checked::rejected_requests_skip_the_log;
pub use cluster::cluster_view;
pub use dead_letters::dead_letters_move;
pub use delayed::delayed_gating;
pub use fair_rr::{round_robin_flat, round_robin_hierarchical, round_robin_prefix_groups};
pub use http_conventions::response_headers;
pub use leases::{ack_flag_parsing, lease_expiry_redelivers, manual_ack};
pub use long_poll::long_poll_wakes_on_enqueue;
pub use messages::{delete_message, enqueue_existing_id};
pub use nack_touch_priority::{
    manual_nack, nack_reorders, touch_extends_lease, update_priority_reorders,
};
pub use peek_batch_ack::{batch_ack_per_item, peek_browses};
pub use priority::{priority_example, priority_fifo, priority_order};
pub use queues::{create_settings, create_vector, delete_queue_removes_messages};
pub use receipts::receipts_reject_stale;
pub use recovery::restart_recovery;
pub use weighted::weighted_respects_max_unacked;

/// Calls `$m!($($args)*; <every case>)`: the one list of cases, so every matrix row runs all of them.
///
/// ```text
/// doq_conformance::for_each_case!(case_tests!(Backend::named("redb"), Mode::Single));
/// ```
#[macro_export]
macro_rules! for_each_case {
    ($m:ident ! ( $($args:tt)* )) => {
        $m!($($args)*;
            priority_fifo,
            priority_order,
            priority_example,
            delayed_gating,
            round_robin_flat,
            round_robin_hierarchical,
            round_robin_prefix_groups,
            weighted_respects_max_unacked,
            lease_expiry_redelivers,
            manual_ack,
            ack_flag_parsing,
            long_poll_wakes_on_enqueue,
            manual_nack,
            nack_reorders,
            touch_extends_lease,
            update_priority_reorders,
            receipts_reject_stale,
            dead_letters_move,
            batch_and_purge,
            peek_browses,
            batch_ack_per_item,
            delete_message,
            enqueue_existing_id,
            rejected_requests_skip_the_log,
            create_vector,
            create_settings,
            delete_queue_removes_messages,
            restart_recovery,
            bad_bodies,
            bad_names_and_ids,
            unknown_queue_and_message,
            response_headers,
            backup_full,
            backup_incremental,
            restore_cross_backend,
            restore_refuses_what_the_api_refuses,
            cluster_view,
        );
    };
}
