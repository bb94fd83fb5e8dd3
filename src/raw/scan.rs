//! Weakly consistent, exact-once scanning of a shard, in chunks, across
//! concurrent resizes.
//!
//! A scan walks a shard in increasing *position* order (`hash << shard_bits`,
//! see `table.rs`). Its state between chunks is a single cursor: every
//! position below it has been visited. Each chunk pins, loads the current
//! root, visits the root buckets from the one containing the cursor, and
//! yields only entries whose position is in `[cursor, end of chunk]`, then
//! moves the cursor past the chunk. Because a bucket of any table size covers
//! a contiguous position range, this stays exact when the table grew or
//! shrank between two chunks: a coarser bucket is filtered by position, a finer
//! one starts exactly at the cursor.
//!
//! Within a chunk, a bucket marked MOVED is visited in the successor instead
//! (same position range), a bucket not marked is visited in place; each range
//! is visited once, so each *entry* is seen once. A *key* can still be seen
//! twice within one chain: removed after the scan read it, and re-inserted
//! into a slot the scan had not reached yet (its old slot having been taken
//! by another key meanwhile). Both copies have the same hash, hence the same
//! position and the same chunk, so each chunk is deduplicated by key among
//! entries of equal hash ([`dedup`]). Hence:
//! - no key is yielded twice (positions only increase between chunks;
//!   duplicates within a chunk are dropped);
//! - a key present for the whole scan is yielded (its range is visited while
//!   it is present, in the place a `get` would look);
//! - only keys found in a slot are yielded, so never a key that was absent
//!   throughout.

use super::entry::Entry;
use super::shard::Shard;
use super::table::Table;
use super::tag;
use crate::sync::epoch::Guard;

/// Root buckets visited per chunk: a chunk holds about `CHUNK_BUCKETS *
/// MAX_LOAD / 2` entries, so the scanning guard is held only briefly.
pub(crate) const CHUNK_BUCKETS: usize = 16;

/// Collects the entries with position in `[lo, hi]` reachable from `table`.
///
/// The pointers stay valid while the guard under which `table` was loaded is
/// pinned.
pub(crate) fn collect_range<K, V>(
    table: &Table<K, V>,
    lo: u64,
    hi: u64,
    shard_bits: u32,
    out: &mut Vec<*const Entry<K, V>>,
) {
    for index in table.index(lo)..=table.index(hi) {
        let bucket = table.bucket(index);
        let tags = bucket.tags();
        if tag::is_moved(tags) {
            // SAFETY: MOVED implies a linked successor that lives at least as
            // long as this table (see `Shard::find`).
            let next = unsafe { &*table.next() };
            next.touch();
            let (b_lo, b_hi) = table.range(index);
            collect_range(next, lo.max(b_lo), hi.min(b_hi), shard_bits, out);
        } else {
            bucket.for_each_entry(tags, |entry| {
                let pos = entry.hash << shard_bits;
                if lo <= pos && pos <= hi {
                    out.push(entry);
                }
            });
        }
    }
}

/// Collects one chunk of `shard` from `cursor`. Returns the cursor for the
/// next chunk, or `None` when the shard is done.
pub(crate) fn next_chunk<K: Eq, V>(
    shard: &Shard<K, V>,
    cursor: u64,
    shard_bits: u32,
    guard: &Guard,
    out: &mut Vec<*const Entry<K, V>>,
) -> Option<u64> {
    let root = shard.root(guard)?;
    let first = root.index(cursor);
    let last = (first + CHUNK_BUCKETS - 1).min(root.buckets() - 1);
    let (_, hi) = root.range(last);
    let start = out.len();
    collect_range(root, cursor, hi, shard_bits, out);
    dedup(out, start);
    hi.checked_add(1)
}

/// Keeps one entry per key among `chunk[start..]`, which it sorts by hash
/// (that is, by position: the chunk is then yielded in position order). Only
/// entries with equal hashes are compared, with the key's `Eq`.
///
/// The entries must be alive (the chunk's guard is pinned).
pub(crate) fn dedup<K: Eq, V>(chunk: &mut Vec<*const Entry<K, V>>, start: usize) {
    // SAFETY (every deref below): the entries were collected under a guard
    // that the caller still holds.
    let hash = |e: *const Entry<K, V>| unsafe { (*e).hash };
    chunk[start..].sort_unstable_by_key(|&e| hash(e));
    let mut kept = start;
    let mut run = start; // first kept entry with the current hash
    for read in start..chunk.len() {
        let entry = chunk[read];
        if kept > start && hash(chunk[kept - 1]) != hash(entry) {
            run = kept;
        }
        let seen = chunk[run..kept]
            .iter()
            .any(|&k| unsafe { (*k).key == (*entry).key });
        if !seen {
            chunk[kept] = entry;
            kept += 1;
        }
    }
    chunk.truncate(kept);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn dedup_keeps_one_entry_per_key_and_sorts_by_hash() {
        let e = |hash, key| {
            Box::into_raw(Box::new(Entry {
                hash,
                key,
                value: (),
            })) as *const Entry<u32, ()>
        };
        // Key 7 twice (a re-inserted key), keys 8 and 9 sharing a hash with 7.
        let entries = vec![e(5, 7), e(9, 1), e(5, 8), e(5, 7), e(1, 2), e(5, 9)];
        let mut chunk = vec![e(0, 0)];
        chunk.extend(&entries);
        dedup(&mut chunk, 1);
        let got: Vec<_> = chunk
            .iter()
            .map(|&p| unsafe { ((*p).hash, (*p).key) })
            .collect();
        assert_eq!(got, vec![(0, 0), (1, 2), (5, 7), (5, 8), (5, 9), (9, 1)]);
        for p in entries.into_iter().chain([chunk[0]]) {
            drop(unsafe { Box::from_raw(p as *mut Entry<u32, ()>) });
        }
    }
}
