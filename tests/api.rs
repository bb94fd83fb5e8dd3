//! Ordinary API behaviour: construction, builder errors (contract item 8),
//! the standard traits, references, pinned handles, borrowed lookups,
//! zero-sized types, capacity floors and the statistics' invariants.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::SeededState;
use evacmap::{
    BuildError, Computed, HashMap, MapStats, Op, ResizeMode, TryReserveError, MAX_SHARDS,
};

// ---------------------------------------------------------------------------
// Construction
// ---------------------------------------------------------------------------

#[test]
fn constructors() {
    let m: HashMap<u64, u64> = HashMap::new();
    assert!(m.is_empty());
    assert_eq!(m.len(), 0);
    assert_eq!(m.shards(), evacmap::default_shards());
    assert!(evacmap::default_shards().is_power_of_two());
    assert!(evacmap::default_shards() <= MAX_SHARDS);
    // Lazy tables: an empty map owns no table.
    let s = m.stats();
    assert_eq!(
        (s.tables, s.buckets, s.overflow_buckets, s.table_bytes),
        (0, 0, 0, 0)
    );
    assert_eq!(s.held_bytes(), s.shard_bytes);

    let m: HashMap<u64, u64> = HashMap::with_capacity(1000);
    assert!(m.capacity() >= 1000);
    assert_eq!(m.stats().tables, 0, "presizing allocates lazily too");

    let m: HashMap<u64, u64> = HashMap::default();
    assert!(m.is_empty());

    let m: HashMap<u64, u64, SeededState> = HashMap::with_hasher(SeededState(3));
    assert_eq!(*m.hasher(), SeededState(3));
    m.insert(1, 1);
    assert_eq!(*m.get(&1).unwrap(), 1);

    let m: HashMap<u64, u64, SeededState> = HashMap::with_capacity_and_hasher(77, SeededState(4));
    assert!(m.capacity() >= 77);
    assert_eq!(*m.hasher(), SeededState(4));

    let m: HashMap<u64, String> = HashMap::builder()
        .capacity(10_000)
        .shards(16)
        .resize_mode(ResizeMode::Blocking)
        .auto_shrink(false)
        .build()
        .unwrap();
    assert_eq!(m.shards(), 16);
    assert!(m.capacity() >= 10_000);
    assert_eq!(m.stats().shards, 16);

    assert_eq!(ResizeMode::default(), ResizeMode::Incremental { step: 16 });
    // The largest shard count is accepted (too slow to build under Miri).
    if !cfg!(miri) {
        let m: HashMap<u8, u8> = HashMap::builder().shards(MAX_SHARDS).build().unwrap();
        assert_eq!(m.shards(), MAX_SHARDS);
    }
    let m: HashMap<u8, u8> = HashMap::builder().shards(1).build().unwrap();
    m.insert(1, 2);
    assert_eq!(m.shards(), 1);
}

#[test]
fn builder_errors() {
    fn err(b: evacmap::Builder<u64, u64>) -> BuildError {
        b.build()
            .expect_err("an impossible configuration must be an error")
    }
    let b = || HashMap::<u64, u64>::builder();
    assert_eq!(err(b().shards(0)), BuildError::ZeroShards);
    assert_eq!(err(b().shards(3)), BuildError::ShardsNotPowerOfTwo(3));
    assert_eq!(err(b().shards(48)), BuildError::ShardsNotPowerOfTwo(48));
    assert_eq!(
        err(b().shards(MAX_SHARDS * 2)),
        BuildError::TooManyShards(MAX_SHARDS * 2)
    );
    assert!(matches!(
        err(b().shards(usize::MAX)),
        BuildError::ShardsNotPowerOfTwo(_)
    ));
    assert_eq!(
        err(b().resize_mode(ResizeMode::Incremental { step: 0 })),
        BuildError::ZeroStep
    );
    assert_eq!(err(b().capacity(usize::MAX)), BuildError::CapacityOverflow);
    assert_eq!(
        err(b().capacity(usize::MAX).shards(1)),
        BuildError::CapacityOverflow
    );
    assert_eq!(
        err(b().capacity(usize::MAX / 2)),
        BuildError::CapacityOverflow
    );
    // More than the largest table can hold, though it would not overflow a
    // usize: an error, not an attempt to allocate.
    assert_eq!(
        err(b().shards(1).capacity(1 << 50)),
        BuildError::CapacityOverflow
    );
    // Every error explains itself and is a std error.
    for e in [
        BuildError::ZeroShards,
        BuildError::ShardsNotPowerOfTwo(3),
        BuildError::TooManyShards(1 << 20),
        BuildError::ZeroStep,
        BuildError::CapacityOverflow,
    ] {
        let text = e.to_string();
        assert!(text.len() > 10, "{e:?}: {text}");
        let _: &dyn std::error::Error = &e;
    }
    assert!(BuildError::ShardsNotPowerOfTwo(3).to_string().contains('3'));
}

#[test]
#[should_panic(expected = "capacity")]
fn with_capacity_overflow_panics_with_a_message() {
    let _m: HashMap<u64, u64> = HashMap::with_capacity(usize::MAX);
}

#[test]
fn try_reserve_overflow_is_an_error_and_the_map_stays_usable() {
    let m: HashMap<u64, u64> = HashMap::new();
    m.insert(1, 1);
    assert_eq!(
        m.try_reserve(usize::MAX),
        Err(TryReserveError::CapacityOverflow)
    );
    assert_eq!(
        m.try_reserve(usize::MAX - 1),
        Err(TryReserveError::CapacityOverflow)
    );
    let cap = m.capacity();
    m.try_reserve(100).unwrap();
    assert!(m.capacity() >= 101 && m.capacity() >= cap);
    m.insert(2, 2);
    assert_eq!(m.len(), 2);
    let r = std::panic::catch_unwind(|| m.reserve(usize::MAX));
    assert!(r.is_err(), "reserve(usize::MAX) must panic");
    assert_eq!(*m.get(&2).unwrap(), 2);
}

// ---------------------------------------------------------------------------
// Standard traits
// ---------------------------------------------------------------------------

#[test]
fn debug_output() {
    let m: HashMap<u32, &str> = HashMap::new();
    assert_eq!(format!("{m:?}"), "{}");
    m.insert(7, "seven");
    assert_eq!(format!("{m:?}"), r#"{7: "seven"}"#);
    m.insert(8, "eight");
    let text = format!("{m:?}");
    assert!(
        text.contains(r#"7: "seven""#) && text.contains(r#"8: "eight""#),
        "{text}"
    );
    let r = m.get(&7).unwrap();
    let text = format!("{r:?}");
    assert!(text.contains("7") && text.contains("seven"), "{text}");
    let k = m.keys().next().unwrap();
    assert!(["7", "8"].contains(&format!("{k:?}").as_str()));
    assert!(format!("{:?}", m.pin()).contains("len"));
    assert!(format!("{:?}", m.iter()).contains("Iter"));
    assert!(m.stats().to_string().contains("len 2"));
    assert!(!format!("{:?}", m.stats()).is_empty());
    assert!(!format!("{:?}", m.reclaim()).is_empty());
}

fn clone_is_deep(mode: ResizeMode) {
    const N: u64 = common::scaled(500, 40) as u64;
    let a: HashMap<u64, String> =
        common::Config::tiny(2, mode).build(evacmap::DefaultHashBuilder::default());
    for i in 0..N {
        a.insert(i, i.to_string());
    }
    // Cloned in the middle of a migration, too.
    let b = a.clone();
    assert_eq!(b.len(), N as usize);
    assert_eq!(b.shards(), a.shards());
    for i in 0..N {
        assert_eq!(*b.get(&i).unwrap(), i.to_string());
    }
    // Mutating the clone leaves the original alone, and back.
    b.insert(0, "changed".into());
    b.remove(&1);
    b.insert(1000, "new".into());
    b.update(&2, |s| s.clone() + "!");
    assert_eq!(*a.get(&0).unwrap(), "0");
    assert_eq!(*a.get(&1).unwrap(), "1");
    assert_eq!(*a.get(&2).unwrap(), "2");
    assert!(a.get(&1000).is_none());
    a.clear();
    assert_eq!(b.len(), N as usize);
    assert_eq!(*b.get(&2).unwrap(), "2!");
    // The clone keeps the original's capacity floor.
    let c: HashMap<u64, u64> = HashMap::with_capacity(common::scaled(5000, 100));
    assert!(c.clone().capacity() >= common::scaled(5000, 100));
}

#[test]
fn from_iterator_extend_into_iterator() {
    // Duplicates: the last one wins, as in std.
    let m: HashMap<u32, u32> = vec![(1, 10), (2, 20), (1, 11)].into_iter().collect();
    assert_eq!(m.len(), 2);
    assert_eq!(*m.get(&1).unwrap(), 11);
    let n = common::scaled(10_000, 200);
    let big: HashMap<u32, u32> = (0..n as u32).map(|i| (i, i * 2)).collect();
    assert_eq!(big.len(), n);
    assert!(big.capacity() >= n);
    // Presized from size_hint: it never had to resize on the way.
    let s = big.stats();
    assert_eq!(s.grows + s.shrinks, 0, "from_iter did not presize: {s}");

    let mut m = m;
    m.extend(vec![(3, 30), (2, 21)]);
    let pairs = [(4u32, 40u32), (5, 50)];
    m.extend(pairs.iter().map(|(k, v)| (k, v)));
    assert_eq!(m.len(), 5);
    assert_eq!(*m.get(&2).unwrap(), 21);

    let mut seen: Vec<(u32, u32)> = (&m).into_iter().map(|r| (*r.key(), *r)).collect();
    seen.sort_unstable();
    assert_eq!(seen, vec![(1, 11), (2, 21), (3, 30), (4, 40), (5, 50)]);
    let mut total = 0;
    for r in &m {
        total += *r;
    }
    assert_eq!(total, 11 + 21 + 30 + 40 + 50);
}

// ---------------------------------------------------------------------------
// References
// ---------------------------------------------------------------------------

fn refs_keep_old_values_readable(mode: ResizeMode) {
    let m: HashMap<u64, String> = HashMap::builder().resize_mode(mode).build().unwrap();
    m.insert(1, "one".into());
    let got = m.get(&1).unwrap();
    let replaced = m.insert(1, "uno".into()).unwrap();
    let removed = m.remove(&1).unwrap();
    m.clear();
    m.reclaim();
    // Everything returned still reads what it read.
    assert_eq!(*got, "one");
    assert_eq!(*replaced, "one");
    assert_eq!(*removed, "uno");
    assert_eq!(removed.key(), &1);
    assert_eq!(removed.pair(), (&1, &"uno".to_string()));
    assert!(removed == "uno".to_string());
    let copy = removed.clone();
    drop(removed);
    assert_eq!(*copy, "uno");
    assert!(m.get(&1).is_none());
    // KeyRef.
    m.insert(5, "five".into());
    let k = m.keys().next().unwrap();
    assert_eq!(*k, 5);
    assert_eq!(k.value(), "five");
    let back = k.into_ref();
    assert_eq!(*back, "five");
    let values: Vec<String> = m.values().map(|v| v.value().clone()).collect();
    assert_eq!(values, vec!["five".to_string()]);
    // A held Ref does not block writers of the same key (no lock).
    let held = m.get(&5).unwrap();
    m.insert(5, "cinq".into());
    m.remove(&5);
    m.shrink_to_fit();
    assert_eq!(*held, "five");
}

fn pinned_handle(mode: ResizeMode) {
    let m: HashMap<u64, u64, SeededState> = common::Config::tiny(1, mode).build(SeededState(9));
    let mut p = m.pin();
    assert!(p.is_empty());
    assert_eq!(p.insert(1, 10), None);
    assert_eq!(p.insert(1, 11), Some(&10));
    assert_eq!(p.get(&1), Some(&11));
    assert_eq!(p.get_key_value(&1), Some((&1, &11)));
    assert!(p.contains_key(&1));
    assert_eq!(p.len(), 1);
    assert!(std::ptr::eq(p.map(), &m));
    let removed = p.remove(&1);
    assert_eq!(removed, Some(&11));
    assert_eq!(p.remove(&1), None);
    // Retired while pinned: cannot be freed while the handle stays pinned.
    for _ in 0..100 {
        assert!(
            m.reclaim().pending_objects > 0,
            "freed under a pinned handle"
        );
    }
    // A loop that repins now and then lets reclamation proceed (each repin
    // lets the global epoch move on by one; others in this test binary may be
    // pinned for a moment, hence the retries).
    let freed = common::flush_until(Duration::from_secs(20), || {
        p.repin();
        m.reclaim().pending_objects == 0
    });
    assert!(freed, "repin did not let reclamation proceed");
    for i in 0..100 {
        p.insert(i, i);
    }
    let keys: HashSet<u64> = p.keys().copied().collect();
    assert_eq!(keys, (0..100).collect());
    assert_eq!(p.values().sum::<u64>(), (0..100).sum());
    assert_eq!(p.iter().count(), 100);
}

// ---------------------------------------------------------------------------
// Lookups, operations
// ---------------------------------------------------------------------------

#[test]
fn borrowed_lookups() {
    let m: HashMap<String, u32> = HashMap::new();
    m.insert("alpha".to_string(), 1);
    m.insert("beta".to_string(), 2);
    assert_eq!(*m.get("alpha").unwrap(), 1);
    assert!(m.contains_key("beta"));
    assert_eq!(m.get_cloned("beta"), Some(2));
    assert!(m.get("gamma").is_none());
    assert_eq!(*m.update("alpha", |v| v + 10).unwrap(), 11);
    assert_eq!(*m.remove_if("beta", |_, v| *v == 3).unwrap_err(), 2);
    assert_eq!(
        *m.remove_if("beta", |k, v| k == "beta" && *v == 2)
            .unwrap()
            .unwrap(),
        2
    );
    assert!(matches!(m.remove_if("beta", |_, _| true), Ok(None)));
    assert_eq!(m.pin().get("alpha"), Some(&11));
    assert_eq!(*m.remove("alpha").unwrap(), 11);
    assert!(m.is_empty());

    let m: HashMap<Vec<u8>, u8> = HashMap::new();
    m.insert(vec![1, 2, 3], 6);
    assert_eq!(*m.get(&[1u8, 2, 3][..]).unwrap(), 6);
}

#[test]
fn read_modify_write_results() {
    let m: HashMap<&str, u32> = HashMap::new();
    assert!(matches!(
        m.compute("a", |_| Op::Keep),
        Computed::Unchanged(None)
    ));
    assert!(matches!(
        m.compute("a", |_| Op::Remove),
        Computed::Unchanged(None)
    ));
    assert!(
        matches!(m.compute("a", |v| { assert!(v.is_none()); Op::Insert(1) }), Computed::Inserted(r) if *r == 1)
    );
    assert!(matches!(m.compute("a", |_| Op::Keep), Computed::Unchanged(Some(r)) if *r == 1));
    match m.compute("a", |v| Op::Insert(v.unwrap() + 1)) {
        Computed::Replaced { old, new } => assert_eq!((*old, *new), (1, 2)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(m.compute("a", |_| Op::Remove), Computed::Removed(r) if *r == 2));
    assert!(m.update("a", |_| unreachable!()).is_none());
    assert_eq!(*m.get_or_insert_with("b", || 5), 5);
    assert_eq!(*m.get_or_insert_with("b", || unreachable!()), 5);
    assert_eq!(*m.get_or_insert("b", 6), 5);
    assert_eq!(*m.get_or_insert("c", 7), 7);
    m.retain(|k, _| *k != "b");
    assert_eq!(m.len(), 1);
    assert!(m.contains_key("c"));
    assert_eq!(Op::Insert(1), Op::Insert(1));
    assert_ne!(Op::<u8>::Keep, Op::Remove);
}

fn zero_sized_keys_and_values(mode: ResizeMode) {
    let m: HashMap<(), ()> = HashMap::new();
    assert!(m.insert((), ()).is_none());
    assert!(m.insert((), ()).is_some());
    assert_eq!(m.len(), 1);
    assert!(m.get(&()).is_some());
    assert_eq!(m.iter().count(), 1);
    assert!(m.remove(&()).is_some());
    assert!(m.is_empty());
    m.reclaim();

    let m: HashMap<u64, (), SeededState> = common::Config::tiny(2, mode).build(SeededState(1));
    let n = common::scaled(20_000, 200) as u64;
    for i in 0..n {
        m.insert(i, ());
    }
    assert_eq!(m.len(), n as usize);
    assert_eq!(m.keys().count(), n as usize);
    for i in 0..n {
        assert!(m.remove(&i).is_some());
    }
    assert!(m.is_empty());

    let m: HashMap<(), String> = HashMap::new();
    m.insert((), "x".into());
    assert_eq!(*m.update(&(), |s| s.clone() + "y").unwrap(), "xy");
}

// ---------------------------------------------------------------------------
// Capacity
// ---------------------------------------------------------------------------

#[test]
fn capacity_never_below_the_requested_one() {
    let n = common::scaled(20_000, 300);
    for mode in common::MODES {
        let m: HashMap<usize, usize> = HashMap::builder()
            .capacity(1000)
            .shards(4)
            .resize_mode(mode)
            .build()
            .unwrap();
        let requested = m.capacity();
        assert!(requested >= 1000);
        for round in 0..3 {
            for i in 0..n {
                m.insert(i, i);
            }
            assert!(
                m.capacity() >= n,
                "capacity {} with {n} entries",
                m.capacity()
            );
            for i in 0..n {
                m.remove(&i);
                assert!(
                    m.capacity() >= 1000,
                    "round {round}: capacity {} after removals",
                    m.capacity()
                );
            }
            m.reclaim();
            assert!(
                m.capacity() >= requested,
                "shrank below with_capacity: {}",
                m.stats()
            );
            // It did shrink back from the peak, though.
            assert!(m.capacity() <= 4 * requested, "{}", m.stats());
        }
        m.clear();
        assert!(m.capacity() >= requested);
    }
    // reserve raises the floor; shrink_to_fit forgets it (documented).
    let m: HashMap<u32, u32> = HashMap::builder().shards(2).build().unwrap();
    m.reserve(4000);
    assert!(m.capacity() >= 4000);
    for i in 0..100 {
        m.insert(i, i);
    }
    for i in 0..100 {
        m.remove(&i);
    }
    m.reclaim();
    assert!(m.capacity() >= 4000, "auto-shrink went below a reservation");
    m.shrink_to_fit();
    m.reclaim();
    assert!(
        m.capacity() < 4000,
        "shrink_to_fit kept a reservation: {}",
        m.stats()
    );
}

/// Regression test. A shard whose migration was finished outside a write (by
/// `shrink_to_fit` here; `reclaim()` and helping readers finished migrations
/// the same way) was not re-checked against its grow threshold, and
/// `shrink_to_fit` clamped its target to the current size, so it could leave
/// a table holding more entries than its capacity, with no migration pending.
///
/// Repro (1 shard, incremental step 1, no auto-shrink): `reserve(15)` (an
/// 8-bucket floor), insert 1 key (the table is allocated at 8 buckets),
/// `shrink_to_fit()` (starts a shrink to 1 bucket, capacity 4), insert 4 more
/// keys (the shrink is still in progress, so no grow is triggered), then
/// `shrink_to_fit()`: it completed the shrink and left 5 entries in a table
/// of capacity 4.
#[test]
fn shrink_to_fit_leaves_room_for_contents() {
    let m: HashMap<u16, u32, SeededState> = HashMap::builder()
        .shards(1)
        .resize_mode(ResizeMode::Incremental { step: 1 })
        .auto_shrink(false)
        .hasher(SeededState(0))
        .build()
        .unwrap();
    m.reserve(15);
    m.insert(0, 0);
    m.shrink_to_fit();
    for k in 0..5 {
        m.insert(k, k.into());
    }
    m.shrink_to_fit();
    let s = m.stats();
    assert_eq!(s.migrations_in_progress, 0);
    assert!(
        s.capacity >= s.len,
        "shrink_to_fit left {} entries in capacity {}: {s}",
        s.len,
        s.capacity
    );
}

// ---------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------

fn check_stats(s: &MapStats, len: usize) {
    assert_eq!(s.len, len);
    assert!(s.tables <= 2 * s.shards);
    assert!(s.buckets >= s.tables);
    assert_eq!(
        s.held_bytes(),
        s.table_bytes + s.entry_bytes + s.shard_bytes
    );
    assert_eq!(
        s.total_bytes(),
        s.held_bytes() + s.retired_bytes + s.pooled_bytes
    );
    if len > 0 {
        assert!(
            s.entry_bytes >= len * 16,
            "entries hold at least hash and key: {s}"
        );
        assert!(
            s.table_bytes >= 64 * s.buckets,
            "a bucket is a cache line: {s}"
        );
    }
    assert!(s.migrations_in_progress <= s.shards);
    if s.migrations_in_progress == 0 {
        assert_eq!(s.migration_buckets_remaining, 0);
        assert!(s.tables <= s.shards);
        assert!(s.capacity >= 4 * s.buckets, "{s}");
    }
}

fn stats_invariants(mode: ResizeMode) {
    let m: HashMap<u64, u64, SeededState> = common::Config::tiny(4, mode).build(SeededState(2));
    check_stats(&m.stats(), 0);
    let n = common::scaled(10_000, 200) as u64;
    let mut saw_migration = false;
    for i in 0..n {
        m.insert(i, i);
        if i % 97 == 0 {
            let s = m.stats();
            check_stats(&s, i as usize + 1);
            saw_migration |= s.migrations_in_progress > 0 && s.migration_buckets_remaining > 0;
        }
    }
    assert!(
        saw_migration || mode == ResizeMode::Blocking,
        "never observed a migration in progress"
    );
    let s = m.stats();
    assert!(s.grows > 0 && s.shrinks == 0);
    assert_eq!(s.len, m.len());
    let r = m.reclaim();
    let s = m.stats();
    check_stats(&s, n as usize);
    assert_eq!(s.migrations_in_progress, 0);
    assert_eq!(r.pending_bytes, s.retired_bytes);
    assert_eq!(r.pending_objects, s.retired_objects);
    // Bytes track counts: entries scale with len, tables with buckets.
    let per_entry = s.entry_bytes / s.len;
    assert_eq!(s.entry_bytes, per_entry * s.len);
    assert!(per_entry >= 24, "hash + u64 key + u64 value: {per_entry}");
    for i in 0..n {
        m.remove(&i);
    }
    m.reclaim();
    let s = m.stats();
    check_stats(&s, 0);
    assert!(s.shrinks > 0, "{s}");
    assert_eq!(s.entry_bytes, 0);
    assert_eq!(s.overflow_buckets, 0);
    m.clear();
    let s = m.stats();
    assert_eq!(
        (s.tables, s.buckets, s.table_bytes),
        (0, 0, 0),
        "clear detaches every table: {s}"
    );
    check_stats(&s, 0);
}

common::each_mode!(
    clone_is_deep,
    refs_keep_old_values_readable,
    pinned_handle,
    zero_sized_keys_and_values,
    stats_invariants,
);
