//! What the cache stores in its map for each key: the value and the entry's
//! policy and expiry state, in atomics next to it.
//!
//! The map's entries are immutable, so everything that changes during an
//! entry's life is an atomic here. Who writes what:
//! - the access word ([`Timing`]: a counter for a cache without expiry,
//!   `deadline << 2 | counter` for one with): hits, with one relaxed store
//!   that is skipped when nothing would change; the policy lowers the
//!   counter (in a timed cache with a compare-and-swap, so that it never
//!   undoes a hit's deadline extension).
//! - `state`: only the holder of the cache's policy lock.
//! - `weight`, and the write time and custom deadline of a timed cache: set
//!   before the entry is published, never changed (an update publishes a new
//!   entry; reads may move the custom deadline, as [`Times`] says).
//!
//! All of it is relaxed: no other memory is published through these fields
//! (the entry itself was published by the map with Release), and the policy
//! lock orders every access to `state`.
//!
//! Size: a cache without expiry adds 8 bytes to its value (`weight`, `state`
//! and the counter share one word), so a `u64 → u64` entry is 32 bytes with
//! the map's hash and key (test `the_plain_slot_of_a_u64_adds_8_bytes`).

use crate::sync::{AtomicU64, AtomicU8, Ordering::Relaxed};

use super::policy::{Region, MAX_FREQ};

/// A deadline that never comes.
pub(crate) const NEVER: u64 = u64::MAX >> 2;

/// The cache's map value: the user's value and its metadata. `T` is
/// [`Untimed`] for a cache without expiry, [`Times`] for one with.
pub(crate) struct Slot<V, T> {
    pub(crate) value: V,
    pub(crate) meta: Meta<T>,
}

/// The per-entry policy state, and the entry's access word and times (`T`).
pub(crate) struct Meta<T> {
    weight: u32,
    /// One of the `UNPLACED`.. `REMOVED` states below.
    state: AtomicU8,
    pub(crate) times: T,
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

impl<T> Meta<T> {
    pub(crate) fn new(weight: u32, times: T) -> Self {
        Meta {
            weight,
            state: AtomicU8::new(UNPLACED),
            times,
        }
    }

    pub(crate) fn weight(&self) -> u32 {
        self.weight
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

impl<T: Timing> Meta<T> {
    /// The deadline: the entry is expired at and after it (`NEVER` without
    /// expiry).
    #[inline]
    pub(crate) fn deadline(&self) -> u64 {
        self.times.deadline()
    }

    #[inline]
    pub(crate) fn freq(&self) -> u8 {
        self.times.freq()
    }

    /// A hit: raises the counter and moves the deadline to `deadline`
    /// (`None`: leaves it), with one relaxed store, none if nothing changes.
    #[inline]
    pub(crate) fn touch(&self, deadline: Option<u64>) {
        self.times.touch(deadline);
    }

    /// Sets the counter (the policy lowering it), leaving the deadline as a
    /// racing hit may just have set it.
    pub(crate) fn set_freq(&self, freq: u8) {
        self.times.set_freq(freq.min(MAX_FREQ));
    }
}

/// The per-entry access word and times of a cache: [`Untimed`] or
/// [`Times`].
pub(crate) trait Timing: Send + Sync + 'static {
    /// Whether entries can expire at all: a cache without expiry never
    /// reads its clock on a hit.
    const TIMED: bool;
    /// Written at `written`, expiring at `deadline`, with the user's custom
    /// deadline `custom` (`NEVER` if none).
    fn new(written: u64, custom: u64, deadline: u64) -> Self;
    fn written(&self) -> u64;
    fn custom(&self) -> u64;
    fn set_custom(&self, deadline: u64);
    fn deadline(&self) -> u64;
    fn freq(&self) -> u8;
    /// See [`Meta::touch`].
    fn touch(&self, deadline: Option<u64>);
    /// See [`Meta::set_freq`]; `freq <= MAX_FREQ`.
    fn set_freq(&self, freq: u8);
}

/// The access counter of a cache without expiry.
pub(crate) struct Untimed {
    counter: AtomicU8,
}

impl Timing for Untimed {
    const TIMED: bool = false;
    fn new(_: u64, _: u64, _: u64) -> Self {
        Untimed {
            counter: AtomicU8::new(0),
        }
    }
    fn written(&self) -> u64 {
        0
    }
    fn custom(&self) -> u64 {
        NEVER
    }
    fn set_custom(&self, _: u64) {}
    #[inline]
    fn deadline(&self) -> u64 {
        NEVER
    }
    #[inline]
    fn freq(&self) -> u8 {
        self.counter.load(Relaxed)
    }
    #[inline]
    fn touch(&self, _: Option<u64>) {
        let freq = self.counter.load(Relaxed);
        // inject: cache-access-never-recorded
        if freq < MAX_FREQ {
            self.counter.store(freq + 1, Relaxed);
        }
    }
    /// A plain store: there is no deadline to keep, and a racing hit that
    /// is lost or lands after it leaves a counter the policy tolerates.
    fn set_freq(&self, freq: u8) {
        self.counter.store(freq, Relaxed);
    }
}

/// The access word and times a cache with expiry keeps per entry
/// (nanoseconds on its clock).
pub(crate) struct Times {
    /// `deadline << 2 | counter`: the time from which the entry is expired,
    /// and its saturating access counter, so that a hit that extends the
    /// deadline (time to idle) and counts itself does one store.
    word: AtomicU64,
    /// When this entry was written (inserted or updated): time to live
    /// counts from here.
    pub(crate) written: u64,
    /// The deadline the user's [`Expiry`](super::Expiry) set, `NEVER` if
    /// none; reads may move it.
    pub(crate) custom: AtomicU64,
}

impl Timing for Times {
    const TIMED: bool = true;
    fn new(written: u64, custom: u64, deadline: u64) -> Self {
        Times {
            word: AtomicU64::new(deadline.min(NEVER) << 2),
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
    #[inline]
    fn deadline(&self) -> u64 {
        self.word.load(Relaxed) >> 2
    }
    #[inline]
    fn freq(&self) -> u8 {
        (self.word.load(Relaxed) & 3) as u8
    }
    #[inline]
    fn touch(&self, deadline: Option<u64>) {
        let word = self.word.load(Relaxed);
        let freq = (word & 3).min(u64::from(MAX_FREQ) - 1) + 1;
        let deadline = deadline.map_or(word >> 2, |d| d.min(NEVER));
        let new = deadline << 2 | freq;
        // inject: cache-access-never-recorded-timed
        if new != word {
            self.word.store(new, Relaxed);
        }
    }
    fn set_freq(&self, freq: u8) {
        let _ = self
            .word
            .fetch_update(Relaxed, Relaxed, |word| Some(word & !3 | u64::from(freq)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_slot_of_a_u64_adds_8_bytes() {
        // The memory budget (64 B per u64 -> u64 entry) rests on this.
        assert_eq!(std::mem::size_of::<Slot<u64, Untimed>>(), 16);
    }

    #[test]
    fn touch_saturates_and_keeps_or_moves_the_deadline() {
        let m = Meta::new(1, Times::new(0, NEVER, 1000));
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
    fn an_untimed_counter_saturates_and_never_expires() {
        let m = Meta::new(1, Untimed::new(0, NEVER, 0));
        assert_eq!((m.freq(), m.deadline()), (0, NEVER));
        for _ in 0..5 {
            m.touch(Some(7));
        }
        assert_eq!((m.freq(), m.deadline()), (MAX_FREQ, NEVER));
        m.set_freq(1);
        assert_eq!(m.freq(), 1);
    }

    #[test]
    fn states_move_under_the_lock() {
        let m = Meta::new(3, Untimed::new(0, NEVER, NEVER));
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
