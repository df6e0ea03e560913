//! The crate's one error type, [`Error`], and its conversion into `doq_api::Error` at the boundary.
use std::{io, path::PathBuf};

/// Result with doq-storage's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A backend's own error, kept as the source of [`Error::Backend`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong in the store. Variants describe meaning, not which dependency failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The backend failed an operation; the outcome of a failed `commit` is unknown.
    #[error("{op} in {backend}")]
    Backend {
        /// The backend's name, such as `redb`.
        backend: &'static str,
        /// What the store was doing, such as `commit batch`.
        op: &'static str,
        /// The backend's own error.
        #[source]
        source: BoxError,
    },
    /// Bytes read from disk do not decode: a bug or damage, never a reason to panic.
    #[error("corrupt record: {what}")]
    Corrupt {
        /// Which record and why, such as `header 3/17: invalid wire type`.
        what: String,
    },
    /// The data directory was created by another backend.
    #[error("data dir belongs to the {found} backend, not {wanted}")]
    WrongBackend {
        /// The backend named by the directory's `DOQ_STORE` marker.
        found: String,
        /// The backend that was asked for.
        wanted: &'static str,
    },
    /// No backend has this name.
    #[error("unknown storage backend {name:?} (known: {known})")]
    UnknownBackend {
        /// The name that was asked for.
        name: String,
        /// The backends compiled into this binary, comma-separated.
        known: String,
    },
    /// The backend exists but this binary was built without its cargo feature.
    #[error("storage backend {backend} is not compiled in (enable the `{backend}` feature of doq-storage)")]
    NotCompiled {
        /// The backend that was asked for.
        backend: &'static str,
    },
    /// Another process (or another open in this one) holds the data directory's lock.
    #[error("data directory is in use by another process: {}", path.display())]
    Locked {
        /// The data directory.
        path: PathBuf,
    },
    /// A file-system operation on the data directory failed.
    #[error("{op} {}", path.display())]
    Io {
        /// What was being done, such as `create data dir`.
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// A backend failure while doing `op`.
    pub fn backend_failed(
        backend: &'static str,
        op: &'static str,
        source: impl Into<BoxError>,
    ) -> Self {
        Self::Backend {
            backend,
            op,
            source: source.into(),
        }
    }

    /// A record that does not decode.
    pub fn corrupt(what: impl Into<String>) -> Self {
        Self::Corrupt { what: what.into() }
    }

    /// An IO failure while doing `op` on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// The backend the error came from, or `storage` when it is not about one backend.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Backend { backend, .. } | Self::NotCompiled { backend } => backend,
            Self::WrongBackend { wanted, .. } => wanted,
            Self::Corrupt { .. }
            | Self::UnknownBackend { .. }
            | Self::Locked { .. }
            | Self::Io { .. } => "storage",
        }
    }

    /// Whether another open (another process, or a store of this one not yet closed) holds the data
    /// directory: worth retrying after a graceful stop, never a reason to touch the files.
    pub fn is_locked(&self) -> bool {
        matches!(self, Self::Locked { .. })
    }

    /// The error with its causes (`flush in redb: No space left on device`), for logs and probes: the
    /// `Display` form names only the operation.
    pub fn with_causes(&self) -> String {
        error_chain(self)
    }
}

impl From<Error> for doq_api::Error {
    fn from(e: Error) -> Self {
        Self::storage(e.backend(), error_chain(&e))
    }
}

/// Converts `e`, raised by `store`, naming the store's backend even when the error itself does not.
pub(crate) fn to_api(store: &dyn crate::QueueStore, e: &Error) -> doq_api::Error {
    doq_api::Error::storage(store.backend(), error_chain(e))
}

/// The error and its sources, joined with `: `, so the cause survives into `doq_api::Error`'s string.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversion_keeps_backend_and_cause() {
        let e = Error::backend_failed("redb", "commit batch", io::Error::other("disk full"));
        let api: doq_api::Error = e.into();
        assert_eq!(
            api,
            doq_api::Error::storage("redb", "commit batch in redb: disk full")
        );
    }
}
