//! What `serve` adds around the DOQ and DOQExt services: bearer auth (not on health), the health service,
//! reflection for grpcurl, and the message size limit (RESOURCE_EXHAUSTED).
use doq_proto::{
    ext::{doq_ext_client::DoqExtClient, DequeueBatchRequest},
    queue::{EnqueueRequest, GetQueuesRequest},
};
use tokio_stream::StreamExt as _;
use tonic::{Code, Request};
use tonic_health::pb::{
    health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
};
use tonic_reflection::pb::v1::{
    server_reflection_client::ServerReflectionClient, server_reflection_request::MessageRequest,
    server_reflection_response::MessageResponse, ServerReflectionRequest,
};

use super::{check, failure, options, soon, Harness};
use crate::{grpc::GrpcOptions, limits::RequestLimits};

fn bearer<T>(message: T, value: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", value.parse().unwrap());
    request
}

#[tokio::test]
async fn a_configured_token_is_required_except_for_health() {
    let h = Harness::with(GrpcOptions {
        auth_token: "s3cret".into(),
        ..options()
    })
    .await;
    let mut c = h.client.clone();
    let text = "missing or invalid bearer token";
    let s = failure(c.get_queues(GetQueuesRequest::default()).await);
    check(&s, Code::Unauthenticated, text, "unauthorized");
    let s = failure(
        c.get_queues(bearer(GetQueuesRequest::default(), "Bearer wrong"))
            .await,
    );
    check(&s, Code::Unauthenticated, text, "unauthorized");
    let s = failure(
        c.get_queues(bearer(GetQueuesRequest::default(), "s3cret"))
            .await,
    );
    check(&s, Code::Unauthenticated, text, "unauthorized");
    let ok = c
        .get_queues(bearer(GetQueuesRequest::default(), "Bearer s3cret"))
        .await;
    assert!(ok.unwrap().into_inner().queues.is_empty());

    let mut ext = DoqExtClient::new(h.channel().await);
    let s = failure(ext.dequeue_batch(DequeueBatchRequest::default()).await);
    check(&s, Code::Unauthenticated, text, "unauthorized");
    let s = failure(
        ext.dequeue_batch(bearer(
            DequeueBatchRequest {
                queue_name: "none".into(),
                max: 1,
                ..DequeueBatchRequest::default()
            },
            "Bearer s3cret",
        ))
        .await,
    );
    assert_eq!(s.code(), Code::NotFound, "past auth: {s:?}");

    let mut health = HealthClient::new(h.channel().await);
    let answer = health.check(HealthCheckRequest::default()).await.unwrap();
    assert_eq!(answer.into_inner().status(), ServingStatus::Serving);
    let ext = HealthCheckRequest {
        service: "doq.ext.v1.DOQExt".into(),
    };
    let answer = health.check(ext).await.unwrap();
    assert_eq!(answer.into_inner().status(), ServingStatus::Serving);
}

#[tokio::test]
async fn health_serves_until_shutdown() {
    let h = Harness::start().await;
    let mut health = HealthClient::new(h.channel().await);
    let doq = HealthCheckRequest {
        service: "queue.DOQ".into(),
    };
    let answer = health.check(doq.clone()).await.unwrap();
    assert_eq!(answer.into_inner().status(), ServingStatus::Serving);
    let mut watch = health.watch(doq).await.unwrap().into_inner();
    let first = watch.next().await.unwrap().unwrap();
    assert_eq!(first.status(), ServingStatus::Serving);
    h.shutdown.cancel();
    let next = soon("a health update", watch.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.status(), ServingStatus::NotServing);
}

#[tokio::test]
async fn reflection_lists_the_doq_service() {
    let h = Harness::start().await;
    let mut reflection = ServerReflectionClient::new(h.channel().await);
    let list = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter([list]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(services)) = answer.message_response else {
        panic!("expected a service list, got {answer:?}");
    };
    let names: Vec<String> = services.service.into_iter().map(|s| s.name).collect();
    assert!(names.iter().any(|n| n == "queue.DOQ"), "{names:?}");
    assert!(names.iter().any(|n| n == "doq.ext.v1.DOQExt"), "{names:?}");
    assert!(
        names.iter().any(|n| n == "grpc.health.v1.Health"),
        "{names:?}"
    );
}

#[tokio::test]
async fn a_message_over_the_body_limit_is_resource_exhausted() {
    let limits = RequestLimits {
        max_body_bytes: 4096,
        ..RequestLimits::default()
    };
    let h = Harness::with(GrpcOptions {
        limits,
        ..options()
    })
    .await;
    h.delayed("q").await;
    let big = EnqueueRequest {
        queue_name: "q".into(),
        content: "x".repeat(8192),
        ..EnqueueRequest::default()
    };
    let s = failure(h.client.clone().enqueue(big.clone()).await);
    check(&s, Code::ResourceExhausted, s.message(), "body_too_large");
    let mut answers = h
        .client
        .clone()
        .enqueue_stream(tokio_stream::iter([big]))
        .await
        .unwrap()
        .into_inner();
    let s = failure(answers.message().await);
    check(&s, Code::ResourceExhausted, s.message(), "body_too_large");
    let small = EnqueueRequest {
        queue_name: "q".into(),
        content: "x".repeat(100),
        ..EnqueueRequest::default()
    };
    assert!(
        h.client
            .clone()
            .enqueue(small)
            .await
            .unwrap()
            .into_inner()
            .success
    );
}

#[tokio::test]
async fn the_node_serves_grpc_on_its_own_listener_and_stops_cleanly() {
    use doq_proto::queue::doq_client::DoqClient;
    use tokio::net::TcpListener;

    use crate::{
        config::Config,
        server::{self, Deps, Listeners},
    };

    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.storage.backend = "memory".into();
    config.storage.data_dir = dir.path().to_path_buf();
    let listeners = Listeners {
        http: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        grpc: Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
        raft: None,
    };
    let node = server::start(config, listeners, Deps::default())
        .await
        .unwrap();
    let addr = node.grpc_addr.expect("gRPC is served");
    let mut client = DoqClient::connect(format!("http://{addr}")).await.unwrap();
    let created = client
        .create_queue(doq_proto::queue::CreateQueueRequest {
            name: "q".into(),
            r#type: "delayed".into(),
            settings: Some(doq_proto::queue::QueueSettings::default()),
        })
        .await
        .unwrap();
    assert!(created.into_inner().success);
    let info = node
        .consensus
        .view()
        .stats(&doq_api::QueueName::new("q").unwrap(), 10)
        .await;
    assert!(info.is_ok(), "gRPC and HTTP share one consensus");
    soon("the node to stop", node.stop()).await.unwrap();
}
