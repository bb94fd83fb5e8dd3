//! Upserts: [`HashMap::update_or_insert`] and
//! [`HashMap::update_or_insert_with`] (papaya's names and semantics): update
//! the key's value if present, insert one if absent, atomically.

use std::hash::{BuildHasher, Hash};

use crate::compute::SelfWrites;
use crate::raw::entry::Entry;
use crate::raw::SwapExpect;
use crate::refs::Ref;
use crate::sync::epoch::{self, Guard};
use crate::HashMap;

impl<K, V, S> HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    /// Core of the upserts: the entry published.
    pub(crate) fn upsert_in<'g, F, M>(
        &self,
        key: K,
        mut update: F,
        make: M,
        guard: &'g Guard,
    ) -> &'g Entry<K, V>
    where
        F: FnMut(&V) -> V,
        M: FnOnce() -> V,
    {
        let hash = self.hash(&key);
        let mut self_writes = SelfWrites::default();
        let mut key = key;
        let mut make = Some(make);
        // A made value that lost a race to an insert: kept for the next time
        // the key is found absent, as `make` runs at most once.
        let mut made: Option<V> = None;
        let mut current = self.raw.get(hash, &key, guard);
        loop {
            let (value, wrote_own_key) = match current {
                Some(e) => self.raw.run_closure(hash, || update(&e.value)),
                None => match made.take() {
                    Some(value) => (value, false),
                    None => {
                        let make = make.take().expect("make runs at most once");
                        self.raw.run_closure(hash, make)
                    }
                },
            };
            let expect = SwapExpect::Is(current.map_or(std::ptr::null(), |e| e as *const _));
            let new = self.raw.new_entry(hash, key, value);
            let published: *const Entry<K, V> = new.as_ptr();
            // SAFETY: the entry outlives the call: owned by `new` here until
            // published, then protected by `guard`.
            let key_ref = unsafe { new.key() };
            let mut new = Some(new);
            match self.raw.swap(guard, hash, key_ref, expect, &mut new) {
                // SAFETY: published under `guard`.
                Ok(_) => return unsafe { &*published },
                Err(conflict) => {
                    let (k, value) = new.expect("unpublished on conflict").into_parts();
                    key = k;
                    if current.is_none() {
                        made = Some(value);
                    } // else: an updated value computed from a stale one, dropped
                    self_writes.record(wrote_own_key, "update_or_insert");
                    current = conflict.current;
                }
            }
        }
    }

    /// Replaces the key's value with `update(&current)` if it is present,
    /// or inserts `value` if it is absent; returns the value now in the map.
    /// Atomic: no write to the key falls between the read `update` sees and
    /// the write of its result. `update` runs without locks and may run more
    /// than once under contention (papaya's `update_or_insert`).
    ///
    /// ```
    /// let words = evacmap::HashMap::new();
    /// for w in "a rose is a rose is a rose".split(' ') {
    ///     words.update_or_insert(w, |n| n + 1, 1);
    /// }
    /// assert_eq!(words.get_cloned("rose"), Some(3));
    /// assert_eq!(words.get_cloned("is"), Some(2));
    /// ```
    pub fn update_or_insert<F>(&self, key: K, update: F, value: V) -> Ref<'_, K, V>
    where
        F: FnMut(&V) -> V,
    {
        self.update_or_insert_with(key, update, || value)
    }

    /// [`HashMap::update_or_insert`] whose inserted value is made by `make`,
    /// which runs at most once, and only if the key was found absent
    /// (papaya's `update_or_insert_with`).
    ///
    /// ```
    /// let log = evacmap::HashMap::new();
    /// log.update_or_insert_with(7, |v: &Vec<&str>| [v.clone(), vec!["again"]].concat(), || vec!["first"]);
    /// log.update_or_insert_with(7, |v| [v.clone(), vec!["again"]].concat(), || vec!["first"]);
    /// assert_eq!(*log.get(&7).unwrap(), ["first", "again"]);
    /// ```
    pub fn update_or_insert_with<F, M>(&self, key: K, update: F, make: M) -> Ref<'_, K, V>
    where
        F: FnMut(&V) -> V,
        M: FnOnce() -> V,
    {
        let guard = epoch::pin();
        let entry: *const Entry<K, V> = self.upsert_in(key, update, make, &guard);
        // SAFETY: reached under `guard`, which the Ref takes over.
        unsafe { Ref::new(guard, &*entry) }
    }
}
