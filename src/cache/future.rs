//! [`Cache`] with moka's `future::Cache` method names, for
//! code that moves over from it by changing an import: the methods moka
//! makes `async` are `async` here too.
//!
//! Nothing in them waits for anything but an initialiser: evacmap's reads
//! and writes never block (a hit takes no lock; a write holds a lock for a
//! bounded step, never across user code that could wait), so each `async`
//! method is the blocking one, ready at its first poll. The loaders are the
//! async loaders of [`crate::Cache`] (single-flight, cancellation hands the
//! load over) and work on any executor.

use std::borrow::Borrow;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use super::builder::CacheBuilder;
use super::{CachePolicy, CacheStats, Iter, PredicateError};
use crate::DefaultHashBuilder;

/// The bounded cache with moka's `future::Cache` API; see the [module
/// docs](self). A thin handle over [`crate::Cache`]: clones share the cache.
///
/// ```
/// use evacmap::cache::future::Cache;
///
/// # let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # runtime.block_on(async {
/// let cache: Cache<u32, String> = Cache::new(1_000);
/// cache.insert(1, "one".to_string()).await;
/// assert_eq!(cache.get(&1).await.as_deref(), Some("one"));
/// let two = cache.get_with(2, async { "two".to_string() }).await;
/// assert_eq!(two, "two");
/// # });
/// ```
pub struct Cache<K, V, S = DefaultHashBuilder> {
    inner: crate::Cache<K, V, S>,
}

impl<K, V, S> Clone for Cache<K, V, S> {
    fn clone(&self) -> Self {
        Cache {
            inner: self.inner.clone(),
        }
    }
}

impl<K, V, S> From<crate::Cache<K, V, S>> for Cache<K, V, S> {
    /// The same cache, with the async method names.
    ///
    /// ```
    /// let sync = evacmap::Cache::new(10);
    /// sync.insert(1, 1);
    /// let cache = evacmap::cache::future::Cache::from(sync.clone());
    /// assert_eq!(cache.entry_count(), 1);
    /// ```
    fn from(inner: crate::Cache<K, V, S>) -> Self {
        Cache { inner }
    }
}

impl<K, V> Cache<K, V, DefaultHashBuilder>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A cache holding at most `max_capacity` entries.
    ///
    /// ```
    /// let cache: evacmap::cache::future::Cache<u32, u32> = evacmap::cache::future::Cache::new(10);
    /// assert_eq!(cache.policy().max_capacity(), Some(10));
    /// ```
    pub fn new(max_capacity: u64) -> Self {
        crate::Cache::new(max_capacity).into()
    }

    /// A [`CacheBuilder`] whose `build` makes this kind of cache.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache: evacmap::cache::future::Cache<u32, u32> = evacmap::cache::future::Cache::builder()
    ///     .max_capacity(10)
    ///     .time_to_live(Duration::from_secs(60))
    ///     .build();
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
    /// The same cache, with the blocking method names.
    ///
    /// ```
    /// let cache: evacmap::cache::future::Cache<u32, u32> = evacmap::cache::future::Cache::new(10);
    /// cache.sync().insert(1, 1);
    /// ```
    pub fn sync(&self) -> &crate::Cache<K, V, S> {
        &self.inner
    }

    /// See [`crate::Cache::get`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = evacmap::cache::future::Cache::new(10);
    /// cache.insert(1, "one").await;
    /// assert_eq!(cache.get(&1).await, Some("one"));
    /// # });
    /// ```
    pub async fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.get(key)
    }

    /// See [`crate::Cache::contains_key`].
    ///
    /// ```
    /// let cache: evacmap::cache::future::Cache<u32, u32> = evacmap::cache::future::Cache::new(10);
    /// assert!(!cache.contains_key(&1));
    /// ```
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.contains_key(key)
    }

    /// See [`crate::Cache::insert`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = evacmap::cache::future::Cache::new(10);
    /// cache.insert(1, 1).await;
    /// assert_eq!(cache.entry_count(), 1);
    /// # });
    /// ```
    pub async fn insert(&self, key: K, value: V) {
        self.inner.insert(key, value)
    }

    /// See [`crate::Cache::invalidate`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = evacmap::cache::future::Cache::new(10);
    /// cache.insert(1, 1).await;
    /// cache.invalidate(&1).await;
    /// assert!(!cache.contains_key(&1));
    /// # });
    /// ```
    pub async fn invalidate<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.invalidate(key)
    }

    /// See [`crate::Cache::remove`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = evacmap::cache::future::Cache::new(10);
    /// cache.insert(1, 1).await;
    /// assert_eq!(cache.remove(&1).await, Some(1));
    /// # });
    /// ```
    pub async fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.remove(key)
    }

    /// See [`crate::Cache::get_with_async`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = evacmap::cache::future::Cache::new(10);
    /// assert_eq!(cache.get_with(1, async { 10 }).await, 10);
    /// # });
    /// ```
    pub async fn get_with(&self, key: K, init: impl Future<Output = V>) -> V {
        self.inner.get_with_async(key, init).await
    }

    /// [`get_with`](Self::get_with) for a borrowed key.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache: evacmap::cache::future::Cache<String, u32> = evacmap::cache::future::Cache::new(10);
    /// assert_eq!(cache.get_with_by_ref("k", async { 1 }).await, 1);
    /// # });
    /// ```
    pub async fn get_with_by_ref<Q>(&self, key: &Q, init: impl Future<Output = V>) -> V
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        match self.inner.get(key) {
            Some(value) => value,
            None => self.inner.get_with_async(key.to_owned(), init).await,
        }
    }

    /// See [`crate::Cache::try_get_with_async`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache: evacmap::cache::future::Cache<u32, u32> = evacmap::cache::future::Cache::new(10);
    /// let r = cache.try_get_with(1, async { Err::<u32, _>("down") }).await;
    /// assert_eq!(*r.unwrap_err(), "down");
    /// # });
    /// ```
    pub async fn try_get_with<F, E>(&self, key: K, init: F) -> Result<V, Arc<E>>
    where
        F: Future<Output = Result<V, E>>,
        E: Send + Sync + 'static,
    {
        self.inner.try_get_with_async(key, init).await
    }

    /// [`try_get_with`](Self::try_get_with) for a borrowed key.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache: evacmap::cache::future::Cache<String, u32> = evacmap::cache::future::Cache::new(10);
    /// assert_eq!(cache.try_get_with_by_ref("k", async { Ok::<_, ()>(1) }).await, Ok(1));
    /// # });
    /// ```
    pub async fn try_get_with_by_ref<F, E, Q>(&self, key: &Q, init: F) -> Result<V, Arc<E>>
    where
        F: Future<Output = Result<V, E>>,
        E: Send + Sync + 'static,
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        match self.inner.get(key) {
            Some(value) => Ok(value),
            None => self.inner.try_get_with_async(key.to_owned(), init).await,
        }
    }

    /// See [`crate::Cache::optionally_get_with_async`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache: evacmap::cache::future::Cache<u32, u32> = evacmap::cache::future::Cache::new(10);
    /// assert_eq!(cache.optionally_get_with(1, async { None }).await, None);
    /// # });
    /// ```
    pub async fn optionally_get_with<F>(&self, key: K, init: F) -> Option<V>
    where
        F: Future<Output = Option<V>>,
    {
        self.inner.optionally_get_with_async(key, init).await
    }

    /// [`optionally_get_with`](Self::optionally_get_with) for a borrowed key.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache: evacmap::cache::future::Cache<String, u32> = evacmap::cache::future::Cache::new(10);
    /// assert_eq!(cache.optionally_get_with_by_ref("k", async { Some(1) }).await, Some(1));
    /// # });
    /// ```
    pub async fn optionally_get_with_by_ref<F, Q>(&self, key: &Q, init: F) -> Option<V>
    where
        F: Future<Output = Option<V>>,
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        match self.inner.get(key) {
            Some(value) => Some(value),
            None => {
                self.inner
                    .optionally_get_with_async(key.to_owned(), init)
                    .await
            }
        }
    }

    /// See [`crate::Cache::invalidate_all`].
    ///
    /// ```
    /// let cache: evacmap::cache::future::Cache<u32, u32> = evacmap::cache::future::Cache::new(10);
    /// cache.invalidate_all();
    /// ```
    pub fn invalidate_all(&self) {
        self.inner.invalidate_all()
    }

    /// See [`crate::Cache::invalidate_entries_if`].
    ///
    /// ```
    /// let cache: evacmap::cache::future::Cache<u32, u32> = evacmap::cache::future::Cache::new(10);
    /// cache.invalidate_entries_if(|_, v| *v > 1).unwrap();
    /// ```
    pub fn invalidate_entries_if<F>(&self, predicate: F) -> Result<(), PredicateError>
    where
        F: FnMut(&K, &V) -> bool,
    {
        self.inner.invalidate_entries_if(predicate)
    }

    /// See [`crate::Cache::run_pending_tasks`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache: evacmap::cache::future::Cache<u32, u32> = evacmap::cache::future::Cache::new(10);
    /// cache.run_pending_tasks().await;
    /// # });
    /// ```
    pub async fn run_pending_tasks(&self) {
        self.inner.run_pending_tasks()
    }

    /// See [`crate::Cache::entry_count`].
    ///
    /// ```
    /// let cache: evacmap::cache::future::Cache<u32, u32> = evacmap::cache::future::Cache::new(10);
    /// assert_eq!(cache.entry_count(), 0);
    /// ```
    pub fn entry_count(&self) -> u64 {
        self.inner.entry_count()
    }

    /// See [`crate::Cache::weighted_size`].
    ///
    /// ```
    /// let cache: evacmap::cache::future::Cache<u32, u32> = evacmap::cache::future::Cache::new(10);
    /// assert_eq!(cache.weighted_size(), 0);
    /// ```
    pub fn weighted_size(&self) -> u64 {
        self.inner.weighted_size()
    }

    /// See [`crate::Cache::policy`].
    ///
    /// ```
    /// let cache: evacmap::cache::future::Cache<u32, u32> = evacmap::cache::future::Cache::new(10);
    /// assert_eq!(cache.policy().max_capacity(), Some(10));
    /// ```
    pub fn policy(&self) -> CachePolicy {
        self.inner.policy()
    }

    /// See [`crate::Cache::name`].
    ///
    /// ```
    /// let cache: evacmap::cache::future::Cache<u32, u32> =
    ///     evacmap::cache::future::Cache::builder().name("sessions").build();
    /// assert_eq!(cache.name(), Some("sessions"));
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.inner.name()
    }

    /// See [`crate::Cache::iter`].
    ///
    /// ```
    /// let cache: evacmap::cache::future::Cache<u32, u32> = evacmap::cache::future::Cache::new(10);
    /// assert_eq!(cache.iter().count(), 0);
    /// ```
    pub fn iter(&self) -> Iter<'_, K, V, S> {
        self.inner.iter()
    }

    /// See [`crate::Cache::stats`].
    ///
    /// ```
    /// let cache: evacmap::cache::future::Cache<u32, u32> = evacmap::cache::future::Cache::new(10);
    /// assert_eq!(cache.stats().hits, 0);
    /// ```
    pub fn stats(&self) -> CacheStats {
        self.inner.stats()
    }
}

impl<K, V, S> fmt::Debug for Cache<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Clone + Send + Sync + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("future::Cache").field(&self.inner).finish()
    }
}
