//! Discovery against a DNS server the test controls: a tiny authoritative server on loopback that
//! answers the SRV and A queries Kubernetes' DNS would for a headless Service, from a table the test
//! edits (pods appear as a StatefulSet scales). The cluster test runs real raft nodes in-process.
use std::{
    collections::BTreeMap,
    net::{Ipv4Addr, SocketAddr},
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use hickory_resolver::proto::{
    op::{Message, MessageType, OpCode, ResponseCode},
    rr::{
        rdata::{A, SRV},
        Name, RData, Record, RecordType,
    },
};
use serde_json::{json, Value};
use tokio::net::{TcpListener, UdpSocket};

use super::*;
use crate::{
    config::{Config, Sources},
    server::{self, Deps, Listeners, Node},
};

const SERVICE: &str = "doq";
const NAMESPACE: &str = "default";

/// Pod name → its HTTP port: what DNS publishes for the headless Service.
type Table = Arc<Mutex<BTreeMap<String, u16>>>;

fn stable(pod: &str) -> String {
    format!("{pod}.{}", internal_domain(SERVICE, NAMESPACE))
}

/// Serves `table` as Kubernetes' DNS would: SRV `_http._tcp.doq-internal…` → one target per pod with
/// its HTTP port, A `<pod>.doq-internal…` → 127.0.0.1; NXDOMAIN for anything else.
async fn serve_dns(table: Table) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let srv_name = format!("_http._tcp.{}.", internal_domain(SERVICE, NAMESPACE));
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut answer = Message::new();
            answer
                .set_id(query.id())
                .set_message_type(MessageType::Response)
                .set_op_code(OpCode::Query)
                .set_authoritative(true)
                .set_recursion_desired(query.recursion_desired());
            let pods = table.lock().unwrap().clone();
            for q in query.queries() {
                answer.add_query(q.clone());
                let asked = q.name().to_ascii().to_ascii_lowercase();
                let pod = pods.keys().find(|p| asked == format!("{}.", stable(p)));
                match (q.query_type(), pod) {
                    (RecordType::SRV, _) if asked == srv_name && !pods.is_empty() => {
                        for (pod, port) in &pods {
                            let target = Name::from_ascii(format!("{}.", stable(pod))).unwrap();
                            let srv = SRV::new(0, 100, *port, target);
                            answer.add_answer(Record::from_rdata(
                                q.name().clone(),
                                5,
                                RData::SRV(srv),
                            ));
                        }
                    }
                    (RecordType::A, Some(_)) => {
                        answer.add_answer(Record::from_rdata(
                            q.name().clone(),
                            5,
                            RData::A(A(Ipv4Addr::LOCALHOST)),
                        ));
                    }
                    // The name exists, without records of this type.
                    (_, Some(_)) => {}
                    _ => {
                        answer.set_response_code(ResponseCode::NXDomain);
                    }
                }
            }
            if let Ok(bytes) = answer.to_vec() {
                let _ = socket.send_to(&bytes, from).await;
            }
        }
    });
    addr
}

#[tokio::test]
async fn srv_records_name_every_pod_with_its_http_address() {
    let table: Table = Arc::default();
    let dns = serve_dns(table.clone()).await;
    let resolver = DnsResolver::with_nameserver(dns, SERVICE, NAMESPACE);
    assert_eq!(
        resolver.peers().await.unwrap(),
        Vec::<Peer>::new(),
        "no records is no peers"
    );
    table
        .lock()
        .unwrap()
        .extend([("doq-1".into(), 8101), ("doq-0".into(), 8100)]);
    let want = |pods: &[(&str, u16)]| -> Vec<Peer> {
        pods.iter()
            .map(|(p, port)| Peer {
                name: stable(p),
                http: format!("127.0.0.1:{port}"),
            })
            .collect()
    };
    assert_eq!(
        resolver.peers().await.unwrap(),
        want(&[("doq-0", 8100), ("doq-1", 8101)])
    );
    // A scale-up shows on the next lookup: nothing is cached.
    table.lock().unwrap().insert("doq-2".into(), 8102);
    assert_eq!(
        resolver.peers().await.unwrap(),
        want(&[("doq-0", 8100), ("doq-1", 8101), ("doq-2", 8102)])
    );
}

#[test]
fn ordinals_come_from_the_pod_name() {
    assert_eq!(
        ordinal(pod_name("doq-0.doq-internal.ns.svc.cluster.local")),
        Some(0)
    );
    assert_eq!(ordinal("my-db-12"), Some(12));
    for no in ["doq", "doq-", "doq-x", "doq-1a", ""] {
        assert_eq!(ordinal(no), None, "{no:?}");
    }
}

fn load(args: &str, hostname: &str) -> Result<Config, crate::config::ConfigError> {
    let args: Vec<String> = args.split_whitespace().map(String::from).collect();
    let env = [("HOSTNAME".to_string(), hostname.to_string())];
    Config::load_with_env(&Sources::parse(&args).unwrap(), &env)
}

#[test]
fn the_hostname_names_the_node_and_its_raft_address() {
    let base = "--cluster.service_name doq --raft.address 0.0.0.0:9000 --cluster.secret s";
    let c = load(base, "doq-2").unwrap();
    assert_eq!(c.consensus, "raft", "service_name implies raft");
    assert_eq!(
        c.cluster.node_id,
        "doq-2.doq-internal.default.svc.cluster.local"
    );
    assert_eq!(
        c.raft.advertise_address,
        "doq-2.doq-internal.default.svc.cluster.local:9000"
    );
    let c = load(&format!("{base} --cluster.namespace prod"), "doq-0").unwrap();
    assert_eq!(
        c.cluster.node_id,
        "doq-0.doq-internal.prod.svc.cluster.local"
    );
    // Explicit settings win.
    let c = load(
        &format!("{base} --cluster.node_id n0 --raft.advertise_address 10.0.0.5:9000"),
        "doq-0",
    )
    .unwrap();
    assert_eq!(
        (
            c.cluster.node_id.as_str(),
            c.raft.advertise_address.as_str()
        ),
        ("n0", "10.0.0.5:9000")
    );
    for bad in [
        "--cluster.service_name Doq_ --cluster.secret s",
        "--cluster.service_name doq --cluster.namespace NS --cluster.secret s",
        "--cluster.service_name doq --cluster.join_addr a:1 --cluster.secret s",
        "--cluster.service_name doq --consensus single",
    ] {
        let err = load(bad, "doq-0").unwrap_err().to_string();
        assert!(err.contains("cluster."), "{bad}: {err}");
    }
}

/// One pod's fixed ports and data directory, so a restart comes back at the same addresses.
struct Pod {
    name: String,
    http: u16,
    raft: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Pod {
    fn new(ordinal: usize) -> Self {
        Self {
            name: format!("doq-{ordinal}"),
            http: free_port(),
            raft: free_port(),
        }
    }

    /// The configuration discovery would give this pod (`derive_identity` is tested above); the Raft
    /// address is loopback because the test's names do not resolve on the host.
    fn config(&self, data: &Path) -> Config {
        let mut c = Config {
            consensus: "raft".into(),
            ..Config::default()
        };
        c.http.host = "127.0.0.1".into();
        c.http.port = self.http;
        c.grpc.address = String::new();
        c.storage.data_dir = data.to_path_buf();
        c.storage.backend = "redb".into();
        c.cluster.service_name = SERVICE.into();
        c.cluster.namespace = NAMESPACE.into();
        c.cluster.node_id = stable(&self.name);
        c.cluster.secret = "discovery-test".into();
        c.raft.address = format!("127.0.0.1:{}", self.raft);
        c.raft.advertise_address = c.raft.address.clone();
        c.raft.heartbeat_interval_ms = 50;
        c.raft.election_timeout_ms = 300;
        c
    }

    /// Starts the pod. A restart right after a graceful stop retries for a few seconds while the
    /// stopped node's last tasks still hold its ports or its data directory (in one process they end a
    /// moment after `stop` returns; a process exit ends them at once).
    async fn start(&self, data: &Path, resolver: Arc<dyn PeerResolver>) -> Node {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match self.try_start(data, resolver.clone()).await {
                Ok(node) => return node,
                Err(e) if tokio::time::Instant::now() < deadline && still_held(&e) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("start {}: {e:#}", self.name),
            }
        }
    }

    async fn try_start(
        &self,
        data: &Path,
        resolver: Arc<dyn PeerResolver>,
    ) -> anyhow::Result<Node> {
        let config = self.config(data);
        let listeners = Listeners {
            http: TcpListener::bind(("127.0.0.1", self.http)).await?,
            grpc: None,
            raft: Some(TcpListener::bind(("127.0.0.1", self.raft)).await?),
        };
        let deps = Deps {
            resolver: Some(resolver),
            ..Deps::default()
        };
        server::start(config, listeners, deps).await
    }
}

/// A port or data directory that a node stopped a moment ago may still hold (by the error's type, not its
/// text).
fn still_held(e: &anyhow::Error) -> bool {
    e.downcast_ref::<doq_storage::Error>()
        .is_some_and(doq_storage::Error::is_locked)
        || e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::AddrInUse)
}

/// Starts `pods` at once, as a StatefulSet with `podManagementPolicy: Parallel` does.
async fn start_all(pods: &[&Pod], data: &Path, resolver: &Arc<dyn PeerResolver>) -> Vec<Node> {
    let starts = pods.iter().map(|p| p.start(data, resolver.clone()));
    futures::future::join_all(starts).await
}

async fn get(http: u16, path: &str) -> (u16, Value) {
    let resp = reqwest::get(format!("http://127.0.0.1:{http}{path}"))
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Waits (bounded) until the node on `http` lists exactly `want` voters.
async fn wait_voters(http: u16, want: &[&Pod]) {
    let mut names: Vec<String> = want.iter().map(|p| stable(&p.name)).collect();
    names.sort();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get(http, "/API/v1/cluster/servers").await;
        let mut voters: Vec<String> = body["servers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["suffrage"] == "Voter")
            .filter_map(|s| s["id"].as_str().map(String::from))
            .collect();
        voters.sort();
        if status == 200 && voters == names {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "voters on :{http} are {voters:?}, want {names:?} ({body})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (bounded) for `/readyz` on the node, then reads `path` there.
async fn read_when_ready(http: u16, path: &str) -> (u16, Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !matches!(
        reqwest::get(format!("http://127.0.0.1:{http}/readyz")).await,
        Ok(r) if r.status().is_success()
    ) {
        assert!(
            tokio::time::Instant::now() < deadline,
            ":{http} never ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    get(http, path).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ordinal_zero_bootstraps_others_join_restart_scale_to_five_and_a_lost_volume_rejoins() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let table: Table = Arc::default();
    let dns = serve_dns(table.clone()).await;
    let resolver: Arc<dyn PeerResolver> =
        Arc::new(DnsResolver::with_nameserver(dns, SERVICE, NAMESPACE));
    let pods: Vec<Pod> = (0..5).map(Pod::new).collect();
    let [p0, p1, p2, p3, p4] = [&pods[0], &pods[1], &pods[2], &pods[3], &pods[4]];
    table
        .lock()
        .unwrap()
        .extend([p0, p1, p2].map(|p| (p.name.clone(), p.http)));

    tracing::info!("--- three empty pods start at once: doq-0 bootstraps, the others join it");
    let nodes = start_all(&[p0, p1, p2], data, &resolver).await;
    wait_voters(p0.http, &[p0, p1, p2]).await;
    let client = reqwest::Client::new();
    let url = |p: &Pod, path: &str| format!("http://127.0.0.1:{}{path}", p.http);
    let created = client
        .post(url(p2, "/API/v1/queues"))
        .json(&json!({"name": "jobs", "type": "delayed", "settings": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200, "{:?}", created.text().await);
    let sent = client
        .post(url(p1, "/API/v1/queues/jobs/messages"))
        .json(&json!({"priority": 1, "content": "kept"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    let id = sent.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    tracing::info!(
        "--- a restart of every pod keeps the cluster: nobody bootstraps or joins again"
    );
    for node in nodes {
        node.stop().await.unwrap();
    }
    let nodes = start_all(&[p0, p1, p2], data, &resolver).await;
    wait_voters(p2.http, &[p0, p1, p2]).await;
    let (status, body) =
        read_when_ready(p0.http, &format!("/API/v1/queues/jobs/messages/{id}")).await;
    assert_eq!((status, &body["content"]), (200, &json!("kept")), "{body}");

    tracing::info!("--- scale 3 -> 5: the new pods find the members in DNS and join");
    table
        .lock()
        .unwrap()
        .extend([p3, p4].map(|p| (p.name.clone(), p.http)));
    let more = start_all(&[p3, p4], data, &resolver).await;
    wait_voters(p0.http, &[p0, p1, p2, p3, p4]).await;
    let (status, body) =
        read_when_ready(p4.http, &format!("/API/v1/queues/jobs/messages/{id}")).await;
    assert_eq!((status, &body["content"]), (200, &json!("kept")), "{body}");

    tracing::info!(
        "--- doq-0 loses its volume: it finds the cluster through its peers and joins it"
    );
    let mut nodes = nodes;
    nodes.remove(0).stop().await.unwrap();
    std::fs::remove_dir_all(data.join(stable(&p0.name))).unwrap();
    let again = p0.start(data, resolver.clone()).await;
    wait_voters(p1.http, &[p0, p1, p2, p3, p4]).await;
    let (status, body) =
        read_when_ready(p0.http, &format!("/API/v1/queues/jobs/messages/{id}")).await;
    assert_eq!((status, &body["content"]), (200, &json!("kept")), "{body}");
    let (_, servers) = get(p0.http, "/API/v1/cluster/servers").await;
    assert_eq!(
        servers["servers"].as_array().map(Vec::len),
        Some(5),
        "one cluster, not a second one bootstrapped by doq-0: {servers}"
    );

    for node in nodes.into_iter().chain(more).chain([again]) {
        node.stop().await.unwrap();
    }
}
