//! Queue kinds, strategies and settings.
use std::fmt;

use crate::name::QueueName;

/// The store's short key for a queue. Assigned by the engine, never reused, so a recreated queue
/// never sees the messages of the one it replaces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueId(pub u32);

/// The two queue kinds DOQ has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueueKind {
    /// Lowest priority first; a future Unix-seconds priority holds a message until then.
    Delayed,
    /// Rotates across message groups.
    Fair,
}

impl QueueKind {
    /// DOQ's wire name (`delayed` or `fair`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delayed => "delayed",
            Self::Fair => "fair",
        }
    }

    /// Parses DOQ's wire name, case-sensitively.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "delayed" => Some(Self::Delayed),
            "fair" => Some(Self::Fair),
            _ => None,
        }
    }
}

impl fmt::Display for QueueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a fair queue picks the next group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Hierarchical, deterministic rotation (docs/semantics.md §4.2).
    RoundRobin,
    /// A seeded random pick weighted by free `max_unacked` slots (docs/semantics.md §4.3).
    Weighted,
}

impl Strategy {
    /// The upper-case name replies use (`ROUND_ROBIN`, `WEIGHTED`).
    pub fn as_upper(self) -> &'static str {
        match self {
            Self::RoundRobin => "ROUND_ROBIN",
            Self::Weighted => "WEIGHTED",
        }
    }
}

/// A queue's stored settings, with every default already resolved by the proposer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSettings {
    /// `None` for delayed queues; fair queues need one.
    pub strategy: Option<Strategy>,
    /// Live leases allowed per group; 0 means unlimited.
    pub max_unacked: u32,
    /// Lease length in seconds; never 0 once stored.
    pub ack_timeout: u32,
    /// Deliveries before a message is dead-lettered; 0 means never.
    pub max_deliveries: u32,
    /// Where dead letters go; set together with `max_deliveries`.
    pub dead_letter: Option<QueueName>,
}
