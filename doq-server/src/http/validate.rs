//! Hand validation of JSON request bodies into typed inputs, collecting DOQ's 422 items (huma's JSON-Schema
//! wording: `expected required property x to be present`, `unexpected property`, `expected number >= 0`, …)
//! with their `location` and `value`. Everything is checked before anything is proposed.
use std::time::Duration;

use doq_api::{
    limits, Group, MessageId, Metadata, Priority, QueueKind, QueueName, Receipt, Strategy,
    MAX_NAME_BYTES,
};
use doq_consensus::NodeInfo;
use serde_json::{Map, Value};

use crate::{
    errors::{ApiError, Violation},
    http::params::parse_wait,
    limits::RequestLimits,
};

/// Queue settings as a create or update request spelled them; `None` is absent (create echoes them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SettingsInput {
    pub(crate) strategy: Option<Strategy>,
    pub(crate) max_unacked: Option<u32>,
    pub(crate) ack_timeout: Option<u32>,
    pub(crate) max_deliveries: Option<u32>,
    /// `Some(None)` is `""`: no dead-letter queue (on update: clear it).
    pub(crate) dead_letter_queue: Option<Option<QueueName>>,
}

/// A validated create request.
#[derive(Clone, Debug)]
pub(crate) struct CreateInput {
    pub(crate) name: QueueName,
    pub(crate) kind: QueueKind,
    pub(crate) settings: SettingsInput,
}

/// A validated message to enqueue.
#[derive(Clone, Debug)]
pub(crate) struct MessageInput {
    /// `None`: the server assigns one.
    pub(crate) id: Option<MessageId>,
    pub(crate) group: Group,
    pub(crate) priority: Priority,
    pub(crate) content: String,
    pub(crate) metadata: Metadata,
}

/// A validated batch dequeue request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchDequeueInput {
    pub(crate) max: u16,
    pub(crate) ack: bool,
    pub(crate) wait: Duration,
}

/// Collects violations while walking a body; `finish` turns any into one 422.
#[derive(Debug, Default)]
struct Checker {
    violations: Vec<Violation>,
}

fn at(loc: &str, key: &str) -> String {
    format!("{loc}.{key}")
}

impl Checker {
    fn push(&mut self, location: String, message: impl Into<String>, value: Option<&Value>) {
        self.violations
            .push(Violation::new(location, message, value.cloned()));
    }

    fn finish<T>(self, value: T) -> Result<T, ApiError> {
        if self.violations.is_empty() {
            Ok(value)
        } else {
            Err(ApiError::invalid(self.violations))
        }
    }

    /// The `messages` array of a batch body (`{"messages":[…]}`, 1..=`max_batch_size` items). `None` when
    /// nothing further can be checked; an empty array is recorded as a violation and returned, so the
    /// caller's `finish` reports it.
    fn batch_items<'a>(&mut self, v: &'a Value, limits: &RequestLimits) -> Option<&'a [Value]> {
        let list = self
            .object(v, "body", &["messages"], &["messages"])?
            .get("messages")?;
        let Some(items) = list.as_array() else {
            self.push("body.messages".into(), "expected array", Some(list));
            return None;
        };
        if items.is_empty() {
            self.push(
                "body.messages".into(),
                "expected array length >= 1",
                Some(list),
            );
        } else if items.len() > limits.max_batch_size {
            self.push(
                "body.messages".into(),
                format!("expected array length <= {}", limits.max_batch_size),
                None,
            );
            return None;
        }
        Some(items)
    }

    /// `v` as an object with only `allowed` keys and every `required` one.
    fn object<'a>(
        &mut self,
        v: &'a Value,
        loc: &str,
        allowed: &[&str],
        required: &[&str],
    ) -> Option<&'a Map<String, Value>> {
        let Some(obj) = v.as_object() else {
            self.push(loc.to_string(), "expected object", Some(v));
            return None;
        };
        for key in required {
            // A required property that is `null` is as missing as an absent one.
            if obj.get(*key).is_none_or(Value::is_null) {
                self.push(
                    loc.to_string(),
                    format!("expected required property {key} to be present"),
                    Some(v),
                );
            }
        }
        for key in obj.keys() {
            if !allowed.contains(&key.as_str()) {
                self.push(at(loc, key), "unexpected property", Some(v));
            }
        }
        Some(obj)
    }

    /// The value of an optional `key`; JSON `null` counts as absent.
    fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
        obj.get(key).filter(|v| !v.is_null())
    }

    fn string<'a>(&mut self, obj: &'a Map<String, Value>, loc: &str, key: &str) -> Option<&'a str> {
        let v = Self::field(obj, key)?;
        let s = v.as_str();
        if s.is_none() {
            self.push(at(loc, key), "expected string", Some(v));
        }
        s
    }

    fn int(
        &mut self,
        obj: &Map<String, Value>,
        loc: &str,
        key: &str,
        min: i64,
        max: i64,
    ) -> Option<i64> {
        let v = Self::field(obj, key)?;
        let location = at(loc, key);
        let n = match v {
            Value::Number(n) if n.is_i64() => n.as_i64(),
            Value::Number(n) if n.is_u64() => {
                self.push(location, format!("expected number <= {max}"), Some(v));
                return None;
            }
            _ => None,
        };
        let Some(n) = n else {
            self.push(location, "expected integer", Some(v));
            return None;
        };
        if n < min {
            self.push(location, format!("expected number >= {min}"), Some(v));
            None
        } else if n > max {
            self.push(location, format!("expected number <= {max}"), Some(v));
            None
        } else {
            Some(n)
        }
    }

    fn u32(&mut self, obj: &Map<String, Value>, loc: &str, key: &str, min: u32) -> Option<u32> {
        let n = self.int(obj, loc, key, i64::from(min), i64::from(u32::MAX))?;
        u32::try_from(n).ok()
    }

    fn bool(&mut self, obj: &Map<String, Value>, loc: &str, key: &str) -> Option<bool> {
        let v = Self::field(obj, key)?;
        let b = v.as_bool();
        if b.is_none() {
            self.push(at(loc, key), "expected boolean", Some(v));
        }
        b
    }

    fn one_of<T: Copy>(
        &mut self,
        obj: &Map<String, Value>,
        loc: &str,
        key: &str,
        options: &[(&str, T)],
    ) -> Option<T> {
        let s = self.string(obj, loc, key)?;
        let found = options.iter().find(|(name, _)| *name == s).map(|(_, t)| *t);
        if found.is_none() {
            let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
            let message = format!("expected value to be one of \"{}\"", names.join(", "));
            self.push(at(loc, key), message, obj.get(key));
        }
        found
    }

    fn queue_name(&mut self, obj: &Map<String, Value>, loc: &str, key: &str) -> Option<QueueName> {
        let s = self.string(obj, loc, key)?;
        match QueueName::problem(s) {
            Some(why) => {
                self.push(at(loc, key), why, obj.get(key));
                None
            }
            None => QueueName::new(s).ok(),
        }
    }

    fn metadata(
        &mut self,
        obj: &Map<String, Value>,
        loc: &str,
        limits: &RequestLimits,
    ) -> Option<Metadata> {
        let v = Self::field(obj, "metadata")?;
        let location = at(loc, "metadata");
        let Some(map) = v.as_object() else {
            self.push(location, "expected object", Some(v));
            return None;
        };
        let mut out = Metadata::new();
        let mut bytes = 0usize;
        for (key, value) in map {
            match value.as_str() {
                Some(s) => {
                    bytes = bytes.saturating_add(key.len()).saturating_add(s.len());
                    out.insert(key.clone(), s.to_string());
                }
                None => self.push(at(&location, key), "expected string", Some(value)),
            }
        }
        if let Err(v) = limits.message().check_metadata_size(map.len(), bytes) {
            self.push(location, v.message, None);
            return None;
        }
        Some(out)
    }

    fn settings(&mut self, v: &Value, loc: &str) -> SettingsInput {
        let allowed = [
            "strategy",
            "max_unacked",
            "ack_timeout",
            "max_deliveries",
            "dead_letter_queue",
        ];
        let Some(obj) = self.object(v, loc, &allowed, &[]) else {
            return SettingsInput::default();
        };
        let strategy = self.one_of(
            obj,
            loc,
            "strategy",
            &[
                ("round_robin", Strategy::RoundRobin),
                ("weighted", Strategy::Weighted),
            ],
        );
        let dead_letter_queue = match self.string(obj, loc, "dead_letter_queue") {
            Some("") => Some(None),
            Some(_) => self.queue_name(obj, loc, "dead_letter_queue").map(Some),
            None => None,
        };
        SettingsInput {
            strategy,
            max_unacked: self.u32(obj, loc, "max_unacked", 0),
            // Over HTTP an explicit ack_timeout must be at least a minute (docs/http.md §3.2).
            ack_timeout: self.u32(obj, loc, "ack_timeout", 60),
            max_deliveries: self.u32(obj, loc, "max_deliveries", 0),
            dead_letter_queue,
        }
    }

    /// One enqueue body (or batch item) at `loc`.
    fn message(&mut self, v: &Value, loc: &str, limits: &RequestLimits) -> Option<MessageInput> {
        let allowed = ["id", "group", "priority", "content", "metadata"];
        let obj = self.object(v, loc, &allowed, &["priority", "content"])?;
        let id = match self.string(obj, loc, "id") {
            None | Some("") => None,
            Some(s) => match s.parse::<u64>() {
                Ok(0) => None,
                Ok(n) if s.bytes().all(|b| b.is_ascii_digit()) => Some(MessageId(n)),
                _ => {
                    self.push(
                        at(loc, "id"),
                        "expected a decimal unsigned 64-bit integer",
                        obj.get("id"),
                    );
                    None
                }
            },
        };
        let group = match self.string(obj, loc, "group") {
            Some(g) => match limits::check_group(g) {
                Ok(()) => Some(Group::new(g)),
                Err(v) => {
                    self.push(at(loc, "group"), v.message, obj.get("group"));
                    None
                }
            },
            None => Some(Group::new("default")),
        };
        let priority = self.required_priority(obj, loc);
        let content = match self.string(obj, loc, "content") {
            Some(c) => match limits.message().check_content(c) {
                Ok(()) => Some(c),
                Err(v) => {
                    self.push(at(loc, "content"), v.message, None);
                    None
                }
            },
            None => None,
        };
        let metadata = self.metadata(obj, loc, limits);
        Some(MessageInput {
            id,
            group: group?,
            priority: priority?,
            content: content?.to_string(),
            metadata: metadata.unwrap_or_default(),
        })
    }

    fn required_priority(&mut self, obj: &Map<String, Value>, loc: &str) -> Option<Priority> {
        self.int(obj, loc, "priority", 0, i64::MAX).map(Priority)
    }
}

/// `POST /API/v1/queues`: `{"name","type","settings"}`, all required.
pub(crate) fn create_queue(v: &Value) -> Result<CreateInput, ApiError> {
    let mut c = Checker::default();
    let Some(obj) = c.object(
        v,
        "body",
        &["name", "type", "settings"],
        &["name", "type", "settings"],
    ) else {
        return Err(ApiError::invalid(c.violations));
    };
    let name = c.queue_name(obj, "body", "name");
    let kind = c.one_of(
        obj,
        "body",
        "type",
        &[("delayed", QueueKind::Delayed), ("fair", QueueKind::Fair)],
    );
    let settings = Checker::field(obj, "settings")
        .map(|s| c.settings(s, "body.settings"))
        .unwrap_or_default();
    match (name, kind) {
        (Some(name), Some(kind)) => c.finish(CreateInput {
            name,
            kind,
            settings,
        }),
        _ => Err(ApiError::invalid(c.violations)),
    }
}

/// `PUT /API/v1/queues/{q}`: `{"settings"}`, required.
pub(crate) fn update_queue(v: &Value) -> Result<SettingsInput, ApiError> {
    let mut c = Checker::default();
    let Some(obj) = c.object(v, "body", &["settings"], &["settings"]) else {
        return Err(ApiError::invalid(c.violations));
    };
    let settings = Checker::field(obj, "settings")
        .map(|s| c.settings(s, "body.settings"))
        .unwrap_or_default();
    c.finish(settings)
}

/// `POST …/messages`: one message.
pub(crate) fn enqueue(v: &Value, limits: &RequestLimits) -> Result<MessageInput, ApiError> {
    let mut c = Checker::default();
    let message = c.message(v, "body", limits);
    match message {
        Some(m) => c.finish(m),
        None => Err(ApiError::invalid(c.violations)),
    }
}

/// `POST …/batch/enqueue`: `{"messages":[…]}` with 1..=`max_batch_size` items.
pub(crate) fn batch_enqueue(
    v: &Value,
    limits: &RequestLimits,
) -> Result<Vec<MessageInput>, ApiError> {
    let mut c = Checker::default();
    let Some(items) = c.batch_items(v, limits) else {
        return Err(ApiError::invalid(c.violations));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if let Some(m) = c.message(item, &format!("body.messages[{i}]"), limits) {
            out.push(m);
        }
    }
    c.finish(out)
}

/// `POST …/batch/ack`: `{"messages":[{"id","receipt"?},…]}` with 1..=`max_batch_size` items. Each id is a
/// decimal string; a receipt must decode and name its item's id. One bad item fails the whole call.
pub(crate) fn batch_ack(
    v: &Value,
    limits: &RequestLimits,
) -> Result<Vec<(MessageId, Option<Receipt>)>, ApiError> {
    let mut c = Checker::default();
    let Some(items) = c.batch_items(v, limits) else {
        return Err(ApiError::invalid(c.violations));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if let Some(acked) = c.ack_item(item, &format!("body.messages[{i}]")) {
            out.push(acked);
        }
    }
    c.finish(out)
}

impl Checker {
    /// One batch ack item at `loc`: `{"id","receipt"?}`.
    fn ack_item(&mut self, v: &Value, loc: &str) -> Option<(MessageId, Option<Receipt>)> {
        let obj = self.object(v, loc, &["id", "receipt"], &["id"])?;
        let raw = self.string(obj, loc, "id")?;
        let Some(id) = raw
            .parse::<u64>()
            .ok()
            .filter(|_| raw.bytes().all(|b| b.is_ascii_digit()))
            .map(MessageId)
        else {
            self.push(
                at(loc, "id"),
                "expected a decimal unsigned 64-bit integer",
                obj.get("id"),
            );
            return None;
        };
        let receipt = match self.string(obj, loc, "receipt") {
            None | Some("") => None,
            Some(text) => match Receipt::decode(text) {
                Some(r) if r.id == id => Some(r),
                Some(_) => {
                    self.push(
                        at(loc, "receipt"),
                        "receipt is for another message",
                        obj.get("receipt"),
                    );
                    return None;
                }
                None => {
                    self.push(at(loc, "receipt"), "invalid receipt", obj.get("receipt"));
                    return None;
                }
            },
        };
        Some((id, receipt))
    }
}

/// `POST …/batch/dequeue`: `{"max","ack"?,"wait"?}`.
pub(crate) fn batch_dequeue(
    v: &Value,
    limits: &RequestLimits,
) -> Result<BatchDequeueInput, ApiError> {
    let mut c = Checker::default();
    let Some(obj) = c.object(v, "body", &["max", "ack", "wait"], &["max"]) else {
        return Err(ApiError::invalid(c.violations));
    };
    let cap = i64::try_from(limits.max_batch_size.min(usize::from(u16::MAX))).unwrap_or(1000);
    let max = c
        .int(obj, "body", "max", 1, cap)
        .and_then(|n| u16::try_from(n).ok());
    let ack = c.bool(obj, "body", "ack").unwrap_or(false);
    let wait = match Checker::field(obj, "wait") {
        None => Some(Duration::ZERO),
        Some(w) => {
            let text = match w {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            };
            match text.map(|t| parse_wait(&t, limits.max_wait_seconds)) {
                Some(Ok(d)) => Some(d),
                Some(Err(why)) => {
                    c.push("body.wait".into(), why, Some(w));
                    None
                }
                None => {
                    c.push("body.wait".into(), "expected string or number", Some(w));
                    None
                }
            }
        }
    };
    match (max, wait) {
        (Some(max), Some(wait)) => c.finish(BatchDequeueInput { max, ack, wait }),
        _ => Err(ApiError::invalid(c.violations)),
    }
}

/// `POST …/nack`: `{"priority"(required),"metadata"?}`; metadata present (even `{}`) replaces the map.
pub(crate) fn nack(
    v: &Value,
    limits: &RequestLimits,
) -> Result<(Priority, Option<Metadata>), ApiError> {
    let mut c = Checker::default();
    let Some(obj) = c.object(v, "body", &["priority", "metadata"], &["priority"]) else {
        return Err(ApiError::invalid(c.violations));
    };
    let priority = c.required_priority(obj, "body");
    let metadata = c.metadata(obj, "body", limits);
    match priority {
        Some(p) => c.finish((p, metadata)),
        None => Err(ApiError::invalid(c.violations)),
    }
}

/// `PUT …/priority`: `{"priority"}`.
pub(crate) fn priority(v: &Value) -> Result<Priority, ApiError> {
    let mut c = Checker::default();
    let Some(obj) = c.object(v, "body", &["priority"], &["priority"]) else {
        return Err(ApiError::invalid(c.violations));
    };
    match c.required_priority(obj, "body") {
        Some(p) => c.finish(p),
        None => Err(ApiError::invalid(c.violations)),
    }
}

/// `POST /API/v1/ids`: `{"number":1..1000}`.
pub(crate) fn reserve_ids(v: &Value) -> Result<u16, ApiError> {
    let mut c = Checker::default();
    let Some(obj) = c.object(v, "body", &["number"], &["number"]) else {
        return Err(ApiError::invalid(c.violations));
    };
    match c
        .int(obj, "body", "number", 1, 1000)
        .and_then(|n| u16::try_from(n).ok())
    {
        Some(n) => c.finish(n),
        None => Err(ApiError::invalid(c.violations)),
    }
}

/// `POST /API/v1/cluster/join`: `{"id","addr"}`, both required.
pub(crate) fn join(v: &Value) -> Result<NodeInfo, ApiError> {
    let mut c = Checker::default();
    let Some(obj) = c.object(v, "body", &["id", "addr"], &["id", "addr"]) else {
        return Err(ApiError::invalid(c.violations));
    };
    let id = c.required_string(obj, "body", "id");
    let addr = c.required_string(obj, "body", "addr");
    match (id, addr) {
        (Some(id), Some(addr)) => c.finish(NodeInfo { id, addr }),
        _ => Err(ApiError::invalid(c.violations)),
    }
}

/// `POST /API/v1/cluster/leave`: `{"id"}`.
pub(crate) fn leave(v: &Value) -> Result<String, ApiError> {
    let mut c = Checker::default();
    let Some(obj) = c.object(v, "body", &["id"], &["id"]) else {
        return Err(ApiError::invalid(c.violations));
    };
    match c.required_string(obj, "body", "id") {
        Some(id) => c.finish(id),
        None => Err(ApiError::invalid(c.violations)),
    }
}

impl Checker {
    /// A required, non-empty string (`null` is a type error, a missing key was reported by `object`).
    fn required_string(
        &mut self,
        obj: &Map<String, Value>,
        loc: &str,
        key: &str,
    ) -> Option<String> {
        let v = Self::field(obj, key)?;
        match v.as_str() {
            Some("") => {
                self.push(at(loc, key), "expected length >= 1", Some(v));
                None
            }
            Some(s) if s.len() > MAX_NAME_BYTES => {
                self.push(
                    at(loc, key),
                    format!("expected length <= {MAX_NAME_BYTES}"),
                    Some(v),
                );
                None
            }
            Some(s) => Some(s.to_string()),
            None => {
                self.push(at(loc, key), "expected string", Some(v));
                None
            }
        }
    }
}
