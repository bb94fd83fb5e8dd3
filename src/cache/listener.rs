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
    /// Where the cause's counts go in per-cause arrays.
    pub(crate) fn index(self) -> usize {
        match self {
            RemovalCause::Expired => 0,
            RemovalCause::Explicit => 1,
            RemovalCause::Replaced => 2,
            RemovalCause::Size => 3,
        }
    }

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

/// An entry that left, and why.
type Departure<'g, K, V, T> = (&'g Entry<K, Slot<V, T>>, RemovalCause);

/// Departures recorded during one operation, delivered once its locks are
/// released, while the guard `'g` under which the entries were reached
/// still keeps them readable. Without a listener only their counts are kept
/// (no allocation on the eviction path).
pub(crate) struct Removals<'g, K, V, T> {
    /// Whether a listener wants the entries themselves.
    keep: bool,
    departed: Vec<Departure<'g, K, V, T>>,
    /// Departures and their weight, by cause.
    counts: [(u64, u64); 4],
    /// A pair that never entered the cache (too heavy), and its weight.
    refused: Option<(K, V, u64)>,
}

impl<'g, K, V, T> Removals<'g, K, V, T> {
    /// `keep`: whether a listener will want the entries.
    pub(crate) fn new(keep: bool) -> Self {
        Removals {
            keep,
            departed: Vec::new(),
            counts: [(0, 0); 4],
            refused: None,
        }
    }

    /// Records that `entry` left, for `cause`.
    pub(crate) fn push(&mut self, entry: &'g Entry<K, Slot<V, T>>, cause: RemovalCause) {
        let count = &mut self.counts[cause.index()];
        count.0 += 1;
        count.1 += u64::from(entry.value.meta.weight());
        if self.keep {
            self.departed.push((entry, cause));
        }
    }

    pub(crate) fn refuse(&mut self, key: K, value: V, weight: u64) {
        let count = &mut self.counts[RemovalCause::Size.index()];
        count.0 += 1;
        count.1 += weight;
        if self.keep {
            self.refused = Some((key, value, weight));
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.counts.iter().all(|c| c.0 == 0)
    }

    /// Counts the departures in `stats` and tells `listener` (if any) about
    /// each, outside every lock. A panicking listener does not stop the
    /// others from being told; the first panic is resumed afterwards.
    pub(crate) fn deliver(self, listener: Option<&Listener<K, V>>, stats: &Stats)
    where
        K: Clone,
        V: Clone,
    {
        stats.removed(&self.counts);
        let Some(listener) = listener else {
            return;
        };
        let mut first_panic: Option<Box<dyn Any + Send>> = None;
        let mut call = |f: &mut dyn FnMut()| {
            if let Err(panic) = catch_unwind(AssertUnwindSafe(f)) {
                first_panic.get_or_insert(panic);
            }
        };
        for &(entry, cause) in &self.departed {
            call(&mut || {
                listener(
                    Arc::new(entry.key.clone()),
                    entry.value.value.clone(),
                    cause,
                )
            });
        }
        if let Some((key, value, _)) = self.refused {
            let mut pair = Some((key, value));
            call(&mut || {
                let (key, value) = pair.take().expect("called once");
                listener(Arc::new(key), value, RemovalCause::Size)
            });
        }
        if let Some(panic) = first_panic {
            resume_unwind(panic);
        }
    }
}
