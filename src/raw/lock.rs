//! The shard writer lock, with re-entry detection.
//!
//! The only user code evacmap runs while holding a shard lock is the key's
//! `Eq` (a lookup must compare keys). An `Eq` that calls back into a write on
//! the same shard would wait forever for a lock its own thread holds. Instead,
//! the lock remembers which thread holds it, and a thread that finds the lock
//! taken *by itself* panics with a message naming the mistake.
//!
//! Cost: one thread-local address and two plain stores per acquisition; the
//! owner is read only when the lock is contended.
//!
//! The same module remembers the last key this thread wrote ([`note_write`]),
//! so that an optimistic closure that writes its own key (and so makes its own
//! commit fail, forever) is reported instead of retried endlessly.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use crate::sync::{Mutex, MutexGuard};

pub(crate) struct ShardLock<T> {
    mutex: Mutex<T>,
    /// A token of the thread holding the lock (0 when free). Written by the
    /// holder only; meaningful to a thread only when compared to its own token.
    owner: AtomicUsize,
}

/// A held shard lock.
pub(crate) struct Locked<'a, T> {
    guard: MutexGuard<'a, T>,
    owner: &'a AtomicUsize,
}

/// A number unique to the current thread while it lives: the address of a
/// thread-local. (Loom runs model threads on one OS thread, so detection is
/// off under loom.)
#[cfg(not(loom))]
fn thread_token() -> usize {
    thread_local!(static TOKEN: u8 = const { 0 });
    TOKEN.with(|t| t as *const u8 as usize)
}

#[cfg(loom)]
fn thread_token() -> usize {
    0
}

impl<T> ShardLock<T> {
    pub(crate) fn new(value: T) -> Self {
        ShardLock {
            mutex: Mutex::new(value),
            owner: AtomicUsize::new(0),
        }
    }

    fn held<'a>(&'a self, guard: MutexGuard<'a, T>) -> Locked<'a, T> {
        self.owner.store(thread_token(), Relaxed);
        Locked {
            guard,
            owner: &self.owner,
        }
    }

    /// Takes the lock, waiting if another thread holds it.
    ///
    /// # Panics
    /// If the current thread already holds it (a key's `Eq` called back into
    /// the map), instead of deadlocking.
    #[inline]
    pub(crate) fn lock(&self) -> Locked<'_, T> {
        if let Some(guard) = self.mutex.try_lock() {
            return self.held(guard);
        }
        let me = thread_token();
        if me != 0 && self.owner.load(Relaxed) == me {
            panic!(
                "evacmap: re-entered a shard's writer lock on the thread that holds it; \
                 a key's `Eq` (the only user code run under a shard lock) must not call back into the map"
            );
        }
        self.held(self.mutex.lock())
    }

    /// Takes the lock only if it is free; never waits.
    pub(crate) fn try_lock(&self) -> Option<Locked<'_, T>> {
        self.mutex.try_lock().map(|guard| self.held(guard))
    }
}

impl<T> Drop for Locked<'_, T> {
    fn drop(&mut self) {
        // Before the guard (a field) unlocks: the next holder writes its own token.
        self.owner.store(0, Relaxed);
    }
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
