//! Entries: one heap allocation each, holding the full hash, the key and the
//! value.
//!
//! An entry is immutable once published (stored into a slot with Release).
//! Updating a key publishes a new entry in the same slot and retires the old
//! one through the epoch, so a reader holding a guard may keep `&V` for as long
//! as the guard lives. While a bucket is being evacuated, the old and the new
//! table point at the same entry: tables never own entries' memory on their
//! own, see `Table::free`.

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

    /// Allocates an unpublished entry; the caller owns it until it is stored
    /// into a slot. (The map itself boxes entries; tests build chains by hand.)
    #[cfg(test)]
    pub(crate) fn alloc(hash: u64, key: K, value: V) -> *mut Self {
        Box::into_raw(Box::new(Entry { hash, key, value }))
    }

    /// Takes back an entry that was never published.
    ///
    /// # Safety
    /// `ptr` came from [`Entry::alloc`], was never stored into a slot (or was
    /// unpublished and no reader can have seen it), and is not used afterwards.
    pub(crate) unsafe fn unpublished_into_parts(ptr: *mut Self) -> (K, V) {
        // SAFETY: the caller guarantees sole ownership of a live allocation
        // made by `Box::into_raw` in `alloc`.
        let entry = unsafe { Box::from_raw(ptr) };
        (entry.key, entry.value)
    }
}
