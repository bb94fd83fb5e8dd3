//! Iterators. Weakly consistent and exact-once (see `raw/scan.rs` for the
//! argument): an iterator never blocks writers, is never blocked by a resize,
//! yields no key twice, yields every key present for the whole iteration, and
//! yields no key that was never present.
//!
//! [`Iter`] pins per chunk of buckets, not for the whole map: each yielded
//! [`Ref`] carries its own (nested, cheap) pin, so only the items you keep
//! hold reclamation back. [`PinnedIter`] (from a [`Pinned`](crate::Pinned)
//! handle) uses the handle's one guard and yields plain references.

use std::fmt;

use crate::raw::entry::Entry;
use crate::raw::pin_for_read;
use crate::raw::{scan, RawMap};
use crate::refs::{KeyRef, Ref};
use crate::sync::epoch::Guard;

/// The scan position shared by every iterator: a shard, a position cursor in
/// it, and the entries of the current chunk.
pub(crate) struct Scan<K, V> {
    shard: usize,
    cursor: u64,
    batch: Vec<*const Entry<K, V>>,
    next: usize,
}

impl<K, V> Scan<K, V> {
    pub(crate) fn new() -> Self {
        Scan {
            shard: 0,
            cursor: 0,
            batch: Vec::new(),
            next: 0,
        }
    }
}

impl<K, V> Scan<K, V> {
    /// The next entry of the current chunk. Valid while the guard that
    /// `refill` used is pinned.
    #[inline(always)]
    pub(crate) fn pop(&mut self) -> Option<*const Entry<K, V>> {
        let entry = *self.batch.get(self.next)?;
        self.next += 1;
        Some(entry)
    }

    /// Collects the next non-empty chunk under `guard`. False when the whole
    /// map has been scanned.
    ///
    /// Out of line: once per chunk, and inlined it would make every
    /// iterator's `next` (once per entry) save and restore the registers the
    /// scan needs.
    #[inline(never)]
    pub(crate) fn refill(&mut self, raw: &RawMap<K, V>, guard: &Guard) -> bool {
        self.batch.clear();
        self.next = 0;
        let shard_bits = raw.policy().shard_bits;
        while let Some(shard) = raw.shards().get(self.shard) {
            // Chunks are collected straight into the reusable batch.
            match scan::next_chunk(shard, self.cursor, shard_bits, guard, &mut self.batch) {
                Some(cursor) => self.cursor = cursor,
                None => {
                    self.shard += 1;
                    self.cursor = 0;
                }
            }
            if !self.batch.is_empty() {
                return true;
            }
        }
        false
    }
}

/// Guarded entries of a map; see [`HashMap::iter`](crate::HashMap::iter).
///
/// ```
/// let map = evacmap::HashMap::new();
/// for i in 0..100 {
///     map.insert(i, i * 2);
/// }
/// let iter: evacmap::Iter<'_, i32, i32> = map.iter();
/// let doubled = iter.filter(|r| *r.value() == r.key() * 2).count();
/// assert_eq!(doubled, 100);
/// ```
pub struct Iter<'a, K, V> {
    raw: &'a RawMap<K, V>,
    scan: Scan<K, V>,
    /// Pinned while the current chunk's entries are being yielded.
    guard: Option<Guard>,
}

impl<'a, K, V> Iter<'a, K, V> {
    pub(crate) fn new(raw: &'a RawMap<K, V>) -> Self {
        Iter {
            raw,
            scan: Scan::new(),
            guard: None,
        }
    }
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = Ref<'a, K, V>;

    #[inline]
    fn next(&mut self) -> Option<Ref<'a, K, V>> {
        loop {
            if let Some(entry) = self.scan.pop() {
                // SAFETY: collected under `self.guard`, still pinned.
                return Some(unsafe { Ref::repinned(&*entry) });
            }
            // Unpin between chunks so a long iteration does not hold back
            // reclamation, then pin afresh for the next chunk.
            self.guard = None;
            let guard = pin_for_read();
            if !self.scan.refill(self.raw, &guard) {
                return None;
            }
            self.guard = Some(guard);
        }
    }
}

/// Guarded keys; see [`HashMap::keys`](crate::HashMap::keys).
///
/// ```
/// let map = evacmap::HashMap::new();
/// map.insert(3, "c");
/// map.insert(1, "a");
/// let keys: evacmap::Keys<'_, i32, &str> = map.keys();
/// assert_eq!(keys.map(|k| *k).max(), Some(3));
/// ```
pub struct Keys<'a, K, V>(Iter<'a, K, V>);

impl<'a, K, V> Keys<'a, K, V> {
    pub(crate) fn new(iter: Iter<'a, K, V>) -> Self {
        Keys(iter)
    }
}

impl<'a, K, V> Iterator for Keys<'a, K, V> {
    type Item = KeyRef<'a, K, V>;
    fn next(&mut self) -> Option<KeyRef<'a, K, V>> {
        self.0.next().map(Ref::into_key_ref)
    }
}

/// Guarded values; see [`HashMap::values`](crate::HashMap::values).
///
/// ```
/// let map = evacmap::HashMap::new();
/// map.insert("a", 1);
/// map.insert("b", 2);
/// let values: evacmap::Values<'_, &str, i32> = map.values();
/// assert_eq!(values.map(|v| *v).sum::<i32>(), 3);
/// ```
pub struct Values<'a, K, V>(Iter<'a, K, V>);

impl<'a, K, V> Values<'a, K, V> {
    pub(crate) fn new(iter: Iter<'a, K, V>) -> Self {
        Values(iter)
    }
}

impl<'a, K, V> Iterator for Values<'a, K, V> {
    type Item = Ref<'a, K, V>;
    #[inline]
    fn next(&mut self) -> Option<Ref<'a, K, V>> {
        self.0.next()
    }
}

/// Key/value references under a [`Pinned`](crate::Pinned) handle's guard.
///
/// ```
/// let map = evacmap::HashMap::new();
/// map.insert("a", 1);
/// map.insert("b", 2);
/// let pinned = map.pin();
/// let iter: evacmap::PinnedIter<'_, &str, i32> = pinned.iter();
/// let (key, value) = iter.max_by_key(|&(_, v)| *v).unwrap();
/// assert_eq!((*key, *value), ("b", 2));
/// ```
pub struct PinnedIter<'g, K, V> {
    raw: &'g RawMap<K, V>,
    guard: &'g Guard,
    scan: Scan<K, V>,
}

impl<'g, K, V> PinnedIter<'g, K, V> {
    pub(crate) fn new(raw: &'g RawMap<K, V>, guard: &'g Guard) -> Self {
        PinnedIter {
            raw,
            guard,
            scan: Scan::new(),
        }
    }
}

impl<'g, K, V> Iterator for PinnedIter<'g, K, V> {
    type Item = (&'g K, &'g V);

    #[inline]
    fn next(&mut self) -> Option<(&'g K, &'g V)> {
        loop {
            if let Some(entry) = self.scan.pop() {
                // SAFETY: collected under the handle's guard, pinned for 'g.
                let entry = unsafe { &*entry };
                return Some((&entry.key, &entry.value));
            }
            if !self.scan.refill(self.raw, self.guard) {
                return None;
            }
        }
    }
}

macro_rules! opaque_debug {
    ($($name:ident),*) => {$(
        impl<K, V> fmt::Debug for $name<'_, K, V> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    )*};
}
opaque_debug!(Iter, Keys, Values, PinnedIter);
