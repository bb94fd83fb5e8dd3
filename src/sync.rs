//! The one place that decides whether evacmap's synchronisation primitives are
//! the real ones or loom's model-checked stand-ins.
//!
//! The rule: shared state whose synchronisation the algorithm relies on
//! (every atomic loaded or stored with an ordering other than Relaxed, the
//! shard lock, per-thread state that decides what a thread does) comes from
//! here, never from `std::sync::atomic`, `parking_lot` or `loom` directly.
//! Two kinds of state are std's even under a model, because a model gains
//! nothing from seeing them and every loom atomic adds interleavings to
//! explore: statistics, accessed Relaxed and deciding nothing outside the
//! shard lock (a shard's `Counters` except `inserts`, `raw/accounting.rs`,
//! `raw/pages.rs`'s mapped bytes, `RawMap::reserved`, the cache's stats),
//! the cache's `MockClock` (a time source the user drives, as the system
//! clock is); and `raw/sliced.rs`'s queue of big frees and per-thread
//! inline-free budget, which a model never uses (under loom queued work is
//! done at once and batches are always freed inline). Under
//! `--cfg loom` (with `--cfg crossbeam_loom`, see `loom-tests/`; no cargo
//! feature is involved) the atomics and the shard mutex are loom's, and
//! crossbeam-epoch runs its own loom mode, so every interleaving of the
//! protocol (including reclamation) is explored.

#[cfg(all(loom, not(crossbeam_loom)))]
compile_error!("`--cfg loom` needs `--cfg crossbeam_loom` too, so crossbeam-epoch is modelled");

pub(crate) use crossbeam_epoch as epoch;

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU64, AtomicU8, AtomicUsize};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicU8, AtomicUsize};

// `Ordering` is a plain enum in both worlds.
pub(crate) use std::sync::atomic::Ordering;

/// `thread_local!` for per-thread state that decides what a thread does
/// (the cache's re-entrancy marks and its reads-until-expiry-work counter):
/// std's normally, loom's under a model. Loom runs every model thread on
/// one OS thread, so a std thread-local would be one value shared by all
/// model threads (one thread's "I hold a shard lock" mark would make
/// another panic) and would carry over from one execution to the next (so
/// replaying a schedule would not replay the same steps). Loom's gives each
/// model thread its own value, fresh in every execution. Takes std's
/// `const { .. }` form only (loom's macro does not accept it, so under loom
/// the initialiser is passed on without `const`).
macro_rules! model_thread_local {
    ($($(#[$attr:meta])* static $name:ident: $t:ty = const { $init:expr };)*) => {
        $(
            #[cfg(not(loom))]
            std::thread_local! { $(#[$attr])* static $name: $t = const { $init }; }
            #[cfg(loom)]
            loom::thread_local! { $(#[$attr])* static $name: $t = $init; }
        )*
    };
}
pub(crate) use model_thread_local as thread_local;

/// The shard writer lock: `parking_lot::Mutex` normally, loom's under a model.
pub(crate) struct Mutex<T> {
    #[cfg(not(loom))]
    inner: parking_lot::Mutex<T>,
    #[cfg(loom)]
    inner: loom::sync::Mutex<T>,
}

#[cfg(not(loom))]
pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;
#[cfg(loom)]
pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            #[cfg(not(loom))]
            inner: parking_lot::Mutex::new(value),
            #[cfg(loom)]
            inner: loom::sync::Mutex::new(value),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        #[cfg(not(loom))]
        return self.inner.lock();
        #[cfg(loom)]
        return self
            .inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
    }

    /// Takes the lock only if nobody holds it. Readers use this to help a
    /// pending migration without ever waiting.
    pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        #[cfg(not(loom))]
        {
            // A plain load first: readers that find the lock busy leave without
            // a read-for-ownership of the lock's cache line.
            if self.inner.is_locked() {
                return None;
            }
            self.inner.try_lock()
        }
        #[cfg(loom)]
        match self.inner.try_lock() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }
}

/// A condition variable for [`Mutex`]: `parking_lot::Condvar` normally,
/// loom's under a model.
pub(crate) struct Condvar {
    #[cfg(not(loom))]
    inner: parking_lot::Condvar,
    #[cfg(loom)]
    inner: loom::sync::Condvar,
}

impl Condvar {
    pub(crate) fn new() -> Self {
        Condvar {
            #[cfg(not(loom))]
            inner: parking_lot::Condvar::new(),
            #[cfg(loom)]
            inner: loom::sync::Condvar::new(),
        }
    }

    /// Releases the lock, waits for a notification (or a spurious wakeup),
    /// and takes the lock again.
    pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        #[cfg(not(loom))]
        {
            let mut guard = guard;
            self.inner.wait(&mut guard);
            guard
        }
        #[cfg(loom)]
        self.inner
            .wait(guard)
            .unwrap_or_else(|poison| poison.into_inner())
    }

    pub(crate) fn notify_all(&self) {
        self.inner.notify_all();
    }
}

/// A use-after-free detector for loom models; a zero-sized no-op otherwise.
///
/// Loom does not track raw memory. Readers `touch` the canary of every table
/// and overflow bucket they enter, and freeing one `kill`s it (a write). If a
/// free is not ordered after every reader that could still see the object,
/// loom reports the read/write race, which is exactly the early free.
#[derive(Default)]
pub(crate) struct Canary {
    #[cfg(loom)]
    cell: loom::cell::UnsafeCell<u8>,
}

impl Canary {
    #[inline(always)]
    pub(crate) fn touch(&self) {
        #[cfg(loom)]
        self.cell.with(|_| ());
    }

    #[inline(always)]
    pub(crate) fn kill(&self) {
        #[cfg(loom)]
        self.cell.with_mut(|_| ());
    }
}
