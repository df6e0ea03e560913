//! The cluster view and health probes (docs/cluster.md §5), as the node the client talks to reports them: every
//! voter listed once with its suffrage, exactly one leader, a status that agrees with the server list,
//! and `/readyz` answering `OK` on any node that knows its leader; the only voter cannot leave.
use serde_json::{json, Value};
use tracing::info;

use crate::{check::check_status, Harness};

/// `servers`, `status` and the health probes on a healthy row (one node, or a three-node cluster).
pub async fn cluster_view(h: &Harness) {
    let c = h.client();
    let voters = h.caps().voters;
    info!("--- /cluster/servers lists every voter once, one of them the leader");
    let servers = check_status(&c.get("/API/v1/cluster/servers").await, 200);
    let list = servers["servers"].as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), voters, "{servers}");
    assert!(list.iter().all(|s| s["suffrage"] == "Voter"), "{servers}");
    let leaders: Vec<&Value> = list.iter().filter(|s| s["is_leader"] == true).collect();
    assert_eq!(leaders.len(), 1, "{servers}");
    let leader_id = leaders[0]["id"].clone();
    assert!(
        list.iter().all(|s| s["leader_addr"] == leaders[0]["addr"]),
        "every row names the leader's address: {servers}"
    );

    info!("--- /cluster/status agrees with it");
    let status = check_status(&c.get("/API/v1/cluster/status").await, 200);
    assert_eq!(status["leader_id"], leader_id, "{status}");
    assert_eq!(
        status["members"].as_array().map(Vec::len),
        Some(voters),
        "{status}"
    );
    let me = status["node_id"].clone();
    let state = status["state"].as_str().unwrap_or_default();
    assert_eq!(
        state == "Leader",
        me == leader_id,
        "state {state} vs leader {leader_id}: {status}"
    );
    assert!(
        status["last_applied"].as_u64() <= status["last_log_index"].as_u64(),
        "{status}"
    );

    info!("--- health: live, ready, and leader-only readiness on the leader alone");
    assert_eq!(c.get("/livez").await.0, 200);
    assert_eq!(c.get("/readyz").await.0, 200);
    let leader_only = c.get("/readyz?leader=true").await.0;
    assert_eq!(leader_only == 200, state == "Leader", "{status}");

    if voters == 1 {
        info!("--- the only voter cannot leave: 409 membership_refused, and it keeps serving");
        let refused = check_status(
            &c.post("/API/v1/cluster/leave", &json!({ "id": me })).await,
            409,
        );
        assert_eq!(refused["code"], "membership_refused", "{refused}");
        assert_eq!(refused["detail"], "Membership change refused", "{refused}");
        assert_eq!(c.get("/readyz?leader=true").await.0, 200);
    }
}
