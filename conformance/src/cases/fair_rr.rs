//! Fair queues, `round_robin`: hierarchical, deterministic rotation over groups (docs/semantics.md §4.2,
//! §13 vector 6).
use serde_json::json;
use tracing::info;

use crate::{
    check::{check, check_delivered, check_empty},
    ops::{dequeue, enqueue, message},
    Client, Harness,
};

/// Creates a `round_robin` fair queue and checks the echo (strategy upper-cased, zeros left out).
async fn create_round_robin(c: &Client, q: &str) {
    let got = c
        .post(
            crate::ops::QUEUES,
            &json!({ "name": q, "type": "fair", "settings": { "strategy": "round_robin" } }),
        )
        .await;
    check(
        &got,
        200,
        &json!({
            "status": "CREATED", "name": q, "type": "fair", "settings": { "strategy": "ROUND_ROBIN" },
        }),
    );
}

/// Enqueues `(group, content)` pairs at priority 10 with metadata; after each enqueue, `GET` by id
/// answers `GOT` with the same group, priority, content and metadata. Returns the ids.
async fn enqueue_groups(c: &Client, q: &str, items: &[(String, String)]) -> Vec<String> {
    let mut ids = Vec::new();
    for (group, content) in items {
        let metadata = json!({ "content": content });
        let body =
            json!({ "group": group, "priority": 10, "content": content, "metadata": metadata });
        let id = enqueue(c, q, body, group).await;
        check(
            &c.get(&message(q, &id)).await,
            200,
            &json!({
                "status": "GOT", "id": id, "group": group, "priority": 10, "content": content,
                "metadata": metadata,
            }),
        );
        ids.push(id);
    }
    ids
}

/// Dequeues with `ack=true`, expecting the items at `order` (indexes into `items`), then empty.
async fn expect_rotation(
    c: &Client,
    q: &str,
    items: &[(String, String)],
    ids: &[String],
    order: &[usize],
) {
    for &i in order {
        let (group, content) = &items[i];
        check_delivered(
            &dequeue(c, q, true).await,
            &json!({
                "status": "DEQUEUED", "id": ids[i], "group": group, "priority": 10, "content": content,
                "metadata": { "content": content }, "deliveries": 1,
            }),
        );
    }
    check_empty(&dequeue(c, q, true).await, q);
}

/// The flat example of docs/semantics.md §4.2 (DOQ's end-to-end test): indexes `[0,4,6,7,1,5,2,3]`.
pub async fn round_robin_flat(h: &Harness) {
    let c = h.client();
    let q = "fair-flat";
    info!("--- customer-1 x4, customer-2 x2, customer-3, customer-4 at priority 10");
    let (items, ids) = {
        create_round_robin(&c, q).await;
        let groups = [
            "customer-1",
            "customer-1",
            "customer-1",
            "customer-1",
            "customer-2",
            "customer-2",
            "customer-3",
            "customer-4",
        ];
        let items: Vec<(String, String)> = groups
            .iter()
            .enumerate()
            .map(|(i, g)| ((*g).to_owned(), format!("flat-{i}")))
            .collect();
        let ids = enqueue_groups(&c, q, &items).await;
        (items, ids)
    };
    info!("--- round robin gives [0,4,6,7,1,5,2,3]");
    {
        expect_rotation(&c, q, &items, &ids, &[0, 4, 6, 7, 1, 5, 2, 3]).await;
    }
}

/// The hierarchical example of docs/semantics.md §4.2: `1,9,10,13,4,12,15,7,11,14,3,6,8,2,5`.
pub async fn round_robin_hierarchical(h: &Harness) {
    let c = h.client();
    let q = "fair-tree";
    info!("--- fifteen messages over a three-level group tree");
    let (items, ids) = {
        create_round_robin(&c, q).await;
        let layout: [(&str, &[u32]); 12] = [
            ("c1.p1.u1", &[1, 2]),
            ("c1.p1.u2", &[3]),
            ("c1.p2.u1", &[4, 5]),
            ("c1.p2.u2", &[6]),
            ("c1.p3.u1", &[7]),
            ("c1.p3.u2", &[8]),
            ("c2", &[9]),
            ("c3.p1", &[10, 11]),
            ("c3.p2", &[12]),
            ("c4.p1.u1", &[13]),
            ("c4.p1.u2", &[14]),
            ("c4.p2.u2", &[15]),
        ];
        // items[n - 1] is message n.
        let items: Vec<(String, String)> = layout
            .iter()
            .flat_map(|(g, ns)| ns.iter().map(move |n| ((*g).to_owned(), n.to_string())))
            .collect();
        let ids = enqueue_groups(&c, q, &items).await;
        (items, ids)
    };
    info!("--- round robin over the tree");
    {
        let order: Vec<usize> = [1, 9, 10, 13, 4, 12, 15, 7, 11, 14, 3, 6, 8, 2, 5]
            .iter()
            .map(|n| n - 1)
            .collect();
        expect_rotation(&c, q, &items, &ids, &order).await;
    }
}

/// docs/semantics.md §4.2 (FIX): a group that is also a prefix of another (`a` and `a.b`) is not stranded; its
/// own messages form an implicit leaf placed in first-insertion order.
pub async fn round_robin_prefix_groups(h: &Harness) {
    let c = h.client();
    let q = "fair-prefix";
    let (items, ids) = {
        create_round_robin(&c, q).await;
        let items: Vec<(String, String)> = [
            ("a", "a1"),
            ("a.b", "ab1"),
            ("a", "a2"),
            ("a.b", "ab2"),
            ("c", "c1"),
        ]
        .iter()
        .map(|(g, m)| ((*g).to_owned(), (*m).to_owned()))
        .collect();
        let ids = enqueue_groups(&c, q, &items).await;
        (items, ids)
    };
    info!("--- a1, c1, ab1, a2, ab2");
    {
        expect_rotation(&c, q, &items, &ids, &[0, 4, 1, 2, 3]).await;
    }
}
