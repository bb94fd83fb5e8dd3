//! The policy's view of the cache's map ([`Store`]), for one session: the
//! policy lock held, an epoch guard pinned. Handles are the map's entries,
//! reached under that guard.
//!
//! Evictions go through the map's identity removal, which runs no user
//! code, so nothing the policy does under its lock can panic or re-enter
//! the cache. An eviction can lose a race with a thread that removed or
//! replaced the same entry without the policy lock; whoever first marks the
//! entry `Removed` under the lock accounts for it (`Core::retire`), so the
//! entry leaves the policy's books exactly once either way, and only the
//! thread whose swap took it out of the map reports its departure.

use std::hash::{BuildHasher, Hash};

use super::listener::{RemovalCause, Removals};
use super::policy::{Region, Store};
use super::slot::{Slot, Standing, Timing};
use super::stats::Stats;
use crate::seam::Entry;
use crate::sync::epoch::Guard;
use crate::HashMap;

/// One bucket's entries, in hash order, from the hand's last walk.
pub(crate) struct Walk<K, V, T> {
    entries: Vec<*const Entry<K, Slot<V, T>>>,
    /// The entries came from hashes `from..` up to `next` (exclusive; `None`:
    /// the end of the hash space).
    from: u64,
    next: Option<u64>,
}

// SAFETY: the pointers are only dereferenced within the session that
// collected them (under its guard), and `clear`ed when it ends; the buffer
// itself moves between threads with the policy lock.
unsafe impl<K: Send, V: Send, T: Send> Send for Walk<K, V, T> {}

impl<K, V, T> Walk<K, V, T> {
    pub(crate) fn new() -> Self {
        Walk {
            entries: Vec::new(),
            from: 0,
            next: Some(0),
        }
    }

    /// Forgets the entries (their guard is about to go).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.next = Some(self.from);
    }
}

pub(crate) struct MapStore<'s, 'g, K, V, S, T> {
    pub(crate) map: &'s HashMap<K, Slot<V, T>, S>,
    pub(crate) guard: &'g Guard,
    pub(crate) walk: &'s mut Walk<K, V, T>,
    pub(crate) removals: &'s mut Removals<'g, K, V, T>,
    pub(crate) stats: &'s Stats,
    /// Now, on the cache's clock (unused without expiry).
    pub(crate) now: u64,
}

impl<'g, K, V, S, T> Store for MapStore<'_, 'g, K, V, S, T>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
    T: Timing,
{
    type Handle = &'g Entry<K, Slot<V, T>>;

    fn hash(&self, entry: Self::Handle) -> u64 {
        entry.hash
    }

    fn id(&self, entry: Self::Handle) -> u64 {
        entry as *const Entry<K, Slot<V, T>> as usize as u64
    }

    fn weight(&self, entry: Self::Handle) -> u64 {
        u64::from(entry.value.meta.weight())
    }

    fn find(&mut self, hash: u64, id: u64) -> Option<Self::Handle> {
        self.map
            .lookup_exact(hash, id as usize as *const Entry<K, Slot<V, T>>, self.guard)
    }

    fn freq(&self, entry: Self::Handle) -> u8 {
        entry.value.meta.freq()
    }

    fn set_freq(&self, entry: Self::Handle, freq: u8) {
        entry.value.meta.set_freq(freq);
    }

    fn region(&self, entry: Self::Handle) -> Region {
        match entry.value.meta.standing() {
            Standing::Placed(region) => region,
            // In-flight inserts are not the policy's yet: like new keys,
            // the hand leaves them alone.
            Standing::Unplaced | Standing::Removed => Region::Small,
        }
    }

    fn set_region(&self, entry: Self::Handle, region: Region) {
        entry.value.meta.set_region(region);
    }

    fn expired(&self, entry: Self::Handle) -> bool {
        T::TIMED && self.now >= entry.value.meta.deadline()
    }

    fn next_in_order(&mut self, hand: &mut u64) -> Option<Self::Handle> {
        let mut wrapped = false;
        loop {
            let covered =
                self.walk.from <= *hand && self.walk.next.map_or(true, |next| *hand < next);
            if covered {
                // SAFETY: collected under `self.guard` in this session.
                let found = self
                    .walk
                    .entries
                    .iter()
                    .map(|&e| unsafe { &*e })
                    .find(|e| e.hash >= *hand);
                if let Some(entry) = found {
                    *hand = entry.hash.wrapping_add(1);
                    return Some(entry);
                }
                match self.walk.next {
                    Some(next) => *hand = next,
                    None => *hand = 0,
                }
            }
            // Collect the next bucket (the first non-empty one from the hand).
            self.walk.entries.clear();
            self.walk.from = *hand;
            self.walk.next = self
                .map
                .collect_from(*hand, self.guard, &mut self.walk.entries);
            if self.walk.entries.is_empty() {
                // Nothing from the hand to the end of the hash space.
                if *hand == 0 || wrapped {
                    self.walk.next = Some(self.walk.from);
                    return None;
                }
                wrapped = true;
                *hand = 0;
                self.walk.next = Some(0);
                continue;
            }
            // SAFETY: as above.
            self.walk
                .entries
                .sort_unstable_by_key(|&e| unsafe { (*e).hash });
        }
    }

    fn requests(&mut self) -> u64 {
        self.stats.requests()
    }

    fn evict(&mut self, entry: Self::Handle) -> bool {
        if self.map.unpublish_exact(self.guard, entry) {
            let cause = if self.expired(entry) {
                RemovalCause::Expired
            } else {
                RemovalCause::Size
            };
            self.removals.push(entry, cause);
        }
        // Gone either way: if a racing write took it out of the map first,
        // that writer finds it `Removed` and leaves the accounting to us.
        entry.value.meta.set_removed();
        true
    }
}
