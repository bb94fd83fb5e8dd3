//! Panics in user code leave the cache consistent and usable: the weigher,
//! the listener, an initialiser, each `Expiry` callback, and the key's `Hash`
//! and `Eq`. After each panic the cache keeps its bound, its counts agree
//! with its contents, no load is left registered, and every operation works.

mod common;

use std::cell::Cell;
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use evacmap::cache::{Expiry, MockClock, RemovalCause};
use evacmap::Cache;

thread_local! {
    /// Which user code panics next on this thread (by name), if any.
    static ARMED: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// Panics if `site` is armed on this thread (and disarms it).
fn trip(site: &'static str) {
    if ARMED.with(|a| a.get()) == Some(site) {
        ARMED.with(|a| a.set(None));
        panic!("injected panic in {site}");
    }
}

/// Runs `f` with `site` armed; it must panic there.
fn panics_in(site: &'static str, f: impl FnOnce()) {
    ARMED.with(|a| a.set(Some(site)));
    let r = catch_unwind(AssertUnwindSafe(f));
    ARMED.with(|a| a.set(None));
    let msg = common::panic_message(&*r.expect_err("should have panicked"));
    assert!(msg.contains(site), "panicked elsewhere: {msg}");
}

/// A key whose `Hash` and `Eq` can be made to panic.
#[derive(Clone, Debug)]
struct Key(u64);

impl Hash for Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        trip("hash");
        self.0.hash(h)
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        trip("eq");
        self.0 == other.0
    }
}
impl Eq for Key {}

struct Rules;

impl Expiry<Key, u64> for Rules {
    fn expire_after_create(&self, _: &Key, _: &u64, _: Instant) -> Option<Duration> {
        trip("expire_after_create");
        Some(Duration::from_secs(100))
    }
    fn expire_after_read(
        &self,
        _: &Key,
        _: &u64,
        _: Instant,
        left: Option<Duration>,
        _: Instant,
    ) -> Option<Duration> {
        trip("expire_after_read");
        left
    }
    fn expire_after_update(
        &self,
        _: &Key,
        _: &u64,
        _: Instant,
        left: Option<Duration>,
    ) -> Option<Duration> {
        trip("expire_after_update");
        left
    }
}

struct Fixture {
    cache: Cache<Key, u64>,
    heard: Arc<Mutex<Vec<(u64, RemovalCause)>>>,
    max: u64,
}

fn fixture(timed: bool) -> Fixture {
    common::quiet_panics(|m| m.contains("injected panic"));
    let heard: Arc<Mutex<Vec<(u64, RemovalCause)>>> = Arc::default();
    let h = heard.clone();
    let max = 20;
    let mut b = Cache::builder()
        .max_capacity(max)
        .weigher(|_, v: &u64| {
            trip("weigher");
            (*v % 3) as u32
        })
        .eviction_listener(move |k: Arc<Key>, _, cause| {
            h.lock().unwrap().push((k.0, cause));
            trip("listener");
        });
    if timed {
        b = b.expire_after(Rules).clock(MockClock::new());
    }
    Fixture {
        cache: b.build(),
        heard,
        max,
    }
}

impl Fixture {
    /// The cache is consistent and every operation works.
    fn check(&self) {
        let c = &self.cache;
        assert!(c.weighted_size() <= self.max);
        let listed: Vec<(Arc<Key>, u64)> = c.iter().collect();
        assert_eq!(listed.len() as u64, c.entry_count());
        assert_eq!(
            listed.iter().map(|(_, v)| v % 3).sum::<u64>(),
            c.weighted_size()
        );
        for (k, v) in &listed {
            assert_eq!(c.get(&**k), Some(*v));
        }
        let probe = Key(1_000_000);
        c.insert(probe.clone(), 1);
        assert_eq!(c.get(&probe), Some(1));
        assert_eq!(c.get_with(Key(1_000_001), || 4), 4);
        assert_eq!(c.remove(&probe), Some(1));
        c.invalidate(&Key(1_000_001));
    }

    fn fill(&self) {
        for i in 0..30 {
            self.cache.insert(Key(i), i);
        }
    }
}

#[test]
fn a_panicking_weigher_changes_nothing() {
    let f = fixture(false);
    f.fill();
    let before = (f.cache.entry_count(), f.cache.weighted_size());
    panics_in("weigher", || f.cache.insert(Key(500), 2));
    assert_eq!((f.cache.entry_count(), f.cache.weighted_size()), before);
    assert!(!f.cache.contains_key(&Key(500)));
    panics_in("weigher", || {
        f.cache.get_with(Key(501), || 2);
    });
    assert!(!f.cache.contains_key(&Key(501)));
    f.check();
}

#[test]
fn a_panicking_listener_leaves_the_cache_within_its_bound() {
    let f = fixture(false);
    f.fill();
    let heard_before = f.heard.lock().unwrap().len();
    // This insert evicts: the listener panics on the first departure, the
    // others are still delivered, and the panic reaches the inserter.
    panics_in("listener", || {
        for i in 100..200 {
            f.cache.insert(Key(i), 2);
        }
    });
    assert!(f.heard.lock().unwrap().len() > heard_before);
    f.check();
    panics_in("listener", || f.cache.invalidate_all());
    assert_eq!(f.cache.entry_count(), 0);
    f.check();
}

#[test]
fn a_panicking_initialiser_leaves_no_load_behind() {
    let f = fixture(false);
    panics_in("init", || {
        f.cache.get_with(Key(7), || {
            trip("init");
            1
        });
    });
    assert!(!f.cache.contains_key(&Key(7)));
    // The key loads normally afterwards (no registered load is left).
    let runs = AtomicUsize::new(0);
    assert_eq!(
        f.cache.get_with(Key(7), || {
            runs.fetch_add(1, SeqCst);
            2
        }),
        2
    );
    assert_eq!(runs.load(SeqCst), 1);
    assert_eq!(f.cache.stats().load_failures, 1);
    f.check();
}

#[test]
fn panicking_expiry_callbacks_change_nothing() {
    let f = fixture(true);
    f.fill();
    let before = (f.cache.entry_count(), f.cache.weighted_size());
    panics_in("expire_after_create", || f.cache.insert(Key(900), 1));
    assert!(!f.cache.contains_key(&Key(900)));
    assert_eq!((f.cache.entry_count(), f.cache.weighted_size()), before);
    let present = (0..30).map(Key).find(|k| f.cache.contains_key(k)).unwrap();
    panics_in("expire_after_update", || f.cache.insert(present.clone(), 9));
    assert_eq!(
        f.cache.peek(&present),
        Some(present.0),
        "the old value stays"
    );
    panics_in("expire_after_read", || {
        f.cache.get(&present);
    });
    assert_eq!(f.cache.peek(&present), Some(present.0));
    f.check();
}

#[test]
fn panicking_hash_and_eq_leave_the_cache_consistent() {
    let f = fixture(false);
    f.fill();
    let present = (0..30).map(Key).find(|k| f.cache.contains_key(k)).unwrap();
    panics_in("hash", || f.cache.insert(Key(700), 1));
    panics_in("hash", || {
        f.cache.get(&present);
    });
    panics_in("eq", || f.cache.insert(present.clone(), 5));
    assert_eq!(f.cache.peek(&present), Some(present.0));
    panics_in("eq", || {
        f.cache.get(&present);
    });
    panics_in("eq", || {
        f.cache.remove(&present);
    });
    assert_eq!(f.cache.peek(&present), Some(present.0));
    panics_in("eq", || {
        f.cache.get_with(present.clone(), || 1);
    });
    f.check();
}
