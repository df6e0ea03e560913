//! Docker for the tests: containers through the `testcontainers` crate, images, networks and volumes
//! through the docker CLI. Fails loudly when no daemon answers, labels everything it creates with
//! `doq-test=<run>` and removes it, by id, when the guard drops.
use std::{
    process::Command,
    sync::OnceLock,
    time::{Duration, Instant},
};

use testcontainers::{
    bollard::models::PortBinding,
    core::{IntoContainerPort, Mount},
    runners::AsyncRunner,
    ContainerAsync, GenericImage, ImageExt,
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
    /// The node's hostname and id (`doq-0`); the container's name, which is also its DNS name on the
    /// network, and the volume's name add the network's name in front ([`dns_name`]).
    pub(crate) name: &'a str,
    pub(crate) network: &'a Network,
    pub(crate) env: Vec<(String, String)>,
}

/// The name other containers on `network` reach node `name` by: its container name. (Docker's DNS on a
/// user-defined network resolves container names; testcontainers sets no network aliases.)
pub(crate) fn dns_name(network: &Network, name: &str) -> String {
    format!("{}-{name}", network.name)
}

/// A container of the test image, started through the `testcontainers` crate (the Docker API over
/// the daemon's unix socket), with a named volume at /data and its HTTP and gRPC ports published on
/// loopback (ephemeral host ports). Dropping it removes the container, then the volume, by id.
pub(crate) struct Container {
    /// `None` only while dropping: the container must be gone before its volume can be removed.
    inner: Option<ContainerAsync<GenericImage>>,
    pub(crate) id: String,
    pub(crate) alias: String,
    volume: String,
}

impl Container {
    pub(crate) async fn run(spec: &Spec<'_>) -> Self {
        let name = dns_name(spec.network, spec.name);
        // Created here rather than by the daemon on first mount, so it carries this run's label.
        let volume = docker(&["volume", "create", "--label", &label_arg(), &name]);
        let (repository, tag) = test_image()
            .split_once(':')
            .expect("the test image's reference has a tag");
        let mut request = GenericImage::new(repository, tag)
            .with_container_name(&name)
            .with_hostname(spec.name)
            .with_network(&spec.network.name)
            .with_label(LABEL_KEY, run_id())
            .with_mount(Mount::volume_mount(&volume, "/data"))
            // Publish on loopback only (testcontainers would publish every exposed port on all
            // interfaces); an empty host port lets the daemon pick a free one.
            .with_host_config_modifier(|host| {
                host.publish_all_ports = Some(false);
                host.port_bindings = Some(
                    [8000, 10000]
                        .into_iter()
                        .map(|port| {
                            let binding = PortBinding {
                                host_ip: Some("127.0.0.1".into()),
                                host_port: Some(String::new()),
                            };
                            (format!("{port}/tcp"), Some(vec![binding]))
                        })
                        .collect(),
                );
            });
        for (k, v) in &spec.env {
            request = request.with_env_var(k, v);
        }
        let inner = match request.start().await {
            Ok(inner) => inner,
            Err(e) => {
                let _ = run(&["volume", "rm", &volume]);
                panic!("start container {name} of {}: {e}", test_image())
            }
        };
        Self {
            id: inner.id().to_string(),
            inner: Some(inner),
            alias: spec.name.to_string(),
            volume,
        }
    }

    fn inner(&self) -> &ContainerAsync<GenericImage> {
        self.inner.as_ref().expect("only None while dropping")
    }

    /// The loopback port the container's `port` is published on now (a restart may change it);
    /// `None` while it is stopped.
    pub(crate) async fn host_port(&self, port: u16) -> Option<u16> {
        self.inner().get_host_port_ipv4(port.tcp()).await.ok()
    }

    /// `http://127.0.0.1:<port>` of its HTTP API, if published now.
    pub(crate) async fn http_base(&self) -> Option<String> {
        self.host_port(8000)
            .await
            .map(|p| format!("http://127.0.0.1:{p}"))
    }

    /// Graceful stop (SIGTERM, then SIGKILL after `grace`).
    pub(crate) async fn stop(&self, grace: Duration) {
        let secs = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
        self.inner()
            .stop_with_timeout(Some(secs))
            .await
            .unwrap_or_else(|e| panic!("stop {}: {e}", self.alias));
    }

    pub(crate) async fn start(&self) {
        self.inner()
            .start()
            .await
            .unwrap_or_else(|e| panic!("start {}: {e}", self.alias));
    }

    // Network membership, health and log tails through the CLI: testcontainers has no call for them.

    pub(crate) fn disconnect(&self, network: &Network) {
        docker(&["network", "disconnect", &network.id, &self.id]);
    }

    /// Reconnects it; its container name resolves on the network again.
    pub(crate) fn connect(&self, network: &Network) {
        docker(&["network", "connect", &network.id, &self.id]);
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
        // testcontainers removes the container (forced, by id) as its handle drops, synchronously.
        drop(self.inner.take());
        let _ = run(&["volume", "rm", &self.volume]);
    }
}
