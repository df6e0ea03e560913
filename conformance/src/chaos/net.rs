//! The network of a chaos run: one Linux network namespace per node and a hub namespace with a
//! bridge, joined by veth pairs, so every node is a host of its own with its own address and the
//! root namespace is never touched. The harness's clients run in the hub, which no fault cuts off.
//! Partitions are nftables drop rules inside the node namespaces (Jepsen drops packets the same
//! way), so established connections stall as on a real network rather than failing fast.
//!
//! Namespaces are named `doqc<pid>-…` after the supervising process, so `doq-chaos cleanup` can tell
//! the leftovers of a dead run from a live one.
use std::{
    net::Ipv4Addr,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};

/// The prefix of every namespace this harness creates.
pub const PREFIX: &str = "doqc";
/// The hub's address on the bridge; clients connect from here.
pub const HUB_ADDR: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 254);
/// The nftables table the partitions live in.
const TABLE: &str = "doq_chaos";

/// The namespaces of one run.
#[derive(Clone, Debug)]
pub struct Net {
    tag: String,
    nodes: usize,
}

/// Runs `ip`/`nft`/`kill` with `args`; fails with its stderr.
pub fn sh(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("run {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `nft -f -` inside namespace `ns` with `script` on stdin.
fn nft(ns: &str, script: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("run nft")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "nft in {ns}: {}\n{script}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl Net {
    /// The names a run with this `tag` uses (nothing is created).
    pub fn new(tag: &str, nodes: usize) -> Self {
        Self {
            tag: tag.to_owned(),
            nodes,
        }
    }

    /// The tag for the current process: `doqc<pid>`.
    pub fn own_tag() -> String {
        format!("{PREFIX}{}", std::process::id())
    }

    /// The hub namespace.
    pub fn hub(&self) -> String {
        format!("{}-h", self.tag)
    }

    /// Node `i`'s namespace.
    pub fn ns(&self, i: usize) -> String {
        format!("{}-{i}", self.tag)
    }

    /// Node `i`'s address.
    pub fn addr(i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, 0, u8::try_from(i + 1).unwrap_or(250))
    }

    /// Creates the namespaces, the bridge and the links. On failure, removes what it made.
    pub fn create(&self) -> anyhow::Result<()> {
        let result = self.try_create();
        if result.is_err() {
            self.destroy();
        }
        result
    }

    fn try_create(&self) -> anyhow::Result<()> {
        let hub = self.hub();
        sh("ip", &["netns", "add", &hub])?;
        sh("ip", &["-n", &hub, "link", "set", "lo", "up"])?;
        sh("ip", &["-n", &hub, "link", "add", "br0", "type", "bridge"])?;
        sh(
            "ip",
            &[
                "-n",
                &hub,
                "addr",
                "add",
                &format!("{HUB_ADDR}/24"),
                "dev",
                "br0",
            ],
        )?;
        sh("ip", &["-n", &hub, "link", "set", "br0", "up"])?;
        for i in 0..self.nodes {
            let ns = self.ns(i);
            let port = format!("p{i}");
            sh("ip", &["netns", "add", &ns])?;
            sh("ip", &["-n", &ns, "link", "set", "lo", "up"])?;
            // Both ends are made from inside the namespaces: nothing appears in the root namespace.
            sh(
                "ip",
                &[
                    "-n", &hub, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                    "netns", &ns,
                ],
            )?;
            sh("ip", &["-n", &hub, "link", "set", &port, "master", "br0"])?;
            sh("ip", &["-n", &hub, "link", "set", &port, "up"])?;
            sh(
                "ip",
                &[
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{}/24", Self::addr(i)),
                    "dev",
                    "eth0",
                ],
            )?;
            sh("ip", &["-n", &ns, "link", "set", "eth0", "up"])?;
        }
        Ok(())
    }

    /// Cuts node `i` off from the nodes in `blocked` (both directions, by dropping packets in `i`'s
    /// namespace), replacing any earlier rules of `i`. An empty `blocked` heals `i`.
    pub fn isolate(&self, i: usize, blocked: &[usize]) -> anyhow::Result<()> {
        let mut script = format!("table inet {TABLE}\ndelete table inet {TABLE}\n");
        if !blocked.is_empty() {
            let set = blocked
                .iter()
                .map(|b| Self::addr(*b).to_string())
                .collect::<Vec<_>>()
                .join(", ");
            script.push_str(&format!(
                "table inet {TABLE} {{\n  chain input {{\n    type filter hook input priority 0; policy accept;\n    ip saddr {{ {set} }} drop\n  }}\n  chain output {{\n    type filter hook output priority 0; policy accept;\n    ip daddr {{ {set} }} drop\n  }}\n}}\n"
            ));
        }
        nft(&self.ns(i), &script)
    }

    /// Applies a partition given as each node's blocked peers (`blocked[i]`).
    pub fn partition(&self, blocked: &[Vec<usize>]) -> anyhow::Result<()> {
        for (i, b) in blocked.iter().enumerate() {
            self.isolate(i, b)?;
        }
        Ok(())
    }

    /// Removes every partition rule.
    pub fn heal(&self) -> anyhow::Result<()> {
        for i in 0..self.nodes {
            self.isolate(i, &[])?;
        }
        Ok(())
    }

    /// Every namespace of this run that exists now, nodes first, the hub last.
    fn existing(&self) -> Vec<String> {
        let list = sh("ip", &["netns", "list"]).unwrap_or_default();
        let names: Vec<&str> = list
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        let mut ours: Vec<String> = (0..self.nodes)
            .map(|i| self.ns(i))
            .chain([self.hub()])
            .filter(|n| names.contains(&n.as_str()))
            .collect();
        ours.dedup();
        ours
    }

    /// SIGKILLs every process inside this run's namespaces (all of them were started by this run),
    /// by PID, waits for them to go, and deletes the namespaces (which removes the links).
    pub fn destroy(&self) {
        let namespaces = self.existing();
        let deadline = Instant::now() + Duration::from_secs(10);
        for ns in &namespaces {
            loop {
                let pids = sh("ip", &["netns", "pids", ns]).unwrap_or_default();
                let pids: Vec<&str> = pids.split_whitespace().collect();
                if pids.is_empty() || Instant::now() > deadline {
                    break;
                }
                for pid in &pids {
                    let _ = sh("kill", &["-KILL", pid]);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if let Err(e) = sh("ip", &["netns", "del", ns]) {
                tracing::warn!(%ns, error = %e, "could not delete a namespace");
            }
        }
    }

    /// Removes the namespaces of earlier runs whose supervising process is gone (a run that was
    /// itself SIGKILLed cannot clean up after itself). Answers the tags it removed.
    pub fn cleanup_stale() -> Vec<String> {
        let list = sh("ip", &["netns", "list"]).unwrap_or_default();
        let mut tags: Vec<String> = list
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter_map(|n| n.strip_prefix(PREFIX))
            .filter_map(|rest| rest.split_once('-').map(|(pid, _)| pid.to_owned()))
            .filter(|pid| pid.chars().all(|c| c.is_ascii_digit()))
            .filter(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
            .map(|pid| format!("{PREFIX}{pid}"))
            .collect();
        tags.sort();
        tags.dedup();
        for tag in &tags {
            // Node namespaces are numbered; a run has at most 9 nodes.
            Self::new(tag, 9).destroy();
        }
        tags
    }
}
