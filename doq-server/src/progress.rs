//! A one-line progress display for `doq backup` and `doq restore` (docs/backup.md §8.4): bytes and records on
//! stderr, redrawn at most a few times a second, and only when stderr is a terminal, so scripts and logs
//! never see carriage returns.
use std::{
    cell::Cell,
    io::{self, IsTerminal, Read, Write},
    time::{Duration, Instant},
};

/// How often the line may be redrawn.
const REDRAW_EVERY: Duration = Duration::from_millis(200);

/// Counts bytes and records of one phase and shows them when stderr is a terminal.
#[derive(Debug)]
pub(crate) struct Progress {
    label: String,
    shown: bool,
    bytes: Cell<u64>,
    records: Cell<u64>,
    drawn: Cell<Option<Instant>>,
}

impl Progress {
    /// A display for `label` (e.g. `restore full.bak`), drawn only when stderr is a terminal.
    pub(crate) fn new(label: impl Into<String>) -> Self {
        Self::with_display(label, io::stderr().is_terminal())
    }

    fn with_display(label: impl Into<String>, shown: bool) -> Self {
        Self {
            label: label.into(),
            shown,
            bytes: Cell::new(0),
            records: Cell::new(0),
            drawn: Cell::new(None),
        }
    }

    /// Counts `n` more bytes.
    pub(crate) fn add_bytes(&self, n: u64) {
        self.bytes.set(self.bytes.get().saturating_add(n));
        self.redraw(false);
    }

    /// Counts `n` more records.
    pub(crate) fn add_records(&self, n: u64) {
        self.records.set(self.records.get().saturating_add(n));
        self.redraw(false);
    }

    /// Draws the final counts and ends the line.
    pub(crate) fn finish(&self) {
        if self.shown {
            self.redraw(true);
            eprintln!();
        }
    }

    /// Wraps `inner` so every byte read through it is counted.
    pub(crate) fn reader<R: Read>(&self, inner: R) -> CountingReader<'_, R> {
        CountingReader {
            inner,
            progress: self,
        }
    }

    fn redraw(&self, force: bool) {
        if !self.shown {
            return;
        }
        let now = Instant::now();
        if !force && self.drawn.get().is_some_and(|t| now - t < REDRAW_EVERY) {
            return;
        }
        self.drawn.set(Some(now));
        let mut err = io::stderr().lock();
        // A progress line that cannot be drawn is not worth failing the command for.
        let _ = write!(err, "\r{}", self.line());
        let _ = err.flush();
    }

    fn line(&self) -> String {
        let mib = self.bytes.get() as f64 / f64::from(1u32 << 20);
        format!(
            "{}: {mib:.1} MiB, {} records",
            self.label,
            self.records.get()
        )
    }
}

/// A reader that counts what passes through it into a [`Progress`].
#[derive(Debug)]
pub(crate) struct CountingReader<'a, R> {
    inner: R,
    progress: &'a Progress,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.add_bytes(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_is_read_and_stays_silent_off_a_terminal() {
        let p = Progress::with_display("restore x", false);
        let mut out = Vec::new();
        p.reader(&b"hello world"[..]).read_to_end(&mut out).unwrap();
        p.add_records(3);
        p.finish();
        assert_eq!(out, b"hello world");
        assert_eq!((p.bytes.get(), p.records.get()), (11, 3));
        assert_eq!(p.line(), "restore x: 0.0 MiB, 3 records");
    }
}
