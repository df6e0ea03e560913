//! Per-queue operation rates over a sliding window of whole seconds of command time, and the running
//! totals `/metrics` exports as counters.

/// Operations whose rates queue info reports.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Op {
    Enqueue = 0,
    Dequeue = 1,
    Ack = 2,
    Nack = 3,
}

const SLOTS: u64 = 64;
const SLOTS_USIZE: usize = 64;

fn slot(second: u64) -> usize {
    // Always < 64, so the conversion cannot fail.
    usize::try_from(second % SLOTS).unwrap_or(0)
}

/// Counts per second in a ring of 64 one-second slots, so windows up to 63 s can be asked for, plus
/// a running total per operation. The totals live only in memory (a restart or rebuild starts them at 0,
/// which Prometheus reads as a counter reset) and are never part of the digest.
#[derive(Clone, Debug)]
pub(crate) struct Rates {
    second: [u64; SLOTS_USIZE],
    counts: [[u32; 4]; SLOTS_USIZE],
    totals: [u64; 4],
}

impl Default for Rates {
    fn default() -> Self {
        Self {
            second: [u64::MAX; SLOTS_USIZE],
            counts: [[0; 4]; SLOTS_USIZE],
            totals: [0; 4],
        }
    }
}

impl Rates {
    pub(crate) fn record(&mut self, op: Op, second: u64, n: u32) {
        let slot = slot(second);
        if self.second[slot] != second {
            self.second[slot] = second;
            self.counts[slot] = [0; 4];
        }
        self.counts[slot][op as usize] = self.counts[slot][op as usize].saturating_add(n);
        self.totals[op as usize] = self.totals[op as usize].saturating_add(u64::from(n));
    }

    /// Operations applied on this node since the engine was built.
    pub(crate) fn total(&self, op: Op) -> u64 {
        self.totals[op as usize]
    }

    /// Operations per second over the `window` whole seconds before `now_second`.
    pub(crate) fn rate(&self, op: Op, now_second: u64, window: u32) -> f64 {
        let window = u64::from(window).clamp(1, SLOTS - 1);
        let mut total = 0u64;
        for s in now_second.saturating_sub(window)..now_second {
            let slot = slot(s);
            if self.second[slot] == s {
                total += u64::from(self.counts[slot][op as usize]);
            }
        }
        total as f64 / window as f64
    }
}
