//! Small end-to-end tests of the cache's engine, sized for Miri (which runs
//! the crate's unit tests in `.ci/run`): they drive every path that follows
//! raw entry pointers (the hand's walk of the map, lent `CacheRef`s,
//! departures read after removal, the expiry index's lookups).

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Cache, MockClock, RemovalCause};

#[test]
fn eviction_walks_the_map_and_reports_departures() {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let h = heard.clone();
    let cache: Cache<u32, String> = Cache::builder()
        .max_capacity(8)
        .eviction_listener(move |k, v, cause| h.lock().unwrap().push((*k, v, cause)))
        .build();
    for i in 0..64 {
        cache.insert(i, i.to_string());
        let _ = cache.get(&(i / 2));
    }
    assert_eq!(cache.entry_count(), 8);
    let heard = heard.lock().unwrap();
    assert_eq!(heard.len(), 56);
    assert!(heard
        .iter()
        .all(|(k, v, c)| *c == RemovalCause::Size && *v == k.to_string()));
}

#[test]
fn a_lent_value_outlives_its_eviction() {
    let cache: Cache<u32, Vec<u32>> = Cache::new(2);
    cache.insert(0, vec![1, 2, 3]);
    let lent = cache.get_ref(&0).unwrap();
    for i in 1..10 {
        cache.insert(i, vec![i]);
    }
    assert_eq!(*lent, [1, 2, 3]);
}

#[test]
fn expiry_index_frees_expired_entries() {
    let clock = MockClock::new();
    let cache: Cache<u32, u32> = Cache::builder()
        .max_capacity(100)
        .time_to_idle(Duration::from_secs(1))
        .clock(clock.clone())
        .build();
    for i in 0..20 {
        cache.insert(i, i);
    }
    clock.advance(Duration::from_millis(600));
    for i in 0..10 {
        assert_eq!(cache.get(&i), Some(i));
    }
    clock.advance(Duration::from_millis(600));
    cache.insert(100, 100);
    assert_eq!(cache.entry_count(), 11);
    cache.run_pending_tasks();
    clock.advance(Duration::from_secs(2));
    cache.run_pending_tasks();
    assert_eq!(cache.entry_count(), 0);
}

#[test]
fn loaders_removals_and_iteration() {
    let cache: Cache<u32, u32> = Cache::new(16);
    let runs = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for k in 0..8 {
                    cache.get_with(k, || {
                        runs.fetch_add(1, SeqCst);
                        k
                    });
                }
            });
        }
    });
    assert_eq!(runs.load(SeqCst), 8);
    cache.retain(|k, _| k % 2 == 0);
    assert_eq!(cache.iter().count(), 4);
    cache.invalidate_all();
    assert_eq!(cache.iter().count(), 0);
}
