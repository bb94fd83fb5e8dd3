//! Read-modify-write operations driven by user closures: `update`,
//! `compute`, `try_compute`, `remove_if`, `get_or_insert_with` (and, in
//! `try_insert.rs` and `upsert.rs`, the insert-if-absent and upsert
//! families built on the same cores).
//!
//! Each operation has a core (`*_in`) that works under a caller's guard and
//! returns entries reached under it; [`HashMap`] wraps them into [`Ref`]s and
//! [`Pinned`](crate::Pinned) into plain references.
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
use std::convert::Infallible;
use std::hash::{BuildHasher, Hash};

use crate::raw::entry::Entry;
use crate::raw::SwapExpect;
use crate::refs::Ref;
use crate::sync::epoch::{self, Guard};
use crate::HashMap;

/// Consecutive conflicts a closure caused itself, by writing the key it is
/// computing. Once is legitimate (the retry sees the value it wrote); a
/// closure that does it on every run would be retried forever.
#[derive(Default)]
pub(crate) struct SelfWrites(u32);

impl SelfWrites {
    /// Runs after each conflict; panics once the closure has caused
    /// [`SELF_WRITE_LIMIT`] conflicts in a row.
    #[track_caller]
    pub(crate) fn record(&mut self, wrote_own_key: bool, op: &str) {
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
///
/// ```
/// use evacmap::{HashMap, Op};
/// let map = HashMap::new();
/// map.compute("k", |v| match v {
///     None => Op::Insert(1),       // absent: insert
///     Some(0) => Op::Remove,       // zero: remove
///     Some(_) => Op::Keep,         // otherwise: leave as it is
/// });
/// assert_eq!(map.get_cloned("k"), Some(1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op<V> {
    /// Leave the key as it is (absent or present).
    Keep,
    /// Insert this value, or replace the current one.
    Insert(V),
    /// Remove the key (nothing happens if it is absent).
    Remove,
}

/// What [`HashMap::compute`] did. `R` is the reference it hands out: a
/// [`Ref`] from [`HashMap::compute`], a plain `&V` from
/// [`Pinned::compute`](crate::Pinned::compute).
///
/// ```
/// use evacmap::{Computed, HashMap, Op};
/// let map = HashMap::new();
/// assert!(matches!(map.compute(1, |_| Op::Insert("a")), Computed::Inserted(v) if *v == "a"));
/// match map.compute(1, |_| Op::Insert("b")) {
///     Computed::Replaced { old, new } => assert_eq!((*old, *new), ("a", "b")),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug)]
pub enum Computed<R> {
    /// Nothing changed; the current entry, if any.
    Unchanged(Option<R>),
    /// The key was absent and now has this value.
    Inserted(R),
    /// The key's value was replaced.
    Replaced {
        /// The value before.
        old: R,
        /// The value now.
        new: R,
    },
    /// The key was removed; its last value.
    Removed(R),
}

impl<R> Computed<R> {
    /// The same outcome with each reference converted by `f`.
    ///
    /// ```
    /// use evacmap::{Computed, HashMap, Op};
    /// let map = HashMap::new();
    /// let done = map.compute(1, |_| Op::Insert(10)).map(|r| *r);
    /// assert!(matches!(done, Computed::Inserted(10)));
    /// ```
    pub fn map<T>(self, mut f: impl FnMut(R) -> T) -> Computed<T> {
        match self {
            Computed::Unchanged(r) => Computed::Unchanged(r.map(f)),
            Computed::Inserted(r) => Computed::Inserted(f(r)),
            Computed::Replaced { old, new } => Computed::Replaced {
                old: f(old),
                new: f(new),
            },
            Computed::Removed(r) => Computed::Removed(f(r)),
        }
    }
}

/// The value of a result that cannot be an error (`let Ok(x) = r;` needs
/// Rust 1.82, above the crate's MSRV).
pub(crate) fn infallible<T>(result: Result<T, Infallible>) -> T {
    match result {
        Ok(value) => value,
        Err(never) => match never {},
    }
}

/// The outcome of an insert-if-absent core (`insert_absent_in`).
pub(crate) enum Absent<'g, K, V> {
    /// The key was absent and now has the value made.
    Inserted(&'g Entry<K, V>),
    /// The key was present; the value was never made.
    Present(&'g Entry<K, V>),
    /// The key was absent when looked up, the value was made, and another
    /// thread inserted first: its entry, and the value that lost.
    Lost(&'g Entry<K, V>, V),
}

impl<K, V, S> HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    /// Core of `update`: the new entry, `None` if the key is absent.
    pub(crate) fn update_in<'g, Q, F>(
        &self,
        key: &Q,
        mut f: F,
        guard: &'g Guard,
    ) -> Option<&'g Entry<K, V>>
    where
        K: Borrow<Q> + Clone,
        Q: Hash + Eq + ?Sized,
        F: FnMut(&V) -> V,
    {
        let hash = self.hash(key);
        let mut self_writes = SelfWrites::default();
        let mut current = self.raw.get(hash, key, guard)?;
        loop {
            let (value, wrote_own_key) = self.raw.run_closure(hash, || f(&current.value));
            let entry = self.raw.new_entry(hash, current.key.clone(), value);
            let published: *const Entry<K, V> = entry.as_ptr();
            let mut new = Some(entry);
            match self
                .raw
                .swap(guard, hash, key, SwapExpect::Is(current), &mut new)
            {
                // SAFETY: `published` was published under `guard`.
                Ok(_) => return Some(unsafe { &*published }),
                Err(conflict) => {
                    drop(new); // unpublished: ours to drop, outside the lock
                    self_writes.record(wrote_own_key, "update");
                    current = conflict.current?;
                }
            }
        }
    }

    /// Replaces the value of an existing key with `f(&current)`; never
    /// inserts. Returns the new value, or `None` if the key is absent.
    ///
    /// The new entry carries a clone of the key (entries are immutable), hence
    /// `K: Clone`. `f` runs without locks and may run more than once under
    /// contention.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert("hits", 1);
    /// assert_eq!(*map.update("hits", |n| n + 1).unwrap(), 2);
    /// assert!(map.update("misses", |n| n + 1).is_none()); // never inserts
    /// ```
    pub fn update<Q, F>(&self, key: &Q, f: F) -> Option<Ref<'_, K, V>>
    where
        K: Borrow<Q> + Clone,
        Q: Hash + Eq + ?Sized,
        F: FnMut(&V) -> V,
    {
        let guard = epoch::pin();
        let entry = self.update_in(key, f, &guard).map(|e| e as *const _);
        // SAFETY: reached under `guard`, which the Ref takes over.
        unsafe { Self::wrap(guard, entry) }
    }

    /// Core of `compute` and `try_compute`.
    pub(crate) fn compute_in<'g, F, E>(
        &self,
        key: K,
        mut f: F,
        guard: &'g Guard,
    ) -> Result<Computed<&'g Entry<K, V>>, E>
    where
        F: FnMut(Option<&V>) -> Result<Op<V>, E>,
    {
        let hash = self.hash(&key);
        let mut self_writes = SelfWrites::default();
        let mut key = key;
        let mut current = self.raw.get(hash, &key, guard);
        loop {
            let expect = SwapExpect::Is(current.map_or(std::ptr::null(), |e| e as *const _));
            let (op, wrote_own_key) = self.raw.run_closure(hash, || f(current.map(|e| &e.value)));
            match op? {
                Op::Keep => return Ok(Computed::Unchanged(current)),
                Op::Remove => {
                    let Some(entry) = current else {
                        return Ok(Computed::Unchanged(None));
                    };
                    match self.raw.swap(guard, hash, &entry.key, expect, &mut None) {
                        Ok(removed) => {
                            return Ok(Computed::Removed(removed.expect("present")));
                        }
                        Err(conflict) => {
                            self_writes.record(wrote_own_key, "compute");
                            current = conflict.current;
                        }
                    }
                }
                Op::Insert(value) => {
                    let new = self.raw.new_entry(hash, key, value);
                    let published: *const Entry<K, V> = new.as_ptr();
                    // SAFETY: the entry outlives the call: owned by `new`
                    // here until published, then protected by `guard`.
                    let key_ref = unsafe { new.key() };
                    let mut new = Some(new);
                    match self.raw.swap(guard, hash, key_ref, expect, &mut new) {
                        Ok(previous) => {
                            // SAFETY: published under `guard`.
                            let new = unsafe { &*published };
                            return Ok(match previous {
                                Some(old) => Computed::Replaced { old, new },
                                None => Computed::Inserted(new),
                            });
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

    /// Atomically decides the fate of `key` from its current value: `f` sees
    /// `Some(&value)` or `None` and returns an [`Op`].
    ///
    /// `f` runs without locks (it may use the map) and may run more than once
    /// if another thread changes the key in between; only the decision taken
    /// on the value that was still current is applied. To stop with a value
    /// of your own instead, see [`HashMap::try_compute`].
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
    pub fn compute<F>(&self, key: K, mut f: F) -> Computed<Ref<'_, K, V>>
    where
        F: FnMut(Option<&V>) -> Op<V>,
    {
        let guard = epoch::pin();
        let done = infallible(self.compute_in(key, |v| Ok(f(v)), &guard));
        // SAFETY: reached under `guard`, pinned while we pin again.
        done.map(|e| unsafe { Ref::repinned(e) })
    }

    /// [`HashMap::compute`] whose closure may abort with a value of its
    /// own: `Err(e)` leaves the key as it is and is handed back. This is
    /// papaya's `Operation::Abort(e)` / `Compute::Aborted(e)` in Rust's
    /// `Result` form, so `?` works inside the closure and
    /// [`HashMap::compute`]'s closures keep inferring their types.
    ///
    /// ```
    /// use evacmap::{Computed, HashMap, Op};
    /// let balances = HashMap::new();
    /// balances.insert("alice", 10u32);
    /// let withdraw = |amount: u32| {
    ///     balances.try_compute("alice", move |b| {
    ///         let b = *b.ok_or("no account")?;
    ///         let left = b.checked_sub(amount).ok_or("insufficient funds")?;
    ///         Ok::<_, &str>(Op::Insert(left))
    ///     })
    /// };
    /// assert!(matches!(withdraw(4), Ok(Computed::Replaced { new, .. }) if *new == 6));
    /// assert_eq!(withdraw(7).unwrap_err(), "insufficient funds");
    /// assert_eq!(balances.get_cloned("alice"), Some(6)); // untouched by the abort
    /// ```
    pub fn try_compute<F, E>(&self, key: K, f: F) -> Result<Computed<Ref<'_, K, V>>, E>
    where
        F: FnMut(Option<&V>) -> Result<Op<V>, E>,
    {
        let guard = epoch::pin();
        let done = self.compute_in(key, f, &guard)?;
        // SAFETY: reached under `guard`, pinned while we pin again.
        Ok(done.map(|e| unsafe { Ref::repinned(e) }))
    }

    /// Core of `remove_if`: `Ok(Some(removed))`, `Ok(None)` if absent,
    /// `Err(current)` if `f` said keep.
    #[allow(clippy::type_complexity)]
    pub(crate) fn remove_if_in<'g, Q, F>(
        &self,
        key: &Q,
        mut f: F,
        guard: &'g Guard,
    ) -> Result<Option<&'g Entry<K, V>>, &'g Entry<K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        F: FnMut(&K, &V) -> bool,
    {
        let hash = self.hash(key);
        let mut self_writes = SelfWrites::default();
        let Some(mut current) = self.raw.get(hash, key, guard) else {
            return Ok(None);
        };
        loop {
            let (remove, wrote_own_key) = self
                .raw
                .run_closure(hash, || f(&current.key, &current.value));
            if !remove {
                return Err(current);
            }
            match self
                .raw
                .swap(guard, hash, key, SwapExpect::Is(current), &mut None)
            {
                Ok(removed) => return Ok(removed),
                Err(conflict) => {
                    self_writes.record(wrote_own_key, "remove_if");
                    match conflict.current {
                        Some(now) => current = now,
                        None => return Ok(None),
                    }
                }
            }
        }
    }

    /// Removes `key` if `f(&key, &value)` says so, and says what happened
    /// (papaya's shape): `Ok(Some(removed))`, `Ok(None)` if the key was
    /// absent, `Err(current)` if `f` decided to keep it. `f` runs without
    /// locks and may run more than once under contention.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert("a", 1);
    /// map.insert("b", 2);
    /// let even = |_: &&str, v: &i32| v % 2 == 0;
    /// // Plain values out of the guarded references:
    /// let outcome = |r: Result<Option<evacmap::Ref<'_, &str, i32>>, evacmap::Ref<'_, &str, i32>>| {
    ///     r.map(|removed| removed.map(|v| *v)).map_err(|kept| *kept)
    /// };
    /// assert_eq!(outcome(map.remove_if("b", even)), Ok(Some(2))); // removed
    /// assert_eq!(outcome(map.remove_if("a", even)), Err(1)); // kept
    /// assert_eq!(outcome(map.remove_if("zzz", even)), Ok(None)); // absent
    /// ```
    #[allow(clippy::type_complexity)]
    pub fn remove_if<Q, F>(&self, key: &Q, f: F) -> Result<Option<Ref<'_, K, V>>, Ref<'_, K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        F: FnMut(&K, &V) -> bool,
    {
        let guard = epoch::pin();
        // SAFETY: reached under `guard`, pinned while we pin again.
        let wrap = |e: &Entry<K, V>| unsafe { Ref::repinned(e) };
        match self.remove_if_in(key, f, &guard) {
            Ok(removed) => Ok(removed.map(wrap)),
            Err(kept) => Err(wrap(kept)),
        }
    }

    /// Core of the insert-if-absent family: looks `key` up and, only if it
    /// is absent, runs `make` (at most once, without locks) and inserts its
    /// value unless another thread inserted first.
    pub(crate) fn insert_absent_in<'g, F, E>(
        &self,
        key: K,
        make: F,
        guard: &'g Guard,
    ) -> Result<Absent<'g, K, V>, E>
    where
        F: FnOnce() -> Result<V, E>,
    {
        let hash = self.hash(&key);
        if let Some(found) = self.raw.get(hash, &key, guard) {
            return Ok(Absent::Present(found));
        }
        let new = self.raw.new_entry(hash, key, make()?);
        let published: *const Entry<K, V> = new.as_ptr();
        // SAFETY: as in `compute_in`.
        let key_ref = unsafe { new.key() };
        let mut new = Some(new);
        let absent = SwapExpect::Is(std::ptr::null());
        match self.raw.swap(guard, hash, key_ref, absent, &mut new) {
            // SAFETY: published under `guard`.
            Ok(_) => Ok(Absent::Inserted(unsafe { &*published })),
            Err(conflict) => {
                // The loser's key is dropped here, outside the lock.
                let (_key, value) = new.expect("unpublished on conflict").into_parts();
                let winner = conflict.current.expect("conflict on absent means present");
                Ok(Absent::Lost(winner, value))
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
    /// the panic, and the key stays absent. To learn whether your value was
    /// the one inserted, use [`HashMap::try_insert_with`].
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// assert_eq!(*map.get_or_insert_with("a", || 1), 1);
    /// assert_eq!(*map.get_or_insert_with("a", || unreachable!()), 1);
    /// ```
    pub fn get_or_insert_with<F>(&self, key: K, make: F) -> Ref<'_, K, V>
    where
        F: FnOnce() -> V,
    {
        let guard = epoch::pin();
        let entry: *const Entry<K, V> =
            match infallible(self.insert_absent_in(key, || Ok(make()), &guard)) {
                Absent::Inserted(e) | Absent::Present(e) => e,
                // The loser's value is dropped here, outside the lock.
                Absent::Lost(e, _value) => e,
            };
        // SAFETY: reached under `guard`, which the Ref takes over.
        unsafe { Ref::new(guard, &*entry) }
    }

    /// The value for `key`, inserting `value` if the key is absent (in which
    /// case `value` is dropped if another thread inserts first).
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// assert_eq!(*map.get_or_insert("a", 1), 1);
    /// assert_eq!(*map.get_or_insert("a", 2), 1);
    /// ```
    pub fn get_or_insert(&self, key: K, value: V) -> Ref<'_, K, V> {
        self.get_or_insert_with(key, || value)
    }
}
