//! Batched reads: [`Pinned::get_many`], [`Pinned::get_many_into`] and
//! [`HashMap::get_many_cloned`] look up many keys under one guard with their
//! cache misses overlapped (see `raw/get_many.rs` for how, and why each result
//! is exactly what a single lookup of that key returns).
//!
//! Worth it when the map is larger than the CPU's caches and the keys are
//! known together (a multi-get, a join, a batch of requests): each lookup
//! then costs about one memory latency for the whole batch instead of two
//! per key. On a small, cache-resident map a batch costs about what the same
//! single gets do.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};

use crate::raw::entry::Entry;
use crate::raw::get_many::GROUP;
use crate::sync::epoch::Guard;
use crate::{HashMap, Pinned};

impl<K, V, S> HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    /// Looks up every key of `keys` under `guard` and passes each result to
    /// `emit` in order, a group of up to 16 keys at a time.
    fn get_batch<'g, 'k, Q>(
        &self,
        keys: impl IntoIterator<Item = &'k Q>,
        guard: &'g Guard,
        mut emit: impl FnMut(Option<&'g Entry<K, V>>),
    ) where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized + 'k,
    {
        let mut keys = keys.into_iter().peekable();
        let mut group: [Option<&Q>; GROUP] = [None; GROUP];
        let mut hashes = [0u64; GROUP];
        let mut found: [Option<&'g Entry<K, V>>; GROUP] = [None; GROUP];
        while keys.peek().is_some() {
            let mut n = 0;
            for key in keys.by_ref().take(GROUP) {
                group[n] = Some(key);
                hashes[n] = self.hash(key);
                n += 1;
            }
            // `group[i]` is `Some` for every `i < n`.
            // inject: batch-compares-wrong-key
            let is_it = |i: usize, e: &Entry<K, V>| Some(e.key.borrow()) == group[i];
            self.raw
                .get_group(&hashes[..n], is_it, guard, &mut found[..n]);
            found[..n].iter().for_each(|&e| emit(e));
        }
    }

    /// The values of `keys`, cloned, read under one epoch pin with their
    /// memory accesses overlapped (see [`Pinned::get_many`]); like `N` calls
    /// of [`HashMap::get_cloned`], each key read at its own moment.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert("a", String::from("alpha"));
    /// map.insert("c", String::from("gamma"));
    /// let [a, b, c] = map.get_many_cloned(["a", "b", "c"]);
    /// assert_eq!((a.as_deref(), b, c.as_deref()), (Some("alpha"), None, Some("gamma")));
    /// ```
    pub fn get_many_cloned<Q, const N: usize>(&self, keys: [&Q; N]) -> [Option<V>; N]
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        let pinned = self.pin();
        pinned.get_many(keys).map(|v| v.cloned())
    }
}

impl<'m, K, V, S> Pinned<'m, K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    /// The values of `keys`, with their memory accesses overlapped: all the
    /// keys are hashed, then every key's bucket is fetched, then every
    /// candidate entry, then the keys are compared, so that the cache misses
    /// of a large map are waited for together rather than one after the
    /// other (up to 16 keys at a time).
    ///
    /// Each result is what [`Pinned::get`] of that key would return; the
    /// batch is not atomic (a write between two keys' lookups may be seen by
    /// one and not the other, as with separate gets). Duplicate keys are
    /// allowed.
    ///
    /// ```
    /// let map: evacmap::HashMap<u64, u64> = (0..1000).map(|i| (i, i * i)).collect();
    /// let pinned = map.pin();
    /// let [a, b, c] = pinned.get_many([&3, &2000, &30]);
    /// assert_eq!((a, b, c), (Some(&9), None, Some(&900)));
    /// ```
    pub fn get_many<Q, const N: usize>(&self, keys: [&Q; N]) -> [Option<&V>; N]
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut out = [None; N];
        let mut slots = out.iter_mut();
        self.map.get_batch(keys, &self.guard, |e| {
            // One result per key: `slots` has exactly `N`.
            *slots.next().unwrap() = e.map(|e| &e.value);
        });
        out
    }

    /// Appends the value of each key of `keys` (or `None`) to `out`, in
    /// order, as [`Pinned::get_many`] does for a number of keys known only at
    /// run time. `out` is not cleared first.
    ///
    /// ```
    /// let map: evacmap::HashMap<String, usize> =
    ///     ["apple", "pear", "fig"].iter().map(|s| (s.to_string(), s.len())).collect();
    /// let wanted = vec!["fig".to_string(), "kiwi".to_string(), "apple".to_string()];
    /// let pinned = map.pin();
    /// let mut lengths = Vec::new();
    /// pinned.get_many_into(&wanted, &mut lengths);
    /// assert_eq!(lengths, [Some(&3), None, Some(&5)]);
    /// ```
    pub fn get_many_into<'a, 'k, Q>(
        &'a self,
        keys: impl IntoIterator<Item = &'k Q>,
        out: &mut Vec<Option<&'a V>>,
    ) where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized + 'k,
    {
        self.map
            .get_batch(keys, &self.guard, |e| out.push(e.map(|e| &e.value)));
    }
}
