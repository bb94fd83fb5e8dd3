//! [`CacheBuilder`]: a cache's settings, checked into a `Result`.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::api::{Cache, Inner};
use super::clock::{nanos, Clock, SystemClock, Time};
use super::core::{Core, Parts, Settings, Weigher};
use super::expiry::{Expiration, Expiry, MAX_EXPIRY};
use super::future;
use super::listener::{Listener, RemovalCause};
use super::slot::{Slot, Times, Timing, Untimed};
use crate::{BuildError, DefaultHashBuilder, HashMap};

/// Why a cache cannot be built with these settings.
///
/// ```
/// use evacmap::{cache::CacheBuildError, Cache};
/// use std::time::Duration;
/// let err = Cache::<u32, u32>::builder()
///     .time_to_live(Duration::from_secs(200 * 365 * 24 * 3600))
///     .try_build()
///     .unwrap_err();
/// assert!(matches!(err, CacheBuildError::DurationTooLong { setting: "time_to_live", .. }));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheBuildError {
    /// A time to live or idle longer than [`MAX_EXPIRY`] (100 years): the
    /// cache's clock cannot add it to the time.
    DurationTooLong {
        /// `"time_to_live"` or `"time_to_idle"`.
        setting: &'static str,
        /// The duration asked for.
        duration: Duration,
    },
    /// The initial capacity cannot be allocated.
    Map(BuildError),
}

impl fmt::Display for CacheBuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheBuildError::DurationTooLong { setting, duration } => write!(
                f,
                "{setting} of {duration:?} is longer than the {} years a cache can count",
                MAX_EXPIRY.as_secs() / (365 * 24 * 3600)
            ),
            CacheBuildError::Map(e) => write!(f, "initial capacity: {e}"),
        }
    }
}

impl std::error::Error for CacheBuildError {}

/// Configures a [`Cache`]; see [`Cache::builder`]. Method names and
/// meanings follow moka's `CacheBuilder`.
///
/// ```
/// use evacmap::Cache;
/// use std::time::Duration;
///
/// let cache: Cache<String, Vec<u8>> = Cache::builder()
///     .max_capacity(64 * 1024 * 1024) // bytes, with the weigher below
///     .weigher(|_key, value: &Vec<u8>| value.len().try_into().unwrap_or(u32::MAX))
///     .time_to_live(Duration::from_secs(30 * 60))
///     .time_to_idle(Duration::from_secs(5 * 60))
///     .eviction_listener(|key, _value, cause| println!("{key} left: {cause:?}"))
///     .build();
/// cache.insert("page".to_string(), vec![0; 4096]);
/// assert_eq!(cache.weighted_size(), 4096);
/// ```
#[must_use]
pub struct CacheBuilder<K, V, C = Cache<K, V>> {
    max_capacity: Option<u64>,
    initial_capacity: Option<usize>,
    weigher: Option<Weigher<K, V>>,
    time_to_live: Option<Duration>,
    time_to_idle: Option<Duration>,
    expiry: Option<Box<dyn Expiry<K, V>>>,
    listener: Option<Listener<K, V>>,
    clock: Option<Arc<dyn Clock>>,
    name: Option<String>,
    _cache: PhantomData<fn() -> C>,
}

impl<K, V, C> fmt::Debug for CacheBuilder<K, V, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("max_capacity", &self.max_capacity)
            .field("initial_capacity", &self.initial_capacity)
            .field("weigher", &self.weigher.is_some())
            .field("time_to_live", &self.time_to_live)
            .field("time_to_idle", &self.time_to_idle)
            .field("expiry", &self.expiry.is_some())
            .field("eviction_listener", &self.listener.is_some())
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<K, V, C> Default for CacheBuilder<K, V, C> {
    fn default() -> Self {
        CacheBuilder {
            max_capacity: None,
            initial_capacity: None,
            weigher: None,
            time_to_live: None,
            time_to_idle: None,
            expiry: None,
            listener: None,
            clock: None,
            name: None,
            _cache: PhantomData,
        }
    }
}

impl<K, V> CacheBuilder<K, V, Cache<K, V>> {
    /// A builder of a blocking [`Cache`] with every default: unbounded, no
    /// expiry. ([`future::Cache::builder`] makes the async one's.)
    ///
    /// ```
    /// use evacmap::{cache::CacheBuilder, Cache};
    /// let cache: Cache<u32, u32> = CacheBuilder::new().max_capacity(10).build();
    /// assert_eq!(cache.policy().max_capacity(), Some(10));
    /// ```
    pub fn new() -> Self {
        Self::default()
    }
}

impl<K, V, C> CacheBuilder<K, V, C> {
    /// The capacity: the most entries (or, with a [`weigher`](Self::weigher),
    /// the most total weight) the cache holds. Default: unbounded.
    ///
    /// ```
    /// let cache: evacmap::Cache<u32, u32> = evacmap::Cache::builder().max_capacity(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(2, 2);
    /// assert_eq!(cache.entry_count(), 1);
    /// ```
    pub fn max_capacity(mut self, max_capacity: u64) -> Self {
        self.max_capacity = Some(max_capacity);
        self
    }

    /// Entries to make room for up front (the map grows and shrinks on its
    /// own; this only saves the first resizes).
    ///
    /// ```
    /// let cache: evacmap::Cache<u32, u32> = evacmap::Cache::builder().initial_capacity(10_000).build();
    /// assert_eq!(cache.policy().initial_capacity(), Some(10_000));
    /// ```
    pub fn initial_capacity(mut self, entries: usize) -> Self {
        self.initial_capacity = Some(entries);
        self
    }

    /// Weighs each entry when it is inserted; the capacity then bounds the
    /// total weight. Default: every entry weighs 1. A weight of 0 takes no
    /// capacity (such entries are still evicted when the policy picks them).
    ///
    /// ```
    /// let cache = evacmap::Cache::builder()
    ///     .max_capacity(1_000)
    ///     .weigher(|key: &String, value: &String| (key.len() + value.len()) as u32)
    ///     .build();
    /// cache.insert("k".to_string(), "value".to_string());
    /// assert_eq!(cache.weighted_size(), 6);
    /// ```
    pub fn weigher(mut self, weigher: impl Fn(&K, &V) -> u32 + Send + Sync + 'static) -> Self {
        self.weigher = Some(Box::new(weigher));
        self
    }

    /// Entries expire this long after they were last written.
    ///
    /// ```
    /// use evacmap::cache::MockClock;
    /// use std::time::Duration;
    /// let clock = MockClock::new();
    /// let cache = evacmap::Cache::builder().time_to_live(Duration::from_secs(5)).clock(clock.clone()).build();
    /// cache.insert(1, 1);
    /// clock.advance(Duration::from_secs(5));
    /// assert_eq!(cache.get(&1), None);
    /// ```
    pub fn time_to_live(mut self, duration: Duration) -> Self {
        self.time_to_live = Some(duration);
        self
    }

    /// Entries expire this long after they were last read or written.
    ///
    /// ```
    /// use evacmap::cache::MockClock;
    /// use std::time::Duration;
    /// let clock = MockClock::new();
    /// let cache = evacmap::Cache::builder().time_to_idle(Duration::from_secs(5)).clock(clock.clone()).build();
    /// cache.insert(1, 1);
    /// clock.advance(Duration::from_secs(4));
    /// assert_eq!(cache.get(&1), Some(1)); // a read: five more seconds
    /// clock.advance(Duration::from_secs(4));
    /// assert_eq!(cache.get(&1), Some(1));
    /// ```
    pub fn time_to_idle(mut self, duration: Duration) -> Self {
        self.time_to_idle = Some(duration);
        self
    }

    /// Per-entry expiry (see [`Expiry`]); combined with the time to live
    /// and idle, the earliest deadline wins.
    ///
    /// ```
    /// use evacmap::cache::Expiry;
    /// use std::time::{Duration, Instant};
    /// struct TenSeconds;
    /// impl Expiry<u32, u32> for TenSeconds {
    ///     fn expire_after_create(&self, _: &u32, _: &u32, _: Instant) -> Option<Duration> {
    ///         Some(Duration::from_secs(10))
    ///     }
    /// }
    /// let cache = evacmap::Cache::builder().expire_after(TenSeconds).build();
    /// cache.insert(1, 1);
    /// ```
    pub fn expire_after(mut self, expiry: impl Expiry<K, V>) -> Self {
        self.expiry = Some(Box::new(expiry));
        self
    }

    /// Called once for every entry that leaves the cache, with its cause,
    /// on the thread whose operation removed it, after every lock is
    /// released (see [`RemovalCause`]). Not called for entries still in the
    /// cache when it is dropped.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// let cache = evacmap::Cache::builder()
    ///     .max_capacity(10)
    ///     .eviction_listener(move |key: Arc<u32>, value: u32, cause| log.lock().unwrap().push((*key, value, cause)))
    ///     .build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// assert_eq!(seen.lock().unwrap()[0], (1, 1, evacmap::cache::RemovalCause::Replaced));
    /// ```
    pub fn eviction_listener(
        mut self,
        listener: impl Fn(Arc<K>, V, RemovalCause) + Send + Sync + 'static,
    ) -> Self {
        self.listener = Some(Arc::new(listener));
        self
    }

    /// The clock expiry reads. Default: the system's monotonic clock. Tests
    /// use a [`MockClock`](super::MockClock).
    ///
    /// ```
    /// use evacmap::cache::MockClock;
    /// let clock = MockClock::new();
    /// let cache: evacmap::Cache<u32, u32> = evacmap::Cache::builder().clock(clock.clone()).build();
    /// ```
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// A name for the cache, shown by `Debug` and [`Cache::name`].
    ///
    /// ```
    /// let cache: evacmap::Cache<u32, u32> = evacmap::Cache::builder().name("sessions").build();
    /// assert_eq!(cache.name(), Some("sessions"));
    /// ```
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }

    /// Accepted for moka compatibility: [`Cache::invalidate_entries_if`]
    /// works without it.
    ///
    /// ```
    /// let cache: evacmap::Cache<u32, u32> = evacmap::Cache::builder().support_invalidation_closures().build();
    /// cache.invalidate_entries_if(|_, _| true).unwrap();
    /// ```
    pub fn support_invalidation_closures(self) -> Self {
        self
    }
}

impl<K, V> CacheBuilder<K, V, Cache<K, V>>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Builds the cache.
    ///
    /// # Panics
    /// On the settings [`try_build`](Self::try_build) refuses: a time to
    /// live or idle longer than [`MAX_EXPIRY`] (100 years), or an initial
    /// capacity no table can hold.
    ///
    /// ```
    /// let cache: evacmap::Cache<u32, u32> = evacmap::Cache::builder().max_capacity(10).build();
    /// ```
    pub fn build(self) -> Cache<K, V> {
        self.build_with_hasher(DefaultHashBuilder::default())
    }

    /// Builds the cache, or says why the settings are impossible.
    ///
    /// ```
    /// let cache = evacmap::Cache::<u32, u32>::builder().max_capacity(10).try_build();
    /// assert!(cache.is_ok());
    /// ```
    pub fn try_build(self) -> Result<Cache<K, V>, CacheBuildError> {
        self.try_build_with_hasher(DefaultHashBuilder::default())
    }

    /// Builds the cache with `hasher`.
    ///
    /// ```
    /// let cache: evacmap::Cache<u32, u32, std::collections::hash_map::RandomState> =
    ///     evacmap::Cache::builder().build_with_hasher(Default::default());
    /// ```
    ///
    /// # Panics
    /// As [`build`](Self::build).
    pub fn build_with_hasher<S>(self, hasher: S) -> Cache<K, V, S>
    where
        S: std::hash::BuildHasher + Clone + Send + Sync + 'static,
    {
        match self.try_build_with_hasher(hasher) {
            Ok(cache) => cache,
            Err(e) => panic!("evacmap::CacheBuilder::build: {e}"),
        }
    }

    /// Builds the cache with `hasher`, or says why the settings are impossible.
    ///
    /// ```
    /// let cache = evacmap::Cache::<u32, u32>::builder()
    ///     .try_build_with_hasher(std::collections::hash_map::RandomState::new());
    /// assert!(cache.is_ok());
    /// ```
    pub fn try_build_with_hasher<S>(self, hasher: S) -> Result<Cache<K, V, S>, CacheBuildError>
    where
        S: std::hash::BuildHasher + Clone + Send + Sync + 'static,
    {
        self.make(hasher)
    }
}

impl<K, V, C> CacheBuilder<K, V, C>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Checks the settings and builds the engine they call for.
    fn make<S>(self, hasher: S) -> Result<Cache<K, V, S>, CacheBuildError>
    where
        S: std::hash::BuildHasher + Clone + Send + Sync + 'static,
    {
        for (setting, duration) in [
            ("time_to_live", self.time_to_live),
            ("time_to_idle", self.time_to_idle),
        ] {
            if let Some(duration) = duration.filter(|d| *d > MAX_EXPIRY) {
                return Err(CacheBuildError::DurationTooLong { setting, duration });
            }
        }
        let expiration = Expiration {
            ttl: self.time_to_live.map(nanos),
            tti: self.time_to_idle.map(nanos),
            custom: self.expiry,
        };
        let time = Time::new(self.clock.unwrap_or_else(|| Arc::new(SystemClock::new())));
        let settings = Settings {
            time_to_live: self.time_to_live,
            time_to_idle: self.time_to_idle,
            initial_capacity: self.initial_capacity,
        };
        let parts = Parts {
            max: self.max_capacity.unwrap_or(u64::MAX),
            expiration,
            weigher: self.weigher,
            listener: self.listener,
            time,
            settings,
        };
        let capacity = self.initial_capacity.unwrap_or(0);
        let inner = if parts.expiration.any() {
            Inner::Timed(Core::new(map::<K, V, S, Times>(capacity, hasher)?, parts))
        } else {
            Inner::Plain(Core::new(map::<K, V, S, Untimed>(capacity, hasher)?, parts))
        };
        Ok(Cache::from_inner(inner, self.name))
    }
}

impl<K, V> CacheBuilder<K, V, future::Cache<K, V>>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Builds the cache (moka's `future::Cache` names).
    ///
    /// # Panics
    /// As [`CacheBuilder::build`] does for the blocking cache.
    ///
    /// ```
    /// let cache: evacmap::cache::future::Cache<u32, u32> =
    ///     evacmap::cache::future::Cache::builder().max_capacity(10).build();
    /// ```
    pub fn build(self) -> future::Cache<K, V> {
        self.build_with_hasher(DefaultHashBuilder::default())
    }

    /// Builds the cache, or says why the settings are impossible.
    ///
    /// ```
    /// let cache = evacmap::cache::future::Cache::<u32, u32>::builder().try_build();
    /// assert!(cache.is_ok());
    /// ```
    pub fn try_build(self) -> Result<future::Cache<K, V>, CacheBuildError> {
        self.try_build_with_hasher(DefaultHashBuilder::default())
    }

    /// Builds the cache with `hasher`.
    ///
    /// # Panics
    /// As [`CacheBuilder::build`] does for the blocking cache.
    ///
    /// ```
    /// let cache: evacmap::cache::future::Cache<u32, u32, std::collections::hash_map::RandomState> =
    ///     evacmap::cache::future::Cache::builder().build_with_hasher(Default::default());
    /// ```
    pub fn build_with_hasher<S>(self, hasher: S) -> future::Cache<K, V, S>
    where
        S: std::hash::BuildHasher + Clone + Send + Sync + 'static,
    {
        match self.try_build_with_hasher(hasher) {
            Ok(cache) => cache,
            Err(e) => panic!("evacmap::CacheBuilder::build: {e}"),
        }
    }

    /// Builds the cache with `hasher`, or says why the settings are impossible.
    ///
    /// ```
    /// let cache = evacmap::cache::future::Cache::<u32, u32>::builder()
    ///     .try_build_with_hasher(std::collections::hash_map::RandomState::new());
    /// assert!(cache.is_ok());
    /// ```
    pub fn try_build_with_hasher<S>(
        self,
        hasher: S,
    ) -> Result<future::Cache<K, V, S>, CacheBuildError>
    where
        S: std::hash::BuildHasher + Clone + Send + Sync + 'static,
    {
        self.make(hasher).map(future::Cache::from)
    }
}

fn map<K, V, S, T: Timing>(
    capacity: usize,
    hasher: S,
) -> Result<HashMap<K, Slot<V, T>, S>, CacheBuildError> {
    HashMap::builder()
        .capacity(capacity)
        .hasher(hasher)
        .build()
        .map_err(CacheBuildError::Map)
}
