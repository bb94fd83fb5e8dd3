//! Hit-ratio replay: the cache's eviction policy (through its simulated
//! store) and an exact LRU over the traces of `../shared/traces` (the 32
//! points of its README) and, with `--extra`, over public traces kept
//! outside the repository plus two synthetic ones. See docs/POLICY.md.
//!
//! ```text
//! cargo bench --bench hit_ratio                  # the 32 points, table + JSON
//! cargo bench --bench hit_ratio -- --extra       # and the extra traces
//! cargo bench --bench hit_ratio -- --seeds 1,2,3 # the policy under several hash seeds
//! cargo bench --bench hit_ratio -- --ablate      # each adaptive part switched off
//! cargo bench --bench hit_ratio -- --only OLTP,loop
//! cargo bench --bench hit_ratio -- --dump DIR    # traces as libCacheSim oracleGeneral files
//! cargo bench --bench hit_ratio -- --memory 1000000 # the policy's bytes per entry
//! cargo bench --bench hit_ratio -- --cache-threads 8 # the real cache on 8 threads (default 4)
//! cargo bench --bench hit_ratio -- --cache-dispatch stride # ... thread t serving requests t, t+N, ...
//! cargo bench --bench hit_ratio -- --cache-round 64 # ... in lockstep rounds of 64 requests
//! cargo bench --bench hit_ratio -- --no-cache    # the policy and LRU only (faster)
//! cargo bench --bench hit_ratio -- --live evacmap,moka # only these live caches
//! ```
//!
//! Replay: demand fill (`if !get(k) { insert(k) }`), weight 1, hit ratio =
//! hits / requests. The policy (over its simulated store) and LRU replay on
//! one thread; the live caches (the real `evacmap::Cache`, and its peers
//! `moka::sync::Cache`, `quick_cache::sync::Cache` and `Mutex<lru::LruCache>`,
//! all hashing with the same fixed-seed foldhash) replay on one thread and on
//! `--cache-threads` threads sharing one cache (see [`real_cache`]), and the
//! tool prints the difference: the issue's "concurrency does not change the
//! policy" check, and each cache's shortfall at 1 and N threads.
//! `--threads` is something else: how many points are replayed at once
//! (default: the available parallelism). `EVACMAP_TRACES` overrides the
//! trace folder, `EVACMAP_EXTRA_TRACES` the extra one (default
//! /tmp/traces-extra).
//!
//! More contenders plug in through [`Contender`] (one request at a time),
//! [`real_cache::LiveCache`] and [`LIVE`] (a concurrent cache), or
//! [`replay_kind`] (a whole trace) and [`contenders`].

#[path = "hit_ratio/real_cache.rs"]
mod real_cache;

use evacmap::cache::policy::{Admission, Order, PolicyConfig, SimStore};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use real_cache::Dispatch;

// ---------------------------------------------------------------- contenders

/// A cache replayed over a trace.
trait Contender: Send {
    /// A request for `key` with demand fill: true on a hit; on a miss the
    /// contender inserts the key (weight 1).
    fn request(&mut self, key: u64) -> bool;
}

/// evacmap's policy over the simulated store.
struct Policy(SimStore);

impl Contender for Policy {
    fn request(&mut self, key: u64) -> bool {
        let hit = self.0.get(key);
        if !hit {
            self.0.insert(key, 1);
        }
        hit
    }
}

/// Exact LRU: a hash map into a doubly linked list kept in vectors.
struct Lru {
    capacity: usize,
    slot: HashMap<u64, u32>,
    keys: Vec<u64>,
    prev: Vec<u32>,
    next: Vec<u32>,
    head: u32, // most recent
    tail: u32, // least recent
}

const NIL: u32 = u32::MAX;

impl Lru {
    fn new(capacity: usize) -> Self {
        Lru {
            capacity,
            slot: HashMap::with_capacity(capacity + 1),
            keys: Vec::with_capacity(capacity),
            prev: Vec::with_capacity(capacity),
            next: Vec::with_capacity(capacity),
            head: NIL,
            tail: NIL,
        }
    }

    fn unlink(&mut self, s: u32) {
        let (p, n) = (self.prev[s as usize], self.next[s as usize]);
        match p {
            NIL => self.head = n,
            p => self.next[p as usize] = n,
        }
        match n {
            NIL => self.tail = p,
            n => self.prev[n as usize] = p,
        }
    }

    fn push_front(&mut self, s: u32) {
        self.prev[s as usize] = NIL;
        self.next[s as usize] = self.head;
        match self.head {
            NIL => self.tail = s,
            h => self.prev[h as usize] = s,
        }
        self.head = s;
    }
}

impl Contender for Lru {
    fn request(&mut self, key: u64) -> bool {
        if let Some(&s) = self.slot.get(&key) {
            self.unlink(s);
            self.push_front(s);
            return true;
        }
        if self.capacity == 0 {
            return false;
        }
        let s = if self.slot.len() < self.capacity {
            self.keys.push(key);
            self.prev.push(NIL);
            self.next.push(NIL);
            (self.keys.len() - 1) as u32
        } else {
            let s = self.tail;
            self.unlink(s);
            self.slot.remove(&self.keys[s as usize]);
            self.keys[s as usize] = key;
            s
        };
        self.slot.insert(key, s);
        self.push_front(s);
        false
    }
}

/// Hit ratios (%) of a replay over a trace, given its capacity and keys:
/// one per column of its [`Kind`].
type ReplayFn = dyn Fn(u64, &[u64]) -> Vec<f64> + Send + Sync;

/// A contender: how to replay a trace at a capacity, and the names of the
/// columns its replay fills (one, except for the real cache on several
/// threads, which also reports a control).
#[derive(Clone)]
struct Kind {
    columns: Vec<String>,
    replay: Arc<ReplayFn>,
}

/// A contender that replays whole traces itself (the real cache's threads).
fn replay_kind(
    columns: &[&str],
    replay: impl Fn(u64, &[u64]) -> Vec<f64> + Send + Sync + 'static,
) -> Kind {
    Kind {
        columns: columns.iter().map(|c| c.to_string()).collect(),
        replay: Arc::new(replay),
    }
}

/// A [`Contender`] built fresh for each point and fed one request at a time.
fn kind(name: &str, build: impl Fn(u64) -> Box<dyn Contender> + Send + Sync + 'static) -> Kind {
    replay_kind(&[name], move |capacity, keys| {
        let mut c = build(capacity);
        let hits = keys.iter().filter(|&&k| c.request(k)).count();
        vec![100.0 * hits as f64 / keys.len().max(1) as f64]
    })
}

/// Every column of `kinds`, in order.
fn columns(kinds: &[Kind]) -> Vec<String> {
    kinds.iter().flat_map(|k| k.columns.clone()).collect()
}

/// The policy with `config` (capacity filled in per point), walked in `order`.
fn policy_kind(name: &str, config: PolicyConfig, order: Order) -> Kind {
    kind(name, move |capacity| {
        Box::new(Policy(SimStore::with_order(
            PolicyConfig {
                max_weight: capacity,
                ..config
            },
            order,
        )))
    })
}

/// A live cache's replay on some threads (see [`real_cache::replay`]):
/// (capacity, seed, keys, threads, dispatch).
type LiveReplay = fn(u64, u64, &[u64], usize, Dispatch) -> real_cache::Replay;

/// A live cache: its `--live` name, the label of its columns, its replay.
struct Live {
    id: &'static str,
    label: &'static str,
    replay: LiveReplay,
}

/// The live caches, replayed by the same code on 1 and N threads.
const LIVE: [Live; 4] = [
    Live {
        id: "evacmap",
        label: "Cache",
        replay: real_cache::replay::<real_cache::Evacmap>,
    },
    Live {
        id: "moka",
        label: "moka",
        replay: real_cache::replay::<real_cache::Moka>,
    },
    Live {
        id: "quick_cache",
        label: "quick_cache",
        replay: real_cache::replay::<real_cache::QuickCache>,
    },
    Live {
        id: "lru",
        label: "Mutex<lru>",
        replay: real_cache::replay::<real_cache::LockedLru>,
    },
];

/// The name of a live cache's column on `threads` threads (`cache` is its
/// label: "Cache" for evacmap's).
fn cache_name(cache: &str, threads: usize) -> String {
    match threads {
        1 => format!("{cache} 1 thread"),
        n => format!("{cache} {n} threads"),
    }
}

/// The control column of a live cache on `threads` threads: the order it
/// saw, replayed on one thread (see [`real_cache`]).
fn reordered_name(cache: &str, threads: usize) -> String {
    format!("{cache} 1 thread, {threads}t order")
}

/// The default contenders: the policy and LRU, then (unless `cache_threads`
/// is 0) each live cache of `live` on one thread and on `cache_threads`
/// threads, with its control.
fn contenders(seed: u64, cache_threads: usize, dispatch: Dispatch, live: &[String]) -> Vec<Kind> {
    let mut kinds = vec![
        policy_kind(
            "evacmap",
            PolicyConfig {
                seed,
                ..PolicyConfig::new(0)
            },
            Order::Hash,
        ),
        kind("LRU", |capacity| Box::new(Lru::new(capacity as usize))),
    ];
    for cache in LIVE.iter().filter(|c| live.iter().any(|id| id == c.id)) {
        let replay = cache.replay;
        if cache_threads > 0 {
            kinds.push(replay_kind(
                &[&cache_name(cache.label, 1)],
                move |capacity, keys| vec![replay(capacity, seed, keys, 1, dispatch).hit],
            ));
        }
        if cache_threads > 1 {
            let columns = [
                cache_name(cache.label, cache_threads),
                reordered_name(cache.label, cache_threads),
            ];
            kinds.push(replay_kind(
                &[&columns[0], &columns[1]],
                move |capacity, keys| {
                    let r = replay(capacity, seed, keys, cache_threads, dispatch);
                    vec![r.hit, r.reordered.unwrap()]
                },
            ));
        }
    }
    kinds
}

/// The ablation variants: the default, then each adaptive part switched off,
/// then the main region walked in insertion order instead of hash order, then
/// plain S3-FIFO (libCacheSim's parameters) both ways, then experiments.
fn ablations(seed: u64) -> Vec<Kind> {
    let base = PolicyConfig {
        seed,
        ..PolicyConfig::new(0)
    };
    let with = |change: &dyn Fn(&mut PolicyConfig)| {
        let mut c = base;
        change(&mut c);
        c
    };
    let s3 = with(&|c| {
        c.admission = Admission::Recency;
        c.climb = false;
        c.promote_after = 2;
    });
    let variants = [
        ("default", base, Order::Hash),
        (
            "recency door only (S3-FIFO)",
            with(&|c| c.admission = Admission::Recency),
            Order::Hash,
        ),
        (
            "frequency door only (TinyLFU)",
            with(&|c| c.admission = Admission::Frequency),
            Order::Hash,
        ),
        (
            "no hill climbing (small 5%)",
            with(&|c| c.climb = false),
            Order::Hash,
        ),
        ("no ghosts", with(&|c| c.ghosts = false), Order::Hash),
        (
            "sweep does not feed the sketch",
            with(&|c| c.sweep_feeds_sketch = false),
            Order::Hash,
        ),
        (
            "no random admission",
            with(&|c| c.random_admission = false),
            Order::Hash,
        ),
        (
            "insertion-order main (not the cache)",
            base,
            Order::Insertion,
        ),
        ("S3-FIFO, insertion order", s3, Order::Insertion),
        ("S3-FIFO, hash order", s3, Order::Hash),
        (
            "promote after 2 hits",
            with(&|c| c.promote_after = 2),
            Order::Hash,
        ),
    ];
    variants
        .into_iter()
        .map(|(name, config, order)| policy_kind(name, config, order))
        .collect()
}

// -------------------------------------------------------------------- traces

/// How a trace file is laid out.
#[derive(Clone, Copy, Debug)]
enum Format {
    /// ARC: text `start len ignored reqno`, expanding to keys start..start+len.
    Arc,
    /// LIRS: text, one integer key a line; `*` is no request.
    Lirs,
    /// Big-endian binary integers of 4 or 8 bytes, one per request.
    Be4,
    Be8,
    /// Text `op 0xADDRESS ...`: the hexadecimal address is the key.
    Address,
    /// Text `time key size`: the second column is the key.
    Second,
    /// Generated here (see [`synthetic`]).
    Synthetic,
}

fn read_all(path: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .read_to_end(&mut bytes)
        .unwrap();
    bytes
}

fn load(path: &Path, format: Format) -> Vec<u64> {
    let mut keys = Vec::new();
    let text_lines = |f: &mut dyn FnMut(&str)| {
        let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for line in BufReader::new(file).lines() {
            f(line.unwrap().trim());
        }
    };
    match format {
        Format::Arc => text_lines(&mut |line| {
            let mut fields = line.split_ascii_whitespace();
            let (Some(start), Some(len)) = (fields.next(), fields.next()) else {
                return;
            };
            let (start, len): (u64, u64) = (start.parse().unwrap(), len.parse().unwrap());
            keys.extend(start..start + len);
        }),
        Format::Lirs => text_lines(&mut |line| {
            if !line.is_empty() && line != "*" {
                keys.push(line.parse().unwrap());
            }
        }),
        Format::Address => text_lines(&mut |line| {
            if let Some(addr) = line.split(' ').nth(1) {
                keys.push(u64::from_str_radix(addr.trim_start_matches("0x"), 16).unwrap());
            }
        }),
        Format::Second => text_lines(&mut |line| {
            if let Some(key) = line.split(' ').nth(1) {
                keys.push(key.parse().unwrap());
            }
        }),
        Format::Be4 => keys.extend(
            read_all(path)
                .chunks_exact(4)
                .map(|c| u64::from(u32::from_be_bytes(c.try_into().unwrap()))),
        ),
        Format::Be8 => keys.extend(
            read_all(path)
                .chunks_exact(8)
                .map(|c| u64::from_be_bytes(c.try_into().unwrap())),
        ),
        Format::Synthetic => keys = synthetic(path.file_name().unwrap().to_str().unwrap()),
    }
    keys
}

/// Deterministic synthetic traces.
/// - `scan_hot`: a hot set of 500 keys (uniform) for 5,000 requests, then a
///   scan of 5,000 keys along a 30,000-key cycle, alternating 60 times.
/// - `shifting_hot`: phases of 20,000 requests over a hot set of 1,000 keys
///   (skewed: key i drawn with weight ~ 1/(i+1)), the set changing every
///   phase and coming back every 4 phases, with a one-shot key every 4th
///   request.
fn synthetic(name: &str) -> Vec<u64> {
    let mut state = 0x1234_5678_u64;
    let mut rand = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        evacmap::cache::policy::mix64(state)
    };
    let mut keys = Vec::new();
    match name {
        "scan_hot" => {
            let mut scan = 0;
            for _ in 0..60 {
                keys.extend((0..5000).map(|_| rand() % 500));
                for _ in 0..5000 {
                    keys.push(1_000_000 + scan % 30_000);
                    scan += 1;
                }
            }
        }
        "shifting_hot" => {
            let mut fresh = 10_000_000;
            for phase in 0..40u64 {
                let base = (phase % 4) * 100_000;
                for i in 0..20_000u64 {
                    if i % 4 == 3 {
                        fresh += 1;
                        keys.push(fresh);
                    } else {
                        // 1/(i+1) weights by inversion: i = e^(u ln 1000) - 1
                        let u = (rand() >> 11) as f64 / (1u64 << 53) as f64;
                        keys.push(base + ((1000f64).powf(u) as u64 - 1).min(999));
                    }
                }
            }
        }
        _ => panic!("unknown synthetic trace {name}"),
    }
    keys
}

// -------------------------------------------------------------------- points

/// The README's reference hit ratios at a point (%).
#[derive(Clone, Copy)]
struct Reference {
    optimum: f64,
    lru: f64,
    moka: Option<f64>,
    quick_cache: Option<f64>,
    best: &'static str,
    best_hit: f64,
}

/// A trace at one capacity.
#[derive(Clone)]
struct Point {
    set: &'static str,
    trace: &'static str,
    capacity: u64,
    reference: Option<Reference>,
}

/// Trace file names and formats (`dir` is `traces` or `extra`).
struct TraceFile {
    name: &'static str,
    extra: bool,
    file: &'static str,
    format: Format,
}

const TRACE_FILES: &[TraceFile] = &[
    TraceFile {
        name: "OLTP",
        extra: false,
        file: "OLTP.lis",
        format: Format::Arc,
    },
    TraceFile {
        name: "P3",
        extra: false,
        file: "P3.lis",
        format: Format::Arc,
    },
    TraceFile {
        name: "P6",
        extra: false,
        file: "P6.lis",
        format: Format::Arc,
    },
    TraceFile {
        name: "loop",
        extra: false,
        file: "loop.trace",
        format: Format::Lirs,
    },
    TraceFile {
        name: "zigzag",
        extra: false,
        file: "zigzag.trace",
        format: Format::Lirs,
    },
    TraceFile {
        name: "sprite",
        extra: false,
        file: "sprite.trace",
        format: Format::Lirs,
    },
    TraceFile {
        name: "multi2",
        extra: false,
        file: "multi2.trace",
        format: Format::Lirs,
    },
    TraceFile {
        name: "gli",
        extra: false,
        file: "gli.trace",
        format: Format::Lirs,
    },
    TraceFile {
        name: "2_pools",
        extra: false,
        file: "2_pools.trace",
        format: Format::Lirs,
    },
    // Extra traces: github.com/moka-rs/cache-trace (arc/) and the Caffeine
    // simulator's resources (github.com/ben-manes/caffeine,
    // simulator/src/main/resources/.../simulator/parser/), decompressed.
    TraceFile {
        name: "P2",
        extra: true,
        file: "P2.lis",
        format: Format::Arc,
    },
    TraceFile {
        name: "P12",
        extra: true,
        file: "P12.lis",
        format: Format::Arc,
    },
    TraceFile {
        name: "cs",
        extra: true,
        file: "lirs_cs.trace",
        format: Format::Lirs,
    },
    TraceFile {
        name: "ps",
        extra: true,
        file: "lirs_ps.trace",
        format: Format::Lirs,
    },
    TraceFile {
        name: "cpp",
        extra: true,
        file: "lirs_cpp.trace",
        format: Format::Lirs,
    },
    TraceFile {
        name: "multi1",
        extra: true,
        file: "lirs_multi1.trace",
        format: Format::Lirs,
    },
    TraceFile {
        name: "multi3",
        extra: true,
        file: "lirs_multi3.trace",
        format: Format::Lirs,
    },
    TraceFile {
        name: "scan",
        extra: true,
        file: "lirs_scan.trace",
        format: Format::Lirs,
    },
    TraceFile {
        name: "backf",
        extra: true,
        file: "lirs_backf.trace",
        format: Format::Lirs,
    },
    TraceFile {
        name: "web07",
        extra: true,
        file: "cache2k_web07.trace",
        format: Format::Be4,
    },
    TraceFile {
        name: "web12",
        extra: true,
        file: "cache2k_web12.trace",
        format: Format::Be4,
    },
    TraceFile {
        name: "orm-busy",
        extra: true,
        file: "cache2k_orm-busy.trace",
        format: Format::Be4,
    },
    TraceFile {
        name: "orm-night",
        extra: true,
        file: "cache2k_orm-night.trace",
        format: Format::Be4,
    },
    TraceFile {
        name: "w106",
        extra: true,
        file: "cloud_physics_w106.trace",
        format: Format::Be4,
    },
    TraceFile {
        name: "corda",
        extra: true,
        file: "corda_trace_vaultservice",
        format: Format::Be8,
    },
    TraceFile {
        name: "scarab",
        extra: true,
        file: "scarab_scarab-recs.trace",
        format: Format::Be8,
    },
    TraceFile {
        name: "gcc",
        extra: true,
        file: "address_gcc.trace",
        format: Format::Address,
    },
    TraceFile {
        name: "swim",
        extra: true,
        file: "address_swim.trace",
        format: Format::Address,
    },
    TraceFile {
        name: "adapt_size",
        extra: true,
        file: "adapt_size_request.trace",
        format: Format::Second,
    },
    TraceFile {
        name: "scan_hot",
        extra: true,
        file: "scan_hot",
        format: Format::Synthetic,
    },
    TraceFile {
        name: "shifting_hot",
        extra: true,
        file: "shifting_hot",
        format: Format::Synthetic,
    },
];

/// The 32 points of ../shared/traces/README.md with its reference columns:
/// (trace, capacity, optimum, LRU, moka 0.12, quick_cache 0.7, best online, its hit %).
#[rustfmt::skip]
#[allow(clippy::type_complexity)]
const README_POINTS: &[(&str, u64, f64, f64, f64, f64, &str, f64)] = &[
    ("OLTP", 256, 38.75, 16.69, 23.05, 19.46, "foyer W-TinyLFU", 23.52),
    ("OLTP", 512, 46.69, 23.69, 29.94, 27.56, "S3-FIFO", 32.73),
    ("OLTP", 1000, 53.62, 32.83, 35.77, 35.23, "S3-FIFO", 40.86),
    ("OLTP", 2000, 60.40, 42.47, 41.29, 43.77, "S3-FIFO", 47.03),
    ("P3", 20000, 21.95, 2.28, 11.60, 8.37, "mini-moka (TinyLFU)", 11.80),
    ("P3", 160000, 70.83, 51.58, 50.74, 53.80, "ARC", 55.73),
    ("P6", 20000, 25.60, 2.05, 16.96, 9.75, "mini-moka (TinyLFU)", 16.97),
    ("P6", 160000, 90.34, 83.27, 80.04, 84.39, "S3-FIFO", 84.86),
    ("loop", 256, 25.27, 0.00, 24.82, 24.48, "mini-moka (TinyLFU)", 25.23),
    ("loop", 512, 50.54, 0.00, 50.52, 48.96, "moka (TinyLFU)", 50.52),
    ("loop", 768, 75.81, 0.00, 75.78, 52.90, "moka (TinyLFU)", 75.78),
    ("loop", 1024, 99.80, 99.80, 99.80, 97.14, "ARC", 99.80),
    ("zigzag", 128, 6.15, 6.11, 2.88, 2.88, "LRU", 6.11),
    ("zigzag", 256, 12.31, 12.26, 11.76, 5.82, "LRU", 12.26),
    ("zigzag", 512, 24.61, 24.57, 24.59, 11.97, "moka (TinyLFU)", 24.59),
    ("zigzag", 768, 36.92, 36.87, 35.67, 18.12, "LRU", 36.87),
    ("sprite", 128, 57.31, 27.37, 39.78, 35.78, "moka (TinyLFU)", 39.78),
    ("sprite", 256, 75.07, 49.90, 57.80, 55.14, "moka (TinyLFU)", 57.80),
    ("sprite", 512, 88.20, 78.94, 76.01, 76.91, "S3-FIFO", 79.37),
    ("sprite", 768, 91.95, 87.82, 81.36, 84.99, "LRU", 87.82),
    ("multi2", 128, 37.97, 9.60, 30.93, 20.71, "moka (TinyLFU)", 30.93),
    ("multi2", 256, 47.02, 24.54, 38.90, 34.21, "moka (TinyLFU)", 38.90),
    ("multi2", 512, 53.85, 36.37, 50.63, 46.73, "moka (TinyLFU)", 50.63),
    ("multi2", 768, 58.63, 38.77, 54.21, 54.52, "LIRS", 54.90),
    ("gli", 250, 17.71, 0.91, 11.69, 16.04, "quick_cache", 16.04),
    ("gli", 500, 34.33, 0.95, 26.55, 31.94, "LIRS", 33.22),
    ("gli", 1000, 53.15, 11.21, 44.82, 48.28, "LIRS", 50.72),
    ("gli", 2000, 57.96, 57.41, 57.96, 57.52, "LIRS", 57.96),
    ("2_pools", 128, 53.27, 26.86, 49.94, 49.95, "LIRS", 49.97),
    ("2_pools", 256, 58.09, 42.18, 50.76, 50.66, "moka (TinyLFU)", 50.76),
    ("2_pools", 512, 63.02, 51.22, 52.01, 52.00, "mini-moka (TinyLFU)", 52.04),
    ("2_pools", 768, 66.23, 53.21, 53.24, 53.30, "quick_cache", 53.30),
];

/// Extra points (traces not in ../shared/traces) with references measured
/// here over the same key streams: libCacheSim 0.3.5's LRU, ARC, LIRS,
/// S3-FIFO, SIEVE, W-TinyLFU and Belady (the optimum), and moka 0.12.16,
/// mini-moka 0.10.3 and quick_cache 0.7.0 replayed as the README's were
/// (see docs/POLICY.md): (trace, capacity, optimum, LRU, moka, quick_cache,
/// best online, its hit %).
#[rustfmt::skip]
#[allow(clippy::type_complexity)]
const EXTRA_POINTS: &[(&str, u64, f64, f64, Option<f64>, Option<f64>, &str, f64)] = &[
    ("P2", 20000, 37.17, 11.96, Some(20.82), Some(20.43), "W-TinyLFU", 23.06),
    ("P2", 80000, 63.87, 37.90, Some(49.24), Some(49.48), "W-TinyLFU", 50.03),
    ("P2", 160000, 77.65, 57.64, Some(66.52), Some(67.24), "quick_cache", 67.24),
    ("P12", 20000, 24.05, 7.44, Some(9.90), Some(10.74), "S3-FIFO", 13.67),
    ("P12", 80000, 46.09, 17.69, Some(31.05), Some(30.61), "W-TinyLFU", 32.68),
    ("P12", 160000, 58.41, 36.03, Some(44.40), Some(45.37), "quick_cache", 45.37),
    ("cs", 128, 9.38, 1.83, Some(3.52), Some(6.55), "S3-FIFO", 7.95),
    ("cs", 256, 16.93, 1.83, Some(13.83), Some(13.86), "S3-FIFO", 14.39),
    ("cs", 512, 32.03, 1.83, Some(30.97), Some(28.43), "moka", 30.97),
    ("ps", 128, 36.50, 12.19, Some(34.53), Some(23.13), "moka", 34.53),
    ("ps", 256, 53.43, 13.06, Some(50.57), Some(46.87), "S3-FIFO", 52.38),
    ("ps", 512, 58.33, 48.55, Some(56.65), Some(56.79), "W-TinyLFU", 57.11),
    ("ps", 1024, 68.13, 48.55, Some(63.00), Some(66.30), "W-TinyLFU", 67.05),
    ("cpp", 128, 84.39, 76.61, Some(80.38), Some(81.39), "quick_cache", 81.39),
    ("cpp", 256, 86.48, 83.08, Some(84.41), Some(84.78), "ARC", 85.40),
    ("cpp", 512, 86.48, 84.81, Some(85.40), Some(85.84), "LIRS", 85.91),
    ("multi1", 128, 49.24, 23.09, Some(43.66), Some(40.64), "S3-FIFO", 45.57),
    ("multi1", 256, 52.63, 43.05, Some(48.57), Some(49.33), "S3-FIFO", 49.74),
    ("multi1", 512, 59.09, 46.66, Some(55.77), Some(55.92), "LIRS", 56.21),
    ("multi1", 1024, 72.00, 48.24, Some(68.48), Some(68.46), "LIRS", 68.96),
    ("multi3", 256, 42.38, 18.19, Some(34.75), Some(28.87), "moka", 34.75),
    ("multi3", 512, 49.08, 32.78, Some(44.68), Some(36.95), "moka", 44.68),
    ("multi3", 1024, 56.60, 38.35, Some(50.84), Some(51.86), "LIRS", 52.32),
    ("multi3", 2048, 69.10, 44.62, Some(59.54), Some(61.71), "LIRS", 62.75),
    ("scan", 128, 6.14, 0.00, Some(0.13), Some(5.95), "LIRS", 6.09),
    ("scan", 256, 12.28, 0.00, Some(10.34), Some(11.90), "LIRS", 12.19),
    ("scan", 512, 24.56, 0.00, Some(22.44), Some(23.80), "LIRS", 24.32),
    ("scan", 1024, 49.13, 0.00, Some(47.25), Some(47.64), "mini-moka", 49.10),
    ("backf", 100, 12.22, 12.22, Some(11.72), Some(5.99), "LRU", 12.22),
    ("backf", 200, 24.44, 24.44, Some(22.29), Some(12.10), "LRU", 24.44),
    ("backf", 400, 48.89, 48.89, Some(47.48), Some(24.32), "LRU", 48.89),
    ("web07", 500, 59.16, 45.58, Some(47.80), Some(48.43), "S3-FIFO", 50.06),
    ("web07", 2000, 67.97, 55.50, Some(55.90), Some(57.90), "S3-FIFO", 58.07),
    ("web07", 5000, 72.91, 62.67, Some(62.04), Some(63.78), "ARC", 64.31),
    ("web12", 500, 71.81, 55.78, Some(58.30), Some(58.85), "S3-FIFO", 60.77),
    ("web12", 2000, 82.34, 72.56, Some(72.55), Some(74.73), "S3-FIFO", 75.39),
    ("web12", 5000, 85.61, 80.70, Some(79.71), Some(81.52), "ARC", 81.89),
    ("orm-busy", 1000, 84.14, 78.78, Some(66.88), Some(76.19), "LRU", 78.78),
    ("orm-busy", 5000, 91.40, 85.46, Some(80.08), Some(85.87), "S3-FIFO", 86.64),
    ("orm-busy", 20000, 96.70, 93.60, Some(92.17), Some(93.82), "W-TinyLFU", 94.56),
    ("orm-night", 1000, 75.76, 67.32, Some(57.62), Some(63.78), "ARC", 67.67),
    ("orm-night", 5000, 94.15, 87.85, Some(86.40), Some(89.38), "S3-FIFO", 90.43),
    ("orm-night", 20000, 97.59, 95.87, Some(94.38), Some(96.06), "S3-FIFO", 96.30),
    ("w106", 5000, 86.68, 82.14, Some(79.67), Some(82.53), "S3-FIFO", 83.67),
    ("w106", 25000, 93.75, 91.34, Some(89.93), Some(91.75), "W-TinyLFU", 92.42),
    ("w106", 100000, 94.80, 93.75, Some(84.66), Some(93.59), "W-TinyLFU", 94.31),
    ("corda", 5000, 33.33, 33.33, Some(19.52), Some(33.33), "LRU", 33.33),
    ("corda", 25000, 33.33, 33.33, Some(24.39), Some(33.33), "LRU", 33.33),
    ("scarab", 1000, 44.91, 26.96, Some(31.77), Some(32.85), "S3-FIFO", 35.24),
    ("scarab", 10000, 66.57, 48.65, Some(49.94), Some(52.21), "S3-FIFO", 53.53),
    ("scarab", 50000, 78.63, 69.15, Some(63.02), Some(68.82), "ARC", 69.75),
    ("gcc", 500, 92.99, 92.06, Some(90.19), Some(91.40), "ARC", 92.11),
    ("gcc", 2000, 93.20, 92.78, Some(90.12), Some(92.62), "SIEVE", 92.81),
    ("gcc", 8000, 93.20, 93.05, Some(84.36), Some(92.99), "SIEVE", 93.06),
    ("swim", 500, 92.49, 90.58, Some(90.08), Some(91.31), "ARC", 92.07),
    ("swim", 2000, 92.54, 92.42, Some(90.80), Some(92.22), "LRU", 92.42),
    ("swim", 8000, 92.54, 92.49, Some(91.60), Some(92.43), "ARC", 92.52),
    ("adapt_size", 1000, 40.25, 27.95, Some(29.31), Some(30.64), "S3-FIFO", 32.50),
    ("adapt_size", 5000, 45.04, 35.71, Some(36.51), Some(38.10), "ARC", 39.24),
    ("adapt_size", 15000, 45.04, 41.99, Some(41.51), Some(43.09), "quick_cache", 43.09),
    ("scan_hot", 256, 40.60, 24.81, Some(25.54), Some(25.53), "SIEVE", 25.59),
    ("scan_hot", 512, 49.93, 45.00, Some(48.93), Some(49.88), "LIRS", 49.93),
    ("scan_hot", 1024, 50.70, 45.00, Some(49.72), Some(50.66), "LIRS", 50.69),
    ("scan_hot", 2048, 52.24, 45.00, Some(50.94), Some(52.15), "LIRS", 52.21),
    ("shifting_hot", 500, 68.34, 54.59, Some(57.54), Some(59.35), "LIRS", 61.55),
    ("shifting_hot", 1000, 70.49, 62.01, Some(59.48), Some(62.17), "ARC", 65.17),
    ("shifting_hot", 2000, 71.99, 67.51, Some(61.71), Some(64.47), "ARC", 67.78),
    ("shifting_hot", 4000, 74.50, 69.93, Some(71.62), Some(73.78), "ARC", 74.28),
];

fn points() -> Vec<Point> {
    let mut out: Vec<Point> = README_POINTS
        .iter()
        .map(
            |&(trace, capacity, optimum, lru, moka, qc, best, best_hit)| Point {
                set: "readme",
                trace,
                capacity,
                reference: Some(Reference {
                    optimum,
                    lru,
                    moka: Some(moka),
                    quick_cache: Some(qc),
                    best,
                    best_hit,
                }),
            },
        )
        .collect();
    out.extend(EXTRA_POINTS.iter().map(
        |&(trace, capacity, optimum, lru, moka, quick_cache, best, best_hit)| Point {
            set: "extra",
            trace,
            capacity,
            reference: Some(Reference {
                optimum,
                lru,
                moka,
                quick_cache,
                best,
                best_hit,
            }),
        },
    ));
    out
}

/// Capacities for the extra traces that have no reference yet (with
/// `--extra-caps`): several per trace from small to large.
fn default_capacities(distinct: usize) -> Vec<u64> {
    [0.005, 0.02, 0.05, 0.1, 0.2]
        .iter()
        .map(|f| ((distinct as f64 * f) as u64).max(64))
        .collect()
}

// ----------------------------------------------------------------- the run

struct Options {
    traces: PathBuf,
    extra_dir: PathBuf,
    extra: bool,
    readme: bool,
    only: Option<Vec<String>>,
    seeds: Vec<u64>,
    ablate: bool,
    variants: Option<Vec<usize>>,
    threads: usize,
    cache_threads: usize,
    cache_dispatch: Dispatch,
    live: Vec<String>,
    json: Option<PathBuf>,
    dump: Option<PathBuf>,
    memory: Option<u64>,
    new_points: bool,
}

fn options() -> Options {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut o = Options {
        traces: std::env::var_os("EVACMAP_TRACES")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("../shared/traces")),
        extra_dir: std::env::var_os("EVACMAP_EXTRA_TRACES")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/tmp/traces-extra")),
        extra: false,
        readme: true,
        only: None,
        seeds: vec![0x9e37_79b9_7f4a_7c15],
        ablate: false,
        variants: None,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cache_threads: 4,
        cache_dispatch: Dispatch::Queue,
        live: LIVE.iter().map(|c| c.id.to_string()).collect(),
        json: Some(root.join("benches/results/hit_ratio.json")),
        dump: None,
        memory: None,
        new_points: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--bench" => {}
            "--extra" => o.extra = true,
            "--extra-only" => (o.extra, o.readme) = (true, false),
            "--new-points" => (o.extra, o.readme, o.new_points) = (true, false, true),
            "--only" => o.only = Some(value().split(',').map(str::to_string).collect()),
            "--seeds" => o.seeds = value().split(',').map(|s| s.parse().unwrap()).collect(),
            "--ablate" => o.ablate = true,
            "--variants" => {
                o.variants = Some(value().split(',').map(|s| s.parse().unwrap()).collect())
            }
            "--threads" => o.threads = value().parse().unwrap(),
            "--cache-threads" => o.cache_threads = value().parse().unwrap(),
            "--cache-round" => {
                o.cache_dispatch = Dispatch::Stride {
                    round: value().parse().unwrap(),
                }
            }
            "--cache-dispatch" => {
                o.cache_dispatch = match value().as_str() {
                    "queue" => Dispatch::Queue,
                    "stride" => Dispatch::Stride { round: 0 },
                    other => panic!("--cache-dispatch: queue or stride, not {other}"),
                }
            }
            "--no-cache" => o.cache_threads = 0,
            "--live" => {
                o.live = value().split(',').map(str::to_string).collect();
                for id in &o.live {
                    assert!(
                        LIVE.iter().any(|c| c.id == id),
                        "--live: unknown cache {id} (evacmap, moka, quick_cache, lru)"
                    );
                }
            }
            "--json" => o.json = Some(value().into()),
            "--no-json" => o.json = None,
            "--dump" => o.dump = Some(value().into()),
            "--memory" => o.memory = Some(value().parse().unwrap()),
            other => panic!("unknown argument {other}"),
        }
    }
    o
}

/// Loads each trace once.
struct Traces {
    loaded: Mutex<HashMap<&'static str, Arc<Vec<u64>>>>,
    dir: PathBuf,
    extra_dir: PathBuf,
}

impl Traces {
    fn get(&self, name: &str) -> Arc<Vec<u64>> {
        let file = TRACE_FILES
            .iter()
            .find(|t| t.name == name)
            .expect("known trace");
        if let Some(keys) = self.loaded.lock().unwrap().get(file.name) {
            return keys.clone();
        }
        let dir = if file.extra {
            &self.extra_dir
        } else {
            &self.dir
        };
        let keys = Arc::new(load(&dir.join(file.file), file.format));
        self.loaded.lock().unwrap().insert(file.name, keys.clone());
        keys
    }
}

/// Runs every (point, kind) pair on `threads` threads;
/// results[point][column], the columns of [`columns`].
fn run_all(points: &[Point], kinds: &[Kind], traces: &Traces, threads: usize) -> Vec<Vec<f64>> {
    let mut jobs: Vec<(usize, usize)> = (0..points.len())
        .flat_map(|p| (0..kinds.len()).map(move |k| (p, k)))
        .collect();
    // Longest traces first, so the tail of the run stays parallel.
    let len = |p: &Point| traces.get(p.trace).len();
    jobs.sort_by_key(|&(p, _)| std::cmp::Reverse(len(&points[p])));
    let first_column: Vec<usize> = kinds
        .iter()
        .scan(0, |next, k| {
            let first = *next;
            *next += k.columns.len();
            Some(first)
        })
        .collect();
    let results = Mutex::new(vec![vec![f64::NAN; columns(kinds).len()]; points.len()]);
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(p, k)) = jobs.get(i) else { break };
                let keys = traces.get(points[p].trace);
                let hits = (kinds[k].replay)(points[p].capacity, &keys);
                assert_eq!(hits.len(), kinds[k].columns.len());
                let at = first_column[k];
                results.lock().unwrap()[p][at..at + hits.len()].copy_from_slice(&hits);
            });
        }
    });
    results.into_inner().unwrap()
}

/// Mean and worst shortfall of column `k` against the points' best online.
fn shortfalls(points: &[Point], results: &[Vec<f64>], k: usize) -> (f64, f64, String) {
    mean_worst(points, results, |p, r| {
        p.reference.map(|x| x.best_hit - r[k])
    })
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.2}"))
}

/// The main table: every point with every column and the references.
fn table(points: &[Point], columns: &[String], results: &[Vec<f64>]) -> String {
    let mut out = String::new();
    let mut header = "| trace@capacity |".to_string();
    for c in columns {
        write!(header, " {c} |").unwrap();
    }
    header += " optimum | README LRU | moka 0.12 | quick_cache 0.7 | best online | its hit % | shortfall |";
    writeln!(out, "{header}").unwrap();
    writeln!(out, "|{}", "---|".repeat(columns.len() + 8)).unwrap();
    for (p, r) in points.iter().zip(results) {
        write!(out, "| {}@{} |", p.trace, p.capacity).unwrap();
        for v in r {
            write!(out, " {v:.2} |").unwrap();
        }
        match p.reference {
            Some(x) => writeln!(
                out,
                " {:.2} | {:.2} | {} | {} | {} | {:.2} | {:+.2} |",
                x.optimum,
                x.lru,
                fmt_opt(x.moka),
                fmt_opt(x.quick_cache),
                x.best,
                x.best_hit,
                x.best_hit - r[0]
            ),
            None => writeln!(out, " - | - | - | - | - | - | - |"),
        }
        .unwrap();
    }
    out
}

fn summary(points: &[Point], columns: &[String], results: &[Vec<f64>], label: &str) -> String {
    let mut out = format!("\nShortfall against the best online policy, {label}:\n");
    for (k, name) in columns.iter().enumerate() {
        let (mean, worst, at) = shortfalls(points, results, k);
        writeln!(
            out,
            "  {name:<40} mean {mean:5.2}  worst {worst:6.2} ({at})"
        )
        .unwrap();
    }
    out
}

/// The columns of a live cache on one thread and on several (with its
/// control, the order the threads' cache saw replayed on one thread), if
/// they ran.
#[derive(Clone, Copy)]
struct CacheColumns {
    /// The cache's column label ("Cache" for evacmap's).
    label: &'static str,
    /// Its `--live` name.
    id: &'static str,
    one: usize,
    many: usize,
    reordered: usize,
    threads: usize,
}

impl CacheColumns {
    fn find(columns: &[String], live: &Live, threads: usize) -> Option<Self> {
        let column = |name: String| columns.iter().position(|c| *c == name);
        Some(CacheColumns {
            label: live.label,
            id: live.id,
            one: column(cache_name(live.label, 1))?,
            many: column(cache_name(live.label, threads)).filter(|_| threads > 1)?,
            reordered: column(reordered_name(live.label, threads))?,
            threads,
        })
    }

    /// Every live cache that ran, in [`LIVE`]'s order.
    fn all(columns: &[String], threads: usize) -> Vec<Self> {
        LIVE.iter()
            .filter_map(|live| Self::find(columns, live, threads))
            .collect()
    }

    /// The traces README's single-thread reference column for this cache
    /// (moka's and quick_cache's), if it has one.
    fn reference(&self, p: &Point) -> Option<f64> {
        let x = p.reference?;
        match self.id {
            "moka" => x.moka,
            "quick_cache" => x.quick_cache,
            _ => None,
        }
    }

    /// Hit ratio on several threads minus on one, in points.
    fn drift(&self, r: &[f64]) -> f64 {
        r[self.many] - r[self.one]
    }

    /// Hit ratio on several threads minus the same order on one thread:
    /// what concurrency itself changed.
    fn concurrency(&self, r: &[f64]) -> f64 {
        r[self.many] - r[self.reordered]
    }
}

/// Mean and worst (largest) of `value` over the points where it has one,
/// and where the worst is.
fn mean_worst(
    points: &[Point],
    results: &[Vec<f64>],
    value: impl Fn(&Point, &[f64]) -> Option<f64>,
) -> (f64, f64, String) {
    let mut worst = (f64::NEG_INFINITY, String::new());
    let (mut sum, mut n) = (0.0, 0);
    for (p, r) in points.iter().zip(results) {
        let Some(v) = value(p, r) else { continue };
        sum += v;
        n += 1;
        if v > worst.0 {
            worst = (v, format!("{}@{}", p.trace, p.capacity));
        }
    }
    (sum / n.max(1) as f64, worst.0, worst.1)
}

/// The concurrency table: the policy replay, the real cache on one thread
/// and on several, their difference, the control (the several threads'
/// order on one thread) and the real cache's shortfalls.
fn concurrency_table(points: &[Point], results: &[Vec<f64>], c: CacheColumns) -> String {
    let n = c.threads;
    let mut out = format!(
        "\n| trace@capacity | policy replay | Cache 1 thread | Cache {n} threads | {n}t − 1t \
         | 1 thread, {n}t order | {n}t − {n}t order | best online | 1t shortfall | {n}t shortfall |\n|{}\n",
        "---|".repeat(10)
    );
    for (p, r) in points.iter().zip(results) {
        let best = fmt_opt(p.reference.map(|x| x.best_hit));
        let short = |v: f64| {
            p.reference
                .map_or("-".into(), |x| format!("{:+.2}", x.best_hit - v))
        };
        writeln!(
            out,
            "| {}@{} | {:.2} | {:.2} | {:.2} | {:+.2} | {:.2} | {:+.2} | {best} | {} | {} |",
            p.trace,
            p.capacity,
            r[0],
            r[c.one],
            r[c.many],
            c.drift(r),
            r[c.reordered],
            c.concurrency(r),
            short(r[c.one]),
            short(r[c.many]),
        )
        .unwrap();
    }
    out
}

/// The live caches side by side: each one's hit ratio on 1 and N threads,
/// the README's references for moka and quick_cache, and the best online.
fn live_table(points: &[Point], results: &[Vec<f64>], cs: &[CacheColumns]) -> String {
    let n = cs[0].threads;
    let mut out = "\n| trace@capacity |".to_string();
    for c in cs {
        write!(out, " {} 1t | {} {n}t |", c.label, c.label).unwrap();
    }
    writeln!(
        out,
        " README moka | README quick_cache | best online |\n|{}",
        "---|".repeat(2 * cs.len() + 4)
    )
    .unwrap();
    for (p, r) in points.iter().zip(results) {
        write!(out, "| {}@{} |", p.trace, p.capacity).unwrap();
        for c in cs {
            write!(out, " {:.2} | {:.2} |", r[c.one], r[c.many]).unwrap();
        }
        let x = p.reference;
        writeln!(
            out,
            " {} | {} | {} |",
            fmt_opt(x.and_then(|x| x.moka)),
            fmt_opt(x.and_then(|x| x.quick_cache)),
            fmt_opt(x.map(|x| x.best_hit)),
        )
        .unwrap();
    }
    out
}

/// The live caches' shortfalls over one set of points, one row per cache:
/// mean / worst at 1 and N threads, |Nt − 1t| and |Nt − Nt order|.
fn live_summary(
    points: &[Point],
    results: &[Vec<f64>],
    cs: &[CacheColumns],
    label: &str,
) -> String {
    let n = cs[0].threads;
    let mut out = format!(
        "\nLive caches, {label} (mean / worst, worst at):\n\n| cache | 1t shortfall | {n}t shortfall \
         | \\|{n}t − 1t\\| | \\|{n}t − {n}t order on 1t\\| | \\|1t − README column\\| |\n|{}\n",
        "---|".repeat(6)
    );
    for c in cs {
        let mw = |value: &dyn Fn(&Point, &[f64]) -> Option<f64>| {
            let (mean, worst, at) = mean_worst(points, results, value);
            if mean.is_nan() || worst == f64::NEG_INFINITY {
                "-".to_string()
            } else {
                format!("{mean:.2} / {worst:.2} ({at})")
            }
        };
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            c.label,
            mw(&|p, r| p.reference.map(|x| x.best_hit - r[c.one])),
            mw(&|p, r| p.reference.map(|x| x.best_hit - r[c.many])),
            mw(&|_, r| Some(c.drift(r).abs())),
            mw(&|_, r| Some(c.concurrency(r).abs())),
            mw(&|p, r| c.reference(p).map(|x| (r[c.one] - x).abs())),
        )
        .unwrap();
    }
    out
}

/// The concurrency summary of one set of points for one live cache:
/// |several − one thread|, |several threads − their order on one thread|,
/// and the cache's shortfalls (and, for moka and quick_cache, how far its
/// single-thread replay is from the README's column), as text and as JSON.
fn concurrency_summary(
    points: &[Point],
    results: &[Vec<f64>],
    c: CacheColumns,
    label: &str,
) -> (String, serde_json::Value) {
    let n = c.threads;
    let name = c.label;
    let mut out = format!("\nConcurrency of {name}, {label}:\n");
    let mut json = serde_json::json!({ "threads": n });
    let shortfall = |p: &Point, v: f64| p.reference.map(|x| x.best_hit - v);
    type Measure<'a> = &'a dyn Fn(&Point, &[f64]) -> Option<f64>;
    let measures: [(&str, String, Measure); 5] = [
        (
            "abs_threads_minus_1_thread",
            format!("|{n}t − 1t|"),
            &|_, r| Some(c.drift(r).abs()),
        ),
        (
            "abs_threads_minus_their_order_on_1_thread",
            format!("|{n}t − {n}t order on 1 thread|"),
            &|_, r| Some(c.concurrency(r).abs()),
        ),
        (
            "cache_1_thread_shortfall",
            format!("{name} 1 thread shortfall"),
            &|p, r| shortfall(p, r[c.one]),
        ),
        (
            "cache_threads_shortfall",
            format!("{name} {n} threads shortfall"),
            &|p, r| shortfall(p, r[c.many]),
        ),
        (
            "abs_1_thread_minus_readme_column",
            format!("|{name} 1 thread − README column|"),
            &|p, r| c.reference(p).map(|x| (r[c.one] - x).abs()),
        ),
    ];
    for (key, label, value) in measures {
        let (mean, worst, at) = mean_worst(points, results, value);
        if worst == f64::NEG_INFINITY {
            continue; // no point has the measure (no README column)
        }
        writeln!(
            out,
            "  {label:<40} mean {mean:5.2}  worst {worst:6.2} ({at})"
        )
        .unwrap();
        json[key] = serde_json::json!({ "mean": mean, "worst": worst, "worst_at": at });
    }
    (out, json)
}

/// Exact-LRU check against the README's LRU column: a replay bug shows here.
/// Both the replay's own LRU and the live `Mutex<lru>` on one thread (an
/// exact LRU too) must reproduce it.
fn check_lru(points: &[Point], columns: &[String], results: &[Vec<f64>]) {
    let live_lru = cache_name(LIVE[3].label, 1);
    for k in columns
        .iter()
        .enumerate()
        .filter(|(_, c)| *c == "LRU" || **c == live_lru)
        .map(|(k, _)| k)
    {
        check_lru_column(points, &columns[k], results, k);
    }
}

fn check_lru_column(points: &[Point], name: &str, results: &[Vec<f64>], k: usize) {
    for (p, r) in points.iter().zip(results) {
        if let Some(reference) = p.reference {
            let diff = (r[k] - reference.lru).abs();
            assert!(
                diff < 0.006,
                "{name} at {}@{} is {:.2}, the reference says {:.2}: replay bug",
                p.trace,
                p.capacity,
                r[k],
                reference.lru
            );
        }
    }
}

/// Writes the trace as a libCacheSim oracleGeneral file (u32 time, u64 id,
/// u32 size, i64 next access or -1), for the reference policies.
fn dump(keys: &[u64], path: &Path) {
    let mut next = vec![-1i64; keys.len()];
    let mut seen: HashMap<u64, usize> = HashMap::new();
    for (i, &k) in keys.iter().enumerate().rev() {
        if let Some(j) = seen.insert(k, i) {
            next[i] = j as i64;
        }
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for (i, &k) in keys.iter().enumerate() {
        out.write_all(&(i as u32).to_le_bytes()).unwrap();
        out.write_all(&k.to_le_bytes()).unwrap();
        out.write_all(&1u32.to_le_bytes()).unwrap();
        out.write_all(&next[i].to_le_bytes()).unwrap();
    }
}

/// Bytes of the policy's own structures per entry once `entries` weight-1
/// entries are cached, under three workloads: uniform keys (four times as
/// many as fit), a loop a third bigger than the cache, and a scan of new keys.
fn memory(entries: u64) {
    let workloads: [(&str, &dyn Fn(u64) -> u64); 3] = [
        ("uniform over 4x", &|i| {
            evacmap::cache::policy::mix64(i) % (4 * entries)
        }),
        ("loop of 1.33x", &|i| i % (entries + entries / 3)),
        ("scan (all new)", &|i| i),
    ];
    println!(
        "| workload | entries | small share | small queue | ghosts | sketch | total B/entry |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, key) in workloads {
        let mut s = SimStore::new(PolicyConfig::new(entries));
        for i in 0..4 * entries {
            let k = key(i);
            if !s.get(k) {
                s.insert(k, 1);
            }
        }
        let p = s.policy();
        let n = s.len() as f64;
        let parts = p.heap_bytes_by_part();
        println!(
            "| {name} | {} | {:.1}% | {:.2} | {:.2} | {:.2} | {:.2} |",
            s.len(),
            100.0 * p.small_share(),
            parts[0].1 as f64 / n,
            parts[1].1 as f64 / n,
            parts[2].1 as f64 / n,
            p.heap_bytes() as f64 / n
        );
    }
}

fn main() {
    let o = options();
    if let Some(entries) = o.memory {
        memory(entries);
        return;
    }
    let traces = Traces {
        loaded: Mutex::new(HashMap::new()),
        dir: o.traces.clone(),
        extra_dir: o.extra_dir.clone(),
    };
    let wanted = |name: &str| {
        o.only
            .as_ref()
            .map_or(true, |only| only.iter().any(|n| n == name))
    };

    if let Some(dir) = &o.dump {
        std::fs::create_dir_all(dir).unwrap();
        for t in TRACE_FILES
            .iter()
            .filter(|t| wanted(t.name) && (o.extra || !t.extra))
        {
            let keys = traces.get(t.name);
            let distinct = keys.iter().collect::<std::collections::HashSet<_>>().len();
            dump(&keys, &dir.join(format!("{}.oracleGeneral", t.name)));
            println!("{} {} requests {} distinct", t.name, keys.len(), distinct);
        }
        return;
    }

    let mut points: Vec<Point> = points()
        .into_iter()
        .filter(|p| {
            wanted(p.trace) && ((o.readme && p.set == "readme") || (o.extra && p.set == "extra"))
        })
        .collect();
    if o.new_points {
        // Extra traces at default capacities, without references.
        points.clear();
        for t in TRACE_FILES.iter().filter(|t| t.extra && wanted(t.name)) {
            let keys = traces.get(t.name);
            let distinct = keys.iter().collect::<std::collections::HashSet<_>>().len();
            for capacity in default_capacities(distinct) {
                points.push(Point {
                    set: "extra",
                    trace: t.name,
                    capacity,
                    reference: None,
                });
            }
        }
    }

    let mut report = String::new();
    let mut json_runs = Vec::new();
    for &seed in &o.seeds {
        let mut kinds = if o.ablate {
            ablations(seed)
        } else {
            contenders(seed, o.cache_threads, o.cache_dispatch, &o.live)
        };
        if let Some(v) = &o.variants {
            kinds = v.iter().map(|&i| kinds[i].clone()).collect();
        }
        let results = run_all(&points, &kinds, &traces, o.threads);
        let columns = columns(&kinds);
        check_lru(&points, &columns, &results);
        writeln!(report, "\n## hash seed {seed:#x}\n").unwrap();
        report += &table(&points, &columns, &results);
        let live = CacheColumns::all(&columns, o.cache_threads);
        // evacmap's own cache, for its concurrency table.
        let cache_columns = live.iter().copied().find(|c| c.id == "evacmap");
        let mut concurrency = serde_json::Map::new();
        if let Some(c) = cache_columns {
            report += &concurrency_table(&points, &results, c);
        }
        if !live.is_empty() {
            report += &live_table(&points, &results, &live);
            writeln!(
                report,
                "\n(the live caches' {} threads take the trace's requests by {})",
                o.cache_threads,
                o.cache_dispatch.label()
            )
            .unwrap();
            concurrency.insert("dispatch".into(), o.cache_dispatch.label().into());
        }
        let mut by_cache = serde_json::Map::new();
        for set in ["readme", "extra"] {
            let idx: Vec<usize> = (0..points.len())
                .filter(|&i| points[i].set == set)
                .collect();
            if idx.is_empty() {
                continue;
            }
            let ps: Vec<Point> = idx.iter().map(|&i| points[i].clone()).collect();
            let rs: Vec<Vec<f64>> = idx.iter().map(|&i| results[i].clone()).collect();
            let label = if set == "readme" {
                "the README's 32 points"
            } else {
                "the extra points"
            };
            report += &summary(&ps, &columns, &rs, label);
            for &c in &live {
                let (text, json) = concurrency_summary(&ps, &rs, c, label);
                report += &text;
                if c.id == "evacmap" {
                    concurrency.insert(set.to_string(), json.clone());
                }
                by_cache
                    .entry(c.label)
                    .or_insert_with(|| serde_json::json!({}))[set] = json;
            }
            if !live.is_empty() {
                report += &live_summary(&ps, &rs, &live, label);
            }
        }
        if !by_cache.is_empty() {
            concurrency.insert("by_cache".into(), by_cache.into());
        }
        json_runs.push(serde_json::json!({
            "seed": seed,
            "dispatch": o.cache_dispatch.label(),
            "sets": points.iter().map(|p| p.set).collect::<std::collections::BTreeSet<_>>(),
            "points": points.iter().zip(&results).map(|(p, r)| serde_json::json!({
                "set": p.set,
                "trace": p.trace,
                "capacity": p.capacity,
                "hit_percent": columns.iter().zip(r).map(|(c, v)| (c.clone(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
                "best_online": p.reference.map(|x| serde_json::json!({"policy": x.best, "hit_percent": x.best_hit})),
                "optimum": p.reference.map(|x| x.optimum),
                "moka": p.reference.and_then(|x| x.moka),
                "quick_cache": p.reference.and_then(|x| x.quick_cache),
                "cache_threads_minus_1_thread": cache_columns.map(|c| c.drift(r)),
            })).collect::<Vec<_>>(),
            "concurrency": concurrency,
        }));
    }
    println!("{report}");
    if let Some(path) = &o.json {
        if !o.ablate && o.only.is_none() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let runs = merge_runs(path, json_runs);
            let doc = serde_json::json!({
                "bench": "hit_ratio",
                "hasher": "foldhash::fast::FixedState seeded with the run's seed, for the policy's \
                           live cache and every peer (each lets the hasher be chosen)",
                "runs": runs,
            });
            std::fs::write(path, serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
            println!("wrote {}", path.display());
        }
    }
}

/// How a run's live caches got their requests ([`Dispatch::label`]), also
/// read from files written before runs recorded it: those recorded only a
/// lockstep round (0: free-running), always by stride.
fn run_dispatch(run: &serde_json::Value) -> String {
    if let Some(d) = run["dispatch"].as_str() {
        return d.to_string();
    }
    let round = run["lockstep_round"]
        .as_u64()
        .or_else(|| run["concurrency"]["lockstep_round"].as_u64())
        .unwrap_or(0);
    Dispatch::Stride {
        round: round as usize,
    }
    .label()
}

/// The runs to write: `new`, plus those already in the file at `path` that
/// `new` does not replace. A run of the same seed and dispatch is
/// replaced, except for the point sets that the new run did not measure
/// (a run of the README's points keeps the extra points of an earlier
/// `--extra` run): those are carried over, listed in `carried_over`.
fn merge_runs(path: &Path, new: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    let old: Vec<serde_json::Value> = std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|d| d["runs"].as_array().cloned())
        .unwrap_or_default();
    let key = |r: &serde_json::Value| (r["seed"].as_u64(), run_dispatch(r));
    let mut runs: Vec<serde_json::Value> = old
        .iter()
        .filter(|o| new.iter().all(|n| key(n) != key(o)))
        .cloned()
        .collect();
    for mut run in new {
        if let Some(o) = old.iter().find(|o| key(o) == key(&run)) {
            let measured: Vec<String> = run["points"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["set"].as_str().unwrap().to_string())
                .collect();
            let kept: Vec<serde_json::Value> = o["points"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| !measured.iter().any(|s| p["set"] == **s))
                .cloned()
                .collect();
            let mut sets: Vec<String> = kept
                .iter()
                .map(|p| p["set"].as_str().unwrap_or("").to_string())
                .collect();
            sets.sort();
            sets.dedup();
            for set in &sets {
                let set = set.as_str();
                if let Some(c) = o["concurrency"].get(set) {
                    run["concurrency"][set] = c.clone();
                }
                if let Some(caches) = o["concurrency"]["by_cache"].as_object() {
                    for (cache, by_set) in caches {
                        if let Some(c) = by_set.get(set) {
                            run["concurrency"]["by_cache"][cache][set] = c.clone();
                        }
                    }
                }
            }
            if !sets.is_empty() {
                run["points"].as_array_mut().unwrap().extend(kept);
                let mut all = sets.clone();
                all.extend(measured.iter().cloned());
                all.sort();
                all.dedup();
                run["sets"] = serde_json::json!(all);
                run["carried_over"] = serde_json::json!({
                    "sets": sets,
                    "why": "not measured by this run: kept from the earlier run of the same seed and dispatch",
                });
            }
        }
        runs.push(run);
    }
    runs.sort_by_key(|r| (r["seed"].as_u64(), run_dispatch(r)));
    runs
}
