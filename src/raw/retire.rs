//! Retirement: handing memory that readers may still see to the epoch
//! collector, and counting what is retired but not yet freed.
//!
//! Every object unlinked from a shard (a replaced or removed entry, an emptied
//! overflow bucket, an evacuated table, a cleared table with its entries) goes
//! through [`Retirer::retire`]. Its bytes are added to the shard's
//! [`Accounting`] and subtracted by the deferred destructor when the collector
//! finally runs it, once every guard that could have seen the object is gone.
//! The accounting block is reference-counted because deferred destructors may
//! run after the map itself was dropped.
//!
//! Deferred destructors run on whichever thread collects, so everything
//! retired must be `Send`; the public API requires `K, V: Send + 'static` on
//! every operation that retires, which is what makes the `unsafe` deferral here
//! sound (`'static`: the destructor may run after any borrow the map had
//! expired).

use std::sync::Arc;

use super::accounting::Accounting;
use super::sliced::{self, Sliced};
use crate::sync::epoch::Guard;

/// A shard's handle for retiring memory.
#[derive(Default, Debug)]
pub(crate) struct Retirer {
    accounting: Arc<Accounting>,
}

impl Retirer {
    /// Bytes of the shared accounting block (an `Arc`: two counts + the block).
    pub(crate) const ALLOCATED_BYTES: usize =
        2 * std::mem::size_of::<usize>() + std::mem::size_of::<Accounting>();

    pub(crate) fn accounting(&self) -> &Accounting {
        &self.accounting
    }

    /// Schedules `free` to run once no pinned thread can still reach the
    /// object it frees, and counts `bytes` as pending until then.
    ///
    /// # Safety
    /// - The object is already unreachable for any reader that pins after this
    ///   call (unlinked with a Release store, or its container is retired too).
    /// - `free` must be sound to run on any thread, at any later time, even
    ///   after the map is dropped (`Send + 'static` contents).
    /// - The object is retired exactly once.
    pub(crate) unsafe fn retire<F: FnOnce() + 'static>(
        &self,
        guard: &Guard,
        bytes: usize,
        free: F,
    ) {
        // SAFETY: per the contract, which is the same.
        unsafe {
            self.retire_sliced(guard, bytes, move || {
                free();
                None
            })
        };
    }

    /// Retires a batch of unlinked objects of `object_bytes` each as one
    /// deferred destructor (one collector entry instead of one per object),
    /// freeing them with `free_some`, a slice at a time (each object once).
    ///
    /// # Safety
    /// As [`Retirer::retire`], for every object of the batch.
    pub(crate) unsafe fn retire_batch<T: 'static, F>(
        &self,
        guard: &Guard,
        batch: Vec<*mut T>,
        object_bytes: usize,
        mut free_some: F,
    ) where
        F: FnMut(&[*mut T]) + Send + 'static,
    {
        let bytes = batch.len() * object_bytes;
        // SAFETY: per the contract, for each object. The destructor frees
        // the batch at once while this thread's inline budget lasts, else
        // queues it to be freed a step per later operation
        // (`sliced::INLINE_BUDGET`: the bound on what one collection frees).
        unsafe {
            self.retire_sliced(guard, bytes, move || {
                // inject: batch-frees-without-budget
                if sliced::inline_free_allowed(batch.len()) {
                    free_some(&batch);
                    None
                } else {
                    Some(
                        Box::new(sliced::BatchFree::new(batch, object_bytes, free_some))
                            as Box<dyn Sliced>,
                    )
                }
            })
        };
    }

    /// [`Retirer::retire`] for an object too big to free in one go: the
    /// deferred destructor runs `free`, which frees what is cheap and returns
    /// the rest as [`Sliced`] work, queued to be done a step per write (see
    /// `sliced.rs`). The bytes stay pending until that work is done.
    ///
    /// # Safety
    /// As [`Retirer::retire`]; the returned work may run on any thread.
    pub(crate) unsafe fn retire_sliced<F>(&self, guard: &Guard, bytes: usize, free: F)
    where
        F: FnOnce() -> Option<Box<dyn Sliced>> + 'static,
    {
        let accounting = Arc::clone(&self.accounting);
        accounting.retired(bytes, 1);
        // SAFETY: the caller guarantees the object is unreachable for new
        // readers; crossbeam-epoch runs the closure only after every thread
        // pinned now has unpinned, so no reader still holds a reference.
        unsafe {
            guard.defer_unchecked(move || match free() {
                Some(work) => sliced::enqueue(work, accounting, bytes),
                None => accounting.freed(bytes, 1),
            });
        }
    }
}
