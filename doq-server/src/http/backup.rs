//! `GET|POST /db/backup[?since=N]` (docs/backup.md §8.1): a portable backup streamed from a store snapshot.
//!
//! The export runs on a blocking thread over `QueueStore::with_snapshot` and hands 64 KiB chunks to the
//! response through a small channel, so neither side buffers the backup. The headers (`X-Last-Version`, the
//! cluster id) come from the same snapshot, before the first byte. A store whose snapshot blocks commits
//! (sled) is exported into a temporary file first and streamed from there, so a slow client never stalls
//! writes. A failure mid-stream ends the response without a trailer.
use std::io::{self, Read, Seek, Write};

use axum::{
    body::{Body, Bytes},
    extract::State,
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
};
use doq_api::Error;
use doq_storage::backup::{
    export::{self, ExportRequest},
    format::Header,
};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tracing::warn;

use crate::{
    errors::{ApiError, Route},
    http::{params::QueryArgs, AppState},
};

/// Bytes per chunk sent to the response.
const CHUNK: usize = 64 * 1024;
/// Chunks in flight between the export thread and the response.
const IN_FLIGHT: usize = 8;

type Chunk = Result<Bytes, io::Error>;

/// `GET|POST /db/backup`.
#[utoipa::path(
    method(get, post),
    path = "/db/backup",
    tag = "backup",
    params(("since" = Option<u64>, Query, description = "Incremental: only changes after this version")),
    responses(
        (status = 200, description = "A portable backup stream (docs/backup.md §8.2)", body = String, content_type = "application/octet-stream"),
        (status = 403, description = "Admin operation from a non-loopback client without `auth.token` (`admin_local_only`)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`since` is older than the oldest retained deletion (`since_too_old`)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn backup(
    State(app): State<AppState>,
    query: QueryArgs,
    body: Bytes,
) -> Result<Response, ApiError> {
    let since = since(&query, &body)?;
    app.read_barrier(Route::Backup).await?;
    let view = app.consensus.view();
    let store = view.store();
    let req = ExportRequest {
        since,
        producer: format!("doq {}", env!("CARGO_PKG_VERSION")),
        created_at_ms: i64::try_from(view.now().0).unwrap_or(i64::MAX),
    };
    let (head_tx, head_rx) = oneshot::channel::<Result<Header, Error>>();
    let (tx, rx) = mpsc::channel::<Chunk>(IN_FLIGHT);
    tokio::task::spawn_blocking(move || run_export(&*store, &req, head_tx, &tx));
    let header = match head_rx.await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => return Err(ApiError::new(Route::Backup, e)),
        Err(_) => {
            return Err(ApiError::new(
                Route::Backup,
                Error::Internal("the export stopped before its header".into()),
            ))
        }
    };
    let mut response = Body::from_stream(ReceiverStream::new(rx)).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert("x-last-version", HeaderValue::from(header.last_version));
    h.insert(
        "x-doq-backup-format",
        HeaderValue::from(header.format_version),
    );
    if let Ok(v) = HeaderValue::from_str(&header.cluster_id) {
        h.insert("x-doq-cluster-id", v);
    }
    Ok(response)
}

/// `since` from `?since=` and/or a POST body `{"since":N}`; both given must agree. Absent means 0 (full).
fn since(query: &QueryArgs, body: &[u8]) -> Result<u64, ApiError> {
    let bad = |location: &str, value: Option<Value>| {
        ApiError::violation(location, "expected integer >= 0", value)
    };
    let from_query = match query.get("since") {
        None | Some("") => None,
        Some(s) => Some(
            s.parse::<u64>()
                .map_err(|_| bad("query.since", Some(Value::String(s.to_string()))))?,
        ),
    };
    let from_body = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::violation("body", format!("invalid JSON: {e}"), None))?;
        let Value::Object(map) = v else {
            return Err(ApiError::violation("body", "expected object", None));
        };
        if let Some(k) = map.keys().find(|k| k.as_str() != "since") {
            return Err(ApiError::violation(
                format!("body.{k}"),
                "unexpected property",
                None,
            ));
        }
        match map.get("since") {
            None => None,
            Some(v) => Some(
                v.as_u64()
                    .ok_or_else(|| bad("body.since", Some(v.clone())))?,
            ),
        }
    };
    match (from_query, from_body) {
        (Some(q), Some(b)) if q != b => Err(ApiError::violation(
            "body.since",
            "since in the body and the query must agree",
            Some(Value::from(b)),
        )),
        (q, b) => Ok(q.or(b).unwrap_or(0)),
    }
}

/// Runs on a blocking thread: header first (or the refusal), then the stream.
fn run_export(
    store: &dyn doq_storage::QueueStore,
    req: &ExportRequest,
    head_tx: oneshot::Sender<Result<Header, Error>>,
    tx: &mpsc::Sender<Chunk>,
) {
    let spool = store.snapshot_blocks_commits();
    let mut head_tx = Some(head_tx);
    let mut spooled = None;
    let outcome = store.with_snapshot(&mut |snap| {
        let header = match export::header(snap, req) {
            Ok(h) => h,
            Err(e) => {
                if let Some(t) = head_tx.take() {
                    let _ = t.send(Err(e));
                }
                return Ok(());
            }
        };
        if spool {
            // Commits wait while this view is open: export at disk speed, stream afterwards.
            let file = tempfile::tempfile().map_err(|e| {
                doq_storage::Error::io("create spool file", std::path::Path::new("tmp"), e)
            })?;
            match export::write(snap, header.clone(), io::BufWriter::new(file)) {
                Ok((w, _)) => spooled = Some((header, w)),
                Err(e) => fail(&mut head_tx, tx, &e.to_string()),
            }
            return Ok(());
        }
        if let Some(t) = head_tx.take() {
            let _ = t.send(Ok(header.clone()));
        }
        if let Err(e) = export::write(snap, header, ChannelWriter::new(tx)) {
            warn!(error = %e, "backup export failed mid-stream");
            let _ = tx.blocking_send(Err(io::Error::other(e.to_string())));
        }
        Ok(())
    });
    if let Err(e) = outcome {
        fail(&mut head_tx, tx, &e.to_string());
        return;
    }
    if let Some((header, w)) = spooled {
        if let Err(e) = stream_file(w, head_tx, header, tx) {
            warn!(error = %e, "streaming the spooled backup failed");
            let _ = tx.blocking_send(Err(e));
        }
    }
}

/// Reports a failure: as the answer when no header went out yet, else by breaking the stream.
fn fail(
    head_tx: &mut Option<oneshot::Sender<Result<Header, Error>>>,
    tx: &mpsc::Sender<Chunk>,
    why: &str,
) {
    warn!(error = %why, "backup export failed");
    match head_tx.take() {
        Some(t) => {
            let _ = t.send(Err(Error::storage("export", why.to_string())));
        }
        None => {
            let _ = tx.blocking_send(Err(io::Error::other(why.to_string())));
        }
    }
}

/// Streams a spooled export.
fn stream_file(
    w: io::BufWriter<std::fs::File>,
    head_tx: Option<oneshot::Sender<Result<Header, Error>>>,
    header: Header,
    tx: &mpsc::Sender<Chunk>,
) -> io::Result<()> {
    let mut file = w.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.rewind()?;
    if let Some(t) = head_tx {
        let _ = t.send(Ok(header));
    }
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        if tx
            .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
            .is_err()
        {
            return Ok(()); // the client went away
        }
    }
}

/// A `Write` that sends [`CHUNK`]-sized pieces to the response; a gone client is a broken pipe.
struct ChannelWriter<'a> {
    tx: &'a mpsc::Sender<Chunk>,
    buf: Vec<u8>,
}

impl<'a> ChannelWriter<'a> {
    fn new(tx: &'a mpsc::Sender<Chunk>) -> Self {
        Self {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChannelWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}
