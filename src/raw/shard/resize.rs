//! Resize policy: when a shard's table grows or shrinks, and to what size.
//!
//! - The thresholds ([`MAX_LOAD`], [`SHRINK_DIVISOR`]) and the pure sizing
//!   functions built on them, unit-tested below.
//! - The trigger, [`Shard::after_write`]: checked after every write and after
//!   every completed migration.
//! - The explicit resizes: [`Shard::reserve`] (raises the floor) and
//!   [`Shard::shrink_to_fit`] (forgets it).
//!
//! Resizing itself, the incremental evacuation these start, is the migration
//! driver's (`migrate.rs`).
//!
//! # Invariant: *hysteresis*
//! No resize is followed at once by another: the grow and shrink thresholds
//! are far apart ([`SHRINK_DIVISOR`]), a grow doubles and a shrink lands
//! half full ([`shrink_target`]), so neither threshold is crossed again
//! without many writes (unit test `sizing_thresholds`); and no automatic
//! resize goes under the shard's floor (the capacity the user asked for).

use std::sync::atomic::Ordering::Relaxed;

use super::{AfterUnlock, Policy, Shard, State};
use crate::raw::table::{Table, MAX_LOG2};
use crate::sync::epoch::Guard;
use crate::sync::Ordering;

/// Entries per bucket at which a shard grows (of [`SLOTS`](crate::raw::tag::SLOTS) slots). Lower
/// means fewer overflow buckets and faster misses; higher means fewer bytes.
pub(crate) const MAX_LOAD: usize = 4;
/// A shard shrinks when its load falls under `MAX_LOAD / SHRINK_DIVISOR` per
/// bucket: a wide band between grow and shrink (hysteresis).
pub(crate) const SHRINK_DIVISOR: usize = 8;

/// How many entries a table of `2^log2` buckets holds before it grows.
pub(crate) fn capacity_of(log2: u32) -> usize {
    MAX_LOAD << log2
}

/// The smallest `log2` whose table holds `entries` without growing, or None
/// if no table can.
pub(crate) fn log2_for(entries: usize) -> Option<u32> {
    let buckets = entries
        .div_ceil(MAX_LOAD)
        .max(1)
        .checked_next_power_of_two()?;
    let log2 = buckets.trailing_zeros();
    (log2 <= MAX_LOG2).then_some(log2)
}

/// Whether a table of `2^log2` buckets holding `len` entries must grow.
pub(crate) fn should_grow(len: usize, log2: u32) -> bool {
    len > capacity_of(log2) && log2 < MAX_LOG2
}

/// Whether a table should shrink: far under-loaded and above the floor.
pub(crate) fn should_shrink(len: usize, log2: u32, floor_log2: u32) -> bool {
    log2 > floor_log2 && len < capacity_of(log2) / SHRINK_DIVISOR
}

/// The table size a shrink or `shrink_to_fit` aims at: half full, so that
/// neither a grow nor another shrink follows immediately; never under the floor.
pub(crate) fn shrink_target(len: usize, floor_log2: u32) -> u32 {
    log2_for(len.saturating_mul(2))
        .unwrap_or(MAX_LOG2)
        .max(floor_log2)
}

/// Why a reservation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReserveError {
    /// No table can hold that many entries.
    CapacityOverflow,
    /// The allocator refused a table of this many bytes.
    AllocationFailed(usize),
}

impl<K, V> Shard<K, V> {
    /// After a write: start a resize if the load calls for one (and, in
    /// blocking mode, finish it at once).
    pub(super) fn after_write(
        &self,
        state: &mut State<K, V>,
        policy: &Policy,
        guard: &Guard,
        after: &mut AfterUnlock,
    ) where
        K: Send + 'static,
        V: Send + 'static,
    {
        if state.migration.is_some() {
            return;
        }
        let root = self.root.load(Ordering::Relaxed);
        // SAFETY: live under the lock.
        let Some(root) = (unsafe { root.as_ref() }) else {
            return;
        };
        let len = self.writer.counters.len.load(Relaxed);
        let log2 = root.log2();
        let target = if log2 < state.floor_log2 {
            state.floor_log2
        } else if should_grow(len, log2) {
            log2 + 1
        } else if policy.auto_shrink && should_shrink(len, log2, state.floor_log2) {
            shrink_target(len, state.floor_log2)
        } else {
            return;
        };
        self.start_migration(state, policy, guard, target, after);
    }

    /// Makes room for `extra` more entries and raises the floor to it. The
    /// table is allocated now (fallibly), so an impossible reservation is an
    /// error here rather than an abort at some later insert; the grow itself
    /// is incremental like any other. A pending migration is finished first.
    pub(crate) fn reserve(
        &self,
        policy: &Policy,
        guard: &Guard,
        extra: usize,
    ) -> Result<(), ReserveError>
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        let mut after = AfterUnlock::default();
        let result = (|| {
            let mut state = self.lock();
            let len = self.writer.counters.len.load(Relaxed);
            let needed = len
                .checked_add(extra)
                .ok_or(ReserveError::CapacityOverflow)?;
            let wanted = log2_for(needed).ok_or(ReserveError::CapacityOverflow)?;
            if wanted <= state.floor_log2 {
                return Ok(());
            }
            if self.root.load(Ordering::Relaxed).is_null() {
                let root = Table::try_alloc(wanted, policy.map_large_tables)
                    .ok_or(ReserveError::AllocationFailed(Table::<K, V>::bytes(wanted)))?;
                state.floor_log2 = wanted;
                self.install_root(&mut state, root, wanted);
                return Ok(());
            }
            self.finish_migrations(&mut state, policy, guard, &mut after);
            // The floor first: a blocking grow completes inside, and
            // completion re-checks the thresholds against the floor.
            let old_floor = std::mem::replace(&mut state.floor_log2, wanted);
            let started =
                self.try_start_migration(&mut state, policy, guard, wanted, &mut after, |log2| {
                    Table::try_alloc(log2, policy.map_large_tables)
                });
            if let Err(bytes) = started {
                state.floor_log2 = old_floor;
                return Err(ReserveError::AllocationFailed(bytes));
            }
            Ok(())
        })();
        after.run(guard);
        result
    }

    /// Resizes the table to what the contents need (growing if writes outran
    /// it), finishing any migration first and this resize too: an explicit
    /// compaction. Forgets the floor.
    pub(crate) fn shrink_to_fit(&self, policy: &Policy, guard: &Guard)
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        let mut after = AfterUnlock::default();
        {
            let mut state = self.lock();
            state.floor_log2 = 0;
            if self.root.load(Ordering::Relaxed).is_null() {
                self.writer.counters.target_log2.store(0, Relaxed);
            } else {
                self.finish_migrations(&mut state, policy, guard, &mut after);
                let len = self.writer.counters.len.load(Relaxed);
                self.start_migration(&mut state, policy, guard, shrink_target(len, 0), &mut after);
                self.finish_migrations(&mut state, policy, guard, &mut after);
            }
        }
        after.run(guard);
        self.writer.pool.drain();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn sizing_thresholds() {
        assert_eq!(log2_for(0), Some(0));
        assert_eq!(log2_for(MAX_LOAD), Some(0));
        assert_eq!(log2_for(MAX_LOAD + 1), Some(1));
        assert_eq!(log2_for(1000), Some(8)); // 250 buckets -> 256
        assert_eq!(log2_for(usize::MAX), None);
        assert!(!should_grow(capacity_of(3), 3));
        assert!(should_grow(capacity_of(3) + 1, 3));
        // Shrink only far below the grow threshold, never below the floor.
        assert!(should_shrink(0, 4, 0));
        assert!(!should_shrink(capacity_of(4) / SHRINK_DIVISOR, 4, 0));
        assert!(!should_shrink(0, 4, 4));
        // After a shrink the table is about half full: no immediate re-grow
        // and no immediate re-shrink.
        for len in [0usize, 1, 7, 100, 5000] {
            let log2 = shrink_target(len, 0);
            assert!(!should_grow(len, log2), "len {len}");
            assert!(!should_shrink(len, log2, 0) || log2 == 0, "len {len}");
        }
        assert_eq!(shrink_target(0, 6), 6);
    }
}
