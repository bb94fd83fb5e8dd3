//! A shard's counters, and the one function that publishes an entry into a
//! bucket, because it owns the order in which the counts and the entry
//! become visible.
//!
//! # Invariants
//! - *Counters are statistics*: written only by the shard's writer, under
//!   the lock, and read without it (Relaxed). A plain load and store
//!   therefore replaces a locked read-modify-write ([`add`], [`sub`]); a
//!   reader sees each counter exact whenever no write is in flight. Being
//!   statistics, they are std atomics even under loom (see `sync.rs`),
//!   except [`Counters::inserts`], which the protocol orders.
//! - *Announce, then publish*: every entry published into a bucket of the
//!   shard, an insert or an evacuation copy, goes through
//!   [`Counters::publish`], which bumps [`Counters::inserts`] (Release),
//!   then the primary bucket's own insert count (Release, in
//!   `Bucket::insert`), and only then stores the entry (Release) anywhere in
//!   the chain. A chain scan relies on this order to notice an insert that
//!   raced it (*a chain scan validates itself*, `scan.rs`, which has the
//!   Acquire loads these stores pair with).

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use crate::raw::bucket::Bucket;
use crate::raw::entry::Entry;
use crate::sync::{self, Ordering};

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
    /// bumped by [`Counters::publish`] only. Unlike the statistics above, a
    /// `crate::sync` atomic: its orderings are part of the protocol, so loom
    /// models it.
    pub(crate) inserts: sync::AtomicUsize,
}

impl Counters {
    /// Publishes `entry` (whose hash is `hash`) into the chain of the primary
    /// bucket `bucket`, announce-then-publish (see the module invariants),
    /// and counts the overflow bucket it may have needed. Writer only, under
    /// the shard lock.
    #[inline(always)]
    pub(crate) fn publish<K, V>(&self, bucket: &Bucket<K, V>, entry: *mut Entry<K, V>, hash: u64) {
        // Release, paired with the scan's first Acquire load of `inserts`
        // (`scan::collect_range`): a scan that reads this count sees every
        // earlier publish's bucket bump. A scan that sees the bucket bump
        // made next (Release, Acquire) sees this one too. Relaxed load: the
        // writer's own value (*counters are statistics*).
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
