//! The `rayon` feature: speed-up of the parallel operations over their
//! serial counterparts, at 1 M entries (u64 keys and values, the default
//! hasher and shard count), on rayon's global pool.
//!
//! - build, presized: `pairs.iter().collect()` against
//!   `pairs.par_iter().collect()` (both presize: size hint / known length).
//! - build, growing: `extend` into an empty map against `par_extend`.
//! - scan: a sum over every entry through `iter()` (guarded `Ref`s, a pin
//!   per chunk) and through `pin().iter()` (plain references under one
//!   guard), against `par_iter_cloned()` and `par_for_each`.
//!
//! Criterion measures each (the map is built or dropped outside the timed
//! region); at the end the binary prints each ratio, serial time over
//! parallel time (the median time per iteration of each), and writes them to
//! benches/results/rayon.json. `EVACMAP_BENCH_QUICK=1` measures 100 k
//! entries instead.
//!
//! `cargo bench --features rayon --bench rayon`

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use evacmap::HashMap;
use rayon::prelude::*;

fn quick() -> bool {
    std::env::var("EVACMAP_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

fn entries() -> usize {
    if quick() {
        100_000
    } else {
        1_000_000
    }
}

/// SplitMix64's finaliser: distinct keys spread over the whole range.
fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

thread_local! {
    /// Seconds per iteration of every measured call, per benchmark.
    static TIMES: RefCell<BTreeMap<&'static str, Vec<f64>>> = const { RefCell::new(BTreeMap::new()) };
}

fn record(name: &'static str, iters: u64, total: Duration) {
    let per = total.as_secs_f64() / iters.max(1) as f64;
    TIMES.with(|t| t.borrow_mut().entry(name).or_default().push(per));
}

fn median(name: &str) -> f64 {
    TIMES.with(|t| {
        let mut v = t.borrow()[name].clone();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    })
}

/// Times `build` (which returns the map, dropped untimed) `iters` times.
fn time_builds(name: &'static str, iters: u64, build: impl Fn() -> HashMap<u64, u64>) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let t = Instant::now();
        let map = black_box(build());
        total += t.elapsed();
        drop(map);
    }
    record(name, iters, total);
    total
}

/// Times `scan` `iters` times.
fn time_scans(name: &'static str, iters: u64, scan: impl Fn() -> u64) -> Duration {
    let t = Instant::now();
    for _ in 0..iters {
        black_box(scan());
    }
    let total = t.elapsed();
    record(name, iters, total);
    total
}

fn builds(c: &mut Criterion) {
    let n = entries();
    let pairs: Vec<(u64, u64)> = (0..n as u64).map(|i| (mix64(i), i)).collect();
    let mut g = c.benchmark_group("rayon/build");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(if quick() { 2 } else { 6 }))
        .throughput(Throughput::Elements(n as u64));
    g.bench_function("collect", |b| {
        b.iter_custom(|iters| {
            time_builds("build/collect", iters, || pairs.iter().copied().collect())
        })
    });
    g.bench_function("par_collect", |b| {
        b.iter_custom(|iters| {
            time_builds("build/par_collect", iters, || {
                pairs.par_iter().copied().collect()
            })
        })
    });
    g.bench_function("extend", |b| {
        b.iter_custom(|iters| {
            time_builds("build/extend", iters, || {
                let mut map = HashMap::new();
                map.extend(pairs.iter().copied());
                map
            })
        })
    });
    g.bench_function("par_extend", |b| {
        b.iter_custom(|iters| {
            time_builds("build/par_extend", iters, || {
                let mut map = HashMap::new();
                map.par_extend(pairs.par_iter().copied());
                map
            })
        })
    });
    g.finish();
}

fn scans(c: &mut Criterion) {
    let n = entries();
    let map: HashMap<u64, u64> = (0..n as u64).map(|i| (mix64(i), i)).collect();
    let mut g = c.benchmark_group("rayon/scan");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(if quick() { 2 } else { 4 }))
        .throughput(Throughput::Elements(n as u64));
    g.bench_function("iter", |b| {
        b.iter_custom(|iters| {
            time_scans("scan/iter", iters, || {
                map.iter()
                    .fold(0u64, |s, r| s.wrapping_add(*r.key() ^ *r.value()))
            })
        })
    });
    g.bench_function("pin_iter", |b| {
        b.iter_custom(|iters| {
            time_scans("scan/pin_iter", iters, || {
                map.pin()
                    .iter()
                    .fold(0u64, |s, (k, v)| s.wrapping_add(k ^ v))
            })
        })
    });
    g.bench_function("par_iter_cloned", |b| {
        b.iter_custom(|iters| {
            time_scans("scan/par_iter_cloned", iters, || {
                map.par_iter_cloned()
                    .fold(|| 0u64, |s, (k, v)| s.wrapping_add(k ^ v))
                    .reduce(|| 0, u64::wrapping_add)
            })
        })
    });
    g.bench_function("par_for_each", |b| {
        b.iter_custom(|iters| {
            time_scans("scan/par_for_each", iters, || {
                // A shared sum would make every entry contend for one line:
                // count into a per-key-stripe slot instead.
                let sums: [AtomicU64; 64] = std::array::from_fn(|_| AtomicU64::new(0));
                map.par_for_each(|k, v| {
                    black_box(k ^ v);
                    if k % 1024 == 0 {
                        sums[(k >> 10) as usize % 64].fetch_add(1, Relaxed);
                    }
                });
                sums.iter().map(|s| s.load(Relaxed)).sum()
            })
        })
    });
    g.finish();
}

fn report(_: &mut Criterion) {
    let threads = rayon::current_num_threads();
    let ratio = |serial: &str, parallel: &str| median(serial) / median(parallel);
    let rows = [
        (
            "build: par_collect vs collect",
            ratio("build/collect", "build/par_collect"),
        ),
        (
            "build: par_extend vs extend",
            ratio("build/extend", "build/par_extend"),
        ),
        (
            "scan: par_iter_cloned vs iter",
            ratio("scan/iter", "scan/par_iter_cloned"),
        ),
        (
            "scan: par_iter_cloned vs pin().iter()",
            ratio("scan/pin_iter", "scan/par_iter_cloned"),
        ),
        (
            "scan: par_for_each vs iter",
            ratio("scan/iter", "scan/par_for_each"),
        ),
        (
            "scan: par_for_each vs pin().iter()",
            ratio("scan/pin_iter", "scan/par_for_each"),
        ),
    ];
    // A loaded machine gives the parallel side no spare core: say so.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    println!(
        "\nrayon speed-ups at {} entries, {threads} rayon threads, load average {load} \
         (serial time / parallel time):",
        entries()
    );
    let mut json = String::from("{\n");
    json += &format!(
        "  \"entries\": {},\n  \"rayon_threads\": {threads},\n",
        entries()
    );
    json += &format!("  \"available_parallelism\": {},\n", num_cpus());
    json += &format!("  \"load_average_1min\": \"{load}\",\n");
    json += "  \"speedups\": {\n";
    for (i, (name, r)) in rows.iter().enumerate() {
        println!("  {name:<40} {r:.2}x");
        let comma = if i + 1 < rows.len() { "," } else { "" };
        json += &format!("    \"{name}\": {r:.3}{comma}\n");
    }
    json += "  },\n  \"median_seconds\": {\n";
    let names = TIMES.with(|t| t.borrow().keys().copied().collect::<Vec<_>>());
    for (i, name) in names.iter().enumerate() {
        let comma = if i + 1 < names.len() { "," } else { "" };
        json += &format!("    \"{name}\": {:.6}{comma}\n", median(name));
    }
    json += "  }\n}\n";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/results/rayon.json");
    if let Err(e) = std::fs::write(path, json) {
        eprintln!("could not write {path}: {e}");
    }
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

criterion_group!(benches, builds, scans, report);
criterion_main!(benches);
