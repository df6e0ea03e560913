//! [`RequestLimits`]: every request limit of docs/http.md §2.1 and docs/config.md (`limits.*`), in one
//! type that is at once the configuration section and what HTTP, gRPC and restores check against. The
//! message limits inside it are `doq_api::Limits`, whose defaults are the ones used here, so each default
//! is written once.
use documented::DocumentedFields;
use serde::{Deserialize, Serialize};

/// `limits.*`: the request limits every entry point checks; a violation gets a 4xx (or gRPC status) and
/// nothing is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, DocumentedFields)]
#[serde(default)]
pub struct RequestLimits {
    /// Largest JSON body in bytes (413 above it); on gRPC, the largest message (RESOURCE_EXHAUSTED).
    pub max_body_bytes: usize,
    /// Largest message `content` in bytes.
    pub max_content_bytes: usize,
    /// Most metadata entries per message.
    pub max_metadata_entries: usize,
    /// Most metadata bytes (keys plus values) per message.
    pub max_metadata_bytes: usize,
    /// Most items in one batch request (1..=1000).
    pub max_batch_size: usize,
    /// Longest long-poll `wait`, in seconds.
    pub max_wait_seconds: u32,
    /// Largest restore upload in bytes; 0 is no cap (docs/backup.md §8.3).
    pub max_restore_bytes: u64,
}

impl RequestLimits {
    /// The message limits every entry point shares, restores and `doq restore` included
    /// (`doq_api::limits`).
    pub fn message(&self) -> doq_api::Limits {
        doq_api::Limits {
            max_content_bytes: self.max_content_bytes,
            max_metadata_entries: self.max_metadata_entries,
            max_metadata_bytes: self.max_metadata_bytes,
        }
    }
}

impl Default for RequestLimits {
    /// 8 MiB bodies, batches of 1000, 20 s long-polls, no restore cap, and `doq_api::Limits`' message
    /// limits.
    fn default() -> Self {
        let message = doq_api::Limits::default();
        Self {
            max_body_bytes: 8 << 20,
            max_content_bytes: message.max_content_bytes,
            max_metadata_entries: message.max_metadata_entries,
            max_metadata_bytes: message.max_metadata_bytes,
            max_batch_size: 1000,
            max_wait_seconds: 20,
            max_restore_bytes: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RequestLimits;

    #[test]
    fn message_limits_round_trip_through_the_defaults() {
        let l = RequestLimits::default();
        assert_eq!(l.message(), doq_api::Limits::default());
        assert_eq!(l.max_body_bytes, 8 << 20);
    }
}
