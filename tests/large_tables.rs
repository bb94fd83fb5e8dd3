//! Tables big enough to be lazily zeroed memory (128 KiB and more per
//! shard): a fresh root is write-touched a few pages per write, and
//! evacuation writes each destination page before the MOVED mark lets
//! readers in (`Bucket::touch_for_write`). Those touches must change
//! nothing: every key keeps its value through growth from empty, a presized
//! root, a `reserve` that grows many times over, and shrinking back, with a
//! reader checking concurrently.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use evacmap::HashMap;

/// Enough keys for tables of 8192 buckets per shard (512 KiB) with the
/// default shard count, well past the 128 KiB where touching starts.
const N: u64 = common::scaled(400_000, 3_000) as u64;

fn value(k: u64) -> u64 {
    common::mix64(k) | 1
}

fn check_all(map: &HashMap<u64, u64>, keys: std::ops::Range<u64>) {
    for k in keys.clone() {
        assert_eq!(map.get_cloned(&k), Some(value(k)), "key {k}");
    }
    assert_eq!(map.len(), keys.count());
    assert_eq!(map.iter().count(), map.len());
}

/// Inserts `0..N` while a reader checks every key inserted so far.
fn fill_while_reading(map: &HashMap<u64, u64>) {
    let inserted = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut k = 0;
            while !done.load(Relaxed) {
                let upto = inserted.load(std::sync::atomic::Ordering::Acquire);
                if upto > 0 {
                    k = (k + 7919) % upto;
                    assert_eq!(map.get_cloned(&k), Some(value(k)), "key {k} of {upto}");
                }
            }
        });
        for k in 0..N {
            map.insert(k, value(k));
            inserted.store(k + 1, std::sync::atomic::Ordering::Release);
        }
        done.store(true, Relaxed);
    });
}

#[test]
fn growing_from_empty_keeps_every_key() {
    let map = HashMap::new();
    fill_while_reading(&map);
    check_all(&map, 0..N);
}

#[test]
fn a_presized_root_keeps_every_key() {
    let map = HashMap::with_capacity(N as usize);
    fill_while_reading(&map);
    check_all(&map, 0..N);
}

#[test]
fn a_reserve_many_times_over_and_a_shrink_keep_every_key() {
    let map = HashMap::new();
    for k in 0..N / 100 {
        map.insert(k, value(k));
    }
    // From a few hundred buckets per shard to thousands: each old bucket's
    // destination spans several pages.
    map.reserve(N as usize * 4);
    for k in N / 100..N {
        map.insert(k, value(k));
    }
    check_all(&map, 0..N);
    for k in N / 10..N {
        map.remove(&k);
    }
    map.shrink_to_fit();
    check_all(&map, 0..N / 10);
}
