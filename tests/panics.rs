//! Panic safety (contract items 7 and 8): user code that panics — a key's
//! `Hash`, `Eq` or `Clone`, or the closures of `update`, `compute`,
//! `get_or_insert_with`, `remove_if` and `retain` — leaves the map usable and
//! consistent, while other threads keep working on it.
//!
//! What is checked, and how each check can fail:
//! - **Consistency with a model.** Every worker thread owns a range of keys
//!   and keeps a model of them: an operation that returned normally is known
//!   to have committed, one that panicked is known *not* to have committed
//!   (every piece of user code runs before the commit: `Hash` before
//!   anything, `Eq` under the lock before any mutation, closures and `Clone`
//!   before the conditional swap). Shared counter keys are incremented by
//!   `compute`/`update` closures that panic at random: each counter must end
//!   at exactly the number of increments that returned normally. A map that
//!   half-applied a write before a panic, or applied a write whose closure
//!   panicked, fails these comparisons.
//! - **Exactly-once drops.** Every key and value carries a token registered in
//!   a [`Registry`]; dropping a token twice counts a double drop, a token never
//!   dropped is a leak. After the threads are joined and `reclaim()` has run
//!   every deferred destructor, the live tokens must be exactly the map's
//!   entries; after the map is dropped, none. A leaked unpublished entry (say,
//!   on a conflict path) or an entry freed twice fails here.
//! - **No lock left held.** After the storm, a fresh thread inserts one key
//!   into *every* shard under a watchdog (`assert_no_lock_held`): a shard lock
//!   leaked by a panic (a guard forgotten during unwinding) makes it time out.
//!
//! Injected panics carry the message prefix `evacmap-test: injected`; a panic
//! hook keeps them out of the test output. Sizes are scaled down under Miri.

mod common;

use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, Hash, Hasher};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use common::{panic_message, watchdog, within, MixState, Registry, Token};
use evacmap::{Computed, HashMap, Op, ResizeMode};
use rand::{Rng, SeedableRng};

const MIRI: bool = cfg!(miri);

// ---------------------------------------------------------------------------
// Panic injection: a thread-local switch "panic at these sites with
// probability p".

const HASH: u8 = 1;
const EQ: u8 = 2;
const CLONE: u8 = 4;
const CLOSURE: u8 = 8;
const ALL: u8 = HASH | EQ | CLONE | CLOSURE;
const INJECTED: &str = "evacmap-test: injected";

#[derive(Clone, Copy)]
struct Inject {
    sites: u8,
    per_mille: u64,
    rng: u64,
}

thread_local! {
    static INJECT: Cell<Inject> = const { Cell::new(Inject { sites: 0, per_mille: 0, rng: 0x9E37_79B9_7F4A_7C15 }) };
    /// The site of the last injected panic on this thread.
    static LAST_SITE: Cell<u8> = const { Cell::new(0) };
}

fn maybe_panic(site: u8) {
    let fire = INJECT.with(|c| {
        let mut i = c.get();
        if i.sites & site == 0 {
            return false;
        }
        // xorshift64
        i.rng ^= i.rng << 13;
        i.rng ^= i.rng >> 7;
        i.rng ^= i.rng << 17;
        c.set(i);
        i.rng % 1000 < i.per_mille
    });
    if fire {
        LAST_SITE.with(|s| s.set(site));
        panic!("{INJECTED} panic at site {site}");
    }
}

/// Enables injection on this thread until the returned guard is dropped.
fn inject(sites: u8, per_mille: u64, seed: u64) -> InjectGuard {
    INJECT.with(|c| {
        c.set(Inject {
            sites,
            per_mille,
            rng: seed | 1,
        })
    });
    InjectGuard
}

struct InjectGuard;
impl Drop for InjectGuard {
    fn drop(&mut self) {
        INJECT.with(|c| {
            let mut i = c.get();
            i.sites = 0;
            c.set(i);
        });
    }
}

/// Runs `f` with injection at `sites`; Err if it panicked (with an injected
/// panic: any other panic is a real failure and is propagated).
fn injected<T>(sites: u8, per_mille: u64, seed: u64, f: impl FnOnce() -> T) -> Result<T, u8> {
    LAST_SITE.with(|s| s.set(0));
    let guard = inject(sites, per_mille, seed);
    let r = catch_unwind(AssertUnwindSafe(f));
    drop(guard);
    match r {
        Ok(v) => Ok(v),
        Err(payload) => {
            if panic_message(&*payload).starts_with(INJECTED) {
                Err(LAST_SITE.with(|s| s.get()))
            } else {
                resume_unwind(payload)
            }
        }
    }
}

/// Keeps injected panics out of the output; everything else is printed.
fn quiet_injected_panics() {
    common::quiet_panics(|msg| msg.starts_with(INJECTED));
}

// ---------------------------------------------------------------------------
// Drop tracking.

/// A key whose `Hash`, `Eq` and `Clone` may panic. Keys `2n` and `2n + 1`
/// hash alike, so `Eq` also runs on unequal keys.
struct PKey {
    id: u64,
    _token: Token,
}

impl PKey {
    fn new(id: u64, t: &Arc<Registry>) -> PKey {
        PKey {
            id,
            _token: t.token(),
        }
    }
}

impl Hash for PKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        maybe_panic(HASH);
        h.write_u64(self.id >> 1);
    }
}
impl PartialEq for PKey {
    fn eq(&self, other: &Self) -> bool {
        maybe_panic(EQ);
        self.id == other.id
    }
}
impl Eq for PKey {}
impl Clone for PKey {
    fn clone(&self) -> Self {
        maybe_panic(CLONE);
        PKey {
            id: self.id,
            _token: self._token.clone(),
        }
    }
}

struct Val {
    data: u64,
    _token: Token,
}

impl Val {
    fn new(data: u64, t: &Arc<Registry>) -> Val {
        Val {
            data,
            _token: t.token(),
        }
    }
}

type Map = HashMap<PKey, Val, MixState>;

fn new_map(shards: usize, mode: ResizeMode) -> Map {
    HashMap::builder()
        .shards(shards)
        .hasher(MixState)
        .resize_mode(mode)
        .build()
        .unwrap()
}

const MODES: [ResizeMode; 2] = [ResizeMode::Incremental { step: 1 }, ResizeMode::Blocking];

// ---------------------------------------------------------------------------
// Shared checks.

/// Inserts (then removes) one key in every shard from a fresh thread under
/// a watchdog: a shard lock leaked by a panic makes this time out.
fn assert_no_lock_held(map: &Arc<Map>, keys: &Arc<Registry>, vals: &Arc<Registry>) {
    let probes = common::one_per_shard(map.shards(), ((1u64 << 50)..).step_by(2), |&id| {
        MixState.hash_one(PKey::new(id, keys))
    });
    let (map, keys, vals) = (Arc::clone(map), Arc::clone(keys), Arc::clone(vals));
    within("insert into every shard after the panics", move || {
        for id in probes {
            assert!(map
                .insert(PKey::new(id, &keys), Val::new(7, &vals))
                .is_none());
            assert_eq!(map.remove(&PKey::new(id, &keys)).map(|r| r.data), Some(7));
        }
    });
}

/// Runs deferred destructors until nothing this map retired is pending.
fn reclaim_all(map: &Map) {
    let deadline = Instant::now() + watchdog();
    loop {
        let r = map.reclaim();
        if r.pending_objects == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "retired garbage never reclaimed: {r:?}"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

/// The map's contents, by key id; checks that iteration yields each key once,
/// that `get` agrees with it and `len` counts it.
fn snapshot(map: &Map, keys: &Arc<Registry>) -> BTreeMap<u64, u64> {
    let mut seen = BTreeMap::new();
    for r in map.iter() {
        assert!(
            seen.insert(r.key().id, r.data).is_none(),
            "key {} yielded twice",
            r.key().id
        );
    }
    for (&id, &data) in &seen {
        assert_eq!(
            map.get(&PKey::new(id, keys)).map(|r| r.data),
            Some(data),
            "get disagrees with iter"
        );
    }
    assert_eq!(map.len(), seen.len(), "len disagrees with iter");
    seen
}

// ---------------------------------------------------------------------------
// The storm: every kind of user code panics at random on several threads.

const SHARED: u64 = 1 << 40;
const COUNTERS: u64 = 4;

struct Outcome {
    model: BTreeMap<u64, u64>,
    /// Increments of each shared counter that returned normally.
    increments: [u64; COUNTERS as usize],
    panics: usize,
}

/// What `compute`'s closure decides for a value (deterministic, so the
/// committed decision can be recomputed).
fn decide(current: Option<u64>) -> Result<u64, bool> {
    // Ok(x): Insert(x); Err(true): Remove; Err(false): Keep.
    match current {
        None => Ok(1),
        Some(d) if d % 5 == 0 => Err(false),
        Some(d) if d % 3 == 0 => Err(true),
        Some(d) => Ok(d + 7),
    }
}

#[allow(clippy::too_many_arguments)]
fn worker(
    map: &Map,
    thread_no: u64,
    ops: usize,
    own_keys: u64,
    per_mille: u64,
    keys: &Arc<Registry>,
    vals: &Arc<Registry>,
) -> Outcome {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xE7AC ^ thread_no);
    let base = (thread_no + 1) << 32;
    let mut model: BTreeMap<u64, u64> = BTreeMap::new();
    let mut increments = [0u64; COUNTERS as usize];
    let mut panics = 0;
    for _ in 0..ops {
        let id = base + rng.gen_range(0..own_keys);
        let data = rng.gen_range(1..1_000_000u64);
        let seed: u64 = rng.gen();
        let op = rng.gen_range(0..13);
        let (k, v) = (keys.clone(), vals.clone());
        let key = move || PKey::new(id, &k);
        let val = move |d| Val::new(d, &v);
        let before = model.get(&id).copied();
        let result: Result<(), u8> = match op {
            0 | 1 => injected(ALL, per_mille, seed, || {
                map.insert(key(), val(data)).map(|r| r.data)
            })
            .map(|prev| {
                assert_eq!(prev, before, "insert returned a wrong previous value");
                model.insert(id, data);
            }),
            2 => {
                injected(ALL, per_mille, seed, || map.remove(&key()).map(|r| r.data)).map(|prev| {
                    assert_eq!(prev, before, "remove returned a wrong value");
                    model.remove(&id);
                })
            }
            3 => injected(ALL, per_mille, seed, || {
                map.update(&key(), |v| {
                    maybe_panic(CLOSURE);
                    val(v.data * 3 + 1)
                })
                .map(|r| r.data)
            })
            .map(|new| match before {
                Some(old) => {
                    assert_eq!(new, Some(old * 3 + 1), "update applied to a wrong value");
                    model.insert(id, old * 3 + 1);
                }
                None => assert_eq!(new, None, "update of an absent key"),
            }),
            4 => injected(ALL, per_mille, seed, || {
                match map.compute(key(), |cur| {
                    maybe_panic(CLOSURE);
                    match decide(cur.map(|v| v.data)) {
                        Ok(x) => Op::Insert(val(x)),
                        Err(true) => Op::Remove,
                        Err(false) => Op::Keep,
                    }
                }) {
                    Computed::Unchanged(r) => ('u', r.map(|r| r.data), None),
                    Computed::Inserted(r) => ('i', None, Some(r.data)),
                    Computed::Replaced { old, new } => ('r', Some(old.data), Some(new.data)),
                    Computed::Removed(r) => ('d', Some(r.data), None),
                }
            })
            .map(|(what, old, new)| {
                match (decide(before), before) {
                    (Ok(x), None) => assert_eq!((what, new), ('i', Some(x))),
                    (Ok(x), Some(b)) => assert_eq!((what, old, new), ('r', Some(b), Some(x))),
                    (Err(true), Some(b)) => assert_eq!((what, old), ('d', Some(b))),
                    (Err(false), b) => assert_eq!((what, old), ('u', b)),
                    (Err(true), None) => unreachable!(),
                }
                match what {
                    'i' | 'r' => model.insert(id, new.unwrap()),
                    'd' => model.remove(&id),
                    _ => None,
                };
            }),
            5 => injected(ALL, per_mille, seed, || {
                map.get_or_insert_with(key(), || {
                    maybe_panic(CLOSURE);
                    val(data)
                })
                .data
            })
            .map(|got| {
                assert_eq!(got, before.unwrap_or(data), "get_or_insert_with");
                model.insert(id, got);
            }),
            6 => injected(ALL, per_mille, seed, || {
                match map.remove_if(&key(), |k, v| {
                    maybe_panic(CLOSURE);
                    assert_eq!(k.id, id);
                    v.data % 2 == 0
                }) {
                    Ok(removed) => (removed.map(|r| r.data), None),
                    Err(kept) => (None, Some(kept.data)),
                }
            })
            .map(|(removed, kept)| {
                // Removed, kept, or absent: each told apart.
                match before {
                    Some(b) if b % 2 == 0 => assert_eq!((removed, kept), (Some(b), None)),
                    Some(b) => assert_eq!((removed, kept), (None, Some(b))),
                    None => assert_eq!((removed, kept), (None, None)),
                }
                if removed.is_some() {
                    model.remove(&id);
                }
            }),
            7 => injected(ALL, per_mille, seed, || map.get(&key()).map(|r| r.data))
                .map(|got| assert_eq!(got, before, "get")),
            8 => {
                // retain: only this thread's keys may be judged false. A
                // "false" is committed once the closure runs again (the swap
                // in between returned) or retain returns; a panic while a
                // decision is pending came from `Eq` in that swap: not
                // committed.
                let pending: Cell<Option<u64>> = Cell::new(None);
                let removed: std::cell::RefCell<Vec<u64>> = Default::default();
                let visited: std::cell::RefCell<Vec<u64>> = Default::default();
                // Panics per closure call (and per Eq call) are rarer here:
                // retain calls them once per entry.
                let r = injected(ALL, per_mille / 40, seed, || {
                    map.retain(|k, v| {
                        if let Some(p) = pending.take() {
                            removed.borrow_mut().push(p);
                        }
                        maybe_panic(CLOSURE);
                        if k.id >> 32 != thread_no + 1 {
                            return true;
                        }
                        // Only this thread writes its keys: retain sees
                        // their current values, each once.
                        assert_eq!(model.get(&k.id), Some(&v.data), "retain saw a stale value");
                        visited.borrow_mut().push(k.id);
                        if v.data % 4 == 0 {
                            pending.set(Some(k.id));
                            false
                        } else {
                            true
                        }
                    })
                });
                if r.is_ok() {
                    if let Some(p) = pending.take() {
                        removed.borrow_mut().push(p);
                    }
                    let mut visited = visited.into_inner();
                    visited.sort_unstable();
                    assert_eq!(
                        visited,
                        model.keys().copied().collect::<Vec<_>>(),
                        "retain did not visit every key exactly once"
                    );
                } else if pending.get().is_some() {
                    assert_eq!(r, Err(EQ), "a pending retain decision failed outside Eq");
                }
                for id in removed.into_inner() {
                    model.remove(&id);
                }
                r
            }
            9 | 10 => {
                let c = rng.gen_range(0..COUNTERS);
                let r = injected(ALL, per_mille, seed, || {
                    if op == 9 {
                        map.compute(key_of(SHARED + c, keys), |cur| {
                            maybe_panic(CLOSURE);
                            Op::Insert(Val::new(cur.expect("counter").data + 1, vals))
                        });
                    } else {
                        let r = map.update(&key_of(SHARED + c, keys), |cur| {
                            maybe_panic(CLOSURE);
                            Val::new(cur.data + 1, vals)
                        });
                        assert!(r.is_some(), "counters are never removed");
                    }
                });
                if r.is_ok() {
                    increments[c as usize] += 1;
                }
                r
            }
            11 => {
                // Whole-map operations without user code, to force resizes
                // (and migrations) under the panics.
                if rng.gen_bool(0.5) {
                    map.shrink_to_fit();
                } else {
                    map.reserve(rng.gen_range(0..64));
                }
                Ok(())
            }
            _ => {
                // Iterate: no user code runs, never panics. (Exact-once is
                // not asserted under concurrent writes here: see
                // `iteration_can_yield_a_reinserted_key_twice`.)
                let n = map
                    .iter()
                    .filter(|r| r.key().id >> 32 == thread_no + 1)
                    .count();
                assert_eq!(n, model.len(), "iteration missed or repeated own keys");
                Ok(())
            }
        };
        if result.is_err() {
            panics += 1;
        }
        if result.is_err() && op != 8 {
            // (retain may have committed removals before it panicked)
            assert_eq!(
                model.get(&id).copied(),
                before,
                "model changed by a panicked op"
            );
        }
    }
    Outcome {
        model,
        increments,
        panics,
    }
}

fn key_of(id: u64, keys: &Arc<Registry>) -> PKey {
    PKey::new(id, keys)
}

fn storm(mode: ResizeMode, shards: usize) {
    quiet_injected_panics();
    let (threads, ops, own) = if MIRI { (2, 40, 6) } else { (4, 4000, 48) };
    let keys = Registry::new();
    let vals = Registry::new();
    let map = Arc::new(new_map(shards, mode));
    for c in 0..COUNTERS {
        map.insert(key_of(SHARED + c, &keys), Val::new(0, &vals));
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (map, keys, stop) = (Arc::clone(&map), Arc::clone(&keys), Arc::clone(&stop));
        thread::spawn(move || {
            let mut rounds = 0u64;
            while !stop.load(SeqCst) || rounds == 0 {
                for r in map.iter() {
                    let _ = map.get(&key_of(r.key().id, &keys));
                }
                rounds += 1;
                if MIRI {
                    thread::yield_now();
                }
            }
            rounds
        })
    };
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (map, keys, vals) = (Arc::clone(&map), Arc::clone(&keys), Arc::clone(&vals));
            thread::spawn(move || worker(&map, t, ops, own, 100, &keys, &vals))
        })
        .collect();
    let outcomes: Vec<Outcome> = workers.into_iter().map(|h| h.join().unwrap()).collect();
    stop.store(true, SeqCst);
    reader.join().unwrap();

    let panics: usize = outcomes.iter().map(|o| o.panics).sum();
    assert!(panics > 0, "no panic was injected: the test tests nothing");

    // Contents == the union of the models plus the counters.
    let mut expected = BTreeMap::new();
    for o in &outcomes {
        expected.extend(o.model.iter().map(|(&k, &v)| (k, v)));
    }
    for c in 0..COUNTERS {
        let n: u64 = outcomes.iter().map(|o| o.increments[c as usize]).sum();
        expected.insert(SHARED + c, n);
    }
    assert_eq!(
        snapshot(&map, &keys),
        expected,
        "map differs from the model"
    );

    // No lock left held by any of the panics.
    assert_no_lock_held(&map, &keys, &vals);

    // Nothing leaked, nothing dropped twice.
    reclaim_all(&map);
    assert_eq!(vals.double_drops(), 0, "a value was dropped twice");
    assert_eq!(keys.double_drops(), 0, "a key was dropped twice");
    assert_eq!(vals.live(), map.len(), "live values != entries (leak)");
    assert_eq!(keys.live(), map.len(), "live keys != entries (leak)");
    // Still fully usable; clear frees everything once reclaimed.
    map.insert(key_of(3, &keys), Val::new(3, &vals));
    map.clear();
    assert!(map.is_empty());
    reclaim_all(&map);
    assert_eq!(vals.live(), 0, "values leaked by clear");
    map.insert(key_of(3, &keys), Val::new(3, &vals));
    drop(map);
    assert_eq!(vals.live(), 0, "values leaked after the map was dropped");
    assert_eq!(keys.live(), 0, "keys leaked after the map was dropped");
    assert_eq!(vals.double_drops() + keys.double_drops(), 0);
}

#[test]
fn storm_incremental() {
    storm(MODES[0], 4);
}

#[test]
fn storm_blocking() {
    storm(MODES[1], 8);
}

#[test]
fn storm_single_shard() {
    // Every thread contends on one shard lock: a leaked lock stalls them all.
    storm(ResizeMode::Incremental { step: 2 }, 1);
}

// ---------------------------------------------------------------------------
// Each site, deterministically: the op panics, and nothing changed.

#[test]
fn every_site_panics_cleanly() {
    quiet_injected_panics();
    for mode in MODES {
        let keys = Registry::new();
        let vals = Registry::new();
        let map = Arc::new(new_map(4, mode));
        let n = if MIRI { 8 } else { 64 };
        for id in 0..n {
            map.insert(key_of(id, &keys), Val::new(id * 10, &vals));
        }
        let k = |id| key_of(id, &keys);
        let v = |d| Val::new(d, &vals);
        // (name, sites that must make it panic, the op). Keys 0..n are
        // present; n + 1 is absent (and collides with n, if present: no).
        type OpFn<'a> = Box<dyn Fn() + 'a>;
        let ops: Vec<(&str, u8, OpFn)> = vec![
            // insert of a present key: Eq runs under the shard lock.
            (
                "insert",
                HASH | EQ,
                Box::new(|| drop(map.insert(k(3), v(1)))),
            ),
            ("remove", HASH | EQ, Box::new(|| drop(map.remove(&k(4))))),
            (
                "update",
                ALL,
                Box::new(|| {
                    drop(map.update(&k(5), |x| {
                        maybe_panic(CLOSURE);
                        v(x.data + 1)
                    }))
                }),
            ),
            (
                "compute",
                HASH | EQ | CLOSURE,
                Box::new(|| {
                    drop(map.compute(k(6), |x| {
                        maybe_panic(CLOSURE);
                        Op::Insert(v(x.unwrap().data + 1))
                    }))
                }),
            ),
            (
                "compute-remove",
                HASH | EQ | CLOSURE,
                Box::new(|| {
                    drop(map.compute(k(6), |_| {
                        maybe_panic(CLOSURE);
                        Op::Remove
                    }))
                }),
            ),
            (
                // The absent key n + 1 shares its hash with no present key,
                // so Eq never runs.
                "get_or_insert_with",
                HASH | CLOSURE,
                Box::new(|| {
                    drop(map.get_or_insert_with(k(n + 1), || {
                        maybe_panic(CLOSURE);
                        v(1)
                    }))
                }),
            ),
            (
                "remove_if",
                HASH | EQ | CLOSURE,
                Box::new(|| {
                    drop(map.remove_if(&k(2), |_, _| {
                        maybe_panic(CLOSURE);
                        true
                    }))
                }),
            ),
            (
                // retain judges the first entry false; the swap that removes
                // it runs Eq under the lock.
                "retain",
                EQ | CLOSURE,
                Box::new(|| {
                    map.retain(|_, _| {
                        maybe_panic(CLOSURE);
                        false
                    })
                }),
            ),
        ];
        for (name, must, op) in &ops {
            for site in [HASH, EQ, CLONE, CLOSURE] {
                let before = snapshot(&map, &keys);
                let r = injected(site, 1000, 1, op);
                if must & site != 0 {
                    assert_eq!(r.err(), Some(site), "{name}: no panic at site {site}");
                } else {
                    assert!(
                        r.is_ok(),
                        "{name}: site {site} is not reached, yet it panicked"
                    );
                }
                if r.is_err() {
                    assert_eq!(
                        snapshot(&map, &keys),
                        before,
                        "{name}: a panic at {site} changed the map"
                    );
                } else {
                    // The op committed: restore the starting contents.
                    map.clear();
                    for id in 0..n {
                        map.insert(k(id), v(id * 10));
                    }
                }
            }
        }
        assert_no_lock_held(&map, &keys, &vals);
        reclaim_all(&map);
        assert_eq!(vals.live(), map.len());
        assert_eq!(keys.live(), map.len());
        drop(ops);
        drop(map);
        assert_eq!((vals.live(), keys.live()), (0, 0), "leak after drop");
        assert_eq!(vals.double_drops() + keys.double_drops(), 0);
    }
}

// ---------------------------------------------------------------------------
// get_or_insert_with: what happens to the thread whose initialiser panics.
//
// Nobody ever waits for another thread's initialiser (there is no
// "initialising" state in the map: each caller runs its own `make` without a
// lock, and the insert is a conditional swap on "still absent"). So:
// - the panic propagates to the caller whose `make` panicked, and only to it;
// - the key stays absent (nothing was published);
// - a concurrent caller for the same key is never blocked by it: it runs its
//   own `make` and inserts its own value.

#[test]
fn get_or_insert_with_initialiser_panic_alone() {
    quiet_injected_panics();
    let keys = Registry::new();
    let vals = Registry::new();
    let map = new_map(2, MODES[0]);
    map.insert(key_of(100, &keys), Val::new(1, &vals));
    let r = injected(CLOSURE, 1000, 1, || {
        map.get_or_insert_with(key_of(7, &keys), || {
            maybe_panic(CLOSURE);
            Val::new(70, &vals)
        })
        .data
    });
    assert_eq!(
        r,
        Err(CLOSURE),
        "the initialiser's panic reaches its caller"
    );
    assert!(!map.contains_key(&key_of(7, &keys)), "the key stays absent");
    assert_eq!(map.len(), 1);
    // The key can be initialised afterwards, and the make that panicked
    // left nothing behind (the key it owned was dropped once).
    assert_eq!(
        map.get_or_insert_with(key_of(7, &keys), || Val::new(71, &vals))
            .data,
        71
    );
    assert_eq!(map.len(), 2);
    reclaim_all(&map);
    assert_eq!((keys.live(), vals.live()), (2, 2));
    drop(map);
    assert_eq!((keys.live(), vals.live()), (0, 0));
    assert_eq!(keys.double_drops() + vals.double_drops(), 0);
}

#[test]
fn get_or_insert_with_nobody_waits_for_a_panicking_initialiser() {
    quiet_injected_panics();
    let keys = Registry::new();
    let vals = Registry::new();
    let map = Arc::new(new_map(2, MODES[0]));
    let (in_make_tx, in_make_rx) = mpsc::channel::<()>();
    let (b_done_tx, b_done_rx) = mpsc::channel::<u64>();
    // A: its initialiser starts, waits until B has finished with the same
    // key, then panics.
    let a = {
        let (map, keys, vals) = (Arc::clone(&map), Arc::clone(&keys), Arc::clone(&vals));
        thread::spawn(move || {
            injected(CLOSURE, 1000, 1, || {
                map.get_or_insert_with(key_of(9, &keys), || {
                    in_make_tx.send(()).unwrap();
                    let b_got = b_done_rx
                        .recv_timeout(watchdog())
                        .expect("B was blocked by A's running initialiser");
                    assert_eq!(b_got, 2);
                    maybe_panic(CLOSURE);
                    Val::new(1, &vals)
                })
                .data
            })
        })
    };
    in_make_rx.recv_timeout(watchdog()).unwrap();
    // B: same key, while A's initialiser runs. Must not wait for A.
    let b = {
        let (map, keys, vals) = (Arc::clone(&map), Arc::clone(&keys), Arc::clone(&vals));
        within(
            "B's get_or_insert_with while A's initialiser runs",
            move || {
                map.get_or_insert_with(key_of(9, &keys), || Val::new(2, &vals))
                    .data
            },
        )
    };
    assert_eq!(b, 2);
    b_done_tx.send(b).unwrap();
    assert_eq!(a.join().unwrap(), Err(CLOSURE), "A sees its own panic");
    assert_eq!(
        map.get(&key_of(9, &keys)).map(|r| r.data),
        Some(2),
        "B's value stays"
    );
    assert_eq!(map.len(), 1);
    reclaim_all(&map);
    assert_eq!((keys.live(), vals.live()), (1, 1));
    drop(map);
    assert_eq!((keys.live(), vals.live()), (0, 0));
}

#[test]
fn get_or_insert_with_loser_gets_the_winner_and_its_value_is_dropped() {
    let keys = Registry::new();
    let vals = Registry::new();
    let map = new_map(2, MODES[0]);
    let got = map.get_or_insert_with(key_of(5, &keys), || {
        // Another insert of the same key wins while this make runs.
        map.insert(key_of(5, &keys), Val::new(50, &vals));
        Val::new(51, &vals)
    });
    assert_eq!(got.data, 50, "the loser gets the winner's value");
    drop(got);
    reclaim_all(&map);
    assert_eq!(
        (keys.live(), vals.live()),
        (1, 1),
        "the loser's key and value were dropped"
    );
}

// ---------------------------------------------------------------------------
// clear and retain under panics on a shared key space: no exact model, but
// the structure stays exact (iteration, get and len agree; tokens match).

#[test]
fn clear_and_retain_under_panics() {
    quiet_injected_panics();
    let (threads, ops) = if MIRI { (2, 30) } else { (3, 3000) };
    for mode in MODES {
        let keys = Registry::new();
        let vals = Registry::new();
        let map = Arc::new(new_map(4, mode));
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let (map, keys, vals) = (Arc::clone(&map), Arc::clone(&keys), Arc::clone(&vals));
                thread::spawn(move || {
                    let mut rng = rand::rngs::StdRng::seed_from_u64(t);
                    let mut panics = 0;
                    for _ in 0..ops {
                        let id = rng.gen_range(0..200u64);
                        let seed: u64 = rng.gen();
                        let r = injected(ALL, 150, seed, || match rng.gen_range(0..16) {
                            0 => map.clear(),
                            1 => map.retain(|k, _| {
                                maybe_panic(CLOSURE);
                                k.id % 3 != 0
                            }),
                            2..=6 => drop(map.insert(key_of(id, &keys), Val::new(id, &vals))),
                            7 | 8 => drop(map.remove(&key_of(id, &keys))),
                            9 => drop(map.update(&key_of(id, &keys), |v| {
                                maybe_panic(CLOSURE);
                                Val::new(v.data + 1, &vals)
                            })),
                            10 => drop(map.compute(key_of(id, &keys), |v| {
                                maybe_panic(CLOSURE);
                                match v {
                                    Some(_) => Op::Remove,
                                    None => Op::Insert(Val::new(id, &vals)),
                                }
                            })),
                            11 => drop(map.get_or_insert_with(key_of(id, &keys), || {
                                maybe_panic(CLOSURE);
                                Val::new(id, &vals)
                            })),
                            12 => drop(map.remove_if(&key_of(id, &keys), |_, v| {
                                maybe_panic(CLOSURE);
                                v.data % 2 == 0
                            })),
                            13 => map.shrink_to_fit(),
                            _ => drop(map.iter().count()),
                        });
                        panics += usize::from(r.is_err());
                    }
                    panics
                })
            })
            .collect();
        let panics: usize = hs.into_iter().map(|h| h.join().unwrap()).sum();
        assert!(panics > 0);
        let contents = snapshot(&map, &keys);
        for &id in contents.keys() {
            assert!(id < 200);
        }
        assert_no_lock_held(&map, &keys, &vals);
        reclaim_all(&map);
        assert_eq!(vals.live(), map.len(), "value leak");
        assert_eq!(keys.live(), map.len(), "key leak");
        assert_eq!(vals.double_drops() + keys.double_drops(), 0);
        drop(map);
        assert_eq!((keys.live(), vals.live()), (0, 0));
    }
}

// ---------------------------------------------------------------------------
// Found by the storms above (where it made concurrent exact-once checks
// flaky; fixed since): contract 3 says an iterator "yields no key twice", but
// a key that was removed and re-inserted while a scan was inside its bucket
// chain could be yielded twice. No resize is involved.
//
// Mechanism: `Bucket::for_each_entry` loads the primary bucket's tag word
// once, then reads the occupied slots' pointers one by one, then follows the
// overflow link. A writer that meanwhile removes key A (slot i, already read:
// A v1 yielded) and re-inserts it into the first free slot — a later slot j
// that was occupied in the reader's tag snapshot (after another remove and
// insert), or an overflow bucket the reader has not reached yet — makes the
// reader yield A v2 as well.
//
// Before the fix this failed within a second or so.

#[test]
fn iteration_never_yields_a_reinserted_key_twice() {
    let secs = if MIRI { 1 } else { 3 };
    let map: Arc<HashMap<u64, u64>> = Arc::new(
        HashMap::builder()
            .shards(1)
            .capacity(8)
            .auto_shrink(false)
            .build()
            .unwrap(),
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..2u64)
        .map(|t| {
            let (map, stop) = (Arc::clone(&map), Arc::clone(&stop));
            thread::spawn(move || {
                let mut i = t << 40;
                while !stop.load(SeqCst) {
                    // 16 keys in a 4-bucket table: toggle one.
                    let k = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60;
                    if map.remove(&k).is_none() {
                        map.insert(k, i);
                    }
                    i += 1;
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut duplicate = None;
    while duplicate.is_none() && Instant::now() < deadline {
        let mut seen = HashSet::new();
        for r in map.iter() {
            if !seen.insert(*r.key()) {
                duplicate = Some(*r.key());
            }
        }
    }
    stop.store(true, SeqCst);
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(
        map.stats().grows + map.stats().shrinks,
        0,
        "no resize involved"
    );
    assert_eq!(
        duplicate, None,
        "an iteration yielded key {duplicate:?} twice"
    );
}

// ---------------------------------------------------------------------------
// Found under Miri (scripts/miri.sh), fixed in `3681350`: when `Eq` panicked
// under the shard lock, the unpublished entry was dropped while unwinding out
// of `Shard::swap`, whose `key: &Q` argument pointed into that very entry. Function-argument
// references are protected for the whole call (Stacked and Tree Borrows
// alike; rustc emits `dereferenceable`/`noalias` for them), so freeing the
// allocation before `swap` returns is undefined behaviour. Miri reported
// (quoted as it was, before `src/raw/shard.rs` was split into
// `src/raw/shard/`):
//
//   error: Undefined Behavior: deallocation through <tag> at allocN[0x0] is forbidden
//     --> .../alloc/src/boxed.rs: self.1.deallocate(...)
//   help: the accessed tag <tag> was created here --> src/raw/entry.rs
//         (Unpublished::drop: Box::from_raw)
//   help: the protected tag <tag> was created here, in the initial state Frozen
//     --> src/raw/shard.rs   key: &Q,          (Shard::swap's argument)
//   backtrace: Unpublished::drop <- drop of Option<Unpublished> in Shard::swap
//              (unwinding) <- RawMap::swap <- HashMap::insert_entry <- insert
//
// Natively it passed (the drop happened to be harmless). The fix: the
// caller's frame keeps owning the unpublished entry while `swap` runs
// (`new: &mut Option<Unpublished<K, V>>`, which `swap` `take()`s when it
// publishes), so an unwind drops it only after `swap`'s frame, and its
// protector, are gone. This test is the regression check, under Miri.

#[test]
fn eq_panic_under_the_lock_drops_the_entry_after_the_lookup() {
    quiet_injected_panics();
    let keys = Registry::new();
    let vals = Registry::new();
    let map = new_map(1, MODES[0]);
    map.insert(key_of(1, &keys), Val::new(1, &vals));
    // insert of a present key: swap → locate → Eq panics under the lock.
    let r = injected(EQ, 1000, 1, || {
        drop(map.insert(key_of(1, &keys), Val::new(2, &vals)));
    });
    assert_eq!(r, Err(EQ));
    assert_eq!(map.get(&key_of(1, &keys)).map(|r| r.data), Some(1));
    reclaim_all(&map);
    assert_eq!(
        (keys.live(), vals.live()),
        (1, 1),
        "the unpublished entry was dropped once"
    );
}
