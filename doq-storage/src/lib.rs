//! doq's storage boundary: the [`QueueStore`] trait the applier commits [`WriteBatch`]es to, the
//! [`LogStore`] trait the Raft log is kept in, and their backends. Start at `store.rs` (the trait and its
//! contract), then `batch.rs` (what a commit holds and how the engine stages it), then a backend:
//! `memory.rs` is the reference, `redb.rs`, `rocksdb.rs` and `sled.rs` the durable ones, each behind the
//! cargo feature of the same name. `log.rs` has the log's contract. [`open_stores`] picks a backend by name
//! for a data directory and returns both views of one database.
pub mod backup;
mod batch;
mod error;
// Fault injection wrappers: always built, for the server's test-only `testing.control_file` hook.
mod faulty;
// Byte keys and encoded values: used by the on-disk backends.
mod keys;
mod log;
mod memory;
mod open;
mod record;
#[cfg(feature = "redb")]
mod redb;
mod reopen;
#[cfg(feature = "rocksdb")]
mod rocksdb;
#[cfg(feature = "sled")]
mod sled;
mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod tuning;

pub use crate::faulty::{CommitFault, FaultyLog, FaultyStore, InjectedFault};
#[cfg(feature = "redb")]
pub use crate::redb::RedbStore;
#[cfg(feature = "rocksdb")]
pub use crate::rocksdb::RocksStore;
#[cfg(feature = "sled")]
pub use crate::sled::SledStore;
pub use crate::{
    batch::{Op, Staged, WriteBatch},
    error::{BoxError, Error, Result},
    keys::{MetaKey, Space},
    log::{LogMeta, LogStore},
    memory::MemoryStore,
    open::{
        is_locked, open, open_stores, StoreOptions, Stores, BACKENDS, LOCK_FILE, MARKER_FILE,
        REDB_FILE, ROCKSDB_DIR, SLED_DIR,
    },
    reopen::{Opener, Reopening},
    store::{backup_state, cluster_id, Applied, QueueStore, Snapshot, Source},
    tuning::{Compression, RocksDbTuning, SledMode, SledTuning},
};
