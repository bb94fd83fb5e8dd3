//! The real cache on one thread against the policy's replay store
//! (`SimStore`, what `benches/hit_ratio.rs` measures): hashing keys the way
//! the replay does, the cache must hit exactly where the replay hits. The
//! policy is the same code in both; what this checks is that the cache's
//! store (`src/cache/store.rs`) shows it the map as the replay's store
//! shows it its table, above all that the CLOCK hand walks every placed
//! entry in hash order.

mod common;

use std::hash::{BuildHasher, Hasher};

use evacmap::cache::policy::{mix64, PolicyConfig, SimStore};
use evacmap::Cache;

/// `SimStore`'s hash of a `u64` key under the policy's default seed.
#[derive(Clone, Copy)]
struct ReplayHash(u64);

impl ReplayHash {
    fn new() -> Self {
        ReplayHash(mix64(PolicyConfig::new(0).seed))
    }
}

struct ReplayHasher(u64, u64);

impl Hasher for ReplayHasher {
    fn finish(&self) -> u64 {
        self.1
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("u64 keys only")
    }
    fn write_u64(&mut self, key: u64) {
        self.1 = mix64(key ^ self.0);
    }
}

impl BuildHasher for ReplayHash {
    type Hasher = ReplayHasher;
    fn build_hasher(&self) -> ReplayHasher {
        ReplayHasher(self.0, 0)
    }
}

/// Replays `keys` with demand fill through both; the first request where
/// they disagree, if any.
fn first_difference(capacity: u64, keys: &[u64]) -> Option<(usize, bool)> {
    let cache: Cache<u64, (), ReplayHash> = Cache::builder()
        .max_capacity(capacity)
        .build_with_hasher(ReplayHash::new());
    let mut sim = SimStore::new(PolicyConfig::new(capacity));
    for (i, &k) in keys.iter().enumerate() {
        let real = cache.get(&k).is_some();
        if !real {
            cache.insert(k, ());
        }
        let replay = sim.get(k);
        if !replay {
            sim.insert(k, 1);
        }
        if real != replay {
            return Some((i, real));
        }
    }
    None
}

#[test]
fn a_loop_bigger_than_the_cache_is_replayed_exactly() {
    // A third more keys than the cache holds, in a loop.
    let keys: Vec<u64> = (0..200).flat_map(|_| 0..200).collect();
    assert_eq!(first_difference(150, &keys), None);
}

#[test]
fn a_skewed_random_trace_is_replayed_exactly() {
    let mut next = common::stream(7);
    // Half the requests to a hot set the size of the cache, half to a
    // cold range ten times bigger.
    let keys: Vec<u64> = (0..REQUESTS)
        .map(|_| {
            let r = next();
            if r & 1 == 0 {
                (r >> 1) % CAPACITY
            } else {
                CAPACITY + (r >> 1) % (10 * CAPACITY)
            }
        })
        .collect();
    assert_eq!(first_difference(CAPACITY, &keys), None);
}

const CAPACITY: u64 = 200;
const REQUESTS: usize = 40_000;
