//! The cache under real concurrency: single-flight loading exactly once per
//! key and miss, the bound under concurrent inserts of mixed weights, the
//! listener exactly once per departed entry (with drop counting), and
//! per-key linearizability of get, insert, remove and invalidate, evictions
//! included (reusing the map's checker, `tests/common/linearize.rs`).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use common::linearize::{check_history, Rec, Transition};
use common::{mix64, scaled};
use evacmap::cache::RemovalCause;
use evacmap::Cache;

#[test]
fn single_flight_runs_one_initialiser_per_key_and_miss() {
    let threads = 8;
    let keys = scaled(2_000, 20) as u64;
    let cache: Cache<u64, u64> = Cache::new(keys);
    let runs: Vec<AtomicUsize> = (0..keys).map(|_| AtomicUsize::new(0)).collect();
    let start = Barrier::new(threads);
    thread::scope(|s| {
        for t in 0..threads {
            let (cache, runs, start) = (&cache, &runs, &start);
            s.spawn(move || {
                start.wait();
                for i in 0..keys {
                    // Every thread asks for every key, in its own order.
                    let k = mix64(i ^ (t as u64 * 0x9E37)) % keys;
                    let v = match i % 3 {
                        0 => cache.get_with(k, || {
                            runs[k as usize].fetch_add(1, SeqCst);
                            thread::yield_now();
                            k * 7
                        }),
                        1 => cache
                            .try_get_with(k, || {
                                runs[k as usize].fetch_add(1, SeqCst);
                                Ok::<_, ()>(k * 7)
                            })
                            .unwrap(),
                        _ => cache
                            .optionally_get_with(k, || {
                                runs[k as usize].fetch_add(1, SeqCst);
                                Some(k * 7)
                            })
                            .unwrap(),
                    };
                    assert_eq!(v, k * 7);
                }
            });
        }
    });
    let total: usize = runs.iter().map(|r| r.load(SeqCst)).sum();
    let reached: Vec<u64> = (0..keys)
        .filter(|&k| runs[k as usize].load(SeqCst) > 0)
        .collect();
    for k in 0..keys {
        assert!(
            runs[k as usize].load(SeqCst) <= 1,
            "key {k} loaded {} times",
            runs[k as usize].load(SeqCst)
        );
    }
    assert_eq!(total, reached.len());
    let s = cache.stats();
    assert_eq!(s.load_successes as usize, total);
    assert_eq!(s.hits + s.misses, threads as u64 * keys);
}

#[test]
fn failed_and_panicking_loads_hand_over_to_a_waiter() {
    let threads = 6;
    let rounds = scaled(300, 5) as u64;
    let cache: Cache<u64, u64> = Cache::new(1_000);
    let runs = AtomicUsize::new(0);
    let start = Barrier::new(threads);
    common::quiet_panics(|m| m.contains("flaky"));
    thread::scope(|s| {
        for _ in 0..threads {
            let (cache, runs, start) = (&cache, &runs, &start);
            s.spawn(move || {
                start.wait();
                for k in 0..rounds {
                    // The first initialiser of each key panics, the second
                    // fails; the third succeeds; every caller ends with a
                    // value, an error, or the panic.
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        cache.try_get_with(k, || {
                            let n = runs.fetch_add(1, SeqCst);
                            match n % 3 {
                                0 => panic!("flaky"),
                                1 => Err(n),
                                _ => Ok(k),
                            }
                        })
                    }));
                    if let Ok(Ok(v)) = r {
                        assert_eq!(v, k);
                    }
                    assert_eq!(cache.get_with(k, || k), k);
                }
            });
        }
    });
    assert_eq!(cache.entry_count(), rounds);
}

#[test]
fn the_bound_holds_under_concurrent_mixed_weights() {
    let threads = 4;
    let max = 1_000;
    let heaviest = 50;
    let cache: Cache<u64, u64> = Cache::builder()
        .max_capacity(max)
        .weigher(move |_, v| (*v % (heaviest + 1)) as u32)
        .build();
    let done = AtomicBool::new(false);
    let worst = AtomicU64::new(0);
    thread::scope(|s| {
        // A sampler: while inserts are in flight, the excess is at most
        // their weight (one per thread).
        s.spawn(|| {
            while !done.load(SeqCst) {
                worst.fetch_max(cache.weighted_size(), SeqCst);
            }
        });
        let writers: Vec<_> = (0..threads)
            .map(|t| {
                let cache = &cache;
                s.spawn(move || {
                    for i in 0..scaled(50_000, 300) as u64 {
                        let x = mix64(i * 31 + t);
                        cache.insert(x % 5_000, x >> 8);
                        if x % 7 == 0 {
                            cache.invalidate(&(x % 5_000 + 1));
                        }
                        let _ = cache.get(&(x % 3_000));
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, SeqCst);
    });
    assert!(
        worst.load(SeqCst) <= max + threads * heaviest,
        "worst {}",
        worst.load(SeqCst)
    );
    assert!(cache.weighted_size() <= max);
    let listed: u64 = cache.iter().map(|(_, v)| v % (heaviest + 1)).sum();
    assert_eq!(
        listed,
        cache.weighted_size(),
        "weighted_size is the sum of the live weights"
    );
    assert_eq!(cache.iter().count() as u64, cache.entry_count());
}

/// A value whose drop is counted per id.
struct Tracked {
    id: usize,
    drops: Arc<Vec<AtomicUsize>>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops[self.id].fetch_add(1, SeqCst);
    }
}

#[test]
fn the_listener_hears_each_departure_exactly_once() {
    let threads = 4;
    let per_thread = scaled(20_000, 200);
    let ids = threads * per_thread;
    let drops: Arc<Vec<AtomicUsize>> = Arc::new((0..ids).map(|_| AtomicUsize::new(0)).collect());
    let heard: Arc<Vec<AtomicUsize>> = Arc::new((0..ids).map(|_| AtomicUsize::new(0)).collect());
    let causes = Arc::new(Mutex::new([0usize; 4]));
    {
        let (h, c) = (heard.clone(), causes.clone());
        let cache: Cache<u64, Arc<Tracked>> = Cache::builder()
            .max_capacity(500)
            .eviction_listener(move |_, v: Arc<Tracked>, cause| {
                h[v.id].fetch_add(1, SeqCst);
                c.lock().unwrap()[cause as usize] += 1;
            })
            .build();
        thread::scope(|s| {
            for t in 0..threads {
                let (cache, drops) = (&cache, &drops);
                s.spawn(move || {
                    for i in 0..per_thread {
                        let id = t * per_thread + i;
                        let key = mix64(id as u64) % 2_000;
                        let v = Arc::new(Tracked {
                            id,
                            drops: drops.clone(),
                        });
                        match id % 10 {
                            0 => cache.invalidate(&key),
                            1 => drop(cache.remove(&key)),
                            2 => {
                                let _ = cache.get_with(key, || v);
                                continue;
                            }
                            _ => {}
                        }
                        if id % 10 != 2 {
                            cache.insert(key, v);
                        }
                    }
                });
            }
        });
        // Exactly one of: still in the cache, or heard of once.
        let present: std::collections::HashSet<usize> = cache.iter().map(|(_, v)| v.id).collect();
        for id in 0..ids {
            let h = heard[id].load(SeqCst);
            assert!(h <= 1, "value {id} reported {h} times");
            if present.contains(&id) {
                assert_eq!(h, 0, "value {id} is still cached but was reported gone");
            }
        }
        let c = *causes.lock().unwrap();
        assert!(c[RemovalCause::Size as usize] > 0 && c[RemovalCause::Replaced as usize] > 0);
        assert!(c[RemovalCause::Explicit as usize] > 0);
    }
    // The cache is gone: once the epoch moves on, every value was dropped
    // exactly once (values a `get_with` did not use included).
    let all_dropped = common::flush_until(common::watchdog(), || {
        drops.iter().all(|d| d.load(SeqCst) >= 1)
    });
    assert!(all_dropped, "some values were never dropped");
    for (id, d) in drops.iter().enumerate() {
        assert_eq!(
            d.load(SeqCst),
            1,
            "value {id} dropped {} times",
            d.load(SeqCst)
        );
    }
}

/// One thread's recorded operations, and the evictions its operations caused.
fn linearizable(max: u64, keys: u64, seed: u64) {
    let threads = 4;
    let ops = scaled(4_000, 60);
    let clock = Arc::new(AtomicU64::new(0));
    let tick = {
        let clock = clock.clone();
        move || clock.fetch_add(1, SeqCst)
    };
    thread_local! {
        /// The start tick of this thread's operation in progress.
        static OP_START: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }
    let evictions: Arc<Mutex<Vec<Vec<Rec>>>> = Arc::new(Mutex::new(vec![Vec::new(); threads]));
    let thread_index: Arc<Mutex<std::collections::HashMap<thread::ThreadId, usize>>> =
        Arc::default();
    let cache: Cache<u64, u64> = {
        let (ev, idx, tick) = (evictions.clone(), thread_index.clone(), tick.clone());
        Cache::builder()
            .max_capacity(max)
            .eviction_listener(move |k, v, cause| {
                // An eviction takes effect inside the operation that caused
                // it, which runs on this thread: between its start and now.
                if cause == RemovalCause::Size {
                    let t: usize = idx.lock().unwrap()[&thread::current().id()];
                    let start = OP_START.with(|s| s.get());
                    ev.lock().unwrap()[t].push(Rec {
                        start,
                        end: tick(),
                        key: *k,
                        tr: Transition::Exact {
                            pre: Some(v),
                            post: None,
                        },
                        what: "eviction",
                    });
                }
            })
            .build()
    };
    let values = AtomicU64::new(1);
    let history: Vec<Vec<Rec>> = thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (cache, tick, values, idx) =
                    (&cache, tick.clone(), &values, thread_index.clone());
                s.spawn(move || {
                    idx.lock().unwrap().insert(thread::current().id(), t);
                    let mut recs = Vec::with_capacity(ops);
                    for i in 0..ops as u64 {
                        let x = mix64(seed ^ ((t as u64) << 32) ^ i);
                        let key = x % keys;
                        let start = tick();
                        OP_START.with(|s| s.set(start));
                        let (tr, what) = match x >> 60 {
                            0..=5 => {
                                let got = cache.get(&key);
                                (
                                    Transition::Exact {
                                        pre: got,
                                        post: got,
                                    },
                                    "get",
                                )
                            }
                            6..=10 => {
                                let v = values.fetch_add(1, SeqCst);
                                cache.insert(key, v);
                                (Transition::Set(Some(v)), "insert")
                            }
                            11..=12 => {
                                let got = cache.remove(&key);
                                (
                                    Transition::Exact {
                                        pre: got,
                                        post: None,
                                    },
                                    "remove",
                                )
                            }
                            _ => {
                                cache.invalidate(&key);
                                (Transition::Set(None), "invalidate")
                            }
                        };
                        recs.push(Rec {
                            start,
                            end: tick(),
                            key,
                            tr,
                            what,
                        });
                    }
                    recs
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Evictions join the history of the thread that caused them, in order.
    let evictions = std::mem::take(&mut *evictions.lock().unwrap());
    let history: Vec<Vec<Rec>> = history
        .into_iter()
        .zip(evictions)
        .map(|(mut ops, ev)| {
            ops.extend(ev);
            // An eviction comes after the write that caused it (same start).
            ops.sort_by_key(|r| (r.start, r.what == "eviction"));
            ops
        })
        .collect();
    if let Err(report) = check_history(keys, &history) {
        panic!("cache (max {max}, {keys} keys) not linearizable:\n{report}");
    }
}

#[test]
fn get_insert_remove_invalidate_are_linearizable_per_key() {
    // No evictions, then heavy eviction pressure.
    linearizable(64, 16, 1);
    linearizable(8, 32, 2);
    linearizable(2, 8, 3);
}
