//! Loom models of evacmap's concurrency protocol: every interleaving (up to
//! `LOOM_MAX_PREEMPTIONS` preemptions) of writers and readers on a one-shard
//! map, crossbeam-epoch's reclamation included. See `../src/lib.rs` for the
//! scaffolding (deterministic hasher, loom-tracked values, counters, the
//! loom facts the models rely on) and `../run.sh` for how to run them and
//! with which bounds.
//!
//! | model | race |
//! |---|---|
//! | `get_vs_first_insert` | get vs the insert that allocates and publishes the table |
//! | `get_vs_reinsert` | get vs remove + re-insert of its key into the same slot |
//! | `get_vs_evacuation` | get vs evacuation of its bucket and migration completion |
//! | `get_in_overflow_vs_evacuation` | get of a key in an overflow bucket vs evacuation of its chain |
//! | `get_vs_pending_migration` | get (helping) vs writes during a pending migration |
//! | `writers_vs_reader` | two writers completing one migration vs a reader (3 threads) |
//! | `iter_vs_migration` | iterator vs evacuation and completion |
//! | `iter_vs_shrink` | iterator vs a shrink completing between its chunks |
//! | `iter_vs_reinsert` | iterator vs remove + re-insert of a key into a later slot |
//! | `remove_vs_held_ref` | remove and reclamation vs a reader holding the value |
//! | `clear_vs_get` | clear of a half-migrated shard vs get |
//! | `help_vs_reader` | a reader completing a migration vs a reader in the old table |
//! | `owned_pin_moved_vs_remove` | an owned pinned handle moving to another thread vs remove and reclamation |
//!
//! Key layout: `key(q, id)` hashes to itself; `q` is its bucket in a 4-bucket
//! table (`q / 2` in a 2-bucket table, 0 in a 1-bucket table). A map built
//! with capacity 0 starts with 1 bucket, with capacity 5 with 2 buckets;
//! `reserve` then starts an incremental grow (step 1) that the next write
//! evacuates: the written key's bucket, then the next bucket from the cursor.
//!
//! Every model checks, besides its own property: no loom causality violation
//! (a value read before its initialisation happens-before the read, or
//! dropped before a reader is done with it; a table or overflow bucket freed
//! while a reader can still enter it, via the crate's `Canary`); no value
//! read or dropped after it was dropped or freed (`Val`'s magic, with the
//! `Quarantine` allocator); every value dropped exactly once once the
//! execution is torn down; every outcome it lists reached in some execution;
//! and, where something is retired, that some execution really freed it
//! while the reader was inside its operation.
#![cfg(loom)]

use std::collections::BTreeSet;
use std::sync::Arc;

use evacmap_loom_tests::*;
use loom::thread;

/// Freed memory is poisoned and held back, so a double drop or a read after
/// free hits the poison (see `Quarantine`), not a reused block.
#[global_allocator]
static ALLOC: Quarantine = Quarantine;

/// Spawns `f(map, tracker)` as the model's writer thread.
fn spawn_writer(
    map: &Arc<Map>,
    tracker: &Arc<Tracker>,
    window: &Arc<Window>,
    f: impl FnOnce(&Map, &Arc<Tracker>, &Window) + Send + 'static,
) -> thread::JoinHandle<()> {
    let (map, tracker, window) = (map.clone(), tracker.clone(), window.clone());
    thread::spawn(move || f(&map, &tracker, &window))
}

/// Inserts a new value `id` at `k` from a writer thread; returns the id of the
/// value it replaced. The value is created *after* pinning, as the map creates
/// its entry after pinning: under loom, `pin` is a SeqCst fence, so a value
/// built before the call would be ordered before the publish by that fence,
/// and a publish too weak to order the entry would go unnoticed.
fn insert_new(map: &Map, k: u64, t: &Arc<Tracker>, id: usize) -> Option<usize> {
    let pinned = map.pin();
    let previous = pinned.insert(k, Val::new(t, id)).map(|v| v.read());
    previous
}

/// The id of the value at `k`, read through the returned reference (a
/// loom-tracked read of its payload), or None.
fn get_id(map: &Map, k: u64) -> Option<usize> {
    map.get(&k).map(|v| v.read())
}

/// Removes `k`; the id of the value removed, read through the returned
/// reference (a loom-tracked read), or None.
fn remove_id(map: &Map, k: u64) -> Option<usize> {
    map.remove(&k).map(|v| v.read())
}

/// Checks that `k`, present throughout the race, is found with value `id`.
#[track_caller]
fn assert_present(map: &Map, k: u64, id: usize) {
    assert_eq!(
        get_id(map, k),
        Some(id),
        "a key present throughout was missed"
    );
}

/// One full iteration: reads every value yielded (a loom-tracked read),
/// checks that it is the value of its key (`keys[id]` is the key of value
/// `id`), and returns the ids in the order yielded.
#[track_caller]
fn scan(map: &Map, keys: &[u64]) -> Vec<usize> {
    let mut seen = Vec::new();
    for v in map.iter() {
        let id = v.read();
        assert_eq!(*v.key(), keys[id], "key and value out of step");
        seen.push(id);
    }
    seen
}

/// The ids an iteration yielded, as a set; panics if one came twice.
#[track_caller]
fn yielded_once(seen: &[usize]) -> BTreeSet<usize> {
    let set: BTreeSet<usize> = seen.iter().copied().collect();
    assert_eq!(set.len(), seen.len(), "a key was yielded twice: {seen:?}");
    set
}

/// Model 1: A `get` racing the first insert of the same key. The insert allocates
/// the shard's table and publishes it (root, Release), then publishes the
/// entry. The reader sees nothing or the complete value, never a table or a
/// value whose initialisation it cannot see; after the join the value is there.
#[test]
fn get_vs_first_insert() {
    static STATS: Stats = Stats::new("get_vs_first_insert");
    const K: u64 = key(0, 1);
    run_model(
        &STATS,
        &["saw_none", "saw_value"],
        Expect::NoReclamation,
        Setup::one_bucket(1),
        |map, t, w| {
            let writer = spawn_writer(map, t, w, |map, t, _| {
                assert_eq!(insert_new(map, K, t, 0), None);
            });
            match get_id(map, K) {
                None => STATS.event(0),
                Some(id) => {
                    assert_eq!(id, 0);
                    STATS.event(1);
                }
            }
            writer.join().unwrap();
            assert_eq!(
                get_id(map, K),
                Some(0),
                "the insert happened-before this get"
            );
        },
    );
}

/// Model 1b: A `get` racing a remove and re-insert of the same key, which reuses
/// the same slot. A reader that loaded the tag word before the remove and the
/// slot after the re-insert must still see the new entry fully initialised
/// (its publish is a Release store that the slot's Acquire load pairs with);
/// the removed value is dropped exactly once, and only after the reader is done.
#[test]
fn get_vs_reinsert() {
    static STATS: Stats = Stats::new("get_vs_reinsert");
    const K: u64 = key(0, 1);
    run_model(
        &STATS,
        &["saw_old", "saw_none", "saw_new"],
        Expect::FreedDuringRead,
        Setup::one_bucket(2),
        |map, t, w| {
            map.insert(K, Val::new(t, 0));
            let writer = spawn_writer(map, t, w, |map, t, w| {
                assert_eq!(remove_id(map, K), Some(0));
                assert_eq!(insert_new(map, K, t, 1), None);
                STATS.flush_then_record_freed(w, || t.drops(0) == 1);
            });
            w.start();
            match get_id(map, K) {
                Some(0) => STATS.event(0),
                None => STATS.event(1),
                Some(1) => STATS.event(2),
                Some(id) => panic!("value {id} was never stored at this key"),
            }
            w.end();
            writer.join().unwrap();
            assert_eq!(get_id(map, K), Some(1));
        },
    );
}

/// Model 2: A `get` racing the evacuation of its bucket and the completion of the
/// migration. The old table has one bucket, so the writer's insert evacuates
/// it (copies, then marks it MOVED), swings the root to the successor, retires
/// the old table and flushes. The reader may stand in the old table
/// throughout: the key, present the whole time, must be found with its value,
/// and the old table must not be freed under it.
#[test]
fn get_vs_evacuation() {
    static STATS: Stats = Stats::new("get_vs_evacuation");
    const A: u64 = key(0, 1);
    const B: u64 = key(2, 2);
    const C: u64 = key(1, 3);
    run_model(
        &STATS,
        &["straddled_completion"],
        Expect::FreedDuringRead,
        Setup::one_bucket(3),
        |map, t, w| {
            map.insert(A, Val::new(t, 0));
            map.insert(B, Val::new(t, 1));
            map.reserve(4); // 1 bucket -> 2 buckets, pending
            assert_eq!(map.stats().migrations_in_progress, 1);
            let writer = spawn_writer(map, t, w, |map, t, w| {
                assert_eq!(insert_new(map, C, t, 2), None);
                let s = map.stats();
                assert_eq!((s.grows, s.migrations_in_progress), (1, 0));
                STATS.flush_then_record_freed(w, || retired_bytes(map) == 0);
            });
            w.start();
            let before = map.stats().grows;
            assert_present(map, A, 0);
            if (before, map.stats().grows) == (0, 1) {
                STATS.event(0); // the migration completed during this get
            }
            w.end();
            writer.join().unwrap();
            assert_eq!(
                [A, B, C].map(|k| get_id(map, k)),
                [Some(0), Some(1), Some(2)]
            );
        },
    );
}

/// Model 2c: A `get` of a key in an *overflow* bucket racing the evacuation
/// of its chain. Seven keys share bucket 0 (six slots, then one overflow
/// bucket holding G); a grow from 2 to 4 buckets is pending. The writer's
/// first insert evacuates bucket 0, the second evacuates bucket 1 and
/// completes the migration: the old table and the old chain's overflow bucket
/// (retired during the migration, not with the table) go to the collector.
/// The reader, possibly standing in that overflow bucket, must find G, and
/// nothing may be freed under it.
#[test]
fn get_in_overflow_vs_evacuation() {
    static STATS: Stats = Stats::new("get_in_overflow_vs_evacuation");
    const CHAIN: [u64; 7] = [
        key(0, 1),
        key(0, 2),
        key(0, 3),
        key(0, 4),
        key(0, 5),
        key(0, 6),
        key(0, 7),
    ];
    const G: u64 = CHAIN[6];
    const NEW: u64 = key(0, 8);
    const OTHER: u64 = key(2, 9);
    run_model(
        &STATS,
        &["straddled_completion"],
        Expect::FreedDuringRead,
        Setup::one_bucket(9),
        |map, t, w| {
            for (id, k) in CHAIN.into_iter().enumerate() {
                map.insert(k, Val::new(t, id));
            }
            map.reclaim();
            map.reserve(2); // 2 buckets -> 4 buckets, pending
            let s = map.stats();
            assert_eq!((s.buckets, s.overflow_buckets), (2 + 4, 1), "{s}");
            let writer = spawn_writer(map, t, w, |map, t, w| {
                assert_eq!(insert_new(map, NEW, t, 7), None);
                assert_eq!(insert_new(map, OTHER, t, 8), None);
                assert_eq!(map.stats().migrations_in_progress, 0);
                STATS.flush_then_record_freed(w, || retired_bytes(map) == 0);
            });
            w.start();
            let before = map.stats().grows;
            assert_eq!(
                get_id(map, G),
                Some(6),
                "a key in an overflow bucket was missed"
            );
            if map.stats().grows > before {
                STATS.event(0); // the migration completed during this get
            }
            w.end();
            writer.join().unwrap();
            assert_eq!(get_id(map, NEW), Some(7));
        },
    );
}

/// Model 2b: A `get` racing a migration that stays pending between writes, with
/// the reader helping. Old table: 2 buckets, growing to 4. The writer updates
/// B (evacuating old bucket 0, which holds A and B; old bucket 1 stays), reads
/// its own write back while the migration is pending, then removes C
/// (evacuating old bucket 1: the migration completes and the old table is
/// retired). The reader looks up A, which may send it through a MOVED mark and
/// make it help (try_lock, one step: possibly completing the migration and
/// retiring the old table itself).
#[test]
fn get_vs_pending_migration() {
    static STATS: Stats = Stats::new("get_vs_pending_migration");
    const A: u64 = key(0, 1);
    const B: u64 = key(1, 2);
    const C: u64 = key(2, 3);
    run_model(
        &STATS,
        &["straddled_evacuation", "reader_completed_it"],
        Expect::FreedDuringRead,
        Setup::two_buckets(4),
        |map, t, w| {
            let removing = Arc::new(std::sync::atomic::AtomicBool::new(false));
            map.insert(A, Val::new(t, 0));
            map.insert(B, Val::new(t, 1));
            map.insert(C, Val::new(t, 2));
            map.reserve(6); // 2 buckets -> 4 buckets, pending
            assert_eq!(map.stats().migration_buckets_remaining, 2);
            let flag = removing.clone();
            let writer = spawn_writer(map, t, w, move |map, t, w| {
                assert_eq!(insert_new(map, B, t, 3), Some(1));
                assert_eq!(
                    get_id(map, B),
                    Some(3),
                    "read-your-write during a migration"
                );
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
                assert_eq!(remove_id(map, C), Some(2));
                assert_eq!(map.stats().migrations_in_progress, 0);
                STATS.flush_then_record_freed(w, || retired_bytes(map) == 0);
            });
            w.start();
            let before = map.stats().migration_buckets_remaining;
            assert_present(map, A, 0);
            let after = map.stats();
            if before == 2 && after.migration_buckets_remaining < 2 {
                STATS.event(0); // old bucket 0 was evacuated during this get
            }
            if after.grows == 1 && !removing.load(std::sync::atomic::Ordering::SeqCst) {
                STATS.event(1); // only this reader's help can have completed it
            }
            w.end();
            writer.join().unwrap();
            assert_eq!([A, B, C].map(|k| get_id(map, k)), [Some(0), Some(3), None]);
        },
    );
}

/// Model 2c: Two writers and a reader racing one migration. Old table: 2 buckets
/// growing to 4 (A and B in old bucket 0, C in old bucket 1). Writer 1
/// replaces B (evacuating old bucket 0), writer 2 removes C (evacuating old
/// bucket 1); whichever evacuates last completes the migration and retires
/// the old table; each evacuates its own key's bucket before writing, so each
/// write lands in the successor. The reader looks up A (present throughout,
/// unchanged) and B (old or new value, never anything else).
#[test]
fn writers_vs_reader() {
    static STATS: Stats = Stats::new("writers_vs_reader");
    const A: u64 = key(0, 1);
    const B: u64 = key(1, 2);
    const C: u64 = key(2, 3);
    run_model(
        &STATS,
        &["saw_old_b", "saw_new_b"],
        Expect::FreedDuringRead,
        Setup::two_buckets(4),
        |map, t, w| {
            map.insert(A, Val::new(t, 0));
            map.insert(B, Val::new(t, 1));
            map.insert(C, Val::new(t, 2));
            map.reserve(6); // 2 buckets -> 4 buckets, pending
            let w1 = spawn_writer(map, t, w, |map, t, _| {
                assert_eq!(insert_new(map, B, t, 3), Some(1));
            });
            let w2 = spawn_writer(map, t, w, |map, _, w| {
                assert_eq!(remove_id(map, C), Some(2));
                STATS.flush_then_record_freed(w, || {
                    map.stats().grows == 1 && retired_bytes(map) == 0
                });
            });
            w.start();
            assert_present(map, A, 0);
            match get_id(map, B) {
                Some(1) => STATS.event(0),
                Some(3) => STATS.event(1),
                other => panic!("B read as {other:?}"),
            }
            w.end();
            w1.join().unwrap();
            w2.join().unwrap();
            assert_eq!(map.stats().migrations_in_progress, 0);
            assert_eq!([A, B, C].map(|k| get_id(map, k)), [Some(0), Some(3), None]);
        },
    );
}

/// Model 3: An iterator racing a migration. Keys A and B are present throughout, C
/// is inserted by the writer (which evacuates the one old bucket, completes the
/// migration, retires the old table and flushes). The iterator yields A and B
/// exactly once each, C at most once, nothing else, and every yielded value is
/// readable.
#[test]
fn iter_vs_migration() {
    static STATS: Stats = Stats::new("iter_vs_migration");
    const A: u64 = key(0, 1);
    const B: u64 = key(2, 2);
    const C: u64 = key(1, 3);
    run_model(
        &STATS,
        &["without_c", "with_c"],
        Expect::FreedDuringRead,
        Setup::one_bucket(3),
        |map, t, w| {
            map.insert(A, Val::new(t, 0));
            map.insert(B, Val::new(t, 1));
            map.reserve(4);
            let writer = spawn_writer(map, t, w, |map, t, w| {
                assert_eq!(insert_new(map, C, t, 2), None);
                STATS.flush_then_record_freed(w, || retired_bytes(map) == 0);
            });
            w.start();
            let seen = scan(map, &[A, B, C]);
            w.end();
            let set = yielded_once(&seen);
            assert!(
                set.contains(&0) && set.contains(&1),
                "a key present throughout was missed: {seen:?}"
            );
            STATS.event(usize::from(set.contains(&2)));
            writer.join().unwrap();
        },
    );
}

/// Model 3b: An iterator racing a shrink that completes between its chunks.
/// The table has 2 buckets (A in bucket 0, C in bucket 1). The writer
/// shrinks it to 1 bucket with `shrink_to_fit` (evacuating both buckets and
/// retiring the old table), then inserts B and D and flushes. The iterator pins per chunk and keeps only a position cursor
/// between chunks (one root bucket per chunk under loom), so its second chunk
/// may scan the new 1-bucket table, whose single bucket also covers the
/// positions already scanned: they must be filtered out. A and C are yielded
/// exactly once, B and D at most once.
#[test]
fn iter_vs_shrink() {
    static STATS: Stats = Stats::new("iter_vs_shrink");
    const A: u64 = key(0, 1);
    const B: u64 = key(1, 2);
    const C: u64 = key(2, 3);
    const D: u64 = key(3, 4);
    run_model(
        &STATS,
        &["straddled_completion", "saw_b", "saw_d"],
        Expect::FreedDuringRead,
        Setup::one_bucket(4),
        |map, t, w| {
            map.insert(A, Val::new(t, 0));
            map.insert(C, Val::new(t, 2));
            map.reserve(4); // 1 -> 2 buckets (and a floor of 2 buckets)
            map.reclaim(); // finishes the grow
            let s = map.stats();
            assert_eq!((s.buckets, s.migrations_in_progress), (2, 0));
            let writer = spawn_writer(map, t, w, |map, t, w| {
                map.shrink_to_fit(); // forgets the floor: 2 -> 1 bucket
                assert_eq!(insert_new(map, B, t, 1), None);
                assert_eq!(insert_new(map, D, t, 3), None);
                let s = map.stats();
                assert_eq!((s.shrinks, s.buckets, s.migrations_in_progress), (1, 1, 0));
                STATS.flush_then_record_freed(w, || retired_bytes(map) == 0);
            });
            w.start();
            let before = map.stats().shrinks;
            let seen = scan(map, &[A, B, C, D]);
            if (before, map.stats().shrinks) == (0, 1) {
                STATS.event(0);
            }
            w.end();
            let set = yielded_once(&seen);
            assert!(
                set.contains(&0) && set.contains(&2),
                "a key present throughout was missed: {seen:?}"
            );
            if set.contains(&1) {
                STATS.event(1);
            }
            if set.contains(&3) {
                STATS.event(2);
            }
            writer.join().unwrap();
            assert_eq!(
                [A, B, C, D].map(|k| get_id(map, k)),
                [Some(0), Some(1), Some(2), Some(3)]
            );
        },
    );
}

/// Model 3c: An iterator racing removals and re-inserts within one bucket.
/// The bucket holds K (slot 0) and Z (slot 1). The writer removes K and Z,
/// inserts Y (which takes slot 0, the first free one) and re-inserts K (which
/// takes slot 1). A chain scan that read slot 0 before the removals and
/// slot 1 after the re-insert would see K twice. The iterator must yield no
/// key twice, and only values that were in the map.
#[test]
fn iter_vs_reinsert() {
    static STATS: Stats = Stats::new("iter_vs_reinsert");
    const K: u64 = key(0, 1);
    const Z: u64 = key(0, 2);
    const Y: u64 = key(0, 3);
    run_model(
        &STATS,
        &["saw_old_k", "saw_new_k", "saw_y"],
        Expect::FreedDuringRead,
        Setup::one_bucket(4).no_auto_shrink(),
        |map, t, w| {
            map.insert(K, Val::new(t, 0));
            map.insert(Z, Val::new(t, 1));
            let writer = spawn_writer(map, t, w, |map, t, w| {
                assert_eq!(remove_id(map, K), Some(0));
                assert_eq!(remove_id(map, Z), Some(1));
                assert_eq!(insert_new(map, Y, t, 2), None);
                assert_eq!(insert_new(map, K, t, 3), None);
                STATS.flush_then_record_freed(w, || t.drops(0) == 1 && t.drops(1) == 1);
            });
            w.start();
            let mut keys = Vec::new();
            for v in map.iter() {
                let id = v.read();
                assert_eq!(*v.key(), [K, Z, Y, K][id], "key and value out of step");
                STATS.event(match id {
                    0 => 0,
                    3 => 1,
                    2 => 2,
                    _ => 3,
                });
                keys.push(*v.key());
            }
            w.end();
            let set: BTreeSet<u64> = keys.iter().copied().collect();
            assert_eq!(set.len(), keys.len(), "a key was yielded twice: {keys:x?}");
            writer.join().unwrap();
            assert_eq!([K, Z, Y].map(|k| get_id(map, k)), [Some(3), None, Some(2)]);
        },
    );
}

/// Model 4: A remove racing a reader that holds a reference to the value. The
/// writer removes the key (retiring the entry) and flushes; the reader reads
/// the value, gives the writer a chance to run, and reads it again through
/// the same reference. The value must stay intact while referenced, be
/// dropped exactly once, and be freed in some execution before the join.
#[test]
fn remove_vs_held_ref() {
    static STATS: Stats = Stats::new("remove_vs_held_ref");
    const K: u64 = key(0, 1);
    run_model(
        &STATS,
        &["saw_none", "held_value"],
        Expect::FreedDuringRead,
        Setup::one_bucket(1),
        |map, t, w| {
            map.insert(K, Val::new(t, 0));
            let writer = spawn_writer(map, t, w, |map, t, w| {
                assert_eq!(remove_id(map, K), Some(0));
                STATS.flush_then_record_freed(w, || t.drops(0) == 1);
            });
            w.start();
            match map.get(&K) {
                None => STATS.event(0),
                Some(v) => {
                    assert_eq!(v.read(), 0);
                    thread::yield_now();
                    assert_eq!(v.read(), 0, "a held value changed");
                    assert_eq!(t.drops(0), 0, "a held value was dropped");
                    STATS.event(1);
                }
            }
            w.end();
            writer.join().unwrap();
            assert_eq!(get_id(map, K), None);
            assert_eq!(map.len(), 0);
        },
    );
}

/// Model 5: A clear racing a get, in the middle of a migration (old bucket 0
/// evacuated, old bucket 1 not), so that `clear` retires a chain of two tables
/// sharing entries. The reader's key A lives in the evacuated bucket: the
/// reader goes through the old table's MOVED mark into the successor. It sees
/// the value or nothing; afterwards the map is empty and every value (A in the
/// successor only, B in the successor, C in the old table) is dropped exactly
/// once.
#[test]
fn clear_vs_get() {
    static STATS: Stats = Stats::new("clear_vs_get");
    const A: u64 = key(0, 1);
    const B: u64 = key(1, 2);
    const C: u64 = key(2, 3);
    run_model(
        &STATS,
        &["saw_none", "saw_value"],
        Expect::FreedDuringRead,
        Setup::two_buckets(3),
        |map, t, w| {
            map.insert(A, Val::new(t, 0));
            map.insert(C, Val::new(t, 2));
            map.reserve(6); // 2 -> 4 buckets
            map.insert(B, Val::new(t, 1)); // evacuates old bucket 0 (A) only
            assert_eq!(map.stats().migration_buckets_remaining, 1);
            let writer = spawn_writer(map, t, w, |map, t, w| {
                map.clear();
                STATS.flush_then_record_freed(w, || (0..3).all(|id| t.drops(id) == 1));
            });
            w.start();
            match get_id(map, A) {
                None => STATS.event(0),
                Some(id) => {
                    assert_eq!(id, 0);
                    STATS.event(1);
                }
            }
            w.end();
            writer.join().unwrap();
            assert_eq!([A, B, C].map(|k| get_id(map, k)), [None, None, None]);
            assert_eq!(map.len(), 0);
        },
    );
}

/// Model 6: A reader completing a migration (by helping) while another reader
/// stands in the old table. Setup: old table of 2 buckets growing to 4, old
/// bucket 0 already evacuated, no writer. Reader 1 looks up A: it follows the
/// MOVED mark, takes the lock with `try_lock` and does one step, which
/// evacuates old bucket 1 and completes the migration (root swung, old table
/// retired, flushed), then flushes twice more. Reader 2 (main) looks up C,
/// which lives in old bucket 1, the bucket being evacuated. Both must find
/// their keys; the old table must not be freed under reader 2.
#[test]
fn help_vs_reader() {
    static STATS: Stats = Stats::new("help_vs_reader");
    const A: u64 = key(0, 1);
    const B: u64 = key(1, 2);
    const C: u64 = key(2, 3);
    run_model(
        &STATS,
        &["straddled_completion"],
        Expect::FreedDuringRead,
        Setup::two_buckets(3),
        |map, t, w| {
            map.insert(A, Val::new(t, 0));
            map.insert(C, Val::new(t, 2));
            map.reserve(6); // 2 -> 4 buckets
            map.insert(B, Val::new(t, 1)); // evacuates old bucket 0 (A) only
            assert_eq!(map.stats().migration_buckets_remaining, 1);
            let helper = spawn_writer(map, t, w, |map, _, w| {
                assert_present(map, A, 0);
                // The lock is free (reader 2 can only take it once the migration
                // is complete), so this get's help has completed the migration.
                assert_eq!(map.stats().grows, 1);
                STATS.flush_then_record_freed(w, || {
                    map.stats().grows == 1 && retired_bytes(map) == 0
                });
            });
            w.start();
            let before = map.stats().grows;
            assert_present(map, C, 2);
            if (before, map.stats().grows) == (0, 1) {
                STATS.event(0); // the migration completed during this get
            }
            w.end();
            helper.join().unwrap();
            assert_eq!(
                [A, B, C].map(|k| get_id(map, k)),
                [Some(0), Some(1), Some(2)]
            );
        },
    );
}

/// A raw pointer the owned-pin model hands to another thread with the
/// handle that protects it (what a future holding both does when a runtime
/// resumes it on another worker).
struct Lent(*const Val);
// SAFETY: the pointee is `Sync` and is only read while the handle that was
// pinned when it was reached is alive (it travels in the same closure).
unsafe impl Send for Lent {}

/// Model 7: an owned pinned handle (`pin_owned`) changes threads while a
/// writer removes its key, flushes and collects. The main thread registers
/// the handle's own participant, pins it and looks the key up; a second
/// thread receives the handle together with the reference it lent, reads
/// through it and drops the handle there. The value must stay readable
/// until then (`Val`'s drop is a loom-tracked write, so a free not ordered
/// after the read is reported), and some execution must free it while the
/// reader is inside its window. Fails (read after free) if the handle's
/// participant is registered with a collector other than the default one.
#[test]
fn owned_pin_moved_vs_remove() {
    static STATS: Stats = Stats::new("owned_pin_moved_vs_remove");
    const K: u64 = key(0, 1);
    run_model(
        &STATS,
        &["saw_none", "held_across_move"],
        Expect::FreedDuringRead,
        Setup::one_bucket(1),
        |map, t, w| {
            map.insert(K, Val::new(t, 0));
            let writer = spawn_writer(map, t, w, |map, t, w| {
                assert_eq!(remove_id(map, K), Some(0));
                STATS.flush_then_record_freed(w, || t.drops(0) == 1);
            });
            w.start();
            let handle = map.pin_owned();
            match handle.get(&K).map(|v| v as *const Val) {
                None => {
                    drop(handle);
                    w.end();
                    STATS.event(0);
                }
                Some(value) => {
                    // SAFETY (lifetime only): the handle borrows `map`, which
                    // this closure keeps alive until after the join below.
                    let handle: evacmap::OwnedPinned<'static, u64, Val, KeyHasher> =
                        unsafe { std::mem::transmute(handle) };
                    let lent = Lent(value);
                    let (t, w) = (t.clone(), w.clone());
                    thread::spawn(move || {
                        let lent = lent;
                        // SAFETY: reached under `handle`, which is still pinned.
                        let value = unsafe { &*lent.0 };
                        assert_eq!(value.read(), 0);
                        assert_eq!(t.drops(0), 0, "a value lent by a pinned handle was dropped");
                        drop(handle);
                        w.end();
                    })
                    .join()
                    .unwrap();
                    STATS.event(1);
                }
            }
            writer.join().unwrap();
            assert_eq!(get_id(map, K), None);
            assert_eq!(map.len(), 0);
        },
    );
}
