//! `doq-chaos` (docs/conformance.md §13.1) against the real binary: a 3-node cluster in network
//! namespaces under partitions, pauses, kills, clock jumps, a slow disk, ENOSPC and a corrupted
//! follower, then the history check. Needs root, `ip`, `nft` and `mount`; about 7 minutes in all.
//!
//! - The short schedule must find nothing: a violation, an inconclusive check, a harness failure or
//!   a run that did too little work fails the test, with the table and the run's directory (history,
//!   node logs) in the message.
//! - With `storage.sync = never` (documented as unsafe: a crash may lose acknowledged writes), two
//!   kills of every node must make the checker report a violation: the harness can fail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failure here is a test failure"
)]
use std::{path::Path, process::Command};

use serde_json::Value;

/// Runs `doq-chaos run <args>` with its output in `out`; answers the exit code, the table (stdout)
/// and the tail of the log (stderr).
fn chaos(args: &[&str], out: &Path) -> (Option<i32>, String, String) {
    let run = Command::new(env!("CARGO_BIN_EXE_doq-chaos"))
        .arg("run")
        .args(args)
        .arg("--doq")
        .arg(env!("CARGO_BIN_EXE_doq-e2e"))
        .arg("--out")
        .arg(out)
        .env_remove("RUST_LOG")
        .output()
        .expect("start doq-chaos");
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&run.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let tail = lines[lines.len().saturating_sub(40)..].join("\n");
    (run.status.code(), stdout, tail)
}

/// The run's `report.json`.
fn report(out: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(out.join("report.json")).expect("report.json"))
        .expect("report.json is JSON")
}

fn out_dir() -> std::path::PathBuf {
    tempfile::Builder::new()
        .prefix("doq-chaos-test-")
        .tempdir()
        .expect("a temporary directory")
        .keep()
}

#[test]
fn short_schedule_loses_no_acknowledged_write() {
    let out = out_dir();
    let (code, stdout, tail) = chaos(&["--schedule", "short", "--seed", "15"], &out);
    assert_eq!(
        code,
        Some(0),
        "doq-chaos failed (0 valid, 1 violation, 2 inconclusive, 3 harness error, 4 overran, 5 no root/ip/nft); run directory {}\n{stdout}\n--- stderr (tail):\n{tail}",
        out.display()
    );
    let report = report(&out);
    let total = &report["total"];
    let count = |k: &str| total[k].as_u64().unwrap_or(0);
    // A run that did nothing would pass vacuously: demand real traffic through the faults.
    assert!(
        count("acknowledged") >= 100,
        "too few enqueues acknowledged:\n{stdout}"
    );
    assert!(count("deliveries") >= 50, "too few deliveries:\n{stdout}");
    assert!(
        report["nemesis_events"].as_u64().unwrap_or(0) >= 30,
        "too few faults injected:\n{stdout}"
    );
    for k in [
        "lost",
        "unexpected",
        "acked_then_delivered",
        "lease_violations",
    ] {
        assert_eq!(count(k), 0, "{k}:\n{stdout}");
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn unsynced_writes_lost_to_a_cluster_wide_kill_are_reported() {
    let out = out_dir();
    let args = [
        "--faults",
        "kill-all,kill-all",
        "--fault-secs",
        "5",
        "--calm-secs",
        "3",
        "--seed",
        "3",
        "--node-arg=--storage.sync",
        "--node-arg=never",
    ];
    let (code, stdout, tail) = chaos(&args, &out);
    assert_eq!(
        code,
        Some(1),
        "expected a violation; run directory {}\n{stdout}\n--- stderr (tail):\n{tail}",
        out.display()
    );
    let total = &report(&out)["total"];
    let bad: u64 = ["lost", "acked_then_delivered", "lease_violations"]
        .iter()
        .map(|k| total[*k].as_u64().unwrap_or(0))
        .sum();
    assert!(bad > 0, "{stdout}");
    let _ = std::fs::remove_dir_all(&out);
}
