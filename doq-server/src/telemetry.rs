//! Log output: `logging.level` and `logging.mode` (`console`, `json`, or `stackdriver`, which is JSON
//! whose level key is `severity` and whose timestamp key is `time`, as Google Cloud Logging reads it, with
//! the event's spans under `spans`). The HTTP access log line is written by `http/layers.rs`.
use std::{fmt, io::BufWriter};

use serde_json::{Map, Value};
use tracing::{field::Field, Event, Subscriber};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::{
    field::Visit,
    fmt::{format::Writer, FmtContext, FormatEvent, FormatFields, FormattedFields},
    registry::LookupSpan,
    EnvFilter,
};

use crate::config::LoggingConfig;

/// Keeps the log writer's thread alive; dropping it writes out every line still queued. Hold it for as
/// long as the process logs, and drop it before printing a last error with `eprintln!`, so that error
/// comes after the lines it follows.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    /// Held only to be dropped: its `Drop` flushes the queue and joins the writer.
    _writer: Option<WorkerGuard>,
}

/// Lines that may wait for the writer thread; a logger that gets this far ahead waits (no line is dropped).
const QUEUED_LINES: usize = 64 * 1024;

/// Installs the global subscriber for the process. Library code never calls this; `cli::main` does.
/// `RUST_LOG`, when set, overrides `logging.level`.
///
/// Lines go to stderr through a writer thread that writes whatever has queued up with one `write(2)`,
/// so a busy server does not make a system call per access-log line on its request path (with one write
/// per line, the access log took about a fifth of the single-node request rate in an A/B; see the
/// README). A kill -9 can lose the lines still queued, never more than the last few milliseconds' worth.
pub fn init(logging: &LoggingConfig) -> LogGuard {
    let level = if logging.level == "warning" {
        "warn"
    } else {
        logging.level.as_str()
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("doq-log")
        .finish(BufWriter::new(std::io::stderr()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    // A second init (tests) keeps the first subscriber; that is fine.
    let installed = match logging.mode.as_str() {
        "json" => builder.json().try_init(),
        "stackdriver" => builder.event_format(Stackdriver).try_init(),
        _ => builder.try_init(),
    };
    LogGuard {
        _writer: installed.is_ok().then_some(guard),
    }
}

/// One JSON object per event with `severity`, `time`, `message`, the event's fields and `target`.
struct Stackdriver;

struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(
            field.name().to_string(),
            Value::String(format!("{value:?}")),
        );
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().to_string(), Value::String(value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
}

impl<S, N> FormatEvent<S, N> for Stackdriver
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields(Map::new());
        event.record(&mut fields);
        let severity = match *event.metadata().level() {
            tracing::Level::ERROR => "ERROR",
            tracing::Level::WARN => "WARNING",
            tracing::Level::INFO => "INFO",
            tracing::Level::DEBUG | tracing::Level::TRACE => "DEBUG",
        };
        let mut out = fields.0;
        out.insert("severity".into(), Value::from(severity));
        out.insert("time".into(), Value::from(rfc3339_now()));
        out.insert("target".into(), Value::from(event.metadata().target()));
        // The spans the event is in (a request's id, method and path), as the console format prints them.
        if let Some(scope) = ctx.event_scope() {
            let spans: Vec<String> = scope
                .from_root()
                .map(|span| {
                    let ext = span.extensions();
                    let fields = ext
                        .get::<FormattedFields<N>>()
                        .map_or("", |f| f.fields.as_str());
                    format!("{}{{{fields}}}", span.name())
                })
                .collect();
            if !spans.is_empty() {
                out.insert("spans".into(), Value::from(spans.join(":")));
            }
        }
        writeln!(writer, "{}", Value::Object(out))
    }
}

/// The current UTC time as RFC 3339 with milliseconds, without a date-time dependency.
fn rfc3339_now() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let secs = i64::try_from(ms / 1000).unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}
