//! [`OwnedPinned`]: a pinned handle that is `Send`, so a `Send` future can
//! keep it (and the `&V` it lends) across `.await`s (papaya's `pin_owned`).
//!
//! A [`Pinned`](crate::Pinned) handle holds a crossbeam-epoch `Guard` of the
//! *thread's* participant, which must stay on that thread: the participant's
//! bookkeeping (guard count, local garbage bag) is plain thread-owned memory,
//! and other guards of the same thread share it. An `OwnedPinned` instead
//! registers a participant of its own with the default collector (the one the
//! map retires into) and keeps one guard of it pinned. Nothing else ever
//! touches that participant, so the handle can move to another thread as a
//! whole; see SAFETY.md ("`OwnedPinned`") for the full argument and the
//! checks.

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::ops::Deref;

use crate::sync::epoch::{self, LocalHandle};
use crate::{HashMap, Pinned};

/// A handle that owns its own epoch participant and keeps it pinned: `Send`,
/// so it can live across `.await` in a `Send` future (a tokio task that
/// moves between worker threads), and lends `&V` for as long as it lives.
/// See [`HashMap::pin_owned`].
///
/// Not `Sync`: two threads must not use one participant at the same time.
/// Like every pin, it delays reclamation of *everything* retired on the
/// process's crossbeam-epoch collector while it lives; see the crate docs'
/// "Async" section.
///
/// ```
/// use std::sync::Arc;
/// let map = Arc::new(evacmap::HashMap::new());
/// map.insert(1, "one".to_string());
///
/// let worker = Arc::clone(&map);
/// std::thread::spawn(move || {
///     let handle = worker.pin_owned();
///     // The handle, and a reference it lent, move to another thread together.
///     let (handle, one) = std::thread::scope(|s| {
///         s.spawn(move || {
///             let len = handle.get(&1).map(|v| v.len());
///             (handle, len)
///         })
///         .join()
///         .unwrap()
///     });
///     assert_eq!(one, Some(3));
///     drop(handle);
/// })
/// .join()
/// .unwrap();
/// ```
pub struct OwnedPinned<'m, K, V, S> {
    /// The handle's reads and writes: a [`Pinned`] whose guard is of the
    /// participant below, not of the thread's. Dropped first (fields drop
    /// in declaration order): unpins the participant, which the handle
    /// below still registers.
    pinned: Pinned<'m, K, V, S>,
    /// This handle's own participant in the default collector. Dropping it
    /// (after the guard) moves its garbage bag to the global queue and
    /// unregisters it.
    _participant: LocalHandle,
}

// SAFETY: the handle owns the only `LocalHandle` of its participant and the
// only `Guard` of it (nothing clones them, and every `Guard` lent out by
// reference is bound to `&self`), so all of the participant's unsynchronised
// state (guard and pin counts, local bag) is reached through this value
// alone; moving the value moves that exclusive access, and the move itself
// (thread spawn, channel, an executor handing a task over) orders the old
// thread's accesses before the new thread's. The participant belongs to the
// default collector, so the map's retirements (made under `guard`) and
// everyone else's see it pinned, whichever thread runs it (see SAFETY.md,
// `OwnedPinned`). `HashMap: Sync` is required because the handle holds
// `&HashMap` and lends `&K`/`&V` on the thread it is moved to, and because
// writes through it move keys and values in and retire old ones.
unsafe impl<K, V, S> Send for OwnedPinned<'_, K, V, S> where HashMap<K, V, S>: Sync {}

impl<'m, K, V, S> OwnedPinned<'m, K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    fn new(map: &'m HashMap<K, V, S>) -> Self {
        // The default collector: the one `epoch::pin()` uses, so the map's
        // retirements wait for this participant too. A collector of our own
        // would not be consulted before the global one frees an entry.
        // inject: owned-pin-foreign-collector
        let participant = epoch::default_collector().register();
        let guard = participant.pin();
        OwnedPinned {
            pinned: Pinned { map, guard },
            _participant: participant,
        }
    }

    /// Unpins and pins again at the current epoch, so the handle stops
    /// holding back what was retired before. Needs `&mut self`, so no
    /// reference it lent can still be alive. Garbage is freed once the epoch
    /// has advanced twice past its retirement, which a pinned handle allows
    /// only up to one step past its own pin: a long-lived handle that repins
    /// between batches (or before each long `.await`) lets reclamation keep
    /// up.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert(1, vec![0u8; 1024]);
    /// let mut handle = map.pin_owned();
    /// assert_eq!(handle.get(&1).map(Vec::len), Some(1024));
    /// map.remove(&1);
    /// assert!(map.reclaim().pending_objects > 0); // held back by the handle
    /// for _ in 0..4 {
    ///     handle.repin(); // e.g. once per batch of work
    ///     map.reclaim();
    /// }
    /// assert_eq!(map.stats().retired_objects, 0); // freed, handle still alive
    /// assert!(handle.get(&1).is_none());
    /// ```
    pub fn repin(&mut self) {
        self.pinned.guard.repin();
    }
}

/// Every read and write of a [`Pinned`] handle (`get`, `insert`, `iter`,
/// `compute`, `get_many`, ...), under this handle's own guard: the
/// references they lend are bound to `&self`, so to the handle, wherever it
/// moves. Only shared access: a `&mut Pinned` could swap this handle's
/// guard with a thread's.
///
/// ```
/// let map = evacmap::HashMap::new();
/// map.insert("a", 1);
/// let handle = map.pin_owned();
/// let a: &i32 = handle.get("a").unwrap(); // Pinned::get
/// handle.insert("b", 2);
/// assert_eq!(handle.len(), 2);
/// map.remove("a"); // still readable through the handle
/// assert_eq!(*a, 1);
/// assert!(std::ptr::eq(handle.map(), &map));
/// ```
impl<'m, K, V, S> Deref for OwnedPinned<'m, K, V, S> {
    type Target = Pinned<'m, K, V, S>;

    fn deref(&self) -> &Pinned<'m, K, V, S> {
        &self.pinned
    }
}

impl<K, V, S> fmt::Debug for OwnedPinned<'_, K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPinned")
            .field("len", &self.pinned.map.len())
            .finish_non_exhaustive()
    }
}

impl<K, V, S> HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    /// A pinned handle that is `Send`: a `Send` future can hold it, and the
    /// `&V` it lends, across `.await`s, even when the runtime moves the task
    /// to another thread. See [`OwnedPinned`].
    ///
    /// Costs more than [`HashMap::pin`]: it registers a participant of its
    /// own with crossbeam-epoch's collector (an allocation of about 2 KiB
    /// and a lock-free list insertion; both undone when it is dropped).
    /// Create one per task or per batch of reads, not per read; for single
    /// reads in async code, [`HashMap::view`] and [`HashMap::get_cloned`]
    /// hold nothing. While it lives, nothing retired anywhere on the
    /// collector is freed: do not keep one across an `.await` that can
    /// last long (see the crate docs' "Async" section).
    ///
    /// ```
    /// # async fn fetch_price(_: &str) -> u64 { 3 }
    /// use evacmap::HashMap;
    ///
    /// async fn total(map: &HashMap<String, u64>, items: &[&str]) -> u64 {
    ///     let handle = map.pin_owned();
    ///     let mut sum = 0;
    ///     for item in items {
    ///         let known = handle.get(*item); // a `&u64`, kept across the await
    ///         let price = fetch_price(item).await;
    ///         sum += known.copied().unwrap_or(price);
    ///     }
    ///     sum
    /// }
    ///
    /// fn assert_send<T: Send>(_: T) {}
    /// let map = HashMap::new();
    /// map.insert("apple".to_string(), 2);
    /// assert_send(total(&map, &["apple", "pear"]));
    /// ```
    pub fn pin_owned(&self) -> OwnedPinned<'_, K, V, S> {
        OwnedPinned::new(self)
    }
}
