//! Storage histograms: `doq_storage_sync_duration_seconds{backend}` (how long each state-machine commit took
//! the store: a write plus its fsync in single mode with `storage.sync = always`; in raft mode the log's own
//! flush is not in it) and `doq_storage_group_commit_batch_size` (commands per commit, i.e. writes per sync).
use std::time::Duration;

use doq_consensus::CommitObserver;
use prometheus::{exponential_buckets, Histogram, HistogramOpts, HistogramVec, Registry};

/// The storage series; told about each commit by the consensus it observes.
#[derive(Debug)]
pub(super) struct StorageMetrics {
    sync: Histogram,
    batch: Histogram,
}

impl StorageMetrics {
    pub(super) fn register(registry: &Registry, backend: &str) -> prometheus::Result<Self> {
        // 100 µs … ~3.3 s: an fsync on a fast SSD up to a stalled disk.
        let sync = HistogramVec::new(
            HistogramOpts::new(
                "doq_storage_sync_duration_seconds",
                "Time the store took to commit (and sync) one group of commands",
            )
            .buckets(exponential_buckets(0.000_1, 2.0, 16)?),
            &["backend"],
        )?;
        // 1 … 4096 commands per commit.
        let batch = Histogram::with_opts(
            HistogramOpts::new(
                "doq_storage_group_commit_batch_size",
                "Commands carried by one commit (writes per sync)",
            )
            .buckets(exponential_buckets(1.0, 2.0, 13)?),
        )?;
        registry.register(Box::new(sync.clone()))?;
        registry.register(Box::new(batch.clone()))?;
        Ok(Self {
            sync: sync.with_label_values(&[backend]),
            batch,
        })
    }
}

impl CommitObserver for StorageMetrics {
    fn committed(&self, commands: usize, took: Duration) {
        self.sync.observe(took.as_secs_f64());
        #[allow(clippy::cast_precision_loss)] // a count far below 2^52
        self.batch.observe(commands as f64);
    }
}
