//! `doq-grpc-bench`: how many messages per second a doq node moves through its gRPC streams.
//!
//! It targets a running node (`--addr`) or starts one (`--server PATH`: a `doq` binary on a temporary
//! data directory with `storage.sync = always`), then runs, each bounded by `--messages` and
//! `--seconds`:
//! - `enqueue`: one `EnqueueStream` sending as fast as its answers allow (doq pipelines 128 per stream);
//! - `e2e`: one `EnqueueStream` producer while `--consumers` `DequeueStream`s lease and ack every message
//!   with the unary `Ack`, each keeping `--window` requests outstanding (1 is DOQ's own protocol);
//! - `subscribe`: the same through `DOQExt.Subscribe` (credit window) and `AckBatch`.
//!
//! Rates are messages acknowledged by the server per second of wall time, as the client sees them.
mod node;
mod runs;

use std::{path::PathBuf, time::Duration};

use clap::{Parser, ValueEnum};

use crate::node::Node;

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "doq-grpc-bench",
    about = "Measure a doq node's gRPC stream throughput"
)]
struct Args {
    /// gRPC address of a running node, e.g. `http://127.0.0.1:10000`.
    #[arg(long, conflicts_with = "server")]
    addr: Option<String>,
    /// A `doq` binary to start on 127.0.0.1 with a temporary data dir and `storage.sync = always`.
    #[arg(long)]
    server: Option<PathBuf>,
    /// `storage.backend` of the node `--server` starts.
    #[arg(long, default_value = "redb")]
    backend: String,
    /// Messages per run (the count bound).
    #[arg(long, default_value_t = 200_000)]
    messages: u64,
    /// Longest a run may send for, in seconds (the time bound).
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Content bytes per message.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Consumers in the `e2e` and `subscribe` runs.
    #[arg(long, default_value_t = 4)]
    consumers: usize,
    /// Deliveries a consumer keeps asked for: DequeueStream requests outstanding, or Subscribe credit.
    #[arg(long, default_value_t = 1)]
    window: u32,
    /// The runs, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "enqueue,e2e")]
    runs: Vec<Run>,
}

/// One measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Run {
    /// `EnqueueStream` throughput on one stream.
    Enqueue,
    /// Stream enqueue → `DequeueStream` → unary `Ack`.
    E2e,
    /// Stream enqueue → `DOQExt.Subscribe` → `AckBatch`.
    Subscribe,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (node, addr) = match (&args.addr, &args.server) {
        (Some(addr), _) => (None, addr.clone()),
        (None, Some(binary)) => {
            let node = Node::start(binary, &args.backend).await?;
            let addr = node.grpc_url();
            (Some(node), addr)
        }
        (None, None) => {
            anyhow::bail!("give --addr of a running node or --server PATH to start one")
        }
    };
    let limits = runs::Limits {
        messages: args.messages,
        time: Duration::from_secs(args.seconds),
        content: "x".repeat(args.size),
        consumers: args.consumers.max(1),
        window: args.window.max(1),
    };
    println!(
        "doq-grpc-bench: {addr}, {} messages of {} bytes or {} s per run, {} consumers, window {}",
        limits.messages, args.size, args.seconds, limits.consumers, limits.window
    );
    for (n, run) in args.runs.iter().enumerate() {
        let queue = format!("bench-{}-{n}-{}", std::process::id(), run_name(*run));
        let outcome = match run {
            Run::Enqueue => runs::enqueue(&addr, &queue, &limits).await?,
            Run::E2e => runs::end_to_end(&addr, &queue, &limits).await?,
            Run::Subscribe => runs::subscribe(&addr, &queue, &limits).await?,
        };
        println!(
            "{:<10} {:>9} msgs in {:>7.2} s = {:>9.0} msgs/s{}",
            run_name(*run),
            outcome.messages,
            outcome.elapsed.as_secs_f64(),
            outcome.rate(),
            if outcome.timed_out {
                "  (time bound hit)"
            } else {
                ""
            }
        );
    }
    if let Some(node) = node {
        node.stop().await?;
    }
    Ok(())
}

fn run_name(run: Run) -> &'static str {
    match run {
        Run::Enqueue => "enqueue",
        Run::E2e => "e2e",
        Run::Subscribe => "subscribe",
    }
}
