//! The policy's view of the cache's map ([`Store`]), for one session: the
//! policy lock held, an epoch guard pinned. Handles are the map's entries,
//! reached under that guard.
//!
//! Evictions go through the map's identity removal, which runs no user
//! code, so nothing the policy does under its lock can panic or re-enter
//! the cache. An eviction can lose a race with a thread that removed or
//! replaced the same entry without the policy lock; whoever first marks the
//! entry `Removed` under the lock accounts for it (`Session::retire`), so the
//! entry leaves the policy's books exactly once either way, and only the
//! thread whose swap took it out of the map reports its departure.
//!
//! # Entry pointers kept between sessions
//! Two structures here hold entry pointers while no guard is pinned, to
//! spare the policy a map lookup per step. Both rest on one fact: **an entry
//! is freed only after it was retired under the policy lock** (every path
//! that takes an entry out of the map, a writer's or an eviction's, holds an
//! epoch guard from the removal until its session has retired the entry,
//! and retirement is what lets the epoch free it). So a pointer the policy
//! lock's holder has not been told is retired stays dereferenceable.
//! - [`Walk`], the CLOCK hand's current bucket: every retirement forgets it
//!   (`Walk::invalidate`), an eviction just the evicted entry. It must also
//!   hold every *placed* entry of its hash range, or the hand would pass
//!   over an entry placed there after the bucket was collected until its
//!   next lap, giving it a lap of protection no other entry gets (the
//!   policy's walk is hash order over all its entries, as the replay's
//!   store has it): a placement in the range collects the bucket again
//!   (`Walk::placed`). An entry published but not yet placed may be missing
//!   from it; the hand passes over such entries anyway.
//! - The small queue's items: [`Store::find`] trusts an item's id unless the
//!   id is marked stale; `Session::retire` and `Session::place` mark an entry
//!   stale when it leaves `Small` without its item (a removal or
//!   replacement), and `find` consumes one mark with the item. Marks are
//!   counted per address: an address freed and reused by new small entries,
//!   each removed in turn, leaves one stale item per removal, all earlier in
//!   the FIFO than the address's live item (if any), so they consume the
//!   marks before the live item is met.

use std::collections::HashMap as StdHashMap;
use std::hash::{BuildHasher, Hash};

use super::listener::{RemovalCause, Removals};
use super::policy::{Region, Store};
use super::slot::{Slot, Standing, Timing};
use super::stats::Stats;
use crate::seam::Entry;
use crate::sync::epoch::Guard;
use crate::HashMap;

/// One bucket's entries, in hash order, from the hand's last walk; kept
/// between sessions (see the module docs).
pub(crate) struct Walk<K, V, T> {
    entries: Vec<*const Entry<K, Slot<V, T>>>,
    /// The entries came from hashes `from..` up to `next` (exclusive; `None`:
    /// the end of the hash space).
    from: u64,
    next: Option<u64>,
}

// SAFETY: the pointers are dereferenced only under the policy lock, while
// the entries they point at are not yet retired (module docs); the buffer
// moves between threads with the lock.
unsafe impl<K: Send, V: Send, T: Send> Send for Walk<K, V, T> {}

impl<K, V, T> Walk<K, V, T> {
    pub(crate) fn new() -> Self {
        Walk {
            entries: Vec::new(),
            from: 0,
            next: Some(0),
        }
    }

    /// Forgets the bucket: an entry was retired, and any pointer here may
    /// be freed once the retiring session ends.
    pub(crate) fn invalidate(&mut self) {
        self.entries.clear();
        self.next = Some(self.from);
    }

    /// Forgets one entry (evicted in this session).
    fn forget(&mut self, entry: *const Entry<K, Slot<V, T>>) {
        self.entries.retain(|&e| e != entry);
    }

    /// An entry with this hash was just placed: if the kept bucket's range
    /// holds its hash, the bucket is collected again, so that the hand
    /// meets the new entry on this lap as the map's order has it.
    pub(crate) fn placed(&mut self, hash: u64) {
        if self.from <= hash && self.next.map_or(true, |next| hash < next) {
            self.invalidate();
        }
    }
}

/// For each address, how many small queue items that name it are stale
/// (their entry left `Small` while the item stayed): the items
/// [`Store::find`] must not trust (module docs).
pub(crate) type Stale = StdHashMap<usize, u32, foldhash::fast::FixedState>;

pub(crate) struct MapStore<'s, 'g, K, V, S, T> {
    pub(crate) map: &'s HashMap<K, Slot<V, T>, S>,
    pub(crate) guard: &'g Guard,
    pub(crate) walk: &'s mut Walk<K, V, T>,
    pub(crate) stale: &'s mut Stale,
    pub(crate) removals: &'s mut Removals<'g, K, V, T>,
    pub(crate) stats: &'s Stats,
    /// Now, on the cache's clock (unused without expiry).
    pub(crate) now: u64,
}

impl<'g, K, V, S, T> MapStore<'_, 'g, K, V, S, T> {
    /// Marks `entry`, which is leaving `Small` while its queue item stays,
    /// so that `find` drops the item.
    pub(crate) fn mark_stale(&mut self, entry: &Entry<K, Slot<V, T>>) {
        *self
            .stale
            .entry(entry as *const Entry<K, Slot<V, T>> as usize)
            .or_default() += 1;
    }
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

    /// The small queue's items only (the policy's one caller): trusts the
    /// id unless it is marked stale (module docs), without a map lookup.
    fn find(&mut self, _hash: u64, id: u64) -> Option<Self::Handle> {
        if !self.stale.is_empty() {
            if let Some(marks) = self.stale.get_mut(&(id as usize)) {
                *marks -= 1;
                if *marks == 0 {
                    self.stale.remove(&(id as usize));
                }
                return None;
            }
        }
        let entry = id as usize as *const Entry<K, Slot<V, T>>;
        // SAFETY: an unmarked item's entry has not been retired (a removal
        // or replacement of a small entry marks it first), so it is not
        // freed: it is in the map, or taken out by a writer whose guard
        // keeps it until that writer's session retires it.
        Some(unsafe { &*entry })
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
                // SAFETY: not retired since collected (module docs).
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
        self.walk.forget(entry);
        true
    }
}
