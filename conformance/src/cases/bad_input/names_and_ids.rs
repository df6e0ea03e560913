//! Bad queue names and message ids, in bodies and in paths, and the names and ids at the edge of
//! what is allowed.
use serde_json::json;
use tracing::info;

use super::{reject_all, setup, Bad};
use crate::{
    check::{check, check_status, Rejection},
    ops::{dequeue, enqueue, enqueue_simple, message, messages, queue, QUEUES},
    Harness,
};

/// Bad queue names in bodies and paths, and non-numeric or out-of-range ids in paths and bodies;
/// then names and ids at the edge of what is allowed.
pub async fn bad_names_and_ids(h: &Harness) {
    let c = h.client();
    let q = "bad-names";
    let (ready, _leased) = setup(&c, q).await;
    let long = "n".repeat(1025);
    let create = |name: &str| json!({ "name": name, "type": "delayed", "settings": {} });
    info!("--- bad names and ids are rejected and change nothing");
    {
        let mut table = Vec::new();
        for name in ["", "a/b", ".", "..", "a\u{1}b", "tab\there", long.as_str()] {
            table.push(Bad::json(
                "POST",
                QUEUES,
                &create(name),
                Rejection::invalid("body.name"),
            ));
        }
        for id in ["abc", "-1", "1.5", "18446744073709551616", "0x10"] {
            let path = message(q, id);
            table.push(Bad::new("GET", &path, None, Rejection::invalid("path.id")));
            table.push(Bad::new(
                "DELETE",
                &path,
                None,
                Rejection::invalid("path.id"),
            ));
            table.push(Bad::new(
                "POST",
                format!("{path}/ack"),
                None,
                Rejection::invalid("path.id"),
            ));
            table.push(Bad::new(
                "POST",
                format!("{path}/touch"),
                None,
                Rejection::invalid("path.id"),
            ));
            table.push(Bad::json(
                "POST",
                format!("{path}/nack"),
                &json!({ "priority": 1 }),
                Rejection::invalid("path.id"),
            ));
            table.push(Bad::json(
                "PUT",
                format!("{path}/priority"),
                &json!({ "priority": 1 }),
                Rejection::invalid("path.id"),
            ));
        }
        for name in ["a%01b", long.as_str()] {
            table.push(Bad::new(
                "GET",
                queue(name),
                None,
                Rejection::invalid("path.queue_name"),
            ));
            table.push(Bad::new(
                "GET",
                messages(name),
                None,
                Rejection::invalid("path.queue_name"),
            ));
            table.push(Bad::json(
                "POST",
                messages(name),
                &json!({ "priority": 10, "content": "x" }),
                Rejection::invalid("path.queue_name"),
            ));
        }
        reject_all(h, q, table).await;
    }
    info!("--- a 1024-byte name and a non-ASCII name are fine");
    {
        for name in ["n".repeat(1024), "очередь-1".to_owned()] {
            check(
                &c.post(QUEUES, &create(&name)).await,
                200,
                &json!({ "status": "CREATED", "name": name, "type": "delayed", "settings": {} }),
            );
            let id = enqueue_simple(&c, &name, 10, "edge").await;
            let got = check_status(&dequeue(&c, &name, true).await, 200);
            assert_eq!(
                (&got["id"], &got["content"]),
                (&json!(id), &json!("edge")),
                "{got}"
            );
        }
    }
    info!("--- client ids: \"\" and \"0\" ask for a server id; a decimal one is used as given");
    {
        for id in ["", "0"] {
            let assigned = enqueue(
                &c,
                q,
                json!({ "id": id, "priority": 10, "content": "auto" }),
                "default",
            )
            .await;
            assert_ne!(assigned, "0");
        }
        let chosen = "12345";
        assert_eq!(
            enqueue(
                &c,
                q,
                json!({ "id": chosen, "priority": 10, "content": "mine" }),
                "default"
            )
            .await,
            chosen
        );
        check(
            &c.get(&message(q, chosen)).await,
            200,
            &json!({ "status": "GOT", "id": chosen, "group": "default", "priority": 10, "content": "mine" }),
        );
        let top = u64::MAX.to_string();
        assert_eq!(
            enqueue(
                &c,
                q,
                json!({ "id": top, "priority": 10, "content": "top" }),
                "default"
            )
            .await,
            top
        );
        check_status(&c.get(&message(q, &top)).await, 200);
        check_status(&c.get(&message(q, &ready)).await, 200);
    }
}
