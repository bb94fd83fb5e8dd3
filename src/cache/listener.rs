//! Removal notifications: why an entry left, and the eviction listener that
//! hears about it.
//!
//! Exactly once per entry that leaves the cache: an entry leaves through one
//! successful swap of the map (an insert replacing it, a removal, or an
//! eviction or expiry removing exactly it), and only the thread whose swap
//! succeeded records the departure. It delivers it itself, after releasing
//! every lock, on its own thread (`Removals::deliver`), while its epoch guard
//! still keeps the entry readable. An entry too heavy for the cache is
//! reported the same way, without ever entering it.

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;

use super::slot::Slot;
use super::stats::Stats;
use crate::seam::Entry;

/// Why an entry left the cache.
///
/// ```
/// use evacmap::cache::RemovalCause;
/// let cache = evacmap::Cache::builder()
///     .max_capacity(1)
///     .eviction_listener(|key, _value: u32, cause| {
///         if cause == RemovalCause::Size {
///             println!("{key} evicted to make room");
///         }
///     })
///     .build();
/// cache.insert(1, 1);
/// cache.insert(2, 2);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RemovalCause {
    /// Its deadline passed (time to live, time to idle, or [`Expiry`](super::Expiry)).
    Expired,
    /// `remove`, `invalidate`, `invalidate_all`, `invalidate_entries_if` or `retain`.
    Explicit,
    /// An insert replaced its value.
    Replaced,
    /// Evicted to keep the cache within its capacity, or too heavy to enter.
    Size,
}

impl RemovalCause {
    /// Whether the cache chose to remove it (`Expired` or `Size`), rather
    /// than the user.
    ///
    /// ```
    /// use evacmap::cache::RemovalCause;
    /// assert!(RemovalCause::Size.was_evicted());
    /// assert!(!RemovalCause::Explicit.was_evicted());
    /// ```
    pub fn was_evicted(&self) -> bool {
        matches!(self, RemovalCause::Expired | RemovalCause::Size)
    }
}

/// The eviction listener: key, value and cause of every departure.
pub(crate) type Listener<K, V> = Arc<dyn Fn(Arc<K>, V, RemovalCause) + Send + Sync + 'static>;

/// Departures recorded during one operation, delivered once its locks are
/// released, while the guard `'g` under which the entries were reached
/// still keeps them readable.
pub(crate) struct Removals<'g, K, V, T> {
    departed: Vec<(&'g Entry<K, Slot<V, T>>, RemovalCause)>,
    /// A pair that never entered the cache (too heavy), and its weight.
    refused: Option<(K, V, u64)>,
}

impl<'g, K, V, T> Removals<'g, K, V, T> {
    pub(crate) fn new() -> Self {
        Removals {
            departed: Vec::new(),
            refused: None,
        }
    }

    /// Records that `entry` left, for `cause`.
    pub(crate) fn push(&mut self, entry: &'g Entry<K, Slot<V, T>>, cause: RemovalCause) {
        self.departed.push((entry, cause));
    }

    pub(crate) fn refuse(&mut self, key: K, value: V, weight: u64) {
        self.refused = Some((key, value, weight));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.departed.is_empty() && self.refused.is_none()
    }

    /// Counts the departures in `stats` and tells `listener` (if any) about
    /// each, outside every lock. A panicking listener does not stop the
    /// others from being told; the first panic is resumed afterwards.
    pub(crate) fn deliver(self, listener: Option<&Listener<K, V>>, stats: &Stats)
    where
        K: Clone,
        V: Clone,
    {
        let mut first_panic: Option<Box<dyn Any + Send>> = None;
        let mut call = |f: &mut dyn FnMut()| {
            if let Err(panic) = catch_unwind(AssertUnwindSafe(f)) {
                first_panic.get_or_insert(panic);
            }
        };
        for &(entry, cause) in &self.departed {
            stats.removed(cause, u64::from(entry.value.meta.weight()));
            if let Some(listener) = listener {
                call(&mut || {
                    listener(
                        Arc::new(entry.key.clone()),
                        entry.value.value.clone(),
                        cause,
                    )
                });
            }
        }
        if let Some((key, value, weight)) = self.refused {
            stats.removed(RemovalCause::Size, weight);
            if let Some(listener) = listener {
                let mut pair = Some((key, value));
                call(&mut || {
                    let (key, value) = pair.take().expect("called once");
                    listener(Arc::new(key), value, RemovalCause::Size)
                });
            }
        }
        if let Some(panic) = first_panic {
            resume_unwind(panic);
        }
    }
}
