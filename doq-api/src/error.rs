//! The one error type every doq crate converts into at its boundary, with a stable `code()` and a `kind()`.

/// Result with doq's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in terms a client can act on. `Clone` so it can cross a forwarding hop.
///
/// The server maps each variant to an HTTP status and gRPC code in one place; texts here are for logs.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The named queue does not exist.
    #[error("queue not found: {0}")]
    QueueNotFound(String),
    /// Nothing in the queue is deliverable now.
    #[error("queue is empty: {0}")]
    QueueEmpty(String),
    /// The message id does not exist in the queue.
    #[error("message not found in queue {queue}")]
    MessageNotFound {
        /// The queue that was searched.
        queue: String,
    },
    /// Ack, nack or touch of a message without a live lease.
    #[error("no live lease on the message in queue {queue}")]
    LeaseNotHeld {
        /// The queue of the message.
        queue: String,
    },
    /// The receipt names an earlier delivery than the message's current one.
    #[error("stale receipt in queue {queue}")]
    StaleReceipt {
        /// The queue of the message.
        queue: String,
    },
    /// A settings combination the queue cannot have (checked at apply, so it is a conflict, not a 422).
    #[error("invalid settings for queue {name}: {reason}")]
    InvalidSettings {
        /// The queue being created or updated.
        name: String,
        /// Which rule failed.
        reason: String,
    },
    /// The queue is another queue's dead-letter queue and cannot be deleted.
    #[error("queue is used as a dead-letter queue: {0}")]
    QueueInUse(String),
    /// A request value breaks the schema or a limit.
    #[error("{location}: {message}")]
    Invalid {
        /// Where the value is, such as `body.priority` (the server prefixes `body.`/`path.`/`query.`).
        location: String,
        /// JSON-schema style wording, such as `expected number >= 0`.
        message: String,
        /// The offending value as text.
        value: String,
    },
    /// A join or leave the cluster refuses (last voter, or single-node mode).
    #[error("membership change refused: {0}")]
    MembershipRefused(String),
    /// No leader, lost quorum, or the command could not be handed to the leader: nothing was applied,
    /// retry.
    #[error("{0}")]
    Unavailable(String),
    /// The command was handed to consensus (or forwarded to the leader) but no answer came in time: it
    /// may or may not have been applied. Retry only what is safe to repeat (an enqueue with a
    /// client-chosen id is).
    #[error("{0}")]
    OutcomeUnknown(String),
    /// A restore's input is malformed, corrupt, unsupported or breaks the chain rules (docs/backup.md §8.3).
    #[error("{0}")]
    BackupInvalid(String),
    /// Another restore is staged.
    #[error("another restore is in progress")]
    RestoreInProgress,
    /// An incremental backup's `since` predates the oldest retained deletion.
    #[error("since is older than the oldest retained deletion; take a full backup")]
    SinceTooOld,
    /// The store failed to commit or read; the write's outcome is unknown.
    #[error("storage error ({backend}): {what}")]
    Storage {
        /// The backend's name, such as `redb`.
        backend: String,
        /// The operation that failed.
        what: String,
    },
    /// A bug: an invariant did not hold.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Error classes: how a client should react, independent of the route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Something named does not exist.
    NotFound,
    /// A dequeue found nothing deliverable.
    Empty,
    /// The request is malformed or breaks a limit.
    Invalid,
    /// The request conflicts with the current state (settings, stale receipt, queue in use).
    Conflict,
    /// Try again: no leader, timeout (`Error::OutcomeUnknown` too: its write may have been applied).
    Unavailable,
    /// The store failed.
    Storage,
    /// A bug.
    Internal,
}

impl Error {
    /// A validation error at `location` (relative, such as `body.priority`).
    pub fn invalid(
        location: impl Into<String>,
        message: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            location: location.into(),
            message: message.into(),
            value: value.into(),
        }
    }

    /// A storage failure of `backend` while doing `what`.
    pub fn storage(backend: impl Into<String>, what: impl Into<String>) -> Self {
        Self::Storage {
            backend: backend.into(),
            what: what.into(),
        }
    }

    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::QueueNotFound(_) | Self::MessageNotFound { .. } | Self::LeaseNotHeld { .. } => {
                ErrorKind::NotFound
            }
            Self::QueueEmpty(_) => ErrorKind::Empty,
            Self::Invalid { .. } | Self::BackupInvalid(_) => ErrorKind::Invalid,
            Self::RestoreInProgress | Self::SinceTooOld => ErrorKind::Conflict,
            Self::StaleReceipt { .. }
            | Self::InvalidSettings { .. }
            | Self::QueueInUse(_)
            | Self::MembershipRefused(_) => ErrorKind::Conflict,
            Self::Unavailable(_) | Self::OutcomeUnknown(_) => ErrorKind::Unavailable,
            Self::Storage { .. } => ErrorKind::Storage,
            Self::Internal(_) => ErrorKind::Internal,
        }
    }

    /// The stable snake_case code of docs/errors.md §6.
    pub fn code(&self) -> &'static str {
        match self {
            Self::QueueNotFound(_) => "queue_not_found",
            Self::QueueEmpty(_) => "queue_empty",
            Self::MessageNotFound { .. } => "message_not_found",
            Self::LeaseNotHeld { .. } => "lease_not_held",
            Self::StaleReceipt { .. } => "stale_receipt",
            Self::InvalidSettings { .. } => "invalid_settings",
            Self::QueueInUse(_) => "queue_in_use",
            Self::MembershipRefused(_) => "membership_refused",
            Self::Invalid { .. } => "validation_failed",
            Self::BackupInvalid(_) => "backup_invalid",
            Self::RestoreInProgress => "restore_in_progress",
            Self::SinceTooOld => "since_too_old",
            Self::Unavailable(_) => "unavailable",
            Self::OutcomeUnknown(_) => "outcome_unknown",
            Self::Storage { .. } => "storage_error",
            Self::Internal(_) => "internal",
        }
    }
}
