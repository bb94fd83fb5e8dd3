//! Helpers shared by the integration tests: the drop registry
//! ([`drops`]), the resize-mode matrix ([`MODES`], [`each_mode!`]), shard
//! grouping through the public API ([`one_per_shard`], [`same_shard`]), deterministic
//! and degenerate hashers, map construction from a small configuration,
//! epoch flushing, and the watchdog and panic-output helpers of the
//! hardening tests.
#![allow(dead_code)]

pub mod drops;
pub mod linearize;

#[allow(unused_imports)]
pub use drops::{Registry, Token};

use std::any::Any;
use std::hash::{BuildHasher, Hasher};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Once};
use std::thread;
use std::time::{Duration, Instant};

use evacmap::{HashMap, ResizeMode};

/// Scales a size down under Miri.
pub const fn scaled(normal: usize, miri: usize) -> usize {
    if cfg!(miri) {
        miri
    } else {
        normal
    }
}

/// splitmix64's finaliser: a cheap, well-mixing bijection on u64.
pub fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A deterministic pseudo-random stream (xorshift64*), for tests whose
/// inputs must reproduce from a seed. `seed` must not be 0.
pub fn stream(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed;
    move || {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// A deterministic, seeded hasher: failures reproduce from the seed alone
/// (the crate's default hasher is randomly seeded per process).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeededState(pub u64);

#[derive(Clone, Debug)]
pub struct SeededHasher(u64);

impl BuildHasher for SeededState {
    type Hasher = SeededHasher;
    fn build_hasher(&self) -> SeededHasher {
        SeededHasher(mix64(self.0))
    }
}

impl Hasher for SeededHasher {
    fn finish(&self) -> u64 {
        mix64(self.0)
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = mix64(self.0 ^ u64::from_le_bytes(word)).rotate_left(chunk.len() as u32);
        }
    }
}

/// A deterministic, well-mixed hasher (splitmix64's finaliser over each
/// word written), so tests can compute which shard a key lands in.
#[derive(Clone, Copy, Debug, Default)]
pub struct MixState;

#[derive(Clone, Debug)]
pub struct Mix(u64);

impl BuildHasher for MixState {
    type Hasher = Mix;
    fn build_hasher(&self) -> Mix {
        Mix(0)
    }
}

impl Hasher for Mix {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(*b as u64);
        }
    }
    fn write_u64(&mut self, x: u64) {
        let mut z = self.0 ^ x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        self.0 = z ^ (z >> 31);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Every key hashes to the same value: one shard, one bucket chain, every
/// lookup compares keys along a long overflow chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConstState(pub u64);

impl Default for ConstState {
    fn default() -> Self {
        ConstState(0xA5A5_1234_5678_9ABC)
    }
}

#[derive(Clone, Debug)]
pub struct ConstHasher(u64);

impl BuildHasher for ConstState {
    type Hasher = ConstHasher;
    fn build_hasher(&self) -> ConstHasher {
        ConstHasher(self.0)
    }
}

impl Hasher for ConstHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _bytes: &[u8]) {}
}

/// Keys hash to one of `classes` distinct, well-spread values: many keys share
/// a full hash (long chains, equal positions) while the classes still spread
/// over shards and buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FewHashesState {
    pub classes: u64,
    pub seed: u64,
}

impl Default for FewHashesState {
    fn default() -> Self {
        FewHashesState {
            classes: 5,
            seed: 7,
        }
    }
}

#[derive(Clone, Debug)]
pub struct FewHashesHasher {
    inner: SeededHasher,
    classes: u64,
    seed: u64,
}

impl BuildHasher for FewHashesState {
    type Hasher = FewHashesHasher;
    fn build_hasher(&self) -> FewHashesHasher {
        FewHashesHasher {
            inner: SeededState(self.seed).build_hasher(),
            classes: self.classes.max(1),
            seed: self.seed,
        }
    }
}

impl Hasher for FewHashesHasher {
    fn finish(&self) -> u64 {
        mix64((self.inner.finish() % self.classes) ^ self.seed.rotate_left(17))
    }
    fn write(&mut self, bytes: &[u8]) {
        self.inner.write(bytes);
    }
}

// ---------------------------------------------------------------------------
// The configuration matrix.

/// Every resize mode the builder offers, as the contract tests run them:
/// incremental one bucket per write (the longest migrations, so operations
/// meet half-moved shards most often), incremental at the default step, and
/// blocking.
pub const MODES: [ResizeMode; 3] = [
    ResizeMode::Incremental { step: 1 },
    ResizeMode::Incremental { step: 16 },
    ResizeMode::Blocking,
];

/// Runs test functions under every mode of [`MODES`], one `#[test]` per
/// mode so that a failure names its mode. Each named function takes the
/// mode (`fn name(mode: ResizeMode)`) and builds its maps with it; the
/// macro defines a module of the same name holding `name::incremental_1`,
/// `name::incremental_16` and `name::blocking` (a harness filter naming
/// `name` runs all three). Attributes before a name go on its tests.
///
/// ```ignore
/// fn clear_frees(mode: ResizeMode) {
///     let map = common::Config::tiny(2, mode).build(SeededState(1));
///     ...
/// }
/// common::each_mode!(clear_frees, #[ignore = "soak"] long_soak);
/// ```
///
/// Under Miri only `incremental_1` runs (the others are ignored): Miri
/// interprets each test slowly, and step 1 keeps migrations pending longest.
#[allow(unused_macros)]
macro_rules! each_mode {
    ($($(#[$attr:meta])* $name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            $(#[$attr])*
            fn incremental_1() {
                super::$name($crate::common::MODES[0]);
            }

            #[test]
            #[cfg_attr(miri, ignore = "Miri runs the step-1 mode only")]
            $(#[$attr])*
            fn incremental_16() {
                super::$name($crate::common::MODES[1]);
            }

            #[test]
            #[cfg_attr(miri, ignore = "Miri runs the step-1 mode only")]
            $(#[$attr])*
            fn blocking() {
                super::$name($crate::common::MODES[2]);
            }
        }
    )*};
}
#[allow(unused_imports)]
pub(crate) use each_mode;

// ---------------------------------------------------------------------------
// Shards, through the public API only.

/// Hashes a `u64` key to itself: with it, a map's keys *are* hashes.
#[derive(Clone, Copy, Debug, Default)]
pub struct IdentityState;

#[derive(Clone, Debug, Default)]
pub struct IdentityHasher(u64);

impl BuildHasher for IdentityState {
    type Hasher = IdentityHasher;
    fn build_hasher(&self) -> IdentityHasher {
        IdentityHasher(0)
    }
}

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | b as u64;
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = x;
    }
}

/// The first item of `items` that lands in each shard of a map with
/// `shards` shards, by the item's `hash`, found without the map's private
/// shard formula: a shard allocates its table on its first insert
/// (`MapStats::tables` counts one per non-empty shard, and a blocking
/// resize never leaves two), so a hash that makes a probe map's table count
/// grow is the first of its shard. Relies only on a key's shard depending on
/// its hash and the shard count alone. Panics if `items` runs out first.
pub fn one_per_shard<T>(
    shards: usize,
    items: impl IntoIterator<Item = T>,
    hash: impl Fn(&T) -> u64,
) -> Vec<T> {
    let probe: HashMap<u64, (), IdentityState> = HashMap::builder()
        .shards(shards)
        .resize_mode(ResizeMode::Blocking)
        .hasher(IdentityState)
        .build()
        .expect("valid shard count");
    let mut firsts = Vec::with_capacity(shards);
    for item in items {
        let before = probe.stats().tables;
        probe.insert(hash(&item), ());
        if probe.stats().tables > before {
            firsts.push(item);
            if firsts.len() == shards {
                return firsts;
            }
        }
    }
    panic!("the items reached {} of {shards} shards", firsts.len());
}

/// Whether two hashes land in the same shard of a map with `shards` shards
/// (through the public API, as [`one_per_shard`]).
pub fn same_shard(shards: usize, a: u64, b: u64) -> bool {
    let probe: HashMap<u64, (), IdentityState> = HashMap::builder()
        .shards(shards)
        .hasher(IdentityState)
        .build()
        .expect("valid shard count");
    probe.insert(a, ());
    probe.insert(b, ());
    probe.stats().tables == 1
}

/// A small map configuration, as the tests draw them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    pub capacity: usize,
    pub shards: usize,
    pub mode: ResizeMode,
    pub auto_shrink: bool,
}

impl Config {
    pub fn tiny(shards: usize, mode: ResizeMode) -> Self {
        Config {
            capacity: 0,
            shards,
            mode,
            auto_shrink: true,
        }
    }

    pub fn build<K, V, S>(&self, hasher: S) -> HashMap<K, V, S> {
        HashMap::<K, V>::builder()
            .capacity(self.capacity)
            .shards(self.shards)
            .resize_mode(self.mode)
            .auto_shrink(self.auto_shrink)
            .hasher(hasher)
            .build()
            .expect("valid test configuration")
    }
}

/// Pins and flushes this thread's garbage until `done()` holds or `timeout`
/// passes. Returns whether `done()` held. Other threads of the test binary
/// may be pinned for a moment, which only delays the epoch.
pub fn flush_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() > deadline {
            return done();
        }
        for _ in 0..16 {
            crossbeam_epoch::pin().flush();
        }
        std::thread::yield_now();
    }
}

/// Reclaims until the map has no pending retired objects (everything retired
/// by this thread and by exited threads gets freed). Returns the last pending
/// object count (0 on success).
pub fn reclaim_fully<K, V, S>(map: &HashMap<K, V, S>) -> usize
where
    K: std::hash::Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    let mut pending = map.reclaim().pending_objects;
    flush_until(Duration::from_secs(20), || {
        pending = map.reclaim().pending_objects;
        pending == 0
    });
    pending
}

/// Watchdog limit for anything that must not block: 30 s, 600 s under Miri.
/// `EVACMAP_WATCHDOG_SECS` overrides it: the sanitizer and Miri scripts set
/// it, since there a panic's backtrace alone can take seconds to print.
pub fn watchdog() -> Duration {
    let secs = std::env::var("EVACMAP_WATCHDOG_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if cfg!(miri) { 600 } else { 30 });
    Duration::from_secs(secs)
}

/// Runs `f` on a fresh thread named `what`; fails if it does not finish
/// within the [`watchdog`] limit (a deadlock, a livelock, or a lock left
/// held). A panic inside `f` is propagated.
pub fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    within_for(what, watchdog(), f)
}

/// [`within`] with a limit of its own.
pub fn within_for<T: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = thread::Builder::new()
        .name(what.to_string())
        .spawn(move || {
            let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
        })
        .unwrap();
    match rx.recv_timeout(limit) {
        Ok(Ok(v)) => {
            handle.join().unwrap();
            v
        }
        Ok(Err(p)) => resume_unwind(p),
        Err(_) => panic!(
            "{what}: did not finish within {limit:?}: a deadlock, a livelock or a lock left held"
        ),
    }
}

/// The message of a panic: its payload's `&str` or `String`, else empty.
/// (For a caught `Box<dyn Any + Send>`, pass `&*payload`: the box itself is
/// an `Any` too, and downcasts to neither.)
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        String::new()
    }
}

/// Installs, once per test binary, a panic hook that keeps the panics a test
/// expects (those whose message `expected` accepts) out of the output; every
/// other panic goes to the default hook. The first call's `expected` stays.
pub fn quiet_panics(expected: fn(&str) -> bool) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !expected(&panic_message(info.payload())) {
                default(info);
            }
        }));
    });
}
