//! Parity with std, dashmap and papaya (issue 10): the insert-if-absent
//! family and upserts, results that say what happened (`remove_if`,
//! `try_compute`, `capacity`), the pinned handle's read-modify-write
//! operations, the standard traits, and the operations exclusive access
//! makes sound (`get_mut`, `iter_mut`, `values_mut`, `drain`, `into_iter`).
//!
//! The exclusive-access tests run each operation on maps caught in the
//! middle of an incremental resize (an old table and its successor sharing
//! entries) and with overflow chains, and count every value's drops, so
//! that yielding an entry twice, missing one, or freeing one that is still
//! linked fails here (and under Miri: `MIRI_LIB=0 scripts/miri.sh parity`).

mod common;

use std::collections::HashMap as StdMap;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::thread;

use common::{scaled, ConstState, FewHashesState, Registry, Token};
use evacmap::{Computed, HashMap, Op, ResizeMode, TryReserveError};

// ---- drop accounting ----

/// A value whose drops the registry counts under the id it was made with;
/// `id` and `payload` are its contents, which the exclusive-access tests
/// change in place (together: `Val::drop` checks that they still agree).
struct Val {
    id: u64,
    /// A heap box, so that a use after free shows under Miri.
    payload: Box<u64>,
    _token: Token,
}

impl Val {
    fn new(id: u64, drops: &Arc<Registry>) -> Self {
        Val {
            id,
            payload: Box::new(id),
            _token: drops.token_with_id(id),
        }
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        assert_eq!(*self.payload, self.id, "value corrupted");
    }
}

/// A one-shard map moving to a bigger table one bucket per write, caught
/// with the resize still pending; keys share few hashes, so chains
/// overflow.
fn migrating_map(n: u64, drops: &Arc<Registry>) -> HashMap<u64, Val, FewHashesState> {
    let map = HashMap::builder()
        .shards(1)
        .resize_mode(ResizeMode::Incremental { step: 1 })
        .hasher(FewHashesState {
            classes: 48,
            seed: 3,
        })
        .build()
        .unwrap();
    for k in 0..n {
        map.insert(k, Val::new(k, drops));
    }
    let stats = map.stats();
    assert!(stats.migrations_in_progress > 0, "resize pending: {stats}");
    assert!(stats.overflow_buckets > 0, "chains overflow: {stats}");
    map
}

/// Sizes that leave `migrating_map` mid-resize with overflow chains (the
/// hasher is deterministic; 257..=320 and 65..=80 both do).
const N: u64 = scaled(300, 70) as u64;

// ---- exclusive access ----

#[test]
fn get_mut_changes_values_in_place_during_a_resize() {
    let drops = Registry::new();
    let mut map = migrating_map(N, &drops);
    for k in 0..N {
        let v = map.get_mut(&k).expect("present");
        assert_eq!(v.id, k);
        *v.payload += 1000;
        v.id += 1000;
    }
    assert!(map.get_mut(&N).is_none());
    assert_eq!(map.stats().migrations_in_progress, 1, "no write happened");
    for k in 0..N {
        assert_eq!(*map.get(&k).unwrap().payload, k + 1000);
    }
    // In place: nothing was replaced, so nothing was dropped yet.
    assert_eq!(drops.dropped(), 0);
    drop(map);
    // Dropped once each, and `Val::drop` saw the changed contents.
    drops.assert_dropped_once(0..N, "get_mut");
}

#[test]
fn iter_mut_and_values_mut_visit_every_entry_once_during_a_resize() {
    let drops = Registry::new();
    let mut map = migrating_map(N, &drops);
    let mut seen = StdMap::new();
    for (k, v) in map.iter_mut() {
        assert_eq!(*k, v.id);
        *seen.entry(*k).or_insert(0) += 1;
        *v.payload += 1;
    }
    assert_eq!(seen.len() as u64, N);
    assert!(seen.values().all(|&n| n == 1), "each entry once");
    let mut visits = 0;
    for v in map.values_mut() {
        *v.payload *= 2;
        visits += 1;
    }
    assert_eq!(visits, N);
    for k in 0..N {
        assert_eq!(*map.get(&k).unwrap().payload, (k + 1) * 2);
        // Restore what `Val::drop` checks.
        *map.get_mut(&k).unwrap().payload = k;
    }
    drop(map);
    drops.assert_dropped_once(0..N, "parity");
}

#[test]
fn drain_yields_each_entry_once_and_leaves_a_usable_empty_map() {
    let drops = Registry::new();
    let mut map = migrating_map(N, &drops);
    let mut ids: Vec<u64> = map
        .drain()
        .map(|(k, v)| {
            assert_eq!(k, v.id);
            k
        })
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..N).collect::<Vec<_>>());
    drops.assert_dropped_once(0..N, "parity");
    assert!(map.is_empty());
    assert_eq!(map.iter().count(), 0);
    let stats = map.stats();
    assert_eq!((stats.len, stats.overflow_buckets), (0, 0), "{stats}");
    assert_eq!(stats.tables, 0, "tables retired as by clear: {stats}");
    // Usable afterwards, through every path.
    for k in 0..N {
        assert!(map.insert(k, Val::new(N + k, &drops)).is_none());
    }
    assert_eq!(map.len() as u64, N);
    assert_eq!(map.get(&7).unwrap().id, N + 7);
    drop(map);
    drops.assert_dropped_once(0..2 * N, "parity");
}

#[test]
fn a_drain_dropped_early_removes_and_drops_the_rest() {
    let drops = Registry::new();
    let mut map = migrating_map(N, &drops);
    let taken: Vec<(u64, Val)> = map.drain().take(10).collect();
    assert_eq!(taken.len(), 10);
    assert!(map.is_empty(), "the rest is removed when the drain drops");
    let dropped = (0..N).filter(|&k| drops.drops_of(k) == 1).count();
    assert_eq!(dropped as u64, N - 10, "the rest is dropped then");
    drop(taken);
    drops.assert_dropped_once(0..N, "parity");
    assert_eq!(map.drain().count(), 0);
}

#[test]
fn a_leaked_drain_leaves_the_map_consistent() {
    let drops = Registry::new();
    let mut map = migrating_map(N, &drops);
    let mut drain = map.drain();
    let first: Vec<_> = drain.by_ref().take(5).collect();
    std::mem::forget(drain);
    assert_eq!(map.len() as u64, N - 5);
    assert_eq!(map.iter().count() as u64, N - 5);
    for (k, _) in &first {
        assert!(!map.contains_key(k));
    }
    drop(first);
    drop(map);
    drops.assert_dropped_once(0..N, "parity");
}

#[test]
fn into_iter_into_keys_into_values_own_each_entry_once() {
    let drops = Registry::new();
    let map = migrating_map(N, &drops);
    let mut ids: Vec<u64> = map.into_iter().map(|(k, v)| k.min(v.id)).collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..N).collect::<Vec<_>>());
    drops.assert_dropped_once(0..N, "parity");

    let drops = Registry::new();
    let mut keys: Vec<u64> = migrating_map(N, &drops).into_keys().collect();
    keys.sort_unstable();
    assert_eq!(keys, (0..N).collect::<Vec<_>>());
    drops.assert_dropped_once(0..N, "parity");

    let drops = Registry::new();
    let sum: u64 = migrating_map(N, &drops).into_values().map(|v| v.id).sum();
    assert_eq!(sum, N * (N - 1) / 2);
    drops.assert_dropped_once(0..N, "parity");
}

#[test]
fn a_partly_consumed_into_iter_drops_the_rest_once() {
    let drops = Registry::new();
    let mut iter = migrating_map(N, &drops).into_iter();
    let some: Vec<_> = iter.by_ref().take(7).collect();
    drop(iter);
    assert_eq!(
        (0..N).filter(|&k| drops.drops_of(k) == 1).count() as u64,
        N - 7
    );
    drop(some);
    drops.assert_dropped_once(0..N, "parity");
}

#[test]
fn exclusive_operations_on_empty_and_cleared_maps() {
    let mut map: HashMap<u64, u64> = HashMap::new();
    assert!(map.get_mut(&1).is_none());
    assert_eq!(map.iter_mut().count(), 0);
    assert_eq!(map.drain().count(), 0);
    map.insert(1, 1);
    map.clear();
    assert_eq!(map.iter_mut().count(), 0);
    assert_eq!(map.into_iter().count(), 0);
}

#[test]
fn exclusive_operations_on_a_single_long_chain() {
    // Every key has the same hash: one bucket with a long overflow chain.
    let mut map: HashMap<u64, u64, ConstState> = HashMap::with_hasher(ConstState::default());
    for k in 0..40 {
        map.insert(k, k);
    }
    *map.get_mut(&39).unwrap() = 390;
    assert_eq!(map.iter_mut().count(), 40);
    let mut drained: Vec<_> = map.drain().collect();
    drained.sort_unstable();
    assert_eq!(drained[39], (39, 390));
    assert_eq!(drained.len(), 40);
    assert_eq!(map.stats().overflow_buckets, 0);
}

// ---- insert-if-absent and upserts ----

#[test]
fn try_insert_keeps_the_present_value_and_hands_back_the_rejected_one() {
    let map = HashMap::new();
    assert_eq!(
        *map.try_insert("a", String::from("first")).unwrap(),
        "first"
    );
    let err = map.try_insert("a", String::from("second")).unwrap_err();
    assert_eq!(*err.current, "first");
    assert_eq!(err.not_inserted, "second");
    assert_eq!(err.current.key(), &"a");
    assert!(format!("{err}").contains("already holds"));
    assert_eq!(map.get_cloned("a").as_deref(), Some("first"));
}

#[test]
fn racing_try_inserts_have_exactly_one_winner_and_every_loser_sees_it() {
    let threads = 4;
    for round in 0..scaled(50, 3) as u64 {
        let map = HashMap::new();
        let barrier = Barrier::new(threads);
        let outcomes: Vec<Result<u64, (u64, u64)>> = thread::scope(|s| {
            let handles: Vec<_> = (0..threads as u64)
                .map(|t| {
                    let (map, barrier) = (&map, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        match map.try_insert(round, t) {
                            Ok(mine) => Ok(*mine),
                            Err(e) => Err((*e.current, e.not_inserted)),
                        }
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<u64> = outcomes.iter().filter_map(|o| o.ok()).collect();
        assert_eq!(winners.len(), 1, "{outcomes:?}");
        for (t, o) in outcomes.iter().enumerate() {
            if let Err((current, rejected)) = o {
                assert_eq!(*current, winners[0]);
                assert_eq!(*rejected, t as u64);
            }
        }
        assert_eq!(map.get_cloned(&round), Some(winners[0]));
    }
}

#[test]
fn try_insert_with_says_whose_value_won_and_runs_make_only_when_absent() {
    let map = HashMap::new();
    let made = AtomicUsize::new(0);
    let make = |v| {
        made.fetch_add(1, SeqCst);
        v
    };
    assert_eq!(*map.try_insert_with(1, || make(10)).unwrap(), 10);
    assert_eq!(*map.try_insert_with(1, || make(20)).unwrap_err(), 10);
    assert_eq!(made.load(SeqCst), 1, "present: make did not run");

    // Racing: exactly one Ok, and every caller sees that value.
    let threads = 4u64;
    for round in 0..scaled(50, 3) as u64 {
        let map = HashMap::new();
        let barrier = Barrier::new(threads as usize);
        let results: Vec<(bool, u64)> = thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (map, barrier) = (&map, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        match map.try_insert_with(round, || t) {
                            Ok(r) => (true, *r),
                            Err(r) => (false, *r),
                        }
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<_> = results.iter().filter(|r| r.0).collect();
        assert_eq!(winners.len(), 1, "{results:?}");
        assert!(results.iter().all(|r| r.1 == winners[0].1));
    }
}

#[test]
fn get_or_try_insert_with_inserts_only_on_success() {
    let map: HashMap<&str, u16> = HashMap::new();
    assert!(map
        .get_or_try_insert_with("bad", || "x".parse::<u16>())
        .is_err());
    assert!(!map.contains_key("bad"), "a failed make inserts nothing");
    assert_eq!(
        *map.get_or_try_insert_with("port", || "80".parse::<u16>())
            .unwrap(),
        80
    );
    let calls = AtomicUsize::new(0);
    let got = map.get_or_try_insert_with("port", || {
        calls.fetch_add(1, SeqCst);
        "1".parse::<u16>()
    });
    assert_eq!(*got.unwrap(), 80);
    assert_eq!(calls.load(SeqCst), 0);
    // The error type is the closure's own.
    let e: Result<_, &str> = map.get_or_try_insert_with("other", || Err("refused"));
    assert_eq!(e.unwrap_err(), "refused");
}

#[test]
fn concurrent_upserts_lose_no_update() {
    let map: HashMap<u64, u64> = HashMap::builder().shards(2).build().unwrap();
    let per_thread = scaled(2000, 50) as u64;
    let keys = 8;
    let makes = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for i in 0..per_thread {
                    let r = map.update_or_insert_with(
                        i % keys,
                        |n| n + 1,
                        || {
                            makes.fetch_add(1, SeqCst);
                            1
                        },
                    );
                    assert!(*r >= 1);
                }
            });
        }
    });
    let total: u64 = (0..keys).map(|k| map.get_cloned(&k).unwrap()).sum();
    assert_eq!(total, 4 * per_thread, "every upsert counted once");
    // Each key was created once; a `make` whose value lost a race is
    // reused, not run again, so at most one make per call that saw absence.
    assert!(makes.load(SeqCst) >= keys as usize);
    assert_eq!(*map.update_or_insert(100, |n| n + 1, 5), 5);
    assert_eq!(*map.update_or_insert(100, |n| n + 1, 5), 6);
}

#[test]
fn update_or_insert_with_runs_make_at_most_once_per_call() {
    // The key is removed and re-inserted under the upsert's feet by its own
    // update closure: the retry finds it absent again and must reuse the
    // value it made rather than call `make` twice (which would panic).
    let map = HashMap::new();
    let made = AtomicUsize::new(0);
    let flips = AtomicUsize::new(0);
    let r = map.update_or_insert_with(
        1,
        |v: &u64| {
            if flips.fetch_add(1, SeqCst) == 0 {
                map.remove(&1); // makes this attempt's commit fail
            }
            v + 1
        },
        || {
            made.fetch_add(1, SeqCst);
            if made.load(SeqCst) == 1 {
                map.insert(1, 100); // makes the insert lose a race
            }
            7
        },
    );
    assert_eq!(made.load(SeqCst), 1);
    assert_eq!(*r, 7, "absent again: the made value is inserted");
}

#[test]
fn get_key_value_and_remove_entry_lend_the_stored_key() {
    let map = HashMap::new();
    map.insert(String::from("k"), 1);
    assert_eq!(
        map.get_key_value("k").unwrap().pair(),
        (&"k".to_string(), &1)
    );
    let removed = map.remove_entry("k").unwrap();
    assert_eq!(removed.key(), "k");
    assert_eq!(*removed, 1);
    assert!(map.get_key_value("k").is_none());
    assert!(map.remove_entry("k").is_none());
}

// ---- results that say what happened ----

#[test]
fn remove_if_tells_removed_kept_and_absent_apart() {
    let map = HashMap::new();
    map.insert(1, 10);
    let calls = AtomicUsize::new(0);
    let r = map.remove_if(&1, |_, v| {
        calls.fetch_add(1, SeqCst);
        *v > 10
    });
    assert_eq!(r.map_err(|kept| *kept).map(|r| r.map(|r| *r)), Err(10));
    assert_eq!(
        map.remove_if(&1, |_, v| *v == 10)
            .map(|r| r.map(|r| *r))
            .ok(),
        Some(Some(10))
    );
    let r = map.remove_if(&1, |_, _| unreachable!("absent: not called"));
    assert!(matches!(r, Ok(None)));
    assert_eq!(calls.load(SeqCst), 1);
}

#[test]
fn try_compute_aborts_with_the_callers_value_and_changes_nothing() {
    let map = HashMap::new();
    map.insert("n", 1);
    let r: Result<_, String> = map.try_compute("n", |v| Err(format!("saw {v:?}")));
    assert_eq!(r.unwrap_err(), "saw Some(1)");
    assert_eq!(map.get_cloned("n"), Some(1));
    let r: Result<_, ()> = map.try_compute("m", |_| Err(()));
    assert!(r.is_err());
    assert!(
        !map.contains_key("m"),
        "an abort on an absent key inserts nothing"
    );
    match map.try_compute("n", |v| Ok::<_, ()>(Op::Insert(v.unwrap() + 1))) {
        Ok(Computed::Replaced { old, new }) => assert_eq!((*old, *new), (1, 2)),
        other => panic!("{other:?}"),
    }
    // An abort decided after a conflict: the retry's decision counts.
    let runs = AtomicUsize::new(0);
    let r = map.try_compute("n", |v| {
        if runs.fetch_add(1, SeqCst) == 0 {
            map.insert("n", 50); // the first decision's commit must fail
            return Ok(Op::Insert(0));
        }
        if v == Some(&50) {
            Err("fifty")
        } else {
            Ok(Op::Keep)
        }
    });
    assert_eq!(r.unwrap_err(), "fifty");
    assert_eq!(map.get_cloned("n"), Some(50));
}

#[test]
fn capacity_is_zero_until_something_is_allocated_or_asked_for() {
    for shards in [1, 8, 64] {
        let m: HashMap<u64, u64> = HashMap::builder().shards(shards).build().unwrap();
        assert_eq!(m.capacity(), 0, "{shards} shards, nothing allocated");
        assert_eq!(m.stats().capacity, 0);
        m.insert(1, 1);
        let one_table = m.capacity();
        assert!(one_table >= 1);
        m.clear();
        assert_eq!(m.capacity(), 0, "clear freed the tables");
        // Asked-for capacity counts before any allocation, however small.
        for n in [1, 3, 77, 1000] {
            let m: HashMap<u64, u64> = HashMap::builder()
                .shards(shards)
                .capacity(n)
                .build()
                .unwrap();
            assert!(m.capacity() >= n, "with_capacity({n}), {shards} shards");
            assert_eq!(m.stats().capacity, m.capacity());
            let r: HashMap<u64, u64> = HashMap::builder().shards(shards).build().unwrap();
            r.reserve(n);
            assert!(r.capacity() >= n, "reserve({n}), {shards} shards");
            // `m` allocated nothing: once its request is forgotten, 0.
            m.shrink_to_fit();
            assert_eq!(m.capacity(), 0, "shrink_to_fit forgets requests");
        }
    }
}

#[test]
fn try_reserve_has_its_own_error_type() {
    let m: HashMap<u64, u64> = HashMap::new();
    let e: TryReserveError = m.try_reserve(usize::MAX).unwrap_err();
    assert_eq!(e, TryReserveError::CapacityOverflow);
    assert!(e.to_string().contains("capacity overflow"));
    let _: &dyn std::error::Error = &e;
    assert_eq!(m.capacity(), 0, "a failed reservation changes nothing");
}

// ---- the pinned handle ----

#[test]
fn pinned_read_modify_write_lends_plain_references() {
    let map = HashMap::new();
    let pinned = map.pin();
    assert_eq!(pinned.get_or_insert_with(1, || 10), &10);
    assert_eq!(pinned.get_or_insert_with(1, || 99), &10);
    assert_eq!(pinned.update(&1, |v| v + 1), Some(&11));
    assert_eq!(pinned.update(&2, |v| v + 1), None);
    assert!(matches!(
        pinned.compute(2, |_| Op::Insert(20)),
        Computed::Inserted(&20)
    ));
    assert!(matches!(
        pinned.compute(2, |_| Op::Remove),
        Computed::Removed(&20)
    ));
    assert_eq!(
        pinned.try_compute(2, |_| Err::<Op<u64>, _>(7)).unwrap_err(),
        7
    );
    assert_eq!(pinned.remove_if(&1, |_, v| *v > 100), Err(&11));
    assert_eq!(pinned.remove_if(&1, |_, v| *v == 11), Ok(Some(&11)));
    assert_eq!(pinned.remove_if(&1, |_, _| true), Ok(None));
    assert_eq!(pinned.update_or_insert_with(3, |v| v * 2, || 4), &4);
    assert_eq!(pinned.update_or_insert_with(3, |v| v * 2, || 4), &8);
    assert_eq!(pinned.remove_entry(&3), Some((&3, &8)));
    assert!(pinned.is_empty());
}

#[test]
fn pinned_references_outlive_removal_while_the_handle_lives() {
    let drops = Registry::new();
    let map = HashMap::new();
    map.insert(1, Val::new(1, &drops));
    let pinned = map.pin();
    let v = pinned
        .update(&1, |old| Val::new(old.id + 100, &drops))
        .unwrap();
    let Ok(Some(removed)) = pinned.remove_if(&1, |_, _| true) else {
        panic!("present and removed")
    };
    assert_eq!((v.id, removed.id), (101, 101));
    map.clear();
    assert_eq!(*v.payload, 101, "still readable under the handle's guard");
    drop(pinned);
    drop(map);
    common::flush_until(std::time::Duration::from_secs(20), || {
        drops.drops_of(1) == 1 && drops.drops_of(101) == 1
    });
    drops.assert_dropped_once([1, 101], "parity");
}

// ---- traits ----

#[test]
fn equality_compares_contents_not_layout() {
    let a: HashMap<u64, u64> = (0..100).map(|k| (k, k * 2)).collect();
    let b: HashMap<u64, u64> = HashMap::builder().shards(1).capacity(1000).build().unwrap();
    for k in (0..100).rev() {
        b.insert(k, k * 2);
    }
    assert_eq!(a, b);
    assert_eq!(b, a);
    b.insert(5, 0);
    assert!(a != b, "a different value");
    b.insert(5, 10);
    b.insert(1000, 0);
    assert!(a != b, "a different length");
    b.remove(&1000);
    b.remove(&99);
    b.insert(100, 198);
    assert!(a != b, "same length, a different key");
    let empty: HashMap<u64, u64> = HashMap::new();
    assert_eq!(empty, HashMap::new());
}

#[test]
fn from_array_and_borrowed_pairs() {
    let m = HashMap::from([(1, "a"), (2, "b"), (1, "c")]);
    assert_eq!(m.len(), 2);
    assert_eq!(
        m.get_cloned(&1),
        Some("c"),
        "a later duplicate wins, as in std"
    );
    let pairs = [(3u8, 30u32), (4, 40)];
    let m: HashMap<u8, u32> = pairs.iter().map(|(k, v)| (k, v)).collect();
    assert_eq!(m.get_cloned(&4), Some(40));
    let std_map: StdMap<u8, u32> = pairs.into_iter().collect();
    let m: HashMap<u8, u32> = std_map.iter().collect();
    assert_eq!(m.len(), 2);
}

#[test]
fn extend_through_a_shared_reference_from_many_threads() {
    let map: HashMap<u64, u64> = HashMap::new();
    let per = scaled(1000, 30) as u64;
    thread::scope(|s| {
        for t in 0..4 {
            let mut shared = &map;
            s.spawn(move || shared.extend((0..per).map(|i| (t * per + i, t))));
        }
    });
    assert_eq!(map.len() as u64, 4 * per);
    let mut shared = &map;
    shared.extend([(&1u64, &99u64)]);
    assert_eq!(map.get_cloned(&1), Some(99));
}

#[test]
fn a_pinned_handle_iterates_by_reference_and_indexes() {
    let map: HashMap<String, u64> = (0..50).map(|k| (k.to_string(), k)).collect();
    let pinned = map.pin();
    let mut n = 0;
    let mut sum = 0;
    for (k, v) in &pinned {
        assert_eq!(k.parse::<u64>().unwrap(), *v);
        n += 1;
        sum += v;
    }
    assert_eq!((n, sum), (50, 49 * 50 / 2));
    assert_eq!(pinned["7"], 7);
    let by_string: &u64 = &pinned[&"8".to_string()];
    assert_eq!(*by_string, 8);
    let missing = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pinned["x"]));
    assert!(
        missing.is_err(),
        "indexing an absent key panics, as std's does"
    );
}

#[test]
fn owning_iterators_are_send_when_the_map_is() {
    fn send<T: Send>(_: &T) {}
    let mut map: HashMap<u64, String> = (0..10).map(|k| (k, k.to_string())).collect();
    send(&map.iter_mut());
    send(&map.drain());
    let iter = map.into_iter();
    send(&iter);
    let handle = thread::spawn(move || iter.count());
    assert_eq!(handle.join().unwrap(), 0, "drained before");
}
