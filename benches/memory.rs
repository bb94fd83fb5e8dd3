//! Benchmark 5 of the suite (see BENCHMARKS.md).
//!
//! Memory, with a counting global allocator: bytes per entry at 1 M
//! u64 -> u64 entries; bytes still held after removing every entry (then each
//! map's way of giving memory back: `shrink_to_fit` where the peer has one,
//! evacmap's `reclaim`); bytes held after `clear` of a full map.
//!
//! Two counts: `requested` (the sizes asked of the allocator: what the data
//! structure itself decides; evacmap's OS-mapped tables included) and `usable` (`malloc_usable_size` of each block:
//! what glibc really hands out, so small per-entry allocations pay their
//! rounding). Both are deltas from just before the map is created, measured
//! single-threaded with the epoch collectors already initialised. The
//! "settled" stages (full, after_remove_all, after_clear) are measured after
//! the map's own settle/shrink call *and* after letting every epoch collector
//! run (crossbeam-epoch, sdd). crossbeam-epoch's own queue nodes are counted
//! apart (`collector_queue`, see `EPOCH_NODE_BYTES`). For evacmap, `own_held`
//! and `own_retired` are its `stats()` (held, retired-pending) bytes.
//! Output: benches/results/memory.json.

#[macro_use]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

use common::*;
use serde_json::json;

struct Counting;

static REQUESTED: AtomicIsize = AtomicIsize::new(0);
static USABLE: AtomicIsize = AtomicIsize::new(0);
/// crossbeam-epoch's global garbage queue allocates one node per sealed bag
/// (`Node<SealedBag>`: 64 deferred calls of 32 bytes + len + epoch + link =
/// 2072 bytes on 64-bit) and frees it a couple of epochs later, whoever's
/// garbage it carried. These blocks come and go with the collector's rhythm,
/// not with the map's contents, so they are counted apart (`COLLECTOR`) and
/// left out of the map's figures. No map in the suite allocates a block of
/// exactly this size itself (evacmap: 24-byte entries, 64-byte buckets,
/// 32-byte table headers, power-of-two bucket arrays).
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

/// Both counts include the bucket arrays evacmap maps straight from the OS
/// (tables of 1 MiB and more, `evacmap::os_mapped_bytes`), which the
/// allocator never sees: whole pages, so requested = usable.
fn now() -> Bytes {
    let mapped = evacmap::os_mapped_bytes() as isize;
    Bytes {
        requested: REQUESTED.load(Relaxed) + mapped,
        usable: USABLE.load(Relaxed) + mapped,
        collector: COLLECTOR.load(Relaxed),
    }
}

/// The keys of the maps measured here.
fn keys_400(n: usize) -> impl Iterator<Item = u64> {
    (0..n as u64).map(|i| key(400, i))
}

fn fill<H: Handle>(h: &mut H, n: usize) {
    insert_indexed(h, keys_400(n));
}

/// Lets every epoch collector in the process free what it can (so that
/// garbage of an earlier map is not freed inside a later measurement), then
/// reads the counters.
fn quiet_now() -> Bytes {
    for _ in 0..16 {
        crossbeam_epoch::pin().flush();
        common::scc_settle();
    }
    now()
}

const STAGES: [&str; 8] = [
    "empty",
    "full_before_settle",
    "full",
    "after_remove_all_before_shrink",
    "after_remove_all",
    "after_clear_before_settle",
    "after_clear",
    "after_drop",
];

fn measure<M: BenchMap>(n: usize) -> serde_json::Value {
    let mut at = [Bytes {
        requested: 0,
        usable: 0,
        collector: 0,
    }; STAGES.len()];
    let mut own = [None; STAGES.len()];
    let base = quiet_now();
    let map = M::with_capacity(0);
    at[0] = now();
    own[0] = map.own_bytes();

    fill(&mut map.handle(), n);
    at[1] = now();
    own[1] = map.own_bytes();
    let settle = map.settle();
    at[2] = quiet_now();
    own[2] = map.own_bytes();

    each_key(&mut map.handle(), keys_400(n), |h, _, k| {
        h.remove(k);
    });
    assert_eq!(map.len(), 0);
    at[3] = now();
    own[3] = map.own_bytes();
    let shrink = map.shrink();
    map.settle();
    at[4] = quiet_now();
    own[4] = map.own_bytes();

    fill(&mut map.handle(), n);
    map.settle();
    map.clear();
    at[5] = now();
    own[5] = map.own_bytes();
    map.settle();
    at[6] = quiet_now();
    own[6] = map.own_bytes();

    drop(map);
    // What a dropped map still has in the collectors' queues.
    at[7] = quiet_now();

    let mut row = json!({ "settle": settle, "shrink": shrink });
    for ((stage, b), own) in STAGES.iter().zip(at).zip(own) {
        row[*stage] = json!({
            "requested": b.requested - base.requested,
            "usable": b.usable - base.usable,
            "collector_queue": b.collector - base.collector,
        });
        if let Some((held, retired)) = own {
            row[*stage]["own_held"] = json!(held);
            row[*stage]["own_retired"] = json!(retired);
        }
    }
    row
}

fn main() {
    let n = q(100_000, 1_000_000);
    // Initialise the epoch collectors' thread-local state outside any
    // measurement (evacmap: crossbeam-epoch's global collector).
    {
        let warm = EvacInc::with_capacity(0);
        fill(&mut warm.handle(), 1000);
        warm.clear();
        warm.settle();
    }
    quiet_now();
    let maps = selected_maps(&PER_CALL_MAPS);
    let mut report = Report::new(
        "memory",
        json!({
            "entries": n,
            "key_value": "u64 -> u64 (16 bytes of payload)",
            "counts": "requested = Layout sizes; usable = malloc_usable_size (glibc)",
        }),
    );
    for name in maps {
        let mut row = dispatch!(name, measure(n), unreachable!());
        row["map"] = json!(name);
        row["entries"] = json!(n);
        let per = |k: &str, c: &str| row[k][c].as_i64().unwrap() as f64 / n as f64;
        row["bytes_per_entry"] = json!({
            "requested": per("full", "requested"),
            "usable": per("full", "usable"),
        });
        report.push(row);
    }
    report.finish();
}
