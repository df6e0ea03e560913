//! doq's vocabulary and its functional core: queue names, settings, messages, commands, errors and the
//! deterministic queue [`Engine`]. No IO, no clock, no randomness: start at `engine.rs` (`Engine::apply`).
mod backup;
mod command;
mod engine;
mod error;
pub mod limits;
mod message;
mod name;
mod queue;
mod receipt;
mod time;

pub use backup::{
    BackupState, ImportHeader, ImportItem, ImportMode, RestoreId, RestoreMark, StagingState,
    Tombstone, STAGING_IDLE_MS,
};
pub use command::{
    Command, Delivery, Enqueued, LogIndex, NewMessage, Reply, SettingsUpdate, Stamped,
};
pub use engine::{
    Counters, Engine, GroupRecord, IndexSource, MessageState, MessageView, Mutations, OpTotals,
    PeekFilter, PeekPage, QueueRecord, QueueStats,
};
pub use error::{Error, ErrorKind, Result};
pub use limits::{Limits, MAX_GROUP_BYTES};
pub use message::{Body, Group, Lease, MessageHeader, MessageId, Metadata, Priority};
pub use name::{QueueName, MAX_NAME_BYTES};
pub use queue::{QueueId, QueueKind, QueueSettings, Strategy};
pub use receipt::Receipt;
pub use time::{Clock, ManualClock, Timestamp};
