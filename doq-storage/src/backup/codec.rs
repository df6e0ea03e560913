//! The framed stream of docs/backup.md §8.2: `DOQBACK\0`, then frames `u32 LE len | u32 LE crc32c(payload) |
//! payload`, each payload one [`Record`], the header first and a checksummed trailer last.
//!
//! [`Writer`] produces it; [`Reader`] verifies it while reading: magic, every CRC, the format version, the
//! record order, and the trailer's count and checksum, with nothing accepted after the trailer.
use std::io::{self, Read, Write};

use doq_api::{ImportItem, Limits};
use prost::Message;

use super::format::{self, Header, Kind, Record, Trailer, FORMAT_VERSION};

/// The stream's first 8 bytes.
pub const MAGIC: &[u8; 8] = b"DOQBACK\0";

/// The largest payload a frame may carry.
pub const MAX_PAYLOAD: usize = 64 * 1024 * 1024;

/// Why a backup stream cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The stream is malformed, corrupt, unsupported or out of order; the text names the record.
    #[error("{0}")]
    Invalid(String),
    /// Reading or writing the underlying stream failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
}

impl From<BackupError> for doq_api::Error {
    fn from(e: BackupError) -> Self {
        Self::BackupInvalid(e.to_string())
    }
}

/// Writes a backup stream: the header at creation, records, then [`Writer::finish`] adds the trailer.
#[derive(Debug)]
pub struct Writer<W: Write> {
    out: W,
    crc: u32,
    records: u64,
    bytes: u64,
}

impl<W: Write> Writer<W> {
    /// Writes the magic and `header` to `out`.
    pub fn new(out: W, header: Header) -> Result<Self, BackupError> {
        let mut w = Self {
            out,
            crc: 0,
            records: 0,
            bytes: 0,
        };
        w.raw(MAGIC)?;
        w.frame(&Record {
            kind: Some(Kind::Header(header)),
        })?;
        Ok(w)
    }

    /// Appends one data record.
    pub fn write(&mut self, kind: Kind) -> Result<(), BackupError> {
        self.frame(&Record { kind: Some(kind) })?;
        self.records += 1;
        Ok(())
    }

    /// Data records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Writes the trailer, flushes, and returns the output.
    pub fn finish(mut self) -> Result<W, BackupError> {
        let trailer = Trailer {
            records: self.records,
            checksum: self.crc,
        };
        self.frame(&Record {
            kind: Some(Kind::Trailer(trailer)),
        })?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn frame(&mut self, record: &Record) -> Result<(), BackupError> {
        let payload = record.encode_to_vec();
        if payload.len() > MAX_PAYLOAD {
            return Err(BackupError::Invalid(format!(
                "record {} is {} bytes, over the 64 MiB frame limit",
                self.records + 1,
                payload.len()
            )));
        }
        let len = u32::try_from(payload.len())
            .map_err(|_| BackupError::Invalid("record too large".into()))?;
        let mut head = [0u8; 8];
        head[..4].copy_from_slice(&len.to_le_bytes());
        head[4..].copy_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
        self.raw(&head)?;
        self.raw(&payload)
    }

    fn raw(&mut self, bytes: &[u8]) -> Result<(), BackupError> {
        self.crc = crc32c::crc32c_append(self.crc, bytes);
        self.bytes += bytes.len() as u64;
        self.out.write_all(bytes)?;
        Ok(())
    }
}

/// Where the reader is in the record order of docs/backup.md §8.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    QueueTombstones,
    Queues,
    Messages,
}

/// Reads and verifies a backup stream. Every data record is checked on the way; the trailer's count and
/// checksum are checked when [`Reader::next`] reaches it, so a caller must not treat the records as good
/// before `next` has returned `Ok(None)`.
#[derive(Debug)]
pub struct Reader<R: Read> {
    input: R,
    header: Header,
    crc: u32,
    records: u64,
    bytes: u64,
    phase: Phase,
    done: bool,
    /// The API's message limits every record must meet (docs/backup.md §8.3); `None` checks only the fixed ones.
    limits: Option<Limits>,
}

impl<R: Read> Reader<R> {
    /// Also refuses any record that breaks `limits` (a restore passes the node's `limits.*`).
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// Reads the magic and the header; refuses any other format version.
    pub fn open(mut input: R) -> Result<Self, BackupError> {
        let mut magic = [0u8; 8];
        read_exact(&mut input, &mut magic, "the magic")?;
        if &magic != MAGIC {
            return Err(BackupError::Invalid(
                "not a doq backup (bad magic); DOQ's Badger backups cannot be read".into(),
            ));
        }
        let mut r = Self {
            input,
            header: Header::default(),
            crc: crc32c::crc32c(&magic),
            records: 0,
            bytes: 8,
            phase: Phase::QueueTombstones,
            done: false,
            limits: None,
        };
        match r.frame()?.kind {
            Some(Kind::Header(h)) => {
                if h.format_version != FORMAT_VERSION {
                    return Err(BackupError::Invalid(format!(
                        "record 0: unsupported format version {} (this build reads {FORMAT_VERSION})",
                        h.format_version
                    )));
                }
                r.header = h;
            }
            _ => return Err(BackupError::Invalid("record 0: expected the header".into())),
        }
        Ok(r)
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Data records read so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Bytes read so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The next data record as an import item; `Ok(None)` once the trailer has been verified and the
    /// stream has ended.
    pub fn next_item(&mut self) -> Result<Option<ImportItem>, BackupError> {
        if self.done {
            return Ok(None);
        }
        let before = self.crc;
        let n = self.records + 1;
        let record = self.frame()?;
        let bad = |why: String| BackupError::Invalid(format!("record {n}: {why}"));
        let Some(kind) = record.kind else {
            return Err(bad(
                "a record kind this version does not know (snapshot-only or newer)".into(),
            ));
        };
        let phase = match &kind {
            Kind::Trailer(t) => {
                if t.records != self.records {
                    return Err(bad(format!(
                        "the trailer counts {} records, the stream has {}",
                        t.records, self.records
                    )));
                }
                if t.checksum != before {
                    return Err(bad(
                        "the trailer's checksum does not match the stream".into()
                    ));
                }
                let mut extra = [0u8; 1];
                if read_some(&mut self.input, &mut extra)? != 0 {
                    return Err(bad("data after the trailer".into()));
                }
                self.done = true;
                return Ok(None);
            }
            Kind::QueueDeleted(_) => Phase::QueueTombstones,
            Kind::Queue(_) => Phase::Queues,
            Kind::Message(_) | Kind::MessageDeleted(_) => Phase::Messages,
            Kind::Header(_) => return Err(bad("a second header".into())),
        };
        if phase < self.phase {
            return Err(bad(
                "out of order (tombstones of queues, then queues, then messages)".into(),
            ));
        }
        self.phase = phase;
        self.records = n;
        let item = format::to_item(kind).map_err(bad)?;
        if let Some(limits) = &self.limits {
            limits
                .check_item(&item)
                .map_err(|v| bad(format!("a message the API would refuse ({v})")))?;
        }
        Ok(Some(item))
    }

    fn frame(&mut self) -> Result<Record, BackupError> {
        let n = self.records + 1;
        let mut head = [0u8; 8];
        read_exact(&mut self.input, &mut head, "a frame header")?;
        let (len, crc) = head.split_at(4);
        let len = u32::from_le_bytes(len.try_into().unwrap_or_default()) as usize;
        let crc = u32::from_le_bytes(crc.try_into().unwrap_or_default());
        if len > MAX_PAYLOAD {
            return Err(BackupError::Invalid(format!(
                "record {n}: frame of {len} bytes is over the 64 MiB limit"
            )));
        }
        let mut payload = vec![0u8; len];
        read_exact(&mut self.input, &mut payload, "a frame payload")?;
        if crc32c::crc32c(&payload) != crc {
            return Err(BackupError::Invalid(format!("record {n}: CRC mismatch")));
        }
        self.crc = crc32c::crc32c_append(self.crc, &head);
        self.crc = crc32c::crc32c_append(self.crc, &payload);
        self.bytes += 8 + len as u64;
        Record::decode(payload.as_slice())
            .map_err(|e| BackupError::Invalid(format!("record {n}: undecodable: {e}")))
    }
}

/// `read_exact` that reports a short stream as a truncated backup.
fn read_exact(input: &mut impl Read, buf: &mut [u8], what: &str) -> Result<(), BackupError> {
    input.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => {
            BackupError::Invalid(format!("truncated: the stream ends inside {what}"))
        }
        _ => BackupError::Io(e),
    })
}

/// One `read` that retries on interruption.
fn read_some(input: &mut impl Read, buf: &mut [u8]) -> Result<usize, BackupError> {
    loop {
        match input.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(BackupError::Io(e)),
        }
    }
}
