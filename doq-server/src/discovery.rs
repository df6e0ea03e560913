//! Kubernetes discovery (`cluster.service_name`, docs/cluster.md §5). A StatefulSet pod knows its own name (the
//! hostname, `doq-2`) and finds its peers in the SRV records of the headless Service
//! `<service>-internal`, whose targets are the pods' stable names
//! (`doq-0.doq-internal.<namespace>.svc.cluster.local`). From those:
//! - the node's identity: `node_id` and the Raft advertise address default to its stable name
//!   ([`derive_identity`], applied when the configuration is loaded);
//! - what a node with an empty directory does ([`Discovery::decide`]): the ordinal-0 pod bootstraps a
//!   cluster only if no discovered peer reports one, and every other pod joins through its peers;
//! - where a joining node asks ([`Discovery::join_addrs`]), looked up again on every attempt, so pods
//!   added by a scale-up are found.
//!
//! A node with state never consults discovery: it restarts as the member it was.
mod dns;
#[cfg(test)]
mod tests;

use std::{fmt, sync::Arc, time::Duration};

use futures::future::BoxFuture;
use serde::Deserialize;
use tracing::{info, warn};

pub use dns::DnsResolver;

use crate::config::Config;

/// The cluster domain of Kubernetes' DNS names (docs/cluster.md §5).
pub const CLUSTER_DOMAIN: &str = "svc.cluster.local";

/// How long a pristine ordinal-0 node waits for DNS to list it before it trusts an answer: until its
/// own record appears, a missing peer may only mean that DNS has not caught up yet.
const SELF_LISTED_DEADLINE: Duration = Duration::from_secs(30);
/// Between DNS lookups while waiting.
const LOOKUP_RETRY: Duration = Duration::from_secs(1);
/// How long one peer may take to answer whether it belongs to a cluster.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

/// Why discovery could not look its peers up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// A DNS query failed (not an empty answer: that is no peers).
    #[error("look up {name}: {reason}")]
    Lookup {
        /// The name queried.
        name: String,
        /// What the resolver said.
        reason: String,
    },
}

/// A member of the headless Service, as DNS lists it (this node included).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Peer {
    /// Its stable name, the SRV target without the final dot: it is also the peer's default `node_id`.
    pub name: String,
    /// Its HTTP API as `host:port`, where joins and status questions go.
    pub http: String,
}

/// Where peers come from. The real one asks DNS ([`DnsResolver`]); tests may inject their own.
pub trait PeerResolver: Send + Sync + fmt::Debug {
    /// Every member DNS lists now, sorted by name; empty when the Service has no records (yet).
    fn peers(&self) -> BoxFuture<'_, Result<Vec<Peer>, DiscoveryError>>;
}

/// `<service>-internal.<namespace>.svc.cluster.local`: the headless Service peers are found in.
pub fn internal_domain(service: &str, namespace: &str) -> String {
    format!("{service}-internal.{namespace}.{CLUSTER_DOMAIN}")
}

/// The pod name in a node's stable name: its first label (`doq-0` in `doq-0.doq-internal…`).
pub fn pod_name(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

/// A StatefulSet pod's ordinal: the number after the last `-` of its name.
pub fn ordinal(pod: &str) -> Option<u32> {
    let (_, n) = pod.rsplit_once('-')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// With `cluster.service_name` set, fills what the pod's `hostname` determines (docs/cluster.md §5):
/// `cluster.node_id`, unless set explicitly, becomes `<hostname>.<service>-internal.<namespace>.svc.cluster.local`,
/// and an empty `raft.advertise_address` becomes that name with the port of `raft.address`.
pub fn derive_identity(config: &mut Config, hostname: &str, node_id_explicit: bool) {
    let pod = pod_name(hostname.trim());
    let stable = format!(
        "{pod}.{}",
        internal_domain(&config.cluster.service_name, &config.cluster.namespace)
    );
    if config.raft.advertise_address.is_empty() {
        let bind = config.raft_bind_addr();
        let port = bind.rsplit_once(':').map_or("9000", |(_, p)| p);
        config.raft.advertise_address = format!("{stable}:{port}");
    }
    if !node_id_explicit {
        config.cluster.node_id = stable;
    }
}

/// The pod's hostname: `HOSTNAME` (which Kubernetes and Docker set) in `env`, else the kernel's.
pub(crate) fn hostname(env: &[(String, String)]) -> Option<String> {
    let from_env = env
        .iter()
        .find(|(k, _)| k == "HOSTNAME")
        .map(|(_, v)| v.trim().to_string());
    from_env
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
}

/// Checks that `label` can be one label of a DNS name (RFC 1123, as Kubernetes names are).
pub(crate) fn is_dns_label(label: &str, max: usize) -> bool {
    !label.is_empty()
        && label.len() <= max
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// What a node with an empty directory does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// Found a new single-voter cluster (only the ordinal-0 pod, and only when no peer has one).
    Bootstrap,
    /// Ask the peers to add it.
    Join,
}

/// Discovery for one starting node.
#[derive(Debug, Clone)]
pub struct Discovery {
    resolver: Arc<dyn PeerResolver>,
    /// This node's stable name (its `node_id`), compared with SRV targets to leave itself out.
    me: String,
    /// The bearer token of `/API/…`, for asking peers about their cluster.
    token: String,
    client: reqwest::Client,
}

/// The part of `GET /API/v1/cluster/status` discovery reads.
#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    members: Vec<serde_json::Value>,
}

impl Discovery {
    /// Discovery for the node `config` describes, asking `resolver`.
    pub fn new(config: &Config, resolver: Arc<dyn PeerResolver>) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder().timeout(STATUS_TIMEOUT).build()?;
        Ok(Self {
            resolver,
            me: config.cluster.node_id.to_ascii_lowercase(),
            token: config.auth.token.clone(),
            client,
        })
    }

    /// This node's ordinal, from the pod name in its `node_id`.
    pub fn ordinal(&self) -> Option<u32> {
        ordinal(pod_name(&self.me))
    }

    /// The peers DNS lists now, without this node.
    pub async fn others(&self) -> Result<Vec<Peer>, DiscoveryError> {
        let mut peers = self.resolver.peers().await?;
        peers.retain(|p| !self.is_me(p));
        Ok(peers)
    }

    /// The HTTP `host:port`s a joining node asks now (a failed lookup asks nobody this round).
    pub async fn join_addrs(&self) -> Vec<String> {
        match self.others().await {
            Ok(peers) => peers.into_iter().map(|p| p.http).collect(),
            Err(e) => {
                warn!(error = %e, "peer lookup failed; retrying");
                Vec::new()
            }
        }
    }

    /// docs/cluster.md §5: the ordinal-0 pod bootstraps only if no discovered peer reports a cluster; every
    /// other pod (and ordinal 0 when a cluster exists, for example after its volume was lost) joins.
    pub async fn decide(&self) -> Start {
        if self.ordinal() != Some(0) {
            return Start::Join;
        }
        let peers = self.wait_until_listed().await;
        for peer in peers.iter().filter(|p| !self.is_me(p)) {
            if self.reports_cluster(peer).await {
                info!(peer = %peer.name, "a discovered peer already belongs to a cluster; joining it");
                return Start::Join;
            }
        }
        info!(
            peers = peers.len().saturating_sub(1),
            "no discovered peer reports a cluster; bootstrapping"
        );
        Start::Bootstrap
    }

    /// Looks peers up until DNS lists this node too (or a deadline passes), so that an absent peer
    /// means one that does not exist rather than one DNS has not published yet.
    async fn wait_until_listed(&self) -> Vec<Peer> {
        let deadline = tokio::time::Instant::now() + SELF_LISTED_DEADLINE;
        loop {
            let found = self.resolver.peers().await;
            if matches!(&found, Ok(peers) if peers.iter().any(|p| self.is_me(p))) {
                return found.unwrap_or_default();
            }
            match &found {
                Ok(_) => info!(me = %self.me, "DNS does not list this node yet"),
                Err(e) => warn!(error = %e, "peer lookup failed"),
            }
            if tokio::time::Instant::now() + LOOKUP_RETRY > deadline {
                warn!(me = %self.me, "DNS never listed this node; deciding on what it lists now");
                return found.unwrap_or_default();
            }
            tokio::time::sleep(LOOKUP_RETRY).await;
        }
    }

    /// Whether `peer` answers `/cluster/status` with a membership: only a node that bootstrapped,
    /// joined or restarted serves HTTP, so any answer with members means a cluster exists.
    async fn reports_cluster(&self, peer: &Peer) -> bool {
        let mut req = self
            .client
            .get(format!("http://{}/API/v1/cluster/status", peer.http));
        if !self.token.is_empty() {
            req = req.bearer_auth(&self.token);
        }
        match req.send().await {
            Ok(resp) if resp.status().is_success() => resp
                .json::<Status>()
                .await
                .is_ok_and(|s| !s.members.is_empty()),
            Ok(resp) => {
                warn!(peer = %peer.name, status = %resp.status(), "peer answered its status with an error");
                false
            }
            Err(_) => false,
        }
    }

    fn is_me(&self, peer: &Peer) -> bool {
        peer.name.eq_ignore_ascii_case(&self.me)
    }
}
