//! Batched lookups (`Pinned::get_many`, `Pinned::get_many_into`,
//! `HashMap::get_many_cloned`) return, key by key, what single gets return:
//! on a quiet map exactly the same results, and during resizes (buckets
//! MOVED under the batch) every present key found with its value and every
//! absent key absent.

mod common;

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use evacmap::{HashMap, ResizeMode};

#[test]
fn a_batch_returns_what_single_gets_return() {
    let map: HashMap<u64, u64> = (0..10_000)
        .filter(|k| k % 3 != 0)
        .map(|k| (k, k * 7))
        .collect();
    let pinned = map.pin();
    let mut next = common::stream(11);
    for _ in 0..2_000 {
        // Batches of 0 to 40 keys: empty, partial and several groups of 16.
        let len = (next() % 41) as usize;
        let keys: Vec<u64> = (0..len).map(|_| next() % 12_000).collect();
        let mut batch = Vec::new();
        pinned.get_many_into(&keys, &mut batch);
        let single: Vec<Option<&u64>> = keys.iter().map(|k| pinned.get(k)).collect();
        assert_eq!(batch, single, "keys {keys:?}");
    }
    // The array forms, duplicates included.
    assert_eq!(pinned.get_many::<u64, 0>([]), []);
    assert_eq!(pinned.get_many([&1u64]), [Some(&7)]);
    assert_eq!(
        pinned.get_many([&1u64, &3, &1, &20_000]),
        [Some(&7), None, Some(&7), None]
    );
    let keys: [u64; 17] = std::array::from_fn(|i| i as u64);
    let refs: [&u64; 17] = std::array::from_fn(|i| &keys[i]);
    let expected: [Option<u64>; 17] = std::array::from_fn(|i| map.get_cloned(&(i as u64)));
    assert_eq!(map.get_many_cloned(refs), expected);
}

#[test]
fn get_many_into_appends_and_takes_borrowed_keys() {
    let map: HashMap<String, usize> = ["a", "bb", "ccc"]
        .iter()
        .map(|s| (s.to_string(), s.len()))
        .collect();
    let pinned = map.pin();
    let mut out = vec![Some(&0)];
    pinned.get_many_into(["ccc", "x", "a"], &mut out);
    assert_eq!(out, [Some(&0), Some(&3), None, Some(&1)]);
}

#[test]
fn an_empty_map_and_a_map_without_tables_answer_none() {
    let map: HashMap<u64, u64> = HashMap::new();
    assert_eq!(map.pin().get_many([&1, &2]), [None, None]);
    map.insert(1, 1); // some shards allocate, most do not
    assert_eq!(map.pin().get_many([&1, &2]), [Some(&1), None]);
}

common::each_mode!(a_batch_during_resizes_finds_every_stable_key);

/// One writer grows the map through many resizes (and then empties it of
/// the keys it added) while readers batch-read keys that stay put: each
/// stable key must be found with its value and each never-inserted key must
/// be absent, whatever bucket the batch meets MOVED.
fn a_batch_during_resizes_finds_every_stable_key(mode: ResizeMode) {
    const STABLE: u64 = 4_096;
    const GROWTH: u64 = 200_000;
    let map: HashMap<u64, u64> = HashMap::builder().resize_mode(mode).build().unwrap();
    for k in 0..STABLE {
        map.insert(k, !k);
    }
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            for round in 0..2 {
                for k in STABLE..STABLE + GROWTH {
                    map.insert(k, k);
                }
                if round == 0 {
                    for k in STABLE..STABLE + GROWTH {
                        map.remove(&k);
                    }
                }
            }
            done.store(true, Relaxed);
        });
        for seed in 1..=2u64 {
            let map = &map;
            let done = &done;
            s.spawn(move || {
                let mut next = common::stream(seed);
                let mut batches = 0u64;
                while !done.load(Relaxed) || batches < 100 {
                    let stable: [u64; 16] = std::array::from_fn(|_| next() % STABLE);
                    // Keys that are never inserted.
                    let absent: [u64; 16] = std::array::from_fn(|_| u64::MAX - next() % 1_000);
                    let pinned = map.pin();
                    let found = pinned.get_many(stable.each_ref());
                    for (k, v) in stable.iter().zip(found) {
                        assert_eq!(v, Some(&!k), "stable key {k} under {mode:?}");
                    }
                    let mut none = Vec::new();
                    pinned.get_many_into(&absent, &mut none);
                    assert!(none.iter().all(Option::is_none), "{mode:?}");
                    batches += 1;
                }
            });
        }
    });
    assert_eq!(map.len() as u64, STABLE + GROWTH);
}
