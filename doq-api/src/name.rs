//! `QueueName`: a validated queue name that is safe in paths, keys and logs.
use std::{fmt, sync::Arc};

use crate::error::{Error, Result};

/// Longest queue name, in bytes of UTF-8 (docs/http.md §2.1).
pub const MAX_NAME_BYTES: usize = 1024;

/// A queue name: 1–1024 bytes of UTF-8, no control characters, no `/`, not `.` or `..`.
///
/// Cheap to clone (an `Arc<str>`), because every command and index entry names its queue.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueName(Arc<str>);

impl QueueName {
    /// Validates `name`; the error explains which rule it breaks, worded like a JSON-schema violation.
    pub fn new(name: &str) -> Result<Self> {
        match Self::problem(name) {
            None => Ok(Self(Arc::from(name))),
            Some(why) => Err(Error::invalid("name", why, name)),
        }
    }

    /// Why `name` is not a valid queue name, or `None` when it is.
    pub fn problem(name: &str) -> Option<&'static str> {
        if name.is_empty() {
            Some("expected length >= 1")
        } else if name.len() > MAX_NAME_BYTES {
            Some("expected length <= 1024")
        } else if name.chars().any(char::is_control) {
            Some("expected no control characters")
        } else if name.contains('/') {
            Some("expected no '/' characters")
        } else if name == "." || name == ".." {
            Some("expected a name other than '.' and '..'")
        } else {
            None
        }
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for QueueName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for QueueName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_reject_what_cannot_be_addressed() {
        for bad in ["", ".", "..", "a/b", "a\nb", &"x".repeat(1025)] {
            assert!(QueueName::new(bad).is_err(), "{bad:?} should be refused");
        }
        for good in ["q", "a.b", "a:b", "ünïcode", &"x".repeat(1024)] {
            assert_eq!(QueueName::new(good).unwrap().as_str(), good);
        }
    }
}
