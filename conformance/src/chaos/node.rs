//! One `doq` process inside its node's namespace. `ip netns exec` execs the binary, so the child's
//! PID is the server's PID: pauses and kills go to exactly that process, by PID.
use std::{
    fs::OpenOptions,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::Context;
use tokio::process::{Child, Command};

use super::net::{sh, Net};

/// The HTTP port every node listens on (each node has its own address).
pub const HTTP_PORT: u16 = 8000;
/// The Raft port every node listens on.
pub const RAFT_PORT: u16 = 9000;
/// The shared node-to-node secret (required for a non-loopback `raft.address`).
const SECRET: &str = "doq-chaos-secret";

/// How the server is tuned for the run.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The `doq` binary.
    pub doq: PathBuf,
    /// `storage.backend`.
    pub backend: String,
    /// `storage.data_dir` (each node uses `<data_dir>/node-<i>/`).
    pub data_dir: PathBuf,
    /// Where the nodes' logs go (`node-<i>.log`, appended across restarts).
    pub log_dir: PathBuf,
    /// Extra command-line arguments for every node (keys the harness does not set itself).
    pub extra_args: Vec<String>,
}

/// Whether the process runs, is stopped (SIGSTOP) or is dead (SIGKILL, not restarted yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// Serving.
    Running,
    /// Stopped by SIGSTOP.
    Paused,
    /// Killed and not restarted.
    Dead,
}

/// One node.
#[derive(Debug)]
pub struct Node {
    /// 0-based index: node id `node-<index>`, namespace `<tag>-<index>`.
    pub index: usize,
    ns: String,
    config: NodeConfig,
    child: Option<Child>,
    state: NodeState,
}

impl Node {
    /// A node that is not started yet.
    pub fn new(index: usize, net: &Net, config: NodeConfig) -> Self {
        Self {
            index,
            ns: net.ns(index),
            config,
            child: None,
            state: NodeState::Dead,
        }
    }

    /// `node-<i>`.
    pub fn id(&self) -> String {
        format!("node-{}", self.index)
    }

    /// The node's HTTP base URL.
    pub fn base(&self) -> String {
        format!("http://{}:{HTTP_PORT}", Net::addr(self.index))
    }

    /// The node's state.
    pub fn state(&self) -> NodeState {
        self.state
    }

    /// The server's PID while it runs or is paused.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// The node's log file.
    pub fn log_path(&self) -> PathBuf {
        self.config.log_dir.join(format!("node-{}.log", self.index))
    }

    /// The node's directory, `<data_dir>/node-<i>`.
    pub fn data_path(&self) -> PathBuf {
        self.config.data_dir.join(self.id())
    }

    /// The file the node's test-only fault hooks read (`testing.control_file`, docs/config.md §10).
    pub fn control_path(&self) -> PathBuf {
        self.config
            .log_dir
            .join(format!("node-{}.control", self.index))
    }

    /// Writes the node's control file: `clock_offset_ms` and `disk_delay_ms` (0 for none). The node
    /// applies it within 100 ms, running or not (a restarted node reads it at startup).
    pub fn control(&self, clock_offset_ms: i64, disk_delay_ms: u64) -> anyhow::Result<()> {
        let text =
            format!("clock_offset_ms = {clock_offset_ms}\ndisk_delay_ms = {disk_delay_ms}\n");
        // Written whole and renamed, so the node never reads half a file.
        let tmp = self.control_path().with_extension("control.tmp");
        std::fs::write(&tmp, text).context("write the control file")?;
        std::fs::rename(&tmp, self.control_path()).context("replace the control file")
    }

    fn args(&self, join: Option<usize>) -> Vec<String> {
        let addr = Net::addr(self.index);
        let mut a: Vec<String> = [
            "--http.host",
            &addr.to_string(),
            "--http.port",
            &HTTP_PORT.to_string(),
            "--grpc.address",
            "",
            "--storage.data_dir",
            &self.config.data_dir.display().to_string(),
            "--storage.backend",
            &self.config.backend,
            "--cluster.node_id",
            &self.id(),
            "--raft.address",
            &format!("{addr}:{RAFT_PORT}"),
            "--cluster.secret",
            SECRET,
            "--raft.heartbeat_interval_ms",
            "100",
            "--raft.election_timeout_ms",
            "1000",
            // Small, so the log is compacted during the run and restarted or partitioned nodes
            // catch up by snapshot as well as by log replay.
            "--raft.snapshot_threshold",
            "500",
            // The clock and disk the nemesis steers (clock-jump, slow-disk).
            "--testing.control_file",
            &self.control_path().display().to_string(),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        if let Some(j) = join {
            a.push("--cluster.join_addr".into());
            a.push(format!("{}:{HTTP_PORT}", Net::addr(j)));
        }
        a.extend(self.config.extra_args.iter().cloned());
        a
    }

    /// Starts (or restarts) the server; `join` names the member a new node asks to add it (a node
    /// with state ignores it and restarts as the member it was).
    pub fn spawn(&mut self, join: Option<usize>) -> anyhow::Result<()> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .context("open the node's log")?;
        let err = log.try_clone()?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns])
            .arg(&self.config.doq)
            .args(self.args(join))
            .current_dir(&self.config.log_dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .kill_on_drop(true);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("DOQ_") {
                cmd.env_remove(name);
            }
        }
        cmd.env("RUST_LOG", "info");
        self.child = Some(cmd.spawn().context("spawn doq")?);
        self.state = NodeState::Running;
        Ok(())
    }

    /// Whether the process has exited on its own (a crash: the harness only kills with SIGKILL).
    pub fn exited(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            _ => None,
        }
    }

    fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let pid = self.pid().context("the node is not running")?;
        sh("kill", &[&format!("-{signal}"), &pid.to_string()]).map(|_| ())
    }

    /// SIGSTOP.
    pub fn pause(&mut self) -> anyhow::Result<()> {
        self.signal("STOP")?;
        self.state = NodeState::Paused;
        Ok(())
    }

    /// SIGCONT.
    pub fn resume(&mut self) -> anyhow::Result<()> {
        if self.state == NodeState::Paused {
            self.signal("CONT")?;
            self.state = NodeState::Running;
        }
        Ok(())
    }

    /// SIGKILL, then reap (bounded).
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            if matches!(child.try_wait(), Ok(Some(_))) {
                // It died on its own (e.g. a full disk): nothing to kill.
                self.state = NodeState::Dead;
                return Ok(());
            }
            child.start_kill().context("SIGKILL doq")?;
            tokio::time::timeout(Duration::from_secs(10), child.wait())
                .await
                .context("doq did not die within 10 s of SIGKILL")??;
        }
        self.state = NodeState::Dead;
        Ok(())
    }

    /// The last `lines` lines of the node's log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log_path(), lines)
    }
}

/// The last `lines` lines of `path`.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
