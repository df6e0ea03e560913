//! [`Config::validate`]: the checks types alone cannot make, run before anything binds.
use super::{Config, ConfigError};

impl Config {
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
}
