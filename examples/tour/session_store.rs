//! Part 1: evacmap's [`HashMap`] on its defaults, as a session store.
//!
//! Writer threads log sessions in (insert) while reader threads look sessions
//! up (mostly hits, some misses), until the map holds 1,000,000 sessions. Then
//! 90% of the sessions expire (remove), and finally the store is cleared.
//! After each phase the tour prints throughput and `stats()`, so you can watch
//! capacity grow and shrink, and retired bytes go from pending to freed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use evacmap::HashMap;

/// What a session store keeps per session: fixed-size, so `stats()` bytes
/// are all of the memory.
#[derive(Clone, Copy, Debug)]
#[allow(dead_code)] // fields are the payload; the tour reads `user`
struct Session {
    user: u64,
    created_ms: u64,
    last_seen_ms: u64,
    token: [u8; 16],
}

const SESSIONS: u64 = 1_000_000;

fn session(id: u64) -> Session {
    Session {
        user: id % 50_000,
        created_ms: id,
        last_seen_ms: id,
        token: id.to_le_bytes().repeat(2).try_into().unwrap(),
    }
}

/// A tiny xorshift, so readers pick ids without a dependency.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

struct Phase {
    writes: u64,
    reads: u64,
    hits: u64,
    elapsed: Duration,
}

/// Runs `writers` threads over disjoint slices of `ids` doing `write`, while
/// `readers` threads call `get` on random ids below `read_upto` until the
/// writers are done.
fn run_phase(
    store: &HashMap<u64, Session>,
    writers: usize,
    readers: usize,
    ids: std::ops::Range<u64>,
    read_upto: u64,
    write: impl Fn(&HashMap<u64, Session>, u64) + Sync,
) -> Phase {
    let done = AtomicBool::new(false);
    let (reads, hits) = (AtomicU64::new(0), AtomicU64::new(0));
    let start = Instant::now();
    thread::scope(|s| {
        for r in 0..readers {
            let (done, reads, hits) = (&done, &reads, &hits);
            s.spawn(move || {
                let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (r as u64 + 1);
                let (mut n, mut h) = (0u64, 0u64);
                while !done.load(Ordering::Relaxed) {
                    // A pinned handle amortises pinning over a batch of reads.
                    let pinned = store.pin();
                    for _ in 0..256 {
                        let id = next(&mut rng) % read_upto.max(1);
                        h += u64::from(pinned.get(&id).is_some_and(|s| s.user == id % 50_000));
                    }
                    n += 256;
                }
                reads.fetch_add(n, Ordering::Relaxed);
                hits.fetch_add(h, Ordering::Relaxed);
            });
        }
        let per_writer = (ids.end - ids.start).div_ceil(writers as u64);
        let writer_handles: Vec<_> = (0..writers as u64)
            .map(|w| {
                let lo = ids.start + w * per_writer;
                let hi = (lo + per_writer).min(ids.end);
                let write = &write;
                s.spawn(move || (lo..hi).for_each(|id| write(store, id)))
            })
            .collect();
        for h in writer_handles {
            h.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
    });
    Phase {
        writes: ids.end - ids.start,
        reads: reads.into_inner(),
        hits: hits.into_inner(),
        elapsed: start.elapsed(),
    }
}

fn report(title: &str, store: &HashMap<u64, Session>, phase: Option<&Phase>) {
    println!("\n== {title}");
    if let Some(p) = phase {
        let secs = p.elapsed.as_secs_f64();
        println!(
            "   {:.2} s: {:.1} M writes/s, {:.1} M reads/s ({:.0}% hits)",
            secs,
            p.writes as f64 / secs / 1e6,
            p.reads as f64 / secs / 1e6,
            100.0 * p.hits as f64 / p.reads.max(1) as f64
        );
    }
    let s = store.stats();
    println!(
        "   len {:>9}  capacity {:>9}  buckets {:>8} (+{} overflow)  migrating shards {}",
        s.len, s.capacity, s.buckets, s.overflow_buckets, s.migrations_in_progress
    );
    println!(
        "   held {:>8.1} MiB (tables {:.1}, entries {:.1})  retired, pending {:>6.1} MiB  grows {} shrinks {}",
        mib(s.held_bytes()),
        mib(s.table_bytes),
        mib(s.entry_bytes),
        mib(s.retired_bytes),
        s.grows,
        s.shrinks
    );
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// What part 1 found, for the tour's summary.
pub struct Summary {
    pub sessions: u64,
    pub writes_per_second: f64,
    pub peak_held_bytes: usize,
    pub held_after_clear: usize,
}

pub fn run(cores: usize) -> Summary {
    let writers = (cores / 2).max(1);
    let readers = (cores - writers).max(1);
    let store: HashMap<u64, Session> = HashMap::new();
    println!(
        "### Part 1: the map, as a session store ({writers} writer and {readers} reader threads, {} shards)",
        store.shards()
    );
    report(
        "empty (no table allocated until the first insert)",
        &store,
        None,
    );

    let grow = run_phase(&store, writers, readers, 0..SESSIONS, SESSIONS, |m, id| {
        m.insert(id, session(id));
    });
    report(
        "1. log in 1,000,000 sessions (map grows from empty, incrementally)",
        &store,
        Some(&grow),
    );
    let peak_held_bytes = store.stats().held_bytes();

    let expire = run_phase(
        &store,
        writers,
        readers,
        0..SESSIONS * 9 / 10,
        SESSIONS,
        |m, id| {
            m.remove(&id);
        },
    );
    report(
        "2. expire 90% of the sessions (shards shrink as they empty)",
        &store,
        Some(&expire),
    );

    let reclaimed = store.reclaim();
    report(
        &format!(
            "3. reclaim(): finished {} pending migrations; retired memory freed ({} bytes still pending)",
            reclaimed.migrations_finished, reclaimed.pending_bytes
        ),
        &store,
        None,
    );

    let survivors = (SESSIONS * 9 / 10..SESSIONS)
        .filter(|id| store.contains_key(id))
        .count();
    assert_eq!(
        survivors as u64,
        SESSIONS / 10,
        "every unexpired session is still there"
    );

    let start = Instant::now();
    store.clear();
    println!(
        "\n   clear() took {:.1} µs (tables are detached and retired whole)",
        start.elapsed().as_secs_f64() * 1e6
    );
    report(
        "4. clear(): the old tables wait for readers to leave",
        &store,
        None,
    );
    let reclaimed = store.reclaim();
    report(
        &format!(
            "5. reclaim(): {} bytes still pending",
            reclaimed.pending_bytes
        ),
        &store,
        None,
    );
    assert!(store.is_empty());
    Summary {
        sessions: SESSIONS,
        writes_per_second: grow.writes as f64 / grow.elapsed.as_secs_f64(),
        peak_held_bytes,
        held_after_clear: store.stats().held_bytes(),
    }
}
