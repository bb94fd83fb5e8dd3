//! The policy's tests, through the simulated store.

use super::*;

/// A small deterministic generator for the tests' workloads.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The policy's books agree with the store's contents.
fn assert_books(s: &SimStore) {
    let p = s.policy();
    assert_eq!(p.weight(), s.total_weight(), "weight");
    assert_eq!(p.len(), s.len() as u64, "len");
}

/// Demand-fill replay of `keys` with weights from `weight`.
fn replay(
    s: &mut SimStore,
    keys: impl IntoIterator<Item = u64>,
    weight: impl Fn(u64) -> u64,
) -> u64 {
    let mut hits = 0;
    for k in keys {
        if s.get(k) {
            hits += 1;
        } else {
            s.insert(k, weight(k));
        }
    }
    hits
}

fn every_config(max: u64) -> Vec<PolicyConfig> {
    let base = PolicyConfig::new(max);
    let mut out = vec![base];
    for admission in [Admission::Recency, Admission::Frequency] {
        out.push(PolicyConfig { admission, ..base });
    }
    out.push(PolicyConfig {
        climb: false,
        ghosts: false,
        sweep_feeds_sketch: false,
        random_admission: false,
        ..base
    });
    out
}

#[test]
fn weights_are_accounted_exactly_and_the_bound_holds() {
    for config in every_config(1000) {
        for order in [Order::Hash, Order::Insertion] {
            let mut s = SimStore::with_order(config, order);
            let mut rng = Rng(1);
            for i in 0..20_000u64 {
                let k = rng.below(3000);
                match i % 10 {
                    0 => {
                        s.remove(k);
                    }
                    1 => s.insert(k, rng.below(20)),
                    _ => {
                        if !s.get(k) {
                            s.insert(k, 1 + k % 13);
                        }
                    }
                }
                assert!(s.policy().weight() <= 1000, "over the bound");
                if i % 97 == 0 {
                    assert_books(&s);
                }
            }
            assert_books(&s);
        }
    }
}

#[test]
fn removed_and_replaced_small_entries_leave_no_pile_of_stale_items() {
    let mut s = SimStore::new(PolicyConfig::new(1 << 20));
    for round in 0..50u64 {
        for k in 0..1000 {
            s.insert(round * 1000 + k, 1);
        }
        for k in 0..1000 {
            if k % 2 == 0 {
                assert!(s.remove(round * 1000 + k));
            } else {
                s.insert(round * 1000 + k, 2); // a replace
            }
        }
        assert_books(&s);
    }
    // The queue holds each live small entry once, plus bounded slack.
    let (small, _) = s.regions();
    let items = s.policy().small_items();
    assert!(items >= small, "a live small entry lost its item");
    assert!(
        items <= 2 * small + 64,
        "stale items piled up: {items} for {small}"
    );
}

#[test]
fn stale_items_are_skipped_when_evicting() {
    let mut s = SimStore::new(PolicyConfig::new(100));
    for k in 0..100 {
        s.insert(k, 1);
    }
    // Replace half (their old items go stale), remove a quarter.
    for k in 0..50 {
        s.insert(k, 1);
    }
    for k in 50..75 {
        s.remove(k);
    }
    for k in 1000..1300 {
        s.insert(k, 1);
        assert!(s.policy().weight() <= 100);
        assert_books(&s);
    }
}

#[test]
fn clear_gives_the_memory_back() {
    let mut s = SimStore::new(PolicyConfig::new(u64::MAX));
    let empty = s.policy().heap_bytes();
    for k in 0..200_000 {
        s.insert(k, 1);
    }
    let full = s.policy().heap_bytes();
    assert!(
        full > 200_000,
        "structures did not grow with the entries: {full}"
    );
    s.clear();
    assert_eq!(s.policy().len(), 0);
    assert_eq!(s.policy().weight(), 0);
    assert_eq!(s.policy().heap_bytes(), empty);
}

#[test]
fn a_huge_capacity_with_few_entries_allocates_little() {
    let mut s = SimStore::new(PolicyConfig::new(u64::MAX / 2));
    for k in 0..100 {
        s.insert(k, 1 << 40);
    }
    assert!(
        s.policy().heap_bytes() < 4096,
        "{}",
        s.policy().heap_bytes()
    );
}

#[test]
fn memory_per_entry_at_a_million() {
    let mut s = SimStore::new(PolicyConfig::new(1 << 20));
    let mut rng = Rng(3);
    for _ in 0..4_000_000 {
        let k = rng.below(4 << 20);
        if !s.get(k) {
            s.insert(k, 1);
        }
    }
    // Sketch 4 bytes, ghosts 1, small queue 16 bytes for each of its ~5%,
    // plus up to a quarter of growth slack (docs/POLICY.md has the breakdown).
    let per_entry = s.policy().heap_bytes() as f64 / s.len() as f64;
    assert!(per_entry <= 6.5, "{per_entry:.2} bytes per entry");
}

#[test]
fn heavy_entries_are_evicted_not_kept_over_the_bound() {
    for config in every_config(100) {
        let mut s = SimStore::new(config);
        for k in 0..50 {
            s.insert(k, 1);
        }
        s.insert(1000, 90);
        assert!(s.policy().weight() <= 100);
        s.insert(1001, 500); // heavier than the whole cache
        assert!(s.policy().weight() <= 100);
        assert!(!s.contains(1001));
        assert_books(&s);
    }
}

#[test]
fn zero_weight_entries_do_not_loop_forever() {
    for config in every_config(10) {
        let mut s = SimStore::new(config);
        for k in 0..1000 {
            s.insert(k, 0);
            let _ = s.get(k);
        }
        for k in 1000..1100 {
            s.insert(k, 1);
        }
        assert!(s.policy().weight() <= 10);
        assert_books(&s);
        // Zero capacity: everything with a weight goes.
        s.set_max_weight(0);
        assert_eq!(s.policy().weight(), 0);
        assert_books(&s);
    }
}

#[test]
fn lowering_the_capacity_evicts_down_to_it() {
    let mut s = SimStore::new(PolicyConfig::new(5000));
    replay(&mut s, (0..20_000).map(|i| i % 6000), |_| 1);
    assert_eq!(s.policy().weight(), 5000);
    s.set_max_weight(1234);
    assert_eq!(s.policy().weight(), 1234);
    assert_books(&s);
    s.set_max_weight(0);
    assert_eq!(s.len(), 0);
}

#[test]
fn expired_main_entries_are_evicted_by_the_hand_however_hot() {
    let mut s = SimStore::new(PolicyConfig::new(100));
    let hot = |s: &mut SimStore| {
        for k in 0..100 {
            if !s.get(k) {
                s.insert(k, 1);
            }
        }
    };
    for _ in 0..5 {
        hot(&mut s);
    }
    s.expire(77);
    s.expire(3);
    // Everything stays hot, the expired entries included (the simulated
    // store lets hits raise them): only their expiry can get them out.
    for k in 1000..1200 {
        s.insert(k, 1);
        for _ in 0..2 {
            for k in 0..100 {
                let _ = s.get(k);
            }
        }
    }
    assert!(
        !s.contains(77) && !s.contains(3),
        "expired entries outlived hot ones"
    );
    assert_books(&s);
}

#[test]
fn an_expired_small_entry_is_not_promoted() {
    for config in every_config(100) {
        let mut s = SimStore::new(config);
        // Full first, so that 0 leaves the small queue through eviction
        // (and, in the second round, while the cache still has room).
        for k in 1000..1100 {
            s.insert(k, 1);
        }
        s.insert(0, 1);
        for _ in 0..3 {
            assert!(s.get(0));
        }
        s.expire(0);
        for k in 1..200 {
            s.insert(k, 1);
        }
        assert!(!s.contains(0), "{config:?}: an expired entry went to main");
        assert_books(&s);
        // While there is room, the small queue drains into main instead.
        let mut s = SimStore::new(PolicyConfig {
            max_weight: 10_000,
            ..config
        });
        s.insert(0, 1);
        assert!(s.get(0));
        s.expire(0);
        for k in 1..2000 {
            s.insert(k, 1);
        }
        assert!(
            !s.contains(0),
            "{config:?}: an expired entry was drained to main"
        );
        assert_books(&s);
    }
}

#[test]
fn deterministic_given_the_seed() {
    let run = |seed| {
        let mut s = SimStore::new(PolicyConfig {
            seed,
            ..PolicyConfig::new(500)
        });
        let mut rng = Rng(9);
        replay(
            &mut s,
            (0..50_000).map(|_| rng.below(2000) * rng.below(3)),
            |_| 1,
        )
    };
    assert_eq!(run(1), run(1));
    assert_eq!(run(2), run(2));
}

#[test]
fn a_burst_of_new_keys_gets_in() {
    // A frequent working set, then a different one: the new set must take
    // over (a plain TinyLFU door would keep the old one for a long time).
    let mut s = SimStore::new(PolicyConfig::new(1000));
    replay(&mut s, (0..200_000).map(|i| i % 900), |_| 1);
    let hits = replay(&mut s, (0..20_000).map(|i| 10_000 + i % 900), |_| 1);
    assert!(
        hits > 15_000,
        "the new working set was kept out: {hits} hits of 20000"
    );
}

#[test]
fn with_main_empty_the_oldest_small_entry_leaves_by_recency() {
    // Main is empty until the first eviction: the frequency door has no
    // victim to compare with, so recency decides and the oldest unread key
    // goes. A door that admitted it instead would put it in main and evict
    // the next small entry in its place.
    let config = PolicyConfig {
        admission: Admission::Frequency,
        ..PolicyConfig::new(3)
    };
    let mut s = SimStore::new(config);
    for k in [1, 2, 3, 4] {
        s.insert(k, 1);
    }
    let kept: Vec<u64> = (1..=4).filter(|&k| s.contains(k)).collect();
    assert_eq!(kept, [2, 3, 4], "the oldest unread key should have gone");
}

#[test]
fn a_loop_bigger_than_the_cache_keeps_part_of_it() {
    // LRU and S3-FIFO get nothing here; the frequency door keeps a share.
    let mut s = SimStore::new(PolicyConfig::new(1000));
    let hits = replay(&mut s, (0..300_000).map(|i| i % 1500), |_| 1);
    assert!(hits > 300_000 / 2, "loop: {hits} hits of 300000");
}

#[test]
fn scans_do_not_flush_a_hot_set() {
    let mut s = SimStore::new(PolicyConfig::new(1000));
    let mut rng = Rng(5);
    let mut next_scan = 1_000_000;
    let mut hot_hits = 0;
    let mut hot_requests = 0;
    for i in 0..400_000u64 {
        if (i / 5000) % 2 == 0 {
            hot_requests += 1;
            if s.get(rng.below(500)) {
                hot_hits += 1;
            } else {
                s.insert(rng.below(500), 1);
            }
        } else {
            next_scan += 1;
            if !s.get(next_scan) {
                s.insert(next_scan, 1);
            }
        }
    }
    let ratio = hot_hits as f64 / hot_requests as f64;
    assert!(ratio > 0.95, "hot set hit ratio {ratio:.3}");
}
