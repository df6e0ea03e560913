//! Translation between DOQ's protobuf messages and doq's domain types, with the same limits as HTTP
//! (docs/http.md §2.1). Every check runs before anything is proposed; a violation is an `Error::Invalid`, which
//! the RPC turns into INVALID_ARGUMENT with its DOQ text.
use std::{collections::HashMap, time::Duration};

use doq_api::{
    limits, Body, Delivery, Error, Group, MessageId, Metadata, NewMessage, Priority, QueueKind,
    QueueName, QueueStats, Receipt, Strategy,
};
use doq_proto::queue::{
    queue_settings::Strategy as PbStrategy, DequeueResponse, EnqueueRequest, GetQueueResponse,
    QueueSettings as PbSettings, Stats,
};
use tonic::metadata::MetadataMap;

use crate::limits::RequestLimits;

/// Shortest explicit `ack_timeout` over gRPC, in seconds: DOQ's gRPC check, unlike HTTP's 60 (docs/grpc.md §7.2).
const MIN_GRPC_ACK_TIMEOUT: u32 = 10;

/// Request metadata: long-poll duration on `Dequeue`.
pub(crate) const WAIT_KEY: &str = "doq-wait";
/// Request metadata on `Ack`, `Nack` and `Touch`, and response metadata on `Dequeue`.
pub(crate) const RECEIPT_KEY: &str = "doq-receipt";
/// Response metadata on `Dequeue`: deliveries so far, this one included.
pub(crate) const DELIVERIES_KEY: &str = "doq-deliveries";

/// A queue name from a request field (`field` names it in the error).
pub(crate) fn queue_name(field: &str, raw: &str) -> Result<QueueName, Error> {
    match QueueName::problem(raw) {
        Some(why) => Err(Error::invalid(field, why, raw)),
        None => QueueName::new(raw),
    }
}

/// Queue settings as a create or update request spelled them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SettingsInput {
    /// `None` is `STRATEGY_UNSPECIFIED`.
    pub(crate) strategy: Option<Strategy>,
    pub(crate) max_unacked: u32,
    /// `None` is 0: the configured default.
    pub(crate) ack_timeout: Option<u32>,
}

/// `QueueSettings`: a known strategy, and `ack_timeout` 0 (default) or at least 10 seconds.
pub(crate) fn settings(s: &PbSettings) -> Result<SettingsInput, Error> {
    let strategy = match PbStrategy::try_from(s.strategy) {
        Ok(PbStrategy::Unspecified) => None,
        Ok(PbStrategy::RoundRobin) => Some(Strategy::RoundRobin),
        Ok(PbStrategy::Weighted) => Some(Strategy::Weighted),
        Err(_) => {
            return Err(Error::invalid(
                "settings.strategy",
                "expected value to be one of \"STRATEGY_UNSPECIFIED, ROUND_ROBIN, WEIGHTED\"",
                s.strategy.to_string(),
            ))
        }
    };
    let ack_timeout = match s.ack_timeout {
        0 => None,
        t if t < MIN_GRPC_ACK_TIMEOUT => {
            return Err(Error::invalid(
                "settings.ack_timeout",
                format!("expected number >= {MIN_GRPC_ACK_TIMEOUT}"),
                t.to_string(),
            ))
        }
        t => Some(t),
    };
    Ok(SettingsInput {
        strategy,
        max_unacked: s.max_unacked,
        ack_timeout,
    })
}

/// A queue `type`: exactly `delayed` or `fair` ([FIX] DOQ accepted anything).
pub(crate) fn queue_kind(raw: &str) -> Result<QueueKind, Error> {
    QueueKind::parse(raw)
        .ok_or_else(|| Error::invalid("type", "expected value to be one of \"delayed, fair\"", raw))
}

/// A validated `EnqueueRequest`: the queue and the message to store.
#[derive(Clone, Debug)]
pub(crate) struct EnqueueInput {
    pub(crate) queue: QueueName,
    pub(crate) message: NewMessage,
}

/// `EnqueueRequest`: id 0 asks the server for one; any int64 priority is allowed over gRPC [DOQ]; the
/// group is stored as sent (the engine picks `default` where the queue kind wants it).
pub(crate) fn enqueue(req: EnqueueRequest, limits: &RequestLimits) -> Result<EnqueueInput, Error> {
    let queue = queue_name("queueName", &req.queue_name)?;
    let message = new_message(
        "",
        req.id,
        &req.group,
        req.priority,
        req.content,
        req.metadata,
        limits,
    )?;
    Ok(EnqueueInput { queue, message })
}

/// One message's fields, within the limits of docs/http.md §2.1. `at` prefixes the error location
/// (`messages[3].` in a batch). Id 0 asks the server for one.
pub(crate) fn new_message(
    at: &str,
    id: u64,
    group: &str,
    priority: i64,
    content: String,
    metadata: HashMap<String, String>,
    limits: &RequestLimits,
) -> Result<NewMessage, Error> {
    let invalid = |v: limits::Violation| Error::invalid(format!("{at}{}", v.field), v.message, "");
    limits::check_group(group).map_err(invalid)?;
    limits.message().check_content(&content).map_err(invalid)?;
    let metadata = metadata_at(at, metadata, limits)?;
    Ok(NewMessage {
        id: (id != 0).then_some(MessageId(id)),
        group: Group::new(group),
        priority: Priority(priority),
        body: Body { content, metadata },
    })
}

/// A metadata map within the entry and byte limits.
pub(crate) fn metadata(
    map: HashMap<String, String>,
    limits: &RequestLimits,
) -> Result<Metadata, Error> {
    metadata_at("", map, limits)
}

/// [`metadata`] with `at` prefixing the error location.
fn metadata_at(
    at: &str,
    map: HashMap<String, String>,
    limits: &RequestLimits,
) -> Result<Metadata, Error> {
    limits
        .message()
        .check_metadata(map.iter())
        .map_err(|v| Error::invalid(format!("{at}{}", v.field), v.message, ""))?;
    Ok(map.into_iter().collect())
}

/// The optional `doq-receipt` request metadata: it must decode and name message `id`.
pub(crate) fn receipt(md: &MetadataMap, id: MessageId) -> Result<Option<Receipt>, Error> {
    let Some(value) = md.get(RECEIPT_KEY) else {
        return Ok(None);
    };
    // A non-ASCII value cannot be a receipt; "?" makes it fail to decode below.
    receipt_text(RECEIPT_KEY, value.to_str().unwrap_or("?"), id)
}

/// A receipt as text (`location` names it in the error): empty is none; otherwise it must decode and
/// name message `id`.
pub(crate) fn receipt_text(
    location: &str,
    raw: &str,
    id: MessageId,
) -> Result<Option<Receipt>, Error> {
    if raw.is_empty() {
        return Ok(None);
    }
    let receipt =
        Receipt::decode(raw).ok_or_else(|| Error::invalid(location, "invalid receipt", raw))?;
    if receipt.id != id {
        return Err(Error::invalid(
            location,
            "receipt is for another message",
            raw,
        ));
    }
    Ok(Some(receipt))
}

/// The optional `doq-wait` request metadata (same syntax as HTTP `wait`); absent means no wait.
pub(crate) fn wait(md: &MetadataMap, max_secs: u32) -> Result<Duration, Error> {
    let Some(value) = md.get(WAIT_KEY) else {
        return Ok(Duration::ZERO);
    };
    let raw = value.to_str().unwrap_or("?");
    if raw.is_empty() {
        return Ok(Duration::ZERO);
    }
    crate::http::params::parse_wait(raw, max_secs).map_err(|why| Error::invalid(WAIT_KEY, why, raw))
}

/// The wire enum of a stored strategy.
fn strategy(s: Option<Strategy>) -> PbStrategy {
    match s {
        None => PbStrategy::Unspecified,
        Some(Strategy::RoundRobin) => PbStrategy::RoundRobin,
        Some(Strategy::Weighted) => PbStrategy::Weighted,
    }
}

/// A count as the proto's int64.
fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `GetQueueResponse` from queue stats; the strategy comes back as the enum.
pub(crate) fn queue_info(s: &QueueStats) -> GetQueueResponse {
    GetQueueResponse {
        name: s.name.to_string(),
        r#type: s.kind.as_str().to_string(),
        settings: Some(PbSettings {
            strategy: strategy(s.settings.strategy) as i32,
            max_unacked: s.settings.max_unacked,
            ack_timeout: s.settings.ack_timeout,
        }),
        stats: Some(Stats {
            enqueue_rps: s.enqueue_rps,
            dequeue_rps: s.dequeue_rps,
            ack_rps: s.ack_rps,
            nack_rps: s.nack_rps,
        }),
        ready: count(s.ready),
        unacked: count(s.unacked),
        total: count(s.total),
    }
}

/// `DequeueResponse` for a delivery (`queueName` stays empty, as in DOQ).
pub(crate) fn dequeued(d: Delivery) -> DequeueResponse {
    DequeueResponse {
        success: true,
        queue_name: String::new(),
        id: d.id.0,
        group: d.group.as_str().to_string(),
        priority: d.priority.0,
        content: d.body.content,
        metadata: d.body.metadata.into_iter().collect(),
    }
}
