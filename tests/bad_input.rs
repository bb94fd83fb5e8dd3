//! Bad input gets a clear answer (contract item 8).
//!
//! - **All hashes collide** (a constant `BuildHasher`): every key lands in one
//!   bucket chain of one shard; the map must stay exactly right (against a
//!   `std::collections::HashMap` model) through inserts, removes, grows,
//!   shrinks, `reserve`, `shrink_to_fit`, `clear` and iteration. A lookup that
//!   trusted the tag byte or the hash without comparing keys, an evacuation
//!   that lost an overflow bucket, or a removal that unlinked the wrong
//!   overflow bucket fails the model comparison.
//! - **`Hash` and `Eq` that disagree** (`Eq` always true, always false, or
//!   random; `Hash` random per call; both random): wrong answers are allowed,
//!   undefined behaviour, panics, crashes and hangs are not. These run under
//!   Miri too (`scripts/miri.sh`), which turns a memory error into a failure;
//!   natively they check that the structure's own accounting stays exact
//!   (iteration never yields more than `len`, `stats().len` agrees, the
//!   retirement accounting drains) and every value is dropped exactly once.
//! - **Impossible configurations** are `BuildError`s, not aborts.
//! - **Zero-sized keys and values** work.
//!
//! Sizes are scaled down under Miri.

mod common;

use std::cell::Cell;
use std::collections::HashMap as StdMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;

use common::{Registry, Token, MODES};
use evacmap::{BuildError, HashMap, Op, ResizeMode, TryReserveError, MAX_SHARDS};
use rand::{Rng, SeedableRng};

const MIRI: bool = cfg!(miri);

// ---------------------------------------------------------------------------
// All hashes collide.

/// Every key hashes to the same value.
#[derive(Clone, Copy, Default)]
struct ConstState(u64);
struct ConstHasher(u64);
impl BuildHasher for ConstState {
    type Hasher = ConstHasher;
    fn build_hasher(&self) -> ConstHasher {
        ConstHasher(self.0)
    }
}
impl Hasher for ConstHasher {
    fn write(&mut self, _: &[u8]) {}
    fn finish(&self) -> u64 {
        self.0
    }
}

fn colliding_vs_model(mode: ResizeMode, shards: usize, hash: u64, seed: u64) {
    let n: u64 = if MIRI { 40 } else { 3000 };
    let ops = if MIRI { 150 } else { 12_000 };
    let map: HashMap<u64, u64, ConstState> = HashMap::builder()
        .shards(shards)
        .hasher(ConstState(hash))
        .resize_mode(mode)
        .build()
        .unwrap();
    let mut model = StdMap::new();
    let check = |map: &HashMap<u64, u64, ConstState>, model: &StdMap<u64, u64>| {
        assert_eq!(map.len(), model.len());
        let mut seen = StdMap::new();
        for r in map.iter() {
            assert!(seen.insert(*r.key(), *r.value()).is_none(), "yielded twice");
        }
        assert_eq!(&seen, model, "iteration differs from the model");
    };
    // Fill: thousands of keys in one chain, several grows.
    for k in 0..n {
        assert!(map.insert(k, k).is_none());
        model.insert(k, k);
    }
    check(&map, &model);
    assert!(map.stats().grows > 0, "the colliding shard grew");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for i in 0..ops {
        let k = rng.gen_range(0..n + n / 4);
        match rng.gen_range(0..100) {
            0..=29 => assert_eq!(map.insert(k, i).map(|r| *r), model.insert(k, i)),
            30..=59 => assert_eq!(map.remove(&k).map(|r| *r), model.remove(&k)),
            60..=74 => assert_eq!(map.get(&k).map(|r| *r), model.get(&k).copied()),
            75..=79 => assert_eq!(
                map.update(&k, |v| v + 1).map(|r| *r),
                model.get_mut(&k).map(|v| {
                    *v += 1;
                    *v
                })
            ),
            80..=84 => {
                map.compute(k, |v| match v {
                    Some(v) if v % 2 == 0 => Op::Remove,
                    Some(v) => Op::Insert(v + 1),
                    None => Op::Insert(7),
                });
                match model.get(&k).copied() {
                    Some(v) if v % 2 == 0 => drop(model.remove(&k)),
                    Some(v) => drop(model.insert(k, v + 1)),
                    None => drop(model.insert(k, 7)),
                }
            }
            85..=88 => {
                let got = *map.get_or_insert_with(k, || i);
                assert_eq!(got, *model.entry(k).or_insert(i));
            }
            89..=91 => assert_eq!(
                map.remove_if(&k, |_, v| v % 3 == 0)
                    .map(|r| r.map(|r| *r))
                    .map_err(|kept| *kept),
                match model.get(&k) {
                    Some(v) if v % 3 == 0 => Ok(model.remove(&k)),
                    Some(&v) => Err(v),
                    None => Ok(None),
                }
            ),
            92 => {
                map.retain(|k, _| k % 5 != 0);
                model.retain(|k, _| k % 5 != 0);
            }
            93 => map.shrink_to_fit(),
            94 => map.reserve(rng.gen_range(0..n as usize)),
            95 => drop(map.reclaim()),
            96 if i % 7 == 0 => {
                map.clear();
                model.clear();
            }
            _ => check(&map, &model),
        }
    }
    check(&map, &model);
    // Remove nearly everything: the shard shrinks, the chain empties.
    for k in 0..n + n / 4 {
        if k % 50 != 0 {
            assert_eq!(map.remove(&k).map(|r| *r), model.remove(&k));
        }
    }
    map.reclaim();
    check(&map, &model);
    let s = map.stats();
    assert!(s.shrinks > 0 || s.grows > 0);
    // No zombie overflow buckets once the chain holds only a few entries:
    // the overflow buckets are what the live entries need (6 per bucket).
    assert!(
        s.overflow_buckets <= model.len().div_ceil(6),
        "{} overflow buckets for {} entries",
        s.overflow_buckets,
        model.len()
    );
}

/// Regression (found by the fuzzer and by `all_hashes_collide_incremental`
/// after commit aca64a5 "Read path: 96 -> 63 instructions"): `tag::matching`
/// became the cheap SWAR test, whose false positives include *empty* slots
/// (tag byte 0) directly above a match when the tag is 1 (`1 ^ 1 == 0`).
/// `Bucket::locate`, the writer's lookup under the lock, dereferences every
/// matching slot's pointer without a null check ("a slot with a tag holds a
/// live entry"), so the second insert of a key with tag 1 (hash low byte 0
/// or 1) into a bucket holding another tag-1 key with an empty slot above it
/// dereferences null: "null pointer dereference occurred" (abort) in debug
/// builds, SIGSEGV or worse in release. Plain `HashMap<u64, u64>` usage hits
/// it (about 1 insert in 4000 of fresh keys). Fix: skip null pointers in
/// `locate` (as `find` does), or give `locate` the exact matcher.
#[test]
fn keys_with_tag_one_in_one_bucket() {
    for hash in [0u64, 1, 0x100, 0xFFFF_FFFF_FFFF_FF01] {
        let map: HashMap<u64, u64, ConstState> = HashMap::builder()
            .shards(1)
            .hasher(ConstState(hash))
            .build()
            .unwrap();
        map.insert(1, 1); // slot 0, tag 1; slot 1 empty
        map.insert(2, 2); // locate(2): matching(tag 1) flags slot 1 too
        map.insert(1, 10);
        assert_eq!(map.remove(&3).map(|r| *r), None);
        assert_eq!(map.get(&1).map(|r| *r), Some(10));
        assert_eq!(map.get(&2).map(|r| *r), Some(2));
        assert_eq!(map.len(), 2);
    }
}

#[test]
fn all_hashes_collide_incremental() {
    colliding_vs_model(MODES[0], 4, 42, 1);
    colliding_vs_model(MODES[1], 1, 0, 2);
}

#[test]
fn all_hashes_collide_blocking() {
    colliding_vs_model(MODES[2], 8, u64::MAX, 3);
}

#[test]
fn all_hashes_collide_concurrently() {
    // Two writers on disjoint key ranges of the one colliding chain, a reader
    // iterating: each writer's keys end up exactly as it left them.
    let n: u64 = if MIRI { 12 } else { 800 };
    let map: Arc<HashMap<u64, u64, ConstState>> = Arc::new(
        HashMap::builder()
            .shards(2)
            .hasher(ConstState(7))
            .resize_mode(MODES[0])
            .build()
            .unwrap(),
    );
    let writers: Vec<_> = (0..2u64)
        .map(|t| {
            let map = Arc::clone(&map);
            thread::spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(t);
                let mut model = StdMap::new();
                for i in 0..n * 4 {
                    let k = t * 1_000_000 + rng.gen_range(0..n);
                    if rng.gen_bool(0.6) {
                        assert_eq!(map.insert(k, i).map(|r| *r), model.insert(k, i));
                    } else {
                        assert_eq!(map.remove(&k).map(|r| *r), model.remove(&k));
                    }
                }
                model
            })
        })
        .collect();
    let reader = {
        let map = Arc::clone(&map);
        thread::spawn(move || {
            for _ in 0..if MIRI { 2 } else { 50 } {
                let _ = map.iter().count();
                let _ = map.get(&3);
            }
        })
    };
    let mut expected = StdMap::new();
    for w in writers {
        expected.extend(w.join().unwrap());
    }
    reader.join().unwrap();
    let got: StdMap<u64, u64> = map.iter().map(|r| (*r.key(), *r.value())).collect();
    assert_eq!(got, expected);
    assert_eq!(map.len(), expected.len());
}

// ---------------------------------------------------------------------------
// Hash and Eq that disagree.

/// Runs deferred destructors until nothing this map retired is pending
/// (other tests of this binary may keep the epoch back for a while).
fn reclaim_all<K, V, S>(map: &HashMap<K, V, S>)
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let r = map.reclaim();
        if r.pending_objects == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never reclaimed: {r:?}"
        );
        thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum EqMode {
    AlwaysTrue,
    AlwaysFalse,
    Random,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum HashMode {
    /// Consistent with the id.
    Id,
    /// A fresh random value on every call.
    Random,
    /// Two values only.
    Coarse,
}

static SALT: AtomicU64 = AtomicU64::new(0x1234_5678);

fn next_random() -> u64 {
    // A shared xorshift-ish sequence: racy by design when threads share it.
    let mut x = SALT.fetch_add(0x9E37_79B9_7F4A_7C15, SeqCst);
    x ^= x >> 33;
    x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    x ^ (x >> 29)
}

thread_local! {
    static MODES_NOW: Cell<(EqMode, HashMode)> = const { Cell::new((EqMode::AlwaysTrue, HashMode::Id)) };
}

/// A key whose `Hash` and `Eq` follow the thread's current modes.
#[derive(Clone, Debug)]
struct Liar(u64);

impl Hash for Liar {
    fn hash<H: Hasher>(&self, h: &mut H) {
        let v = match MODES_NOW.with(|m| m.get().1) {
            HashMode::Id => self.0,
            HashMode::Random => next_random(),
            HashMode::Coarse => self.0 & 1,
        };
        h.write_u64(v);
    }
}
impl PartialEq for Liar {
    fn eq(&self, other: &Self) -> bool {
        match MODES_NOW.with(|m| m.get().0) {
            EqMode::AlwaysTrue => true,
            EqMode::AlwaysFalse => false,
            EqMode::Random => next_random() % 2 == 0 || self.0 == other.0,
        }
    }
}
impl Eq for Liar {}

/// A value whose drops the registry counts.
struct Counted(#[allow(dead_code)] Token);

fn liars(eq: EqMode, hash: HashMode, mode: ResizeMode, shards: usize, threads: u64) {
    let ops = if MIRI { 60 } else { 4000 };
    let reg = Registry::new();
    let map: Arc<HashMap<Liar, Counted, foldhash::fast::FixedState>> = Arc::new(
        HashMap::builder()
            .shards(shards)
            .hasher(foldhash::fast::FixedState::with_seed(5))
            .resize_mode(mode)
            .build()
            .unwrap(),
    );
    let hs: Vec<_> = (0..threads)
        .map(|t| {
            let (map, reg) = (Arc::clone(&map), Arc::clone(&reg));
            thread::spawn(move || {
                MODES_NOW.with(|m| m.set((eq, hash)));
                let mut rng = rand::rngs::StdRng::seed_from_u64(t + 99);
                let new = || Counted(reg.token());
                for _ in 0..ops {
                    let k = Liar(rng.gen_range(0..64));
                    match rng.gen_range(0..14) {
                        0..=3 => drop(map.insert(k, new())),
                        4..=5 => drop(map.remove(&k)),
                        6 => drop(map.get(&k)),
                        7 => drop(map.update(&k, |_| new())),
                        8 => drop(map.compute(k, |v| match v {
                            Some(_) => Op::Remove,
                            None => Op::Insert(new()),
                        })),
                        9 => drop(map.get_or_insert_with(k, new)),
                        10 => drop(map.remove_if(&k, |_, _| true)),
                        11 => map.retain(|k, _| k.0 % 3 != 0),
                        12 => match rng.gen_range(0..4) {
                            0 => map.shrink_to_fit(),
                            1 => map.reserve(100),
                            2 => map.clear(),
                            _ => drop(map.reclaim()),
                        },
                        _ => drop(map.iter().count()),
                    }
                }
            })
        })
        .collect();
    for h in hs {
        h.join()
            .expect("inconsistent Hash/Eq must not make the map panic");
    }
    // Wrong answers are allowed: iteration may even hide entries whose keys
    // the lying `Eq` calls equal (an iterator may deduplicate keys by `Eq`).
    // It can never yield more entries than the map holds, and the map's own
    // bookkeeping (entry count, drops) never consults `Eq` or `Hash`.
    MODES_NOW.with(|m| m.set((eq, hash)));
    let yielded = map.iter().count();
    assert!(yielded <= map.len(), "{yielded} yielded, len {}", map.len());
    assert_eq!(map.stats().len, map.len());
    MODES_NOW.with(|m| m.set((EqMode::AlwaysTrue, HashMode::Id)));
    // Every value is dropped exactly once: the live ones are in the map, the
    // rest were dropped (after reclamation).
    reclaim_all(&*map);
    assert_eq!(reg.live(), map.len(), "live values != entries");
    drop(map);
    reg.wait_all_dropped_once("liars");
}

#[test]
fn eq_always_true() {
    liars(EqMode::AlwaysTrue, HashMode::Id, MODES[0], 4, 1);
    liars(EqMode::AlwaysTrue, HashMode::Coarse, MODES[2], 2, 2);
}

#[test]
fn eq_always_false() {
    // Every insert adds an entry that can never be found again.
    liars(EqMode::AlwaysFalse, HashMode::Id, MODES[0], 4, 1);
    liars(EqMode::AlwaysFalse, HashMode::Coarse, MODES[1], 1, 2);
}

#[test]
fn eq_random() {
    liars(EqMode::Random, HashMode::Id, MODES[1], 4, 2);
    liars(EqMode::Random, HashMode::Coarse, MODES[2], 2, 1);
}

#[test]
fn hash_random_per_call() {
    liars(EqMode::AlwaysTrue, HashMode::Random, MODES[0], 4, 1);
    liars(EqMode::AlwaysFalse, HashMode::Random, MODES[2], 8, 2);
}

#[test]
fn hash_and_eq_both_random() {
    liars(EqMode::Random, HashMode::Random, MODES[0], 2, 2);
}

// ---------------------------------------------------------------------------
// Impossible configurations.

type B = evacmap::Builder<u64, u64>;

fn build(b: B) -> Result<(), BuildError> {
    b.build().map(drop)
}

#[test]
fn builder_errors() {
    let b = || HashMap::<u64, u64>::builder();
    assert_eq!(
        build(b().capacity(usize::MAX)),
        Err(BuildError::CapacityOverflow)
    );
    assert_eq!(
        build(b().shards(1).capacity(usize::MAX / 2)),
        Err(BuildError::CapacityOverflow)
    );
    // 2^43 entries in one shard need 2^41 buckets: more than a table holds.
    assert_eq!(
        build(b().shards(1).capacity(1 << 43)),
        Err(BuildError::CapacityOverflow)
    );
    assert_eq!(build(b().shards(0)), Err(BuildError::ZeroShards));
    assert_eq!(
        build(b().shards(3)),
        Err(BuildError::ShardsNotPowerOfTwo(3))
    );
    assert_eq!(
        build(b().shards(6)),
        Err(BuildError::ShardsNotPowerOfTwo(6))
    );
    assert_eq!(
        build(b().shards(MAX_SHARDS * 2)),
        Err(BuildError::TooManyShards(MAX_SHARDS * 2))
    );
    assert_eq!(
        build(b().shards(usize::MAX)),
        Err(BuildError::ShardsNotPowerOfTwo(usize::MAX))
    );
    assert_eq!(
        build(b().resize_mode(ResizeMode::Incremental { step: 0 })),
        Err(BuildError::ZeroStep)
    );
    // The limits themselves are fine (tables are lazy: nothing is allocated).
    assert!(build(b().shards(1)).is_ok());
    if !MIRI {
        // 65536 shards: slow to interpret.
        assert!(build(b().shards(MAX_SHARDS).capacity(0)).is_ok());
    }
    assert!(build(b().resize_mode(ResizeMode::Incremental { step: usize::MAX })).is_ok());
    // Every error explains itself.
    for e in [
        BuildError::CapacityOverflow,
        BuildError::ZeroShards,
        BuildError::ShardsNotPowerOfTwo(3),
        BuildError::TooManyShards(MAX_SHARDS * 2),
        BuildError::ZeroStep,
    ] {
        let msg = e.to_string();
        assert!(msg.len() > 10, "{e:?}: {msg:?}");
        let _: &dyn std::error::Error = &e;
    }
}

#[test]
fn with_capacity_overflow_panics_with_the_reason() {
    let r = std::panic::catch_unwind(|| HashMap::<u64, u64>::with_capacity(usize::MAX));
    let p = r.expect_err("with_capacity(usize::MAX) must panic");
    let msg = p
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(msg.contains("capacity overflow"), "{msg}");
}

#[test]
fn try_reserve_overflow_is_an_error_and_the_map_stays_usable() {
    for shards in [1, 4, 64] {
        let map: HashMap<u64, u64> = HashMap::builder().shards(shards).build().unwrap();
        map.insert(1, 1);
        assert_eq!(
            map.try_reserve(usize::MAX),
            Err(TryReserveError::CapacityOverflow)
        );
        assert_eq!(
            map.try_reserve(usize::MAX - 5),
            Err(TryReserveError::CapacityOverflow)
        );
        // More buckets per shard than a table may have.
        assert_eq!(
            map.try_reserve((1usize << 43) * shards),
            Err(TryReserveError::CapacityOverflow)
        );
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| map.reserve(usize::MAX)));
        assert!(r.is_err(), "reserve(usize::MAX) panics");
        // Nothing changed, everything works.
        assert_eq!(map.get(&1).map(|r| *r), Some(1));
        map.try_reserve(100).unwrap();
        for k in 0..200 {
            map.insert(k, k);
        }
        assert_eq!(map.len(), 200);
        map.shrink_to_fit();
        assert_eq!(map.len(), 200);
    }
}

/// A capacity every size check accepts but no machine can allocate (2^40
/// entries in one shard: 2^38 buckets of 64 bytes, 16 TiB). The builder
/// accepts it (tables are lazy), so the first insert — or `try_reserve` on an
/// existing map — must allocate 16 TiB. A fallible API should report that as
/// an error; today `Table::alloc` calls `handle_alloc_error`, which aborts
/// the process. The check runs in a child process (this test binary
/// re-executed with a filter) so that an abort does not take the suite down.
#[test]
fn try_reserve_of_an_unallocatable_capacity_is_an_error() {
    if std::env::var_os("EVACMAP_BAD_INPUT_CHILD").is_some() {
        let map: HashMap<u64, u64> = HashMap::builder().shards(1).build().unwrap();
        map.insert(1, 1);
        let r = map.try_reserve(1 << 40);
        assert!(r.is_err(), "16 TiB cannot be allocated here: {r:?}");
        return;
    }
    if MIRI {
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "try_reserve_of_an_unallocatable_capacity_is_an_error",
            "--nocapture",
        ])
        .env("EVACMAP_BAD_INPUT_CHILD", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the child failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------
// Zero-sized keys and values.

#[test]
fn zero_sized_keys_and_values() {
    let unit: HashMap<(), ()> = HashMap::new();
    assert!(unit.insert((), ()).is_none());
    assert!(unit.insert((), ()).is_some());
    assert_eq!(unit.len(), 1);
    assert!(unit.get(&()).is_some());
    assert!(unit.update(&(), |_| ()).is_some());
    unit.compute((), |v| {
        if v.is_some() {
            Op::Remove
        } else {
            Op::Insert(())
        }
    });
    assert!(unit.is_empty());
    unit.get_or_insert_with((), || ());
    assert_eq!(unit.iter().count(), 1);
    assert!(matches!(unit.remove_if(&(), |_, _| true), Ok(Some(_))));
    assert!(unit.remove(&()).is_none());
    unit.insert((), ());
    unit.retain(|_, _| false);
    assert!(unit.is_empty());
    unit.insert((), ());
    unit.clear();
    assert!(unit.is_empty());
    unit.reserve(10);
    unit.shrink_to_fit();
    unit.reclaim();

    // Every u8 key with unit values, through grows and shrinks.
    let bytes: HashMap<u8, ()> = HashMap::builder().shards(2).build().unwrap();
    for round in 0..if MIRI { 1 } else { 3 } {
        for k in 0..=255u8 {
            assert!(bytes.insert(k, ()).is_none(), "round {round}");
        }
        assert_eq!(bytes.len(), 256);
        let mut keys: Vec<u8> = bytes.keys().map(|k| *k).collect();
        keys.sort_unstable();
        assert_eq!(keys, (0..=255).collect::<Vec<_>>());
        for k in (0..=255u8).step_by(2) {
            assert!(bytes.remove(&k).is_some());
        }
        bytes.shrink_to_fit();
        assert_eq!(bytes.len(), 128);
        assert!(bytes.contains_key(&1) && !bytes.contains_key(&2));
        bytes.clear();
    }

    // A zero-sized key with a real value, and the reverse.
    let zk: HashMap<[u8; 0], String> = HashMap::new();
    zk.insert([], "x".into());
    assert_eq!(zk.get(&[]).as_deref().map(String::as_str), Some("x"));
    let zv: HashMap<String, std::marker::PhantomData<u8>> = HashMap::new();
    for i in 0..50 {
        zv.insert(i.to_string(), std::marker::PhantomData);
    }
    assert_eq!(zv.len(), 50);
    assert!(zv.remove("7").is_some());
    assert_eq!(zv.iter().count(), 49);

    // Zero-sized values that count their drops.
    static ZST_DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Z;
    impl Drop for Z {
        fn drop(&mut self) {
            ZST_DROPS.fetch_add(1, SeqCst);
        }
    }
    let z: HashMap<u8, Z> = HashMap::new();
    for k in 0..10 {
        z.insert(k, Z);
    }
    z.insert(0, Z); // replaces one
    for k in 0..5 {
        z.remove(&k);
    }
    reclaim_all(&z);
    // The replaced one and the 5 removed ones were dropped by reclamation.
    assert_eq!(ZST_DROPS.load(SeqCst), 6);
    drop(z);
    // 11 made, each dropped exactly once.
    assert_eq!(ZST_DROPS.load(SeqCst), 11);
}
