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
use crate::sync::epoch::{self, Guard};
use crate::HashMap;

/// A guard-bound handle to a map; see [`HashMap::pin`].
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
            guard: epoch::pin(),
        }
    }

    /// The value for `key`, valid while the handle lives.
    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get_entry(key, &self.guard).map(|e| &e.value)
    }

    /// Key and value for `key`.
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
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(key).is_some()
    }

    /// Inserts or replaces; returns the previous value (still readable while
    /// the handle lives).
    pub fn insert(&self, key: K, value: V) -> Option<&V> {
        self.map
            .insert_entry(key, value, &self.guard)
            .map(|e| &e.value)
    }

    /// Removes `key`; returns its value (still readable while the handle lives).
    pub fn remove<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.remove_guarded(key, &self.guard).map(|e| &e.value)
    }

    /// Entries, under this handle's guard.
    pub fn iter(&self) -> PinnedIter<'_, K, V> {
        PinnedIter::new(&self.map.raw, &self.guard)
    }

    /// Keys, under this handle's guard.
    pub fn keys(&self) -> impl Iterator<Item = &K> + '_ {
        self.iter().map(|(k, _)| k)
    }

    /// Values, under this handle's guard.
    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.iter().map(|(_, v)| v)
    }

    /// Live entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Unpins and pins again, letting reclamation proceed. Needs `&mut self`,
    /// so no reference from this handle can still be alive.
    pub fn repin(&mut self) {
        self.guard.repin();
    }

    /// The map this handle reads.
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
