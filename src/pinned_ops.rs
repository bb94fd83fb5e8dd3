//! The read-modify-write operations on a [`Pinned`] handle: the same cores
//! as [`HashMap`](crate::HashMap)'s (`compute.rs`, `upsert.rs`), run under the handle's
//! guard, returning plain references valid while the handle lives.

use std::borrow::Borrow;
use std::convert::Infallible;
use std::hash::{BuildHasher, Hash};

use crate::compute::{infallible, Absent, Computed, Op};
use crate::pinned::Pinned;

impl<'m, K, V, S> Pinned<'m, K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    /// [`HashMap::update`](crate::HashMap::update) under this handle's guard: the new value, or
    /// `None` if the key is absent.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert("n", 1);
    /// let pinned = map.pin();
    /// assert_eq!(pinned.update("n", |n| n + 1), Some(&2));
    /// assert_eq!(pinned.update("m", |n| n + 1), None);
    /// ```
    pub fn update<Q, F>(&self, key: &Q, f: F) -> Option<&V>
    where
        K: Borrow<Q> + Clone,
        Q: Hash + Eq + ?Sized,
        F: FnMut(&V) -> V,
    {
        self.map.update_in(key, f, &self.guard).map(|e| &e.value)
    }

    /// [`HashMap::compute`](crate::HashMap::compute) under this handle's guard; the outcome lends
    /// plain `&V`.
    ///
    /// ```
    /// use evacmap::{Computed, Op};
    /// let map = evacmap::HashMap::new();
    /// let pinned = map.pin();
    /// assert!(matches!(pinned.compute("k", |_| Op::Insert(1)), Computed::Inserted(&1)));
    /// assert!(matches!(
    ///     pinned.compute("k", |v| Op::Insert(v.unwrap() + 1)),
    ///     Computed::Replaced { old: &1, new: &2 }
    /// ));
    /// ```
    pub fn compute<F>(&self, key: K, mut f: F) -> Computed<&V>
    where
        F: FnMut(Option<&V>) -> Op<V>,
    {
        let done = infallible(
            self.map
                .compute_in(key, |v| Ok::<_, Infallible>(f(v)), &self.guard),
        );
        done.map(|e| &e.value)
    }

    /// [`HashMap::try_compute`](crate::HashMap::try_compute) under this handle's guard.
    ///
    /// ```
    /// use evacmap::Op;
    /// let map = evacmap::HashMap::new();
    /// let pinned = map.pin();
    /// let r = pinned.try_compute("k", |v| match v {
    ///     None => Err("absent"),
    ///     Some(n) => Ok(Op::Insert(n + 1)),
    /// });
    /// assert_eq!(r.unwrap_err(), "absent");
    /// ```
    pub fn try_compute<F, E>(&self, key: K, f: F) -> Result<Computed<&V>, E>
    where
        F: FnMut(Option<&V>) -> Result<Op<V>, E>,
    {
        Ok(self.map.compute_in(key, f, &self.guard)?.map(|e| &e.value))
    }

    /// [`HashMap::get_or_insert_with`](crate::HashMap::get_or_insert_with) under this handle's guard.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// let pinned = map.pin();
    /// let a = pinned.get_or_insert_with("a", || 1);
    /// let again = pinned.get_or_insert_with("a", || 2);
    /// assert_eq!((a, again), (&1, &1));
    /// ```
    pub fn get_or_insert_with<F>(&self, key: K, make: F) -> &V
    where
        F: FnOnce() -> V,
    {
        match infallible(self.map.insert_absent_in(key, || Ok(make()), &self.guard)) {
            Absent::Inserted(e) | Absent::Present(e) => &e.value,
            // The loser's value is dropped here, outside the lock.
            Absent::Lost(e, _value) => &e.value,
        }
    }

    /// [`HashMap::remove_if`](crate::HashMap::remove_if) under this handle's guard: `Ok(Some(removed))`,
    /// `Ok(None)` if absent, `Err(kept)` if `f` decided to keep it.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert("a", 1);
    /// map.insert("b", 2);
    /// let pinned = map.pin();
    /// assert_eq!(pinned.remove_if("a", |_, v| *v > 1), Err(&1));
    /// assert_eq!(pinned.remove_if("b", |_, v| *v > 1), Ok(Some(&2)));
    /// assert_eq!(pinned.remove_if("c", |_, v| *v > 1), Ok(None));
    /// ```
    pub fn remove_if<Q, F>(&self, key: &Q, f: F) -> Result<Option<&V>, &V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        F: FnMut(&K, &V) -> bool,
    {
        match self.map.remove_if_in(key, f, &self.guard) {
            Ok(removed) => Ok(removed.map(|e| &e.value)),
            Err(kept) => Err(&kept.value),
        }
    }

    /// [`HashMap::update_or_insert_with`](crate::HashMap::update_or_insert_with) under this handle's guard.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// let pinned = map.pin();
    /// assert_eq!(pinned.update_or_insert_with("n", |n| n + 1, || 0), &0);
    /// assert_eq!(pinned.update_or_insert_with("n", |n| n + 1, || 0), &1);
    /// ```
    pub fn update_or_insert_with<F, M>(&self, key: K, update: F, make: M) -> &V
    where
        F: FnMut(&V) -> V,
        M: FnOnce() -> V,
    {
        &self.map.upsert_in(key, update, make, &self.guard).value
    }

    /// Removes `key`; returns its stored key and value (still readable
    /// while the handle lives).
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert("a", 1);
    /// let pinned = map.pin();
    /// assert_eq!(pinned.remove_entry("a"), Some((&"a", &1)));
    /// assert_eq!(pinned.remove_entry("a"), None);
    /// ```
    pub fn remove_entry<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map
            .remove_guarded(key, &self.guard)
            .map(|e| (&e.key, &e.value))
    }
}
