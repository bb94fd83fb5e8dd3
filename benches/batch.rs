//! Benchmark 10 of the suite (see BENCHMARKS.md): batched lookups.
//!
//! 16 random present keys of a `u64 → u64` map read through one pinned
//! handle, as 16 `Pinned::get` calls one after the other and as one
//! `Pinned::get_many`, at 1 M entries (far larger than the caches: each
//! single get waits for its bucket's miss, then its entry's) and at 10 k
//! (cache-resident: what batching costs when there is nothing to overlap).
//! The target: the batch at 1 M entries at least 2× faster than
//! the 16 single gets. Criterion reports time per 16 keys; at the end the
//! binary prints the ratio measured in interleaved rounds (the figure to
//! quote: on a shared machine, criterion's two runs can fall in stretches
//! of different load).

mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use evacmap::HashMap;

fn batched_lookups(c: &mut Criterion) {
    let mut group = c.benchmark_group("get_16_keys");
    group.throughput(Throughput::Elements(16));
    for entries in [10_000u64, 1_000_000] {
        let map: HashMap<u64, u64> = (0..entries).map(|k| (k, k)).collect();
        // Batches of keys prepared outside the timing, cycled through: far
        // more keys than the caches hold at 1 M entries.
        let mut rng = common::Rng::new(entries);
        let batches: Vec<[u64; 16]> = (0..1 << 16)
            .map(|_| std::array::from_fn(|_| rng.next() % entries))
            .collect();
        let pinned = map.pin();
        group.bench_function(BenchmarkId::new("16 single pinned gets", entries), |b| {
            let mut i = 0;
            b.iter(|| {
                let keys = &batches[i % batches.len()];
                i += 1;
                let mut sum = 0;
                for k in keys {
                    sum += *pinned.get(k).unwrap();
                }
                black_box(sum)
            })
        });
        group.bench_function(BenchmarkId::new("one get_many of 16", entries), |b| {
            let mut i = 0;
            b.iter(|| {
                let keys = &batches[i % batches.len()];
                i += 1;
                let found = pinned.get_many(keys.each_ref());
                black_box(found.iter().map(|v| *v.unwrap()).sum::<u64>())
            })
        });
    }
    group.finish();
}

/// The ratio the target is about, robust to a shared machine's drift: the
/// two ways alternate in short rounds (so a slow stretch hits both alike),
/// and the median of the rounds' ratios is printed.
fn interleaved_ratio(entries: u64) -> f64 {
    let map: HashMap<u64, u64> = (0..entries).map(|k| (k, k)).collect();
    let mut rng = common::Rng::new(entries ^ 0xba7c);
    let batches: Vec<[u64; 16]> = (0..1 << 16)
        .map(|_| std::array::from_fn(|_| rng.next() % entries))
        .collect();
    let pinned = map.pin();
    let time = |f: &dyn Fn(&[u64; 16]) -> u64| {
        let start = std::time::Instant::now();
        let mut sum = 0u64;
        for keys in &batches {
            sum = sum.wrapping_add(f(keys));
        }
        black_box(sum);
        start.elapsed().as_secs_f64()
    };
    let single = |keys: &[u64; 16]| keys.iter().map(|k| *pinned.get(k).unwrap()).sum::<u64>();
    let batched = |keys: &[u64; 16]| {
        let found = pinned.get_many(keys.each_ref());
        found.iter().map(|v| *v.unwrap()).sum::<u64>()
    };
    let mut ratios: Vec<f64> = (0..21).map(|_| time(&single) / time(&batched)).collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

fn ratios(_: &mut Criterion) {
    for entries in [10_000u64, 1_000_000] {
        println!(
            "get_16_keys at {entries} entries: 16 single pinned gets / one get_many, \
             median of 21 interleaved rounds: {:.2}x",
            interleaved_ratio(entries)
        );
    }
}

criterion_group!(benches, batched_lookups, ratios);
criterion_main!(benches);
