//! The configuration's sections (`http.*`, `storage.*`, …): one struct per section with its defaults.
//! Field names are the config keys, and their doc comments are what `doq config --describe` prints.
use std::path::PathBuf;

use documented::DocumentedFields;
use doq_storage::{RocksDbTuning, SledMode};
use serde::{Deserialize, Serialize};

/// `http.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, DocumentedFields)]
#[serde(default)]
pub struct HttpConfig {
    /// Port of the HTTP API (DOQ: 8000).
    pub port: u16,
    /// Bind host.
    pub host: String,
}

/// `grpc.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, DocumentedFields)]
#[serde(default)]
pub struct GrpcConfig {
    /// Bind address of the gRPC API; empty disables it.
    pub address: String,
}

/// `raft.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, DocumentedFields)]
#[serde(default)]
pub struct RaftConfig {
    /// Bind address of node-to-node traffic.
    pub address: String,
    /// The address peers use to reach this node.
    pub advertise_address: String,
    /// Seconds a write waits for its commit before 503.
    pub apply_timeout: u64,
    /// Leader heartbeat period.
    pub heartbeat_interval_ms: u64,
    /// Base election timeout.
    pub election_timeout_ms: u64,
    /// Log entries between snapshots.
    pub snapshot_threshold: u64,
}

/// `storage.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, DocumentedFields)]
#[serde(default)]
pub struct StorageConfig {
    /// Parent of the node directory `<data_dir>/<node_id>/`.
    pub data_dir: PathBuf,
    /// One of `doq_storage::BACKENDS` (`doq --version` lists them): `redb`, `rocksdb`, `sled` or `memory`
    /// in the default build.
    pub backend: String,
    /// `always` (fsync before every reply) or `never` (unsafe).
    pub sync: String,
    /// Backend cache size in bytes.
    pub cache_bytes: u64,
    /// `storage.rocksdb.*`: used only when the backend is rocksdb.
    pub rocksdb: RocksDbConfig,
    /// `storage.sled.*`: used only when the backend is sled.
    pub sled: SledConfig,
}

/// `storage.rocksdb.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, DocumentedFields)]
#[serde(default)]
pub struct RocksDbConfig {
    /// SST compression: `none`, `lz4` (Zstandard on the bottommost level) or `zstd`.
    pub compression: String,
    /// Memtable bytes per column family before a flush to disk.
    pub write_buffer_bytes: u64,
}

/// `storage.sled.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, DocumentedFields)]
#[serde(default)]
pub struct SledConfig {
    /// `low_space` (sled's default) or `high_throughput`.
    pub mode: String,
}

/// `cluster.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, DocumentedFields)]
#[serde(default)]
pub struct ClusterConfig {
    /// This node's id.
    pub node_id: String,
    /// HTTP `host:port` of members to join, comma-separated.
    pub join_addr: String,
    /// Shared secret of node-to-node RPC.
    pub secret: String,
    /// Kubernetes service name for discovery.
    pub service_name: String,
    /// Kubernetes namespace.
    pub namespace: String,
}

/// `queue.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, DocumentedFields)]
#[serde(default)]
pub struct QueueConfig {
    /// Lease length in seconds when a queue sets none.
    pub default_acknowledgement_timeout: u32,
    /// Rate statistics.
    pub stats: StatsConfig,
}

/// `queue.stats.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, DocumentedFields)]
#[serde(default)]
pub struct StatsConfig {
    /// The rate window in seconds.
    pub window_side: u32,
}

/// `auth.*`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, DocumentedFields)]
#[serde(default)]
pub struct AuthConfig {
    /// When set, `/API/…` and `/db/…` need `Authorization: Bearer <token>`.
    pub token: String,
    /// Also protect `/metrics`.
    pub protect_metrics: bool,
}

/// `tls.*`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, DocumentedFields)]
#[serde(default)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: String,
    /// PEM private key.
    pub key: String,
    /// PEM CA certificates peers' certificates must chain to (node-to-node TLS); empty: those in `cert`.
    pub ca: String,
}

/// `backup.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, DocumentedFields)]
#[serde(default)]
pub struct BackupConfig {
    /// Seconds deletions are kept for incremental backups.
    pub tombstone_retention: u64,
}

/// `prometheus.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, DocumentedFields)]
#[serde(default)]
pub struct PrometheusConfig {
    /// Serve `/metrics`.
    pub enabled: bool,
}

/// `logging.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, DocumentedFields)]
#[serde(default)]
pub struct LoggingConfig {
    /// `trace`, `debug`, `info`, `warn`/`warning` or `error`.
    pub level: String,
    /// `console`, `json` or `stackdriver`.
    pub mode: String,
    /// One access log line per HTTP request (target `doq::access`, at `info`) with its request id.
    pub access: bool,
}

/// `ui.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, DocumentedFields)]
#[serde(default)]
pub struct UiConfig {
    /// Serve the admin UI.
    pub enabled: bool,
}

/// `testing.*`: hooks for fault tests (docs/config.md §10). Not for production.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, DocumentedFields)]
#[serde(default)]
pub struct TestingConfig {
    /// Test-only, never in production: a file the node polls every 100 ms for a clock offset and a
    /// disk delay (`crate::testing`); empty turns it off.
    pub control_file: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            port: 8000,
            host: "0.0.0.0".into(),
        }
    }
}
impl Default for GrpcConfig {
    fn default() -> Self {
        Self {
            address: "127.0.0.1:10000".into(),
        }
    }
}
impl Default for RaftConfig {
    fn default() -> Self {
        Self {
            address: "127.0.0.1:9000".into(),
            advertise_address: String::new(),
            apply_timeout: 5,
            heartbeat_interval_ms: 200,
            election_timeout_ms: 1000,
            snapshot_threshold: 8192,
        }
    }
}
impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            backend: "redb".into(),
            sync: "always".into(),
            cache_bytes: 268_435_456,
            rocksdb: RocksDbConfig::default(),
            sled: SledConfig::default(),
        }
    }
}
impl Default for RocksDbConfig {
    fn default() -> Self {
        let tuning = RocksDbTuning::default();
        Self {
            compression: tuning.compression.to_string(),
            write_buffer_bytes: tuning.write_buffer_bytes,
        }
    }
}
impl Default for SledConfig {
    fn default() -> Self {
        Self {
            mode: SledMode::default().to_string(),
        }
    }
}
impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            node_id: "node-0".into(),
            join_addr: String::new(),
            secret: String::new(),
            service_name: String::new(),
            namespace: "default".into(),
        }
    }
}
impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            default_acknowledgement_timeout: 1800,
            stats: StatsConfig::default(),
        }
    }
}
impl Default for StatsConfig {
    fn default() -> Self {
        Self { window_side: 10 }
    }
}
impl Default for BackupConfig {
    fn default() -> Self {
        Self {
            tombstone_retention: 604_800,
        }
    }
}
impl Default for PrometheusConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}
impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            mode: "console".into(),
            access: true,
        }
    }
}
impl Default for UiConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}
