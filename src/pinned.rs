//! [`Pinned`]: one epoch guard for many operations, and plain references.
//!
//! Every `HashMap` operation pins an epoch guard; the outermost pin costs a
//! memory fence. A `Pinned` handle pins once and lends `&V` for as long as the
//! handle lives, which is the fastest way to do many reads. In exchange, the
//! thread stays pinned: memory retired meanwhile (by this map or anything else
//! on the global collector) is not freed until the handle is dropped or
//! [`Pinned::repin`]ned. Keep handles short-lived in loops.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};

use crate::iter::PinnedIter;
use crate::raw::pin_for_read;
use crate::sync::epoch::Guard;
use crate::HashMap;

/// A guard-bound handle to a map; see [`HashMap::pin`].
///
/// ```
/// let map = evacmap::HashMap::new();
/// map.insert("a", 1);
/// let pinned = map.pin();
/// pinned.insert("b", 2);
/// let sum: i32 = pinned.values().sum(); // plain &i32, one pin for all reads
/// assert_eq!(sum, 3);
/// ```
pub struct Pinned<'m, K, V, S> {
    pub(crate) map: &'m HashMap<K, V, S>,
    pub(crate) guard: Guard,
}

impl<'m, K, V, S> Pinned<'m, K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    pub(crate) fn new(map: &'m HashMap<K, V, S>) -> Self {
        Pinned {
            map,
            guard: pin_for_read(),
        }
    }

    /// The value for `key`, valid while the handle lives.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert("a", 1);
    /// let pinned = map.pin();
    /// let a: &i32 = pinned.get("a").unwrap();
    /// map.remove("a"); // a stays readable while `pinned` lives
    /// assert_eq!(*a, 1);
    /// assert!(pinned.get("a").is_none());
    /// ```
    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get_entry(key, &self.guard).map(|e| &e.value)
    }

    /// Key and value for `key`.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert(String::from("a"), 1);
    /// let pinned = map.pin();
    /// assert_eq!(pinned.get_key_value("a"), Some((&String::from("a"), &1)));
    /// assert_eq!(pinned.get_key_value("b"), None);
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
    /// map.insert("a", 1);
    /// let pinned = map.pin();
    /// assert!(pinned.contains_key("a"));
    /// assert!(!pinned.contains_key("b"));
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
    /// let pinned = map.pin();
    /// assert_eq!(pinned.insert("a", 1), None);
    /// assert_eq!(pinned.insert("a", 2), Some(&1));
    /// assert_eq!(pinned.get("a"), Some(&2));
    /// ```
    pub fn insert(&self, key: K, value: V) -> Option<&V> {
        self.map
            .insert_entry(key, value, &self.guard)
            .map(|e| &e.value)
    }

    /// Removes `key`; returns its value (still readable while the handle lives).
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert("a", 1);
    /// let pinned = map.pin();
    /// assert_eq!(pinned.remove("a"), Some(&1));
    /// assert_eq!(pinned.remove("a"), None);
    /// assert!(pinned.is_empty());
    /// ```
    pub fn remove<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.remove_guarded(key, &self.guard).map(|e| &e.value)
    }

    /// Entries, under this handle's guard.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert(1, 10);
    /// map.insert(2, 20);
    /// let pinned = map.pin();
    /// let mut pairs: Vec<(&i32, &i32)> = pinned.iter().collect();
    /// pairs.sort();
    /// assert_eq!(pairs, [(&1, &10), (&2, &20)]);
    /// ```
    pub fn iter(&self) -> PinnedIter<'_, K, V> {
        PinnedIter::new(&self.map.raw, &self.guard)
    }

    /// Keys, under this handle's guard.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert("b", 2);
    /// map.insert("a", 1);
    /// let pinned = map.pin();
    /// let mut keys: Vec<&str> = pinned.keys().copied().collect();
    /// keys.sort();
    /// assert_eq!(keys, ["a", "b"]);
    /// ```
    pub fn keys(&self) -> impl Iterator<Item = &K> + '_ {
        self.iter().map(|(k, _)| k)
    }

    /// Values, under this handle's guard.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert("a", 1);
    /// map.insert("b", 2);
    /// let pinned = map.pin();
    /// assert_eq!(pinned.values().max(), Some(&2));
    /// ```
    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.iter().map(|(_, v)| v)
    }

    /// Live entries.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// let pinned = map.pin();
    /// pinned.insert("a", 1);
    /// pinned.insert("b", 2);
    /// assert_eq!(pinned.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the map is empty.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// let pinned = map.pin();
    /// assert!(pinned.is_empty());
    /// pinned.insert("a", 1);
    /// assert!(!pinned.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Unpins and pins again, letting reclamation proceed. Needs `&mut self`,
    /// so no reference from this handle can still be alive.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// let mut pinned = map.pin();
    /// let mut total = 0;
    /// for i in 0..10_000u64 {
    ///     pinned.insert(i, i);
    ///     total += *pinned.get(&i).unwrap();
    ///     if i % 1000 == 999 {
    ///         pinned.repin(); // let garbage retired so far be freed
    ///     }
    /// }
    /// assert_eq!(total, (0..10_000).sum());
    /// ```
    pub fn repin(&mut self) {
        self.guard.repin();
    }

    /// The map this handle reads.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// let pinned = map.pin();
    /// pinned.insert("a", 1);
    /// assert!(std::ptr::eq(pinned.map(), &map));
    /// assert_eq!(pinned.map().get_cloned("a"), Some(1));
    /// ```
    pub fn map(&self) -> &'m HashMap<K, V, S> {
        self.map
    }
}

impl<K, V, S> fmt::Debug for Pinned<'_, K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pinned")
            .field("len", &self.map.len())
            .finish_non_exhaustive()
    }
}
