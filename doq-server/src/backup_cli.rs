//! `doq backup` (a client of `/db/backup`) and `doq restore` (offline, into a stopped node's directory):
//! docs/backup.md §8.4.
use std::{
    fs,
    io::{self, BufReader, Write},
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::{bail, Context as _};
use doq_api::{Command, Engine, ImportMode, LogIndex, Reply, Stamped, Timestamp};
use doq_storage::{
    backup::{
        format::Header,
        restore::{self, CHUNK_BYTES},
    },
    Applied, QueueStore, Source, Staged, StoreOptions, WriteBatch,
};

use crate::{
    config::Config,
    peer_tls::{self, PeerTls},
    progress::Progress,
};

/// What `doq backup` was asked for.
#[derive(Debug)]
pub(crate) struct BackupArgs {
    /// `http://host:port` of any node.
    pub(crate) addr: String,
    /// 0: full.
    pub(crate) since: u64,
    /// A file, or `-` for stdout.
    pub(crate) output: String,
    /// Bearer token (defaults to `auth.token`).
    pub(crate) token: Option<String>,
    /// A PEM file of a private CA for `https://`.
    pub(crate) ca_cert: Option<PathBuf>,
}

/// Streams a backup into a temporary file next to the output, verifies it (trailer included), then moves
/// it into place (or copies it to stdout) and prints `last_version=N` to stderr.
pub(crate) fn backup(config: &Config, args: &BackupArgs) -> anyhow::Result<()> {
    // `http://host:port`, `https://host:port` or a bare `host:port` (plain HTTP).
    let (https, hostport) = match args.addr.split_once("://") {
        Some(("https", rest)) => (true, rest),
        Some(("http", rest)) => (false, rest),
        Some((scheme, _)) => bail!("--addr: {scheme}:// is not http:// or https://"),
        None => (false, args.addr.as_str()),
    };
    let hostport = hostport.trim_end_matches('/').to_owned();
    let tls = match (&args.ca_cert, https) {
        (Some(ca), true) => Some(PeerTls::load(Path::new(""), &ca.display().to_string())?),
        (None, true) if !config.tls.ca.is_empty() => {
            Some(PeerTls::load(Path::new(""), &config.tls.ca)?)
        }
        (None, true) => {
            bail!("https:// needs --ca-cert (or tls.ca): this build trusts no system roots")
        }
        (Some(_), false) => bail!("--ca-cert needs an https:// address"),
        (None, false) => None,
    };
    let token = args
        .token
        .clone()
        .unwrap_or_else(|| config.auth.token.clone());
    let dir = match args.output.as_str() {
        "-" => std::env::temp_dir(),
        path => Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    };
    let mut spool = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("create a temporary file in {}", dir.display()))?;
    let path = format!("/db/backup?since={}", args.since);
    let url = format!(
        "{}://{hostport}{path}",
        if https { "https" } else { "http" }
    );
    let progress = Progress::new("backup");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime
        .block_on(async {
            let mut headers = Vec::new();
            if !token.is_empty() {
                headers.push(("authorization", format!("Bearer {token}")));
            }
            peer_tls::get_streamed(&hostport, &path, &headers, tls.as_ref(), |chunk| {
                spool.write_all(chunk).context("write the backup")?;
                progress.add_bytes(chunk.len() as u64);
                Ok(())
            })
            .await
        })
        .with_context(|| format!("GET {url}"))?;
    spool.flush()?;
    // The stream's integrity only: the server's limits may differ from this configuration's.
    let (header, records) = restore::verify(BufReader::new(spool.reopen()?), None)
        .context("the backup is incomplete or corrupt")?;
    progress.add_records(records);
    progress.finish();
    match args.output.as_str() {
        "-" => {
            let mut f = spool.reopen()?;
            io::copy(&mut f, &mut io::stdout().lock())?;
        }
        path => {
            spool.as_file().sync_all()?;
            spool
                .persist(path)
                .with_context(|| format!("move the backup to {path}"))?;
        }
    }
    eprintln!("last_version={}", header.last_version);
    Ok(())
}

/// What `doq restore` was asked for.
#[derive(Debug)]
pub(crate) struct RestoreArgs {
    /// The full backup.
    pub(crate) full: PathBuf,
    /// Incrementals, in order.
    pub(crate) incrementals: Vec<PathBuf>,
    /// Wipe a non-empty node directory first.
    pub(crate) force: bool,
}

/// Restores a chain into the configured node directory as a new deployment. On any error the directory is
/// left empty.
pub(crate) fn restore(config: &Config, args: &RestoreArgs) -> anyhow::Result<()> {
    let dir = config.node_dir();
    if doq_storage::is_locked(&dir)? {
        bail!(
            "a running server holds {}; stop it before restoring",
            dir.display()
        );
    }
    let files: Vec<&PathBuf> = std::iter::once(&args.full)
        .chain(&args.incrementals)
        .collect();
    let headers = check_chain(&files, config.limits.message())?;
    if dir.exists() && fs::read_dir(&dir)?.next().is_some() {
        if !args.force {
            bail!(
                "node directory {} is not empty (use --force to wipe it)",
                dir.display()
            );
        }
        fs::remove_dir_all(&dir).with_context(|| format!("wipe {}", dir.display()))?;
    }
    fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let result = restore_into(config, &dir, &files, &headers);
    if result.is_err() {
        // Leave nothing behind: a half-restored directory must never be served.
        let _ = fs::remove_dir_all(&dir);
        let _ = fs::create_dir_all(&dir);
    }
    result
}

/// Verifies every file completely and checks the chain rules from the headers (docs/backup.md §8.3).
/// Every record must meet the API's limits (`limits.*`), as an online restore requires.
fn check_chain(files: &[&PathBuf], limits: doq_api::Limits) -> anyhow::Result<Vec<Header>> {
    let mut headers: Vec<Header> = Vec::new();
    for (i, path) in files.iter().enumerate() {
        let file = fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
        let size = file.metadata().map_or(0, |m| m.len());
        let progress = Progress::sized(format!("verify {}", path.display()), size);
        let (h, records) = restore::verify(BufReader::new(progress.reader(file)), Some(limits))
            .with_context(|| format!("{} is not a valid backup", path.display()))?;
        progress.add_records(records);
        progress.finish();
        match headers.last() {
            None if h.since != 0 => bail!(
                "{}: the full backup has since = {} (an incremental)",
                path.display(),
                h.since
            ),
            None => {}
            Some(prev) => {
                let what = if i == 1 {
                    "full backup"
                } else {
                    "previous incremental"
                };
                if h.since == 0 {
                    bail!(
                        "{}: a full backup where an incremental belongs",
                        path.display()
                    );
                }
                if h.cluster_id != prev.cluster_id {
                    bail!("{}: cluster mismatch with the {what}", path.display());
                }
                if h.since > prev.last_version.saturating_add(1) {
                    bail!(
                        "{}: gap: starts at version {}, the {what} ends at {}",
                        path.display(),
                        h.since,
                        prev.last_version
                    );
                }
                if h.last_version < prev.last_version
                    || (h.last_version == prev.last_version && records > 0)
                {
                    bail!(
                        "{}: out of order: ends at version {}, the {what} already reached {}",
                        path.display(),
                        h.last_version,
                        prev.last_version
                    );
                }
            }
        }
        headers.push(h);
    }
    Ok(headers)
}

/// Applies the files through the engine, as an online restore would, committing each command.
fn restore_into(
    config: &Config,
    dir: &Path,
    files: &[&PathBuf],
    headers: &[Header],
) -> anyhow::Result<()> {
    let options = StoreOptions {
        sync: true,
        ..config.store_options()?
    };
    let store = doq_storage::open(&config.storage.backend, dir, &options).with_context(|| {
        format!(
            "open a {} store in {}",
            config.storage.backend,
            dir.display()
        )
    })?;
    let mut engine = Engine::rebuild(&Source(&*store))?;
    let mut index: LogIndex = store.applied()?.map_or(0, |a| a.index);
    let mut batch = WriteBatch::new();
    batch.set_cluster_id(&uuid::Uuid::new_v4().to_string());
    store.commit(batch)?;
    let mut apply = |engine: &mut Engine, command: Command| -> anyhow::Result<Reply> {
        index += 1;
        let stamped = Stamped {
            now: wall_clock(),
            seed: 0,
            command,
        };
        let mut batch = WriteBatch::new();
        let reply = engine.apply(index, &stamped, &mut Staged::new(&mut batch, &*store))?;
        batch.set_applied(Applied {
            index,
            data: Vec::new(),
        });
        store.commit(batch)?;
        Ok(reply)
    };
    for (path, header) in files.iter().zip(headers) {
        let restore_id = uuid::Uuid::new_v4().as_u64_pair().0;
        let file = fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
        let size = file.metadata().map_or(0, |m| m.len());
        let progress = Progress::sized(format!("restore {}", path.display()), size);
        restore::chunks(
            BufReader::new(progress.reader(file)),
            CHUNK_BYTES,
            Some(config.limits.message()),
            |items| {
                progress.add_records(items.len() as u64);
                apply(
                    &mut engine,
                    Command::StageImport {
                        restore: restore_id,
                        items,
                    },
                )
                .map(drop)
            },
        )
        .with_context(|| format!("stage {}", path.display()))?;
        apply(
            &mut engine,
            Command::CommitImport {
                restore: restore_id,
                mode: ImportMode::Merge,
                header: restore::import_header(header),
            },
        )
        .with_context(|| format!("restore {}", path.display()))?;
        progress.finish();
    }
    store.flush()?;
    Ok(())
}

/// The offline tool stamps its commands with the wall clock, like a proposer.
fn wall_clock() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    Timestamp(u64::try_from(ms).unwrap_or(u64::MAX))
}
