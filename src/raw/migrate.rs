//! Incremental evacuation: moving a shard from its root table to a successor,
//! a few buckets per write, without ever stopping readers.
//!
//! # Protocol (all steps under the shard lock)
//! 1. **Start**: allocate the successor and link it from the root
//!    (`Table::set_next`, Release). Readers do not look at it yet.
//! 2. **Evacuate bucket `i`**: copy every entry pointer of the old chain into
//!    the successor (each publish is Release), *then* set MOVED on the old
//!    primary bucket (Release). A reader that sees MOVED (Acquire) therefore
//!    sees every copied entry; a reader that does not see it scans the old
//!    chain, which no longer changes. Entries are shared, never copied.
//! 3. **Write**: a write first evacuates the bucket of its own key, so the
//!    successor is the only place that key can change. Then it evacuates up
//!    to `step` more buckets in index order (bounded pause).
//! 4. **Retire overflow early**: an evacuated bucket's overflow buckets are
//!    unreachable for any reader that pins afterwards (it sees MOVED on the
//!    primary bucket and goes to the successor), so they are retired in
//!    batches as the migration goes, not walked for when the table is freed.
//! 5. **Complete**: once every old bucket is MOVED, swing the shard root to
//!    the successor (Release) and retire the old table (not its entries)
//!    through the epoch, then flush. Freeing it visits no bucket, and a large
//!    bucket array is unmapped a slice per later write (`sliced.rs`), so no
//!    single operation pays for a big table.
//!
//! A reader standing in the old table after completion still finds every
//! bucket MOVED and follows `next`; the old table is freed only after it
//! unpins. A migration left pending when writes stop is finished by readers
//! (a reader that followed a MOVED mark takes the lock with `try_lock` and
//! does one step; it never waits), by `reclaim()`, or by `shrink_to_fit`.

use super::bucket::Bucket;
use super::shard::counters::Counters;
use super::table::Table;
use super::tag;

/// A migration in progress: the root's buckets `< cursor` have been visited.
pub(crate) struct Migration<K, V> {
    pub(crate) cursor: usize,
    /// Old buckets marked MOVED so far (some ahead of the cursor, when a
    /// write evacuated its own key's bucket).
    pub(crate) moved: usize,
    /// Overflow buckets of evacuated old buckets, not yet retired (the shard
    /// retires them in batches: protocol step 4).
    pub(crate) old_overflow: Vec<*mut Bucket<K, V>>,
}

impl<K, V> Migration<K, V> {
    pub(crate) fn new() -> Self {
        Migration {
            cursor: 0,
            moved: 0,
            old_overflow: Vec::new(),
        }
    }
}

/// Evacuates old bucket `index` into `new` unless it is already MOVED.
/// `shard_bits` turns an entry's hash into its position.
pub(crate) fn evacuate<K, V>(
    old: &Table<K, V>,
    index: usize,
    new: &Table<K, V>,
    counters: &Counters,
    shard_bits: u32,
    migration: &mut Migration<K, V>,
) {
    let bucket = old.bucket(index);
    if tag::is_moved(bucket.tags()) {
        return;
    }
    bucket.entries_locked(|entry| {
        // SAFETY: entries in a chain are live under the lock.
        let hash = unsafe { (*entry).hash };
        let pos = hash << shard_bits;
        counters.publish(new.bucket_for(pos), entry, hash);
    });
    // Only after every copy: see step 2 of the protocol.
    bucket.mark_moved();
    // Retired by the caller, after the mark (step 4).
    migration.old_overflow.extend(bucket.overflow_locked());
    migration.moved += 1;
}

/// Evacuates up to `budget` buckets from the cursor on. Returns true when
/// every bucket of `old` is MOVED (the migration is complete).
pub(crate) fn advance<K, V>(
    old: &Table<K, V>,
    new: &Table<K, V>,
    counters: &Counters,
    shard_bits: u32,
    migration: &mut Migration<K, V>,
    budget: usize,
) -> bool {
    let end = migration.cursor.saturating_add(budget).min(old.buckets());
    // First start loading every entry of the step (evacuation reads their
    // hashes): in a large table each is a cache miss, and this lets them
    // overlap.
    for index in migration.cursor..end {
        old.bucket(index).prefetch_entries_locked();
    }
    for index in migration.cursor..end {
        evacuate(old, index, new, counters, shard_bits, migration);
    }
    migration.cursor = end;
    // Done when every bucket is MOVED, wherever the cursor is: writes evacuate
    // their own key's bucket ahead of it.
    migration.moved == old.buckets()
}
