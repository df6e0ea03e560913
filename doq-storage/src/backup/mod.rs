//! Backups (docs/backup.md §8): the portable record format ([`format`]), the framed, checksummed stream
//! ([`codec`]), writing one from a store snapshot ([`export`]) and pruning old tombstones ([`prune`]).
pub mod codec;
pub mod export;
pub mod format;
pub mod prune;
pub mod restore;

pub use codec::{BackupError, Reader, Writer, MAGIC};

#[cfg(test)]
mod tests;
