//! `HashSet`: exact counts under concurrent inserts and removes (each
//! element's insert and remove are linearizable, so exactly one caller wins
//! each), std's `insert`/`replace`/`take` contract, drops, and the standard
//! traits.

mod common;

use std::hash::{Hash, Hasher};
use std::sync::Barrier;
use std::thread;

use common::{Registry, Token};
use evacmap::{HashSet, PinnedSet};
use static_assertions::{assert_impl_all, assert_not_impl_any};

type S = evacmap::DefaultHashBuilder;

assert_impl_all!(HashSet<u64>: Send, Sync, Default, Clone, std::fmt::Debug, Eq);
assert_impl_all!(HashSet<u64>: std::panic::UnwindSafe, std::panic::RefUnwindSafe);
assert_not_impl_any!(HashSet<std::rc::Rc<u64>>: Send, Sync);
assert_not_impl_any!(HashSet<std::cell::Cell<u64>>: Sync);
// A pinned handle holds an epoch guard: it stays on its thread.
assert_not_impl_any!(PinnedSet<'static, u64, S>: Send, Sync);

const THREADS: u64 = 4;

#[test]
fn concurrent_inserts_of_overlapping_ranges_succeed_once_per_element() {
    let set: HashSet<u64> = HashSet::new();
    let start = Barrier::new(THREADS as usize);
    // Thread t inserts t*1000 .. t*1000 + 3000: every element but the first
    // and last thousand is inserted by several threads at once.
    let wins: u64 = thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (set, start) = (&set, &start);
                s.spawn(move || {
                    start.wait();
                    (t * 1000..t * 1000 + 3000)
                        .filter(|&i| set.insert(i))
                        .count() as u64
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let distinct = (THREADS - 1) * 1000 + 3000;
    assert_eq!(
        wins, distinct,
        "each element is newly inserted exactly once"
    );
    assert_eq!(set.len() as u64, distinct);
    assert_eq!(set.iter().count() as u64, distinct);
    assert!((0..distinct).all(|i| set.contains(&i)));
}

#[test]
fn concurrent_removes_of_the_same_elements_succeed_once_per_element() {
    let set: HashSet<u64> = (0..10_000).collect();
    let start = Barrier::new(THREADS as usize);
    let removed: u64 = thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (set, start) = (&set, &start);
                s.spawn(move || {
                    start.wait();
                    // Half the threads remove with `remove`, half with
                    // `take`; every thread tries every element.
                    (0..10_000u64)
                        .filter(|i| {
                            if t % 2 == 0 {
                                set.remove(i)
                            } else {
                                set.take(i).is_some_and(|taken| *taken == *i)
                            }
                        })
                        .count() as u64
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(removed, 10_000, "each element is removed exactly once");
    assert!(set.is_empty());
    assert_eq!(set.iter().count(), 0);
}

#[test]
fn concurrent_insert_remove_churn_ends_in_the_exact_state() {
    // Each thread owns its own elements and toggles them: insert, remove,
    // insert again. Every call must report the state it changed.
    let set: HashSet<u64> = HashSet::new();
    thread::scope(|s| {
        for t in 0..THREADS {
            let set = &set;
            s.spawn(move || {
                for i in (t..20_000).step_by(THREADS as usize) {
                    assert!(set.insert(i), "{i} was absent");
                    assert!(!set.insert(i), "{i} was present");
                    assert!(set.remove(&i), "{i} was present");
                    assert!(!set.remove(&i), "{i} was absent");
                    if i % 3 == 0 {
                        assert!(set.insert(i));
                    }
                }
            });
        }
    });
    let expected = (0..20_000u64).filter(|i| i % 3 == 0).count();
    assert_eq!(set.len(), expected);
    assert!((0..20_000u64).all(|i| set.contains(&i) == (i % 3 == 0)));
}

/// Equal by `key` alone, so that which of two equal elements the set holds
/// can be told by `tag`.
#[derive(Debug, Clone)]
struct Tagged {
    key: u32,
    tag: &'static str,
}

impl PartialEq for Tagged {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Tagged {}
impl Hash for Tagged {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

fn tagged(key: u32, tag: &'static str) -> Tagged {
    Tagged { key, tag }
}

#[test]
fn insert_keeps_the_element_it_has_and_replace_swaps_it() {
    let set = HashSet::new();
    assert!(set.insert(tagged(1, "first")));
    assert!(
        !set.insert(tagged(1, "second")),
        "an equal element was present"
    );
    assert_eq!(
        set.get(&tagged(1, "")).unwrap().tag,
        "first",
        "as std's insert"
    );
    assert_eq!(set.pin().get(&tagged(1, "")).unwrap().tag, "first");

    let old = set
        .replace(tagged(1, "third"))
        .expect("an equal element was present");
    assert_eq!(old.tag, "first");
    assert_eq!(set.get(&tagged(1, "")).unwrap().tag, "third");
    assert!(set.replace(tagged(2, "new")).is_none());
    assert_eq!(set.len(), 2);
}

#[test]
fn get_and_take_lend_the_element_behind_a_guard() {
    let set: HashSet<String> = HashSet::from(["apple".to_string(), "pear".to_string()]);
    // Borrowed lookups (`&str` for `String`).
    let apple = set.get("apple").expect("present");
    assert!(set.get("plum").is_none());
    assert!(set.remove("apple"));
    assert_eq!(
        *apple, "apple",
        "a removed element stays readable while lent"
    );

    let pear = set.take("pear").expect("present");
    assert_eq!(*pear, "pear");
    assert!(set.take("pear").is_none());
    assert!(!set.contains("pear"));
    assert!(set.is_empty());

    set.insert("fig".to_string());
    let pinned = set.pin();
    let fig: &String = pinned.take("fig").expect("present");
    assert!(!pinned.contains("fig"));
    assert_eq!(fig, "fig", "lent for as long as the handle lives");
    assert!(pinned.take("fig").is_none());
}

/// An element whose drops the registry counts.
struct Counted {
    key: u32,
    _token: Token,
}
impl PartialEq for Counted {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Counted {}
impl Hash for Counted {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

#[test]
fn every_element_is_dropped_exactly_once() {
    let reg = Registry::new();
    let counted = |key| Counted {
        key,
        _token: reg.token(),
    };
    let set = HashSet::new();
    for key in 0..100 {
        assert!(set.insert(counted(key)));
    }
    // A rejected duplicate is dropped by the insert that rejected it.
    assert!(!set.insert(counted(5)));
    assert_eq!(reg.dropped(), 1);
    // Removed elements and cleared ones are dropped through the epoch.
    assert!(set.remove(&counted(6)));
    set.retain(|c| c.key % 2 == 0);
    drop(set);
    // 100 elements, the rejected duplicate and the probe built for `remove`.
    assert_eq!(reg.created(), 102);
    reg.wait_all_dropped_once("set dropped");
    // A late second drop would show after more collections.
    for _ in 0..100 {
        crossbeam_epoch::pin().flush();
    }
    reg.assert_all_dropped_once("set dropped, then collections");
}

#[test]
fn retain_clear_and_reserve() {
    let set: HashSet<u32> = (0..1000).collect();
    set.retain(|x| x % 10 == 0);
    assert_eq!(set.len(), 100);
    assert!(set.iter().all(|x| *x % 10 == 0));
    set.clear();
    assert!(set.is_empty());
    assert!(!set.contains(&0));
    set.reserve(5000);
    assert!(set.capacity() >= 5000);
    set.shrink_to_fit();
    assert!(set.capacity() < 5000);
}

#[test]
fn iteration_yields_every_element_once() {
    let set: HashSet<u32> = (0..5000).collect();
    let mut seen: Vec<u32> = set.iter().map(|x| *x).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..5000).collect::<Vec<_>>());
    let mut pinned: Vec<u32> = set.pin().iter().copied().collect();
    pinned.sort_unstable();
    assert_eq!(pinned, seen);
    let mut by_ref: Vec<u32> = (&set).into_iter().map(|x| *x).collect();
    by_ref.sort_unstable();
    assert_eq!(by_ref, seen);
}

#[test]
fn equality_compares_contents_not_order_or_hasher_state() {
    let a: HashSet<u32> = (0..100).collect();
    let b: HashSet<u32> = (0..100).rev().collect();
    assert_eq!(a, b);
    b.remove(&50);
    assert_ne!(a, b, "different lengths");
    b.insert(1000);
    assert_ne!(a, b, "same length, different elements");
    assert_ne!(b, a);
    let empty: HashSet<u32> = HashSet::default();
    assert_eq!(empty, HashSet::new());
}

#[test]
fn clone_is_deep_and_debug_lists_the_elements() {
    let set = HashSet::from([1u32]);
    let copy = set.clone();
    set.insert(2);
    copy.insert(3);
    assert!(!copy.contains(&2));
    assert!(!set.contains(&3));
    assert_eq!(format!("{copy:?}").len(), "{1, 3}".len());
    assert_eq!(format!("{:?}", HashSet::from(["x"])), r#"{"x"}"#);
    let pinned = format!("{:?}", set.pin());
    assert!(pinned.starts_with("PinnedSet"), "{pinned}");
}

#[test]
fn construction_and_extension() {
    let mut set = HashSet::from([1u32, 2, 2, 3]);
    assert_eq!(set.len(), 3);
    set.extend([3, 4]);
    set.extend(&[5, 5, 6]);
    assert_eq!(set.len(), 6);
    let built = HashSet::from_map(evacmap::HashMap::builder().shards(2).build().unwrap());
    built.insert("a");
    assert_eq!(built.as_map().shards(), 2);
    assert_eq!(built.stats().len, 1);
    let hashed: HashSet<u32, std::hash::RandomState> =
        HashSet::with_capacity_and_hasher(10, Default::default());
    assert!(hashed.capacity() >= 10);
    assert!(hashed.insert(1));
    assert!(HashSet::<u32>::with_capacity(100).capacity() >= 100);
}
