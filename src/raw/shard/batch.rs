//! The retire batch: entries a shard's writer unlinked, handed to the epoch
//! collector [`RETIRE_BATCH`] at a time. Retiring one at a time costs a
//! crossbeam deferral and several atomic updates per write; a batch costs one.
//!
//! # Invariant: *retiring late is safe*
//! An entry may be retired any time after it was unlinked: a reader that
//! could have seen it pinned no later than the unlink, so at an epoch no
//! later than the one the batch is sealed with, and the collector frees a bag
//! only two epochs after its seal (the epoch then protects even more readers
//! than needed). So the batch may wait: `reclaim`, `clear` and dropping the
//! map flush it, and stats count it as retired (`Counters::batched`).

use std::sync::Arc;

use crate::raw::entry::Entry;
use crate::raw::pool::{self, EntryPool};
use crate::raw::retire::Retirer;
use crate::sync::epoch::Guard;
use std::sync::atomic::Ordering::Relaxed;

use super::counters::Counters;

/// Entries retired per deferred destructor. Under loom a batch of one keeps
/// models small and exercises the same path.
pub(crate) const RETIRE_BATCH: usize = if cfg!(loom) { 1 } else { 64 };

/// Unlinked entries not yet handed to the epoch collector (lock-protected
/// shard state).
pub(crate) struct RetireBatch<K, V> {
    entries: Vec<*mut Entry<K, V>>,
    /// Where the batch's blocks go once its grace period is over (`pool.rs`).
    pool: Arc<EntryPool>,
}

impl<K, V> RetireBatch<K, V> {
    pub(crate) fn new(pool: Arc<EntryPool>) -> Self {
        RetireBatch {
            entries: Vec::new(),
            pool,
        }
    }

    /// Adds an unlinked entry to the batch, handing the batch to the epoch
    /// collector (through `retirer`) when it is full.
    ///
    /// # Safety
    /// `entry` is unlinked from every live table and retired only here.
    pub(crate) unsafe fn push(
        &mut self,
        entry: *mut Entry<K, V>,
        retirer: &Retirer,
        counters: &Counters,
        guard: &Guard,
    ) where
        K: Send + 'static,
        V: Send + 'static,
    {
        if self.entries.capacity() == 0 {
            self.entries.reserve_exact(RETIRE_BATCH);
        }
        self.entries.push(entry);
        counters.batched.store(self.entries.len(), Relaxed);
        if self.entries.len() >= RETIRE_BATCH {
            self.flush(retirer, counters, guard);
        }
    }

    /// Hands the batch to the epoch collector.
    pub(crate) fn flush(&mut self, retirer: &Retirer, counters: &Counters, guard: &Guard)
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        if self.entries.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.entries);
        counters.batched.store(0, Relaxed);
        // *Memory follows contents* (`pool.rs`): the pool's bound follows
        // the shard's live entries.
        self.pool.set_cap_for(counters.len.load(Relaxed));
        let pool = Arc::clone(&self.pool);
        let recycle = move |entries: &[*mut Entry<K, V>]| {
            // SAFETY: `retire_batch` calls this once per entry, past its
            // grace period; the entries were allocated by `Unpublished`.
            unsafe { pool::recycle_entries(&pool, entries) };
        };
        // SAFETY: every entry in the batch was unlinked (under this lock) and
        // is retired only once, here; K and V are Send + 'static, so the
        // destructor may run on any thread at any later time.
        unsafe { retirer.retire_batch(guard, batch, Entry::<K, V>::BYTES, recycle) };
    }

    /// Takes the batch's entries out, for a caller that frees them itself
    /// (dropping the map: no reader exists).
    pub(crate) fn take(&mut self) -> Vec<*mut Entry<K, V>> {
        std::mem::take(&mut self.entries)
    }
}
