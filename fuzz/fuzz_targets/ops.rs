//! Random operation sequences on a tiny evacmap, checked step by step
//! against `std::collections::HashMap`.
//!
//! What fails the target: any difference from the model (a returned previous
//! value, a lookup, `len`, the `Computed` variant, the contents iteration
//! yields), a key yielded twice, a held `Ref` or pinned `&V` that changes, an
//! iterator held across a mutation that misses a key present throughout,
//! `stats().len` disagreeing with `len()`, a value dropped twice or never
//! (counted drops, checked after `reclaim` and after the map is dropped), and
//! of course any panic or memory error inside evacmap.
#![no_main]

use std::collections::{HashMap as Model, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use arbitrary::Arbitrary;
use evacmap::{Computed, HashMap, Op, Ref, ResizeMode};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    /// log2 of the shard count, mod 4 (1..=8 shards).
    shards_log2: u8,
    /// 0: blocking resizes; n: incremental with a step of (n - 1) % 8 + 1.
    step: u8,
    /// Initial capacity, mod 32.
    capacity: u8,
    auto_shrink: bool,
    /// Keys k and j collide in their full hash iff k % m == j % m, with
    /// m = collide % 64 + 1 (m = 1: every hash collides).
    collide: u8,
    ops: Vec<FOp>,
}

#[derive(Arbitrary, Debug, Clone)]
enum FOp {
    Insert(u8, u16),
    Remove(u8),
    Get(u8),
    Update(u8, u16),
    Compute(u8, Decision),
    GetOrInsert(u8, u16),
    RemoveIf(u8, u8),
    Clear,
    Retain(u8),
    ShrinkToFit,
    Reserve(u16),
    Reclaim,
    Iterate,
    /// Insert and get through a `pin()` handle, holding the `&V` it lent.
    Pinned(u8, u16),
    /// Hold a `Ref` to the key's current value for the following operations.
    Hold(u8),
    /// Drop the oldest held `Ref`.
    Release,
    /// Iterate: take `n` items, run the inner op, finish the iteration.
    IterAround(u8, Box<FOp>),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Decision {
    Keep,
    Remove,
    Insert(u16),
    /// Insert 1 if absent, add 1 if present.
    Increment,
}

/// Full hash = a mix of `k % m`: chosen groups of keys collide.
#[derive(Clone, Copy)]
struct CollideState(u64);
struct CollideHasher(u64, u64);
impl BuildHasher for CollideState {
    type Hasher = CollideHasher;
    fn build_hasher(&self) -> CollideHasher {
        CollideHasher(self.0, 0)
    }
}
impl Hasher for CollideHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.1 = (self.1 << 8) | b as u64;
        }
    }
    fn write_u16(&mut self, k: u16) {
        self.1 = k as u64;
    }
    fn finish(&self) -> u64 {
        let mut z = (self.1 % self.0).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// A value whose drops are counted.
struct Val {
    v: u32,
    drops: Arc<AtomicUsize>,
}
impl Drop for Val {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
    }
}

struct Harness<'m> {
    map: &'m HashMap<u16, Val, CollideState>,
    model: Model<u16, u32>,
    made: Arc<AtomicUsize>,
    drops: Arc<AtomicUsize>,
    held: Vec<(Ref<'m, u16, Val>, u32)>,
}

impl<'m> Harness<'m> {
    fn val(&self, v: u32) -> Val {
        self.made.fetch_add(1, SeqCst);
        Val {
            v,
            drops: Arc::clone(&self.drops),
        }
    }

    fn contents(&self) -> Model<u16, u32> {
        let mut seen = Model::new();
        for r in self.map.iter() {
            assert!(
                seen.insert(*r.key(), r.v).is_none(),
                "key {} yielded twice",
                r.key()
            );
        }
        seen
    }

    fn run(&mut self, op: &FOp, nested: bool) {
        let map = self.map;
        match *op {
            FOp::Insert(k, v) => {
                let k = k as u16;
                let prev = map.insert(k, self.val(v as u32)).map(|r| r.v);
                assert_eq!(prev, self.model.insert(k, v as u32));
            }
            FOp::Remove(k) => {
                let k = k as u16;
                assert_eq!(map.remove(&k).map(|r| r.v), self.model.remove(&k));
            }
            FOp::Get(k) => {
                let k = k as u16;
                assert_eq!(map.get(&k).map(|r| r.v), self.model.get(&k).copied());
                assert_eq!(map.contains_key(&k), self.model.contains_key(&k));
            }
            FOp::Update(k, d) => {
                let k = k as u16;
                let got = map
                    .update(&k, |old| self.val(old.v.wrapping_add(d as u32)))
                    .map(|r| r.v);
                let want = self.model.get_mut(&k).map(|v| {
                    *v = v.wrapping_add(d as u32);
                    *v
                });
                assert_eq!(got, want);
            }
            FOp::Compute(k, decision) => {
                let k = k as u16;
                let before = self.model.get(&k).copied();
                let result = map.compute(k, |cur| match decision {
                    Decision::Keep => Op::Keep,
                    Decision::Remove => Op::Remove,
                    Decision::Insert(v) => Op::Insert(self.val(v as u32)),
                    Decision::Increment => {
                        Op::Insert(self.val(cur.map_or(1, |c| c.v.wrapping_add(1))))
                    }
                });
                let got = match result {
                    Computed::Unchanged(r) => ('u', r.map(|r| r.v), None),
                    Computed::Inserted(r) => ('i', None, Some(r.v)),
                    Computed::Replaced { old, new } => ('r', Some(old.v), Some(new.v)),
                    Computed::Removed(r) => ('d', Some(r.v), None),
                };
                let after = match decision {
                    Decision::Keep => before,
                    Decision::Remove => None,
                    Decision::Insert(v) => Some(v as u32),
                    Decision::Increment => Some(before.map_or(1, |b| b.wrapping_add(1))),
                };
                let want = match (before, after, decision) {
                    (b, _, Decision::Keep) | (b @ None, _, Decision::Remove) => ('u', b, None),
                    (Some(b), None, _) => ('d', Some(b), None),
                    (None, Some(a), _) => ('i', None, Some(a)),
                    (Some(b), Some(a), _) => ('r', Some(b), Some(a)),
                    (None, None, _) => unreachable!(),
                };
                assert_eq!(got, want, "compute {decision:?} on {before:?}");
                match after {
                    Some(a) => self.model.insert(k, a),
                    None => self.model.remove(&k),
                };
            }
            FOp::GetOrInsert(k, v) => {
                let k = k as u16;
                let mut ran = false;
                let got = map
                    .get_or_insert_with(k, || {
                        ran = true;
                        self.val(v as u32)
                    })
                    .v;
                assert_eq!(ran, !self.model.contains_key(&k), "make runs iff absent");
                assert_eq!(got, *self.model.entry(k).or_insert(v as u32));
            }
            FOp::RemoveIf(k, m) => {
                let k = k as u16;
                let m = m as u32 % 4 + 1;
                let got = map.remove_if(&k, |_, v| v.v % m == 0).map(|r| r.v);
                let want = match self.model.get(&k) {
                    Some(&v) if v % m == 0 => self.model.remove(&k),
                    _ => None,
                };
                assert_eq!(got, want);
            }
            FOp::Clear => {
                map.clear();
                self.model.clear();
            }
            FOp::Retain(m) => {
                let m = m as u16 % 5 + 2;
                let mut visited = HashSet::new();
                map.retain(|k, _| {
                    assert!(visited.insert(*k), "retain visited {k} twice");
                    k % m != 0
                });
                assert_eq!(visited.len(), self.model.len(), "retain visits every entry");
                self.model.retain(|k, _| k % m != 0);
            }
            FOp::ShrinkToFit => map.shrink_to_fit(),
            FOp::Reserve(n) => map.reserve(n as usize % 4096),
            FOp::Reclaim => drop(map.reclaim()),
            FOp::Iterate => assert_eq!(self.contents(), self.model),
            FOp::Pinned(k, v) => {
                let k = k as u16;
                let p = map.pin();
                let before = p.get(&k).map(|v| v.v);
                assert_eq!(before, self.model.get(&k).copied());
                let held = p.get(&k);
                let prev = p.insert(k, self.val(v as u32)).map(|v| v.v);
                assert_eq!(prev, self.model.insert(k, v as u32));
                assert_eq!(p.get(&k).map(|v| v.v), Some(v as u32));
                assert_eq!(held.map(|v| v.v), before, "a pinned &V changed");
                assert_eq!(p.iter().count(), self.model.len());
            }
            FOp::Hold(k) => {
                let k = k as u16;
                if self.held.len() < 4 {
                    if let Some(r) = map.get(&k) {
                        let v = r.v;
                        self.held.push((r, v));
                    }
                }
            }
            FOp::Release => {
                if !self.held.is_empty() {
                    self.held.remove(0);
                }
            }
            FOp::IterAround(n, ref inner) => {
                if nested {
                    return;
                }
                let before: HashSet<u16> = self.model.keys().copied().collect();
                let mut it = map.iter();
                let mut seen = HashSet::new();
                for r in it.by_ref().take(n as usize) {
                    assert!(seen.insert(*r.key()));
                }
                self.run(inner, true);
                for r in it {
                    assert!(seen.insert(*r.key()), "key {} yielded twice", r.key());
                }
                // Every key present before and after the mutation was
                // present throughout (single thread): it must be yielded.
                for k in before.iter().filter(|k| self.model.contains_key(k)) {
                    assert!(seen.contains(k), "iteration missed {k}");
                }
                // And nothing that was never present.
                for k in &seen {
                    assert!(
                        before.contains(k) || self.model.contains_key(k),
                        "phantom {k}"
                    );
                }
            }
        }
        for (r, v) in &self.held {
            assert_eq!(r.v, *v, "a held Ref changed");
        }
        assert_eq!(map.len(), self.model.len(), "len after {op:?}");
    }
}

fuzz_target!(|input: Input| {
    let shards = 1usize << (input.shards_log2 % 4);
    let mode = match input.step {
        0 => ResizeMode::Blocking,
        n => ResizeMode::Incremental {
            step: (n as usize - 1) % 8 + 1,
        },
    };
    let map: HashMap<u16, Val, CollideState> = HashMap::builder()
        .shards(shards)
        .capacity(input.capacity as usize % 32)
        .auto_shrink(input.auto_shrink)
        .resize_mode(mode)
        .hasher(CollideState(input.collide as u64 % 64 + 1))
        .build()
        .unwrap();
    let made = Arc::new(AtomicUsize::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    {
        let mut h = Harness {
            map: &map,
            model: Model::new(),
            made: Arc::clone(&made),
            drops: Arc::clone(&drops),
            held: Vec::new(),
        };
        for op in input.ops.iter().take(512) {
            h.run(op, false);
        }
        assert_eq!(h.contents(), h.model);
        let stats = map.stats();
        assert_eq!(stats.len, h.model.len());
        h.held.clear();
        // Everything retired is freed once reclaimed (one thread, no pins).
        let mut pending = usize::MAX;
        for _ in 0..64 {
            pending = map.reclaim().pending_objects;
            if pending == 0 {
                break;
            }
        }
        assert_eq!(pending, 0, "retired objects never reclaimed");
        assert_eq!(
            made.load(SeqCst) - drops.load(SeqCst),
            map.len(),
            "live values != entries: a leak or a double drop"
        );
    }
    drop(map);
    assert_eq!(
        made.load(SeqCst),
        drops.load(SeqCst),
        "values leaked by drop"
    );
});
