//! The expiry index of a cache with expiry: which entries are due, earliest
//! first, so that expiry work goes straight to expired entries instead of
//! searching for them.
//!
//! A min-heap of `(deadline, hash, id)` items, one pushed when an entry is
//! placed. Items are never updated in place:
//! - a read that moves an entry's deadline later leaves its item early; when
//!   the item comes due, the entry is found not expired and its item is
//!   pushed again at the real deadline;
//! - an entry removed or replaced leaves a stale item that finds no entry
//!   when it comes due.
//!
//! So every placed entry with a finite deadline has an item due no later
//! than it is (the invariant expiry relies on), and stale items are bounded:
//! when they outnumber the live entries the heap is rebuilt without them.
//!
//! One exception: an [`Expiry::expire_after_read`](super::Expiry) may move
//! a deadline *earlier*, and a read cannot reschedule (it takes no lock).
//! Such an entry is invisible from its new deadline on, and is freed when
//! its original check comes due, or by `run_pending_tasks`, which also
//! walks the map for expired entries.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::slot::NEVER;

/// One scheduled check: `(deadline, hash, entry id)`.
type Item = Reverse<(u64, u64, usize)>;

#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Item>,
}

impl Timers {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Schedules a check of entry `id` at `deadline` (nothing for `NEVER`).
    pub(crate) fn push(&mut self, deadline: u64, hash: u64, id: usize) {
        if deadline < NEVER {
            self.heap.push(Reverse((deadline, hash, id)));
        }
    }

    /// The earliest scheduled check, `NEVER` if none.
    pub(crate) fn next(&self) -> u64 {
        self.heap.peek().map_or(NEVER, |Reverse((d, _, _))| *d)
    }

    /// Takes the earliest check if it is due at `now`: `(hash, id)`.
    pub(crate) fn pop_due(&mut self, now: u64) -> Option<(u64, usize)> {
        if self.next() > now {
            return None;
        }
        self.heap.pop().map(|Reverse((_, hash, id))| (hash, id))
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Drops the items `live` rejects (stale ones), and gives memory back.
    pub(crate) fn retain(&mut self, mut live: impl FnMut(u64, usize) -> bool) {
        let mut items = std::mem::take(&mut self.heap).into_vec();
        items.retain(|Reverse((_, hash, id))| live(*hash, *id));
        items.shrink_to_fit();
        self.heap = BinaryHeap::from(items);
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.heap.capacity() * std::mem::size_of::<Item>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_items_come_out_earliest_first() {
        let mut t = Timers::new();
        t.push(30, 3, 3);
        t.push(10, 1, 1);
        t.push(NEVER, 9, 9);
        t.push(20, 2, 2);
        assert_eq!(t.len(), 3);
        assert_eq!(t.pop_due(5), None);
        assert_eq!(t.pop_due(25), Some((1, 1)));
        assert_eq!(t.pop_due(25), Some((2, 2)));
        assert_eq!(t.pop_due(25), None);
        assert_eq!(t.next(), 30);
        t.retain(|_, id| id != 3);
        assert_eq!(t.next(), NEVER);
    }
}
