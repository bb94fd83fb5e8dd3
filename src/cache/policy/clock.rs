//! The CLOCK hand over main, walking entries in hash order.
//!
//! Main has no queue of its own: the hand is a position in the hash space
//! and [`Store::next_in_order`] gives the entry after it, the map's own
//! order. An entry's access counter (raised by hits, `0..=MAX_FREQ`) is its
//! credit: the hand lowers a non-zero counter and passes on; the first main
//! entry it meets with a zero counter (or expired) is the victim. Entries in
//! the small queue share the walk and are passed over untouched.
//!
//! Invariant: after [`Clock::victim`] returns an entry, the hand is left *on*
//! it (the next walk starts by meeting it again), so a victim that is not
//! evicted at once (a candidate lost to it) stays the victim until it is
//! evicted or hit.

use super::{Region, Store};

/// The hand.
pub(crate) struct Clock {
    hand: u64,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Clock { hand: 0 }
    }

    /// Main's next victim. Each non-zero counter met is lowered by one and
    /// reported to `lowered` (with the entry's hash). After `budget` steps
    /// the next main entry is the victim whatever its counter (hits racing
    /// the hand cannot keep it walking forever). `None` only when the store
    /// holds no main entry within the walk.
    pub(crate) fn victim<S: Store>(
        &mut self,
        store: &mut S,
        mut budget: u64,
        mut lowered: impl FnMut(u64),
    ) -> Option<S::Handle> {
        // A lap that meets only small entries means main is empty.
        let mut small_run = 0u64;
        loop {
            let before = self.hand;
            let e = store.next_in_order(&mut self.hand)?;
            if store.region(e) == Region::Small {
                small_run += 1;
                if small_run > budget {
                    return None;
                }
                continue;
            }
            small_run = 0;
            let freq = store.freq(e);
            if freq == 0 || budget == 0 || store.expired(e) {
                self.hand = before;
                return Some(e);
            }
            store.set_freq(e, freq - 1);
            lowered(store.hash(e));
            budget -= 1;
        }
    }

    /// Moves the hand past the entry it is on (the victim just returned,
    /// which is to stay): the next walk starts after it.
    pub(crate) fn pass<S: Store>(&mut self, store: &mut S) {
        store.next_in_order(&mut self.hand);
    }

    /// Back to the start of the hash space.
    pub(crate) fn clear(&mut self) {
        self.hand = 0;
    }
}
