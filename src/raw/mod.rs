//! The algorithm. Everything below the public API lives here; the public
//! types in `map.rs`, `pinned.rs` and `iter.rs` only hash keys, hold guards
//! and translate results.
//!
//! # The structure
//! ```text
//! RawMap ──hash high bits──► Shard ──root (Acquire)──► Table ──pos high bits──► Bucket ──► Entry
//!                              │ lock, counters           │ next (during a migration)
//!                              ▼                          ▼
//!                     Retirer (epoch garbage)        successor Table
//! ```
//! - [`tag`]: the SWAR tag word of a bucket.
//! - [`entry`]: immutable, individually allocated entries.
//! - [`bucket`]: one-cache-line buckets, overflow chains, no tombstones.
//! - [`alloc`]: bucket-array memory (heap or OS-mapped, always zeroed).
//! - [`table`]: tables: positions, the successor link, freeing dead tables.
//! - [`lock`]: the shard writer lock, which turns re-entry into a panic.
//! - [`shard`]: a shard: the reader path and the conditional swap every
//!   write uses (`shard/mod.rs`); its counters and the announce-then-publish
//!   order (`counters.rs`); the retire batch (`batch.rs`); the resize policy
//!   (`resize.rs`); the migration driver, incremental evacuation to a
//!   successor table (`migrate.rs`); `clear` and teardown (`clear.rs`).
//! - [`scan`]: exact-once chunked iteration across resizes.
//! - [`get_many`]: many lookups with their cache misses overlapped.
//! - [`retire`]: epoch retirement; [`accounting`]: the bytes retired and
//!   not yet freed; [`pool`]: retired entries' blocks, recycled for inserts.
//! - [`pages`]: large bucket arrays mapped from the OS, unmapped in slices.
//! - [`sliced`]: big retired objects (large tables, cleared chains) freed a
//!   bounded step per write instead of inside one collection.
//! - [`exclusive`], [`prefetch`]: walks with `&mut` access; cache hints.
//!
//! To follow an insert from the public call to the bucket write, read
//! `map.rs` (`HashMap::insert`, `insert_entry`; its entry comes from
//! [`RawMap::new_entry`], in a block of the shard's pool, `pool.rs`), this
//! file ([`RawMap::swap`]),
//! `shard/mod.rs` (`Shard::swap`, `prepare_write`, `apply`),
//! `shard/counters.rs` (`Counters::publish`) and `bucket.rs`
//! (`Bucket::insert`), top to bottom.
//!
//! # The invariants
//! Each invariant is stated once, in italics, next to the code that keeps
//! it, and referred to elsewhere by its name. Those that no single module
//! keeps are stated here:
//! - *Readers never wait*: readers take no lock and store nothing shared
//!   (except that a read operation's pin does one bounded step of queued big
//!   frees while any is queued, `sliced.rs`, never waiting for a lock). They pin an
//!   epoch guard *before* loading a shard root.
//! - *Acquire meets Release*: every pointer a reader follows (root, `next`,
//!   overflow link, slot) and every word that announces one (a tag word) is
//!   loaded with Acquire and paired with a Release store by the writer that
//!   published it. Each such load and store says at its site what it pairs
//!   with; a Relaxed one says why nothing needs to.
//! - *Unlink, then retire*: writers of a shard are serialised by its lock.
//!   They publish an object only after initialising it, and unlink before
//!   retiring. Nothing reachable from a root is ever freed directly: it is
//!   retired through the epoch.
//! - *Dropped exactly once*: replaced or removed entries through their own
//!   retirement, live entries by `clear` (as part of the detached chain) or
//!   by dropping the map; evacuated tables never drop entries.
//! - *No operation pays for a big free*: a retired table's OS-mapped array
//!   and a cleared chain are queued by their deferred destructor (once no
//!   reader can reach them) and freed a bounded step per later operation
//!   (`sliced.rs`); evacuated overflow buckets are retired in batches during
//!   the migration (`shard/migrate.rs`, step 4), so freeing a table visits
//!   no bucket.
//!
//! And where the others are:
//! - [`tag`]: *no false negatives, exact emptiness*;
//! - [`bucket`]: *one writer*, *entries never move*, *pointer before tag*,
//!   *linked when complete*;
//! - `shard/mod.rs`: the root (lazy, stored under the lock only);
//!   `shard/counters.rs`: *counters are statistics*, *announce, then
//!   publish*; `shard/batch.rs`: *retiring late is safe*;
//!   `shard/migrate.rs`: the migration protocol, *MOVED is final*, *one
//!   place per key*; `shard/clear.rs`: *a clear is atomic per shard*;
//! - [`scan`]: *a chain scan validates itself*.

pub(crate) mod accounting;
pub(crate) mod alloc;
pub(crate) mod bucket;
pub(crate) mod entry;
pub(crate) mod exclusive;
pub(crate) mod get_many;
pub(crate) mod lock;
// Under loom no table is mapped from the OS (loom cannot model mmap).
#[cfg_attr(loom, allow(dead_code))]
pub(crate) mod pages;
pub(crate) mod pool;
pub(crate) mod prefetch;
pub(crate) mod retire;
pub(crate) mod scan;
pub(crate) mod shard;
pub(crate) mod sliced;
pub(crate) mod table;
pub(crate) mod tag;

use std::marker::PhantomData;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;

use self::entry::Entry;
use self::shard::resize;
use self::shard::{Conflict, Expect, Policy, Shard};
use crate::stats::MapStats;
use crate::sync::epoch::{self, Guard};

pub(crate) use self::shard::Expect as SwapExpect;
pub(crate) use self::sliced::pin_for_read;

/// The sharded map without a hasher: every operation takes the hash.
pub(crate) struct RawMap<K, V> {
    shards: Box<[Shard<K, V>]>,
    /// `63 - shard_bits`: the shard of a hash is `(hash >> 1) >> shard_shift`.
    shard_shift: u32,
    policy: Policy,
    /// Whether a capacity was asked for (`with_capacity`, `reserve`) and not
    /// forgotten since (`shrink_to_fit`): then a shard with no table yet
    /// counts the table it will allocate in `capacity()`, else nothing.
    /// A statistic like the counters (Relaxed).
    reserved: AtomicBool,
    /// The map owns entries of K and V, and is neither Send nor Sync by
    /// itself: the public type states exactly when it is.
    _owns: PhantomData<*mut Entry<K, V>>,
}

impl<K, V> RawMap<K, V> {
    /// `shards` is a power of two; `floor_log2` the per-shard minimum table;
    /// the rest as in `Policy`.
    pub(crate) fn new(
        shards: usize,
        floor_log2: u32,
        step: usize,
        auto_shrink: bool,
        map_large_tables: bool,
    ) -> Self {
        debug_assert!(shards.is_power_of_two());
        let shard_bits = shards.trailing_zeros();
        RawMap {
            shards: (0..shards).map(|_| Shard::new(floor_log2)).collect(),
            shard_shift: 63 - shard_bits,
            policy: Policy {
                step,
                auto_shrink,
                shard_bits,
                map_large_tables,
            },
            reserved: AtomicBool::new(false),
            _owns: PhantomData,
        }
    }

    pub(crate) fn policy(&self) -> &Policy {
        &self.policy
    }

    pub(crate) fn shard_count(&self) -> usize {
        self.shards.len()
    }

    pub(crate) fn shards(&self) -> &[Shard<K, V>] {
        &self.shards
    }

    /// The shard of a hash: its top `shard_bits` bits.
    #[inline(always)]
    pub(crate) fn shard(&self, hash: u64) -> &Shard<K, V> {
        // Two shifts so that zero shard bits need no branch (a shift by 64 would).
        let index = ((hash >> 1) >> self.shard_shift) as usize;
        debug_assert!(index < self.shards.len());
        // SAFETY: `index` keeps the top `shard_bits` bits of the hash, so it
        // is below `2^shard_bits == shards.len()`.
        unsafe { self.shards.get_unchecked(index) }
    }

    /// A new entry for the shard of `hash` (see [`Shard::new_entry`]).
    #[inline]
    pub(crate) fn new_entry(&self, hash: u64, key: K, value: V) -> entry::Unpublished<K, V> {
        self.shard(hash).new_entry(hash, key, value)
    }

    #[inline(always)]
    pub(crate) fn pos(&self, hash: u64) -> u64 {
        hash << self.policy.shard_bits
    }

    /// Lock-free lookup.
    #[inline]
    pub(crate) fn get<'g, Q>(&self, hash: u64, key: &Q, guard: &'g Guard) -> Option<&'g Entry<K, V>>
    where
        K: std::borrow::Borrow<Q> + Send + 'static,
        V: Send + 'static,
        Q: Eq + ?Sized,
    {
        self.get_by(hash, |e| e.key.borrow() == key, guard)
    }

    /// [`RawMap::get`], recognising the entry with `is_it` (called only on
    /// entries with exactly this hash) instead of by key.
    #[inline]
    pub(crate) fn get_by<'g>(
        &self,
        hash: u64,
        is_it: impl Fn(&Entry<K, V>) -> bool,
        guard: &'g Guard,
    ) -> Option<&'g Entry<K, V>>
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        self.shard(hash)
            .find(&self.policy, self.pos(hash), hash, is_it, guard)
    }

    /// Starts loading the bucket a write of `hash` will search, so that its
    /// cache miss overlaps what the write does before taking the lock
    /// (allocating the entry). A hint only (see `prefetch.rs`).
    #[inline]
    pub(crate) fn prefetch_for_write(&self, hash: u64, guard: &Guard) {
        if !prefetch::ENABLED {
            return;
        }
        if let Some(table) = self.shard(hash).root(guard) {
            prefetch::prefetch(table.bucket_for(self.pos(hash)));
        }
    }

    /// Runs a user closure for a read-modify-write of `hash`, and says
    /// whether the closure itself wrote that key (on this thread): a conflict
    /// it caused that way would recur on every retry.
    pub(crate) fn run_closure<R>(&self, hash: u64, f: impl FnOnce() -> R) -> (R, bool) {
        let shard = self.shard(hash) as *const Shard<K, V> as usize;
        lock::writes_own_key(shard, hash, f)
    }

    /// See [`Shard::swap`].
    #[inline]
    pub(crate) fn swap<'g, Q>(
        &self,
        guard: &'g Guard,
        hash: u64,
        key: &Q,
        expect: Expect<K, V>,
        new: &mut Option<entry::Unpublished<K, V>>,
    ) -> Result<Option<&'g Entry<K, V>>, Conflict<'g, K, V>>
    where
        K: std::borrow::Borrow<Q> + Send + 'static,
        V: Send + 'static,
        Q: Eq + ?Sized,
    {
        self.swap_by(guard, hash, |e| e.key.borrow() == key, expect, new)
    }

    /// [`RawMap::swap`], recognising the key's entry with `is_it` (called
    /// only on entries with exactly this hash) instead of by key.
    #[inline]
    pub(crate) fn swap_by<'g>(
        &self,
        guard: &'g Guard,
        hash: u64,
        is_it: impl Fn(&Entry<K, V>) -> bool,
        expect: Expect<K, V>,
        new: &mut Option<entry::Unpublished<K, V>>,
    ) -> Result<Option<&'g Entry<K, V>>, Conflict<'g, K, V>>
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        self.shard(hash)
            .swap(&self.policy, guard, hash, is_it, expect, new)
    }

    /// Collects the entries whose hash is at least `from`, up to the end of
    /// the root bucket that holds `from`'s position (or of the next
    /// non-empty one), in no particular order. Returns the hash the next
    /// call should start from, or `None` once the end of the hash space is
    /// reached. The map's order is hash order (shards by the high bits,
    /// buckets by the next ones), so calls from 0 on walk every entry in
    /// hash order, a bucket at a time; the pointers stay valid while
    /// `guard` is pinned. Weakly consistent, like iteration (`scan.rs`).
    pub(crate) fn collect_from(
        &self,
        from: u64,
        guard: &Guard,
        out: &mut Vec<*const Entry<K, V>>,
    ) -> Option<u64> {
        let bits = self.policy.shard_bits;
        // The shard is the hash's top `bits` bits, the position the rest.
        let base = |shard: usize| {
            if bits == 0 {
                0
            } else {
                (shard as u64) << (64 - bits)
            }
        };
        let mut shard = if bits == 0 {
            0
        } else {
            (from >> (64 - bits)) as usize
        };
        let mut cursor = from << bits;
        let start = out.len();
        while let Some(s) = self.shards.get(shard) {
            match scan::next_buckets(s, cursor, bits, 1, guard, out) {
                Some(next) => {
                    cursor = next;
                    if out.len() > start {
                        return Some(base(shard) | (cursor >> bits));
                    }
                }
                None => {
                    shard += 1;
                    cursor = 0;
                    if out.len() > start {
                        return self.shards.get(shard).map(|_| base(shard));
                    }
                }
            }
        }
        None
    }

    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.writer().counters.len.load(Relaxed))
            .sum()
    }

    /// Entries the tables hold before one of them grows; see
    /// `HashMap::capacity` for what a shard without a table counts.
    pub(crate) fn capacity(&self) -> usize {
        self.shards.iter().map(|s| self.shard_capacity(s)).sum()
    }

    fn shard_capacity(&self, shard: &Shard<K, V>) -> usize {
        let c = &shard.writer().counters;
        if c.tables.load(Relaxed) == 0 && !self.reserved() {
            return 0;
        }
        resize::capacity_of(c.target_log2.load(Relaxed) as u32)
    }

    pub(crate) fn reserved(&self) -> bool {
        self.reserved.load(Relaxed)
    }

    pub(crate) fn set_reserved(&self, on: bool) {
        self.reserved.store(on, Relaxed);
    }

    pub(crate) fn clear(&self, guard: &Guard)
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        for shard in self.shards.iter() {
            shard.clear(guard);
        }
    }

    /// Entries per shard for a map-wide count, with slack for uneven hashing.
    pub(crate) fn per_shard(entries: usize, shards: usize) -> Option<usize> {
        let per = entries.div_ceil(shards);
        per.checked_add(per / 8)?
            .checked_add(if entries == 0 { 0 } else { 1 })
    }

    /// Raises every shard's floor to hold `additional` more entries.
    pub(crate) fn reserve(
        &self,
        additional: usize,
        guard: &Guard,
    ) -> Result<(), resize::ReserveError>
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        let extra = Self::per_shard(additional, self.shards.len())
            .ok_or(resize::ReserveError::CapacityOverflow)?;
        for shard in self.shards.iter() {
            shard.reserve(&self.policy, guard, extra)?;
        }
        Ok(())
    }

    pub(crate) fn shrink_to_fit(&self, guard: &Guard)
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        for shard in self.shards.iter() {
            shard.shrink_to_fit(&self.policy, guard);
        }
    }

    /// Finishes every pending migration, then flushes and collects garbage
    /// until nothing more can be freed. Returns the migrations finished.
    pub(crate) fn reclaim(&self) -> usize
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        let mut finished = 0;
        {
            let guard = epoch::pin();
            for shard in self.shards.iter() {
                finished += shard.settle(&self.policy, &guard);
            }
        }
        // (objects, bytes): a large table frees its bytes a slice per
        // collection before its object count drops (see `pages.rs`).
        let pending = || {
            self.shards.iter().fold((0, 0), |(objects, bytes), s| {
                let a = s.writer().retirer.accounting();
                (objects + a.pending_objects(), bytes + a.pending_bytes())
            })
        };
        // Each flush seals this thread's bag and collects a few sealed bags
        // once the global epoch has advanced twice; keep going while that
        // frees something, and give up after a few rounds without progress
        // (another thread is pinned, or owns the garbage's bag).
        let mut last = pending();
        let mut idle_rounds = 0;
        while last.0 > 0 && idle_rounds < 8 {
            epoch::pin().flush();
            sliced::finish_all();
            let now = pending();
            if now.0 < last.0 || now.1 < last.1 {
                idle_rounds = 0;
            } else {
                idle_rounds += 1;
            }
            last = now;
        }
        // The collections above recycled what they freed: give it back.
        for shard in self.shards.iter() {
            shard.writer().pool.drain();
        }
        finished
    }

    pub(crate) fn stats(&self) -> MapStats {
        let mut s = MapStats {
            shards: self.shards.len(),
            ..MapStats::default()
        };
        for shard in self.shards.iter() {
            let c = &shard.writer().counters;
            let len = c.len.load(Relaxed);
            let tables = c.tables.load(Relaxed);
            let buckets = c.buckets.load(Relaxed);
            let overflow = c.overflow.load(Relaxed);
            let remaining = c.migration_remaining.load(Relaxed);
            s.len += len;
            s.capacity += self.shard_capacity(shard);
            s.tables += tables;
            s.buckets += buckets;
            s.overflow_buckets += overflow;
            s.table_bytes += tables * table::Table::<K, V>::OVERHEAD_BYTES
                + (buckets + overflow) * bucket::Bucket::<K, V>::BYTES;
            s.entry_bytes += len * Entry::<K, V>::BYTES;
            let batched = c.batched.load(Relaxed);
            s.retired_bytes += shard.writer().retirer.accounting().pending_bytes()
                + batched * Entry::<K, V>::BYTES;
            s.retired_objects += shard.writer().retirer.accounting().pending_objects() + batched;
            s.pooled_bytes += shard.writer().pool.bytes();
            s.grows += c.grows.load(Relaxed);
            s.shrinks += c.shrinks.load(Relaxed);
            s.migrations_in_progress += usize::from(remaining > 0 || tables > 1);
            s.migration_buckets_remaining += remaining;
        }
        s.shard_bytes = std::mem::size_of_val::<[Shard<K, V>]>(&self.shards)
            + self.shards.len() * retire::Retirer::ALLOCATED_BYTES;
        s
    }
}

impl<K, V> Drop for RawMap<K, V> {
    fn drop(&mut self) {
        for shard in self.shards.iter_mut() {
            shard.drop_tables();
            // Destructors of batches still queued in the collector free
            // their blocks from now on.
            shard.writer().pool.close();
        }
    }
}
