//! Tables: a power-of-two array of buckets, plus the link to the successor
//! table while a migration is in progress. The array's memory is
//! `alloc.rs`'s; when a shard's table grows or shrinks is `shard/resize.rs`'s.
//!
//! # Positions
//! A shard strips the hash's shard bits off the top: `pos = hash << shard_bits`.
//! A table of `2^log2` buckets puts `pos` in bucket `pos >> (64 - log2)`, i.e.
//! buckets are chosen by the *high* bits. Bucket `b` therefore covers one
//! contiguous range of positions, and a bucket of a smaller table covers a
//! whole number of buckets of any larger one. Iterators rely on this to keep a
//! position cursor that stays valid across resizes (see `scan.rs`).
//!
//! # Lifetime
//! A table is reachable from its shard's root pointer or from its
//! predecessor's `next`. It is freed only through the epoch, after the shard
//! root stopped pointing at it (migration complete, or `clear`).
//! Tables never free entries unless told to ([`ChainFree`]): during a
//! migration old and new table share entries.

use std::ptr;

use super::alloc::{alloc_buckets, Buckets, ALIGN_SLACK};
use super::bucket::Bucket;
use super::entry::Entry;
use super::pages::Pages;
use crate::sync::{AtomicPtr, Canary, Ordering};

/// The largest table: 2^40 buckets (64 TiB of buckets) per shard.
pub(crate) const MAX_LOG2: u32 = 40;

pub(crate) struct Table<K, V> {
    log2: u32,
    /// `63 - log2`: `index` is `(pos >> 1) >> shift` (two shifts, so that a
    /// one-bucket table needs no branch).
    shift: u32,
    buckets: Buckets<K, V>,
    /// The successor during a migration; set once (Release) when the migration
    /// starts, never changed afterwards.
    next: AtomicPtr<Table<K, V>>,
    canary: Canary,
}

impl<K, V> Table<K, V> {
    /// Allocates an empty table of `2^log2` buckets.
    ///
    /// # Panics / aborts
    /// Like std collections: out of memory calls `handle_alloc_error`. See
    /// [`Table::try_alloc`] for the fallible form.
    pub(crate) fn alloc(log2: u32, map_large: bool) -> *mut Self {
        Self::try_alloc(log2, map_large).unwrap_or_else(|| {
            std::alloc::handle_alloc_error(
                std::alloc::Layout::array::<Bucket<K, V>>(1 << log2).unwrap(),
            )
        })
    }

    /// Allocates an empty table of `2^log2` buckets, or `None` if the
    /// allocator refuses the bucket array. With `map_large`, an array of
    /// [`pages::MIN_BYTES`](super::pages::MIN_BYTES) or more is mapped from the OS where possible.
    pub(crate) fn try_alloc(log2: u32, map_large: bool) -> Option<*mut Self> {
        assert!(log2 <= MAX_LOG2);
        Some(Box::into_raw(Box::new(Table {
            log2,
            shift: 63 - log2,
            buckets: alloc_buckets(1usize << log2, map_large)?,
            next: AtomicPtr::new(ptr::null_mut()),
            canary: Canary::default(),
        })))
    }

    /// Bytes of a table of `2^log2` buckets, header and alignment slack
    /// included (what the allocator is asked for).
    pub(crate) fn bytes(log2: u32) -> usize {
        Self::OVERHEAD_BYTES + (Bucket::<K, V>::BYTES << log2)
    }

    /// Bytes a table costs besides its buckets: the header and the slack
    /// that aligns the bucket array.
    pub(crate) const OVERHEAD_BYTES: usize = std::mem::size_of::<Self>() + ALIGN_SLACK;

    #[inline(always)]
    pub(crate) fn log2(&self) -> u32 {
        self.log2
    }

    #[inline(always)]
    pub(crate) fn buckets(&self) -> usize {
        self.buckets.len()
    }

    /// The bucket index of a position: its top `log2` bits.
    #[inline(always)]
    pub(crate) fn index(&self, pos: u64) -> usize {
        ((pos >> 1) >> self.shift) as usize
    }

    #[inline(always)]
    pub(crate) fn bucket(&self, index: usize) -> &Bucket<K, V> {
        &self.buckets[index]
    }

    #[inline(always)]
    pub(crate) fn bucket_for(&self, pos: u64) -> &Bucket<K, V> {
        let index = self.index(pos);
        debug_assert!(index < self.buckets.len());
        // SAFETY: `index` keeps the top `log2` bits of `pos`, so it is below
        // `2^log2 == buckets.len()`.
        unsafe { self.buckets.get_unchecked(index) }
    }

    /// The inclusive range of positions bucket `index` covers.
    pub(crate) fn range(&self, index: usize) -> (u64, u64) {
        if self.log2 == 0 {
            return (0, u64::MAX);
        }
        let width = 64 - self.log2;
        let lo = (index as u64) << width;
        (lo, lo | ((1u64 << width) - 1))
    }

    /// The successor table. Acquire pairs with the Release store in
    /// [`Table::set_next`], so the successor's buckets are initialised.
    #[inline(always)]
    pub(crate) fn next(&self) -> *mut Table<K, V> {
        self.next.load(Ordering::Acquire)
    }

    /// Links the successor (writer, under the lock, once per table).
    pub(crate) fn set_next(&self, successor: *mut Table<K, V>) {
        debug_assert!(self.next.load(Ordering::Relaxed).is_null());
        // Release: the successor's zeroed buckets are visible to a reader
        // that loads the link (pairs with `next`'s Acquire). Readers only
        // follow it after seeing a MOVED mark, whose own Release comes later
        // and covers it too.
        self.next.store(successor, Ordering::Release);
    }

    /// For loom: readers touch the canary of every table they enter.
    #[inline(always)]
    pub(crate) fn touch(&self) {
        self.canary.touch();
    }

    /// Drops the entries and frees the overflow buckets that the buckets in
    /// `range` alone own: those of buckets not marked MOVED. A moved bucket's
    /// entries belong to the successor, and its overflow buckets were retired
    /// when it was evacuated (`evacuate` in `shard/migrate.rs`). Returns the bytes freed.
    ///
    /// # Safety
    /// No reader can reach the table any more, each bucket is visited once,
    /// and no other owner drops the same entries.
    unsafe fn free_owned(&self, range: std::ops::Range<usize>) -> usize {
        let mut freed = 0;
        for bucket in &self.buckets[range] {
            bucket.kill_canary();
            if bucket.tags().is_moved() {
                continue;
            }
            bucket.entries_locked(|entry| {
                // SAFETY: this table is the entry's only remaining owner.
                drop(unsafe { Box::from_raw(entry) });
                freed += Entry::<K, V>::BYTES;
            });
            for o in bucket.overflow_locked() {
                // SAFETY: overflow buckets of a dead table are unreachable.
                unsafe { Bucket::free_overflow(o) };
                freed += Bucket::<K, V>::BYTES;
            }
        }
        freed
    }

    /// Frees a table whose every bucket was evacuated, without visiting its
    /// buckets: its entries live on in the successor and its overflow buckets
    /// were retired during evacuation. An OS-mapped bucket array is handed
    /// back instead of unmapped, for the caller to unmap a slice at a time.
    ///
    /// # Safety
    /// `table` came from [`Table::alloc`], no reader can reach it any more,
    /// it is freed once, and every bucket is MOVED.
    pub(crate) unsafe fn free_evacuated(table: *mut Self) -> Option<Pages> {
        // SAFETY: per the contract we are the only owner.
        let mut table = unsafe { Box::from_raw(table) };
        table.canary.kill();
        if cfg!(loom) {
            // Only loom's canaries need the visit (they are no-ops otherwise).
            for bucket in table.buckets.iter() {
                debug_assert!(bucket.tags().is_moved());
                bucket.kill_canary();
            }
        }
        table.buckets.take_pages()
    }

    /// Frees a detached chain of tables (a root and its successors, or a
    /// single table) with all the entries they hold, each exactly once, at
    /// once: [`ChainFree`] run to completion. Used when dropping the map.
    ///
    /// # Safety
    /// As [`ChainFree::new`].
    pub(crate) unsafe fn free_chain(table: *mut Self) {
        // SAFETY: per the contract.
        let mut work = unsafe { ChainFree::new(table) };
        while !work.free_some().1 {}
    }
}

/// A detached chain of tables (what `clear` retires), freed a bounded slice
/// per step (see `sliced.rs`): [`ChainFree::STEP_BUCKETS`] buckets' entries,
/// or one slice of an OS-mapped bucket array. Freeing a 10 M-entry chain in
/// one go takes most of a second, inside whichever operation collects it.
pub(crate) struct ChainFree<K, V> {
    /// The table being freed, then its successors (null: none left).
    table: *mut Table<K, V>,
    /// Its buckets below this index are freed.
    cursor: usize,
    /// The bucket array of a table already freed, still being unmapped.
    pages: Option<Pages>,
}

// SAFETY: the chain is detached and owned by this value alone; what it drops
// (entries with `K`, `V`) may be dropped on any thread, which the map's
// operations ensure by requiring `K, V: Send + 'static`.
unsafe impl<K: Send, V: Send> Send for ChainFree<K, V> {}

impl<K, V> ChainFree<K, V> {
    /// Buckets whose entries one step drops: about 500 entries at full load.
    pub(crate) const STEP_BUCKETS: usize = 128;

    /// # Safety
    /// Every table of the chain came from [`Table::alloc`]; the chain is
    /// detached, no reader can reach it, no other owner drops its entries,
    /// and it is freed only by this value.
    pub(crate) unsafe fn new(root: *mut Table<K, V>) -> Self {
        ChainFree {
            table: root,
            cursor: 0,
            pages: None,
        }
    }
}

impl<K: Send, V: Send> super::sliced::Sliced for ChainFree<K, V> {
    fn step(&mut self) -> (usize, bool) {
        self.free_some()
    }
}

impl<K, V> ChainFree<K, V> {
    /// One step: returns the bytes freed and whether the chain is gone.
    fn free_some(&mut self) -> (usize, bool) {
        use super::sliced::Sliced;
        if let Some(pages) = &mut self.pages {
            let (freed, done) = pages.step();
            if done {
                self.pages = None;
            }
            return (freed, done && self.table.is_null());
        }
        if self.table.is_null() {
            return (0, true);
        }
        // SAFETY: the chain is ours (see `new`) and the table not yet freed.
        let table = unsafe { &*self.table };
        let end = (self.cursor + Self::STEP_BUCKETS).min(table.buckets());
        // SAFETY: no reader can reach the chain, and `cursor` only moves
        // forward, so each bucket is freed once.
        let mut freed = unsafe { table.free_owned(self.cursor..end) };
        self.cursor = end;
        if end == table.buckets() {
            let next = table.next.load(Ordering::Relaxed);
            let log2 = table.log2();
            // SAFETY: every bucket's contents are freed; the table is ours.
            let mut table = unsafe { Box::from_raw(self.table) };
            table.canary.kill();
            self.pages = table.buckets.take_pages();
            let unmapped_later = self.pages.as_ref().map_or(0, Pages::len);
            freed += Table::<K, V>::bytes(log2) - unmapped_later;
            self.table = next;
            self.cursor = 0;
        }
        (freed, self.table.is_null() && self.pages.is_none())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn bucket_ranges_tile_the_position_space() {
        for log2 in [0, 1, 3, 10] {
            let t = Table::<u64, u64>::alloc(log2, true);
            // SAFETY: freshly allocated, freed only at the end of the loop body.
            let table = unsafe { &*t };
            let mut expected_lo = 0u64;
            for i in 0..table.buckets() {
                let (lo, hi) = table.range(i);
                assert_eq!(lo, expected_lo);
                assert_eq!(table.index(lo), i);
                assert_eq!(table.index(hi), i);
                expected_lo = hi.wrapping_add(1);
            }
            assert_eq!(expected_lo, 0, "the last bucket ends at u64::MAX");
            // SAFETY: the test's own table; no reader exists.
            unsafe { Table::free_chain(t) };
        }
    }

    #[test]
    fn a_small_bucket_covers_whole_large_buckets() {
        let (small_ptr, large_ptr) = (
            Table::<u64, u64>::alloc(2, true),
            Table::<u64, u64>::alloc(5, true),
        );
        {
            // SAFETY: both live until the frees below.
            let (small, large) = unsafe { (&*small_ptr, &*large_ptr) };
            for i in 0..small.buckets() {
                let (lo, hi) = small.range(i);
                assert_eq!(large.range(large.index(lo)).0, lo);
                assert_eq!(large.range(large.index(hi)).1, hi);
            }
        }
        // Freed through the original raw pointers, never through a pointer
        // cast from a shared reference.
        // SAFETY: the test's own tables; the references above are dead.
        unsafe {
            Table::free_chain(small_ptr);
            Table::free_chain(large_ptr);
        }
    }
}
