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

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use super::pages::{self, Pages};
use crate::sync::epoch::Guard;

/// Bytes and objects retired by one shard and not yet reclaimed. Plain std
/// atomics even under loom: they are statistics, not protocol.
#[derive(Default, Debug)]
pub(crate) struct Accounting {
    retired_bytes: AtomicUsize,
    retired_objects: AtomicUsize,
}

impl Accounting {
    pub(crate) fn pending_bytes(&self) -> usize {
        self.retired_bytes.load(Relaxed)
    }

    pub(crate) fn pending_objects(&self) -> usize {
        self.retired_objects.load(Relaxed)
    }
}

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
            self.retire_unmapping(guard, bytes, move || {
                free();
                None
            })
        };
    }

    /// Retires a batch of unlinked objects of `object_bytes` each as one
    /// deferred destructor (one collector entry instead of one per object),
    /// freeing each with `free_one`.
    ///
    /// # Safety
    /// As [`Retirer::retire`], for every object of the batch.
    pub(crate) unsafe fn retire_batch<T: 'static>(
        &self,
        guard: &Guard,
        batch: Vec<*mut T>,
        object_bytes: usize,
        free_one: unsafe fn(*mut T),
    ) {
        let bytes = batch.len() * object_bytes;
        // SAFETY: per the contract, for each object.
        unsafe {
            self.retire(guard, bytes, move || {
                for object in batch {
                    free_one(object);
                }
            })
        };
    }

    /// [`Retirer::retire`] for an object that may own an OS mapping: `free`
    /// frees the rest and hands the mapping back, which is then unmapped a
    /// slice per later write (see [`unmap_a_slice`]), so that no single
    /// operation pays for unmapping a large table. Its bytes stay pending
    /// until the last slice.
    ///
    /// # Safety
    /// As [`Retirer::retire`].
    pub(crate) unsafe fn retire_unmapping<F>(&self, guard: &Guard, bytes: usize, free: F)
    where
        F: FnOnce() -> Option<Pages> + 'static,
    {
        let accounting = Arc::clone(&self.accounting);
        accounting.retired_bytes.fetch_add(bytes, Relaxed);
        accounting.retired_objects.fetch_add(1, Relaxed);
        // SAFETY: the caller guarantees the object is unreachable for new
        // readers; crossbeam-epoch runs the closure only after every thread
        // pinned now has unpinned, so no reader still holds a reference.
        unsafe {
            guard.defer_unchecked(move || {
                let pages = free();
                let held = pages.as_ref().map_or(0, Pages::len);
                accounting.retired_bytes.fetch_sub(bytes - held, Relaxed);
                match pages {
                    Some(pages) => enqueue(pages, accounting),
                    None => {
                        accounting.retired_objects.fetch_sub(1, Relaxed);
                    }
                }
            });
        }
    }
}

/// A retired table's mapping still to be unmapped, with the accounting that
/// counts it as pending.
struct Unmapping {
    pages: Pages,
    accounting: Arc<Accounting>,
}

/// Mappings queued by deferred destructors ([`Retirer::retire_unmapping`]),
/// unmapped a slice per write ([`unmap_a_slice`]) so that no single
/// operation pays for a large table: unmapping populated memory costs about
/// 130 µs per MiB, and one collection may free several tables at once.
/// Process-wide, like the epoch collector. Never used under loom or Miri.
static UNMAP_QUEUE: std::sync::Mutex<Vec<Unmapping>> = std::sync::Mutex::new(Vec::new());

/// Bytes in [`UNMAP_QUEUE`]: the one load every write makes.
static UNMAP_QUEUED: AtomicUsize = AtomicUsize::new(0);

fn queue() -> std::sync::MutexGuard<'static, Vec<Unmapping>> {
    // Nothing panics while holding it, but never let a poison stop unmapping.
    UNMAP_QUEUE.lock().unwrap_or_else(|e| e.into_inner())
}

fn enqueue(pages: Pages, accounting: Arc<Accounting>) {
    UNMAP_QUEUED.fetch_add(pages.len(), Relaxed);
    queue().push(Unmapping { pages, accounting });
}

/// Unmaps up to `budget` bytes of the queued mappings; returns how many.
fn unmap_queued(queue: &mut Vec<Unmapping>, budget: usize) -> usize {
    let mut done = 0;
    while done < budget {
        let Some(last) = queue.last_mut() else { break };
        // SAFETY: queued pages were unreachable when their deferred
        // destructor ran, and the queue owns them.
        let n = unsafe { last.pages.unmap_tail(budget - done) };
        done += n;
        UNMAP_QUEUED.fetch_sub(n, Relaxed);
        last.accounting.retired_bytes.fetch_sub(n, Relaxed);
        if last.pages.len() == 0 {
            last.accounting.retired_objects.fetch_sub(1, Relaxed);
            queue.pop();
        }
    }
    done
}

/// Called after every write: unmaps one slice of a retired table, if any is
/// queued (one Relaxed load otherwise). Never waits: if another write is
/// unmapping, this one leaves it to them.
#[inline(always)]
pub(crate) fn unmap_a_slice() {
    if UNMAP_QUEUED.load(Relaxed) != 0 {
        if let Ok(mut queue) = UNMAP_QUEUE.try_lock() {
            unmap_queued(&mut queue, pages::SLICE_BYTES);
        }
    }
}

/// Unmaps everything queued (what `reclaim` needs). Returns the bytes.
pub(crate) fn unmap_all() -> usize {
    if UNMAP_QUEUED.load(Relaxed) == 0 {
        return 0;
    }
    unmap_queued(&mut queue(), usize::MAX)
}
