//! `clear` of a big map must not free it inside one operation.
//!
//! The detached chain is retired through the epoch like everything else, but
//! its deferred destructor only *queues* it: later writes (of any map) free
//! it a bounded step each, and `reclaim()` finishes it (`src/raw/sliced.rs`).
//! Freeing it inside the collection, as before, put the drop of every entry
//! (about 0.7 s for 10 M) into whichever operation happened to collect.
//!
//! One test in its own binary: the queue is process-wide, so writes of
//! concurrently running tests would advance it and blur the per-write counts.

mod common;

use common::{Registry, Token};
use evacmap::HashMap;

/// A value whose drops the registry counts.
struct Counted(#[allow(dead_code)] Token);

const N: usize = if cfg!(miri) { 3_000 } else { 200_000 };

/// Buckets freed per step (`ChainFree::STEP_BUCKETS`) times a generous chain
/// length: the most entries one write may drop.
const MOST_PER_WRITE: usize = 128 * 16;

#[test]
fn clear_frees_a_big_map_a_slice_per_write() {
    let reg = Registry::new();
    let drops = || reg.dropped();
    let map: HashMap<u64, Counted> = HashMap::new();
    for k in 0..N as u64 {
        map.insert(k, Counted(reg.token()));
    }
    map.reclaim();
    assert_eq!(drops(), 0);

    map.clear();
    // Let the collector run the clear's deferred destructor (this thread is
    // the only one pinning, so the epoch advances at every flush).
    for _ in 0..16 {
        crossbeam_epoch::pin().flush();
    }
    let by_the_collector = drops();
    assert!(
        by_the_collector < N / 2,
        "the collection itself dropped {by_the_collector} of {N} entries: not sliced"
    );
    assert!(map.stats().retired_bytes > 0, "the chain is still pending");

    // Writes (to any map: the queue is process-wide) free it step by step.
    let other: HashMap<u64, u64> = HashMap::new();
    let mut writes = 0u64;
    let mut most = 0;
    while drops() < N || map.stats().retired_bytes > 0 {
        let before = drops();
        other.insert(writes, writes);
        writes += 1;
        most = most.max(drops() - before);
        assert!(
            most <= MOST_PER_WRITE,
            "one write dropped {most} entries (at most {MOST_PER_WRITE} expected)"
        );
        assert!(
            writes < 10 * N as u64,
            "the cleared chain was never freed: {} dropped, {}",
            drops(),
            map.stats()
        );
    }
    println!(
        "{N} entries: {by_the_collector} dropped by the collection, the rest over {writes} writes, at most {most} per write"
    );
    assert_eq!(drops(), N, "every value dropped exactly once");
    assert_eq!(map.stats().retired_objects, 0);

    // `reclaim()` does not wait for writes: it finishes the queued work.
    for k in 0..N as u64 {
        map.insert(k, Counted(reg.token()));
    }
    map.clear();
    let report = map.reclaim();
    assert_eq!(report.pending_bytes, 0, "{}", map.stats());
    assert_eq!(drops(), 2 * N);
    reg.assert_all_dropped_once("two cleared maps' worth");
}
