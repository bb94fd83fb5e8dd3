//! [`HashMap::view`]: read an entry through a closure, with no handle to
//! keep (dashmap's name and shape).
//!
//! The closure runs under a short epoch pin taken and dropped inside the
//! call, so nothing the caller keeps afterwards holds a guard: the result is
//! whatever the closure returns (`Send` if `R` is), which makes `view` the
//! read to use in `async` code between two `.await`s.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};

use crate::raw::pin_for_read;
use crate::HashMap;

impl<K, V, S> HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    /// Calls `f` with the key and value stored for `key`, and returns what it
    /// returns; `None` (without calling `f`) when `key` is absent.
    ///
    /// No reference escapes: the epoch pin that protects the entry is taken
    /// and dropped inside the call, so the result holds no guard and a future
    /// that keeps it across an `.await` stays `Send`. `f` runs without any
    /// lock (it may call the map), but while it runs this thread is pinned:
    /// keep it short. A lookup like [`HashMap::get`], same cost.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// map.insert("config", vec![1, 2, 3]);
    ///
    /// // Borrow the value only as long as it takes to compute something from it.
    /// assert_eq!(map.view("config", |_key, v| v.len()), Some(3));
    /// assert_eq!(map.view("config", |k, v| format!("{k}={}", v[0])).as_deref(), Some("config=1"));
    /// assert_eq!(map.view("missing", |_, v| v.len()), None);
    /// ```
    #[inline]
    pub fn view<Q, R>(&self, key: &Q, f: impl FnOnce(&K, &V) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let guard = pin_for_read();
        self.get_entry(key, &guard).map(|e| f(&e.key, &e.value))
    }
}
