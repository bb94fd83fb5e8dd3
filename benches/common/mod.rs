//! Shared by every benchmark binary: the maps under test behind one small
//! trait, deterministic keys, quick/full sizing, and JSON result files.
//!
//! Every map uses the same hasher *type and seed*: foldhash's fast hasher
//! (what `evacmap::DefaultHashBuilder` builds), seeded once per run and
//! handed to the child processes that measure (see [`isolated`]), so within a
//! run all maps hash every key to the same 64-bit value.

#![allow(dead_code)]

use std::collections::HashMap as StdHashMap;
use std::hash::BuildHasher;
use std::path::PathBuf;
use std::sync::{Barrier, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::RwLock;

/// foldhash's fast hasher, the one `evacmap::DefaultHashBuilder` builds, with
/// a seed that a child process can be given.
pub type Hasher = foldhash::fast::FixedState;

/// The run's hash seed: `EVACMAP_BENCH_SEED` if set (a child process gets
/// its parent's), else a random one.
fn seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| match std::env::var(SEED_ENV) {
        Ok(s) => s.parse().expect("EVACMAP_BENCH_SEED is a u64"),
        Err(_) => evacmap::DefaultHashBuilder::default().hash_one(0x5eed_u64),
    })
}

const SEED_ENV: &str = "EVACMAP_BENCH_SEED";

/// The one hasher of this run (cloned into every map).
pub fn hasher() -> Hasher {
    Hasher::with_seed(seed())
}

/// `EVACMAP_BENCH_QUICK=1`: smaller sizes, fewer repetitions (a smoke run).
pub fn quick() -> bool {
    std::env::var("EVACMAP_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Picks the quick or the full value.
pub fn q<T>(quick_value: T, full_value: T) -> T {
    if quick() {
        quick_value
    } else {
        full_value
    }
}

// ---------------------------------------------------------------- keys ----

/// SplitMix64's finaliser: a bijection on u64, so distinct inputs give
/// distinct keys, spread over the whole range.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The `i`-th key of stream `stream`: distinct for distinct (stream, i) while
/// i < 2^40 and stream < 2^24.
#[inline]
pub fn key(stream: u64, i: u64) -> u64 {
    mix64((stream << 40) | i)
}

/// `n` distinct keys of stream `stream`.
pub fn keys(stream: u64, n: usize) -> Vec<u64> {
    (0..n as u64).map(|i| key(stream, i)).collect()
}

/// A tiny, fast, seeded generator for the timed loops (xorshift64*).
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(mix64(seed) | 1)
    }
    #[inline(always)]
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (multiply-shift, no division).
    #[inline(always)]
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next() as u128 * n as u128) >> 64) as usize
    }
}

/// A deterministic shuffle (Fisher-Yates with [`Rng`]).
pub fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut rng = Rng::new(seed);
    for i in (1..v.len()).rev() {
        let j = rng.below(i + 1);
        v.swap(i, j);
    }
}

// ------------------------------------------------------- child processes ----

/// Set in a child process: what it measures (once) before exiting.
const CHILD_ENV: &str = "EVACMAP_BENCH_CHILD";
/// `EVACMAP_BENCH_SAME_PROCESS=1`: run every measurement in the bench's own
/// process, one after the other, instead of one fresh process each.
const SAME_PROCESS_ENV: &str = "EVACMAP_BENCH_SAME_PROCESS";

/// Whether measurements run in one process (`EVACMAP_BENCH_SAME_PROCESS=1`)
/// rather than each in a fresh one.
pub fn same_process() -> bool {
    std::env::var(SAME_PROCESS_ENV).is_ok_and(|v| v == "1")
}

/// In a child process started by [`isolated`]: the request it must measure.
/// A bench's `main` calls this first, measures, prints
/// [`child_reply`]'s line and returns.
pub fn child_request() -> Option<String> {
    std::env::var(CHILD_ENV).ok()
}

/// The line a child prints for its result.
pub fn child_reply(result: &serde_json::Value) {
    println!("ROW {result}");
}

/// Measures `request` with `measure`, in a fresh process (this executable,
/// re-run with the request in its environment) unless [`same_process`].
///
/// Why: with glibc, a map that freed millions of small blocks leaves them in
/// the allocator's fast bins, and the next large allocation in the process
/// runs `malloc_consolidate` over all of them, milliseconds charged to
/// whichever map runs next. A fresh process per measurement gives every map
/// the same, clean heap.
pub fn isolated(
    request: &str,
    measure: impl FnOnce(&str) -> serde_json::Value,
) -> serde_json::Value {
    if same_process() {
        return measure(request);
    }
    let out = std::process::Command::new(std::env::current_exe().expect("own path"))
        .env(CHILD_ENV, request)
        .env(SEED_ENV, seed().to_string())
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("spawn the child measurement");
    assert!(
        out.status.success(),
        "child for {request} failed: {}",
        out.status
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("ROW "))
        .expect("the child prints its row");
    serde_json::from_str(line).expect("the child's row is JSON")
}

// ---------------------------------------------------------------- maps ----

/// A map under test. Each benchmark thread takes a [`Handle`] once and does
/// all its operations through it; for most maps the handle is just `&map`,
/// for the `-pin` variants it holds an epoch guard that [`Handle::refresh`]
/// renews (the harnesses refresh every [`REFRESH`] operations).
pub trait BenchMap: Send + Sync + Sized + 'static {
    const NAME: &'static str;
    type Handle<'a>: Handle
    where
        Self: 'a;
    /// A map presized for `capacity` entries (0: the map's default, empty).
    fn with_capacity(capacity: usize) -> Self;
    fn handle(&self) -> Self::Handle<'_>;
    /// Frees what the map can give back after removals: the peer's
    /// `shrink_to_fit` where it has one, evacmap's `reclaim`. Returns what it did.
    fn shrink(&self) -> &'static str {
        "none"
    }
    /// Finishes deferred work that holds memory (epoch garbage, pending
    /// migrations) without changing capacity: evacmap's `reclaim`.
    fn settle(&self) -> &'static str {
        "none"
    }
    fn clear(&self);
    fn len(&self) -> usize;
    /// Completed resizes, where the map reports them (evacmap's stats).
    fn resizes(&self) -> Option<usize> {
        None
    }
    /// (held, retired-not-yet-freed or pooled) bytes by the map's own
    /// accounting, where it has one (evacmap's `stats()`).
    fn own_bytes(&self) -> Option<(usize, usize)> {
        None
    }
    /// Visits every entry once; returns how many it saw.
    fn iterate(&self) -> usize;
}

/// Operations on u64 -> u64. Results are returned so that nothing can be
/// optimised away (the harnesses sum them into a black box).
pub trait Handle {
    fn get(&self, k: u64) -> Option<u64>;
    /// Insert or replace; true if the key was new.
    fn insert(&self, k: u64, v: u64) -> bool;
    /// True if the key was present.
    fn remove(&self, k: u64) -> bool;
    /// `v += 1` for an existing key; true if present.
    fn update(&self, k: u64) -> bool;
    /// Lets the epoch advance (re-pins); a no-op for per-operation maps.
    #[inline(always)]
    fn refresh(&mut self) {}
}

/// Operations between two [`Handle::refresh`] calls in the harnesses.
pub const REFRESH: usize = 1024;

/// Runs `op(h, i, k)` for the `i`-th of `keys`, refreshing `h` after
/// operations 0, [`REFRESH`], 2 [`REFRESH`], ...: the untimed fills and
/// drains of the harnesses.
pub fn each_key<H: Handle>(
    h: &mut H,
    keys: impl IntoIterator<Item = u64>,
    mut op: impl FnMut(&H, usize, u64),
) {
    for (i, k) in keys.into_iter().enumerate() {
        op(h, i, k);
        if i % REFRESH == 0 {
            h.refresh();
        }
    }
}

/// Inserts `k -> i` for the `i`-th of `keys` (see [`each_key`]).
pub fn insert_indexed<H: Handle>(h: &mut H, keys: impl IntoIterator<Item = u64>) {
    each_key(h, keys, |h, i, k| {
        h.insert(k, i as u64);
    });
}

/// Counts the operations of a timed loop and refreshes the handle after
/// every [`REFRESH`] of them.
pub struct Refresher(usize);

impl Refresher {
    pub fn new() -> Self {
        Refresher(REFRESH)
    }

    /// Call after each operation.
    #[inline(always)]
    pub fn tick<H: Handle>(&mut self, h: &mut H) {
        self.0 -= 1;
        if self.0 == 0 {
            self.0 = REFRESH;
            h.refresh();
        }
    }
}

/// Runs `work(handle, i, barrier)` for `i` in `0..threads`, each on its own
/// scoped thread with its own handle of `map`; the threads share `barrier`
/// (for `threads`), to start their timed parts together. Returns the
/// results in order.
pub fn on_threads<M: BenchMap, R: Send>(
    map: &M,
    threads: usize,
    work: impl Fn(&mut M::Handle<'_>, usize, &Barrier) -> R + Sync,
) -> Vec<R> {
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (map, barrier, work) = (map, &barrier, &work);
                s.spawn(move || work(&mut map.handle(), i, barrier))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

// ---- std (single-threaded floor) ----

/// `std::collections::HashMap` with no lock: the floor. Single-threaded use
/// only (it is not `Sync`); each operation takes a short-lived `&mut`.
pub struct StdMap(std::cell::UnsafeCell<StdHashMap<u64, u64, Hasher>>);

impl StdMap {
    pub fn new() -> Self {
        StdMap(std::cell::UnsafeCell::new(
            StdHashMap::with_hasher(hasher()),
        ))
    }
}

pub struct StdRef<'a>(pub &'a StdMap);

impl StdRef<'_> {
    #[allow(clippy::mut_from_ref)]
    #[inline(always)]
    fn m(&self) -> &mut StdHashMap<u64, u64, Hasher> {
        // SAFETY: one thread, and no reference outlives the call that made it.
        unsafe { &mut *self.0 .0.get() }
    }
}

impl Handle for StdRef<'_> {
    #[inline]
    fn get(&self, k: u64) -> Option<u64> {
        self.m().get(&k).copied()
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) -> bool {
        self.m().insert(k, v).is_none()
    }
    #[inline]
    fn remove(&self, k: u64) -> bool {
        self.m().remove(&k).is_some()
    }
    #[inline]
    fn update(&self, k: u64) -> bool {
        match self.m().get_mut(&k) {
            Some(v) => {
                *v += 1;
                true
            }
            None => false,
        }
    }
}

// ---- evacmap ----

pub type Evac = evacmap::HashMap<u64, u64, Hasher>;

/// `blocking`: blocking resizes; else the default (incremental) resizing.
fn evac_build(capacity: usize, blocking: bool) -> Evac {
    let mode = if blocking {
        evacmap::ResizeMode::Blocking
    } else {
        evacmap::ResizeMode::default()
    };
    evacmap::HashMap::builder()
        .hasher(hasher())
        .capacity(capacity)
        .resize_mode(mode)
        .build()
        .expect("valid configuration")
}

macro_rules! evac_common {
    () => {
        fn shrink(&self) -> &'static str {
            self.0.reclaim();
            "reclaim()"
        }
        fn settle(&self) -> &'static str {
            self.0.reclaim();
            "reclaim()"
        }
        fn clear(&self) {
            self.0.clear()
        }
        fn len(&self) -> usize {
            self.0.len()
        }
        fn resizes(&self) -> Option<usize> {
            let s = self.0.stats();
            Some(s.grows + s.shrinks)
        }
        fn own_bytes(&self) -> Option<(usize, usize)> {
            let s = self.0.stats();
            Some((s.held_bytes(), s.retired_bytes + s.pooled_bytes))
        }
    };
}

/// evacmap, one pin per operation: blocking resizes if `BLOCKING`, else the
/// default (incremental) resizing.
pub struct EvacPerCall<const BLOCKING: bool>(pub Evac);
/// evacmap, default (incremental) resizing, one pin per operation.
pub type EvacInc = EvacPerCall<false>;
/// evacmap, blocking resizes.
pub type EvacBlk = EvacPerCall<true>;
/// evacmap (incremental) through a `pin()` handle renewed every [`REFRESH`]
/// operations.
pub struct EvacPin(pub Evac);

pub struct EvacRef<'a>(&'a Evac);

impl Handle for EvacRef<'_> {
    #[inline]
    fn get(&self, k: u64) -> Option<u64> {
        self.0.get(&k).map(|r| *r.value())
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) -> bool {
        self.0.insert(k, v).is_none()
    }
    #[inline]
    fn remove(&self, k: u64) -> bool {
        self.0.remove(&k).is_some()
    }
    #[inline]
    fn update(&self, k: u64) -> bool {
        self.0.update(&k, |v| v + 1).is_some()
    }
}

impl<const BLOCKING: bool> BenchMap for EvacPerCall<BLOCKING> {
    const NAME: &'static str = if BLOCKING {
        "evacmap-blocking"
    } else {
        "evacmap"
    };
    type Handle<'a> = EvacRef<'a>;
    fn with_capacity(capacity: usize) -> Self {
        EvacPerCall(evac_build(capacity, BLOCKING))
    }
    fn handle(&self) -> EvacRef<'_> {
        EvacRef(&self.0)
    }
    evac_common!();
    fn iterate(&self) -> usize {
        let mut n = 0;
        for r in self.0.iter() {
            std::hint::black_box(*r.value());
            n += 1;
        }
        n
    }
}

pub struct EvacPinned<'a>(evacmap::Pinned<'a, u64, u64, Hasher>);

impl Handle for EvacPinned<'_> {
    #[inline]
    fn get(&self, k: u64) -> Option<u64> {
        self.0.get(&k).copied()
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) -> bool {
        self.0.insert(k, v).is_none()
    }
    #[inline]
    fn remove(&self, k: u64) -> bool {
        self.0.remove(&k).is_some()
    }
    #[inline]
    fn update(&self, k: u64) -> bool {
        // `Pinned` has no `update`; the map's nests a (cheap) pin in ours.
        self.0.map().update(&k, |v| v + 1).is_some()
    }
    #[inline]
    fn refresh(&mut self) {
        self.0.repin();
    }
}

impl BenchMap for EvacPin {
    const NAME: &'static str = "evacmap-pin";
    type Handle<'a> = EvacPinned<'a>;
    fn with_capacity(capacity: usize) -> Self {
        EvacPin(evac_build(capacity, false))
    }
    fn handle(&self) -> EvacPinned<'_> {
        EvacPinned(self.0.pin())
    }
    evac_common!();
    fn iterate(&self) -> usize {
        let pinned = self.0.pin();
        let mut n = 0;
        for (_, v) in pinned.iter() {
            std::hint::black_box(*v);
            n += 1;
        }
        n
    }
}

// ---- dashmap ----

pub struct Dash(pub dashmap::DashMap<u64, u64, Hasher>);

impl Handle for &Dash {
    #[inline]
    fn get(&self, k: u64) -> Option<u64> {
        self.0.get(&k).map(|r| *r)
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) -> bool {
        self.0.insert(k, v).is_none()
    }
    #[inline]
    fn remove(&self, k: u64) -> bool {
        self.0.remove(&k).is_some()
    }
    #[inline]
    fn update(&self, k: u64) -> bool {
        match self.0.get_mut(&k) {
            Some(mut r) => {
                *r += 1;
                true
            }
            None => false,
        }
    }
}

impl BenchMap for Dash {
    const NAME: &'static str = "dashmap";
    type Handle<'a> = &'a Dash;
    fn with_capacity(capacity: usize) -> Self {
        Dash(dashmap::DashMap::with_capacity_and_hasher(
            capacity,
            hasher(),
        ))
    }
    fn handle(&self) -> &Dash {
        self
    }
    fn shrink(&self) -> &'static str {
        self.0.shrink_to_fit();
        "shrink_to_fit()"
    }
    fn clear(&self) {
        self.0.clear()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn iterate(&self) -> usize {
        let mut n = 0;
        for r in self.0.iter() {
            std::hint::black_box(*r.value());
            n += 1;
        }
        n
    }
}

// ---- papaya ----

pub type Papaya = papaya::HashMap<u64, u64, Hasher>;

/// `blocking`: blocking resizes; else papaya's default (incremental) resizing.
fn papaya_build(capacity: usize, blocking: bool) -> Papaya {
    let mode = if blocking {
        papaya::ResizeMode::Blocking
    } else {
        papaya::ResizeMode::default()
    };
    papaya::HashMap::builder()
        .hasher(hasher())
        .capacity(capacity)
        .resize_mode(mode)
        .build()
}

/// papaya, pinned per operation: blocking resizes if `BLOCKING`, else its
/// default incremental resizing.
pub struct PapPerCall<const BLOCKING: bool>(pub Papaya);
/// papaya with its default incremental resizing, pinned per operation.
pub type PapInc = PapPerCall<false>;
/// papaya with blocking resizes.
pub type PapBlk = PapPerCall<true>;
/// papaya (incremental) through one `pin()` handle renewed every [`REFRESH`] ops.
pub struct PapPin(pub Papaya);

pub struct PapRef<'a>(&'a Papaya);

impl Handle for PapRef<'_> {
    #[inline]
    fn get(&self, k: u64) -> Option<u64> {
        self.0.pin().get(&k).copied()
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) -> bool {
        self.0.pin().insert(k, v).is_none()
    }
    #[inline]
    fn remove(&self, k: u64) -> bool {
        self.0.pin().remove(&k).is_some()
    }
    #[inline]
    fn update(&self, k: u64) -> bool {
        self.0.pin().update(k, |v| v + 1).is_some()
    }
}

macro_rules! papaya_common {
    () => {
        fn settle(&self) -> &'static str {
            // Hands this thread's batch of retired objects (old tables,
            // replaced entries) to seize, which frees what no thread can
            // still see once the guard is gone.
            use papaya::Guard as _;
            let guard = self.0.guard();
            guard.flush();
            drop(guard);
            "guard().flush()"
        }
        fn clear(&self) {
            self.0.pin().clear()
        }
        fn len(&self) -> usize {
            self.0.len()
        }
        fn iterate(&self) -> usize {
            let pinned = self.0.pin();
            let mut n = 0;
            for (_, v) in pinned.iter() {
                std::hint::black_box(*v);
                n += 1;
            }
            n
        }
    };
}

impl<const BLOCKING: bool> BenchMap for PapPerCall<BLOCKING> {
    const NAME: &'static str = if BLOCKING {
        "papaya-blocking"
    } else {
        "papaya"
    };
    type Handle<'a> = PapRef<'a>;
    fn with_capacity(capacity: usize) -> Self {
        PapPerCall(papaya_build(capacity, BLOCKING))
    }
    fn handle(&self) -> PapRef<'_> {
        PapRef(&self.0)
    }
    papaya_common!();
}

pub struct PapPinned<'a> {
    map: &'a Papaya,
    pinned: papaya::HashMapRef<'a, u64, u64, Hasher, papaya::LocalGuard<'a>>,
}

impl Handle for PapPinned<'_> {
    #[inline]
    fn get(&self, k: u64) -> Option<u64> {
        self.pinned.get(&k).copied()
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) -> bool {
        self.pinned.insert(k, v).is_none()
    }
    #[inline]
    fn remove(&self, k: u64) -> bool {
        self.pinned.remove(&k).is_some()
    }
    #[inline]
    fn update(&self, k: u64) -> bool {
        self.pinned.update(k, |v| v + 1).is_some()
    }
    #[inline]
    fn refresh(&mut self) {
        self.pinned = self.map.pin();
    }
}

impl BenchMap for PapPin {
    const NAME: &'static str = "papaya-pin";
    type Handle<'a> = PapPinned<'a>;
    fn with_capacity(capacity: usize) -> Self {
        PapPin(papaya_build(capacity, false))
    }
    fn handle(&self) -> PapPinned<'_> {
        PapPinned {
            map: &self.0,
            pinned: self.0.pin(),
        }
    }
    papaya_common!();
}

// ---- scc ----

/// Lets scc's epoch collector (sdd) free what it can: it collects as guards
/// are created and dropped (sdd 4 has no call to force it).
pub fn scc_settle() {
    for _ in 0..256 {
        drop(scc::Guard::new());
    }
}

pub struct Scc(pub scc::HashMap<u64, u64, Hasher>);

impl Handle for &Scc {
    #[inline]
    fn get(&self, k: u64) -> Option<u64> {
        self.0.read_sync(&k, |_, v| *v)
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) -> bool {
        self.0.upsert_sync(k, v).is_none()
    }
    #[inline]
    fn remove(&self, k: u64) -> bool {
        self.0.remove_sync(&k).is_some()
    }
    #[inline]
    fn update(&self, k: u64) -> bool {
        self.0.update_sync(&k, |_, v| *v += 1).is_some()
    }
}

impl BenchMap for Scc {
    const NAME: &'static str = "scc";
    type Handle<'a> = &'a Scc;
    fn with_capacity(capacity: usize) -> Self {
        Scc(scc::HashMap::with_capacity_and_hasher(capacity, hasher()))
    }
    fn handle(&self) -> &Scc {
        self
    }
    fn settle(&self) -> &'static str {
        // scc frees through its own epoch collector (sdd), which collects
        // as guards come and go: push it along.
        scc_settle();
        "scc::Guard::new() x256"
    }
    fn clear(&self) {
        self.0.clear_sync()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn iterate(&self) -> usize {
        let mut n = 0;
        self.0.iter_sync(|_, v| {
            std::hint::black_box(*v);
            n += 1;
            true
        });
        n
    }
}

// ---- RwLock<std HashMap> ----

pub struct RwStd(pub RwLock<StdHashMap<u64, u64, Hasher>>);

impl Handle for &RwStd {
    #[inline]
    fn get(&self, k: u64) -> Option<u64> {
        self.0.read().get(&k).copied()
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) -> bool {
        self.0.write().insert(k, v).is_none()
    }
    #[inline]
    fn remove(&self, k: u64) -> bool {
        self.0.write().remove(&k).is_some()
    }
    #[inline]
    fn update(&self, k: u64) -> bool {
        match self.0.write().get_mut(&k) {
            Some(v) => {
                *v += 1;
                true
            }
            None => false,
        }
    }
}

impl BenchMap for RwStd {
    const NAME: &'static str = "rwlock-std";
    type Handle<'a> = &'a RwStd;
    fn with_capacity(capacity: usize) -> Self {
        RwStd(RwLock::new(StdHashMap::with_capacity_and_hasher(
            capacity,
            hasher(),
        )))
    }
    fn handle(&self) -> &RwStd {
        self
    }
    fn shrink(&self) -> &'static str {
        self.0.write().shrink_to_fit();
        "shrink_to_fit()"
    }
    fn clear(&self) {
        self.0.write().clear()
    }
    fn len(&self) -> usize {
        self.0.read().len()
    }
    fn iterate(&self) -> usize {
        let map = self.0.read();
        let mut n = 0;
        for v in map.values() {
            std::hint::black_box(*v);
            n += 1;
        }
        n
    }
}

/// Runs `$f::<M>($args)` for the map named `$name` (a `&str`), or evaluates
/// `$missing` for an unknown name. (Bench crates say `#[macro_use] mod common;`.)
#[allow(unused_macros)]
macro_rules! dispatch {
    ($name:expr, $f:ident ( $($arg:expr),* $(,)? ), $missing:expr) => {
        match $name {
            "evacmap" => $f::<$crate::common::EvacInc>($($arg),*),
            "evacmap-blocking" => $f::<$crate::common::EvacBlk>($($arg),*),
            "evacmap-pin" => $f::<$crate::common::EvacPin>($($arg),*),
            "dashmap" => $f::<$crate::common::Dash>($($arg),*),
            "papaya" => $f::<$crate::common::PapInc>($($arg),*),
            "papaya-blocking" => $f::<$crate::common::PapBlk>($($arg),*),
            "papaya-pin" => $f::<$crate::common::PapPin>($($arg),*),
            "scc" => $f::<$crate::common::Scc>($($arg),*),
            "rwlock-std" => $f::<$crate::common::RwStd>($($arg),*),
            _ => $missing,
        }
    };
}

/// Chooses which maps/cases to run: `EVACMAP_BENCH_MAPS=evacmap,dashmap`
/// restricts the maps; positional arguments (`cargo bench --bench X -- word`)
/// are substring filters on case names.
pub fn map_selected(name: &str) -> bool {
    match std::env::var("EVACMAP_BENCH_MAPS") {
        Ok(list) if !list.is_empty() => list.split(',').any(|m| m.trim() == name),
        _ => true,
    }
}

/// The maps of `all` that `EVACMAP_BENCH_MAPS` selects, in order.
pub fn selected_maps(all: &[&'static str]) -> Vec<&'static str> {
    all.iter().copied().filter(|m| map_selected(m)).collect()
}

/// The maps of the pauses and memory benchmarks: every map per operation
/// (no pinned handles), evacmap and papaya in both resize modes. The
/// concurrent bench runs these plus the pinned handles (its own `MAPS`).
pub const PER_CALL_MAPS: [&str; 7] = [
    "evacmap",
    "evacmap-blocking",
    "dashmap",
    "papaya",
    "papaya-blocking",
    "scc",
    "rwlock-std",
];

/// Thread counts of the multi-threaded runs: `EVACMAP_BENCH_THREADS=1,2,4,8`
/// (default 1, 2, 4).
pub fn threads() -> Vec<usize> {
    std::env::var("EVACMAP_BENCH_THREADS")
        .ok()
        .map(|s| s.split(',').filter_map(|t| t.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 4])
}

pub fn case_selected(case: &str) -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    filters.is_empty() || filters.iter().any(|f| case.contains(f.as_str()))
}

/// Hashes a u64 the way every map in the suite does (for sanity output).
pub fn hash_of(k: u64) -> u64 {
    hasher().hash_one(k)
}

// -------------------------------------------------------------- timing ----

/// Median of a small sample.
pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = xs.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

pub fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

// ------------------------------------------------------------- results ----

/// The 1-, 5- and 15-minute load averages.
pub fn loadavg() -> [f64; 3] {
    let s = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = s.split_whitespace().map(|x| x.parse().unwrap_or(f64::NAN));
    [
        it.next().unwrap_or(f64::NAN),
        it.next().unwrap_or(f64::NAN),
        it.next().unwrap_or(f64::NAN),
    ]
}

pub fn machine() -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    // EVACMAP_BENCH_GIT labels a run of a source tree that is not a checkout.
    let git = std::env::var("EVACMAP_BENCH_GIT").unwrap_or_else(|_| {
        std::process::Command::new("git")
            .args(["describe", "--always", "--dirty"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    });
    serde_json::json!({
        "cpu": model,
        "cores": cores,
        "evacmap_default_shards": evacmap::default_shards(),
        "git": git,
    })
}

/// Collects a benchmark's results and writes them as JSON: full runs to
/// `benches/results/<name>.json` (committed, read by
/// `scripts/bench_report.py` and `scripts/bench_chart.py`), quick runs to
/// `$CARGO_TARGET_DIR/evacmap-bench-quick/` (default `target/`).
/// `EVACMAP_BENCH_OUT=dir` overrides both.
pub struct Report {
    name: &'static str,
    started: Instant,
    load_start: [f64; 3],
    pub params: serde_json::Value,
    pub rows: Vec<serde_json::Value>,
}

impl Report {
    pub fn new(name: &'static str, params: serde_json::Value) -> Self {
        let load_start = loadavg();
        eprintln!(
            "[{name}] {} mode; load average {:.2} {:.2} {:.2}; {} cores",
            if quick() { "QUICK" } else { "full" },
            load_start[0],
            load_start[1],
            load_start[2],
            std::thread::available_parallelism().map_or(0, |n| n.get()),
        );
        Report {
            name,
            started: Instant::now(),
            load_start,
            params,
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: serde_json::Value) {
        eprintln!("[{}] {}", self.name, row);
        self.rows.push(row);
    }

    pub fn out_dir() -> PathBuf {
        if let Ok(dir) = std::env::var("EVACMAP_BENCH_OUT") {
            return PathBuf::from(dir);
        }
        if quick() {
            let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
            PathBuf::from(target).join("evacmap-bench-quick")
        } else {
            PathBuf::from("benches/results")
        }
    }

    pub fn finish(self) {
        let command = format!(
            "{}cargo bench --bench {}{}",
            if quick() {
                "EVACMAP_BENCH_QUICK=1 "
            } else {
                ""
            },
            self.name,
            {
                let extra: Vec<String> = std::env::args()
                    .skip(1)
                    .filter(|a| a != "--bench")
                    .collect();
                if extra.is_empty() {
                    String::new()
                } else {
                    format!(" -- {}", extra.join(" "))
                }
            }
        );
        let doc = serde_json::json!({
            "bench": self.name,
            "quick": quick(),
            "command": command,
            "maps_env": std::env::var("EVACMAP_BENCH_MAPS").unwrap_or_default(),
            // Every map's allocator: glibc's malloc unless one is preloaded.
            "ld_preload": std::env::var("LD_PRELOAD").unwrap_or_default(),
            "machine": machine(),
            "unix_time": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            "wall_seconds": self.started.elapsed().as_secs_f64(),
            "loadavg_start": self.load_start,
            "loadavg_end": loadavg(),
            "params": self.params,
            "rows": self.rows,
        });
        let dir = Self::out_dir();
        std::fs::create_dir_all(&dir).expect("create results dir");
        let path = dir.join(format!("{}.json", self.name));
        std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()).expect("write results");
        eprintln!(
            "[{}] wrote {} ({:.1} s)",
            self.name,
            path.display(),
            self.started.elapsed().as_secs_f64()
        );
    }
}
