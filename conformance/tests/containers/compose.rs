//! deploy/docker-compose.yml as users run it (`docker compose up`, or docker-compose 1.29), on the test
//! image: three nodes come up, traffic goes through every node, the leader's container is stopped,
//! and nothing acknowledged is lost. Labels from an override file mark everything compose creates.
use std::{path::PathBuf, process::Command, time::Duration};

use doq_conformance::{check::check_status, Client};
use serde_json::json;
use tracing::info;

use crate::{
    docker::{docker, run_id, test_image, LABEL_KEY},
    load::{assert_nothing_lost, leader_id, wait_ready, Load, Targets},
    repo,
};

const CONVERGE: Duration = Duration::from_secs(60);

/// `docker compose` (v2 plugin) when installed, else `docker-compose` (1.29 on this machine).
fn compose_command() -> Vec<String> {
    fn works(cmd: &[&str]) -> bool {
        Command::new(cmd[0])
            .args(&cmd[1..])
            .output()
            .is_ok_and(|o| o.status.success())
    }
    if works(&["docker", "compose", "version"]) {
        vec!["docker".into(), "compose".into()]
    } else if works(&["docker-compose", "version"]) {
        vec!["docker-compose".into()]
    } else {
        panic!("neither `docker compose` nor `docker-compose` is installed; the compose test needs one")
    }
}

/// One compose project of deploy/docker-compose.yml plus a labelling override; `down -v` on drop.
struct Project {
    cmd: Vec<String>,
    name: String,
    files: Vec<PathBuf>,
    _dir: tempfile::TempDir,
}

impl Project {
    fn up() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let label = format!("{{{LABEL_KEY}: \"{}\"}}", run_id());
        let labels = format!(
            "services:\n  doq-0: {{labels: {label}}}\n  doq-1: {{labels: {label}}}\n  doq-2: {{labels: {label}}}\n\
             networks:\n  default: {{labels: {label}}}\n\
             volumes:\n  doq-0: {{labels: {label}}}\n  doq-1: {{labels: {label}}}\n  doq-2: {{labels: {label}}}\n"
        );
        let override_file = dir.path().join("labels.yml");
        std::fs::write(&override_file, labels).unwrap();
        let project = Self {
            cmd: compose_command(),
            name: format!("doqtest{}", std::process::id()),
            files: vec![repo().join("deploy/docker-compose.yml"), override_file],
            _dir: dir,
        };
        project.run(&["up", "-d", "--no-build"]);
        project
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.cmd[0]);
        cmd.args(&self.cmd[1..]).arg("-p").arg(&self.name);
        for f in &self.files {
            cmd.arg("-f").arg(f);
        }
        cmd.args(args)
            .env("DOQ_IMAGE", test_image())
            .env("DOQ_CLUSTER_SECRET", "compose-test-secret")
            .env("DOQ_LOG_LEVEL", "info");
        for i in 0..3 {
            // 0: Docker picks a free loopback port; the test asks which.
            cmd.env(format!("DOQ_HTTP_PORT_{i}"), "0")
                .env(format!("DOQ_GRPC_PORT_{i}"), "0");
        }
        cmd
    }

    #[track_caller]
    fn run(&self, args: &[&str]) -> String {
        let out = self.command(args).output().unwrap();
        assert!(
            out.status.success(),
            "compose {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The container id of `service`.
    fn container(&self, service: &str) -> String {
        self.run(&["ps", "-q", service])
    }

    fn base(&self, service: &str) -> String {
        let id = self.container(service);
        let port = docker(&["port", &id, "8000/tcp"]);
        let port = port
            .lines()
            .find_map(|l| l.rsplit_once(':').map(|(_, p)| p.trim().to_string()))
            .unwrap_or_else(|| panic!("{service} publishes no HTTP port: {port:?}"));
        format!("http://127.0.0.1:{port}")
    }

    /// Waits (bounded) until Docker's healthcheck reports `service` healthy.
    async fn wait_healthy(&self, service: &str) {
        let id = self.container(service);
        let until = tokio::time::Instant::now() + CONVERGE;
        loop {
            let health = docker(&["inspect", "--format", "{{.State.Health.Status}}", &id]);
            if health == "healthy" {
                return;
            }
            assert!(
                tokio::time::Instant::now() < until,
                "{service} is {health} after {CONVERGE:?}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    fn logs(&self) -> String {
        self.command(&["logs", "--tail", "30"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        // Removes this project's containers, its network and its named volumes (all labelled ours).
        let _ = self.command(&["down", "-v", "--timeout", "5"]).output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compose_cluster_survives_its_leader_stopping() {
    crate::init_tracing();
    let _serial = crate::serial().await;
    crate::docker::require_daemon();
    info!("--- docker compose up (three nodes, one secret, named volumes)");
    let project = Project::up();
    let services = ["doq-0", "doq-1", "doq-2"];
    let targets = Targets::new(3);
    for (i, s) in services.iter().enumerate() {
        let base = project.base(s);
        if let Err(e) = wait_ready(&base, CONVERGE).await {
            panic!("{s}: {e}\n{}", project.logs());
        }
        targets.set(i, Some(base));
    }
    // The image's healthcheck (`doq probe`, /readyz) passes on followers too: it never needs leadership.
    for s in services {
        project.wait_healthy(s).await;
    }
    let members = check_status(
        &Client::new(project.base("doq-2"))
            .get("/API/v1/cluster/servers")
            .await,
        200,
    );
    assert_eq!(
        members["servers"].as_array().map(Vec::len),
        Some(3),
        "{members}"
    );

    info!("--- traffic through every node");
    let queue = "compose";
    check_status(
        &Client::new(project.base("doq-1"))
            .post(
                "/API/v1/queues",
                &json!({"name": queue, "type": "delayed", "settings": {}}),
            )
            .await,
        200,
    );
    let load = Load::start(&targets, queue, 3, 100_000, Duration::from_secs(180));
    load.wait_acked(60, CONVERGE).await;

    info!("--- stop the leader's container; the others carry on");
    let leader = leader_id(&project.base("doq-0"), CONVERGE).await;
    let index = services
        .iter()
        .position(|s| *s == leader)
        .unwrap_or_else(|| panic!("leader {leader} is not a compose service"));
    targets.set(index, None);
    // Its id now: `compose ps` of Compose v2 lists running containers only.
    let stopped = project.container(&leader);
    docker(&["stop", "-t", "10", &stopped]);
    let acked = load.ledger.acked();
    load.wait_acked(acked + 60, CONVERGE).await;
    let ledger = load.finish().await;
    for s in services.iter().filter(|s| **s != leader) {
        assert_nothing_lost(&ledger, queue, &project.base(s), s).await;
    }

    info!("--- start it again: it catches up and serves everything too");
    docker(&["start", &stopped]);
    let base = project.base(&leader);
    if let Err(e) = wait_ready(&base, CONVERGE).await {
        panic!("{leader}: {e}\n{}", project.logs());
    }
    assert_nothing_lost(&ledger, queue, &base, &leader).await;
}
