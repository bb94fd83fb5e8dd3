//! The shard writer lock, with nested-acquisition detection.
//!
//! The only user code evacmap runs while holding a shard lock is the key's
//! `Eq` (a lookup must compare keys). An `Eq` that writes to a map (this one
//! or another) would take a second shard lock while holding the first:
//! re-entering its own shard waits forever for a lock its own thread holds,
//! and two threads doing it crosswise wait for each other. evacmap never
//! takes a shard lock while holding one, so a thread that tries is running
//! user code under a lock: [`ShardLock::lock`] panics with a message naming
//! the mistake, on the first such attempt, whether or not it would have
//! deadlocked this time. Reads stay allowed (they take no lock), and a read
//! that would help a migration skips the help instead ([`ShardLock::try_lock`]).
//!
//! Cost: a thread-local flag, set and cleared per acquisition.
//!
//! The same module remembers the last key this thread wrote ([`note_write`]),
//! so that an optimistic closure that writes its own key (and so makes its own
//! commit fail, forever) is reported instead of retried endlessly.

use std::ops::{Deref, DerefMut};

use crate::sync::{Mutex, MutexGuard};

pub(crate) struct ShardLock<T> {
    mutex: Mutex<T>,
}

/// A held shard lock.
pub(crate) struct Locked<'a, T> {
    guard: MutexGuard<'a, T>,
    _held: Held,
}

/// Marks the current thread as holding a shard lock, while it lives (a
/// thread holds at most one).
///
/// Loom runs every model thread on one OS thread, so a thread-local would be
/// shared between model threads: the flag is off under loom (the models
/// never call back from `Eq`).
struct Held;

#[cfg(not(loom))]
thread_local! {
    static HELD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl Held {
    /// Marks this thread as holding a shard lock, or `None` if it already
    /// holds one (nothing may nest).
    #[inline]
    fn first() -> Option<Held> {
        #[cfg(not(loom))]
        if HELD.with(|h| h.replace(true)) {
            return None;
        }
        Some(Held)
    }
}

impl Drop for Held {
    #[inline]
    fn drop(&mut self) {
        #[cfg(not(loom))]
        HELD.with(|h| h.set(false));
    }
}

impl<T> ShardLock<T> {
    pub(crate) fn new(value: T) -> Self {
        ShardLock {
            mutex: Mutex::new(value),
        }
    }

    /// Takes the lock, waiting if another thread holds it.
    ///
    /// # Panics
    /// If the current thread already holds a shard lock (of any map): it is
    /// running a key's `Eq` that called back into a map to write, which could
    /// deadlock.
    #[inline]
    pub(crate) fn lock(&self) -> Locked<'_, T> {
        // inject: nested-lock-allowed
        let held = Held::first().unwrap_or_else(|| nested_lock());
        Locked {
            guard: self.mutex.lock(),
            _held: held,
        }
    }

    /// Takes the lock only if it is free, never waits; `None` also when the
    /// current thread already holds a shard lock (nothing nests).
    pub(crate) fn try_lock(&self) -> Option<Locked<'_, T>> {
        let held = Held::first()?;
        Some(Locked {
            guard: self.mutex.try_lock()?,
            _held: held,
        })
    }
}

#[cold]
#[inline(never)]
fn nested_lock() -> ! {
    panic!(
        "evacmap: a key's `Eq` (the only user code run under a shard lock) called back into \
         a map to write; that could deadlock, so it panics instead: a key's `Eq` must not \
         call back into the map to write"
    )
}

impl<T> Deref for Locked<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for Locked<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

#[cfg(not(loom))]
thread_local! {
    /// (shard address, hash) of the last successful write on this thread.
    static LAST_WRITE: std::cell::Cell<(usize, u64)> = const { std::cell::Cell::new((0, 0)) };
}

/// Records a successful write of `hash` into the shard at `shard`.
#[inline(always)]
pub(crate) fn note_write(shard: usize, hash: u64) {
    #[cfg(not(loom))]
    LAST_WRITE.with(|w| w.set((shard, hash)));
    #[cfg(loom)]
    let _ = (shard, hash);
}

/// Runs `f` and says whether it wrote `hash` into the shard at `shard`
/// (on this thread) along the way.
pub(crate) fn writes_own_key<R>(shard: usize, hash: u64, f: impl FnOnce() -> R) -> (R, bool) {
    #[cfg(not(loom))]
    {
        LAST_WRITE.with(|w| w.set((0, 0)));
        let result = f();
        let wrote = LAST_WRITE.with(|w| w.get()) == (shard, hash);
        (result, wrote)
    }
    #[cfg(loom)]
    {
        let _ = (shard, hash);
        (f(), false)
    }
}
