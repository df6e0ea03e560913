//! The recorded history of a chaos run: every client operation as an invocation followed by its
//! completion (`ok`, `fail` or `info`, as in Jepsen), plus the nemesis's fault events, with client-side
//! timestamps. Saved as JSON lines, one [`Event`] per line, so a run can be checked again later
//! (`doq-chaos check <history.jsonl>`).
use std::{
    fs::File,
    io::{BufRead, BufReader, BufWriter, Write},
    path::Path,
    sync::{Arc, Mutex, PoisonError},
    time::Instant,
};

use serde::{Deserialize, Serialize};

/// One line of the history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Microseconds since the run started, on the harness's monotonic clock. Every event comes from
    /// one process, so the times order events in real time.
    pub time_us: u64,
    /// The client that issued the operation; the nemesis and the harness use [`NEMESIS`].
    pub process: u32,
    /// The node (0-based) the client sent the request to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<usize>,
    /// What happened.
    pub kind: EventKind,
}

/// The process number of the nemesis and of the harness's own bookkeeping events.
pub const NEMESIS: u32 = u32::MAX;

/// What an [`Event`] records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The first event: what the checker needs to know about the run.
    Meta(Meta),
    /// A client sent a request.
    Invoke {
        /// The request.
        call: Call,
    },
    /// The request took effect, with this answer.
    Ok {
        /// The answer.
        answer: Answer,
    },
    /// The request certainly did not take effect (a 4xx answer, or the connection was refused).
    Fail {
        /// Why, for people reading the history.
        why: String,
    },
    /// The outcome is unknown (a timeout, a reset connection, a 5xx): it may or may not have taken
    /// effect, now or later.
    Info {
        /// Why, for people reading the history.
        why: String,
    },
    /// A fault started or ended, or the run entered a new phase.
    Nemesis {
        /// What, e.g. `start partition-leader [[1],[0,2]]`.
        what: String,
    },
}

/// Run-wide facts the checker needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// Wall-clock start of the run, Unix milliseconds.
    pub started_unix_ms: u64,
    /// The seed of the schedule and the workload.
    pub seed: u64,
    /// The storage backend of the nodes.
    pub backend: String,
    /// The queues of the workload.
    pub queues: Vec<QueueMeta>,
}

/// One queue of the workload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueMeta {
    /// The queue's name.
    pub name: String,
    /// Its `ack_timeout` in milliseconds: a lease is live this long after its delivery.
    pub ack_timeout_ms: u64,
}

/// A client request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "snake_case")]
pub enum Call {
    /// `POST …/messages` with a content unique to the run.
    Enqueue {
        /// The queue.
        queue: String,
        /// The message's content: unique per attempt, so every delivery names its enqueue.
        content: String,
    },
    /// `GET …/messages?ack=false`.
    Dequeue {
        /// The queue.
        queue: String,
    },
    /// `POST …/messages/{id}/ack?receipt=…`.
    Ack {
        /// The queue.
        queue: String,
        /// The message id.
        id: String,
        /// The receipt of the delivery being acked.
        receipt: String,
    },
    /// `POST …/messages/{id}/nack?receipt=…`: the message becomes ready again.
    Nack {
        /// The queue.
        queue: String,
        /// The message id.
        id: String,
        /// The receipt of the delivery being nacked.
        receipt: String,
    },
    /// `POST …/messages/{id}/touch?receipt=…`: the lease is extended.
    Touch {
        /// The queue.
        queue: String,
        /// The message id.
        id: String,
        /// The receipt of the delivery being extended.
        receipt: String,
    },
    /// `GET …/messages/{id}` after the run: is the message still there?
    Read {
        /// The queue.
        queue: String,
        /// The message id.
        id: String,
    },
}

impl Call {
    /// The queue the call is about.
    pub fn queue(&self) -> &str {
        match self {
            Self::Enqueue { queue, .. }
            | Self::Dequeue { queue }
            | Self::Ack { queue, .. }
            | Self::Nack { queue, .. }
            | Self::Touch { queue, .. }
            | Self::Read { queue, .. } => queue,
        }
    }

    /// The operation's name, as in the history file.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Enqueue { .. } => "enqueue",
            Self::Dequeue { .. } => "dequeue",
            Self::Ack { .. } => "ack",
            Self::Nack { .. } => "nack",
            Self::Touch { .. } => "touch",
            Self::Read { .. } => "read",
        }
    }
}

/// The answer of a successful call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Answer {
    /// An enqueue was acknowledged with this id.
    Enqueued {
        /// The id the server assigned.
        id: String,
    },
    /// A dequeue delivered a message.
    Delivered {
        /// The message id.
        id: String,
        /// Its content.
        content: String,
        /// The receipt naming this delivery.
        receipt: String,
        /// The delivery count the server reported, this one included.
        deliveries: u64,
    },
    /// An ack, nack or touch succeeded.
    Done,
    /// A read found the message.
    Found {
        /// Its content.
        content: String,
    },
    /// A read did not find the message (a definite answer: it is gone).
    NotFound,
}

/// Appends events to the history in memory and to a JSON-lines file as they happen, so a run that
/// dies still leaves its history behind. Clones share one history.
#[derive(Clone, Debug)]
pub struct Recorder {
    inner: Arc<Mutex<Inner>>,
    start: Instant,
}

#[derive(Debug)]
struct Inner {
    events: Vec<Event>,
    file: Option<BufWriter<File>>,
}

impl Recorder {
    /// A recorder writing to `path` (created or truncated), or only to memory when `path` is `None`.
    pub fn new(path: Option<&Path>) -> std::io::Result<Self> {
        let file = match path {
            Some(p) => Some(BufWriter::new(File::create(p)?)),
            None => None,
        };
        Ok(Self {
            inner: Arc::new(Mutex::new(Inner {
                events: Vec::new(),
                file,
            })),
            start: Instant::now(),
        })
    }

    /// Microseconds since the recorder was made.
    pub fn now_us(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Records `kind` for `process` (talking to `node`) now.
    pub fn record(&self, process: u32, node: Option<usize>, kind: EventKind) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        // Stamped under the lock, so the file and the vector are in time order.
        let event = Event {
            time_us: self.now_us(),
            process,
            node,
            kind,
        };
        if let Some(file) = inner.file.as_mut() {
            // A history that cannot be written is reported by `flush` at the end; the run goes on.
            if let Ok(line) = serde_json::to_string(&event) {
                let _ = writeln!(file, "{line}");
            }
        }
        inner.events.push(event);
    }

    /// Records a nemesis or harness event and flushes the file, so a crash loses little.
    pub fn nemesis(&self, what: impl Into<String>) {
        let what = what.into();
        tracing::info!(%what, "nemesis");
        self.record(NEMESIS, None, EventKind::Nemesis { what });
        let _ = self.flush();
    }

    /// Writes buffered lines to the file.
    pub fn flush(&self) -> std::io::Result<()> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        match inner.file.as_mut() {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }

    /// A copy of every event so far.
    pub fn events(&self) -> Vec<Event> {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .events
            .clone()
    }
}

/// Reads a history saved by a [`Recorder`]. A torn last line (the run was killed mid-write) is
/// skipped; any other bad line is an error naming its line number.
pub fn load(path: &Path) -> anyhow::Result<Vec<Event>> {
    let lines: Vec<String> = BufReader::new(File::open(path)?)
        .lines()
        .collect::<Result<_, _>>()?;
    let mut events = Vec::with_capacity(lines.len());
    for (n, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(e) => events.push(e),
            Err(_) if n + 1 == lines.len() => break,
            Err(e) => anyhow::bail!("{}:{}: {e}", path.display(), n + 1),
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_round_trips_through_its_file_and_skips_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        let rec = Recorder::new(Some(&path)).unwrap();
        rec.record(
            1,
            Some(2),
            EventKind::Invoke {
                call: Call::Enqueue {
                    queue: "q".into(),
                    content: "c".into(),
                },
            },
        );
        rec.record(
            1,
            Some(2),
            EventKind::Ok {
                answer: Answer::Enqueued { id: "7".into() },
            },
        );
        rec.nemesis("start kill-leader");
        rec.flush().unwrap();
        assert_eq!(load(&path).unwrap(), rec.events());
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"time_us\":");
        std::fs::write(&path, text).unwrap();
        assert_eq!(load(&path).unwrap(), rec.events());
    }
}
