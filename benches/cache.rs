//! Benchmark 8 of the suite (see BENCHMARKS.md, "The cache").
//!
//! `evacmap::Cache` against `moka::sync::Cache` 0.12, `quick_cache::sync::Cache`
//! 0.7 and a `parking_lot::Mutex<lru::LruCache>` (lru 0.19), u64 -> u64, every
//! cache built with the suite's hasher (`common::hasher()`: foldhash's fast
//! hasher, one seed per run), in the same process, interleaved within each
//! repetition:
//!
//! 1. **Throughput**, read-through over Zipf-distributed keys (1 M distinct
//!    keys, capacity 100 k): `s = 0.99` (about 81 % hits) and `s = 1.2`
//!    (about 95 % hits), at 1, 2 and 4 threads, through two paths: `get`,
//!    and on a miss `insert` (every cache's natural way), and the loader
//!    (`get_with` for evacmap and moka, `get_or_insert_with` for
//!    quick_cache, `get_or_insert` under the lock for lru). Every cache is
//!    warmed before the timed runs (filled with `capacity` keys the draws
//!    never ask for, then 1 M draws of another stream read through it), so
//!    it is full and evicting throughout; each run reports its operations per
//!    second and the hit ratio the cache achieved.
//! 2. **Latency** of each `get` and each `insert` (one thread, the `s = 0.99`
//!    read-through mix on a full cache, so every insert evicts): p50, p99,
//!    p99.9 and max, timed with the TSC (`lfence; rdtsc`) on x86-64.
//! 3. **Async loaders**: evacmap's `get_with_async` against
//!    `moka::future::Cache::get_with` (and quick_cache's
//!    `get_or_insert_async`) on tokio's multi-thread runtime, read-through
//!    `s = 0.99`.
//!
//! The Zipf draws are pre-generated per thread (seeded, identical for every
//! cache); a rank becomes a key through `common::key` (a bijection), so hot
//! keys are scattered over shards. Bytes per entry are measured by
//! `benches/cache_memory.rs` (a counting global allocator needs its own
//! binary). Output: benches/results/cache.json.
//!
//! `cargo bench --bench cache -- throughput/s0.99/get+insert` runs only the
//! cases whose name contains the word; `EVACMAP_BENCH_MAPS=evacmap,quick_cache`
//! only those caches; `EVACMAP_BENCH_THREADS=1,2` those thread counts.

mod common;

use std::convert::Infallible;
use std::hint::black_box;
use std::num::NonZeroUsize;
use std::sync::{Arc, Barrier};
use std::time::Instant;

use common::*;
use parking_lot::Mutex;
use rand::SeedableRng;
use rand_distr::{Distribution, Zipf};
use serde_json::json;

/// The caches, in table order.
const CACHES: [&str; 4] = ["evacmap", "quick_cache", "moka", "lru"];

/// Distinct keys the draws range over.
const KEYS: usize = 1 << 20;

/// Key of Zipf rank `r` (0-based): scattered, distinct, the same for every cache.
#[inline(always)]
fn key_of(rank: u32) -> u64 {
    key(300, rank as u64)
}

// --------------------------------------------------------------- caches ----

/// A cache under test, u64 -> u64.
trait BenchCache: Send + Sync + Sized + 'static {
    /// A cache bounded at `capacity` entries, with the run's hasher.
    fn new(capacity: u64) -> Self;
    fn get(&self, k: u64) -> Option<u64>;
    fn insert(&self, k: u64, v: u64);
    /// The cache's loader: the value of `k`, from `init` if it is missing.
    fn get_with(&self, k: u64, init: impl FnOnce() -> u64) -> u64;
    /// Entries held, after the cache's pending work.
    fn len(&self) -> u64;
    /// What the loader path is called for this cache.
    const LOADER: &'static str;
}

type Evac = evacmap::Cache<u64, u64, Hasher>;

impl BenchCache for Evac {
    const LOADER: &'static str = "get_with";
    fn new(capacity: u64) -> Self {
        evacmap::Cache::builder()
            .max_capacity(capacity)
            .build_with_hasher(hasher())
    }
    #[inline]
    fn get(&self, k: u64) -> Option<u64> {
        evacmap::Cache::get(self, &k)
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) {
        evacmap::Cache::insert(self, k, v)
    }
    #[inline]
    fn get_with(&self, k: u64, init: impl FnOnce() -> u64) -> u64 {
        evacmap::Cache::get_with(self, k, init)
    }
    fn len(&self) -> u64 {
        self.run_pending_tasks();
        self.entry_count()
    }
}

type Moka = moka::sync::Cache<u64, u64, Hasher>;

impl BenchCache for Moka {
    const LOADER: &'static str = "get_with";
    fn new(capacity: u64) -> Self {
        moka::sync::Cache::builder()
            .max_capacity(capacity)
            .build_with_hasher(hasher())
    }
    #[inline]
    fn get(&self, k: u64) -> Option<u64> {
        moka::sync::Cache::get(self, &k)
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) {
        moka::sync::Cache::insert(self, k, v)
    }
    #[inline]
    fn get_with(&self, k: u64, init: impl FnOnce() -> u64) -> u64 {
        moka::sync::Cache::get_with(self, k, init)
    }
    fn len(&self) -> u64 {
        self.run_pending_tasks();
        self.entry_count()
    }
}

type Quick = quick_cache::sync::Cache<
    u64,
    u64,
    quick_cache::UnitWeighter,
    Hasher,
    quick_cache::sync::DefaultLifecycle<u64, u64>,
>;

impl BenchCache for Quick {
    const LOADER: &'static str = "get_or_insert_with";
    fn new(capacity: u64) -> Self {
        quick_cache::sync::Cache::with(
            capacity as usize,
            capacity,
            quick_cache::UnitWeighter,
            hasher(),
            Default::default(),
        )
    }
    #[inline]
    fn get(&self, k: u64) -> Option<u64> {
        quick_cache::sync::Cache::get(self, &k)
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) {
        quick_cache::sync::Cache::insert(self, k, v)
    }
    #[inline]
    fn get_with(&self, k: u64, init: impl FnOnce() -> u64) -> u64 {
        match self.get_or_insert_with(&k, || Ok::<_, Infallible>(init())) {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }
    fn len(&self) -> u64 {
        quick_cache::sync::Cache::len(self) as u64
    }
}

/// The baseline: one lock around an exact LRU.
struct Lru(Mutex<lru::LruCache<u64, u64, Hasher>>);

impl BenchCache for Lru {
    const LOADER: &'static str = "lock + get_or_insert";
    fn new(capacity: u64) -> Self {
        let cap = NonZeroUsize::new(capacity as usize).expect("a positive capacity");
        Lru(Mutex::new(lru::LruCache::with_hasher(cap, hasher())))
    }
    #[inline]
    fn get(&self, k: u64) -> Option<u64> {
        self.0.lock().get(&k).copied()
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) {
        self.0.lock().put(k, v);
    }
    #[inline]
    fn get_with(&self, k: u64, init: impl FnOnce() -> u64) -> u64 {
        *self.0.lock().get_or_insert(k, init)
    }
    fn len(&self) -> u64 {
        self.0.lock().len() as u64
    }
}

/// Runs `$f::<C>($args)` for the cache named `$name`.
macro_rules! by_cache {
    ($name:expr, $f:ident ( $($arg:expr),* $(,)? )) => {
        match $name {
            "evacmap" => $f::<Evac>($($arg),*),
            "moka" => $f::<Moka>($($arg),*),
            "quick_cache" => $f::<Quick>($($arg),*),
            "lru" => $f::<Lru>($($arg),*),
            other => unreachable!("no cache {other}"),
        }
    };
}

// ------------------------------------------------------------ workloads ----

/// How a thread reads through the cache.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Path {
    /// `get`; on a miss, `insert(k, k)`.
    GetInsert,
    /// The cache's loader with `|| k`.
    Loader,
}

impl Path {
    fn name(self) -> &'static str {
        match self {
            Path::GetInsert => "get+insert",
            Path::Loader => "loader",
        }
    }
}

/// Warms a new cache: fills it with `capacity` keys that no draw asks for
/// (so it is full from the start), then reads `warm` through it.
fn warm_up<C: BenchCache>(cache: &C, capacity: u64, warm: &[u32], path: Path) {
    for i in 0..capacity {
        cache.insert(cold_key(i), i);
    }
    read_through(cache, warm, path);
}

/// The `i`-th of the keys that fill a cache before its warm-up: never drawn.
fn cold_key(i: u64) -> u64 {
    key(301, i)
}

/// Reads `draws` through `cache`; returns the hits.
#[inline(never)]
fn read_through<C: BenchCache>(cache: &C, draws: &[u32], path: Path) -> u64 {
    let mut hits = 0u64;
    let mut acc = 0u64;
    match path {
        Path::GetInsert => {
            for &rank in draws {
                let k = key_of(rank);
                match cache.get(k) {
                    Some(v) => {
                        hits += 1;
                        acc = acc.wrapping_add(v);
                    }
                    None => cache.insert(k, k),
                }
            }
        }
        Path::Loader => {
            for &rank in draws {
                let k = key_of(rank);
                let mut loaded = false;
                let v = cache.get_with(k, || {
                    loaded = true;
                    k
                });
                hits += u64::from(!loaded);
                acc = acc.wrapping_add(v);
            }
        }
    }
    black_box(acc);
    hits
}

/// [`read_through`] in a timed run: a frame of its own, so that
/// `valgrind --tool=callgrind --toggle-collect='*measured*'` counts the
/// timed runs and not the warm-up.
#[inline(never)]
fn measured<C: BenchCache>(cache: &C, draws: &[u32], path: Path) -> u64 {
    read_through(cache, draws, path)
}

/// `n` Zipf(`s`) ranks over [`KEYS`] keys, 0-based, from `seed`.
fn zipf_draws(s: f64, n: usize, seed: u64) -> Vec<u32> {
    let zipf = Zipf::new(KEYS as u64, s).expect("valid Zipf parameters");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n).map(|_| zipf.sample(&mut rng) as u32 - 1).collect()
}

/// A skew: its warm-up draws, and fresh draws for every timed run.
struct Workload {
    label: &'static str,
    s: f64,
    seed: u64,
    warm: Vec<u32>,
}

impl Workload {
    fn new(label: &'static str, s: f64, seed: u64, warm: usize) -> Self {
        Workload {
            label,
            s,
            seed,
            warm: zipf_draws(s, warm, mix64(seed)),
        }
    }

    /// Draws for one timed run (`run` numbers the runs of a case), `len`
    /// per thread: never the same twice, so that no run replays keys a
    /// cache saw in the run before (at `s = 1.2` one run's distinct keys
    /// would fit in the cache and every repetition would hit).
    fn draws(&self, case: u64, run: u64, threads: usize, len: usize) -> Vec<Vec<u32>> {
        (0..threads as u64)
            .map(|i| {
                zipf_draws(
                    self.s,
                    len,
                    mix64(self.seed ^ (case << 32) ^ (run << 16) ^ i),
                )
            })
            .collect()
    }
}

// ----------------------------------------------------------- throughput ----

/// One timed run: `draws[i]` on thread `i`, all starting together.
/// (Mops/s, hit ratio).
fn timed_run<C: BenchCache>(cache: &C, draws: &[&[u32]], path: Path) -> (f64, f64) {
    let barrier = Barrier::new(draws.len());
    let spans: Vec<(Instant, Instant, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = draws
            .iter()
            .map(|d| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    let hits = measured(cache, d, path);
                    (start, Instant::now(), hits)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let start = spans.iter().map(|s| s.0).min().unwrap();
    let end = spans.iter().map(|s| s.1).max().unwrap();
    let ops: usize = draws.iter().map(|d| d.len()).sum();
    let hits: u64 = spans.iter().map(|s| s.2).sum();
    (
        ops as f64 / secs(end - start) / 1e6,
        hits as f64 / ops as f64,
    )
}

/// A cache bounded at `capacity`, warmed with `warm` (read through, one
/// thread, untimed), behind a closure that runs one timed measurement.
type Runner<'a> = Box<dyn Fn(&[&[u32]]) -> (f64, f64, u64) + 'a>;

fn prepare<'a, C: BenchCache>(capacity: u64, warm: &[u32], path: Path) -> Runner<'a> {
    let cache = C::new(capacity);
    warm_up(&cache, capacity, warm, path);
    Box::new(move |draws| {
        let (mops, hit) = timed_run(&cache, draws, path);
        (mops, hit, cache.len())
    })
}

fn throughput(report: &mut Report, w: &Workload, capacity: u64, ops: usize, reps: usize) {
    let threads = threads();
    let caches = selected_maps(&CACHES);
    let case = |path: Path, t: usize| format!("throughput/s{}/{}/{t}", w.s, path.name());
    let paths: Vec<Path> = [Path::GetInsert, Path::Loader]
        .into_iter()
        .filter(|&p| threads.iter().any(|&t| case_selected(&case(p, t))))
        .collect();
    // One warmed cache per (path, cache), kept through every thread count.
    let runners: Vec<Vec<Runner>> = paths
        .iter()
        .map(|&path| {
            caches
                .iter()
                .map(|c| by_cache!(*c, prepare(capacity, &w.warm, path)))
                .collect()
        })
        .collect();
    for &t in &threads {
        let n = caches.len();
        let mut mops = vec![vec![Vec::new(); n]; paths.len()];
        let mut hits = vec![vec![Vec::new(); n]; paths.len()];
        let mut held = vec![vec![0; n]; paths.len()];
        for rep in 0..reps {
            // The same fresh draws for every cache and path of this run.
            let draws = w.draws(t as u64, rep as u64, t, ops / t);
            let draws: Vec<&[u32]> = draws.iter().map(|d| &d[..]).collect();
            for (p, &path) in paths.iter().enumerate() {
                if !case_selected(&case(path, t)) {
                    continue;
                }
                for (i, run) in runners[p].iter().enumerate() {
                    let (m, h, len) = run(&draws);
                    mops[p][i].push(m);
                    hits[p][i].push(h);
                    held[p][i] = held[p][i].max(len);
                }
            }
        }
        for (p, &path) in paths.iter().enumerate() {
            if !case_selected(&case(path, t)) {
                continue;
            }
            for (i, name) in caches.iter().enumerate() {
                report.push(json!({
                    "bench": "throughput", "workload": w.label, "zipf_s": w.s,
                    "path": path.name(), "threads": t, "cache": name,
                    "loader": loader_name(name),
                    "mops": median(mops[p][i].clone()), "samples": mops[p][i],
                    "hit_ratio": median(hits[p][i].clone()), "hit_samples": hits[p][i],
                    "max_entries_after_run": held[p][i], "capacity": capacity,
                }));
            }
        }
    }
}

fn loader_name(cache: &str) -> &'static str {
    fn name<C: BenchCache>() -> &'static str {
        C::LOADER
    }
    by_cache!(cache, name())
}

// -------------------------------------------------------------- latency ----

/// A cheap clock: the TSC on x86-64 (fenced so the operation stays between
/// the two reads), else `Instant`.
mod clock {
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub fn ticks() -> u64 {
        use std::arch::x86_64::{_mm_lfence, _rdtsc};
        // SAFETY: SSE2 (lfence) and rdtsc exist on every x86-64 CPU.
        unsafe {
            _mm_lfence();
            let t = _rdtsc();
            _mm_lfence();
            t
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    #[inline(always)]
    pub fn ticks() -> u64 {
        use std::sync::OnceLock;
        static START: OnceLock<std::time::Instant> = OnceLock::new();
        START
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_nanos() as u64
    }

    pub const NAME: &str = if cfg!(target_arch = "x86_64") {
        "TSC (lfence; rdtsc; lfence), calibrated against Instant over each run"
    } else {
        "Instant"
    };
}

/// p50, p99, p99.9 and max of `samples` (ticks), in ns.
fn percentiles(samples: &mut [u32], ns_per_tick: f64) -> [f64; 4] {
    samples.sort_unstable();
    let at = |q: f64| {
        let i = ((samples.len() as f64 * q) as usize).min(samples.len() - 1);
        samples[i] as f64 * ns_per_tick
    };
    [
        at(0.5),
        at(0.99),
        at(0.999),
        *samples.last().unwrap() as f64 * ns_per_tick,
    ]
}

/// One thread reads `draws` through a warmed cache, timing every `get`
/// and every `insert` (on the misses). Per op: [p50, p99, p99.9, max] ns,
/// the count, and the hit ratio.
fn latency_run<C: BenchCache>(capacity: u64, warm: &[u32], draws: &[u32]) -> serde_json::Value {
    let cache = C::new(capacity);
    warm_up(&cache, capacity, warm, Path::GetInsert);
    let mut gets = Vec::with_capacity(draws.len());
    let mut inserts = Vec::with_capacity(draws.len());
    let (t0, c0) = (Instant::now(), clock::ticks());
    let mut acc = 0u64;
    for &rank in draws {
        let k = key_of(rank);
        let a = clock::ticks();
        let got = cache.get(k);
        let b = clock::ticks();
        gets.push((b - a).min(u32::MAX as u64) as u32);
        match got {
            Some(v) => acc = acc.wrapping_add(v),
            None => {
                let a = clock::ticks();
                cache.insert(k, k);
                let b = clock::ticks();
                inserts.push((b - a).min(u32::MAX as u64) as u32);
            }
        }
    }
    let ns_per_tick = secs(t0.elapsed()) * 1e9 / (clock::ticks() - c0) as f64;
    black_box(acc);
    // The clock's own cost: an empty timed region.
    let mut empty: Vec<u32> = (0..100_000)
        .map(|_| {
            let a = clock::ticks();
            let b = clock::ticks();
            (b - a) as u32
        })
        .collect();
    let hit_ratio = 1.0 - inserts.len() as f64 / draws.len() as f64;
    json!({
        "get": percentiles(&mut gets, ns_per_tick),
        "insert": percentiles(&mut inserts, ns_per_tick),
        "gets": gets.len(), "inserts": inserts.len(),
        "hit_ratio": hit_ratio,
        "timer_p50_ns": percentiles(&mut empty, ns_per_tick)[0],
        "entries_after": cache.len(),
    })
}

fn latency(report: &mut Report, w: &Workload, capacity: u64, ops: usize, reps: usize) {
    if !case_selected("latency") {
        return;
    }
    let caches = selected_maps(&CACHES);
    let mut runs: Vec<Vec<serde_json::Value>> = vec![Vec::new(); caches.len()];
    for rep in 0..reps {
        // A fresh cache per run; the same draws for every cache.
        let draws = w.draws(100, rep as u64, 1, ops).remove(0);
        for (i, c) in caches.iter().enumerate() {
            runs[i].push(by_cache!(*c, latency_run(capacity, &w.warm, &draws)));
        }
    }
    let stat = |runs: &[serde_json::Value], op: &str, j: usize| {
        median(runs.iter().map(|r| r[op][j].as_f64().unwrap()).collect())
    };
    for (i, name) in caches.iter().enumerate() {
        for op in ["get", "insert"] {
            report.push(json!({
                "bench": "latency", "workload": w.label, "zipf_s": w.s, "cache": name,
                "op": op, "capacity": capacity, "ops": ops,
                "count": runs[i][0][format!("{op}s")],
                "p50_ns": stat(&runs[i], op, 0), "p99_ns": stat(&runs[i], op, 1),
                "p999_ns": stat(&runs[i], op, 2), "max_ns": stat(&runs[i], op, 3),
                "max_ns_samples": runs[i].iter().map(|r| r[op][3].clone()).collect::<Vec<_>>(),
                "hit_ratio": median(runs[i].iter().map(|r| r["hit_ratio"].as_f64().unwrap()).collect()),
                "timer_p50_ns": median(runs[i].iter().map(|r| r["timer_p50_ns"].as_f64().unwrap()).collect()),
            }));
        }
    }
}

// ---------------------------------------------------------------- async ----

/// The async caches: evacmap's `get_with_async`, moka's future cache,
/// quick_cache's `get_or_insert_async`.
const ASYNC_CACHES: [&str; 3] = ["evacmap", "moka", "quick_cache"];

#[derive(Clone)]
enum AsyncCache {
    Evac(Evac),
    Moka(moka::future::Cache<u64, u64, Hasher>),
    Quick(Arc<Quick>),
}

impl AsyncCache {
    fn new(name: &str, capacity: u64) -> Self {
        match name {
            "evacmap" => AsyncCache::Evac(Evac::new(capacity)),
            "moka" => AsyncCache::Moka(
                moka::future::Cache::builder()
                    .max_capacity(capacity)
                    .build_with_hasher(hasher()),
            ),
            "quick_cache" => AsyncCache::Quick(Arc::new(Quick::new(capacity))),
            other => unreachable!("no async cache {other}"),
        }
    }

    /// Fills the cache with `capacity` keys no draw asks for (see [`warm_up`]).
    async fn fill(&self, capacity: u64) {
        for i in 0..capacity {
            match self {
                AsyncCache::Evac(c) => c.insert(cold_key(i), i),
                AsyncCache::Moka(c) => c.insert(cold_key(i), i).await,
                AsyncCache::Quick(c) => c.insert(cold_key(i), i),
            }
        }
    }

    /// Reads `draws` through the cache's async loader; returns the hits.
    async fn read_through(&self, draws: &[u32]) -> u64 {
        let mut hits = 0u64;
        let mut acc = 0u64;
        for &rank in draws {
            let k = key_of(rank);
            let mut loaded = false;
            let init = async {
                loaded = true;
                k
            };
            let v = match self {
                AsyncCache::Evac(c) => c.get_with_async(k, init).await,
                AsyncCache::Moka(c) => c.get_with(k, init).await,
                AsyncCache::Quick(c) => match c
                    .get_or_insert_async(&k, async { Ok::<_, Infallible>(init.await) })
                    .await
                {
                    Ok(v) => v,
                    Err(never) => match never {},
                },
            };
            hits += u64::from(!loaded);
            acc = acc.wrapping_add(v);
        }
        black_box(acc);
        hits
    }
}

fn async_loaders(report: &mut Report, w: &Workload, capacity: u64, ops: usize, reps: usize) {
    if !case_selected("async") {
        return;
    }
    let caches = selected_maps(&ASYNC_CACHES);
    for t in threads() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(t)
            .build()
            .expect("a tokio runtime");
        let built: Vec<AsyncCache> = caches
            .iter()
            .map(|name| {
                let c = AsyncCache::new(name, capacity);
                rt.block_on(async {
                    c.fill(capacity).await;
                    c.read_through(&w.warm).await
                });
                c
            })
            .collect();
        let len = ops / t;
        let mut mops = vec![Vec::new(); caches.len()];
        let mut hits = vec![Vec::new(); caches.len()];
        for rep in 0..reps {
            // Tasks need 'static draws: fresh ones per run, leaked (a few MB).
            let streams: Vec<&'static [u32]> = w
                .draws(200 + t as u64, rep as u64, t, len)
                .into_iter()
                .map(|d| &*Box::leak(d.into_boxed_slice()))
                .collect();
            for (i, c) in built.iter().enumerate() {
                let start = Instant::now();
                let h: u64 = rt.block_on(async {
                    let tasks: Vec<_> = streams
                        .iter()
                        .map(|&s| {
                            let c = c.clone();
                            tokio::spawn(async move { c.read_through(s).await })
                        })
                        .collect();
                    let mut hits = 0;
                    for task in tasks {
                        hits += task.await.expect("a task");
                    }
                    hits
                });
                let ops = len * t;
                mops[i].push(ops as f64 / secs(start.elapsed()) / 1e6);
                hits[i].push(h as f64 / ops as f64);
            }
        }
        for (i, name) in caches.iter().enumerate() {
            report.push(json!({
                "bench": "async", "workload": w.label, "zipf_s": w.s, "threads": t,
                "tasks": t, "cache": name,
                "loader": match *name {
                    "evacmap" => "get_with_async",
                    "moka" => "future::Cache::get_with",
                    _ => "get_or_insert_async",
                },
                "mops": median(mops[i].clone()), "samples": mops[i],
                "hit_ratio": median(hits[i].clone()), "capacity": capacity,
            }));
        }
    }
}

// ----------------------------------------------------------------- main ----

fn main() {
    let capacity: u64 = 100_000;
    let ops = q(1usize << 18, 1 << 20);
    // EVACMAP_BENCH_CACHE_WARM: warm-up draws (scripts/cache_instructions.sh
    // profiles a quick run after a full run's warm-up).
    let warm = std::env::var("EVACMAP_BENCH_CACHE_WARM")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(q(1usize << 18, 1 << 20));
    let reps = q(1, 3);
    let latency_reps = q(1, 3);
    let async_ops = q(1usize << 17, 1 << 19);

    let skewed = Workload::new("zipf0.99", 0.99, 500, warm);
    let hot = Workload::new("zipf1.2", 1.2, 600, warm);
    let mut report = Report::new(
        "cache",
        json!({
            "keys": KEYS, "capacity": capacity, "ops_per_run": ops, "warm_ops": warm,
            "warm": "capacity keys never drawn inserted, then warm_ops draws of another stream read through",
            "repetitions": reps, "latency_repetitions": latency_reps,
            "async_ops_per_run": async_ops,
            "workloads": {"zipf0.99": "Zipf s = 0.99 (about 81 % hits)",
                          "zipf1.2": "Zipf s = 1.2 (the 95 %-hit variant)"},
            "statistic": "median over repetitions; every run reads fresh draws (the same for every cache)",
            "hasher": "foldhash::fast::FixedState, one seed per run, for every cache",
            "clock": clock::NAME,
            "caches": {"evacmap": "evacmap::Cache", "moka": "moka::sync::Cache 0.12 (future::Cache for async)",
                       "quick_cache": "quick_cache::sync::Cache 0.7",
                       "lru": "parking_lot::Mutex<lru::LruCache> 0.19"},
        }),
    );
    for w in [&skewed, &hot] {
        throughput(&mut report, w, capacity, ops, reps);
    }
    latency(&mut report, &skewed, capacity, ops, latency_reps);
    async_loaders(&mut report, &skewed, capacity, async_ops, reps);
    report.finish();
}
