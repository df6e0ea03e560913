//! A three-node cluster with `tls.*` set, in process on loopback: nodes join over HTTPS, replicate and
//! forward over gRPC with TLS, and a plaintext client gets nothing from the Raft port. Certificates are
//! the test CA's in `testdata/tls` (`cert.pem` names `localhost` and `127.0.0.1`).
use std::{path::PathBuf, time::Duration};

use doq_api::{Command, Reply};
use doq_proto::cluster::{cluster_client::ClusterClient, Frame};

use crate::{
    config::Config,
    server::{self, Deps, Listeners, Node},
};

fn testdata(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/tls")
        .join(name)
        .display()
        .to_string()
}

async fn node(dir: &std::path::Path, id: &str, join: Option<String>) -> Node {
    let mut config = Config {
        consensus: "raft".into(),
        ..Config::default()
    };
    config.cluster.node_id = id.into();
    config.cluster.secret = "tls-test-secret".into();
    config.cluster.join_addr = join.unwrap_or_default();
    config.http.host = "127.0.0.1".into();
    config.http.port = 0;
    config.grpc.address = String::new();
    config.raft.address = "127.0.0.1:0".into();
    config.raft.heartbeat_interval_ms = 50;
    config.raft.election_timeout_ms = 500;
    config.storage.backend = "memory".into();
    config.storage.data_dir = dir.to_path_buf();
    config.tls.cert = testdata("cert.pem");
    config.tls.key = testdata("key.pem");
    config.tls.ca = testdata("ca.pem");
    let listeners = Listeners::bind(&config).await.unwrap();
    server::start(config, listeners, Deps::default())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_join_replicate_and_forward_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let n0 = node(dir.path(), "n0", None).await;
    let seed = n0.http_addr.to_string();
    // Each join is an HTTPS request to n0 (its HTTP port serves TLS only) and returns once promoted.
    let n1 = node(dir.path(), "n1", Some(seed.clone())).await;
    let n2 = node(dir.path(), "n2", Some(seed)).await;
    assert_eq!(n0.consensus.status().members.len(), 3);
    // n2 is a follower: its write is forwarded to the leader over TLS, and replicated back.
    let Reply::Ids(ids) = n2
        .consensus
        .propose(Command::ReserveIds { count: 3 })
        .await
        .unwrap()
    else {
        panic!("reserve ids answered something else")
    };
    assert_eq!(ids.len(), 3);
    n1.consensus.read_barrier().await.unwrap();
    let applied = n0.consensus.status().last_applied;
    for n in [&n1, &n2] {
        let mut caught_up = false;
        for _ in 0..100 {
            if n.consensus.status().last_applied >= applied {
                caught_up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(caught_up, "a follower did not catch up over TLS");
    }
    // A plaintext client cannot talk to a Raft port that serves TLS.
    let raft = n1.raft_addr.unwrap();
    let plain = async {
        let mut c = ClusterClient::connect(format!("http://{raft}")).await?;
        c.vote(Frame::default())
            .await
            .map_err(anyhow::Error::from)?;
        anyhow::Ok(())
    };
    let refused = tokio::time::timeout(Duration::from_secs(10), plain).await;
    assert!(
        !matches!(refused, Ok(Ok(()))),
        "plaintext reached the Raft service"
    );
    // `doq backup` over HTTPS, trusting the test CA, from a follower; refused without a CA.
    let out = dir.path().join("backup.bin");
    let args = crate::backup_cli::BackupArgs {
        addr: format!("https://{}", n1.http_addr),
        since: 0,
        output: out.display().to_string(),
        token: None,
        ca_cert: Some(PathBuf::from(testdata("ca.pem"))),
    };
    let config = Config::default();
    let taken = std::thread::spawn(move || crate::backup_cli::backup(&config, &args))
        .join()
        .unwrap();
    taken.unwrap();
    assert!(std::fs::read(&out).unwrap().starts_with(b"DOQBACK\0"));
    let no_ca = crate::backup_cli::BackupArgs {
        addr: format!("https://{}", n1.http_addr),
        since: 0,
        output: out.display().to_string(),
        token: None,
        ca_cert: None,
    };
    let refused = std::thread::spawn(move || crate::backup_cli::backup(&Config::default(), &no_ca))
        .join()
        .unwrap();
    assert!(refused.is_err());
    for n in [n2, n1, n0] {
        n.stop().await.unwrap();
    }
}
