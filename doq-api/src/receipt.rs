//! Receipts: opaque names for one delivery, so a consumer whose lease lapsed cannot ack a redelivery.
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};

use crate::{command::LogIndex, message::MessageId};

/// One delivery of one message: the id and the index of the delivering command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The delivered message.
    pub id: MessageId,
    /// The index of the command that delivered it.
    pub lease: LogIndex,
}

impl Receipt {
    /// The wire form: `base64url_nopad(u64be id ‖ u64be lease)` (docs/http.md §3.4).
    pub fn encode(self) -> String {
        let mut raw = [0u8; 16];
        raw[..8].copy_from_slice(&self.id.0.to_be_bytes());
        raw[8..].copy_from_slice(&self.lease.to_be_bytes());
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Parses the wire form; `None` for anything that is not exactly what `encode` makes.
    pub fn decode(s: &str) -> Option<Self> {
        if s.len() > 64 {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(s).ok()?;
        let id: [u8; 8] = raw.get(..8)?.try_into().ok()?;
        let lease: [u8; 8] = raw.get(8..16)?.try_into().ok()?;
        (raw.len() == 16).then(|| Self {
            id: MessageId(u64::from_be_bytes(id)),
            lease: u64::from_be_bytes(lease),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_round_trip_and_reject_garbage() {
        let r = Receipt {
            id: MessageId(u64::MAX - 3),
            lease: 42,
        };
        assert_eq!(Receipt::decode(&r.encode()), Some(r));
        for bad in ["", "abc", "!!!!", &"A".repeat(65)] {
            assert_eq!(Receipt::decode(bad), None);
        }
    }
}
