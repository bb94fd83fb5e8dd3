//! Benchmark 1 of the suite (see BENCHMARKS.md).
//!
//! Single-thread operations on u64 keys and values (criterion): get hit,
//! get miss, insert, remove, update, at 10 k and 1 M entries, for evacmap
//! (per-call and through a `pin()` handle), its peers, and
//! `std::collections::HashMap` (no lock, `&mut`) as the floor.
//!
//! - get hit / get miss / update: a map of N entries; keys visited in a
//!   seeded random order (misses: N keys never inserted).
//! - insert: fresh keys into a map grown from empty (no capacity hint) up to
//!   N, then a new map (built and dropped outside the timing): the average
//!   insert cost over a growth from 0 to N, resizes included.
//! - remove: every key of an N-entry map in random order, then it is refilled
//!   (untimed).
//!
//! Criterion reports time per operation. `scripts/bench_report.py` reads the
//! estimates from `$CARGO_TARGET_DIR/criterion`.

#[macro_use]
mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::*;
use criterion::{criterion_group, criterion_main, Bencher, BenchmarkId, Criterion, Throughput};

/// A subject of the single-thread benches: something that gives a [`Handle`].
trait Single: 'static {
    const NAME: &'static str;
    type H<'a>: Handle
    where
        Self: 'a;
    fn empty() -> Self;
    fn h(&self) -> Self::H<'_>;
}

impl<M: BenchMap> Single for M {
    const NAME: &'static str = M::NAME;
    type H<'a> = M::Handle<'a>;
    fn empty() -> Self {
        M::with_capacity(0)
    }
    fn h(&self) -> M::Handle<'_> {
        self.handle()
    }
}

struct Std(StdMap);

impl Single for Std {
    const NAME: &'static str = "std";
    type H<'a> = StdRef<'a>;
    fn empty() -> Self {
        Std(StdMap::new())
    }
    fn h(&self) -> StdRef<'_> {
        StdRef(&self.0)
    }
}

fn label(n: usize) -> String {
    if n >= 1_000_000 {
        format!("{}M", n / 1_000_000)
    } else {
        format!("{}k", n / 1000)
    }
}

fn filled<S: Single>(keys: &[u64]) -> S {
    let map = S::empty();
    insert_indexed(&mut map.h(), keys.iter().copied());
    map
}

/// One criterion benchmark of `S`, named `op/<size>/<map>`, whose every
/// iteration is one operation.
fn bench<S: Single>(c: &mut Criterion, op: &str, n: usize, f: impl FnMut(&mut Bencher)) {
    c.benchmark_group(format!("{op}/{}", label(n)))
        .throughput(Throughput::Elements(1))
        .bench_function(BenchmarkId::from_parameter(S::NAME), f);
}

/// Runs `op` over `order` cyclically, `iters` times; refreshes pinned handles
/// every [`REFRESH`] operations like every other harness.
#[inline(always)]
fn cycle<H: Handle>(
    h: &mut H,
    order: &[u64],
    iters: u64,
    mut op: impl FnMut(&H, u64) -> u64,
) -> Duration {
    let mut i = 0usize;
    let mut acc = 0u64;
    let mut refresher = Refresher::new();
    let start = Instant::now();
    for _ in 0..iters {
        acc = acc.wrapping_add(op(h, order[i]));
        i += 1;
        if i == order.len() {
            i = 0;
        }
        refresher.tick(h);
    }
    let elapsed = start.elapsed();
    black_box(acc);
    elapsed
}

struct Data {
    n: usize,
    present: Vec<u64>,
    /// `present` in a random order.
    order: Vec<u64>,
    absent: Vec<u64>,
}

fn data(n: usize) -> Data {
    let present = keys(1, n);
    let mut order = present.clone();
    shuffle(&mut order, 2);
    let mut absent = keys(3, n);
    shuffle(&mut absent, 4);
    Data {
        n,
        present,
        order,
        absent,
    }
}

/// Gets of `keys` (cyclically) from a map of `d.present`.
fn get<S: Single>(c: &mut Criterion, d: &Data, op: &str, keys: &[u64]) {
    let map: S = filled(&d.present);
    bench::<S>(c, op, d.n, |b| {
        b.iter_custom(|iters| cycle(&mut map.h(), keys, iters, |h, k| h.get(k).unwrap_or(1)))
    });
}

fn get_hit<S: Single>(c: &mut Criterion, d: &Data) {
    get::<S>(c, d, "get_hit", &d.order);
}

fn get_miss<S: Single>(c: &mut Criterion, d: &Data) {
    get::<S>(c, d, "get_miss", &d.absent);
}

fn update<S: Single>(c: &mut Criterion, d: &Data) {
    let map: S = filled(&d.present);
    bench::<S>(c, "update", d.n, |b| {
        b.iter_custom(|iters| cycle(&mut map.h(), &d.order, iters, |h, k| h.update(k) as u64))
    });
}

fn insert<S: Single>(c: &mut Criterion, d: &Data) {
    bench::<S>(c, "insert", d.n, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                let batch = (iters - done).min(d.n as u64) as usize;
                let map = S::empty();
                total += cycle(&mut map.h(), &d.order[..batch], batch as u64, |h, k| {
                    h.insert(k, k) as u64
                });
                done += batch as u64;
                drop(map);
            }
            total
        })
    });
}

fn remove<S: Single>(c: &mut Criterion, d: &Data) {
    let map: S = filled(&d.present);
    let mut left = d.n; // keys of `order` from `d.n - left` on are present
    bench::<S>(c, "remove", d.n, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                if left == 0 {
                    each_key(&mut map.h(), d.present.iter().copied(), |h, _, k| {
                        h.insert(k, k);
                    });
                    left = d.n;
                }
                let batch = (iters - done).min(left as u64) as usize;
                let from = d.n - left;
                total += cycle(
                    &mut map.h(),
                    &d.order[from..from + batch],
                    batch as u64,
                    |h, k| h.remove(k) as u64,
                );
                left -= batch;
                done += batch as u64;
            }
            total
        })
    });
}

macro_rules! for_single_maps {
    ($f:ident, $c:expr, $d:expr, [$($extra:ty),*]) => {{
        let (c, d): (&mut Criterion, &Data) = ($c, $d);
        $f::<Std>(c, d);
        if map_selected("evacmap") { $f::<EvacInc>(c, d); }
        if map_selected("evacmap-pin") { $f::<EvacPin>(c, d); }
        if map_selected("dashmap") { $f::<Dash>(c, d); }
        if map_selected("papaya") { $f::<PapInc>(c, d); }
        if map_selected("papaya-pin") { $f::<PapPin>(c, d); }
        if map_selected("scc") { $f::<Scc>(c, d); }
        if map_selected("rwlock-std") { $f::<RwStd>(c, d); }
        $( if map_selected(<$extra as BenchMap>::NAME) { $f::<$extra>(c, d); } )*
    }};
}

fn single(c: &mut Criterion) {
    for n in [10_000, q(100_000, 1_000_000)] {
        let d = data(n);
        for_single_maps!(get_hit, &mut *c, &d, []);
        for_single_maps!(get_miss, &mut *c, &d, []);
        for_single_maps!(insert, &mut *c, &d, [EvacBlk, PapBlk]);
        for_single_maps!(remove, &mut *c, &d, []);
        for_single_maps!(update, &mut *c, &d, []);
    }
}

fn config() -> Criterion {
    // Command-line options (`cargo bench --bench evacmap -- --sample-size 50`)
    // override these.
    let c = Criterion::default();
    let c = if quick() {
        c.sample_size(10)
            .warm_up_time(Duration::from_millis(100))
            .measurement_time(Duration::from_millis(300))
    } else {
        c.sample_size(20)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_millis(1500))
    };
    c.configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = single
}
criterion_main!(benches);
