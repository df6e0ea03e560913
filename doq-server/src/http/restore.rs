//! `POST /db/restore[?mode=merge|replace]` (docs/backup.md §8.3): restore a portable backup through consensus.
//!
//! The upload (raw `application/octet-stream`, or DOQ's `multipart/form-data` field `file`, parsed as it
//! streams by `multer`) is spooled to an unnamed file in the node directory as it arrives (never in memory,
//! never in a RAM-backed `$TMPDIR`); only the backup's bytes are spooled, capped by
//! `limits.max_restore_bytes` when set. The whole file is verified (magic, every
//! CRC, record order, trailer, and every record against the API's limits) before anything is proposed; then its records go through
//! consensus as `StageImport` chunks of about 1 MiB into the staging area, and one `CommitImport` makes
//! them live. Any failure after the first chunk proposes `AbortImport`, so the queues stay as they were.
use std::{
    fs::File,
    io::{BufReader, Read, Seek, SeekFrom, Write},
    pin::Pin,
    sync::Arc,
};

use axum::{
    body::Bytes,
    extract::{Request, State},
    http::header,
    Json,
};
use doq_api::{Command, Error, ImportMode, Limits, Reply};
use doq_consensus::Consensus;
use doq_storage::backup::restore::{self, CHUNK_BYTES};
use futures::{Stream, StreamExt};
use serde_json::{json, Value};
use tokio::runtime::Handle;
use tracing::{info, warn};

use crate::{
    errors::{ApiError, Route},
    http::{params::QueryArgs, AppState},
};

/// `POST /db/restore`.
#[utoipa::path(
    post,
    path = "/db/restore",
    tag = "backup",
    params(("mode" = Option<String>, Query, description = "`merge` (default) or `replace`")),
    request_body(
        description = "A backup stream (docs/backup.md §8.2), raw or as the one file of a multipart/form-data upload",
        content((String = "application/octet-stream"), (String = "multipart/form-data")),
    ),
    responses(
        (status = 200, description = "`SUCCEDED` (sic)", body = crate::http::openapi::bodies::Restored),
        (status = 400, description = "Malformed or unusable backup (`backup_invalid`)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Admin operation from a non-loopback client without `auth.token` (`admin_local_only`)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another restore is staged (`restore_in_progress`)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn restore(
    State(app): State<AppState>,
    query: QueryArgs,
    req: Request,
) -> Result<Json<Value>, ApiError> {
    let mode = match query.get("mode") {
        None | Some("" | "merge") => ImportMode::Merge,
        Some("replace") => ImportMode::Replace,
        Some(other) => {
            return Err(ApiError::violation(
                "query.mode",
                "expected value to be one of \"merge, replace\"",
                Some(Value::String(other.to_string())),
            ))
        }
    };
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let boundary = multer::parse_boundary(&content_type).ok();
    let raw = content_type.is_empty()
        || content_type
            .split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/octet-stream"));
    if boundary.is_none() && !raw {
        return Err(ApiError::unsupported_media_type());
    }
    let invalid = |why: String| ApiError::new(Route::Restore, Error::BackupInvalid(why));
    let cap = app.limits.max_restore_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if cap > 0 && declared.is_some_and(|n| n > cap) {
        return Err(ApiError::body_too_large());
    }
    // An unnamed file in the node directory: it lives on the data disk and vanishes with the process.
    let spool = tempfile::tempfile_in(&app.spool_dir).map_err(|e| {
        ApiError::new(
            Route::Restore,
            Error::Unavailable(format!(
                "cannot spool the upload in {}: {e}",
                app.spool_dir.display()
            )),
        )
    })?;
    // A blocking thread writes the spool; the bounded channel makes a slow disk slow the upload down.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<axum::body::Bytes>(8);
    let mut spool_writer = spool
        .try_clone()
        .map_err(|e| invalid(format!("spool the upload: {e}")))?;
    let writing = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        while let Some(chunk) = rx.blocking_recv() {
            spool_writer.write_all(&chunk)?;
        }
        spool_writer.flush()
    });
    let body = req.into_body().into_data_stream();
    let mut backup: Chunks = match boundary {
        Some(boundary) => Box::pin(file_field(multer::Multipart::new(body, boundary))),
        None => Box::pin(body.map(|chunk| chunk.map_err(|e| format!("the upload failed: {e}")))),
    };
    let mut upload = Ok(());
    let mut received = 0u64;
    while let Some(chunk) = backup.next().await {
        match chunk {
            Ok(chunk) => {
                received = received.saturating_add(chunk.len() as u64);
                if cap > 0 && received > cap {
                    upload = Err(ApiError::body_too_large());
                    break;
                }
                if tx.send(chunk).await.is_err() {
                    break; // the writer failed; its error is reported below
                }
            }
            Err(why) => {
                upload = Err(invalid(why));
                break;
            }
        }
    }
    drop(tx);
    let written = writing
        .await
        .map_err(|e| ApiError::new(Route::Restore, Error::Internal(e.to_string())))?;
    upload?;
    // A full or failing disk is the node's trouble, not the file's: 503, try again later.
    written.map_err(|e| {
        ApiError::new(
            Route::Restore,
            Error::Unavailable(format!("cannot spool the upload: {e}")),
        )
    })?;
    let consensus = app.consensus.clone();
    let rt = Handle::current();
    let limits = app.limits.message();
    let reply = tokio::task::spawn_blocking(move || drive(&consensus, &rt, spool, mode, limits))
        .await
        .map_err(|e| ApiError::new(Route::Restore, Error::Internal(e.to_string())))?
        .map_err(|e| ApiError::new(Route::Restore, e))?;
    match reply {
        Reply::Restored {
            queues,
            messages,
            last_version,
        } => Ok(Json(json!({
            "status": "SUCCEDED",
            "queues": queues,
            "messages": messages,
            "last_version": last_version,
        }))),
        other => Err(ApiError::unexpected_reply(Route::Restore, &other)),
    }
}

/// Verifies the spooled backup, stages it chunk by chunk and commits it; aborts on any failure.
fn drive(
    consensus: &Arc<dyn Consensus>,
    rt: &Handle,
    mut file: File,
    mode: ImportMode,
    limits: Limits,
) -> Result<Reply, Error> {
    let io = |e: std::io::Error| Error::BackupInvalid(format!("read the upload: {e}"));
    let (start, end) = (0, file.seek(SeekFrom::End(0)).map_err(io)?);
    let open = || -> Result<_, Error> {
        let mut f = file.try_clone().map_err(io)?;
        f.seek(SeekFrom::Start(start)).map_err(io)?;
        Ok(BufReader::new(f.take(end - start)))
    };
    let (header, records) = restore::verify(open()?, Some(limits))?;
    if mode == ImportMode::Replace && header.since > 0 {
        return Err(Error::BackupInvalid(
            "an incremental backup cannot be restored with mode=replace".into(),
        ));
    }
    let restore_id = uuid::Uuid::new_v4().as_u64_pair().0;
    info!(
        restore = restore_id,
        records,
        since = header.since,
        last_version = header.last_version,
        "restoring a backup"
    );
    let propose = |cmd: Command| rt.block_on(consensus.propose(cmd));
    let staged = restore::chunks(open()?, CHUNK_BYTES, Some(limits), |items| {
        propose(Command::StageImport {
            restore: restore_id,
            items,
        })
        .map(drop)
    });
    let committed = staged.and_then(|h| {
        propose(Command::CommitImport {
            restore: restore_id,
            mode,
            header: restore::import_header(&h),
        })
    });
    if let Err(e) = &committed {
        warn!(restore = restore_id, error = %e, "restore failed; discarding what was staged");
        if let Err(abort) = propose(Command::AbortImport {
            restore: restore_id,
        }) {
            warn!(restore = restore_id, error = %abort, "abort failed; the staging area expires after 60 s idle");
        }
    }
    committed
}

/// The backup's bytes as they arrive, or why the upload cannot be one (the text of a 400).
type Chunks = Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send>>;

/// The bytes of the form field `file` (DOQ's restore form); other fields are skipped, and a form without
/// that field is an error.
fn file_field(
    form: multer::Multipart<'static>,
) -> impl Stream<Item = Result<Bytes, String>> + Send {
    let malformed = |e: multer::Error| format!("malformed multipart form: {e}");
    futures::stream::unfold(Some((form, None)), move |state| async move {
        let (mut form, mut field): (multer::Multipart<'static>, Option<multer::Field<'static>>) =
            state?;
        loop {
            if let Some(f) = field.as_mut() {
                return match f.chunk().await {
                    Ok(Some(bytes)) => Some((Ok(bytes), Some((form, field)))),
                    // The file is complete; whatever follows in the form is not read.
                    Ok(None) => None,
                    Err(e) => Some((Err(malformed(e)), None)),
                };
            }
            match form.next_field().await {
                Ok(Some(f)) if f.name() == Some("file") => field = Some(f),
                Ok(Some(_)) => {}
                Ok(None) => return Some((Err("the form has no field named file".into()), None)),
                Err(e) => return Some((Err(malformed(e)), None)),
            }
        }
    })
}
