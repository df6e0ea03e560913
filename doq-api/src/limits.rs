//! The input limits of docs/http.md §2.1, in one place for every entry point: HTTP bodies, gRPC messages and
//! backup records (docs/backup.md §8.3) all check messages and names with these functions, so a record a restore
//! accepts is one an enqueue or create-queue request could have produced.
//!
//! Queue names are checked by [`QueueName::new`]. Priorities are any `i64` on gRPC (DOQ), so only HTTP
//! narrows them ([`check_http_priority`]); a backup may hold any.
use crate::{backup::ImportItem, message::Metadata, name::QueueName};

/// Longest `group`, in bytes (docs/http.md §2.1; fixed). It also bounds a round-robin path to 513 segments.
pub const MAX_GROUP_BYTES: usize = 1024;

/// The configurable message limits (`limits.max_content_bytes`, `limits.max_metadata_entries`,
/// `limits.max_metadata_bytes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest `content`, in bytes.
    pub max_content_bytes: usize,
    /// Most metadata entries per message.
    pub max_metadata_entries: usize,
    /// Most metadata bytes (keys plus values) per message.
    pub max_metadata_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_content_bytes: 1 << 20,
            max_metadata_entries: 64,
            max_metadata_bytes: 16 << 10,
        }
    }
}

/// A broken limit: the field (`group`, `content`, `metadata`, `priority`) and JSON-Schema wording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The field, without a location prefix.
    pub field: &'static str,
    /// What the field must be, such as `expected length <= 1024`.
    pub message: String,
}

impl Violation {
    fn new(field: &'static str, message: String) -> Self {
        Self { field, message }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A group must be at most [`MAX_GROUP_BYTES`].
pub fn check_group(group: &str) -> Result<(), Violation> {
    if group.len() > MAX_GROUP_BYTES {
        return Err(Violation::new(
            "group",
            format!("expected length <= {MAX_GROUP_BYTES}"),
        ));
    }
    Ok(())
}

/// HTTP priorities are `int64 >= 0` (gRPC takes any `int64`, DOQ's rule).
pub fn check_http_priority(priority: i64) -> Result<(), Violation> {
    if priority < 0 {
        return Err(Violation::new("priority", "expected number >= 0".into()));
    }
    Ok(())
}

impl Limits {
    /// `content` must be at most `max_content_bytes`.
    pub fn check_content(&self, content: &str) -> Result<(), Violation> {
        if content.len() > self.max_content_bytes {
            return Err(Violation::new(
                "content",
                format!("expected length <= {}", self.max_content_bytes),
            ));
        }
        Ok(())
    }

    /// Metadata of `entries` entries whose keys and values take `bytes` bytes.
    pub fn check_metadata_size(&self, entries: usize, bytes: usize) -> Result<(), Violation> {
        if entries > self.max_metadata_entries {
            return Err(Violation::new(
                "metadata",
                format!(
                    "expected object with at most {} properties",
                    self.max_metadata_entries
                ),
            ));
        }
        if bytes > self.max_metadata_bytes {
            return Err(Violation::new(
                "metadata",
                format!(
                    "expected metadata of at most {} bytes",
                    self.max_metadata_bytes
                ),
            ));
        }
        Ok(())
    }

    /// [`Limits::check_metadata_size`] of a map.
    pub fn check_metadata<'a>(
        &self,
        entries: impl ExactSizeIterator<Item = (&'a String, &'a String)>,
    ) -> Result<(), Violation> {
        let count = entries.len();
        let bytes = entries.fold(0usize, |n, (k, v)| {
            n.saturating_add(k.len()).saturating_add(v.len())
        });
        self.check_metadata_size(count, bytes)
    }

    /// Group, content and metadata of one message.
    pub fn check_message(
        &self,
        group: &str,
        content: &str,
        metadata: &Metadata,
    ) -> Result<(), Violation> {
        check_group(group)?;
        self.check_content(content)?;
        self.check_metadata(metadata.iter())
    }

    /// Whether a backup record is one the API could have produced (docs/backup.md §8.3). Names were checked
    /// when the record was read ([`QueueName`] cannot hold a bad one).
    pub fn check_item(&self, item: &ImportItem) -> Result<(), Violation> {
        match item {
            ImportItem::Message { group, body, .. } => {
                self.check_message(group.as_str(), &body.content, &body.metadata)
            }
            ImportItem::Queue { .. }
            | ImportItem::QueueDeleted { .. }
            | ImportItem::MessageDeleted { .. } => Ok(()),
        }
    }
}

/// Whether `name` is a valid queue name; the same rules as [`QueueName::new`].
pub fn check_queue_name(name: &str) -> Result<(), Violation> {
    match QueueName::problem(name) {
        None => Ok(()),
        Some(why) => Err(Violation::new("name", why.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Body, Group, MessageId, Priority};

    #[test]
    fn messages_within_limits_pass_and_each_limit_is_named() {
        let l = Limits::default();
        let mut md = Metadata::new();
        md.insert("k".into(), "v".into());
        assert!(l.check_message("a.b", "hi", &md).is_ok());
        assert_eq!(
            l.check_message(&"g".repeat(1025), "", &md)
                .unwrap_err()
                .field,
            "group"
        );
        assert!(l.check_message(&"g".repeat(1024), "", &md).is_ok());
        assert_eq!(
            l.check_message("", &"c".repeat((1 << 20) + 1), &md)
                .unwrap_err()
                .field,
            "content"
        );
        let big: Metadata = (0..65).map(|i| (i.to_string(), String::new())).collect();
        assert_eq!(l.check_message("", "", &big).unwrap_err().field, "metadata");
        let heavy: Metadata = [("k".to_string(), "v".repeat(16 << 10))].into();
        assert_eq!(
            l.check_message("", "", &heavy).unwrap_err().message,
            "expected metadata of at most 16384 bytes"
        );
        assert!(check_http_priority(-1).is_err());
        assert!(check_http_priority(0).is_ok());
        assert!(check_queue_name("a/b").is_err());
    }

    #[test]
    fn backup_items_get_the_message_limits() {
        let l = Limits::default();
        let item = |group: &str| ImportItem::Message {
            queue: QueueName::new("q").unwrap(),
            id: MessageId(1),
            group: Group::new(group),
            priority: Priority(i64::MIN),
            body: Body::default(),
            deliveries: 0,
        };
        assert!(l.check_item(&item("a.b")).is_ok());
        assert!(l.check_item(&item(&"a.".repeat(600))).is_err());
    }
}
