//! Raft start-up: open the Raft node, serve the cluster service, then bootstrap a new cluster or
//! join an existing one (asking members to add this node, proving `cluster.secret` over a nonce).
use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

use doq_api::Clock;
use doq_consensus::{Consensus, RaftNode, RaftOptions};
use doq_storage::Stores;
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;
use tracing::{info, warn};

use crate::{
    config::Config,
    discovery::{Discovery, Start},
    peer_tls::{self, PeerTls},
    tls::Tls,
};

/// How long a joining node keeps asking before it gives up (docs/cluster.md §5).
const JOIN_DEADLINE: Duration = Duration::from_secs(60);
/// The pause between join attempts.
const JOIN_RETRY: Duration = Duration::from_secs(2);

/// The cluster service's serving task: the token that stops it and its handle.
pub(super) type RaftServing = (
    CancellationToken,
    JoinHandle<Result<(), tonic::transport::Error>>,
);

/// Starts the Raft node, serves the cluster service on `listener`, then bootstraps a new cluster or
/// joins an existing one, as docs/cluster.md §5 says: only a node without any Raft state does either. With
/// discovery, DNS decides which (the ordinal-0 rule) and names the members to ask.
pub(super) async fn start_raft(
    config: &Config,
    listener: TcpListener,
    stores: Stores,
    clock: Arc<dyn Clock>,
    discovery: Option<&Discovery>,
    tls: Option<&Tls>,
) -> anyhow::Result<(Arc<dyn Consensus>, SocketAddr, RaftServing)> {
    // With tls.* set, node-to-node traffic is TLS both ways (docs/cluster.md §5).
    let peer_tls = match tls {
        Some(_) => Some(PeerTls::load(Path::new(&config.tls.cert), &config.tls.ca)?),
        None => None,
    };
    let raft_addr = listener.local_addr()?;
    let advertise_addr = match config.raft.advertise_address.as_str() {
        // Bound to port 0 (tests): peers must use the port the OS picked.
        "" if raft_addr.ip().is_loopback() || config.raft.address.ends_with(":0") => {
            raft_addr.to_string()
        }
        "" => config.raft.address.clone(),
        explicit => explicit.to_string(),
    };
    let options = RaftOptions {
        node_id: config.cluster.node_id.clone(),
        advertise_addr: advertise_addr.clone(),
        heartbeat_ms: config.raft.heartbeat_interval_ms,
        election_timeout_ms: config.raft.election_timeout_ms,
        apply_timeout: Duration::from_secs(config.raft.apply_timeout),
        snapshot_threshold: config.raft.snapshot_threshold,
        secret: config.cluster.secret.clone(),
        flush_log: config.storage.sync == "always",
        tls: peer_tls.as_ref().map(|t| t.grpc.clone()),
    };
    let node = Arc::new(RaftNode::open(stores, clock, options).await?);
    // Decided before serving: a pristine node holds Raft traffic off from its first RPC until `join`
    // has cleared any membership its id had (RaftNode::hold_peers says why).
    let pristine = node.is_pristine().await?;
    if pristine {
        node.hold_peers();
    }
    let token = CancellationToken::new();
    let serving = {
        let service = node.service();
        let token = token.clone();
        match tls {
            None => {
                let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
                tokio::spawn(async move {
                    tonic::transport::Server::builder()
                        .add_service(service)
                        .serve_with_incoming_shutdown(incoming, token.cancelled_owned())
                        .await
                })
            }
            Some(tls) => {
                let incoming = tls.grpc_incoming(listener, token.clone());
                tokio::spawn(async move {
                    tonic::transport::Server::builder()
                        .add_service(service)
                        .serve_with_incoming_shutdown(incoming, token.cancelled_owned())
                        .await
                })
            }
        }
    };
    if pristine {
        let start = match discovery {
            Some(discovery) => discovery.decide().await,
            None if config.join_addrs().is_empty() => Start::Bootstrap,
            None => Start::Join,
        };
        match start {
            Start::Bootstrap => {
                node.admit_peers();
                node.bootstrap().await?;
            }
            Start::Join => {
                join(config, discovery, &advertise_addr, peer_tls.as_ref(), &node).await?;
                node.wait_voter(JOIN_DEADLINE).await?;
            }
        }
    } else {
        info!("restarting as the member this node was; not bootstrapping or joining");
    }
    Ok((node, raft_addr, (token, serving)))
}

/// Asks the members (`cluster.join_addr`, or those discovery finds, looked up again every round) to add
/// this node, every 2 s for up to 60 s. Each attempt first asks the member to remove this node's id (a
/// no-op unless the id is a member: a node that lost its data and rejoins under its old id), then admits
/// Raft traffic and asks to join, so the leader replicates to this node as a new member from the start.
async fn join(
    config: &Config,
    discovery: Option<&Discovery>,
    advertise: &str,
    tls: Option<&PeerTls>,
    node: &RaftNode,
) -> anyhow::Result<()> {
    let id = &config.cluster.node_id;
    let leave = serde_json::to_vec(&serde_json::json!({ "id": id }))?;
    let join = serde_json::to_vec(&serde_json::json!({ "id": id, "addr": advertise }))?;
    let deadline = tokio::time::Instant::now() + JOIN_DEADLINE;
    let mut last = String::from("no attempt");
    loop {
        let addrs = match discovery {
            Some(discovery) => discovery.join_addrs().await,
            None => config.join_addrs(),
        };
        if addrs.is_empty() {
            last = "no peer discovered yet".into();
        }
        for addr in &addrs {
            let attempt = async {
                membership_call(config, addr, "/API/v1/cluster/leave", &leave, tls).await?;
                node.admit_peers();
                membership_call(config, addr, "/API/v1/cluster/join", &join, tls).await
            };
            match attempt.await {
                Ok(()) => {
                    info!(via = %addr, "joined the cluster");
                    return Ok(());
                }
                Err(e) => {
                    last = e;
                    warn!(attempt = %last, "join attempt failed; retrying");
                }
            }
        }
        if tokio::time::Instant::now() + JOIN_RETRY > deadline {
            anyhow::bail!("could not join the cluster within {JOIN_DEADLINE:?}: {last}");
        }
        tokio::time::sleep(JOIN_RETRY).await;
    }
}

/// Posts a join or leave to member `addr`. A member that refuses hands out a nonce; with
/// `cluster.secret` set the second try proves the secret over it (docs/cluster.md §5), so the secret
/// itself is never sent. `Err` says what the member answered.
async fn membership_call(
    config: &Config,
    addr: &str,
    path: &str,
    body: &[u8],
    tls: Option<&PeerTls>,
) -> Result<(), String> {
    let secret = doq_consensus::ClusterSecret::new(&config.cluster.secret);
    let mut nonce: Option<String> = None;
    // At most two tries: plain (or with the token), then with a proof over the member's nonce.
    loop {
        let mut headers = Vec::new();
        if !config.auth.token.is_empty() {
            headers.push(("authorization", format!("Bearer {}", config.auth.token)));
        }
        if let (Some(secret), Some(nonce)) = (&secret, &nonce) {
            headers.push((
                doq_consensus::secret::PROOF_HEADER,
                secret.prove(nonce, path, body),
            ));
        }
        let resp = peer_tls::post(addr, path, &headers, body.to_vec(), tls)
            .await
            .map_err(|e| format!("{addr}{path}: {e:#}"))?;
        if resp.status.is_success() {
            return Ok(());
        }
        let offered = resp
            .headers
            .get(doq_consensus::secret::NONCE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let answer = format!(
            "{addr}{path}: {} {}",
            resp.status,
            String::from_utf8_lossy(&resp.body)
        );
        match offered {
            Some(n) if secret.is_some() && nonce.is_none() => nonce = Some(n),
            _ => return Err(answer),
        }
    }
}
