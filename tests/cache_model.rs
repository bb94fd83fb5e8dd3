//! The cache against a simple single-threaded model (proptest).
//!
//! The model keeps what the cache must hold: each key's value, weight and
//! deadline (time to live, time to idle and an `Expiry` whose rules depend
//! on the key and value), on a mock clock. It cannot know which entries the
//! policy picks for eviction, so the listener tells it: every departure the
//! cache reports is checked against the model (the key held that value; a
//! `Size` eviction only of a live entry and only when the bound required
//! one; `Expired` only past the deadline; `Replaced` and `Explicit` exactly
//! when an operation implies them) and applied to it. After every operation
//! the cache must then agree with the model on every read, on
//! `entry_count`, `weighted_size` and `iter`, and stay within its bound.

mod common;

use std::collections::HashMap as StdMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use evacmap::cache::{Expiry, MockClock, RemovalCause};
use evacmap::Cache;
use proptest::prelude::*;

const NEVER: u64 = u64::MAX;
const TTL: u64 = 20_000; // ms
const TTI: u64 = 7_000;

/// The per-entry rules (the model applies the same ones by hand).
struct Rules;

fn custom_create(key: u64) -> Option<u64> {
    (key % 3 == 0).then_some(5_000)
}
fn custom_read(key: u64, left: Option<u64>) -> Option<u64> {
    if key % 5 == 0 {
        Some(6_000)
    } else {
        left
    }
}
fn custom_update(value: u64, left: Option<u64>) -> Option<u64> {
    if value % 2 == 0 {
        None
    } else {
        left
    }
}
fn weight_of(value: u64) -> u64 {
    value % 5
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

impl Expiry<u64, u64> for Rules {
    fn expire_after_create(&self, key: &u64, _: &u64, _: Instant) -> Option<Duration> {
        custom_create(*key).map(Duration::from_millis)
    }
    fn expire_after_read(
        &self,
        key: &u64,
        _: &u64,
        _: Instant,
        left: Option<Duration>,
        _: Instant,
    ) -> Option<Duration> {
        custom_read(*key, left.map(ms)).map(Duration::from_millis)
    }
    fn expire_after_update(
        &self,
        _: &u64,
        value: &u64,
        _: Instant,
        left: Option<Duration>,
    ) -> Option<Duration> {
        custom_update(*value, left.map(ms)).map(Duration::from_millis)
    }
}

#[derive(Clone, Debug)]
enum Op {
    Insert(u64, u64),
    Get(u64),
    Peek(u64),
    Contains(u64),
    Remove(u64),
    Invalidate(u64),
    InvalidateAll,
    InvalidateOdd,
    Advance(u64),
    SetMax(u64),
    RunPending,
    GetWith(u64, u64),
    TryGetWithErr(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..24u64;
    prop_oneof![
        8 => (key.clone(), 0..1000u64).prop_map(|(k, v)| Op::Insert(k, v)),
        6 => key.clone().prop_map(Op::Get),
        1 => key.clone().prop_map(Op::Peek),
        1 => key.clone().prop_map(Op::Contains),
        2 => key.clone().prop_map(Op::Remove),
        1 => key.clone().prop_map(Op::Invalidate),
        1 => Just(Op::InvalidateAll),
        1 => Just(Op::InvalidateOdd),
        3 => (0..6_000u64).prop_map(Op::Advance),
        1 => (0..40u64).prop_map(Op::SetMax),
        1 => Just(Op::RunPending),
        3 => (key.clone(), 0..1000u64).prop_map(|(k, v)| Op::GetWith(k, v)),
        1 => key.prop_map(Op::TryGetWithErr),
    ]
}

#[derive(Clone, Copy, Debug)]
struct Held {
    value: u64,
    weight: u64,
    written: u64,
    custom: u64,
    deadline: u64,
}

struct Model {
    held: StdMap<u64, Held>,
    max: u64,
    now: u64,
}

fn add(t: u64, d: Option<u64>) -> u64 {
    d.map_or(NEVER, |d| t + d)
}

impl Model {
    fn deadline(written: u64, touched: u64, custom: u64) -> u64 {
        (written + TTL).min(touched + TTI).min(custom)
    }

    fn live(&self, key: u64) -> Option<Held> {
        self.held
            .get(&key)
            .copied()
            .filter(|h| self.now < h.deadline)
    }

    fn weight(&self) -> u64 {
        self.held.values().map(|h| h.weight).sum()
    }

    /// A new value for `key` written now (`previous`: the live entry it
    /// replaces, if any).
    fn written(&self, key: u64, value: u64, previous: Option<Held>) -> Held {
        let left = |h: Held| (h.custom != NEVER).then(|| h.custom.saturating_sub(self.now));
        let custom = match previous {
            None => add(self.now, custom_create(key)),
            Some(p) => add(self.now, custom_update(value, left(p))),
        };
        Held {
            value,
            weight: weight_of(value),
            written: self.now,
            custom,
            deadline: Self::deadline(self.now, self.now, custom),
        }
    }

    /// A hit's effect on `key`.
    fn touch(&mut self, key: u64) {
        let now = self.now;
        let h = self.held.get_mut(&key).unwrap();
        let left = (h.custom != NEVER).then(|| h.custom.saturating_sub(now));
        h.custom = add(now, custom_read(key, left));
        h.deadline = Self::deadline(h.written, now, h.custom);
    }
}

/// Events the operation itself implies (the rest must be evictions or
/// expirations the model accepts).
type Event = (u64, u64, RemovalCause);

struct Run {
    cache: Cache<u64, u64, common::SeededState>,
    clock: MockClock,
    log: Arc<Mutex<Vec<Event>>>,
    model: Model,
}

impl Run {
    fn new(max: u64) -> Self {
        let clock = MockClock::new();
        let log: Arc<Mutex<Vec<Event>>> = Arc::default();
        let l = log.clone();
        let cache = Cache::builder()
            .max_capacity(max)
            .weigher(|_, v: &u64| weight_of(*v) as u32)
            .time_to_live(Duration::from_millis(TTL))
            .time_to_idle(Duration::from_millis(TTI))
            .expire_after(Rules)
            .clock(clock.clone())
            .eviction_listener(move |k, v, cause| l.lock().unwrap().push((*k, v, cause)))
            // A fixed seed: a failing case shrinks and replays the same.
            .build_with_hasher(common::SeededState(7));
        Run {
            cache,
            clock,
            log,
            model: Model {
                held: StdMap::new(),
                max,
                now: 0,
            },
        }
    }

    /// Removes `key` from the model as an operation does: the event it
    /// implies (`cause` if live, `Expired` if expired), if it was held.
    fn take(&mut self, key: u64, cause: RemovalCause, expected: &mut Vec<Event>) -> Option<Held> {
        let h = self.model.held.remove(&key)?;
        let live = self.model.now < h.deadline;
        expected.push((
            key,
            h.value,
            if live { cause } else { RemovalCause::Expired },
        ));
        live.then_some(h)
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let mut expected: Vec<Event> = Vec::new();
        let c = &self.cache;
        match *op {
            Op::Insert(k, v) => {
                c.insert(k, v);
                let old = self.take(k, RemovalCause::Replaced, &mut expected);
                let new = self.model.written(k, v, old);
                if new.weight > self.model.max {
                    expected.push((k, v, RemovalCause::Size));
                } else {
                    self.model.held.insert(k, new);
                }
            }
            Op::Get(k) => {
                let want = self.model.live(k).map(|h| h.value);
                prop_assert_eq!(c.get(&k), want, "get {}", k);
                if want.is_some() {
                    self.model.touch(k);
                }
            }
            Op::Peek(k) => prop_assert_eq!(c.peek(&k), self.model.live(k).map(|h| h.value)),
            Op::Contains(k) => prop_assert_eq!(c.contains_key(&k), self.model.live(k).is_some()),
            Op::Remove(k) => {
                let got = c.remove(&k);
                let want = self
                    .take(k, RemovalCause::Explicit, &mut expected)
                    .map(|h| h.value);
                prop_assert_eq!(got, want);
            }
            Op::Invalidate(k) => {
                c.invalidate(&k);
                self.take(k, RemovalCause::Explicit, &mut expected);
            }
            Op::InvalidateAll => {
                c.invalidate_all();
                let keys: Vec<u64> = self.model.held.keys().copied().collect();
                for k in keys {
                    self.take(k, RemovalCause::Explicit, &mut expected);
                }
            }
            Op::InvalidateOdd => {
                c.invalidate_entries_if(|_, v| v % 2 == 1).unwrap();
                // Expired entries go too, whatever the predicate.
                let keys: Vec<u64> = self.model.held.keys().copied().collect();
                for k in keys {
                    let h = self.model.held[&k];
                    if h.value % 2 == 1 || self.model.now >= h.deadline {
                        self.take(k, RemovalCause::Explicit, &mut expected);
                    }
                }
            }
            Op::Advance(d) => {
                self.clock.advance(Duration::from_millis(d));
                self.model.now += d;
            }
            Op::SetMax(m) => {
                c.set_max_capacity(m);
                self.model.max = m;
            }
            Op::RunPending => {
                c.run_pending_tasks();
                let keys: Vec<u64> = self.model.held.keys().copied().collect();
                for k in keys {
                    if self.model.now >= self.model.held[&k].deadline {
                        self.take(k, RemovalCause::Expired, &mut expected);
                    }
                }
            }
            Op::GetWith(k, v) => {
                let got = c.get_with(k, || v);
                match self.model.live(k) {
                    Some(h) => {
                        prop_assert_eq!(got, h.value);
                        self.model.touch(k);
                    }
                    None => {
                        prop_assert_eq!(got, v);
                        self.take(k, RemovalCause::Expired, &mut expected);
                        let new = self.model.written(k, v, None);
                        if new.weight > self.model.max {
                            expected.push((k, v, RemovalCause::Size));
                        } else {
                            self.model.held.insert(k, new);
                        }
                    }
                }
            }
            Op::TryGetWithErr(k) => {
                let got = c.try_get_with(k, || Err::<u64, ()>(()));
                let want = self.model.live(k).map(|h| h.value);
                prop_assert_eq!(got.ok(), want);
                if want.is_some() {
                    self.model.touch(k);
                }
            }
        }
        self.settle(expected)
    }

    /// Matches the departures the cache reported against the model.
    fn settle(&mut self, mut expected: Vec<Event>) -> Result<(), TestCaseError> {
        let events: Vec<Event> = std::mem::take(&mut *self.log.lock().unwrap());
        let mut evicted_last: Option<u64> = None;
        let mut expired_weight = 0;
        for &(k, v, cause) in &events {
            if let Some(at) = expected.iter().position(|e| *e == (k, v, cause)) {
                expected.swap_remove(at);
                continue;
            }
            // Not implied by the operation: an eviction or an expiration.
            let held = self.model.held.get(&k).copied();
            prop_assert!(
                held.is_some_and(|h| h.value == v),
                "departure {:?} of a value the cache should not hold ({:?})",
                (k, v, cause),
                held
            );
            let h = held.unwrap();
            let expired = self.model.now >= h.deadline;
            match cause {
                RemovalCause::Size => {
                    prop_assert!(!expired, "an expired entry evicted for size: {:?}", (k, v));
                    evicted_last = Some(h.weight);
                }
                RemovalCause::Expired => {
                    prop_assert!(
                        expired,
                        "expired early: {:?} deadline {} now {}",
                        (k, v),
                        h.deadline,
                        self.model.now
                    );
                    expired_weight += h.weight;
                }
                other => prop_assert!(false, "unexplained {:?} of {:?}", other, (k, v)),
            }
            self.model.held.remove(&k);
        }
        prop_assert!(
            expected.is_empty(),
            "departures not reported: {:?} (reported {:?})",
            expected,
            events
        );
        let weight = self.model.weight();
        if let Some(last) = evicted_last {
            prop_assert!(
                weight + expired_weight + last > self.model.max,
                "evicted more than the bound required: {} + {} + {} <= {}",
                weight,
                expired_weight,
                last,
                self.model.max
            );
        }
        let c = &self.cache;
        prop_assert_eq!(c.weighted_size(), weight);
        prop_assert!(weight <= self.model.max);
        prop_assert_eq!(c.entry_count(), self.model.held.len() as u64);
        let mut listed: Vec<(u64, u64)> = c.iter().map(|(k, v)| (*k, v)).collect();
        listed.sort_unstable();
        let mut live: Vec<(u64, u64)> = self
            .model
            .held
            .iter()
            .filter(|(_, h)| self.model.now < h.deadline)
            .map(|(&k, h)| (k, h.value))
            .collect();
        live.sort_unstable();
        prop_assert_eq!(listed, live);
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 1000 },
        failure_persistence: None,
        max_shrink_iters: 20_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_cache_matches_the_model(max in 0..40u64, ops in prop::collection::vec(op(), 1..200)) {
        let mut run = Run::new(max);
        for op in &ops {
            run.step(op)?;
        }
    }
}
