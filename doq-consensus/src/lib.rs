//! Ordering and replication: the [`Consensus`] trait every front end talks to, the [`StateView`]
//! reads go through, and [`SingleNode`], the group-commit single-node implementation.
//! Start at `consensus.rs`, then `single.rs` and `applier.rs`.
mod applier;
mod clock;
mod consensus;
mod single;
mod view;

pub use clock::SystemClock;
pub use consensus::{ClusterStatus, Consensus, Member, NodeInfo, Role};
pub use single::{SingleNode, SingleOptions};
pub use view::StateView;
