//! Cache prefetch hints: start loading a line the thread will read soon, so
//! that a miss overlaps other work instead of stalling it.
//!
//! Used where evacmap knows an address well before it needs the data: an
//! insert's bucket (known once the key is hashed, needed only after the entry
//! is allocated and the lock taken) and the entries of a migration step
//! (known from the old buckets, read one after the other by evacuation).
//!
//! A hint has no effect on what any load returns, and a prefetch never
//! faults, whatever the address: no invariant rests on it. It compiles to nothing outside x86_64, and under loom and Miri,
//! which model memory accesses, not caches.

/// Starts loading the cache line at `ptr` into every cache level.
#[inline(always)]
pub(crate) fn prefetch<T>(ptr: *const T) {
    #[cfg(all(target_arch = "x86_64", not(loom), not(miri)))]
    // SAFETY: `_mm_prefetch` is a hint that never faults or reads in the
    // abstract machine; SSE is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(ptr as *const i8)
    };
    #[cfg(not(all(target_arch = "x86_64", not(loom), not(miri))))]
    let _ = ptr;
}

/// Whether [`prefetch`] does anything in this build (callers skip the loads
/// that only compute addresses when it does not).
pub(crate) const ENABLED: bool = cfg!(all(target_arch = "x86_64", not(loom), not(miri)));
