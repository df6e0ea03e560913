//! `Stamper`: the time a proposer stamps into each command (docs/semantics.md §1).
//!
//! A stamp never goes below the last one, so the replicated clock never runs backwards. Taking the
//! wall clock alone, clamped to the last stamp, is not enough: when the proposer's wall clock jumps
//! back, every stamp would stay at the last one until the wall clock caught up, so replicated time
//! would stand still, and a lease granted meanwhile would be stamped as if granted at the moment of
//! the jump. Once the clock came back, such a lease expired early by however long time had stood
//! still: another consumer got the message while the first still held it (the fault checker's
//! `clock-jump` found exactly that). So the stamper carries its last stamp forward on the monotonic
//! clock, and the wall clock only ever moves stamps ahead of that.
//!
//! A wall clock that jumps *forward* on the proposer still moves replicated time forward: delayed
//! priorities are Unix times, so replicated time must follow the wall clock, and leases granted
//! before such a jump then end early by its size.
use std::time::Duration;

use doq_api::{Clock, Timestamp};

/// Stamps for one proposer. It starts with no history; the first stamp is the wall clock or the floor.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Stamper {
    /// The last stamp that moved ahead of the carried time, and the monotonic reading when it did.
    anchor: Option<(Timestamp, Duration)>,
}

impl Stamper {
    /// The stamp for the next command: the latest of the wall clock, `floor` (the last stamp this
    /// node applied, whoever proposed it) and this stamper's last anchor carried forward by the
    /// monotonic time since.
    pub(crate) fn next(&mut self, clock: &dyn Clock, floor: Timestamp) -> Timestamp {
        self.next_at(clock.now(), clock.monotonic(), floor)
    }

    fn next_at(&mut self, wall: Timestamp, monotonic: Duration, floor: Timestamp) -> Timestamp {
        let carried = self.anchor.map(|(stamp, at)| {
            let passed = monotonic.saturating_sub(at).as_millis();
            Timestamp(
                stamp
                    .0
                    .saturating_add(u64::try_from(passed).unwrap_or(u64::MAX)),
            )
        });
        let stamp = wall.max(floor).max(carried.unwrap_or_default());
        // Re-anchor only when the wall clock or the floor moved ahead: re-anchoring on every stamp
        // would drop the sub-millisecond remainder each time and stall time under a fast stream.
        if carried.is_none_or(|c| stamp > c) {
            self.anchor = Some((stamp, monotonic));
        }
        stamp
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use doq_api::Timestamp;

    use super::Stamper;

    const T0: u64 = 1_800_000_000_000;
    const HOUR: u64 = 3_600_000;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn stamps_follow_the_wall_clock_while_it_runs_normally() {
        let mut s = Stamper::default();
        assert_eq!(s.next_at(Timestamp(T0), ms(0), Timestamp(0)), Timestamp(T0));
        assert_eq!(
            s.next_at(Timestamp(T0 + 250), ms(250), Timestamp(0)),
            Timestamp(T0 + 250)
        );
        // The wall clock slightly ahead of the monotonic one (NTP slewing) wins.
        assert_eq!(
            s.next_at(Timestamp(T0 + 1_000), ms(990), Timestamp(0)),
            Timestamp(T0 + 1_000)
        );
    }

    #[test]
    fn a_wall_clock_jumping_back_an_hour_neither_freezes_time_nor_moves_it_back() {
        let mut s = Stamper::default();
        assert_eq!(s.next_at(Timestamp(T0), ms(0), Timestamp(0)), Timestamp(T0));
        // Ten seconds later the wall clock reads an hour earlier: stamps keep the real pace, so a
        // lease granted now is stamped now and lasts its whole ack timeout.
        assert_eq!(
            s.next_at(Timestamp(T0 + 10_000 - HOUR), ms(10_000), Timestamp(0)),
            Timestamp(T0 + 10_000)
        );
        assert_eq!(
            s.next_at(Timestamp(T0 + 25_000 - HOUR), ms(25_000), Timestamp(0)),
            Timestamp(T0 + 25_000)
        );
        // The clock comes back: the stamps agree with it again, without a jump.
        assert_eq!(
            s.next_at(Timestamp(T0 + 30_000), ms(30_000), Timestamp(0)),
            Timestamp(T0 + 30_000)
        );
    }

    #[test]
    fn many_stamps_within_one_millisecond_do_not_stall_time() {
        let mut s = Stamper::default();
        s.next_at(Timestamp(T0 - HOUR), ms(0), Timestamp(T0));
        // 10,000 stamps 100 µs apart with the wall clock an hour behind: one second passes.
        let mut last = Timestamp(0);
        for i in 1..=10_000u64 {
            last = s.next_at(
                Timestamp(T0 - HOUR),
                Duration::from_micros(i * 100),
                Timestamp(0),
            );
        }
        assert_eq!(last, Timestamp(T0 + 1_000));
    }

    #[test]
    fn a_new_leader_carries_on_from_the_last_applied_stamp() {
        // This node's clock is an hour behind; the old leader's last stamp is the floor.
        let mut s = Stamper::default();
        assert_eq!(
            s.next_at(Timestamp(T0 - HOUR), ms(500), Timestamp(T0)),
            Timestamp(T0)
        );
        assert_eq!(
            s.next_at(Timestamp(T0 - HOUR), ms(2_500), Timestamp(T0)),
            Timestamp(T0 + 2_000)
        );
        // A floor ahead of the carried time (another leader stamped later meanwhile) wins.
        assert_eq!(
            s.next_at(Timestamp(T0 - HOUR), ms(3_000), Timestamp(T0 + 9_000)),
            Timestamp(T0 + 9_000)
        );
        assert_eq!(
            s.next_at(Timestamp(T0 - HOUR), ms(4_000), Timestamp(0)),
            Timestamp(T0 + 10_000)
        );
    }
}
