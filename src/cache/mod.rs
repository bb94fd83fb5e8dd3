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
//!
//! # What a hit costs
//! A hit takes no lock and writes nothing shared: the map's lock-free
//! lookup, a check of the entry's deadline (only if the cache has expiry),
//! and at most one relaxed store to the entry's own access counter (none
//! once it is saturated; with time to idle, the same store moves the
//! deadline). Statistics go to a per-thread stripe.
//!
//! # The bound
//! Global and exact: [`Cache::weighted_size`] is at most the capacity
//! whenever no insert is in flight, and while inserts are in flight the
//! excess is at most the weight they are inserting. Each insert evicts what
//! it needs before it returns, on its own thread; an entry heavier than the
//! whole capacity is refused ([`RemovalCause::Size`]).
//!
//! # Expiry, without background threads
//! Every write does a bounded batch of expiry work (up to 64 expired
//! entries), and so does every 64th read of each thread when an expiry is
//! due (if no other thread holds the policy lock at that moment, it is
//! doing the work). So a cache that is only read frees `n` expired entries
//! within about `n` reads of any one thread (64 × ⌈n / 64⌉), and
//! [`Cache::run_pending_tasks`] frees them all at once. An expired entry is
//! never returned, whether or not it has been freed yet. Time comes from a
//! [`Clock`]; tests use a [`MockClock`].
//!
//! # Loading
//! Concurrent loads of one missing key run one initialiser; the others wait
//! (parked, holding no lock) and get its value, or its error as the same
//! `Arc` (`try_get_with`). A panicking or cancelled initialiser wakes them
//! and one of them loads. A write of the key (`insert`, `remove`,
//! `invalidate`, `invalidate_all`) while its load runs wins: the loaded
//! value is returned to the loader and its waiters but not cached, so a
//! value loaded before an invalidation is never cached after it. An
//! initialiser may use the cache for other keys; one that asks for its own
//! key panics rather than wait for itself.
//!
//! # The eviction listener
//! Told exactly once of every entry that leaves, with its
//! [`RemovalCause`], on the thread whose operation removed it (an insert
//! that evicted, a read that expired entries, `run_pending_tasks`, ...),
//! right after that operation released its locks and before it returns. A
//! panicking listener does not stop the other notices of that operation;
//! its panic then reaches the operation's caller, with the cache consistent
//! and within its bound.

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
