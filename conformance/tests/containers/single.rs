//! One doq container of the test image, as `docker run` starts it: the healthcheck turns healthy, it
//! runs as uid 10001, the DOQ HTTP API and the gRPC API answer from outside the container (gRPC binds
//! 0.0.0.0 through the image's config), and data in the /data volume survives a restart.
use std::time::Duration;

use doq_conformance::{
    check::{check_status, id_field},
    ops::{create, dequeue, messages},
    Client,
};
use doq_proto::queue::{doq_client::DoqClient, DequeueRequest, GetQueuesRequest};
use serde_json::json;
use tracing::info;

use crate::docker::{docker, Container, Network, Spec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_container_serves_http_and_grpc_and_keeps_data() {
    crate::init_tracing();
    let _serial = crate::serial().await;
    let network = Network::create("single");
    let node = Container::run(&Spec {
        name: "doq-0",
        network: &network,
        env: Vec::new(),
    })
    .await;
    info!("--- the image's healthcheck (doq probe → /readyz) turns healthy");
    node.wait_healthy(Duration::from_secs(60)).await;
    let ps = docker(&["top", &node.id, "-eo", "pid,uid,comm"]);
    assert!(
        ps.lines()
            .skip(1)
            .all(|l| l.split_whitespace().nth(1) == Some("10001")),
        "every process runs as uid 10001:\n{ps}"
    );

    info!("--- HTTP: priorities, fair groups, bad input");
    let c = Client::new(node.http_base().await.expect("HTTP published"));
    create(&c, "jobs", "delayed", json!({})).await;
    for (p, content) in [(3, "third"), (1, "first"), (2, "second")] {
        check_status(
            &c.post(
                &messages("jobs"),
                &json!({"priority": p, "content": content}),
            )
            .await,
            200,
        );
    }
    let first = check_status(&dequeue(&c, "jobs", true).await, 200);
    assert_eq!(first["content"], "first", "{first}");
    create(&c, "fair", "fair", json!({"strategy": "round_robin"})).await;
    for (group, content) in [("a", "a1"), ("a", "a2"), ("b", "b1")] {
        check_status(
            &c.post(
                &messages("fair"),
                &json!({"group": group, "priority": 0, "content": content}),
            )
            .await,
            200,
        );
    }
    let order: Vec<String> = dequeue_contents(&c, "fair", 3).await;
    assert_eq!(order, ["a1", "b1", "a2"], "round robin over groups");
    let bad = c
        .post("/API/v1/queues", &json!({"name": "", "type": "delayed"}))
        .await;
    assert!((400..500).contains(&bad.0), "bad input is a 4xx: {bad:?}");

    info!("--- gRPC from outside the container");
    let grpc = format!(
        "http://127.0.0.1:{}",
        node.host_port(10000).await.expect("gRPC published")
    );
    let mut g = DoqClient::connect(grpc.clone())
        .await
        .unwrap_or_else(|e| panic!("gRPC at {grpc}: {e}\n{}", node.logs()));
    let names: Vec<String> = g
        .get_queues(GetQueuesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .queues
        .into_iter()
        .map(|q| q.name)
        .collect();
    assert_eq!(names, ["fair", "jobs"]);
    let second = g
        .dequeue(DequeueRequest {
            queue_name: "jobs".into(),
            ack: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.content, "second");

    info!("--- stop and start the container: the volume keeps the data");
    let kept = check_status(
        &c.post(
            &messages("jobs"),
            &json!({"priority": 9, "content": "kept"}),
        )
        .await,
        200,
    );
    let id = id_field(&kept, "id");
    node.stop(Duration::from_secs(10)).await;
    node.start().await;
    node.wait_healthy(Duration::from_secs(60)).await;
    let c = Client::new(node.http_base().await.expect("HTTP published"));
    let got = check_status(&c.get(&format!("{}/{id}", messages("jobs"))).await, 200);
    assert_eq!(got["content"], "kept", "{got}");
}

/// Dequeues (with ack) `n` messages from `q` and returns their contents in order.
async fn dequeue_contents(c: &Client, q: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let got = check_status(&dequeue(c, q, true).await, 200);
        out.push(got["content"].as_str().unwrap_or_default().to_string());
    }
    out
}
