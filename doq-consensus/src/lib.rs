//! Ordering and replication: the [`Consensus`] trait every front end talks to, the [`StateView`]
//! reads go through, [`SingleNode`], the group-commit single-node implementation, and [`raft::RaftNode`],
//! the Raft implementation on openraft.
//! Front ends wrap either in [`Checked`], which rejects commands that must fail before they are ordered.
//! Start at `consensus.rs`, then `single.rs` and `applier.rs`.
mod applier;
mod checked;
mod clock;
mod consensus;
#[doc(hidden)]
pub mod fuzzing;
mod health;
pub mod raft;
pub mod secret;
mod single;
mod stamper;
mod view;

pub use checked::Checked;
pub use clock::SystemClock;
pub use consensus::{ClusterStatus, Consensus, Forwarded, Member, NodeInfo, Role};
pub use health::{readiness, MAX_APPLY_LAG};
pub use raft::{ClusterService, RaftNode, RaftOptions};
pub use secret::ClusterSecret;
pub use single::{SingleNode, SingleOptions};
pub use view::{CommitObserver, CommitStats, StateView};
