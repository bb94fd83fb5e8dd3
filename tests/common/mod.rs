//! Helpers shared by the integration tests: deterministic and degenerate
//! hashers, map construction from a small configuration, epoch flushing, and
//! the watchdog and panic-output helpers of the hardening tests.
#![allow(dead_code)]

pub mod linearize;

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
