//! Insert-if-absent operations that say what happened: [`HashMap::try_insert`],
//! [`HashMap::try_insert_with`] and [`HashMap::get_or_try_insert_with`]. All
//! are built on one core (`insert_absent_in` in `compute.rs`): look up, make
//! the value only if absent (without locks), publish only if still absent.

use std::hash::{BuildHasher, Hash};

use crate::compute::{infallible, Absent};
use crate::errors::OccupiedError;
use crate::raw::entry::Entry;
use crate::refs::Ref;
use crate::sync::epoch;
use crate::HashMap;

impl<K, V, S> HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    /// Inserts `key` → `value` only if the key is absent, and returns the
    /// inserted value. If the key is present the map keeps its value, and
    /// the error hands back both that value and the rejected one (papaya's
    /// `try_insert`; std's unstable one has the same shape).
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// assert_eq!(*map.try_insert("a", 1).unwrap(), 1);
    /// let err = map.try_insert("a", 2).unwrap_err();
    /// assert_eq!(*err.current, 1);
    /// assert_eq!(err.not_inserted, 2);
    /// assert_eq!(map.get_cloned("a"), Some(1));
    /// ```
    pub fn try_insert(&self, key: K, value: V) -> Result<Ref<'_, K, V>, OccupiedError<'_, K, V>> {
        let guard = epoch::pin();
        let mut value = Some(value);
        let done =
            infallible(self.insert_absent_in(key, || Ok(value.take().expect("made once")), &guard));
        let (entry, rejected): (*const Entry<K, V>, _) = match done {
            Absent::Inserted(e) => (e, None),
            Absent::Present(e) => (e, value.take()),
            Absent::Lost(e, v) => (e, Some(v)),
        };
        // SAFETY: reached under `guard`, which the Ref takes over.
        let entry = unsafe { Ref::new(guard, &*entry) };
        match rejected {
            None => Ok(entry),
            Some(not_inserted) => Err(OccupiedError {
                current: entry,
                not_inserted,
            }),
        }
    }

    /// [`HashMap::get_or_insert_with`] that says whether its value won:
    /// `Ok(inserted)` if `make`'s value is now the key's, `Err(current)`
    /// if the key was present (then `make` never ran) or another thread
    /// inserted first (then `make`'s value was dropped). papaya's
    /// `try_insert_with`, same name and shape.
    ///
    /// Why a `Result` of two `Ref`s rather than a `(Ref, bool)`: the two
    /// cases read apart at the call site, `?` and `is_ok()` work, and
    /// `unwrap_or_else(|current| current)` gives back `get_or_insert_with`.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// let mut opened = 0;
    /// match map.try_insert_with("db", || { opened += 1; "conn-1" }) {
    ///     Ok(mine) => assert_eq!(*mine, "conn-1"), // we created it: register it, log it...
    ///     Err(_) => unreachable!(),
    /// }
    /// let r = map.try_insert_with("db", || { opened += 1; "conn-2" });
    /// assert_eq!(*r.unwrap_err(), "conn-1");
    /// assert_eq!(opened, 1); // present: the closure did not run
    /// ```
    pub fn try_insert_with<F>(&self, key: K, make: F) -> Result<Ref<'_, K, V>, Ref<'_, K, V>>
    where
        F: FnOnce() -> V,
    {
        let guard = epoch::pin();
        let (entry, won): (*const Entry<K, V>, bool) =
            match infallible(self.insert_absent_in(key, || Ok(make()), &guard)) {
                Absent::Inserted(e) => (e, true),
                Absent::Present(e) => (e, false),
                // The loser's value is dropped here, outside the lock.
                Absent::Lost(e, _value) => (e, false),
            };
        // SAFETY: reached under `guard`, which the Ref takes over.
        let entry = unsafe { Ref::new(guard, &*entry) };
        if won {
            Ok(entry)
        } else {
            Err(entry)
        }
    }

    /// The value for `key`, inserting the value `make()` returns if the key
    /// is absent; if `make` fails, its error is returned and nothing is
    /// inserted. `make` runs at most once, without locks, and only if the key
    /// was absent; as in [`HashMap::get_or_insert_with`], racing threads may
    /// each make a value, exactly one is inserted and all get that one.
    ///
    /// ```
    /// let map = evacmap::HashMap::new();
    /// let parsed = map.get_or_try_insert_with("port", || "8080".parse::<u16>());
    /// assert_eq!(*parsed.unwrap(), 8080);
    /// let bad = map.get_or_try_insert_with("other", || "http".parse::<u16>());
    /// assert!(bad.is_err());
    /// assert!(!map.contains_key("other"));
    /// // Present: `make` is not called, so it cannot fail.
    /// assert_eq!(*map.get_or_try_insert_with("port", || "x".parse::<u16>()).unwrap(), 8080);
    /// ```
    pub fn get_or_try_insert_with<F, E>(&self, key: K, make: F) -> Result<Ref<'_, K, V>, E>
    where
        F: FnOnce() -> Result<V, E>,
    {
        let guard = epoch::pin();
        let entry: *const Entry<K, V> = match self.insert_absent_in(key, make, &guard)? {
            Absent::Inserted(e) | Absent::Present(e) => e,
            // The loser's value is dropped here, outside the lock.
            Absent::Lost(e, _value) => e,
        };
        // SAFETY: reached under `guard`, which the Ref takes over.
        Ok(unsafe { Ref::new(guard, &*entry) })
    }
}
