//! In-process CPU profiling for benchmarks (`perf` records no samples in some sandboxes). Built only
//! with the cargo feature `pprof`; then `DOQ_PROFILE=FILE doq …` samples every thread of the node from
//! start to shutdown (SIGPROF, 499 Hz) and writes the hottest functions to FILE: by self time (the
//! sampled frame) and inclusive (anywhere on the stack), and the samples per thread.
use std::{collections::BTreeMap, fmt::Write as _, path::PathBuf};

/// A running profile.
pub(crate) struct Profile {
    guard: pprof::ProfilerGuard<'static>,
    path: PathBuf,
}

/// Rows per table in the written report.
const TOP: usize = 40;

impl Profile {
    /// Starts sampling when `DOQ_PROFILE` names a file.
    pub(crate) fn from_env() -> Option<Self> {
        let path = PathBuf::from(std::env::var_os("DOQ_PROFILE")?);
        match pprof::ProfilerGuardBuilder::default()
            .frequency(499)
            .blocklist(&["libc", "libgcc", "pthread", "vdso"])
            .build()
        {
            Ok(guard) => {
                tracing::info!(path = %path.display(), "CPU profiling until shutdown");
                Some(Self { guard, path })
            }
            Err(e) => {
                tracing::warn!(error = %e, "CPU profiling could not start");
                None
            }
        }
    }

    /// Stops sampling and writes the report.
    pub(crate) fn finish(self) {
        let text = match self.guard.report().build() {
            Ok(report) => summarize(&report),
            Err(e) => format!("profile failed: {e}\n"),
        };
        if let Err(e) = std::fs::write(&self.path, text) {
            tracing::warn!(error = %e, path = %self.path.display(), "write the CPU profile");
        }
    }
}

fn summarize(report: &pprof::Report) -> String {
    let mut own: BTreeMap<String, u64> = BTreeMap::new();
    let mut inclusive: BTreeMap<String, u64> = BTreeMap::new();
    let mut threads: BTreeMap<String, u64> = BTreeMap::new();
    let mut total = 0u64;
    for (frames, count) in &report.data {
        let n = u64::try_from(*count).unwrap_or(0);
        total += n;
        *threads.entry(frames.thread_name.clone()).or_default() += n;
        // Leaf first; inlined functions share a frame, so each symbol of it counts.
        let names: Vec<String> = frames
            .frames
            .iter()
            .flat_map(|f| f.iter().map(pprof::Symbol::name))
            .collect();
        if let Some(leaf) = names.first() {
            *own.entry(leaf.clone()).or_default() += n;
        }
        let mut seen = std::collections::BTreeSet::new();
        for name in names {
            if seen.insert(name.clone()) {
                *inclusive.entry(name).or_default() += n;
            }
        }
    }
    let mut out = format!("{total} samples at 499 Hz\n");
    for (title, table) in [
        ("threads", &threads),
        ("self", &own),
        ("inclusive", &inclusive),
    ] {
        let mut rows: Vec<_> = table.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1));
        let _ = writeln!(out, "\n## {title}");
        for (name, n) in rows.into_iter().take(TOP) {
            #[allow(clippy::cast_precision_loss)] // a share for humans
            let share = if total > 0 {
                *n as f64 * 100.0 / total as f64
            } else {
                0.0
            };
            let _ = writeln!(out, "{share:6.2}% {n:>8}  {name}");
        }
    }
    out
}
