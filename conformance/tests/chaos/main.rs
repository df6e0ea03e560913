//! The short fault schedule of `doq-chaos` (docs/conformance.md "Fault harness") against the real
//! binary: a 3-node cluster in network namespaces under partitions, pauses and kills, then the
//! history check. Needs root, `ip` and `nft`; takes about 3 minutes. A violation, an inconclusive
//! check, a harness failure or a run that did too little work fails the test, with the table and
//! the run's directory (history, node logs) in the message.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failure here is a test failure"
)]
use std::process::Command;

use serde_json::Value;

#[test]
fn short_schedule_loses_no_acknowledged_write() {
    let out = tempfile::Builder::new()
        .prefix("doq-chaos-test-")
        .tempdir()
        .expect("a temporary directory")
        .keep();
    let run = Command::new(env!("CARGO_BIN_EXE_doq-chaos"))
        .args(["run", "--schedule", "short", "--seed", "15"])
        .arg("--doq")
        .arg(env!("CARGO_BIN_EXE_doq-e2e"))
        .arg("--out")
        .arg(&out)
        .env_remove("RUST_LOG")
        .output()
        .expect("start doq-chaos");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let tail: String = {
        let lines: Vec<&str> = stderr.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    };
    assert_eq!(
        run.status.code(),
        Some(0),
        "doq-chaos failed (0 valid, 1 violation, 2 inconclusive, 3 harness error, 4 overran, 5 no root/ip/nft); run directory {}\n{stdout}\n--- stderr (tail):\n{tail}",
        out.display()
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).expect("report.json"))
            .expect("report.json is JSON");
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
