//! When the write may not have happened: a stopped node answers `Unavailable`, and "not sent" and
//! "outcome unknown" get different codes.
use super::*;

#[tokio::test]
async fn a_stopped_node_answers_unavailable() {
    let h = Harness::start().await;
    let mut c = h.client.clone();
    h.delayed("q").await;
    h.consensus.shutdown().await.unwrap();
    let s = failure(
        c.enqueue(EnqueueRequest {
            queue_name: "q".into(),
            ..EnqueueRequest::default()
        })
        .await,
    );
    check(
        &s,
        Code::Unavailable,
        "failed to enqueue a message",
        "unavailable",
    );
}

#[test]
fn not_sent_and_outcome_unknown_get_different_codes() {
    use crate::errors::{grpc_status, GrpcOp};
    let text = "failed to enqueue a message";
    let s = grpc_status(
        GrpcOp::Enqueue,
        &doq_api::Error::Unavailable("no leader available: x".into()),
    );
    check(&s, Code::Unavailable, text, "unavailable");
    // gRPC's code for "may have completed".
    let s = grpc_status(
        GrpcOp::Enqueue,
        &doq_api::Error::OutcomeUnknown("commit not confirmed".into()),
    );
    check(&s, Code::DeadlineExceeded, text, "outcome_unknown");
}
