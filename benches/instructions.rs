//! Instructions per operation, counted by callgrind: repeatable on a noisy
//! machine, unlike time. Not a criterion bench; run it through
//! `scripts/instructions.sh`, which runs this binary under
//! `valgrind --tool=callgrind --toggle-collect=*measured*` for each (map, op)
//! and divides the instructions counted inside [`measured`] by the number of
//! operations.
//!
//! Usage: `instructions <map> <op> <entries> <ops>`; map is one of `std`,
//! `evacmap`, `evacmap-pin`, `dashmap`, `papaya`, `papaya-pin`, `scc`,
//! `rwlock-std`; op one of `get_hit`, `get_miss`, `insert`, `remove`,
//! `update`, `iterate` (per entry visited), `readheavy` (98/1/1, timing only). Without arguments (as `cargo bench` runs it) it does nothing.

#[macro_use]
mod common;

use std::collections::HashMap as StdHashMap;
use std::hint::black_box;

use common::*;

/// The counted loop: `ops` calls of `op`, cycling over `order`.
#[inline(never)]
fn measured(order: &[u64], ops: usize, mut op: impl FnMut(u64) -> u64) -> u64 {
    let start = std::time::Instant::now();
    let mut acc = 0u64;
    for i in 0..ops {
        acc = acc.wrapping_add(op(order[i % order.len()]));
    }
    if std::env::var_os("EVACMAP_TIME").is_some() {
        // For quick A/B timing of one map outside callgrind.
        let ns = start.elapsed().as_nanos() as f64 / ops as f64;
        println!("{ns:.1} ns/op");
    }
    acc
}

fn run_std(op: &str, present: &[u64], absent: &[u64], ops: usize) -> u64 {
    let mut m: StdHashMap<u64, u64, Hasher> = StdHashMap::with_hasher(hasher());
    if op != "insert" {
        m.extend(present.iter().map(|&k| (k, k)));
    }
    match op {
        "get_hit" => measured(present, ops, |k| *m.get(&k).unwrap_or(&0)),
        "get_miss" => measured(absent, ops, |k| m.contains_key(&k) as u64),
        "insert" => measured(present, ops.min(present.len()), |k| {
            m.insert(k, k).is_none() as u64
        }),
        "remove" => measured(present, ops.min(present.len()), |k| {
            m.remove(&k).is_some() as u64
        }),
        "update" => measured(present, ops, |k| {
            m.get_mut(&k)
                .map(|v| {
                    *v += 1;
                    *v
                })
                .unwrap_or(0)
        }),
        _ => panic!("unknown op {op}"),
    }
}

fn run<M: BenchMap>(op: &str, present: &[u64], absent: &[u64], ops: usize) -> u64 {
    let map = M::with_capacity(0);
    let mut h = map.handle();
    if op != "insert" {
        insert_indexed(&mut h, present.iter().copied());
    }
    h.refresh();
    // A pinned handle is not refreshed inside the counted loop: the
    // amortised pin is what `pin()` users get.
    match op {
        "get_hit" => measured(present, ops, |k| h.get(k).unwrap_or(0)),
        "get_miss" => measured(absent, ops, |k| h.get(k).is_some() as u64),
        "insert" => measured(present, ops.min(present.len()), |k| h.insert(k, k) as u64),
        "remove" => measured(present, ops.min(present.len()), |k| h.remove(k) as u64),
        "update" => measured(present, ops, |k| h.update(k) as u64),
        // Full iterations visiting `ops` entries in all: per entry.
        "iterate" => measured(&[0], ops.div_ceil(present.len()), |_| map.iterate() as u64),
        "readheavy" => {
            // ReadHeavy's 98/1/1 on a full map: reads uniformly among the
            // present keys, inserts of new keys (from `absent`), removes of
            // the oldest key.
            let (mut next_insert, mut next_remove, mut rng, mut i) =
                (0usize, 0usize, Rng::new(3), 0u64);
            let all: Vec<u64> = present.iter().chain(absent).copied().collect();
            measured(&[0], ops, |_| {
                i += 1;
                match i % 100 {
                    17 => {
                        next_insert += 1;
                        h.insert(all[present.len() + next_insert - 1], 1) as u64
                    }
                    67 => {
                        next_remove += 1;
                        h.remove(all[next_remove - 1]) as u64
                    }
                    _ => {
                        let live = present.len() + next_insert - next_remove;
                        h.get(all[next_remove + rng.below(live)]).unwrap_or(0)
                    }
                }
            })
        }
        _ => panic!("unknown op {op}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let [map, op, entries, ops] = &args[..] else {
        return;
    };
    let entries: usize = entries.parse().expect("entries");
    let ops: usize = ops.parse().expect("ops");
    let mut present = keys(1, entries);
    shuffle(&mut present, 7);
    let absent = keys(2, entries);
    let acc = match map.as_str() {
        "std" => run_std(op, &present, &absent, ops),
        "evacmap" => run::<EvacInc>(op, &present, &absent, ops),
        "evacmap-pin" => run::<EvacPin>(op, &present, &absent, ops),
        "dashmap" => run::<Dash>(op, &present, &absent, ops),
        "papaya" => run::<PapInc>(op, &present, &absent, ops),
        "papaya-pin" => run::<PapPin>(op, &present, &absent, ops),
        "scc" => run::<Scc>(op, &present, &absent, ops),
        "rwlock-std" => run::<RwStd>(op, &present, &absent, ops),
        other => panic!("unknown map {other}"),
    };
    black_box(acc);
}
