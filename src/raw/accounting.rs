//! What a shard has retired and not yet freed, in bytes and objects: added
//! when memory is handed to the epoch collector (`retire.rs`), subtracted
//! when a deferred destructor frees it, or a slice at a time when its
//! freeing was queued (`sliced.rs`). `stats()` and `reclaim()` read it.
//!
//! Its own module so that both of those depend on it and neither on the
//! other's internals.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

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

    /// Counts `bytes` and `objects` as retired (not yet freed).
    #[inline]
    pub(crate) fn retired(&self, bytes: usize, objects: usize) {
        self.retired_bytes.fetch_add(bytes, Relaxed);
        self.retired_objects.fetch_add(objects, Relaxed);
    }

    /// Counts `bytes` and `objects` of retired memory as freed.
    pub(crate) fn freed(&self, bytes: usize, objects: usize) {
        self.retired_bytes.fetch_sub(bytes, Relaxed);
        self.retired_objects.fetch_sub(objects, Relaxed);
    }
}
