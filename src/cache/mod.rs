//! The bounded concurrent cache, [`Cache`], built on the map: a drop-in for
//! moka's and quick_cache's sync caches (same method names), with lock-free
//! hits, a global and exact bound, expiry that does not wait for traffic,
//! single-flight loading (blocking and async) and memory that follows
//! contents.
//!
//! # How it works
//! Entries live in an evacmap [`HashMap`](crate::HashMap) whose values carry
//! the cache's per-entry state in atomics (`slot.rs`). A hit is the map's
//! lock-free lookup plus at most one relaxed store to the entry's own
//! metadata. Writes publish in the map, then tell the eviction policy
//! (`policy/`) under one lock; the policy evicts through the map's identity
//! removal, which runs no user code (`core.rs` states the invariants).
//!
//! The policy is S3-FIFO's layout: new keys enter a small FIFO, keys that
//! prove themselves move to a main region swept by a CLOCK hand in the
//! map's own (hash) order, and evicted small keys are remembered as ghosts;
//! the door into main switches between recency and frequency by set
//! dueling, and the small region's size is hill-climbed. `docs/POLICY.md`
//! has the measurements.
//!
//! The crate-level `seam.rs` lists every map operation the cache uses.

mod api;
mod builder;
mod clock;
mod core;
mod expiry;
pub mod future;
mod iter;
mod listener;
mod loading;
mod loads;
#[doc(hidden)]
pub mod policy;
mod slot;
mod stats;
mod store;
#[cfg(test)]
mod tests;
mod timers;

pub use api::{Cache, CachePolicy, CacheRef, PredicateError};
pub use builder::{CacheBuildError, CacheBuilder};
pub use clock::{Clock, MockClock, SystemClock};
pub use expiry::{Expiry, MAX_EXPIRY};
pub use iter::Iter;
pub use listener::RemovalCause;
pub use stats::{ByCause, CacheStats};
