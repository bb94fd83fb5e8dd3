//! One operation frees a bounded number of retired entries (issue 11 §4):
//! a reader holds the epoch back while every entry of a big map is removed,
//! so their retired batches pile up; once it lets go, the first collection
//! could free them all at once (crossbeam runs up to 8 × 64 batch
//! destructors, about 32 k entries, per collection). Each operation must
//! free at most the inline budget stated in `src/raw/sliced.rs`
//! (`INLINE_BUDGET`, 4096 objects, plus the batch that crosses it and one
//! queued step of 128), and the rest must still be freed by later
//! operations alone. One test in its own binary: another test's pins would
//! hold the epoch back.

mod common;

use std::sync::mpsc;

use common::{Registry, Token};
use evacmap::HashMap;

const ENTRIES: usize = 200_000;

/// `INLINE_BUDGET` + a batch of 64 + a step of 128 (`src/raw/sliced.rs`).
const MOST_FREED_BY_ONE_OPERATION: usize = 4096 + 64 + 128;

#[test]
fn a_backlog_of_retired_entries_is_freed_a_bounded_share_per_operation() {
    let drops = Registry::new();
    let map: HashMap<u64, Token> = HashMap::new();
    for k in 0..ENTRIES as u64 {
        map.insert(k, drops.token());
    }
    let (pinned_tx, pinned_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let map = &map;
        s.spawn(move || {
            let _pin = map.pin();
            pinned_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        });
        pinned_rx.recv().unwrap();
        for k in 0..ENTRIES as u64 {
            assert!(map.remove(&k).is_some());
        }
        assert_eq!(drops.dropped(), 0, "nothing is freed while a reader pins");
        release_tx.send(()).unwrap();
    });
    // Reads alone free the backlog (all but what sits in this thread's own
    // local bag of deferred batches, up to 64 batches of 64, which crossbeam
    // hands on when the bag fills or is flushed: `reclaim()` below).
    let mut most = 0;
    let mut reads = 0usize;
    while drops.dropped() < ENTRIES - 64 * 64 || reads < 100_000 {
        let before = drops.dropped();
        assert!(map.get(&u64::MAX).is_none());
        most = most.max(drops.dropped() - before);
        reads += 1;
        assert!(
            reads < 10_000_000,
            "{} of {ENTRIES} removed entries freed after {reads} reads",
            drops.dropped()
        );
    }
    eprintln!(
        "{} of {ENTRIES} removed entries freed by {reads} reads, at most {most} by one read",
        drops.dropped()
    );
    assert!(
        most <= MOST_FREED_BY_ONE_OPERATION,
        "one read freed {most} entries, more than the stated bound {MOST_FREED_BY_ONE_OPERATION}"
    );
    map.reclaim();
    drops.assert_all_dropped_once("removed values");
}
