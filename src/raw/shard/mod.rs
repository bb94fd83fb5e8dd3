//! A shard: a root table pointer that readers load, and a writer side (lock,
//! counters, retirement) on other cache lines.
//!
//! This file holds the struct and its locked state, the reader path
//! ([`Shard::root`], [`Shard::find`]), new entries ([`Shard::new_entry`],
//! from the shard's pool) and the conditional swap every write goes through
//! ([`Shard::swap`], with a fresh big root's page prefault). The rest of the writer side is one
//! concept a file, each importing this one and never imported by it (except
//! the first two, which import nothing of the shard's):
//! - `counters.rs`: the statistics, and [`Counters::publish`], the only way
//!   an entry enters a bucket;
//! - `batch.rs`: the batch of unlinked entries awaiting retirement;
//! - `resize.rs`: when to grow or shrink; `reserve`, `shrink_to_fit`;
//! - `migrate.rs`: the migration protocol and its driver (`step`,
//!   `complete`, `help`, `settle`);
//! - `clear.rs`: `clear`, and freeing everything when the map is dropped.
//!
//! # The write path
//! [`Shard::swap`] is a conditional swap of one key's entry under the shard
//! lock: "if the key's current entry is `expect`, make it `new` (or
//! absent)". Insert, remove and the optimistic closures of the public API
//! (update, compute, remove_if, ...) are built on it. It makes sure there is
//! a table and does the write's share of a pending migration
//! ([`Shard::prepare_write`]), locates the key, applies the change
//! ([`Shard::apply`]: `Counters::publish`, `Bucket::replace` or
//! `Bucket::clear`), then checks the resize policy (`after_write`). User
//! code never runs under the lock except the key's `Eq` (which the lookup
//! needs); nothing is mutated before that comparison finishes, so a
//! panicking `Eq` leaves the shard as it was.
//!
//! # Invariants
//! - `root` is null until the first insert (lazy tables) and after `clear`.
//!   It is stored only under the lock (or with `&mut self`), so the writer
//!   loads it Relaxed; readers load it with Acquire ([`Shard::root`]),
//!   paired with the Release of every store that installs a table.
//! - At most one migration per shard: while `state.migration` is `Some`, the
//!   root's `next` is the successor and every write goes to the successor,
//!   after evacuating the written key's old bucket (`migrate.rs`, protocol
//!   step 3).
//! - The counters obey *counters are statistics* and every entry enters a
//!   bucket *announce, then publish* (both in `counters.rs`).
//! - Nothing is freed under the lock; everything unlinked is retired through
//!   the epoch (*retiring late is safe*, `batch.rs`), and user values are
//!   never dropped while the lock is held. Guards are pinned *before* the
//!   lock is taken, because an outermost pin may run deferred destructors
//!   (user `Drop`).

use std::ptr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use crossbeam_utils::CachePadded;

mod batch;
mod clear;
pub(crate) mod counters;
mod migrate;
pub(crate) mod resize;

use self::batch::RetireBatch;
use self::counters::{add, sub, Counters};
use super::bucket::{Bucket, SlotRef};
use super::entry::{Entry, Unpublished};
use super::lock::{Locked, ShardLock};
use super::pool::EntryPool;
use super::retire::Retirer;
use super::table::Table;
use crate::sync::epoch::Guard;
use crate::sync::{AtomicPtr, Ordering};

/// How a shard resizes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Policy {
    /// Buckets evacuated per write besides the written key's own; `usize::MAX`
    /// means blocking (the whole table at once).
    pub(crate) step: usize,
    pub(crate) auto_shrink: bool,
    pub(crate) shard_bits: u32,
    /// Whether bucket arrays of 1 MiB and more come from the OS (`pages.rs`).
    pub(crate) map_large_tables: bool,
}

/// Pages of a fresh root table written per write until all are
/// (`Shard::prefault_some`).
const PREFAULT_PAGES_PER_WRITE: usize = 8;

/// Root tables from this size on are prefaulted; below it (two pages) the
/// allocator's memory is usually already mapped and the touch buys nothing.
const PREFAULT_MIN_BYTES: usize = 128 << 10;

/// What a conditional swap expects the key's current entry to be.
#[derive(Clone, Copy)]
pub(crate) enum Expect<K, V> {
    /// Whatever it is.
    Any,
    /// Exactly this entry (null: absent). Pointer identity is sound because
    /// the caller's guard keeps the entry from being freed and reused.
    Is(*const Entry<K, V>),
}

/// A failed conditional swap: what the key's entry really is. (The new entry
/// stays with the caller, unpublished.)
pub(crate) struct Conflict<'g, K, V> {
    pub(crate) current: Option<&'g Entry<K, V>>,
}

/// Lock-protected shard state.
pub(crate) struct State<K, V> {
    /// The smallest table (log2 buckets) automatic shrinking may go to: the
    /// capacity the user asked for.
    pub(crate) floor_log2: u32,
    pub(crate) migration: Option<Migration<K, V>>,
    /// Entries unlinked from the tables but not yet handed to the epoch
    /// collector (*retiring late is safe*, `batch.rs`).
    retired: RetireBatch<K, V>,
    /// The root's buckets below this index have had their page written
    /// (see [`Shard::prefault_some`]); `usize::MAX` once every page has, or
    /// the root needs none.
    prefault: usize,
}

/// A migration in progress (driven by `migrate.rs`, whose module doc is the
/// protocol): the root's buckets `< cursor` have been visited.
pub(crate) struct Migration<K, V> {
    pub(crate) cursor: usize,
    /// Old buckets marked MOVED so far (some ahead of the cursor, when a
    /// write evacuated its own key's bucket).
    pub(crate) moved: usize,
    /// Overflow buckets of evacuated old buckets, not yet retired (the shard
    /// retires them in batches: protocol step 4).
    pub(crate) old_overflow: Vec<*mut Bucket<K, V>>,
    /// Whether evacuation writes to each destination page first (a
    /// successor big enough to be lazily zeroed memory: `evacuate`).
    pub(crate) touch_pages: bool,
}

impl<K, V> Migration<K, V> {
    /// A migration to a successor of `2^log2` buckets.
    pub(crate) fn new(log2: u32) -> Self {
        Migration {
            cursor: 0,
            moved: 0,
            old_overflow: Vec::new(),
            touch_pages: lazily_zeroed(log2),
        }
    }
}

/// Whether a table of `2^log2` buckets is big enough that its memory is
/// likely fresh from the OS (lazily zeroed: see `Bucket::touch_for_write`).
fn lazily_zeroed(log2: u32) -> bool {
    Table::<u8, u8>::bytes(log2) >= PREFAULT_MIN_BYTES
}

pub(crate) struct Writer<K, V> {
    state: ShardLock<State<K, V>>,
    pub(crate) counters: Counters,
    pub(crate) retirer: Retirer,
    /// Blocks of retired entries, for this shard's next entries (`pool.rs`).
    pub(crate) pool: Arc<EntryPool>,
}

pub(crate) struct Shard<K, V> {
    /// The only field readers load: on its own cache line, away from the lock
    /// word and counters that writers modify.
    root: CachePadded<AtomicPtr<Table<K, V>>>,
    writer: CachePadded<Writer<K, V>>,
}

/// Things to do once the lock is released.
#[must_use]
#[derive(Default)]
pub(crate) struct AfterUnlock {
    /// A table was retired: flush so the collector can free it promptly.
    flush: bool,
}

impl AfterUnlock {
    pub(crate) fn run(self, guard: &Guard) {
        if self.flush {
            guard.flush();
        }
        super::sliced::step_after_write();
    }
}

impl<K, V> Shard<K, V> {
    pub(crate) fn new(floor_log2: u32) -> Self {
        let pool = Arc::new(EntryPool::for_entries::<K, V>());
        let writer = Writer {
            state: ShardLock::new(State {
                floor_log2,
                migration: None,
                retired: RetireBatch::new(Arc::clone(&pool)),
                prefault: usize::MAX,
            }),
            counters: Counters::default(),
            retirer: Retirer::default(),
            pool,
        };
        writer
            .counters
            .target_log2
            .store(floor_log2 as usize, Relaxed);
        Shard {
            root: CachePadded::new(AtomicPtr::new(ptr::null_mut())),
            writer: CachePadded::new(writer),
        }
    }

    pub(crate) fn writer(&self) -> &Writer<K, V> {
        &self.writer
    }

    /// A new entry for this shard, in a recycled block where one is free.
    #[inline]
    pub(crate) fn new_entry(&self, hash: u64, key: K, value: V) -> Unpublished<K, V> {
        // SAFETY: this shard's pool holds blocks of `Entry<K, V>`'s layout,
        // empty, and hands each out once.
        unsafe { Unpublished::new_in(self.writer.pool.take(), hash, key, value) }
    }

    /// The root table, as a reader sees it. Acquire pairs with the Release
    /// stores that install a table (first insert, migration completion), so
    /// its buckets are initialised.
    #[inline(always)]
    pub(crate) fn root<'g>(&self, _guard: &'g Guard) -> Option<&'g Table<K, V>> {
        // inject: relaxed-root-load
        let root = self.root.load(Ordering::Acquire);
        // SAFETY: tables are retired through the epoch only after the root
        // stops pointing at them, and the guard was pinned before this load.
        let table = unsafe { root.as_ref() }?;
        table.touch();
        Some(table)
    }

    /// Reader-side lookup. A reader that has to follow a MOVED mark (a
    /// migration is pending) then helps it with one step
    /// ([`Shard::find_moved`], out of the hot path).
    #[inline]
    pub(crate) fn find<'g>(
        &self,
        policy: &Policy,
        pos: u64,
        hash: u64,
        is_it: impl Fn(&Entry<K, V>) -> bool,
        guard: &'g Guard,
    ) -> Option<&'g Entry<K, V>>
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        let table = self.root(guard)?;
        let bucket = table.bucket_for(pos);
        let tags = bucket.tags();
        // inject: reader-ignores-moved
        if tags.is_moved() {
            return self.find_moved(policy, table, pos, hash, is_it, guard);
        }
        bucket.find_by(tags, hash, is_it)
    }

    /// [`Shard::find`] from a MOVED bucket of `table` on: follows the
    /// successors to the key's bucket, then helps the migration.
    #[cold]
    #[inline(never)]
    fn find_moved<'g>(
        &self,
        policy: &Policy,
        mut table: &'g Table<K, V>,
        pos: u64,
        hash: u64,
        is_it: impl Fn(&Entry<K, V>) -> bool,
        guard: &'g Guard,
    ) -> Option<&'g Entry<K, V>>
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        loop {
            let bucket = table.bucket_for(pos);
            let tags = bucket.tags();
            if tags.is_moved() {
                // SAFETY: a MOVED bucket implies a successor was linked
                // (Release) before any mark (Acquire via `tags`); it is
                // retired no earlier than this table.
                table = unsafe { &*table.next() };
                table.touch();
                continue;
            }
            let found = bucket.find_by(tags, hash, is_it);
            self.help(policy, guard);
            return found;
        }
    }

    fn lock(&self) -> Locked<'_, State<K, V>> {
        self.writer.state.lock()
    }

    /// The conditional swap at the heart of every write: under the lock, if
    /// the current entry for `key` matches `expect`, replace it by `new`
    /// (`None`: remove it). Returns the previous entry, still readable under
    /// `guard` (it is retired, not freed).
    ///
    /// `key` must be the key of `new` when `new` is `Some`. The caller keeps
    /// owning `new` until it is published (then `swap` leaves `None`): if the
    /// key's `Eq` panics here, the entry is dropped in the caller's frame,
    /// after this one (whose `key` argument points into it) is gone, and after
    /// the lock is released.
    ///
    /// `is_it` recognises the key's entry among those with its hash: a
    /// comparison of keys (the key's `Eq`, user code) or of entry identity.
    pub(crate) fn swap<'g>(
        &self,
        policy: &Policy,
        guard: &'g Guard,
        hash: u64,
        is_it: impl Fn(&Entry<K, V>) -> bool,
        expect: Expect<K, V>,
        new: &mut Option<Unpublished<K, V>>,
    ) -> Result<Option<&'g Entry<K, V>>, Conflict<'g, K, V>>
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        let pos = hash << policy.shard_bits;
        let mut after = AfterUnlock::default();
        let result = {
            let mut state = self.lock();
            if new.is_none() && self.root.load(Ordering::Relaxed).is_null() {
                // Removing from a shard that has no table: nothing to do, and
                // no reason to allocate one.
                return match expect {
                    Expect::Is(p) if !p.is_null() => Err(Conflict { current: None }),
                    _ => Ok(None),
                };
            }
            let table = self.prepare_write(&mut state, policy, guard, Some(pos), &mut after);
            let bucket = table.bucket_for(pos);
            // The only user code under the lock: `Eq`. Nothing has been
            // mutated for this key yet, so a panic here changes nothing.
            let found = bucket.locate_by(hash, is_it);
            let current = found.map_or(ptr::null(), |s| s.entry as *const _);
            if let Expect::Is(expected) = expect {
                if expected != current {
                    // SAFETY: `current` is live under the lock and our guard.
                    let current = unsafe { current.as_ref() };
                    return Err(Conflict { current });
                }
            }
            let previous = self.apply(&mut state, guard, bucket, found, new.take());
            super::lock::note_write(self as *const Self as usize, hash);
            self.after_write(&mut state, policy, guard, &mut after);
            previous
        };
        after.run(guard);
        // SAFETY: the previous entry was retired under `guard`, so it stays
        // allocated for `'g`.
        Ok(unsafe { result.as_ref() })
    }

    /// Applies a validated swap. Returns the previous entry (retired) or null.
    fn apply(
        &self,
        state: &mut State<K, V>,
        guard: &Guard,
        bucket: &Bucket<K, V>,
        found: Option<SlotRef<K, V>>,
        new: Option<Unpublished<K, V>>,
    ) -> *const Entry<K, V>
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        let (counters, retirer) = (&self.writer.counters, &self.writer.retirer);
        match (found, new) {
            (Some(slot), Some(new)) => {
                let old = Bucket::replace(&slot, new.publish());
                // SAFETY: `old` was just unlinked (replaced with Release).
                // inject: double-drop-replaced
                unsafe { state.retired.push(old, retirer, counters, guard) };
                old
            }
            (Some(slot), None) => {
                if let Some(empty) = Bucket::clear(&slot) {
                    sub(&counters.overflow, 1);
                    // SAFETY: the emptied overflow bucket was just unlinked;
                    // readers standing in it keep it alive through the epoch.
                    unsafe {
                        retirer.retire(guard, Bucket::<K, V>::BYTES, move || {
                            Bucket::free_overflow(empty)
                        })
                    };
                }
                // SAFETY: the entry was just unlinked.
                unsafe { state.retired.push(slot.entry, retirer, counters, guard) };
                sub(&counters.len, 1);
                slot.entry
            }
            (None, Some(new)) => {
                let hash = new.hash();
                counters.publish(bucket, new.publish(), hash);
                add(&counters.len, 1);
                ptr::null()
            }
            (None, None) => ptr::null(),
        }
    }

    /// Installs a fresh, empty root table (under the lock, with no root).
    fn install_root(&self, state: &mut State<K, V>, root: *mut Table<K, V>, log2: u32) {
        state.prefault = if lazily_zeroed(log2) { 0 } else { usize::MAX };
        let counters = &self.writer.counters;
        counters.tables.store(1, Relaxed);
        counters.buckets.store(1 << log2, Relaxed);
        counters.target_log2.store(log2 as usize, Relaxed);
        // Release: the empty table is initialised before readers see it
        // (pairs with `root`'s Acquire).
        // inject: relaxed-root-install
        self.root.store(root, Ordering::Release);
    }

    /// Makes sure the shard has a table, does this write's share of a pending
    /// migration (the bucket of `pos` first), and returns the table writes go to.
    fn prepare_write<'g>(
        &self,
        state: &mut State<K, V>,
        policy: &Policy,
        guard: &'g Guard,
        pos: Option<u64>,
        after: &mut AfterUnlock,
    ) -> &'g Table<K, V>
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        let mut root = self.root.load(Ordering::Relaxed);
        if root.is_null() {
            root = Table::alloc(state.floor_log2, policy.map_large_tables);
            self.install_root(state, root, state.floor_log2);
        }
        if state.prefault != usize::MAX {
            self.prefault_some(state);
        }
        if state.migration.is_some() {
            self.step(state, policy, guard, pos, policy.step, after);
            // Completing a migration may start a follow-up one: the written
            // key's bucket must be evacuated into *that* successor too before
            // the write goes there (*one place per key*, `migrate.rs`).
            if let Some(pos) = pos {
                while state.migration.is_some() && !self.bucket_moved(pos) {
                    self.step(state, policy, guard, Some(pos), 0, after);
                }
            }
        }
        // SAFETY: under the lock the root (and its successor) cannot be
        // retired by anyone else, and our guard outlives this call.
        let root = unsafe { &*self.root.load(Ordering::Relaxed) };
        // SAFETY: the successor, if any, is live for the same reason.
        match unsafe { root.next().as_ref() } {
            Some(successor) => successor,
            None => root,
        }
    }

    /// Writes to the next [`PREFAULT_PAGES_PER_WRITE`] pages of a fresh
    /// root table (a no-op write: `Bucket::touch_for_write`), so that a
    /// page's first access is a write, not a read followed by a write that
    /// faults again and flushes every core's TLB. A big root table (a
    /// presized map's) is lazily zeroed memory from the OS; this touches it
    /// all within its first `pages / 8` writes, a few page faults each,
    /// instead of doubling the faults of random first accesses for the
    /// table's lifetime (11% of RapidGrow presized at 2 threads was those
    /// flushes). A successor table needs none: evacuation writes each page
    /// before readers are sent there (`migrate.rs`).
    fn prefault_some(&self, state: &mut State<K, V>) {
        // SAFETY: under the lock, with a root (just installed or live).
        let root = unsafe { &*self.root.load(Ordering::Relaxed) };
        for _ in 0..PREFAULT_PAGES_PER_WRITE {
            if state.prefault >= root.buckets() {
                state.prefault = usize::MAX;
                return;
            }
            root.bucket(state.prefault).touch_for_write();
            state.prefault += Bucket::<K, V>::PER_PAGE;
        }
    }

    /// Whether the root's bucket for `pos` is MOVED (under the lock).
    fn bucket_moved(&self, pos: u64) -> bool {
        // SAFETY: a pending migration implies a live root under the lock.
        let root = unsafe { &*self.root.load(Ordering::Relaxed) };
        root.bucket_for(pos).tags().is_moved()
    }
}
