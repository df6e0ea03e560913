//! Response bodies in DOQ's JSON shapes (docs/http.md §3.2–§3.5, §5): ids as decimal strings, an empty `group`
//! or `metadata` left out, zero settings left out of echoes, upper-case strategies.
use doq_api::{Delivery, Enqueued, MessageId, Metadata, QueueStats, Strategy};
use doq_consensus::{ClusterStatus, Member};
use serde::{Serialize, Serializer};
use utoipa::ToSchema;

use crate::http::validate::SettingsInput;

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `skip_serializing_if` passes a reference
fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A rate as Go prints a float64: integral values without a fraction (`0`, not `0.0`).
#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `serialize_with` passes a reference
fn go_float<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: every integer below it is exact in an f64
    if v.is_finite() && v.fract() == 0.0 && v.abs() < EXACT {
        // Integral and below 2^53, so the conversion is exact.
        #[allow(clippy::cast_possible_truncation)]
        let n = *v as i64;
        s.serialize_i64(n)
    } else {
        s.serialize_f64(*v)
    }
}

/// A message id as JSON carries it: a decimal string.
pub(crate) fn id_string(id: MessageId) -> String {
    id.0.to_string()
}

/// Settings of a create or update answer: the request echoed, strategy upper-cased, zero or absent left out.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SettingsEcho {
    #[serde(skip_serializing_if = "Option::is_none")]
    strategy: Option<&'static str>,
    #[serde(skip_serializing_if = "is_zero")]
    #[schema(required = false)]
    max_unacked: u32,
    #[serde(skip_serializing_if = "is_zero")]
    #[schema(required = false)]
    ack_timeout: u32,
    #[serde(skip_serializing_if = "is_zero")]
    #[schema(required = false)]
    max_deliveries: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    #[schema(required = false)]
    dead_letter_queue: String,
}

impl From<&SettingsInput> for SettingsEcho {
    fn from(s: &SettingsInput) -> Self {
        Self {
            strategy: s.strategy.map(Strategy::as_upper),
            max_unacked: s.max_unacked.unwrap_or(0),
            ack_timeout: s.ack_timeout.unwrap_or(0),
            max_deliveries: s.max_deliveries.unwrap_or(0),
            dead_letter_queue: s
                .dead_letter_queue
                .clone()
                .flatten()
                .map(|q| q.to_string())
                .unwrap_or_default(),
        }
    }
}

/// `{"status":"CREATED","name","type","settings"}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Created {
    pub(crate) status: &'static str,
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) settings: SettingsEcho,
}

/// `{"status":"UPDATED","name","settings"}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QueueUpdated {
    pub(crate) status: &'static str,
    pub(crate) name: String,
    pub(crate) settings: SettingsEcho,
}

/// A bare `{"status":…}` (`DELETED`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StatusOnly {
    pub(crate) status: &'static str,
}

/// Stored settings as info reports them: strategy always present, `ack_timeout` always present.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SettingsInfo {
    strategy: &'static str,
    #[serde(skip_serializing_if = "is_zero")]
    #[schema(required = false)]
    max_unacked: u32,
    ack_timeout: u32,
    #[serde(skip_serializing_if = "is_zero")]
    #[schema(required = false)]
    max_deliveries: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    dead_letter_queue: Option<String>,
}

/// One queue of the list, or the info answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QueueInfo {
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    settings: SettingsInfo,
    #[serde(serialize_with = "go_float")]
    enqueue_rps: f64,
    #[serde(serialize_with = "go_float")]
    dequeue_rps: f64,
    #[serde(serialize_with = "go_float")]
    ack_rps: f64,
    #[serde(serialize_with = "go_float")]
    nack_rps: f64,
    ready: u64,
    unacked: u64,
    total: u64,
    delayed: u64,
    dead_lettered: u64,
}

impl From<QueueStats> for QueueInfo {
    fn from(s: QueueStats) -> Self {
        Self {
            name: s.name.to_string(),
            kind: s.kind.as_str(),
            settings: SettingsInfo {
                strategy: s
                    .settings
                    .strategy
                    .map_or("STRATEGY_UNSPECIFIED", Strategy::as_upper),
                max_unacked: s.settings.max_unacked,
                ack_timeout: s.settings.ack_timeout,
                max_deliveries: s.settings.max_deliveries,
                dead_letter_queue: s.settings.dead_letter.map(|q| q.to_string()),
            },
            enqueue_rps: s.enqueue_rps,
            dequeue_rps: s.dequeue_rps,
            ack_rps: s.ack_rps,
            nack_rps: s.nack_rps,
            ready: s.ready,
            unacked: s.unacked,
            total: s.total,
            delayed: s.delayed,
            dead_lettered: s.dead_lettered,
        }
    }
}

/// `{"queues":[…]}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QueueList {
    pub(crate) queues: Vec<QueueInfo>,
}

/// `ENQUEUED` and `GOT`: `{"status","id","group","priority","content","metadata"?}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MessageReply {
    pub(crate) status: &'static str,
    pub(crate) id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    #[schema(required = false)]
    pub(crate) group: String,
    pub(crate) priority: i64,
    pub(crate) content: String,
    #[serde(skip_serializing_if = "Metadata::is_empty")]
    #[schema(required = false)]
    pub(crate) metadata: Metadata,
}

/// A delivered message: `DEQUEUED` with `status`, or a batch item without it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Dequeued {
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    #[schema(required = false)]
    group: String,
    priority: i64,
    content: String,
    #[serde(skip_serializing_if = "Metadata::is_empty")]
    #[schema(required = false)]
    metadata: Metadata,
    receipt: String,
    deliveries: u32,
}

impl Dequeued {
    /// The single-dequeue answer (`status: DEQUEUED`) or, with `status: None`, a batch item.
    pub(crate) fn new(d: Delivery, status: Option<&'static str>) -> Self {
        Self {
            status,
            id: id_string(d.id),
            group: d.group.as_str().to_string(),
            priority: d.priority.0,
            content: d.body.content,
            metadata: d.body.metadata,
            receipt: d.receipt.encode(),
            deliveries: d.deliveries,
        }
    }
}

/// `ACKNOWLEDGED` and `TOUCHED`: `{"status","id"}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IdReply {
    pub(crate) status: &'static str,
    pub(crate) id: String,
}

/// `UNACKNOWLEDGED`: `{"status","id","priority","metadata"?}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Nacked {
    pub(crate) status: &'static str,
    pub(crate) id: String,
    pub(crate) priority: i64,
    #[serde(skip_serializing_if = "Metadata::is_empty")]
    #[schema(required = false)]
    pub(crate) metadata: Metadata,
}

/// Priority `UPDATED`: `{"status","id","priority"}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PriorityUpdated {
    pub(crate) status: &'static str,
    pub(crate) id: String,
    pub(crate) priority: i64,
}

/// `{"ids":["…",…]}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Ids {
    pub(crate) ids: Vec<String>,
}

/// `{"status":"PURGED","name","purged"}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Purged {
    pub(crate) status: &'static str,
    pub(crate) name: String,
    pub(crate) purged: u64,
}

/// One stored item of a batch enqueue: `{"id","group","priority"}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EnqueuedRef {
    id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    #[schema(required = false)]
    group: String,
    priority: i64,
}

impl From<Enqueued> for EnqueuedRef {
    fn from(e: Enqueued) -> Self {
        Self {
            id: id_string(e.id),
            group: e.group.as_str().to_string(),
            priority: e.priority.0,
        }
    }
}

/// `{"status":"ENQUEUED","messages":[…]}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BatchEnqueued {
    pub(crate) status: &'static str,
    pub(crate) messages: Vec<EnqueuedRef>,
}

/// `{"status":"DEQUEUED","messages":[…]}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BatchDequeued {
    pub(crate) status: &'static str,
    pub(crate) messages: Vec<Dequeued>,
}

fn suffrage(m: &Member) -> &'static str {
    if m.voter {
        "Voter"
    } else {
        "Nonvoter"
    }
}

/// One entry of `/cluster/servers`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Server {
    id: String,
    addr: String,
    leader_addr: String,
    is_leader: bool,
    suffrage: &'static str,
}

/// `{"servers":[…]}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Servers {
    servers: Vec<Server>,
}

impl From<&ClusterStatus> for Servers {
    fn from(s: &ClusterStatus) -> Self {
        let leader_addr = s.leader_addr.clone().unwrap_or_default();
        let servers = s
            .members
            .iter()
            .map(|m| Server {
                id: m.id.clone(),
                addr: m.addr.clone(),
                leader_addr: leader_addr.clone(),
                // [FIX] compare ids, not addresses.
                is_leader: s.leader_id.as_deref() == Some(m.id.as_str()),
                suffrage: suffrage(m),
            })
            .collect();
        Self { servers }
    }
}

/// One member of `/cluster/status`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StatusMember {
    id: String,
    addr: String,
    suffrage: &'static str,
}

/// `/cluster/status`: the serving node's own view.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NodeStatus {
    node_id: String,
    state: &'static str,
    leader_id: Option<String>,
    leader_addr: Option<String>,
    term: u64,
    last_log_index: u64,
    commit_index: u64,
    last_applied: u64,
    members: Vec<StatusMember>,
    storage_backend: String,
}

impl From<ClusterStatus> for NodeStatus {
    fn from(s: ClusterStatus) -> Self {
        let members = s
            .members
            .iter()
            .map(|m| StatusMember {
                id: m.id.clone(),
                addr: m.addr.clone(),
                suffrage: suffrage(m),
            })
            .collect();
        Self {
            node_id: s.node_id,
            state: s.role.as_str(),
            leader_id: s.leader_id,
            leader_addr: s.leader_addr,
            term: s.term,
            last_log_index: s.last_log_index,
            commit_index: s.commit_index,
            last_applied: s.last_applied,
            members,
            storage_backend: s.storage_backend,
        }
    }
}

/// Join answer `{"id","addr"}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Joined {
    pub(crate) id: String,
    pub(crate) addr: String,
}

/// Leave answer `{"id"}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Left {
    pub(crate) id: String,
}

/// One item of a batch ack: `{"id","status":"ACKNOWLEDGED"}` or `{"id","status":"FAILED","code","message"}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AckResult {
    pub(crate) id: String,
    pub(crate) status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) message: Option<String>,
}

/// `{"results":[…]}` of a batch ack, in request order.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BatchAcked {
    pub(crate) results: Vec<AckResult>,
}

/// One peeked message: `{"id","group","priority","content","metadata"?,"state","deliveries","lease_deadline_ms"?}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Peeked {
    pub(crate) id: String,
    pub(crate) group: String,
    pub(crate) priority: i64,
    pub(crate) content: String,
    #[serde(skip_serializing_if = "Metadata::is_empty")]
    #[schema(required = false)]
    pub(crate) metadata: Metadata,
    /// `ready`, `delayed` or `leased`.
    pub(crate) state: &'static str,
    pub(crate) deliveries: u32,
    /// The live lease's deadline (Unix ms), for leased messages only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) lease_deadline_ms: Option<u64>,
}

/// `{"messages":[…],"next_after":"<id>"|null}` of a peek.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PeekReply {
    pub(crate) messages: Vec<Peeked>,
    /// The id to pass as `after` for the next page; `null` when no more match.
    pub(crate) next_after: Option<String>,
}
