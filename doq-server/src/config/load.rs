//! Loading: built-in defaults < the `--config` file (TOML or YAML) < `DOQ_<SECTION>__<KEY>` variables <
//! `--section.key value` flags, merged with figment; keys no source may set are refused, DOQ's Badger keys
//! ignored with a warning.
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use figment::{
    providers::{Format, Serialized, Toml, Yaml},
    value::{Dict, Value},
    Figment, Provider,
};

use super::{Config, ConfigError};

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
pub(super) fn known_keys() -> BTreeMap<String, Value> {
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
