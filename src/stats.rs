//! [`MapStats`]: what a map holds, in entries and in bytes.

use std::fmt;

/// A snapshot of a map's size, memory and resizing state, from
/// [`HashMap::stats`](crate::HashMap::stats).
///
/// Counters are read without locks, shard by shard: exact when no write is in
/// flight, approximate otherwise. Byte figures count evacmap's own
/// allocations (tables, overflow buckets, entries, the shard array); memory
/// owned *inside* keys and values (a `String`'s buffer, say) is not included.
/// With a counting global allocator, `total_bytes()` matches what the map
/// holds (the tests check agreement within 5%).
///
/// ```
/// let map = evacmap::HashMap::new();
/// for i in 0..1000u64 {
///     map.insert(i, i);
/// }
/// let stats: evacmap::MapStats = map.stats();
/// assert_eq!((stats.len, stats.shards), (1000, map.shards()));
/// assert!(stats.capacity >= stats.len);
/// assert!(stats.entry_bytes >= 1000 * 16); // each entry holds two u64s at least
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MapStats {
    /// Live entries.
    pub len: usize,
    /// Entries the current tables hold before growing.
    pub capacity: usize,
    /// Shards.
    pub shards: usize,
    /// Tables allocated (one per non-empty shard, two while it migrates).
    pub tables: usize,
    /// Primary buckets in all tables.
    pub buckets: usize,
    /// Overflow buckets in all tables.
    pub overflow_buckets: usize,
    /// Bytes of tables and their overflow buckets.
    pub table_bytes: usize,
    /// Bytes of live entries (hash, key, value).
    pub entry_bytes: usize,
    /// Bytes of the shard array (fixed per map).
    pub shard_bytes: usize,
    /// Bytes retired (replaced or removed entries, old tables, emptied
    /// overflow buckets, cleared tables) and not yet freed: they are freed once
    /// every thread that could still read them has unpinned.
    pub retired_bytes: usize,
    /// Objects retired and not yet freed.
    pub retired_objects: usize,
    /// Bytes of retired entries' blocks kept for the next inserts instead
    /// of freed: at most about half the live entries' bytes, plus a little
    /// per shard. `clear`, `shrink_to_fit` and `reclaim` free them.
    pub pooled_bytes: usize,
    /// Completed grows.
    pub grows: usize,
    /// Completed shrinks.
    pub shrinks: usize,
    /// Shards with a migration in progress.
    pub migrations_in_progress: usize,
    /// Old buckets still to evacuate, over all migrating shards.
    pub migration_buckets_remaining: usize,
}

impl MapStats {
    /// Bytes the map holds for its live contents: tables, entries, shards.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert(1u64, [0u8; 1024]);
    /// let stats = map.stats();
    /// assert_eq!(stats.held_bytes(), stats.table_bytes + stats.entry_bytes + stats.shard_bytes);
    /// assert!(stats.held_bytes() > 1024);
    /// ```
    pub fn held_bytes(&self) -> usize {
        self.table_bytes + self.entry_bytes + self.shard_bytes
    }

    /// Held plus retired-but-not-yet-freed plus pooled bytes: what the
    /// allocator sees.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert(1u64, 1u64);
    /// let pinned = map.pin(); // keeps what is retired from being freed
    /// pinned.remove(&1);
    /// let stats = map.stats();
    /// assert!(stats.retired_bytes > 0);
    /// assert_eq!(stats.total_bytes(), stats.held_bytes() + stats.retired_bytes + stats.pooled_bytes);
    /// ```
    pub fn total_bytes(&self) -> usize {
        self.held_bytes() + self.retired_bytes + self.pooled_bytes
    }
}

impl fmt::Display for MapStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
        write!(
            f,
            "len {} / capacity {} | {} shards, {} tables, {} buckets + {} overflow | held {:.1} MiB \
             (tables {:.1}, entries {:.1}) | retired, pending {:.1} MiB in {} objects | pooled {:.1} MiB | grows {}, shrinks {}, \
             migrating {} shards ({} buckets left)",
            self.len,
            self.capacity,
            self.shards,
            self.tables,
            self.buckets,
            self.overflow_buckets,
            mib(self.held_bytes()),
            mib(self.table_bytes),
            mib(self.entry_bytes),
            mib(self.retired_bytes),
            self.retired_objects,
            mib(self.pooled_bytes),
            self.grows,
            self.shrinks,
            self.migrations_in_progress,
            self.migration_buckets_remaining,
        )
    }
}

/// What [`HashMap::reclaim`](crate::HashMap::reclaim) did and left.
///
/// ```
/// use std::thread;
/// let map = evacmap::HashMap::new();
/// map.insert(1u64, 1u64);
/// let (pinned, removed) = (std::sync::Barrier::new(2), std::sync::Barrier::new(2));
/// thread::scope(|s| {
///     s.spawn(|| {
///         let _guard = map.pin(); // another thread, still reading
///         pinned.wait();
///         removed.wait();
///     });
///     pinned.wait();
///     map.remove(&1);
///     let report: evacmap::Reclaimed = map.reclaim();
///     assert!(report.pending_bytes > 0); // it cannot be freed yet
///     removed.wait();
/// });
/// assert_eq!(map.reclaim().pending_bytes, 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reclaimed {
    /// Shards whose pending migration it finished.
    pub migrations_finished: usize,
    /// Retired bytes still waiting: another thread is pinned, or the garbage
    /// sits in another thread's local bag.
    pub pending_bytes: usize,
    /// Retired objects still waiting.
    pub pending_objects: usize,
}
