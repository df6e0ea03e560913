//! `doq config --describe`: every configuration key with its default and meaning. The keys and defaults
//! are the ones the loader accepts (`known_keys`, the serialized `Config::default()`), and the meanings
//! are the doc comments of the config types' fields (`documented`), so the text cannot drift from either:
//! a field without a doc comment does not compile, and a test checks that every accepted key is described.
use std::fmt::Write as _;

use documented::DocumentedFields;
use figment::value::Value;

use crate::limits::RequestLimits;

use super::{
    known_keys, AuthConfig, BackupConfig, ClusterConfig, Config, GrpcConfig, HttpConfig,
    LoggingConfig, PrometheusConfig, QueueConfig, RaftConfig, RocksDbConfig, SledConfig,
    StatsConfig, StorageConfig, TestingConfig, TlsConfig, UiConfig,
};

/// The doc comment of the field a dotted `key` names, from the type of its section.
fn meaning(key: &str) -> Option<&'static str> {
    let (section, field) = key.rsplit_once('.').unwrap_or(("", key));
    let docs = match section {
        "" => Config::get_field_docs(field),
        "http" => HttpConfig::get_field_docs(field),
        "grpc" => GrpcConfig::get_field_docs(field),
        "raft" => RaftConfig::get_field_docs(field),
        "storage" => StorageConfig::get_field_docs(field),
        "storage.rocksdb" => RocksDbConfig::get_field_docs(field),
        "storage.sled" => SledConfig::get_field_docs(field),
        "cluster" => ClusterConfig::get_field_docs(field),
        "queue" => QueueConfig::get_field_docs(field),
        "queue.stats" => StatsConfig::get_field_docs(field),
        "limits" => RequestLimits::get_field_docs(field),
        "auth" => AuthConfig::get_field_docs(field),
        "tls" => TlsConfig::get_field_docs(field),
        "backup" => BackupConfig::get_field_docs(field),
        "prometheus" => PrometheusConfig::get_field_docs(field),
        "logging" => LoggingConfig::get_field_docs(field),
        "ui" => UiConfig::get_field_docs(field),
        "testing" => TestingConfig::get_field_docs(field),
        _ => return None,
    };
    docs.ok().filter(|d| !d.trim().is_empty())
}

/// A default as it would be written in the TOML file (scalars are written alike in JSON and TOML).
fn render(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| format!("{value:?}"))
}

/// Every key the loader accepts, sorted, each with its default and meaning; for `doq config --describe`.
pub fn describe() -> String {
    let mut out = String::from(
        "# Every configuration key: `key = default`, then what it means (docs/config.md §10).\n\
         # Set keys in the --config file, as DOQ_<SECTION>__<KEY> variables or as --section.key flags.\n",
    );
    for (key, default) in known_keys() {
        let text = meaning(&key).unwrap_or("(undocumented)");
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let _ = write!(out, "\n{key} = {}\n    {text}\n", render(&default));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_the_loader_accepts_is_described() {
        let keys = known_keys();
        assert!(keys.len() > 40, "{keys:?}");
        let missing: Vec<&String> = keys.keys().filter(|k| meaning(k).is_none()).collect();
        assert!(
            missing.is_empty(),
            "keys without a description: {missing:?}"
        );
        let text = describe();
        for key in keys.keys() {
            assert!(text.contains(&format!("\n{key} = ")), "{key} is not listed");
        }
        assert!(text.contains("\nhttp.port = 8000\n"), "{text}");
        assert!(
            text.contains("\nprometheus.enabled = true\n    Serve `/metrics`."),
            "{text}"
        );
        assert!(text.contains("\nstorage.backend = \"redb\"\n"), "{text}");
    }
}
