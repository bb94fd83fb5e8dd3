//! Buckets: one cache line each, a tag word, [`SLOTS`] atomic entry pointers
//! and an atomic link to an overflow bucket.
//!
//! A lookup scans the whole chain (primary bucket, then overflow buckets), so
//! deletion simply clears the slot and its tag: there are no tombstones. An
//! overflow bucket that becomes empty is unlinked and retired.
//!
//! # Invariants
//! - *One writer*: only the shard's writer (holding the shard lock) stores
//!   to a bucket, so every load the writer does is Relaxed and every
//!   read-modify-write is a load and a store.
//! - *Entries never move*: an entry never moves to another slot of a live
//!   table: a reader scanning the chain concurrently could otherwise miss it.
//!   (Evacuation copies the pointer to a *different* table and leaves the old
//!   slot as it was.)
//! - *Pointer before tag*: a slot's tag byte is non-zero iff its entry
//!   pointer is non-null, except inside one write: publishing stores the
//!   pointer (Release) before the tag, removing clears the pointer before the
//!   tag. Every store of a tag word is Release: the word carries the tags of
//!   entries published earlier (and MOVED), so a reader whose Acquire load
//!   sees a tag finds its pointer. Readers load the tag word (Acquire), then
//!   pointers (Acquire), and trust only the pointer plus the entry's full
//!   hash and key.
//! - *Linked when complete*: an overflow bucket is fully written before it is
//!   linked (Release), and the `next` link of an unlinked overflow bucket is
//!   never changed again, so a reader standing in it still reaches the rest
//!   of the chain.
//!
//! Two more are kept here with the shard: the primary bucket's insert count
//! is bumped before an entry is published anywhere in the chain (*announce,
//! then publish*, `shard/counters.rs`), and a chain marked MOVED never
//! changes again (*MOVED is final*, `shard/migrate.rs`).

use std::ptr;

use super::entry::Entry;
use super::prefetch;
#[cfg(test)]
use super::tag::SlotSet;
use super::tag::{AtomicTagWord, Tag, TagWord, SLOTS};
use crate::sync::{AtomicPtr, Canary, Ordering};

#[repr(C, align(64))]
pub(crate) struct Bucket<K, V> {
    tags: AtomicTagWord,
    slots: [AtomicPtr<Entry<K, V>>; SLOTS],
    next: AtomicPtr<Bucket<K, V>>,
    canary: Canary,
}

#[cfg(not(loom))]
const _: () = assert!(std::mem::size_of::<Bucket<u64, u64>>() == 64);

/// A slot found by a writer under the lock: where an entry lives, and the
/// bucket before it in the chain (null for the primary bucket).
pub(crate) struct SlotRef<K, V> {
    pub(crate) bucket: *const Bucket<K, V>,
    pub(crate) prev: *const Bucket<K, V>,
    pub(crate) index: usize,
    pub(crate) entry: *mut Entry<K, V>,
}

impl<K, V> Clone for SlotRef<K, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K, V> Copy for SlotRef<K, V> {}

impl<K, V> Bucket<K, V> {
    pub(crate) const BYTES: usize = std::mem::size_of::<Self>();

    /// Buckets per 4 KiB page: writing one bucket every this many touches
    /// every page of a bucket array once (`Bucket::touch_for_write`).
    pub(crate) const PER_PAGE: usize = 4096 / Self::BYTES;

    pub(crate) fn new() -> Self {
        Bucket {
            tags: AtomicTagWord::new(TagWord::EMPTY),
            slots: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            next: AtomicPtr::new(ptr::null_mut()),
            canary: Canary::default(),
        }
    }

    /// The tag word. Acquire pairs with the writer's Release stores of it
    /// (*pointer before tag*; the insert count's bump; MOVED), so the entries,
    /// counts and successor table those stores announce are visible.
    #[inline(always)]
    pub(crate) fn tags(&self) -> TagWord {
        self.tags.load(Ordering::Acquire)
    }

    /// A slot's entry pointer. Acquire pairs with the Release store that
    /// published the entry, so its hash, key and value are initialised.
    #[inline(always)]
    pub(crate) fn entry(&self, index: usize) -> *mut Entry<K, V> {
        self.slots[index].load(Ordering::Acquire)
    }

    /// The overflow link. Acquire pairs with the Release store in
    /// [`Bucket::insert`] (link: the new bucket's slot, tag and entry) or
    /// [`Bucket::clear`] (unlink: the rest of the chain).
    #[inline(always)]
    pub(crate) fn next(&self) -> *const Bucket<K, V> {
        self.next.load(Ordering::Acquire)
    }

    /// Reader-side scan of the chain starting at this (primary) bucket, whose
    /// tag word `first_tags` was already loaded. Returns the entry `is_it`
    /// recognises (a key comparison or an identity; called only on entries
    /// with exactly this hash).
    #[inline]
    pub(crate) fn find_by(
        &self,
        first_tags: TagWord,
        hash: u64,
        is_it: impl Fn(&Entry<K, V>) -> bool,
    ) -> Option<&Entry<K, V>> {
        let tag = Tag::of(hash);
        let mut bucket = self;
        let mut tags = first_tags;
        loop {
            for slot in tags.matching(tag) {
                let entry = bucket.entry(slot);
                // SAFETY: a non-null slot pointer is a published entry; the
                // caller's guard was pinned before the table was loaded, and
                // entries are retired only after being unlinked, so it is not
                // freed while the guard lives.
                if let Some(entry) = unsafe { entry.as_ref() } {
                    if entry.hash == hash && is_it(entry) {
                        return Some(entry);
                    }
                }
            }
            let next = bucket.next();
            if next.is_null() {
                return None;
            }
            // SAFETY: overflow buckets are retired through the epoch after
            // being unlinked, so one reached under a guard is still allocated.
            bucket = unsafe { &*next };
            bucket.canary.touch();
            tags = bucket.tags();
        }
    }

    /// Calls `f` with every entry of the chain, as a reader sees it.
    /// `first_tags` is this bucket's tag word, already loaded.
    pub(crate) fn for_each_entry<'g>(
        &'g self,
        first_tags: TagWord,
        mut f: impl FnMut(&'g Entry<K, V>),
    ) {
        let mut bucket = self;
        let mut tags = first_tags;
        loop {
            for slot in tags.occupied() {
                // SAFETY: as in `find`.
                if let Some(entry) = unsafe { bucket.entry(slot).as_ref() } {
                    f(entry);
                }
            }
            let next = bucket.next();
            if next.is_null() {
                return;
            }
            // SAFETY: as in `find`.
            bucket = unsafe { &*next };
            bucket.canary.touch();
            tags = bucket.tags();
        }
    }

    // ---- writer side: every method below requires the shard lock ----
    // (*one writer*: the writer's own loads are Relaxed; what it read was
    // stored by itself or by an earlier holder of the lock, which the lock
    // orders before it.)

    /// Finds the slot holding the entry `is_it` recognises (a key comparison
    /// or an identity; called only on entries with exactly this hash).
    pub(crate) fn locate_by(
        &self,
        hash: u64,
        is_it: impl Fn(&Entry<K, V>) -> bool,
    ) -> Option<SlotRef<K, V>> {
        let tag = Tag::of(hash);
        let mut prev: *const Bucket<K, V> = ptr::null();
        let mut bucket: *const Bucket<K, V> = self;
        while !bucket.is_null() {
            // SAFETY: under the lock, chain buckets are live (only this writer
            // could unlink them).
            let b = unsafe { &*bucket };
            for index in b.tags.load(Ordering::Relaxed).matching(tag) {
                let entry = b.slots[index].load(Ordering::Relaxed);
                // `matching` may report false positives, including an empty
                // slot (tag 0 next to a matching tag 1).
                // SAFETY: a non-null slot holds a live entry under the lock.
                let Some(e) = (unsafe { entry.as_ref() }) else {
                    continue;
                };
                if e.hash == hash && is_it(e) {
                    return Some(SlotRef {
                        bucket,
                        prev,
                        index,
                        entry,
                    });
                }
            }
            prev = bucket;
            bucket = b.next.load(Ordering::Relaxed);
        }
        None
    }

    /// Publishes `entry` in the first empty slot of the chain (this must be
    /// the primary bucket), linking a new overflow bucket if every slot is
    /// taken. Returns true if it allocated an overflow bucket.
    pub(crate) fn insert(&self, entry: *mut Entry<K, V>, hash: u64) -> bool {
        let tag = Tag::of(hash);
        // Announce the insert before publishing it (*announce, then
        // publish*). What makes the new count visible to a scan that sees the
        // entry is the entry's own publication below (slot and tag, or the
        // overflow link: Release, and after this store), paired with the
        // scan's Acquire loads of them. This store's Release pairs with the
        // scan's Acquire re-read of the tag word (`scan.rs`): a scan that
        // sees this count sees the shard-wide bump made before it
        // (`Counters::publish`). (And like every tag-word store it must be
        // Release for *pointer before tag*: the word carries the older tags.)
        let head = self.tags.load(Ordering::Relaxed);
        self.tags.store(head.bump_inserts(), Ordering::Release);
        let mut bucket = self;
        loop {
            let tags = bucket.tags.load(Ordering::Relaxed);
            if let Some(index) = tags.empty().first() {
                // Release: the entry's fields are visible to whoever sees the
                // pointer (pairs with `entry`'s Acquire). Pointer before tag:
                // a reader matching the tag finds it.
                // inject: relaxed-entry-publish
                bucket.slots[index].store(entry, Ordering::Release);
                // Release: pairs with `tags`' Acquire (*pointer before tag*).
                bucket
                    .tags
                    .store(tags.with_tag(index, tag), Ordering::Release);
                return false;
            }
            let next = bucket.next.load(Ordering::Relaxed);
            if next.is_null() {
                // The chain's first free slot is in a new bucket. Its slot and
                // tag are stored Relaxed: no reader can reach the bucket until
                // the link below, whose Release publishes them together with
                // the entry's fields.
                let overflow = Box::new(Bucket::new());
                overflow.slots[0].store(entry, Ordering::Relaxed);
                overflow
                    .tags
                    .store(TagWord::EMPTY.with_tag(0, tag), Ordering::Relaxed);
                // Release: the bucket's slot and tag, and the entry they point
                // to, are visible to any reader that follows this link (pairs
                // with `next`'s Acquire; *linked when complete*).
                bucket
                    .next
                    .store(Box::into_raw(overflow), Ordering::Release);
                return true;
            }
            // SAFETY: live under the lock.
            bucket = unsafe { &*next };
        }
    }

    /// Replaces the entry in `slot` (same key) with `entry`; returns the old one.
    pub(crate) fn replace(slot: &SlotRef<K, V>, entry: *mut Entry<K, V>) -> *mut Entry<K, V> {
        // SAFETY: `slot` was located under the lock we still hold.
        let bucket = unsafe { &*slot.bucket };
        // The old pointer is `slot.entry`, read under the lock we hold (*one
        // writer*): a plain store, not a swap, whose Acquire half would pair
        // with nothing the lock does not already order (and whose locked
        // instruction costs more). The tag is unchanged (same key, same hash).
        debug_assert_eq!(bucket.slots[slot.index].load(Ordering::Relaxed), slot.entry);
        // Release: publishes the new entry's fields (pairs with `entry`'s Acquire).
        bucket.slots[slot.index].store(entry, Ordering::Release);
        slot.entry
    }

    /// Empties `slot`. If that leaves an overflow bucket empty, unlinks it and
    /// returns it: the caller must retire it (readers may still stand in it).
    pub(crate) fn clear(slot: &SlotRef<K, V>) -> Option<*mut Bucket<K, V>> {
        // SAFETY: `slot` was located under the lock we still hold.
        let bucket = unsafe { &*slot.bucket };
        // Pointer before tag. The null store publishes nothing (Release only
        // for uniformity: a reader that sees null skips the slot); the tag
        // word's store is Release for *pointer before tag* (the other slots'
        // tags it carries).
        bucket.slots[slot.index].store(ptr::null_mut(), Ordering::Release);
        let tags = bucket.tags.load(Ordering::Relaxed).without(slot.index);
        bucket.tags.store(tags, Ordering::Release);
        if slot.prev.is_null() || !tags.occupied().is_empty() {
            return None;
        }
        // SAFETY: the predecessor is in the chain, live under the lock.
        let prev = unsafe { &*slot.prev };
        // Release pairs with readers' Acquire of `next`. The unlinked bucket's
        // own `next` is left as it is (see the module invariants).
        prev.next
            .store(bucket.next.load(Ordering::Relaxed), Ordering::Release);
        Some(slot.bucket as *mut _)
    }

    /// Makes the writer's first access to this bucket's page a write (under
    /// the lock, before the first load). A successor table's memory may
    /// come straight from the OS: a page first *read* is mapped to the
    /// shared zero page, and the write that follows faults again to replace
    /// it, which flushes the TLB of every core running the process (an IPI
    /// each). Measured at 2 threads growing from empty: 18% of the time in
    /// those flushes. Changes no value. A hint only: skipped under loom.
    #[inline]
    pub(crate) fn touch_for_write(&self) {
        if !cfg!(loom) {
            self.tags.touch();
        }
    }

    /// Marks the bucket MOVED (*MOVED is final*). Release: every copy of its
    /// entries into the successor, and the successor's link, happen-before a
    /// reader that sees the mark (pairs with the Acquire in `tags`).
    pub(crate) fn mark_moved(&self) {
        let tags = self.tags.load(Ordering::Relaxed);
        self.tags.store(tags.with_moved(), Ordering::Release);
    }

    /// Every entry pointer of the chain, under the lock (or with exclusive access).
    pub(crate) fn entries_locked(&self, mut f: impl FnMut(*mut Entry<K, V>)) {
        let mut bucket: *const Bucket<K, V> = self;
        while !bucket.is_null() {
            // SAFETY: live under the lock / exclusive access.
            let b = unsafe { &*bucket };
            for index in b.tags.load(Ordering::Relaxed).occupied() {
                f(b.slots[index].load(Ordering::Relaxed));
            }
            bucket = b.next.load(Ordering::Relaxed);
        }
    }

    /// Starts loading the entries of this (primary) bucket, under the lock:
    /// evacuation reads each entry's hash, a cache miss per entry in a large
    /// table, and a step's misses then overlap instead of following one
    /// another (see `prefetch.rs`). Overflow buckets are left out (rare).
    #[inline]
    pub(crate) fn prefetch_entries_locked(&self) {
        if !prefetch::ENABLED {
            return;
        }
        let tags = self.tags.load(Ordering::Relaxed);
        if tags.is_moved() {
            return; // already evacuated (a write's own bucket)
        }
        for index in tags.occupied() {
            prefetch::prefetch(self.slots[index].load(Ordering::Relaxed));
        }
    }

    /// The overflow buckets of this chain, under the lock or with exclusive access.
    pub(crate) fn overflow_locked(&self) -> OverflowIter<K, V> {
        OverflowIter {
            next: self.next.load(Ordering::Relaxed),
        }
    }

    /// Frees an overflow bucket.
    ///
    /// # Safety
    /// `bucket` came from [`Bucket::insert`]'s allocation, is unlinked (or its
    /// whole table is being freed), and no reader can still reach it.
    pub(crate) unsafe fn free_overflow(bucket: *mut Bucket<K, V>) {
        // SAFETY: per the contract, we are the last owner of a Box allocation.
        let bucket = unsafe { Box::from_raw(bucket) };
        bucket.canary.kill();
    }

    pub(crate) fn kill_canary(&self) {
        self.canary.kill();
    }

    #[cfg(test)]
    pub(crate) fn slot_set(&self) -> SlotSet {
        self.tags.load(Ordering::Relaxed).occupied()
    }
}

/// The overflow buckets of one chain (read with Relaxed: lock held).
pub(crate) struct OverflowIter<K, V> {
    next: *mut Bucket<K, V>,
}

impl<K, V> Iterator for OverflowIter<K, V> {
    type Item = *mut Bucket<K, V>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.next.is_null() {
            return None;
        }
        let current = self.next;
        // SAFETY: the chain is live under the lock / exclusive access; we read
        // the link before the caller may free `current`.
        self.next = unsafe { (*current).next.load(Ordering::Relaxed) };
        Some(current)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn entry(hash: u64, key: u64) -> *mut Entry<u64, u64> {
        Entry::alloc(hash, key, key * 10)
    }

    fn free_chain(b: &Bucket<u64, u64>) {
        let mut es = vec![];
        b.entries_locked(|e| es.push(e));
        for e in es {
            // SAFETY: the test owns the chain; no reader exists.
            unsafe { Entry::unpublished_into_parts(e) };
        }
        for o in b.overflow_locked().collect::<Vec<_>>() {
            // SAFETY: the test owns the chain; no reader exists.
            unsafe { Bucket::free_overflow(o) };
        }
    }

    #[test]
    fn insert_fills_slots_then_overflows() {
        let b = Bucket::<u64, u64>::new();
        for k in 0..SLOTS as u64 {
            assert!(!b.insert(entry(k, k), k));
        }
        assert_eq!(b.slot_set().count(), SLOTS);
        assert!(
            b.insert(entry(100, 100), 100),
            "7th entry needs an overflow bucket"
        );
        for k in (0..SLOTS as u64).chain([100]) {
            let e = b.find_by(b.tags(), k, |e| e.key == k).expect("present");
            assert_eq!(e.value, k * 10);
        }
        assert!(b.find_by(b.tags(), 7, |e| e.key == 7).is_none());
        free_chain(&b);
    }

    #[test]
    fn locate_survives_a_false_positive_on_an_empty_slot() {
        // Tag 1 (hash low byte 0 or 1): the cheap SWAR match also flags the
        // empty slot above it (0 == 1 ^ 1). Found by the fuzzer.
        let b = Bucket::<u64, u64>::new();
        b.insert(entry(0x100, 1), 0x100);
        assert!(b.locate_by(0x200, |e| e.key == 2).is_none());
        assert!(b.find_by(b.tags(), 0x200, |e| e.key == 2).is_none());
        assert_eq!(b.locate_by(0x100, |e| e.key == 1).unwrap().index, 0);
        free_chain(&b);
    }

    #[test]
    fn find_checks_full_hash_and_key_not_just_tag() {
        let b = Bucket::<u64, u64>::new();
        // Same tag (low byte), different hashes and keys.
        b.insert(entry(0x1_05, 1), 0x1_05);
        b.insert(entry(0x2_05, 2), 0x2_05);
        assert_eq!(b.find_by(b.tags(), 0x2_05, |e| e.key == 2).unwrap().key, 2);
        assert!(b.find_by(b.tags(), 0x2_05, |e| e.key == 1).is_none());
        assert!(b.find_by(b.tags(), 0x3_05, |e| e.key == 2).is_none());
        free_chain(&b);
    }

    #[test]
    fn clearing_leaves_no_tombstone_and_unlinks_empty_overflow() {
        let b = Bucket::<u64, u64>::new();
        for k in 0..(SLOTS as u64 + 1) {
            b.insert(entry(k, k), k);
        }
        let slot = b
            .locate_by(SLOTS as u64, |e| e.key == (SLOTS as u64))
            .unwrap();
        assert!(
            !slot.prev.is_null(),
            "the 7th key lives in the overflow bucket"
        );
        let unlinked = Bucket::clear(&slot).expect("the overflow bucket emptied");
        assert!(b.next().is_null());
        // SAFETY: unlinked above, and the test has no readers.
        unsafe { Entry::unpublished_into_parts(slot.entry) };
        // SAFETY: as above.
        unsafe { Bucket::free_overflow(unlinked) };

        // A cleared primary slot is reused by the next insert: no tombstone.
        let slot = b.locate_by(2, |e| e.key == 2).unwrap();
        assert!(Bucket::clear(&slot).is_none());
        // SAFETY: cleared above, and the test has no readers.
        unsafe { Entry::unpublished_into_parts(slot.entry) };
        assert!(!b.insert(entry(50, 50), 50));
        assert_eq!(b.locate_by(50, |e| e.key == 50).unwrap().index, 2);
        free_chain(&b);
    }
}
