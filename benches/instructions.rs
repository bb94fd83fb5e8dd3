//! Instructions per operation, counted by callgrind: repeatable on a noisy
//! machine, unlike time. Not a criterion bench; run it through
//! `scripts/instructions.sh`, which runs this binary under
//! `valgrind --tool=callgrind --toggle-collect=*measured*` for each (map, op)
//! and divides the instructions counted inside [`measured`] by the number of
//! operations.
//!
//! Usage: `instructions <map> <op> <entries> <ops>`; map is `std` (the
//! lock-free floor, `common::StdMap`) or any map the other benches know
//! (`evacmap`, `evacmap-pin`, `dashmap`, `papaya`, `papaya-pin`, `scc`,
//! `rwlock-std`, ...); op one of `get_hit`, `get_miss`, `insert`, `remove`,
//! `update`, `iterate` (per entry visited; not for `std`), `readheavy`
//! (98/1/1, timing only). Without arguments (as `cargo bench` runs it) it
//! does nothing.

#[macro_use]
mod common;

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

fn run_map<M: BenchMap>(op: &str, present: &[u64], absent: &[u64], ops: usize) -> u64 {
    let map = M::with_capacity(0);
    run(
        map.handle(),
        Some(&|| map.iterate()),
        op,
        present,
        absent,
        ops,
    )
}

/// `op` through `h`; `iterate` does one full iteration where the map has one.
fn run<H: Handle>(
    mut h: H,
    iterate: Option<&dyn Fn() -> usize>,
    op: &str,
    present: &[u64],
    absent: &[u64],
    ops: usize,
) -> u64 {
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
        "iterate" => {
            let iterate = iterate.expect("this map has no iterate op here");
            measured(&[0], ops.div_ceil(present.len()), |_| iterate() as u64)
        }
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
        "std" => run(StdRef(&StdMap::new()), None, op, &present, &absent, ops),
        name => dispatch!(
            name,
            run_map(op, &present, &absent, ops),
            panic!("unknown map {name}")
        ),
    };
    black_box(acc);
}
