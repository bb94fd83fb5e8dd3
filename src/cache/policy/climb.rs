//! Hill climbing of the small queue's share of the capacity.
//!
//! A bigger small queue gives new keys longer to prove themselves (good for
//! recency-heavy workloads, where a key's second request comes soon); a
//! smaller one leaves more room to the protected main region (good for
//! frequency-heavy ones). The climber measures the hit ratio over periods of
//! twenty requests per entry, moves the share by a step, keeps the
//! direction while the hit ratio improves and turns back when it drops. The
//! step decays so the share settles; a large change of hit ratio (a new
//! workload) restores the full step.
//!
//! The hit ratio is `1 - misses / requests` over the period, where misses
//! are the policy's inserts of new keys and requests come from
//! [`Store::requests`], read once every [`CHECK_EVERY`] misses.
//!
//! Invariant: `MIN_SHARE <= share <= MAX_SHARE`.

use super::Store;

/// Bounds of the small queue's share of the capacity.
pub(crate) const MIN_SHARE: f64 = 0.002;
pub(crate) const MAX_SHARE: f64 = 0.25;
/// The share before any adaptation: between W-TinyLFU's 1% window and
/// S3-FIFO's 10% small queue, so that short traces (where the climber has
/// little time) still give a new key a chance to be hit before it leaves.
pub(crate) const INITIAL_SHARE: f64 = 0.05;
/// The first step, and the step after a restart.
const INITIAL_STEP: f64 = 0.03;
/// The step shrinks by this factor each period.
const DECAY: f64 = 0.98;
/// A hit-ratio change this large restarts with the full step.
const RESTART: f64 = 0.05;
/// Requests per entry in one period.
const PERIOD_PER_ENTRY: u64 = 20;
/// The shortest period, in requests.
const MIN_PERIOD: u64 = 1024;
/// Misses between two readings of the request count.
const CHECK_EVERY: u64 = 64;

/// The climber's state.
pub(crate) struct Climb {
    enabled: bool,
    share: f64,
    step: f64,
    misses: u64,
    start: Option<u64>,
    previous: Option<f64>,
}

impl Climb {
    pub(crate) fn new(enabled: bool) -> Self {
        Climb {
            enabled,
            share: INITIAL_SHARE,
            step: INITIAL_STEP,
            misses: 0,
            start: None,
            previous: None,
        }
    }

    /// The small queue's current share of the capacity.
    pub(crate) fn share(&self) -> f64 {
        self.share
    }

    /// Records one miss; at the end of a period, moves the share. `entries`
    /// is how many entries the policy holds.
    pub(crate) fn on_miss<S: Store>(&mut self, store: &mut S, entries: u64) {
        if !self.enabled {
            return;
        }
        self.misses += 1;
        if self.misses % CHECK_EVERY != 0 {
            return;
        }
        let now = store.requests();
        let start = *self.start.get_or_insert(now);
        let elapsed = now.saturating_sub(start);
        if elapsed < (PERIOD_PER_ENTRY * entries).max(MIN_PERIOD) {
            return;
        }
        let hit = 1.0 - (self.misses as f64 / elapsed as f64).min(1.0);
        self.adjust(hit);
        self.misses = 0;
        self.start = Some(now);
    }

    /// One step, given the hit ratio of the period that just ended.
    fn adjust(&mut self, hit: f64) {
        if let Some(previous) = self.previous {
            let change = hit - previous;
            if change < 0.0 {
                self.step = -self.step;
            }
            if change.abs() >= RESTART {
                self.step = INITIAL_STEP.copysign(self.step);
            } else {
                self.step *= DECAY;
            }
        }
        self.previous = Some(hit);
        self.share = (self.share + self.step).clamp(MIN_SHARE, MAX_SHARE);
    }

    /// Back to the start.
    pub(crate) fn clear(&mut self) {
        *self = Climb::new(self.enabled);
    }
}

// Not under Miri: see `mod tests` in policy/mod.rs.
#[cfg(all(test, not(miri)))]
mod tests {
    use super::*;

    #[test]
    fn keeps_direction_while_improving_and_turns_back_on_a_drop() {
        let mut c = Climb::new(true);
        c.adjust(0.30);
        let first = c.share();
        assert!(first > INITIAL_SHARE);
        c.adjust(0.31);
        let second = c.share();
        assert!(second > first, "an improvement keeps the direction");
        c.adjust(0.29);
        assert!(c.share() < second, "a drop turns back");
    }

    #[test]
    fn stays_in_bounds() {
        let mut c = Climb::new(true);
        let mut hit = 0.0;
        for _ in 0..1000 {
            hit += 0.0001;
            c.adjust(hit);
            assert!((MIN_SHARE..=MAX_SHARE).contains(&c.share()));
        }
        assert_eq!(c.share(), MAX_SHARE);
    }
}
