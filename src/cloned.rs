//! [`ClonedIter`]: a `Send` iterator of cloned entries, for loops whose body
//! `.await`s.
//!
//! It walks the map with the same chunked scan as [`Iter`](crate::Iter)
//! (`raw/scan.rs`), so it keeps the same contract (weakly consistent,
//! exact-once), but it clones each chunk's keys and values while the chunk's
//! pin is held and unpins before yielding the first of them. Between two
//! calls to `next` it holds no guard and no pointer into the map, only owned
//! clones and a cursor, which is why it can be `Send` and be kept across an
//! `.await` (or moved to another thread) without delaying reclamation.

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::iter::FusedIterator;

use crate::raw::entry::Entry;
use crate::raw::pin_for_read;
use crate::raw::scan;
use crate::HashMap;

/// Owned `(K, V)` clones of a map's entries, a chunk at a time; see
/// [`HashMap::iter_cloned`].
///
/// `Send` when the map is `Sync` (keys and values `Send + Sync`): it holds
/// only `&HashMap`, a cursor and owned clones between calls.
///
/// ```
/// let map: evacmap::HashMap<u32, String> = (0..100).map(|i| (i, i.to_string())).collect();
/// let iter = map.iter_cloned();
/// // Owned items, no guard inside: the iterator can go to another thread.
/// let total = std::thread::scope(|s| {
///     s.spawn(move || iter.map(|(k, v)| k as usize + v.len()).sum::<usize>()).join().unwrap()
/// });
/// assert_eq!(total, (0..100).sum::<usize>() + 10 + 90 * 2);
/// ```
pub struct ClonedIter<'a, K, V, S> {
    map: &'a HashMap<K, V, S>,
    /// The shard being scanned, and the scan position inside it: every
    /// position below `cursor` in shard `shard` (and every earlier shard) has
    /// been collected and cloned.
    shard: usize,
    cursor: u64,
    /// The entries of the chunk being cloned; see [`Pointers`].
    pointers: Pointers<K, V>,
    /// Clones of the current chunk, in reverse yield order (popped).
    items: Vec<(K, V)>,
}

/// Entry pointers of one chunk, reused from chunk to chunk for their
/// allocation.
///
/// Invariant: a pointer in it is dereferenced only inside
/// [`ClonedIter::refill`], under the guard that collected it; every refill
/// clears the vector before collecting. Between calls the vector may still
/// hold addresses (when a `Clone` panicked mid-chunk), but nothing ever reads
/// through them again.
struct Pointers<K, V>(Vec<*const Entry<K, V>>);

// SAFETY: by the invariant above, what crosses threads with a `Pointers` is
// at most a list of addresses that are never dereferenced again: no access
// to an entry happens through it outside the pinned call that collected it,
// and that call runs on one thread.
unsafe impl<K, V> Send for Pointers<K, V> {}
// SAFETY: `&Pointers` is never used to reach an entry (only `refill`, which
// has `&mut`, dereferences), so sharing it shares nothing.
unsafe impl<K, V> Sync for Pointers<K, V> {}

impl<'a, K, V, S> ClonedIter<'a, K, V, S>
where
    K: Hash + Eq + Send + 'static + Clone,
    V: Send + 'static + Clone,
    S: BuildHasher,
{
    fn new(map: &'a HashMap<K, V, S>) -> Self {
        ClonedIter {
            map,
            shard: 0,
            cursor: 0,
            pointers: Pointers(Vec::new()),
            items: Vec::new(),
        }
    }

    /// Collects and clones the next non-empty chunk, under a pin dropped
    /// before returning. False when the whole map has been scanned.
    ///
    /// The cursor moves only after the whole chunk is cloned: if a `Clone`
    /// panics, the chunk's clones are dropped and the next call collects the
    /// same range again, so nothing is skipped or yielded twice.
    #[inline(never)]
    fn refill(&mut self) -> bool {
        let raw = &self.map.raw;
        let shard_bits = raw.policy().shard_bits;
        let mut items = std::mem::take(&mut self.items);
        while let Some(shard) = raw.shards().get(self.shard) {
            let guard = pin_for_read();
            self.pointers.0.clear();
            let next =
                scan::next_chunk(shard, self.cursor, shard_bits, &guard, &mut self.pointers.0);
            items.clear();
            items.reserve(self.pointers.0.len());
            for &entry in self.pointers.0.iter().rev() {
                // SAFETY: collected just now under `guard`, still pinned
                // (the `Pointers` invariant: dereferenced only here).
                let entry = unsafe { &*entry };
                items.push((entry.key.clone(), entry.value.clone()));
            }
            self.pointers.0.clear();
            drop(guard);
            match next {
                Some(cursor) => self.cursor = cursor,
                None => {
                    self.shard += 1;
                    self.cursor = 0;
                }
            }
            if !items.is_empty() {
                self.items = items;
                return true;
            }
        }
        self.items = items;
        false
    }
}

impl<K, V, S> Iterator for ClonedIter<'_, K, V, S>
where
    K: Hash + Eq + Send + 'static + Clone,
    V: Send + 'static + Clone,
    S: BuildHasher,
{
    type Item = (K, V);

    #[inline]
    fn next(&mut self) -> Option<(K, V)> {
        loop {
            if let Some(item) = self.items.pop() {
                return Some(item);
            }
            if !self.refill() {
                return None;
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.items.len(), None)
    }
}

impl<K, V, S> FusedIterator for ClonedIter<'_, K, V, S>
where
    K: Hash + Eq + Send + 'static + Clone,
    V: Send + 'static + Clone,
    S: BuildHasher,
{
}

impl<K, V, S> fmt::Debug for ClonedIter<'_, K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClonedIter")
            .field("shard", &self.shard)
            .field("buffered", &self.items.len())
            .finish_non_exhaustive()
    }
}

impl<K, V, S> HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static + Clone,
    V: Send + 'static + Clone,
    S: BuildHasher,
{
    /// An iterator of owned `(K, V)` clones that holds no guard between
    /// items: `Send` (when the map is `Sync`), so an `async` loop can keep it
    /// across `.await`s, and a slow consumer does not delay reclamation.
    ///
    /// Same contract as [`HashMap::iter`]: weakly consistent and exact-once
    /// (no key twice, every key present throughout, nothing never present).
    /// It pins once per chunk of buckets (a few dozen entries) and clones
    /// the chunk under that pin, so a clone is of the value the key had when
    /// its chunk was read; later changes to it are not seen. Each chunk costs
    /// its clones up front: prefer [`HashMap::iter`] or [`HashMap::pin`] in
    /// synchronous code.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// for i in 0..1000u32 {
    ///     map.insert(i, i * 2);
    /// }
    /// let mut seen: Vec<(u32, u32)> = map.iter_cloned().collect();
    /// seen.sort_unstable();
    /// assert_eq!(seen.len(), 1000);
    /// assert!(seen.iter().all(|&(k, v)| v == k * 2));
    /// ```
    ///
    /// In a `Send` future (this one is spawned on a multi-threaded runtime
    /// in the crate's tests):
    ///
    /// ```
    /// # async fn send_somewhere(_: u32, _: String) {}
    /// async fn export(map: &evacmap::HashMap<u32, String>) {
    ///     for (k, v) in map.iter_cloned() {
    ///         send_somewhere(k, v).await; // no guard is held here
    ///     }
    /// }
    /// fn assert_send<T: Send>(_: T) {}
    /// let map = evacmap::HashMap::new();
    /// assert_send(export(&map));
    /// ```
    pub fn iter_cloned(&self) -> ClonedIter<'_, K, V, S> {
        ClonedIter::new(self)
    }
}
