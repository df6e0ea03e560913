//! The progress line of `doq backup`, `doq restore` and `doq backup --verify` (docs/backup.md §8.4), drawn
//! by `indicatif` on stderr: bytes, rate and records, plus a bar with percentage and ETA when the size is
//! known (a local file), and only when stderr is a terminal, so scripts and logs never see it.
use std::{
    cell::Cell,
    io::{self, IsTerminal, Read},
};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// With a known size: the bar, percentage, bytes, rate and ETA.
const SIZED: &str =
    "{prefix} [{bar:30}] {percent:>3}% {bytes}/{total_bytes} ({bytes_per_sec}, ETA {eta}) {msg}";
/// Without one (a streamed backup): bytes and rate.
const UNSIZED: &str = "{prefix} {spinner} {bytes} ({bytes_per_sec}) {msg}";

/// Counts bytes and records of one phase and shows them when stderr is a terminal.
#[derive(Debug)]
pub(crate) struct Progress {
    bar: ProgressBar,
    records: Cell<u64>,
}

impl Progress {
    /// A display for `label` (e.g. `backup`) of a stream whose size is not known.
    pub(crate) fn new(label: impl Into<String>) -> Self {
        Self::with_target(label, None, terminal())
    }

    /// A display for `label` (e.g. `restore full.bak`) of `total` bytes: with percentage and ETA.
    pub(crate) fn sized(label: impl Into<String>, total: u64) -> Self {
        Self::with_target(label, Some(total), terminal())
    }

    fn with_target(
        label: impl Into<String>,
        total: Option<u64>,
        target: ProgressDrawTarget,
    ) -> Self {
        let (bar, template) = match total {
            Some(total) => (ProgressBar::with_draw_target(Some(total), target), SIZED),
            None => (ProgressBar::with_draw_target(None, target), UNSIZED),
        };
        // The templates are constants; a bad one would only lose the styling.
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(label.into());
        Self {
            bar,
            records: Cell::new(0),
        }
    }

    /// Counts `n` more bytes.
    pub(crate) fn add_bytes(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Counts `n` more records.
    pub(crate) fn add_records(&self, n: u64) {
        self.records.set(self.records.get().saturating_add(n));
        self.bar
            .set_message(format!("{} records", self.records.get()));
    }

    /// Draws the final counts and ends the line.
    pub(crate) fn finish(&self) {
        self.bar.finish();
    }

    /// Wraps `inner` so every byte read through it is counted.
    pub(crate) fn reader<R: Read>(&self, inner: R) -> CountingReader<'_, R> {
        CountingReader {
            inner,
            progress: self,
        }
    }
}

/// Stderr when it is a terminal (redrawn at most 5 times a second), else nothing.
fn terminal() -> ProgressDrawTarget {
    if io::stderr().is_terminal() {
        ProgressDrawTarget::stderr_with_hz(5)
    } else {
        ProgressDrawTarget::hidden()
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
    fn counts_what_is_read_and_knows_the_total_when_given() {
        let p = Progress::with_target("restore x", Some(11), ProgressDrawTarget::hidden());
        let mut out = Vec::new();
        p.reader(&b"hello world"[..]).read_to_end(&mut out).unwrap();
        p.add_records(3);
        p.finish();
        assert_eq!(out, b"hello world");
        assert_eq!(p.bar.position(), 11);
        assert_eq!(p.bar.length(), Some(11));
        assert_eq!(p.bar.message(), "3 records");
        assert!(p.bar.is_finished());
        let streamed = Progress::with_target("backup", None, ProgressDrawTarget::hidden());
        streamed.add_bytes(5);
        assert_eq!((streamed.bar.position(), streamed.bar.length()), (5, None));
    }
}
