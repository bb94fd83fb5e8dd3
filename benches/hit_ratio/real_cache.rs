//! Real concurrent caches as hit-ratio contenders: `evacmap::Cache` and its
//! peers `moka::sync::Cache` 0.12, `quick_cache::sync::Cache` 0.7 and a
//! `Mutex<lru::LruCache>` (lru 0.19), each behind [`LiveCache`] and replayed
//! by the same code on one thread and on several threads sharing one cache:
//! the "concurrency does not change the policy" check, and its
//! hit-ratio comparison with the peers at 1 and 4 threads.
//!
//! Replay: demand fill (`if cache.get(&k).is_none() { cache.insert(k, ()) }`),
//! weight 1, capacity = the point's capacity, hit ratio = hits / requests.
//! On several threads the threads start together (a barrier) on one shared
//! cache and their hits are summed. How the trace's requests reach them is
//! the [`Dispatch`]:
//!
//! - [`Dispatch::Queue`] (the default): the trace is one stream of requests
//!   served by a pool of workers, as a server serves its clients. Each
//!   thread takes the next request from a shared cursor (`fetch_add`) and
//!   serves it, so the cache sees the trace's order up to the requests in
//!   flight at that moment (at most `threads − 1` of them may overtake one
//!   another, more only while a thread that took a request waits for a core).
//! - [`Dispatch::Stride`]: request `i` goes to thread `i % threads`, and each
//!   thread replays its share in order. Nothing keeps the threads in step: a
//!   thread that runs while another waits for a core gets ahead by thousands
//!   of requests, so the cache sees a different trace, with a hit ratio of its
//!   own whatever the cache does. With `round` > 0 the threads also wait for
//!   each other (a barrier) after every `round` requests of the trace, which
//!   bounds the reordering to a round.
//!
//! To tell what concurrency changed from what the order changed, a replay on
//! several threads also records the order in which the requests reached the
//! cache (a ticket taken just before each `get`), and [`replay`] replays that
//! order again on one thread through a fresh cache of the same kind:
//! `threads − reordered` is what concurrency itself changed, `reordered − 1
//! thread` what the reordering changed.
//!
//! Every cache lets its hasher be chosen, so every cache hashes with the
//! same one: foldhash's fast hasher seeded by the run's hash seed (the same
//! `--seeds` value the policy replay gets), as in `benches/cache.rs`. A
//! replay of evacmap, quick_cache or lru on one thread is then
//! deterministic; moka's is not quite (its pending reads and writes are
//! applied when its buffers fill or when enough time has passed, and no
//! replay calls `run_pending_tasks`, as the traces README measured it), and
//! one on several threads is not.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Barrier, Mutex};

/// foldhash's fast hasher, the one `evacmap::DefaultHashBuilder` builds,
/// with a fixed seed.
type Hasher = foldhash::fast::FixedState;

/// A concurrent cache of `u64` keys (unit values, weight 1) shared by the
/// replay's threads.
pub trait LiveCache: Sync + Sized {
    /// A fresh cache bounded at `capacity` entries, hashing with the
    /// fixed-seed hasher.
    fn new(capacity: u64, seed: u64) -> Self;
    /// Whether `key` is cached (a `get`).
    fn hit(&self, key: u64) -> bool;
    /// Inserts `key`.
    fn fill(&self, key: u64);
    /// Get-or-insert: true on a hit; on a miss the key is inserted.
    fn request(&self, key: u64) -> bool {
        let hit = self.hit(key);
        if !hit {
            self.fill(key);
        }
        hit
    }
}

/// evacmap's cache with unit values and the fixed-seed hasher.
pub type Evacmap = evacmap::Cache<u64, (), Hasher>;

impl LiveCache for Evacmap {
    fn new(capacity: u64, seed: u64) -> Self {
        evacmap::Cache::builder()
            .max_capacity(capacity)
            .build_with_hasher(Hasher::with_seed(seed))
    }
    fn hit(&self, key: u64) -> bool {
        self.get(&key).is_some()
    }
    fn fill(&self, key: u64) {
        self.insert(key, ());
    }
}

/// moka's synchronous cache with unit values and the fixed-seed hasher
/// (its other options the defaults: TinyLFU admission, no expiry).
pub type Moka = moka::sync::Cache<u64, (), Hasher>;

impl LiveCache for Moka {
    fn new(capacity: u64, seed: u64) -> Self {
        moka::sync::Cache::builder()
            .max_capacity(capacity)
            .build_with_hasher(Hasher::with_seed(seed))
    }
    /// `get`; a miss is followed by `insert`, never `run_pending_tasks`
    /// (how the README's moka column was measured).
    fn hit(&self, key: u64) -> bool {
        self.get(&key).is_some()
    }
    fn fill(&self, key: u64) {
        self.insert(key, ());
    }
}

/// quick_cache's concurrent cache with unit weights and the fixed-seed
/// hasher. Its other options are the defaults: `available_parallelism() * 4`
/// shards rounded up to a power of two, halved until each holds at least 32
/// entries, each shard bounded at its share of the capacity.
pub type QuickCache = quick_cache::sync::Cache<
    u64,
    (),
    quick_cache::UnitWeighter,
    Hasher,
    quick_cache::sync::DefaultLifecycle<u64, ()>,
>;

impl LiveCache for QuickCache {
    fn new(capacity: u64, seed: u64) -> Self {
        quick_cache::sync::Cache::with(
            capacity as usize,
            capacity,
            quick_cache::UnitWeighter,
            Hasher::with_seed(seed),
            Default::default(),
        )
    }
    fn hit(&self, key: u64) -> bool {
        self.get(&key).is_some()
    }
    fn fill(&self, key: u64) {
        self.insert(key, ());
    }
}

/// The baseline: one lock around an exact LRU.
pub struct LockedLru(Mutex<lru::LruCache<u64, (), Hasher>>);

impl LiveCache for LockedLru {
    fn new(capacity: u64, seed: u64) -> Self {
        let capacity = std::num::NonZeroUsize::new(capacity as usize).expect("a positive capacity");
        LockedLru(Mutex::new(lru::LruCache::with_hasher(
            capacity,
            Hasher::with_seed(seed),
        )))
    }
    fn hit(&self, key: u64) -> bool {
        self.0.lock().unwrap().get(&key).is_some()
    }
    fn fill(&self, key: u64) {
        self.0.lock().unwrap().put(key, ());
    }
    /// Lock, `get`, on a miss `put`, under one lock hold.
    fn request(&self, key: u64) -> bool {
        let mut lru = self.0.lock().unwrap();
        let hit = lru.get(&key).is_some();
        if !hit {
            lru.put(key, ());
        }
        hit
    }
}

fn percent(hits: usize, requests: usize) -> f64 {
    100.0 * hits as f64 / requests.max(1) as f64
}

/// What a replay measured (hit ratios in %).
pub struct Replay {
    /// The replay itself.
    pub hit: f64,
    /// On several threads: the order the cache saw, replayed again on one
    /// thread (`None` on one thread, where it is the trace's own order).
    pub reordered: Option<f64>,
}

/// How a replay on several threads hands the trace's requests to its
/// threads (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dispatch {
    /// One shared cursor: each thread serves the next request of the trace.
    Queue,
    /// Request `i` to thread `i % threads`, in lockstep rounds of `round`
    /// requests if `round` > 0, free-running otherwise.
    Stride { round: usize },
}

impl Dispatch {
    /// Its name in reports and JSON.
    pub fn label(self) -> String {
        match self {
            Dispatch::Queue => "queue".into(),
            Dispatch::Stride { round: 0 } => "stride".into(),
            Dispatch::Stride { round } => format!("stride, lockstep rounds of {round}"),
        }
    }
}

/// Replays `keys` through a fresh `C` of `capacity` on `threads` threads,
/// handing them the requests as `dispatch` says (see the module docs).
pub fn replay<C: LiveCache>(
    capacity: u64,
    seed: u64,
    keys: &[u64],
    threads: usize,
    dispatch: Dispatch,
) -> Replay {
    let cache = C::new(capacity, seed);
    if threads <= 1 {
        let hits = keys.iter().filter(|&&k| cache.request(k)).count();
        return Replay {
            hit: percent(hits, keys.len()),
            reordered: None,
        };
    }
    let barrier = Barrier::new(threads);
    let next_request = AtomicUsize::new(0);
    let next_ticket = AtomicUsize::new(0);
    let mut seen = vec![0u64; keys.len()];
    let hits: usize = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (cache, barrier) = (&cache, &barrier);
                let (next_request, next_ticket) = (&next_request, &next_ticket);
                s.spawn(move || {
                    let mut tickets = Vec::with_capacity(keys.len() / threads + 1);
                    let mut hits = 0;
                    let mut serve = |k: u64| {
                        tickets.push((next_ticket.fetch_add(1, Relaxed), k));
                        hits += usize::from(cache.request(k));
                    };
                    match dispatch {
                        Dispatch::Queue => {
                            barrier.wait();
                            while let Some(&k) = keys.get(next_request.fetch_add(1, Relaxed)) {
                                serve(k);
                            }
                        }
                        Dispatch::Stride { round } => {
                            let round = if round == 0 { keys.len().max(1) } else { round };
                            // Every thread sees the same rounds (the last one
                            // maybe without a request for it), so all wait
                            // equally often.
                            for (r, chunk) in keys.chunks(round).enumerate() {
                                barrier.wait();
                                // This thread's requests are those at
                                // i % threads == t.
                                let first = (t + threads - (r * round) % threads) % threads;
                                for &k in chunk.iter().skip(first).step_by(threads) {
                                    serve(k);
                                }
                            }
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
    drop(cache);
    let reordered = replay::<C>(capacity, seed, &seen, 1, dispatch).hit;
    Replay {
        hit: percent(hits, keys.len()),
        reordered: Some(reordered),
    }
}
