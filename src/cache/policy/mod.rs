//! The eviction policy: a plain single-threaded structure that decides which
//! entries stay. The concurrent cache drives it under its policy lock; the
//! replay tool (`benches/hit_ratio.rs`) drives the very same code over a
//! simulated store, so the hit ratios measured there are the cache's.
//!
//! The policy never owns entries. It sees them through a [`Store`]: the
//! cache's store is the map (entries reached under an epoch guard), the
//! replay's an ordered in-memory table. Per-entry state (the access counter
//! that hits raise, the region, the weight) lives in the entry and is read
//! and written through the store; the policy's own structures (queues,
//! ghosts, sketch) hold only hashes and entry ids.
//!
//! Not part of the crate's API: public (hidden) only so that the replay tool
//! can reach it. No semver promise.
//!
//! One concept per file: [`engine`](Policy) ties the parts together and
//! keeps the weight accounting; `small` is the probationary FIFO, `clock`
//! the hand over main, `ghosts` the recently evicted hashes, `sketch` the
//! frequency estimates, `duel` the choice between the recency and the
//! frequency door into main, `climb` the small queue's adaptive share,
//! `resize` how the hashed tables follow the entry count, and `sim` an in-memory [`Store`] for the replay tool and the tests. The design
//! and its measurements are in `docs/POLICY.md`.

#![forbid(unsafe_code)]

mod climb;
mod clock;
mod duel;
mod engine;
mod ghost;
mod resize;
mod sim;
mod sketch;
mod small;
// The policy is safe code (no `unsafe` anywhere under policy/), and its
// tests are long simulations: under Miri they would check nothing the
// compiler does not, at a cost of hours. The cache's own unit tests
// (cache/tests.rs) cover the unsafe code that stores policy state.
#[cfg(all(test, not(miri)))]
mod tests;

pub use duel::{Admission, Rule};
pub use engine::{Policy, PolicyConfig};
pub use sim::{Order, SimStore};

/// splitmix64's finaliser: a bijection of `u64` that mixes every input bit
/// into every output bit. The policy derives its own hashes with it (so its
/// structures don't depend on how well the map's hash mixes), and the
/// simulated store hashes keys with it.
#[inline]
pub fn mix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The highest value of an entry's access counter. A hit raises the counter
/// by one, saturating here (and stores nothing once it is there).
pub const MAX_FREQ: u8 = 3;

/// Where an entry is, as far as the policy is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Region {
    /// The probationary FIFO every new key enters.
    Small,
    /// The protected region, swept in hash order by the CLOCK hand.
    Main,
}

/// What the policy needs from the entries it manages.
///
/// A handle is valid for one *session*: from the moment the policy is called
/// until it returns (the cache holds its policy lock and an epoch guard for
/// that long). Handles are never kept across calls; queues keep `(hash, id)`
/// items and look entries up again with [`Store::find`].
pub trait Store {
    /// A reference to one entry, valid for the session.
    type Handle: Copy;

    /// The entry's full 64-bit hash.
    fn hash(&self, entry: Self::Handle) -> u64;
    /// An identity for the entry, unique among live entries. A replaced key
    /// gets a new entry and so a new id.
    fn id(&self, entry: Self::Handle) -> u64;
    /// The entry's weight (what counts against the capacity).
    fn weight(&self, entry: Self::Handle) -> u64;
    /// The live entry with exactly this hash and id, if there is one: queue
    /// items go stale when their entry is removed or replaced.
    ///
    /// The policy calls it exactly once for every small-queue item it drops
    /// (popped or compacted away), and for nothing else; `Policy::clear`
    /// drops items without it. The cache's store counts on this: it answers
    /// from stale marks it keeps per item, without a map lookup.
    fn find(&mut self, hash: u64, id: u64) -> Option<Self::Handle>;

    /// The access counter, `0..=MAX_FREQ`: raised by hits, concurrently with
    /// the policy in the cache.
    fn freq(&self, entry: Self::Handle) -> u8;
    /// Sets the access counter (the policy lowers it). A hit racing this may
    /// raise it again; the policy must tolerate that.
    fn set_freq(&self, entry: Self::Handle, freq: u8);
    /// The entry's region, as last set by the policy (`Small` for an entry
    /// the policy has not placed yet).
    fn region(&self, entry: Self::Handle) -> Region;
    /// Sets the region. Only the policy writes it.
    fn set_region(&self, entry: Self::Handle, region: Region);
    /// Whether the entry has expired: the policy should evict it as soon as
    /// it meets it, whatever its counter says.
    fn expired(&self, entry: Self::Handle) -> bool;

    /// The entry with the smallest hash `>= *hand`, wrapping around to the
    /// smallest hash overall when there is none; moves `*hand` just past it
    /// (`hash + 1`, wrapping to 0). `None` only when the store is empty.
    /// This is the CLOCK hand's walk: hash order is the map's own order, so
    /// the cache walks it without any per-entry queue.
    fn next_in_order(&mut self, hand: &mut u64) -> Option<Self::Handle>;

    /// Lookups so far (hits and misses), for adaptive parts that judge
    /// themselves by hit ratio over a window. In the cache this sums striped
    /// counters (O(threads)): call it at window boundaries, not per insert.
    fn requests(&mut self) -> u64;

    /// Removes `entry` from the store because the policy chose it. Returns
    /// false if it was already gone (then nothing was removed). The store
    /// records the removal's cause itself (expired or size).
    fn evict(&mut self, entry: Self::Handle) -> bool;
}
