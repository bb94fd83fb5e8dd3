//! Differential testing against `std::collections::HashMap`.
//!
//! Random sequences of every single-threaded operation run on an evacmap map
//! and on a std model side by side; every result, the length, full iteration
//! (as a set, through every iterator) and the statistics are compared after
//! every step. Key spaces are tiny (64 keys) so operations keep hitting the
//! same keys, and maps start at capacity 0 with 1, 2 or 4 shards, so grows
//! and shrinks (and, in incremental mode with step 1 or 3, half-finished
//! migrations) are constant. Three hashers: a seeded good one, one where
//! every key collides (one long overflow chain), and one with a handful of
//! distinct hashes (equal positions, several chains).

mod common;

use std::collections::{HashMap as StdMap, HashSet};
use std::hash::BuildHasher;

use common::{ConstState, FewHashesState, SeededState};
use evacmap::{Computed, HashMap, Op as MapOp, ResizeMode};
use proptest::prelude::*;

const KEYS: u16 = 64;

#[derive(Clone, Copy, Debug)]
enum ComputeKind {
    Keep,
    Insert,
    Remove,
    /// Absent: insert; even: remove; odd: add.
    Cond,
}

#[derive(Clone, Copy, Debug)]
enum IterKind {
    Iter,
    Keys,
    Values,
    Pinned,
    IntoIter,
}

#[derive(Clone, Debug)]
enum Op {
    Insert(u16, u32),
    InsertRange(u16, u16, u32),
    Remove(u16),
    RemoveRange(u16, u16),
    Get(u16),
    Contains(u16),
    GetCloned(u16),
    Update(u16, u32),
    Compute(u16, ComputeKind, u32),
    GetOrInsertWith(u16, u32),
    GetOrInsert(u16, u32),
    RemoveIf(u16, u32),
    Clear,
    Retain(u32),
    Reserve(u16),
    ShrinkToFit,
    Iterate(IterKind),
    Reclaim,
    /// Several operations under one `Pinned` handle: (key, Some(v): insert,
    /// None: remove) and a get of each key afterwards.
    Pinned(Vec<(u16, Option<u32>)>),
}

fn key() -> impl Strategy<Value = u16> {
    0..KEYS
}

fn range() -> impl Strategy<Value = (u16, u16)> {
    (0..KEYS, 0..=KEYS).prop_map(|(lo, len)| (lo, (lo + len).min(KEYS)))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (key(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
        3 => (range(), any::<u32>()).prop_map(|((lo, hi), v)| Op::InsertRange(lo, hi, v)),
        8 => key().prop_map(Op::Remove),
        3 => range().prop_map(|(lo, hi)| Op::RemoveRange(lo, hi)),
        6 => key().prop_map(Op::Get),
        2 => key().prop_map(Op::Contains),
        2 => key().prop_map(Op::GetCloned),
        4 => (key(), any::<u32>()).prop_map(|(k, x)| Op::Update(k, x)),
        6 => (
            key(),
            prop_oneof![
                Just(ComputeKind::Keep),
                Just(ComputeKind::Insert),
                Just(ComputeKind::Remove),
                Just(ComputeKind::Cond)
            ],
            any::<u32>()
        )
            .prop_map(|(k, c, v)| Op::Compute(k, c, v)),
        4 => (key(), any::<u32>()).prop_map(|(k, v)| Op::GetOrInsertWith(k, v)),
        2 => (key(), any::<u32>()).prop_map(|(k, v)| Op::GetOrInsert(k, v)),
        4 => (key(), 1..4u32).prop_map(|(k, m)| Op::RemoveIf(k, m)),
        1 => Just(Op::Clear),
        2 => (1..5u32).prop_map(Op::Retain),
        1 => (0..200u16).prop_map(Op::Reserve),
        1 => Just(Op::ShrinkToFit),
        2 => prop_oneof![
            Just(IterKind::Iter),
            Just(IterKind::Keys),
            Just(IterKind::Values),
            Just(IterKind::Pinned),
            Just(IterKind::IntoIter)
        ]
        .prop_map(Op::Iterate),
        1 => Just(Op::Reclaim),
        2 => proptest::collection::vec((key(), proptest::option::of(any::<u32>())), 0..12)
            .prop_map(Op::Pinned),
    ]
}

fn config() -> impl Strategy<Value = common::Config> {
    (
        prop_oneof![Just(0usize), 1..8usize, 8..40usize],
        prop_oneof![Just(1usize), Just(2), Just(4)],
        prop_oneof![
            Just(ResizeMode::Incremental { step: 1 }),
            Just(ResizeMode::Incremental { step: 3 }),
            Just(ResizeMode::Blocking)
        ],
        any::<bool>(),
    )
        .prop_map(|(capacity, shards, mode, auto_shrink)| common::Config {
            capacity,
            shards,
            mode,
            auto_shrink,
        })
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), 1..common::scaled(400, 40))
}

fn update_fn(x: u32) -> impl Fn(&u32) -> u32 {
    move |v| v.wrapping_mul(31).wrapping_add(x)
}

fn decide(kind: ComputeKind, v: u32, cur: Option<&u32>) -> MapOp<u32> {
    match (kind, cur) {
        (ComputeKind::Keep, _) => MapOp::Keep,
        (ComputeKind::Insert, _) => MapOp::Insert(v),
        (ComputeKind::Remove, _) => MapOp::Remove,
        (ComputeKind::Cond, None) => MapOp::Insert(v),
        (ComputeKind::Cond, Some(x)) if x % 2 == 0 => MapOp::Remove,
        (ComputeKind::Cond, Some(x)) => MapOp::Insert(x.wrapping_add(v)),
    }
}

/// A comparable summary of a [`Computed`].
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Unchanged(Option<u32>),
    Inserted(u32),
    Replaced(u32, u32),
    Removed(u32),
}

fn retain_keep(m: u32) -> impl Fn(u16, u32) -> bool {
    move |k, v| (u32::from(k).wrapping_add(v)) % (m + 1) != 0
}

/// Runs `ops` on a fresh map and the model; panics (via prop_assert) on the
/// first divergence.
fn run<S: BuildHasher>(
    cfg: common::Config,
    hasher: S,
    ops: &[Op],
) -> Result<evacmap::MapStats, TestCaseError> {
    let map: HashMap<u16, u32, S> = cfg.build(hasher);
    let mut model: StdMap<u16, u32> = StdMap::new();
    // The capacity automatic shrinking must not go below (reset by
    // shrink_to_fit, which "forgets capacities reserved earlier").
    let mut floor = cfg.capacity;
    let mut resizes_seen = 0usize;
    prop_assert!(map.capacity() >= cfg.capacity);
    prop_assert!(map.is_empty());

    for (step, op) in ops.iter().enumerate() {
        match op {
            &Op::Insert(k, v) => {
                let got = map.insert(k, v).map(|r| {
                    assert_eq!(*r.key(), k);
                    *r
                });
                prop_assert_eq!(got, model.insert(k, v), "step {}: {:?}", step, op);
            }
            &Op::InsertRange(lo, hi, v) => {
                for k in lo..hi {
                    let v = v.wrapping_add(u32::from(k));
                    let got = map.insert(k, v).map(|r| *r);
                    prop_assert_eq!(got, model.insert(k, v), "step {}: {:?} key {}", step, op, k);
                }
            }
            &Op::Remove(k) => {
                let got = map.remove(&k).map(|r| {
                    assert_eq!(*r.key(), k);
                    *r
                });
                prop_assert_eq!(got, model.remove(&k), "step {}: {:?}", step, op);
            }
            &Op::RemoveRange(lo, hi) => {
                for k in lo..hi {
                    let got = map.remove(&k).map(|r| *r);
                    prop_assert_eq!(got, model.remove(&k), "step {}: {:?} key {}", step, op, k);
                }
            }
            &Op::Get(k) => {
                let got = map.get(&k).map(|r| {
                    assert_eq!(r.pair(), (&k, r.value()));
                    *r
                });
                prop_assert_eq!(got, model.get(&k).copied(), "step {}: {:?}", step, op);
            }
            &Op::Contains(k) => {
                prop_assert_eq!(
                    map.contains_key(&k),
                    model.contains_key(&k),
                    "step {}",
                    step
                );
            }
            &Op::GetCloned(k) => {
                prop_assert_eq!(map.get_cloned(&k), model.get(&k).copied(), "step {}", step);
            }
            &Op::Update(k, x) => {
                let f = update_fn(x);
                let mut calls = 0;
                let got = map
                    .update(&k, |v| {
                        calls += 1;
                        f(v)
                    })
                    .map(|r| *r);
                let expected = model.get_mut(&k).map(|v| {
                    *v = f(v);
                    *v
                });
                prop_assert_eq!(got, expected, "step {}: {:?}", step, op);
                prop_assert_eq!(
                    calls,
                    usize::from(expected.is_some()),
                    "update closure calls"
                );
            }
            &Op::Compute(k, kind, v) => {
                let mut calls = 0;
                let got = match map.compute(k, |cur| {
                    calls += 1;
                    decide(kind, v, cur)
                }) {
                    Computed::Unchanged(r) => Outcome::Unchanged(r.map(|r| *r)),
                    Computed::Inserted(r) => Outcome::Inserted(*r),
                    Computed::Replaced { old, new } => {
                        assert_eq!((*old.key(), *new.key()), (k, k));
                        Outcome::Replaced(*old, *new)
                    }
                    Computed::Removed(r) => Outcome::Removed(*r),
                };
                let pre = model.get(&k).copied();
                let expected = match (decide(kind, v, pre.as_ref()), pre) {
                    (MapOp::Keep, pre) => Outcome::Unchanged(pre),
                    (MapOp::Remove, None) => Outcome::Unchanged(None),
                    (MapOp::Remove, Some(old)) => {
                        model.remove(&k);
                        Outcome::Removed(old)
                    }
                    (MapOp::Insert(new), None) => {
                        model.insert(k, new);
                        Outcome::Inserted(new)
                    }
                    (MapOp::Insert(new), Some(old)) => {
                        model.insert(k, new);
                        Outcome::Replaced(old, new)
                    }
                };
                prop_assert_eq!(got, expected, "step {}: {:?}", step, op);
                prop_assert_eq!(calls, 1, "compute closure runs once without contention");
            }
            &Op::GetOrInsertWith(k, v) => {
                let mut calls = 0;
                let got = *map.get_or_insert_with(k, || {
                    calls += 1;
                    v
                });
                let was_absent = !model.contains_key(&k);
                let expected = *model.entry(k).or_insert(v);
                prop_assert_eq!(got, expected, "step {}: {:?}", step, op);
                prop_assert_eq!(calls, usize::from(was_absent), "make runs iff absent");
            }
            &Op::GetOrInsert(k, v) => {
                let got = *map.get_or_insert(k, v);
                prop_assert_eq!(got, *model.entry(k).or_insert(v), "step {}: {:?}", step, op);
            }
            &Op::RemoveIf(k, m) => {
                let got = map
                    .remove_if(&k, |kk, v| {
                        assert_eq!(*kk, k);
                        v % m == 0
                    })
                    .map(|r| r.map(|r| *r))
                    .map_err(|kept| *kept);
                let expected = match model.get(&k) {
                    Some(v) if v % m == 0 => Ok(model.remove(&k)),
                    Some(&v) => Err(v),
                    None => Ok(None),
                };
                prop_assert_eq!(got, expected, "step {}: {:?}", step, op);
            }
            Op::Clear => {
                map.clear();
                model.clear();
                prop_assert!(map.is_empty());
                prop_assert!(map.capacity() >= floor, "clear keeps the floor");
            }
            &Op::Retain(m) => {
                let keep = retain_keep(m);
                let mut visited = Vec::new();
                map.retain(|k, v| {
                    visited.push(*k);
                    keep(*k, *v)
                });
                let before: HashSet<u16> = model.keys().copied().collect();
                model.retain(|k, v| keep(*k, *v));
                let visited_set: HashSet<u16> = visited.iter().copied().collect();
                prop_assert_eq!(
                    visited.len(),
                    visited_set.len(),
                    "retain visited a key twice"
                );
                prop_assert_eq!(visited_set, before, "retain visits every key once");
            }
            &Op::Reserve(n) => {
                map.reserve(usize::from(n));
                floor = floor.max(model.len() + usize::from(n));
            }
            Op::ShrinkToFit => {
                map.shrink_to_fit();
                floor = 0;
                let s = map.stats();
                prop_assert_eq!(s.migrations_in_progress <= s.shards, true);
                // Sized to the contents: about twice the entries per shard,
                // a one-bucket table at least, and never under the contents
                // (see also api.rs `shrink_to_fit_leaves_room_for_contents`).
                let cap = map.capacity();
                prop_assert!(cap >= model.len(), "capacity {} < len {}", cap, model.len());
                prop_assert!(
                    cap <= 4 * model.len() + 4 * map.shards(),
                    "shrink_to_fit left capacity {} for {} entries",
                    cap,
                    model.len()
                );
            }
            &Op::Iterate(kind) => check_iteration(&map, &model, kind)?,
            Op::Reclaim => {
                let before = map.stats();
                let r = map.reclaim();
                let s = map.stats();
                // Every pending migration is finished; completing one re-checks
                // the thresholds, so a follow-up resize (say, a shrink whose
                // removals continued meanwhile) may be finished too.
                prop_assert!(
                    r.migrations_finished >= before.migrations_in_progress,
                    "reclaim finishes at least the pending migrations"
                );
                prop_assert_eq!(s.migrations_in_progress, 0);
                prop_assert_eq!(s.migration_buckets_remaining, 0);
                prop_assert!(s.tables <= s.shards);
                prop_assert!(
                    s.overflow_buckets <= s.len,
                    "an overflow bucket without an entry: {}",
                    s
                );
                prop_assert_eq!(
                    s.grows + s.shrinks,
                    before.grows + before.shrinks + r.migrations_finished
                );
            }
            Op::Pinned(batch) => {
                let pinned = map.pin();
                for &(k, v) in batch {
                    match v {
                        Some(v) => {
                            let got = pinned.insert(k, v).copied();
                            prop_assert_eq!(got, model.insert(k, v), "pinned insert");
                        }
                        None => {
                            let got = pinned.remove(&k).copied();
                            prop_assert_eq!(got, model.remove(&k), "pinned remove");
                        }
                    }
                    prop_assert_eq!(pinned.get(&k).copied(), model.get(&k).copied());
                    prop_assert_eq!(pinned.contains_key(&k), model.contains_key(&k));
                }
                for &(k, _) in batch {
                    prop_assert_eq!(
                        pinned.get_key_value(&k).map(|(k, v)| (*k, *v)),
                        model.get_key_value(&k).map(|(k, v)| (*k, *v))
                    );
                }
                prop_assert_eq!(pinned.len(), model.len());
            }
        }

        // After every step.
        prop_assert_eq!(map.len(), model.len(), "len after step {}: {:?}", step, op);
        prop_assert_eq!(map.is_empty(), model.is_empty());
        let s = map.stats();
        prop_assert_eq!(s.len, model.len(), "stats().len");
        prop_assert_eq!(s.shards, cfg.shards);
        prop_assert!(s.tables <= 2 * s.shards);
        prop_assert!(s.buckets >= s.tables);
        if s.migration_buckets_remaining > 0 {
            prop_assert!(s.migrations_in_progress > 0);
        }
        prop_assert!(
            s.grows + s.shrinks >= resizes_seen,
            "resize counters went back"
        );
        resizes_seen = s.grows + s.shrinks;
        if cfg.mode == ResizeMode::Blocking {
            prop_assert_eq!(
                s.migrations_in_progress,
                0,
                "blocking mode left a migration: {}",
                s
            );
        }
        prop_assert!(
            map.capacity() >= floor,
            "capacity {} below the floor {} after {:?}",
            map.capacity(),
            floor,
            op
        );
    }

    check_iteration(&map, &model, IterKind::Iter)?;
    map.reclaim();
    let s = map.stats();
    prop_assert_eq!(s.migrations_in_progress, 0);
    prop_assert_eq!(s.migration_buckets_remaining, 0);
    // Nothing else is pinned by this map's garbage: it all gets freed.
    prop_assert_eq!(
        common::reclaim_fully(&map),
        0,
        "retired objects never freed"
    );
    prop_assert_eq!(map.stats().retired_bytes, 0);
    Ok(map.stats())
}

fn check_iteration<S: BuildHasher>(
    map: &HashMap<u16, u32, S>,
    model: &StdMap<u16, u32>,
    kind: IterKind,
) -> Result<(), TestCaseError> {
    let mut expected: Vec<(u16, u32)> = model.iter().map(|(k, v)| (*k, *v)).collect();
    expected.sort_unstable();
    let mut got: Vec<(u16, u32)> = match kind {
        IterKind::Iter => map.iter().map(|r| (*r.key(), *r)).collect(),
        IterKind::IntoIter => IntoIterator::into_iter(map)
            .map(|r| (*r.key(), *r.value()))
            .collect(),
        IterKind::Pinned => {
            let pinned = map.pin();
            let pairs: Vec<_> = pinned.iter().map(|(k, v)| (*k, *v)).collect();
            let keys: Vec<u16> = pinned.keys().copied().collect();
            let values: Vec<u32> = pinned.values().copied().collect();
            prop_assert_eq!(keys, pairs.iter().map(|p| p.0).collect::<Vec<_>>());
            prop_assert_eq!(values, pairs.iter().map(|p| p.1).collect::<Vec<_>>());
            pairs
        }
        IterKind::Keys => map
            .keys()
            .map(|k| {
                let v = *k.value();
                (*k, v)
            })
            .collect(),
        IterKind::Values => {
            // Values alone: compare the multiset of values.
            let mut values: Vec<u32> = map.values().map(|v| *v).collect();
            let mut want: Vec<u32> = model.values().copied().collect();
            values.sort_unstable();
            want.sort_unstable();
            prop_assert_eq!(values, want, "values()");
            return Ok(());
        }
    };
    got.sort_unstable();
    prop_assert_eq!(
        got,
        expected,
        "iteration ({:?}) differs from the model",
        kind
    );
    Ok(())
}

fn proptest_config() -> ProptestConfig {
    let mut c = ProptestConfig::with_cases(common::scaled(1000, 4) as u32);
    if cfg!(miri) {
        c.failure_persistence = None;
    }
    c.max_shrink_iters = 20_000;
    c
}

proptest! {
    #![proptest_config(proptest_config())]

    /// A good (seeded) hasher: keys spread over shards and buckets.
    #[test]
    fn differential_seeded_hasher(cfg in config(), seed in any::<u64>(), ops in ops()) {
        run(cfg, SeededState(seed), &ops)?;
    }

    /// Every key has the same hash: one shard, one bucket chain of up to 64
    /// entries across about a dozen overflow buckets, unlinked as they empty.
    #[test]
    fn differential_constant_hasher(cfg in config(), c in any::<u64>(), ops in ops()) {
        run(cfg, ConstState(c), &ops)?;
    }

    /// A few distinct hashes: many equal positions, several chains.
    #[test]
    fn differential_few_hashes(
        cfg in config(),
        classes in 1..6u64,
        seed in any::<u64>(),
        ops in ops(),
    ) {
        run(cfg, FewHashesState { classes, seed }, &ops)?;
    }
}

/// The crate's default (randomly seeded foldhash) hasher, on a fixed long
/// sequence, under every resize mode: catches anything the seeded hasher
/// would hide.
#[test]
fn differential_default_hasher_long_run() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new(Config::default());
    for mode in [
        ResizeMode::Incremental { step: 1 },
        ResizeMode::Incremental { step: 3 },
        ResizeMode::Blocking,
    ] {
        for shards in [1, 4] {
            let ops = proptest::collection::vec(op(), common::scaled(3000, 60))
                .new_tree(&mut runner)
                .unwrap()
                .current();
            let cfg = common::Config::tiny(shards, mode);
            match run(cfg, evacmap::DefaultHashBuilder::default(), &ops) {
                Err(e) => panic!("{cfg:?}: {e}"),
                // The sequence is long enough to resize both ways: the
                // differential checks above ran across migrations.
                Ok(s) => assert!(s.grows > 0 && s.shrinks > 0, "{cfg:?}: {s}"),
            }
        }
    }
}
