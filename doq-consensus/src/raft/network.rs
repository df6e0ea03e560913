//! The client half of cluster.proto: [`Peer`] talks to one other node (Raft RPCs for openraft, and
//! forwarded writes, read indexes and membership changes for `RaftNode`); [`NetworkFactory`] makes one per
//! replication target. Channels connect lazily and reconnect by themselves, so a dead peer is just a
//! failed call (openraft backs off and retries).
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use doq_api::{Command, Error, Reply, Result};
use doq_proto::cluster::{cluster_client::ClusterClient, Frame};
use openraft::{
    error::{
        InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Timeout, Unreachable,
    },
    network::{RPCOption, RaftNetwork, RaftNetworkFactory},
    raft::{
        AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest,
        InstallSnapshotResponse, VoteRequest, VoteResponse,
    },
    RPCTypes,
};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tonic::{
    metadata::{Ascii, MetadataValue},
    transport::{Channel, ClientTlsConfig, Endpoint},
};

use super::{
    codec,
    types::{DoqNode, TypeConfig},
    wire,
};
use crate::secret::{ClusterSecret, CALL_TOKEN_HEADER};

/// Largest cluster message either way (a batch of entries, a snapshot chunk).
pub(crate) const MAX_MESSAGE: usize = 64 << 20;
/// Bytes of entries one AppendEntries carries at most (beyond its first entry): well inside
/// [`MAX_MESSAGE`], so entries up to `limits.max_body_bytes` and restore chunks always replicate.
const APPEND_BUDGET: usize = 16 << 20;
/// How long a connection attempt may take before the call fails as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A join or leave, forwarded to the leader.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum MembershipChange {
    /// Add (or re-address) a node; answered once it votes.
    Add {
        /// `cluster.node_id`.
        name: String,
        /// Raft advertise address.
        addr: String,
    },
    /// Remove a node.
    Remove {
        /// `cluster.node_id`.
        name: String,
    },
}

#[derive(Clone, Copy, Debug)]
enum Rpc {
    AppendEntries,
    Vote,
    InstallSnapshot,
    Forward,
    ReadIndex,
    ChangeMembership,
}

impl Rpc {
    /// The openraft name of a Raft call, for its timeout error.
    fn raft_type(self) -> RPCTypes {
        match self {
            Self::Vote => RPCTypes::Vote,
            Self::InstallSnapshot => RPCTypes::InstallSnapshot,
            _ => RPCTypes::AppendEntries,
        }
    }
}

/// A connection to one node.
#[derive(Clone, Debug)]
pub(crate) struct Peer {
    target: u64,
    node: DoqNode,
    client: Option<ClusterClient<Channel>>,
    /// Makes each call's token; the secret itself is never sent (docs/cluster.md §5).
    secret: Option<ClusterSecret>,
}

/// Why a call to a peer failed before the peer answered.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct CallError(String);

impl Peer {
    /// A lazily connecting client of `node` (id `target`). An address that cannot be a URI gives a peer
    /// whose every call fails, so membership with a bad address cannot crash replication.
    pub(crate) fn new(
        target: u64,
        node: &DoqNode,
        secret: &str,
        tls: Option<&ClientTlsConfig>,
    ) -> Self {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let client = Endpoint::from_shared(format!("{scheme}://{}", node.addr))
            .ok()
            .and_then(|e| match tls {
                Some(tls) => e.tls_config(tls.clone()).ok(),
                None => Some(e),
            })
            .map(|e| {
                e.connect_timeout(CONNECT_TIMEOUT)
                    .tcp_nodelay(true)
                    .connect_lazy()
            })
            .map(|channel| {
                ClusterClient::new(channel)
                    .max_decoding_message_size(MAX_MESSAGE)
                    .max_encoding_message_size(MAX_MESSAGE)
            });
        let secret = ClusterSecret::new(secret);
        Self {
            target,
            node: node.clone(),
            client,
            secret,
        }
    }

    async fn call(&self, rpc: Rpc, payload: Vec<u8>, ttl: Duration) -> Result<Vec<u8>, Status> {
        let Some(client) = &self.client else {
            return Err(Status::Unreachable(format!(
                "bad peer address {:?}",
                self.node.addr
            )));
        };
        let mut client = client.clone();
        let mut req = tonic::Request::new(Frame { payload });
        req.set_timeout(ttl);
        if let Some(s) = &self.secret {
            if let Ok(token) = s
                .call_token(&self.node.addr)
                .parse::<MetadataValue<Ascii>>()
            {
                req.metadata_mut().insert(CALL_TOKEN_HEADER, token);
            }
        }
        let call = async {
            match rpc {
                Rpc::AppendEntries => client.append_entries(req).await,
                Rpc::Vote => client.vote(req).await,
                Rpc::InstallSnapshot => client.install_snapshot(req).await,
                Rpc::Forward => client.forward(req).await,
                Rpc::ReadIndex => client.read_index(req).await,
                Rpc::ChangeMembership => client.change_membership(req).await,
            }
        };
        match tokio::time::timeout(ttl, call).await {
            Err(_) => Err(Status::Timeout),
            Ok(Ok(resp)) => Ok(resp.into_inner().payload),
            Ok(Err(status)) => Err(Status::from(status)),
        }
    }

    /// A Raft call with an encoded request (`wire` for the bulky ones, JSON for votes); the answer is
    /// JSON (small: a few ids).
    async fn raft_call<Resp: DeserializeOwned, E>(
        &self,
        rpc: Rpc,
        payload: Vec<u8>,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<u64, DoqNode, RaftError<u64, E>>>
    where
        E: std::error::Error + DeserializeOwned,
    {
        let ttl = option.hard_ttl();
        let bytes = match self.call(rpc, payload, ttl).await {
            Ok(b) => b,
            Err(Status::Timeout) => {
                return Err(RPCError::Timeout(Timeout {
                    action: rpc.raft_type(),
                    id: 0,
                    target: self.target,
                    timeout: ttl,
                }))
            }
            Err(Status::Unreachable(e) | Status::Broken(e)) => {
                return Err(RPCError::Unreachable(Unreachable::new(&CallError(e))))
            }
            Err(Status::Refused(e)) => {
                return Err(RPCError::Network(NetworkError::new(&CallError(e))))
            }
        };
        let answer: std::result::Result<Resp, RaftError<u64, E>> =
            serde_json::from_slice(&bytes).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        answer.map_err(|e| {
            RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                e,
            ))
        })
    }

    /// Sends unstamped commands to this node, which must be the leader, in one call; returns one
    /// outcome per command, in order. A call that never reached the node fails with `Unavailable`
    /// (nothing was applied: safe to send again); one that may have reached it and got no answer fails
    /// with `OutcomeUnknown`.
    pub(crate) async fn forward(
        &self,
        cmds: &[Command],
        ttl: Duration,
    ) -> Result<Vec<Result<Reply>>> {
        let bytes = self
            .call(Rpc::Forward, codec::encode_commands(cmds), ttl)
            .await
            .map_err(Status::into_write_error)?;
        let outcomes = codec::decode_outcomes(&bytes)?;
        if outcomes.len() != cmds.len() {
            return Err(Error::Internal(format!(
                "the leader answered {} outcomes to {} forwarded commands",
                outcomes.len(),
                cmds.len()
            )));
        }
        Ok(outcomes)
    }

    /// Asks this node (the leader) for a read index: the log id a linearizable read must have applied.
    pub(crate) async fn read_index(&self, ttl: Duration) -> Result<Option<u64>> {
        let bytes = self
            .call(Rpc::ReadIndex, Vec::new(), ttl)
            .await
            .map_err(Status::into_read_error)?;
        let answer: std::result::Result<Option<u64>, String> = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Internal(format!("undecodable read index: {e}")))?;
        answer.map_err(Error::Unavailable)
    }

    /// Asks this node (the leader) to change membership.
    pub(crate) async fn change_membership(
        &self,
        change: &MembershipChange,
        ttl: Duration,
    ) -> Result<()> {
        let payload = serde_json::to_vec(change)
            .map_err(|e| Error::Internal(format!("encode membership change: {e}")))?;
        let bytes = self
            .call(Rpc::ChangeMembership, payload, ttl)
            .await
            .map_err(Status::into_write_error)?;
        codec::decode_outcome(&bytes)?.map(|_| ())
    }
}

/// A failed call, by what the caller should do about it. For a write, what matters is whether the
/// request may have reached the peer: `Unreachable` and `Refused` mean it was not acted on (send it
/// again, to this leader or the next); `Timeout` and `Broken` mean its outcome is unknown.
#[derive(Debug)]
enum Status {
    /// No answer within the deadline.
    Timeout,
    /// No connection could be made (refused, no route, TLS handshake, connect timeout): nothing was sent.
    Unreachable(String),
    /// The connection failed after the request may have been sent.
    Broken(String),
    /// The peer answered with an error status before acting (wrong secret, undecodable, …).
    Refused(String),
}

impl From<tonic::Status> for Status {
    fn from(s: tonic::Status) -> Self {
        match s.code() {
            tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled => {
                if never_connected(&s) {
                    Self::Unreachable(s.message().to_string())
                } else {
                    Self::Broken(s.message().to_string())
                }
            }
            tonic::Code::DeadlineExceeded => Self::Timeout,
            _ => Self::Refused(format!("{:?}: {}", s.code(), s.message())),
        }
    }
}

/// Whether tonic failed while connecting (its `ConnectError` is in the source chain): the request was
/// never written to a connection, so the peer cannot have acted on it.
fn never_connected(s: &tonic::Status) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(s);
    while let Some(e) = source {
        if e.is::<tonic::ConnectError>() {
            return true;
        }
        source = e.source();
    }
    false
}

impl Status {
    /// The error of a write call (forwarded commands, membership changes).
    fn into_write_error(self) -> Error {
        match self {
            Self::Timeout => Error::OutcomeUnknown(
                "commit not confirmed within timeout; the write may have been applied".into(),
            ),
            Self::Broken(e) => Error::OutcomeUnknown(format!(
                "the connection to the leader failed after the write was sent; it may have been applied: {e}"
            )),
            Self::Unreachable(e) => Error::Unavailable(format!("no leader available: {e}")),
            Self::Refused(e) => Error::Unavailable(format!("the leader refused the call: {e}")),
        }
    }

    /// The error of a read call: nothing changes either way, so every failure is "retry".
    fn into_read_error(self) -> Error {
        match self {
            Self::Timeout => {
                Error::Unavailable("no leader available: read index not answered in time".into())
            }
            Self::Unreachable(e) | Self::Broken(e) => {
                Error::Unavailable(format!("no leader available: {e}"))
            }
            Self::Refused(e) => Error::Unavailable(format!("the leader refused the call: {e}")),
        }
    }
}

/// One [`Peer`] per member, shared by replication, read-index rounds and forwarding: a tonic channel is
/// one HTTP/2 connection that multiplexes every call, and a new one per call (openraft asks for a client
/// per replication stream and per `ensure_linearizable` round) pays a TCP and HTTP/2 handshake each time.
#[derive(Debug)]
pub(crate) struct Peers {
    secret: String,
    tls: Option<ClientTlsConfig>,
    cache: Mutex<HashMap<u64, Peer>>,
}

impl Peers {
    /// An empty cache whose peers present `secret`, over TLS when `tls` is set.
    pub(crate) fn new(secret: String, tls: Option<ClientTlsConfig>) -> Self {
        Self {
            secret,
            tls,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The peer for member `id` at `node`, connecting (lazily) only when the member is new or its
    /// address changed.
    pub(crate) fn get(&self, id: u64, node: &DoqNode) -> Peer {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(peer) = cache.get(&id) {
            if peer.node == *node {
                return peer.clone();
            }
        }
        let peer = Peer::new(id, node, &self.secret, self.tls.as_ref());
        cache.insert(id, peer.clone());
        peer
    }
}

/// Hands openraft the cached [`Peer`] of each replication target.
#[derive(Clone, Debug)]
pub(crate) struct NetworkFactory {
    peers: Arc<Peers>,
}

impl NetworkFactory {
    /// A factory over the node's peer cache.
    pub(crate) fn new(peers: Arc<Peers>) -> Self {
        Self { peers }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Peer;

    async fn new_client(&mut self, target: u64, node: &DoqNode) -> Peer {
        self.peers.get(target, node)
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, DoqNode, RaftError<u64>>> {
        let (payload, sent) = wire::encode_append(&rpc, APPEND_BUDGET);
        let answer = self.raft_call(Rpc::AppendEntries, payload, &option).await?;
        if sent == rpc.entries.len() {
            return Ok(answer);
        }
        // Only a prefix went: a success covers up to its last entry (openraft sends the rest next).
        let last = rpc.entries.get(sent.saturating_sub(1)).map(|e| e.log_id);
        Ok(match answer {
            AppendEntriesResponse::Success => AppendEntriesResponse::PartialSuccess(last),
            other => other,
        })
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, DoqNode, RaftError<u64, InstallSnapshotError>>,
    > {
        self.raft_call(Rpc::InstallSnapshot, wire::encode_snapshot(&rpc), &option)
            .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, DoqNode, RaftError<u64>>> {
        let payload =
            serde_json::to_vec(&rpc).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        self.raft_call(Rpc::Vote, payload, &option).await
    }
}
