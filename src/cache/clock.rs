//! Where a cache's time comes from: the monotonic system clock, or a clock
//! that tests move by hand ([`MockClock`]), so that no test sleeps to make
//! entries expire.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A monotonic clock for a cache's expiry; see
/// [`CacheBuilder::clock`](super::CacheBuilder::clock).
///
/// ```
/// use evacmap::cache::{Clock, MockClock};
/// use std::time::Duration;
///
/// let clock = MockClock::new();
/// let start = clock.now();
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(clock.now() - start, Duration::from_secs(5));
/// ```
pub trait Clock: Send + Sync + 'static {
    /// The time since an origin fixed for the clock's life. Never goes back.
    ///
    /// ```
    /// use evacmap::cache::{Clock, SystemClock};
    /// let clock = SystemClock::new();
    /// let a = clock.now();
    /// assert!(clock.now() >= a);
    /// ```
    fn now(&self) -> Duration;
}

/// The system's monotonic clock ([`Instant`]); the default.
///
/// ```
/// use evacmap::cache::SystemClock;
/// let cache: evacmap::Cache<u32, u32> = evacmap::Cache::builder().clock(SystemClock::new()).build();
/// ```
#[derive(Clone, Copy, Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock whose origin is now.
    ///
    /// ```
    /// use evacmap::cache::{Clock, SystemClock};
    /// assert!(SystemClock::new().now() < std::time::Duration::from_secs(1));
    /// ```
    pub fn new() -> Self {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// A clock that moves only when told to; clones share the same time.
///
/// ```
/// use evacmap::{cache::MockClock, Cache};
/// use std::time::Duration;
///
/// let clock = MockClock::new();
/// let cache = Cache::builder()
///     .max_capacity(100)
///     .time_to_live(Duration::from_secs(60))
///     .clock(clock.clone())
///     .build();
/// cache.insert("k", 1);
/// clock.advance(Duration::from_secs(59));
/// assert_eq!(cache.get("k"), Some(1));
/// clock.advance(Duration::from_secs(1));
/// assert_eq!(cache.get("k"), None);
/// ```
#[derive(Clone, Default)]
pub struct MockClock {
    nanos: Arc<AtomicU64>,
}

impl MockClock {
    /// A clock at time zero.
    ///
    /// ```
    /// use evacmap::cache::{Clock, MockClock};
    /// assert_eq!(MockClock::new().now(), std::time::Duration::ZERO);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by` (saturating).
    ///
    /// ```
    /// use evacmap::cache::{Clock, MockClock};
    /// let clock = MockClock::new();
    /// clock.advance(std::time::Duration::from_millis(5));
    /// assert_eq!(clock.now(), std::time::Duration::from_millis(5));
    /// ```
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .nanos
            .fetch_update(Relaxed, Relaxed, |n| Some(n.saturating_add(by)));
    }

    /// Sets the time; it must not be earlier than now.
    ///
    /// # Panics
    /// If `to` is earlier than the clock's time (a clock never goes back).
    ///
    /// ```
    /// use evacmap::cache::{Clock, MockClock};
    /// let clock = MockClock::new();
    /// clock.set(std::time::Duration::from_secs(60));
    /// assert_eq!(clock.now(), std::time::Duration::from_secs(60));
    /// ```
    pub fn set(&self, to: Duration) {
        let to = u64::try_from(to.as_nanos()).unwrap_or(u64::MAX);
        let before = self.nanos.fetch_max(to, Relaxed);
        assert!(before <= to, "MockClock::set: a clock never goes back");
    }
}

impl Clock for MockClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Relaxed))
    }
}

impl fmt::Debug for MockClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MockClock").field(&self.now()).finish()
    }
}

/// A cache's view of its clock: nanoseconds, saturating, and the `Instant`
/// that the user's [`Expiry`](super::Expiry) callbacks are given.
pub(crate) struct Time {
    clock: Arc<dyn Clock>,
    /// The `Instant` that stands for the clock's origin.
    origin: Instant,
    /// The clock's reading when the cache was built: an `Instant` handed to
    /// callbacks is `origin + (reading - base)`, never before `origin`.
    base: Duration,
}

impl Time {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        let base = clock.now();
        Time {
            clock,
            origin: Instant::now(),
            base,
        }
    }

    /// Now, in nanoseconds since the clock's origin (saturating).
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        nanos(self.clock.now())
    }

    /// A reading as the `Instant` user callbacks see.
    pub(crate) fn instant(&self, at: u64) -> Instant {
        let since = Duration::from_nanos(at).saturating_sub(self.base);
        self.origin.checked_add(since).unwrap_or(self.origin)
    }
}

/// A duration in nanoseconds, saturating at `u64::MAX`.
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl fmt::Debug for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Time").field("now", &self.now()).finish()
    }
}
