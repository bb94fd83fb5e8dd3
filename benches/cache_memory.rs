//! Benchmark 8b of the suite (see BENCHMARKS.md, "The cache"): bytes per
//! entry of `evacmap::Cache`, `moka::sync::Cache`, `quick_cache::sync::Cache`
//! and `parking_lot::Mutex<lru::LruCache>`, u64 -> u64, with a counting
//! global allocator (which is why this is its own binary: `benches/cache.rs`
//! times operations on the system allocator).
//!
//! Per cache: a cache of capacity N (1 M; 100 k in quick mode) is built with
//! the suite's hasher, filled with N distinct keys, and its pending work run
//! (`run_pending_tasks` for evacmap and moka); then `invalidate_all()` (moka,
//! evacmap; `clear()` for quick_cache and lru) and the pending work again;
//! then it is dropped. Every figure is a delta from just before the cache
//! was built, after letting the epoch collectors run, in two counts as in
//! `benches/memory.rs`: `requested` (the sizes asked of the allocator) and
//! `usable` (`malloc_usable_size`, what glibc hands out). evacmap's bucket
//! arrays of 1 MiB and more are mapped from the OS, outside the allocator:
//! `evacmap::os_mapped_bytes()` is added to both. crossbeam-epoch's 2072-byte
//! queue nodes (used by evacmap and moka alike) are counted apart.
//! Output: benches/results/cache_memory.json.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

use common::*;
use serde_json::json;

// ------------------------------------------ the counting allocator ----
// (the same counts as benches/memory.rs)

struct Counting;

static REQUESTED: AtomicIsize = AtomicIsize::new(0);
static USABLE: AtomicIsize = AtomicIsize::new(0);
/// crossbeam-epoch's garbage-queue node (see benches/memory.rs): comes and
/// goes with the collector's rhythm, counted apart.
const EPOCH_NODE_BYTES: usize = 2072;
static COLLECTOR: AtomicIsize = AtomicIsize::new(0);

fn count(size: usize, delta_usable: isize, sign: isize) {
    if size == EPOCH_NODE_BYTES {
        COLLECTOR.fetch_add(sign * size as isize, Relaxed);
    } else {
        REQUESTED.fetch_add(sign * size as isize, Relaxed);
        USABLE.fetch_add(sign * delta_usable, Relaxed);
    }
}

fn usable(ptr: *mut u8) -> isize {
    if ptr.is_null() {
        0
    } else {
        // SAFETY: `ptr` is a live block from the system allocator (glibc).
        unsafe { libc::malloc_usable_size(ptr.cast()) as isize }
    }
}

// SAFETY: forwards to `System`, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size(), usable(p), 1);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size(), usable(p), 1);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(layout.size(), usable(ptr), -1);
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let before = usable(ptr);
        // SAFETY: forwarded contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(layout.size(), before, -1);
            count(new_size, usable(p), 1);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

#[derive(Clone, Copy)]
struct Bytes {
    requested: isize,
    usable: isize,
    collector: isize,
}

/// The counts now, evacmap's OS-mapped tables included (whole pages, so
/// requested = usable for them).
fn now() -> Bytes {
    let mapped = evacmap::os_mapped_bytes() as isize;
    Bytes {
        requested: REQUESTED.load(Relaxed) + mapped,
        usable: USABLE.load(Relaxed) + mapped,
        collector: COLLECTOR.load(Relaxed),
    }
}

/// Lets crossbeam-epoch (evacmap, moka) free what it can, then reads the
/// counters.
fn quiet_now() -> Bytes {
    for _ in 0..16 {
        crossbeam_epoch::pin().flush();
    }
    now()
}

// ------------------------------------------------------------- caches ----

/// A cache as this bench sees it.
trait MemCache: Sized {
    fn new(capacity: u64) -> Self;
    fn insert(&self, k: u64, v: u64);
    /// Runs pending work (moka, evacmap); nothing for the others.
    fn settle(&self);
    /// Removes everything: `invalidate_all` + pending work, or `clear`.
    fn empty_out(&self) -> &'static str;
    fn len(&self) -> u64;
    /// Bytes of the policy's own structures, where the cache says.
    fn policy_bytes(&self) -> Option<usize> {
        None
    }
}

impl MemCache for evacmap::Cache<u64, u64, Hasher> {
    fn new(capacity: u64) -> Self {
        evacmap::Cache::builder()
            .max_capacity(capacity)
            .build_with_hasher(hasher())
    }
    fn insert(&self, k: u64, v: u64) {
        evacmap::Cache::insert(self, k, v)
    }
    fn settle(&self) {
        self.run_pending_tasks()
    }
    fn empty_out(&self) -> &'static str {
        self.invalidate_all();
        self.run_pending_tasks();
        "invalidate_all() + run_pending_tasks()"
    }
    fn len(&self) -> u64 {
        self.entry_count()
    }
    fn policy_bytes(&self) -> Option<usize> {
        Some(evacmap::Cache::policy_bytes(self))
    }
}

impl MemCache for moka::sync::Cache<u64, u64, Hasher> {
    fn new(capacity: u64) -> Self {
        moka::sync::Cache::builder()
            .max_capacity(capacity)
            .build_with_hasher(hasher())
    }
    fn insert(&self, k: u64, v: u64) {
        moka::sync::Cache::insert(self, k, v)
    }
    fn settle(&self) {
        self.run_pending_tasks()
    }
    fn empty_out(&self) -> &'static str {
        self.invalidate_all();
        self.run_pending_tasks();
        "invalidate_all() + run_pending_tasks()"
    }
    fn len(&self) -> u64 {
        self.entry_count()
    }
}

type Quick = quick_cache::sync::Cache<
    u64,
    u64,
    quick_cache::UnitWeighter,
    Hasher,
    quick_cache::sync::DefaultLifecycle<u64, u64>,
>;

impl MemCache for Quick {
    fn new(capacity: u64) -> Self {
        quick_cache::sync::Cache::with(
            capacity as usize,
            capacity,
            quick_cache::UnitWeighter,
            hasher(),
            Default::default(),
        )
    }
    fn insert(&self, k: u64, v: u64) {
        quick_cache::sync::Cache::insert(self, k, v)
    }
    fn settle(&self) {}
    fn empty_out(&self) -> &'static str {
        self.clear();
        "clear()"
    }
    fn len(&self) -> u64 {
        quick_cache::sync::Cache::len(self) as u64
    }
}

struct Lru(parking_lot::Mutex<lru::LruCache<u64, u64, Hasher>>);

impl MemCache for Lru {
    fn new(capacity: u64) -> Self {
        let cap = NonZeroUsize::new(capacity as usize).expect("a positive capacity");
        Lru(parking_lot::Mutex::new(lru::LruCache::with_hasher(
            cap,
            hasher(),
        )))
    }
    fn insert(&self, k: u64, v: u64) {
        self.0.lock().put(k, v);
    }
    fn settle(&self) {}
    fn empty_out(&self) -> &'static str {
        self.0.lock().clear();
        "clear()"
    }
    fn len(&self) -> u64 {
        self.0.lock().len() as u64
    }
}

const CACHES: [&str; 4] = ["evacmap", "quick_cache", "moka", "lru"];

const STAGES: [&str; 5] = [
    "empty",
    "full_before_settle",
    "full",
    "after_invalidate_all",
    "after_drop",
];

fn measure<C: MemCache>(n: usize) -> serde_json::Value {
    let mut at = [Bytes {
        requested: 0,
        usable: 0,
        collector: 0,
    }; STAGES.len()];
    let base = quiet_now();
    let cache = C::new(n as u64);
    at[0] = quiet_now();
    let policy_empty = cache.policy_bytes();
    for i in 0..n as u64 {
        cache.insert(key(400, i), i);
    }
    at[1] = now();
    cache.settle();
    at[2] = quiet_now();
    let held = cache.len();
    let policy_full = cache.policy_bytes();
    let how = cache.empty_out();
    at[3] = quiet_now();
    let held_after = cache.len();
    let policy_after = cache.policy_bytes();
    drop(cache);
    at[4] = quiet_now();

    let mut row = json!({
        "entries_inserted": n, "entries_held": held, "entries_after_invalidate": held_after,
        "invalidate": how,
        "policy_bytes": {"empty": policy_empty, "full": policy_full, "after_invalidate_all": policy_after},
    });
    for (stage, b) in STAGES.iter().zip(at) {
        row[*stage] = json!({
            "requested": b.requested - base.requested,
            "usable": b.usable - base.usable,
            "collector_queue": b.collector - base.collector,
        });
    }
    // Per entry held (a cache may hold fewer than it was given).
    let per = |b: isize| b as f64 / held.max(1) as f64;
    row["bytes_per_entry"] = json!({
        "requested": per(at[2].requested - base.requested),
        "usable": per(at[2].usable - base.usable),
    });
    row
}

fn main() {
    let n = q(100_000, 1_000_000);
    // Initialise crossbeam-epoch's thread-local state (evacmap, moka)
    // outside any measurement.
    {
        let warm = <evacmap::Cache<u64, u64, Hasher> as MemCache>::new(1000);
        for i in 0..2000 {
            MemCache::insert(&warm, i, i);
        }
        warm.empty_out();
        let warm = <moka::sync::Cache<u64, u64, Hasher> as MemCache>::new(1000);
        for i in 0..2000 {
            MemCache::insert(&warm, i, i);
        }
        warm.empty_out();
    }
    quiet_now();
    let mut report = Report::new(
        "cache_memory",
        json!({
            "entries": n, "capacity": n,
            "key_value": "u64 -> u64 (16 bytes of payload)",
            "counts": "requested = Layout sizes; usable = malloc_usable_size (glibc); evacmap's OS-mapped tables added to both",
            "hasher": "foldhash::fast::FixedState, one seed per run, for every cache",
        }),
    );
    for name in selected_maps(&CACHES) {
        let mut row = match name {
            "evacmap" => measure::<evacmap::Cache<u64, u64, Hasher>>(n),
            "moka" => measure::<moka::sync::Cache<u64, u64, Hasher>>(n),
            "quick_cache" => measure::<Quick>(n),
            "lru" => measure::<Lru>(n),
            other => unreachable!("no cache {other}"),
        };
        row["cache"] = json!(name);
        report.push(row);
    }
    report.finish();
}
