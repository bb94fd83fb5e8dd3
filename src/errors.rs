//! Error types of the map's fallible operations: [`OccupiedError`]
//! (`try_insert`) and [`TryReserveError`] (`try_reserve`).

use std::fmt;

use crate::refs::Ref;

/// The error of [`HashMap::try_insert`](crate::HashMap::try_insert): the key
/// was present. Carries the value in the map and the value that was not
/// inserted, as papaya's does (the rejected key was dropped; the map's equal
/// one is `current.key()`).
///
/// ```
/// let map = evacmap::HashMap::new();
/// map.insert("a", 1);
/// let err = map.try_insert("a", 2).unwrap_err();
/// assert_eq!((*err.current, err.not_inserted), (1, 2));
/// ```
pub struct OccupiedError<'a, K, V> {
    /// The value in the map, which was kept.
    pub current: Ref<'a, K, V>,
    /// The value that was not inserted.
    pub not_inserted: V,
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for OccupiedError<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OccupiedError")
            .field("key", self.current.key())
            .field("current", self.current.value())
            .field("not_inserted", &self.not_inserted)
            .finish()
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Display for OccupiedError<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "failed to insert {:?}: key {:?} already holds {:?}",
            self.not_inserted,
            self.current.key(),
            self.current.value()
        )
    }
}

impl<K: fmt::Debug, V: fmt::Debug> std::error::Error for OccupiedError<'_, K, V> {}

/// Why [`HashMap::try_reserve`](crate::HashMap::try_reserve) failed: its own
/// type, as std's `try_reserve` has one, rather than the builder's
/// [`BuildError`](crate::BuildError) (a reservation has no shard count or
/// step to get wrong). Nothing changed when it is returned.
///
/// ```
/// use evacmap::{HashMap, TryReserveError};
/// let map: HashMap<u64, u64> = HashMap::new();
/// assert_eq!(map.try_reserve(usize::MAX), Err(TryReserveError::CapacityOverflow));
/// assert!(map.try_reserve(100).is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryReserveError {
    /// No table can hold that many entries.
    CapacityOverflow,
    /// The allocator refused a table of this size.
    AllocationFailed {
        /// The bytes asked for.
        bytes: usize,
    },
}

impl fmt::Display for TryReserveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryReserveError::CapacityOverflow => {
                write!(f, "capacity overflow: no table can hold that many entries")
            }
            TryReserveError::AllocationFailed { bytes } => {
                write!(f, "the allocator refused a table of {bytes} bytes")
            }
        }
    }
}

impl std::error::Error for TryReserveError {}
