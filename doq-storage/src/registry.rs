//! The backend registry: [`for_each_backend!`] is the one list of storage backends, and [`Backend`] is
//! what each backend file contributes to it (its name, whether it is durable, how it opens a data
//! directory). Everything that varies by backend follows from that list: the `mod` lines and re-exports of
//! `lib.rs`, [`BACKENDS`] and [`REGISTRY`] (so `storage.backend` validation, `doq --version` and
//! [`crate::open_stores`]), the contract and model suites of `testing/tests.rs`, and the conformance
//! matrix's rows. ARCHITECTURE.md, "How to add a backend", walks through adding one.
use std::{fs::File, path::Path};

use crate::{Result, StoreOptions, Stores};

/// Calls `$callback!` with the list of storage backends, one `module: StoreType;` entry each, with the cargo
/// feature that compiles it as a `#[cfg]` (memory is always compiled). The module is the backend's file
/// in `doq-storage/src/` and its name is the `storage.backend` value; the file defines the store type and a
/// `pub(crate) const ENTRY: Backend`.
///
/// Adding a backend is one line here plus its file (and its cargo feature); see ARCHITECTURE.md, "How to
/// add a backend". A callback outside this crate must ignore the `#[cfg]`s (they name doq-storage's
/// features, not the caller's) and check [`BACKENDS`] at run time instead.
#[macro_export]
macro_rules! for_each_backend {
    ($callback:ident) => {
        $callback! {
            memory: MemoryStore;
            #[cfg(feature = "redb")]
            redb: RedbStore;
            #[cfg(feature = "rocksdb")]
            rocksdb: RocksStore;
            #[cfg(feature = "sled")]
            sled: SledStore;
        }
    };
}

/// Declares each backend's module and re-exports its store type (used once, in `lib.rs`).
macro_rules! declare_backends {
    ($($(#[$cfg:meta])* $module:ident: $store:ident;)*) => {
        $(
            $(#[$cfg])*
            mod $module;
            $(#[$cfg])*
            pub use crate::$module::$store;
        )*

        /// Every backend compiled into this binary, in the order of [`for_each_backend!`].
        pub static REGISTRY: &[$crate::Backend] = &[$($(#[$cfg])* $crate::$module::ENTRY,)*];

        /// The names of the backends compiled into this binary (the `storage.backend` values).
        pub const BACKENDS: &[&str] = &[$($(#[$cfg])* stringify!($module),)*];

        /// Every backend doq knows, compiled in or not: asking for one of these that is not compiled in is
        /// [`crate::Error::NotCompiled`], anything else [`crate::Error::UnknownBackend`].
        const KNOWN: &[&str] = &[$(stringify!($module),)*];
    };
}
pub(crate) use declare_backends;

/// Opens a backend's database in a data directory that [`crate::open_stores`] has already locked and
/// checked; the store must keep `lock` (see [`Stores::locked`]) until it is closed.
pub type OpenFn = fn(dir: &Path, opts: &StoreOptions, lock: File) -> Result<Stores>;

/// One backend's entry in the registry: a `pub(crate) const ENTRY: Backend` in the backend's file.
#[derive(Clone, Copy, Debug)]
pub struct Backend {
    /// The `storage.backend` value; the same as the backend's module name.
    pub name: &'static str,
    /// Whether acknowledged writes survive a restart.
    pub durable: bool,
    /// What the backend does not survive, when that is less than a power loss: logged at startup and
    /// printed by `doq config`.
    pub caveat: Option<&'static str>,
    /// Opens the backend's database in a locked data directory.
    pub open: OpenFn,
}

impl Backend {
    /// The compiled-in backend called `name`.
    pub fn named(name: &str) -> Option<&'static Backend> {
        crate::REGISTRY.iter().find(|b| b.name == name)
    }

    /// The compiled-in backend called `name`, or why there is none: [`crate::Error::NotCompiled`] for a
    /// backend this binary was built without, [`crate::Error::UnknownBackend`] otherwise.
    pub fn resolve(name: &str) -> Result<&'static Backend> {
        if let Some(b) = Self::named(name) {
            return Ok(b);
        }
        match crate::KNOWN.iter().find(|k| **k == name) {
            Some(known) => Err(crate::Error::NotCompiled { backend: known }),
            None => Err(crate::Error::UnknownBackend {
                name: name.to_owned(),
                known: crate::BACKENDS.join(", "),
            }),
        }
    }
}
