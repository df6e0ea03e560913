//! A node that lost its data rejoins under its old id: three `doq` processes, a follower SIGKILLed, its
//! directory wiped (a replaced disk, a lost volume) and the node started again with `cluster.join_addr`.
//! The leader still replicates to the member it was; the node must come back as a new member and catch
//! up, and the leader must keep serving (openraft stops a leader's Raft when a follower's log goes
//! backwards, which is what answering it with an empty log looks like).
use std::time::{Duration, Instant};

use doq_conformance::{
    check::{check, check_status, id_field},
    ops::{create_delayed, message, messages},
    Client,
};
use serde_json::json;
use tracing::info;

use crate::{
    cluster::{args, leader_other_than, status, Three, CONVERGE},
    Doq,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_that_lost_its_data_rejoins_under_its_old_id() {
    crate::init_tracing();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let Three {
        ports,
        mut nodes,
        clients,
    } = Three::start(&data, tmp.path()).await;
    let leader = leader_other_than(&clients[0], None).await;
    let leader_index: usize = leader
        .strip_prefix("node-")
        .and_then(|n| n.parse().ok())
        .unwrap();
    let victim = (leader_index + 1) % 3;
    let via = &clients[leader_index];

    info!("--- enough writes that the log is compacted (snapshot_threshold 50)");
    let q = "rejoin";
    create_delayed(via, q, json!({})).await;
    let mut acked = Vec::new();
    enqueue(via, q, 0..120, &mut acked).await;

    info!(
        victim,
        "--- SIGKILL a follower, wipe its directory, start it again with join_addr"
    );
    nodes[victim].take().unwrap().kill9();
    let dir = data.join(format!("node-{victim}"));
    std::fs::remove_dir_all(&dir).unwrap();
    enqueue(via, q, 120..140, &mut acked).await;
    let p = ports[victim];
    nodes[victim] = Some(
        Doq::spawn(
            &args(victim, p, &data, Some(ports[leader_index].http)),
            p.http,
            tmp.path(),
        )
        .await,
    );

    info!("--- it catches up as a voter, and the leader keeps serving");
    let rejoined = &clients[victim];
    let deadline = Instant::now() + CONVERGE;
    loop {
        let s = status(rejoined).await;
        let l = status(via).await;
        let voters = l["members"]
            .as_array()
            .map_or(0, |m| m.iter().filter(|m| m["suffrage"] == "Voter").count());
        if s["leader_id"].is_string()
            && s["last_applied"].as_u64() >= l["last_applied"].as_u64()
            && voters == 3
        {
            break;
        }
        let logs: Vec<String> = nodes.iter().flatten().map(Doq::log).collect();
        assert!(
            Instant::now() < deadline,
            "node-{victim} did not rejoin: {s}\nleader: {l}\nlogs:\n{}",
            logs.join("\n-----\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (id, content) in &acked {
        check(
            &rejoined.get(&message(q, id)).await,
            200,
            &json!({ "status": "GOT", "id": id, "group": "default", "priority": 10, "content": content }),
        );
    }
    check_status(
        &via.post(&messages(q), &json!({ "priority": 10, "content": "after" }))
            .await,
        200,
    );
    let logs: Vec<String> = nodes.iter().flatten().map(Doq::log).collect();
    assert!(
        !logs.iter().any(|l| l.contains("panicked")),
        "a node panicked:\n{}",
        logs.join("\n-----\n")
    );
    for node in nodes.into_iter().flatten() {
        node.stop().await;
    }
}

/// Enqueues `m<n>` for every n in `range` through `via`, each acknowledged, into `acked` (id, content).
async fn enqueue(
    via: &Client,
    q: &str,
    range: std::ops::Range<usize>,
    acked: &mut Vec<(String, String)>,
) {
    for n in range {
        let content = format!("m{n}");
        let got = check_status(
            &via.post(&messages(q), &json!({ "priority": 10, "content": content }))
                .await,
            200,
        );
        acked.push((id_field(&got, "id"), content));
    }
}
