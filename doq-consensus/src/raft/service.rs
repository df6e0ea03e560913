//! The server half of cluster.proto: [`ClusterService`] hands Raft RPCs to openraft and answers forwarded
//! writes, read indexes and membership changes as the leader. A forwarded request is never forwarded
//! again: a node that is not the leader answers "unavailable" and the caller retries. When
//! `cluster.secret` is set, a call without it is refused (`UNAUTHENTICATED`).
use std::sync::Arc;

use doq_proto::cluster::{cluster_server::Cluster, Frame};
use openraft::raft::VoteRequest;
use serde::{de::DeserializeOwned, Serialize};
use tonic::{Request, Response, Status};

use super::{
    codec,
    network::{MembershipChange, SECRET_HEADER},
    wire, Inner,
};

/// Serves this node's side of the cluster protocol.
#[derive(Clone, Debug)]
pub struct ClusterService {
    inner: Arc<Inner>,
}

impl ClusterService {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    /// Checks the secret and returns the payload.
    fn open(&self, req: Request<Frame>) -> Result<Vec<u8>, Status> {
        let secret = &self.inner.options.secret;
        if !secret.is_empty() {
            let presented = req
                .metadata()
                .get(SECRET_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !constant_time_eq(presented.as_bytes(), secret.as_bytes()) {
                return Err(Status::unauthenticated("missing or wrong cluster secret"));
            }
        }
        Ok(req.into_inner().payload)
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

/// Compares without an early exit, so timing does not reveal how much of the secret was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for (i, y) in b.iter().enumerate() {
        diff |= a.get(i).copied().unwrap_or(0) ^ y;
    }
    diff == 0
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn append_entries(&self, req: Request<Frame>) -> Result<Response<Frame>, Status> {
        let rpc = wire::decode_append(&self.open(req)?)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        reply(&self.inner.raft.append_entries(rpc).await)
    }

    async fn vote(&self, req: Request<Frame>) -> Result<Response<Frame>, Status> {
        let rpc: VoteRequest<u64> = decode(&self.open(req)?)?;
        reply(&self.inner.raft.vote(rpc).await)
    }

    async fn install_snapshot(&self, req: Request<Frame>) -> Result<Response<Frame>, Status> {
        let rpc = wire::decode_snapshot(&self.open(req)?)
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
            .read_index_local()
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

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn secret_compare_needs_every_byte() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3creT", b"s3cret"));
        assert!(!constant_time_eq(b"", b"s3cret"));
        assert!(!constant_time_eq(b"s3cret!", b"s3cret"));
    }
}
