//! The real concurrent cache, `evacmap::Cache`, as a hit-ratio contender:
//! the "concurrency does not change the policy" check replays each
//! trace through it on one thread and on several threads sharing one cache.
//!
//! Replay: demand fill (`if cache.get(&k).is_none() { cache.insert(k, ()) }`),
//! weight 1, `max_capacity` = the point's capacity, hit ratio = hits /
//! requests. With `threads` threads, request `i` goes to thread
//! `i % threads`; the threads start together (a barrier) on one shared cache
//! and their hits are summed.
//!
//! Each thread keeps its share of the trace in order, but nothing keeps the
//! threads in step: a thread that runs while another waits for a core gets
//! ahead by thousands of requests, so the cache sees a reordered trace, and
//! a reordered trace has a hit ratio of its own whatever the cache does. To
//! tell the two apart, a replay on several threads also records the order
//! in which the requests reached the cache (a ticket taken just before each
//! `get`), and [`replay`] replays that order again on one thread through a
//! fresh cache: `threads − reordered` is what concurrency itself changed,
//! `reordered − 1 thread` what the reordering changed. With `round` > 0 the
//! threads also wait for each other (a barrier) after every `round`
//! requests of the trace, which bounds the reordering to a round.
//!
//! The cache hashes with foldhash seeded by the run's hash seed (the same
//! `--seeds` value the policy replay gets), not a random one, so a replay on
//! one thread is deterministic. One on several threads is not.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Barrier;

/// foldhash's fast hasher, the one `evacmap::DefaultHashBuilder` builds,
/// with a fixed seed.
type Hasher = foldhash::fast::FixedState;

type Cache = evacmap::Cache<u64, (), Hasher>;

fn cache(capacity: u64, seed: u64) -> Cache {
    evacmap::Cache::builder()
        .max_capacity(capacity)
        .build_with_hasher(Hasher::with_seed(seed))
}

fn percent(hits: usize, requests: usize) -> f64 {
    100.0 * hits as f64 / requests.max(1) as f64
}

/// One request with demand fill: true on a hit.
fn request(cache: &Cache, key: u64) -> bool {
    let hit = cache.get(&key).is_some();
    if !hit {
        cache.insert(key, ());
    }
    hit
}

/// What a replay measured (hit ratios in %).
pub struct Replay {
    /// The replay itself.
    pub hit: f64,
    /// On several threads: the order the cache saw, replayed again on one
    /// thread (`None` on one thread, where it is the trace's own order).
    pub reordered: Option<f64>,
}

/// Replays `keys` through a fresh cache of `capacity` on `threads` threads,
/// in lockstep rounds of `round` requests if `round` > 0 (see the module
/// docs).
pub fn replay(capacity: u64, seed: u64, keys: &[u64], threads: usize, round: usize) -> Replay {
    if threads <= 1 {
        let cache = cache(capacity, seed);
        let hits = keys.iter().filter(|&&k| request(&cache, k)).count();
        return Replay {
            hit: percent(hits, keys.len()),
            reordered: None,
        };
    }
    let cache = cache(capacity, seed);
    let barrier = Barrier::new(threads);
    let round = if round == 0 { keys.len().max(1) } else { round };
    let next_ticket = AtomicUsize::new(0);
    let mut seen = vec![0u64; keys.len()];
    let hits: usize = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (cache, barrier, next_ticket) = (&cache, &barrier, &next_ticket);
                s.spawn(move || {
                    let mut tickets = Vec::with_capacity(keys.len() / threads + 1);
                    let mut hits = 0;
                    // Every thread sees the same rounds (the last one maybe
                    // without a request for it), so all wait equally often.
                    for (r, chunk) in keys.chunks(round).enumerate() {
                        barrier.wait();
                        // This thread's requests are those at i % threads == t.
                        let first = (t + threads - (r * round) % threads) % threads;
                        for &k in chunk.iter().skip(first).step_by(threads) {
                            tickets.push((next_ticket.fetch_add(1, Relaxed), k));
                            hits += usize::from(request(cache, k));
                        }
                    }
                    (hits, tickets)
                })
            })
            .collect();
        let mut hits = 0;
        for w in workers {
            let (h, tickets) = w.join().unwrap();
            hits += h;
            for (ticket, k) in tickets {
                seen[ticket] = k;
            }
        }
        hits
    });
    let reordered = replay(capacity, seed, &seen, 1, 0).hit;
    Replay {
        hit: percent(hits, keys.len()),
        reordered: Some(reordered),
    }
}
