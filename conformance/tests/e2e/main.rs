//! Process-level tests of the real binary (`doq-e2e`, whose `main` is `doq_server::cli::main`):
//! crash safety under load, signals, the README quickstart, the gRPC API through the generated client,
//! and the command line.
//!
//! Every child runs inside a [`Doq`] guard that kills it by its PID when dropped, so a failing test
//! never leaves a server behind. All waits are bounded; the only sleeps are short readiness polls.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions: a failure here is a test failure"
)]
mod backup;
mod cli;
mod cluster;
mod crash;
mod enospc;
mod grpc;
mod metrics;
mod migration;
mod quickstart;
mod rejoin;
mod signals;

use std::{
    fs::File,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use doq_conformance::{fail, Client};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_doq-e2e");
/// How long a starting node may take to answer `/livez`.
const READY_DEADLINE: Duration = Duration::from_secs(20);
/// How long a signalled node may take to exit (its own drain deadline is 10 s).
const EXIT_DEADLINE: Duration = Duration::from_secs(20);
/// Between readiness polls.
const POLL: Duration = Duration::from_millis(25);

/// `DOQ_SLOW_TESTS=1` scales the crash trials up; the default size runs in CI.
fn slow() -> bool {
    std::env::var_os("DOQ_SLOW_TESTS").is_some_and(|v| v == "1")
}

/// Shows the tests' `--- phase` lines for failed tests; `RUST_LOG` filters.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// A command for the binary under test whose environment has no `DOQ_*` settings, so the caller's
/// shell cannot change what a test configures.
fn command() -> Command {
    let mut cmd = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("DOQ_") {
            cmd.env_remove(name);
        }
    }
    cmd.env_remove("RUST_LOG");
    cmd
}

/// A port that was free a moment ago (bind port 0, read it, release it).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a probe port");
    listener.local_addr().expect("probe port address").port()
}

/// A running `doq` child process; dropping it kills the process (by its PID) and reaps it.
struct Doq {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Doq {
    /// Starts a node on `data_dir` with the test flags (loopback, a free port, no gRPC) plus `extra`,
    /// and waits until `/livez` answers.
    async fn start(data_dir: &Path, log_dir: &Path, extra: &[&str]) -> Self {
        let port = free_port();
        let mut args: Vec<String> = [
            "--http.host",
            "127.0.0.1",
            "--http.port",
            &port.to_string(),
            "--storage.data_dir",
            &data_dir.display().to_string(),
            "--grpc.address",
            "",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        Self::spawn(&args, port, log_dir).await
    }

    /// Starts the binary with exactly `args` (which must make it serve HTTP on 127.0.0.1:`port` or
    /// 0.0.0.0:`port`) and waits until `/livez` answers.
    async fn spawn(args: &[String], port: u16, log_dir: &Path) -> Self {
        let log = log_dir.join(format!("doq-{port}.log"));
        let out = File::create(&log).expect("create the child's log file");
        let err = out.try_clone().expect("clone the log file handle");
        let child = command()
            .args(args)
            .current_dir(log_dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn doq-e2e");
        let mut doq = Self { child, port, log };
        doq.wait_ready().await;
        doq
    }

    fn client(&self) -> Client {
        Client::new(format!("http://127.0.0.1:{}", self.port))
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's output so far, for failure messages.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_ready(&mut self) {
        let client = Client::with_timeout(
            format!("http://127.0.0.1:{}", self.port),
            Duration::from_secs(2),
        );
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                fail(format!(
                    "doq exited with {status} before it was ready:\n{}",
                    self.log()
                ));
            }
            if client.get("/livez").await.0 == 200 {
                return;
            }
            if Instant::now() > deadline {
                fail(format!(
                    "doq was not ready within {READY_DEADLINE:?}:\n{}",
                    self.log()
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix), then reap.
    fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL doq");
        self.child.wait().expect("reap doq");
    }

    /// Sends `signal` (`TERM`, `INT`) to this child only, by its PID. `kill(1)` rather than
    /// `libc::kill`, because the workspace forbids `unsafe`.
    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("run kill(1)");
        assert!(
            status.success(),
            "kill -{signal} {} failed: {status}",
            self.pid()
        );
    }

    /// Waits (bounded) for the child to exit and returns its status.
    async fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + EXIT_DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll doq") {
                return status;
            }
            if Instant::now() > deadline {
                fail(format!(
                    "doq did not exit within {EXIT_DEADLINE:?}:\n{}",
                    self.log()
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// SIGTERM, and the exit status must be 0.
    async fn stop(mut self) {
        self.signal("TERM");
        let status = self.wait_exit().await;
        assert_eq!(
            status.code(),
            Some(0),
            "exit status after SIGTERM:\n{}",
            self.log()
        );
    }
}

impl Drop for Doq {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
