//! doq's storage boundary: the [`QueueStore`] trait the applier commits [`WriteBatch`]es to, and its
//! backends. Start at `store.rs` (the trait and its contract), then `batch.rs` (what a commit holds and how
//! the engine stages it), then a backend: `memory.rs` is the reference, `redb.rs` the durable one. [`open`]
//! picks a backend by name for a data directory.
mod batch;
mod error;
// Byte keys and encoded values: used by the on-disk backends.
#[cfg(feature = "redb")]
mod keys;
mod memory;
mod open;
#[cfg(feature = "redb")]
mod record;
#[cfg(feature = "redb")]
mod redb;
mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

#[cfg(feature = "redb")]
pub use crate::redb::RedbStore;
pub use crate::{
    batch::{Op, Staged, WriteBatch},
    error::{BoxError, Error, Result},
    memory::MemoryStore,
    open::{open, StoreOptions, BACKENDS, LOCK_FILE, MARKER_FILE, REDB_FILE},
    store::{Applied, QueueStore, Source},
};
