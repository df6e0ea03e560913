//! [`Checked`]: the front ends' [`Consensus`]. It runs [`doq_api::Engine::check`] before a command is
//! proposed, so a request that must fail (an unknown queue, invalid settings, a dead-letter queue that does
//! not exist) is answered without reaching the group commit or the Raft log.
//!
//! The check reads local state, which in a cluster may lag the leader: a follower (or a new leader) may
//! not have applied a `CreateQueue` that was already acknowledged. So a rejection is confirmed after a
//! read barrier, which makes local reads linearizable; only then is it answered. The common case, a
//! command that passes, costs one read lock and no round trip.
use std::sync::Arc;

use async_trait::async_trait;
use doq_api::{Command, Reply, Result};

use crate::{ClusterStatus, Consensus, NodeInfo, StateView};

/// Wraps a node's consensus with the pre-proposal check; every other call goes straight through.
#[derive(Clone)]
pub struct Checked {
    inner: Arc<dyn Consensus>,
}

impl Checked {
    /// Checks commands before `inner` orders them.
    pub fn new(inner: Arc<dyn Consensus>) -> Self {
        Self { inner }
    }
}

impl std::fmt::Debug for Checked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checked").finish_non_exhaustive()
    }
}

#[async_trait]
impl Consensus for Checked {
    async fn propose(&self, cmd: Command) -> Result<Reply> {
        let view = self.inner.view();
        if view.check(&cmd).await.is_err() {
            // Maybe only this node's lag: confirm on linearizable state before refusing.
            self.inner.read_barrier().await?;
            view.check(&cmd).await?;
        }
        self.inner.propose(cmd).await
    }

    async fn read_barrier(&self) -> Result<()> {
        self.inner.read_barrier().await
    }

    fn view(&self) -> StateView {
        self.inner.view()
    }

    fn status(&self) -> ClusterStatus {
        self.inner.status()
    }

    async fn add_node(&self, node: NodeInfo) -> Result<()> {
        self.inner.add_node(node).await
    }

    async fn remove_node(&self, id: &str) -> Result<()> {
        self.inner.remove_node(id).await
    }

    async fn shutdown(&self) -> Result<()> {
        self.inner.shutdown().await
    }
}
