//! Memory follows contents (contract item 5) and `stats()` agrees with the
//! allocator (item 6), measured with a counting global allocator.
//!
//! This file is its own test binary with a single `#[test]`, so the only
//! allocations while it measures are its own (and crossbeam-epoch's, which a
//! warm-up allocates first). The allocator counts live *requested* bytes
//! (alloc, alloc_zeroed, realloc, dealloc), which is what `MapStats` counts.
//!
//! Scenarios, in order, on one map with the default configuration:
//! 1. a fresh map; then every shard given its minimum table (insert and
//!    remove a few thousand keys, reclaim): the "fresh" baseline;
//! 2. insert 1,000,000 u64 -> u64: `stats().total_bytes()` within 5% of the
//!    allocator's live-byte delta, before and after `reclaim()`;
//! 3. remove them all, `reclaim()`: the bytes held are within 2x of the fresh
//!    baseline (the tables shrank, emptied overflow buckets and every removed
//!    entry were freed);
//! 4. insert 1,000,000 again, `clear()`, `reclaim()`: within 2x again;
//! 5. retired memory waits for the last reader: with another thread pinned,
//!    removed entries and old tables stay allocated (and `stats()` shows them
//!    as retired); once that thread unpins, one `reclaim()` frees them;
//! 6. dropping the map gives back everything it allocated;
//! 7. with `map_large_tables(false)` the allocator alone sees every byte;
//! 8. after updating every key (the pools of recycled entry blocks fill) and
//!    removing 90% at random, the pools hold at most half the live entries'
//!    bytes plus a little per shard, and after one `reclaim()` the map holds
//!    within 1.5x of a fresh map of the same entries.
//!
//! The numbers are printed (`cargo test --release --test memory -- --nocapture`).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;

use evacmap::{HashMap, MapStats};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn add(bytes: isize) {
    let now = LIVE.fetch_add(bytes, SeqCst) + bytes;
    if now > 0 {
        PEAK.fetch_max(now as usize, SeqCst);
    }
}

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        add(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            add(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes held: the allocator's count plus the bucket arrays evacmap mapped
/// from the OS (tables of 1 MiB and more), which no allocator sees.
fn live() -> isize {
    LIVE.load(SeqCst) + evacmap::os_mapped_bytes() as isize
}

const N: u64 = common::scaled(1_000_000, 400) as u64;
/// Keys of the warm-up and of the fresh baseline.
const WARM: u64 = common::scaled(10_000, 100) as u64;

/// What crossbeam-epoch may hold on its own at a quiescent point: a few
/// sealed garbage bags (about 2 KiB each) in its global queue.
const CROSSBEAM_SLACK: isize = 32 * 1024;

/// Lets crossbeam-epoch run everything that can run, including the
/// destruction of its own queue nodes (deferred in turn): flushes until the
/// live byte count stops going down.
fn settle() {
    let mut best = live();
    let mut idle = 0;
    while idle < common::scaled(64, 8) {
        crossbeam_epoch::pin().flush();
        let now = live();
        if now < best {
            best = now;
            idle = 0;
        } else {
            idle += 1;
        }
    }
}

/// Relative difference of the allocator's count from the map's own.
fn disagreement(allocator: isize, stats: &MapStats) -> f64 {
    let s = stats.total_bytes() as f64;
    (allocator as f64 - s).abs() / s
}

struct Point {
    what: &'static str,
    allocator: isize,
    stats: MapStats,
}

/// Records a failed check; all are reported together with the numbers.
macro_rules! check {
    ($failures:ident, $cond:expr, $($fmt:tt)+) => {
        let ok: bool = $cond;
        if !ok {
            $failures.push(format!($($fmt)+));
        }
    };
}

#[test]
fn memory_follows_contents() {
    let mut failures: Vec<String> = Vec::with_capacity(16);
    // Warm-up: crossbeam-epoch's per-thread and global structures, the
    // default shard count, the test harness's first allocations.
    {
        let m: HashMap<u64, u64> = HashMap::new();
        for i in 0..WARM {
            m.insert(i, i);
        }
        for i in 0..WARM {
            m.remove(&i);
        }
        m.clear();
        m.reclaim();
    }
    settle();

    let mut points: Vec<Point> = Vec::with_capacity(16);
    let base = live();
    let map: HashMap<u64, u64> = HashMap::new();
    let fresh_empty = live() - base;
    points.push(Point {
        what: "fresh map (no tables yet)",
        allocator: fresh_empty,
        stats: map.stats(),
    });

    // Every shard gets its minimum table.
    for i in 0..WARM {
        map.insert(i, i);
    }
    for i in 0..WARM {
        map.remove(&i);
    }
    assert_eq!(common::reclaim_fully(&map), 0);
    map.shrink_to_fit();
    assert_eq!(common::reclaim_fully(&map), 0);
    settle();
    let fresh = live() - base;
    let s = map.stats();
    assert_eq!(s.tables, s.shards, "every shard has its table: {s}");
    points.push(Point {
        what: "fresh baseline (minimum tables)",
        allocator: fresh,
        stats: s,
    });

    // 2. A million entries.
    for i in 0..N {
        map.insert(i, i);
    }
    let full = live() - base;
    let s = map.stats();
    assert_eq!(s.len, N as usize);
    points.push(Point {
        what: "after inserting N",
        allocator: full,
        stats: s.clone(),
    });
    check!(
        failures,
        disagreement(full, &s) < 0.05,
        "after inserting {N}: allocator {full} B vs stats().total_bytes() {} B\n{s}",
        s.total_bytes()
    );
    assert_eq!(common::reclaim_fully(&map), 0);
    settle();
    let full_reclaimed = live() - base;
    let s = map.stats();
    points.push(Point {
        what: "after inserting N + reclaim",
        allocator: full_reclaimed,
        stats: s.clone(),
    });
    assert_eq!(s.retired_bytes, 0);
    check!(
        failures,
        disagreement(full_reclaimed, &s) < 0.05,
        "after reclaim: allocator {full_reclaimed} B vs stats().total_bytes() {} B\n{s}",
        s.total_bytes()
    );
    // The map's own overhead per entry, for the report.
    let per_entry = full_reclaimed as f64 / N as f64;

    // 3. Remove everything.
    for i in 0..N {
        map.remove(&i);
    }
    let removed_unreclaimed = live() - base;
    points.push(Point {
        what: "after removing all (no reclaim)",
        allocator: removed_unreclaimed,
        stats: map.stats(),
    });
    assert_eq!(common::reclaim_fully(&map), 0, "retired memory never freed");
    settle();
    let removed = live() - base;
    let s = map.stats();
    points.push(Point {
        what: "after removing all + reclaim",
        allocator: removed,
        stats: s.clone(),
    });
    assert_eq!(s.len, 0);
    assert_eq!(s.overflow_buckets, 0, "empty overflow buckets kept: {s}");
    check!(
        failures,
        removed <= 2 * fresh,
        "after removing all {N} entries and reclaim, the map holds {removed} B, more than twice a \
         fresh map's {fresh} B\n{s}"
    );

    // 4. Again, emptied by clear().
    for i in 0..N {
        map.insert(i, i);
    }
    map.clear();
    let cleared_unreclaimed = live() - base;
    points.push(Point {
        what: "after inserting N + clear (no reclaim)",
        allocator: cleared_unreclaimed,
        stats: map.stats(),
    });
    assert_eq!(common::reclaim_fully(&map), 0, "cleared tables never freed");
    settle();
    let cleared = live() - base;
    let s = map.stats();
    points.push(Point {
        what: "after clear + reclaim",
        allocator: cleared,
        stats: s.clone(),
    });
    check!(
        failures,
        cleared <= 2 * fresh,
        "after clear and reclaim, the map holds {cleared} B, more than twice a fresh map's {fresh} B\n{s}"
    );
    // At this size crossbeam-epoch's own garbage queue (sealed bags of a
    // few KiB, freed lazily) is most of the difference: allow it in absolute
    // terms.
    check!(
        failures,
        (cleared - s.total_bytes() as isize).abs() < CROSSBEAM_SLACK,
        "after clear: allocator {cleared} B vs stats {} B",
        s.total_bytes()
    );

    // 5. Retired memory waits for the last reader, and no longer. The reader
    // thread registers with the collector first, so that its own bookkeeping
    // is part of the reference point.
    let (cmd_tx, cmd_rx) = mpsc::channel::<()>();
    let (ack_tx, ack_rx) = mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        drop(crossbeam_epoch::pin());
        ack_tx.send(()).unwrap();
        cmd_rx.recv().unwrap();
        let guard = crossbeam_epoch::pin();
        ack_tx.send(()).unwrap();
        cmd_rx.recv().unwrap();
        drop(guard);
        ack_tx.send(()).unwrap();
        // Stay alive (registered, unpinned) until told: it is the unpin, not
        // the thread's exit, that lets reclamation proceed.
        cmd_rx.recv().unwrap();
    });
    ack_rx.recv().unwrap();
    settle();
    let reference = live() - base;
    for i in 0..N {
        map.insert(i, i);
    }
    assert_eq!(common::reclaim_fully(&map), 0);
    settle();
    let refilled = live() - base;
    cmd_tx.send(()).unwrap(); // pin
    ack_rx.recv().unwrap();
    for i in 0..N {
        map.remove(&i);
    }
    let r = map.reclaim();
    let held_back = live() - base;
    let s = map.stats();
    points.push(Point {
        what: "removed all while another thread is pinned + reclaim",
        allocator: held_back - reference,
        stats: s.clone(),
    });
    check!(
        failures,
        r.pending_bytes >= N as usize * std::mem::size_of::<(u64, u64, u64)>(),
        "with a reader pinned, the removed entries must still be pending: {r:?}"
    );
    check!(
        failures,
        held_back >= refilled * 9 / 10,
        "memory freed under a pinned reader"
    );
    cmd_tx.send(()).unwrap(); // unpin
    ack_rx.recv().unwrap();
    let pending = common::reclaim_fully(&map);
    settle();
    let released = live() - base;
    let s = map.stats();
    points.push(Point {
        what: "... after that thread unpinned + reclaim",
        allocator: released - reference,
        stats: s.clone(),
    });
    assert_eq!(
        pending, 0,
        "retired memory kept after the last reader unpinned: {s}"
    );
    check!(
        failures,
        released - reference <= fresh + CROSSBEAM_SLACK,
        "{} B more held after the reader left than before the refill\n{s}",
        released - reference
    );
    cmd_tx.send(()).unwrap(); // exit
    reader.join().unwrap();

    // 6. Dropping the map.
    for i in 0..N / 10 {
        map.insert(i, i);
    }
    drop(map);
    settle();
    let after_drop = live() - base;

    // 7. With `map_large_tables(false)` nothing is mapped from the OS: the
    //    allocator alone sees every byte, and still agrees with `stats()`.
    let mapped_before = evacmap::os_mapped_bytes();
    settle();
    let heap_base = live();
    let heap_only: HashMap<u64, u64> = HashMap::builder().map_large_tables(false).build().unwrap();
    for i in 0..N {
        heap_only.insert(i, i);
    }
    assert_eq!(common::reclaim_fully(&heap_only), 0);
    settle();
    let heap_full = live() - heap_base;
    let s = heap_only.stats();
    points.push(Point {
        what: "map_large_tables(false): inserting N + reclaim",
        allocator: heap_full,
        stats: s.clone(),
    });
    check!(
        failures,
        evacmap::os_mapped_bytes() == mapped_before,
        "map_large_tables(false) mapped {} B from the OS",
        evacmap::os_mapped_bytes() - mapped_before
    );
    check!(
        failures,
        disagreement(heap_full, &s) < 0.05,
        "map_large_tables(false): allocator {heap_full} B vs stats {} B",
        s.total_bytes()
    );
    drop(heap_only);

    // 8. Churn, then delete 90% of the entries at random. Updating every
    //    key fills the shards' pools of recycled entry blocks; as the map
    //    shrinks they keep at most half the live entries' blocks (plus a
    //    little per shard) once the collector has run, without any
    //    reclaim, and after one `reclaim()`
    //    the map holds within 1.5x of what a map freshly built with the same
    //    entries holds (its entries plus the tables they need).
    settle();
    let churn_base = live();
    let churned: HashMap<u64, u64> = HashMap::new();
    for i in 0..N {
        churned.insert(i, i);
    }
    for i in 0..N {
        churned.insert(i, i + 1);
    }
    // "At random", repeatably.
    let kept = |i: u64| common::mix64(i) % 10 == 0;
    for i in (0..N).filter(|&i| !kept(i)) {
        churned.remove(&i);
    }
    // The collector runs the destructors still queued (each gives its
    // blocks to the pool and trims what the pool holds beyond its cap); no
    // `reclaim()` yet.
    settle();
    let s = churned.stats();
    points.push(Point {
        what: "churned N, removed 90% at random (no reclaim)",
        allocator: live() - churn_base,
        stats: s.clone(),
    });
    let entry = s.entry_bytes / s.len.max(1);
    // Half the entries live when the last destructors ran: live ones, plus
    // those retired since and not yet collected (their destructors will
    // trim the pools to the cap of the moment).
    let pool_bound = (s.len * entry + s.retired_bytes) / 2 + s.shards * (64 + 128) * entry;
    let pooled_vs_bound = (s.pooled_bytes, pool_bound);
    check!(
        failures,
        s.pooled_bytes <= pool_bound,
        "after removing 90%, the pools keep {} B, more than half the live (or pending) entries' plus slack ({pool_bound} B)\n{s}",
        s.pooled_bytes
    );
    churned.reclaim();
    assert_eq!(common::reclaim_fully(&churned), 0);
    settle();
    let thinned = live() - churn_base;
    let s = churned.stats();
    points.push(Point {
        what: "... + one reclaim",
        allocator: thinned,
        stats: s.clone(),
    });
    assert_eq!(s.pooled_bytes, 0, "reclaim() frees the pools: {s}");
    let same_base = live();
    let same: HashMap<u64, u64> = HashMap::new();
    for i in (0..N).filter(|&i| kept(i)) {
        same.insert(i, i + 1);
    }
    assert_eq!(common::reclaim_fully(&same), 0);
    settle();
    let same_bytes = live() - same_base;
    points.push(Point {
        what: "a fresh map of the same entries",
        allocator: same_bytes,
        stats: same.stats(),
    });
    check!(
        failures,
        thinned * 2 <= same_bytes * 3,
        "after removing 90% at random and reclaim, the map holds {thinned} B, more than 1.5x \
         a fresh map of the same entries ({same_bytes} B)\n{s}"
    );
    drop(same);
    drop(churned);

    // The report (allocating it is fine now).
    let mut report = String::new();
    report += &format!("memory: N = {N}, shards = {}\n", evacmap::default_shards());
    report += &format!(
        "  {:<55} {:>14} {:>14} {:>14} {:>8}\n",
        "point", "allocator B", "stats total B", "retired B", "diff"
    );
    for p in &points {
        report += &format!(
            "  {:<55} {:>14} {:>14} {:>14} {:>7.2}%\n",
            p.what,
            p.allocator,
            p.stats.total_bytes(),
            p.stats.retired_bytes,
            100.0 * disagreement(p.allocator, &p.stats)
        );
    }
    report += &format!(
        "  bytes per entry at N (after reclaim): {per_entry:.1}; peak live: {} B\n",
        PEAK.load(SeqCst)
    );
    report += &format!(
        "  after remove-all: {:.2}x fresh, after clear: {:.2}x fresh (fresh {} B, empty {} B)\n",
        removed as f64 / fresh as f64,
        cleared as f64 / fresh as f64,
        fresh,
        fresh_empty
    );
    report += &format!(
        "  90% removed at random: pooled {} B, bound {} B\n",
        pooled_vs_bound.0, pooled_vs_bound.1
    );
    report += &format!(
        "  90% removed at random + reclaim: {:.2}x a fresh map of the same entries ({thinned} B vs {same_bytes} B)\n",
        thinned as f64 / same_bytes as f64
    );
    report +=
        &format!("  after dropping the map: {after_drop} B still live relative to before it\n");
    check!(
        failures,
        after_drop.abs() < 64 * 1024,
        "dropping the map left {after_drop} B allocated"
    );
    println!("{report}");
    assert!(failures.is_empty(), "{}\n{report}", failures.join("\n"));
}
