//! The parallel operations of the `rayon` feature (`src/rayon_impls.rs`).
//!
//! - Results equal the serial ones: `par_iter_cloned` and `par_for_each`
//!   yield what `iter()` yields; `collect` and `par_extend` build the map
//!   `FromIterator` and `Extend` build; `par_retain` leaves what `retain`
//!   leaves. Across shard counts, 1 shard included, and empty maps.
//! - The iteration contract holds under concurrent writers: while churn
//!   threads keep a tiny map growing and shrinking and an updater replaces
//!   the stable keys' values, every parallel scan yields no key twice, every
//!   stable key exactly once, no key never inserted, and only values written
//!   for their key.
//! - `par_retain` under concurrent readers: a kept key is readable at every
//!   moment, with its value; the removed ones are gone afterwards. And an
//!   entry replaced after `keep` judged it is not removed.
#![cfg(feature = "rayon")]

mod common;

use std::collections::{BTreeMap, HashSet as StdSet};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::SeededState;
use evacmap::{HashMap, ResizeMode};
use rayon::prelude::*;

const SHARDS: [usize; 4] = [1, 2, 8, 64];
const SIZES: [u64; 4] = [0, 1, 100, common::scaled(20_000, 300) as u64];

fn map_with<V: Send + 'static>(
    shards: usize,
    n: u64,
    value: impl Fn(u64) -> V,
) -> HashMap<u64, V, SeededState> {
    let map = HashMap::builder()
        .shards(shards)
        .hasher(SeededState(shards as u64))
        .build()
        .unwrap();
    for k in 0..n {
        map.insert(k, value(k));
    }
    map
}

/// The map's contents through the serial iterator, sorted.
fn serial<V: Clone + Send + 'static, S: BuildHasher>(map: &HashMap<u64, V, S>) -> Vec<(u64, V)> {
    let mut v: Vec<_> = map.iter().map(|r| (*r.key(), r.value().clone())).collect();
    v.sort_by_key(|p| p.0);
    v
}

fn sorted<V>(mut v: Vec<(u64, V)>) -> Vec<(u64, V)> {
    v.sort_by_key(|p| p.0);
    v
}

#[test]
fn par_iter_cloned_yields_what_iter_yields() {
    for shards in SHARDS {
        for n in SIZES {
            let map = map_with(shards, n, |k| format!("v{k}"));
            let par = sorted(map.par_iter_cloned().collect());
            let expected: Vec<_> = (0..n).map(|k| (k, format!("v{k}"))).collect();
            assert_eq!(par, serial(&map), "{shards} shards, {n} entries");
            assert_eq!(par, expected, "{shards} shards, {n} entries");
        }
    }
}

#[test]
fn par_for_each_visits_what_iter_yields() {
    for shards in SHARDS {
        for n in SIZES {
            let map = map_with(shards, n, |k| k * 3);
            let seen = Mutex::new(Vec::new());
            map.par_for_each(|k, v| seen.lock().unwrap().push((*k, *v)));
            let par = sorted(seen.into_inner().unwrap());
            assert_eq!(par, serial(&map), "{shards} shards, {n} entries");
            assert_eq!(par.len() as u64, n);
        }
    }
}

#[test]
fn collect_and_par_extend_build_what_serial_builds() {
    let n = SIZES[3];
    let pairs: Vec<(u64, u64)> = (0..n).map(|k| (common::mix64(k), k)).collect();
    let serial_map: HashMap<u64, u64> = pairs.iter().copied().collect();
    let expected = serial(&serial_map);

    let collected: HashMap<u64, u64> = pairs.par_iter().copied().collect();
    assert_eq!(serial(&collected), expected, "collect");
    // An unindexed source (no length known up front).
    let filtered: HashMap<u64, u64> = pairs.par_iter().copied().filter(|_| true).collect();
    assert_eq!(serial(&filtered), expected, "collect, unindexed");

    for shards in SHARDS {
        let mut owned = map_with(shards, 0, |k| k);
        owned.par_extend(pairs.par_iter().copied());
        assert_eq!(serial(&owned), expected, "par_extend, {shards} shards");

        let shared = map_with(shards, 0, |k| k);
        // Twice: the second pass replaces every value with an equal one.
        (&shared).par_extend(pairs.par_iter().copied());
        (&shared).par_extend(pairs.par_iter().copied());
        assert_eq!(
            serial(&shared),
            expected,
            "&map par_extend, {shards} shards"
        );
        assert_eq!(shared.len() as u64, n);

        let mut borrowed = map_with(shards, 0, |k| k);
        borrowed.par_extend(pairs.par_iter().map(|(k, v)| (k, v)));
        assert_eq!(
            serial(&borrowed),
            expected,
            "(&K, &V) par_extend, {shards} shards"
        );
    }
}

#[test]
fn par_retain_leaves_what_retain_leaves() {
    for shards in SHARDS {
        for n in SIZES {
            let keep = |k: &u64, v: &u64| (k ^ v) % 3 != 0;
            let a = map_with(shards, n, common::mix64);
            let b = map_with(shards, n, common::mix64);
            a.retain(keep);
            b.par_retain(keep);
            assert_eq!(serial(&b), serial(&a), "{shards} shards, {n} entries");
            let judged = AtomicUsize::new(0);
            let c = map_with(shards, n, common::mix64);
            c.par_retain(|_, _| {
                judged.fetch_add(1, SeqCst);
                true
            });
            assert_eq!(judged.into_inner() as u64, n, "each entry judged once");
            assert_eq!(c.len() as u64, n);
        }
    }
}

#[test]
fn par_retain_keeps_an_entry_replaced_after_it_was_judged() {
    // `keep` itself replaces every third key's value before saying "remove":
    // the new value was never judged, so it must stay.
    for shards in SHARDS {
        let n = 3_000;
        let map = map_with(shards, n, |_| 0u64);
        map.par_retain(|k, v| {
            if *v == 0 && k % 3 == 0 {
                map.insert(*k, 1);
            }
            *v != 0
        });
        for k in 0..n {
            assert_eq!(
                map.get_cloned(&k),
                (k % 3 == 0).then_some(1),
                "{shards} shards: key {k}"
            );
        }
    }
}

/// A value: (its key, its version).
type Val = (u64, u64);

/// Stable keys `0..STABLE`; churn keys `CHURN + t * SPAN + 0..BURST`.
const STABLE: u64 = common::scaled(500, 12) as u64;
const CHURN: u64 = 1 << 32;
const SPAN: u64 = 1 << 24;
const BURST: u64 = common::scaled(2_000, 24) as u64;
const CHURNERS: usize = 2;
const SCANS: usize = common::scaled(60, 3);
const STALL: Duration = Duration::from_secs(120);

struct Writers {
    /// Highest version written (or about to be) per stable key.
    stable: Vec<AtomicU64>,
    /// Rounds started per churn thread (churn values carry their round).
    rounds: Vec<AtomicU64>,
    completed: AtomicU64,
    stop: AtomicBool,
}

impl Writers {
    /// Checks a scan's output: no key twice, every stable key, no key never
    /// inserted, no value never written for its key.
    fn check(&self, items: &[(u64, Val)], what: &str) {
        let mut seen = StdSet::with_capacity(items.len());
        for &(k, (owner, version)) in items {
            assert!(seen.insert(k), "{what}: key {k:#x} yielded twice");
            assert_eq!(owner, k, "{what}: key {k:#x} with another key's value");
            let latest = if k < STABLE {
                self.stable[k as usize].load(SeqCst)
            } else {
                let off = k.checked_sub(CHURN).expect("a key never inserted");
                let (t, i) = ((off / SPAN) as usize, off % SPAN);
                assert!(
                    t < CHURNERS && i < BURST,
                    "{what}: key {k:#x} never inserted"
                );
                self.rounds[t].load(SeqCst)
            };
            assert!(
                version >= 1 && version <= latest,
                "{what}: key {k:#x} with version {version} never written"
            );
        }
        for k in 0..STABLE {
            assert!(seen.contains(&k), "{what}: stable key {k} not yielded");
        }
    }
}

/// Scans with `scan` while churn threads resize a tiny map and an updater
/// rewrites the stable keys, checking every scan.
fn under_writers(
    what: &str,
    shards: usize,
    scan: impl Fn(&HashMap<u64, Val, SeededState>) -> Vec<(u64, Val)>,
) {
    let map = common::Config::tiny(shards, ResizeMode::Incremental { step: 1 })
        .build(SeededState(40 + shards as u64));
    let w = Writers {
        stable: (0..STABLE).map(|_| AtomicU64::new(1)).collect(),
        rounds: (0..CHURNERS).map(|_| AtomicU64::new(0)).collect(),
        completed: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    };
    for k in 0..STABLE {
        map.insert(k, (k, 1));
    }
    let resizes = |m: &HashMap<u64, Val, SeededState>| {
        let s = m.stats();
        s.grows + s.shrinks
    };
    let before = resizes(&map);
    let t0 = Instant::now();
    let mut overlapped = 0;
    std::thread::scope(|s| {
        for t in 0..CHURNERS {
            let (map, w) = (&map, &w);
            s.spawn(move || {
                while !w.stop.load(SeqCst) {
                    let round = w.rounds[t].fetch_add(1, SeqCst) + 1;
                    let key = |i| CHURN + t as u64 * SPAN + i;
                    for i in 0..BURST {
                        map.insert(key(i), (key(i), round));
                    }
                    for i in 0..BURST {
                        map.remove(&key(i));
                    }
                    w.completed.fetch_add(1, SeqCst);
                }
            });
        }
        {
            let (map, w) = (&map, &w);
            s.spawn(move || {
                let mut n = 0u64;
                while !w.stop.load(SeqCst) {
                    n += 1;
                    let k = n % STABLE;
                    let version = w.stable[k as usize].fetch_add(1, SeqCst) + 1;
                    map.insert(k, (k, version));
                    if n % 64 == 0 {
                        std::thread::yield_now();
                    }
                }
            });
        }
        let _stop = StopOnDrop(&w.stop);
        let mut i = 0;
        while i < SCANS || overlapped == 0 || w.completed.load(SeqCst) < 4 {
            assert!(t0.elapsed() < STALL, "{what}: stalled after {i} scans");
            let (r0, m0) = (resizes(&map), map.stats().migrations_in_progress);
            let items = scan(&map);
            if m0 > 0 || resizes(&map) != r0 || map.stats().migrations_in_progress > 0 {
                overlapped += 1;
            }
            w.check(&items, &format!("{what}, scan {i}"));
            i += 1;
        }
    });
    println!(
        "{what}: {overlapped} scans overlapped a resize, {} resizes in {:?}",
        resizes(&map) - before,
        t0.elapsed()
    );
    assert!(
        resizes(&map) - before >= 4,
        "{what}: the map hardly resized"
    );
}

struct StopOnDrop<'a>(&'a AtomicBool);
impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

#[test]
fn par_iter_cloned_is_exact_once_under_writers() {
    for shards in [1, 4] {
        under_writers("par_iter_cloned", shards, |map| {
            map.par_iter_cloned().collect()
        });
    }
}

#[test]
fn par_for_each_is_exact_once_under_writers() {
    under_writers("par_for_each", 4, |map| {
        let seen = Mutex::new(Vec::new());
        map.par_for_each(|k, v| {
            // Yield now and then, so that resizes land inside one scan.
            if k % 97 == 0 {
                std::thread::yield_now();
            }
            seen.lock().unwrap().push((*k, *v));
        });
        seen.into_inner().unwrap()
    });
}

#[test]
fn par_retain_under_writers_judges_each_stable_key_once() {
    // `par_retain` that keeps everything is a scan too: each stable key is
    // judged exactly once, and stays.
    under_writers("par_retain", 4, |map| {
        let seen = Mutex::new(Vec::new());
        map.par_retain(|k, v| {
            seen.lock().unwrap().push((*k, *v));
            true
        });
        seen.into_inner().unwrap()
    });
}

#[test]
fn par_retain_under_concurrent_readers() {
    let n = common::scaled(20_000, 200) as u64;
    let mut shrunk = 0;
    for round in 0..common::scaled(5, 1) {
        // Tiny, incremental and auto-shrinking: removing 7 entries in 8
        // shrinks the shards while the readers read.
        let map = common::Config::tiny(8, ResizeMode::Incremental { step: 1 })
            .build(SeededState(round as u64));
        for k in 0..n {
            map.insert(k, k * 7);
        }
        let shrinks = map.stats().shrinks;
        let done = AtomicBool::new(false);
        let reads = AtomicU64::new(0);
        std::thread::scope(|s| {
            for r in 0..2u64 {
                let (map, done, reads) = (&map, &done, &reads);
                s.spawn(move || {
                    let mut k = (r * n / 2) & !7;
                    let mut last_pass = false;
                    loop {
                        // Kept keys are multiples of 8: readable at every moment.
                        k = (k + 8) % n;
                        assert_eq!(map.get_cloned(&k), Some(k * 7), "kept key {k} missing");
                        reads.fetch_add(1, SeqCst);
                        if k < 8 {
                            if last_pass {
                                break;
                            }
                            last_pass = done.load(SeqCst);
                        }
                    }
                });
            }
            let _done = StopOnDrop(&done);
            map.par_retain(|k, v| {
                assert_eq!(*v, k * 7);
                k % 8 == 0
            });
        });
        let left: BTreeMap<u64, u64> = map.par_iter_cloned().collect();
        let expected: BTreeMap<u64, u64> = (0..n).step_by(8).map(|k| (k, k * 7)).collect();
        assert_eq!(left, expected);
        assert_eq!(map.len() as u64, n / 8);
        let shrinks = map.stats().shrinks - shrinks;
        shrunk += shrinks;
        println!(
            "round {round}: {} reads, {shrinks} shrinks during par_retain",
            reads.load(SeqCst)
        );
    }
    assert!(shrunk > 0, "no shard shrank while the readers read");
}
