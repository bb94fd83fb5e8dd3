//! A single-threaded in-memory [`Store`] driving a [`Policy`], for the
//! replay tool (`benches/hit_ratio.rs`) and the policy's tests.
//!
//! It behaves as the cache does where the policy can tell: a hit raises the
//! entry's counter by one, saturating at [`MAX_FREQ`], and never calls the
//! policy; an insert of a new key calls [`Policy::on_insert`] then
//! [`Policy::evict`]; a replaced key gets a new entry with a new id.
//!
//! Keys are hashed with [`mix64`] (seeded), so distinct keys never share a
//! hash. Entries live in a slab; the walk order is a `BTreeMap` from position
//! to slot. In [`Order::Hash`] (the cache's order) the position is the hash.
//! [`Order::Insertion`] exists only to measure what hash order costs: there
//! an entry's position is renewed when it enters main and whenever the hand
//! lowers its counter, so the hand walks main as a FIFO with reinsertion (the
//! classic CLOCK ring).
//!
//! Invariants: `index` maps the hash of every live entry to its slot, and
//! `order` maps its position to it; a slot freed during a policy call is
//! reused only after the call (a removed entry stays readable for it).

use super::{mix64, Policy, PolicyConfig, Region, Store, MAX_FREQ};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

/// The order the CLOCK hand walks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Hash order, as in the cache.
    Hash,
    /// Insertion order into main, with reinsertion on a lowered counter.
    Insertion,
}

/// The keys of `index` are already mixed hashes: pass them through.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys")
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

struct Slot {
    hash: u64,
    id: u64,
    weight: u64,
    position: Cell<u64>,
    freq: Cell<u8>,
    region: Cell<Region>,
    expired: bool,
}

/// The entries, as the policy sees them.
struct Table {
    slots: Vec<Slot>,
    free: Vec<u32>,
    released: Vec<u32>,
    index: HashMap<u64, u32, BuildHasherDefault<PassThrough>>,
    order: RefCell<BTreeMap<u64, u32>>,
    mode: Order,
    next_position: Cell<u64>,
    next_id: u64,
    requests: u64,
}

impl Table {
    fn slot(&self, h: u32) -> &Slot {
        &self.slots[h as usize]
    }

    /// Moves `slot` to the end of the insertion order.
    fn renew(&self, h: u32) {
        let slot = self.slot(h);
        let mut order = self.order.borrow_mut();
        order.remove(&slot.position.get());
        let position = self.next_position.get();
        self.next_position.set(position + 1);
        slot.position.set(position);
        order.insert(position, h);
    }

    fn unlink(&mut self, h: u32) {
        let slot = &self.slots[h as usize];
        self.index.remove(&slot.hash);
        self.order.get_mut().remove(&slot.position.get());
        self.released.push(h);
    }

    fn add(&mut self, hash: u64, weight: u64) -> u32 {
        let position = match self.mode {
            Order::Hash => hash,
            Order::Insertion => {
                let p = self.next_position.get();
                self.next_position.set(p + 1);
                p
            }
        };
        self.next_id += 1;
        let slot = Slot {
            hash,
            id: self.next_id,
            weight,
            position: Cell::new(position),
            freq: Cell::new(0),
            region: Cell::new(Region::Small),
            expired: false,
        };
        let h = match self.free.pop() {
            Some(h) => {
                self.slots[h as usize] = slot;
                h
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(hash, h);
        self.order.get_mut().insert(position, h);
        h
    }

    /// Makes the slots freed during the last policy call reusable.
    fn recycle(&mut self) {
        self.free.append(&mut self.released);
    }
}

impl Store for Table {
    type Handle = u32;

    fn hash(&self, e: u32) -> u64 {
        self.slot(e).hash
    }
    fn id(&self, e: u32) -> u64 {
        self.slot(e).id
    }
    fn weight(&self, e: u32) -> u64 {
        self.slot(e).weight
    }
    fn find(&mut self, hash: u64, id: u64) -> Option<u32> {
        let &h = self.index.get(&hash)?;
        (self.slot(h).id == id).then_some(h)
    }
    fn freq(&self, e: u32) -> u8 {
        self.slot(e).freq.get()
    }
    fn set_freq(&self, e: u32, freq: u8) {
        let slot = self.slot(e);
        let lowered = freq < slot.freq.get();
        slot.freq.set(freq);
        if lowered && self.mode == Order::Insertion && slot.region.get() == Region::Main {
            self.renew(e);
        }
    }
    fn region(&self, e: u32) -> Region {
        self.slot(e).region.get()
    }
    fn set_region(&self, e: u32, region: Region) {
        let slot = self.slot(e);
        let entering_main = region == Region::Main && slot.region.get() != Region::Main;
        slot.region.set(region);
        if entering_main && self.mode == Order::Insertion {
            self.renew(e);
        }
    }
    fn expired(&self, e: u32) -> bool {
        self.slot(e).expired
    }
    fn next_in_order(&mut self, hand: &mut u64) -> Option<u32> {
        let order = self.order.get_mut();
        let (&position, &h) = order
            .range(*hand..)
            .next()
            .or_else(|| order.iter().next())?;
        *hand = position.wrapping_add(1);
        Some(h)
    }
    fn requests(&mut self) -> u64 {
        self.requests
    }
    fn evict(&mut self, e: u32) -> bool {
        let slot = self.slot(e);
        if self.index.get(&slot.hash) != Some(&e) {
            return false;
        }
        self.unlink(e);
        true
    }
}

/// An in-memory store with the policy attached: the cache, minus the
/// concurrency.
pub struct SimStore {
    table: Table,
    policy: Policy,
    seed: u64,
}

impl std::fmt::Debug for SimStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimStore")
            .field("len", &self.len())
            .field("order", &self.table.mode)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl SimStore {
    /// An empty store walked in hash order.
    pub fn new(config: PolicyConfig) -> Self {
        Self::with_order(config, Order::Hash)
    }

    /// An empty store walked in the given order.
    pub fn with_order(config: PolicyConfig, mode: Order) -> Self {
        SimStore {
            table: Table {
                slots: Vec::new(),
                free: Vec::new(),
                released: Vec::new(),
                index: HashMap::default(),
                order: RefCell::new(BTreeMap::new()),
                mode,
                next_position: Cell::new(0),
                next_id: 0,
                requests: 0,
            },
            policy: Policy::new(config),
            seed: mix64(config.seed),
        }
    }

    fn hash(&self, key: u64) -> u64 {
        mix64(key ^ self.seed)
    }

    fn slot_of(&self, key: u64) -> Option<u32> {
        self.table.index.get(&self.hash(key)).copied()
    }

    /// A lookup: true on a hit, which raises the entry's counter.
    pub fn get(&mut self, key: u64) -> bool {
        self.table.requests += 1;
        match self.slot_of(key) {
            Some(h) => {
                let freq = &self.table.slot(h).freq;
                if freq.get() < MAX_FREQ {
                    freq.set(freq.get() + 1);
                }
                true
            }
            None => false,
        }
    }

    /// Whether `key` is cached (not a lookup: counts and raises nothing).
    pub fn contains(&self, key: u64) -> bool {
        self.slot_of(key).is_some()
    }

    /// Inserts or replaces `key`, then lets the policy evict.
    pub fn insert(&mut self, key: u64, weight: u64) {
        let hash = self.hash(key);
        let old = self.slot_of(key);
        if let Some(old) = old {
            self.table.unlink(old);
        }
        let new = self.table.add(hash, weight);
        match old {
            Some(old) => self.policy.on_replace(&mut self.table, old, new),
            None => self.policy.on_insert(&mut self.table, new),
        }
        self.policy.evict(&mut self.table);
        self.table.recycle();
    }

    /// Removes `key` (as a user would); false if it was not there.
    pub fn remove(&mut self, key: u64) -> bool {
        let Some(h) = self.slot_of(key) else {
            return false;
        };
        self.table.unlink(h);
        self.policy.on_remove(&mut self.table, h);
        self.table.recycle();
        true
    }

    /// Marks `key` expired: the policy evicts it when it meets it.
    pub fn expire(&mut self, key: u64) {
        if let Some(h) = self.slot_of(key) {
            self.table.slots[h as usize].expired = true;
        }
    }

    /// Changes the capacity and evicts down to it.
    pub fn set_max_weight(&mut self, max_weight: u64) {
        self.policy.set_max_weight(max_weight);
        self.policy.evict(&mut self.table);
        self.table.recycle();
    }

    /// Empties the store and the policy.
    pub fn clear(&mut self) {
        let SimStore { table, policy, .. } = self;
        table.slots.clear();
        table.free.clear();
        table.released.clear();
        table.index.clear();
        table.order.get_mut().clear();
        policy.clear();
    }

    /// Live entries.
    pub fn len(&self) -> usize {
        self.table.index.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.table.index.is_empty()
    }

    /// The sum of the live entries' weights (what the policy's `weight()`
    /// must equal).
    pub fn total_weight(&self) -> u64 {
        self.table
            .index
            .values()
            .map(|&h| self.table.slot(h).weight)
            .sum()
    }

    /// Live entries in each region, `(small, main)`.
    pub fn regions(&self) -> (usize, usize) {
        let small = self
            .table
            .index
            .values()
            .filter(|&&h| self.table.slot(h).region.get() == Region::Small)
            .count();
        (small, self.len() - small)
    }

    /// The policy, for its counters.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}
