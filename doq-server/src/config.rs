//! Configuration: DOQ's keys plus doq's extensions (docs/config.md §10), merged with figment from built-in
//! defaults < the `--config` file < `DOQ_<SECTION>__<KEY>` variables < `--section.key value` flags.
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use doq_storage::{RocksDbTuning, SledMode, SledTuning, StoreOptions};
use figment::{
    providers::{Format, Serialized, Toml, Yaml},
    value::{Dict, Value},
    Figment, Provider,
};
use serde::{Deserialize, Serialize};

use crate::limits::RequestLimits;

/// Why a configuration cannot be used. Startup reports it and exits with code 2.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A flag that names no known key.
    #[error("unknown flag --{0}")]
    UnknownFlag(String),
    /// A flag without a value where one is needed.
    #[error("flag --{0} needs a value")]
    MissingValue(String),
    /// A value of the wrong type or shape, or a file that cannot be read.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The whole configuration. Field names are the config keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// HTTP listener.
    pub http: HttpConfig,
    /// gRPC listener.
    pub grpc: GrpcConfig,
    /// `single` or `raft`.
    pub consensus: String,
    /// Raft transport and timing (raft mode only).
    pub raft: RaftConfig,
    /// Where and how data is stored.
    pub storage: StorageConfig,
    /// Cluster identity and membership.
    pub cluster: ClusterConfig,
    /// Queue defaults.
    pub queue: QueueConfig,
    /// Request limits (docs/http.md §2.1).
    pub limits: RequestLimits,
    /// Bearer-token authentication.
    pub auth: AuthConfig,
    /// TLS for HTTP and gRPC.
    pub tls: TlsConfig,
    /// Backup settings.
    pub backup: BackupConfig,
    /// The `/metrics` endpoint.
    pub prometheus: PrometheusConfig,
    /// Log level and format.
    pub logging: LoggingConfig,
    /// The admin UI.
    pub ui: UiConfig,
}

/// `http.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// Port of the HTTP API (DOQ: 8000).
    pub port: u16,
    /// Bind host.
    pub host: String,
}

/// `grpc.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GrpcConfig {
    /// Bind address of the gRPC API; empty disables it.
    pub address: String,
}

/// `raft.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RocksDbConfig {
    /// SST compression: `none`, `lz4` (Zstandard on the bottommost level) or `zstd`.
    pub compression: String,
    /// Memtable bytes per column family before a flush to disk.
    pub write_buffer_bytes: u64,
}

/// `storage.sled.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SledConfig {
    /// `low_space` (sled's default) or `high_throughput`.
    pub mode: String,
}

/// `cluster.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QueueConfig {
    /// Lease length in seconds when a queue sets none.
    pub default_acknowledgement_timeout: u32,
    /// Rate statistics.
    pub stats: StatsConfig,
}

/// `queue.stats.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatsConfig {
    /// The rate window in seconds.
    pub window_side: u32,
}

/// `auth.*`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// When set, `/API/…` and `/db/…` need `Authorization: Bearer <token>`.
    pub token: String,
    /// Also protect `/metrics`.
    pub protect_metrics: bool,
}

/// `tls.*`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackupConfig {
    /// Seconds deletions are kept for incremental backups.
    pub tombstone_retention: u64,
}

/// `prometheus.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PrometheusConfig {
    /// Serve `/metrics`.
    pub enabled: bool,
}

/// `logging.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoggingConfig {
    /// `trace`, `debug`, `info`, `warn`/`warning` or `error`.
    pub level: String,
    /// `console`, `json` or `stackdriver`.
    pub mode: String,
}

/// `ui.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UiConfig {
    /// Serve the admin UI.
    pub enabled: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            http: HttpConfig::default(),
            grpc: GrpcConfig::default(),
            consensus: "single".into(),
            raft: RaftConfig::default(),
            storage: StorageConfig::default(),
            cluster: ClusterConfig::default(),
            queue: QueueConfig::default(),
            limits: RequestLimits::default(),
            auth: AuthConfig::default(),
            tls: TlsConfig::default(),
            backup: BackupConfig::default(),
            prometheus: PrometheusConfig::default(),
            logging: LoggingConfig::default(),
            ui: UiConfig::default(),
        }
    }
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
        }
    }
}
impl Default for UiConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// DOQ's Badger-specific flags: accepted and ignored with a warning (docs/config.md §10).
fn is_ignored_doq_key(key: &str) -> bool {
    key.starts_with("storage.gc_")
        || key == "storage.compression"
        || key == "storage.zstd_compression_level"
        || (key.starts_with("storage.") && key.ends_with("_size"))
        || key.starts_with("storage.num_")
        || key == "queue.acknowledgement_check_interval"
        || key.starts_with("profiling.")
}

/// Where the configuration comes from, as parsed off the command line.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// The `--config` file, if any (without it no file is read).
    pub file: Option<PathBuf>,
    /// `--section.key value` flags in order; later ones win.
    pub flags: Vec<(String, String)>,
}

impl Sources {
    /// Splits `--config F`, `--key value`, `--key=value` and bare `--key` (meaning `true`) out of `args`.
    pub fn parse(args: &[String]) -> Result<Self, ConfigError> {
        let mut out = Self::default();
        let mut i = 0;
        while let Some(arg) = args.get(i) {
            i += 1;
            let Some(flag) = arg.strip_prefix("--") else {
                return Err(ConfigError::Invalid(format!("unexpected argument {arg:?}")));
            };
            let (key, inline) = match flag.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (flag.to_string(), None),
            };
            let value = match inline {
                Some(v) => Some(v),
                None => match args.get(i) {
                    Some(next) if !next.starts_with("--") => {
                        i += 1;
                        Some(next.clone())
                    }
                    _ => None,
                },
            };
            if key == "config" {
                out.file = Some(PathBuf::from(
                    value.ok_or_else(|| ConfigError::MissingValue(key.clone()))?,
                ));
            } else {
                out.flags
                    .push((key, value.unwrap_or_else(|| "true".into())));
            }
        }
        Ok(out)
    }
}

/// Flattens a nested dict into `a.b.c` → leaf value.
fn flatten(prefix: &str, dict: &Dict, out: &mut BTreeMap<String, Value>) {
    for (k, v) in dict {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Dict(_, inner) => flatten(&key, inner, out),
            other => {
                out.insert(key, other.clone());
            }
        }
    }
}

/// The dotted keys of the configuration with their default values.
fn known_keys() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    if let Ok(Value::Dict(_, dict)) = Value::serialize(Config::default()) {
        flatten("", &dict, &mut out);
    }
    out
}

/// Parses a flag or environment value by the type of the key's default, so `--cluster.node_id 1`
/// stays a string and `--http.port 8000` becomes a number.
fn typed(default: &Value, raw: &str) -> Value {
    match default {
        Value::String(..) => Value::from(raw.to_string()),
        _ => raw
            .parse::<Value>()
            .unwrap_or_else(|_| Value::from(raw.to_string())),
    }
}

impl Config {
    /// Merges every source in precedence order and validates the result.
    pub fn load(sources: &Sources) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(sources, &env)
    }

    /// Like [`Config::load`], with the environment given (tests pass their own).
    pub fn load_with_env(sources: &Sources, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let known = known_keys();
        // Keys some source sets explicitly: a raft-only key implies `consensus = raft` (docs/cluster.md §5).
        let mut explicit: Vec<String> = Vec::new();
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = &sources.file {
            figment = figment.merge(Self::file_provider(file)?);
            explicit.extend(warn_unknown_file_keys(file, &known));
        }
        for (name, raw) in env {
            let Some(rest) = name.strip_prefix("DOQ_") else {
                continue;
            };
            let key = rest.to_ascii_lowercase().replace("__", ".");
            match known.get(&key) {
                Some(default) => {
                    figment = figment.merge(Serialized::default(&key, typed(default, raw)));
                    explicit.push(key.clone());
                }
                None if is_ignored_doq_key(&key) => {
                    tracing::warn!(variable = %name, "ignored DOQ-only setting");
                }
                None => tracing::warn!(variable = %name, "unknown configuration variable ignored"),
            }
        }
        for (key, raw) in &sources.flags {
            match known.get(key) {
                Some(default) => {
                    figment = figment.merge(Serialized::default(key, typed(default, raw)));
                    explicit.push(key.clone());
                }
                None if is_ignored_doq_key(key) => {
                    tracing::warn!(flag = %key, "ignored DOQ-only flag");
                }
                None => return Err(ConfigError::UnknownFlag(key.clone())),
            }
        }
        let mut config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let raft_only = ["raft.address", "cluster.join_addr", "cluster.service_name"];
        if let Some(key) = raft_only.iter().find(|k| explicit.iter().any(|e| e == *k)) {
            if explicit.iter().any(|e| e == "consensus") {
                if config.consensus == "single" {
                    return Err(ConfigError::Invalid(format!(
                        "{key} needs consensus = raft, but consensus = single was given"
                    )));
                }
            } else {
                config.consensus = "raft".into();
            }
        }
        if !config.cluster.service_name.is_empty() {
            let Some(hostname) = crate::discovery::hostname(env) else {
                return Err(ConfigError::Invalid(
                    "cluster.service_name needs this pod's hostname, and neither HOSTNAME nor /proc/sys/kernel/hostname gives one".into(),
                ));
            };
            let node_id_explicit = explicit.iter().any(|e| e == "cluster.node_id");
            crate::discovery::derive_identity(&mut config, &hostname, node_id_explicit);
        }
        config.validate()?;
        Ok(config)
    }

    fn file_provider(file: &Path) -> Result<Figment, ConfigError> {
        if !file.is_file() {
            return Err(ConfigError::Invalid(format!(
                "config file {} does not exist",
                file.display()
            )));
        }
        let yaml = matches!(
            file.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        Ok(if yaml {
            Figment::from(Yaml::file(file))
        } else {
            Figment::from(Toml::file(file))
        })
    }

    /// Checks values that types alone cannot; runs before anything binds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if let Err(e) = doq_storage::Backend::resolve(&self.storage.backend) {
            return bad(format!("storage.backend: {e}"));
        }
        if !matches!(self.storage.sync.as_str(), "always" | "never") {
            return bad(format!(
                "storage.sync: {:?} is not always or never",
                self.storage.sync
            ));
        }
        self.store_options()?;
        match self.consensus.as_str() {
            "single" => {
                if !self.cluster.join_addr.is_empty() {
                    return bad("cluster.join_addr needs consensus = raft".into());
                }
                // A single node's writes wait for their commit this long, too.
                if self.raft.apply_timeout == 0 {
                    return bad("raft.apply_timeout must be positive".into());
                }
            }
            "raft" => {
                if self.raft.address.is_empty() {
                    return bad("raft.address: consensus = raft needs an address to bind".into());
                }
                if self.raft_bind_addr().starts_with("0.0.0.0:")
                    && self.raft.advertise_address.is_empty()
                {
                    return bad(
                        "raft.advertise_address is required when raft.address binds 0.0.0.0".into(),
                    );
                }
                if self.raft.heartbeat_interval_ms == 0
                    || self.raft.election_timeout_ms <= self.raft.heartbeat_interval_ms
                {
                    return bad("raft.election_timeout_ms must exceed raft.heartbeat_interval_ms, which must be positive".into());
                }
                if self.raft.apply_timeout == 0 {
                    return bad("raft.apply_timeout must be positive".into());
                }
                // Anyone who reaches the Raft port could otherwise replicate, vote and write (docs/cluster.md §5).
                if self.cluster.secret.is_empty() && !self.raft_binds_loopback() {
                    return bad(format!(
                        "cluster.secret: required when raft.address ({}) is not a loopback address",
                        self.raft_bind_addr()
                    ));
                }
            }
            other => return bad(format!("consensus: {other:?} is not single or raft")),
        }
        if !self.cluster.service_name.is_empty() {
            // `<service>-internal` must still be one DNS label (63 bytes).
            if !crate::discovery::is_dns_label(&self.cluster.service_name, 54) {
                return bad(format!(
                    "cluster.service_name: {:?} is not a DNS label of at most 54 characters (a-z, 0-9, -)",
                    self.cluster.service_name
                ));
            }
            if !crate::discovery::is_dns_label(&self.cluster.namespace, 63) {
                return bad(format!(
                    "cluster.namespace: {:?} is not a DNS label (a-z, 0-9, -)",
                    self.cluster.namespace
                ));
            }
            if !self.cluster.join_addr.is_empty() {
                return bad("cluster.join_addr and cluster.service_name exclude each other: discovery finds the members".into());
            }
        }
        if self.cluster.node_id.is_empty()
            || self.cluster.node_id.contains(['/', '\\'])
            || self.cluster.node_id == ".."
        {
            return bad(format!(
                "cluster.node_id: {:?} cannot name a directory",
                self.cluster.node_id
            ));
        }
        if self.tls.cert.is_empty() != self.tls.key.is_empty() {
            return bad("tls.cert and tls.key must be set together".into());
        }
        if !self.tls.ca.is_empty() && self.tls.cert.is_empty() {
            return bad("tls.ca needs tls.cert and tls.key (node-to-node TLS)".into());
        }
        if !matches!(
            self.logging.level.as_str(),
            "trace" | "debug" | "info" | "warn" | "warning" | "error"
        ) {
            return bad(format!(
                "logging.level: {:?} is not trace, debug, info, warn or error",
                self.logging.level
            ));
        }
        if !matches!(
            self.logging.mode.as_str(),
            "console" | "json" | "stackdriver"
        ) {
            return bad(format!(
                "logging.mode: {:?} is not console, json or stackdriver",
                self.logging.mode
            ));
        }
        if self.queue.default_acknowledgement_timeout == 0 {
            return bad("queue.default_acknowledgement_timeout must be positive".into());
        }
        if !(1..=60).contains(&self.queue.stats.window_side) {
            return bad("queue.stats.window_side must be between 1 and 60".into());
        }
        if self.limits.max_batch_size == 0 || self.limits.max_batch_size > 1000 {
            return bad("limits.max_batch_size must be between 1 and 1000".into());
        }
        Ok(())
    }

    /// How to open the store: `storage.sync`, `storage.cache_bytes` and the per-backend keys.
    pub fn store_options(&self) -> Result<StoreOptions, ConfigError> {
        let s = &self.storage;
        let invalid = |key: &str, e: String| ConfigError::Invalid(format!("{key}: {e}"));
        if s.rocksdb.write_buffer_bytes < 1 << 20 {
            return Err(invalid(
                "storage.rocksdb.write_buffer_bytes",
                "must be at least 1048576".into(),
            ));
        }
        Ok(StoreOptions {
            sync: s.sync == "always",
            cache_bytes: s.cache_bytes,
            rocksdb: RocksDbTuning {
                compression: s
                    .rocksdb
                    .compression
                    .parse()
                    .map_err(|e| invalid("storage.rocksdb.compression", e))?,
                write_buffer_bytes: s.rocksdb.write_buffer_bytes,
            },
            sled: SledTuning {
                mode: s
                    .sled
                    .mode
                    .parse()
                    .map_err(|e| invalid("storage.sled.mode", e))?,
            },
        })
    }

    /// The address `raft.address` binds: a bare port binds every interface (docs/config.md §10).
    pub fn raft_bind_addr(&self) -> String {
        if self.raft.address.parse::<u16>().is_ok() {
            format!("0.0.0.0:{}", self.raft.address)
        } else {
            self.raft.address.clone()
        }
    }

    /// Whether `raft.address` binds only a loopback interface (`127.0.0.0/8`, `::1`, `localhost`).
    pub fn raft_binds_loopback(&self) -> bool {
        let addr = self.raft_bind_addr();
        if let Ok(sock) = addr.parse::<std::net::SocketAddr>() {
            return sock.ip().is_loopback();
        }
        addr.rsplit_once(':')
            .is_some_and(|(host, _)| host.eq_ignore_ascii_case("localhost"))
    }

    /// The HTTP `host:port`s of `cluster.join_addr`.
    pub fn join_addrs(&self) -> Vec<String> {
        self.cluster
            .join_addr
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(String::from)
            .collect()
    }

    /// The node directory `<data_dir>/<node_id>/`.
    pub fn node_dir(&self) -> PathBuf {
        self.storage.data_dir.join(&self.cluster.node_id)
    }

    /// The effective configuration as TOML, with secrets masked (`doq config`).
    pub fn to_masked_toml(&self) -> String {
        let mut shown = self.clone();
        for secret in [&mut shown.auth.token, &mut shown.cluster.secret] {
            if !secret.is_empty() {
                *secret = "********".into();
            }
        }
        let toml = toml::to_string_pretty(&shown)
            .unwrap_or_else(|e| format!("# cannot render configuration: {e}\n"));
        match self.durability_warning() {
            Some(w) => format!("# {w}\n{toml}"),
            None => toml,
        }
    }

    /// What the chosen storage does not survive, when that is less than a power loss (README, "Choosing
    /// a backend"): printed by `doq config` and logged at startup.
    pub fn durability_warning(&self) -> Option<&'static str> {
        doq_storage::Backend::named(&self.storage.backend).and_then(|b| b.caveat)
    }
}

/// Logs keys of a config file that doq does not know (they are ignored, so rollbacks still start).
/// Returns the keys the file sets.
fn warn_unknown_file_keys(file: &Path, known: &BTreeMap<String, Value>) -> Vec<String> {
    let Ok(data) = Config::file_provider(file)
        .and_then(|f| f.data().map_err(|e| ConfigError::Invalid(e.to_string())))
    else {
        return Vec::new();
    };
    let mut set = Vec::new();
    for dict in data.values() {
        let mut keys = BTreeMap::new();
        flatten("", dict, &mut keys);
        for key in keys.keys().filter(|k| !known.contains_key(*k)) {
            tracing::warn!(key = %key, file = %file.display(), "unknown configuration key ignored");
        }
        set.extend(keys.into_keys());
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn flags_beat_env_beat_file_beat_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("doq.toml");
        std::fs::write(
            &file,
            "[http]\nport = 7000\n[cluster]\nnode_id = \"file\"\n[queue.stats]\nwindow_side = 5\n",
        )
        .unwrap();
        let mut sources = Sources::parse(&args(&format!(
            "--config {} --http.port 9100",
            file.display()
        )))
        .unwrap();
        let env = vec![
            ("DOQ_HTTP__PORT".into(), "9000".into()),
            ("DOQ_CLUSTER__NODE_ID".into(), "7".into()),
        ];
        let c = Config::load_with_env(&sources, &env).unwrap();
        assert_eq!(c.http.port, 9100);
        assert_eq!(c.cluster.node_id, "7", "env beats file, and stays a string");
        assert_eq!(c.queue.stats.window_side, 5);
        sources.flags.clear();
        assert_eq!(
            Config::load_with_env(&sources, &env).unwrap().http.port,
            9000
        );
        assert_eq!(
            Config::load_with_env(&Sources::default(), &[]).unwrap(),
            Config::default()
        );
    }

    #[test]
    fn bare_boolean_flags_mean_true_and_bad_values_are_refused() {
        let s = Sources::parse(&args("--ui.enabled --prometheus.enabled false")).unwrap();
        let c = Config::load_with_env(&s, &[]).unwrap();
        assert!(c.ui.enabled);
        assert!(!c.prometheus.enabled);
        assert!(
            Config::load_with_env(&Sources::parse(&args("--http.port nope")).unwrap(), &[])
                .is_err()
        );
        assert!(matches!(
            Config::load_with_env(&Sources::parse(&args("--http.prot 1")).unwrap(), &[]),
            Err(ConfigError::UnknownFlag(_))
        ));
        assert!(Config::load_with_env(
            &Sources::parse(&args("--storage.sync sometimes")).unwrap(),
            &[]
        )
        .is_err());
    }

    #[test]
    fn doq_badger_flags_are_ignored() {
        let s = Sources::parse(&args(
            "--storage.gc_interval 5 --storage.compression zstd --http.port=8100",
        ))
        .unwrap();
        assert_eq!(Config::load_with_env(&s, &[]).unwrap().http.port, 8100);
    }

    #[test]
    fn per_backend_tuning_comes_from_flags_and_env_and_typos_are_refused() {
        let s = Sources::parse(&args(
            "--storage.rocksdb.compression zstd --storage.rocksdb.write_buffer_bytes 8388608",
        ))
        .unwrap();
        let env = [(
            "DOQ_STORAGE__SLED__MODE".to_string(),
            "high_throughput".to_string(),
        )];
        let options = Config::load_with_env(&s, &env)
            .unwrap()
            .store_options()
            .unwrap();
        assert_eq!(options.rocksdb.compression, doq_storage::Compression::Zstd);
        assert_eq!(options.rocksdb.write_buffer_bytes, 8 << 20);
        assert_eq!(options.sled.mode, SledMode::HighThroughput);

        for bad in [
            "--storage.rocksdb.compression snappy",
            "--storage.sled.mode fast",
            "--storage.rocksdb.write_buffer_bytes 10",
        ] {
            let key = bad
                .split_whitespace()
                .next()
                .unwrap()
                .trim_start_matches("--");
            let err = Config::load_with_env(&Sources::parse(&args(bad)).unwrap(), &[]).unwrap_err();
            assert!(err.to_string().contains(key), "{bad}: {err}");
        }
    }

    #[test]
    fn raft_keys_imply_raft_and_conflict_with_an_explicit_single() {
        let load = |a: &str| Config::load_with_env(&Sources::parse(&args(a)).unwrap(), &[]);
        assert_eq!(load("").unwrap().consensus, "single");
        assert_eq!(
            load("--raft.address 127.0.0.1:9100").unwrap().consensus,
            "raft"
        );
        assert_eq!(
            load("--cluster.join_addr 127.0.0.1:8000")
                .unwrap()
                .consensus,
            "raft"
        );
        assert!(load("--consensus single --raft.address 127.0.0.1:9100").is_err());
        assert!(load("--consensus single --cluster.join_addr 127.0.0.1:8000").is_err());
        assert!(
            load("--consensus raft --raft.address 9100").is_err(),
            "0.0.0.0 needs an advertise address"
        );
        let c =
            load("--raft.address 9100 --raft.advertise_address 10.0.0.1:9100 --cluster.secret s")
                .unwrap();
        assert_eq!(c.raft_bind_addr(), "0.0.0.0:9100");
        let c = load("--cluster.join_addr a:1,b:2").unwrap();
        assert_eq!(c.join_addrs(), ["a:1", "b:2"]);
        assert!(load("--consensus paxos").is_err());
    }

    #[test]
    fn a_raft_port_beyond_loopback_needs_the_cluster_secret() {
        let load = |a: &str| Config::load_with_env(&Sources::parse(&args(a)).unwrap(), &[]);
        for open in [
            "--raft.address 9100 --raft.advertise_address 10.0.0.1:9100",
            "--raft.address 10.0.0.1:9100",
            "--raft.address [::]:9100 --raft.advertise_address h:9100",
        ] {
            let err = load(open).unwrap_err().to_string();
            assert!(err.contains("cluster.secret"), "{open}: {err}");
            load(&format!("{open} --cluster.secret s")).unwrap();
        }
        for local in [
            "--raft.address 127.0.0.1:9100",
            "--raft.address [::1]:9100",
            "--raft.address localhost:9100",
        ] {
            load(local).unwrap();
        }
    }

    #[test]
    fn doq_config_says_sled_is_not_power_loss_durable() {
        let mut c = Config::default();
        assert!(!c.to_masked_toml().contains("power loss"));
        c.storage.backend = "sled".into();
        assert!(c
            .to_masked_toml()
            .starts_with("# storage.backend = sled survives a process crash but not a power loss"));
    }

    #[test]
    fn masked_toml_hides_secrets() {
        let mut c = Config::default();
        c.auth.token = "hunter2".into();
        let shown = c.to_masked_toml();
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("port = 8000"));
    }
}
