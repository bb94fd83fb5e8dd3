//! [`Iter`]: the cache's entries as `(Arc<K>, V)` clones, moka's shape.

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use super::api::Inner;
use super::core::Core;
use super::slot::{Slot, Times, Timing, Untimed};

/// The entries of a [`Cache`](super::Cache); see
/// [`Cache::iter`](super::Cache::iter). Weakly consistent and exact-once,
/// like the map's iteration; expired entries are skipped.
///
/// ```
/// let cache = evacmap::Cache::new(10);
/// cache.insert("a", 1);
/// let all: Vec<(std::sync::Arc<&str>, i32)> = cache.iter().collect();
/// assert_eq!(all.len(), 1);
/// ```
pub struct Iter<'a, K, V, S> {
    walk: Walk<'a, K, V, S>,
}

enum Walk<'a, K, V, S> {
    Plain(
        &'a Core<K, V, S, Untimed>,
        crate::Iter<'a, K, Slot<V, Untimed>>,
    ),
    Timed(&'a Core<K, V, S, Times>, crate::Iter<'a, K, Slot<V, Times>>),
}

impl<'a, K, V, S> Iter<'a, K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher,
{
    pub(crate) fn new(inner: &'a Inner<K, V, S>) -> Self {
        let walk = match inner {
            Inner::Plain(c) => Walk::Plain(c, c.map.iter()),
            Inner::Timed(c) => Walk::Timed(c, c.map.iter()),
        };
        Iter { walk }
    }
}

/// The next live entry of `iter`, cloned.
fn next_live<K, V, S, T>(
    core: &Core<K, V, S, T>,
    iter: &mut crate::Iter<'_, K, Slot<V, T>>,
) -> Option<(Arc<K>, V)>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher,
    T: Timing,
{
    iter.find(|r| !T::TIMED || !core.expired_now(&r.value().meta))
        .map(|r| (Arc::new(r.key().clone()), r.value().value.clone()))
}

impl<K, V, S> Iterator for Iter<'_, K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher,
{
    type Item = (Arc<K>, V);

    fn next(&mut self) -> Option<(Arc<K>, V)> {
        match &mut self.walk {
            Walk::Plain(core, iter) => next_live(core, iter),
            Walk::Timed(core, iter) => next_live(core, iter),
        }
    }
}

impl<K, V, S> fmt::Debug for Iter<'_, K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").finish_non_exhaustive()
    }
}
