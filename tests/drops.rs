//! Every key and value is dropped exactly once (contract item 7), never
//! while it can still be read, and nothing leaks.
//!
//! Keys and values carry a token of the tests' drop registry
//! (`tests/common/drops.rs`): a token dropped twice is a double drop, one
//! never dropped a leak, and a value read through the map whose token was
//! dropped was used after being dropped (`Token::check`). Each test runs
//! under every resize mode (`common::each_mode!`).

mod common;

use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use common::{ConstState, Registry, SeededState, Token};
use evacmap::{Computed, HashMap, Op, ResizeMode};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A key: compared and hashed by `k` only; cloning makes a new token.
struct Key {
    k: u64,
    t: Token,
}

impl Key {
    fn new(k: u64, reg: &Arc<Registry>) -> Self {
        Key { k, t: reg.token() }
    }
}

impl Clone for Key {
    fn clone(&self) -> Self {
        Key {
            k: self.k,
            t: self.t.clone(),
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.k == other.k
    }
}
impl Eq for Key {}
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.k.hash(state);
    }
}

struct Val {
    v: u64,
    t: Token,
}

impl Val {
    fn new(v: u64, reg: &Arc<Registry>) -> Self {
        Val { v, t: reg.token() }
    }
}

type Map<S = SeededState> = HashMap<Key, Val, S>;

fn tiny<S>(mode: ResizeMode, shards: usize, hasher: S) -> Map<S> {
    common::Config::tiny(shards, mode).build(hasher)
}

/// Looks a key up by building a probe key (itself tracked).
fn probe(k: u64, reg: &Arc<Registry>) -> Key {
    Key::new(k, reg)
}

fn reclaim<S: std::hash::BuildHasher>(map: &Map<S>) {
    assert_eq!(common::reclaim_fully(map), 0, "retired objects never freed");
}

/// Drops the map and waits for its garbage to be collected.
fn finish<S: std::hash::BuildHasher>(map: Map<S>, reg: &Registry, what: &str) {
    drop(map);
    reg.wait_all_dropped_once(what);
}

fn replaced_and_removed_values_are_dropped_once_after_readers(mode: ResizeMode) {
    let reg = Registry::new();
    let map: Map = tiny(mode, 1, SeededState(1));
    assert!(map.insert(Key::new(1, &reg), Val::new(10, &reg)).is_none());
    assert_eq!(reg.live(), 2);
    // Replace: the old value (and the new entry's duplicate key? no: the
    // insert's key goes into the new entry, the old entry keeps its own) are
    // retired, but readable through the returned Ref until it is dropped.
    let old = map
        .insert(Key::new(1, &reg), Val::new(11, &reg))
        .expect("replaced");
    assert_eq!(old.v, 10);
    map.reclaim();
    old.t.check();
    assert_eq!(
        reg.live(),
        4,
        "old key and value stay alive while a Ref holds them"
    );
    drop(old);
    reclaim(&map);
    assert_eq!(reg.live(), 2, "the old entry (key and value) was dropped");
    assert_eq!(reg.dropped(), 2);

    // Remove, with a reader holding the value.
    let held = map.get(&probe(1, &reg)).expect("present");
    let removed = map.remove(&probe(1, &reg)).expect("removed");
    assert_eq!(removed.v, 11);
    drop(removed);
    reclaim_while_pinned_elsewhere_is_fine(&map);
    held.t.check();
    assert!(reg.is_live(held.t.id()));
    drop(held);
    reclaim(&map);
    assert_eq!(reg.live(), 0);
    finish(map, &reg, "replace/remove");
}

/// `reclaim()` while this thread holds a `Ref`: must not free what it reads.
fn reclaim_while_pinned_elsewhere_is_fine<S: std::hash::BuildHasher>(map: &Map<S>) {
    let r = map.reclaim();
    assert!(
        r.pending_objects > 0,
        "the removed entry must stay pending while a Ref is held"
    );
}

fn pinned_references_outlive_removal(mode: ResizeMode) {
    let reg = Registry::new();
    let map: Map = tiny(mode, 1, SeededState(2));
    for k in 0..50 {
        map.insert(Key::new(k, &reg), Val::new(k, &reg));
    }
    let pinned = map.pin();
    let values: Vec<&Val> = (0..50)
        .map(|k| pinned.get(&probe(k, &reg)).unwrap())
        .collect();
    let iterated: Vec<(&Key, &Val)> = pinned.iter().collect();
    for k in 0..50 {
        map.remove(&probe(k, &reg));
    }
    map.clear();
    map.reclaim();
    for v in &values {
        v.t.check();
    }
    for (k, v) in &iterated {
        k.t.check();
        v.t.check();
    }
    assert_eq!(
        reg.live(),
        100,
        "pinned entries were dropped while readable"
    );
    drop(values);
    drop(iterated);
    drop(pinned);
    reclaim(&map);
    assert_eq!(reg.live(), 0);
    finish(map, &reg, "pinned");
}

fn clear_drops_entries_shared_by_a_half_done_migration_once(mode: ResizeMode) {
    let reg = Registry::new();
    let map = tiny(mode, 1, SeededState(3));
    let mut mid = false;
    for k in 0..300 {
        map.insert(Key::new(k, &reg), Val::new(k, &reg));
        // Clear exactly when a migration is half done: its old and new tables
        // share entries, which must be dropped once.
        if k > 100 && map.stats().migrations_in_progress > 0 {
            mid = true;
            break;
        }
    }
    let incremental = matches!(mode, ResizeMode::Incremental { .. });
    assert!(
        mid || !incremental,
        "no migration in progress to clear in the middle of"
    );
    assert_eq!(reg.live(), 2 * map.len());
    map.clear();
    assert_eq!(map.len(), 0);
    reclaim(&map);
    assert_eq!(reg.live(), 0, "clear left {} tokens", reg.live());
    // The map keeps working after a clear.
    map.insert(Key::new(1, &reg), Val::new(1, &reg));
    finish(map, &reg, "clear mid-migration");

    // One long overflow chain.
    let reg = Registry::new();
    let map = tiny(mode, 1, ConstState::default());
    for k in 0..300 {
        map.insert(Key::new(k, &reg), Val::new(k, &reg));
    }
    map.clear();
    reclaim(&map);
    assert_eq!(reg.live(), 0, "clear left {} tokens", reg.live());
    finish(map, &reg, "clear, constant hash");
}

fn dropping_the_map_drops_everything_once(mode: ResizeMode) {
    // Mid-migration (entries shared by two tables) and long overflow chains.
    let reg = Registry::new();
    let map = tiny(mode, 2, SeededState(4));
    for k in 0..1000 {
        map.insert(Key::new(k, &reg), Val::new(k, &reg));
    }
    for k in 0..500 {
        map.remove(&probe(k, &reg));
    }
    for k in 0..200 {
        map.insert(Key::new(k, &reg), Val::new(k, &reg));
    }
    assert!(map.stats().migrations_in_progress > 0 || map.stats().grows > 0);
    finish(map, &reg, "drop mid-migration");

    let reg = Registry::new();
    let map = tiny(mode, 1, ConstState::default());
    for k in 0..200 {
        map.insert(Key::new(k, &reg), Val::new(k, &reg));
    }
    assert!(map.stats().overflow_buckets > 10);
    finish(map, &reg, "drop with overflow chains");

    // A map that was never written, and one cleared.
    let reg = Registry::new();
    let map: Map = tiny(mode, 4, SeededState(5));
    finish(map, &reg, "empty");
}

fn retain_update_compute_remove_if_get_or_insert(mode: ResizeMode) {
    let reg = Registry::new();
    let map = tiny(mode, 2, SeededState(6));
    for k in 0..400 {
        map.insert(Key::new(k, &reg), Val::new(k, &reg));
    }
    // retain: drops the removed half.
    map.retain(|k, _| k.k % 2 == 0);
    reclaim(&map);
    assert_eq!(map.len(), 200);
    assert_eq!(reg.live(), 400, "retain dropped too much or too little");

    // update: the new entry has a cloned key and a new value; the old entry
    // (key and value) is dropped.
    for k in (0..400).step_by(2) {
        let r = map.update(&probe(k, &reg), |v| Val::new(v.v + 1, &reg));
        assert_eq!(r.unwrap().v, k + 1);
    }
    assert!(map.update(&probe(1, &reg), |_| unreachable!()).is_none());
    reclaim(&map);
    assert_eq!(reg.live(), 400);

    // compute, every outcome.
    let keep = map.compute(Key::new(0, &reg), |_| Op::Keep);
    assert!(matches!(keep, Computed::Unchanged(Some(_))));
    drop(keep);
    let replaced = map.compute(Key::new(0, &reg), |v| {
        Op::Insert(Val::new(v.unwrap().v + 1, &reg))
    });
    assert!(matches!(replaced, Computed::Replaced { .. }));
    drop(replaced);
    let inserted = map.compute(Key::new(1, &reg), |v| {
        assert!(v.is_none());
        Op::Insert(Val::new(1, &reg))
    });
    assert!(matches!(inserted, Computed::Inserted(_)));
    drop(inserted);
    let removed = map.compute(Key::new(2, &reg), |_| Op::Remove);
    assert!(matches!(removed, Computed::Removed(_)));
    drop(removed);
    let nothing = map.compute(Key::new(3, &reg), |_| Op::Remove);
    assert!(matches!(nothing, Computed::Unchanged(None)));
    drop(nothing);
    reclaim(&map);
    assert_eq!(map.len(), 200);
    assert_eq!(reg.live(), 400, "compute leaked or over-dropped");

    // remove_if, both ways.
    assert!(map.remove_if(&probe(4, &reg), |_, _| false).is_err());
    assert!(matches!(
        map.remove_if(&probe(4, &reg), |_, _| true),
        Ok(Some(_))
    ));
    reclaim(&map);
    assert_eq!(reg.live(), 398);

    // get_or_insert_with: present (make not called, nothing created),
    // absent (inserted).
    let before = reg.created();
    drop(map.get_or_insert_with(Key::new(6, &reg), || unreachable!()));
    assert_eq!(reg.created(), before + 1, "only the probe key was created");
    drop(map.get_or_insert_with(Key::new(5, &reg), || Val::new(5, &reg)));
    drop(map.get_or_insert(Key::new(7, &reg), Val::new(7, &reg)));
    drop(map.get_or_insert(Key::new(9, &reg), Val::new(9, &reg)));
    reclaim(&map);
    assert_eq!(map.len(), 199 + 3);
    assert_eq!(reg.live(), 2 * map.len());
    finish(map, &reg, "rmw");
}

fn panicking_closures_leak_nothing(mode: ResizeMode) {
    let reg = Registry::new();
    let map = tiny(mode, 1, SeededState(7));
    for k in 0..100 {
        map.insert(Key::new(k, &reg), Val::new(k, &reg));
    }
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for k in 0..120 {
        let r = catch_unwind(AssertUnwindSafe(|| {
            map.update(&probe(k, &reg), |_| {
                let _made = Val::new(0, &reg);
                panic!("update closure")
            })
        }));
        assert!(r.is_err() || k >= 100);
        let r = catch_unwind(AssertUnwindSafe(|| {
            map.compute(Key::new(k, &reg), |_| {
                let _made = Val::new(0, &reg);
                panic!("compute closure")
            })
        }));
        assert!(r.is_err());
        let r = catch_unwind(AssertUnwindSafe(|| {
            map.get_or_insert_with(Key::new(k + 1000, &reg), || panic!("make"))
        }));
        assert!(r.is_err());
        let r = catch_unwind(AssertUnwindSafe(|| {
            map.remove_if(&probe(k, &reg), |_, _| panic!("predicate"))
        }));
        assert!(r.is_err() || k >= 100);
    }
    let r = catch_unwind(AssertUnwindSafe(|| {
        map.retain(|k, _| k.k < 50 || panic!("retain"))
    }));
    std::panic::set_hook(quiet);
    assert!(r.is_err());
    reclaim(&map);
    assert_eq!(map.len(), 100, "a panicking closure changed the map");
    assert_eq!(reg.live(), 200);
    for k in 0..100 {
        assert_eq!(map.get(&probe(k, &reg)).unwrap().v, k);
    }
    finish(map, &reg, "panics");
}

/// Threads race on a small key space with every operation, while the map
/// grows and shrinks; readers check every value they see is still alive.
fn concurrent(mode: ResizeMode, threads: usize, ops: usize, shards: usize, seed: u64) {
    let reg = Registry::new();
    let map: Map = tiny(mode, shards, SeededState(seed));
    std::thread::scope(|s| {
        for t in 0..threads {
            let (map, reg) = (&map, &reg);
            s.spawn(move || {
                let mut rng = StdRng::seed_from_u64(seed * 100 + t as u64);
                for i in 0..ops {
                    // Phase 0 inserts; phase 1 only removes (no operation
                    // adds a key), so that the map drains and shrinks.
                    let phase = (i / 2000) % 2;
                    let k = rng.gen_range(0..64u64);
                    match rng.gen_range(0..100) {
                        0..=19 if phase == 0 => {
                            map.insert(Key::new(k, reg), Val::new(k, reg));
                        }
                        0..=29 => {
                            if let Some(r) = map.remove(&probe(k, reg)) {
                                r.t.check();
                            }
                        }
                        30..=49 => {
                            if let Some(r) = map.get(&probe(k, reg)) {
                                r.t.check();
                                r.key().t.check();
                                assert_eq!(r.key().k, k);
                            }
                        }
                        50..=59 => {
                            map.update(&probe(k, reg), |v| {
                                v.t.check();
                                Val::new(v.v + 1, reg)
                            });
                        }
                        60..=69 => {
                            let r = map.compute(Key::new(k, reg), |v| match v {
                                Some(v) if v.v % 2 == 0 => Op::Remove,
                                Some(v) => Op::Insert(Val::new(v.v + 1, reg)),
                                None if phase == 0 => Op::Insert(Val::new(k, reg)),
                                None => Op::Keep,
                            });
                            drop(r);
                        }
                        70..=79 if phase == 0 => {
                            let r = map.get_or_insert_with(Key::new(k, reg), || Val::new(k, reg));
                            r.t.check();
                        }
                        80..=87 => {
                            let _ = map.remove_if(&probe(k, reg), |_, v| v.v % 3 == 0);
                        }
                        88..=95 => {
                            let pinned = map.pin();
                            for (k, v) in pinned.iter().take(16) {
                                k.t.check();
                                v.t.check();
                            }
                        }
                        96..=97 => map.retain(|_, v| v.v % 5 != 0),
                        _ => {
                            if rng.gen_ratio(1, 200) {
                                map.clear();
                            }
                        }
                    }
                }
            });
        }
    });
    // All threads exited: their garbage was handed to the global queue.
    reclaim(&map);
    assert_eq!(reg.double_drops(), 0, "double drops");
    assert_eq!(
        reg.live(),
        2 * map.len(),
        "live tokens != the map's keys and values"
    );
    let s = map.stats();
    println!(
        "drops, {threads} threads: {} tokens created; {s}",
        reg.created()
    );
    if !cfg!(miri) {
        assert!(s.grows > 0 && s.shrinks > 0, "{s}");
    }
    finish(map, &reg, "concurrent");
}

/// Threads start `get_or_insert_with` on the same absent key at once: each
/// may make a value, exactly one is inserted and returned to everybody, the
/// others are dropped.
fn get_or_insert_with_losers_are_dropped(mode: ResizeMode) {
    const THREADS: usize = 3;
    let rounds = common::scaled(1_000, 20) as u64;
    let reg = Registry::new();
    let map: Map = tiny(mode, 1, SeededState(8));
    let barrier = std::sync::Barrier::new(THREADS);
    let made = AtomicUsize::new(0);
    let in_make: Vec<AtomicUsize> = (0..rounds).map(|_| AtomicUsize::new(0)).collect();
    let results: Vec<Vec<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let (map, reg, barrier, made, in_make) = (&map, &reg, &barrier, &made, &in_make);
                s.spawn(move || {
                    (0..rounds)
                        .map(|round| {
                            barrier.wait();
                            let r = map.get_or_insert_with(Key::new(round, reg), || {
                                // Wait (briefly) until every thread is making
                                // its own value: each round is a real race
                                // with THREADS - 1 losers.
                                let entered = &in_make[round as usize];
                                entered.fetch_add(1, SeqCst);
                                let t0 = std::time::Instant::now();
                                while entered.load(SeqCst) < THREADS
                                    && t0.elapsed() < Duration::from_millis(50)
                                {
                                    std::thread::yield_now();
                                }
                                made.fetch_add(1, SeqCst);
                                Val::new(round, reg)
                            });
                            r.t.check();
                            r.t.id()
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for round in 0..rounds as usize {
        let winner = results[0][round];
        assert!(
            results.iter().all(|r| r[round] == winner),
            "round {round}: callers got different values"
        );
    }
    reclaim(&map);
    let made = made.load(SeqCst);
    println!(
        "get_or_insert_with: {rounds} races, {} values made by losers",
        made - rounds as usize
    );
    assert!(made >= rounds as usize);
    if !cfg!(miri) {
        // Otherwise the test did not test losing.
        assert!(made > rounds as usize, "no race was ever lost");
    }
    assert_eq!(map.len(), rounds as usize);
    assert_eq!(reg.live(), 2 * map.len(), "losing values leaked");
    finish(map, &reg, "get_or_insert_with races");
}

fn concurrent_every_value_dropped_once(mode: ResizeMode) {
    concurrent(mode, 2, common::scaled(60_000, 300), 1, 1);
    concurrent(mode, 3, common::scaled(30_000, 200), 4, 2);
}

fn concurrent_soak(mode: ResizeMode) {
    for seed in 0..20 {
        concurrent(mode, 8, 500_000, 1 << (seed % 3), seed);
    }
}

common::each_mode!(
    replaced_and_removed_values_are_dropped_once_after_readers,
    pinned_references_outlive_removal,
    clear_drops_entries_shared_by_a_half_done_migration_once,
    dropping_the_map_drops_everything_once,
    retain_update_compute_remove_if_get_or_insert,
    panicking_closures_leak_nothing,
    get_or_insert_with_losers_are_dropped,
    concurrent_every_value_dropped_once,
    #[ignore = "soak: about a minute"]
    concurrent_soak,
);
