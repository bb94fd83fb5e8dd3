//! Helpers shared by the integration tests: deterministic and degenerate
//! hashers, map construction from a small configuration, and epoch flushing.
#![allow(dead_code)]

use std::hash::{BuildHasher, Hasher};
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
