//! Forwarding across a leader change: a write the leader never took is sent again to the next leader,
//! and a write that reached a leader which never answered is reported as `outcome_unknown`, not retried.
use doq_proto::cluster::{
    cluster_server::{Cluster, ClusterServer},
    Frame,
};
use tonic::{Request, Response, Status};

use super::*;

/// Three voters with `n0` leading.
async fn cluster(dirs: &[TempDir], clock: &ManualClock) -> (TestNode, TestNode, TestNode) {
    let n0 = TestNode::start("n0", dirs[0].path(), None, clock).await;
    n0.node.bootstrap().await.unwrap();
    n0.node.wait_for_leader(WAIT, true).await.unwrap();
    let n1 = TestNode::start("n1", dirs[1].path(), None, clock).await;
    let n2 = TestNode::start("n2", dirs[2].path(), None, clock).await;
    n0.node.add_node(n1.info()).await.unwrap();
    n0.node.add_node(n2.info()).await.unwrap();
    n1.node.wait_voter(WAIT).await.unwrap();
    n2.node.wait_voter(WAIT).await.unwrap();
    (n0, n1, n2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_the_dead_leader_never_took_goes_to_the_next_leader() {
    let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let clock = ManualClock::new(Timestamp(1_800_000_000_000));
    let (n0, n1, n2) = cluster(&dirs, &clock).await;
    n1.node.propose(create_delayed(queue())).await.unwrap();
    n1.node.read_barrier().await.unwrap();
    // The leader goes away; the followers still believe in it until their election timeout, so the
    // first attempt finds no one listening at its address.
    n0.stop().await;
    assert_eq!(n1.node.status().leader_id.as_deref(), Some("n0"));
    let reply = n1.node.propose(enqueue(1)).await;
    assert!(
        matches!(reply, Ok(Reply::Enqueued(_))),
        "the write waits for the next leader instead of failing: {reply:?}"
    );
    assert_ne!(n1.node.status().leader_id.as_deref(), Some("n0"));
    // Applied exactly once.
    n1.node.read_barrier().await.unwrap();
    assert_eq!(n1.node.view().stats(&queue(), 10).await.unwrap().total, 1);
    n1.stop().await;
    n2.stop().await;
}

/// A "leader" that takes every forwarded call and never answers it.
#[derive(Clone, Copy)]
struct Silent;

#[tonic::async_trait]
impl Cluster for Silent {
    async fn append_entries(&self, _: Request<Frame>) -> Result<Response<Frame>, Status> {
        Err(Status::unimplemented("silent"))
    }
    async fn vote(&self, _: Request<Frame>) -> Result<Response<Frame>, Status> {
        Err(Status::unimplemented("silent"))
    }
    async fn install_snapshot(&self, _: Request<Frame>) -> Result<Response<Frame>, Status> {
        Err(Status::unimplemented("silent"))
    }
    async fn forward(&self, _: Request<Frame>) -> Result<Response<Frame>, Status> {
        std::future::pending().await
    }
    async fn read_index(&self, _: Request<Frame>) -> Result<Response<Frame>, Status> {
        std::future::pending().await
    }
    async fn change_membership(&self, _: Request<Frame>) -> Result<Response<Frame>, Status> {
        std::future::pending().await
    }
}

fn peer_at(addr: &str) -> Peer {
    Peer::new(
        1,
        &DoqNode {
            name: "leader".into(),
            addr: addr.into(),
        },
        "",
        None,
    )
}

#[tokio::test]
async fn not_sent_and_sent_without_an_answer_are_different_errors() {
    // Nobody listens: the call never left this node.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    let got = peer_at(&addr)
        .forward(&[enqueue(1)], Duration::from_secs(2))
        .await;
    assert!(matches!(got, Err(Error::Unavailable(_))), "{got:?}");

    // Someone took the call and never answered: it may have been applied.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ClusterServer::new(Silent))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let got = peer_at(&addr)
        .forward(&[enqueue(1)], Duration::from_millis(300))
        .await;
    assert!(matches!(got, Err(Error::OutcomeUnknown(_))), "{got:?}");
    server.abort();
}
