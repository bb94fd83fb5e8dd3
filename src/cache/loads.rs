//! Single-flight loading: one initialiser per missing key, however many
//! callers ask for it at once.
//!
//! The loads in flight sit in a small table of their own, sharded by hash,
//! each shard a short list behind a lock. The first caller to miss a key
//! *leads* its load: it registers a [`Load`], runs the initialiser without
//! any lock held, and finishes the load (inserting the value unless the
//! load was superseded, then waking the waiters). Later callers *follow*:
//! they wait on the load (parking on a condition variable, or registering a
//! waker from a future), never while holding a lock.
//!
//! Invariants (kept here):
//! 1. At most one registered load per key: registration looks the key up
//!    and inserts under the same shard lock.
//! 2. A load's outcome is set once, after the load left the table, so a
//!    caller that finds no load either finds the value in the cache or
//!    leads a new load.
//! 3. A write to a key (insert, remove, invalidate) runs under the shard
//!    lock of its key and marks the key's registered load *superseded*; the
//!    leader checks the mark and inserts under the same lock. So a write
//!    that happens while a load is in flight always wins: the loaded value
//!    is handed to the leader and its followers but not cached, and a value
//!    loaded before an invalidation can never be cached after it.
//! 4. A leader that panics or is cancelled (its future dropped) leaves the
//!    table and marks the load abandoned; every follower wakes, and one of
//!    them leads a new load.
//! 5. User code runs under a shard lock only through the key's `Eq` (the
//!    table's own comparisons, and the map writes of invariant 3). A thread
//!    that holds a shard lock and asks for another one (an `Eq` that loads
//!    or writes through a cache) panics instead of deadlocking; an
//!    initialiser that asks for its own key panics instead of waiting for
//!    itself.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::sync::{thread_local, Condvar, Mutex, MutexGuard};

/// How a load ended, as its followers see it.
pub(crate) enum Outcome<V> {
    /// Still running; the wakers of async followers.
    Running(Vec<Waker>),
    Done(V),
    /// Failed with this error (a `try_get_with` initialiser's `Arc<E>`).
    Failed(Arc<dyn Any + Send + Sync>),
    /// The initialiser produced nothing (`optionally_get_with`).
    Nothing,
    /// The leader panicked or was cancelled: someone must lead again.
    Abandoned,
}

impl<V: Clone> Outcome<V> {
    fn snapshot(&self) -> Option<Outcome<V>> {
        Some(match self {
            Outcome::Running(_) => return None,
            Outcome::Done(v) => Outcome::Done(v.clone()),
            Outcome::Failed(e) => Outcome::Failed(e.clone()),
            Outcome::Nothing => Outcome::Nothing,
            Outcome::Abandoned => Outcome::Abandoned,
        })
    }
}

/// One load in flight.
pub(crate) struct Load<V> {
    outcome: Mutex<Outcome<V>>,
    ready: Condvar,
}

impl<V: Clone> Load<V> {
    fn new() -> Self {
        Load {
            outcome: Mutex::new(Outcome::Running(Vec::new())),
            ready: Condvar::new(),
        }
    }

    fn id(self: &Arc<Self>) -> usize {
        Arc::as_ptr(self) as usize
    }

    fn set(&self, outcome: Outcome<V>) {
        let wakers = {
            let mut current = self.outcome.lock();
            match std::mem::replace(&mut *current, outcome) {
                Outcome::Running(wakers) => wakers,
                _ => unreachable!("a load's outcome is set once"),
            }
        };
        self.ready.notify_all();
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Parks until the load ends.
    ///
    /// # Panics
    /// If this thread is running the load's initialiser (it would wait for
    /// itself).
    pub(crate) fn wait(self: &Arc<Self>) -> Outcome<V> {
        refuse_self_wait(self.id());
        let mut outcome = self.outcome.lock();
        loop {
            if let Some(done) = outcome.snapshot() {
                return done;
            }
            outcome = self.ready.wait(outcome);
        }
    }

    /// A future that resolves when the load ends.
    pub(crate) fn wait_async(self: Arc<Self>) -> WaitLoad<V> {
        WaitLoad { load: self }
    }
}

/// Follows a load from async code; see [`Load::wait_async`].
pub(crate) struct WaitLoad<V> {
    load: Arc<Load<V>>,
}

impl<V: Clone> Future for WaitLoad<V> {
    type Output = Outcome<V>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome<V>> {
        refuse_self_wait(self.load.id());
        let mut outcome = self.load.outcome.lock();
        if let Some(done) = outcome.snapshot() {
            return Poll::Ready(done);
        }
        if let Outcome::Running(wakers) = &mut *outcome {
            if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                wakers.push(cx.waker().clone());
            }
        }
        Poll::Pending
    }
}

/// A registered load: what the table holds for a key.
struct Entry<K, V> {
    hash: u64,
    key: K,
    load: Arc<Load<V>>,
    /// A write to the key happened while the load was in flight.
    superseded: bool,
}

/// The loads in flight of one cache.
pub(crate) struct Loads<K, V> {
    shards: Box<[Shard<K, V>]>,
}

/// The loads registered for one slice of the hash space.
type Shard<K, V> = Mutex<Vec<Entry<K, V>>>;

/// What a caller that missed a key does.
pub(crate) enum Role<'a, K: Eq, V: Clone> {
    /// Runs the initialiser, then [`Leader::finish`]es.
    Lead(Leader<'a, K, V>),
    /// Waits for the leader.
    Follow(Arc<Load<V>>),
}

const SHARDS: usize = 64;

thread_local! {
    /// Whether this thread holds a shard lock of some cache's loads table.
    static HOLDS_SHARD: Cell<bool> = const { Cell::new(false) };
    /// The loads whose initialiser this thread is running (sync), or polling
    /// (async), innermost last.
    static INITIALISING: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

fn refuse_self_wait(load: usize) {
    if INITIALISING.with(|stack| stack.borrow().contains(&load)) {
        panic!(
            "evacmap::Cache: an initialiser asked the cache for its own key; it would wait \
             for itself forever. Load other keys from an initialiser, not the one it is loading."
        );
    }
}

/// A shard lock, and this thread's mark that it holds one.
struct Locked<'a, T> {
    guard: MutexGuard<'a, T>,
}

impl<'a, T> Locked<'a, T> {
    fn new(mutex: &'a Mutex<T>) -> Self {
        if HOLDS_SHARD.with(Cell::get) {
            panic!(
                "evacmap::Cache: a key's `Eq` (or `Hash`) wrote to or loaded through a cache; \
                 that could deadlock, so it is refused. Read caches from `Eq`, never write them."
            );
        }
        let guard = mutex.lock();
        HOLDS_SHARD.with(|h| h.set(true));
        Locked { guard }
    }
}

impl<T> Drop for Locked<'_, T> {
    fn drop(&mut self) {
        HOLDS_SHARD.with(|h| h.set(false));
    }
}

impl<T> std::ops::Deref for Locked<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> std::ops::DerefMut for Locked<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<K: Eq, V: Clone> Loads<K, V> {
    pub(crate) fn new() -> Self {
        Loads {
            shards: (0..SHARDS).map(|_| Mutex::new(Vec::new())).collect(),
        }
    }

    fn shard(&self, hash: u64) -> Locked<'_, Vec<Entry<K, V>>> {
        // The high bits pick the map's shard; the low ones pick ours.
        Locked::new(&self.shards[hash as usize % SHARDS])
    }

    /// Leads a new load of `key` or follows the one in flight. `key` is a
    /// clone the table keeps while the load runs.
    pub(crate) fn join(&self, hash: u64, key: K) -> Role<'_, K, V> {
        let mut shard = self.shard(hash);
        // inject: cache-waiter-leads
        if let Some(e) = shard.iter().find(|e| e.hash == hash && e.key == key) {
            return Role::Follow(e.load.clone());
        }
        let load = Arc::new(Load::new());
        shard.push(Entry {
            hash,
            key,
            load: load.clone(),
            superseded: false,
        });
        Role::Lead(Leader {
            loads: self,
            hash,
            load,
            done: false,
        })
    }

    /// Runs `write` (a write of `key`) under the key's shard lock, marking
    /// its load in flight, if any, superseded first (invariant 3).
    pub(crate) fn write<R>(&self, hash: u64, key: K, write: impl FnOnce(K) -> R) -> R {
        let mut shard = self.shard(hash);
        supersede(&mut shard, hash, |k| *k == key);
        write(key)
    }

    /// [`Loads::write`] for a write given a borrowed form of the key.
    pub(crate) fn write_borrowed<Q, R>(&self, hash: u64, key: &Q, write: impl FnOnce() -> R) -> R
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let mut shard = self.shard(hash);
        supersede(&mut shard, hash, |k| k.borrow() == key);
        write()
    }

    /// Marks every load in flight superseded (`invalidate_all`).
    pub(crate) fn supersede_all(&self) {
        for shard in self.shards.iter() {
            for e in Locked::new(shard).iter_mut() {
                e.superseded = true;
            }
        }
    }
}

fn supersede<K, V>(shard: &mut [Entry<K, V>], hash: u64, is_key: impl Fn(&K) -> bool) {
    for e in shard.iter_mut() {
        if e.hash == hash && is_key(&e.key) {
            e.superseded = true;
        }
    }
}

/// The caller that runs a load's initialiser. Dropping it unfinished (a
/// panic, a cancelled future) abandons the load.
pub(crate) struct Leader<'a, K: Eq, V: Clone> {
    loads: &'a Loads<K, V>,
    hash: u64,
    load: Arc<Load<V>>,
    done: bool,
}

impl<K: Eq, V: Clone> Leader<'_, K, V> {
    /// Runs `init` as this load's initialiser: while it runs, a request of
    /// this thread for the same load panics instead of waiting.
    pub(crate) fn run<R>(&self, init: impl FnOnce() -> R) -> R {
        let _mark = Initialising::enter(self.load.id());
        init()
    }

    /// Polls `init` as this load's initialiser (see [`Leader::run`]).
    pub(crate) fn poll<F: Future>(
        &self,
        init: Pin<&mut F>,
        cx: &mut Context<'_>,
    ) -> Poll<F::Output> {
        let _mark = Initialising::enter(self.load.id());
        init.poll(cx)
    }

    /// Ends the load with `outcome`. For a value, `insert` runs first, under
    /// the key's shard lock, unless a write superseded the load; it returns
    /// what the caller needs afterwards. Then the followers wake.
    pub(crate) fn finish<R>(
        mut self,
        outcome: Outcome<V>,
        insert: impl FnOnce(&V) -> R,
    ) -> Option<R> {
        let inserted = {
            let mut shard = self.loads.shard(self.hash);
            let at = shard
                .iter()
                .position(|e| Arc::ptr_eq(&e.load, &self.load))
                .expect("a leader's load stays registered until it finishes");
            let entry = shard.swap_remove(at);
            match &outcome {
                // inject: cache-load-ignores-writes
                Outcome::Done(value) if !entry.superseded => Some(insert(value)),
                _ => None,
            }
        };
        self.done = true;
        self.load.set(outcome);
        inserted
    }
}

impl<K: Eq, V: Clone> Drop for Leader<'_, K, V> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        {
            let mut shard = self.loads.shard(self.hash);
            if let Some(at) = shard.iter().position(|e| Arc::ptr_eq(&e.load, &self.load)) {
                shard.swap_remove(at);
            }
        }
        self.load.set(Outcome::Abandoned);
    }
}

/// This thread's mark that it runs a load's initialiser.
struct Initialising;

impl Initialising {
    fn enter(load: usize) -> Self {
        INITIALISING.with(|stack| stack.borrow_mut().push(load));
        Initialising
    }
}

impl Drop for Initialising {
    fn drop(&mut self) {
        INITIALISING.with(|stack| {
            stack.borrow_mut().pop();
        });
    }
}
