//! The public [`Cache`]: moka's and quick_cache's method names over the
//! engine in `core.rs`. A thin layer: it picks the engine built for the
//! cache's expiry settings and forwards.

use std::borrow::Borrow;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::builder::CacheBuilder;
use super::core::{CacheEntry, Core};
use super::iter::Iter;
use super::loading::Rules;
use super::loads::Outcome;
use super::slot::{Times, Timing, Untimed};
use super::stats::CacheStats;
use crate::sync::epoch::{self, Guard};
use crate::DefaultHashBuilder;

/// A bounded concurrent cache: hits take no lock and write nothing shared,
/// the bound is global and exact, and memory follows contents. See the
/// [module docs](crate::cache) for the policy, expiry and loading.
///
/// Cloning a `Cache` is cheap and gives another handle to the same cache,
/// as with moka's.
///
/// ```
/// use evacmap::Cache;
///
/// let cache: Cache<u64, String> = Cache::new(10_000);
/// cache.insert(1, "one".to_string());
/// assert_eq!(cache.get(&1).as_deref(), Some("one"));
///
/// // Read-through: one initialiser per missing key, however many callers.
/// let two = cache.get_with(2, || "two".to_string());
/// assert_eq!(two, "two");
///
/// cache.invalidate(&1);
/// assert!(!cache.contains_key(&1));
/// ```
pub struct Cache<K, V, S = DefaultHashBuilder> {
    inner: Arc<Named<K, V, S>>,
}

struct Named<K, V, S> {
    engine: Inner<K, V, S>,
    name: Option<String>,
}

/// The engine, built for the expiry settings: a cache without expiry keeps
/// no times per entry and never reads its clock on a hit.
pub(crate) enum Inner<K, V, S> {
    Plain(Core<K, V, S, Untimed>),
    Timed(Core<K, V, S, Times>),
}

/// Runs `$body` with `$core` bound to the cache's engine, whichever it is.
macro_rules! engine {
    ($cache:expr, $core:ident => $body:expr) => {
        match &$cache.inner.engine {
            Inner::Plain($core) => $body,
            Inner::Timed($core) => $body,
        }
    };
}

impl<K, V, S> Clone for Cache<K, V, S> {
    /// Another handle to the same cache.
    fn clone(&self) -> Self {
        Cache {
            inner: self.inner.clone(),
        }
    }
}

impl<K, V> Cache<K, V, DefaultHashBuilder>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A cache holding at most `max_capacity` entries, without expiry.
    ///
    /// ```
    /// let cache: evacmap::Cache<&str, u32> = evacmap::Cache::new(2);
    /// cache.insert("a", 1);
    /// cache.insert("b", 2);
    /// cache.insert("c", 3);
    /// assert_eq!(cache.entry_count(), 2);
    /// ```
    pub fn new(max_capacity: u64) -> Self {
        Self::builder().max_capacity(max_capacity).build()
    }

    /// A [`CacheBuilder`] for every setting.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache: evacmap::Cache<u64, String> = evacmap::Cache::builder()
    ///     .max_capacity(10_000)
    ///     .time_to_live(Duration::from_secs(60))
    ///     .build();
    /// assert_eq!(cache.policy().time_to_live(), Some(Duration::from_secs(60)));
    /// ```
    pub fn builder() -> CacheBuilder<K, V, Cache<K, V>> {
        CacheBuilder::default()
    }
}

impl<K, V, S> Cache<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Clone + Send + Sync + 'static,
{
    pub(crate) fn from_inner(engine: Inner<K, V, S>, name: Option<String>) -> Self {
        Cache {
            inner: Arc::new(Named { engine, name }),
        }
    }

    // ---- reads ----

    /// A clone of the value for `key`, if it is present and not expired.
    /// Counts as a hit or a miss, and as an access for the policy and for
    /// time to idle.
    #[inline]
    ///
    /// ```
    /// let cache = evacmap::Cache::new(10);
    /// cache.insert("k".to_string(), 1);
    /// assert_eq!(cache.get("k"), Some(1)); // a `&str` looks up a `String` key
    /// assert_eq!(cache.get("nope"), None);
    /// ```
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        engine!(self, c => c.read(key, true, |e| e.value.value.clone()))
    }

    /// Like [`get`](Self::get), but lends the value instead of cloning it:
    /// the [`CacheRef`] holds an epoch guard (never a lock), and the value
    /// stays readable while it lives even if the entry is evicted meanwhile.
    ///
    /// ```
    /// let cache = evacmap::Cache::new(10);
    /// cache.insert("big", vec![0u8; 1 << 20]);
    /// let value = cache.get_ref("big").unwrap();
    /// cache.invalidate("big"); // holding `value` cannot deadlock
    /// assert_eq!(value.len(), 1 << 20);
    /// ```
    pub fn get_ref<Q>(&self, key: &Q) -> Option<CacheRef<'_, K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        engine!(self, c => c.read_ref(key))
    }

    /// Whether `key` is present and not expired. No effect on the policy.
    ///
    /// ```
    /// let cache = evacmap::Cache::new(10);
    /// cache.insert(1, "one");
    /// assert!(cache.contains_key(&1));
    /// assert!(!cache.contains_key(&2));
    /// ```
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        engine!(self, c => c.read(key, false, |_| ()).is_some())
    }

    /// A clone of the value for `key`, with no effect on the policy, time to
    /// idle or statistics (quick_cache's `peek`).
    ///
    /// ```
    /// let cache = evacmap::Cache::new(10);
    /// cache.insert(1, "one");
    /// assert_eq!(cache.peek(&1), Some("one"));
    /// assert_eq!(cache.stats().hits, 0);
    /// ```
    pub fn peek<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        engine!(self, c => c.read(key, false, |e| e.value.value.clone()))
    }

    // ---- writes ----

    /// Inserts or replaces `key → value`, evicting as needed to stay within
    /// the capacity (on this thread, before returning). An entry heavier
    /// than the whole capacity is not admitted: the listener hears of it
    /// with [`RemovalCause::Size`](super::RemovalCause::Size), and the key's
    /// previous value, if any, is removed.
    ///
    /// ```
    /// let cache = evacmap::Cache::builder().max_capacity(10).weigher(|_, v: &Vec<u8>| v.len() as u32).build();
    /// cache.insert(1, vec![0; 4]);
    /// cache.insert(2, vec![0; 20]); // heavier than the capacity: refused
    /// assert_eq!(cache.weighted_size(), 4);
    /// assert!(!cache.contains_key(&2));
    /// ```
    pub fn insert(&self, key: K, value: V) {
        engine!(self, c => c.insert(key, value))
    }

    /// Removes `key`; returns its value if it was present and not expired.
    ///
    /// ```
    /// let cache = evacmap::Cache::new(10);
    /// cache.insert(1, "one");
    /// assert_eq!(cache.remove(&1), Some("one"));
    /// assert_eq!(cache.remove(&1), None);
    /// ```
    pub fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        engine!(self, c => c.remove(key, |e| e.value.value.clone()))
    }

    /// Removes `key`.
    ///
    /// ```
    /// let cache = evacmap::Cache::new(10);
    /// cache.insert(1, "one");
    /// cache.invalidate(&1);
    /// assert!(!cache.contains_key(&1));
    /// ```
    pub fn invalidate<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        engine!(self, c => c.remove(key, |_| ()));
    }

    /// Removes every entry, on this thread, before returning. Entries
    /// inserted concurrently may survive. Loads in flight are not cached.
    ///
    /// ```
    /// let cache = evacmap::Cache::new(10);
    /// cache.insert(1, "one");
    /// cache.insert(2, "two");
    /// cache.invalidate_all();
    /// assert_eq!(cache.entry_count(), 0);
    /// ```
    pub fn invalidate_all(&self) {
        engine!(self, c => {
            c.loads.supersede_all();
            c.remove_where(|_, _| true);
            c.shrink_policy();
        })
    }

    /// Removes every entry for which `predicate` returns true, on this
    /// thread, before returning; `predicate` runs without any lock held.
    /// Returns `Ok` always (moka's signature, for code that moves over).
    ///
    /// ```
    /// let cache = evacmap::Cache::new(10);
    /// for i in 0..6 {
    ///     cache.insert(i, i * 10);
    /// }
    /// cache.invalidate_entries_if(|_, v| *v >= 30).unwrap();
    /// assert_eq!(cache.entry_count(), 3);
    /// ```
    pub fn invalidate_entries_if<F>(&self, mut predicate: F) -> Result<(), PredicateError>
    where
        F: FnMut(&K, &V) -> bool,
    {
        engine!(self, c => c.remove_where(|k, v| predicate(k, v)));
        Ok(())
    }

    /// Keeps only the entries for which `keep` returns true (quick_cache's
    /// `retain`); `keep` runs without any lock held.
    ///
    /// ```
    /// let cache = evacmap::Cache::new(10);
    /// for i in 0..6 {
    ///     cache.insert(i, i);
    /// }
    /// cache.retain(|k, _| k % 2 == 0);
    /// assert!(cache.contains_key(&2) && !cache.contains_key(&3));
    /// ```
    pub fn retain<F>(&self, mut keep: F)
    where
        F: FnMut(&K, &V) -> bool,
    {
        engine!(self, c => c.remove_where(|k, v| !keep(k, v)))
    }

    // ---- loading ----

    /// The value for `key`, loading it with `init` if it is missing. Among
    /// concurrent callers for the same missing key exactly one runs its
    /// `init`; the others wait (parked, holding no lock) and get its value.
    /// If that `init` panics, the panic reaches its caller and one of the
    /// waiters loads instead. A write of the key while the load runs wins:
    /// the loaded value is returned but not cached.
    ///
    /// # Panics
    /// If `init` asks the cache for `key` itself (it would wait for itself).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// let cache: evacmap::Cache<u32, String> = evacmap::Cache::new(100);
    /// let loads = AtomicUsize::new(0);
    /// let load = |id: u32| {
    ///     loads.fetch_add(1, Ordering::SeqCst);
    ///     format!("row {id}")
    /// };
    /// std::thread::scope(|s| {
    ///     for _ in 0..4 {
    ///         s.spawn(|| assert_eq!(cache.get_with(7, || load(7)), "row 7"));
    ///     }
    /// });
    /// assert_eq!(loads.load(Ordering::SeqCst), 1); // one load for four callers
    /// ```
    pub fn get_with(&self, key: K, init: impl FnOnce() -> V) -> V {
        engine!(self, c => c.load(key, init, value_rules()))
    }

    /// [`get_with`](Self::get_with) for a fallible `init`. An error is
    /// returned to every caller waiting on that load as the same `Arc`, and
    /// nothing is cached.
    ///
    /// ```
    /// let cache: evacmap::Cache<u32, u32> = evacmap::Cache::new(100);
    /// let err = cache.try_get_with(1, || "42".parse::<u32>().map_err(|e| e.to_string()).and(Err("down".to_string())));
    /// assert_eq!(err.unwrap_err().as_str(), "down");
    /// assert!(!cache.contains_key(&1)); // errors are not cached
    /// assert_eq!(cache.try_get_with(1, || Ok::<_, String>(42)), Ok(42));
    /// ```
    pub fn try_get_with<E>(&self, key: K, init: impl FnOnce() -> Result<V, E>) -> Result<V, Arc<E>>
    where
        E: Send + Sync + 'static,
    {
        engine!(self, c => c.load(key, init, try_rules()))
    }

    /// [`get_with`](Self::get_with) for an `init` that may find nothing:
    /// `None` is returned to every caller waiting on that load, and nothing
    /// is cached.
    ///
    /// ```
    /// let cache: evacmap::Cache<u32, u32> = evacmap::Cache::new(100);
    /// assert_eq!(cache.optionally_get_with(1, || None), None);
    /// assert_eq!(cache.optionally_get_with(1, || Some(5)), Some(5));
    /// assert_eq!(cache.get(&1), Some(5));
    /// ```
    pub fn optionally_get_with(&self, key: K, init: impl FnOnce() -> Option<V>) -> Option<V> {
        engine!(self, c => c.load(key, init, optional_rules()))
    }

    /// quick_cache's loader: the value for `key`, inserting `with()` if it
    /// is missing. An error goes to this caller only; callers waiting on the
    /// same load then load themselves.
    ///
    /// ```
    /// let cache: evacmap::Cache<String, usize> = evacmap::Cache::new(100);
    /// assert_eq!(cache.get_or_insert_with("abc", || Ok::<_, ()>(3)), Ok(3));
    /// assert_eq!(cache.get_or_insert_with("abc", || Err(())), Ok(3)); // cached
    /// ```
    pub fn get_or_insert_with<Q, E>(
        &self,
        key: &Q,
        with: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(value) = self.get(key) {
            return Ok(value);
        }
        engine!(self, c => c.load_missed(key.to_owned(), with, private_error_rules()))
    }

    /// [`get_with`](Self::get_with) for a borrowed key (moka's name); the
    /// key is cloned only on a miss.
    ///
    /// ```
    /// let cache: evacmap::Cache<String, usize> = evacmap::Cache::new(10);
    /// assert_eq!(cache.get_with_by_ref("four", || 4), 4);
    /// ```
    pub fn get_with_by_ref<Q>(&self, key: &Q, init: impl FnOnce() -> V) -> V
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        match self.get(key) {
            Some(value) => value,
            None => engine!(self, c => c.load_missed(key.to_owned(), init, value_rules())),
        }
    }

    /// [`try_get_with`](Self::try_get_with) for a borrowed key.
    ///
    /// ```
    /// let cache: evacmap::Cache<String, usize> = evacmap::Cache::new(10);
    /// assert_eq!(cache.try_get_with_by_ref("four", || Ok::<_, ()>(4)), Ok(4));
    /// ```
    pub fn try_get_with_by_ref<Q, E>(
        &self,
        key: &Q,
        init: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, Arc<E>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        E: Send + Sync + 'static,
    {
        match self.get(key) {
            Some(value) => Ok(value),
            None => engine!(self, c => c.load_missed(key.to_owned(), init, try_rules())),
        }
    }

    /// [`optionally_get_with`](Self::optionally_get_with) for a borrowed key.
    ///
    /// ```
    /// let cache: evacmap::Cache<String, usize> = evacmap::Cache::new(10);
    /// assert_eq!(cache.optionally_get_with_by_ref("four", || Some(4)), Some(4));
    /// ```
    pub fn optionally_get_with_by_ref<Q>(
        &self,
        key: &Q,
        init: impl FnOnce() -> Option<V>,
    ) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        match self.get(key) {
            Some(value) => Some(value),
            None => engine!(self, c => c.load_missed(key.to_owned(), init, optional_rules())),
        }
    }

    /// [`get_with`](Self::get_with) with an async initialiser, on any
    /// executor. Dropping the returned future while its `init` runs hands
    /// the load to a waiting caller.
    ///
    /// ```
    /// # let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # runtime.block_on(async {
    /// let cache: evacmap::Cache<u32, String> = evacmap::Cache::new(100);
    /// let row = cache.get_with_async(7, async { "row 7".to_string() }).await;
    /// assert_eq!(row, "row 7");
    /// # });
    /// ```
    pub async fn get_with_async(&self, key: K, init: impl Future<Output = V>) -> V {
        engine!(self, c => c.load_async(key, init, value_rules()).await)
    }

    /// [`try_get_with`](Self::try_get_with) with an async initialiser.
    ///
    /// ```
    /// # let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # runtime.block_on(async {
    /// let cache: evacmap::Cache<u32, u32> = evacmap::Cache::new(100);
    /// let r = cache.try_get_with_async(1, async { Err::<u32, _>("down") }).await;
    /// assert_eq!(*r.unwrap_err(), "down");
    /// # });
    /// ```
    pub async fn try_get_with_async<E>(
        &self,
        key: K,
        init: impl Future<Output = Result<V, E>>,
    ) -> Result<V, Arc<E>>
    where
        E: Send + Sync + 'static,
    {
        engine!(self, c => c.load_async(key, init, try_rules()).await)
    }

    /// [`optionally_get_with`](Self::optionally_get_with) with an async
    /// initialiser.
    ///
    /// ```
    /// # let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # runtime.block_on(async {
    /// let cache: evacmap::Cache<u32, u32> = evacmap::Cache::new(100);
    /// assert_eq!(cache.optionally_get_with_async(1, async { Some(1) }).await, Some(1));
    /// # });
    /// ```
    pub async fn optionally_get_with_async(
        &self,
        key: K,
        init: impl Future<Output = Option<V>>,
    ) -> Option<V> {
        engine!(self, c => c.load_async(key, init, optional_rules()).await)
    }

    /// [`get_or_insert_with`](Self::get_or_insert_with) with an async
    /// initialiser.
    ///
    /// ```
    /// # let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # runtime.block_on(async {
    /// let cache: evacmap::Cache<String, u32> = evacmap::Cache::new(100);
    /// assert_eq!(cache.get_or_insert_with_async("k", async { Ok::<_, ()>(1) }).await, Ok(1));
    /// # });
    /// ```
    pub async fn get_or_insert_with_async<Q, E>(
        &self,
        key: &Q,
        with: impl Future<Output = Result<V, E>>,
    ) -> Result<V, E>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(value) = self.get(key) {
            return Ok(value);
        }
        engine!(self, c => c.load_async_missed(key.to_owned(), with, private_error_rules()).await)
    }

    // ---- introspection and control ----

    /// Entries in the cache (expired ones not yet removed included).
    ///
    /// ```
    /// let cache = evacmap::Cache::new(10);
    /// cache.insert(1, ());
    /// assert_eq!(cache.entry_count(), 1);
    /// ```
    pub fn entry_count(&self) -> u64 {
        engine!(self, c => c.entry_count())
    }

    /// The total weight of the entries (with no weigher, their number).
    /// At most the capacity whenever no insert is in flight.
    ///
    /// ```
    /// let cache = evacmap::Cache::builder().max_capacity(100).weigher(|_, v: &String| v.len() as u32).build();
    /// cache.insert(1, "four".to_string());
    /// cache.insert(2, "five!".to_string());
    /// assert_eq!(cache.weighted_size(), 9);
    /// ```
    pub fn weighted_size(&self) -> u64 {
        engine!(self, c => c.weighted_size())
    }

    /// The cache's settings.
    ///
    /// ```
    /// let cache: evacmap::Cache<u32, u32> = evacmap::Cache::new(10);
    /// assert_eq!(cache.policy().max_capacity(), Some(10));
    /// assert_eq!(cache.policy().time_to_live(), None);
    /// ```
    pub fn policy(&self) -> CachePolicy {
        engine!(self, c => CachePolicy {
            max_capacity: Some(c.max_capacity()).filter(|&m| m != u64::MAX),
            time_to_live: c.settings.time_to_live,
            time_to_idle: c.settings.time_to_idle,
            initial_capacity: c.settings.initial_capacity,
        })
    }

    /// Changes the capacity now; shrinking evicts at once, on this thread.
    ///
    /// ```
    /// let cache = evacmap::Cache::new(100);
    /// for i in 0..100 {
    ///     cache.insert(i, i);
    /// }
    /// cache.set_max_capacity(10);
    /// assert_eq!(cache.entry_count(), 10);
    /// ```
    pub fn set_max_capacity(&self, max_capacity: u64) {
        engine!(self, c => c.set_max_capacity(max_capacity))
    }

    /// Removes every expired entry and frees what the cache retired: after
    /// `invalidate_all()` and this, the cache holds about what an empty one
    /// does. Ordinary operations do this work in bounded slices anyway.
    ///
    /// ```
    /// use evacmap::cache::MockClock;
    /// use std::time::Duration;
    /// let clock = MockClock::new();
    /// let cache = evacmap::Cache::builder()
    ///     .max_capacity(100)
    ///     .time_to_live(Duration::from_secs(1))
    ///     .clock(clock.clone())
    ///     .build();
    /// cache.insert(1, 1);
    /// clock.advance(Duration::from_secs(2));
    /// assert_eq!(cache.entry_count(), 1); // expired, not yet removed
    /// cache.run_pending_tasks();
    /// assert_eq!(cache.entry_count(), 0);
    /// ```
    pub fn run_pending_tasks(&self) {
        engine!(self, c => {
            c.expire_all();
            c.shrink_policy();
            c.map.reclaim();
        })
    }

    /// The counters since the cache was built; see [`CacheStats`].
    ///
    /// ```
    /// let cache = evacmap::Cache::new(10);
    /// cache.insert(1, 1);
    /// let _ = cache.get(&1);
    /// assert_eq!(cache.stats().hits, 1);
    /// ```
    pub fn stats(&self) -> CacheStats {
        engine!(self, c => c.stats.snapshot())
    }

    /// The entries as `(key, value)` clones, moka's shape. Weakly
    /// consistent, like the map's iteration: never blocks writers, yields
    /// no key twice, skips expired entries.
    ///
    /// ```
    /// let cache = evacmap::Cache::new(10);
    /// cache.insert(1, "one");
    /// for (key, value) in cache.iter() {
    ///     assert_eq!((*key, value), (1, "one"));
    /// }
    /// ```
    pub fn iter(&self) -> Iter<'_, K, V, S> {
        Iter::new(&self.inner.engine)
    }

    /// The name given with [`CacheBuilder::name`].
    ///
    /// ```
    /// let cache: evacmap::Cache<u32, u32> = evacmap::Cache::builder().name("users").build();
    /// assert_eq!(cache.name(), Some("users"));
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    // ---- quick_cache's names ----

    /// Entries in the cache: [`entry_count`](Self::entry_count) as a
    /// `usize` (quick_cache's name).
    ///
    /// ```
    /// let cache = evacmap::Cache::new(10);
    /// cache.insert(1, 1);
    /// assert_eq!(cache.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.entry_count() as usize
    }

    /// Whether the cache holds no entry.
    ///
    /// ```
    /// let cache: evacmap::Cache<u32, u32> = evacmap::Cache::new(10);
    /// assert!(cache.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.entry_count() == 0
    }

    /// [`weighted_size`](Self::weighted_size) (quick_cache's name).
    ///
    /// ```
    /// let cache = evacmap::Cache::new(10);
    /// cache.insert(1, 1);
    /// assert_eq!(cache.weight(), 1);
    /// ```
    pub fn weight(&self) -> u64 {
        self.weighted_size()
    }

    /// The capacity (`u64::MAX` when unbounded; quick_cache's name).
    ///
    /// ```
    /// let cache: evacmap::Cache<u32, u32> = evacmap::Cache::new(10);
    /// assert_eq!(cache.capacity(), 10);
    /// ```
    pub fn capacity(&self) -> u64 {
        engine!(self, c => c.max_capacity())
    }

    /// [`set_max_capacity`](Self::set_max_capacity) (quick_cache's name).
    ///
    /// ```
    /// let cache: evacmap::Cache<u32, u32> = evacmap::Cache::new(10);
    /// cache.set_capacity(20);
    /// assert_eq!(cache.capacity(), 20);
    /// ```
    pub fn set_capacity(&self, capacity: u64) {
        self.set_max_capacity(capacity)
    }

    /// [`invalidate_all`](Self::invalidate_all) (quick_cache's name).
    ///
    /// ```
    /// let cache = evacmap::Cache::new(10);
    /// cache.insert(1, 1);
    /// cache.clear();
    /// assert!(cache.is_empty());
    /// ```
    pub fn clear(&self) {
        self.invalidate_all()
    }

    /// Hits so far ([`stats`](Self::stats)`().hits`, quick_cache's name).
    ///
    /// ```
    /// let cache = evacmap::Cache::new(10);
    /// cache.insert(1, 1);
    /// let _ = cache.get(&1);
    /// assert_eq!(cache.hits(), 1);
    /// ```
    pub fn hits(&self) -> u64 {
        self.stats().hits
    }

    /// Misses so far ([`stats`](Self::stats)`().misses`, quick_cache's name).
    ///
    /// ```
    /// let cache: evacmap::Cache<u32, u32> = evacmap::Cache::new(10);
    /// let _ = cache.get(&1);
    /// assert_eq!(cache.misses(), 1);
    /// ```
    pub fn misses(&self) -> u64 {
        self.stats().misses
    }

    /// Bytes held by the policy's own structures (queues, ghosts, sketch,
    /// expiry index), besides the map's (`MapStats`).
    #[doc(hidden)]
    pub fn policy_bytes(&self) -> usize {
        engine!(self, c => c.policy_bytes())
    }
}

/// The loaders' rules for `get_with`: only a value satisfies a follower.
#[allow(clippy::type_complexity)]
fn value_rules<V: Clone>(
) -> Rules<impl Fn(V) -> V, impl FnOnce(V) -> (Outcome<V>, V), impl Fn(Outcome<V>) -> Option<V>> {
    Rules {
        hit: |v| v,
        lead: |v: V| (Outcome::Done(v.clone()), v),
        follow: |o| match o {
            Outcome::Done(v) => Some(v),
            _ => None,
        },
    }
}

/// `try_get_with`: errors are shared as the same `Arc<E>`.
#[allow(clippy::type_complexity)]
fn try_rules<V: Clone, E: Send + Sync + 'static>() -> Rules<
    impl Fn(V) -> Result<V, Arc<E>>,
    impl FnOnce(Result<V, E>) -> (Outcome<V>, Result<V, Arc<E>>),
    impl Fn(Outcome<V>) -> Option<Result<V, Arc<E>>>,
> {
    Rules {
        hit: Ok,
        lead: |r: Result<V, E>| match r {
            Ok(v) => (Outcome::Done(v.clone()), Ok(v)),
            Err(e) => {
                let e = Arc::new(e);
                (Outcome::Failed(e.clone()), Err(e))
            }
        },
        follow: |o| match o {
            Outcome::Done(v) => Some(Ok(v)),
            // A leader with another error type cannot hand its error over:
            // go round and load.
            Outcome::Failed(e) => e.downcast::<E>().ok().map(Err),
            Outcome::Nothing | Outcome::Abandoned | Outcome::Running(_) => None,
        },
    }
}

/// `optionally_get_with`: "nothing" is shared too.
#[allow(clippy::type_complexity)]
fn optional_rules<V: Clone>() -> Rules<
    impl Fn(V) -> Option<V>,
    impl FnOnce(Option<V>) -> (Outcome<V>, Option<V>),
    impl Fn(Outcome<V>) -> Option<Option<V>>,
> {
    Rules {
        hit: Some,
        lead: |o: Option<V>| match o {
            Some(v) => (Outcome::Done(v.clone()), Some(v)),
            None => (Outcome::Nothing, None),
        },
        follow: |o| match o {
            Outcome::Done(v) => Some(Some(v)),
            Outcome::Nothing => Some(None),
            _ => None,
        },
    }
}

/// `get_or_insert_with`: an error stays with its caller; followers load.
#[allow(clippy::type_complexity)]
fn private_error_rules<V: Clone, E>() -> Rules<
    impl Fn(V) -> Result<V, E>,
    impl FnOnce(Result<V, E>) -> (Outcome<V>, Result<V, E>),
    impl Fn(Outcome<V>) -> Option<Result<V, E>>,
> {
    Rules {
        hit: Ok,
        lead: |r: Result<V, E>| match r {
            Ok(v) => (Outcome::Done(v.clone()), Ok(v)),
            Err(e) => (Outcome::Abandoned, Err(e)),
        },
        follow: |o| match o {
            Outcome::Done(v) => Some(Ok(v)),
            _ => None,
        },
    }
}

impl<K, V, S, T> Core<K, V, S, T>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher,
    T: Timing,
{
    /// A hit lent under its own guard.
    fn read_ref<Q>(&self, key: &Q) -> Option<CacheRef<'_, K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.map.hash_of(key);
        let guard = epoch::pin();
        let found: Option<*const CacheEntry<K, V, T>> =
            self.find(hash, key, &guard, true).map(|e| e as *const _);
        if found.is_some() {
            self.stats.hit();
        } else {
            self.stats.miss();
        }
        self.after_read();
        // SAFETY: reached under `guard`, which the `CacheRef` takes over.
        found.map(|e| unsafe { CacheRef::new(guard, &(*e).key, &(*e).value.value) })
    }
}

/// A value lent by [`Cache::get_ref`]: it holds an epoch guard (never a
/// lock), so the value stays readable while it lives, even if the entry is
/// evicted, and holding it while using the cache cannot deadlock. Like the
/// map's `Ref`, it delays memory reclamation while held: keep it brief.
///
/// ```
/// let cache = evacmap::Cache::new(10);
/// cache.insert(1, String::from("one"));
/// let value: evacmap::cache::CacheRef<'_, u32, String> = cache.get_ref(&1).unwrap();
/// assert_eq!(value.as_str(), "one"); // derefs to the value
/// ```
pub struct CacheRef<'a, K, V> {
    _guard: Guard,
    key: *const K,
    value: *const V,
    _cache: PhantomData<&'a (K, V)>,
}

impl<'a, K, V> CacheRef<'a, K, V> {
    /// # Safety
    /// `key` and `value` belong to an entry reached under `guard`.
    unsafe fn new(guard: Guard, key: &K, value: &V) -> Self {
        CacheRef {
            _guard: guard,
            key,
            value,
            _cache: PhantomData,
        }
    }

    /// The key.
    ///
    /// ```
    /// let cache = evacmap::Cache::new(10);
    /// cache.insert(1, "one");
    /// assert_eq!(*cache.get_ref(&1).unwrap().key(), 1);
    /// ```
    pub fn key(&self) -> &K {
        // SAFETY: the entry is retired (if at all) through the epoch, and our
        // guard was pinned while it was reachable.
        unsafe { &*self.key }
    }

    /// The value.
    ///
    /// ```
    /// let cache = evacmap::Cache::new(10);
    /// cache.insert(1, "one");
    /// assert_eq!(*cache.get_ref(&1).unwrap().value(), "one");
    /// ```
    pub fn value(&self) -> &V {
        // SAFETY: as in `key`.
        unsafe { &*self.value }
    }
}

impl<K, V> std::ops::Deref for CacheRef<'_, K, V> {
    type Target = V;
    fn deref(&self) -> &V {
        self.value()
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for CacheRef<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheRef")
            .field("key", self.key())
            .field("value", self.value())
            .finish()
    }
}

/// A cache's settings, from [`Cache::policy`].
///
/// ```
/// let cache: evacmap::Cache<u32, u32> = evacmap::Cache::new(10);
/// let policy: evacmap::cache::CachePolicy = cache.policy();
/// assert_eq!(policy.max_capacity(), Some(10));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CachePolicy {
    max_capacity: Option<u64>,
    time_to_live: Option<Duration>,
    time_to_idle: Option<Duration>,
    initial_capacity: Option<usize>,
}

impl CachePolicy {
    /// The capacity (`None`: unbounded).
    ///
    /// ```
    /// let cache: evacmap::Cache<u32, u32> = evacmap::Cache::new(10);
    /// assert_eq!(cache.policy().max_capacity(), Some(10));
    /// ```
    pub fn max_capacity(&self) -> Option<u64> {
        self.max_capacity
    }
    /// The time to live.
    ///
    /// ```
    /// let cache: evacmap::Cache<u32, u32> = evacmap::Cache::new(10);
    /// assert_eq!(cache.policy().time_to_live(), None);
    /// ```
    pub fn time_to_live(&self) -> Option<Duration> {
        self.time_to_live
    }
    /// The time to idle.
    ///
    /// ```
    /// let cache: evacmap::Cache<u32, u32> = evacmap::Cache::new(10);
    /// assert_eq!(cache.policy().time_to_idle(), None);
    /// ```
    pub fn time_to_idle(&self) -> Option<Duration> {
        self.time_to_idle
    }
    /// The initial capacity asked for.
    ///
    /// ```
    /// let cache: evacmap::Cache<u32, u32> = evacmap::Cache::new(10);
    /// assert_eq!(cache.policy().initial_capacity(), None);
    /// ```
    pub fn initial_capacity(&self) -> Option<usize> {
        self.initial_capacity
    }
}

/// Never returned: [`Cache::invalidate_entries_if`] always succeeds. It
/// exists so that code written for moka's signature compiles unchanged.
///
/// ```
/// let cache: evacmap::Cache<u32, u32> = evacmap::Cache::new(10);
/// let result: Result<(), evacmap::cache::PredicateError> = cache.invalidate_entries_if(|_, _| true);
/// assert!(result.is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PredicateError;

impl fmt::Display for PredicateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalidation predicate refused")
    }
}

impl std::error::Error for PredicateError {}

impl<K, V, S> fmt::Debug for Cache<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Clone + Send + Sync + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("name", &self.name())
            .field("entry_count", &self.entry_count())
            .field("weighted_size", &self.weighted_size())
            .field("max_capacity", &self.policy().max_capacity())
            .finish_non_exhaustive()
    }
}
