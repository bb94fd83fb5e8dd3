//! [`HashSet`] and its pinned handle [`PinnedSet`]: a set on
//! [`HashMap<T, ()>`], through the map's public operations and its seam (no
//! shard or table access). What it promises is on [`HashSet`].

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};

use crate::iter::Keys;
use crate::pinned::Pinned;
use crate::refs::KeyRef;
use crate::seam::Expected;
use crate::stats::{MapStats, Reclaimed};
use crate::sync::epoch;
use crate::{DefaultHashBuilder, HashMap};

/// A concurrent hash set with lock-free reads: a [`HashMap<T, ()>`].
///
/// Modelled on std's `HashSet`, dashmap's `DashSet` and papaya's `HashSet`:
/// every method takes `&self`, so a set is shared between threads by
/// reference (or in an `Arc`) without a lock around it.
///
/// Everything the map promises holds for the elements: operations on one
/// element are linearizable, reads take no lock, iteration is weakly
/// consistent and exact-once, `clear` is atomic per shard only, and memory
/// follows contents. An element is stored once, in an immutable entry that
/// other threads may be reading at any moment; so the set lends elements
/// behind a guard ([`KeyRef`], or `&T` under a [`PinnedSet`]) and never
/// moves one out while it could still be read. That is why
/// [`HashSet::take`] returns a guarded handle rather than the `T` that
/// std's returns.
///
/// ```
/// use evacmap::HashSet;
/// use std::thread;
///
/// let seen: HashSet<u64> = HashSet::new();
/// thread::scope(|s| {
///     for t in 0..2 {
///         let seen = &seen;
///         s.spawn(move || for i in 0..100 { seen.insert(i * 2 + t); });
///     }
/// });
/// assert_eq!(seen.len(), 200);
/// assert!(seen.contains(&199));
/// ```
pub struct HashSet<T, S = DefaultHashBuilder> {
    pub(crate) map: HashMap<T, (), S>,
}

impl<T> HashSet<T, DefaultHashBuilder> {
    /// An empty set. Allocates no table until the first insert.
    ///
    /// ```
    /// let set: evacmap::HashSet<&str> = evacmap::HashSet::new();
    /// assert!(set.is_empty());
    /// ```
    pub fn new() -> Self {
        HashSet {
            map: HashMap::new(),
        }
    }

    /// An empty set that holds at least `capacity` elements without resizing
    /// and never shrinks below that by itself.
    ///
    /// # Panics
    /// If no table can hold `capacity` elements (as [`HashMap::with_capacity`]).
    ///
    /// ```
    /// let set: evacmap::HashSet<u32> = evacmap::HashSet::with_capacity(1000);
    /// assert!(set.capacity() >= 1000);
    /// ```
    pub fn with_capacity(capacity: usize) -> Self {
        HashSet {
            map: HashMap::with_capacity(capacity),
        }
    }
}

impl<T, S> HashSet<T, S> {
    /// An empty set using `hasher`.
    ///
    /// ```
    /// use std::hash::RandomState;
    /// let set: evacmap::HashSet<u32, RandomState> = evacmap::HashSet::with_hasher(RandomState::new());
    /// set.insert(1);
    /// assert!(set.contains(&1));
    /// ```
    pub fn with_hasher(hasher: S) -> Self {
        HashSet {
            map: HashMap::with_hasher(hasher),
        }
    }

    /// An empty set using `hasher`, presized for `capacity` elements.
    ///
    /// # Panics
    /// If no table can hold `capacity` elements.
    ///
    /// ```
    /// use std::hash::RandomState;
    /// let set: evacmap::HashSet<u32, RandomState> =
    ///     evacmap::HashSet::with_capacity_and_hasher(100, RandomState::new());
    /// assert!(set.capacity() >= 100);
    /// ```
    pub fn with_capacity_and_hasher(capacity: usize, hasher: S) -> Self {
        HashSet {
            map: HashMap::with_capacity_and_hasher(capacity, hasher),
        }
    }

    /// A set using `map`'s elements (keys), configuration and hasher: the
    /// way to build a set with [`HashMap::builder`]'s options.
    ///
    /// ```
    /// use evacmap::{HashMap, HashSet};
    /// let map: HashMap<u32, ()> = HashMap::builder().shards(4).build().unwrap();
    /// let set = HashSet::from_map(map);
    /// set.insert(7);
    /// assert_eq!(set.as_map().shards(), 4);
    /// ```
    pub fn from_map(map: HashMap<T, (), S>) -> Self {
        HashSet { map }
    }

    /// The map underneath (its keys are the elements): for
    /// [`HashMap::stats`], [`HashMap::shards`] and the like.
    ///
    /// ```
    /// let set = evacmap::HashSet::from([1, 2, 3]);
    /// assert_eq!(set.as_map().len(), 3);
    /// ```
    pub fn as_map(&self) -> &HashMap<T, (), S> {
        &self.map
    }

    /// The number of elements: a sum of per-shard counters, no locks. Under
    /// concurrent writes it is a snapshot that may be stale by the time it
    /// returns.
    ///
    /// ```
    /// let set = evacmap::HashSet::from(["a", "b"]);
    /// assert_eq!(set.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the set has no elements.
    ///
    /// ```
    /// let set = evacmap::HashSet::new();
    /// assert!(set.is_empty());
    /// set.insert(1);
    /// assert!(!set.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Elements the current tables hold before any of them grows (see
    /// [`HashMap::capacity`]).
    ///
    /// ```
    /// let set: evacmap::HashSet<u8> = evacmap::HashSet::with_capacity(64);
    /// assert!(set.capacity() >= 64);
    /// ```
    pub fn capacity(&self) -> usize {
        self.map.capacity()
    }

    /// The set's hasher.
    ///
    /// ```
    /// use std::hash::BuildHasher;
    /// let set = evacmap::HashSet::from([1]);
    /// let _ = set.hasher().hash_one(1);
    /// ```
    pub fn hasher(&self) -> &S {
        self.map.hasher()
    }

    /// Sizes, bytes and resize progress; see [`MapStats`].
    ///
    /// ```
    /// let set = evacmap::HashSet::from([1, 2, 3]);
    /// assert_eq!(set.stats().len, 3);
    /// ```
    pub fn stats(&self) -> MapStats {
        self.map.stats()
    }
}

impl<T, S> HashSet<T, S>
where
    T: Hash + Eq + Send + 'static,
    S: BuildHasher,
{
    /// Adds `value`; true if it was absent. If an equal element is present
    /// the set is not changed and `value` is dropped (as std's and papaya's
    /// keep the element they have; [`HashSet::replace`] swaps it instead).
    ///
    /// ```
    /// let set = evacmap::HashSet::new();
    /// assert!(set.insert("a"));
    /// assert!(!set.insert("a"));
    /// assert_eq!(set.len(), 1);
    /// ```
    pub fn insert(&self, value: T) -> bool {
        let hash = self.map.hash_of(&value);
        let guard = epoch::pin();
        // The rejected element comes back in the Err and is dropped here,
        // after the shard lock was released.
        self.map
            .publish(&guard, hash, value, (), Expected::Absent)
            .is_ok()
    }

    /// Adds `value`, replacing an equal element if there is one, and returns
    /// the replaced element (still readable through the handle).
    ///
    /// ```
    /// let set = evacmap::HashSet::new();
    /// assert!(set.replace(String::from("a")).is_none());
    /// let old = set.replace(String::from("a")).unwrap();
    /// assert_eq!(*old, "a");
    /// assert_eq!(set.len(), 1);
    /// ```
    pub fn replace(&self, value: T) -> Option<KeyRef<'_, T, ()>> {
        self.map.insert(value, ()).map(|r| r.into_key_ref())
    }

    /// Whether an element equal to `value` is present.
    ///
    /// ```
    /// let set = evacmap::HashSet::from([String::from("a")]);
    /// assert!(set.contains("a"));
    /// assert!(!set.contains("b"));
    /// ```
    pub fn contains<Q>(&self, value: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.contains_key(value)
    }

    /// The element equal to `value`, behind a guard (never a lock): it stays
    /// readable while the handle lives, even if it is removed meanwhile.
    ///
    /// ```
    /// let set = evacmap::HashSet::from([String::from("apple")]);
    /// let apple = set.get("apple").unwrap();
    /// set.remove("apple");
    /// assert_eq!(apple.len(), 5); // still readable
    /// assert!(set.get("apple").is_none());
    /// ```
    pub fn get<Q>(&self, value: &Q) -> Option<KeyRef<'_, T, ()>>
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get(value).map(|r| r.into_key_ref())
    }

    /// Removes the element equal to `value`; true if there was one.
    ///
    /// ```
    /// let set = evacmap::HashSet::from([1, 2]);
    /// assert!(set.remove(&1));
    /// assert!(!set.remove(&1));
    /// assert_eq!(set.len(), 1);
    /// ```
    pub fn remove<Q>(&self, value: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let guard = epoch::pin();
        self.map
            .unpublish(&guard, self.map.hash_of(value), value)
            .is_some()
    }

    /// Removes the element equal to `value` and returns it behind a guard.
    ///
    /// std's `take` returns the `T` itself. Here a reader on another thread
    /// may be looking at the element when it is removed, so it cannot be
    /// moved out; it is dropped once the last guard that could see it is
    /// gone. Clone it from the handle if you need to own it.
    ///
    /// ```
    /// let set = evacmap::HashSet::from([String::from("a")]);
    /// let taken: String = set.take("a").unwrap().clone();
    /// assert_eq!(taken, "a");
    /// assert!(set.take("a").is_none());
    /// ```
    pub fn take<Q>(&self, value: &Q) -> Option<KeyRef<'_, T, ()>>
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.remove(value).map(|r| r.into_key_ref())
    }

    /// Removes every element. Atomic per shard, not for the whole set: an
    /// insert racing the clear may survive it (see [`HashMap::clear`]).
    ///
    /// ```
    /// let set = evacmap::HashSet::from([1, 2, 3]);
    /// set.clear();
    /// assert!(set.is_empty());
    /// ```
    pub fn clear(&self) {
        self.map.clear();
    }

    /// Keeps only the elements for which `keep` returns true. `keep` runs
    /// without any lock held; weakly consistent like iteration (see
    /// [`HashMap::retain`]).
    ///
    /// ```
    /// let set: evacmap::HashSet<u32> = (0..10).collect();
    /// set.retain(|x| x % 2 == 0);
    /// assert_eq!(set.len(), 5);
    /// assert!(!set.contains(&3));
    /// ```
    pub fn retain(&self, mut keep: impl FnMut(&T) -> bool) {
        self.map.retain(|value, ()| keep(value));
    }

    /// Makes room for `additional` more elements and keeps automatic
    /// shrinking from going below that capacity.
    ///
    /// # Panics
    /// On capacity overflow (see [`HashMap::reserve`]).
    ///
    /// ```
    /// let set: evacmap::HashSet<u32> = evacmap::HashSet::new();
    /// set.reserve(500);
    /// assert!(set.capacity() >= 500);
    /// ```
    pub fn reserve(&self, additional: usize) {
        self.map.reserve(additional);
    }

    /// Resizes the tables to what the elements need, now, and forgets
    /// capacities reserved earlier (see [`HashMap::shrink_to_fit`]).
    ///
    /// ```
    /// let set: evacmap::HashSet<u32> = evacmap::HashSet::with_capacity(100_000);
    /// set.insert(1);
    /// set.shrink_to_fit();
    /// assert!(set.capacity() < 100_000);
    /// assert!(set.contains(&1));
    /// ```
    pub fn shrink_to_fit(&self) {
        self.map.shrink_to_fit();
    }

    /// Finishes pending resizes and frees retired memory no thread can still
    /// read (see [`HashMap::reclaim`]).
    ///
    /// ```
    /// let set: evacmap::HashSet<u32> = (0..1000).collect();
    /// set.clear();
    /// let report = set.reclaim();
    /// println!("{} bytes still pending", report.pending_bytes);
    /// ```
    pub fn reclaim(&self) -> Reclaimed {
        self.map.reclaim()
    }

    /// The elements, as guarded handles: weakly consistent and exact-once
    /// (no element twice, every element present throughout, none that was
    /// never present), pinning per chunk and never blocking writers.
    ///
    /// ```
    /// let set = evacmap::HashSet::from([1, 2, 3]);
    /// let mut all: Vec<i32> = set.iter().map(|x| *x).collect();
    /// all.sort();
    /// assert_eq!(all, [1, 2, 3]);
    /// ```
    pub fn iter(&self) -> Keys<'_, T, ()> {
        self.map.keys()
    }

    /// A handle pinned once for many operations, lending plain `&T`; see
    /// [`PinnedSet`]. Keep it short-lived: it delays reclamation.
    ///
    /// ```
    /// let set = evacmap::HashSet::from([1, 2, 3]);
    /// let pinned = set.pin();
    /// let total: i32 = pinned.iter().sum();
    /// assert_eq!(total, 6);
    /// ```
    pub fn pin(&self) -> PinnedSet<'_, T, S> {
        PinnedSet {
            set: self,
            pinned: self.map.pin(),
        }
    }
}

/// A guard-bound handle to a [`HashSet`] (from [`HashSet::pin`]): one epoch
/// pin for many operations, and elements lent as plain `&T` for as long as
/// the handle lives. Like [`Pinned`](crate::Pinned), it holds back
/// reclamation while it lives; [`PinnedSet::repin`] lets it proceed.
///
/// ```
/// let set = evacmap::HashSet::from(["a", "b"]);
/// let pinned = set.pin();
/// let a: &&str = pinned.get("a").unwrap();
/// set.remove("a"); // `a` stays readable while `pinned` lives
/// assert_eq!(*a, "a");
/// assert!(!pinned.contains("a"));
/// ```
pub struct PinnedSet<'s, T, S> {
    set: &'s HashSet<T, S>,
    pinned: Pinned<'s, T, (), S>,
}

impl<'s, T, S> PinnedSet<'s, T, S>
where
    T: Hash + Eq + Send + 'static,
    S: BuildHasher,
{
    /// The element equal to `value`, valid while the handle lives.
    ///
    /// ```
    /// let set = evacmap::HashSet::from([String::from("a")]);
    /// let pinned = set.pin();
    /// let a: &String = pinned.get("a").unwrap();
    /// assert_eq!(a, "a");
    /// ```
    pub fn get<Q>(&self, value: &Q) -> Option<&T>
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.pinned.get_key_value(value).map(|(k, ())| k)
    }

    /// Whether an element equal to `value` is present.
    ///
    /// ```
    /// let set = evacmap::HashSet::from([1]);
    /// assert!(set.pin().contains(&1));
    /// ```
    pub fn contains<Q>(&self, value: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.pinned.contains_key(value)
    }

    /// Adds `value`; true if it was absent (as [`HashSet::insert`]).
    ///
    /// ```
    /// let set = evacmap::HashSet::new();
    /// let pinned = set.pin();
    /// assert!(pinned.insert(1));
    /// assert!(!pinned.insert(1));
    /// ```
    pub fn insert(&self, value: T) -> bool {
        // Pinning again while the handle is pinned is cheap (no fence).
        self.set.insert(value)
    }

    /// Removes the element equal to `value`; true if there was one.
    ///
    /// ```
    /// let set = evacmap::HashSet::from([1]);
    /// let pinned = set.pin();
    /// assert!(pinned.remove(&1));
    /// assert!(!pinned.contains(&1));
    /// ```
    pub fn remove<Q>(&self, value: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.pinned.remove(value).is_some()
    }

    /// Removes the element equal to `value` and lends it while the handle
    /// lives (see [`HashSet::take`] for why it is not moved out).
    ///
    /// ```
    /// let set = evacmap::HashSet::from([String::from("a")]);
    /// let pinned = set.pin();
    /// assert_eq!(pinned.take("a").map(String::as_str), Some("a"));
    /// assert!(pinned.is_empty());
    /// ```
    pub fn take<Q>(&self, value: &Q) -> Option<&T>
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let guard = epoch::pin();
        let removed = self
            .set
            .map
            .unpublish(&guard, self.set.map.hash_of(value), value)?;
        let removed: *const T = &removed.key;
        // SAFETY: the entry was reached while this handle's guard was pinned
        // (the nested `guard` only adds to it), so it is not freed before
        // the handle unpins, and `&self` borrows the handle until then.
        Some(unsafe { &*removed })
    }

    /// The elements, under this handle's guard: weakly consistent and
    /// exact-once, as [`HashSet::iter`].
    ///
    /// ```
    /// let set = evacmap::HashSet::from([1, 2, 3]);
    /// let pinned = set.pin();
    /// assert_eq!(pinned.iter().count(), 3);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.pinned.keys()
    }

    /// The number of elements.
    ///
    /// ```
    /// let set = evacmap::HashSet::from([1, 2]);
    /// assert_eq!(set.pin().len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether the set is empty.
    ///
    /// ```
    /// let set: evacmap::HashSet<u8> = evacmap::HashSet::new();
    /// assert!(set.pin().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Unpins and pins again, letting reclamation proceed. Needs `&mut self`,
    /// so no element lent by this handle can still be borrowed.
    ///
    /// ```
    /// let set: evacmap::HashSet<u32> = (0..1000).collect();
    /// let mut pinned = set.pin();
    /// for chunk in 0..10 {
    ///     for i in chunk * 100..(chunk + 1) * 100 {
    ///         pinned.remove(&i);
    ///     }
    ///     pinned.repin();
    /// }
    /// assert!(pinned.is_empty());
    /// ```
    pub fn repin(&mut self) {
        self.pinned.repin();
    }

    /// The set this handle reads.
    ///
    /// ```
    /// let set = evacmap::HashSet::from([1]);
    /// let pinned = set.pin();
    /// assert_eq!(pinned.set().len(), 1);
    /// ```
    pub fn set(&self) -> &'s HashSet<T, S> {
        self.set
    }
}

impl<T, S> fmt::Debug for PinnedSet<'_, T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinnedSet")
            .field("len", &self.set.len())
            .finish_non_exhaustive()
    }
}

impl<T, S: Default> Default for HashSet<T, S> {
    /// An empty set with the default hasher.
    ///
    /// ```
    /// let set: evacmap::HashSet<u8> = Default::default();
    /// assert!(set.is_empty());
    /// ```
    fn default() -> Self {
        Self::with_hasher(S::default())
    }
}

impl<T, S> fmt::Debug for HashSet<T, S>
where
    T: Hash + Eq + Send + 'static + fmt::Debug,
    S: BuildHasher,
{
    /// The elements, in the set's (arbitrary) iteration order.
    ///
    /// ```
    /// let set = evacmap::HashSet::from([1]);
    /// assert_eq!(format!("{set:?}"), "{1}");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.pin().iter()).finish()
    }
}

impl<T, S> Clone for HashSet<T, S>
where
    T: Hash + Eq + Send + 'static + Clone,
    S: BuildHasher + Clone,
{
    /// A deep copy with the same configuration and hasher; weakly consistent
    /// with concurrent writes, like iteration.
    ///
    /// ```
    /// let set = evacmap::HashSet::from([1, 2]);
    /// let copy = set.clone();
    /// set.insert(3);
    /// assert_eq!(copy.len(), 2);
    /// ```
    fn clone(&self) -> Self {
        HashSet {
            map: self.map.clone(),
        }
    }
}

impl<T, S> PartialEq for HashSet<T, S>
where
    T: Hash + Eq + Send + 'static,
    S: BuildHasher,
{
    /// Same length and every element of `self` in `other`. Exact when
    /// neither set changes during the comparison; under concurrent writes it
    /// compares snapshots taken element by element.
    ///
    /// ```
    /// let a = evacmap::HashSet::from([1, 2, 3]);
    /// let b: evacmap::HashSet<i32> = [3, 2, 1].into_iter().collect();
    /// assert_eq!(a, b);
    /// b.remove(&1);
    /// assert_ne!(a, b);
    /// ```
    fn eq(&self, other: &Self) -> bool {
        if self.len() != other.len() {
            return false;
        }
        let other = other.pin();
        let all_in_other = self.pin().iter().all(|value| other.contains(value));
        all_in_other
    }
}

impl<T, S> Eq for HashSet<T, S>
where
    T: Hash + Eq + Send + 'static,
    S: BuildHasher,
{
}

impl<T, S> HashSet<T, S>
where
    T: Hash + Eq + Send + 'static,
    S: BuildHasher,
{
    /// Inserts a batch under one pin (the outermost pin costs a fence).
    fn extend_from(&self, values: impl Iterator<Item = T>) {
        let _batch = epoch::pin();
        for value in values {
            self.insert(value);
        }
    }
}

impl<T, S> Extend<T> for HashSet<T, S>
where
    T: Hash + Eq + Send + 'static,
    S: BuildHasher,
{
    /// Inserts each element (an element already present is kept, as by
    /// [`HashSet::insert`]).
    ///
    /// ```
    /// let mut set = evacmap::HashSet::from([1]);
    /// set.extend([1, 2, 3]);
    /// assert_eq!(set.len(), 3);
    /// ```
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        self.extend_from(iter.into_iter());
    }
}

impl<'a, T, S> Extend<&'a T> for HashSet<T, S>
where
    T: Hash + Eq + Send + 'static + Copy,
    S: BuildHasher,
{
    /// Inserts a copy of each element.
    ///
    /// ```
    /// let mut set: evacmap::HashSet<u32> = evacmap::HashSet::new();
    /// set.extend(&[1, 2, 2]);
    /// assert_eq!(set.len(), 2);
    /// ```
    fn extend<I: IntoIterator<Item = &'a T>>(&mut self, iter: I) {
        self.extend_from(iter.into_iter().copied());
    }
}

impl<T, S> FromIterator<T> for HashSet<T, S>
where
    T: Hash + Eq + Send + 'static,
    S: BuildHasher + Default,
{
    /// A set of the elements, presized by the iterator's lower size hint.
    ///
    /// ```
    /// let set: evacmap::HashSet<char> = "hello".chars().collect();
    /// assert_eq!(set.len(), 4);
    /// ```
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let iter = iter.into_iter();
        let set = Self::with_capacity_and_hasher(iter.size_hint().0, S::default());
        set.extend_from(iter);
        set
    }
}

impl<T, const N: usize> From<[T; N]> for HashSet<T, DefaultHashBuilder>
where
    T: Hash + Eq + Send + 'static,
{
    /// A set of the array's elements.
    ///
    /// ```
    /// let set = evacmap::HashSet::from(["a", "b", "a"]);
    /// assert_eq!(set.len(), 2);
    /// ```
    fn from(values: [T; N]) -> Self {
        values.into_iter().collect()
    }
}

impl<'a, T, S> IntoIterator for &'a HashSet<T, S>
where
    T: Hash + Eq + Send + 'static,
    S: BuildHasher,
{
    type Item = KeyRef<'a, T, ()>;
    type IntoIter = Keys<'a, T, ()>;

    /// As [`HashSet::iter`].
    ///
    /// ```
    /// let set = evacmap::HashSet::from([5]);
    /// for value in &set {
    ///     assert_eq!(*value, 5);
    /// }
    /// ```
    fn into_iter(self) -> Keys<'a, T, ()> {
        self.iter()
    }
}
