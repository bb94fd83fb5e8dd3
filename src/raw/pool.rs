//! Recycled entry blocks: a shard keeps the memory of entries it retired, once
//! their grace period is over and their key and value are dropped, and its
//! next inserts take it instead of asking the allocator.
//!
//! Why: every write allocates an entry (entries are immutable) and every
//! replaced or removed entry is freed when crossbeam collects it, in bursts
//! of thousands. With glibc a 24-40-byte `malloc` then costs ~120-190
//! instructions and a `free` ~90-140 (the tcache holds 7 blocks; the rest go
//! through `_int_malloc`, `_int_free` and `malloc_consolidate`): a third of
//! an update. A pop or a push here is a few instructions and one uncontended
//! atomic swap.
//!
//! # How
//! One pool per shard, shared (`Arc`) with the destructors of the shard's
//! retired batches, which may run on any thread and after the map is gone.
//! The blocks form a stack linked through their first word, guarded by a
//! *try-lock* ([`EntryPool::take`], [`EntryPool::give`]): whoever finds it
//! held does not wait, it falls back to the allocator (an insert allocates, a
//! destructor frees). Nothing but pointer moves happens while it is held: no
//! user code, no allocator call. So the pool never blocks an operation and
//! cannot deadlock, and the only blocking acquisition, in
//! [`EntryPool::drain`], waits for a holder that is a few instructions from
//! releasing it.
//!
//! # Invariants
//! - *A block is empty*: a block in the pool holds no key or value (they
//!   were dropped before it was given, exactly once: [`recycle_entries`]),
//!   and was allocated with the layout of the pool's entries, so it may be
//!   reused for one or handed back to the allocator.
//! - *Recycled after its grace period*: only a retired batch's destructor
//!   gives blocks, so a block is reused no earlier than the allocator could
//!   have reused it. Pointer identity of live entries (`Expect::Is`) stays
//!   sound for the same reason as without the pool.
//! - *Memory follows contents*: the pool keeps at most `cap` blocks
//!   ([`EntryPool::set_cap_for`]), which the shard's writer sets to half its live entries plus
//!   [`MIN_BLOCKS`] at every batch it retires; a give that finds more (the
//!   shard shrank since) frees the excess, [`TRIM_STEP`] at a time. `clear`,
//!   `shrink_to_fit`, `reclaim` and dropping the map free every pooled block.
//!
//! Under loom the pool is inert (never hands out a block): the models keep their
//! quarantining allocator, which delays every reuse so that an early free is
//! visible, and their state space.

use std::alloc::Layout;
use std::cell::UnsafeCell;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::entry::Entry;

/// Blocks a pool may keep besides half the shard's live entries: one retired
/// batch, so that a small map's churn is recycled too.
pub(crate) const MIN_BLOCKS: usize = 64;

/// The most excess blocks one give frees (a shard that shrank): a bounded
/// amount of allocator work per destructor, like `sliced.rs`'s steps.
pub(crate) const TRIM_STEP: usize = 128;

/// A free block: its first word links to the next one.
struct FreeBlock {
    next: *mut FreeBlock,
}

pub(crate) struct EntryPool {
    /// The try-lock over `head`. Acquire on taking it pairs with the Release
    /// that dropped it last, so the stack's links written under it are seen.
    busy: AtomicBool,
    /// The stack (under `busy`).
    head: UnsafeCell<*mut FreeBlock>,
    /// Blocks in the stack: written under `busy`, read without it as a hint
    /// (`take` skips the lock when it reads 0) and a statistic.
    len: AtomicUsize,
    /// The most blocks to keep (Relaxed: a bound the writer moves, which a
    /// give may apply one batch late).
    cap: AtomicUsize,
    layout: Layout,
}

// SAFETY: `head` and the blocks it links are only touched by the holder of
// `busy` (or through `&mut self`); the blocks hold no `K` or `V` (*a block is
// empty*), so they may move between threads freely.
unsafe impl Send for EntryPool {}
// SAFETY: as for `Send`.
unsafe impl Sync for EntryPool {}

impl EntryPool {
    /// A pool for entries of `K` and `V`.
    pub(crate) fn for_entries<K, V>() -> Self {
        let layout = Layout::new::<Entry<K, V>>();
        // An entry starts with room for the link: it holds a u64 hash.
        assert!(
            layout.size() >= size_of::<FreeBlock>() && layout.align() >= align_of::<FreeBlock>()
        );
        EntryPool {
            busy: AtomicBool::new(false),
            head: UnsafeCell::new(ptr::null_mut()),
            len: AtomicUsize::new(0),
            cap: AtomicUsize::new(MIN_BLOCKS),
            layout,
        }
    }

    /// Blocks held now (a statistic).
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Bytes held now (a statistic).
    pub(crate) fn bytes(&self) -> usize {
        self.len() * self.layout.size()
    }

    /// Sets the most blocks to keep from the shard's live entries.
    pub(crate) fn set_cap_for(&self, live: usize) {
        self.cap.store(live / 2 + MIN_BLOCKS, Ordering::Relaxed);
    }

    fn try_lock(&self) -> bool {
        // inject: pool-lock-relaxed
        !self.busy.swap(true, Ordering::Acquire)
    }

    fn unlock(&self) {
        // Release: the links written while holding it are seen by the next
        // holder (pairs with `try_lock`'s Acquire).
        self.busy.store(false, Ordering::Release);
    }

    /// A recycled block with the layout of this pool's entries, or `None`
    /// (the pool is empty or busy: allocate one).
    #[inline]
    pub(crate) fn take(&self) -> Option<NonNull<u8>> {
        if cfg!(loom) || self.len.load(Ordering::Relaxed) == 0 || !self.try_lock() {
            return None;
        }
        // SAFETY: we hold `busy`.
        let head = unsafe { &mut *self.head.get() };
        let block = *head;
        if !block.is_null() {
            // SAFETY: a block in the stack is live, owned by the stack, and
            // its first word is its link.
            *head = unsafe { (*block).next };
            self.len
                .store(self.len.load(Ordering::Relaxed) - 1, Ordering::Relaxed);
        }
        self.unlock();
        NonNull::new(block.cast())
    }

    /// Keeps what the cap allows of `blocks` and frees the rest, with any
    /// excess the pool holds (at most [`TRIM_STEP`] of it). Returns how many
    /// it kept.
    ///
    /// # Safety
    /// Each block is distinct, owned by the caller, allocated with this
    /// pool's layout, and empty (*a block is empty*).
    unsafe fn give(&self, blocks: &[*mut u8]) -> usize {
        let mut rejected: &[*mut u8] = blocks;
        let mut trimmed: *mut FreeBlock = ptr::null_mut();
        if !cfg!(loom) && self.try_lock() {
            // SAFETY: we hold `busy`.
            let head = unsafe { &mut *self.head.get() };
            let len = self.len.load(Ordering::Relaxed);
            // inject: pool-ignores-cap
            let cap = self.cap.load(Ordering::Relaxed);
            let keep = cap.saturating_sub(len).min(blocks.len());
            for &block in &blocks[..keep] {
                let block = block.cast::<FreeBlock>();
                // SAFETY: the caller's block, at least a link in size and
                // alignment (`for_entries`).
                unsafe { block.write(FreeBlock { next: *head }) };
                *head = block;
            }
            rejected = &blocks[keep..];
            // A shard that shrank: give some of the excess back.
            let mut excess = len.saturating_sub(cap).min(TRIM_STEP);
            let mut left = len + keep;
            while excess > 0 {
                let block = *head;
                // SAFETY: `left > 0` blocks are in the stack.
                *head = unsafe { (*block).next };
                // SAFETY: now ours; link it into the local list to free.
                unsafe { (*block).next = trimmed };
                trimmed = block;
                (excess, left) = (excess - 1, left - 1);
            }
            self.len.store(left, Ordering::Relaxed);
            self.unlock();
        }
        for &block in rejected {
            // SAFETY: the caller's block, allocated with `layout`.
            unsafe { std::alloc::dealloc(block, self.layout) };
        }
        // SAFETY: taken out of the stack above, ours alone.
        unsafe { self.free_list(trimmed) };
        blocks.len() - rejected.len()
    }

    /// Frees every pooled block. Waits for the lock: its holders are a few
    /// pointer moves from releasing it.
    pub(crate) fn drain(&self) {
        if cfg!(loom) {
            return;
        }
        while !self.try_lock() {
            std::thread::yield_now();
        }
        // SAFETY: we hold `busy`.
        let all = unsafe { std::mem::replace(&mut *self.head.get(), ptr::null_mut()) };
        self.len.store(0, Ordering::Relaxed);
        self.unlock();
        // SAFETY: taken out of the stack, ours alone.
        unsafe { self.free_list(all) };
    }

    /// Keeps nothing from now on and frees what it holds: the map is gone,
    /// and destructors still running free their blocks.
    pub(crate) fn close(&self) {
        self.cap.store(0, Ordering::Relaxed);
        self.drain();
    }

    /// # Safety
    /// `list` is a chain of blocks of this pool's layout owned by the caller.
    unsafe fn free_list(&self, mut list: *mut FreeBlock) {
        while !list.is_null() {
            // SAFETY: per the contract.
            let next = unsafe { (*list).next };
            // SAFETY: allocated with `layout`; the link is read above.
            unsafe { std::alloc::dealloc(list.cast(), self.layout) };
            list = next;
        }
    }
}

impl Drop for EntryPool {
    fn drop(&mut self) {
        let all = std::mem::replace(self.head.get_mut(), ptr::null_mut());
        // SAFETY: `&mut self`: the stack is ours alone.
        unsafe { self.free_list(all) };
    }
}

/// Drops the key and value of each retired entry, exactly once, and gives
/// the blocks to `pool` (which frees what it does not keep). Returns how
/// many blocks the pool kept.
///
/// If a key's or value's `Drop` panics, the entries already dropped still
/// reach the pool, the panicking one's block is freed, and the rest of the
/// slice is leaked, as a panicking destructor in a `Vec<Box<_>>` would.
///
/// # Safety
/// Each entry was retired, its grace period is over (no reader can reach
/// it), it is owned by the caller alone, and was allocated as an entry (by
/// `Unpublished`).
pub(crate) unsafe fn recycle_entries<K, V>(
    pool: &EntryPool,
    entries: &[*mut Entry<K, V>],
) -> usize {
    debug_assert_eq!(pool.layout, Layout::new::<Entry<K, V>>());
    /// Gives the entries dropped so far, also when a `Drop` panics.
    struct Recycle<'a, K, V> {
        pool: &'a EntryPool,
        entries: &'a [*mut Entry<K, V>],
        /// Entries `< dropped` have been dropped.
        dropped: usize,
    }
    impl<K, V> Recycle<'_, K, V> {
        fn give_dropped(&self) -> usize {
            let done = &self.entries[..self.dropped];
            // SAFETY: `Entry<K, V>` pointers cast to bytes; the dropped
            // entries' blocks are empty and ours (the caller's contract).
            unsafe {
                let done = std::slice::from_raw_parts(done.as_ptr().cast(), done.len());
                self.pool.give(done)
            }
        }
    }
    impl<K, V> Drop for Recycle<'_, K, V> {
        fn drop(&mut self) {
            // Only reached when a key's or value's `Drop` panicked.
            self.give_dropped();
            let panicked = self.entries[self.dropped];
            // Its fields were dropped by the unwinding drop glue; the block
            // is still ours. SAFETY: allocated with the pool's layout.
            unsafe { std::alloc::dealloc(panicked.cast(), self.pool.layout) };
        }
    }
    let mut recycle = Recycle {
        pool,
        entries,
        dropped: 0,
    };
    for &entry in entries {
        // SAFETY: per the contract: dropped once, here.
        // inject: pool-skips-drop
        unsafe { ptr::drop_in_place(entry) };
        recycle.dropped += 1;
    }
    let kept = recycle.give_dropped();
    std::mem::forget(recycle);
    kept
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    type E = Entry<u64, Arc<AtomicUsize>>;

    /// A block pointer moved from the taker thread back to the test.
    struct SendPtr(*mut u8);
    // SAFETY: the block is empty memory, owned by whoever holds this.
    unsafe impl Send for SendPtr {}

    fn entry(drops: &Arc<AtomicUsize>) -> *mut E {
        Box::into_raw(Box::new(Entry {
            hash: 7,
            key: 7,
            value: Arc::clone(drops),
        }))
    }

    #[test]
    fn blocks_come_back_once_their_contents_are_dropped() {
        let pool = EntryPool::for_entries::<u64, Arc<AtomicUsize>>();
        let drops = Arc::new(AtomicUsize::new(0));
        let entries: Vec<_> = (0..10).map(|_| entry(&drops)).collect();
        // SAFETY: the test's own entries, retired to nobody.
        unsafe { recycle_entries(&pool, &entries) };
        assert_eq!(Arc::strong_count(&drops), 1, "every value dropped once");
        assert_eq!(pool.len(), 10);
        let mut taken = Vec::new();
        while let Some(block) = pool.take() {
            taken.push(block.as_ptr());
        }
        taken.sort();
        let mut given: Vec<*mut u8> = entries.iter().map(|&e| e.cast()).collect();
        given.sort();
        assert_eq!(taken, given, "the same blocks, each once");
        for block in taken {
            // SAFETY: taken from the pool: empty, entry layout.
            unsafe { std::alloc::dealloc(block, pool.layout) };
        }
    }

    #[test]
    fn the_cap_is_kept_and_excess_trimmed() {
        let pool = EntryPool::for_entries::<u64, Arc<AtomicUsize>>();
        let drops = Arc::new(AtomicUsize::new(0));
        pool.set_cap_for(400); // 200 + MIN_BLOCKS
        let many: Vec<_> = (0..300).map(|_| entry(&drops)).collect();
        // SAFETY: the test's own entries.
        unsafe { recycle_entries(&pool, &many) };
        assert_eq!(pool.len(), 200 + MIN_BLOCKS);
        pool.set_cap_for(0); // the shard emptied: MIN_BLOCKS
        let one = [entry(&drops)];
        // SAFETY: as above.
        unsafe { recycle_entries(&pool, &one) };
        assert_eq!(pool.len(), 200 + MIN_BLOCKS - TRIM_STEP);
        // SAFETY: as above.
        unsafe { recycle_entries(&pool, &[entry(&drops)]) };
        assert_eq!(pool.len(), MIN_BLOCKS);
        assert_eq!(Arc::strong_count(&drops), 1);
        pool.drain();
        assert_eq!(pool.len(), 0);
        assert!(pool.take().is_none());
    }

    #[test]
    fn a_closed_pool_keeps_nothing() {
        let pool = EntryPool::for_entries::<u64, Arc<AtomicUsize>>();
        let drops = Arc::new(AtomicUsize::new(0));
        // SAFETY: the test's own entries.
        unsafe { recycle_entries(&pool, &[entry(&drops), entry(&drops)]) };
        pool.close();
        assert_eq!(pool.len(), 0);
        // SAFETY: as above.
        unsafe { recycle_entries(&pool, &[entry(&drops)]) };
        assert_eq!(pool.len(), 0);
        assert_eq!(Arc::strong_count(&drops), 1);
    }

    #[test]
    fn a_panicking_drop_loses_no_block_it_dropped() {
        struct Bomb(bool);
        impl Drop for Bomb {
            fn drop(&mut self) {
                if self.0 {
                    panic!("bomb");
                }
            }
        }
        let pool = EntryPool::for_entries::<u64, Bomb>();
        let entries: Vec<*mut Entry<u64, Bomb>> = (0..3)
            .map(|i| {
                Box::into_raw(Box::new(Entry {
                    hash: 1,
                    key: i,
                    value: Bomb(i == 1),
                }))
            })
            .collect();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: the test's own entries.
            unsafe { recycle_entries(&pool, &entries) }
        }));
        assert!(result.is_err());
        assert_eq!(pool.len(), 1, "the entry dropped before the panic");
        // The third is leaked by design; free it for the leak checkers.
        // SAFETY: never dropped nor freed.
        drop(unsafe { Box::from_raw(entries[2]) });
        pool.drain();
    }

    /// One thread gives blocks, another takes them: every block crosses
    /// threads, comes out once, and the stack's links stay whole (Miri's
    /// race detector also checks the lock's orderings here: the taker reads
    /// links the giver wrote).
    #[test]
    fn concurrent_takes_and_gives_never_share_a_block() {
        let pool = EntryPool::for_entries::<u64, Arc<AtomicUsize>>();
        let drops = Arc::new(AtomicUsize::new(0));
        pool.set_cap_for(1 << 20);
        let rounds = if cfg!(miri) { 25 } else { 20_000 };
        // The taker takes every block the pool kept (a give that finds the
        // lock held frees its blocks instead); nothing orders the two
        // threads but the pool's own lock (`kept` is Relaxed on purpose).
        let kept = AtomicUsize::new(usize::MAX);
        let taken = std::thread::scope(|s| {
            let taker = s.spawn(|| {
                let mut taken: Vec<SendPtr> = Vec::new();
                while taken.len() != kept.load(Ordering::Relaxed) {
                    match pool.take() {
                        Some(block) => taken.push(SendPtr(block.as_ptr())),
                        None => std::thread::yield_now(),
                    }
                }
                taken
            });
            let mut total = 0;
            for _ in 0..rounds {
                let batch = [entry(&drops), entry(&drops), entry(&drops), entry(&drops)];
                // SAFETY: the giver's own entries.
                total += unsafe { recycle_entries(&pool, &batch) };
            }
            kept.store(total, Ordering::Relaxed);
            taker.join().unwrap()
        });
        let taken: Vec<*mut u8> = taken.into_iter().map(|p| p.0).collect();
        assert_eq!(Arc::strong_count(&drops), 1, "every value dropped once");
        let mut distinct = taken.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), taken.len(), "a block came out twice");
        for &block in &taken {
            // SAFETY: taken from the pool: empty, entry layout, ours alone.
            unsafe { std::alloc::dealloc(block, pool.layout) };
        }
        pool.drain();
    }
}
