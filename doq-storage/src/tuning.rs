//! Per-backend tuning (config `storage.<backend>.*`). The types exist whatever backends are compiled in,
//! so a configuration written for one build still parses in another.
use std::{fmt, str::FromStr};

/// How RocksDB compresses its SST files (`storage.rocksdb.compression`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// No compression: least CPU, most disk.
    None,
    /// LZ4 on every level, Zstandard on the bottommost: cheap to write, compact at rest.
    #[default]
    Lz4,
    /// Zstandard on every level: the smallest files, the most CPU on flush and compaction.
    Zstd,
}

impl Compression {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Compression {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Self::None),
            "lz4" => Ok(Self::Lz4),
            "zstd" => Ok(Self::Zstd),
            other => Err(format!("{other:?} is not none, lz4 or zstd")),
        }
    }
}

/// RocksDB's knobs beyond the shared `cache_bytes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RocksDbTuning {
    /// SST compression.
    pub compression: Compression,
    /// Bytes a column family buffers in its memtable before flushing to an SST file
    /// (`storage.rocksdb.write_buffer_bytes`). Larger absorbs bursts with fewer, bigger flushes; the
    /// WAL, not the memtable, makes a write durable, so this never trades away safety.
    pub write_buffer_bytes: u64,
}

impl Default for RocksDbTuning {
    /// LZ4 and RocksDB's own 64 MiB memtable.
    fn default() -> Self {
        Self {
            compression: Compression::Lz4,
            write_buffer_bytes: 64 << 20,
        }
    }
}

/// What sled optimises for (`storage.sled.mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SledMode {
    /// Rewrites fragmented segments eagerly: less disk, more write amplification (sled's default).
    #[default]
    LowSpace,
    /// Rewrites segments lazily: faster writes, more disk.
    HighThroughput,
}

impl SledMode {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LowSpace => "low_space",
            Self::HighThroughput => "high_throughput",
        }
    }
}

impl fmt::Display for SledMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SledMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "low_space" => Ok(Self::LowSpace),
            "high_throughput" => Ok(Self::HighThroughput),
            other => Err(format!("{other:?} is not low_space or high_throughput")),
        }
    }
}

/// sled's knobs beyond the shared `cache_bytes`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SledTuning {
    /// Space or speed.
    pub mode: SledMode,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip_and_typos_are_named() {
        for c in [Compression::None, Compression::Lz4, Compression::Zstd] {
            assert_eq!(c.as_str().parse::<Compression>(), Ok(c));
        }
        for m in [SledMode::LowSpace, SledMode::HighThroughput] {
            assert_eq!(m.as_str().parse::<SledMode>(), Ok(m));
        }
        assert!("snappy"
            .parse::<Compression>()
            .unwrap_err()
            .contains("snappy"));
        assert!("fast".parse::<SledMode>().unwrap_err().contains("fast"));
    }
}
