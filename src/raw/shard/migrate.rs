//! The migration driver: moving a shard from its root table to a successor,
//! a few buckets per write, without ever stopping readers. Evacuating one
//! bucket ([`evacuate`]) and a step of them ([`advance`]) come first; then
//! the shard's side: starting a migration, stepping it, completing it,
//! retiring what it leaves behind, and finishing it for readers (`help`) and
//! `reclaim` (`settle`). When to migrate is the resize policy's
//! (`resize.rs`); its progress lives in the shard's locked state
//! (`Migration`, in `mod.rs`).
//!
//! # Protocol (all steps under the shard lock)
//! 1. **Start**: allocate the successor and link it from the root
//!    (`Table::set_next`, Release). Readers do not look at it yet.
//! 2. **Evacuate bucket `i`**: copy every entry pointer of the old chain into
//!    the successor (each publish is Release, through `Counters::publish`),
//!    *then* set MOVED on the old primary bucket (Release). A reader that
//!    sees MOVED (Acquire) therefore sees every copied entry; a reader that
//!    does not see it scans the old chain, which no longer changes. Entries
//!    are shared, never copied. Invariant *MOVED is final*: MOVED is set
//!    once, after every entry of the chain is in the successor, is never
//!    cleared, and nothing in the chain changes after it.
//! 3. **Write**: a write first evacuates the bucket of its own key, so the
//!    successor is the only place that key can change. Then it evacuates up
//!    to `step` more buckets in index order (bounded pause). Invariant *one
//!    place per key*: a key is in at most one slot of a table; during a
//!    migration its entry is in the old chain until that bucket is MOVED,
//!    then written in the successor only.
//! 4. **Retire overflow early**: an evacuated bucket's overflow buckets are
//!    unreachable for any reader that pins afterwards (it sees MOVED on the
//!    primary bucket and goes to the successor), so they are retired in
//!    batches as the migration goes, not walked for when the table is freed.
//! 5. **Complete**: once every old bucket is MOVED, swing the shard root to
//!    the successor (Release) and retire the old table (not its entries)
//!    through the epoch, then flush. Freeing it visits no bucket, and a large
//!    bucket array is unmapped a slice per later write (`sliced.rs`), so no
//!    single operation pays for a big table.
//!
//! A reader standing in the old table after completion still finds every
//! bucket MOVED and follows `next`; the old table is freed only after it
//! unpins. A migration left pending when writes stop is finished by readers
//! (a reader that followed a MOVED mark takes the lock with `try_lock` and
//! does one step; it never waits), by `reclaim()`, or by `shrink_to_fit`.

use std::sync::atomic::Ordering::Relaxed;

use super::batch::RETIRE_BATCH;
use super::counters::{add, sub, Counters};
use super::{AfterUnlock, Migration, Policy, Shard, State};
use crate::raw::bucket::Bucket;
use crate::raw::sliced::Sliced;
use crate::raw::table::Table;
use crate::sync::epoch::Guard;
use crate::sync::Ordering;

/// Evacuates old bucket `index` into `new` unless it is already MOVED.
/// `shard_bits` turns an entry's hash into its position.
fn evacuate<K, V>(
    old: &Table<K, V>,
    index: usize,
    new: &Table<K, V>,
    counters: &Counters,
    shard_bits: u32,
    migration: &mut Migration<K, V>,
) {
    let bucket = old.bucket(index);
    if bucket.tags().is_moved() {
        return;
    }
    // The first access to the bucket's destination in the successor is a
    // write, before any reader can follow the MOVED mark there: one page
    // fault instead of two (see `Bucket::touch_for_write`). A doubling's two
    // destination buckets share a page, a shrink has one; a bigger grow
    // (`reserve`) touches each page of its range.
    if migration.touch_pages {
        let (lo, hi) = old.range(index);
        let (mut dest, last) = (new.index(lo), new.index(hi));
        loop {
            new.bucket(dest).touch_for_write();
            dest += Bucket::<K, V>::PER_PAGE;
            if dest > last {
                break;
            }
        }
    }
    // inject: moved-before-copied
    bucket.entries_locked(|entry| {
        // SAFETY: entries in a chain are live under the lock.
        let hash = unsafe { (*entry).hash };
        // inject: shrink-wrong-index
        let pos = hash << shard_bits;
        counters.publish(new.bucket_for(pos), entry, hash);
    });
    // Only after every copy: see step 2 of the protocol.
    // inject: moved-before-copied
    bucket.mark_moved();
    // Retired by the caller, after the mark (step 4).
    migration.old_overflow.extend(bucket.overflow_locked());
    migration.moved += 1;
}

/// Evacuates up to `budget` buckets from the cursor on. Returns true when
/// every bucket of `old` is MOVED (the migration is complete).
fn advance<K, V>(
    old: &Table<K, V>,
    new: &Table<K, V>,
    counters: &Counters,
    shard_bits: u32,
    migration: &mut Migration<K, V>,
    budget: usize,
) -> bool {
    let end = migration.cursor.saturating_add(budget).min(old.buckets());
    // First start loading every entry of the step (evacuation reads their
    // hashes): in a large table each is a cache miss, and this lets them
    // overlap.
    for index in migration.cursor..end {
        old.bucket(index).prefetch_entries_locked();
    }
    for index in migration.cursor..end {
        evacuate(old, index, new, counters, shard_bits, migration);
    }
    migration.cursor = end;
    // Done when every bucket is MOVED, wherever the cursor is: writes evacuate
    // their own key's bucket ahead of it.
    migration.moved == old.buckets()
}

impl<K, V> Shard<K, V> {
    /// Starts a migration to a `2^log2`-bucket successor (protocol step 1),
    /// allocated like std collections allocate: out of memory aborts.
    pub(super) fn start_migration(
        &self,
        state: &mut State<K, V>,
        policy: &Policy,
        guard: &Guard,
        log2: u32,
        after: &mut AfterUnlock,
    ) where
        K: Send + 'static,
        V: Send + 'static,
    {
        let infallible = |log2| Some(Table::alloc(log2, policy.map_large_tables));
        let _ = self.try_start_migration(state, policy, guard, log2, after, infallible);
    }

    /// Starts a migration to a `2^log2`-bucket successor made by `alloc`
    /// (in blocking mode, also finishes it). `Err(bytes)` if `alloc` could
    /// not allocate the successor; nothing changed then.
    pub(super) fn try_start_migration(
        &self,
        state: &mut State<K, V>,
        policy: &Policy,
        guard: &Guard,
        log2: u32,
        after: &mut AfterUnlock,
        alloc: impl FnOnce(u32) -> Option<*mut Table<K, V>>,
    ) -> Result<(), usize>
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        debug_assert!(state.migration.is_none());
        let root = self.root.load(Ordering::Relaxed);
        // SAFETY: live under the lock.
        let root = unsafe { &*root };
        if root.log2() == log2 {
            return Ok(());
        }
        let successor = alloc(log2).ok_or(Table::<K, V>::bytes(log2))?;
        root.set_next(successor);
        state.migration = Some(Migration::new(log2));
        let counters = &self.writer.counters;
        counters.tables.store(2, Relaxed);
        counters
            .buckets
            .store(root.buckets() + (1 << log2), Relaxed);
        counters.target_log2.store(log2 as usize, Relaxed);
        counters.migration_remaining.store(root.buckets(), Relaxed);
        if policy.step == usize::MAX {
            self.step(state, policy, guard, None, usize::MAX, after);
        }
        Ok(())
    }

    /// Does up to `budget` buckets of the pending migration (plus the bucket
    /// of `pos`), completing it if that was the last. A completed migration is
    /// checked against the thresholds at once (writes may have outgrown the
    /// successor meanwhile), which may start the next one. Returns true if it
    /// completed a migration.
    pub(super) fn step(
        &self,
        state: &mut State<K, V>,
        policy: &Policy,
        guard: &Guard,
        pos: Option<u64>,
        budget: usize,
        after: &mut AfterUnlock,
    ) -> bool
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        let Some(migration) = state.migration.as_mut() else {
            return false;
        };
        // SAFETY: a migration implies a root with a successor, both live
        // under the lock.
        let old = unsafe { &*self.root.load(Ordering::Relaxed) };
        // SAFETY: as above: a pending migration has a linked successor.
        let new = unsafe { &*old.next() };
        let counters = &self.writer.counters;
        if let Some(pos) = pos {
            evacuate(
                old,
                old.index(pos),
                new,
                counters,
                policy.shard_bits,
                migration,
            );
        }
        let done = advance(old, new, counters, policy.shard_bits, migration, budget);
        if done || migration.old_overflow.len() >= RETIRE_BATCH {
            self.retire_old_overflow(migration, guard);
        }
        counters
            .migration_remaining
            .store(old.buckets() - migration.moved, Relaxed);
        if done {
            self.complete(state, guard, after);
            self.after_write(state, policy, guard, after);
        }
        done
    }

    /// Swings the root to the successor and retires the old table.
    fn complete(&self, state: &mut State<K, V>, guard: &Guard, after: &mut AfterUnlock)
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        let migration = state.migration.take().expect("a migration to complete");
        // Evacuation wrote every page of the new root (`evacuate`).
        state.prefault = usize::MAX;
        let old = self.root.load(Ordering::Relaxed);
        // SAFETY: live under the lock.
        let (old_log2, new) = unsafe { ((*old).log2(), (*old).next()) };
        let new_log2 = unsafe { (*new).log2() };
        // Release pairs with readers' Acquire in `root`.
        // inject: relaxed-table-publish
        self.root.store(new, Ordering::Release);
        debug_assert!(migration.old_overflow.is_empty(), "retired by `step`");
        let counters = &self.writer.counters;
        counters.buckets.store(1 << new_log2, Relaxed);
        counters.tables.store(1, Relaxed);
        counters.migration_remaining.store(0, Relaxed);
        if new_log2 > old_log2 {
            add(&counters.grows, 1);
        } else {
            add(&counters.shrinks, 1);
        }
        // SAFETY: no new reader can reach `old` (the root moved on, and only
        // the root pointed at it). Every bucket is MOVED: its entries all live
        // on in the successor and its overflow buckets were retired already.
        // inject: free-immediately
        // inject: never-retire
        unsafe {
            self.writer
                .retirer
                .retire_sliced(guard, Table::<K, V>::bytes(old_log2), move || {
                    Table::free_evacuated(old).map(|pages| Box::new(pages) as Box<dyn Sliced>)
                });
        }
        after.flush = true;
    }

    /// Retires the overflow buckets collected from evacuated old buckets
    /// (step 4 of the protocol in `migrate.rs`).
    pub(super) fn retire_old_overflow(&self, migration: &mut Migration<K, V>, guard: &Guard)
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        if migration.old_overflow.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut migration.old_overflow);
        sub(&self.writer.counters.overflow, batch.len());
        // SAFETY: each bucket hangs off a primary bucket marked MOVED (Release)
        // before it was collected: a reader that pins from now on sees the
        // mark and never enters the chain. Each is retired only here, once:
        // `Table::free_owned` skips the chains of MOVED buckets.
        let free = |buckets: &[*mut Bucket<K, V>]| {
            for &bucket in buckets {
                // SAFETY: `retire_batch` calls this once per bucket, past
                // its grace period.
                unsafe { Bucket::free_overflow(bucket) }
            }
        };
        unsafe {
            // inject: free-old-overflow-immediately
            self.writer
                .retirer
                .retire_batch(guard, batch, Bucket::<K, V>::BYTES, free);
        }
    }

    /// Runs migrations to completion, including any follow-up one a
    /// completion starts. Returns how many completed.
    pub(super) fn finish_migrations(
        &self,
        state: &mut State<K, V>,
        policy: &Policy,
        guard: &Guard,
        after: &mut AfterUnlock,
    ) -> usize
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        let mut finished = 0;
        while state.migration.is_some() {
            finished += usize::from(self.step(state, policy, guard, None, usize::MAX, after));
        }
        finished
    }

    /// A reader that followed a MOVED mark helps the pending migration with
    /// one step, if the lock is free. It never waits.
    pub(crate) fn help(&self, policy: &Policy, guard: &Guard)
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        let mut after = AfterUnlock::default();
        if let Some(mut state) = self.writer.state.try_lock() {
            self.step(&mut state, policy, guard, None, policy.step, &mut after);
        }
        after.run(guard);
    }

    /// Finishes any pending migration now and hands the retire batch to the
    /// collector (what `reclaim` needs). Returns the migrations it completed.
    pub(crate) fn settle(&self, policy: &Policy, guard: &Guard) -> usize
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        let mut after = AfterUnlock::default();
        let finished = {
            let mut state = self.lock();
            let finished = self.finish_migrations(&mut state, policy, guard, &mut after);
            state
                .retired
                .flush(&self.writer.retirer, &self.writer.counters, guard);
            finished
        };
        after.run(guard);
        finished
    }
}
