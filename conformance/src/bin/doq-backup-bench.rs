//! Backup and restore throughput and peak memory, per backend (README "Backup benchmark").
//!
//! ```text
//! doq-backup-bench [--messages N] [--content-bytes B] [--backends redb,rocksdb,sled] [--dir D]
//! (default `--backends`: every durable backend compiled in)
//! ```
//! For each backend, three child processes (so each phase has its own peak RSS): `populate` fills a
//! store with N messages through the engine, `backup` exports a full backup from a snapshot to a file,
//! and `restore` stages that file and commits it into a fresh store of the same backend, exactly as the
//! offline `doq restore` does. Each child prints one line; the parent prints a Markdown table.
use std::{
    fs,
    io::{BufReader, BufWriter},
    path::{Path, PathBuf},
    process::Command as Process,
    sync::Arc,
    time::Instant,
};

use anyhow::{bail, Context as _};
use doq_api::{
    Body, Command, Engine, Group, ImportMode, NewMessage, Priority, QueueKind, QueueName,
    QueueSettings, Stamped, Timestamp,
};
use doq_storage::{
    backup::{
        export::{self, ExportRequest},
        restore::{chunks, import_header, CHUNK_BYTES},
    },
    Applied, QueueStore, Source, Staged, StoreOptions, WriteBatch,
};

/// Messages per enqueue command while populating.
const BATCH: usize = 1000;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let messages: u64 = flag("--messages").map_or(Ok(100_000), |v| v.parse())?;
    let content: usize = flag("--content-bytes").map_or(Ok(100), |v| v.parse())?;
    let dir = PathBuf::from(flag("--dir").unwrap_or_else(|| "/tmp/doq-backup-bench".into()));
    match args.first().map(String::as_str) {
        Some("populate") => populate(&backend(&args)?, &dir, messages, content),
        Some("backup") => backup(&backend(&args)?, &dir),
        Some("restore") => restore(&backend(&args)?, &dir),
        _ => {
            // Every durable backend of the registry unless told otherwise.
            let backends = flag("--backends").unwrap_or_else(|| {
                let durable: Vec<&str> = doq_storage::REGISTRY
                    .iter()
                    .filter(|b| b.durable)
                    .map(|b| b.name)
                    .collect();
                durable.join(",")
            });
            println!("| backend | messages | backup MB | backup s | backup MB/s | backup msgs/s | backup peak RSS MB | restore s | restore MB/s | restore msgs/s | restore peak RSS MB |");
            println!("|---|---|---|---|---|---|---|---|---|---|---|");
            for b in backends.split(',') {
                if doq_storage::Backend::named(b).is_some_and(|b| !b.durable) {
                    bail!("the {b} backend does not outlive the bench's per-phase processes");
                }
                let d = dir.join(b);
                let _ = fs::remove_dir_all(&d);
                fs::create_dir_all(&d)?;
                let m = messages.to_string();
                let c = content.to_string();
                let ds = d.display().to_string();
                let common = [
                    "--backend",
                    b,
                    "--messages",
                    &m,
                    "--content-bytes",
                    &c,
                    "--dir",
                    &ds,
                ];
                child("populate", &common)?;
                let back = child("backup", &common)?;
                let rest = child("restore", &common)?;
                let f = |s: &str, k: &str| field(s, k).unwrap_or_default();
                let mb = f(&back, "bytes").parse::<f64>().unwrap_or(0.0) / 1e6;
                let (bs, rs) = (
                    f(&back, "secs").parse::<f64>().unwrap_or(0.0),
                    f(&rest, "secs").parse::<f64>().unwrap_or(0.0),
                );
                let per = |n: f64, s: f64| if s > 0.0 { n / s } else { 0.0 };
                #[allow(clippy::cast_precision_loss)]
                let n = messages as f64;
                println!(
                    "| {b} | {messages} | {mb:.1} | {bs:.2} | {:.1} | {:.0} | {} | {rs:.2} | {:.1} | {:.0} | {} |",
                    per(mb, bs),
                    per(n, bs),
                    f(&back, "peak_rss_mb"),
                    per(mb, rs),
                    per(n, rs),
                    f(&rest, "peak_rss_mb"),
                );
                let _ = fs::remove_dir_all(&d);
            }
            Ok(())
        }
    }
}

fn backend(args: &[String]) -> anyhow::Result<String> {
    args.iter()
        .position(|a| a == "--backend")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .context("--backend is required")
}

/// Runs this binary's `phase` in a child process and returns its one-line report.
fn child(phase: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Process::new(std::env::current_exe()?)
        .arg(phase)
        .args(args)
        .output()?;
    if !out.status.success() {
        bail!("{phase} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `key=value` out of a report line.
fn field(line: &str, key: &str) -> Option<String> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")).map(str::to_string))
}

/// This process's peak resident set, from `/proc/self/status` (`VmHWM`), in MB.
fn peak_rss_mb() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

fn open(backend: &str, dir: &Path) -> anyhow::Result<Arc<dyn QueueStore>> {
    let options = StoreOptions {
        sync: false,
        cache_bytes: 64 << 20,
        ..StoreOptions::default()
    };
    Ok(doq_storage::open(backend, dir, &options)?)
}

/// Applies commands like the applier: one batch and one commit each.
struct Driver {
    engine: Engine,
    store: Arc<dyn QueueStore>,
    index: u64,
}

impl Driver {
    fn new(store: Arc<dyn QueueStore>) -> anyhow::Result<Self> {
        let engine = Engine::rebuild(&Source(&*store))?;
        let index = store.applied()?.map_or(0, |a| a.index);
        Ok(Self {
            engine,
            store,
            index,
        })
    }

    fn apply(&mut self, command: Command) -> doq_api::Result<doq_api::Reply> {
        self.index += 1;
        let mut batch = WriteBatch::new();
        let stamped = Stamped {
            now: Timestamp(1_800_000_000_000 + self.index),
            seed: self.index,
            command,
        };
        let reply = self.engine.apply(
            self.index,
            &stamped,
            &mut Staged::new(&mut batch, &*self.store),
        )?;
        batch.set_applied(Applied {
            index: self.index,
            data: Vec::new(),
        });
        self.store.commit(batch)?;
        Ok(reply)
    }
}

fn populate(backend: &str, dir: &Path, messages: u64, content: usize) -> anyhow::Result<()> {
    let mut d = Driver::new(open(backend, &dir.join("source"))?)?;
    let name = QueueName::new("bench")?;
    d.apply(Command::CreateQueue {
        name: name.clone(),
        kind: QueueKind::Delayed,
        settings: QueueSettings {
            strategy: None,
            max_unacked: 0,
            ack_timeout: 60,
            max_deliveries: 0,
            dead_letter: None,
        },
    })?;
    let text = "x".repeat(content);
    let mut left = messages;
    while left > 0 {
        let n = left.min(BATCH as u64);
        left -= n;
        let items = (0..n)
            .map(|i| NewMessage {
                id: None,
                group: Group::new("default"),
                priority: Priority(i64::try_from(i % 100).unwrap_or(0)),
                body: Body {
                    content: text.clone(),
                    metadata: [("trace".to_string(), format!("t-{left}-{i}"))].into(),
                },
            })
            .collect();
        d.apply(Command::Enqueue {
            queue: name.clone(),
            items,
        })?;
    }
    d.store.flush()?;
    println!("populated={messages}");
    Ok(())
}

fn backup(backend: &str, dir: &Path) -> anyhow::Result<()> {
    let store = open(backend, &dir.join("source"))?;
    let file = dir.join("full.bin");
    let start = Instant::now();
    let mut summary = None;
    store.with_snapshot(&mut |snap| {
        let req = ExportRequest {
            since: 0,
            producer: "doq-backup-bench".into(),
            created_at_ms: 0,
        };
        let header =
            export::header(snap, &req).map_err(|e| doq_storage::Error::corrupt(e.to_string()))?;
        let out = BufWriter::with_capacity(
            1 << 20,
            fs::File::create(&file)
                .map_err(|e| doq_storage::Error::io("create backup file", &file, e))?,
        );
        let (_, s) = export::write(snap, header, out)
            .map_err(|e| doq_storage::Error::corrupt(e.to_string()))?;
        summary = Some(s);
        Ok(())
    })?;
    let secs = start.elapsed().as_secs_f64();
    let s = summary.context("no export summary")?;
    println!(
        "records={} bytes={} secs={secs:.3} peak_rss_mb={}",
        s.records,
        s.bytes,
        peak_rss_mb()
    );
    Ok(())
}

fn restore(backend: &str, dir: &Path) -> anyhow::Result<()> {
    let mut d = Driver::new(open(backend, &dir.join("target"))?)?;
    let file = dir.join("full.bin");
    let start = Instant::now();
    let restore_id = 1;
    let header = chunks(
        BufReader::with_capacity(1 << 20, fs::File::open(&file)?),
        CHUNK_BYTES,
        Some(doq_api::Limits::default()),
        |items| {
            d.apply(Command::StageImport {
                restore: restore_id,
                items,
            })
            .map(drop)
        },
    )?;
    let reply = d.apply(Command::CommitImport {
        restore: restore_id,
        mode: ImportMode::Merge,
        header: import_header(&header),
    })?;
    d.store.flush()?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "reply={reply:?} secs={secs:.3} peak_rss_mb={}",
        peak_rss_mb()
    );
    Ok(())
}
