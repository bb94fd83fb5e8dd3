//! Loom models of the cache's concurrency protocol (`src/cache/`): every
//! interleaving (up to `LOOM_MAX_PREEMPTIONS` preemptions) of a few cache
//! operations on a cache built inside the model, the map underneath and
//! crossbeam-epoch's reclamation included. See `../src/lib.rs` for the
//! scaffolding and `../run.sh` for the bounds.
//!
//! | model | race |
//! |---|---|
//! | `single_flight_success` | two `get_with` of one missing key |
//! | `single_flight_failure` | a failing `try_get_with` vs a succeeding one |
//! | `single_flight_panic` | a `get_with` whose initialiser panics vs another `get_with` |
//! | `single_flight_invalidated` | a `get_with` vs an `invalidate` of the key |
//! | `single_flight_vs_insert` | a `get_with` vs an `insert` of the key |
//! | `single_flight_superseded_waiter` | a `get_with` whose load is superseded vs a waiter |
//! | `loaders_vs_invalidation` | two `get_with` vs an `invalidate` (3 threads; not in `run.sh`) |
//! | `get_ref_vs_evicting_insert` | a held `CacheRef` vs an insert that evicts its entry |
//! | `get_vs_evicting_insert` | a `get` (cloning the value) vs the same insert |
//! | `inserts_vs_bound` | two inserts of new keys into a full cache |
//! | `expiry_vs_reinsert` | `run_pending_tasks` expiring a key vs an insert of that key |
//!
//! Every model asserts on every outcome it can reach (not on a particular
//! schedule), counts the outcomes it claims to reach and fails if one never
//! happened; besides its own property, every model checks what the map's
//! models check: no loom causality violation (a value read while or after
//! it is dropped: `Val`'s payload cell), no deadlock (a lost wakeup, a
//! load nobody finishes), no value dropped twice, and every value created
//! dropped exactly once once the execution is torn down.
//!
//! What is and is not modelled:
//! - The cache's locks (the policy's state lock, the loads table's shard
//!   locks, each load's outcome lock and condition variable), its atomics
//!   and its thread-locals go through `src/sync.rs`, so loom sees them: a
//!   follower parked on a load is a loom `Condvar` wait, and a lost wakeup
//!   is a deadlock loom reports.
//! - The statistics stripes are plain std atomics on purpose (counters, not
//!   protocol). Under loom every model thread runs on one OS thread, so they
//!   count exactly, in the order loom ran the threads; models read them for
//!   coverage only.
//! - Time: `MockClock` is a std atomic too. Advancing it is not a loom
//!   operation: every thread reads the latest time in the order loom ran
//!   the threads (a real clock read may lag; nothing in the cache relies on
//!   it not lagging beyond what these models check).
//! - Values created by a racing writer are created after it pins (as in the
//!   map's models): `pin` is a SeqCst fence under loom, and a value built
//!   before it would be ordered before the publish by that fence.
#![cfg(loom)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use evacmap::cache::{MockClock, RemovalCause};
use evacmap::Cache;
use evacmap_loom_tests::*;
use loom::thread;

/// Freed memory is poisoned and held back (see `Quarantine`).
#[global_allocator]
static ALLOC: Quarantine = Quarantine;

/// The contested key (loads-table shard 1, map shard 0).
const K: u64 = key(0, 1);
/// Another key of the same map shard.
const K2: u64 = key(0, 2);

// ---- values --------------------------------------------------------------

/// A loader's value: which initialiser produced it (`id`), and how many
/// clones separate it from that initialiser's output. A follower's value is
/// a clone of the load's outcome; the cached entry is a clone of the same
/// outcome, and a hit a clone of that: so a follower's value has fewer
/// clones than a hit's, which tells the two apart without instrumenting the
/// cache.
#[derive(Debug)]
struct Loaded {
    id: usize,
    clones: u32,
}

impl Loaded {
    fn new(id: usize) -> Loaded {
        Loaded { id, clones: 0 }
    }
}

impl Clone for Loaded {
    fn clone(&self) -> Loaded {
        Loaded {
            id: self.id,
            clones: self.clones + 1,
        }
    }
}

/// A cache value whose life is tracked: the original is a [`Val`] (a payload
/// in a loom cell, its drop counted); a clone, which the cache makes for
/// `get` and for the listener, reads the original's payload (a loom-tracked
/// read, so a clone taken from an entry already dropped, or racing its drop,
/// is reported) and is itself a plain copy of the id.
#[derive(Debug)]
enum Tracked {
    Original(Val),
    Copy(usize),
}

impl Tracked {
    fn new(t: &Arc<Tracker>, id: usize) -> Tracked {
        Tracked::Original(Val::new(t, id))
    }

    /// The value's id; for an original, read through its payload.
    fn id(&self) -> usize {
        match self {
            Tracked::Original(v) => v.read(),
            Tracked::Copy(id) => *id,
        }
    }
}

impl Clone for Tracked {
    fn clone(&self) -> Tracked {
        Tracked::Copy(self.id())
    }
}

/// An initialiser's error (`try_get_with`).
#[derive(Debug)]
struct Failed(usize);

/// The message of the initialiser that panics on purpose.
const DELIBERATE: &str = "deliberate initialiser panic (loom model)";

/// Keeps the default panic hook from printing [`DELIBERATE`] panics (one
/// per execution); every other panic is reported as usual.
fn quiet_deliberate_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&DELIBERATE) {
                default(info);
            }
        }));
    });
}

/// What the eviction listener heard: (key, value id, cause, the loom thread
/// that delivered it).
type Heard = Arc<Mutex<Vec<(u64, usize, RemovalCause, thread::ThreadId)>>>;

/// The initialisers' bookkeeping: runs (a loom atomic, so the count is part
/// of the model), and which ran and what each saw when it started.
struct Inits {
    runs: loom::sync::atomic::AtomicUsize,
    ran: [AtomicBool; 2],
    /// Whether the invalidating thread had begun when initialiser `i` began.
    saw_invalidation: [AtomicBool; 2],
    /// Set by the invalidating thread just before it calls `invalidate`.
    invalidation_began: AtomicBool,
}

impl Inits {
    fn new() -> Arc<Inits> {
        Arc::new(Inits {
            runs: loom::sync::atomic::AtomicUsize::new(0),
            ran: [AtomicBool::new(false), AtomicBool::new(false)],
            saw_invalidation: [AtomicBool::new(false), AtomicBool::new(false)],
            invalidation_began: AtomicBool::new(false),
        })
    }

    /// Initialiser `i` starts.
    fn start(&self, i: usize) {
        self.runs.fetch_add(1, SeqCst);
        assert!(!self.ran[i].swap(true, SeqCst), "initialiser {i} ran twice");
        let began = self.invalidation_began.load(SeqCst);
        self.saw_invalidation[i].store(began, SeqCst);
    }

    fn ran(&self, i: usize) -> bool {
        self.ran[i].load(SeqCst)
    }

    fn runs(&self) -> usize {
        self.runs.load(SeqCst)
    }
}

fn loader_cache() -> Cache<u64, Loaded, KeyHasher> {
    Cache::builder()
        .max_capacity(10)
        .build_with_hasher(KeyHasher)
}

// ---- 1. single flight ---------------------------------------------------

/// Model 1a: two `get_with` of one missing key, each with its own
/// initialiser. Exactly one initialiser runs; both callers get its value
/// (the other one by following the load, by hitting the cached value, or by
/// leading a load that finds the value already there); the value is cached.
#[test]
fn single_flight_success() {
    static STATS: Stats = Stats::new("single_flight_success");
    run_executions(
        &STATS,
        &[
            "a_loaded",
            "b_loaded",
            "followed",
            "hit",
            "found_on_recheck",
        ],
        Expect::NoReclamation,
        0,
        |_, _| {
            let cache = loader_cache();
            let inits = Inits::new();
            let a = {
                let (cache, inits) = (cache.clone(), inits.clone());
                thread::spawn(move || {
                    cache.get_with(K, || {
                        inits.start(0);
                        Loaded::new(0)
                    })
                })
            };
            let b = cache.get_with(K, || {
                inits.start(1);
                Loaded::new(1)
            });
            let a = a.join().unwrap();
            assert_eq!(inits.runs(), 1, "two initialisers ran for one missing key");
            let id = usize::from(inits.ran(1));
            assert_eq!((a.id, b.id), (id, id), "the callers got different values");
            let stats = cache.stats();
            let cached = cache.get(&K).expect("the loaded value is cached");
            assert_eq!(cached.id, id);
            // The leader returns its initialiser's own output.
            let (led, other) = if id == 0 { (&a, &b) } else { (&b, &a) };
            assert_eq!(led.clones, 0);
            STATS.event(id);
            if other.clones < cached.clones {
                STATS.event(2); // a clone of the outcome: it followed the load
            } else if stats.hits == 1 {
                STATS.event(3); // its first lookup found the value
            } else {
                assert_eq!(stats.misses, 2);
                STATS.event(4); // it led, and its recheck found the value
            }
            assert_eq!((stats.load_successes, stats.load_failures), (1, 0));
            assert_eq!(cache.entry_count(), 1);
        },
    );
}

/// Model 1b: a failing `try_get_with` (A) vs a succeeding one (B) for one
/// missing key. If only A's initialiser ran, B followed it and got the very
/// same error (`Arc::ptr_eq`) and nothing is cached. If both ran, A failed
/// first and B, arriving after, loaded its own value. If only B's ran, both
/// got B's value. Afterwards no load is left registered: a new load of the
/// key runs its initialiser.
#[test]
fn single_flight_failure() {
    static STATS: Stats = Stats::new("single_flight_failure");
    run_executions(
        &STATS,
        &["shared_error", "failed_then_loaded", "b_first"],
        Expect::NoReclamation,
        0,
        |_, _| {
            let cache = loader_cache();
            let inits = Inits::new();
            let a = {
                let (cache, inits) = (cache.clone(), inits.clone());
                thread::spawn(move || {
                    cache.try_get_with(K, || {
                        inits.start(0);
                        Err(Failed(0))
                    })
                })
            };
            let b = cache.try_get_with(K, || {
                inits.start(1);
                Ok::<_, Failed>(Loaded::new(1))
            });
            let a = a.join().unwrap();
            let (ran_a, ran_b) = (inits.ran(0), inits.ran(1));
            assert_eq!(inits.runs(), usize::from(ran_a) + usize::from(ran_b));
            let cached = cache.peek(&K).map(|v| v.id);
            match (ran_a, ran_b) {
                (true, false) => {
                    let (ea, eb) = (a.unwrap_err(), b.unwrap_err());
                    assert_eq!(ea.0, 0);
                    assert!(Arc::ptr_eq(&ea, &eb), "a follower got another error");
                    assert_eq!(cached, None, "a failed load cached something");
                    STATS.event(0);
                }
                (true, true) => {
                    assert_eq!(a.unwrap_err().0, 0);
                    assert_eq!(b.unwrap().id, 1);
                    assert_eq!(cached, Some(1));
                    STATS.event(1);
                }
                (false, true) => {
                    assert_eq!(a.unwrap().id, 1);
                    assert_eq!(b.unwrap().id, 1);
                    assert_eq!(cached, Some(1));
                    STATS.event(2);
                }
                (false, false) => panic!("no initialiser ran: {a:?} {b:?}"),
            }
            // Nothing left behind: a new load of the key leads and runs.
            cache.invalidate(&K);
            let again = cache.try_get_with(K, || Ok::<_, Failed>(Loaded::new(2)));
            assert_eq!(again.expect("a new load").id, 2, "a stale load answered");
        },
    );
}

/// Model 1c: a `get_with` whose initialiser panics (A, caught in its thread)
/// vs another `get_with` (B). If A's initialiser ran, its panic reached A,
/// and B (woken if it was waiting on A's load, or arriving after) ran its
/// own initialiser; otherwise B led and A got B's value. Either way B's
/// value is cached and no load is left registered (a later `get_with`
/// after an invalidation runs its initialiser; a load left behind would
/// make it wait forever, a deadlock loom reports).
#[test]
fn single_flight_panic() {
    static STATS: Stats = Stats::new("single_flight_panic");
    quiet_deliberate_panics();
    run_executions(
        &STATS,
        &["a_panicked", "b_woken_then_loaded", "b_first"],
        Expect::NoReclamation,
        0,
        |_, _| {
            let cache = loader_cache();
            let inits = Inits::new();
            let a = {
                let (cache, inits) = (cache.clone(), inits.clone());
                thread::spawn(move || {
                    catch_unwind(AssertUnwindSafe(|| {
                        cache.get_with(K, || -> Loaded {
                            inits.start(0);
                            std::panic::panic_any(DELIBERATE)
                        })
                    }))
                    .map_err(|_| ())
                })
            };
            let b = cache.get_with(K, || {
                inits.start(1);
                Loaded::new(1)
            });
            let a = a.join().unwrap();
            let stats = cache.stats();
            assert_eq!(b.id, 1);
            assert!(
                inits.ran(1) || !inits.ran(0),
                "nobody loaded after the panic"
            );
            if inits.ran(0) {
                assert!(a.is_err(), "the panic did not reach its caller");
                assert_eq!(inits.runs(), 2);
                assert_eq!((stats.load_successes, stats.load_failures), (1, 1));
                STATS.event(0);
                // B missed, followed A's load, was woken by the abandonment,
                // and missed again before leading.
                if stats.misses == 3 {
                    STATS.event(1);
                }
            } else {
                assert_eq!(a.expect("A followed B").id, 1);
                assert_eq!(inits.runs(), 1);
                STATS.event(2);
            }
            assert_eq!(cache.peek(&K).map(|v| v.id), Some(1));
            cache.invalidate(&K);
            assert_eq!(cache.get_with(K, || Loaded::new(2)).id, 2);
        },
    );
}

/// A cache for the loader models whose listener records every departure.
fn listened_loader_cache(heard: &Heard) -> Cache<u64, Loaded, KeyHasher> {
    let heard = heard.clone();
    Cache::builder()
        .max_capacity(10)
        .eviction_listener(move |k: Arc<u64>, v: Loaded, cause| {
            heard
                .lock()
                .unwrap()
                .push((*k, v.id, cause, thread::current().id()))
        })
        .build_with_hasher(KeyHasher)
}

/// Model 1d: a `get_with` of a missing key (A) vs an `invalidate` of it
/// (C, the main thread). Invariant 3 of `loads.rs`: a write that happens
/// while a load is in flight wins: the loaded value goes to the loader but
/// is not cached. So if A's initialiser started before C began, A's value
/// is not in the cache at the end: either C's write found the load
/// registered and superseded it (then the value was never cached, and the
/// listener never hears of it), or it came after the load finished and
/// removed the value (reported once, as `Explicit`). A always gets its own
/// value.
#[test]
fn single_flight_invalidated() {
    static STATS: Stats = Stats::new("single_flight_invalidated");
    run_executions(
        &STATS,
        &[
            "superseded",
            "removed_after_load",
            "loaded_after_invalidation",
            "loaded_before_invalidation_began",
        ],
        Expect::NoReclamation,
        0,
        |_, _| {
            let heard: Heard = Arc::default();
            let cache = listened_loader_cache(&heard);
            let inits = Inits::new();
            let a = {
                let (cache, inits) = (cache.clone(), inits.clone());
                thread::spawn(move || {
                    cache.get_with(K, || {
                        inits.start(0);
                        Loaded::new(0)
                    })
                })
            };
            // The flag is no loom operation: yield first, so that loom also
            // runs A (in part or whole) before C begins.
            thread::yield_now();
            inits.invalidation_began.store(true, SeqCst);
            cache.invalidate(&K);
            let a = a.join().unwrap();
            assert_eq!(inits.runs(), 1);
            assert_eq!((a.id, a.clones), (0, 0), "the loader got another value");
            let heard = heard.lock().unwrap().clone();
            let cached = cache.peek(&K).map(|v| v.id);
            assert!(heard.len() <= 1, "a value departed twice: {heard:?}");
            if let Some(&(k, id, cause, _)) = heard.first() {
                assert_eq!((k, id, cause), (K, 0, RemovalCause::Explicit));
                assert_eq!(cached, None, "a value departed and is still cached");
            }
            if !inits.saw_invalidation[0].load(SeqCst) {
                // The load was registered before the invalidation wrote.
                assert_eq!(
                    cached, None,
                    "a value loaded while the key was invalidated was cached"
                );
            }
            match (cached, heard.len()) {
                (None, 0) => STATS.event(0),
                (None, _) => STATS.event(1),
                (Some(_), _) => STATS.event(2),
            }
            if !inits.saw_invalidation[0].load(SeqCst) {
                STATS.event(3);
            }
            assert_eq!(cache.entry_count(), u64::from(cached.is_some()));
        },
    );
}

/// Model 1d': a `get_with` of a missing key (A) vs an `insert` of it (the
/// main thread). The insert always wins (`loads.rs`, invariant 3, through
/// `Loads::write`): at the end the inserted value is cached, whether the
/// insert came before A's load (A then finds it, on its first lookup or on
/// its leader's recheck, and its initialiser does not run), during it (A's
/// value goes to A only), or after it (A's cached value is replaced, and
/// the listener hears of it once, as `Replaced`).
#[test]
fn single_flight_vs_insert() {
    static STATS: Stats = Stats::new("single_flight_vs_insert");
    run_executions(
        &STATS,
        &["insert_first", "superseded", "replaced_after_load"],
        Expect::NoReclamation,
        0,
        |_, _| {
            let heard: Heard = Arc::default();
            let cache = listened_loader_cache(&heard);
            let inits = Inits::new();
            let a = {
                let (cache, inits) = (cache.clone(), inits.clone());
                thread::spawn(move || {
                    cache.get_with(K, || {
                        inits.start(0);
                        Loaded::new(0)
                    })
                })
            };
            cache.insert(K, Loaded::new(1));
            let a = a.join().unwrap();
            assert_eq!(
                cache.peek(&K).map(|v| v.id),
                Some(1),
                "a load overwrote a concurrent insert"
            );
            assert_eq!(cache.entry_count(), 1);
            let heard = heard.lock().unwrap().clone();
            if inits.ran(0) {
                assert_eq!(a.id, 0, "the loader got another value");
                match heard[..] {
                    [] => STATS.event(1),
                    [(k, 0, RemovalCause::Replaced, _)] if k == K => STATS.event(2),
                    _ => panic!("unexpected departures: {heard:?}"),
                }
            } else {
                assert_eq!(a.id, 1);
                assert!(heard.is_empty(), "unexpected departures: {heard:?}");
                STATS.event(0);
            }
        },
    );
}

/// Model 1e: a load superseded while it runs, with a waiter. A's
/// initialiser invalidates its own key (a write while A's load is in
/// flight, so the load is superseded); B (main) asks for the key too. If B
/// followed A's load it gets A's value, which is nowhere cached; if it came
/// after A's load ended it finds nothing cached and loads its own value;
/// if it came first, A follows B and B's value is cached.
#[test]
fn single_flight_superseded_waiter() {
    static STATS: Stats = Stats::new("single_flight_superseded_waiter");
    run_executions(
        &STATS,
        &[
            "waiter_got_superseded_value",
            "waiter_loaded_after",
            "b_first",
        ],
        Expect::NoReclamation,
        0,
        |_, _| {
            let heard: Heard = Arc::default();
            let cache = listened_loader_cache(&heard);
            let inits = Inits::new();
            let a = {
                let (cache, inits) = (cache.clone(), inits.clone());
                thread::spawn(move || {
                    cache.get_with(K, || {
                        inits.start(0);
                        cache.invalidate(&K);
                        Loaded::new(0)
                    })
                })
            };
            let b = cache.get_with(K, || {
                inits.start(1);
                Loaded::new(1)
            });
            let a = a.join().unwrap();
            let cached = cache.peek(&K).map(|v| v.id);
            match (inits.ran(0), inits.ran(1)) {
                (true, false) => {
                    assert_eq!((a.id, b.id), (0, 0), "the waiter got another value");
                    assert_eq!(cached, None, "a superseded load was cached");
                    STATS.event(0);
                }
                (true, true) => {
                    assert_eq!((a.id, b.id), (0, 1));
                    assert_eq!(cached, Some(1));
                    STATS.event(1);
                }
                (false, true) => {
                    assert_eq!((a.id, b.id), (1, 1));
                    assert_eq!(cached, Some(1));
                    STATS.event(2);
                }
                (false, false) => panic!("no initialiser ran"),
            }
            assert_eq!(
                inits.runs(),
                usize::from(inits.ran(0)) + usize::from(inits.ran(1))
            );
            // A's invalidation always found the key absent: nothing departed.
            assert!(heard.lock().unwrap().is_empty());
        },
    );
}

/// Model 1f: model 1d with a waiter: two `get_with` of a missing key (A
/// spawned, B on the main thread) vs an `invalidate` of it (C). A value
/// whose initialiser started before the invalidation began is not cached
/// at the end (superseded, or removed after its load); each caller gets the
/// value of the load it led or followed; nothing departs twice. Three
/// threads of loaders make this too slow for `run.sh` (more than 15
/// minutes at one preemption on 2 cores): models 1d and 1e cover the same
/// two halves (a write during a load; a waiter of a superseded load) with
/// two threads each. Run it by name when changing `loads.rs`.
#[test]
fn loaders_vs_invalidation() {
    static STATS: Stats = Stats::new("loaders_vs_invalidation");
    run_executions(
        &STATS,
        &[
            "superseded",
            "cached_then_invalidated",
            "loaded_after_invalidation",
            "both_loaded",
        ],
        Expect::NoReclamation,
        0,
        |_, _| {
            let heard: Heard = Arc::default();
            let cache = listened_loader_cache(&heard);
            let inits = Inits::new();
            let a = {
                let (cache, inits) = (cache.clone(), inits.clone());
                thread::spawn(move || {
                    cache.get_with(K, || {
                        inits.start(0);
                        Loaded::new(0)
                    })
                })
            };
            let c = {
                let (cache, inits) = (cache.clone(), inits.clone());
                thread::spawn(move || {
                    inits.invalidation_began.store(true, SeqCst);
                    cache.invalidate(&K);
                })
            };
            let b = cache.get_with(K, || {
                inits.start(1);
                Loaded::new(1)
            });
            let a = a.join().unwrap();
            c.join().unwrap();
            let ran = [inits.ran(0), inits.ran(1)];
            let runs = inits.runs();
            assert_eq!(runs, ran.iter().filter(|&&r| r).count());
            assert!(runs >= 1);
            // Each caller got the value of the load it led, or of the one it
            // followed (whose initialiser ran).
            for (i, got) in [(0, &a), (1, &b)] {
                if ran[i] {
                    assert_eq!(got.id, i, "a leader got another load's value");
                } else {
                    assert!(ran[got.id], "a follower got a value nobody loaded");
                }
            }
            let heard = heard.lock().unwrap().clone();
            let cached = cache.peek(&K).map(|v| v.id);
            for &(k, id, cause, _) in &heard {
                assert_eq!((k, cause), (K, RemovalCause::Explicit));
                assert!(ran[id]);
                assert_ne!(cached, Some(id), "a value departed and is still cached");
            }
            let departed = |i: usize| heard.iter().filter(|h| h.1 == i).count();
            for (i, &ran_i) in ran.iter().enumerate() {
                assert!(departed(i) <= 1, "value {i} departed twice: {heard:?}");
                if !ran_i {
                    continue;
                }
                let saw = inits.saw_invalidation[i].load(SeqCst);
                if !saw {
                    // Its load was registered before the invalidation wrote.
                    assert_ne!(
                        cached,
                        Some(i),
                        "a value loaded while the key was invalidated was cached"
                    );
                    if departed(i) == 0 {
                        STATS.event(0); // superseded: never cached
                    } else {
                        STATS.event(1); // cached, then removed
                    }
                }
            }
            if let Some(id) = cached {
                assert!(inits.saw_invalidation[id].load(SeqCst));
                STATS.event(2);
            }
            if runs == 2 {
                STATS.event(3);
            }
            assert_eq!(cache.entry_count(), u64::from(cached.is_some()));
        },
    );
}

// ---- 2. eviction racing a read ------------------------------------------

fn tracked_cache(max: u64) -> Cache<u64, Tracked, KeyHasher> {
    Cache::builder()
        .max_capacity(max)
        .build_with_hasher(KeyHasher)
}

/// The writer of the eviction models: inserts `K2 → value 1` into a cache
/// of capacity 1 holding `K → value 0`, so `K` is evicted (even when the
/// reader's hit promoted it to main first: a new key is never the victim of
/// its own insert while another entry can go), then flushes and records
/// whether value 0 was freed while the reader was in its window.
fn spawn_evicting_insert(
    cache: &Cache<u64, Tracked, KeyHasher>,
    t: &Arc<Tracker>,
    w: &Arc<Window>,
    stats: &'static Stats,
) -> thread::JoinHandle<()> {
    let (cache, t, w) = (cache.clone(), t.clone(), w.clone());
    thread::spawn(move || {
        {
            let _pinned = crossbeam_epoch::pin();
            cache.insert(K2, Tracked::new(&t, 1));
        }
        stats.flush_then_record_freed(&w, || t.drops(0) == 1);
    })
}

/// After an eviction model's race: the bound holds, exactly one of the two
/// keys is left, with its own value, and it is the new key `K2`.
fn check_after_eviction(cache: &Cache<u64, Tracked, KeyHasher>) {
    assert!(cache.weighted_size() <= 1, "the bound was exceeded");
    assert_eq!(cache.entry_count(), 1);
    let (k, k2) = (cache.peek(&K), cache.peek(&K2));
    assert_eq!(
        (k.as_ref().map(Tracked::id), k2.as_ref().map(Tracked::id)),
        if k.is_some() {
            (Some(0), None)
        } else {
            (None, Some(1))
        },
        "not exactly one entry, with its own value"
    );
    assert!(k.is_none(), "the new key was evicted by its own insert");
}

/// Model 2a: a reader holding a `CacheRef` to `K`'s value while another
/// thread's insert evicts that entry (capacity 1). The value stays readable
/// while held (its `CacheRef` holds the guard its lookup pinned), is freed
/// afterwards (in some execution while the reader is still in its window,
/// before it drops the reference), and dropped exactly once; the bound
/// holds once both are done.
#[test]
fn get_ref_vs_evicting_insert() {
    static STATS: Stats = Stats::new("get_ref_vs_evicting_insert");
    run_executions(
        &STATS,
        &["saw_none", "held_value"],
        Expect::FreedDuringRead,
        2,
        |t, w| {
            let cache = tracked_cache(1);
            cache.insert(K, Tracked::new(t, 0));
            let writer = spawn_evicting_insert(&cache, t, w, &STATS);
            w.start();
            match cache.get_ref(&K) {
                None => STATS.event(0),
                Some(held) => {
                    assert_eq!(held.id(), 0);
                    thread::yield_now();
                    assert_eq!(held.id(), 0, "a held value changed");
                    assert_eq!(t.drops(0), 0, "a held value was dropped");
                    STATS.event(1);
                }
            }
            w.end();
            writer.join().unwrap();
            check_after_eviction(&cache);
        },
    );
}

/// Model 2b: `get` (which clones the value under its guard: a read of the
/// payload) racing the same evicting insert. The clone is never taken from
/// a value already dropped, and the bound holds once both are done.
#[test]
fn get_vs_evicting_insert() {
    static STATS: Stats = Stats::new("get_vs_evicting_insert");
    run_executions(
        &STATS,
        &["saw_none", "saw_value"],
        Expect::FreedDuringRead,
        2,
        |t, w| {
            let cache = tracked_cache(1);
            cache.insert(K, Tracked::new(t, 0));
            let writer = spawn_evicting_insert(&cache, t, w, &STATS);
            w.start();
            match cache.get(&K) {
                None => STATS.event(0),
                Some(copy) => {
                    assert_eq!(copy.id(), 0);
                    STATS.event(1);
                }
            }
            w.end();
            writer.join().unwrap();
            check_after_eviction(&cache);
        },
    );
}

/// A cache of `Tracked` values whose listener records every departure.
fn listened_tracked_cache(heard: &Heard, max: u64) -> Cache<u64, Tracked, KeyHasher> {
    let heard = heard.clone();
    Cache::builder()
        .max_capacity(max)
        .eviction_listener(move |k: Arc<u64>, v: Tracked, cause| {
            heard
                .lock()
                .unwrap()
                .push((*k, v.id(), cause, thread::current().id()))
        })
        .build_with_hasher(KeyHasher)
}

/// Model 2c: two inserts of new keys racing on a full cache (capacity 1,
/// holding `K → value 0`). Each insert publishes in the map, then places
/// its entry and evicts to the capacity under the policy lock (`core.rs`,
/// invariants 2 and 3), possibly while the other's entry is published but
/// not placed yet. Once both are done the bound holds, the policy's books
/// match the map (one entry, with its own value), and each of the two
/// other values departed exactly once, as `Size`, told by the thread whose
/// eviction took it out (either inserter).
#[test]
fn inserts_vs_bound() {
    static STATS: Stats = Stats::new("inserts_vs_bound");
    const K3: u64 = key(0, 3);
    run_executions(
        &STATS,
        &["k2_kept", "k3_kept", "evicted_by_the_other_inserter"],
        Expect::NoReclamation,
        3,
        |t, _| {
            let heard: Heard = Arc::default();
            let cache = listened_tracked_cache(&heard, 1);
            cache.insert(K, Tracked::new(t, 0));
            let a = {
                let (cache, t) = (cache.clone(), t.clone());
                thread::spawn(move || {
                    let _pinned = crossbeam_epoch::pin();
                    cache.insert(K2, Tracked::new(&t, 1));
                })
            };
            {
                let _pinned = crossbeam_epoch::pin();
                cache.insert(K3, Tracked::new(t, 2));
            }
            a.join().unwrap();
            assert!(cache.weighted_size() <= 1, "the bound was exceeded");
            let present: Vec<usize> = [K, K2, K3]
                .iter()
                .enumerate()
                .filter_map(|(i, k)| cache.peek(k).map(|v| (i, v.id())))
                .map(|(i, id)| {
                    assert_eq!(i, id, "a key holds another key's value");
                    i
                })
                .collect();
            assert_eq!(present.len(), 1, "not exactly one entry left: {present:?}");
            assert_eq!(
                (cache.entry_count(), cache.weighted_size()),
                (1, 1),
                "the policy's books disagree with the map"
            );
            let heard = heard.lock().unwrap().clone();
            let me = thread::current().id();
            for &(_, id, _, by) in &heard {
                // Value 1 was inserted by A, value 2 by this thread.
                if (id, by == me) == (1, true) || (id, by == me) == (2, false) {
                    STATS.event(2);
                }
            }
            let mut heard: Vec<(u64, usize, RemovalCause)> = heard
                .iter()
                .map(|&(k, id, cause, _)| (k, id, cause))
                .collect();
            heard.sort_by_key(|h| h.1);
            let expected: Vec<(u64, usize, RemovalCause)> = [K, K2, K3]
                .into_iter()
                .enumerate()
                .filter(|&(i, _)| i != present[0])
                .map(|(i, k)| (k, i, RemovalCause::Size))
                .collect();
            assert_eq!(heard, expected, "not one Size departure per evicted value");
            if present[0] > 0 {
                STATS.event(present[0] - 1);
            }
        },
    );
}

// ---- 3. expiry racing an insert of the same key --------------------------

/// Model 3: expiry racing an insert of the same key. Time to live 10 s on a
/// mock clock: `K → value 0` is inserted at 0 s (deadline 10 s) and the
/// clock set to 5 s. Thread A re-inserts `K → value 1` (deadline 15 s or
/// 20 s, depending on whether it reads the clock before or after B moves
/// it); thread B (main) moves the clock to 10 s and runs
/// `run_pending_tasks`, which expires value 0 if it is still there. The new
/// value is never removed (nor reported), value 0 departs exactly once,
/// as `Replaced` (A replaced it before it expired), or `Expired` (B expired
/// it, or A replaced it after it expired), and delivered by the thread that
/// took it out; the new value is readable afterwards.
#[test]
fn expiry_vs_reinsert() {
    static STATS: Stats = Stats::new("expiry_vs_reinsert");
    run_executions(
        &STATS,
        &["replaced", "expired_by_maintenance", "expired_on_replace"],
        Expect::NoReclamation,
        2,
        |t, _| {
            let clock = MockClock::new();
            let heard: Heard = Arc::default();
            let cache: Cache<u64, Tracked, KeyHasher> = {
                let heard = heard.clone();
                Cache::builder()
                    .max_capacity(10)
                    .time_to_live(Duration::from_secs(10))
                    .clock(clock.clone())
                    .eviction_listener(move |k: Arc<u64>, v: Tracked, cause| {
                        heard
                            .lock()
                            .unwrap()
                            .push((*k, v.id(), cause, thread::current().id()))
                    })
                    .build_with_hasher(KeyHasher)
            };
            cache.insert(K, Tracked::new(t, 0));
            clock.advance(Duration::from_secs(5));
            let a = {
                let (cache, t) = (cache.clone(), t.clone());
                thread::spawn(move || {
                    let _pinned = crossbeam_epoch::pin();
                    cache.insert(K, Tracked::new(&t, 1));
                    thread::current().id()
                })
            };
            // Advancing the mock clock is no loom operation: yield first,
            // so that loom also runs A's insert (in part or whole) before
            // the clock moves.
            thread::yield_now();
            clock.advance(Duration::from_secs(5));
            cache.run_pending_tasks();
            let a = a.join().unwrap();
            let heard = heard.lock().unwrap().clone();
            assert_eq!(heard.len(), 1, "not exactly one departure: {heard:?}");
            let (k, id, cause, by) = heard[0];
            assert_eq!((k, id), (K, 0), "the wrong entry departed: {heard:?}");
            match cause {
                RemovalCause::Replaced => {
                    assert_eq!(by, a);
                    STATS.event(0);
                }
                RemovalCause::Expired if by == a => STATS.event(2),
                RemovalCause::Expired => {
                    assert_eq!(by, thread::current().id());
                    STATS.event(1);
                }
                other => panic!("value 0 departed as {other:?}"),
            }
            assert_eq!(
                cache.get(&K).map(|v| v.id()),
                Some(1),
                "the new value was lost"
            );
            assert_eq!(
                (cache.entry_count(), cache.weighted_size()),
                (1, 1),
                "the policy's books disagree with the map"
            );
            assert_eq!(t.drops(1), 0);
        },
    );
}
