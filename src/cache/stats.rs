//! Cache statistics, counted without a shared counter on the hit path.
//!
//! Every thread counts into its own stripe (a cache-line padded block of
//! counters, picked by a per-thread index), so a hit's increment touches a
//! line no other thread writes unless there are more threads than stripes.
//! [`Cache::stats`](super::Cache::stats) sums the stripes on demand.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::Duration;

use crossbeam_utils::CachePadded;

/// A snapshot of a cache's counters since it was built.
///
/// ```
/// let cache = evacmap::Cache::new(10);
/// cache.insert(1, "one");
/// assert_eq!(cache.get(&1), Some("one"));
/// assert_eq!(cache.get(&2), None);
/// let stats = cache.stats();
/// assert_eq!((stats.hits, stats.misses, stats.inserts), (1, 1, 1));
/// assert_eq!(stats.hit_ratio(), 0.5);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Lookups that found a live entry (`get`, `get_ref`, and the loaders'
    /// first look).
    pub hits: u64,
    /// Lookups that did not.
    pub misses: u64,
    /// Values written by `insert` and by the loaders.
    pub inserts: u64,
    /// Initialisers that produced a value.
    pub load_successes: u64,
    /// Initialisers that failed, returned nothing, or panicked.
    pub load_failures: u64,
    /// Time spent in initialisers, on the cache's clock.
    pub total_load_time: Duration,
    /// Entries that left the cache, by cause.
    pub evictions: ByCause,
    /// The weight of those entries, by cause.
    pub evicted_weight: ByCause,
    /// Entries removed because they expired (`evictions.expired`).
    pub expirations: u64,
}

impl CacheStats {
    /// `hits / (hits + misses)`, or 1 when there was no lookup.
    ///
    /// ```
    /// let cache = evacmap::Cache::new(10);
    /// cache.insert(1, 1);
    /// let _ = cache.get(&1);
    /// let _ = cache.get(&2);
    /// assert_eq!(cache.stats().hit_ratio(), 0.5);
    /// ```
    pub fn hit_ratio(&self) -> f64 {
        let requests = self.hits + self.misses;
        if requests == 0 {
            1.0
        } else {
            self.hits as f64 / requests as f64
        }
    }
}

/// One count per [`RemovalCause`](super::RemovalCause).
///
/// ```
/// let cache = evacmap::Cache::new(1);
/// cache.insert(1, 1);
/// cache.insert(2, 2); // evicts one
/// cache.invalidate(&2);
/// let evictions = cache.stats().evictions;
/// assert_eq!(evictions.total(), evictions.size + evictions.explicit);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ByCause {
    /// [`RemovalCause::Expired`](super::RemovalCause::Expired).
    pub expired: u64,
    /// [`RemovalCause::Explicit`](super::RemovalCause::Explicit).
    pub explicit: u64,
    /// [`RemovalCause::Replaced`](super::RemovalCause::Replaced).
    pub replaced: u64,
    /// [`RemovalCause::Size`](super::RemovalCause::Size).
    pub size: u64,
}

impl ByCause {
    /// The sum over all causes.
    ///
    /// ```
    /// let cache = evacmap::Cache::new(10);
    /// cache.insert(1, 1);
    /// cache.insert(1, 2); // replaces
    /// assert_eq!(cache.stats().evictions.total(), 1);
    /// ```
    pub fn total(&self) -> u64 {
        self.expired + self.explicit + self.replaced + self.size
    }
}

/// One thread's counters (shared only when threads outnumber stripes).
#[derive(Default)]
struct Stripe {
    hits: AtomicU64,
    misses: AtomicU64,
    inserts: AtomicU64,
    load_successes: AtomicU64,
    load_failures: AtomicU64,
    load_nanos: AtomicU64,
    removed: [AtomicU64; 4],
    removed_weight: [AtomicU64; 4],
}

/// The striped counters of one cache.
pub(crate) struct Stats {
    stripes: Box<[CachePadded<Stripe>]>,
}

/// Stripes per cache: twice the available parallelism, a power of two.
fn stripe_count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cores * 2).next_power_of_two()
    })
}

/// This thread's index, handed out once per thread.
fn thread_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    INDEX.with(|index| {
        if index.get() == usize::MAX {
            index.set(NEXT.fetch_add(1, Relaxed));
        }
        index.get()
    })
}

impl Stats {
    pub(crate) fn new() -> Self {
        Stats {
            stripes: (0..stripe_count())
                .map(|_| CachePadded::default())
                .collect(),
        }
    }

    #[inline]
    fn mine(&self) -> &Stripe {
        &self.stripes[thread_index() & (self.stripes.len() - 1)]
    }

    #[inline]
    pub(crate) fn hit(&self) {
        self.mine().hits.fetch_add(1, Relaxed);
    }

    #[inline]
    pub(crate) fn miss(&self) {
        self.mine().misses.fetch_add(1, Relaxed);
    }

    pub(crate) fn inserted(&self) {
        self.mine().inserts.fetch_add(1, Relaxed);
    }

    pub(crate) fn loaded(&self, ok: bool, nanos: u64) {
        let stripe = self.mine();
        if ok {
            stripe.load_successes.fetch_add(1, Relaxed);
        } else {
            stripe.load_failures.fetch_add(1, Relaxed);
        }
        stripe.load_nanos.fetch_add(nanos, Relaxed);
    }

    /// Counts departures: `(count, weight)` per cause, by `RemovalCause::index`.
    pub(crate) fn removed(&self, counts: &[(u64, u64); 4]) {
        let stripe = self.mine();
        for (i, &(count, weight)) in counts.iter().enumerate() {
            if count > 0 {
                stripe.removed[i].fetch_add(count, Relaxed);
                stripe.removed_weight[i].fetch_add(weight, Relaxed);
            }
        }
    }

    /// Hits and misses so far (the policy's request count).
    pub(crate) fn requests(&self) -> u64 {
        self.stripes
            .iter()
            .map(|s| s.hits.load(Relaxed) + s.misses.load(Relaxed))
            .sum()
    }

    pub(crate) fn snapshot(&self) -> CacheStats {
        let sum = |f: fn(&Stripe) -> &AtomicU64| -> u64 {
            self.stripes.iter().map(|s| f(s).load(Relaxed)).sum()
        };
        let by_cause = |weights: bool| {
            let at = |i: usize| -> u64 {
                self.stripes
                    .iter()
                    .map(|s| {
                        if weights {
                            &s.removed_weight[i]
                        } else {
                            &s.removed[i]
                        }
                        .load(Relaxed)
                    })
                    .sum()
            };
            ByCause {
                expired: at(0),
                explicit: at(1),
                replaced: at(2),
                size: at(3),
            }
        };
        let evictions = by_cause(false);
        CacheStats {
            hits: sum(|s| &s.hits),
            misses: sum(|s| &s.misses),
            inserts: sum(|s| &s.inserts),
            load_successes: sum(|s| &s.load_successes),
            load_failures: sum(|s| &s.load_failures),
            total_load_time: Duration::from_nanos(sum(|s| &s.load_nanos)),
            evictions,
            evicted_weight: by_cause(true),
            expirations: evictions.expired,
        }
    }
}
