//! The small queue: the probationary FIFO every new key enters (S3-FIFO's
//! small queue, W-TinyLFU's window). It holds `(hash, id)` items, 16 bytes
//! each, for the entries in [`Region::Small`] only (a few percent of them;
//! at most a quarter).
//!
//! Invariants:
//! - every live entry whose region is `Small` has exactly one item here, the
//!   one pushed when it entered the region; other items are *stale* (their
//!   entry was removed, replaced or evicted from under the queue) and are
//!   skipped when popped, found out by [`Store::find`] failing;
//! - stale items never outnumber live ones by much: once the queue holds more
//!   than twice the live count (plus a little slack) it is compacted, so its
//!   memory follows the live entries, and its capacity is given back when it
//!   is four times what is used.

use super::{Region, Store};
use std::collections::VecDeque;

/// Slack before compaction, so tiny queues don't compact constantly.
const SLACK: usize = 64;

/// The FIFO of `(hash, id)` items.
pub(crate) struct SmallQueue {
    items: VecDeque<(u64, u64)>,
}

impl SmallQueue {
    pub(crate) fn new() -> Self {
        SmallQueue {
            items: VecDeque::new(),
        }
    }

    /// Appends the entry `(hash, id)`, which has just entered `Small`.
    pub(crate) fn push(&mut self, hash: u64, id: u64) {
        if self.items.len() == self.items.capacity() {
            // Grow by a quarter rather than double: the queue's memory stays
            // within 25% of what it holds, and growing is still amortised O(1).
            self.items.reserve_exact((self.items.len() / 4).max(SLACK));
        }
        self.items.push_back((hash, id));
    }

    /// The oldest live small entry, taken out of the queue; stale items
    /// before it are dropped. `None` when no live item is left.
    pub(crate) fn pop<S: Store>(&mut self, store: &mut S) -> Option<S::Handle> {
        while let Some((hash, id)) = self.items.pop_front() {
            if let Some(e) = store.find(hash, id) {
                if store.region(e) == Region::Small {
                    return Some(e);
                }
            }
        }
        None
    }

    /// Called after entries left `Small`; `live` is the number of live small
    /// entries now. Drops stale items if they have piled up, and gives back
    /// capacity the queue no longer uses.
    pub(crate) fn tidy<S: Store>(&mut self, store: &mut S, live: u64) {
        let live = live as usize;
        if self.items.len() > 2 * live + SLACK {
            self.items.retain(|&(hash, id)| {
                store
                    .find(hash, id)
                    .is_some_and(|e| store.region(e) == Region::Small)
            });
        }
        if self.items.capacity() > 4 * self.items.len() + SLACK {
            self.items.shrink_to(2 * self.items.len() + SLACK);
        }
    }

    /// Items held, live and stale.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Drops every item and the memory.
    pub(crate) fn clear(&mut self) {
        self.items = VecDeque::new();
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<(u64, u64)>()
    }
}
