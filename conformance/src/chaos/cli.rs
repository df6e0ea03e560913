//! The `doq-chaos` command line: `run` a schedule, `check` a saved history again, `cleanup` the
//! namespaces of runs that died.
use std::{
    path::PathBuf,
    process::ExitCode,
    time::{SystemTime, UNIX_EPOCH},
};

use clap::{Args, Parser, Subcommand};
use rand::{rngs::StdRng, SeedableRng};

use super::{
    checker, history,
    nemesis::{self, Fault, Preset, Schedule, Step},
    net::Net,
    report,
    run::{self, Plan},
};

/// A Jepsen-style fault harness for a doq cluster (needs root, `ip` and `nft`).
#[derive(Debug, Parser)]
#[command(name = "doq-chaos", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a schedule of faults against a 3- or 5-node cluster and check the history.
    Run(RunArgs),
    /// Check a saved history (`history.jsonl`) again and print the table.
    Check {
        /// The history file.
        history: PathBuf,
    },
    /// Remove the namespaces (and their processes) of runs whose supervisor died.
    Cleanup,
    /// The part of a run inside the hub namespace (started by `run`).
    #[command(hide = true)]
    Inner {
        /// The plan written by `run`.
        #[arg(long)]
        plan: PathBuf,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The preset schedule: `short` (about 5 minutes, CI), `long` (about 12 minutes) or `soak`
    /// (`--minutes` of faults, 30 by default).
    #[arg(long, value_enum, default_value = "short")]
    schedule: Preset,
    /// How many minutes of faults and calm the `soak` schedule fills.
    #[arg(long, default_value_t = nemesis::SOAK_MINUTES)]
    minutes: u64,
    /// Cluster size: 3 or 5 nodes.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Only these faults (comma-separated), in this order; default: all.
    #[arg(long, value_enum, value_delimiter = ',')]
    faults: Vec<Fault>,
    /// Override how long each fault lasts, in seconds.
    #[arg(long)]
    fault_secs: Option<u64>,
    /// Override the calm after each fault, in seconds.
    #[arg(long)]
    calm_secs: Option<u64>,
    /// The storage backend of the nodes.
    #[arg(long, default_value = "redb")]
    backend: String,
    /// The `doq` binary (default: `doq` next to this binary, e.g. target/debug/doq).
    #[arg(long)]
    doq: Option<PathBuf>,
    /// Where the history, the report, the node logs and data go (default: a new directory under
    /// /tmp).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The seed of the schedule and the workload (default: from the clock; printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Concurrent clients, spread over the nodes.
    #[arg(long, default_value_t = 6)]
    clients: usize,
    /// Per-request timeout in milliseconds.
    #[arg(long, default_value_t = 5000)]
    op_timeout_ms: u64,
    /// Before the drain, wait for abandoned leases to expire (default: on for `long` and `soak`).
    #[arg(long)]
    await_leases: Option<bool>,
    /// Keep the nodes' data directories after a valid run.
    #[arg(long)]
    keep_data: bool,
    /// An extra argument for every node, repeatable, e.g. `--node-arg=--storage.sync
    /// --node-arg=never` (to see the checker catch what that setting allows).
    #[arg(long = "node-arg", allow_hyphen_values = true)]
    node_args: Vec<String>,
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("doq-chaos: start the runtime: {e}");
            return ExitCode::from(3);
        }
    };
    match cli.command {
        Command::Run(args) => match plan(args) {
            Ok(plan) => {
                eprintln!(
                    "doq-chaos: seed {}, {} steps, output in {}",
                    plan.seed,
                    plan.schedule.steps.len(),
                    plan.out.display()
                );
                runtime.block_on(run::supervise(plan))
            }
            Err(e) => {
                eprintln!("doq-chaos: {e:#}");
                ExitCode::from(3)
            }
        },
        Command::Inner { plan } => runtime.block_on(run::inner(&plan)),
        Command::Check { history } => match history::load(&history) {
            Ok(events) => {
                let report = checker::check(&events);
                println!("{}", report::table(&report));
                ExitCode::from(if !report.valid() {
                    1
                } else if !report.conclusive() {
                    2
                } else {
                    0
                })
            }
            Err(e) => {
                eprintln!("doq-chaos: {e:#}");
                ExitCode::from(3)
            }
        },
        Command::Cleanup => {
            if let Err(e) = run::preflight() {
                eprintln!("doq-chaos: {e:#}");
                return ExitCode::from(5);
            }
            let removed = Net::cleanup_stale();
            println!("removed: {removed:?}");
            ExitCode::SUCCESS
        }
    }
}

/// Turns the arguments into a plan.
fn plan(args: RunArgs) -> anyhow::Result<Plan> {
    let seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    });
    let mut rng = StdRng::seed_from_u64(seed);
    let mut schedule = Schedule::preset(args.schedule, &args.faults, args.minutes, &mut rng);
    if let Some(secs) = args.fault_secs {
        schedule.steps = schedule
            .steps
            .iter()
            .map(|s| Step {
                fault: s.fault,
                secs,
            })
            .collect();
    }
    if let Some(calm) = args.calm_secs {
        schedule.calm_secs = calm;
    }
    let tag = Net::own_tag();
    let out = match args.out {
        Some(o) => o,
        None => std::env::temp_dir().join(format!("doq-chaos-{tag}")),
    };
    let out = std::path::absolute(out)?;
    let doq = match args.doq {
        Some(d) => d,
        None => std::env::current_exe()?
            .parent()
            .map(|p| p.join("doq"))
            .unwrap_or_default(),
    };
    anyhow::ensure!(
        doq.is_file(),
        "no doq binary at {} (build it with `cargo build -p doq-server`, or pass --doq)",
        doq.display()
    );
    anyhow::ensure!(args.clients > 0, "--clients must be at least 1");
    anyhow::ensure!(
        matches!(args.nodes, 3 | 5),
        "--nodes must be 3 or 5 (a majority must survive one faulty node)"
    );
    Ok(Plan {
        tag,
        doq: std::path::absolute(doq)?,
        backend: args.backend,
        out,
        nodes: args.nodes,
        clients: args.clients,
        op_timeout_ms: args.op_timeout_ms,
        await_leases: args
            .await_leases
            .unwrap_or(matches!(args.schedule, Preset::Long | Preset::Soak)),
        schedule,
        seed,
        keep_data: args.keep_data,
        node_args: args.node_args,
    })
}
