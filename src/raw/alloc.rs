//! Bucket-array memory: a zeroed, cache-line-aligned array of buckets, from
//! the global allocator or, for large arrays, mapped from the OS
//! (`pages.rs`). A table (`table.rs`) owns one; this module owns how its
//! memory is obtained and given back.
//!
//! The invariant everything here rests on, the *zeroed-bucket rule*: an
//! all-zero `Bucket` is a valid empty bucket (see [`alloc_buckets`]), so a
//! new array is never initialised bucket by bucket.

use super::bucket::Bucket;
#[cfg(not(loom))]
use super::pages;
use super::pages::Pages;

/// Bytes over-allocated so that the bucket array can start on a cache line
/// while the allocation itself asks for the allocator's minimum alignment.
pub(crate) const ALIGN_SLACK: usize = if cfg!(loom) { 0 } else { 64 - 16 };

/// A zeroed, cache-line-aligned array of buckets.
///
/// Large arrays are mapped from the OS (see `pages.rs`). Why smaller ones are
/// not a `Box<[Bucket]>`: zeroed memory with 64-byte alignment makes the
/// system allocator use `posix_memalign` and then `memset` the whole array,
/// touching every page of a new table at the moment a migration starts. At
/// 16-byte alignment it uses `calloc`, which can skip the memset. So: allocate
/// 48 bytes more at alignment 16, start the array at the first 64-byte
/// boundary, free with the same layout.
pub(crate) struct Buckets<K, V> {
    #[cfg(not(loom))]
    first: std::ptr::NonNull<Bucket<K, V>>,
    #[cfg(not(loom))]
    len: usize,
    #[cfg(not(loom))]
    backing: Backing,
    #[cfg(loom)]
    boxed: Box<[Bucket<K, V>]>,
}

/// Where a bucket array's memory comes from.
#[cfg(not(loom))]
enum Backing {
    /// The global allocator; the allocation starts at this address.
    Heap(std::ptr::NonNull<u8>),
    /// An OS mapping (large arrays).
    Pages(Pages),
    /// Handed to the caller by `take_pages`; nothing left to free.
    Released,
}

impl<K, V> Buckets<K, V> {
    #[cfg(not(loom))]
    fn layout(n: usize) -> Option<std::alloc::Layout> {
        let size = n
            .checked_mul(Bucket::<K, V>::BYTES)?
            .checked_add(ALIGN_SLACK)?;
        std::alloc::Layout::from_size_align(size, 16).ok()
    }
}

impl<K, V> std::ops::Deref for Buckets<K, V> {
    type Target = [Bucket<K, V>];
    #[inline(always)]
    fn deref(&self) -> &[Bucket<K, V>] {
        #[cfg(not(loom))]
        // SAFETY: `first` points at `len` initialised (zeroed) buckets inside
        // the allocation `base`, which lives until `drop`.
        return unsafe { std::slice::from_raw_parts(self.first.as_ptr(), self.len) };
        #[cfg(loom)]
        return &self.boxed;
    }
}

impl<K, V> Buckets<K, V> {
    /// Gives up an OS-mapped array's pages (the buckets must not be used
    /// afterwards); `None` for a heap array, which is freed on drop as usual.
    pub(crate) fn take_pages(&mut self) -> Option<Pages> {
        #[cfg(not(loom))]
        if matches!(self.backing, Backing::Pages(_)) {
            let Backing::Pages(pages) = std::mem::replace(&mut self.backing, Backing::Released)
            else {
                unreachable!()
            };
            self.len = 0;
            return Some(pages);
        }
        None
    }
}

#[cfg(not(loom))]
impl<K, V> Drop for Buckets<K, V> {
    fn drop(&mut self) {
        // Buckets need no destructor (atomics and a zero-sized canary).
        if let Backing::Heap(base) = self.backing {
            let layout = Self::layout(self.len).expect("allocated with this layout");
            // SAFETY: `base` was allocated in `alloc_buckets` with exactly
            // this layout.
            unsafe { std::alloc::dealloc(base.as_ptr(), layout) };
        }
        // `Backing::Pages` unmaps itself when dropped.
    }
}

/// Allocates `n` empty buckets, or `None` if the allocator refuses.
pub(crate) fn alloc_buckets<K, V>(n: usize, map_large: bool) -> Option<Buckets<K, V>> {
    #[cfg(not(loom))]
    {
        let bytes = n.checked_mul(Bucket::<K, V>::BYTES)?;
        if map_large && pages::used_for(bytes) {
            let pages = Pages::map(bytes)?;
            // A mapping is page-aligned, hence cache-line-aligned.
            let first = std::ptr::NonNull::new(pages.as_ptr() as *mut Bucket<K, V>)?;
            // SAFETY of use: fresh anonymous pages are zero, and an all-zero
            // `Bucket` is a valid empty bucket (see below).
            return Some(Buckets {
                first,
                len: n,
                backing: Backing::Pages(pages),
            });
        }
        let layout = Buckets::<K, V>::layout(n)?;
        // SAFETY: the layout is non-zero (`n >= 1`). An all-zero `Bucket` is a
        // valid empty bucket: its fields are atomics (zero = 0 / null) and a
        // zero-sized canary. `align_offset` is at most 48 = ALIGN_SLACK, so
        // `n` buckets fit after the aligned start.
        unsafe {
            let base = std::ptr::NonNull::new(std::alloc::alloc_zeroed(layout))?;
            let offset = base
                .as_ptr()
                .align_offset(std::mem::align_of::<Bucket<K, V>>());
            debug_assert!(offset <= ALIGN_SLACK);
            let first = std::ptr::NonNull::new(base.as_ptr().add(offset) as *mut Bucket<K, V>)?;
            Some(Buckets {
                first,
                len: n,
                backing: Backing::Heap(base),
            })
        }
    }
    #[cfg(loom)]
    {
        // No OS mappings under loom (see `pages.rs`).
        let _ = map_large;
        // Loom's atomics must be constructed, not zeroed.
        Some(Buckets {
            boxed: (0..n).map(|_| Bucket::new()).collect(),
        })
    }
}
