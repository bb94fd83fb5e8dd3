//! A shard's counters, and the one function that publishes an entry into a
//! bucket, because it owns the order in which the counts and the entry
//! become visible.
//!
//! # Invariants
//! - **Counters are statistics**: written only by the shard's writer, under
//!   the lock, and read without it (Relaxed). A plain load and store
//!   therefore replaces a locked read-modify-write ([`add`], [`sub`]); a
//!   reader sees each counter exact whenever no write is in flight.
//! - **Announce, then publish**: every entry published into a bucket of the
//!   shard, an insert or an evacuation copy, goes through
//!   [`Counters::publish`], which bumps [`Counters::inserts`] (Release),
//!   then the bucket's own insert count (Release, in `Bucket::insert`), and
//!   only then stores the entry. A chain scan relies on this order to notice
//!   an insert that raced it (`scan.rs`).

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use crate::raw::bucket::Bucket;
use crate::raw::entry::Entry;
use crate::sync::Ordering;

/// Shard statistics, written under the lock, read anywhere.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) len: AtomicUsize,
    /// Primary buckets of the root and, during a migration, the successor.
    pub(crate) buckets: AtomicUsize,
    /// Tables allocated: 0, 1, or 2 during a migration.
    pub(crate) tables: AtomicUsize,
    pub(crate) overflow: AtomicUsize,
    /// log2 of the table writes go to (root, or successor while migrating).
    pub(crate) target_log2: AtomicUsize,
    /// Old buckets not yet evacuated (0 when no migration).
    pub(crate) migration_remaining: AtomicUsize,
    pub(crate) grows: AtomicUsize,
    pub(crate) shrinks: AtomicUsize,
    /// Entries in the retire batch (retired, not yet handed to the collector).
    pub(crate) batched: AtomicUsize,
    /// Entries ever published into a bucket of this shard (inserts and
    /// evacuation copies); never wraps in practice. A scan uses it to rule
    /// out that a bucket's own (15-bit) insert count wrapped (see `scan.rs`);
    /// bumped by [`Counters::publish`] only.
    pub(crate) inserts: AtomicUsize,
}

impl Counters {
    /// Publishes `entry` (whose hash is `hash`) into the chain of the primary
    /// bucket `bucket`, announce-then-publish (see the module invariants),
    /// and counts the overflow bucket it may have needed. Writer only, under
    /// the shard lock.
    #[inline(always)]
    pub(crate) fn publish<K, V>(&self, bucket: &Bucket<K, V>, entry: *mut Entry<K, V>, hash: u64) {
        // Release, paired with the scan's Acquire loads of `inserts`: a scan
        // that sees the bucket count bumped next sees this bump too.
        self.inserts
            .store(self.inserts.load(Relaxed) + 1, Ordering::Release);
        if bucket.insert(entry, hash) {
            add(&self.overflow, 1);
        }
    }
}

/// Adds to a counter (writer only, under the lock: see the module invariants).
#[inline(always)]
pub(crate) fn add(counter: &AtomicUsize, n: usize) {
    counter.store(counter.load(Relaxed) + n, Relaxed);
}

/// Subtracts from a counter; see [`add`].
#[inline(always)]
pub(crate) fn sub(counter: &AtomicUsize, n: usize) {
    counter.store(counter.load(Relaxed) - n, Relaxed);
}
