//! The README's "Using it" steps, as its curl commands run them, against `doq` started with defaults
//! except the port and the data directory. When the README changes, change this test with it.
use doq_conformance::{
    check::{check, check_delivered, check_status, id_field},
    ops::QUEUES,
    Client,
};
use serde_json::{json, Value};
use tracing::info;

use crate::{free_port, Doq};

/// Ids in a batch or list answer.
fn ids_of(items: &Value) -> Vec<String> {
    items
        .as_array()
        .map(|a| a.iter().map(|m| id_field(m, "id")).collect())
        .unwrap_or_default()
}

async fn enqueue(c: &Client, q: &str, body: &Value) -> String {
    let got = c.post(&format!("{QUEUES}/{q}/messages"), body).await;
    id_field(&check_status(&got, 200), "id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_quickstart() {
    crate::init_tracing();
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let data = tmp.path().join("data").display().to_string();
    let args = [
        "--http.port".to_owned(),
        port.to_string(),
        "--storage.data_dir".to_owned(),
        data,
    ];
    let doq = Doq::spawn(&args, port, tmp.path()).await;
    let c = doq.client();
    let (emails, jobs) = ("emails", "jobs");
    info!("--- create, list, info and update queues");
    {
        check(
            &c.post(
                QUEUES,
                &json!({ "name": emails, "type": "delayed", "settings": {} }),
            )
            .await,
            200,
            &json!({ "status": "CREATED", "name": emails, "type": "delayed", "settings": {} }),
        );
        let settings = json!({ "strategy": "round_robin", "max_unacked": 2, "ack_timeout": 60 });
        check(
            &c.post(
                QUEUES,
                &json!({ "name": jobs, "type": "fair", "settings": settings }),
            )
            .await,
            200,
            &json!({
                "status": "CREATED", "name": jobs, "type": "fair",
                "settings": { "strategy": "ROUND_ROBIN", "max_unacked": 2, "ack_timeout": 60 },
            }),
        );
        let list = check_status(&c.get(QUEUES).await, 200);
        let names: Vec<&Value> = list["queues"]
            .as_array()
            .map(|a| a.iter().map(|q| &q["name"]).collect())
            .unwrap_or_default();
        assert_eq!(names, [&json!(emails), &json!(jobs)], "{list}");
        let info = check_status(&c.get(&format!("{QUEUES}/{jobs}")).await, 200);
        assert_eq!(
            info["settings"],
            json!({ "strategy": "ROUND_ROBIN", "max_unacked": 2, "ack_timeout": 60 }),
            "{info}"
        );
        check(
            &c.put(
                &format!("{QUEUES}/{jobs}"),
                &json!({ "settings": { "strategy": "round_robin", "max_unacked": 5 } }),
            )
            .await,
            200,
            &json!({ "status": "UPDATED", "name": jobs, "settings": { "strategy": "ROUND_ROBIN", "max_unacked": 5 } }),
        );
    }
    info!("--- enqueue and dequeue");
    let (leased, waited) = {
        let content = r#"{"to":"a@example.com"}"#;
        let email = enqueue(
            &c,
            emails,
            &json!({ "content": content, "priority": 10, "metadata": { "source": "signup" } }),
        )
        .await;
        let job = enqueue(
            &c,
            jobs,
            &json!({ "group": "customer-1.project-7", "priority": 10, "content": "render" }),
        )
        .await;
        check_delivered(
            &c.get(&format!("{QUEUES}/{emails}/messages?ack=true")).await,
            &json!({
                "status": "DEQUEUED", "id": email, "group": "default", "priority": 10, "content": content,
                "metadata": { "source": "signup" }, "deliveries": 1,
            }),
        );
        let job_item = |id: &str, content: &str| {
            json!({
                "status": "DEQUEUED", "id": id, "group": "customer-1.project-7", "priority": 10,
                "content": content, "deliveries": 1,
            })
        };
        check_delivered(
            &c.get(&format!("{QUEUES}/{jobs}/messages?ack=false")).await,
            &job_item(&job, "render"),
        );
        // With a message available, `wait=5s` answers at once.
        let second = enqueue(
            &c,
            jobs,
            &json!({ "group": "customer-1.project-7", "priority": 10, "content": "render-2" }),
        )
        .await;
        check_delivered(
            &c.get(&format!("{QUEUES}/{jobs}/messages?ack=false&wait=5s"))
                .await,
            &job_item(&second, "render-2"),
        );
        (job, second)
    };
    info!("--- ack, touch, nack");
    {
        let at = |id: &str, op: &str| format!("{QUEUES}/{jobs}/messages/{id}/{op}");
        check(
            &c.post_empty(&at(&leased, "ack")).await,
            200,
            &json!({ "status": "ACKNOWLEDGED", "id": leased }),
        );
        check(
            &c.post_empty(&at(&waited, "touch")).await,
            200,
            &json!({ "status": "TOUCHED", "id": waited }),
        );
        check(
            &c.post(
                &at(&waited, "nack"),
                &json!({ "priority": 20, "metadata": { "retry": "1" } }),
            )
            .await,
            200,
            &json!({ "status": "UNACKNOWLEDGED", "id": waited, "priority": 20, "metadata": { "retry": "1" } }),
        );
    }
    info!("--- get, re-prioritise, delete one message");
    {
        let id = enqueue(&c, emails, &json!({ "content": "x", "priority": 10 })).await;
        let path = format!("{QUEUES}/{emails}/messages/{id}");
        check(
            &c.get(&path).await,
            200,
            &json!({ "status": "GOT", "id": id, "group": "default", "priority": 10, "content": "x" }),
        );
        check(
            &c.put(&format!("{path}/priority"), &json!({ "priority": 1 }))
                .await,
            200,
            &json!({ "status": "UPDATED", "id": id, "priority": 1 }),
        );
        check(&c.delete(&path).await, 204, &Value::Null);
    }
    info!("--- reserve ids, batch enqueue and dequeue, purge, delete");
    {
        let reserved = check_status(&c.post("/API/v1/ids", &json!({ "number": 3 })).await, 200);
        let reserved_ids: Vec<u64> = reserved["ids"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|id| id.as_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            reserved_ids.len(),
            3,
            "three decimal string ids: {reserved}"
        );
        let batch = json!({ "messages": [{ "content": "a", "priority": 1 }, { "content": "b", "priority": 2 }] });
        let got = check_status(
            &c.post(&format!("{QUEUES}/{emails}/batch/enqueue"), &batch)
                .await,
            200,
        );
        let ids = ids_of(&got["messages"]);
        assert_eq!(
            (&got["status"], ids.len()),
            (&json!("ENQUEUED"), 2),
            "{got}"
        );
        let got = check_status(
            &c.post(
                &format!("{QUEUES}/{emails}/batch/dequeue"),
                &json!({ "max": 10, "ack": true }),
            )
            .await,
            200,
        );
        assert_eq!(
            (&got["status"], ids_of(&got["messages"])),
            (&json!("DEQUEUED"), ids),
            "{got}"
        );
        check(
            &c.post_empty(&format!("{QUEUES}/{emails}/purge")).await,
            200,
            &json!({ "status": "PURGED", "name": emails, "purged": 0 }),
        );
        check(
            &c.delete(&format!("{QUEUES}/{emails}")).await,
            200,
            &json!({ "status": "DELETED" }),
        );
    }
    info!("--- cluster view and health");
    {
        let servers = check_status(&c.get("/API/v1/cluster/servers").await, 200);
        assert_eq!(
            servers["servers"].as_array().map(Vec::len),
            Some(1),
            "{servers}"
        );
        let status = check_status(&c.get("/API/v1/cluster/status").await, 200);
        assert_eq!(
            (&status["state"], &status["storage_backend"]),
            (&json!("Leader"), &json!("redb")),
            "{status}"
        );
        check(&c.get("/livez").await, 200, &json!("OK"));
        check(&c.get("/readyz").await, 200, &json!("OK"));
    }
    doq.stop().await;
}
