//! What the cache stores in its map for each key: the value and the entry's
//! policy and expiry state, in atomics next to it.
//!
//! The map's entries are immutable, so everything that changes during an
//! entry's life is an atomic here. Who writes what:
//! - `word` (deadline and access counter): hits, with one relaxed store that
//!   is skipped when nothing would change; the policy lowers the counter with
//!   a compare-and-swap, so it never undoes a hit's deadline extension.
//! - `state`: only the holder of the cache's policy lock.
//! - `weight`, and the [`Times`] of a timed cache: set before the entry is
//!   published, never changed (an update publishes a new entry).
//!
//! All of it is relaxed: no other memory is published through these fields
//! (the entry itself was published by the map with Release), and the policy
//! lock orders every access to `state`.

use crate::sync::{AtomicU64, AtomicU8, Ordering::Relaxed};

use super::policy::{Region, MAX_FREQ};

/// A deadline that never comes.
pub(crate) const NEVER: u64 = u64::MAX >> 2;

/// The cache's map value: the user's value and its metadata. `T` is `()` for
/// a cache without expiry, [`Times`] for one with.
pub(crate) struct Slot<V, T> {
    pub(crate) value: V,
    pub(crate) meta: Meta,
    pub(crate) times: T,
}

/// The per-entry policy state.
pub(crate) struct Meta {
    /// `deadline << 2 | counter`: the time (nanoseconds on the cache's clock)
    /// from which the entry is expired, and its saturating access counter.
    word: AtomicU64,
    weight: u32,
    /// One of the `UNPLACED`.. `REMOVED` states below.
    state: AtomicU8,
}

/// In the map, not yet seen by the policy (its insert is in flight).
const UNPLACED: u8 = 0;
const SMALL: u8 = 1;
const MAIN: u8 = 2;
/// Out of the policy's books: removed, or removed before it was placed.
const REMOVED: u8 = 3;

/// Where an entry stands with the policy lock's holder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Standing {
    /// Published by an insert that has not told the policy yet.
    Unplaced,
    /// Accounted for by the policy, in this region.
    Placed(Region),
    /// Out of the policy's books.
    Removed,
}

impl Meta {
    pub(crate) fn new(weight: u32, deadline: u64) -> Self {
        Meta {
            word: AtomicU64::new(deadline.min(NEVER) << 2),
            weight,
            state: AtomicU8::new(UNPLACED),
        }
    }

    pub(crate) fn weight(&self) -> u32 {
        self.weight
    }

    /// The deadline: the entry is expired at and after it.
    #[inline]
    pub(crate) fn deadline(&self) -> u64 {
        self.word.load(Relaxed) >> 2
    }

    #[inline]
    pub(crate) fn freq(&self) -> u8 {
        (self.word.load(Relaxed) & 3) as u8
    }

    /// A hit: raises the counter and moves the deadline to `deadline`
    /// (`None`: leaves it), with one relaxed store, none if nothing changes.
    #[inline]
    pub(crate) fn touch(&self, deadline: Option<u64>) {
        let word = self.word.load(Relaxed);
        let freq = (word & 3).min(u64::from(MAX_FREQ) - 1) + 1;
        let deadline = deadline.map_or(word >> 2, |d| d.min(NEVER));
        let new = deadline << 2 | freq;
        // inject: cache-access-never-recorded
        if new != word {
            self.word.store(new, Relaxed);
        }
    }

    /// Sets the counter (the policy lowering it), leaving the deadline as a
    /// racing hit may just have set it.
    pub(crate) fn set_freq(&self, freq: u8) {
        let _ = self.word.fetch_update(Relaxed, Relaxed, |word| {
            Some(word & !3 | u64::from(freq.min(MAX_FREQ)))
        });
    }

    pub(crate) fn standing(&self) -> Standing {
        match self.state.load(Relaxed) {
            UNPLACED => Standing::Unplaced,
            SMALL => Standing::Placed(Region::Small),
            MAIN => Standing::Placed(Region::Main),
            _ => Standing::Removed,
        }
    }

    /// Under the policy lock only.
    pub(crate) fn set_region(&self, region: Region) {
        let state = match region {
            Region::Small => SMALL,
            Region::Main => MAIN,
        };
        self.state.store(state, Relaxed);
    }

    /// Under the policy lock only.
    pub(crate) fn set_removed(&self) {
        self.state.store(REMOVED, Relaxed);
    }
}

/// The times a cache with expiry keeps per entry (nanoseconds on its clock).
pub(crate) struct Times {
    /// When this entry was written (inserted or updated): time to live
    /// counts from here.
    pub(crate) written: u64,
    /// The deadline the user's [`Expiry`](super::Expiry) set, `NEVER` if
    /// none; reads may move it.
    pub(crate) custom: AtomicU64,
}

/// The per-entry times of a cache: none, or [`Times`].
pub(crate) trait Timing: Send + Sync + 'static {
    /// Whether entries can expire at all: a cache without expiry never
    /// reads its clock on a hit.
    const TIMED: bool;
    fn new(written: u64, custom: u64) -> Self;
    fn written(&self) -> u64;
    fn custom(&self) -> u64;
    fn set_custom(&self, deadline: u64);
}

impl Timing for () {
    const TIMED: bool = false;
    fn new(_: u64, _: u64) -> Self {}
    fn written(&self) -> u64 {
        0
    }
    fn custom(&self) -> u64 {
        NEVER
    }
    fn set_custom(&self, _: u64) {}
}

impl Timing for Times {
    const TIMED: bool = true;
    fn new(written: u64, custom: u64) -> Self {
        Times {
            written,
            custom: AtomicU64::new(custom.min(NEVER)),
        }
    }
    fn written(&self) -> u64 {
        self.written
    }
    fn custom(&self) -> u64 {
        self.custom.load(Relaxed)
    }
    fn set_custom(&self, deadline: u64) {
        self.custom.store(deadline.min(NEVER), Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_slot_of_a_u64_adds_16_bytes() {
        // The memory budget (64 B per u64 -> u64 entry) rests on this.
        assert_eq!(std::mem::size_of::<Slot<u64, ()>>(), 24);
    }

    #[test]
    fn touch_saturates_and_keeps_or_moves_the_deadline() {
        let m = Meta::new(1, 1000);
        assert_eq!((m.freq(), m.deadline()), (0, 1000));
        m.touch(None);
        m.touch(None);
        m.touch(None);
        m.touch(None);
        assert_eq!((m.freq(), m.deadline()), (MAX_FREQ, 1000));
        m.touch(Some(5000));
        assert_eq!((m.freq(), m.deadline()), (MAX_FREQ, 5000));
        m.set_freq(0);
        assert_eq!((m.freq(), m.deadline()), (0, 5000));
        m.touch(Some(u64::MAX));
        assert_eq!(m.deadline(), NEVER);
    }

    #[test]
    fn states_move_under_the_lock() {
        let m = Meta::new(3, NEVER);
        assert_eq!(m.standing(), Standing::Unplaced);
        m.set_region(Region::Small);
        assert_eq!(m.standing(), Standing::Placed(Region::Small));
        m.set_region(Region::Main);
        assert_eq!(m.standing(), Standing::Placed(Region::Main));
        m.set_removed();
        assert_eq!(m.standing(), Standing::Removed);
        assert_eq!(m.weight(), 3);
    }
}
