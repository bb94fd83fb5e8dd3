//! Benchmark 3 of the suite (see BENCHMARKS.md).
//!
//! Skewed reads: keys drawn from Zipf(s = 0.99) over 1 M keys (all
//! present), 95% reads and 5% overwrites of the same hot keys, at 1, 2 and 4
//! threads. evacmap is measured with per-call `get` and with a `pin()` handle
//! (renewed every `REFRESH` operations); papaya likewise, per call (`pin()`
//! per operation, what `papaya::HashMap::pin().get()` costs) and with one
//! handle.
//!
//! Ranks are mapped to keys through a fixed permutation, so hot keys are
//! spread over shards and buckets. The Zipf draws are precomputed per thread
//! (seeded), identical for every map. Each map is built and filled once;
//! repetitions interleave the maps. Output: benches/results/skew.json.

#[macro_use]
mod common;

use std::hint::black_box;
use std::sync::Barrier;
use std::time::Instant;

use common::*;
use rand::SeedableRng;
use rand_distr::{Distribution, Zipf};
use serde_json::json;

const MAPS: [&str; 7] = [
    "evacmap",
    "evacmap-pin",
    "dashmap",
    "papaya",
    "papaya-pin",
    "scc",
    "rwlock-std",
];

/// Write one in `WRITE_EVERY` operations (5%), at fixed positions.
const WRITE_EVERY: usize = 20;

fn run_thread<H: Handle>(
    h: &mut H,
    keys: &[u64],
    draws: &[u32],
    barrier: &Barrier,
) -> (Instant, Instant) {
    let mut acc = 0u64;
    let mut refresher = Refresher::new();
    let mut w = 0usize;
    h.refresh();
    barrier.wait();
    let start = Instant::now();
    for (i, &rank) in draws.iter().enumerate() {
        let k = keys[rank as usize];
        w += 1;
        if w == WRITE_EVERY {
            w = 0;
            h.insert(k, i as u64);
        } else {
            acc = acc.wrapping_add(h.get(k).unwrap_or(0));
        }
        refresher.tick(h);
    }
    let end = Instant::now();
    black_box(acc);
    (start, end)
}

/// Builds and fills a map, and returns a closure that runs one measurement
/// on it with the given per-thread draws (Mops/s).
/// Runs one measurement on a prepared map with per-thread draws; Mops/s.
type Runner = Box<dyn Fn(&[&[u32]]) -> f64>;

fn prepare<M: BenchMap>(keys: &'static [u64]) -> Runner {
    let map = M::with_capacity(keys.len());
    insert_indexed(&mut map.handle(), keys.iter().copied());
    map.settle();
    Box::new(move |draws: &[&[u32]]| {
        let spans = on_threads(&map, draws.len(), |h, i, barrier| {
            run_thread(h, keys, draws[i], barrier)
        });
        let start = spans.iter().map(|s| s.0).min().unwrap();
        let end = spans.iter().map(|s| s.1).max().unwrap();
        let ops: usize = draws.iter().map(|d| d.len()).sum();
        ops as f64 / secs(end - start) / 1e6
    })
}

fn main() {
    let n = q(1usize << 16, 1 << 20);
    let total_ops = q(1usize << 20, 1 << 23);
    let reps = q(1, 5);
    let s = 0.99;
    let threads = threads();
    let max_threads = *threads.iter().max().unwrap();

    // Rank r (0-based) -> a key; the permutation scatters hot ranks.
    let mut keys = keys(100, n);
    shuffle(&mut keys, 101);
    let keys: &'static [u64] = Box::leak(keys.into_boxed_slice());

    // Per thread t, its own seeded stream of draws; a run with T threads
    // gives each thread the first total_ops / T draws of its stream.
    let zipf = Zipf::new(n as u64, s).unwrap();
    let streams: Vec<Vec<u32>> = (0..max_threads)
        .map(|t| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(200 + t as u64);
            (0..total_ops)
                .map(|_| zipf.sample(&mut rng) as u32 - 1)
                .collect()
        })
        .collect();
    let top: usize = streams[0].iter().filter(|&&r| r < 100).count();

    let mut report = Report::new(
        "skew",
        json!({
            "keys": n, "zipf_s": s, "total_ops": total_ops, "write_fraction": 1.0 / WRITE_EVERY as f64,
            "repetitions": reps, "statistic": "median Mops/s over repetitions",
            "share_of_draws_on_top_100_keys": top as f64 / total_ops as f64,
            "refresh_every": REFRESH,
        }),
    );
    let maps = selected_maps(&MAPS);
    let runners: Vec<Runner> = maps
        .iter()
        .map(|m| dispatch!(*m, prepare(keys), unreachable!()))
        .collect();
    for &t in &threads {
        if !case_selected(&format!("zipf/{t}")) {
            continue;
        }
        let draws: Vec<&[u32]> = streams[..t].iter().map(|d| &d[..total_ops / t]).collect();
        let mut samples = vec![Vec::new(); maps.len()];
        for _ in 0..reps {
            for (i, run) in runners.iter().enumerate() {
                samples[i].push(run(&draws));
            }
        }
        for (i, name) in maps.iter().enumerate() {
            report.push(json!({
                "workload": "Zipf0.99", "threads": t, "map": name,
                "mops": median(samples[i].clone()), "samples": samples[i],
            }));
        }
    }
    drop(runners);
    report.finish();
}
