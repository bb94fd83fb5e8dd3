//! Parallel bulk operations with [rayon] (the `rayon` feature).
//!
//! The unit of parallelism is the shard: each rayon task walks whole shards,
//! chunk by chunk, exactly as [`HashMap::iter`] does, with its own short epoch
//! pin per chunk (never one pin for a shard, let alone for the map). A key
//! lives in exactly one shard (the high bits of its hash pick it), and each
//! shard is walked by exactly one task, so the exact-once argument of the
//! serial scan (`raw/scan.rs`) carries over unchanged: under concurrent
//! writes, a parallel scan
//! - yields no key twice,
//! - yields every key that is present for the whole scan,
//! - yields no key that was never present,
//! - and, for a key written meanwhile, yields one of the values it held
//!   during the scan.
//!
//! It may or may not see keys inserted or removed meanwhile. It takes no
//! lock, never blocks writers and never waits for a resize. The order is
//! unspecified.
//!
//! A map built with a single shard (see [`Builder::shards`](crate::Builder::shards))
//! is scanned by a single task. Parallel inserts (`par_extend`, `collect`)
//! run on whichever threads rayon gives them; writers of different shards
//! never contend, writers of one shard take turns on its lock.
//!
//! Items of a parallel iterator must be `Send`, and the map's guarded
//! handles ([`Ref`](crate::Ref), [`Pinned`](crate::Pinned)) are not: so the
//! parallel iterator yields cloned pairs ([`HashMap::par_iter_cloned`]), and
//! [`HashMap::par_for_each`] lends `(&K, &V)` to a closure instead.

use std::fmt;
use std::hash::{BuildHasher, Hash};

use rayon::iter::plumbing::UnindexedConsumer;
use rayon::prelude::*;

use crate::raw::entry::Entry;
use crate::raw::pin_for_read;
use crate::raw::{scan, RawMap, SwapExpect};
use crate::sync::epoch::{self, Guard};
use crate::HashMap;

/// Inserts done under one pin by a parallel build before it repins: enough
/// to amortise the pin's fence, few enough that retired tables (a build
/// grows every shard several times) are not held back for long.
const INSERTS_PER_PIN: u32 = 256;

/// The position of a walk through one shard: everything below `cursor` has
/// been visited (see `raw/scan.rs`); `None` once the shard is done.
struct ShardWalk<K, V> {
    shard: usize,
    cursor: Option<u64>,
    batch: Vec<*const Entry<K, V>>,
}

impl<K, V> ShardWalk<K, V> {
    fn new(shard: usize) -> Self {
        ShardWalk {
            shard,
            cursor: Some(0),
            batch: Vec::new(),
        }
    }

    /// Collects the next chunk of the shard under `guard` and calls `visit`
    /// on each of its entries. False once the shard is done (no entries
    /// were visited then).
    fn next_chunk(
        &mut self,
        raw: &RawMap<K, V>,
        guard: &Guard,
        mut visit: impl FnMut(&Entry<K, V>),
    ) -> bool {
        let Some(cursor) = self.cursor else {
            return false;
        };
        self.batch.clear();
        let shard = &raw.shards()[self.shard];
        // `None`: this was the shard's last chunk (its entries are still in
        // the batch).
        self.cursor = scan::next_chunk(
            shard,
            cursor,
            raw.policy().shard_bits,
            guard,
            &mut self.batch,
        );
        for &entry in &self.batch {
            // SAFETY: collected under `guard`, pinned for this whole call.
            visit(unsafe { &*entry });
        }
        true
    }

    /// Walks the whole shard, pinning afresh for each chunk; `visit` runs
    /// under the chunk's pin.
    fn for_each(mut self, raw: &RawMap<K, V>, mut visit: impl FnMut(&Entry<K, V>, &Guard)) {
        loop {
            let guard = pin_for_read();
            if !self.next_chunk(raw, &guard, |entry| visit(entry, &guard)) {
                return;
            }
        }
    }
}

/// The cloned pairs of one shard, a chunk at a time: each chunk is cloned
/// under its pin, and yielded after unpinning.
struct ShardCloned<'a, K, V, S> {
    map: &'a HashMap<K, V, S>,
    walk: ShardWalk<K, V>,
    /// The current chunk's clones, yielded from the back.
    ready: Vec<(K, V)>,
}

impl<K: Clone, V: Clone, S> Iterator for ShardCloned<'_, K, V, S> {
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        loop {
            if let Some(pair) = self.ready.pop() {
                return Some(pair);
            }
            let guard = pin_for_read();
            let ready = &mut self.ready;
            let more = self.walk.next_chunk(&self.map.raw, &guard, |entry| {
                ready.push((entry.key.clone(), entry.value.clone()));
            });
            if !more {
                return None;
            }
        }
    }
}

/// A parallel iterator over cloned `(K, V)` pairs; see
/// [`HashMap::par_iter_cloned`].
///
/// ```
/// use evacmap::HashMap;
/// use rayon::prelude::*;
///
/// let map: HashMap<u32, u32> = (0..100).map(|i| (i, 2 * i)).collect();
/// let iter: evacmap::ParIterCloned<'_, u32, u32, _> = map.par_iter_cloned();
/// assert_eq!(iter.map(|(_, v)| v).sum::<u32>(), 9900);
/// ```
pub struct ParIterCloned<'a, K, V, S> {
    map: &'a HashMap<K, V, S>,
}

impl<K, V, S> Clone for ParIterCloned<'_, K, V, S> {
    fn clone(&self) -> Self {
        ParIterCloned { map: self.map }
    }
}

impl<K, V, S> fmt::Debug for ParIterCloned<'_, K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParIterCloned").finish_non_exhaustive()
    }
}

impl<'a, K, V, S> ParallelIterator for ParIterCloned<'a, K, V, S>
where
    K: Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Sync,
{
    type Item = (K, V);

    fn drive_unindexed<C>(self, consumer: C) -> C::Result
    where
        C: UnindexedConsumer<(K, V)>,
    {
        let map = self.map;
        // One task per shard at most: a shard is walked by a single task.
        (0..map.raw.shard_count())
            .into_par_iter()
            .with_max_len(1)
            .flat_map_iter(move |shard| ShardCloned {
                map,
                walk: ShardWalk::new(shard),
                ready: Vec::new(),
            })
            .drive_unindexed(consumer)
    }
}

impl<K, V, S> HashMap<K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher + Sync,
{
    /// Runs `task` on every shard index, in parallel.
    fn par_shards(&self, task: impl Fn(usize) + Sync + Send) {
        (0..self.raw.shard_count())
            .into_par_iter()
            .with_max_len(1)
            .for_each(task);
    }

    /// A parallel iterator over clones of the entries, shards walked in
    /// parallel (a map with one shard is walked by one task).
    ///
    /// Weakly consistent and exact-once, like [`HashMap::iter`]. Under
    /// concurrent writes it
    /// - yields no key twice,
    /// - yields every key that is present for the whole iteration,
    /// - yields no key that was never present,
    /// - and, for a key written meanwhile, yields one of the values it held
    ///   during the iteration.
    ///
    /// It may or may not see keys inserted or removed meanwhile, and the order
    /// is unspecified. It takes no lock, never blocks writers and never waits
    /// for a resize. (Each shard is walked by one task, in chunks, as
    /// [`HashMap::iter`] walks it; a key lives in exactly one shard.)
    ///
    /// Each chunk of a shard is cloned under a short pin and yielded after
    /// unpinning, so the items are plain `Send` pairs and whatever the
    /// pipeline does with them holds no reclamation back. The guarded handles
    /// ([`Ref`](crate::Ref), [`Pinned`](crate::Pinned)) are not `Send`, which is
    /// why there is no parallel iterator of references: use
    /// [`HashMap::par_for_each`] to read without cloning.
    ///
    /// ```
    /// use evacmap::HashMap;
    /// use rayon::prelude::*;
    ///
    /// let map: HashMap<u64, String> = (0..1000).map(|i| (i, i.to_string())).collect();
    /// let long: usize = map.par_iter_cloned().filter(|(_, v)| v.len() == 3).count();
    /// assert_eq!(long, 900);
    /// let keys: std::collections::HashSet<u64> = map.par_iter_cloned().map(|(k, _)| k).collect();
    /// assert_eq!(keys.len(), 1000);
    /// ```
    pub fn par_iter_cloned(&self) -> ParIterCloned<'_, K, V, S>
    where
        K: Clone,
        V: Clone,
    {
        ParIterCloned { map: self }
    }

    /// Calls `f` on every entry, shards in parallel, without cloning.
    ///
    /// Same guarantees as [`HashMap::par_iter_cloned`] (each key present
    /// throughout is visited exactly once, no key twice). `f` runs under the
    /// short epoch pin of the chunk it belongs to and never under a lock, so
    /// it may use the map, including writing to it; keep it short, as a pin
    /// delays reclamation while it is held.
    ///
    /// ```
    /// use evacmap::HashMap;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    ///
    /// let map: HashMap<u64, u64> = (1..=100).map(|i| (i, i)).collect();
    /// let sum = AtomicU64::new(0);
    /// map.par_for_each(|_, v| {
    ///     sum.fetch_add(*v, Ordering::Relaxed);
    /// });
    /// assert_eq!(sum.into_inner(), 5050);
    /// ```
    pub fn par_for_each(&self, f: impl Fn(&K, &V) + Sync + Send) {
        self.par_shards(|shard| {
            ShardWalk::new(shard).for_each(&self.raw, |entry, _| f(&entry.key, &entry.value));
        });
    }

    /// Keeps only the entries for which `keep` returns true, shards in
    /// parallel. The parallel [`HashMap::retain`], with the same semantics:
    ///
    /// `keep` runs without any lock held (under the short pin of its chunk),
    /// so it may use the map. Every entry present for the whole call is
    /// judged exactly once. An entry replaced concurrently after `keep`
    /// judged it is not removed (the new value was not judged), and entries
    /// inserted during the call may or may not be visited. Readers are never
    /// blocked: a key that is kept stays readable throughout.
    ///
    /// ```
    /// use evacmap::HashMap;
    ///
    /// let map: HashMap<u32, u32> = (0..1000).map(|i| (i, i)).collect();
    /// map.par_retain(|_, v| v % 10 == 0);
    /// assert_eq!(map.len(), 100);
    /// assert!(map.contains_key(&990) && !map.contains_key(&991));
    /// ```
    pub fn par_retain(&self, keep: impl Fn(&K, &V) -> bool + Sync + Send) {
        self.par_shards(|shard| {
            ShardWalk::new(shard).for_each(&self.raw, |entry, guard| {
                if !keep(&entry.key, &entry.value) {
                    // Remove exactly the judged entry: a conflict means it
                    // was replaced or removed meanwhile, and then stays.
                    let _ = self.raw.swap(
                        guard,
                        entry.hash,
                        &entry.key,
                        SwapExpect::Is(entry),
                        &mut None,
                    );
                }
            });
        });
    }

    /// Inserts every pair of `pairs`, from rayon's threads, repinning every
    /// [`INSERTS_PER_PIN`] inserts.
    fn par_insert_all(&self, pairs: impl ParallelIterator<Item = (K, V)>) {
        pairs.for_each_init(
            || (epoch::pin(), 0u32),
            |(guard, count), (key, value)| {
                *count += 1;
                if *count == INSERTS_PER_PIN {
                    *count = 0;
                    guard.repin();
                }
                self.insert_entry(key, value, guard);
            },
        );
    }
}

/// Inserts in parallel into a shared map; a later pair for a key replaces
/// an earlier one, but which of two pairs with the same key is "later" is
/// up to rayon's scheduling. Like [`Extend`] on the map, it does not reserve
/// capacity first.
///
/// ```
/// use evacmap::HashMap;
/// use rayon::prelude::*;
///
/// let map: HashMap<u32, u32> = HashMap::new();
/// let mut shared = &map;
/// shared.par_extend((0..1000).into_par_iter().map(|i| (i, i * i)));
/// assert_eq!(map.len(), 1000);
/// assert_eq!(*map.get(&30).unwrap(), 900);
/// ```
impl<K, V, S> ParallelExtend<(K, V)> for &HashMap<K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher + Sync,
{
    fn par_extend<I>(&mut self, par_iter: I)
    where
        I: IntoParallelIterator<Item = (K, V)>,
    {
        self.par_insert_all(par_iter.into_par_iter());
    }
}

/// Inserts in parallel; see the impl for `&HashMap`.
///
/// ```
/// use evacmap::HashMap;
/// use rayon::prelude::*;
///
/// let mut map: HashMap<u32, u32> = HashMap::new();
/// map.par_extend((0..1000).into_par_iter().map(|i| (i, i)));
/// assert_eq!(map.len(), 1000);
/// ```
impl<K, V, S> ParallelExtend<(K, V)> for HashMap<K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher + Sync,
{
    fn par_extend<I>(&mut self, par_iter: I)
    where
        I: IntoParallelIterator<Item = (K, V)>,
    {
        (&*self).par_extend(par_iter);
    }
}

/// Inserts copies of borrowed pairs in parallel, as [`Extend`] does for
/// `(&K, &V)`.
///
/// ```
/// use evacmap::HashMap;
/// use rayon::prelude::*;
///
/// let pairs: Vec<(u32, u32)> = (0..100).map(|i| (i, i)).collect();
/// let mut map: HashMap<u32, u32> = HashMap::new();
/// map.par_extend(pairs.par_iter().map(|(k, v)| (k, v)));
/// assert_eq!(map.len(), 100);
/// ```
impl<'a, K, V, S> ParallelExtend<(&'a K, &'a V)> for HashMap<K, V, S>
where
    K: Hash + Eq + Send + Sync + Copy + 'static,
    V: Send + Sync + Copy + 'static,
    S: BuildHasher + Sync,
{
    fn par_extend<I>(&mut self, par_iter: I)
    where
        I: IntoParallelIterator<Item = (&'a K, &'a V)>,
    {
        self.par_insert_all(par_iter.into_par_iter().map(|(k, v)| (*k, *v)));
    }
}

/// Builds a map in parallel. Presized for the iterator's length when rayon
/// knows it (an indexed iterator), as [`FromIterator`] presizes for its
/// size hint. With duplicate keys, which pair wins is up to rayon's
/// scheduling.
///
/// ```
/// use evacmap::HashMap;
/// use rayon::prelude::*;
///
/// let map: HashMap<u64, u64> = (0..10_000u64).into_par_iter().map(|i| (i, i + 1)).collect();
/// assert_eq!(map.len(), 10_000);
/// assert_eq!(*map.get(&41).unwrap(), 42);
/// ```
impl<K, V, S> FromParallelIterator<(K, V)> for HashMap<K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher + Default + Sync,
{
    fn from_par_iter<I>(par_iter: I) -> Self
    where
        I: IntoParallelIterator<Item = (K, V)>,
    {
        let par_iter = par_iter.into_par_iter();
        let map = Self::with_capacity_and_hasher(par_iter.opt_len().unwrap_or(0), S::default());
        map.par_insert_all(par_iter);
        map
    }
}
