//! The cache's API, method by method: what each returns and what it does
//! to the cache (bound, weights, expiry on a mock clock, listener causes,
//! statistics, loaders' semantics). Concurrency is in `cache_stress.rs`,
//! the differential model in `cache_model.rs`, panics in `cache_panics.rs`.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use evacmap::cache::{CacheBuildError, Expiry, MockClock, RemovalCause, MAX_EXPIRY};
use evacmap::Cache;

type Log<K, V> = Arc<Mutex<Vec<(K, V, RemovalCause)>>>;

/// A cache of `max` with a listener that logs every departure.
fn logged(max: u64) -> (Cache<u64, u64>, Log<u64, u64>) {
    let log: Log<u64, u64> = Arc::default();
    let l = log.clone();
    let cache = Cache::builder()
        .max_capacity(max)
        .eviction_listener(move |k, v, cause| l.lock().unwrap().push((*k, v, cause)))
        .build();
    (cache, log)
}

fn causes(log: &Log<u64, u64>) -> Vec<RemovalCause> {
    log.lock().unwrap().iter().map(|e| e.2).collect()
}

#[test]
fn get_insert_replace_remove() {
    let (cache, log) = logged(10);
    assert_eq!(cache.get(&1), None);
    cache.insert(1, 10);
    assert_eq!(cache.get(&1), Some(10));
    cache.insert(1, 11);
    assert_eq!(cache.get(&1), Some(11));
    assert_eq!(cache.entry_count(), 1);
    assert_eq!(cache.remove(&1), Some(11));
    assert_eq!(cache.remove(&1), None);
    assert_eq!(cache.get(&1), None);
    assert_eq!(cache.entry_count(), 0);
    assert_eq!(
        *log.lock().unwrap(),
        vec![
            (1, 10, RemovalCause::Replaced),
            (1, 11, RemovalCause::Explicit)
        ]
    );
}

#[test]
fn borrowed_keys_and_peek_contains() {
    let cache: Cache<String, u32> = Cache::new(10);
    cache.insert("a".to_string(), 1);
    assert_eq!(cache.get("a"), Some(1));
    assert!(cache.contains_key("a"));
    assert!(!cache.contains_key("b"));
    assert_eq!(cache.peek("a"), Some(1));
    cache.invalidate("a");
    assert!(!cache.contains_key("a"));
    // peek and contains_key count nothing
    let s = cache.stats();
    assert_eq!((s.hits, s.misses), (1, 0));
}

#[test]
fn get_ref_lends_the_value_past_its_removal() {
    let cache: Cache<u32, Vec<u8>> = Cache::new(2);
    cache.insert(1, vec![7; 100]);
    let r = cache.get_ref(&1).unwrap();
    cache.invalidate(&1);
    cache.insert(2, vec![]);
    cache.insert(3, vec![]);
    assert_eq!(r.len(), 100);
    assert_eq!(*r.key(), 1);
    assert!(format!("{r:?}").len() > 10);
    assert!(cache.get_ref(&1).is_none());
}

#[test]
fn the_bound_is_global_and_exact() {
    let (cache, log) = logged(100);
    for i in 0..10_000 {
        cache.insert(i, i);
        assert!(cache.weighted_size() <= 100);
    }
    assert_eq!(cache.entry_count(), 100);
    assert_eq!(cache.weighted_size(), 100);
    assert_eq!(cache.iter().count(), 100);
    let c = causes(&log);
    assert_eq!(c.len(), 9_900);
    assert!(c.iter().all(|&c| c == RemovalCause::Size));
    assert_eq!(cache.stats().evictions.size, 9_900);
}

#[test]
fn a_tiny_cache_keeps_the_newest_of_unread_keys() {
    // New keys are never starved (policy/engine.rs): each new key stays at
    // least until the next one arrives. Two ways this once failed:
    // - with main empty the frequency door had no victim to compare with;
    //   it admitted the old key and so evicted each new one at once;
    // - once main held a key (a ghost filter false positive sends a
    //   never-seen key there; 1 seed in about 1000 hit one within 20 keys,
    //   seed 14135 at key 7), the small queue's share was less than one
    //   entry, so each new key left it at once and met the door, which at
    //   equal frequency defends the resident: up to 1963 of 2000 new keys
    //   were refused.
    // Many hash seeds and many keys, so that both paths are taken.
    for seed in (0..64).chain([14135]) {
        for capacity in 1..=3u64 {
            let cache: Cache<u64, u64, _> = Cache::builder()
                .max_capacity(capacity)
                .build_with_hasher(foldhash::fast::FixedState::with_seed(seed));
            for i in 0..500 {
                cache.insert(i, i);
                assert_eq!(
                    cache.peek(&i),
                    Some(i),
                    "seed {seed}, capacity {capacity}: {i} was refused"
                );
            }
            assert_eq!(cache.entry_count(), capacity);
        }
    }
}

#[test]
fn weights_count_against_the_capacity() {
    let log: Log<u64, u64> = Arc::default();
    let l = log.clone();
    let cache: Cache<u64, u64> = Cache::builder()
        .max_capacity(100)
        .weigher(|_, v: &u64| *v as u32)
        .eviction_listener(move |k, v, cause| l.lock().unwrap().push((*k, v, cause)))
        .build();
    cache.insert(1, 60);
    cache.insert(2, 30);
    assert_eq!(cache.weighted_size(), 90);
    cache.insert(3, 30); // 120 > 100: something goes
    assert!(cache.weighted_size() <= 100);
    // An entry heavier than the whole capacity is refused, not admitted by
    // flushing everything.
    let before = cache.weighted_size();
    cache.insert(4, 101);
    assert_eq!(cache.get(&4), None);
    assert_eq!(cache.weighted_size(), before);
    assert!(log.lock().unwrap().contains(&(4, 101, RemovalCause::Size)));
    // Replacing a key's value by a too-heavy one removes the old value too.
    let kept = (1..=3).find(|k| cache.contains_key(k)).unwrap();
    cache.insert(kept, 500);
    assert!(!cache.contains_key(&kept));
    // Zero-weight entries take no capacity.
    cache.insert(10, 0);
    cache.insert(11, 0);
    assert_eq!(cache.get(&10), Some(0));
    let stats = cache.stats();
    assert_eq!(stats.evicted_weight.size, stats.evicted_weight.size); // summed by cause
    assert!(stats.evicted_weight.size >= 101 + 500);
}

#[test]
fn zero_capacity_admits_nothing_but_zero_weights() {
    let cache: Cache<u32, u32> = Cache::builder().max_capacity(0).weigher(|_, v| *v).build();
    cache.insert(1, 1);
    assert_eq!(cache.get(&1), None);
    cache.insert(2, 0);
    assert_eq!(cache.get(&2), Some(0));
}

#[test]
fn set_max_capacity_shrinks_at_once() {
    let (cache, log) = logged(100);
    for i in 0..100 {
        cache.insert(i, i);
    }
    cache.set_max_capacity(10);
    assert_eq!(cache.weighted_size(), 10);
    assert_eq!(cache.entry_count(), 10);
    assert_eq!(causes(&log).len(), 90);
    assert_eq!(cache.policy().max_capacity(), Some(10));
    cache.set_max_capacity(1000);
    for i in 0..500 {
        cache.insert(1000 + i, i);
    }
    assert_eq!(cache.entry_count(), 510);
}

#[test]
fn invalidate_all_entries_if_and_retain() {
    let (cache, log) = logged(1000);
    for i in 0..100 {
        cache.insert(i, i);
    }
    cache.invalidate_entries_if(|_, v| v % 2 == 0).unwrap();
    assert_eq!(cache.entry_count(), 50);
    assert!((0..100).all(|i| cache.contains_key(&i) == (i % 2 == 1)));
    cache.retain(|k, _| *k < 51);
    assert_eq!(cache.entry_count(), 25);
    cache.invalidate_all();
    assert_eq!(cache.entry_count(), 0);
    assert_eq!(cache.weighted_size(), 0);
    assert_eq!(cache.iter().count(), 0);
    let c = causes(&log);
    assert_eq!(c.len(), 100);
    assert!(c.iter().all(|&c| c == RemovalCause::Explicit));
    assert_eq!(cache.stats().evictions.explicit, 100);
}

#[test]
fn iter_yields_every_live_entry_once() {
    let cache: Cache<u64, String> = Cache::new(1000);
    for i in 0..500 {
        cache.insert(i, i.to_string());
    }
    let mut seen: Vec<u64> = cache
        .iter()
        .map(|(k, v)| {
            assert_eq!(*k.to_string(), v);
            *k
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..500).collect::<Vec<_>>());
}

#[test]
fn clones_share_the_cache() {
    let cache: Cache<u32, u32> = Cache::new(10);
    let other = cache.clone();
    other.insert(1, 1);
    assert_eq!(cache.get(&1), Some(1));
    std::thread::spawn(move || other.insert(2, 2))
        .join()
        .unwrap();
    assert_eq!(cache.get(&2), Some(2));
}

#[test]
fn stats_count_every_kind_of_event() {
    let cache: Cache<u32, u32> = Cache::new(2);
    cache.insert(1, 1);
    cache.insert(2, 2);
    assert_eq!(cache.get(&1), Some(1));
    assert_eq!(cache.get(&9), None);
    cache.insert(3, 3); // evicts one
    assert_eq!(cache.get_with(4, || 4), 4);
    assert_eq!(
        cache
            .try_get_with(5, || Err::<u32, _>("no"))
            .unwrap_err()
            .as_ref(),
        &"no"
    );
    let s = cache.stats();
    assert_eq!(s.hits, 1);
    assert_eq!(s.misses, 3); // 9, 4, 5
    assert_eq!(s.inserts, 4);
    assert_eq!((s.load_successes, s.load_failures), (1, 1));
    assert_eq!(s.evictions.size, 2);
    assert_eq!(s.evictions.total(), 2);
    assert!((s.hit_ratio() - 0.25).abs() < 1e-9);
}

#[test]
fn policy_name_and_debug() {
    let cache: Cache<u32, u32> = Cache::builder()
        .name("sessions")
        .max_capacity(5)
        .initial_capacity(100)
        .time_to_live(Duration::from_secs(3))
        .time_to_idle(Duration::from_secs(2))
        .build();
    let p = cache.policy();
    assert_eq!(p.max_capacity(), Some(5));
    assert_eq!(p.time_to_live(), Some(Duration::from_secs(3)));
    assert_eq!(p.time_to_idle(), Some(Duration::from_secs(2)));
    assert_eq!(p.initial_capacity(), Some(100));
    assert_eq!(cache.name(), Some("sessions"));
    assert!(format!("{cache:?}").contains("sessions"));
    let unbounded: Cache<u32, u32> = Cache::builder().build();
    assert_eq!(unbounded.policy().max_capacity(), None);
}

#[test]
fn impossible_settings_are_errors() {
    let too_long = MAX_EXPIRY + Duration::from_secs(1);
    let e = Cache::<u32, u32>::builder()
        .time_to_live(too_long)
        .try_build()
        .unwrap_err();
    assert_eq!(
        e,
        CacheBuildError::DurationTooLong {
            setting: "time_to_live",
            duration: too_long
        }
    );
    assert!(e.to_string().contains("time_to_live"));
    let e = Cache::<u32, u32>::builder()
        .time_to_idle(Duration::MAX)
        .try_build()
        .unwrap_err();
    assert!(matches!(
        e,
        CacheBuildError::DurationTooLong {
            setting: "time_to_idle",
            ..
        }
    ));
    let e = Cache::<u32, u32>::builder()
        .initial_capacity(usize::MAX)
        .try_build()
        .unwrap_err();
    assert!(matches!(e, CacheBuildError::Map(_)));
    let r =
        std::panic::catch_unwind(|| Cache::<u32, u32>::builder().time_to_live(too_long).build());
    assert!(r.is_err());
    // The longest accepted duration works, and never overflows the clock.
    let clock = MockClock::new();
    let c: Cache<u32, u32> = Cache::builder()
        .time_to_live(MAX_EXPIRY)
        .clock(clock.clone())
        .build();
    c.insert(1, 1);
    clock.advance(MAX_EXPIRY - Duration::from_secs(1));
    assert_eq!(c.get(&1), Some(1));
    clock.advance(Duration::from_secs(1));
    assert_eq!(c.get(&1), None);
}

// ---- expiry ---------------------------------------------------------------

fn timed(ttl: Option<u64>, tti: Option<u64>) -> (Cache<u64, u64>, MockClock, Log<u64, u64>) {
    let clock = MockClock::new();
    let log: Log<u64, u64> = Arc::default();
    let l = log.clone();
    let mut b = Cache::builder()
        .max_capacity(1000)
        .clock(clock.clone())
        .eviction_listener(move |k, v, cause| l.lock().unwrap().push((*k, v, cause)));
    if let Some(s) = ttl {
        b = b.time_to_live(Duration::from_secs(s));
    }
    if let Some(s) = tti {
        b = b.time_to_idle(Duration::from_secs(s));
    }
    (b.build(), clock, log)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn time_to_live_counts_from_the_last_write() {
    let (cache, clock, log) = timed(Some(10), None);
    cache.insert(1, 1);
    clock.advance(secs(9));
    assert_eq!(cache.get(&1), Some(1)); // reads do not extend it
    cache.insert(2, 2);
    clock.advance(secs(1));
    assert_eq!(cache.get(&1), None);
    assert!(!cache.contains_key(&1));
    assert_eq!(cache.peek(&1), None);
    assert_eq!(cache.remove(&1), None, "an expired entry is not returned");
    assert_eq!(cache.get(&2), Some(2));
    cache.insert(2, 3); // rewrite: ten more seconds
    clock.advance(secs(9));
    assert_eq!(cache.get(&2), Some(3));
    clock.advance(secs(1));
    assert_eq!(cache.get(&2), None);
    assert_eq!(cache.iter().count(), 0);
    cache.run_pending_tasks();
    assert_eq!(cache.entry_count(), 0);
    assert_eq!(
        *log.lock().unwrap(),
        vec![
            (1, 1, RemovalCause::Expired),
            (2, 2, RemovalCause::Replaced),
            (2, 3, RemovalCause::Expired)
        ]
    );
    assert_eq!(cache.stats().expirations, 2);
}

#[test]
fn time_to_idle_counts_from_the_last_access() {
    let (cache, clock, _) = timed(None, Some(5));
    cache.insert(1, 1);
    for _ in 0..10 {
        clock.advance(secs(4));
        assert_eq!(cache.get(&1), Some(1));
    }
    // contains_key and peek are not accesses
    clock.advance(secs(4));
    assert!(cache.contains_key(&1));
    clock.advance(secs(1));
    assert_eq!(cache.peek(&1), None);
}

#[test]
fn time_to_live_and_idle_together_take_the_earliest() {
    let (cache, clock, _) = timed(Some(10), Some(3));
    cache.insert(1, 1);
    for _ in 0..4 {
        clock.advance(secs(2));
        assert_eq!(cache.get(&1), Some(1)); // idle keeps resetting
    }
    clock.advance(secs(2)); // 10 s since the write
    assert_eq!(cache.get(&1), None);
}

#[test]
fn expiry_callbacks_set_per_entry_deadlines() {
    struct PerKey {
        reads: AtomicUsize,
    }
    impl Expiry<u64, u64> for PerKey {
        fn expire_after_create(&self, key: &u64, _: &u64, _: Instant) -> Option<Duration> {
            (*key > 0).then(|| secs(*key))
        }
        fn expire_after_read(
            &self,
            key: &u64,
            _: &u64,
            _: Instant,
            left: Option<Duration>,
            _: Instant,
        ) -> Option<Duration> {
            self.reads.fetch_add(1, SeqCst);
            // key 3: each read gives it 3 s again; others unchanged
            if *key == 3 {
                Some(secs(3))
            } else {
                left
            }
        }
        fn expire_after_update(
            &self,
            _: &u64,
            value: &u64,
            _: Instant,
            left: Option<Duration>,
        ) -> Option<Duration> {
            // value 100 never expires; otherwise keep what was left
            if *value == 100 {
                None
            } else {
                left
            }
        }
    }
    let clock = MockClock::new();
    let expiry = PerKey {
        reads: AtomicUsize::new(0),
    };
    let cache: Cache<u64, u64> = Cache::builder()
        .max_capacity(100)
        .clock(clock.clone())
        .expire_after(expiry)
        .build();
    for k in 0..6 {
        cache.insert(k, k);
    }
    clock.advance(secs(2));
    assert_eq!(cache.get(&1), None);
    assert_eq!(cache.get(&2), None);
    assert_eq!(cache.get(&3), Some(3)); // now expires at 5
    assert_eq!(cache.get(&0), Some(0)); // never
    cache.insert(4, 40); // update keeps the 2 s left
    cache.insert(5, 100); // update: never
    clock.advance(secs(2)); // 4
    assert_eq!(cache.get(&4), None);
    assert_eq!(cache.get(&3), Some(3)); // now expires at 7
    clock.advance(secs(2)); // 6
    assert_eq!(cache.get(&3), Some(3));
    clock.advance(secs(3)); // 9
    assert_eq!(cache.get(&3), None);
    clock.advance(secs(1000));
    assert_eq!(cache.get(&5), Some(100));
    assert_eq!(cache.get(&0), Some(0));
}

#[test]
fn reads_alone_free_expired_entries_within_the_stated_bound() {
    // core.rs: a read looks at due expiry work every 64 reads of its thread
    // and then expires up to 64 entries; so n expired entries are gone
    // within about n reads.
    let (cache, clock, log) = timed(Some(1), None);
    for i in 0..1000 {
        cache.insert(i, i);
    }
    cache.insert(5000, 0);
    clock.advance(secs(2));
    let reads = 1000 + 64;
    for _ in 0..reads {
        let _ = cache.get(&5000);
    }
    assert_eq!(
        cache.entry_count(),
        0,
        "a read-only cache freed its expired entries"
    );
    assert_eq!(log.lock().unwrap().len(), 1001);
}

#[test]
fn writes_do_expiry_work_too() {
    let (cache, clock, _) = timed(Some(1), None);
    for i in 0..100 {
        cache.insert(i, i);
    }
    clock.advance(secs(2));
    cache.insert(1000, 1); // one write: one batch of expirations (64)
    assert!(cache.entry_count() <= 100 - 64 + 1);
    cache.insert(1001, 1);
    assert_eq!(cache.entry_count(), 2);
}

// ---- loading --------------------------------------------------------------

#[test]
fn loaders_cache_values_and_share_failures() {
    let cache: Cache<u32, u32> = Cache::new(100);
    let runs = AtomicUsize::new(0);
    let load = |v: u32| {
        runs.fetch_add(1, SeqCst);
        v
    };
    assert_eq!(cache.get_with(1, || load(10)), 10);
    assert_eq!(cache.get_with(1, || load(11)), 10);
    assert_eq!(runs.load(SeqCst), 1);
    // try_get_with: an error is not cached
    let e = cache
        .try_get_with(2, || Err::<u32, String>("down".into()))
        .unwrap_err();
    assert_eq!(*e, "down");
    assert!(!cache.contains_key(&2));
    assert_eq!(cache.try_get_with(2, || Ok::<_, String>(20)).unwrap(), 20);
    assert_eq!(
        cache
            .try_get_with(2, || Err::<u32, String>("x".into()))
            .unwrap(),
        20
    );
    // optionally_get_with: nothing is not cached
    assert_eq!(cache.optionally_get_with(3, || None), None);
    assert!(!cache.contains_key(&3));
    assert_eq!(cache.optionally_get_with(3, || Some(30)), Some(30));
    assert_eq!(cache.get(&3), Some(30));
    // quick_cache's get_or_insert_with, with a borrowed key
    let strings: Cache<String, usize> = Cache::new(10);
    assert_eq!(strings.get_or_insert_with("abc", || Ok::<_, ()>(3)), Ok(3));
    assert_eq!(strings.get_or_insert_with("abc", || Err(())), Ok(3));
    assert_eq!(
        strings.get_or_insert_with("zz", || Err::<usize, _>(7)),
        Err(7)
    );
    assert!(!strings.contains_key("zz"));
}

#[test]
fn an_initialiser_may_use_the_cache_for_other_keys() {
    let cache: Cache<u32, u32> = Cache::new(100);
    let v = cache.get_with(1, || cache.get_with(2, || 2) + cache.get_with(3, || 3));
    assert_eq!(v, 5);
    assert_eq!(cache.entry_count(), 3);
}

#[test]
fn an_initialiser_asking_for_its_own_key_panics() {
    let cache: Cache<u32, u32> = Cache::new(100);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        cache.get_with(1, || cache.get_with(1, || 1))
    }));
    let panic = r.unwrap_err();
    let msg = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap();
    assert!(msg.contains("its own key"), "{msg}");
    // Nothing left behind: the key loads normally afterwards.
    assert_eq!(cache.get_with(1, || 7), 7);
}

#[test]
fn a_write_during_a_load_wins() {
    let cache: Cache<u32, u32> = Cache::new(100);
    // invalidate while loading: the loaded value is returned, not cached
    let v = cache.get_with(1, || {
        cache.invalidate(&1);
        10
    });
    assert_eq!(v, 10);
    assert_eq!(cache.get(&1), None);
    // insert while loading: the insert stays
    let v = cache.get_with(2, || {
        cache.insert(2, 99);
        20
    });
    assert_eq!(v, 20);
    assert_eq!(cache.get(&2), Some(99));
    // invalidate_all while loading
    let v = cache.get_with(3, || {
        cache.invalidate_all();
        30
    });
    assert_eq!(v, 30);
    assert_eq!(cache.get(&3), None);
}

#[test]
fn run_pending_tasks_after_invalidate_all_gives_memory_back() {
    let cache: Cache<u64, u64> = Cache::new(100_000);
    let empty = cache.policy_bytes();
    for i in 0..100_000 {
        cache.insert(i, i);
    }
    assert!(cache.policy_bytes() > empty);
    cache.invalidate_all();
    cache.run_pending_tasks();
    assert_eq!(cache.entry_count(), 0);
    assert!(
        cache.policy_bytes() <= empty + 4096,
        "policy bytes {} vs empty {empty}",
        cache.policy_bytes()
    );
}

#[test]
fn hits_protect_an_entry_from_a_scan() {
    // A key read between inserts stays while a scan of one-time keys passes
    // through: the hits it got are what the policy sees (the access counter
    // a hit raises), so this fails if hits are not recorded.
    let cache: Cache<u64, u64> = Cache::new(100);
    for round in 0..50 {
        for hot in 0..10 {
            cache.insert(hot, hot);
        }
        for i in 0..1_000 {
            let scan = 1_000_000 + round * 1_000 + i;
            cache.insert(scan, scan);
            for hot in 0..10 {
                let _ = cache.get(&hot);
            }
        }
    }
    let kept = (0..10).filter(|hot| cache.contains_key(hot)).count();
    assert_eq!(kept, 10, "the hot keys were flushed by a scan");
}
