//! When entries expire: time to live (from the last write), time to idle
//! (from the last read or write), and per-entry [`Expiry`] callbacks. An
//! entry expires at the earliest deadline any of them sets; an expired entry
//! is never returned, and is removed by the next expiry work that meets it
//! (see `timers.rs`).
//!
//! Everything here runs outside every lock: the callbacks are user code.

use std::time::{Duration, Instant};

use super::clock::{nanos, Time};
use super::slot::NEVER;

/// Per-entry expiry, with moka's callback shape: each callback returns how
/// long from now until the entry expires (`None`: it does not expire by this
/// rule). The cache also applies its time to live and time to idle, if set:
/// the earliest deadline wins.
///
/// ```
/// use evacmap::{cache::Expiry, Cache};
/// use std::time::{Duration, Instant};
///
/// /// Short-lived entries for keys starting with "tmp:".
/// struct ByPrefix;
/// impl Expiry<String, u32> for ByPrefix {
///     fn expire_after_create(&self, key: &String, _: &u32, _: Instant) -> Option<Duration> {
///         key.starts_with("tmp:").then(|| Duration::from_secs(10))
///     }
/// }
///
/// let cache: Cache<String, u32> = Cache::builder()
///     .max_capacity(1000)
///     .expire_after(ByPrefix)
///     .build();
/// cache.insert("tmp:a".to_string(), 1);
/// cache.insert("b".to_string(), 2);
/// ```
pub trait Expiry<K, V>: Send + Sync + 'static {
    /// A new key was inserted at `created_at`. Default: no expiry.
    ///
    /// ```
    /// use evacmap::cache::Expiry;
    /// use std::time::{Duration, Instant};
    /// struct OneMinute;
    /// impl Expiry<u32, u32> for OneMinute {
    ///     fn expire_after_create(&self, _: &u32, _: &u32, _: Instant) -> Option<Duration> {
    ///         Some(Duration::from_secs(60))
    ///     }
    /// }
    /// let cache = evacmap::Cache::builder().expire_after(OneMinute).build();
    /// cache.insert(1, 1);
    /// ```
    #[allow(unused_variables)]
    fn expire_after_create(&self, key: &K, value: &V, created_at: Instant) -> Option<Duration> {
        None
    }

    /// The entry was read at `read_at`, `duration_until_expiry` before the
    /// deadline this trait set last (`None`: none). Default: unchanged.
    ///
    /// ```
    /// use evacmap::cache::{Expiry, MockClock};
    /// use std::time::{Duration, Instant};
    /// /// Every read gives the entry ten more seconds.
    /// struct Sliding;
    /// impl Expiry<u32, u32> for Sliding {
    ///     fn expire_after_create(&self, _: &u32, _: &u32, _: Instant) -> Option<Duration> {
    ///         Some(Duration::from_secs(10))
    ///     }
    ///     fn expire_after_read(&self, _: &u32, _: &u32, _: Instant, _: Option<Duration>, _: Instant) -> Option<Duration> {
    ///         Some(Duration::from_secs(10))
    ///     }
    /// }
    /// let clock = MockClock::new();
    /// let cache = evacmap::Cache::builder().expire_after(Sliding).clock(clock.clone()).build();
    /// cache.insert(1, 1);
    /// clock.advance(Duration::from_secs(9));
    /// assert_eq!(cache.get(&1), Some(1));
    /// clock.advance(Duration::from_secs(9));
    /// assert_eq!(cache.get(&1), Some(1));
    /// ```
    #[allow(unused_variables)]
    fn expire_after_read(
        &self,
        key: &K,
        value: &V,
        read_at: Instant,
        duration_until_expiry: Option<Duration>,
        last_modified_at: Instant,
    ) -> Option<Duration> {
        duration_until_expiry
    }

    /// The key's value was replaced at `updated_at`; `duration_until_expiry`
    /// is what was left of the old entry's deadline from this trait.
    /// Default: unchanged.
    ///
    /// ```
    /// use evacmap::cache::{Expiry, MockClock};
    /// use std::time::{Duration, Instant};
    /// /// An update restarts the entry's five seconds.
    /// struct Restart;
    /// impl Expiry<u32, u32> for Restart {
    ///     fn expire_after_create(&self, _: &u32, _: &u32, _: Instant) -> Option<Duration> {
    ///         Some(Duration::from_secs(5))
    ///     }
    ///     fn expire_after_update(&self, _: &u32, _: &u32, _: Instant, _: Option<Duration>) -> Option<Duration> {
    ///         Some(Duration::from_secs(5))
    ///     }
    /// }
    /// let clock = MockClock::new();
    /// let cache = evacmap::Cache::builder().expire_after(Restart).clock(clock.clone()).build();
    /// cache.insert(1, 1);
    /// clock.advance(Duration::from_secs(4));
    /// cache.insert(1, 2);
    /// clock.advance(Duration::from_secs(4));
    /// assert_eq!(cache.get(&1), Some(2));
    /// ```
    #[allow(unused_variables)]
    fn expire_after_update(
        &self,
        key: &K,
        value: &V,
        updated_at: Instant,
        duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        duration_until_expiry
    }
}

/// The longest time to live or idle a cache accepts: 100 years. Deadlines
/// are nanoseconds in 62 bits (146 years from the clock's origin).
///
/// ```
/// use evacmap::cache::MAX_EXPIRY;
/// let too_long = evacmap::Cache::<u32, u32>::builder().time_to_idle(MAX_EXPIRY * 2).try_build();
/// assert!(too_long.is_err());
/// ```
pub const MAX_EXPIRY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A cache's expiry rules.
pub(crate) struct Expiration<K, V> {
    pub(crate) ttl: Option<u64>,
    pub(crate) tti: Option<u64>,
    pub(crate) custom: Option<Box<dyn Expiry<K, V>>>,
}

impl<K: 'static, V: 'static> Expiration<K, V> {
    #[cfg(test)]
    pub(crate) fn none() -> Self {
        Expiration {
            ttl: None,
            tti: None,
            custom: None,
        }
    }

    /// Whether any rule is set (the cache then keeps [`Times`](super::slot::Times)).
    pub(crate) fn any(&self) -> bool {
        self.ttl.is_some() || self.tti.is_some() || self.custom.is_some()
    }

    /// Whether a read can move an entry's deadline.
    pub(crate) fn reads_extend(&self) -> bool {
        self.tti.is_some() || self.custom.is_some()
    }

    /// The combined deadline of an entry written at `written` and last
    /// touched at `touched`, with custom deadline `custom`.
    #[inline]
    pub(crate) fn deadline(&self, written: u64, touched: u64, custom: u64) -> u64 {
        let ttl = self.ttl.map_or(NEVER, |d| written.saturating_add(d));
        let tti = self.tti.map_or(NEVER, |d| touched.saturating_add(d));
        ttl.min(tti).min(custom).min(NEVER)
    }

    /// The custom deadline of a value written at `now`; `previous` is the
    /// custom deadline of the entry it replaces, if it replaces one.
    pub(crate) fn custom_on_write(
        &self,
        time: &Time,
        key: &K,
        value: &V,
        now: u64,
        previous: Option<u64>,
    ) -> u64 {
        let Some(expiry) = &self.custom else {
            return NEVER;
        };
        let at = time.instant(now);
        let d = match previous {
            None => expiry.expire_after_create(key, value, at),
            Some(previous) => expiry.expire_after_update(key, value, at, remaining(previous, now)),
        };
        after(now, d)
    }

    /// The custom deadline after a read at `now` of an entry written at
    /// `written` whose custom deadline is `custom`.
    pub(crate) fn custom_on_read(
        &self,
        time: &Time,
        key: &K,
        value: &V,
        now: u64,
        written: u64,
        custom: u64,
    ) -> u64 {
        let Some(expiry) = &self.custom else {
            return NEVER;
        };
        let d = expiry.expire_after_read(
            key,
            value,
            time.instant(now),
            remaining(custom, now),
            time.instant(written),
        );
        after(now, d)
    }
}

/// What is left until `deadline` (`None` for never).
fn remaining(deadline: u64, now: u64) -> Option<Duration> {
    (deadline < NEVER).then(|| Duration::from_nanos(deadline.saturating_sub(now)))
}

/// The deadline `d` from `now` (`None`: never).
fn after(now: u64, d: Option<Duration>) -> u64 {
    d.map_or(NEVER, |d| now.saturating_add(nanos(d)).min(NEVER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_rule_wins() {
        let e: Expiration<(), ()> = Expiration {
            ttl: Some(100),
            tti: Some(30),
            custom: None,
        };
        assert_eq!(e.deadline(0, 0, NEVER), 30);
        assert_eq!(e.deadline(0, 90, NEVER), 100);
        assert_eq!(e.deadline(0, 10, 20), 20);
        let none: Expiration<(), ()> = Expiration::none();
        assert_eq!(none.deadline(5, 5, NEVER), NEVER);
        assert!(!none.any());
    }

    #[test]
    fn durations_saturate_at_never() {
        assert_eq!(after(u64::MAX - 1, Some(Duration::from_secs(1))), NEVER);
        assert_eq!(after(5, None), NEVER);
        assert_eq!(remaining(NEVER, 0), None);
        assert_eq!(remaining(10, 20), Some(Duration::ZERO));
    }
}
