//! The public [`HashMap`]: construction, single-key operations, whole-map
//! operations and standard traits. A thin layer: it hashes keys, pins guards
//! and wraps results; the algorithm is in `raw/`.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::panic::{RefUnwindSafe, UnwindSafe};

use crate::builder::Builder;
use crate::errors::TryReserveError;
use crate::iter::{Iter, Keys, Values};
use crate::pinned::Pinned;
use crate::raw::entry::Entry;
use crate::raw::pin_for_read;
use crate::raw::shard::resize::ReserveError;
use crate::raw::{RawMap, SwapExpect};
use crate::refs::Ref;
use crate::stats::{MapStats, Reclaimed};
use crate::sync::epoch::{self, Guard};
use crate::DefaultHashBuilder;

/// A concurrent hash map with lock-free reads; see the [crate docs](crate).
///
/// ```
/// use evacmap::HashMap;
/// use std::sync::Arc;
/// let scores = Arc::new(HashMap::new());
/// let writer = {
///     let scores = Arc::clone(&scores);
///     std::thread::spawn(move || scores.insert("alice", 10).is_none())
/// };
/// assert!(writer.join().unwrap());
/// assert_eq!(*scores.get("alice").unwrap(), 10);
/// ```
pub struct HashMap<K, V, S = DefaultHashBuilder> {
    pub(crate) raw: RawMap<K, V>,
    pub(crate) hasher: S,
    /// The per-shard floor it was built with (for `Clone`).
    floor_log2: u32,
}

// SAFETY: sending the map sends its keys and values (K, V: Send) and the
// hasher (S: Send). Garbage it retired may be dropped on any thread, which
// needs only Send too.
unsafe impl<K: Send, V: Send, S: Send> Send for HashMap<K, V, S> {}
// SAFETY: through `&HashMap` any thread can insert (moving K, V in), read
// (`&K`, `&V` on several threads: Sync) and cause drops on another thread
// (Send); the hasher is used through `&S` only.
unsafe impl<K: Send + Sync, V: Send + Sync, S: Sync> Sync for HashMap<K, V, S> {}

// A panic in user code (`Hash`, `Eq`, a closure) never leaves a shard half
// updated: every write validates with user code first and mutates after, and
// the lock is released by unwinding. So observing the map after a caught
// panic is sound and consistent; the auto traits would say otherwise only
// because of the mutex's UnsafeCell.
impl<K: RefUnwindSafe, V: RefUnwindSafe, S: RefUnwindSafe> RefUnwindSafe for HashMap<K, V, S> {}
impl<K: RefUnwindSafe, V: RefUnwindSafe, S: UnwindSafe> UnwindSafe for HashMap<K, V, S> {}

impl<K, V> HashMap<K, V, DefaultHashBuilder> {
    /// An empty map with the default shard count. Allocates no table until
    /// the first insert.
    ///
    /// ```
    /// let map: evacmap::HashMap<String, u32> = evacmap::HashMap::new();
    /// assert!(map.is_empty());
    /// assert_eq!(map.capacity(), 0); // no table yet
    /// map.insert("a".to_string(), 1);
    /// assert_eq!(map.len(), 1);
    /// ```
    pub fn new() -> Self {
        Self::with_hasher(DefaultHashBuilder::default())
    }

    /// An empty map that holds at least `capacity` entries without resizing
    /// and never shrinks below that by itself.
    ///
    /// # Panics
    /// If no table can hold `capacity` entries. [`HashMap::builder`] returns
    /// that as an error instead.
    ///
    /// ```
    /// let map: evacmap::HashMap<u64, u64> = evacmap::HashMap::with_capacity(10_000);
    /// assert!(map.capacity() >= 10_000);
    /// for i in 0..10_000 {
    ///     map.insert(i, i);
    /// }
    /// assert_eq!(map.stats().grows, 0); // it never had to resize
    /// ```
    pub fn with_capacity(capacity: usize) -> Self {
        Self::with_capacity_and_hasher(capacity, DefaultHashBuilder::default())
    }

    /// A [`Builder`] for every option: capacity, shards, hasher, resize mode,
    /// automatic shrinking.
    ///
    /// ```
    /// let map: evacmap::HashMap<u64, u64> =
    ///     evacmap::HashMap::builder().shards(8).capacity(100).build().unwrap();
    /// assert_eq!(map.shards(), 8);
    /// assert!(map.capacity() >= 100);
    /// ```
    pub fn builder() -> Builder<K, V, DefaultHashBuilder> {
        Builder::new()
    }
}

impl<K, V, S> HashMap<K, V, S> {
    pub(crate) fn from_parts(raw: RawMap<K, V>, hasher: S, floor_log2: u32) -> Self {
        HashMap {
            raw,
            hasher,
            floor_log2,
        }
    }

    /// An empty map using `hasher`.
    ///
    /// ```
    /// use std::collections::hash_map::RandomState;
    /// let map = evacmap::HashMap::with_hasher(RandomState::new());
    /// map.insert("a", 1);
    /// assert_eq!(map.get_cloned("a"), Some(1));
    /// ```
    pub fn with_hasher(hasher: S) -> Self {
        Self::with_capacity_and_hasher(0, hasher)
    }

    /// An empty map using `hasher`, presized for `capacity` entries.
    ///
    /// # Panics
    /// If no table can hold `capacity` entries.
    ///
    /// ```
    /// use std::collections::hash_map::RandomState;
    /// let map: evacmap::HashMap<u64, u64, RandomState> =
    ///     evacmap::HashMap::with_capacity_and_hasher(1000, RandomState::new());
    /// assert!(map.capacity() >= 1000);
    /// ```
    pub fn with_capacity_and_hasher(capacity: usize, hasher: S) -> Self {
        match Builder::new().capacity(capacity).hasher(hasher).build() {
            Ok(map) => map,
            Err(e) => panic!("evacmap::HashMap::with_capacity({capacity}): {e}"),
        }
    }

    /// Live entries: a sum of per-shard counters, no locks.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert(1, "a");
    /// map.insert(2, "b");
    /// map.insert(1, "c"); // replaces
    /// assert_eq!(map.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether the map has no entries (no locks).
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// assert!(map.is_empty());
    /// map.insert(1, "a");
    /// assert!(!map.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries the map holds before any of its tables grows.
    ///
    /// Each shard allocates its table at its first insert. A shard with a
    /// table counts what that table holds (during a resize: the table being
    /// moved to). A shard without one counts 0, unless a capacity was asked
    /// for ([`HashMap::with_capacity`], [`Builder::capacity`],
    /// [`HashMap::reserve`]), in which case it counts the table it will
    /// allocate, so that `with_capacity(n).capacity() >= n`, as std
    /// promises; [`HashMap::shrink_to_fit`] forgets such requests. So a map
    /// that has allocated nothing reports 0, as std's and dashmap's do.
    ///
    /// ```
    /// use evacmap::HashMap;
    /// let map: HashMap<u64, u64> = HashMap::new();
    /// assert_eq!(map.capacity(), 0);
    /// map.insert(1, 1);
    /// assert!(map.capacity() >= 1);
    /// let presized: HashMap<u64, u64> = HashMap::with_capacity(1000);
    /// assert!(presized.capacity() >= 1000);
    /// ```
    pub fn capacity(&self) -> usize {
        self.raw.capacity()
    }

    /// The number of shards.
    ///
    /// ```
    /// use evacmap::HashMap;
    /// let map: HashMap<u64, u64> = HashMap::builder().shards(16).build().unwrap();
    /// assert_eq!(map.shards(), 16);
    /// assert_eq!(HashMap::<u64, u64>::new().shards(), evacmap::default_shards());
    /// ```
    pub fn shards(&self) -> usize {
        self.raw.shard_count()
    }

    /// The map's hasher.
    ///
    /// ```
    /// use std::hash::BuildHasher;
    /// let map: evacmap::HashMap<&str, u32> = evacmap::HashMap::new();
    /// // Hash a key ahead of time, with the map's own seed.
    /// assert_eq!(map.hasher().hash_one("a"), map.hasher().hash_one("a"));
    /// ```
    pub fn hasher(&self) -> &S {
        &self.hasher
    }

    /// Sizes, bytes and resize progress; see [`MapStats`].
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// for i in 0..1000u64 {
    ///     map.insert(i, i);
    /// }
    /// let stats = map.stats();
    /// assert_eq!(stats.len, 1000);
    /// assert!(stats.capacity >= 1000);
    /// assert!(stats.held_bytes() > 0);
    /// println!("{stats}");
    /// ```
    pub fn stats(&self) -> MapStats {
        self.raw.stats()
    }
}

impl<K, V, S> HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    #[inline]
    pub(crate) fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Inserts or replaces under `guard`; returns the previous entry.
    pub(crate) fn insert_entry<'g>(
        &self,
        key: K,
        value: V,
        guard: &'g Guard,
    ) -> Option<&'g Entry<K, V>> {
        let hash = self.hash(&key);
        self.raw.prefetch_for_write(hash, guard);
        let new = self.raw.new_entry(hash, key, value);
        // SAFETY: the entry outlives the call: owned by `new` here until
        // published, then protected by `guard`.
        let key = unsafe { new.key() };
        match self
            .raw
            .swap(guard, hash, key, SwapExpect::Any, &mut Some(new))
        {
            Ok(previous) => previous,
            Err(_) => unreachable!("an unconditional swap cannot conflict"),
        }
    }

    /// Removes under `guard`; returns the removed entry.
    pub(crate) fn remove_guarded<'g, Q>(&self, key: &Q, guard: &'g Guard) -> Option<&'g Entry<K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        match self.raw.swap(guard, hash, key, SwapExpect::Any, &mut None) {
            Ok(previous) => previous,
            Err(_) => unreachable!("an unconditional swap cannot conflict"),
        }
    }

    /// The entry for `key`, looked up under `guard`.
    #[inline]
    pub(crate) fn get_entry<'g, Q>(&self, key: &Q, guard: &'g Guard) -> Option<&'g Entry<K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.raw.get(self.hash(key), key, guard)
    }

    /// Wraps an entry reached under `guard` into a [`Ref`] that owns `guard`.
    /// Takes a raw pointer so that the borrow of `guard` can end first.
    ///
    /// # Safety
    /// `entry` was reached under `guard`.
    pub(crate) unsafe fn wrap<'a>(
        guard: Guard,
        entry: Option<*const Entry<K, V>>,
    ) -> Option<Ref<'a, K, V>> {
        // SAFETY: forwarded from the caller.
        entry.map(|e| unsafe { Ref::new(guard, &*e) })
    }

    /// The value for `key`, behind a guard (never a lock).
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert("a", 1);
    /// assert_eq!(*map.get("a").unwrap(), 1);
    /// assert!(map.get("b").is_none());
    /// ```
    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<Ref<'_, K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let guard = pin_for_read();
        let entry: Option<*const Entry<K, V>> = self.get_entry(key, &guard).map(|e| e as *const _);
        // SAFETY: reached under `guard`, which the Ref takes over.
        entry.map(|e| unsafe { Ref::new(guard, &*e) })
    }

    /// Key and value for `key`, behind a guard: the [`Ref`] lends both
    /// ([`Ref::key`], [`Ref::pair`]). std returns a pair of plain
    /// references; here they must stay tied to the guard that keeps the
    /// entry alive. (Keys equal by `Eq` may still differ, as in std: this is
    /// how to see the stored one.)
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert(String::from("Key"), 1);
    /// let r = map.get_key_value("Key").unwrap();
    /// assert_eq!(r.pair(), (&String::from("Key"), &1));
    /// assert!(map.get_key_value("other").is_none());
    /// ```
    pub fn get_key_value<Q>(&self, key: &Q) -> Option<Ref<'_, K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(key)
    }

    /// Removes `key` and returns its stored key and value, behind a guard
    /// ([`Ref::pair`]). Unlike std's, the pair is lent, not moved out: other
    /// threads may still be reading the entry, which is dropped once none
    /// can. To own removed entries, use [`HashMap::drain`] or
    /// [`HashMap::into_iter`] (exclusive access), or clone.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert("a", 1);
    /// let removed = map.remove_entry("a").unwrap();
    /// assert_eq!(removed.pair(), (&"a", &1));
    /// assert!(map.is_empty());
    /// assert!(map.remove_entry("a").is_none());
    /// ```
    pub fn remove_entry<Q>(&self, key: &Q) -> Option<Ref<'_, K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.remove(key)
    }

    /// A clone of the value for `key`.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert("a", String::from("alpha"));
    /// let owned: Option<String> = map.get_cloned("a"); // no guard held afterwards
    /// assert_eq!(owned.as_deref(), Some("alpha"));
    /// assert_eq!(map.get_cloned("b"), None);
    /// ```
    pub fn get_cloned<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        self.get_entry(key, &pin_for_read())
            .map(|e| e.value.clone())
    }

    /// Whether `key` is present.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert("a", 1);
    /// assert!(map.contains_key("a"));
    /// assert!(!map.contains_key("b"));
    /// ```
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_entry(key, &pin_for_read()).is_some()
    }

    /// Inserts `key` → `value`, returning the previous value if there was one.
    /// The previous value is still readable through the returned [`Ref`]; it
    /// is dropped once no thread can see it any more.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// assert!(map.insert("a", 1).is_none());
    /// let previous = map.insert("a", 2).unwrap();
    /// assert_eq!(*previous, 1);
    /// assert_eq!(*map.get("a").unwrap(), 2);
    /// ```
    pub fn insert(&self, key: K, value: V) -> Option<Ref<'_, K, V>> {
        let guard = epoch::pin();
        let previous: Option<*const Entry<K, V>> =
            self.insert_entry(key, value, &guard).map(|e| e as *const _);
        // SAFETY: reached under `guard`, which the Ref takes over.
        previous.map(|e| unsafe { Ref::new(guard, &*e) })
    }

    /// Removes `key`, returning its entry (still readable through the Ref).
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert("a", 1);
    /// assert_eq!(*map.remove("a").unwrap(), 1);
    /// assert!(map.remove("a").is_none());
    /// assert!(map.is_empty());
    /// ```
    pub fn remove<Q>(&self, key: &Q) -> Option<Ref<'_, K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let guard = epoch::pin();
        let removed: Option<*const Entry<K, V>> =
            self.remove_guarded(key, &guard).map(|e| e as *const _);
        // SAFETY: reached under `guard`, which the Ref takes over.
        removed.map(|e| unsafe { Ref::new(guard, &*e) })
    }

    /// Removes every entry. Each shard is cleared atomically (readers see it
    /// entirely before or entirely after), in O(1) for the caller: its tables
    /// are detached and retired whole, and dropped with their entries once no
    /// reader can see them. The map as a whole is *not* cleared atomically:
    /// an insert into a shard the clear has already passed survives it.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// for i in 0..100 {
    ///     map.insert(i, i);
    /// }
    /// map.clear();
    /// assert!(map.is_empty());
    /// assert!(map.get(&1).is_none());
    /// ```
    pub fn clear(&self) {
        self.raw.clear(&epoch::pin());
    }

    /// Keeps only the entries for which `keep` returns true.
    ///
    /// `keep` runs without any lock held, so it may use the map. Weakly
    /// consistent like iteration: an entry replaced concurrently after `keep`
    /// judged it is not removed (the new value was not judged), and entries
    /// inserted during the call may or may not be visited.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// for i in 0..10 {
    ///     map.insert(i, i * 10);
    /// }
    /// map.retain(|&k, _| k % 2 == 0);
    /// assert_eq!(map.len(), 5);
    /// assert!(map.contains_key(&4) && !map.contains_key(&5));
    /// ```
    pub fn retain(&self, mut keep: impl FnMut(&K, &V) -> bool) {
        let mut scan = crate::iter::Scan::new();
        loop {
            let guard = epoch::pin();
            if !scan.refill(&self.raw, &guard) {
                return;
            }
            while let Some(entry) = scan.pop() {
                // SAFETY: the chunk was collected under `guard`.
                let entry = unsafe { &*entry };
                if !keep(&entry.key, &entry.value) {
                    let _ = self.raw.swap(
                        &guard,
                        entry.hash,
                        &entry.key,
                        SwapExpect::Is(entry),
                        &mut None,
                    );
                }
            }
        }
    }

    /// Makes room for `additional` more entries, and keeps automatic
    /// shrinking from going below that capacity. In incremental mode the
    /// resize proceeds with the following writes.
    ///
    /// # Panics
    /// On capacity overflow; see [`HashMap::try_reserve`].
    ///
    /// ```
    /// let map: evacmap::HashMap<u64, u64> = evacmap::HashMap::new();
    /// map.reserve(1000);
    /// assert!(map.capacity() >= 1000);
    /// ```
    pub fn reserve(&self, additional: usize) {
        if let Err(e) = self.try_reserve(additional) {
            panic!("evacmap::HashMap::reserve({additional}): {e}");
        }
    }

    /// [`HashMap::reserve`], with capacity overflow and allocation failure
    /// as errors. Allocates the grown table now (the entries move
    /// incrementally), so a reservation that succeeds will not abort later
    /// for want of that table.
    ///
    /// ```
    /// use evacmap::{HashMap, TryReserveError};
    /// let map: HashMap<u64, u64> = HashMap::new();
    /// assert!(map.try_reserve(1000).is_ok());
    /// assert!(map.capacity() >= 1000);
    /// assert_eq!(map.try_reserve(usize::MAX), Err(TryReserveError::CapacityOverflow));
    /// ```
    pub fn try_reserve(&self, additional: usize) -> Result<(), TryReserveError> {
        self.raw
            .reserve(additional, &epoch::pin())
            .map_err(|e| match e {
                ReserveError::CapacityOverflow => TryReserveError::CapacityOverflow,
                ReserveError::AllocationFailed(bytes) => {
                    TryReserveError::AllocationFailed { bytes }
                }
            })?;
        // A reservation raised floors if it asked for room (or, with
        // entries present, kept the map from shrinking below them).
        if additional > 0 || !self.is_empty() {
            self.raw.set_reserved(true);
        }
        Ok(())
    }

    /// Resizes every shard's table to what its contents need, now (finishing
    /// any migration first, and this resize too: unlike automatic resizes it
    /// is a whole-table pause per shard), and forgets capacities reserved
    /// earlier.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// for i in 0..10_000u64 {
    ///     map.insert(i, i);
    /// }
    /// let grown = map.capacity();
    /// for i in 100..10_000 {
    ///     map.remove(&i);
    /// }
    /// map.shrink_to_fit();
    /// assert!(map.capacity() < grown);
    /// assert!(map.capacity() >= 100);
    /// ```
    pub fn shrink_to_fit(&self) {
        self.raw.set_reserved(false);
        self.raw.shrink_to_fit(&epoch::pin());
    }

    /// Finishes every pending migration and frees whatever retired memory no
    /// thread can still read. Memory retired by *other* threads stays in their
    /// thread-local bags until they retire more or exit; memory a pinned
    /// thread may still read stays until it unpins. Reports what is left.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// for i in 0..1000u64 {
    ///     map.insert(i, i);
    /// }
    /// for i in 0..1000 {
    ///     map.remove(&i);
    /// }
    /// let report = map.reclaim();
    /// assert_eq!(map.stats().migrations_in_progress, 0);
    /// // Nothing else is pinned here, so all this thread retired is freed.
    /// assert_eq!(report.pending_bytes, 0);
    /// ```
    pub fn reclaim(&self) -> Reclaimed {
        let migrations_finished = self.raw.reclaim();
        let stats = self.raw.stats();
        Reclaimed {
            migrations_finished,
            pending_bytes: stats.retired_bytes,
            pending_objects: stats.retired_objects,
        }
    }

    /// An iterator over guarded entries; weakly consistent and exact-once
    /// (see the crate docs). It pins briefly per chunk of buckets, never for
    /// the whole map, and never blocks writers or waits for a resize.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// for i in 1..=3 {
    ///     map.insert(i, i * 10);
    /// }
    /// let mut pairs: Vec<(i32, i32)> = map.iter().map(|r| (*r.key(), *r.value())).collect();
    /// pairs.sort();
    /// assert_eq!(pairs, [(1, 10), (2, 20), (3, 30)]);
    /// ```
    pub fn iter(&self) -> Iter<'_, K, V> {
        Iter::new(&self.raw)
    }

    /// The keys, as guarded references.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert("b", 2);
    /// map.insert("a", 1);
    /// let mut keys: Vec<&str> = map.keys().map(|k| *k).collect();
    /// keys.sort();
    /// assert_eq!(keys, ["a", "b"]);
    /// ```
    pub fn keys(&self) -> Keys<'_, K, V> {
        Keys::new(self.iter())
    }

    /// The values, as guarded references.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert("a", 1);
    /// map.insert("b", 2);
    /// let total: i32 = map.values().map(|v| *v).sum();
    /// assert_eq!(total, 3);
    /// ```
    pub fn values(&self) -> Values<'_, K, V> {
        Values::new(self.iter())
    }

    /// A handle pinned once for many operations, returning plain `&V`. See
    /// [`Pinned`]; keep it short-lived, as it delays reclamation.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert("a", 1);
    /// map.insert("b", 2);
    /// let pinned = map.pin();
    /// let (a, b): (&i32, &i32) = (pinned.get("a").unwrap(), pinned.get("b").unwrap());
    /// assert_eq!(a + b, 3);
    /// ```
    pub fn pin(&self) -> Pinned<'_, K, V, S> {
        Pinned::new(self)
    }
}

impl<K, V, S: Default> Default for HashMap<K, V, S> {
    fn default() -> Self {
        Self::with_hasher(S::default())
    }
}

impl<K, V, S> fmt::Debug for HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static + fmt::Debug,
    V: Send + 'static + fmt::Debug,
    S: BuildHasher,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for entry in self.iter() {
            map.entry(entry.key(), entry.value());
        }
        map.finish()
    }
}

impl<K, V, S> Clone for HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static + Clone,
    V: Send + 'static + Clone,
    S: BuildHasher + Clone,
{
    /// A deep copy with the same configuration, shard count and hasher.
    fn clone(&self) -> Self {
        let policy = self.raw.policy();
        let raw = RawMap::new(
            self.raw.shard_count(),
            self.floor_log2,
            policy.step,
            policy.auto_shrink,
            policy.map_large_tables,
        );
        raw.set_reserved(self.raw.reserved());
        let copy = HashMap::from_parts(raw, self.hasher.clone(), self.floor_log2);
        let guard = epoch::pin();
        for entry in self.iter() {
            copy.insert_entry(entry.key().clone(), entry.value().clone(), &guard);
        }
        copy
    }
}

impl<K, V, S> FromIterator<(K, V)> for HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher + Default,
{
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let iter = iter.into_iter();
        let map = Self::with_capacity_and_hasher(iter.size_hint().0, S::default());
        map.extend_pairs(iter);
        map
    }
}

impl<K, V, S> HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    pub(crate) fn extend_pairs(&self, iter: impl Iterator<Item = (K, V)>) {
        // One pin for the batch: nested pins are cheap, the outermost is not.
        let guard = epoch::pin();
        for (key, value) in iter {
            self.insert_entry(key, value, &guard);
        }
    }
}

impl<K, V, S> Extend<(K, V)> for HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        self.extend_pairs(iter.into_iter());
    }
}

impl<'a, K, V, S> Extend<(&'a K, &'a V)> for HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static + Copy,
    V: Send + 'static + Copy,
    S: BuildHasher,
{
    fn extend<I: IntoIterator<Item = (&'a K, &'a V)>>(&mut self, iter: I) {
        self.extend_pairs(iter.into_iter().map(|(k, v)| (*k, *v)));
    }
}

impl<'a, K, V, S> IntoIterator for &'a HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    type Item = Ref<'a, K, V>;
    type IntoIter = Iter<'a, K, V>;
    fn into_iter(self) -> Iter<'a, K, V> {
        self.iter()
    }
}
