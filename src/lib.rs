//! A concurrent sharded hash map with lock-free reads, incremental resizing
//! whose old tables are retired through epoch-based reclamation, and memory
//! that follows its contents.
//!
//! ```
//! use evacmap::HashMap;
//! use std::thread;
//!
//! let sessions: HashMap<u64, String> = HashMap::new();
//! thread::scope(|s| {
//!     s.spawn(|| for id in 0..1000 { sessions.insert(id, format!("user-{id}")); });
//!     s.spawn(|| for id in 0..1000 { let _ = sessions.get(&id).map(|name| name.len()); });
//! });
//! assert_eq!(sessions.len(), 1000);
//! assert_eq!(*sessions.get(&7).unwrap(), "user-7");
//!
//! // Memory follows contents: remove everything, reclaim, and the tables shrink.
//! for id in 0..1000 { sessions.remove(&id); }
//! let report = sessions.reclaim();
//! assert_eq!(sessions.len(), 0);
//! println!("{}  (pending: {} bytes)", sessions.stats(), report.pending_bytes);
//! ```
//!
//! Coming from `RwLock<HashMap>`, dashmap or papaya? `docs/MIGRATING.md` in
//! the repository (also in the published crate's source) maps their calls to
//! evacmap's, with every difference in behaviour.
//!
//! # Reading: which call when
//!
//! | call | you get | costs | use it when |
//! |---|---|---|---|
//! | [`get`](HashMap::get) | a [`Ref`]: `&V` behind its own epoch guard | a pin per call (a thread-local counter, ~35 instructions) | one read whose value you look at in place |
//! | [`get_cloned`](HashMap::get_cloned) | `Option<V>` | a pin, then `V::clone` | the value is cheap to clone (`u64`, `Arc<T>`) or must outlive every guard |
//! | [`view`](HashMap::view) | whatever your closure returns | a pin, no handle | you need part of a big value (`v.len()`, one field) without cloning it, or async code |
//! | [`pin`](HashMap::pin) → [`Pinned`] | plain `&V` from many calls | one pin for all of them | a batch of reads (a request touching ten keys, a loop): about a third cheaper per read than `get` |
//! | [`Pinned::get_many`], [`Pinned::get_many_into`], [`HashMap::get_many_cloned`] | one result per key, in order | one pin; the keys' cache misses overlapped | many keys known together in a map larger than the CPU caches (a multi-get): faster than the same single gets there, a little slower on a small map |
//!
//! All of them are lock-free and never wait for writers. What a guard holds up
//! is *memory*, not other threads: while any guard is alive, nothing retired
//! after it was taken is freed (see *Reclamation and guards*), so keep
//! [`Ref`]s and [`Pinned`] handles short-lived and never keep one in a
//! long-lived structure.
//!
//! ```
//! use evacmap::HashMap;
//!
//! let prices: HashMap<&str, Vec<u32>> = HashMap::new();
//! prices.insert("apples", vec![3, 4, 5]);
//! prices.insert("pears", vec![2]);
//!
//! let apples = prices.get("apples").unwrap();           // a guarded reference
//! assert_eq!(apples.len(), 3);
//! let pears: Option<Vec<u32>> = prices.get_cloned("pears"); // an owned copy
//! assert_eq!(pears, Some(vec![2]));
//! let n = prices.view("apples", |_, v| v.len());       // just what you need
//! assert_eq!(n, Some(3));
//! let pinned = prices.pin();                            // many reads, one pin
//! let total: u32 = ["apples", "pears"].iter().filter_map(|k| pinned.get(k)).flatten().sum();
//! assert_eq!(total, 14);
//! ```
//!
//! # Atomic operations
//!
//! Each operation is atomic for its one key (the contract's first point);
//! nothing is atomic across keys. Read-modify-write operations run your
//! closure **without any lock**, on the value they read, and then commit
//! only if the key still holds that very entry; if another write got there
//! first, the closure runs again on the new value. Hence:
//!
//! - closures of [`update`](HashMap::update), [`compute`](HashMap::compute),
//!   [`try_compute`](HashMap::try_compute), [`remove_if`](HashMap::remove_if)
//!   and the `update` part of [`update_or_insert`](HashMap::update_or_insert)
//!   **may run more than once** under contention (they are `FnMut`): keep
//!   side effects out of them, or make them idempotent; exactly one run's
//!   result is committed;
//! - a `make` closure ([`get_or_insert_with`](HashMap::get_or_insert_with),
//!   [`get_or_try_insert_with`](HashMap::get_or_try_insert_with),
//!   [`try_insert_with`](HashMap::try_insert_with)) runs at most once per
//!   call, but two threads racing on one absent key may each run theirs; one
//!   value is inserted and both get it back (single-flight loading, where
//!   only one loader runs, is the [`Cache`]'s `get_with`);
//! - a closure may call the map, even on its own key: there is no lock to
//!   deadlock on, and a panicking closure leaves the map unchanged.
//!
//! ```
//! use evacmap::{Computed, HashMap, Op};
//!
//! let hits: HashMap<&str, u64> = HashMap::new();
//! hits.update_or_insert("/", |n| n + 1, 1);      // upsert: 1
//! hits.update_or_insert("/", |n| n + 1, 1);      // 2
//! assert_eq!(hits.get_cloned("/"), Some(2));
//! // compute decides between insert, replace, remove and keep in one step.
//! let done = hits.compute("/", |n| match n {
//!     Some(&n) if n >= 2 => Op::Remove,
//!     _ => Op::Keep,
//! });
//! assert!(matches!(done, Computed::Removed(_)));
//! ```
//!
//! # Differences from `std::collections::HashMap`
//!
//! - Methods take `&self`; share the map by reference or in an `Arc`. The
//!   `&mut self` methods std has ([`get_mut`](HashMap::get_mut),
//!   [`iter_mut`](HashMap::iter_mut), [`drain`](HashMap::drain),
//!   `into_iter`) exist too and cost no synchronisation.
//! - Reads hand out guarded references ([`Ref`]) or clones, not `&V` tied to
//!   `&self`; `insert` and `remove` return the old entry behind a guard.
//! - Values are immutable once inserted: change one by replacing it
//!   ([`update`](HashMap::update), [`compute`](HashMap::compute)), or store
//!   interior-mutable values (atomics, a `Mutex`) and mutate through `&V`.
//! - Iteration is weakly consistent: it sees each key present throughout
//!   exactly once, and may or may not see concurrent changes.
//! - `clear` is atomic per shard, not for the whole map; `len` is a sum
//!   of per-shard counts, exact only when no write is in flight.
//! - Operations that can retire a key or value need `K, V: Send + 'static`
//!   (their destructors may run later, on another thread).
//! - The default hasher is fast but not designed to resist hash flooding
//!   ([`DefaultHashBuilder`] says how to pick std's `RandomState`).
//!
//! # Parallel bulk operations (feature `rayon`)
//!
//! With the `rayon` feature, a shard is the unit of parallel work:
//! `par_iter_cloned` (a parallel iterator of cloned pairs), `par_for_each`
//! (a closure over `&K, &V`, each shard under its own pin), `par_retain`,
//! and `ParallelExtend` / `FromParallelIterator` for building. They keep
//! iteration's exact-once contract; a map with one shard gets no speed-up.
//!
//! # How it works
//! Keys are hashed once. The hash's high bits pick a *shard*; each shard has a
//! writer lock and an atomic pointer to its current *table* (allocated on the
//! first insert). The next bits pick a *bucket*: one cache line holding a word
//! of one-byte tags (matched eight at a time), six entry pointers and a link to
//! an overflow bucket. An *entry* (hash, key, value) is allocated once and
//! never changed: replacing a value publishes a new entry in the same slot.
//!
//! - **Reads** pin an epoch guard and follow atomic pointers: no lock, no
//!   shared write, no waiting. A value you got stays readable for as long as
//!   you hold its [`Ref`], even if the key is removed meanwhile.
//! - **Writes** lock their shard, do a bounded step of any resize in progress,
//!   then write. Removal empties the slot: no tombstones; an overflow bucket
//!   that empties is unlinked and freed.
//! - **Resizes** (grow past 4 entries per bucket, shrink under 0.5) allocate a
//!   successor table and *evacuate* it a few buckets per write, marking each
//!   old bucket MOVED; readers that meet the mark look in the successor. When
//!   every bucket has moved, the old table is retired through the epoch and
//!   freed when the last reader that could see it unpins. A migration left
//!   pending when writes stop is finished by readers (without waiting: they
//!   help only if the lock is free), by [`HashMap::reclaim`], or by
//!   [`HashMap::shrink_to_fit`]; [`MapStats`] shows it.
//!
//! The algorithm, with its invariants written next to the code that keeps
//! them, is in `src/raw/` (start at `raw/mod.rs`).
//!
//! # The contract
//! Each point has tests that fail when it is broken (see `tests/` and the
//! loom models in `loom-tests/`).
//!
//! 1. **Linearizable per key.** `get`, `insert`, `remove`, `update`,
//!    `compute`, `remove_if` and `get_or_insert_with` on one key behave as if
//!    executed one at a time in an order consistent with real time, also while
//!    that key's bucket is being evacuated.
//! 2. **Reads never block and never deadlock.** Everything that hands out a
//!    reference ([`Ref`], [`Pinned`]) holds an epoch guard, never a lock. No
//!    closure you pass runs under a lock (they run optimistically and may be
//!    retried; see [`HashMap::compute`]), so calling the map from inside one,
//!    or while holding references, cannot deadlock. The only user code that
//!    runs under a shard lock is the key's `Eq`: an `Eq` may read any map,
//!    but one that writes to a map (this one or another) panics with a clear
//!    message instead of risking a deadlock (two threads writing crosswise
//!    from `Eq` would wait for each other). Keys and values are dropped
//!    outside every lock.
//! 3. **Iterators are weakly consistent and exact-once.** An iterator never
//!    blocks writers and is never blocked by a resize; it yields no key twice,
//!    every key present for the whole iteration, and no key that was never
//!    present. Concurrent changes may or may not be seen.
//! 4. **`clear` is cheap and really frees.** Per shard it is atomic (a reader
//!    sees a shard entirely before or entirely after); the map as a whole is
//!    not, and inserts racing a clear on shards it already passed survive.
//!    The detached tables and entries are retired through the epoch, then
//!    freed a bounded slice per later write (or at once by
//!    [`HashMap::reclaim`]), so no single operation pays for a big clear.
//! 5. **Memory follows contents.** After removals (automatic shrinking) or
//!    `clear`, and one [`HashMap::reclaim`], the map holds about what its live
//!    entries and its minimum tables need: no tombstones, no empty overflow
//!    buckets, no old tables past the last reader, no recycled entry blocks.
//!    Before that `reclaim`, each shard keeps the blocks of retired entries
//!    for its next inserts, at most about half its live entries' worth
//!    ([`MapStats::pooled_bytes`]).
//! 6. **Observable.** [`HashMap::stats`] reports entries, capacity, buckets,
//!    overflow buckets, bytes held, retired-but-not-yet-freed and pooled, and
//!    resizes done and in progress; the byte counts agree with a counting
//!    allocator.
//! 7. **Every value is dropped exactly once**: on replacement, `remove`,
//!    `clear`, `retain`, map drop, and when user code panics.
//! 8. **Bad input gets a clear answer.** A panicking `Hash`, `Eq` or closure
//!    leaves the map usable and consistent; impossible capacities and shard
//!    counts are a [`BuildError`]; an inconsistent `Hash`/`Eq` can give wrong
//!    answers but never undefined behaviour.
//!
//! # The cache
//! [`Cache`] (module [`cache`]) is a bounded concurrent cache built on the
//! map, with moka's and quick_cache's method names: lock-free hits that
//! write nothing shared, a global and exact bound, time to live and idle,
//! single-flight loading (blocking and async) and an eviction listener.
//!
//! ```
//! let cache: evacmap::Cache<u64, String> = evacmap::Cache::new(10_000);
//! let row = cache.get_with(7, || format!("row {}", 7));
//! assert_eq!(cache.get(&7), Some(row));
//! ```
//!
//! # Sets
//! [`HashSet`] is a [`HashMap`] with `()` values and the set's method names
//! (std's, dashmap's `DashSet`'s and papaya's). Elements are lent behind a
//! guard ([`KeyRef`]) or as `&T` under [`HashSet::pin`].
//!
//! ```
//! let tags: evacmap::HashSet<&str> = evacmap::HashSet::from(["rust", "cache"]);
//! assert!(!tags.insert("rust"));
//! assert!(tags.contains("cache"));
//! ```
//!
//! # serde
//! With the `serde` feature, [`HashMap`] serializes as a map and
//! [`HashSet`] as a sequence, as std's do. Serializing writes one snapshot
//! (weakly consistent, like iteration) with its exact length, so
//! length-prefixed formats stay valid under concurrent writes.
//! Deserializing keeps the last value of a duplicate key (as std's map
//! does), answers malformed input with the format's error (never a panic),
//! and presizes from the input's size hint, capped at 64 Ki elements.
//!
//! ```
//! # #[cfg(feature = "serde")] {
//! let map: evacmap::HashMap<String, u32> = serde_json::from_str(r#"{"a": 1, "b": 2, "a": 3}"#)?;
//! assert_eq!(map.len(), 2);
//! assert_eq!(*map.get("a").unwrap(), 3); // the last one wins
//! let json = serde_json::to_string(&map)?;
//! let back: evacmap::HashMap<String, u32> = serde_json::from_str(&json)?;
//! assert_eq!(back.get_cloned("b"), Some(2));
//!
//! let err = serde_json::from_str::<evacmap::HashSet<u32>>(r#"{"a": 1}"#).unwrap_err();
//! assert!(err.to_string().contains("expected a sequence"));
//! # }
//! # Ok::<(), serde_json::Error>(())
//! ```
//!
//! # Reclamation and guards
//! evacmap uses crossbeam-epoch's global collector. Memory is freed only once
//! every thread that was pinned when it was retired has unpinned, so a thread
//! that holds a [`Ref`] or a [`Pinned`] handle for a long time holds back
//! reclamation for every user of that collector. Retired memory first sits in
//! the retiring thread's local bag; evacmap flushes after retiring a table,
//! and [`HashMap::reclaim`] flushes the calling thread's bag and collects.
//! `stats().retired_bytes` shows what is pending.
//!
//! # Async
//! [`Ref`], [`KeyRef`], [`Pinned`], [`Iter`] and [`PinnedIter`] hold the
//! current thread's epoch guard, so they are not `Send`: one kept across an
//! `.await` makes the future `!Send`, and `tokio::spawn` rejects it. Use them
//! freely *between* `.await`s. Across them, pick by what must survive:
//!
//! | across an `.await` you keep | use | it holds |
//! |---|---|---|
//! | nothing (one read) | [`HashMap::view`]`(&k, \|k, v\| ..)`, [`HashMap::get_cloned`] | nothing: the pin ends inside the call |
//! | a loop over the entries | [`HashMap::iter_cloned`] | owned clones of one chunk and a cursor; no guard |
//! | `&V` from several reads | [`HashMap::pin_owned`] → [`OwnedPinned`] | a pin of its own epoch participant (`Send`, not `Sync`) |
//!
//! An [`OwnedPinned`] is the only one of these that stays pinned across the
//! `.await`, and a pin delays reclamation for *every* user of
//! crossbeam-epoch's global collector in the process, not only this map:
//! nothing retired anywhere after it pinned is freed until it is dropped or
//! [`OwnedPinned::repin`]ned. Across a long `.await` (a network call, a
//! timer, a channel that may stay empty), drop it or repin it first. You
//! can watch the cost: [`MapStats::retired_bytes`] and
//! [`MapStats::retired_objects`] (or [`Reclaimed::pending_bytes`] from
//! [`HashMap::reclaim`]) count what was retired and not yet freed; they grow
//! while a pin is held and fall once it is gone.
//!
//! ```
//! use std::sync::Arc;
//! use evacmap::HashMap;
//!
//! # tokio::runtime::Builder::new_multi_thread().build().unwrap().block_on(async {
//! let map: Arc<HashMap<u32, String>> = Arc::new((0..100).map(|i| (i, i.to_string())).collect());
//! let task = tokio::spawn({
//!     let map = Arc::clone(&map);
//!     async move {
//!         let n = map.view(&7, |_, v| v.len());       // holds nothing
//!         let mut total = 0;
//!         for (_, v) in map.iter_cloned() {            // holds no guard
//!             tokio::task::yield_now().await;
//!             total += v.len();
//!         }
//!         let handle = map.pin_owned();                // Send: may cross threads
//!         let seven = handle.get(&7).unwrap();
//!         tokio::task::yield_now().await;
//!         (n, total, seven.clone())
//!     }
//! });
//! assert_eq!(task.await.unwrap(), (Some(1), 190, "7".to_string()));
//! # });
//!
//! // A held pin keeps what is retired meanwhile; stats show it.
//! // (The bytes are evacmap's own: the entry, not the Vec's buffer.)
//! let map = HashMap::new();
//! map.insert(1, vec![0u8; 4096]);
//! let handle = map.pin_owned();
//! map.remove(&1);
//! let pending = map.reclaim();
//! assert!(pending.pending_bytes > 0 && pending.pending_objects > 0); // held back by `handle`
//! drop(handle);
//! assert_eq!(map.reclaim().pending_bytes, 0);
//! assert_eq!(map.stats().retired_objects, 0);
//! ```
//!
//! # Where the memory comes from
//! Entries, small tables and overflow buckets come from the global allocator.
//! Bucket arrays of 1 MiB and more (2^14 buckets) are mapped straight from the
//! OS on Unix: they start as fresh zero pages that fill as buckets do, so
//! starting a resize never zeroes a big table, and a retired one is unmapped a
//! slice at a time and really returns to the OS (allocators such as glibc's
//! keep large freed blocks in the heap). A counting global allocator does not
//! see those mappings; [`os_mapped_bytes`] reports them, and
//! [`HashMap::stats`] counts them with the rest.
//! [`Builder::map_large_tables`]`(false)` sends everything through the
//! global allocator instead.
//!
//! Keys and values must be `Send + 'static` for any operation that can retire
//! them: their destructors may run later, on another thread. The map is
//! `Sync` when keys and values are `Send + Sync`.

#![deny(missing_docs, missing_debug_implementations, unsafe_op_in_unsafe_fn)]

mod builder;
pub mod cache;
mod cloned;
mod compute;
mod errors;
mod exclusive;
mod get_many;
mod hasher;
mod iter;
mod map;
mod map_traits;
mod owned;
mod pinned;
mod pinned_ops;
mod raw;
#[cfg(feature = "rayon")]
mod rayon_impls;
mod refs;
mod seam;
#[cfg(feature = "serde")]
mod serde_impls;
mod set;
mod stats;
mod sync;
mod try_insert;
mod upsert;
mod view;

pub use builder::{default_shards, BuildError, Builder, ResizeMode, MAX_SHARDS};
pub use cache::Cache;
pub use cloned::ClonedIter;
pub use compute::{Computed, Op};
pub use errors::{OccupiedError, TryReserveError};
pub use exclusive::{Drain, IntoIter, IntoKeys, IntoValues, IterMut, ValuesMut};
pub use hasher::{DefaultHashBuilder, DefaultHasher};
pub use iter::{Iter, Keys, PinnedIter, Values};
pub use map::HashMap;
pub use owned::OwnedPinned;
pub use pinned::Pinned;
#[cfg(feature = "rayon")]
pub use rayon_impls::ParIterCloned;
pub use refs::{KeyRef, Ref};
pub use set::{HashSet, PinnedSet};
pub use stats::{MapStats, Reclaimed};

/// Bytes of bucket arrays that every evacmap map in the process currently
/// has mapped straight from the OS (large tables, on Unix), retired ones not
/// yet unmapped included. A global allocator does not see these bytes: add
/// them when comparing its counts with [`HashMap::stats`].
///
/// ```
/// use evacmap::HashMap;
/// let before = evacmap::os_mapped_bytes();
/// let map: HashMap<u64, u64> = HashMap::builder().shards(1).capacity(1 << 18).build().unwrap();
/// map.insert(1, 1); // a table of 1 MiB or more: mapped from the OS on Unix
/// if cfg!(unix) {
///     assert!(evacmap::os_mapped_bytes() >= before + (1 << 20));
/// }
/// ```
pub fn os_mapped_bytes() -> usize {
    raw::pages::mapped_bytes()
}

/// The README's example, compiled and run as a doctest so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
