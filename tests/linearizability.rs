//! Per-key linearizability (contract item 1) under real concurrency.
//!
//! T threads run a random mix of every single-key operation (get, insert,
//! remove, update, compute with every `Op`, get_or_insert_with, remove_if,
//! pinned get/insert/remove) and occasionally `clear` and `retain`, on a small
//! shared key space, in phases that fill the map, churn it and drain it. The
//! maps start tiny, with 1 to 4 shards and `Incremental { step: 1 }`, so a
//! migration is in progress most of the time (once with `Blocking`, once with
//! every key colliding into one bucket chain).
//!
//! Every operation is recorded with its input, its result, and a start and end
//! tick taken from one shared `AtomicU64` (SeqCst `fetch_add` before and after
//! the call): `a.end < b.start` means `a` really finished before `b` began.
//! Every value written is unique (thread id and sequence number), so a result
//! names the write it came from, and every operation becomes a known transition
//! of the key's register (absent or one value). A Wing & Gong / Lowe search
//! (depth-first over "which pending operation takes effect next", memoised on
//! (per-thread progress, register value)) then checks, key by key, that some
//! order consistent with real time explains every result. `clear` takes part in
//! every key's history as a removal that happens at some instant inside the
//! call (a shard is cleared atomically, the map is not); `retain` as a removal
//! of a value its predicate rejects, at some instant inside the call, or no
//! change (it is weakly consistent).
//!
//! The checker itself is tested: hand-made histories that are not
//! linearizable must be rejected, subtle linearizable ones accepted.

mod common;

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Barrier;
use std::time::Instant;

use common::linearize::{check_history, remove_if_pred, retain_keep, Rec, Transition, ALL_KEYS};
use common::{ConstState, SeededState};
use evacmap::{Computed, HashMap, Op as MapOp, ResizeMode};
use rand::rngs::StdRng as SmallRng;
use rand::{Rng, SeedableRng};

// ---------------------------------------------------------------------------
// The workload.
// ---------------------------------------------------------------------------

struct Workload {
    threads: usize,
    ops_per_thread: usize,
    keys: u64,
    /// Operations per phase: fill, churn, drain, churn.
    phase: usize,
    /// One in this many operations is a `clear` (0: never).
    clear_every: u32,
    /// One in this many operations is a `retain` (0: never).
    retain_every: u32,
    seed: u64,
}

/// Runs the workload on `map`, recording every operation. Panics (in the
/// worker) if a result is locally impossible, e.g. a `compute` outcome that
/// contradicts the decision its closure took.
fn record<S>(map: &HashMap<u64, u64, S>, w: &Workload) -> Vec<Vec<Rec>>
where
    S: BuildHasher + Sync,
{
    let clock = AtomicU64::new(0);
    let barrier = Barrier::new(w.threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..w.threads)
            .map(|tid| {
                let clock = &clock;
                let barrier = &barrier;
                s.spawn(move || {
                    let mut rng =
                        SmallRng::seed_from_u64(w.seed ^ (tid as u64).wrapping_mul(0x9E37));
                    let mut seq = 0u64;
                    let mut fresh = || {
                        seq += 1;
                        ((tid as u64 + 1) << 40) | seq
                    };
                    let mut out = Vec::with_capacity(w.ops_per_thread);
                    barrier.wait();
                    for i in 0..w.ops_per_thread {
                        let phase = (i / w.phase.max(1)) % 4;
                        let key = rng.gen_range(0..w.keys);
                        let rec = one_op(map, clock, &mut rng, &mut fresh, phase, key, w);
                        out.push(rec);
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn one_op<S: BuildHasher>(
    map: &HashMap<u64, u64, S>,
    clock: &AtomicU64,
    rng: &mut SmallRng,
    fresh: &mut impl FnMut() -> u64,
    phase: usize,
    key: u64,
    w: &Workload,
) -> Rec {
    let tick = || clock.fetch_add(1, SeqCst);
    if w.clear_every > 0 && rng.gen_ratio(1, w.clear_every) {
        let start = tick();
        map.clear();
        let end = tick();
        return Rec {
            start,
            end,
            key: ALL_KEYS,
            tr: Transition::Clear,
            what: "clear",
        };
    }
    if w.retain_every > 0 && rng.gen_ratio(1, w.retain_every) {
        let start = tick();
        map.retain(|_, v| retain_keep(*v));
        let end = tick();
        return Rec {
            start,
            end,
            key: ALL_KEYS,
            tr: Transition::Retain,
            what: "retain",
        };
    }
    // Insertions dominate while filling, removals while draining.
    let (insert_w, remove_w): (u32, u32) = match phase {
        0 => (40, 5),
        2 => (5, 40),
        _ => (20, 20),
    };
    let r = rng.gen_range(0..insert_w + remove_w + 70);
    // While draining, operations that may insert use only a sixteenth of the
    // keys, so the map really empties and shrinks.
    let inserting = r < insert_w || matches!(r.checked_sub(insert_w + remove_w), Some(30..=59));
    let key = if phase == 2 && inserting {
        key % (w.keys / 16).max(1)
    } else {
        key
    };
    let exact = |pre, post| Transition::Exact { pre, post };
    let start;
    let (tr, what) = if r < insert_w {
        let v = fresh();
        if r % 4 == 0 {
            start = tick();
            let prev = map.pin().insert(key, v).copied();
            (exact(prev, Some(v)), "pinned insert")
        } else {
            start = tick();
            let prev = map.insert(key, v).map(|r| *r);
            (exact(prev, Some(v)), "insert")
        }
    } else if r < insert_w + remove_w {
        if r % 4 == 0 {
            start = tick();
            let prev = map.pin().remove(&key).copied();
            (exact(prev, None), "pinned remove")
        } else {
            start = tick();
            let prev = map.remove(&key).map(|r| *r);
            (exact(prev, None), "remove")
        }
    } else {
        match r - insert_w - remove_w {
            0..=14 => {
                start = tick();
                let cur = map.get(&key).map(|r| *r);
                (exact(cur, cur), "get")
            }
            15..=19 => {
                start = tick();
                let cur = map.pin().get(&key).copied();
                (exact(cur, cur), "pinned get")
            }
            20..=29 => {
                let v = fresh();
                let mut saw = None;
                start = tick();
                let got = map.update(&key, |old| {
                    saw = Some(*old);
                    v
                });
                let got = got.map(|r| *r);
                match got {
                    Some(new) => {
                        assert_eq!(new, v, "update returned a value it did not write");
                        (exact(Some(saw.expect("closure ran")), Some(v)), "update")
                    }
                    None => (exact(None, None), "update"),
                }
            }
            30..=49 => {
                let v = fresh();
                let kind = rng.gen_range(0..5u8);
                let decide = |cur: Option<&u64>| match (kind, cur) {
                    (0, _) => MapOp::Keep,
                    (1, _) => MapOp::Insert(v),
                    (2, _) => MapOp::Remove,
                    // Toggle.
                    (3, None) => MapOp::Insert(v),
                    (3, Some(_)) => MapOp::Remove,
                    // Bump if present.
                    (_, None) => MapOp::Keep,
                    (_, Some(_)) => MapOp::Insert(v),
                };
                let mut last_seen: Option<Option<u64>> = None;
                start = tick();
                let result = map.compute(key, |cur| {
                    last_seen = Some(cur.copied());
                    decide(cur)
                });
                let seen = last_seen.expect("compute ran its closure");
                let decision = decide(seen.as_ref());
                let (pre, post) = match result {
                    Computed::Unchanged(cur) => {
                        let cur = cur.map(|r| *r);
                        assert!(
                            decision == MapOp::Keep || (decision == MapOp::Remove && seen.is_none()),
                            "compute left {cur:?} unchanged though its closure said {decision:?} on {seen:?}"
                        );
                        assert_eq!(
                            cur, seen,
                            "Unchanged reports another value than the closure saw"
                        );
                        (cur, cur)
                    }
                    Computed::Inserted(new) => {
                        assert!(
                            seen.is_none() && decision == MapOp::Insert(v),
                            "Inserted on {seen:?}"
                        );
                        assert_eq!(*new, v);
                        (None, Some(v))
                    }
                    Computed::Replaced { old, new } => {
                        assert_eq!(
                            Some(*old),
                            seen,
                            "Replaced another value than the closure saw"
                        );
                        assert_eq!(decision, MapOp::Insert(v));
                        assert_eq!(*new, v);
                        (Some(*old), Some(v))
                    }
                    Computed::Removed(old) => {
                        assert_eq!(
                            Some(*old),
                            seen,
                            "Removed another value than the closure saw"
                        );
                        assert_eq!(decision, MapOp::Remove);
                        (Some(*old), None)
                    }
                };
                (exact(pre, post), "compute")
            }
            50..=59 => {
                let v = fresh();
                let mut made = 0;
                start = tick();
                let got = *map.get_or_insert_with(key, || {
                    made += 1;
                    v
                });
                assert!(made <= 1, "get_or_insert_with ran its closure {made} times");
                if got == v {
                    assert_eq!(made, 1);
                    (exact(None, Some(v)), "get_or_insert_with (inserted)")
                } else {
                    (exact(Some(got), Some(got)), "get_or_insert_with (found)")
                }
            }
            _ => {
                start = tick();
                let removed = map.remove_if(&key, |k, v| {
                    assert_eq!(*k, key);
                    remove_if_pred(*v)
                });
                // The result says which of the three happened, so each is
                // checked as an exact transition.
                match removed.map(|r| r.map(|r| *r)).map_err(|kept| *kept) {
                    Ok(Some(old)) => {
                        assert!(
                            remove_if_pred(old),
                            "remove_if removed a value its predicate keeps"
                        );
                        (exact(Some(old), None), "remove_if (removed)")
                    }
                    Err(kept) => {
                        assert!(
                            !remove_if_pred(kept),
                            "remove_if kept a value its predicate removes"
                        );
                        (exact(Some(kept), Some(kept)), "remove_if (kept)")
                    }
                    Ok(None) => (exact(None, None), "remove_if (absent)"),
                }
            }
        }
    };
    let end = tick();
    Rec {
        start,
        end,
        key,
        tr,
        what,
    }
}

fn run<S: BuildHasher + Sync>(
    name: &str,
    map: HashMap<u64, u64, S>,
    w: Workload,
    expect_resizes: bool,
) {
    let t0 = Instant::now();
    let history = record(&map, &w);
    let recorded = t0.elapsed();
    let s = map.stats();
    let t1 = Instant::now();
    if let Err(report) = check_history(w.keys, &history) {
        panic!("{name} (seed {:#x}): {report}", w.seed);
    }
    println!(
        "{name}: {} threads x {} ops recorded in {recorded:?}, checked in {:?}; {s}",
        w.threads,
        w.ops_per_thread,
        t1.elapsed()
    );
    // (Miri's runs are too short to promise both directions.)
    if expect_resizes && !cfg!(miri) {
        // The history covered resizes in both directions (otherwise this test
        // would prove nothing about evacuation).
        assert!(
            s.grows > 0 && s.shrinks > 0,
            "{name}: no resizes happened: {s}"
        );
    }
}

const OPS: usize = common::scaled(200_000, 150);

fn workload(threads: usize, keys: u64, seed: u64) -> Workload {
    Workload {
        threads,
        ops_per_thread: OPS,
        keys,
        phase: common::scaled(3_000, 40),
        clear_every: common::scaled(20_000, 60) as u32,
        retain_every: common::scaled(5_000, 50) as u32,
        seed,
    }
}

fn tiny(shards: usize, mode: ResizeMode) -> common::Config {
    common::Config::tiny(shards, mode)
}

#[test]
fn linearizable_one_shard_step_1() {
    let map = tiny(1, ResizeMode::Incremental { step: 1 }).build(SeededState(1));
    run(
        "1 shard, step 1, 128 keys",
        map,
        workload(2, 128, 0x11),
        true,
    );
}

#[test]
fn linearizable_four_shards_step_1() {
    let map = tiny(4, ResizeMode::Incremental { step: 1 }).build(SeededState(2));
    run(
        "4 shards, step 1, 64 keys",
        map,
        workload(2, 64, 0x22),
        true,
    );
}

#[test]
fn linearizable_two_shards_blocking() {
    let map = tiny(2, ResizeMode::Blocking).build(SeededState(3));
    run(
        "2 shards, blocking, 96 keys",
        map,
        workload(2, 96, 0x33),
        true,
    );
}

#[test]
fn linearizable_one_bucket_chain() {
    // Every key collides: one shard, one chain of up to 32 entries in
    // overflow buckets that are linked and unlinked all the time, while the
    // (otherwise empty) table still grows and shrinks with the count.
    let map = tiny(2, ResizeMode::Incremental { step: 1 }).build(ConstState::default());
    let mut w = workload(2, 32, 0x44);
    w.ops_per_thread = common::scaled(100_000, 100);
    run("constant hash, step 1, 32 keys", map, w, true);
}

#[test]
fn linearizable_default_hasher_no_shrink() {
    let map = HashMap::builder()
        .shards(2)
        .resize_mode(ResizeMode::Incremental { step: 1 })
        .auto_shrink(false)
        .build()
        .unwrap();
    let mut w = workload(2, 128, 0x55);
    w.ops_per_thread = common::scaled(100_000, 100);
    run("default hasher, no auto-shrink", map, w, false);
}

/// A sharper probe of the evacuation window: reader threads do nothing but
/// `get` keys that are present throughout, while a writer keeps the shard
/// migrating (bursts of other keys, incremental step 1) and bumps the present
/// keys' versions. Linearizability implies every such `get` finds its key
/// and that one reader's versions of a key never go backwards. The full
/// history check above cannot afford billions of reads; this can.
fn hot_reads(shards: usize, mode: ResizeMode, writer_ops: usize) {
    const STABLE: u64 = common::scaled(16, 4) as u64;
    let map: HashMap<u64, u64, SeededState> = tiny(shards, mode).build(SeededState(shards as u64));
    for k in 0..STABLE {
        map.insert(k, 0);
    }
    let done = std::sync::atomic::AtomicBool::new(false);
    let reads = AtomicU64::new(0);
    std::thread::scope(|s| {
        let (map, done, reads) = (&map, &done, &reads);
        let reader = s.spawn(move || {
            let mut seen = vec![0u64; STABLE as usize];
            let mut n = 0u64;
            while !done.load(SeqCst) {
                for k in 0..STABLE {
                    let v = match map.get(&k) {
                        Some(v) => *v,
                        None => {
                            panic!("get({k}) missed a key present throughout (after {n} reads)")
                        }
                    };
                    assert!(
                        v >= seen[k as usize],
                        "key {k}: read version {v} after {}",
                        seen[k as usize]
                    );
                    seen[k as usize] = v;
                    n += 1;
                }
            }
            reads.store(n, SeqCst);
        });
        let mut version = 0;
        let burst = common::scaled(600, 30) as u64;
        for i in 0..writer_ops as u64 {
            let churn = STABLE + (i % (2 * burst));
            if i % (2 * burst) < burst {
                map.insert(churn, 0);
            } else {
                map.remove(&(churn - burst));
            }
            if i % 7 == 0 {
                version += 1;
                map.insert(i % STABLE, version);
            }
        }
        done.store(true, SeqCst);
        reader.join().unwrap();
    });
    let s = map.stats();
    println!(
        "hot reads, {shards} shards, {mode:?}: {} reads; {s}",
        reads.load(SeqCst)
    );
    let expected = if cfg!(miri) { 0 } else { 10 };
    assert!(s.grows > expected && s.shrinks > expected, "{s}");
}

#[test]
fn hot_reads_during_evacuation() {
    hot_reads(
        1,
        ResizeMode::Incremental { step: 1 },
        common::scaled(1_000_000, 300),
    );
    hot_reads(2, ResizeMode::Blocking, common::scaled(300_000, 300));
}

/// Longer and wider: more threads than cores, bigger key space.
#[test]
#[ignore = "soak: about a minute"]
fn linearizable_soak() {
    for (i, threads) in [4usize, 8, 16].into_iter().enumerate() {
        for shards in [1usize, 4] {
            for mode in [ResizeMode::Incremental { step: 1 }, ResizeMode::Blocking] {
                let map = tiny(shards, mode).build(SeededState(i as u64));
                let mut w = workload(threads, 128, 0x5EED + i as u64 * 31 + shards as u64);
                w.ops_per_thread = 1_000_000;
                run(
                    &format!("soak {threads} threads, {shards} shards, {mode:?}"),
                    map,
                    w,
                    true,
                );
            }
        }
    }
    for _ in 0..20 {
        hot_reads(1, ResizeMode::Incremental { step: 1 }, 5_000_000);
    }
}

// ---------------------------------------------------------------------------
// The checker can fail.
// ---------------------------------------------------------------------------

fn rec(start: u64, end: u64, key: u64, tr: Transition) -> Rec {
    Rec {
        start,
        end,
        key,
        tr,
        what: "hand-made",
    }
}

fn ins(start: u64, end: u64, prev: Option<u64>, v: u64) -> Rec {
    rec(
        start,
        end,
        0,
        Transition::Exact {
            pre: prev,
            post: Some(v),
        },
    )
}

fn del(start: u64, end: u64, prev: Option<u64>) -> Rec {
    rec(
        start,
        end,
        0,
        Transition::Exact {
            pre: prev,
            post: None,
        },
    )
}

fn get(start: u64, end: u64, cur: Option<u64>) -> Rec {
    rec(
        start,
        end,
        0,
        Transition::Exact {
            pre: cur,
            post: cur,
        },
    )
}

#[test]
fn checker_rejects_a_read_after_a_completed_remove() {
    // insert 1; remove (returns 1) completes; then a get returns 1.
    let h = vec![
        vec![ins(0, 1, None, 1), del(2, 3, Some(1))],
        vec![get(4, 5, Some(1))],
    ];
    assert!(check_history(1, &h).is_err());
    // The same get overlapping the remove is fine.
    let h = vec![
        vec![ins(0, 1, None, 1), del(2, 5, Some(1))],
        vec![get(3, 4, Some(1))],
    ];
    assert!(check_history(1, &h).is_ok());
}

#[test]
fn checker_rejects_stale_and_invented_reads() {
    // A value nobody wrote.
    let h = vec![vec![ins(0, 1, None, 1)], vec![get(2, 3, Some(7))]];
    assert!(check_history(1, &h).is_err());
    // Reads going back in time: 2 then 1, both after both inserts finished.
    let h = vec![
        vec![ins(0, 1, None, 1), ins(2, 3, Some(1), 2)],
        vec![get(4, 5, Some(2)), get(6, 7, Some(1))],
    ];
    assert!(check_history(1, &h).is_err());
    // Two removes both returning the same value.
    let h = vec![
        vec![ins(0, 1, None, 1), del(2, 5, Some(1))],
        vec![del(3, 6, Some(1))],
    ];
    assert!(check_history(1, &h).is_err());
    // An insert claiming the key was absent while it was present.
    let h = vec![vec![ins(0, 1, None, 1)], vec![ins(2, 3, None, 2)]];
    assert!(check_history(1, &h).is_err());
}

#[test]
fn checker_accepts_reorderings_real_time_allows() {
    // Concurrent inserts seen in the opposite order of their starts; a get
    // overlapping both sees the later-starting one first.
    let h = vec![
        vec![ins(0, 10, Some(2), 1), get(11, 12, Some(1))],
        vec![ins(1, 9, None, 2)],
        vec![get(2, 8, Some(2))],
    ];
    assert!(check_history(1, &h).is_ok(), "{:?}", check_history(1, &h));
    // The other order would need the get to see 1 first.
    let h = vec![
        vec![ins(0, 10, Some(2), 1), get(11, 12, Some(2))],
        vec![ins(1, 9, None, 2)],
    ];
    assert!(check_history(1, &h).is_err());
}

#[test]
fn checker_models_clear_and_retain() {
    let clear = |s, e| rec(s, e, ALL_KEYS, Transition::Clear);
    let retain = |s, e| rec(s, e, ALL_KEYS, Transition::Retain);
    // A value survives a clear that completed before the read: rejected.
    let h = vec![
        vec![ins(0, 1, None, 1), clear(2, 3)],
        vec![get(4, 5, Some(1))],
    ];
    assert!(check_history(1, &h).is_err());
    // An insert racing a clear may survive it.
    let h = vec![
        vec![clear(0, 10)],
        vec![ins(1, 2, None, 1), get(11, 12, Some(1))],
    ];
    assert!(check_history(1, &h).is_ok());
    // ... or not.
    let h = vec![
        vec![clear(0, 10)],
        vec![ins(1, 2, None, 1), get(11, 12, None)],
    ];
    assert!(check_history(1, &h).is_ok());
    // retain removes only what its predicate rejects: 4 is rejected, 5 kept.
    assert!(!retain_keep(4) && retain_keep(5));
    let h = vec![
        vec![ins(0, 1, None, 4), retain(2, 3)],
        vec![get(4, 5, None)],
    ];
    assert!(check_history(1, &h).is_ok());
    let h = vec![
        vec![ins(0, 1, None, 5), retain(2, 3)],
        vec![get(4, 5, None)],
    ];
    assert!(
        check_history(1, &h).is_err(),
        "retain removed a value it keeps"
    );
    // remove_if refusing while the value satisfies its predicate: rejected.
    assert!(remove_if_pred(3));
    let h = vec![vec![
        ins(0, 1, None, 3),
        rec(2, 3, 0, Transition::RemoveIfRefused),
    ]];
    assert!(check_history(1, &h).is_err());
}

#[test]
fn checker_rejects_a_violation_deep_in_a_long_history() {
    // Two threads, 20k alternating overlapping writes and reads: fine; then
    // one stale read at the very end must be caught.
    let n = common::scaled(20_000, 200) as u64;
    let mut a = Vec::new();
    let mut b = Vec::new();
    let mut prev = None;
    for i in 0..n {
        let t = i * 10;
        a.push(ins(t, t + 6, prev, i));
        b.push(get(t + 3, t + 8, if i % 2 == 0 { prev } else { Some(i) }));
        prev = Some(i);
    }
    let h = vec![a.clone(), b.clone()];
    let t0 = Instant::now();
    assert!(check_history(1, &h).is_ok());
    b.push(get(n * 10 + 5, n * 10 + 6, Some(0)));
    let h = vec![a, b];
    let err = check_history(1, &h).unwrap_err();
    assert!(err.contains("not linearizable"), "{err}");
    println!("checker on {} ops: {:?}", 4 * n, t0.elapsed());
}
