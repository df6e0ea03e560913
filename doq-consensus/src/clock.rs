//! The wall clock. Only proposers read it; the time they read travels inside each command.
use std::time::{SystemTime, UNIX_EPOCH};

use doq_api::{Clock, Timestamp};

/// The system clock in Unix milliseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        Timestamp(u64::try_from(ms).unwrap_or(u64::MAX))
    }
}
