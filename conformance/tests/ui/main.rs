//! What a person sees of a running `doq`: the OpenAPI document checked against real responses
//! (`openapi.rs`), and the admin UI driven in Chromium over WebDriver (`browser.rs`, needs Debian's
//! `chromium` and `chromium-driver`; it fails, not skips, without them).
//!
//! Every child runs inside a guard that kills it by its PID when dropped. All waits are bounded.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failure here is a test failure"
)]
mod browser;
mod openapi;

use std::{
    fs::File,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_doq-e2e");

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a probe port");
    listener.local_addr().expect("probe port address").port()
}

/// A child process killed (by PID) and reaped when dropped.
struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Spawns `program` with `args`, its output in `log`.
    fn spawn(program: &str, args: &[String], log: PathBuf, cwd: &Path) -> Self {
        let out = File::create(&log).expect("create the child's log file");
        let err = out.try_clone().expect("clone the log file handle");
        let mut cmd = Command::new(program);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("DOQ_") {
                cmd.env_remove(name);
            }
        }
        let child = cmd
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        Self { child, log }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `doq` node on a free loopback port with the memory backend and no gRPC.
struct Doq {
    proc: Proc,
    base: String,
    _dir: tempfile::TempDir,
}

impl Doq {
    async fn start(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut args: Vec<String> = [
            "--http.host",
            "127.0.0.1",
            "--http.port",
            &port.to_string(),
            "--storage.data_dir",
            &dir.path().join("data").display().to_string(),
            "--storage.backend",
            "memory",
            "--grpc.address",
            "",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let proc = Proc::spawn(BIN, &args, dir.path().join("doq.log"), dir.path());
        let doq = Self {
            proc,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        doq.wait_ready().await;
        doq
    }

    async fn wait_ready(&self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(r) = http.get(format!("{}/livez", self.base)).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("doq did not answer /livez in 20 s:\n{}", self.proc.output());
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}
