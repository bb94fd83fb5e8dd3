//! Reentrancy (contract item 2: "no combination of references held by a
//! thread and calls made by it deadlocks").
//!
//! - Every closure the API takes (`update`, `compute`, `remove_if`,
//!   `get_or_insert_with`, `retain`) may call the map — the same key, another
//!   key of the same shard, a key of another shard; `get`, `insert`,
//!   `remove`, iteration, `clear`, the closure-taking operations themselves,
//!   `reserve`, `shrink_to_fit`, `reclaim`, a `pin()` handle. Closures run
//!   without any lock held, so each call must complete.
//! - Holding a `Ref`, a `KeyRef`, an iterator mid-way, a `pin()` handle (and
//!   references from it) while inserting, removing, clearing, iterating,
//!   reserving, shrinking and reclaiming must complete, and what is held stays
//!   readable.
//! - A key's `Hash` and a value's `Drop` may call the map too (`Hash` runs
//!   before any lock; values are never dropped under a lock).
//!
//! Each scenario runs on its own thread under a watchdog (`within`): a
//! deadlock or livelock fails the test with the scenario's name instead of
//! hanging the suite. After each scenario the map is checked for structural
//! consistency (`check`), and the same-key scenarios check the result the
//! optimistic retry must produce (the closure re-runs on the value its own
//! call wrote).
//!
//! The known hazards are documented and tested at the end:
//! - a key whose `Eq` writes to the same map: `Eq` is the only user code run
//!   under a shard lock (`Shard::swap` → `Bucket::locate_by`), and the lock
//!   (`parking_lot::Mutex`) is not reentrant. `raw/lock.rs` detects re-entry
//!   by the holding thread and panics with a message naming the mistake;
//!   the tests check that every way of re-entering (a write to the same
//!   shard, `clear`, `reserve`, `shrink_to_fit`, `reclaim`) panics that way
//!   and leaves the map usable. (Two threads whose `Eq`s write each other's
//!   shards can still deadlock ABBA-style: not detectable by a per-thread
//!   check, and not tested.)
//! - a closure that writes its own key on *every* call can never commit:
//!   the optimistic retry would loop forever. `compute.rs` detects it (16
//!   self-inflicted conflicts in a row) and panics with a message saying
//!   so; the last test checks that it terminates.

mod common;

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::hash::{BuildHasher, Hash, Hasher};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::Duration;

use common::{panic_message, watchdog, within, within_for, MixState};
use evacmap::{Computed, HashMap, Op, ResizeMode};

const MIRI: bool = cfg!(miri);

/// Keeps the expected re-entry panics out of the output. (Printing them with
/// a backtrace takes seconds under TSan, while the panicking thread is still
/// pinned: that holds back reclamation for every other test of the binary.)
fn quiet_expected_panics() {
    common::quiet_panics(|msg| msg.contains("must not call back into the map"));
}

const SHARDS: usize = 4;

/// The first key from `from` on that is (`same`) or is not in key 1's shard,
/// found through the public API (`common::same_shard`): no copy of the
/// map's shard formula. (`RKey(k)` hashes as `k` does.)
fn near_key_1(from: u64, same: bool) -> u64 {
    let one = MixState.hash_one(1u64);
    (from..)
        .find(|k| common::same_shard(SHARDS, MixState.hash_one(k), one) == same)
        .unwrap()
}

type Map = HashMap<u64, u64, MixState>;

/// The key the closures work on, another key of its shard, a key of another
/// shard.
fn keys() -> (u64, u64, u64) {
    let k0 = 1u64;
    let same = near_key_1(2, true);
    let other = near_key_1(2, false);
    (k0, same, other)
}

const FILLER: u64 = if MIRI { 6 } else { 60 };

fn new_map(mode: ResizeMode) -> Arc<Map> {
    let map: Map = HashMap::builder()
        .shards(SHARDS)
        .hasher(MixState)
        .resize_mode(mode)
        .build()
        .unwrap();
    let (k0, same, other) = keys();
    map.insert(k0, 1);
    map.insert(same, 2);
    map.insert(other, 3);
    for k in 1000..1000 + FILLER {
        map.insert(k, k);
    }
    Arc::new(map)
}

/// Quiescent consistency: iteration yields each key once, `get` agrees with
/// it, `len` counts it.
fn check(map: &Map) {
    let mut seen = HashSet::new();
    for r in map.iter() {
        assert!(seen.insert(*r.key()), "key {} yielded twice", r.key());
        assert_eq!(map.get(r.key()).map(|v| *v), Some(*r.value()));
    }
    assert_eq!(map.len(), seen.len());
}

const ALL_MODES: [ResizeMode; 2] = [ResizeMode::Incremental { step: 1 }, ResizeMode::Blocking];
/// Under Miri one mode is enough (each scenario is interpreted, slowly).
const MODES: &[ResizeMode] = if MIRI { &[ALL_MODES[0]] } else { &ALL_MODES };

// ---------------------------------------------------------------------------
// Calling the map from inside every closure.

#[derive(Clone, Copy, Debug, PartialEq)]
enum Act {
    Get,
    Insert,
    Remove,
    Iter,
    Clear,
    Update,
    Compute,
    RemoveIf,
    GetOrInsert,
    Retain,
    Reserve,
    ShrinkToFit,
    Reclaim,
    Pin,
}

const ACTS: [Act; 14] = [
    Act::Get,
    Act::Insert,
    Act::Remove,
    Act::Iter,
    Act::Clear,
    Act::Update,
    Act::Compute,
    Act::RemoveIf,
    Act::GetOrInsert,
    Act::Retain,
    Act::Reserve,
    Act::ShrinkToFit,
    Act::Reclaim,
    Act::Pin,
];

/// The value every inner write stores.
const INNER: u64 = 100;

/// Does `act` on `key` (whole-map acts ignore the key).
fn act(map: &Map, act: Act, key: u64) {
    match act {
        Act::Get => drop(map.get(&key)),
        Act::Insert => drop(map.insert(key, INNER)),
        Act::Remove => drop(map.remove(&key)),
        Act::Iter => {
            let n = map.iter().count();
            assert!(n <= map.len() + 1 + FILLER as usize);
        }
        Act::Clear => map.clear(),
        Act::Update => drop(map.update(&key, |_| INNER)),
        Act::Compute => drop(map.compute(key, |_| Op::Insert(INNER))),
        Act::RemoveIf => drop(map.remove_if(&key, |_, _| true)),
        Act::GetOrInsert => drop(map.get_or_insert_with(key, || INNER)),
        Act::Retain => map.retain(|k, _| *k != key),
        Act::Reserve => map.reserve(1000),
        Act::ShrinkToFit => map.shrink_to_fit(),
        Act::Reclaim => drop(map.reclaim()),
        Act::Pin => {
            let p = map.pin();
            let old = p.insert(key, INNER).copied();
            assert_eq!(p.get(&key), Some(&INNER));
            let _ = (old, p.iter().count());
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Outer {
    Update,
    Compute,
    RemoveIf,
    GetOrInsertWith,
    Retain,
}

/// What the outer operation returned: the value it left for `k0`, if it
/// reports one.
fn run_outer(map: &Map, outer: Outer, a: Act, target: u64) -> Option<u64> {
    let (k0, _, _) = keys();
    let fired = Cell::new(false);
    let fire = || {
        if !fired.replace(true) {
            act(map, a, target);
        }
    };
    match outer {
        Outer::Update => map
            .update(&k0, |v| {
                fire();
                v + 1
            })
            .map(|r| *r),
        Outer::Compute => match map.compute(k0, |v| {
            fire();
            Op::Insert(v.map_or(1000, |v| v + 1))
        }) {
            Computed::Inserted(r) | Computed::Replaced { new: r, .. } => Some(*r),
            other => panic!("compute: {other:?}"),
        },
        Outer::RemoveIf => map
            .remove_if(&k0, |_, _| {
                fire();
                true
            })
            .expect("removal was asked for")
            .map(|r| *r),
        Outer::GetOrInsertWith => {
            map.remove(&k0);
            Some(*map.get_or_insert_with(k0, || {
                fire();
                7
            }))
        }
        Outer::Retain => {
            map.retain(|k, _| {
                if *k == k0 {
                    fire();
                    false
                } else {
                    true
                }
            });
            None
        }
    }
}

fn closures_may_call_the_map(outer: Outer) {
    let (k0, same, other) = keys();
    for &mode in MODES {
        for a in ACTS {
            for target in [k0, same, other] {
                let name = format!("{outer:?} calling {a:?} on {target} ({mode:?})");
                let map = new_map(mode);
                let m = Arc::clone(&map);
                let result = within(&name, move || run_outer(&m, outer, a, target));
                check(&map);
                let now = map.get(&k0).map(|r| *r);
                if target != k0 {
                    // Another key: the outer operation is unaffected (unless
                    // the inner act was whole-map and removed k0).
                    let k0_gone = matches!(a, Act::Clear);
                    if !k0_gone {
                        let expect = match outer {
                            Outer::Update | Outer::Compute => Some(2),
                            Outer::RemoveIf => None,
                            Outer::GetOrInsertWith => Some(7),
                            Outer::Retain => None,
                        };
                        assert_eq!(now, expect, "{name}: k0 afterwards");
                    }
                    continue;
                }
                // The same key: the inner write wins first, and the outer
                // closure is re-run on what it wrote (optimistic retry).
                // (k0 is present here, so an inner get_or_insert_with does
                // not write; an inner update does.)
                let wrote = matches!(a, Act::Insert | Act::Update | Act::Compute | Act::Pin);
                let removed = matches!(a, Act::Remove | Act::RemoveIf | Act::Retain | Act::Clear);
                match outer {
                    Outer::Update => {
                        let expect = if wrote {
                            Some(INNER + 1)
                        } else if removed {
                            None
                        } else {
                            Some(2)
                        };
                        assert_eq!((result, now), (expect, expect), "{name}");
                    }
                    Outer::Compute => {
                        let expect = if wrote {
                            INNER + 1
                        } else if removed {
                            1000
                        } else {
                            2
                        };
                        assert_eq!((result, now), (Some(expect), Some(expect)), "{name}");
                    }
                    Outer::RemoveIf => {
                        if removed {
                            // Gone before remove_if could remove it.
                            assert_eq!(result, None, "{name}");
                        } else {
                            let expect = if wrote { INNER } else { 1 };
                            assert_eq!(result, Some(expect), "{name}");
                        }
                        assert_eq!(now, None, "{name}");
                    }
                    Outer::GetOrInsertWith => {
                        // The inner write inserted k0 while `make` ran: the
                        // loser (make's 7) is dropped, everyone gets INNER.
                        let expect = if matches!(
                            a,
                            Act::Insert | Act::GetOrInsert | Act::Compute | Act::Pin
                        ) {
                            INNER
                        } else {
                            7
                        };
                        assert_eq!((result, now), (Some(expect), Some(expect)), "{name}");
                    }
                    Outer::Retain => {
                        // retain judged the old entry; a replacement made
                        // after that judgement is not removed.
                        let expect =
                            if matches!(a, Act::Insert | Act::Update | Act::Compute | Act::Pin) {
                                Some(INNER)
                            } else {
                                None
                            };
                        assert_eq!(now, expect, "{name}");
                    }
                }
            }
        }
    }
}

#[test]
fn update_closure_may_call_the_map() {
    closures_may_call_the_map(Outer::Update);
}

#[test]
fn compute_closure_may_call_the_map() {
    closures_may_call_the_map(Outer::Compute);
}

#[test]
fn remove_if_closure_may_call_the_map() {
    closures_may_call_the_map(Outer::RemoveIf);
}

#[test]
fn get_or_insert_with_closure_may_call_the_map() {
    closures_may_call_the_map(Outer::GetOrInsertWith);
}

#[test]
fn retain_closure_may_call_the_map() {
    closures_may_call_the_map(Outer::Retain);
}

#[test]
fn closures_nest_deeply() {
    // update → compute → remove_if → get_or_insert_with → retain → insert,
    // all on keys of one shard, each level also writing its own key once.
    let map = new_map(MODES[0]);
    let m = Arc::clone(&map);
    within("nested closures", move || {
        let (k0, same, _) = keys();
        let depth = Cell::new(0);
        m.update(&k0, |v| {
            if depth.replace(1) == 0 {
                m.compute(same, |_| {
                    let _ = m.remove_if(&k0, |_, _| {
                        drop(m.get_or_insert_with(5000, || {
                            m.retain(|k, _| {
                                if *k == 1 {
                                    m.insert(5001, 1);
                                }
                                true
                            });
                            9
                        }));
                        false
                    });
                    Op::Insert(8)
                });
            }
            v + 1
        });
    });
    check(&map);
    assert_eq!(map.get(&1).map(|r| *r), Some(2));
    assert_eq!(map.get(&5000).map(|r| *r), Some(9));
    assert_eq!(map.get(&5001).map(|r| *r), Some(1));
}

// ---------------------------------------------------------------------------
// Holding references while calling the map.

#[derive(Clone, Copy, Debug)]
enum Hold {
    Ref,
    KeyRef,
    RefFromInsert,
    IterMidway,
    Pinned,
    PinnedIterMidway,
    Everything,
}

const HOLDS: [Hold; 7] = [
    Hold::Ref,
    Hold::KeyRef,
    Hold::RefFromInsert,
    Hold::IterMidway,
    Hold::Pinned,
    Hold::PinnedIterMidway,
    Hold::Everything,
];

fn holding_then(map: &Map, hold: Hold, ops: &[(Act, u64)]) {
    let (k0, _, _) = keys();
    let run = |ops: &[(Act, u64)]| {
        for &(a, k) in ops {
            act(map, a, k);
        }
    };
    match hold {
        Hold::Ref => {
            let r = map.get(&k0).unwrap();
            run(ops);
            assert_eq!(*r, 1, "a held Ref still reads its value");
        }
        Hold::KeyRef => {
            let kr = map.keys().find(|k| **k == k0).unwrap();
            run(ops);
            assert_eq!((*kr, *kr.value()), (k0, 1));
        }
        Hold::RefFromInsert => {
            let old = map.insert(k0, 11).unwrap();
            run(ops);
            assert_eq!(*old, 1);
        }
        Hold::IterMidway => {
            let mut it = map.iter();
            let first = it.next().unwrap();
            let before = *first.key();
            run(ops);
            assert_eq!(*first.key(), before);
            // The rest of the iteration completes and repeats nothing.
            let mut seen = HashSet::from([before]);
            for r in it {
                assert!(seen.insert(*r.key()), "iteration repeated {}", r.key());
            }
        }
        Hold::Pinned => {
            let p = map.pin();
            let v = p.get(&k0).unwrap();
            run(ops);
            // The handle's own writes and reads work too.
            p.insert(k0 + 5000, 1);
            assert!(p.get(&(k0 + 5000)).is_some());
            assert_eq!(*v, 1);
        }
        Hold::PinnedIterMidway => {
            let p = map.pin();
            let mut it = p.iter();
            let (k, v) = it.next().unwrap();
            let (k_before, v_before) = (*k, *v);
            run(ops);
            assert_eq!((*k, *v), (k_before, v_before));
            let mut seen = HashSet::from([k_before]);
            for (k, _) in it {
                assert!(seen.insert(*k));
            }
        }
        Hold::Everything => {
            let r = map.get(&k0).unwrap();
            let kr = map.keys().next().unwrap();
            let mut it = map.iter();
            let _first = it.next();
            let p = map.pin();
            let v = p.get(&k0).unwrap();
            run(ops);
            assert_eq!((*r, *v), (1, 1));
            let _ = *kr;
            assert!(it.count() <= map.len() + FILLER as usize + 3);
        }
    }
}

#[test]
fn holding_references_never_deadlocks() {
    let (k0, same, other) = keys();
    let scenarios: Vec<(&str, Vec<(Act, u64)>)> = vec![
        ("insert same key", vec![(Act::Insert, k0)]),
        ("insert same shard", vec![(Act::Insert, same)]),
        ("insert other shard", vec![(Act::Insert, other)]),
        ("remove same key", vec![(Act::Remove, k0)]),
        ("remove other shard", vec![(Act::Remove, other)]),
        ("clear", vec![(Act::Clear, 0)]),
        ("iterate", vec![(Act::Iter, 0)]),
        ("reserve", vec![(Act::Reserve, 0)]),
        ("shrink_to_fit", vec![(Act::ShrinkToFit, 0)]),
        ("reclaim", vec![(Act::Reclaim, 0)]),
        ("update", vec![(Act::Update, k0)]),
        ("compute", vec![(Act::Compute, same)]),
        ("remove_if", vec![(Act::RemoveIf, k0)]),
        ("get_or_insert_with", vec![(Act::GetOrInsert, 9999)]),
        ("retain", vec![(Act::Retain, k0)]),
        ("pin", vec![(Act::Pin, k0)]),
        (
            "grow, shrink and clear everything",
            vec![
                (Act::Reserve, 0),
                (Act::Insert, k0),
                (Act::Remove, same),
                (Act::ShrinkToFit, 0),
                (Act::Clear, 0),
                (Act::Reclaim, 0),
                (Act::Insert, other),
                (Act::Iter, 0),
            ],
        ),
    ];
    for &mode in MODES {
        for hold in HOLDS {
            for (what, ops) in &scenarios {
                let name = format!("holding {hold:?} while {what} ({mode:?})");
                let map = new_map(mode);
                let (m, ops) = (Arc::clone(&map), ops.clone());
                within(&name, move || holding_then(&m, hold, &ops));
                check(&map);
            }
        }
    }
}

#[test]
fn holding_references_while_many_writes_resize_the_map() {
    // Grows and shrinks several times (migrations in flight) while this
    // thread holds a Ref, a pinned handle and an iterator.
    let n = if MIRI { 40 } else { 5000 };
    for &mode in MODES {
        let map = new_map(mode);
        let m = Arc::clone(&map);
        within("resizing while holding", move || {
            let r = m.get(&1).unwrap();
            let p = m.pin();
            let pv = p.get(&1).unwrap();
            let mut it = m.iter();
            let _ = it.next();
            for k in 10_000..10_000 + n {
                m.insert(k, k);
            }
            for k in 10_000..10_000 + n {
                m.remove(&k);
            }
            m.reclaim();
            assert_eq!((*r, *pv), (1, 1));
            let _ = it.count();
        });
        check(&map);
        assert!(map.stats().grows > 0);
    }
}

// ---------------------------------------------------------------------------
// Keys whose Hash or Eq, and values whose Drop, call back into the map.

/// What `RKey`'s `Hash`/`Eq` do besides hashing/comparing.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Callback {
    None,
    /// get, contains_key and a full iteration of the map.
    Read,
    /// insert a key of the same shard as key 1.
    WriteSameShard,
    /// insert a key of another shard than key 1.
    WriteOtherShard,
    /// whole-map operations that lock every shard.
    Clear,
    Reserve,
    ShrinkToFit,
    Reclaim,
}

type RMap = HashMap<RKey, u64, MixState>;

thread_local! {
    static CALLBACK_MAP: RefCell<Option<Arc<RMap>>> = const { RefCell::new(None) };
    static IN_HASH: Cell<Callback> = const { Cell::new(Callback::None) };
    static IN_EQ: Cell<Callback> = const { Cell::new(Callback::None) };
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    static CALLBACKS: Cell<u32> = const { Cell::new(0) };
}

/// A key that calls back into the map (the thread's `CALLBACK_MAP`) from its
/// `Hash` or `Eq`, once per outermost call.
#[derive(Clone)]
struct RKey(u64);

fn callback(what: Callback) {
    if what == Callback::None || DEPTH.with(|d| d.get()) > 0 {
        return;
    }
    let Some(map) = CALLBACK_MAP.with(|m| m.borrow().clone()) else {
        return;
    };
    // Reset by a guard: a callback that panics must not leave DEPTH set.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            DEPTH.with(|d| d.set(0));
        }
    }
    DEPTH.with(|d| d.set(1));
    let _reset = Reset;
    CALLBACKS.with(|c| c.set(c.get() + 1));
    match what {
        Callback::None => {}
        Callback::Read => {
            let _ = map.get(&RKey(1));
            let _ = map.contains_key(&RKey(2));
            let _ = map.iter().count();
        }
        Callback::WriteSameShard => {
            map.insert(RKey(callback_keys().0), 1);
        }
        Callback::WriteOtherShard => {
            map.insert(RKey(callback_keys().1), 1);
        }
        Callback::Clear => map.clear(),
        Callback::Reserve => map.reserve(10_000),
        Callback::ShrinkToFit => map.shrink_to_fit(),
        Callback::Reclaim => drop(map.reclaim()),
    }
    DEPTH.with(|d| d.set(0));
}

impl Hash for RKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        callback(IN_HASH.with(|c| c.get()));
        h.write_u64(self.0);
    }
}
impl PartialEq for RKey {
    fn eq(&self, other: &Self) -> bool {
        callback(IN_EQ.with(|c| c.get()));
        self.0 == other.0
    }
}
impl Eq for RKey {}

/// Runs `f` on a fresh thread whose keys call back into `map` as told.
fn with_callbacks(
    what: &str,
    limit: Duration,
    map: &Arc<RMap>,
    in_hash: Callback,
    in_eq: Callback,
    f: impl FnOnce(&RMap) + Send + 'static,
) -> u32 {
    let m = Arc::clone(map);
    within_for(what, limit, move || {
        CALLBACK_MAP.with(|c| *c.borrow_mut() = Some(Arc::clone(&m)));
        IN_HASH.with(|c| c.set(in_hash));
        IN_EQ.with(|c| c.set(in_eq));
        f(&m);
        IN_HASH.with(|c| c.set(Callback::None));
        IN_EQ.with(|c| c.set(Callback::None));
        CALLBACK_MAP.with(|c| c.borrow_mut().take());
        CALLBACKS.with(|c| c.get())
    })
}

/// A key of key 1's shard and one of another shard, for the callbacks;
/// computed before any callback runs (`rmap`), since finding them uses a
/// probe map.
fn callback_keys() -> (u64, u64) {
    static KEYS: OnceLock<(u64, u64)> = OnceLock::new();
    *KEYS.get_or_init(|| (near_key_1(1000, true), near_key_1(1000, false)))
}

fn rmap() -> Arc<RMap> {
    callback_keys();
    let map: RMap = HashMap::builder()
        .shards(SHARDS)
        .hasher(MixState)
        .build()
        .unwrap();
    map.insert(RKey(1), 1);
    map.insert(RKey(2), 2);
    Arc::new(map)
}

/// Calls that run `Eq` under the shard lock (on a present key) and on the
/// lock-free read path.
fn eq_heavy_ops(map: &RMap) {
    map.insert(RKey(1), 10); // swap → locate → Eq, under the lock
    map.remove(&RKey(2)); // the same
    let _ = map.get(&RKey(1)); // Eq on the read path
    map.update(&RKey(1), |v| v + 1);
    map.compute(RKey(1), |v| Op::Insert(v.copied().unwrap_or(0) + 1));
    map.retain(|_, _| true);
}

#[test]
fn hash_may_call_back_into_the_map() {
    // Hash runs before any lock is taken: reading or writing any shard works.
    for cb in [
        Callback::Read,
        Callback::WriteSameShard,
        Callback::WriteOtherShard,
    ] {
        let map = rmap();
        let n = with_callbacks(
            &format!("Hash doing {cb:?}"),
            watchdog(),
            &map,
            cb,
            Callback::None,
            eq_heavy_ops,
        );
        assert!(n > 0, "the callback ran");
        assert_eq!(map.get(&RKey(1)).map(|r| *r), Some(12));
    }
}

#[test]
fn eq_may_read_the_map_under_the_lock() {
    // Eq runs under the shard lock for writes; reads take no lock (and a
    // reader helping a migration only try_locks), so reading works.
    let map = rmap();
    let n = with_callbacks(
        "Eq reading",
        watchdog(),
        &map,
        Callback::None,
        Callback::Read,
        eq_heavy_ops,
    );
    assert!(n > 0);
    assert_eq!(map.get(&RKey(1)).map(|r| *r), Some(12));
}

/// The one known hazard: `Eq` is the only user code that runs under a shard
/// lock (`Shard::swap` calls `Bucket::locate_by` with the lock held), and the
/// lock is a `parking_lot::Mutex`, which is not reentrant. An `Eq` that
/// writes to its own shard of the same map — or calls `clear`, `reserve`,
/// `shrink_to_fit` or `reclaim`, which lock every shard — would wait for a
/// lock its own thread holds; one that writes to another shard would deadlock
/// with a thread doing the same in the other direction (see
/// `eq_reentry.rs`). `raw/lock.rs` refuses any shard lock taken while the
/// thread holds one and panics with a message naming the mistake. This test
/// fails if any of these re-entries deadlocks (watchdog), is allowed, panics
/// without naming the mistake, or leaves the map unusable or inconsistent.
#[test]
fn eq_that_takes_a_second_shard_lock_panics_instead_of_deadlocking() {
    quiet_expected_panics();
    for cb in [
        Callback::WriteSameShard,
        Callback::WriteOtherShard,
        Callback::Clear,
        Callback::Reserve,
        Callback::ShrinkToFit,
        Callback::Reclaim,
    ] {
        let map = rmap();
        with_callbacks(
            &format!("Eq doing {cb:?} under the lock"),
            watchdog(),
            &map,
            Callback::None,
            cb,
            |m| {
                // insert of a present key: Eq runs under the shard lock.
                let r = catch_unwind(AssertUnwindSafe(|| {
                    m.insert(RKey(1), 10);
                }));
                let p = r.expect_err("re-entering the shard lock must panic");
                let msg = panic_message(&*p);
                assert!(
                    msg.contains("must not call back into the map"),
                    "the panic names the mistake: {msg:?}"
                );
            },
        );
        // The insert did not happen; the lock was released by unwinding.
        let m = Arc::clone(&map);
        within("the map after the panic", move || {
            assert_eq!(m.get(&RKey(1)).map(|r| *r), Some(1), "{cb:?}");
            m.insert(RKey(1), 5);
            m.insert(RKey(3), 3);
            assert_eq!(m.get(&RKey(1)).map(|r| *r), Some(5));
            let n = m.iter().count();
            assert_eq!(n, m.len());
        });
    }
}

/// Values whose `Drop` writes to the map. Values are dropped by deferred
/// destructors (when a thread pins or flushes, never under a shard lock), by
/// the conflict paths of the optimistic operations (after unlocking), by
/// `clear` (deferred) and by the map's own drop.
static DROP_MAP: OnceLock<HashMap<u64, DropVal, MixState>> = OnceLock::new();
static DROP_KEYS: AtomicU64 = AtomicU64::new(1 << 32);
static REENTERED: AtomicUsize = AtomicUsize::new(0);

struct DropVal {
    reenter: bool,
}

impl Drop for DropVal {
    fn drop(&mut self) {
        if self.reenter {
            if let Some(map) = DROP_MAP.get() {
                let k = DROP_KEYS.fetch_add(1, SeqCst);
                map.insert(k, DropVal { reenter: false });
                map.remove(&k);
                REENTERED.fetch_add(1, SeqCst);
            }
        }
    }
}

#[test]
fn value_drop_may_call_back_into_the_map() {
    let map = DROP_MAP.get_or_init(|| {
        HashMap::builder()
            .shards(2)
            .hasher(MixState)
            .resize_mode(ResizeMode::Incremental { step: 1 })
            .build()
            .unwrap()
    });
    let n = if MIRI { 20 } else { 2000 };
    within("values whose Drop writes the map", move || {
        for i in 0..n {
            let k = i % 50;
            map.insert(k, DropVal { reenter: true }); // replaces: retires the old one
            if i % 7 == 0 {
                map.remove(&k);
            }
            if i % 11 == 0 {
                map.compute(k, |_| Op::Insert(DropVal { reenter: true }));
            }
            if i % 13 == 0 {
                map.update(&k, |_| DropVal { reenter: true });
            }
            if i % 97 == 0 {
                map.clear();
            }
            if i % 31 == 0 {
                map.reclaim();
            }
        }
        map.clear();
        // Collect until some destructor ran (another test's thread that
        // stays pinned, e.g. one printing a panic under a sanitizer, holds
        // the epoch back for a while).
        let deadline = std::time::Instant::now() + watchdog() / 2;
        while REENTERED.load(SeqCst) == 0 || map.reclaim().pending_objects > 0 {
            if std::time::Instant::now() > deadline {
                break;
            }
            thread::sleep(Duration::from_millis(1));
        }
    });
    assert!(
        REENTERED.load(SeqCst) > 0,
        "some Drop ran and called the map"
    );
}

// ---------------------------------------------------------------------------
// Closures that write their own key on every call.

/// An optimistic operation whose closure writes the key being operated on
/// *every time it runs* can never commit: each run invalidates the entry the
/// run saw, so the conditional swap conflicts and the closure runs again,
/// forever (and, as the caller stays pinned, every retry's garbage piles up).
/// Writing the key once (the scenarios above) is fine. Once a design gap;
/// fixed in `b1756d0`: `compute.rs` (`SelfWrites`) counts the conflicts the
/// closure caused itself and, after 16 in a row, panics with a message
/// saying the closure's result can never be committed. This test fails if
/// the update still spins (watchdog).
#[test]
fn closure_writing_its_own_key_every_time_terminates() {
    let map = new_map(MODES[0]);
    let give_up = Arc::new(AtomicBool::new(false));
    let runs = Arc::new(AtomicUsize::new(0));
    let (m, g, r) = (Arc::clone(&map), Arc::clone(&give_up), Arc::clone(&runs));
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        within_for(
            "update writing its own key each run",
            // Short, so a livelock fails fast; sanitizer runs (which set
            // EVACMAP_WATCHDOG_SECS) need longer just to print the panic.
            if std::env::var_os("EVACMAP_WATCHDOG_SECS").is_some() {
                watchdog()
            } else {
                Duration::from_secs(2)
            },
            move || {
                let _ = catch_unwind(AssertUnwindSafe(|| {
                    m.update(&1, |v| {
                        r.fetch_add(1, SeqCst);
                        if !g.load(SeqCst) {
                            m.insert(1, INNER);
                        }
                        v + 1
                    })
                }));
            },
        )
    }));
    // Let the spinning thread finish (it commits once it stops writing).
    give_up.store(true, SeqCst);
    if let Err(p) = outcome {
        thread::sleep(Duration::from_millis(100));
        eprintln!("closure ran {} times", runs.load(SeqCst));
        resume_unwind(p);
    }
}
