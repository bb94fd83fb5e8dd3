//! Benchmark 2 of the suite (see BENCHMARKS.md).
//!
//! The three standard concurrent mixes, bustle-style (same workloads, same
//! key discipline, an equivalent harness): ReadHeavy (98% read, 1% insert,
//! 1% remove), Exchange (10/40/40/10 read/insert/remove/update) and
//! RapidGrow (5/80/5/10), each on a presized map and on a map grown from
//! empty, at 1, 2 and 4 threads (`EVACMAP_BENCH_THREADS=1,2,4,8,16` to change).
//!
//! Per thread, as in bustle: a private list of distinct keys; inserts take the
//! next key not yet inserted (so every insert is new), removes take the oldest
//! key still present (so every remove hits), reads pick uniformly among the
//! keys this thread has inserted so far (hits, plus misses on removed keys),
//! updates pick uniformly among its live keys. The operation sequence is a
//! seeded shuffle of the mix's 100 operations, repeated. Every map in a run
//! gets the same keys, the same hasher and the same operation sequence.
//!
//! "presized": the map is built with capacity for the most entries it will
//! hold; "empty": built with no capacity hint, so the prefill (untimed) and
//! the run grow it. The prefill is inserted by the same threads before the
//! timed phase. Throughput = total operations / (last thread's end - first
//! thread's start). Each cell is the median of several repetitions, maps
//! interleaved within a repetition.
//!
//! Maps: every per-call map of `PER_CALL_MAPS`, plus evacmap and papaya
//! through one pinned handle per thread (`evacmap-pin`, `papaya-pin`),
//! renewed every `REFRESH` operations: ReadHeavy through `pin()` is one of
//! the targets (BENCHMARKS.md).
//!
//! Output: benches/results/concurrent.json (see common::Report).

#[macro_use]
mod common;

use std::hint::black_box;
use std::sync::Barrier;
use std::time::Instant;

use common::*;
use serde_json::json;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Read,
    Insert,
    Remove,
    Update,
}

struct Mix {
    name: &'static str,
    /// Percentages: read, insert, remove, update.
    pct: [usize; 4],
    /// Prefill, as a fraction of the key capacity C.
    prefill: f64,
    /// Timed operations (all threads together), as a multiple of C.
    ops: f64,
}

const MIXES: [Mix; 3] = [
    Mix {
        name: "ReadHeavy",
        pct: [98, 1, 1, 0],
        prefill: 0.75,
        ops: 4.0,
    },
    Mix {
        name: "Exchange",
        pct: [10, 40, 40, 10],
        prefill: 0.75,
        ops: 1.0,
    },
    Mix {
        name: "RapidGrow",
        pct: [5, 80, 5, 10],
        prefill: 0.0,
        ops: 1.0,
    },
];

fn pattern(mix: &Mix, seed: u64) -> [Op; 100] {
    let mut ops = Vec::with_capacity(100);
    for (op, &n) in [Op::Read, Op::Insert, Op::Remove, Op::Update]
        .iter()
        .zip(mix.pct.iter())
    {
        ops.extend(std::iter::repeat(*op).take(n));
    }
    assert_eq!(ops.len(), 100);
    shuffle(&mut ops, seed);
    ops.try_into().unwrap()
}

/// What one thread does; everything it needs is precomputed.
struct Plan {
    keys: Vec<u64>,
    prefill: usize,
    ops: usize,
    pattern: [Op; 100],
    seed: u64,
}

impl Plan {
    fn new(mix: &Mix, thread: usize, prefill: usize, ops: usize) -> Plan {
        let pattern = pattern(mix, 1000 + thread as u64);
        let inserts = (0..ops).filter(|i| pattern[i % 100] == Op::Insert).count();
        Plan {
            // +1: a key never inserted, for removes/updates on an empty window.
            keys: keys(thread as u64, prefill + inserts + 1),
            prefill,
            ops,
            pattern,
            seed: 7 + thread as u64,
        }
    }
}

struct ThreadResult {
    start: Instant,
    end: Instant,
    /// Operations whose result contradicted the key discipline (an insert
    /// that was not new, a remove that missed): must be 0.
    surprises: u64,
}

fn run_thread<H: Handle>(h: &mut H, plan: &Plan, barrier: &Barrier) -> ThreadResult {
    let keys = &plan.keys[..];
    insert_indexed(h, keys[..plan.prefill].iter().copied());
    h.refresh();
    let mut rng = Rng::new(plan.seed);
    let mut insert_seq = plan.prefill;
    let mut erase_seq = 0usize;
    let mut surprises = 0u64;
    let mut acc = 0u64;
    let mut p = 0usize;
    let mut refresher = Refresher::new();
    barrier.wait();
    let start = Instant::now();
    for i in 0..plan.ops {
        match plan.pattern[p] {
            Op::Read => {
                let idx = rng.below(insert_seq.max(1));
                acc = acc.wrapping_add(h.get(keys[idx]).unwrap_or(1));
            }
            Op::Insert => {
                surprises += u64::from(!h.insert(keys[insert_seq], i as u64));
                insert_seq += 1;
            }
            Op::Remove => {
                if erase_seq < insert_seq {
                    surprises += u64::from(!h.remove(keys[erase_seq]));
                    erase_seq += 1;
                } else {
                    surprises += u64::from(h.remove(keys[insert_seq]));
                }
            }
            Op::Update => {
                let live = insert_seq - erase_seq;
                let idx = if live > 0 {
                    erase_seq + rng.below(live)
                } else {
                    insert_seq
                };
                surprises += u64::from(h.update(keys[idx]) != (live > 0));
            }
        }
        p += 1;
        if p == 100 {
            p = 0;
        }
        refresher.tick(h);
    }
    let end = Instant::now();
    black_box(acc);
    ThreadResult {
        start,
        end,
        surprises,
    }
}

/// One timed run: build, prefill, run, drop. Returns (Mops/s, surprises).
fn run<M: BenchMap>(plans: &[Plan], capacity: usize) -> (f64, u64) {
    let map = M::with_capacity(capacity);
    let results = on_threads(&map, plans.len(), |h, i, barrier| {
        run_thread(h, &plans[i], barrier)
    });
    let start = results.iter().map(|r| r.start).min().unwrap();
    let end = results.iter().map(|r| r.end).max().unwrap();
    let ops: usize = plans.iter().map(|p| p.ops).sum();
    let surprises = results.iter().map(|r| r.surprises).sum();
    drop(map);
    (ops as f64 / secs(end - start) / 1e6, surprises)
}

/// The maps of this bench: [`PER_CALL_MAPS`] with the pinned handles of
/// evacmap and papaya next to their per-call rows, so that reads through
/// `pin()` are measured on the same mixes as `get`.
const MAPS: [&str; 9] = [
    "evacmap",
    "evacmap-blocking",
    "evacmap-pin",
    "dashmap",
    "papaya",
    "papaya-blocking",
    "papaya-pin",
    "scc",
    "rwlock-std",
];

/// Key capacity C of the runs (see `Mix`).
fn capacity() -> usize {
    1 << q(16, 20)
}

/// One timed run of `"<map> <mix>/<presized|empty>/<threads>"`: its Mops/s
/// and surprises, as JSON (what a child process replies).
fn measure(request: &str) -> serde_json::Value {
    let (name, case) = request.split_once(' ').expect("<map> <case>");
    let mut parts = case.split('/');
    let (mix, variant, t) = (parts.next(), parts.next(), parts.next());
    let mix = MIXES.iter().find(|m| Some(m.name) == mix).expect("a mix");
    let t: usize = t.and_then(|t| t.parse().ok()).expect("a thread count");
    let capacity = capacity();
    let prefill = (mix.prefill * capacity as f64) as usize / t;
    let ops = (mix.ops * capacity as f64) as usize / t;
    let plans: Vec<Plan> = (0..t).map(|i| Plan::new(mix, i, prefill, ops)).collect();
    let max_live: usize = plans.iter().map(|p| p.keys.len()).sum();
    let cap = if variant == Some("presized") {
        max_live
    } else {
        0
    };
    let (mops, surprises) = dispatch!(name, run(&plans, cap), panic!("unknown map {name}"));
    json!({ "mops": mops, "surprises": surprises })
}

/// Every (map, case, repetition) runs in a fresh process (see
/// `common::isolated`); `EVACMAP_BENCH_SAME_PROCESS=1` runs them all here.
fn main() {
    if let Some(request) = child_request() {
        child_reply(&measure(&request));
        return;
    }
    let capacity = capacity();
    let reps = q(1, 3);
    let maps = selected_maps(&MAPS);
    let mut report = Report::new(
        "concurrent",
        json!({
            "key_capacity": capacity,
            "repetitions": reps,
            "statistic": "median Mops/s over repetitions",
            "mixes": MIXES.iter().map(|m| json!({
                "name": m.name, "read_insert_remove_update_pct": m.pct,
                "prefill_fraction": m.prefill, "ops_multiple_of_capacity": m.ops,
            })).collect::<Vec<_>>(),
            "refresh_every": REFRESH,
            "process": if same_process() { "all runs in one process" } else { "a fresh process per map, case and repetition" },
        }),
    );
    for mix in &MIXES {
        for presized in [true, false] {
            for &t in &threads() {
                let variant = if presized { "presized" } else { "empty" };
                let case = format!("{}/{}/{}", mix.name, variant, t);
                if !case_selected(&case) {
                    continue;
                }
                let mut samples: Vec<Vec<f64>> = vec![Vec::new(); maps.len()];
                let mut surprises = vec![0u64; maps.len()];
                for _ in 0..reps {
                    for (i, name) in maps.iter().enumerate() {
                        let row = isolated(&format!("{name} {case}"), measure);
                        samples[i].push(row["mops"].as_f64().unwrap());
                        surprises[i] += row["surprises"].as_u64().unwrap();
                    }
                }
                for (i, name) in maps.iter().enumerate() {
                    report.push(json!({
                        "workload": mix.name,
                        "variant": variant,
                        "threads": t,
                        "map": name,
                        "mops": median(samples[i].clone()),
                        "samples": samples[i],
                        "surprises": surprises[i],
                    }));
                }
            }
        }
    }
    report.finish();
}
