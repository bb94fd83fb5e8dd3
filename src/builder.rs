//! [`Builder`]: every construction option, validated into a `Result`.

use std::fmt;
use std::marker::PhantomData;
use std::sync::OnceLock;

use crate::raw::shard::resize;
use crate::raw::RawMap;
use crate::{DefaultHashBuilder, HashMap};

/// The most shards a map may have.
///
/// ```
/// use evacmap::{BuildError, HashMap, MAX_SHARDS};
/// let too_many = HashMap::<u64, u64>::builder().shards(2 * MAX_SHARDS).build();
/// assert_eq!(too_many.unwrap_err(), BuildError::TooManyShards(2 * MAX_SHARDS));
/// ```
pub const MAX_SHARDS: usize = 1 << 16;

/// How a shard moves its entries to a resized table.
///
/// ```
/// use evacmap::{HashMap, ResizeMode};
/// assert_eq!(ResizeMode::default(), ResizeMode::Incremental { step: 16 });
/// // Longer steps: fewer writes pay for a resize, each pays more.
/// let map: HashMap<u32, u32> = HashMap::builder()
///     .resize_mode(ResizeMode::Incremental { step: 64 })
///     .build()
///     .unwrap();
/// for i in 0..10_000 {
///     map.insert(i, i);
/// }
/// assert_eq!(map.len(), 10_000);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResizeMode {
    /// Every write to a migrating shard evacuates its own key's bucket and
    /// `step` more: a resize pause is bounded by the step, not the table size.
    /// Readers meanwhile follow MOVED marks to the new table.
    Incremental {
        /// Old buckets evacuated per write (at least 1).
        step: usize,
    },
    /// The write that triggers a resize moves the whole shard at once (higher
    /// throughput, unbounded pause). Readers are never blocked either way.
    Blocking,
}

impl Default for ResizeMode {
    fn default() -> Self {
        ResizeMode::Incremental { step: 16 }
    }
}

/// An impossible configuration, from [`Builder::build`].
///
/// ```
/// use evacmap::{BuildError, HashMap};
/// let err = HashMap::<u64, u64>::builder().shards(3).build().unwrap_err();
/// assert_eq!(err, BuildError::ShardsNotPowerOfTwo(3));
/// assert_eq!(err.to_string(), "the shard count must be a power of two, not 3");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// No table can hold the requested capacity.
    CapacityOverflow,
    /// The shard count is zero.
    ZeroShards,
    /// The shard count is not a power of two.
    ShardsNotPowerOfTwo(usize),
    /// More than [`MAX_SHARDS`] shards.
    TooManyShards(usize),
    /// An incremental step of zero buckets would never finish a resize.
    ZeroStep,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::CapacityOverflow => {
                write!(f, "capacity overflow: no table can hold that many entries")
            }
            BuildError::ZeroShards => write!(f, "a map needs at least one shard"),
            BuildError::ShardsNotPowerOfTwo(n) => {
                write!(f, "the shard count must be a power of two, not {n}")
            }
            BuildError::TooManyShards(n) => {
                write!(f, "{n} shards is more than the maximum of {MAX_SHARDS}")
            }
            BuildError::ZeroStep => write!(
                f,
                "an incremental resize step must move at least one bucket"
            ),
        }
    }
}

impl std::error::Error for BuildError {}

/// The default shard count: 4 × available parallelism, rounded up to a power
/// of two, computed once per process.
///
/// ```
/// let shards = evacmap::default_shards();
/// assert!(shards.is_power_of_two() && shards <= evacmap::MAX_SHARDS);
/// let map: evacmap::HashMap<u64, u64> = evacmap::HashMap::new();
/// assert_eq!(map.shards(), shards);
/// ```
pub fn default_shards() -> usize {
    static SHARDS: OnceLock<usize> = OnceLock::new();
    *SHARDS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cores * 4).next_power_of_two().min(MAX_SHARDS)
    })
}

/// Configures a [`HashMap`]; see [`HashMap::builder`].
///
/// ```
/// use evacmap::{HashMap, ResizeMode};
/// let map: HashMap<u64, String> = HashMap::builder()
///     .capacity(10_000)
///     .shards(16)
///     .resize_mode(ResizeMode::Blocking)
///     .auto_shrink(false)
///     .build()
///     .unwrap();
/// assert!(map.capacity() >= 10_000);
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Builder<K, V, S = DefaultHashBuilder> {
    capacity: usize,
    shards: Option<usize>,
    hasher: S,
    mode: ResizeMode,
    auto_shrink: bool,
    map_large_tables: bool,
    _map: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Builder<K, V, DefaultHashBuilder> {
    pub(crate) fn new() -> Self {
        Builder {
            capacity: 0,
            shards: None,
            hasher: DefaultHashBuilder::default(),
            mode: ResizeMode::default(),
            auto_shrink: true,
            map_large_tables: true,
            _map: PhantomData,
        }
    }
}

impl<K, V, S> Builder<K, V, S> {
    /// Entries the map holds without resizing; automatic shrinking never
    /// goes below it.
    ///
    /// ```
    /// let map: evacmap::HashMap<u64, u64> =
    ///     evacmap::HashMap::builder().capacity(1000).build().unwrap();
    /// assert!(map.capacity() >= 1000);
    /// for i in 0..1000 {
    ///     map.insert(i, i);
    /// }
    /// for i in 0..1000 {
    ///     map.remove(&i);
    /// }
    /// assert!(map.capacity() >= 1000); // emptied, but not shrunk below it
    /// ```
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// The shard count: a power of two, at most [`MAX_SHARDS`]. Default:
    /// [`default_shards`].
    ///
    /// ```
    /// use evacmap::{BuildError, HashMap};
    /// let map: HashMap<u64, u64> = HashMap::builder().shards(4).build().unwrap();
    /// assert_eq!(map.shards(), 4);
    /// let zero = HashMap::<u64, u64>::builder().shards(0).build();
    /// assert_eq!(zero.unwrap_err(), BuildError::ZeroShards);
    /// ```
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = Some(shards);
        self
    }

    /// The hasher. Default: a fast, randomly seeded one (foldhash).
    ///
    /// ```
    /// use evacmap::HashMap;
    /// use std::collections::hash_map::RandomState;
    /// let map: HashMap<&str, u32, RandomState> =
    ///     HashMap::builder().hasher(RandomState::new()).build().unwrap();
    /// map.insert("a", 1);
    /// assert_eq!(*map.get("a").unwrap(), 1);
    /// ```
    pub fn hasher<S2>(self, hasher: S2) -> Builder<K, V, S2> {
        Builder {
            capacity: self.capacity,
            shards: self.shards,
            hasher,
            mode: self.mode,
            auto_shrink: self.auto_shrink,
            map_large_tables: self.map_large_tables,
            _map: PhantomData,
        }
    }

    /// How resizes move entries. Default: incremental, 16 buckets per write.
    ///
    /// ```
    /// use evacmap::{HashMap, ResizeMode};
    /// let map: HashMap<u64, u64> = HashMap::builder()
    ///     .resize_mode(ResizeMode::Blocking)
    ///     .build()
    ///     .unwrap();
    /// for i in 0..10_000 {
    ///     map.insert(i, i);
    /// }
    /// let stats = map.stats();
    /// assert!(stats.grows > 0);
    /// // Each resize finished within the write that started it.
    /// assert_eq!(stats.migrations_in_progress, 0);
    /// ```
    pub fn resize_mode(mut self, mode: ResizeMode) -> Self {
        self.mode = mode;
        self
    }

    /// Whether shards shrink when their load falls far below capacity.
    /// Default: on. [`HashMap::shrink_to_fit`] shrinks either way.
    ///
    /// ```
    /// use evacmap::HashMap;
    /// let map: HashMap<u64, u64> = HashMap::builder().auto_shrink(false).build().unwrap();
    /// for i in 0..10_000 {
    ///     map.insert(i, i);
    /// }
    /// let grown = map.capacity();
    /// for i in 0..10_000 {
    ///     map.remove(&i);
    /// }
    /// assert_eq!(map.capacity(), grown);
    /// map.shrink_to_fit();
    /// assert!(map.capacity() < grown);
    /// ```
    pub fn auto_shrink(mut self, on: bool) -> Self {
        self.auto_shrink = on;
        self
    }

    /// Whether bucket arrays of 1 MiB and more (2^14 buckets) are mapped
    /// straight from the OS. Default: on, where the platform allows (Unix).
    ///
    /// Mapped arrays start as fresh zero pages, so starting a resize never
    /// zeroes a big table, and a retired one really returns to the OS (a
    /// slice per write). Turn it off to send every allocation through the
    /// global allocator, for example when that allocator enforces a limit
    /// or does your memory accounting; with glibc, large tables are then
    /// zeroed with `memset` when a resize starts, a pause of milliseconds
    /// at tens of MiB. While it is on, a counting allocator does not see
    /// these arrays: [`os_mapped_bytes`](crate::os_mapped_bytes) does.
    ///
    /// ```
    /// use evacmap::HashMap;
    /// let map: HashMap<u64, u64> = HashMap::builder()
    ///     .shards(1)
    ///     .capacity(1 << 18)
    ///     .map_large_tables(false)
    ///     .build()
    ///     .unwrap();
    /// map.insert(1, 1);
    /// assert!(map.stats().table_bytes >= 1 << 20); // a large table...
    /// assert_eq!(evacmap::os_mapped_bytes(), 0); // ...from the global allocator
    /// ```
    pub fn map_large_tables(mut self, on: bool) -> Self {
        self.map_large_tables = on;
        self
    }

    /// Builds the map, or says why the configuration is impossible.
    ///
    /// ```
    /// use evacmap::{BuildError, HashMap, ResizeMode};
    /// let map = HashMap::<u64, &str>::builder().capacity(100).build().unwrap();
    /// map.insert(1, "one");
    /// assert_eq!(map.len(), 1);
    /// let never_finishes = HashMap::<u64, &str>::builder()
    ///     .resize_mode(ResizeMode::Incremental { step: 0 })
    ///     .build();
    /// assert_eq!(never_finishes.unwrap_err(), BuildError::ZeroStep);
    /// ```
    pub fn build(self) -> Result<HashMap<K, V, S>, BuildError> {
        let shards = self.shards.unwrap_or_else(default_shards);
        if shards == 0 {
            return Err(BuildError::ZeroShards);
        }
        if !shards.is_power_of_two() {
            return Err(BuildError::ShardsNotPowerOfTwo(shards));
        }
        if shards > MAX_SHARDS {
            return Err(BuildError::TooManyShards(shards));
        }
        let step = match self.mode {
            ResizeMode::Incremental { step: 0 } => return Err(BuildError::ZeroStep),
            ResizeMode::Incremental { step } => step,
            ResizeMode::Blocking => usize::MAX,
        };
        let floor_log2 = floor_log2(self.capacity, shards).ok_or(BuildError::CapacityOverflow)?;
        let raw = RawMap::new(
            shards,
            floor_log2,
            step,
            self.auto_shrink,
            self.map_large_tables,
        );
        raw.set_reserved(self.capacity > 0);
        Ok(HashMap::from_parts(raw, self.hasher, floor_log2))
    }
}

/// The per-shard minimum table for a map-wide capacity.
pub(crate) fn floor_log2(capacity: usize, shards: usize) -> Option<u32> {
    if capacity == 0 {
        return Some(0);
    }
    resize::log2_for(RawMap::<(), ()>::per_shard(capacity, shards)?)
}
