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
//! one starts exactly at the cursor. (Every entry sits in the bucket its
//! stored hash picks, on insert and on evacuation alike, so only a bucket
//! that sticks out of the chunk's range needs the per-entry filter.)
//!
//! Within a chunk, a bucket marked MOVED is visited in the successor instead
//! (same position range), a bucket not marked is visited in place; each range
//! is visited once, so each *entry* is seen once. A *key* could still be seen
//! twice within one chain scan: removed after the scan read it, and
//! re-inserted into a slot the scan had not reached yet (its old slot having
//! been taken by another key meanwhile).
//!
//! # Invariant: *a chain scan validates itself*
//! Every insert bumps the primary bucket's insert count before publishing
//! (*announce, then publish*, `shard/counters.rs`), and the scan re-reads the
//! count after reading the chain. If an entry inserted during the scan was
//! seen, so was its bump (the entry's Release publication comes after the
//! bump and the scan's Acquire load saw it), and the bucket is scanned again.
//! The count has 15 bits: a scan preempted for long enough could see it come
//! full circle, so the scan also reads the shard's insert counter
//! (`Counters::inserts`, bumped before every bucket count, never wrapping)
//! before and after, and rescans if it moved by a quarter turn or more; a
//! full turn of one bucket's count implies at least that many shard-wide (the
//! orderings that make the two reads bracket the bucket's bumps are at the
//! loads in [`collect_range`]). No user code (`Eq`, `Hash`) is involved.
//! Hence:
//! - no key is yielded twice (positions only increase between chunks; within
//!   a chunk each range is scanned once, by a scan no insert raced);
//! - a key present for the whole scan is yielded (its range is visited while
//!   it is present, in the place a `get` would look);
//! - only keys found in a slot are yielded, so never a key that was absent
//!   throughout.

use super::entry::Entry;
use super::prefetch;
use super::shard::Shard;
use super::table::Table;
use super::tag;
use crate::sync::epoch::Guard;
use crate::sync::Ordering;

/// Root buckets visited per chunk: a chunk holds about `CHUNK_BUCKETS *
/// MAX_LOAD / 2` entries, so the scanning guard is held only briefly.
///
/// Under loom, one bucket per chunk: the models' tiny tables then span several
/// chunks, so resizes land between chunks and the cursor logic is exercised.
pub(crate) const CHUNK_BUCKETS: usize = if cfg!(loom) { 1 } else { 16 };

/// Collects the entries with position in `[lo, hi]` reachable from `table`.
///
/// The pointers stay valid while the guard under which `table` was loaded is
/// pinned.
pub(crate) fn collect_range<K, V>(
    table: &Table<K, V>,
    lo: u64,
    hi: u64,
    shard: &Shard<K, V>,
    shard_bits: u32,
    out: &mut Vec<*const Entry<K, V>>,
) {
    let shard_inserts = &shard.writer().counters.inserts;
    for index in table.index(lo)..=table.index(hi) {
        let bucket = table.bucket(index);
        let (b_lo, b_hi) = table.range(index);
        // A bucket's entries all have positions in its range, so only a
        // bucket that sticks out of `[lo, hi]` (the chunk's first, when the
        // cursor is inside it, or a coarser one after a shrink) needs the
        // filter, which reads every entry's hash.
        let whole = lo <= b_lo && b_hi <= hi;
        loop {
            // Acquire, before the bucket's tags: pairs with the Release bump
            // in `Counters::publish`. Reading publish `n`'s shard bump means
            // every earlier publish's bucket bump happened before, so the tags
            // read next show them: of the bucket bumps this read of the tags
            // misses, at most one (publish `n`'s) is counted in
            // `shard_before`.
            let shard_before = shard_inserts.load(Ordering::Acquire);
            let tags = bucket.tags();
            if tags.is_moved() {
                // SAFETY: MOVED implies a linked successor that lives at least
                // as long as this table (see `Shard::find`).
                let next = unsafe { &*table.next() };
                next.touch();
                collect_range(next, lo.max(b_lo), hi.min(b_hi), shard, shard_bits, out);
                break;
            }
            let mark = out.len();
            if whole {
                bucket.for_each_entry(tags, |entry| {
                    // The caller reads every entry next, a miss each in a
                    // large map: start them all now (see `prefetch.rs`).
                    prefetch::prefetch(entry);
                    out.push(entry);
                });
            } else {
                bucket.for_each_entry(tags, |entry| {
                    let pos = entry.hash << shard_bits;
                    if lo <= pos && pos <= hi {
                        out.push(entry);
                    }
                });
            }
            // Acquire: pairs with the Release of the bucket's insert-count
            // bump (`Bucket::insert`), so the shard bump made before it is
            // visible to the load below. (Seeing any entry published during
            // the scan implies seeing its bump: that is the entry's Release
            // and the scan's Acquire loads of slots, tags and links.)
            let count_unchanged = bucket.tags().inserts() == tags.inserts();
            // Relaxed: it pairs with nothing. Every shard bump that happened
            // before the bucket count just read (Acquire, above) is visible to
            // it by coherence, which is all the wrap check needs.
            let shard_moved = shard_inserts
                .load(Ordering::Relaxed)
                .wrapping_sub(shard_before);
            // inject: scan-trusts-a-raced-chain
            if count_unchanged && shard_moved < tag::INSERTS_PERIOD / 4 {
                break;
            }
            // An insert raced the scan: a re-inserted key could be in `out`
            // twice. Scan the bucket again.
            out.truncate(mark);
        }
    }
}

/// Collects one chunk of `shard` from `cursor`. Returns the cursor for the
/// next chunk, or `None` when the shard is done.
pub(crate) fn next_chunk<K, V>(
    shard: &Shard<K, V>,
    cursor: u64,
    shard_bits: u32,
    guard: &Guard,
    out: &mut Vec<*const Entry<K, V>>,
) -> Option<u64> {
    next_buckets(shard, cursor, shard_bits, CHUNK_BUCKETS, guard, out)
}

/// Collects the entries from `cursor` to the end of the `buckets`-th root
/// bucket from the one holding it. Returns the cursor just past them, or
/// `None` when the shard is done.
pub(crate) fn next_buckets<K, V>(
    shard: &Shard<K, V>,
    cursor: u64,
    shard_bits: u32,
    buckets: usize,
    guard: &Guard,
    out: &mut Vec<*const Entry<K, V>>,
) -> Option<u64> {
    let root = shard.root(guard)?;
    let first = root.index(cursor);
    let last = (first + buckets - 1).min(root.buckets() - 1);
    let (_, hi) = root.range(last);
    collect_range(root, cursor, hi, shard, shard_bits, out);
    hi.checked_add(1)
}
