//! Request body schemas of the OpenAPI document. The handlers validate bodies by hand (`validate.rs`, for
//! DOQ's exact 422 wording), so these types exist to describe the wire shape they accept: the same fields,
//! types, bounds and `additionalProperties: false`. The unit tests below feed the bodies that
//! `validate.rs` accepts through serde into these types, so the two cannot drift apart unnoticed.
#![allow(
    dead_code,
    reason = "schema-only types: read by the OpenAPI generator and the tests, never built by handlers"
)]
use std::collections::BTreeMap;

use serde::Deserialize;
use utoipa::ToSchema;

/// A queue's type.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum QueueType {
    /// Ordered by priority; a priority above now delays the message.
    Delayed,
    /// Fair across groups (`settings.strategy` required).
    Fair,
}

/// A fair queue's strategy (lower case only).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StrategyName {
    /// Hierarchical, deterministic round robin over groups.
    RoundRobin,
    /// Flat, randomized pick weighted by group backlog.
    Weighted,
}

/// Queue settings of a create or update request (docs/http.md §3.2).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Settings {
    /// Fair queues only, and required for them.
    #[schema(nullable = false)]
    strategy: Option<StrategyName>,
    /// Most leased messages per group; 0 is unlimited. Delayed queues: 0 only.
    #[schema(nullable = false)]
    max_unacked: Option<u32>,
    /// Lease length in seconds, at least 60; absent means `queue.default_acknowledgement_timeout`.
    #[schema(nullable = false, minimum = 60)]
    ack_timeout: Option<u32>,
    /// Deliveries before a message moves to `dead_letter_queue`; 0 is unlimited.
    #[schema(nullable = false)]
    max_deliveries: Option<u32>,
    /// An existing queue that receives messages past `max_deliveries`; `""` clears it on update.
    #[schema(nullable = false, max_length = 1024)]
    dead_letter_queue: Option<String>,
}

/// `POST /API/v1/queues`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateQueue {
    /// 1–1024 bytes of UTF-8; no control characters or `/`; not `.` or `..`.
    #[schema(min_length = 1, max_length = 1024)]
    name: String,
    /// `delayed` or `fair`.
    #[serde(rename = "type")]
    kind: QueueType,
    /// Required even when empty (`{}`).
    settings: Settings,
}

/// `PUT /API/v1/queues/{queue_name}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateQueue {
    /// The new settings; `max_unacked` and `ack_timeout` are replaced, absent DLQ fields kept.
    settings: Settings,
}

/// One message to enqueue (docs/http.md §3.3).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Enqueue {
    /// A client-chosen id (decimal string); `""` or `"0"` lets the server assign one.
    #[schema(nullable = false, pattern = "^[0-9]*$")]
    id: Option<String>,
    /// Fair-queue group; default `default`.
    #[schema(nullable = false, max_length = 1024)]
    group: Option<String>,
    /// Order key; in delayed queues a Unix time in seconds delays the message until then.
    #[schema(minimum = 0)]
    priority: i64,
    /// The payload (UTF-8, at most `limits.max_content_bytes`).
    content: String,
    /// String pairs (at most `limits.max_metadata_entries`).
    #[schema(nullable = false)]
    metadata: Option<BTreeMap<String, String>>,
}

/// `POST …/messages/{id}/nack`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Nack {
    /// The message's priority from now on.
    #[schema(minimum = 0)]
    priority: i64,
    /// Replaces the message's metadata when present.
    #[schema(nullable = false)]
    metadata: Option<BTreeMap<String, String>>,
}

/// `PUT …/messages/{id}/priority`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Priority {
    /// The new priority.
    #[schema(minimum = 0)]
    priority: i64,
}

/// `POST /API/v1/ids`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReserveIds {
    /// How many ids to reserve.
    #[schema(minimum = 1, maximum = 1000)]
    number: u32,
}

/// `POST …/batch/enqueue`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchEnqueue {
    /// 1..`limits.max_batch_size` messages, stored atomically in this order.
    #[schema(min_items = 1, max_items = 1000)]
    messages: Vec<Enqueue>,
}

/// `wait` of a batch dequeue: seconds as a number, or a string as in `?wait=`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum Wait {
    /// Seconds.
    Seconds(f64),
    /// `5`, `0.5`, `1500ms`, `5s`.
    Text(String),
}

/// `POST …/batch/dequeue`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchDequeue {
    /// Most messages to select.
    #[schema(minimum = 1, maximum = 1000)]
    max: u32,
    /// Acknowledge at once (default false).
    #[schema(nullable = false)]
    ack: Option<bool>,
    /// Long-poll until at least one message is available, up to this long.
    #[schema(nullable = false)]
    wait: Option<Wait>,
}

/// One item of a batch ack.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AckItem {
    /// The message id.
    #[schema(pattern = "^[0-9]+$")]
    id: String,
    /// The delivery's receipt (docs/http.md §3.4).
    #[schema(nullable = false, max_length = 64)]
    receipt: Option<String>,
}

/// `POST …/batch/ack`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchAck {
    /// 1..`limits.max_batch_size` items, each judged on its own.
    #[schema(min_items = 1, max_items = 1000)]
    messages: Vec<AckItem>,
}

/// `POST /API/v1/cluster/join`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Join {
    /// The new member's node id.
    id: String,
    /// Its Raft advertise `host:port`.
    addr: String,
}

/// `POST /API/v1/cluster/leave`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Leave {
    /// The member to remove.
    id: String,
}

/// The answer of `POST /db/restore`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Restored {
    /// `SUCCEDED` (sic, DOQ's spelling).
    status: String,
    /// Queues in the restored backup.
    queues: u64,
    /// Messages in the restored backup.
    messages: u64,
    /// The backup's last version.
    last_version: u64,
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::{http::validate, limits::RequestLimits};

    /// Each body is one that `validate.rs` accepts; it must also fit the schema type.
    fn fits<T: serde::de::DeserializeOwned>(body: &Value) {
        if let Err(e) = serde_json::from_value::<T>(body.clone()) {
            panic!("{body} does not fit {}: {e}", std::any::type_name::<T>());
        }
    }

    #[test]
    fn accepted_bodies_fit_their_schemas() {
        let limits = RequestLimits::default();
        let create = json!({"name":"q","type":"fair","settings":{"strategy":"round_robin","max_unacked":7,
            "ack_timeout":600,"max_deliveries":3,"dead_letter_queue":"dlq"}});
        assert!(validate::create_queue(&create).is_ok());
        fits::<CreateQueue>(&create);
        let update = json!({"settings":{"strategy":"weighted","dead_letter_queue":""}});
        assert!(validate::update_queue(&update).is_ok());
        fits::<UpdateQueue>(&update);
        let msg = json!({"id":"12","group":"g","priority":5,"content":"c","metadata":{"k":"v"}});
        assert!(validate::enqueue(&msg, &limits).is_ok());
        fits::<Enqueue>(&msg);
        let batch = json!({"messages":[msg]});
        assert!(validate::batch_enqueue(&batch, &limits).is_ok());
        fits::<BatchEnqueue>(&batch);
        for wait in [json!("1500ms"), json!(0.5)] {
            let body = json!({"max":3,"ack":true,"wait":wait});
            assert!(validate::batch_dequeue(&body, &limits).is_ok());
            fits::<BatchDequeue>(&body);
        }
        let nack = json!({"priority":10,"metadata":{"retry":"1"}});
        assert!(validate::nack(&nack, &limits).is_ok());
        fits::<Nack>(&nack);
        let priority = json!({"priority":3});
        assert!(validate::priority(&priority).is_ok());
        fits::<Priority>(&priority);
        let ids = json!({"number":5});
        assert!(validate::reserve_ids(&ids).is_ok());
        fits::<ReserveIds>(&ids);
        let join = json!({"id":"n1","addr":"127.0.0.1:9001"});
        assert!(validate::join(&join).is_ok());
        fits::<Join>(&join);
        let leave = json!({"id":"n1"});
        assert!(validate::leave(&leave).is_ok());
        fits::<Leave>(&leave);
    }

    #[test]
    fn unknown_properties_are_rejected_like_the_handlers_do() {
        let body = json!({"priority":3,"extra":1});
        assert!(validate::priority(&body).is_err());
        assert!(serde_json::from_value::<Priority>(body).is_err());
    }
}
