//! [`DnsResolver`]: peers from the SRV records Kubernetes publishes for the headless Service's `http`
//! port (`_http._tcp.<service>-internal.<namespace>.svc.cluster.local`), each target resolved to an
//! address. Nothing is cached: a scale-up must show up on the next lookup.
use std::net::SocketAddr;

use futures::future::BoxFuture;
use hickory_resolver::{
    config::{NameServerConfigGroup, ResolverConfig, ResolverOpts},
    name_server::TokioConnectionProvider,
    Resolver,
};

use super::{internal_domain, DiscoveryError, Peer, PeerResolver};

/// Asks DNS for the members of `<service>-internal`.
pub struct DnsResolver {
    resolver: Resolver<TokioConnectionProvider>,
    /// `_http._tcp.<service>-internal.<namespace>.svc.cluster.local.` (fully qualified: no search list).
    srv: String,
}

impl std::fmt::Debug for DnsResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsResolver")
            .field("srv", &self.srv)
            .finish_non_exhaustive()
    }
}

impl DnsResolver {
    /// Uses the system's name servers (`/etc/resolv.conf`: the cluster DNS inside a pod).
    pub fn system(service: &str, namespace: &str) -> Result<Self, DiscoveryError> {
        let builder = Resolver::builder_tokio().map_err(|e| DiscoveryError::Lookup {
            name: "/etc/resolv.conf".into(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            resolver: builder.with_options(uncached()).build(),
            srv: srv_name(service, namespace),
        })
    }

    /// Uses one name server at `addr` (UDP and TCP), for example a test's server on loopback.
    pub fn with_nameserver(addr: SocketAddr, service: &str, namespace: &str) -> Self {
        let servers = NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true);
        let config = ResolverConfig::from_parts(None, Vec::new(), servers);
        Self {
            resolver: Resolver::builder_with_config(config, TokioConnectionProvider::default())
                .with_options(uncached())
                .build(),
            srv: srv_name(service, namespace),
        }
    }

    async fn lookup(&self) -> Result<Vec<Peer>, DiscoveryError> {
        let failed = |name: &str, e: &dyn std::fmt::Display| DiscoveryError::Lookup {
            name: name.to_string(),
            reason: e.to_string(),
        };
        let records = match self.resolver.srv_lookup(self.srv.as_str()).await {
            Ok(records) => records,
            Err(e) if e.is_no_records_found() => return Ok(Vec::new()),
            Err(e) => return Err(failed(&self.srv, &e)),
        };
        let mut peers = Vec::new();
        for srv in records.iter() {
            let target = srv.target().to_ascii();
            let name = target.trim_end_matches('.').to_ascii_lowercase();
            let ips = match self.resolver.lookup_ip(target.as_str()).await {
                Ok(ips) => ips,
                // Listed but without an address yet: not reachable, so not a peer this round.
                Err(e) if e.is_no_records_found() => continue,
                Err(e) => return Err(failed(&target, &e)),
            };
            if let Some(ip) = ips.iter().next() {
                peers.push(Peer {
                    name,
                    http: SocketAddr::new(ip, srv.port()).to_string(),
                });
            }
        }
        peers.sort();
        peers.dedup();
        Ok(peers)
    }
}

/// Every lookup goes to the server: pods come and go, and a cached answer would hide a new one.
fn uncached() -> ResolverOpts {
    let mut options = ResolverOpts::default();
    options.cache_size = 0;
    options
}

/// The SRV name of the headless Service's `http` port, fully qualified (no search list applies).
fn srv_name(service: &str, namespace: &str) -> String {
    format!("_http._tcp.{}.", internal_domain(service, namespace))
}

impl PeerResolver for DnsResolver {
    fn peers(&self) -> BoxFuture<'_, Result<Vec<Peer>, DiscoveryError>> {
        Box::pin(self.lookup())
    }
}
