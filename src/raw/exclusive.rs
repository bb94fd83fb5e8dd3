//! Operations that need exclusive access to the map (`&mut HashMap` or an
//! owned one): find an entry for mutation, walk every entry once, take
//! entries out.
//!
//! # Why this is sound
//! Entries are immutable *while shared*: readers may hold `&V` under an epoch
//! guard for as long as the guard lives. But every reference the map hands
//! out (`Ref`, `KeyRef`, `Pinned`, the iterators) borrows the map, so while
//! the caller holds `&mut HashMap` no such reference exists, on any thread:
//! no reader, no writer, no user closure of this map is running. Entries that
//! were *retired* (replaced, removed, cleared) may still sit in the epoch
//! collector, but they are not reachable from the tables any more, and the
//! walks below only reach entries through the live tables. So a live entry
//! reached here is referenced by nothing but its slot(s) (during a migration
//! an old bucket and its successor may share it; the walk yields it once),
//! and handing out `&mut V` to it, or taking it out of its slot and owning
//! it, aliases nothing.
//!
//! Pointer provenance: entry pointers are loaded from the slots themselves
//! (`Bucket::entry`, `entries_locked`, `locate_by`), which hold the pointer
//! the entry's `Box` was leaked into, never derived from a `&Entry`, so
//! writing through them is allowed.
//!
//! Each entry is visited once: a table chain holds a key in exactly one
//! bucket that is not MOVED (*one place per key*, `shard/migrate.rs`, the same fact that
//! `Table::free_owned` relies on to drop each entry once).

use std::ptr;

use super::bucket::Bucket;
use super::entry::Entry;
use super::shard::counters::sub;
use super::table::Table;
use super::RawMap;
use crate::sync::epoch;

/// A position in a walk over every live entry, a bucket chain at a time.
pub(crate) struct Cursor<K, V> {
    /// Shard being walked; past the last one when done.
    shard: usize,
    /// Table of the shard being walked (null: load the shard's root).
    table: *const Table<K, V>,
    /// Next bucket index in `table`.
    bucket: usize,
    /// The primary bucket whose chain `batch` came from.
    chain: *const Bucket<K, V>,
    /// Entries of that chain not yet yielded.
    batch: Vec<*mut Entry<K, V>>,
}

impl<K, V> Cursor<K, V> {
    pub(crate) fn new() -> Self {
        Cursor {
            shard: 0,
            table: ptr::null(),
            bucket: 0,
            chain: ptr::null(),
            batch: Vec::new(),
        }
    }

    /// Collects the entries of the next non-empty chain that owns them (a
    /// bucket not MOVED) into `batch`. False when the walk is over.
    ///
    /// # Safety
    /// The caller has exclusive access to `raw` (see the module docs) from
    /// the cursor's creation to its last use, and `raw` is the map the
    /// cursor has walked so far.
    unsafe fn refill(&mut self, raw: &RawMap<K, V>) -> bool {
        debug_assert!(self.batch.is_empty());
        // Nothing can be retired meanwhile (exclusive access), so the tables
        // stay allocated past this guard; it only satisfies `root`.
        let guard = epoch::pin();
        loop {
            if self.table.is_null() {
                // Start the shard's chain at its root.
                let Some(shard) = raw.shards.get(self.shard) else {
                    return false;
                };
                match shard.root(&guard) {
                    Some(root) => {
                        self.table = root;
                        self.bucket = 0;
                    }
                    None => self.shard += 1,
                }
                continue;
            }
            // SAFETY: a table of the walked chain; nothing frees it while the
            // caller has exclusive access.
            let table = unsafe { &*self.table };
            if self.bucket == table.buckets() {
                // On to the successor, or (none) to the next shard.
                self.table = table.next();
                self.bucket = 0;
                if self.table.is_null() {
                    self.shard += 1;
                }
                continue;
            }
            let bucket = table.bucket(self.bucket);
            self.bucket += 1;
            // inject: exclusive-walk-enters-moved
            if bucket.tags().is_moved() {
                continue; // its entries are in the successor, walked later
            }
            bucket.entries_locked(|e| self.batch.push(e));
            if !self.batch.is_empty() {
                self.chain = bucket;
                return true;
            }
        }
    }

    /// The next live entry, in walk order.
    ///
    /// # Safety
    /// As [`Cursor::refill`].
    pub(crate) unsafe fn next_entry(&mut self, raw: &RawMap<K, V>) -> Option<*mut Entry<K, V>> {
        loop {
            if let Some(entry) = self.batch.pop() {
                return Some(entry);
            }
            // SAFETY: forwarded.
            if !unsafe { self.refill(raw) } {
                return None;
            }
        }
    }

    /// Takes the next live entry out of the map: unlinks it (freeing an
    /// overflow bucket it leaves empty) and hands its key and value over.
    /// The map stays consistent after each call.
    ///
    /// # Safety
    /// As [`Cursor::refill`].
    pub(crate) unsafe fn take_next(&mut self, raw: &RawMap<K, V>) -> Option<(K, V)> {
        // SAFETY: forwarded.
        let entry = unsafe { self.next_entry(raw) }?;
        // SAFETY: the chain's primary bucket is live (exclusive access).
        let chain = unsafe { &*self.chain };
        // SAFETY: `entry` is live in this chain (collected from it, and only
        // this cursor removes anything).
        let hash = unsafe { (*entry).hash };
        let slot = chain
            .locate_by(hash, |e| ptr::eq(e, entry))
            .expect("a collected entry is still in its chain");
        let counters = &raw.shard(hash).writer().counters;
        if let Some(empty) = Bucket::clear(&slot) {
            // SAFETY: just unlinked, and no reader exists to stand in it.
            unsafe { Bucket::free_overflow(empty) };
            sub(&counters.overflow, 1);
        }
        sub(&counters.len, 1);
        // SAFETY: unlinked from its only slot (a bucket not MOVED; a MOVED
        // bucket sharing the entry would be in an old table whose slots are
        // never read again, and that table never drops entries), and no
        // reader exists: we are the entry's only owner now.
        Some(unsafe { Entry::unpublished_into_parts(entry) })
    }
}

impl<K, V> RawMap<K, V> {
    /// The entry `is_it` recognises among those with `hash`, for mutation.
    ///
    /// # Safety
    /// The caller has exclusive access to the map for as long as it uses the
    /// returned pointer.
    pub(crate) unsafe fn find_exclusive(
        &self,
        hash: u64,
        is_it: impl Fn(&Entry<K, V>) -> bool,
    ) -> Option<*mut Entry<K, V>> {
        let guard = epoch::pin();
        let mut table = self.shard(hash).root(&guard)?;
        let pos = self.pos(hash);
        loop {
            let bucket = table.bucket_for(pos);
            if bucket.tags().is_moved() {
                // SAFETY: a MOVED bucket implies a linked successor, live as
                // long as its predecessor is.
                table = unsafe { &*table.next() };
                continue;
            }
            return bucket.locate_by(hash, is_it).map(|slot| slot.entry);
        }
    }
}
