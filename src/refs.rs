//! References into the map that keep their entry alive with an epoch guard.
//!
//! A [`Ref`] is what `get`, `insert`, `remove` and friends return. It holds a
//! crossbeam-epoch guard, never a lock: holding one while inserting, removing,
//! clearing or iterating the same map cannot deadlock. While it lives, the
//! entry it points at is not freed even if the key is removed or replaced
//! (you keep reading the value you got), and the thread stays pinned, which
//! delays the reclamation of garbage retired meanwhile by any structure using
//! the global collector. Hold references briefly; see `stats().retired_bytes`.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr::NonNull;

use crate::raw::entry::Entry;
use crate::sync::epoch::{self, Guard};

/// A guarded reference to an entry's value (and key).
///
/// ```
/// let map = evacmap::HashMap::new();
/// map.insert("a", vec![1, 2]);
/// let r = map.get("a").unwrap(); // derefs to the value
/// assert_eq!(r.len(), 2);
/// map.insert("a", vec![3]); // replaced, but `r` still reads what it got
/// assert_eq!(*r, [1, 2]);
/// ```
pub struct Ref<'a, K, V> {
    _guard: Guard,
    entry: NonNull<Entry<K, V>>,
    /// Tied to the map borrow: dropping the map frees live entries at once.
    _map: PhantomData<&'a (K, V)>,
}

impl<'a, K, V> Ref<'a, K, V> {
    /// # Safety
    /// `entry` was reached under `guard` (or under a guard of this thread that
    /// is still pinned: nested pins protect the same way), and the map outlives `'a`.
    pub(crate) unsafe fn new(guard: Guard, entry: &Entry<K, V>) -> Self {
        Ref {
            _guard: guard,
            entry: NonNull::from(entry),
            _map: PhantomData,
        }
    }

    /// Same as [`Ref::new`], pinning again (cheap: the thread is already pinned).
    ///
    /// # Safety
    /// As [`Ref::new`], with the current thread pinned while `entry` was reached.
    pub(crate) unsafe fn repinned(entry: &Entry<K, V>) -> Self {
        // SAFETY: forwarded; the caller's pin is still held while we pin again.
        unsafe { Ref::new(epoch::pin(), entry) }
    }

    fn entry(&self) -> &Entry<K, V> {
        // SAFETY: the entry is retired (if at all) through the epoch, and our
        // guard was pinned while it was reachable, so it is still allocated.
        unsafe { self.entry.as_ref() }
    }

    /// The key.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert(String::from("a"), 1);
    /// assert_eq!(map.get("a").unwrap().key(), "a");
    /// ```
    pub fn key(&self) -> &K {
        &self.entry().key
    }

    /// The value.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert("a", 1);
    /// let r = map.get("a").unwrap();
    /// assert_eq!(r.value(), &1);
    /// assert_eq!(*r, 1); // the same, through Deref
    /// ```
    pub fn value(&self) -> &V {
        &self.entry().value
    }

    /// Key and value.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert("a", 1);
    /// assert_eq!(map.get("a").unwrap().pair(), (&"a", &1));
    /// ```
    pub fn pair(&self) -> (&K, &V) {
        let e = self.entry();
        (&e.key, &e.value)
    }

    /// A reference to the key instead of the value.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert(String::from("a"), 1);
    /// let key = map.get("a").unwrap().into_key_ref();
    /// assert_eq!(key.as_str(), "a"); // derefs to the key now
    /// assert_eq!(key.value(), &1);
    /// ```
    pub fn into_key_ref(self) -> KeyRef<'a, K, V> {
        KeyRef(self)
    }
}

impl<K, V> Deref for Ref<'_, K, V> {
    type Target = V;
    fn deref(&self) -> &V {
        self.value()
    }
}

impl<K, V> Clone for Ref<'_, K, V> {
    fn clone(&self) -> Self {
        // SAFETY: we are pinned by our own guard while pinning again.
        unsafe { Ref::repinned(self.entry()) }
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for Ref<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ref")
            .field("key", self.key())
            .field("value", self.value())
            .finish()
    }
}

impl<K, V: PartialEq> PartialEq<V> for Ref<'_, K, V> {
    fn eq(&self, other: &V) -> bool {
        self.value() == other
    }
}

/// A guarded reference that derefs to the key (what [`HashMap::keys`](crate::HashMap::keys) yields).
///
/// ```
/// let map = evacmap::HashMap::new();
/// map.insert(String::from("a"), 1);
/// let key = map.keys().next().unwrap();
/// assert_eq!(key.len(), 1); // String::len, through Deref
/// assert_eq!((key.as_str(), *key.value()), ("a", 1));
/// ```
pub struct KeyRef<'a, K, V>(Ref<'a, K, V>);

impl<'a, K, V> KeyRef<'a, K, V> {
    /// The entry's value.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert("a", 1);
    /// let key = map.keys().next().unwrap();
    /// assert_eq!((*key, *key.value()), ("a", 1));
    /// ```
    pub fn value(&self) -> &V {
        self.0.value()
    }

    /// Back to a value reference.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert("a", 1);
    /// let r = map.keys().next().unwrap().into_ref();
    /// assert_eq!(*r, 1); // derefs to the value again
    /// assert_eq!(r.key(), &"a");
    /// ```
    pub fn into_ref(self) -> Ref<'a, K, V> {
        self.0
    }
}

impl<K, V> Deref for KeyRef<'_, K, V> {
    type Target = K;
    fn deref(&self) -> &K {
        self.0.key()
    }
}

impl<K: fmt::Debug, V> fmt::Debug for KeyRef<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0.key(), f)
    }
}
