//! Batched lookups: up to [`GROUP`] keys read under one guard with their
//! cache misses overlapped.
//!
//! A single lookup in a large map is a chain of dependent loads: the root
//! table (hot), the key's bucket (a miss), the slot's entry (a second miss).
//! One after the other, each miss waits for the previous one. A group walks
//! the chain one stage at a time for all its keys: every bucket is
//! prefetched before any tag word is read, then every candidate entry is
//! prefetched before any key is compared, so the misses of a stage are in
//! flight together.
//!
//! Each key's result is exactly what [`RawMap::get_by`] returns for it: the
//! stages are the single lookup's own loads (root, tag word, slots), only
//! spread out in time, as a preempted single lookup's would be, under a
//! guard pinned before the first of them. A bucket found MOVED (a migration
//! under way) sends that key through the single lookup, which follows the
//! successor and helps. The group is not atomic: each key is read at its own
//! moment, as with separate `get`s.

use super::bucket::Bucket;
use super::entry::Entry;
use super::tag::{Tag, TagWord};
use super::{prefetch, RawMap};
use crate::sync::epoch::Guard;

/// The most keys one group overlaps: enough misses in flight to cover a
/// core's line-fill buffers (10–16 on current x86 cores) without the
/// per-key state spilling out of registers and L1.
pub(crate) const GROUP: usize = 16;

impl<K, V> RawMap<K, V> {
    /// Looks up `hashes[i]` for every `i`, recognising each key's entry with
    /// `is_it(i, entry)` (called only on entries with exactly that hash), and
    /// writes the results to `out[i]`. At most [`GROUP`] keys.
    pub(crate) fn get_group<'g>(
        &self,
        hashes: &[u64],
        is_it: impl Fn(usize, &Entry<K, V>) -> bool,
        guard: &'g Guard,
        out: &mut [Option<&'g Entry<K, V>>],
    ) where
        K: Send + 'static,
        V: Send + 'static,
    {
        let n = hashes.len();
        assert!(n <= GROUP && out.len() == n);
        // Stage 1: each key's bucket, prefetched. A shard without a table
        // holds nothing: its keys are absent at this moment.
        let mut buckets: [Option<&'g Bucket<K, V>>; GROUP] = [None; GROUP];
        for (bucket, &hash) in buckets.iter_mut().zip(hashes) {
            if let Some(table) = self.shard(hash).root(guard) {
                let b = table.bucket_for(self.pos(hash));
                prefetch::prefetch(b);
                *bucket = Some(b);
            }
        }
        // Stage 2: each tag word, and the entry of the first slot whose tag
        // matches, prefetched (a second match is a 1-in-256 event per slot).
        let mut tags = [TagWord::EMPTY; GROUP];
        for i in 0..n {
            let Some(bucket) = buckets[i] else { continue };
            tags[i] = bucket.tags();
            if prefetch::ENABLED && !tags[i].is_moved() {
                if let Some(slot) = tags[i].matching(Tag::of(hashes[i])).first() {
                    prefetch::prefetch(bucket.entry(slot));
                }
            }
        }
        // Stage 3: compare, as a single lookup does with the tag word it
        // loaded.
        for i in 0..n {
            let is_it = |e: &Entry<K, V>| is_it(i, e);
            out[i] = match buckets[i] {
                None => None,
                // inject: batch-moved-as-absent
                Some(_) if tags[i].is_moved() => self.get_by(hashes[i], is_it, guard),
                Some(bucket) => bucket.find_by(tags[i], hashes[i], is_it),
            };
        }
    }
}
