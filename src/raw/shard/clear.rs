//! Emptying a shard: `clear`, which detaches the shard's tables in O(1) and
//! retires them with their entries, and `drop_tables`, which frees
//! everything at once when the map is dropped.
//!
//! # Invariant: *a clear is atomic per shard*
//! A reader sees the shard either before the clear (every entry) or after it
//! (empty): the whole chain is detached with one root store. The entries go
//! with the chain (`ChainFree`), each dropped exactly once, so nothing is
//! walked under the lock and the caller pays O(1).

use std::ptr;
use std::sync::atomic::Ordering::Relaxed;

use super::Shard;
use crate::raw::bucket::Bucket;
use crate::raw::entry::Entry;
use crate::raw::sliced::Sliced;
use crate::raw::table::{ChainFree, Table};
use crate::sync::epoch::Guard;
use crate::sync::Ordering;

impl<K, V> Shard<K, V> {
    /// Detaches the shard's tables and retires them with all their entries:
    /// O(1) for the caller, *atomic per shard* (see the module invariant).
    pub(crate) fn clear(&self, guard: &Guard)
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        self.clear_tables(guard);
        // The recycled blocks go too (*memory follows contents*, `pool.rs`).
        self.writer.pool.drain();
    }

    fn clear_tables(&self, guard: &Guard)
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        let (root, bytes) = {
            let mut state = self.lock();
            // Release, like every root change: pairs with `root`'s Acquire,
            // so a reader that sees the empty shard also sees what this
            // thread did before the clear. No Acquire half: the old root was
            // stored by this writer or an earlier holder of the lock, which
            // the lock orders before this swap.
            let root = self.root.swap(ptr::null_mut(), Ordering::Release);
            // Entries removed before the clear go to the collector now too.
            state
                .retired
                .flush(&self.writer.retirer, &self.writer.counters, guard);
            self.writer.pool.set_cap_for(0);
            if root.is_null() {
                return;
            }
            if let Some(mut migration) = state.migration.take() {
                self.retire_old_overflow(&mut migration, guard);
            }
            let c = &self.writer.counters;
            let bytes = c.tables.load(Relaxed) * Table::<K, V>::OVERHEAD_BYTES
                + (c.buckets.load(Relaxed) + c.overflow.load(Relaxed)) * Bucket::<K, V>::BYTES
                + c.len.load(Relaxed) * Entry::<K, V>::BYTES;
            for counter in [
                &c.len,
                &c.buckets,
                &c.tables,
                &c.overflow,
                &c.migration_remaining,
            ] {
                counter.store(0, Relaxed);
            }
            c.target_log2.store(state.floor_log2 as usize, Relaxed);
            (root, bytes)
        };
        // SAFETY: the chain is detached: no new reader can reach it, and
        // `ChainFree` drops every entry exactly once (moved buckets' entries
        // through the successor only).
        unsafe {
            self.writer.retirer.retire_sliced(guard, bytes, move || {
                Some(Box::new(ChainFree::new(root)) as Box<dyn Sliced>)
            });
        }
        guard.flush();
    }

    /// Frees everything, synchronously: the map is being dropped, so no
    /// reader can exist.
    pub(crate) fn drop_tables(&mut self) {
        // Relaxed: pairs with nothing. `&mut self` means no other thread can
        // reach the shard, and whatever gave this thread exclusive access (a
        // join, the last `Arc` dropped, a channel) already ordered every other
        // thread's use of it before this point.
        let root = self.root.swap(ptr::null_mut(), Ordering::Relaxed);
        // SAFETY: exclusive access; the chain owns its entries.
        unsafe { Table::free_chain(root) };
        // Overflow buckets of evacuated buckets not yet retired (a migration
        // was pending): `free_chain` skips them, so they are freed here.
        let migration = self.lock().migration.take();
        if let Some(migration) = migration {
            for bucket in migration.old_overflow {
                // SAFETY: unlinked from the live structure by the MOVED mark,
                // owned by the migration alone, and no reader exists.
                unsafe { Bucket::free_overflow(bucket) };
            }
        }
        // The map is being dropped, so no reference into it exists (every
        // `Ref` and handle borrows the map): the retire batch can be freed
        // at once, outside the lock: the values' destructors are user code,
        // which may write to another map.
        // inject: drop-values-under-lock
        let retired = self.lock().retired.take();
        for entry in retired {
            // SAFETY: unlinked entries owned by the batch alone.
            drop(unsafe { Box::from_raw(entry) });
        }
    }
}
