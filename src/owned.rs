//! [`OwnedPinned`]: a pinned handle that is `Send`, so a `Send` future can
//! keep it (and the `&V` it lends) across `.await`s (papaya's `pin_owned`).
//!
//! A [`Pinned`](crate::Pinned) handle holds a crossbeam-epoch `Guard` of the
//! *thread's* participant, which must stay on that thread: the participant's
//! bookkeeping (guard count, local garbage bag) is plain thread-owned memory,
//! and other guards of the same thread share it. An `OwnedPinned` instead
//! registers a participant of its own with the default collector (the one the
//! map retires into) and keeps one guard of it pinned. Nothing else ever
//! touches that participant, so the handle can move to another thread as a
//! whole; see SAFETY.md ("`OwnedPinned`") for the full argument and the
//! checks.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};

use crate::iter::PinnedIter;
use crate::sync::epoch::{self, Guard, LocalHandle};
use crate::HashMap;

/// A handle that owns its own epoch participant and keeps it pinned: `Send`,
/// so it can live across `.await` in a `Send` future (a tokio task that
/// moves between worker threads), and lends `&V` for as long as it lives.
/// See [`HashMap::pin_owned`].
///
/// Not `Sync`: two threads must not use one participant at the same time.
/// Like every pin, it delays reclamation of *everything* retired on the
/// process's crossbeam-epoch collector while it lives; see the crate docs'
/// "Async" section.
///
/// ```
/// use std::sync::Arc;
/// let map = Arc::new(evacmap::HashMap::new());
/// map.insert(1, "one".to_string());
///
/// let worker = Arc::clone(&map);
/// std::thread::spawn(move || {
///     let handle = worker.pin_owned();
///     // The handle, and a reference it lent, move to another thread together.
///     let (handle, one) = std::thread::scope(|s| {
///         s.spawn(move || {
///             let len = handle.get(&1).map(|v| v.len());
///             (handle, len)
///         })
///         .join()
///         .unwrap()
///     });
///     assert_eq!(one, Some(3));
///     drop(handle);
/// })
/// .join()
/// .unwrap();
/// ```
pub struct OwnedPinned<'m, K, V, S> {
    /// Dropped first (fields drop in declaration order): unpins the
    /// participant, which the handle below still registers.
    guard: Guard,
    /// This handle's own participant in the default collector. Dropping it
    /// (after the guard) moves its garbage bag to the global queue and
    /// unregisters it.
    _participant: LocalHandle,
    map: &'m HashMap<K, V, S>,
}

// SAFETY: the handle owns the only `LocalHandle` of its participant and the
// only `Guard` of it (nothing clones them, and every `Guard` lent out by
// reference is bound to `&self`), so all of the participant's unsynchronised
// state (guard and pin counts, local bag) is reached through this value
// alone; moving the value moves that exclusive access, and the move itself
// (thread spawn, channel, an executor handing a task over) orders the old
// thread's accesses before the new thread's. The participant belongs to the
// default collector, so the map's retirements (made under `guard`) and
// everyone else's see it pinned, whichever thread runs it (see SAFETY.md,
// `OwnedPinned`). `HashMap: Sync` is required because the handle holds
// `&HashMap` and lends `&K`/`&V` on the thread it is moved to, and because
// writes through it move keys and values in and retire old ones.
unsafe impl<K, V, S> Send for OwnedPinned<'_, K, V, S> where HashMap<K, V, S>: Sync {}

impl<'m, K, V, S> OwnedPinned<'m, K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    fn new(map: &'m HashMap<K, V, S>) -> Self {
        // The default collector: the one `epoch::pin()` uses, so the map's
        // retirements wait for this participant too. A collector of our own
        // would not be consulted before the global one frees an entry.
        // inject: owned-pin-foreign-collector
        let participant = epoch::default_collector().register();
        let guard = participant.pin();
        OwnedPinned {
            guard,
            _participant: participant,
            map,
        }
    }

    /// The value for `key`, valid while the handle lives, across `.await`s
    /// and thread moves included.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert("a", 1);
    /// let handle = map.pin_owned();
    /// let a = handle.get("a").unwrap();
    /// map.remove("a"); // still readable through the handle
    /// assert_eq!(*a, 1);
    /// assert!(handle.get("a").is_none());
    /// ```
    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get_entry(key, &self.guard).map(|e| &e.value)
    }

    /// Key and value for `key`, valid while the handle lives.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert("a".to_string(), 1);
    /// let handle = map.pin_owned();
    /// assert_eq!(handle.get_key_value("a"), Some((&"a".to_string(), &1)));
    /// ```
    pub fn get_key_value<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map
            .get_entry(key, &self.guard)
            .map(|e| (&e.key, &e.value))
    }

    /// Whether `key` is present.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert(1, ());
    /// let handle = map.pin_owned();
    /// assert!(handle.contains_key(&1));
    /// assert!(!handle.contains_key(&2));
    /// ```
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(key).is_some()
    }

    /// Inserts or replaces; returns the previous value (still readable while
    /// the handle lives).
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// let handle = map.pin_owned();
    /// assert_eq!(handle.insert(1, "a"), None);
    /// assert_eq!(handle.insert(1, "b"), Some(&"a"));
    /// assert_eq!(map.get_cloned(&1), Some("b"));
    /// ```
    pub fn insert(&self, key: K, value: V) -> Option<&V> {
        self.map
            .insert_entry(key, value, &self.guard)
            .map(|e| &e.value)
    }

    /// Removes `key`; returns its value (still readable while the handle
    /// lives).
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert(1, "a");
    /// let handle = map.pin_owned();
    /// assert_eq!(handle.remove(&1), Some(&"a"));
    /// assert_eq!(handle.remove(&1), None);
    /// ```
    pub fn remove<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.remove_guarded(key, &self.guard).map(|e| &e.value)
    }

    /// Entries, under this handle's guard (weakly consistent, exact-once).
    /// The iterator borrows the handle and is not `Send`: to iterate across
    /// `.await`s, use [`HashMap::iter_cloned`].
    ///
    /// ```
    /// let map: evacmap::HashMap<u32, u32> = (0..10).map(|i| (i, i)).collect();
    /// let handle = map.pin_owned();
    /// assert_eq!(handle.iter().map(|(_, v)| *v).sum::<u32>(), 45);
    /// ```
    pub fn iter(&self) -> PinnedIter<'_, K, V> {
        PinnedIter::new(&self.map.raw, &self.guard)
    }

    /// Keys, under this handle's guard.
    ///
    /// ```
    /// let map: evacmap::HashMap<u32, ()> = (0..10).map(|i| (i, ())).collect();
    /// assert_eq!(map.pin_owned().keys().count(), 10);
    /// ```
    pub fn keys(&self) -> impl Iterator<Item = &K> + '_ {
        self.iter().map(|(k, _)| k)
    }

    /// Values, under this handle's guard.
    ///
    /// ```
    /// let map: evacmap::HashMap<u32, u32> = (0..10).map(|i| (i, 1)).collect();
    /// assert_eq!(map.pin_owned().values().sum::<u32>(), 10);
    /// ```
    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.iter().map(|(_, v)| v)
    }

    /// Live entries.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert(1, 1);
    /// assert_eq!(map.pin_owned().len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the map is empty.
    ///
    /// ```
    /// let map: evacmap::HashMap<u32, u32> = evacmap::HashMap::new();
    /// assert!(map.pin_owned().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Unpins and pins again at the current epoch, so the handle stops
    /// holding back what was retired before. Needs `&mut self`, so no
    /// reference it lent can still be alive. Garbage is freed once the epoch
    /// has advanced twice past its retirement, which a pinned handle allows
    /// only up to one step past its own pin: a long-lived handle that repins
    /// between batches (or before each long `.await`) lets reclamation keep
    /// up.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert(1, vec![0u8; 1024]);
    /// let mut handle = map.pin_owned();
    /// assert_eq!(handle.get(&1).map(Vec::len), Some(1024));
    /// map.remove(&1);
    /// assert!(map.reclaim().pending_objects > 0); // held back by the handle
    /// for _ in 0..4 {
    ///     handle.repin(); // e.g. once per batch of work
    ///     map.reclaim();
    /// }
    /// assert_eq!(map.stats().retired_objects, 0); // freed, handle still alive
    /// assert!(handle.get(&1).is_none());
    /// ```
    pub fn repin(&mut self) {
        self.guard.repin();
    }

    /// The map this handle reads.
    ///
    /// ```
    /// let map: evacmap::HashMap<u32, u32> = evacmap::HashMap::new();
    /// let handle = map.pin_owned();
    /// assert!(std::ptr::eq(handle.map(), &map));
    /// ```
    pub fn map(&self) -> &'m HashMap<K, V, S> {
        self.map
    }
}

impl<K, V, S> fmt::Debug for OwnedPinned<'_, K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPinned")
            .field("len", &self.map.len())
            .finish_non_exhaustive()
    }
}

impl<K, V, S> HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    /// A pinned handle that is `Send`: a `Send` future can hold it, and the
    /// `&V` it lends, across `.await`s, even when the runtime moves the task
    /// to another thread. See [`OwnedPinned`].
    ///
    /// Costs more than [`HashMap::pin`]: it registers a participant of its
    /// own with crossbeam-epoch's collector (an allocation of about 2 KiB
    /// and a lock-free list insertion; both undone when it is dropped).
    /// Create one per task or per batch of reads, not per read; for single
    /// reads in async code, [`HashMap::view`] and [`HashMap::get_cloned`]
    /// hold nothing. While it lives, nothing retired anywhere on the
    /// collector is freed: do not keep one across an `.await` that can
    /// last long (see the crate docs' "Async" section).
    ///
    /// ```
    /// # async fn fetch_price(_: &str) -> u64 { 3 }
    /// use evacmap::HashMap;
    ///
    /// async fn total(map: &HashMap<String, u64>, items: &[&str]) -> u64 {
    ///     let handle = map.pin_owned();
    ///     let mut sum = 0;
    ///     for item in items {
    ///         let known = handle.get(*item); // a `&u64`, kept across the await
    ///         let price = fetch_price(item).await;
    ///         sum += known.copied().unwrap_or(price);
    ///     }
    ///     sum
    /// }
    ///
    /// fn assert_send<T: Send>(_: T) {}
    /// let map = HashMap::new();
    /// map.insert("apple".to_string(), 2);
    /// assert_send(total(&map, &["apple", "pear"]));
    /// ```
    pub fn pin_owned(&self) -> OwnedPinned<'_, K, V, S> {
        OwnedPinned::new(self)
    }
}
