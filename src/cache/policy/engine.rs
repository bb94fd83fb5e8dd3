//! The policy: S3-FIFO's layout with an adaptive door into main.
//!
//! Every new key enters the small FIFO ([`SmallQueue`]); main is swept by a
//! CLOCK hand in hash order ([`Clock`]). When the small queue is over its
//! share of the capacity, its oldest entry leaves it, either into main or out
//! of the cache (then its hash becomes a ghost). Which way is decided by one
//! of two rules ([`Rule`]), picked per key by set dueling ([`Duel`]):
//! recency (S3-FIFO: hit while small → main) or frequency (TinyLFU: more
//! frequent than main's victim → main, per the [`Sketch`]). The small share
//! is hill-climbed ([`Climb`]). A new key that is a ghost goes straight to
//! main under the recency rule.
//!
//! Hits never reach the policy: they raise the entry's access counter. The
//! policy reads the counters where it meets entries (the small queue's pop,
//! the hand) and passes what they say on to the sketch, which also counts
//! every insert of a new key (a miss).
//!
//! Invariants (kept by this file):
//! - `weight` and `len` are the sums over the entries the store holds that
//!   the policy was told of (`on_insert`, `on_replace`), minus those it was
//!   told are gone (`on_remove`) or evicted successfully; `small_weight` and
//!   `small_len` are the same over entries whose region is `Small`;
//! - those entries' regions are only ever set here: `Small` from insert
//!   until the small queue lets them go, `Main` after;
//! - `evict` returns with `weight <= max_weight` unless the store refused
//!   evictions (an entry removed concurrently, whose `on_remove` is still to
//!   come), and each of its steps removes an entry, moves one out of the
//!   small queue, or lowers a counter: it terminates;
//! - new keys are never starved: each new key is kept at least until the
//!   next one arrives, while the cache holds another entry, even where the
//!   small queue's share is less than one entry (a tiny cache, a heavy
//!   entry) and main is full of entries the door would defend at equal
//!   frequency. The small queue's oldest entry leaves it for being over its
//!   share only while another small entry is left, and the eviction that
//!   a returning ghost's insert causes spares it in main (the small queue
//!   gives an entry instead, or the hand passes over it).

use super::climb::Climb;
use super::clock::Clock;
use super::duel::{Admission, Duel, Rule};
use super::ghost::Ghosts;
use super::sketch::Sketch;
use super::small::SmallQueue;
use super::{mix64, Region, Store, MAX_FREQ};

/// A candidate at least this frequent that loses to main's victim is still
/// admitted now and then ([`ADMIT_ONE_IN`]), so that an attacker (or a
/// workload) cannot keep a frequent set out forever by inflating victims'
/// counts through sketch collisions.
const RANDOM_ADMIT_MIN: u8 = 6;
/// One in this many such candidates is admitted.
const ADMIT_ONE_IN: u64 = 128;

/// Entries the small queue may hold beyond its share of the entry count
/// while the cache has room.
const SMALL_SLACK: f64 = 32.0;

/// How the policy is set up. `PolicyConfig::new(max)` is the policy the
/// cache uses; the switches exist for the replay tool's ablations.
#[derive(Clone, Copy, Debug)]
pub struct PolicyConfig {
    /// The capacity, in weight units.
    pub max_weight: u64,
    /// Seeds the policy's own hashing and random choices.
    pub seed: u64,
    /// The door into main (set dueling, or one rule throughout).
    pub admission: Admission,
    /// Whether the small queue's share is hill-climbed (else fixed at its
    /// initial 5%).
    pub climb: bool,
    /// Hits while in the small queue that let a key into main under the
    /// recency rule (S3-FIFO's threshold), `1..=MAX_FREQ`.
    pub promote_after: u8,
    /// Whether evicted small keys are remembered as ghosts.
    pub ghosts: bool,
    /// Whether the hand's sweep tells the sketch about hits it finds.
    pub sweep_feeds_sketch: bool,
    /// Whether a frequent candidate that lost to main's victim is sometimes
    /// admitted anyway.
    pub random_admission: bool,
}

impl PolicyConfig {
    /// The default policy for a capacity of `max_weight`.
    pub fn new(max_weight: u64) -> Self {
        PolicyConfig {
            max_weight,
            seed: 0x9e37_79b9_7f4a_7c15,
            admission: Admission::Duel,
            climb: true,
            promote_after: 1,
            ghosts: true,
            sweep_feeds_sketch: true,
            random_admission: true,
        }
    }
}

/// The eviction policy. Single-threaded: the cache calls it under a lock.
pub struct Policy {
    config: PolicyConfig,
    max_weight: u64,
    weight: u64,
    len: u64,
    small_weight: u64,
    small_len: u64,
    /// The id of the entry placed since the last [`Policy::evict`], if it
    /// was a new key: the eviction its insert causes spares it.
    newest: Option<u64>,
    small: SmallQueue,
    clock: Clock,
    ghosts: Ghosts,
    sketch: Sketch,
    duel: Duel,
    climb: Climb,
    rng: u64,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("max_weight", &self.max_weight)
            .field("weight", &self.weight)
            .field("len", &self.len)
            .field("small_weight", &self.small_weight)
            .field("small_len", &self.small_len)
            .field("small_share", &self.climb.share())
            .field("follower_rule", &self.duel.follow())
            .finish_non_exhaustive()
    }
}

impl Policy {
    /// An empty policy.
    pub fn new(config: PolicyConfig) -> Self {
        Policy {
            config,
            max_weight: config.max_weight,
            weight: 0,
            len: 0,
            small_weight: 0,
            small_len: 0,
            newest: None,
            small: SmallQueue::new(),
            clock: Clock::new(),
            ghosts: Ghosts::new(),
            sketch: Sketch::new(),
            duel: Duel::new(config.admission),
            climb: Climb::new(config.climb),
            rng: config.seed,
        }
    }

    /// The policy's own hash of an entry's hash (sketch, ghosts, duel).
    #[inline]
    fn key(&self, hash: u64) -> u64 {
        mix64(hash ^ self.config.seed)
    }

    /// A new key was added to the store: the policy places it (small queue,
    /// or main for a returning ghost under the recency rule) and accounts
    /// its weight. Evicts nothing; call [`Policy::evict`] after.
    pub fn on_insert<S: Store>(&mut self, store: &mut S, entry: S::Handle) {
        let k = self.key(store.hash(entry));
        self.weight += store.weight(entry);
        self.len += 1;
        self.sketch.add(k, 1);
        self.duel.on_miss(k);
        self.climb.on_miss(store, self.len);
        store.set_freq(entry, 0);
        self.newest = Some(store.id(entry));
        let ghost = self.config.ghosts && self.ghosts.contains(k);
        if ghost && self.duel.rule(k) == Rule::Recency {
            store.set_region(entry, Region::Main);
        } else {
            self.enter_small(store, entry);
        }
    }

    /// The same key got a new entry: `new` takes `old`'s place (its region
    /// and counter). `old` is already out of the store but still readable.
    pub fn on_replace<S: Store>(&mut self, store: &mut S, old: S::Handle, new: S::Handle) {
        let (old_weight, new_weight) = (store.weight(old), store.weight(new));
        self.weight = self.weight - old_weight + new_weight;
        store.set_freq(new, store.freq(old));
        match store.region(old) {
            Region::Main => store.set_region(new, Region::Main),
            Region::Small => {
                self.small_weight -= old_weight;
                self.small_len -= 1;
                self.enter_small(store, new);
                self.small.tidy(store, self.small_len);
            }
        }
    }

    /// `entry` was removed by the user or by expiry (not by the policy); it
    /// is already out of the store but still readable.
    pub fn on_remove<S: Store>(&mut self, store: &mut S, entry: S::Handle) {
        self.weight -= store.weight(entry);
        self.len -= 1;
        if store.region(entry) == Region::Small {
            self.small_weight -= store.weight(entry);
            self.small_len -= 1;
            self.small.tidy(store, self.small_len);
        }
        self.sketch.fit(self.len);
        self.ghosts.fit(self.len);
    }

    fn enter_small<S: Store>(&mut self, store: &mut S, entry: S::Handle) {
        store.set_region(entry, Region::Small);
        self.small.push(store.hash(entry), store.id(entry));
        self.small_weight += store.weight(entry);
        self.small_len += 1;
    }

    /// Evicts (through [`Store::evict`]) until the weight is within the
    /// capacity.
    pub fn evict<S: Store>(&mut self, store: &mut S) {
        // inject: cache-bound-off-by-one
        while self.weight > self.max_weight {
            // The small queue keeps its newest entry while main has one
            // (see the invariants).
            // inject: cache-small-evicts-newest
            let small_over = self.small_weight as f64 > self.small_target() && self.small_len > 1;
            let main_empty = self.len == self.small_len;
            let small_first = (small_over || main_empty) && self.small_len > 0;
            let progressed = (small_first && self.leave_small(store))
                || self.evict_main(store)
                || self.leave_small(store);
            if !progressed {
                break;
            }
        }
        // While there is room nothing is evicted, and without this every
        // entry would sit in the small queue (16 bytes of queue each).
        while self.small_len as f64 > self.climb.share() * self.len as f64 + SMALL_SLACK {
            let Some(e) = self.small.pop(store) else {
                break;
            };
            let weight = store.weight(e);
            if !store.expired(e) {
                self.small_weight -= weight;
                self.small_len -= 1;
                store.set_region(e, Region::Main);
            } else if store.evict(e) {
                self.small_weight -= weight;
                self.small_len -= 1;
                self.weight -= weight;
                self.len -= 1;
            }
        }
        self.small.tidy(store, self.small_len);
        self.sketch.fit(self.len);
        self.ghosts.fit(self.len);
        self.newest = None;
    }

    /// The small queue's target weight.
    fn small_target(&self) -> f64 {
        self.max_weight as f64 * self.climb.share()
    }

    /// The oldest small entry leaves the queue: into main or out of the
    /// cache. False if the queue had no live entry.
    fn leave_small<S: Store>(&mut self, store: &mut S) -> bool {
        let Some(e) = self.small.pop(store) else {
            return false;
        };
        let k = self.key(store.hash(e));
        let freq = store.freq(e);
        if self.config.sweep_feeds_sketch {
            self.sketch.add(k, freq);
        }
        // With main empty the frequency rule has no victim to compare
        // with: admitting would only make the next small entry (in a tiny
        // cache, the one just inserted) the victim, so recency decides.
        // inject: cache-door-without-victim
        let rule = if self.len == self.small_len {
            Rule::Recency
        } else {
            self.duel.rule(k)
        };
        let admit = !store.expired(e)
            && match rule {
                Rule::Recency => freq >= self.config.promote_after,
                Rule::Frequency => self.beats_victim(store, k),
            };
        let weight = store.weight(e);
        if admit {
            self.small_weight -= weight;
            self.small_len -= 1;
            store.set_region(e, Region::Main);
            store.set_freq(e, freq.saturating_sub(1));
        } else {
            if self.config.ghosts && !store.expired(e) {
                self.ghosts.insert(k);
            }
            if store.evict(e) {
                self.small_weight -= weight;
                self.small_len -= 1;
                self.weight -= weight;
                self.len -= 1;
            }
        }
        true
    }

    /// TinyLFU's door: whether the candidate (policy hash `k`) is more
    /// frequent than main's next victim.
    fn beats_victim<S: Store>(&mut self, store: &mut S, k: u64) -> bool {
        let Some(victim) = self.main_victim(store) else {
            return true;
        };
        if store.expired(victim) {
            return true;
        }
        let theirs = self.sketch.estimate(self.key(store.hash(victim)));
        let ours = self.sketch.estimate(k);
        if ours > theirs {
            return true;
        }
        self.config.random_admission
            && ours >= RANDOM_ADMIT_MIN
            && self.random() % ADMIT_ONE_IN == 0
    }

    /// Main's next victim (the hand stays on it).
    fn main_victim<S: Store>(&mut self, store: &mut S) -> Option<S::Handle> {
        if self.len == self.small_len {
            return None;
        }
        let budget = (u64::from(MAX_FREQ) + 1) * self.len + 16;
        let (sketch, seed, feed) = (
            &mut self.sketch,
            self.config.seed,
            self.config.sweep_feeds_sketch,
        );
        self.clock.victim(store, budget, |hash| {
            if feed {
                sketch.add(mix64(hash ^ seed), 1);
            }
        })
    }

    /// Evicts main's next victim. False if main is empty, or if the victim
    /// is the newest key while the small queue has an entry to give instead.
    fn evict_main<S: Store>(&mut self, store: &mut S) -> bool {
        let Some(mut victim) = self.main_victim(store) else {
            return false;
        };
        // A returning ghost went straight to main: the eviction its own
        // insert causes spares it (new keys are never starved). The small
        // queue gives an entry instead, or else the hand passes over it.
        // inject: cache-main-evicts-newest
        if self.newest == Some(store.id(victim)) {
            if self.small_len > 0 {
                return false;
            }
            if self.len > 1 {
                self.clock.pass(store);
                let Some(next) = self.main_victim(store) else {
                    return false;
                };
                victim = next;
            }
        }
        let weight = store.weight(victim);
        if store.evict(victim) {
            self.weight -= weight;
            self.len -= 1;
        }
        true
    }

    fn random(&mut self) -> u64 {
        // xorshift64*: deterministic given the seed.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The weight of the entries the policy holds.
    pub fn weight(&self) -> u64 {
        self.weight
    }

    /// The number of entries the policy holds.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the policy holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The capacity, in weight units.
    pub fn max_weight(&self) -> u64 {
        self.max_weight
    }

    /// Changes the capacity; a smaller one takes effect at the next
    /// [`Policy::evict`].
    pub fn set_max_weight(&mut self, max_weight: u64) {
        self.max_weight = max_weight;
    }

    /// The store was emptied wholesale: forget everything and give the
    /// memory back.
    pub fn clear(&mut self) {
        self.newest = None;
        self.weight = 0;
        self.len = 0;
        self.small_weight = 0;
        self.small_len = 0;
        self.small.clear();
        self.clock.clear();
        self.ghosts.clear();
        self.sketch.clear();
        self.duel.clear();
        self.climb.clear();
    }

    /// Bytes held by the policy's own structures (queue, ghosts, sketch).
    pub fn heap_bytes(&self) -> usize {
        self.small.heap_bytes() + self.ghosts.heap_bytes() + self.sketch.heap_bytes()
    }

    /// [`Policy::heap_bytes`] by structure: small queue, ghosts, sketch.
    pub fn heap_bytes_by_part(&self) -> [(&'static str, usize); 3] {
        [
            ("small queue", self.small.heap_bytes()),
            ("ghosts", self.ghosts.heap_bytes()),
            ("sketch", self.sketch.heap_bytes()),
        ]
    }

    /// The small queue's current share of the capacity (for the replay
    /// tool's reports).
    pub fn small_share(&self) -> f64 {
        self.climb.share()
    }

    /// The rule followers use now (for the replay tool's reports).
    pub fn follower_rule(&self) -> Rule {
        self.duel.follow()
    }

    /// Items in the small queue, live and stale (for tests).
    pub fn small_items(&self) -> usize {
        self.small.len()
    }
}
