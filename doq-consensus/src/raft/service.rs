//! The server half of cluster.proto: [`ClusterService`] hands Raft RPCs to openraft and answers forwarded
//! writes, read indexes and membership changes as the leader. A forwarded request is never forwarded
//! again: a node that is not the leader answers "unavailable" and the caller retries. When
//! `cluster.secret` is set, a call without a valid token is refused (`UNAUTHENTICATED`) before decoding.
use std::sync::{atomic::Ordering, Arc};

use doq_proto::cluster::{cluster_server::Cluster, Frame};
use openraft::raft::VoteRequest;
use serde::{de::DeserializeOwned, Serialize};
use tonic::{Request, Response, Status};

use super::{codec, network::MembershipChange, wire, Inner};

/// Serves this node's side of the cluster protocol.
#[derive(Clone, Debug)]
pub struct ClusterService {
    inner: Arc<Inner>,
}

impl ClusterService {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    /// The payload. `cluster.secret` was checked before the message was decoded (`CallCheck`, the
    /// interceptor `RaftNode::service` wraps this service in).
    #[allow(clippy::unused_self, clippy::unnecessary_wraps)]
    fn open(&self, req: Request<Frame>) -> Result<Vec<u8>, Status> {
        Ok(req.into_inner().payload)
    }

    /// The payload of a Raft RPC (append, vote, snapshot), unless this node holds peers off
    /// ([`super::RaftNode::hold_peers`]).
    fn open_raft(&self, req: Request<Frame>) -> Result<Vec<u8>, Status> {
        if self.inner.peers_held.load(Ordering::Acquire) {
            return Err(Status::unavailable(
                "this node is rejoining the cluster: it takes Raft traffic once its old membership is cleared",
            ));
        }
        self.open(req)
    }
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Status> {
    serde_json::from_slice(bytes)
        .map_err(|e| Status::invalid_argument(format!("undecodable request: {e}")))
}

fn reply<T: Serialize>(value: &T) -> Result<Response<Frame>, Status> {
    serde_json::to_vec(value)
        .map(|payload| Response::new(Frame { payload }))
        .map_err(|e| Status::internal(format!("encode reply: {e}")))
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn append_entries(&self, req: Request<Frame>) -> Result<Response<Frame>, Status> {
        let rpc = wire::decode_append(&self.open_raft(req)?)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let (began, entries) = (std::time::Instant::now(), rpc.entries.len());
        let answer = self.inner.raft.append_entries(rpc).await;
        super::timing::APPEND_RPC.record(entries, began.elapsed());
        reply(&answer)
    }

    async fn vote(&self, req: Request<Frame>) -> Result<Response<Frame>, Status> {
        let rpc: VoteRequest<u64> = decode(&self.open_raft(req)?)?;
        reply(&self.inner.raft.vote(rpc).await)
    }

    async fn install_snapshot(&self, req: Request<Frame>) -> Result<Response<Frame>, Status> {
        let rpc = wire::decode_snapshot(&self.open_raft(req)?)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        reply(&self.inner.raft.install_snapshot(rpc).await)
    }

    async fn forward(&self, req: Request<Frame>) -> Result<Response<Frame>, Status> {
        let payload = self.open(req)?;
        let commands = codec::decode_commands(&payload)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        // Handed to the proposer together, so they land in the same log entry (in this order) unless
        // the entry fills up.
        let outcomes = futures::future::join_all(
            commands
                .into_iter()
                .map(|command| self.inner.propose_local(command)),
        )
        .await;
        Ok(Response::new(Frame {
            payload: codec::encode_outcomes(&outcomes),
        }))
    }

    async fn read_index(&self, req: Request<Frame>) -> Result<Response<Frame>, Status> {
        self.open(req)?;
        let answer = self
            .inner
            .local_reads
            .join()
            .await
            .map_err(|e| e.to_string());
        reply(&answer)
    }

    async fn change_membership(&self, req: Request<Frame>) -> Result<Response<Frame>, Status> {
        let change: MembershipChange = decode(&self.open(req)?)?;
        let outcome = self
            .inner
            .change_local(change)
            .await
            .map(|()| doq_api::Reply::Acked);
        Ok(Response::new(Frame {
            payload: codec::encode_outcome(&outcome),
        }))
    }
}
