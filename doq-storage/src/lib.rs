//! doq's storage boundary: the [`QueueStore`] trait the applier commits [`WriteBatch`]es to, the
//! [`LogStore`] trait the Raft log is kept in, and their backends. Start at `store.rs` (the trait and its
//! contract), then `batch.rs` (what a commit holds and how the engine stages it), then a backend:
//! `memory.rs` is the reference, `redb.rs`, `rocksdb.rs` and `sled.rs` the durable ones, each behind the
//! cargo feature of the same name. `log.rs` has the log's contract. `registry.rs` holds the one list of
//! backends ([`for_each_backend!`]); the backend modules are declared from it at the end of this file.
//! [`open_stores`] picks a backend by name for a data directory and returns both views of one database.
pub mod backup;
mod batch;
mod error;
// Fault injection wrappers: always built, for the server's test-only `testing.control_file` hook.
mod faulty;
// Byte keys and encoded values: used by the on-disk backends.
mod keys;
mod log;
mod open;
mod record;
mod registry;
mod reopen;
mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod tuning;

pub use crate::faulty::{CommitFault, FaultyLog, FaultyStore, InjectedFault};
pub use crate::{
    batch::{Op, Staged, WriteBatch},
    error::{BoxError, Error, Result},
    keys::{MetaKey, Space},
    log::{LogMeta, LogStore},
    open::{is_locked, open, open_stores, StoreOptions, Stores, LOCK_FILE, MARKER_FILE},
    registry::{Backend, OpenFn},
    reopen::{Opener, Reopening},
    store::{backup_state, cluster_id, Applied, QueueStore, Snapshot, Source},
    tuning::{Compression, RocksDbTuning, SledMode, SledTuning},
};

// Each backend's `mod` line and store type, from the registry's list: `mod memory; pub use memory::MemoryStore;`,
// then the feature-gated ones, then `REGISTRY` and `BACKENDS`.
use registry::declare_backends;
for_each_backend!(declare_backends);
