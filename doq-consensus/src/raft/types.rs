//! The openraft type configuration: what a log entry carries ([`Request`]), what applying one answers
//! ([`Response`]), and how a node is named ([`DoqNode`], [`node_id`]).
use std::{fmt, io::Cursor};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use doq_api::{Reply, Result, Stamped};
use serde::{de::Error as _, Deserialize, Deserializer, Serialize, Serializer};

use super::codec;

openraft::declare_raft_types!(
    /// doq's Raft types: stamped commands in, engine outcomes out, nodes named by `cluster.node_id`.
    pub(crate) TypeConfig:
        D = Request,
        R = Response,
        NodeId = u64,
        Node = DoqNode,
);

/// The Raft node id of `name` (`cluster.node_id`): FNV-1a of its bytes. DOQ names nodes with strings,
/// openraft with integers; every node computes the same id from the same name.
pub(crate) fn node_id(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A member as the membership config stores it: its `cluster.node_id` and Raft advertise address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DoqNode {
    /// `cluster.node_id`.
    pub(crate) name: String,
    /// Raft advertise `host:port`.
    pub(crate) addr: String,
}

impl fmt::Display for DoqNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.addr)
    }
}

/// A log entry's payload: the commands the leader's proposer batched into it, each stamped with its
/// time and seed. One entry is one append and one fsync for all of them (see `proposer.rs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Request(pub(crate) Vec<Stamped>);

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} commands", self.0.len())
    }
}

/// Serialized as base64 of `codec::encode_batch`, so JSON carries it as one string.
impl Serialize for Request {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(codec::encode_batch(&self.0)))
    }
}

impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = STANDARD.decode(text).map_err(D::Error::custom)?;
        codec::decode_batch(&bytes)
            .map(Self)
            .map_err(D::Error::custom)
    }
}

/// What applying an entry answered: the engine's outcome for each of its commands, in order (empty for
/// Raft's own entries, blank and membership).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Response(pub(crate) Vec<Result<Reply>>);

/// Serialized as base64 of `codec::encode_outcomes`. Responses stay on the node that applied them;
/// openraft's `serde` feature only asks that they could travel.
impl Serialize for Response {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(codec::encode_outcomes(&self.0)))
    }
}

impl<'de> Deserialize<'de> for Response {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = STANDARD.decode(text).map_err(D::Error::custom)?;
        codec::decode_outcomes(&bytes)
            .map(Self)
            .map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use doq_api::{Command, Timestamp};

    use super::*;

    #[test]
    fn node_ids_are_stable_and_distinct() {
        assert_eq!(node_id("node-0"), node_id("node-0"));
        assert_ne!(node_id("node-0"), node_id("node-1"));
        // FNV-1a's published test vector: the id must never change, or restarted clusters lose members.
        assert_eq!(node_id("a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn requests_and_responses_survive_json() {
        let r = Request(vec![
            Stamped {
                now: Timestamp(5),
                seed: 6,
                command: Command::ReserveIds { count: 2 },
            };
            3
        ]);
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Request>(&json).unwrap(), r);
        for resp in [Response(Vec::new()), Response(vec![Ok(Reply::Acked)])] {
            let json = serde_json::to_string(&resp).unwrap();
            assert_eq!(serde_json::from_str::<Response>(&json).unwrap(), resp);
        }
    }
}
