//! A map that is cleared and then only read gets its memory back, within a
//! bounded number of reads (issue 11 §4): reads do a step of the queued big
//! frees (`src/raw/sliced.rs`, whose module docs state the bound), so
//! nothing waits for a write that never comes. One test in its own binary:
//! another test's pins would hold the epoch back.

mod common;

use common::{Registry, Token};
use evacmap::HashMap;

const ENTRIES: usize = 200_000;

/// Reads the collector needs to run the cleared chain's destructor (it
/// collects every 128 pins of a thread and frees what is two epochs old)
/// plus a step per 128 buckets of the chain (about 45 k buckets here, over
/// the shards): the stated bound, with room to spare, and far below what a
/// map waiting for writes would need (it would never free anything).
const READ_BOUND: usize = 4 * 128 + 2 * ENTRIES / (128 * 3) + 1_000;

#[test]
fn a_cleared_map_that_is_only_read_frees_its_entries() {
    let drops = Registry::new();
    let map: HashMap<u64, Token> = HashMap::new();
    for k in 0..ENTRIES as u64 {
        map.insert(k, drops.token());
    }
    map.clear();
    assert!(map.is_empty());
    let before = drops.dropped();
    let mut reads = 0;
    while drops.dropped() < ENTRIES {
        assert!(
            reads < 100 * READ_BOUND,
            "after {reads} reads only {} of {ENTRIES} cleared entries were dropped (the first read found {before})",
            drops.dropped()
        );
        assert!(map.get(&(reads as u64)).is_none());
        reads += 1;
    }
    eprintln!("cleared entries all dropped after {reads} reads (bound {READ_BOUND})");
    assert!(
        reads <= READ_BOUND,
        "{reads} reads to free a cleared map, more than the stated bound {READ_BOUND}"
    );
    drops.assert_all_dropped_once("a cleared map's values");
}
