//! The docker CLI, for tests: fails loudly when no daemon answers, labels everything it creates with
//! `doq-test=<run>` and removes it, by id, when the guard drops.
use std::{
    process::Command,
    sync::OnceLock,
    time::{Duration, Instant},
};

use crate::{repo, BIN};

/// `doq-test=<value>` on every container, network, volume and image these tests create.
pub(crate) const LABEL_KEY: &str = "doq-test";

/// This run's label value: `containers-<pid>`.
pub(crate) fn run_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| format!("containers-{}", std::process::id()))
}

/// `--label doq-test=<run>`.
pub(crate) fn label_arg() -> String {
    format!("{LABEL_KEY}={}", run_id())
}

/// Runs `docker args…`; `Err` carries stderr.
pub(crate) fn try_docker(args: &[&str]) -> Result<String, String> {
    require_daemon();
    run(args)
}

fn run(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| format!("run docker: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Runs `docker args…` and returns its trimmed stdout; fails the test with stderr otherwise.
#[track_caller]
pub(crate) fn docker(args: &[&str]) -> String {
    try_docker(args).unwrap_or_else(|e| panic!("{e}"))
}

/// Fails the test, saying why, unless a Docker daemon answers.
pub(crate) fn require_daemon() {
    static CHECKED: OnceLock<Result<String, String>> = OnceLock::new();
    let checked = CHECKED.get_or_init(|| run(&["info", "--format", "{{.ServerVersion}}"]));
    if let Err(e) = checked {
        panic!(
            "no Docker daemon answers `docker info` ({e}). The container tests need one: start \
             dockerd (CI checks `docker info` before the tests)."
        );
    }
}

/// The test image, built once per run by deploy/test-image.sh from this build's binary and tagged
/// `doq-test:containers`; the image a previous run left under that tag is removed.
pub(crate) fn test_image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        require_daemon();
        let tag = "doq-test:containers";
        let old = run(&["image", "inspect", "--format", "{{.Id}}", tag]).ok();
        let script = repo().join("deploy/test-image.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(BIN)
            .arg(tag)
            .env("DOQ_TEST_LABEL", run_id())
            .output()
            .expect("run deploy/test-image.sh");
        assert!(
            out.status.success(),
            "deploy/test-image.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let id = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string();
        if let Some(old) = old.filter(|o| *o != id) {
            // Only our own tag's previous image, by id; it may still be used by a leftover container.
            let _ = run(&["image", "rm", &old]);
        }
        tag.to_string()
    })
}

/// A user-defined bridge network; removed (by id) on drop.
pub(crate) struct Network {
    pub(crate) name: String,
    id: String,
}

impl Network {
    pub(crate) fn create(suffix: &str) -> Self {
        let name = format!("doq-test-{}-{suffix}", std::process::id());
        let id = docker(&["network", "create", "--label", &label_arg(), &name]);
        Self { name, id }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = run(&["network", "rm", &self.id]);
    }
}

/// What a container runs with.
pub(crate) struct Spec<'a> {
    /// The node's hostname and its alias on the network (`doq-0`); container and volume names add the
    /// network's name in front.
    pub(crate) name: &'a str,
    pub(crate) network: &'a Network,
    pub(crate) env: Vec<(String, String)>,
}

/// A container of the test image with a named volume at /data, its HTTP and gRPC ports published on
/// loopback (ephemeral host ports). Dropping it removes the container, then the volume, by id.
pub(crate) struct Container {
    pub(crate) id: String,
    pub(crate) alias: String,
    volume: String,
}

impl Container {
    pub(crate) fn run(spec: &Spec<'_>) -> Self {
        // Unique per test (the network's name has the pid and the test); the alias is the node's name.
        let name = format!("{}-{}", spec.network.name, spec.name);
        let volume = docker(&["volume", "create", "--label", &label_arg(), &name]);
        let mount = format!("{volume}:/data");
        let label = label_arg();
        let mut args: Vec<String> = [
            "run",
            "-d",
            "--label",
            label.as_str(),
            "--name",
            name.as_str(),
            "--hostname",
            spec.name,
            "--network",
            spec.network.name.as_str(),
            "--network-alias",
            spec.name,
            "-v",
            mount.as_str(),
            "-p",
            "127.0.0.1::8000",
            "-p",
            "127.0.0.1::10000",
        ]
        .iter()
        .map(|s| (*s).to_string())
        .collect();
        for (k, v) in &spec.env {
            args.push("-e".into());
            args.push(format!("{k}={v}"));
        }
        args.push(test_image().to_string());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let id = match try_docker(&refs) {
            Ok(id) => id,
            Err(e) => {
                let _ = run(&["volume", "rm", &volume]);
                panic!("{e}")
            }
        };
        Self {
            id,
            alias: spec.name.to_string(),
            volume,
        }
    }

    /// The loopback port the container's `port` is published on now (a restart may change it).
    pub(crate) fn host_port(&self, port: u16) -> Option<u16> {
        let out = run(&["port", &self.id, &format!("{port}/tcp")]).ok()?;
        out.lines()
            .find_map(|l| l.rsplit_once(':').and_then(|(_, p)| p.trim().parse().ok()))
    }

    /// `http://127.0.0.1:<port>` of its HTTP API, if published now.
    pub(crate) fn http_base(&self) -> Option<String> {
        self.host_port(8000)
            .map(|p| format!("http://127.0.0.1:{p}"))
    }

    /// Graceful stop (SIGTERM, then SIGKILL after `grace`).
    pub(crate) fn stop(&self, grace: Duration) {
        docker(&["stop", "-t", &grace.as_secs().to_string(), &self.id]);
    }

    pub(crate) fn start(&self) {
        docker(&["start", &self.id]);
    }

    pub(crate) fn disconnect(&self, network: &Network) {
        docker(&["network", "disconnect", &network.id, &self.id]);
    }

    pub(crate) fn connect(&self, network: &Network) {
        docker(&[
            "network",
            "connect",
            "--alias",
            &self.alias,
            &network.id,
            &self.id,
        ]);
    }

    /// The Docker healthcheck's verdict: `starting`, `healthy` or `unhealthy`.
    pub(crate) fn health(&self) -> String {
        docker(&[
            "inspect",
            "--format",
            "{{if .State.Health}}{{.State.Health.Status}}{{end}}",
            &self.id,
        ])
    }

    /// Waits (bounded) for the healthcheck to pass.
    pub(crate) async fn wait_healthy(&self, deadline: Duration) {
        let until = Instant::now() + deadline;
        loop {
            let health = self.health();
            if health == "healthy" {
                return;
            }
            assert!(
                Instant::now() < until,
                "{} is still {health:?} after {deadline:?}\n{}",
                self.alias,
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The last lines of its output, for failure messages.
    pub(crate) fn logs(&self) -> String {
        let out = Command::new("docker")
            .args(["logs", "--tail", "40", &self.id])
            .output();
        match out {
            Ok(o) => format!(
                "--- {} logs ---\n{}{}",
                self.alias,
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => format!("(no logs of {}: {e})", self.alias),
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = run(&["rm", "-f", &self.id]);
        let _ = run(&["volume", "rm", &self.volume]);
    }
}
