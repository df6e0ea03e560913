//! The command line: `doq [serve] [flags]`, `doq config`, `doq get queues|messages`, `doq bench`,
//! `doq --version`.
//! Every sub-command takes the server's configuration sources (`--config`, `DOQ_…`, `--section.key`).
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use doq_api::{MessageId, QueueName};
use doq_storage::StoreOptions;

use crate::{
    backup_cli::{self, BackupArgs, RestoreArgs},
    config::{Config, Sources},
    server::{self, Listeners},
    telemetry,
};

/// Exit code of a runtime failure.
const EXIT_RUNTIME: u8 = 1;
/// Exit code of a usage or configuration error.
const EXIT_USAGE: u8 = 2;

/// `doq --version`: the version and the storage backends compiled in (the registry's list).
fn version() -> &'static str {
    static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "{} (backends: {})",
            env!("CARGO_PKG_VERSION"),
            doq_storage::BACKENDS.join(", ")
        )
    });
    &VERSION
}

#[derive(Debug, Parser)]
#[command(
    name = "doq",
    version = version(),
    about = "doq: a DOQ-compatible queue server with pluggable storage",
    args_conflicts_with_subcommands = true,
    disable_help_subcommand = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
    /// Settings: `--config FILE` and `--section.key value` (for example `--http.port 8000`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0.., value_name = "SETTINGS")]
    settings: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum Sub {
    /// Run a node (the default).
    Serve {
        /// Settings: `--config FILE` and `--section.key value`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0.., value_name = "SETTINGS")]
        settings: Vec<String>,
    },
    /// Print the effective configuration as TOML, secrets masked; or, with `--describe`, every key with
    /// its default and meaning.
    Config {
        /// List every configuration key with its default and meaning instead.
        #[arg(long)]
        describe: bool,
        /// Settings: `--config FILE` and `--section.key value`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0.., value_name = "SETTINGS")]
        settings: Vec<String>,
    },
    /// Stream a backup from a running node into a file (docs/backup.md §8.4).
    Backup {
        /// `http://host:port` of any node.
        #[arg(long)]
        addr: String,
        /// Incremental: changes with version >= N (0: full).
        #[arg(long, default_value_t = 0)]
        since: u64,
        /// Output file, or `-` for stdout.
        #[arg(short = 'o', long = "output", default_value = "-")]
        output: String,
        /// Bearer token (defaults to `auth.token`).
        #[arg(long)]
        token: Option<String>,
        /// A PEM file of a private CA for `https://`.
        #[arg(long = "ca-cert")]
        ca_cert: Option<std::path::PathBuf>,
        /// Settings: `--config FILE` and `--section.key value`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0.., value_name = "SETTINGS")]
        settings: Vec<String>,
    },
    /// Restore a full backup and incrementals into a stopped node's empty directory (docs/backup.md §8.4).
    Restore {
        /// The full backup.
        #[arg(short = 'f', long = "full")]
        full: std::path::PathBuf,
        /// Incremental backups, in order (repeat the flag or separate with commas).
        #[arg(short = 'i', long = "incremental", value_delimiter = ',')]
        incremental: Vec<std::path::PathBuf>,
        /// Wipe a non-empty node directory first.
        #[arg(long)]
        force: bool,
        /// Settings: `--config FILE` and `--section.key value`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0.., value_name = "SETTINGS")]
        settings: Vec<String>,
    },
    /// Ask the local node's health endpoint; exit 0 on 200 (a container HEALTHCHECK without curl).
    Probe {
        /// The path to ask: `/readyz`, `/livez` or `/readyz?leader=true`.
        #[arg(long, default_value = "/readyz")]
        path: String,
        /// Settings: `--config FILE` and `--section.key value` (the node's, for its port).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0.., value_name = "SETTINGS")]
        settings: Vec<String>,
    },
    /// Load a running node: VUs looping enqueue → dequeue → ack over HTTP or gRPC (README, Performance).
    Bench(doq_bench::load::LoadArgs),
    /// Offline listings of a stopped node's data directory.
    Get {
        #[command(subcommand)]
        what: Get,
    },
}

#[derive(Debug, Subcommand)]
enum Get {
    /// List queues: `Found N queues:` then `<name> <type> <strategy>` per queue.
    Queues {
        /// Settings: `--config FILE` and `--section.key value`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0.., value_name = "SETTINGS")]
        settings: Vec<String>,
    },
    /// List a queue's messages by id.
    Messages {
        /// The queue.
        #[arg(short = 'q', long = "queue")]
        queue: String,
        /// How many messages.
        #[arg(short = 'n', long = "number", default_value_t = 10)]
        number: usize,
        /// Start after this id.
        #[arg(short = 'l', long = "last-id")]
        last_id: Option<u64>,
        /// `text`, `json` or `jsonl`.
        #[arg(short = 'o', long = "output", default_value = "text")]
        output: String,
        /// Specific ids, and then settings (`--config FILE`, `--section.key value`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0.., value_name = "IDS_AND_SETTINGS")]
        rest: Vec<String>,
    },
}

/// `doq bench`: a client of a running node, on a runtime of its own.
fn bench(args: doq_bench::load::LoadArgs) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("doq bench: start the runtime: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    match runtime.block_on(doq_bench::load::run(args)) {
        Ok(report) if report.iterations > 0 => ExitCode::SUCCESS,
        Ok(_) => {
            eprintln!("doq bench: no iteration completed");
            ExitCode::from(EXIT_RUNTIME)
        }
        Err(e) => {
            eprintln!("doq bench: {e:#}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// Parses the command line, runs the command and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        None => serve(&cli.settings),
        Some(Sub::Serve { settings }) => serve(&settings),
        Some(Sub::Config {
            describe: true,
            settings: _,
        }) => {
            print!("{}", crate::config::describe());
            ExitCode::SUCCESS
        }
        Some(Sub::Config {
            describe: false,
            settings,
        }) => with_config(&settings, |c| {
            print!("{}", c.to_masked_toml());
            Ok(())
        }),
        Some(Sub::Probe { path, settings }) => {
            with_config(&settings, |c| crate::probe::probe(c, &path))
        }
        Some(Sub::Get {
            what: Get::Queues { settings },
        }) => with_config(&settings, get_queues),
        Some(Sub::Bench(args)) => bench(args),
        Some(Sub::Backup {
            addr,
            since,
            output,
            token,
            ca_cert,
            settings,
        }) => {
            let args = BackupArgs {
                addr,
                since,
                output,
                token,
                ca_cert,
            };
            with_config(&settings, |c| backup_cli::backup(c, &args))
        }
        Some(Sub::Restore {
            full,
            incremental,
            force,
            settings,
        }) => {
            let args = RestoreArgs {
                full,
                incrementals: incremental,
                force,
            };
            with_config(&settings, |c| backup_cli::restore(c, &args))
        }
        Some(Sub::Get {
            what:
                Get::Messages {
                    queue,
                    number,
                    last_id,
                    output,
                    rest,
                },
        }) => {
            let split = rest
                .iter()
                .position(|a| a.starts_with("--"))
                .unwrap_or(rest.len());
            let (ids, settings) = rest.split_at(split);
            let ids: Result<Vec<u64>, _> = ids.iter().map(|s| s.parse::<u64>()).collect();
            let Ok(ids) = ids else {
                eprintln!("doq: message ids must be unsigned integers");
                return ExitCode::from(EXIT_USAGE);
            };
            with_config(settings, |c| {
                get_messages(c, &queue, number, last_id, &output, &ids)
            })
        }
    }
}

/// Loads the configuration (exit 2 on error), sets up logging, and runs `f` (exit 1 on error).
fn with_config(settings: &[String], f: impl FnOnce(&Config) -> anyhow::Result<()>) -> ExitCode {
    let config = match Sources::parse(settings).and_then(|s| Config::load(&s)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("doq: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let log = telemetry::init(&config.logging);
    let outcome = f(&config);
    // Every queued log line is out before the error that ends the process.
    drop(log);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("doq: {e:#}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn serve(settings: &[String]) -> ExitCode {
    with_config(settings, |config| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        #[cfg(feature = "pprof")]
        let profile = crate::profile::Profile::from_env();
        let served = runtime.block_on(async {
            let listeners = Listeners::bind(config).await?;
            server::run(config.clone(), listeners, shutdown_signal()).await
        });
        #[cfg(feature = "pprof")]
        if let Some(profile) = profile {
            profile.finish();
        }
        served
    })
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

fn open_offline(config: &Config) -> anyhow::Result<std::sync::Arc<dyn doq_storage::QueueStore>> {
    let dir = config.node_dir();
    if !dir.join("DOQ_STORE").exists() {
        anyhow::bail!("no doq data in {}", dir.display());
    }
    let options = StoreOptions {
        sync: true,
        ..config.store_options()?
    };
    Ok(doq_storage::open(&config.storage.backend, &dir, &options)?)
}

fn get_queues(config: &Config) -> anyhow::Result<()> {
    let store = open_offline(config)?;
    let mut queues = store.queues()?;
    queues.sort_by(|a, b| a.name.cmp(&b.name));
    println!("Found {} queues:", queues.len());
    for q in queues {
        let strategy = q.settings.strategy.map_or("", doq_api::Strategy::as_upper);
        println!("{} {} {}", q.name, q.kind, strategy);
    }
    Ok(())
}

fn get_messages(
    config: &Config,
    queue: &str,
    number: usize,
    last_id: Option<u64>,
    output: &str,
    ids: &[u64],
) -> anyhow::Result<()> {
    if !matches!(output, "text" | "json" | "jsonl") {
        anyhow::bail!("--output must be text, json or jsonl");
    }
    let name = QueueName::new(queue)?;
    let store = open_offline(config)?;
    let Some(q) = store.queues()?.into_iter().find(|q| q.name == name) else {
        anyhow::bail!("queue {queue} not found");
    };
    let mut rows = Vec::new();
    if ids.is_empty() {
        for h in store.scan_headers(q.id, last_id.map(MessageId), number)? {
            if let Some(found) = store.get_message(q.id, h.id)? {
                rows.push(found);
            }
        }
    } else {
        for id in ids {
            if let Some(found) = store.get_message(q.id, MessageId(*id))? {
                rows.push(found);
            }
        }
    }
    let json: Vec<serde_json::Value> = rows
        .iter()
        .map(|(h, b)| {
            serde_json::json!({"Group": h.group.as_str(), "ID": h.id.0, "Priority": h.priority.0,
                "Content": b.content, "Metadata": b.metadata})
        })
        .collect();
    match output {
        "json" => println!("{}", serde_json::to_string_pretty(&json)?),
        "jsonl" => {
            for row in &json {
                println!("{row}");
            }
        }
        _ => {
            for (h, b) in &rows {
                println!(
                    "{} {} {} {}",
                    h.id,
                    h.group.as_str(),
                    h.priority.0,
                    b.content
                );
            }
        }
    }
    Ok(())
}
