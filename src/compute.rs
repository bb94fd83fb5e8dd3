//! Read-modify-write operations driven by user closures: `update`,
//! `compute`, `remove_if`, `get_or_insert_with`.
//!
//! All of them are optimistic: read the current entry without a lock, run the
//! closure *without any lock held*, then commit with a conditional swap that
//! succeeds only if the key's entry is still the one the closure saw (pointer
//! identity, safe because the guard keeps that entry from being freed and
//! reused). On a conflict the closure runs again on the newer entry. So:
//! - closures may call back into the map (same key, same shard, anything):
//!   there is no lock to deadlock on;
//! - a closure that panics leaves the map untouched;
//! - under contention on one key, `update`, `compute` and `remove_if`
//!   closures may run more than once (they are `FnMut`); each commit is
//!   linearizable. `get_or_insert_with` runs its closure at most once;
//! - a closure that writes *its own key* makes its own commit fail; the
//!   retry sees what it wrote. One that does so on every run would be retried
//!   forever: after 16 such runs in a row it panics with a message saying so.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};

use crate::raw::entry::{Entry, Unpublished};
use crate::raw::SwapExpect;
use crate::refs::Ref;
use crate::sync::epoch;
use crate::HashMap;

/// Consecutive conflicts a closure caused itself, by writing the key it is
/// computing. Once is legitimate (the retry sees the value it wrote); a
/// closure that does it on every run would be retried forever.
#[derive(Default)]
struct SelfWrites(u32);

impl SelfWrites {
    /// Runs after each conflict; panics once the closure has caused
    /// [`SELF_WRITE_LIMIT`] conflicts in a row.
    #[track_caller]
    fn record(&mut self, wrote_own_key: bool, op: &str) {
        self.0 = if wrote_own_key { self.0 + 1 } else { 0 };
        if self.0 >= SELF_WRITE_LIMIT {
            panic!(
                "evacmap: the closure passed to `{op}` wrote to the key it is computing on each of \
                 {SELF_WRITE_LIMIT} runs in a row; its result can never be committed (it would be \
                 retried forever). Return the new value from the closure instead of writing it."
            );
        }
    }
}

const SELF_WRITE_LIMIT: u32 = 16;

/// What a [`HashMap::compute`] closure decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op<V> {
    /// Leave the key as it is (absent or present).
    Keep,
    /// Insert this value, or replace the current one.
    Insert(V),
    /// Remove the key (nothing happens if it is absent).
    Remove,
}

/// What [`HashMap::compute`] did.
#[derive(Debug)]
pub enum Computed<'a, K, V> {
    /// Nothing changed; the current entry, if any.
    Unchanged(Option<Ref<'a, K, V>>),
    /// The key was absent and now has this value.
    Inserted(Ref<'a, K, V>),
    /// The key's value was replaced.
    Replaced {
        /// The value before.
        old: Ref<'a, K, V>,
        /// The value now.
        new: Ref<'a, K, V>,
    },
    /// The key was removed; its last value.
    Removed(Ref<'a, K, V>),
}

impl<K, V, S> HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    /// Replaces the value of an existing key with `f(&current)`; never
    /// inserts. Returns the new value, or `None` if the key is absent.
    ///
    /// The new entry carries a clone of the key (entries are immutable), hence
    /// `K: Clone`. `f` runs without locks and may run more than once under
    /// contention.
    pub fn update<Q, F>(&self, key: &Q, mut f: F) -> Option<Ref<'_, K, V>>
    where
        K: Borrow<Q> + Clone,
        Q: Hash + Eq + ?Sized,
        F: FnMut(&V) -> V,
    {
        let hash = self.hash(key);
        let guard = epoch::pin();
        let mut self_writes = SelfWrites::default();
        let mut current = self.raw.get(hash, key, &guard)?;
        loop {
            let (value, wrote_own_key) = self.raw.run_closure(hash, || f(&current.value));
            let entry = Unpublished::new(hash, current.key.clone(), value);
            let published: *const Entry<K, V> = entry.as_ptr();
            let mut new = Some(entry);
            match self
                .raw
                .swap(&guard, hash, key, SwapExpect::Is(current), &mut new)
            {
                // SAFETY: `published` was published under `guard`.
                Ok(_) => return Some(unsafe { Ref::new(guard, &*published) }),
                Err(conflict) => {
                    drop(new); // unpublished: ours to drop, outside the lock
                    self_writes.record(wrote_own_key, "update");
                    current = conflict.current?;
                }
            }
        }
    }

    /// Atomically decides the fate of `key` from its current value: `f` sees
    /// `Some(&value)` or `None` and returns an [`Op`].
    ///
    /// `f` runs without locks (it may use the map) and may run more than once
    /// if another thread changes the key in between; only the decision taken
    /// on the value that was still current is applied.
    ///
    /// ```
    /// use evacmap::{Computed, HashMap, Op};
    /// let map = HashMap::new();
    /// // Count words; delete a counter when it would reach zero.
    /// map.compute("hello", |n| Op::Insert(n.copied().unwrap_or(0) + 1));
    /// map.compute("hello", |n| Op::Insert(n.copied().unwrap_or(0) + 1));
    /// assert_eq!(*map.get("hello").unwrap(), 2);
    /// let r = map.compute("hello", |n| if n == Some(&2) { Op::Remove } else { Op::Keep });
    /// assert!(matches!(r, Computed::Removed(old) if *old == 2));
    /// ```
    pub fn compute<F>(&self, key: K, mut f: F) -> Computed<'_, K, V>
    where
        F: FnMut(Option<&V>) -> Op<V>,
    {
        let hash = self.hash(&key);
        let guard = epoch::pin();
        let mut self_writes = SelfWrites::default();
        let mut key = key;
        let mut current = self.raw.get(hash, &key, &guard);
        loop {
            let expect = SwapExpect::Is(current.map_or(std::ptr::null(), |e| e as *const _));
            let (op, wrote_own_key) = self.raw.run_closure(hash, || f(current.map(|e| &e.value)));
            match op {
                Op::Keep => {
                    let current = current.map(|e| e as *const _);
                    // SAFETY: reached under `guard`.
                    return Computed::Unchanged(unsafe { Self::wrap(guard, current) });
                }
                Op::Remove => {
                    let Some(entry) = current else {
                        return Computed::Unchanged(None);
                    };
                    match self.raw.swap(&guard, hash, &entry.key, expect, &mut None) {
                        Ok(removed) => {
                            let removed = removed.map(|e| e as *const _);
                            // SAFETY: retired under `guard`, so still allocated.
                            return Computed::Removed(
                                unsafe { Self::wrap(guard, removed) }.expect("present"),
                            );
                        }
                        Err(conflict) => {
                            self_writes.record(wrote_own_key, "compute");
                            current = conflict.current;
                        }
                    }
                }
                Op::Insert(value) => {
                    let new = Unpublished::new(hash, key, value);
                    let published: *const Entry<K, V> = new.as_ptr();
                    // SAFETY: the entry outlives the call: owned by `new`
                    // here until published, then protected by `guard`.
                    let key_ref = unsafe { new.key() };
                    let mut new = Some(new);
                    match self.raw.swap(&guard, hash, key_ref, expect, &mut new) {
                        Ok(previous) => {
                            let previous = previous.map(|e| e as *const _);
                            // SAFETY: published under `guard`, which we still hold.
                            let new = unsafe { Ref::repinned(&*published) };
                            // SAFETY: retired under `guard`, so still allocated.
                            return match unsafe { Self::wrap(guard, previous) } {
                                Some(old) => Computed::Replaced { old, new },
                                None => Computed::Inserted(new),
                            };
                        }
                        Err(conflict) => {
                            let (k, _value) = new.expect("unpublished on conflict").into_parts();
                            self_writes.record(wrote_own_key, "compute");
                            key = k;
                            current = conflict.current;
                        }
                    }
                }
            }
        }
    }

    /// Removes `key` if `f(&key, &value)` says so; returns the removed entry.
    /// `f` runs without locks and may run more than once under contention.
    pub fn remove_if<Q, F>(&self, key: &Q, mut f: F) -> Option<Ref<'_, K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        F: FnMut(&K, &V) -> bool,
    {
        let hash = self.hash(key);
        let guard = epoch::pin();
        let mut self_writes = SelfWrites::default();
        let mut current = self.raw.get(hash, key, &guard)?;
        loop {
            let (remove, wrote_own_key) = self
                .raw
                .run_closure(hash, || f(&current.key, &current.value));
            if !remove {
                return None;
            }
            match self
                .raw
                .swap(&guard, hash, key, SwapExpect::Is(current), &mut None)
            {
                Ok(removed) => {
                    let removed = removed.map(|e| e as *const _);
                    // SAFETY: retired under `guard`, so still allocated.
                    return unsafe { Self::wrap(guard, removed) };
                }
                Err(conflict) => {
                    self_writes.record(wrote_own_key, "remove_if");
                    current = conflict.current?;
                }
            }
        }
    }

    /// The value for `key`, inserting `make()` first if the key is absent.
    ///
    /// `make` runs at most once per call, without locks, and only if the key
    /// was absent when looked up. If several threads race on an absent key,
    /// each may run its own `make`, but exactly one value is inserted and
    /// every caller gets that one; the losers' values are dropped. Nobody ever
    /// waits for another thread's `make`: if it panics, only its caller sees
    /// the panic, and the key stays absent.
    pub fn get_or_insert_with<F>(&self, key: K, make: F) -> Ref<'_, K, V>
    where
        F: FnOnce() -> V,
    {
        let hash = self.hash(&key);
        let guard = epoch::pin();
        if let Some(found) = self.raw.get(hash, &key, &guard) {
            let found: *const Entry<K, V> = found;
            // SAFETY: reached under `guard`.
            return unsafe { Ref::new(guard, &*found) };
        }
        let new = Unpublished::new(hash, key, make());
        let published: *const Entry<K, V> = new.as_ptr();
        // SAFETY: as in `compute`.
        let key_ref = unsafe { new.key() };
        let mut new = Some(new);
        let absent = SwapExpect::Is(std::ptr::null());
        match self.raw.swap(&guard, hash, key_ref, absent, &mut new) {
            // SAFETY: published under `guard`.
            Ok(_) => unsafe { Ref::new(guard, &*published) },
            Err(conflict) => {
                drop(new); // the loser's value: dropped here, outside the lock
                let winner: *const Entry<K, V> =
                    conflict.current.expect("conflict on absent means present");
                // SAFETY: reached under `guard`.
                unsafe { Ref::new(guard, &*winner) }
            }
        }
    }

    /// The value for `key`, inserting `value` if the key is absent (in which
    /// case `value` is dropped if another thread inserts first).
    pub fn get_or_insert(&self, key: K, value: V) -> Ref<'_, K, V> {
        self.get_or_insert_with(key, || value)
    }
}
