//! Benchmark 4 of the suite (see BENCHMARKS.md).
//!
//! Resize pauses: the latency of every single insert while one thread
//! grows a map from empty (no capacity hint) to 10 M u64 -> u64 entries.
//! Reports the worst insert, the 99.9th and 99th percentiles and the median,
//! the ten worst inserts with the map size at which they happened, and the
//! total time. Each insert is timed by one clock read between consecutive
//! inserts (vDSO `clock_gettime`, ~20 ns, included in every sample alike).
//!
//! On a shared machine the slowest wall-clock samples are often the
//! scheduler's, not the map's: samples over 20 us are re-measured in thread
//! CPU time (see `grow`), which keeps page faults and drops the time another
//! process ran; `max_ns_wall` keeps the raw wall-clock worst. Each map runs
//! several times (maps interleaved); the table reports the median over runs
//! of each statistic, plus every run's worst.
//! Output: benches/results/pauses.json.
//!
//! `EVACMAP_PAUSES=churn cargo bench --bench pauses` measures churn at a
//! steady 1 M entries instead (every get, insert and remove of n rounds
//! timed; see `churn`): the cost of the frees that removals queue, paid by
//! whichever operation runs the collector. Output: pauses_churn.json.

#[macro_use]
mod common;

use std::time::Instant;

use common::*;
use serde_json::json;

struct Run {
    /// Per insert: wall time, except that a slow sample (>= `SLOW_NS`) is
    /// replaced by the CPU time this thread spent in it (see `grow`).
    lat_ns: Vec<u32>,
    /// (index, wall ns, own ns) of slow samples during which the thread was
    /// switched out involuntarily.
    preempted: Vec<(usize, u32, u32)>,
    /// Slow samples that took page faults (their cost is the map's).
    faulted: usize,
    /// The slowest sample by the wall clock.
    raw_max: u64,
    total_s: f64,
    drop_s: f64,
}

/// Samples this slow are re-measured in thread CPU time.
const SLOW_NS: u32 = 20_000;

/// (involuntary context switches, page faults) of this thread.
fn thread_counters() -> (i64, i64) {
    // SAFETY: getrusage fills the struct it is given.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_THREAD, &mut u);
        (u.ru_nivcsw, u.ru_minflt + u.ru_majflt)
    }
}

/// CPU time of this thread (user + system), in ns.
fn thread_cpu_ns() -> u64 {
    // SAFETY: clock_gettime fills the struct it is given.
    unsafe {
        let mut t: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t);
        t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
    }
}

/// Times `n` calls of `op(i)`, one sample each.
///
/// Every call gets a wall-clock sample (one `Instant::now()` between
/// consecutive calls). On this shared machine the slowest wall samples are
/// often the scheduler's (another process ran), not the map's. So a sample
/// over `SLOW_NS` is replaced by the thread's own CPU time for it (user +
/// system, so page faults count): the CPU clock read at this sample, minus
/// the one read at the previous slow sample, minus the wall time of the fast
/// samples in between (which ran without being switched out, being fast).
fn timed(n: usize, lat: &mut Vec<u32>, mut op: impl FnMut(usize)) -> Run {
    lat.clear();
    let mut preempted = Vec::new();
    let mut faulted = 0;
    let mut raw_max = 0u64;
    let mut counters = thread_counters();
    let mut cpu_ref = thread_cpu_ns();
    let mut wall_since = 0u64;
    let t0 = Instant::now();
    let mut prev = t0;
    for i in 0..n {
        op(i);
        let mut now = Instant::now();
        let wall = (now - prev).as_nanos().min(u64::MAX as u128) as u64;
        raw_max = raw_max.max(wall);
        let ns = wall.min(u32::MAX as u64) as u32;
        if ns < SLOW_NS {
            lat.push(ns);
            wall_since += ns as u64;
        } else {
            let cpu = thread_cpu_ns();
            let own = cpu
                .saturating_sub(cpu_ref)
                .saturating_sub(wall_since)
                .min(ns as u64) as u32;
            lat.push(own);
            let c = thread_counters();
            if c.0 > counters.0 {
                preempted.push((i, ns, own));
            }
            if c.1 > counters.1 {
                faulted += 1;
            }
            counters = c;
            wall_since = 0;
            // Leave the system calls out of the next sample.
            cpu_ref = thread_cpu_ns();
            now = Instant::now();
        }
        prev = now;
    }
    Run {
        lat_ns: std::mem::take(lat),
        preempted,
        faulted,
        raw_max,
        total_s: t0.elapsed().as_secs_f64(),
        drop_s: 0.0,
    }
}

/// Grows a map from empty to `n` entries, timing every insert.
fn grow<M: BenchMap>(n: usize, lat: &mut Vec<u32>) -> Run {
    let map = M::with_capacity(0);
    let mut run = {
        let mut h = map.handle();
        timed(n, lat, |i| {
            h.insert(key(300, i as u64), i as u64);
            if i % REFRESH == 0 {
                h.refresh();
            }
        })
    };
    assert_eq!(map.len(), n);
    let d = Instant::now();
    drop(map);
    run.drop_s = d.elapsed().as_secs_f64();
    run
}

/// Churn at a steady size (`EVACMAP_PAUSES=churn`): a map of `n` entries
/// (filled untimed) then `n` rounds of a get of a live key, an insert of a
/// new key and a remove of the oldest, each timed as one sample: what
/// reclaiming a steady stream of removed entries costs the operations that
/// happen to run the collector's frees.
fn churn<M: BenchMap>(n: usize, lat: &mut Vec<u32>) -> Run {
    let map = M::with_capacity(0);
    let mut run = {
        let mut h = map.handle();
        for i in 0..n {
            h.insert(key(301, i as u64), i as u64);
        }
        h.refresh();
        let mut rng = Rng::new(301);
        timed(3 * n, lat, |i| {
            let round = (i / 3) as u64;
            match i % 3 {
                0 => {
                    let live = round + rng.below(n) as u64;
                    std::hint::black_box(h.get(key(301, live)));
                }
                1 => {
                    h.insert(key(301, n as u64 + round), round);
                }
                _ => {
                    h.remove(key(301, round));
                }
            }
            if i % REFRESH == 0 {
                h.refresh();
            }
        })
    };
    assert_eq!(map.len(), n);
    drop(map);
    run.drop_s = 0.0;
    run
}

fn churn_mode() -> bool {
    std::env::var("EVACMAP_PAUSES").is_ok_and(|v| v == "churn")
}

/// The ten slowest inserts, slowest first: (ns, map length before the insert).
fn top10(lat: &[u32]) -> Vec<(u32, usize)> {
    let mut top: Vec<(u32, usize)> = Vec::with_capacity(11);
    for (i, &x) in lat.iter().enumerate() {
        if top.len() < 10 || x > top[top.len() - 1].0 {
            let at = top.partition_point(|t| t.0 >= x);
            top.insert(at, (x, i));
            top.truncate(10);
        }
    }
    top
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    let idx = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

/// One run of one map: grow to `n`, then the row of statistics.
fn measure(name: &str, n: usize) -> serde_json::Value {
    let mut buf: Vec<u32> = Vec::with_capacity(n);
    let run = if churn_mode() {
        dispatch!(name, churn(n, &mut buf), unreachable!())
    } else {
        dispatch!(name, grow(n, &mut buf), unreachable!())
    };
    let mut lat = run.lat_ns;
    let worst = top10(&lat);
    let mut preempted = run.preempted.clone();
    preempted.sort_unstable_by_key(|p| std::cmp::Reverse(p.1));
    preempted.truncate(10);
    lat.sort_unstable();
    let n = lat.len();
    let mean = lat.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
    let over = |ns: u32| lat.len() - lat.partition_point(|&x| x <= ns);
    json!({
        "max_ns": lat[n - 1],
        "max_ns_wall": run.raw_max,
        "p999_ns": percentile(&lat, 0.999),
        "p99_ns": percentile(&lat, 0.99),
        "p50_ns": percentile(&lat, 0.5),
        "mean_ns": mean,
        "inserts_over_100us": over(100_000),
        "inserts_over_1ms": over(1_000_000),
        "slow_samples_preempted": run.preempted.len(),
        "slow_samples_with_page_faults": run.faulted,
        "worst10_ns_at_len": worst,
        "worst10_preempted_len_wall_own": preempted,
        "total_s": run.total_s,
        "drop_s": run.drop_s,
    })
}

/// Every (map, repetition) runs in a fresh process by default (see
/// `common::isolated`), so that no map inherits another's heap: after a map
/// that freed 10 M small blocks, glibc's next large allocation runs
/// `malloc_consolidate` over all of them, tens of milliseconds charged to
/// whichever map runs next (`GLIBC_TUNABLES=glibc.malloc.mxfast=0` makes it
/// disappear). `EVACMAP_BENCH_SAME_PROCESS=1` runs them all in one process,
/// to show that effect.
fn main() {
    let n = if churn_mode() {
        q(100_000, 1_000_000)
    } else {
        q(1_000_000, 10_000_000)
    };
    if let Some(name) = child_request() {
        child_reply(&measure(&name, n));
        return;
    }
    // Five: a single slow sample decides a run's worst, and on a shared VM a
    // few of them are the host's (steal time counts as thread CPU time).
    let reps = q(1, 5);
    let maps = selected_maps(&PER_CALL_MAPS);
    let mut report = Report::new(
        if churn_mode() {
            "pauses_churn"
        } else {
            "pauses"
        },
        json!({
            "entries": n, "repetitions": reps,
            "statistic": "median over repetitions of each run's statistic",
            "timer": "one Instant::now() between consecutive operations",
            "workload": if churn_mode() { "churn: n entries, then n rounds of get, insert new, remove oldest" } else { "grow from empty to n" },
            "process": if same_process() { "all runs in one process" } else { "a fresh process per map and repetition" },
        }),
    );
    // name -> per-run stats
    let mut runs: Vec<Vec<serde_json::Value>> = vec![Vec::new(); maps.len()];
    for _ in 0..reps {
        for (i, name) in maps.iter().enumerate() {
            let row = isolated(name, |name| measure(name, n));
            eprintln!("[pauses] {name}: {row}");
            runs[i].push(row);
        }
    }
    for (i, name) in maps.iter().enumerate() {
        let med = |k: &str| median(runs[i].iter().map(|r| r[k].as_f64().unwrap()).collect());
        report.push(json!({
            "map": name,
            "max_ns": med("max_ns"),
            "p999_ns": med("p999_ns"),
            "p99_ns": med("p99_ns"),
            "p50_ns": med("p50_ns"),
            "mean_ns": med("mean_ns"),
            "total_s": med("total_s"),
            "max_ns_wall": med("max_ns_wall"),
            "max_ns_each_run": runs[i].iter().map(|r| r["max_ns"].clone()).collect::<Vec<_>>(),
            "runs": runs[i],
        }));
    }
    report.finish();
}
