//! The map operations the cache is built on, and nothing more: lookups by
//! key or by entry identity, conditional swaps, and a walk of the entries in
//! hash order. The cache (`src/cache/`) reaches the map only through these
//! and through the public API; it never sees shards, tables or buckets.
//!
//! Every function takes the caller's epoch guard and hands out entries
//! reached under it: they stay readable (not freed) for as long as that
//! guard lives, even once removed or replaced. An entry is immutable; its
//! identity (address) names exactly one published value of one key, and
//! stays unique while any guard that reached it lives (the allocation cannot
//! be reused before then).
//!
//! The identity-based operations run no user code at all (no `Hash`, no
//! `Eq`): the cache uses them for everything it does under its own lock.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};

pub(crate) use crate::raw::entry::Entry;
use crate::raw::SwapExpect;
use crate::sync::epoch::Guard;
use crate::HashMap;

/// What a conditional write found instead of what it expected.
pub(crate) struct Conflict<'g, K, V> {
    /// The key's entry at that moment (`None`: absent).
    pub(crate) current: Option<&'g Entry<K, V>>,
}

impl<K, V, S> HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    /// The hash the map uses for `key` (runs the key's `Hash`).
    #[inline]
    pub(crate) fn hash_of<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hash(key)
    }

    /// The entry for `key`, whose hash is `hash` (runs the key's `Eq`).
    #[inline]
    pub(crate) fn lookup<'g, Q>(
        &self,
        hash: u64,
        key: &Q,
        guard: &'g Guard,
    ) -> Option<&'g Entry<K, V>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.raw.get(hash, key, guard)
    }

    /// `entry` itself, if it is still in the map. No user code runs.
    pub(crate) fn lookup_exact<'g>(
        &self,
        hash: u64,
        entry: *const Entry<K, V>,
        guard: &'g Guard,
    ) -> Option<&'g Entry<K, V>> {
        self.raw.get_by(hash, |e| std::ptr::eq(e, entry), guard)
    }

    /// Publishes `key → value`, replacing the key's entry if it is
    /// `expected` (`None`: only if absent; `Some(null)` is not allowed, use
    /// `None`) or whatever it is (`expected` = `Any`). Returns the new
    /// entry and the one it replaced, or the conflict and the rejected pair.
    #[allow(clippy::type_complexity)]
    pub(crate) fn publish<'g>(
        &self,
        guard: &'g Guard,
        hash: u64,
        key: K,
        value: V,
        expected: Expected<'_, K, V>,
    ) -> Result<(&'g Entry<K, V>, Option<&'g Entry<K, V>>), (Conflict<'g, K, V>, K, V)> {
        let new = self.raw.new_entry(hash, key, value);
        let published: *const Entry<K, V> = new.as_ptr();
        // SAFETY: the entry outlives its use here: owned by `new` until
        // published, then protected by `guard`.
        let key_ref = unsafe { new.key() };
        let mut new = Some(new);
        match self
            .raw
            .swap(guard, hash, key_ref, expected.into_swap(), &mut new)
        {
            // SAFETY: published under `guard`, which the caller holds.
            Ok(previous) => Ok((unsafe { &*published }, previous)),
            Err(conflict) => {
                let (key, value) = new.expect("unpublished on conflict").into_parts();
                Err((
                    Conflict {
                        current: conflict.current,
                    },
                    key,
                    value,
                ))
            }
        }
    }

    /// Removes the entry for `key` (runs the key's `Eq`); returns it.
    pub(crate) fn unpublish<'g, Q>(
        &self,
        guard: &'g Guard,
        hash: u64,
        key: &Q,
    ) -> Option<&'g Entry<K, V>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        match self.raw.swap(guard, hash, key, SwapExpect::Any, &mut None) {
            Ok(previous) => previous,
            Err(_) => unreachable!("an unconditional swap cannot conflict"),
        }
    }

    /// Removes exactly `entry` if it is still the key's entry. True if this
    /// call removed it. No user code runs.
    pub(crate) fn unpublish_exact(&self, guard: &Guard, entry: &Entry<K, V>) -> bool {
        let target: *const Entry<K, V> = entry;
        self.raw
            .swap_by(
                guard,
                entry.hash,
                |e| std::ptr::eq(e, target),
                SwapExpect::Is(target),
                &mut None,
            )
            .is_ok_and(|removed| removed.is_some())
    }

    /// Appends to `out` the entries with hash `>= from`, a bucket at a time
    /// (unordered within it); returns where the next call starts, `None` at
    /// the end of the hash space. See `RawMap::collect_from`.
    pub(crate) fn collect_from(
        &self,
        from: u64,
        guard: &Guard,
        out: &mut Vec<*const Entry<K, V>>,
    ) -> Option<u64> {
        self.raw.collect_from(from, guard, out)
    }
}

/// What [`HashMap::publish`] expects the key's current entry to be.
#[derive(Clone, Copy)]
pub(crate) enum Expected<'a, K, V> {
    /// Anything: an unconditional insert or replace.
    Any,
    /// Absent.
    Absent,
    /// Exactly this entry.
    Is(&'a Entry<K, V>),
}

impl<K, V> Expected<'_, K, V> {
    fn into_swap(self) -> SwapExpect<K, V> {
        match self {
            Expected::Any => SwapExpect::Any,
            Expected::Absent => SwapExpect::Is(std::ptr::null()),
            Expected::Is(entry) => SwapExpect::Is(entry),
        }
    }
}
