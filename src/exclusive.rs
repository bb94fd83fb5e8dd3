//! What exclusive access makes sound and cheap, as std has it: [`get_mut`],
//! [`iter_mut`], [`values_mut`], [`drain`], and the owning [`into_iter`],
//! [`into_keys`], [`into_values`].
//!
//! Entries are immutable while the map is shared, because readers may hold
//! `&V` under epoch guards. Through `&mut HashMap` (or an owned one) no
//! reader exists: every reference the map lends borrows it. So these hand
//! out `&mut V` and move entries out without copying or retiring anything;
//! the argument is written in full in `raw/exclusive.rs`.
//!
//! [`get_mut`]: HashMap::get_mut
//! [`iter_mut`]: HashMap::iter_mut
//! [`values_mut`]: HashMap::values_mut
//! [`drain`]: HashMap::drain
//! [`into_iter`]: HashMap::into_iter
//! [`into_keys`]: HashMap::into_keys
//! [`into_values`]: HashMap::into_values

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::iter::FusedIterator;
use std::marker::PhantomData;

use crate::raw::exclusive::Cursor;
use crate::raw::RawMap;
use crate::sync::epoch;
use crate::HashMap;

impl<K, V, S> HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    /// A mutable reference to the value for `key`: exclusive access makes
    /// an in-place change sound (no reader can hold the entry), with no new
    /// entry allocated.
    ///
    /// ```
    /// let mut map = evacmap::HashMap::new();
    /// map.insert("a", vec![1]);
    /// map.get_mut("a").unwrap().push(2);
    /// assert_eq!(*map.get("a").unwrap(), [1, 2]);
    /// assert!(map.get_mut("b").is_none());
    /// ```
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        // SAFETY: `&mut self` for the lifetime of the result: no reference
        // into the map exists on any thread (all of them borrow the map), so
        // the entry is reachable only through its slots and nothing reads it
        // while the `&mut V` lives (raw/exclusive.rs). The pointer comes from
        // the slot, with the write permission of the entry's allocation.
        unsafe {
            let entry = self.raw.find_exclusive(hash, |e| e.key.borrow() == key)?;
            Some(&mut (*entry).value)
        }
    }

    /// Every entry with a mutable reference to its value, in no particular
    /// order, each exactly once.
    ///
    /// ```
    /// let mut map: evacmap::HashMap<u32, u32> = (0..10).map(|k| (k, k)).collect();
    /// for (_, v) in map.iter_mut() {
    ///     *v *= 10;
    /// }
    /// assert_eq!(map.get_cloned(&7), Some(70));
    /// ```
    pub fn iter_mut(&mut self) -> IterMut<'_, K, V> {
        IterMut {
            raw: &self.raw,
            cursor: Cursor::new(),
            _values: PhantomData,
        }
    }

    /// Every value, mutably, each exactly once.
    ///
    /// ```
    /// let mut map: evacmap::HashMap<u32, String> = (0..3).map(|k| (k, k.to_string())).collect();
    /// map.values_mut().for_each(|v| v.push('!'));
    /// assert_eq!(map.get_cloned(&2).as_deref(), Some("2!"));
    /// ```
    pub fn values_mut(&mut self) -> ValuesMut<'_, K, V> {
        ValuesMut(self.iter_mut())
    }

    /// Removes every entry and yields it by value. Entries the iterator has
    /// not yielded when it is dropped are removed and dropped then; the
    /// map's tables are then retired as by [`HashMap::clear`], so memory
    /// follows contents (std's `drain` keeps its capacity instead). If the
    /// `Drain` is leaked, the entries not yet yielded stay in the map.
    ///
    /// ```
    /// let mut map: evacmap::HashMap<u32, u32> = (0..100).map(|k| (k, k * k)).collect();
    /// let mut pairs: Vec<_> = map.drain().collect();
    /// pairs.sort();
    /// assert_eq!(pairs.len(), 100);
    /// assert_eq!(pairs[9], (9, 81));
    /// assert!(map.is_empty());
    /// ```
    pub fn drain(&mut self) -> Drain<'_, K, V> {
        Drain {
            raw: &self.raw,
            cursor: Cursor::new(),
            finish: |raw| raw.clear(&epoch::pin()),
        }
    }

    /// The keys, by value, consuming the map.
    ///
    /// ```
    /// let map: evacmap::HashMap<&str, u32> = [("a", 1), ("b", 2)].into();
    /// let mut keys: Vec<&str> = map.into_keys().collect();
    /// keys.sort();
    /// assert_eq!(keys, ["a", "b"]);
    /// ```
    pub fn into_keys(self) -> IntoKeys<K, V, S> {
        IntoKeys(self.into_iter())
    }

    /// The values, by value, consuming the map.
    ///
    /// ```
    /// let map: evacmap::HashMap<&str, u32> = [("a", 1), ("b", 2)].into();
    /// assert_eq!(map.into_values().sum::<u32>(), 3);
    /// ```
    pub fn into_values(self) -> IntoValues<K, V, S> {
        IntoValues(self.into_iter())
    }
}

/// `(&K, &mut V)` for every entry; see [`HashMap::iter_mut`].
///
/// ```
/// let mut map: evacmap::HashMap<&str, u32> = [("a", 1), ("b", 2)].into();
/// let iter: evacmap::IterMut<'_, &str, u32> = map.iter_mut();
/// for (key, value) in iter {
///     if *key == "b" {
///         *value *= 10;
///     }
/// }
/// assert_eq!(*map.get("b").unwrap(), 20);
/// ```
pub struct IterMut<'a, K, V> {
    raw: &'a RawMap<K, V>,
    cursor: Cursor<K, V>,
    /// Lends `&'a mut V`: invariant in `V`, like `&'a mut V`.
    _values: PhantomData<&'a mut V>,
}

// SAFETY: the iterator lends `&K` (sending it needs K: Sync) and `&mut V`
// (needs V: Send); the map reference it holds came from `&mut HashMap`, so
// no other thread uses the map meanwhile.
unsafe impl<K: Sync, V: Send> Send for IterMut<'_, K, V> {}
// SAFETY: `&IterMut` gives access to nothing (no `&self` method reads
// entries).
unsafe impl<K: Sync, V: Sync> Sync for IterMut<'_, K, V> {}

impl<'a, K, V> Iterator for IterMut<'a, K, V> {
    type Item = (&'a K, &'a mut V);

    fn next(&mut self) -> Option<(&'a K, &'a mut V)> {
        // SAFETY: created from `&'a mut HashMap`, so we have exclusive access
        // for 'a (raw/exclusive.rs). The cursor yields each entry once, so
        // the `&mut V`s lent are disjoint; the pointer carries the slot's
        // write permission. Key and value are disjoint fields.
        unsafe {
            let entry = self.cursor.next_entry(self.raw)?;
            Some((&(*entry).key, &mut (*entry).value))
        }
    }
}

impl<K, V> FusedIterator for IterMut<'_, K, V> {}

/// `&mut V` for every entry; see [`HashMap::values_mut`].
///
/// ```
/// let mut map: evacmap::HashMap<&str, String> = [("a", "x".to_string())].into();
/// let values: evacmap::ValuesMut<'_, &str, String> = map.values_mut();
/// values.for_each(|v| v.push('!'));
/// assert_eq!(*map.get("a").unwrap(), "x!");
/// ```
pub struct ValuesMut<'a, K, V>(IterMut<'a, K, V>);

impl<'a, K, V> Iterator for ValuesMut<'a, K, V> {
    type Item = &'a mut V;

    fn next(&mut self) -> Option<&'a mut V> {
        self.0.next().map(|(_, v)| v)
    }
}

impl<K, V> FusedIterator for ValuesMut<'_, K, V> {}

/// The entries of a map, removed and yielded by value; see
/// [`HashMap::drain`].
///
/// ```
/// let mut map: evacmap::HashMap<u32, u32> = (0..10).map(|i| (i, i)).collect();
/// let mut drain: evacmap::Drain<'_, u32, u32> = map.drain();
/// let (k, v) = drain.next().unwrap(); // owned, moved out of the map
/// assert_eq!(k, v);
/// drop(drain); // dropping it early removes the rest too
/// assert!(map.is_empty());
/// ```
pub struct Drain<'a, K, V> {
    raw: &'a RawMap<K, V>,
    cursor: Cursor<K, V>,
    /// `RawMap::clear`, monomorphised where its bounds hold.
    finish: fn(&RawMap<K, V>),
}

// SAFETY: the drain moves `K` and `V` out to its owner (Send); the map
// reference came from `&mut HashMap`, so no other thread uses the map.
unsafe impl<K: Send, V: Send> Send for Drain<'_, K, V> {}
// SAFETY: `&Drain` gives access to nothing.
unsafe impl<K: Sync, V: Sync> Sync for Drain<'_, K, V> {}

impl<K, V> Iterator for Drain<'_, K, V> {
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        // SAFETY: created from `&mut HashMap`, held for the drain's life.
        unsafe { self.cursor.take_next(self.raw) }
    }
}

impl<K, V> FusedIterator for Drain<'_, K, V> {}

impl<K, V> Drop for Drain<'_, K, V> {
    fn drop(&mut self) {
        // Removes and drops what is left, one entry at a time: a panicking
        // destructor leaves the rest in the map, which stays consistent.
        for pair in self.by_ref() {
            drop(pair);
        }
        (self.finish)(self.raw);
    }
}

/// The entries of a map, by value; see [`HashMap::into_iter`].
///
/// ```
/// let map: evacmap::HashMap<&str, u32> = [("a", 1), ("b", 2)].into();
/// let iter: evacmap::IntoIter<&str, u32, _> = map.into_iter();
/// // It owns the entries: it can move to another thread.
/// let total = std::thread::spawn(move || iter.map(|(_, v)| v).sum::<u32>());
/// assert_eq!(total.join().unwrap(), 3);
/// ```
pub struct IntoIter<K, V, S> {
    map: HashMap<K, V, S>,
    cursor: Cursor<K, V>,
}

// SAFETY: it owns the map (and moves K, V out): Send as the map is.
unsafe impl<K: Send, V: Send, S: Send> Send for IntoIter<K, V, S> {}
// SAFETY: `&IntoIter` gives access to nothing.
unsafe impl<K: Sync, V: Sync, S: Sync> Sync for IntoIter<K, V, S> {}

impl<K, V, S> Iterator for IntoIter<K, V, S> {
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        // SAFETY: we own the map. Dropping the iterator drops the map with
        // the entries not yet taken, each once: taken ones were unlinked.
        unsafe { self.cursor.take_next(&self.map.raw) }
    }
}

impl<K, V, S> FusedIterator for IntoIter<K, V, S> {}

impl<K, V, S> IntoIterator for HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    type Item = (K, V);
    type IntoIter = IntoIter<K, V, S>;

    /// The entries by value, consuming the map.
    ///
    /// ```
    /// let map: evacmap::HashMap<&str, u32> = [("a", 1), ("b", 2)].into();
    /// let mut pairs: Vec<(&str, u32)> = map.into_iter().collect();
    /// pairs.sort();
    /// assert_eq!(pairs, [("a", 1), ("b", 2)]);
    /// ```
    fn into_iter(self) -> IntoIter<K, V, S> {
        IntoIter {
            map: self,
            cursor: Cursor::new(),
        }
    }
}

/// The keys of a map, by value; see [`HashMap::into_keys`].
///
/// ```
/// let map: evacmap::HashMap<String, u32> = [("b".to_string(), 2), ("a".to_string(), 1)].into();
/// let keys: evacmap::IntoKeys<String, u32, _> = map.into_keys();
/// let mut owned: Vec<String> = keys.collect();
/// owned.sort();
/// assert_eq!(owned, ["a", "b"]);
/// ```
pub struct IntoKeys<K, V, S>(IntoIter<K, V, S>);

impl<K, V, S> Iterator for IntoKeys<K, V, S> {
    type Item = K;
    fn next(&mut self) -> Option<K> {
        self.0.next().map(|(k, _)| k)
    }
}

impl<K, V, S> FusedIterator for IntoKeys<K, V, S> {}

/// The values of a map, by value; see [`HashMap::into_values`].
///
/// ```
/// let map: evacmap::HashMap<u32, Vec<u8>> = [(1, vec![1, 2]), (2, vec![3])].into();
/// let values: evacmap::IntoValues<u32, Vec<u8>, _> = map.into_values();
/// let mut bytes: Vec<u8> = values.flatten().collect();
/// bytes.sort();
/// assert_eq!(bytes, [1, 2, 3]);
/// ```
pub struct IntoValues<K, V, S>(IntoIter<K, V, S>);

impl<K, V, S> Iterator for IntoValues<K, V, S> {
    type Item = V;
    fn next(&mut self) -> Option<V> {
        self.0.next().map(|(_, v)| v)
    }
}

impl<K, V, S> FusedIterator for IntoValues<K, V, S> {}

macro_rules! opaque_debug {
    ($($name:ident<$($p:ident),*>),*) => {$(
        impl<$($p),*> fmt::Debug for $name<'_, $($p),*> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    )*};
}
opaque_debug!(IterMut<K, V>, ValuesMut<K, V>, Drain<K, V>);

macro_rules! owned_debug {
    ($($name:ident),*) => {$(
        impl<K, V, S> fmt::Debug for $name<K, V, S> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    )*};
}
owned_debug!(IntoIter, IntoKeys, IntoValues);
