//! Standard traits for the map and its pinned handle, as std has them where
//! a concurrent map can: equality, construction from arrays and borrowed
//! pairs, extension through a shared reference, iteration and indexing of a
//! [`Pinned`] handle (which can lend `&V`; the map itself cannot, as each
//! reference must hold a guard).

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::ops::Index;

use crate::iter::PinnedIter;
use crate::pinned::Pinned;
use crate::{DefaultHashBuilder, HashMap};

/// Two maps are equal when they hold the same keys with equal values.
///
/// Like iteration, the comparison is weakly consistent: with no concurrent
/// writes it is exact; while either map changes, it may see some changes
/// and not others, and answer either way.
///
/// ```
/// use evacmap::HashMap;
/// let a: HashMap<&str, u32> = [("x", 1), ("y", 2)].into();
/// let b: HashMap<&str, u32> = [("y", 2), ("x", 1)].into();
/// assert_eq!(a, b);
/// b.insert("y", 3);
/// assert_ne!(a, b);
/// ```
impl<K, V, S> PartialEq for HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static + PartialEq,
    S: BuildHasher,
{
    fn eq(&self, other: &Self) -> bool {
        if self.len() != other.len() {
            return false;
        }
        // `iter` pins a chunk at a time, not for the whole walk.
        self.iter()
            .all(|mine| other.get(mine.key()).is_some_and(|theirs| *theirs == *mine))
    }
}

/// `a == a` holds when values' `==` is an equivalence (and nothing writes
/// meanwhile; see [`PartialEq`](#impl-PartialEq-for-HashMap<K,+V,+S>)).
///
/// ```
/// fn assert_eq_impl<T: Eq>() {}
/// assert_eq_impl::<evacmap::HashMap<u8, String>>();
/// ```
impl<K, V, S> Eq for HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static + Eq,
    S: BuildHasher,
{
}

/// A map of the array's pairs (a later duplicate key replaces an earlier
/// one), with the default hasher, as std's `From<[(K, V); N]>`.
///
/// ```
/// let map = evacmap::HashMap::from([(1, "one"), (2, "two")]);
/// assert_eq!(map.get_cloned(&2), Some("two"));
/// ```
impl<K, V, const N: usize> From<[(K, V); N]> for HashMap<K, V, DefaultHashBuilder>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
{
    fn from(pairs: [(K, V); N]) -> Self {
        pairs.into_iter().collect()
    }
}

/// A map of copied pairs, as the matching `Extend` (and std's) has.
///
/// ```
/// let pairs = [(1u8, 'a'), (2, 'b')];
/// let map: evacmap::HashMap<u8, char> = pairs.iter().map(|(k, v)| (k, v)).collect();
/// assert_eq!(map.get_cloned(&1), Some('a'));
/// ```
impl<'a, K, V, S> FromIterator<(&'a K, &'a V)> for HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static + Copy,
    V: Send + 'static + Copy,
    S: BuildHasher + Default,
{
    fn from_iter<I: IntoIterator<Item = (&'a K, &'a V)>>(iter: I) -> Self {
        iter.into_iter().map(|(k, v)| (*k, *v)).collect()
    }
}

/// Extends a *shared* map: any thread holding `&HashMap` may, as it may
/// `insert`. A duplicate key replaces the value, as `insert` does.
///
/// ```
/// let map = evacmap::HashMap::new();
/// std::thread::scope(|s| {
///     for t in 0..2u32 {
///         let mut shared = &map;
///         s.spawn(move || shared.extend((0..50).map(|i| (t * 50 + i, i))));
///     }
/// });
/// assert_eq!(map.len(), 100);
/// ```
impl<K, V, S> Extend<(K, V)> for &HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        self.extend_pairs(iter.into_iter());
    }
}

/// Extends a shared map with copied pairs.
///
/// ```
/// let map = evacmap::HashMap::new();
/// (&map).extend([(1u8, 'a')].iter().map(|(k, v)| (k, v)));
/// assert_eq!(map.get_cloned(&1), Some('a'));
/// ```
impl<'a, K, V, S> Extend<(&'a K, &'a V)> for &HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static + Copy,
    V: Send + 'static + Copy,
    S: BuildHasher,
{
    fn extend<I: IntoIterator<Item = (&'a K, &'a V)>>(&mut self, iter: I) {
        self.extend_pairs(iter.into_iter().map(|(k, v)| (*k, *v)));
    }
}

/// Iterates a pinned handle's entries as plain references (see
/// [`Pinned::iter`]).
///
/// ```
/// let map = evacmap::HashMap::from([(1, 10), (2, 20)]);
/// let pinned = map.pin();
/// let mut sum = 0;
/// for (_, v) in &pinned {
///     sum += v;
/// }
/// assert_eq!(sum, 30);
/// ```
impl<'p, K, V, S> IntoIterator for &'p Pinned<'_, K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    type Item = (&'p K, &'p V);
    type IntoIter = PinnedIter<'p, K, V>;

    fn into_iter(self) -> PinnedIter<'p, K, V> {
        self.iter()
    }
}

/// `pinned[&key]`: the value for `key`, lent for as long as the handle.
///
/// # Panics
/// If the key is absent (use [`Pinned::get`] to ask instead).
///
/// ```
/// let map = evacmap::HashMap::from([("a", 1)]);
/// let pinned = map.pin();
/// assert_eq!(pinned["a"], 1);
/// ```
///
/// ```should_panic
/// let map = evacmap::HashMap::from([("a", 1)]);
/// let _ = map.pin()["b"];
/// ```
impl<K, V, S, Q> Index<&Q> for Pinned<'_, K, V, S>
where
    K: Hash + Eq + Send + 'static + Borrow<Q>,
    V: Send + 'static,
    S: BuildHasher,
    Q: Hash + Eq + ?Sized,
{
    type Output = V;

    fn index(&self, key: &Q) -> &V {
        self.get(key)
            .expect("evacmap: no entry for the key in this map")
    }
}
