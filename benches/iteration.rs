//! Benchmark 6 of the suite (see BENCHMARKS.md).
//!
//! Iteration: entries per second of full iterations while one writer keeps
//! the map resizing, and the same with no writer (the baseline).
//!
//! The map starts with N entries (grown from empty). The writer cycles: it
//! inserts fresh keys until the map holds 4 N (two doublings of every table),
//! then removes them oldest-first back to N, and again, until the reader is
//! done. The reader runs back-to-back full iterations for a fixed time and
//! counts the entries they yield. The N original keys are never removed, so
//! every iteration must yield at least N entries (checked). evacmap is
//! measured through `iter()` (a guarded `Ref` per entry) and through
//! `pin().iter()` (plain references under one guard).
//! Output: benches/results/iteration.json.

#[macro_use]
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const MAPS: [&str; 7] = [
    "evacmap",
    "evacmap-pin",
    "dashmap",
    "papaya",
    "papaya-blocking",
    "scc",
    "rwlock-std",
];

fn writer<H: Handle>(h: &mut H, n: usize, stop: &AtomicBool) -> (u64, u64) {
    let mut next = 0u64; // next fresh key to insert
    let mut oldest = 0u64; // oldest fresh key still present
    let mut ops = 0u64;
    let mut cycles = 0u64;
    'outer: loop {
        while next - oldest < 3 * n as u64 {
            h.insert(key(501, next), next);
            next += 1;
            ops += 1;
            if ops % REFRESH as u64 == 0 {
                h.refresh();
                if stop.load(Ordering::Relaxed) {
                    break 'outer;
                }
            }
        }
        while oldest < next {
            h.remove(key(501, oldest));
            oldest += 1;
            ops += 1;
            if ops % REFRESH as u64 == 0 {
                h.refresh();
                if stop.load(Ordering::Relaxed) {
                    break 'outer;
                }
            }
        }
        cycles += 1;
    }
    (ops, cycles)
}

fn measure<M: BenchMap>(n: usize, dur: Duration, with_writer: bool) -> serde_json::Value {
    let map = M::with_capacity(0);
    insert_indexed(&mut map.handle(), (0..n as u64).map(|i| key(500, i)));
    map.settle();
    let resizes_before = map.resizes();
    let stop = AtomicBool::new(false);
    let (reader, writer_result) = std::thread::scope(|s| {
        let w = with_writer.then(|| {
            let (map, stop) = (&map, &stop);
            s.spawn(move || {
                let t = Instant::now();
                let r = writer(&mut map.handle(), n, stop);
                (r, t.elapsed())
            })
        });
        let start = Instant::now();
        let (mut entries, mut iterations, mut min_seen, mut max_seen) =
            (0usize, 0usize, usize::MAX, 0);
        while start.elapsed() < dur || iterations == 0 {
            let seen = map.iterate();
            entries += seen;
            iterations += 1;
            min_seen = min_seen.min(seen);
            max_seen = max_seen.max(seen);
        }
        let elapsed = start.elapsed();
        stop.store(true, Ordering::Relaxed);
        let w = w.map(|w| w.join().unwrap());
        ((entries, iterations, min_seen, max_seen, elapsed), w)
    });
    let (entries, iterations, min_seen, max_seen, elapsed) = reader;
    let resizes = match (resizes_before, map.resizes()) {
        (Some(a), Some(b)) => json!(b - a),
        _ => json!(null),
    };
    let (writer_mops, cycles) = match writer_result {
        Some(((ops, cycles), t)) => (ops as f64 / t.as_secs_f64() / 1e6, cycles),
        None => (0.0, 0),
    };
    json!({
        "writer": with_writer,
        "m_entries_per_s": entries as f64 / elapsed.as_secs_f64() / 1e6,
        "iterations": iterations,
        "min_seen": min_seen,
        "max_seen": max_seen,
        "missed_original_keys": min_seen < n,
        "writer_mops": writer_mops,
        "writer_cycles": cycles,
        "resizes_during": resizes,
        "seconds": elapsed.as_secs_f64(),
    })
}

fn main() {
    let n = q(100_000, 1_000_000);
    let dur = Duration::from_millis(q(300, 2000));
    let maps = selected_maps(&MAPS);
    let mut report = Report::new(
        "iteration",
        json!({
            "entries": n, "reader_seconds": dur.as_secs_f64(),
            "writer": "cycles: insert fresh keys up to 4 N, remove them back to N",
        }),
    );
    for with_writer in [false, true] {
        let case = if with_writer { "writer" } else { "quiet" };
        if !case_selected(case) {
            continue;
        }
        for name in &maps {
            let mut row = dispatch!(*name, measure(n, dur, with_writer), unreachable!());
            row["map"] = json!(name);
            row["case"] = json!(case);
            report.push(row);
        }
    }
    report.finish();
}
