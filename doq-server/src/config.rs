//! Configuration: DOQ's keys plus doq's extensions (docs/config.md §10), merged with figment from built-in
//! defaults < the `--config` file < `DOQ_<SECTION>__<KEY>` variables < `--section.key value` flags.
//! `config/sections.rs` holds the section types, `load.rs` the merge, `validate.rs` the checks, and
//! `describe.rs` lists every key with its default and meaning (`doq config --describe`).
mod describe;
mod load;
mod sections;
mod validate;

use std::path::PathBuf;

use documented::DocumentedFields;
use doq_storage::{RocksDbTuning, SledTuning, StoreOptions};
use serde::{Deserialize, Serialize};

use self::load::known_keys;
pub use self::{
    describe::describe,
    load::Sources,
    sections::{
        AuthConfig, BackupConfig, ClusterConfig, GrpcConfig, HttpConfig, LoggingConfig,
        PrometheusConfig, QueueConfig, RaftConfig, RocksDbConfig, SledConfig, StatsConfig,
        StorageConfig, TestingConfig, TlsConfig, UiConfig,
    },
};
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, DocumentedFields)]
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
    /// Test-only fault hooks (`testing.control_file`); never set in production.
    pub testing: TestingConfig,
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
            testing: TestingConfig::default(),
        }
    }
}

impl Config {
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
        assert_eq!(options.sled.mode, doq_storage::SledMode::HighThroughput);

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
