//! The iterator contract (item 3) while the map keeps resizing underneath.
//!
//! A set of *stable* keys is inserted before anything starts and never
//! removed (an updater thread keeps replacing their values). Churn threads
//! insert a burst of their own keys and remove it again, over and over, in a
//! map with a tiny capacity and `Incremental { step: 1 }`: the shards grow and
//! shrink constantly and a migration is almost always half done. Meanwhile the
//! test thread iterates, many times, through every iterator — `iter()`,
//! `keys()`, `values()`, `pin().iter()` and `retain` — sometimes slowly
//! (yielding the CPU mid-iteration so that resizes happen inside one
//! iteration), and checks each iteration:
//! - every stable key is yielded exactly once;
//! - no key is yielded twice;
//! - no key that was never inserted appears;
//! - every value is one that was written for that key (values carry their
//!   key and a version no larger than the last version written).
//!
//! For `retain`: `retain(|_, _| true)` and a `retain` that removes only churn
//! keys must both visit every stable key exactly once and leave every stable
//! key in place.

mod common;

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};

use common::{FewHashesState, SeededState};
use evacmap::{HashMap, ResizeMode};

/// Stable keys: `0..STABLE`.
const STABLE: u64 = common::scaled(300, 12) as u64;
/// Churn thread `t` owns keys `CHURN_BASE + t * CHURN_SPAN + 0..BURST`.
const CHURN_BASE: u64 = 1 << 32;
const CHURN_SPAN: u64 = 1 << 24;
const BURST: u64 = common::scaled(2_500, 24) as u64;
const CHURNERS: usize = 2;
/// Iterations per test (at least).
const ITERS: usize = common::scaled(150, 3);
/// Churn bursts (all threads together) per test (at least).
const MIN_ROUNDS: u64 = common::scaled(8, 1) as u64;
/// A test making no progress for this long has a stuck thread.
const STALL: std::time::Duration =
    std::time::Duration::from_secs(common::scaled(120, 1_000_000) as u64);

/// A value: (its key, its version).
type Val = (u64, u64);

struct Shared {
    /// Highest version written (or about to be) per stable key.
    stable: Vec<AtomicU64>,
    /// Rounds started per churn thread: churn values carry the round.
    rounds: Vec<AtomicU64>,
    /// Rounds completed, all churn threads together.
    completed: AtomicU64,
    stop: AtomicBool,
}

impl Shared {
    fn new() -> Self {
        Shared {
            stable: (0..STABLE).map(|_| AtomicU64::new(0)).collect(),
            rounds: (0..CHURNERS).map(|_| AtomicU64::new(0)).collect(),
            completed: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        }
    }

    /// Was `v` ever written for `key`? (Call after observing `v`: counters
    /// are bumped before the write.)
    fn written(&self, key: u64, v: Val) -> Result<(), String> {
        if v.0 != key {
            return Err(format!(
                "key {key:#x} yielded with a value of key {:#x}",
                v.0
            ));
        }
        let latest = if key < STABLE {
            self.stable[key as usize].load(SeqCst)
        } else if let Some((t, i)) = churn_owner(key) {
            if i >= BURST {
                return Err(format!("key {key:#x} was never inserted"));
            }
            self.rounds[t].load(SeqCst)
        } else {
            return Err(format!("key {key:#x} was never inserted"));
        };
        if v.1 == 0 || v.1 > latest {
            return Err(format!(
                "key {key:#x} has version {} never written (latest {latest})",
                v.1
            ));
        }
        Ok(())
    }
}

fn churn_key(t: usize, i: u64) -> u64 {
    CHURN_BASE + t as u64 * CHURN_SPAN + i
}

fn churn_owner(key: u64) -> Option<(usize, u64)> {
    let off = key.checked_sub(CHURN_BASE)?;
    let t = (off / CHURN_SPAN) as usize;
    (t < CHURNERS).then_some((t, off % CHURN_SPAN))
}

/// Checks one iteration's output (key and value of each item).
fn check_items(shared: &Shared, items: &[(u64, Val)], what: &str) {
    let mut seen = HashSet::with_capacity(items.len());
    for &(k, v) in items {
        assert!(seen.insert(k), "{what}: key {k:#x} yielded twice");
        if let Err(e) = shared.written(k, v) {
            panic!("{what}: {e}");
        }
    }
    for k in 0..STABLE {
        assert!(
            seen.contains(&k),
            "{what}: stable key {k} was present throughout but not yielded"
        );
    }
}

/// Runs `body` `ITERS` times on a map that churn threads keep resizing.
/// `body(map, slow)` iterates and returns what it saw; `slow` asks it to
/// yield the CPU now and then mid-iteration.
fn under_churn<S>(
    map: HashMap<u64, Val, S>,
    what: &str,
    body: impl FnMut(&HashMap<u64, Val, S>, bool) -> Vec<(u64, Val)>,
) where
    S: BuildHasher + Sync,
{
    under_churn_until(map, what, body, || true)
}

/// [`under_churn`], iterating also until `enough()` holds.
fn under_churn_until<S>(
    map: HashMap<u64, Val, S>,
    what: &str,
    mut body: impl FnMut(&HashMap<u64, Val, S>, bool) -> Vec<(u64, Val)>,
    enough: impl Fn() -> bool,
) where
    S: BuildHasher + Sync,
{
    let shared = Shared::new();
    for k in 0..STABLE {
        shared.stable[k as usize].store(1, SeqCst);
        map.insert(k, (k, 1));
    }
    let resizes_before = {
        let s = map.stats();
        s.grows + s.shrinks
    };
    let mut mid_migration = 0usize;
    let mut iterations = 0;
    let t0 = std::time::Instant::now();
    std::thread::scope(|s| {
        for t in 0..CHURNERS {
            let (map, shared) = (&map, &shared);
            s.spawn(move || {
                while !shared.stop.load(SeqCst) {
                    let round = shared.rounds[t].fetch_add(1, SeqCst) + 1;
                    for i in 0..BURST {
                        let k = churn_key(t, i);
                        map.insert(k, (k, round));
                    }
                    for i in 0..BURST {
                        map.remove(&churn_key(t, i));
                    }
                    shared.completed.fetch_add(1, SeqCst);
                }
            });
        }
        // The updater: replaces stable values by every write path.
        {
            let (map, shared) = (&map, &shared);
            s.spawn(move || {
                let mut n = 0u64;
                while !shared.stop.load(SeqCst) {
                    n += 1;
                    let k = n % STABLE;
                    let ver = shared.stable[k as usize].fetch_add(1, SeqCst) + 1;
                    match n % 3 {
                        0 => {
                            map.insert(k, (k, ver));
                        }
                        1 => {
                            map.update(&k, |_| (k, ver));
                        }
                        _ => {
                            map.compute(k, |_| evacmap::Op::Insert((k, ver)));
                        }
                    }
                    if n % 64 == 0 {
                        std::thread::yield_now();
                    }
                }
            });
        }
        let guard = StopOnDrop(&shared.stop);
        let mut i = 0;
        // Iterate at least ITERS times, and until the churn threads have done
        // MIN_ROUNDS bursts, some iteration overlapped a resize and the
        // caller's condition holds: with two cores and other tests running,
        // the churn threads may otherwise hardly run while we iterate. Each
        // of these becomes true soon unless the map is broken.
        loop {
            let churned = shared.completed.load(SeqCst) >= MIN_ROUNDS;
            if i >= ITERS && churned && mid_migration > 0 && enough() {
                break;
            }
            assert!(
                t0.elapsed() < STALL,
                "{what}: after {i} iterations: {} churn rounds, {mid_migration} iterations \
                 overlapping a resize, caller's condition {}",
                shared.completed.load(SeqCst),
                enough()
            );
            let before = map.stats();
            let items = body(&map, i % 3 == 1);
            let after = map.stats();
            // A resize started, progressed or finished during the iteration.
            if before.migrations_in_progress > 0
                || after.grows + after.shrinks != before.grows + before.shrinks
                || after.migrations_in_progress > 0
            {
                mid_migration += 1;
            }
            check_items(&shared, &items, &format!("{what}, iteration {i}"));
            i += 1;
        }
        iterations = i;
        drop(guard);
    });
    let s = map.stats();
    println!(
        "{what}: {iterations} iterations in {:?}, {mid_migration} overlapped a resize, \
         {} resizes meanwhile; {s}",
        t0.elapsed(),
        s.grows + s.shrinks - resizes_before
    );
    assert!(
        s.grows + s.shrinks - resizes_before >= common::scaled(4, 1),
        "{what}: the map hardly resized during the test: {s}"
    );
    for k in 0..STABLE {
        assert!(map.contains_key(&k), "{what}: stable key {k} lost");
    }
}

/// Sets the stop flag even if the iterating thread panics, so the scope ends.
struct StopOnDrop<'a>(&'a AtomicBool);
impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

fn maybe_yield(slow: bool, n: usize) {
    if slow && n % 128 == 0 {
        std::thread::yield_now();
    }
}

fn tiny_map<S>(mode: ResizeMode, shards: usize, hasher: S) -> HashMap<u64, Val, S> {
    common::Config::tiny(shards, mode).build(hasher)
}

fn via_iter<S: BuildHasher>(map: &HashMap<u64, Val, S>, slow: bool) -> Vec<(u64, Val)> {
    map.iter()
        .enumerate()
        .map(|(n, r)| {
            maybe_yield(slow, n);
            (*r.key(), *r)
        })
        .collect()
}

fn iter_one_shard(mode: ResizeMode) {
    under_churn(tiny_map(mode, 1, SeededState(1)), "iter, 1 shard", via_iter);
}

fn iter_four_shards(mode: ResizeMode) {
    under_churn(
        tiny_map(mode, 4, SeededState(2)),
        "iter, 4 shards",
        via_iter,
    );
}

fn iter_many_equal_hashes(mode: ResizeMode) {
    // A few hundred distinct hashes for thousands of keys: long chains, and
    // many entries sharing one position (they must stay in one chunk).
    let hasher = FewHashesState {
        classes: 97,
        seed: 4,
    };
    under_churn(tiny_map(mode, 2, hasher), "iter, equal hashes", via_iter);
}

fn keys_and_values(mode: ResizeMode) {
    under_churn(tiny_map(mode, 2, SeededState(5)), "keys()", |map, slow| {
        map.keys()
            .enumerate()
            .map(|(n, k)| {
                maybe_yield(slow, n);
                (*k, *k.value())
            })
            .collect()
    });
    under_churn(
        tiny_map(mode, 2, SeededState(6)),
        "values()",
        |map, slow| {
            // Values carry their key.
            map.values()
                .enumerate()
                .map(|(n, v)| {
                    maybe_yield(slow, n);
                    (v.0, *v)
                })
                .collect()
        },
    );
}

fn pinned_iter(mode: ResizeMode) {
    under_churn(
        tiny_map(mode, 2, SeededState(7)),
        "pin().iter()",
        |map, slow| {
            let pinned = map.pin();
            let items: Vec<_> = pinned
                .iter()
                .enumerate()
                .map(|(n, (k, v))| {
                    maybe_yield(slow, n);
                    (*k, *v)
                })
                .collect();
            let keys: HashSet<u64> = pinned.keys().copied().collect();
            for k in 0..STABLE {
                assert!(keys.contains(&k), "pinned keys() missed stable key {k}");
            }
            items
        },
    );
}

fn retain_keeping_everything(mode: ResizeMode) {
    under_churn(
        tiny_map(mode, 2, SeededState(8)),
        "retain(true)",
        |map, slow| {
            let mut visited = Vec::new();
            map.retain(|k, v| {
                maybe_yield(slow, visited.len());
                visited.push((*k, *v));
                true
            });
            for k in 0..STABLE {
                assert!(
                    map.contains_key(&k),
                    "retain(|_, _| true) removed stable key {k}"
                );
            }
            visited
        },
    );
}

fn retain_removing_churn_keys(mode: ResizeMode) {
    let removed_churn = AtomicU64::new(0);
    under_churn_until(
        tiny_map(mode, 1, SeededState(9)),
        "retain(stable only)",
        |map, slow| {
            let mut visited = Vec::new();
            map.retain(|k, v| {
                maybe_yield(slow, visited.len());
                visited.push((*k, *v));
                if *k >= STABLE {
                    removed_churn.fetch_add(1, SeqCst);
                }
                *k < STABLE
            });
            for k in 0..STABLE {
                assert!(
                    map.contains_key(&k),
                    "retain removing churn keys removed stable key {k}"
                );
            }
            visited
        },
        // Until retain has really met (and removed) churn keys.
        || removed_churn.load(SeqCst) > 0,
    );
}

/// Many more iterations and a larger burst.
fn iteration_soak(mode: ResizeMode) {
    for round in 0..300 {
        under_churn(
            tiny_map(mode, 1 << (round % 3), SeededState(round)),
            "soak iter",
            via_iter,
        );
        under_churn(
            tiny_map(mode, 2, SeededState(round)),
            "soak retain",
            |map, slow| {
                let mut visited = Vec::new();
                map.retain(|k, v| {
                    maybe_yield(slow, visited.len());
                    visited.push((*k, *v));
                    *k < STABLE
                });
                visited
            },
        );
    }
}

common::each_mode!(
    iter_one_shard,
    iter_four_shards,
    iter_many_equal_hashes,
    keys_and_values,
    pinned_iter,
    retain_keeping_everything,
    retain_removing_churn_keys,
    #[ignore = "soak: about a minute"]
    iteration_soak,
);
