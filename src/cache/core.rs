//! The cache's engine: the map, the policy behind its lock, and the
//! operations every public method is made of. Generic over `T`, the
//! per-entry access word and times: [`Untimed`] for a cache without expiry
//! (whose hits never read the clock and whose entries carry no times, only
//! a counter), [`Times`] for one with.
//!
//! # Invariants (kept by this file)
//! 1. **A hit writes nothing shared**: it finds the entry with the map's
//!    lock-free lookup, checks the deadline, and raises the entry's own
//!    counter (and idle deadline) with at most one relaxed store
//!    (`Meta::touch`); statistics go to the thread's own stripe. The policy
//!    lock is taken only by writes, evictions and expiry work.
//! 2. **Map first, books second.** A write publishes or removes in the map
//!    first (the only place user code, the key's `Eq`, runs), then tells the
//!    policy under its lock (`Session::place`, `Session::retire`). An
//!    entry's standing (`Unplaced`, `Placed`, `Removed`) decides, under that
//!    lock, whether it is on the books: whichever of its placer, its remover
//!    and an evictor gets there first settles it, so every entry is
//!    accounted exactly once and a removal that overtakes its own insert
//!    leaves nothing behind.
//! 3. **The bound.** Every session that places an entry ends by evicting
//!    until the policy's weight is within the capacity, so the weight is
//!    within it whenever no insert is between its publication and its
//!    session; the excess is at most the weight of those in-flight inserts.
//! 4. **No user code under the policy lock.** Evictions and expiry remove
//!    entries by identity (no `Eq`); weighers, expiry callbacks and
//!    listeners run outside it, listeners after every lock is released.
//! 5. **Expiry work is bounded and never waits for traffic forever.** Every
//!    session does up to [`EXPIRE_BATCH`] expirations; a read does a
//!    session's worth of them (if the lock is free) every
//!    [`READS_PER_CHECK`] reads on its thread when an expiry is due. So a
//!    cache that only reads frees `n` expired entries within about
//!    `READS_PER_CHECK * ceil(n / EXPIRE_BATCH)` reads of one thread, that
//!    is about one read per expired entry.

use std::borrow::Borrow;
use std::cell::Cell;
use std::hash::{BuildHasher, Hash};
use std::time::Duration;

use super::clock::Time;
use super::expiry::Expiration;
use super::listener::{Listener, RemovalCause, Removals};
use super::loads::{Leader, Loads, Outcome};
use super::policy::{Policy, PolicyConfig, Region, Store};
use super::slot::{Meta, Slot, Standing, Timing, NEVER};
use super::stats::Stats;
use super::store::{MapStore, Stale, Walk};
use super::timers::Timers;
use crate::seam::{Entry, Expected};
use crate::sync::epoch::{self, Guard};
use crate::sync::{thread_local, AtomicU64, Mutex, Ordering::Relaxed};
use crate::HashMap;

/// Expirations per session, at most.
pub(crate) const EXPIRE_BATCH: usize = 64;
/// A thread's reads between two looks at whether expiry work is due.
pub(crate) const READS_PER_CHECK: u32 = 64;

/// The weigher: an entry's weight against the capacity.
pub(crate) type Weigher<K, V> = Box<dyn Fn(&K, &V) -> u32 + Send + Sync + 'static>;

/// A map entry of a cache.
pub(crate) type CacheEntry<K, V, T> = Entry<K, Slot<V, T>>;

/// A write's new entry and the one it replaced.
type Published<'g, K, V, T> = (&'g CacheEntry<K, V, T>, Option<&'g CacheEntry<K, V, T>>);

/// What the policy lock protects.
struct State<K, V, T> {
    policy: Policy,
    timers: Timers,
    walk: Walk<K, V, T>,
    stale: Stale,
}

/// Settings fixed at build time, kept for [`Cache::policy`](super::Cache::policy).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub(crate) time_to_live: Option<Duration>,
    pub(crate) time_to_idle: Option<Duration>,
    pub(crate) initial_capacity: Option<usize>,
}

pub(crate) struct Core<K, V, S, T> {
    pub(crate) map: HashMap<K, Slot<V, T>, S>,
    state: Mutex<State<K, V, T>>,
    /// The policy's totals and capacity, mirrored for lock-free reads.
    weight: AtomicU64,
    len: AtomicU64,
    max: AtomicU64,
    /// The earliest scheduled expiry check (`NEVER` if none): what a read
    /// compares the clock with before doing expiry work.
    next_expiry: AtomicU64,
    pub(crate) expiration: Expiration<K, V>,
    weigher: Option<Weigher<K, V>>,
    pub(crate) listener: Option<Listener<K, V>>,
    pub(crate) time: Time,
    pub(crate) loads: Loads<K, V>,
    pub(crate) stats: Stats,
    pub(crate) settings: Settings,
}

/// Everything `Core::new` takes besides the map.
pub(crate) struct Parts<K, V> {
    pub(crate) max: u64,
    pub(crate) expiration: Expiration<K, V>,
    pub(crate) weigher: Option<Weigher<K, V>>,
    pub(crate) listener: Option<Listener<K, V>>,
    pub(crate) time: Time,
    pub(crate) settings: Settings,
}

thread_local! {
    static READS_LEFT: Cell<u32> = const { Cell::new(READS_PER_CHECK) };
}

impl<K, V, S, T> Core<K, V, S, T>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher,
    T: Timing,
{
    pub(crate) fn new(map: HashMap<K, Slot<V, T>, S>, parts: Parts<K, V>) -> Self {
        Core {
            map,
            state: Mutex::new(State {
                policy: Policy::new(PolicyConfig::new(parts.max)),
                timers: Timers::new(),
                walk: Walk::new(),
                stale: Stale::default(),
            }),
            weight: AtomicU64::new(0),
            len: AtomicU64::new(0),
            max: AtomicU64::new(parts.max),
            next_expiry: AtomicU64::new(NEVER),
            expiration: parts.expiration,
            weigher: parts.weigher,
            listener: parts.listener,
            time: parts.time,
            loads: Loads::new(),
            stats: Stats::new(),
            settings: parts.settings,
        }
    }

    // ---- reads -------------------------------------------------------

    /// Now on the cache's clock, if entries can expire (0 otherwise: the
    /// clock is never read).
    #[inline]
    fn now(&self) -> u64 {
        if T::TIMED {
            self.time.now()
        } else {
            0
        }
    }

    /// Whether `entry` has expired at `now`.
    #[inline]
    fn expired(&self, entry: &CacheEntry<K, V, T>, now: u64) -> bool {
        T::TIMED && now >= entry.value.meta.deadline()
    }

    /// The live (unexpired) entry for `key`; with `touch`, a hit's effects
    /// on it (counter, idle deadline, `Expiry::expire_after_read`).
    #[inline]
    pub(crate) fn find<'g, Q>(
        &self,
        hash: u64,
        key: &Q,
        guard: &'g Guard,
        touch: bool,
    ) -> Option<&'g CacheEntry<K, V, T>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let entry = self.map.lookup(hash, key, guard)?;
        let now = self.now();
        // inject: cache-returns-expired
        if self.expired(entry, now) {
            return None;
        }
        if touch {
            self.touch(entry, now);
        }
        Some(entry)
    }

    /// A hit's effects on the entry's own metadata (invariant 1).
    #[inline]
    fn touch(&self, entry: &CacheEntry<K, V, T>, now: u64) {
        let meta = &entry.value.meta;
        if !T::TIMED || !self.expiration.reads_extend() {
            meta.touch(None);
            return;
        }
        let times = &meta.times;
        let mut custom = times.custom();
        if self.expiration.custom.is_some() {
            let new = self.expiration.custom_on_read(
                &self.time,
                &entry.key,
                &entry.value.value,
                now,
                times.written(),
                custom,
            );
            if new != custom {
                times.set_custom(new);
                custom = new;
            }
        }
        meta.touch(Some(self.expiration.deadline(times.written(), now, custom)));
    }

    /// A lookup as the public reads do it: counts a hit or a miss, and then
    /// does this thread's share of expiry work.
    #[inline]
    pub(crate) fn read<Q, R>(
        &self,
        key: &Q,
        touch: bool,
        f: impl FnOnce(&CacheEntry<K, V, T>) -> R,
    ) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.map.hash_of(key);
        let found = {
            let guard = epoch::pin();
            self.find(hash, key, &guard, touch).map(f)
        };
        if touch {
            if found.is_some() {
                self.stats.hit();
            } else {
                self.stats.miss();
            }
        }
        self.after_read();
        found
    }

    /// Every [`READS_PER_CHECK`] reads of a thread, expiry work if some is
    /// due (invariant 5). Free for a cache without expiry.
    #[inline]
    pub(crate) fn after_read(&self) {
        if !T::TIMED {
            return;
        }
        let due = READS_LEFT.with(|left| {
            let n = left.get() - 1;
            left.set(if n == 0 { READS_PER_CHECK } else { n });
            n == 0
        });
        // inject: cache-reads-do-no-expiry-work
        if due && self.time.now() >= self.next_expiry.load(Relaxed) {
            self.maintain(false);
        }
    }

    // ---- writes ------------------------------------------------------

    fn weigh(&self, key: &K, value: &V) -> u32 {
        self.weigher.as_ref().map_or(1, |w| w(key, value))
    }

    /// Inserts or replaces `key → value`.
    pub(crate) fn insert(&self, key: K, value: V) {
        let hash = self.map.hash_of(&key);
        let weight = self.weigh(&key, &value);
        let guard = epoch::pin();
        let mut removals = Removals::new(self.listener.is_some());
        if u64::from(weight) > self.max.load(Relaxed) {
            // Too heavy to ever fit: the key's old value goes (it was
            // replaced by one the cache cannot hold) and the new one is
            // refused, as if it had entered and been evicted at once.
            let old = self
                .loads
                .write_borrowed(hash, &key, || self.map.unpublish(&guard, hash, &key));
            if let Some(old) = old {
                self.session(&guard, &mut removals, |s| s.retire(old));
                removals.push(old, self.cause_of(old, RemovalCause::Replaced));
            }
            removals.refuse(key, value, u64::from(weight));
        } else {
            let (new, old) = self.publish(&guard, hash, key, value, weight);
            self.stats.inserted();
            self.session(&guard, &mut removals, |s| s.place(new, old));
            if let Some(old) = old {
                removals.push(old, self.cause_of(old, RemovalCause::Replaced));
            }
        }
        self.deliver(removals);
    }

    /// `cause`, or `Expired` if the entry had expired when it was removed.
    fn cause_of(&self, entry: &CacheEntry<K, V, T>, cause: RemovalCause) -> RemovalCause {
        if self.expired(entry, self.now()) {
            RemovalCause::Expired
        } else {
            cause
        }
    }

    /// Publishes `key → value` in the map (marking a load of the key in
    /// flight superseded): the new entry and the one it replaced.
    fn publish<'g>(
        &self,
        guard: &'g Guard,
        hash: u64,
        key: K,
        value: V,
        weight: u32,
    ) -> Published<'g, K, V, T> {
        if !T::TIMED {
            let slot = self.slot(value, weight, 0, NEVER);
            let published = self.loads.write(hash, key, |key| {
                self.map.publish(guard, hash, key, slot, Expected::Any)
            });
            return published
                .unwrap_or_else(|_| unreachable!("an unconditional publish cannot conflict"));
        }
        // The new entry's deadline may depend on the old one's (through
        // `Expiry::expire_after_update`, user code run outside every lock),
        // so publish conditionally on the entry it was computed from.
        let (mut key, mut value) = (key, value);
        let mut old = self.map.lookup(hash, &key, guard);
        loop {
            let now = self.time.now();
            let previous = old
                .filter(|e| !self.expired(e, now))
                .map(|e| e.value.meta.times.custom());
            let custom = self
                .expiration
                .custom_on_write(&self.time, &key, &value, now, previous);
            let slot = self.slot(value, weight, now, custom);
            let expected = old.map_or(Expected::Absent, Expected::Is);
            match self.loads.write(hash, key, |key| {
                self.map.publish(guard, hash, key, slot, expected)
            }) {
                Ok(published) => return published,
                Err((conflict, k, slot)) => {
                    (key, value) = (k, slot.value);
                    old = conflict.current;
                }
            }
        }
    }

    /// A new slot written at `now` with custom deadline `custom`.
    fn slot(&self, value: V, weight: u32, now: u64, custom: u64) -> Slot<V, T> {
        let deadline = if T::TIMED {
            self.expiration.deadline(now, now, custom)
        } else {
            NEVER
        };
        Slot {
            value,
            meta: Meta::new(weight, T::new(now, custom, deadline)),
        }
    }

    /// Removes `key`; returns its entry if it was live (not expired).
    pub(crate) fn remove<Q, R>(
        &self,
        key: &Q,
        f: impl FnOnce(&CacheEntry<K, V, T>) -> R,
    ) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.map.hash_of(key);
        let guard = epoch::pin();
        let old = self
            .loads
            .write_borrowed(hash, key, || self.map.unpublish(&guard, hash, key))?;
        let mut removals = Removals::new(self.listener.is_some());
        self.session(&guard, &mut removals, |s| s.retire(old));
        let cause = self.cause_of(old, RemovalCause::Explicit);
        let result = (cause == RemovalCause::Explicit).then(|| f(old));
        // inject: cache-listener-twice
        removals.push(old, cause);
        self.deliver(removals);
        result
    }

    /// Removes every entry for which `remove(key, value)` says so (expired
    /// ones in any case), walking the map in hash order. `remove` runs
    /// without any lock held.
    pub(crate) fn remove_where(&self, mut remove: impl FnMut(&K, &V) -> bool) {
        let mut from = Some(0);
        let mut batch = Vec::new();
        while let Some(start) = from {
            let guard = epoch::pin();
            let mut removals = Removals::new(self.listener.is_some());
            let mut taken = Vec::new();
            let mut cursor = Some(start);
            // A few buckets per pin, so the guard is held briefly.
            while let Some(at) = cursor {
                cursor = self.map.collect_from(at, &guard, &mut batch);
                if batch.len() >= EXPIRE_BATCH {
                    break;
                }
            }
            from = cursor;
            let now = self.now();
            for &entry in &batch {
                // SAFETY: collected under `guard`.
                let entry: &CacheEntry<K, V, T> = unsafe { &*entry };
                let expired = self.expired(entry, now);
                if (expired || remove(&entry.key, &entry.value.value))
                    && self.map.unpublish_exact(&guard, entry)
                {
                    let cause = if expired {
                        RemovalCause::Expired
                    } else {
                        RemovalCause::Explicit
                    };
                    removals.push(entry, cause);
                    taken.push(entry);
                }
            }
            batch.clear();
            if !taken.is_empty() {
                self.session(&guard, &mut removals, |s| {
                    taken.iter().for_each(|e| s.retire(e))
                });
            }
            self.deliver(removals);
        }
    }

    // ---- loading -----------------------------------------------------

    /// Looks `key` up for a loader: a hit counts, a miss counts.
    pub(crate) fn loader_lookup(&self, hash: u64, key: &K) -> Option<V> {
        let found = {
            let guard = epoch::pin();
            self.find(hash, key, &guard, true)
                .map(|e| e.value.value.clone())
        };
        if found.is_some() {
            self.stats.hit();
        } else {
            self.stats.miss();
        }
        self.after_read();
        found
    }

    /// The value a just-registered leader finds already there (its load
    /// would be a second one for the same miss), without a hit's effects.
    pub(crate) fn loader_recheck(&self, hash: u64, key: &K) -> Option<V> {
        let guard = epoch::pin();
        self.find(hash, key, &guard, false)
            .map(|e| e.value.value.clone())
    }

    /// Ends a load: records it, inserts its value unless a write superseded
    /// it, and wakes the followers. `started` is when the initialiser began.
    pub(crate) fn finish_load(
        &self,
        leader: Leader<'_, K, V>,
        hash: u64,
        key: K,
        outcome: Outcome<V>,
        started: u64,
    ) {
        let ok = matches!(outcome, Outcome::Done(_));
        self.stats
            .loaded(ok, self.time.now().saturating_sub(started));
        // User code (weigher, expiry, the value's clone) runs here, before
        // the leader takes its shard lock to insert.
        let prepared = match &outcome {
            Outcome::Done(value) => {
                let weight = self.weigh(&key, value);
                if u64::from(weight) > self.max.load(Relaxed) {
                    Err((value.clone(), weight))
                } else {
                    let now = self.now();
                    let custom = self
                        .expiration
                        .custom_on_write(&self.time, &key, value, now, None);
                    Ok(self.slot(value.clone(), weight, now, custom))
                }
            }
            _ => {
                leader.finish(outcome, |_| ());
                return;
            }
        };
        let guard = epoch::pin();
        let mut removals = Removals::new(self.listener.is_some());
        // Runs only if no write superseded the load.
        let insert = |_: &V| match prepared {
            Ok(slot) => {
                let published = self.map.publish(&guard, hash, key, slot, Expected::Any);
                Ok(published
                    .unwrap_or_else(|_| unreachable!("an unconditional publish cannot conflict")))
            }
            // Too heavy to ever fit: refused, and the key's old (expired)
            // entry goes, as `insert` does it.
            Err((value, weight)) => {
                let old = self.map.unpublish(&guard, hash, &key);
                Err((key, value, weight, old))
            }
        };
        match leader.finish(outcome, insert) {
            Some(Ok((new, old))) => {
                self.stats.inserted();
                self.session(&guard, &mut removals, |s| s.place(new, old));
                if let Some(old) = old {
                    removals.push(old, self.cause_of(old, RemovalCause::Replaced));
                }
            }
            Some(Err((key, value, weight, old))) => {
                if let Some(old) = old {
                    self.session(&guard, &mut removals, |s| s.retire(old));
                    removals.push(old, self.cause_of(old, RemovalCause::Replaced));
                }
                removals.refuse(key, value, u64::from(weight));
            }
            None => {}
        }
        self.deliver(removals);
    }

    // ---- sessions under the policy lock -------------------------------

    /// Runs `f` under the policy lock, then evicts to the capacity, does a
    /// batch of expiry work and publishes the totals.
    fn session<'g, R>(
        &self,
        guard: &'g Guard,
        removals: &mut Removals<'g, K, V, T>,
        f: impl FnOnce(&mut Session<'_, 'g, K, V, S, T>) -> R,
    ) -> R {
        let mut state = self.state.lock();
        self.run_session(&mut state, guard, removals, EXPIRE_BATCH, f)
    }

    fn run_session<'g, R>(
        &self,
        state: &mut State<K, V, T>,
        guard: &'g Guard,
        removals: &mut Removals<'g, K, V, T>,
        expirations: usize,
        f: impl FnOnce(&mut Session<'_, 'g, K, V, S, T>) -> R,
    ) -> R {
        let State {
            policy,
            timers,
            walk,
            stale,
        } = state;
        let mut session = Session {
            policy,
            timers,
            store: MapStore {
                map: &self.map,
                guard,
                walk,
                stale,
                removals,
                stats: &self.stats,
                now: self.now(),
            },
        };
        let result = f(&mut session);
        session.policy.evict(&mut session.store);
        if T::TIMED {
            session.expire(expirations);
            session.tidy_timers();
        }
        self.weight.store(session.policy.weight(), Relaxed);
        self.len.store(session.policy.len(), Relaxed);
        self.next_expiry.store(session.timers.next(), Relaxed);
        result
    }

    /// Expiry work: a batch (`all`: everything due) if the policy lock is
    /// free or `all` asks to wait for it.
    pub(crate) fn maintain(&self, all: bool) {
        let guard = epoch::pin();
        let mut removals = Removals::new(self.listener.is_some());
        {
            let mut state = if all {
                self.state.lock()
            } else {
                match self.state.try_lock() {
                    Some(state) => state,
                    None => return,
                }
            };
            let batch = if all { usize::MAX } else { EXPIRE_BATCH };
            self.run_session(&mut state, &guard, &mut removals, batch, |_| ());
        }
        self.deliver(removals);
    }

    /// Everything [`Cache::run_pending_tasks`](super::Cache::run_pending_tasks)
    /// promises: every due expiry check, then a walk of the whole map for
    /// entries whose deadline a read moved earlier than their scheduled
    /// check (an `Expiry::expire_after_read` may shorten it; see `timers.rs`).
    pub(crate) fn expire_all(&self) {
        self.maintain(true);
        if T::TIMED {
            self.remove_where(|_, _| false);
        }
    }

    /// Sets the capacity; shrinking evicts now, on this thread.
    pub(crate) fn set_max_capacity(&self, max: u64) {
        self.max.store(max, Relaxed);
        let guard = epoch::pin();
        let mut removals = Removals::new(self.listener.is_some());
        self.session(&guard, &mut removals, |s| s.policy.set_max_weight(max));
        self.deliver(removals);
    }

    /// After everything was removed: gives the policy's memory back.
    pub(crate) fn shrink_policy(&self) {
        let mut state = self.state.lock();
        if state.policy.is_empty() {
            // No placed entry: the small queue's items go, and with them
            // every stale mark (a mark outliving its item would hide a
            // later entry's item at the same address).
            state.policy.clear();
            state.stale = Stale::default();
            state.walk.invalidate();
            state.timers.retain(|_, _| false);
        }
    }

    /// Tells the listener about `removals` and counts them, outside every lock.
    fn deliver(&self, removals: Removals<'_, K, V, T>) {
        if !removals.is_empty() {
            removals.deliver(self.listener.as_ref(), &self.stats);
        }
    }

    pub(crate) fn weighted_size(&self) -> u64 {
        self.weight.load(Relaxed)
    }

    pub(crate) fn entry_count(&self) -> u64 {
        self.len.load(Relaxed)
    }

    pub(crate) fn max_capacity(&self) -> u64 {
        self.max.load(Relaxed)
    }

    /// Bytes the policy's own structures hold.
    pub(crate) fn policy_bytes(&self) -> usize {
        let state = self.state.lock();
        state.policy.heap_bytes() + state.timers.heap_bytes()
    }

    /// Whether an entry with this metadata has expired by now.
    pub(crate) fn expired_now(&self, meta: &Meta<T>) -> bool {
        T::TIMED && self.time.now() >= meta.deadline()
    }
}

/// One hold of the policy lock: the policy, the expiry index, and the map
/// as the policy sees it.
pub(crate) struct Session<'s, 'g, K, V, S, T> {
    policy: &'s mut Policy,
    timers: &'s mut Timers,
    store: MapStore<'s, 'g, K, V, S, T>,
}

impl<'g, K, V, S, T> Session<'_, 'g, K, V, S, T>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
    T: Timing,
{
    /// Puts a just-published entry on the books; `old` is the entry it
    /// replaced. An entry already removed (by a write that overtook this
    /// one) is skipped.
    fn place(&mut self, new: &'g CacheEntry<K, V, T>, old: Option<&'g CacheEntry<K, V, T>>) {
        let old_placed = old.filter(|o| matches!(o.value.meta.standing(), Standing::Placed(_)));
        if new.value.meta.standing() != Standing::Unplaced {
            if let Some(old) = old {
                self.retire(old);
            }
            return;
        }
        // The hand must meet it where the map's order has it.
        // inject: cache-walk-misses-placed
        self.store.walk.placed(new.hash);
        match old_placed {
            Some(old) => {
                // `old` leaves the map's books here: forget pointers to it.
                self.store.walk.invalidate();
                if old.value.meta.standing() == Standing::Placed(Region::Small) {
                    self.store.mark_stale(old);
                }
                self.policy.on_replace(&mut self.store, old, new);
                old.value.meta.set_removed();
            }
            None => {
                if let Some(old) = old {
                    self.retire(old);
                }
                self.policy.on_insert(&mut self.store, new);
            }
        }
        if T::TIMED {
            self.timers.push(
                new.value.meta.deadline(),
                new.hash,
                self.store.id(new) as usize,
            );
        }
    }

    /// Takes an entry that left the map off the books, unless an evictor
    /// already did.
    fn retire(&mut self, entry: &'g CacheEntry<K, V, T>) {
        match entry.value.meta.standing() {
            Standing::Placed(region) => {
                if region == Region::Small {
                    self.store.mark_stale(entry);
                }
                self.policy.on_remove(&mut self.store, entry);
            }
            Standing::Unplaced => {}
            Standing::Removed => return,
        }
        // inject: cache-retire-leaves-standing
        entry.value.meta.set_removed();
        // Once this session ends, the entry may be freed.
        self.store.walk.invalidate();
    }

    /// Removes up to `budget` entries whose deadline has passed.
    fn expire(&mut self, budget: usize) {
        let now = self.store.now;
        let mut done = 0;
        while done < budget {
            let Some((hash, id)) = self.timers.pop_due(now) else {
                return;
            };
            let Some(entry) = self.find_exact(hash, id) else {
                continue; // stale: removed or replaced since
            };
            let deadline = entry.value.meta.deadline();
            if deadline > now {
                // A read moved it later: check again then.
                self.timers.push(deadline, hash, id);
                continue;
            }
            // inject: cache-expiry-by-key
            if self.store.map.unpublish_exact(self.store.guard, entry) {
                self.store.removals.push(entry, RemovalCause::Expired);
            }
            self.retire(entry);
            done += 1;
        }
    }

    /// Rebuilds the expiry index without its stale items once they
    /// outnumber the entries.
    fn tidy_timers(&mut self) {
        let live = self.policy.len() as usize;
        if self.timers.len() <= 2 * live + 64 {
            return;
        }
        let (map, guard) = (self.store.map, self.store.guard);
        self.timers.retain(|hash, id| {
            map.lookup_exact(hash, id as *const CacheEntry<K, V, T>, guard)
                .is_some()
        });
    }

    /// The entry with this identity, if it is still in the map.
    fn find_exact(&self, hash: u64, id: usize) -> Option<&'g CacheEntry<K, V, T>> {
        self.store
            .map
            .lookup_exact(hash, id as *const CacheEntry<K, V, T>, self.store.guard)
    }
}
