//! Large bucket arrays mapped straight from the OS, and unmapped a slice at a
//! time.
//!
//! # Why not the global allocator for big tables
//! A migration's successor must start zeroed. Through the global allocator,
//! glibc serves a large `calloc` with a fresh mapping only until the process
//! frees its first large block: that raises glibc's *dynamic* mmap threshold,
//! and from then on tables up to 32 MiB come from the heap, where `calloc`
//! must `memset` memory that was used before. That memset (16 MiB for a
//! 2^18-bucket table) landed inside the insert that started a migration, a
//! pause of 10-40 ms in `benches/pauses.rs`; and a freed table stayed in the
//! heap instead of returning to the OS. An anonymous mapping is always fresh
//! zero pages, faulted in one at a time as evacuation writes to them, and
//! `munmap` returns it at once.
//!
//! Unmapping populated memory costs about 70-130 µs per MiB, so freeing a
//! 32 MiB table in one go would be a pause of its own in whichever operation
//! runs the collector; [`Pages::unmap_tail`] lets the retirer unmap it a
//! slice per write instead (see `sliced.rs`).
//!
//! # Where it applies
//! Arrays of at least [`MIN_BYTES`] on Unix, outside Miri and loom (which
//! cannot model `mmap`); everything else uses the global allocator. Mapped
//! bytes are invisible to a counting global allocator, so they are counted
//! here and reported by [`mapped_bytes`] (public as
//! `evacmap::os_mapped_bytes`).

use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// The smallest array mapped from the OS: 2^14 buckets. Smaller tables are
/// cheap to zero, and allocator pooling serves them better.
pub(crate) const MIN_BYTES: usize = 1 << 20;

/// The most one write unmaps of a retired table (about 35 µs of kernel work
/// on the benchmark machine; see `sliced.rs`).
pub(crate) const SLICE_BYTES: usize = 256 << 10;

/// Bytes currently mapped by every map in the process.
static MAPPED: AtomicUsize = AtomicUsize::new(0);

/// Bytes of bucket arrays currently mapped from the OS by every map in the
/// process (including retired arrays not yet unmapped).
pub(crate) fn mapped_bytes() -> usize {
    MAPPED.load(Relaxed)
}

/// Whether an array of `bytes` is mapped from the OS rather than allocated.
pub(crate) const fn used_for(bytes: usize) -> bool {
    cfg!(all(unix, not(miri), not(loom))) && bytes >= MIN_BYTES
}

/// An anonymous, private, read-write mapping, zero-filled when made. Owns
/// the range `[ptr, ptr + len)`; dropping it unmaps what is left.
pub(crate) struct Pages {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a mapping is plain memory owned by this value alone; nothing about
// it is tied to the thread that made it.
unsafe impl Send for Pages {}

impl Pages {
    /// Maps `len` zeroed bytes (`used_for(len)` must hold, and `len` is a
    /// multiple of the page size), or `None` if the OS refuses.
    #[cfg(all(unix, not(miri), not(loom)))]
    pub(crate) fn map(len: usize) -> Option<Pages> {
        debug_assert!(used_for(len) && len % SLICE_BYTES == 0, "whole pages");
        // SAFETY: a fresh anonymous mapping aliases nothing.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return None;
        }
        MAPPED.fetch_add(len, Relaxed);
        Some(Pages {
            ptr: NonNull::new(ptr.cast())?,
            len,
        })
    }

    /// Not available here: `used_for` is false, so this is never called.
    #[cfg(not(all(unix, not(miri), not(loom))))]
    pub(crate) fn map(_len: usize) -> Option<Pages> {
        unreachable!("Pages::map called where used_for() is false")
    }

    /// Start of the mapping (page-aligned).
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Bytes still mapped.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Unmaps up to `max` bytes (rounded down to whole pages, as every
    /// budget here is a multiple of [`SLICE_BYTES`]) off the end and returns
    /// how many were unmapped.
    ///
    /// # Safety
    /// Nothing reads or writes the unmapped range any more.
    pub(crate) unsafe fn unmap_tail(&mut self, max: usize) -> usize {
        let n = self.len.min(max);
        self.len -= n;
        // SAFETY: `[ptr + len, ptr + len + n)` lies inside our mapping, and
        // per the contract nothing uses it.
        unsafe { unmap(self.ptr.as_ptr().add(self.len), n) };
        n
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        // SAFETY: the owner is gone, so nothing uses the mapping any more.
        unsafe { self.unmap_tail(usize::MAX) };
    }
}

/// # Safety
/// `[ptr, ptr + len)` is a mapped range made by [`Pages::map`], unused.
#[cfg(all(unix, not(miri), not(loom)))]
unsafe fn unmap(ptr: *mut u8, len: usize) {
    if len == 0 {
        return;
    }
    // SAFETY: per the contract.
    let rc = unsafe { libc::munmap(ptr.cast(), len) };
    // munmap of a range we own fails only on invalid arguments: a bug.
    assert_eq!(rc, 0, "munmap failed");
    MAPPED.fetch_sub(len, Relaxed);
}

#[cfg(not(all(unix, not(miri), not(loom))))]
unsafe fn unmap(_ptr: *mut u8, len: usize) {
    debug_assert_eq!(len, 0, "no mappings exist here");
}

#[cfg(all(test, unix, not(miri), not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn mapped_zeroed_unmapped_in_slices() {
        let before = mapped_bytes();
        let mut pages = Pages::map(MIN_BYTES).expect("mmap");
        // SAFETY: the mapping is ours and `len` bytes long.
        let bytes = unsafe { std::slice::from_raw_parts_mut(pages.as_ptr(), pages.len()) };
        assert!(bytes.iter().all(|&b| b == 0), "fresh pages are zero");
        bytes[0] = 1;
        bytes[bytes.len() - 1] = 1;
        assert!(mapped_bytes() >= before + MIN_BYTES);
        // SAFETY: `bytes` is dead; nothing uses the tail.
        assert_eq!(unsafe { pages.unmap_tail(SLICE_BYTES) }, SLICE_BYTES);
        assert_eq!(pages.len(), MIN_BYTES - SLICE_BYTES);
        drop(pages);
    }
}
