//! The client half of cluster.proto: [`Peer`] talks to one other node (Raft RPCs for openraft, and
//! forwarded writes, read indexes and membership changes for `RaftNode`); [`NetworkFactory`] makes one per
//! replication target. Channels connect lazily and reconnect by themselves, so a dead peer is just a
//! failed call (openraft backs off and retries).
use std::time::Duration;

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
};
use crate::secret::{ClusterSecret, CALL_TOKEN_HEADER};

/// Largest cluster message either way (a batch of entries, a snapshot chunk).
pub(crate) const MAX_MESSAGE: usize = 64 << 20;
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
    /// Makes each call's token; the secret itself is never sent (API.md §5).
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
            return Err(Status::Transport(format!(
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

    async fn raft_call<Req: Serialize, Resp: DeserializeOwned, E>(
        &self,
        rpc: Rpc,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<u64, DoqNode, RaftError<u64, E>>>
    where
        E: std::error::Error + DeserializeOwned,
    {
        let payload =
            serde_json::to_vec(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
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
            Err(Status::Transport(e)) => {
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

    /// Sends an unstamped command to this node, which must be the leader; returns its outcome.
    pub(crate) async fn forward(&self, cmd: &Command, ttl: Duration) -> Result<Reply> {
        let bytes = self
            .call(Rpc::Forward, codec::encode_command(cmd), ttl)
            .await
            .map_err(Status::into_error)?;
        codec::decode_outcome(&bytes)?
    }

    /// Asks this node (the leader) for a read index: the log id a linearizable read must have applied.
    pub(crate) async fn read_index(&self, ttl: Duration) -> Result<Option<u64>> {
        let bytes = self
            .call(Rpc::ReadIndex, Vec::new(), ttl)
            .await
            .map_err(Status::into_error)?;
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
            .map_err(Status::into_error)?;
        codec::decode_outcome(&bytes)?.map(|_| ())
    }
}

/// A failed call, by what the caller should do about it.
#[derive(Debug)]
enum Status {
    /// No answer within the deadline.
    Timeout,
    /// The peer could not be reached.
    Transport(String),
    /// The peer answered with an error status (wrong secret, shutting down, …).
    Refused(String),
}

impl From<tonic::Status> for Status {
    fn from(s: tonic::Status) -> Self {
        match s.code() {
            tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled => {
                Self::Transport(s.message().to_string())
            }
            tonic::Code::DeadlineExceeded => Self::Timeout,
            _ => Self::Refused(format!("{:?}: {}", s.code(), s.message())),
        }
    }
}

impl Status {
    fn into_error(self) -> Error {
        match self {
            Self::Timeout => Error::Unavailable(
                "commit not confirmed within timeout; the write may have been applied".into(),
            ),
            Self::Transport(e) => Error::Unavailable(format!("no leader available: {e}")),
            Self::Refused(e) => Error::Unavailable(format!("the leader refused the call: {e}")),
        }
    }
}

/// Makes a [`Peer`] per replication target; every call presents `cluster.secret`.
#[derive(Clone, Debug)]
pub(crate) struct NetworkFactory {
    secret: String,
    tls: Option<ClientTlsConfig>,
}

impl NetworkFactory {
    /// A factory whose peers present `secret`, over TLS when `tls` is set.
    pub(crate) fn new(secret: String, tls: Option<ClientTlsConfig>) -> Self {
        Self { secret, tls }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Peer;

    async fn new_client(&mut self, target: u64, node: &DoqNode) -> Peer {
        Peer::new(target, node, &self.secret, self.tls.as_ref())
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, DoqNode, RaftError<u64>>> {
        self.raft_call(Rpc::AppendEntries, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, DoqNode, RaftError<u64, InstallSnapshotError>>,
    > {
        self.raft_call(Rpc::InstallSnapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, DoqNode, RaftError<u64>>> {
        self.raft_call(Rpc::Vote, &rpc, &option).await
    }
}
