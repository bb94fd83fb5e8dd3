//! Entries: one heap allocation each, holding the full hash, the key and the
//! value.
//!
//! An entry is immutable once published (stored into a slot with Release).
//! Updating a key publishes a new entry in the same slot and retires the old
//! one through the epoch, so a reader holding a guard may keep `&V` for as long
//! as the guard lives. While a bucket is being evacuated, the old and the new
//! table point at the same entry: tables never own entries' memory on their
//! own, see `Table::free_owned`.
//!
//! Before publication an entry is owned by an [`Unpublished`], a raw-pointer
//! owner: moving it does not assert uniqueness the way moving a `Box` does, so
//! the key reference a writer takes for the lookup stays valid while the
//! owner moves into the shard, and if user code panics before publication the
//! owner still drops the entry.
//!
//! An entry's memory comes from the global allocator with the layout of
//! `Entry<K, V>`, directly or through the shard's pool of recycled blocks
//! (`pool.rs`), so any entry may be freed as a `Box`.

use std::ptr::NonNull;

pub(crate) struct Entry<K, V> {
    /// The full hash, so that evacuation, filtering and resizing never call
    /// user `Hash` code again.
    pub(crate) hash: u64,
    pub(crate) key: K,
    pub(crate) value: V,
}

impl<K, V> Entry<K, V> {
    /// Bytes one entry's allocation asks for (what `stats()` counts).
    pub(crate) const BYTES: usize = std::mem::size_of::<Self>();

    /// Allocates an unpublished entry as a raw pointer (tests build chains
    /// by hand).
    #[cfg(test)]
    pub(crate) fn alloc(hash: u64, key: K, value: V) -> *mut Self {
        Unpublished::new(hash, key, value).publish()
    }

    /// Takes back an entry that was never published.
    ///
    /// # Safety
    /// `ptr` came from an [`Unpublished`] (`publish`), was never stored into
    /// a slot (or was unpublished and no reader can have seen it), and is not
    /// used afterwards.
    pub(crate) unsafe fn unpublished_into_parts(ptr: *mut Self) -> (K, V) {
        // SAFETY: the caller guarantees sole ownership of a live entry; its
        // memory is the global allocator's with `Entry`'s layout (a `Box`'s,
        // or a recycled block that was one: see the module doc).
        let entry = unsafe { Box::from_raw(ptr) };
        (entry.key, entry.value)
    }
}

/// An entry allocated but not yet stored into a slot: the writer owns it.
pub(crate) struct Unpublished<K, V>(NonNull<Entry<K, V>>);

impl<K, V> Unpublished<K, V> {
    pub(crate) fn new(hash: u64, key: K, value: V) -> Self {
        Unpublished(NonNull::from(Box::leak(Box::new(Entry {
            hash,
            key,
            value,
        }))))
    }

    /// [`Unpublished::new`] in `block` if there is one (a recycled block,
    /// `pool.rs`), else in a fresh allocation.
    ///
    /// # Safety
    /// `block`, if any, is memory of the global allocator with the layout of
    /// `Entry<K, V>`, holding nothing, owned by the caller alone (what
    /// `EntryPool::take` returns: *a block is empty*).
    #[inline]
    pub(crate) unsafe fn new_in(block: Option<NonNull<u8>>, hash: u64, key: K, value: V) -> Self {
        let Some(block) = block else {
            return Self::new(hash, key, value);
        };
        let entry = block.cast::<Entry<K, V>>();
        // SAFETY: per the contract, the block is ours and fits an entry.
        unsafe {
            entry.as_ptr().write(Entry { hash, key, value });
        }
        Unpublished(entry)
    }

    pub(crate) fn as_ptr(&self) -> *mut Entry<K, V> {
        self.0.as_ptr()
    }

    pub(crate) fn hash(&self) -> u64 {
        // SAFETY: we own a live allocation.
        unsafe { self.0.as_ref().hash }
    }

    /// The key, for the lookup that precedes publication.
    ///
    /// # Safety
    /// The caller must not use the reference after the entry is freed: it
    /// stays valid while this owner lives, and after [`Unpublished::publish`]
    /// while a guard pinned before publication lives.
    pub(crate) unsafe fn key<'a>(&self) -> &'a K {
        // SAFETY: derived from the raw pointer (no Box retag); liveness per
        // the contract.
        unsafe { &(*self.0.as_ptr()).key }
    }

    /// Hands the entry over to a slot: from now on the map owns it.
    pub(crate) fn publish(self) -> *mut Entry<K, V> {
        let ptr = self.0.as_ptr();
        std::mem::forget(self);
        ptr
    }

    /// Takes key and value back.
    pub(crate) fn into_parts(self) -> (K, V) {
        // SAFETY: the entry was never published, so we are its only owner.
        unsafe { Entry::unpublished_into_parts(self.publish()) }
    }
}

impl<K, V> Drop for Unpublished<K, V> {
    fn drop(&mut self) {
        // SAFETY: never published: we own the allocation made in `new`.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}
