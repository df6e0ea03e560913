//! Storage micro-benchmark: how fast each compiled-in backend makes writes durable.
//!
//! Two paths, each with batches of 1, 16 and 256 and `sync = always`:
//! - `queue`: N enqueue commands applied by the real engine into one `WriteBatch`, then one
//!   `QueueStore::commit` (what the single-node group commit does for N concurrent writers);
//! - `log`: N entries of the enqueue's size in one `LogStore::append` (what a Raft leader does).
//!
//! ```text
//! cargo bench -p doq-storage --bench commit -- [--secs S] [--dir DIR] [--backends redb,sled]
//! ```
//! Each cell runs for `--secs` (default 3) or 200,000 messages, whichever comes first, in a fresh
//! database under `--dir` (default: the system temp dir; put it on the disk you want to measure).
//!
//! Under `cargo test` (no `--bench` argument) every cell runs a few commits only and then checks that
//! the store holds exactly what was committed after a reopen, so the benchmark cannot rot silently.
use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use doq_api::{
    Body, Command, Engine, Group, Metadata, NewMessage, Priority, QueueKind, QueueName,
    QueueSettings, Stamped, Timestamp,
};
use doq_storage::{Applied, QueueStore, Staged, StoreOptions, WriteBatch, BACKENDS};

/// Errors end the run with a message; a benchmark has no one to hand them to.
type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

/// Batch sizes the issue asks for.
const BATCHES: [u64; 3] = [1, 16, 256];
/// The cap on messages per cell, so a fast backend on a fast disk still stops.
const MAX_MESSAGES: u64 = 200_000;
/// Content bytes per message: the size qbench sends.
const CONTENT_BYTES: usize = 128;

/// What to run, from the command line.
struct Args {
    /// `cargo bench` passes `--bench`; `cargo test` does not.
    bench: bool,
    secs: f64,
    dir: Option<PathBuf>,
    backends: Vec<String>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        bench: false,
        secs: 3.0,
        dir: None,
        backends: BACKENDS
            .iter()
            .filter(|b| **b != "memory")
            .map(ToString::to_string)
            .collect(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--bench" => args.bench = true,
            "--secs" => {
                args.secs = value("--secs")?
                    .parse()
                    .map_err(|e| format!("--secs: {e}"))?;
            }
            "--dir" => args.dir = Some(PathBuf::from(value("--dir")?)),
            "--backends" => {
                args.backends = value("--backends")?.split(',').map(String::from).collect();
            }
            // libtest's flags and filters (cargo test passes them through) mean nothing here.
            _ => {}
        }
    }
    for b in &args.backends {
        if !BACKENDS.contains(&b.as_str()) {
            return Err(format!(
                "backend {b} is not compiled in (have: {})",
                BACKENDS.join(", ")
            )
            .into());
        }
    }
    Ok(args)
}

/// One cell's result.
struct Cell {
    commits: u64,
    messages: u64,
    elapsed: Duration,
    /// Commit latencies, sorted.
    latencies: Vec<Duration>,
}

impl Cell {
    fn per_sec(&self, n: u64) -> f64 {
        n as f64 / self.elapsed.as_secs_f64()
    }

    /// The `pct`th percentile latency (nearest rank below).
    fn percentile(&self, pct: usize) -> Duration {
        let i = self.latencies.len().saturating_sub(1) * pct / 100;
        self.latencies.get(i).copied().unwrap_or_default()
    }
}

fn options() -> StoreOptions {
    StoreOptions {
        sync: true,
        cache_bytes: 64 << 20,
        ..Default::default()
    }
}

fn content(i: u64) -> String {
    let mut s = format!("message {i} ");
    s.extend(std::iter::repeat_n(
        'x',
        CONTENT_BYTES.saturating_sub(s.len()),
    ));
    s
}

/// Applies `cmd` as command `index` and stages its writes into `batch`.
fn apply(
    engine: &mut Engine,
    store: &dyn QueueStore,
    batch: &mut WriteBatch,
    index: u64,
    command: Command,
) -> Result<()> {
    let stamped = Stamped {
        now: Timestamp(1_800_000_000_000 + index),
        seed: index,
        command,
    };
    engine.apply(index, &stamped, &mut Staged::new(batch, store))?;
    Ok(())
}

/// Commits `batch` with the applied marker of command `index`.
fn commit(store: &dyn QueueStore, mut batch: WriteBatch, index: u64) -> Result<()> {
    batch.set_applied(Applied {
        index,
        data: Vec::new(),
    });
    store.commit(batch)?;
    Ok(())
}

/// Commits batches of `size` enqueue commands until the time or message budget runs out.
fn queue_cell(
    backend: &str,
    dir: &Path,
    size: u64,
    budget: Duration,
    max_commits: u64,
) -> Result<Cell> {
    let store = doq_storage::open(backend, dir, &options())?;
    let queue = QueueName::new("bench")?;
    let mut engine = Engine::new();
    let mut index = 0;
    let mut batch = WriteBatch::new();
    index += 1;
    apply(
        &mut engine,
        &*store,
        &mut batch,
        index,
        Command::CreateQueue {
            name: queue.clone(),
            kind: QueueKind::Delayed,
            settings: QueueSettings {
                strategy: None,
                max_unacked: 0,
                ack_timeout: 60,
                max_deliveries: 0,
                dead_letter: None,
            },
        },
    )?;
    commit(&*store, batch, index)?;

    let mut cell = Cell {
        commits: 0,
        messages: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    let start = Instant::now();
    while cell.commits < max_commits && start.elapsed() < budget && cell.messages < MAX_MESSAGES {
        let began = Instant::now();
        let mut batch = WriteBatch::new();
        for _ in 0..size {
            index += 1;
            let n = cell.messages;
            apply(
                &mut engine,
                &*store,
                &mut batch,
                index,
                Command::Enqueue {
                    queue: queue.clone(),
                    items: vec![NewMessage {
                        id: None,
                        group: Group::new("default"),
                        priority: Priority(i64::try_from(n)?),
                        body: Body {
                            content: content(n),
                            metadata: Metadata::new(),
                        },
                    }],
                },
            )?;
            cell.messages += 1;
        }
        commit(&*store, batch, index)?;
        cell.latencies.push(began.elapsed());
        cell.commits += 1;
    }
    cell.elapsed = start.elapsed();
    drop(store);

    // Reopen and count: the benchmark measured real, complete commits.
    let store = doq_storage::open(backend, dir, &options())?;
    let q = store.queues()?.first().ok_or("the queue is gone")?.id;
    let held = store.scan_headers(q, None, usize::MAX)?.len();
    if u64::try_from(held)? != cell.messages {
        return Err(format!(
            "{backend}: {held} messages after reopen, {} committed",
            cell.messages
        )
        .into());
    }
    cell.latencies.sort();
    Ok(cell)
}

/// Appends batches of `size` log entries until the time or message budget runs out.
fn log_cell(
    backend: &str,
    dir: &Path,
    size: u64,
    budget: Duration,
    max_commits: u64,
) -> Result<Cell> {
    let stores = doq_storage::open_stores(backend, dir, &options())?;
    let entry = content(0).into_bytes();
    let mut cell = Cell {
        commits: 0,
        messages: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    let mut next = 1u64;
    let start = Instant::now();
    while cell.commits < max_commits && start.elapsed() < budget && cell.messages < MAX_MESSAGES {
        let began = Instant::now();
        let entries: Vec<(u64, Vec<u8>)> = (0..size).map(|i| (next + i, entry.clone())).collect();
        stores.log.append(&entries)?;
        next += size;
        cell.latencies.push(began.elapsed());
        cell.commits += 1;
        cell.messages += size;
    }
    cell.elapsed = start.elapsed();
    drop(stores);

    let stores = doq_storage::open_stores(backend, dir, &options())?;
    let last = stores.log.last_index()?;
    if last != (cell.messages > 0).then_some(cell.messages) {
        return Err(format!(
            "{backend}: log ends at {last:?} after reopen, {} appended",
            cell.messages
        )
        .into());
    }
    cell.latencies.sort();
    Ok(cell)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    // Under `cargo test`: a smoke run of three commits per cell.
    let (budget, max_commits) = if args.bench {
        (Duration::from_secs_f64(args.secs), u64::MAX)
    } else {
        (Duration::from_secs(5), 3)
    };
    let root = match &args.dir {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }?;

    println!("| backend | path | batch | commits/s | msgs/s | p50 commit | p99 commit |");
    println!("|---|---|---|---|---|---|---|");
    for backend in &args.backends {
        for (path, run) in [
            (
                "queue",
                queue_cell as fn(&str, &Path, u64, Duration, u64) -> Result<Cell>,
            ),
            ("log", log_cell),
        ] {
            for size in BATCHES {
                let dir = root.path().join(format!("{backend}-{path}-{size}"));
                let cell = run(backend, &dir, size, budget, max_commits)?;
                println!(
                    "| {backend} | {path} | {size} | {:.0} | {:.0} | {:.2} ms | {:.2} ms |",
                    cell.per_sec(cell.commits),
                    cell.per_sec(cell.messages),
                    cell.percentile(50).as_secs_f64() * 1e3,
                    cell.percentile(99).as_secs_f64() * 1e3,
                );
                // Free the space before the next cell, so long runs do not fill small disks.
                std::fs::remove_dir_all(&dir)?;
            }
        }
    }
    Ok(())
}
