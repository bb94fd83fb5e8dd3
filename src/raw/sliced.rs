//! Freeing big retired things a slice per operation.
//!
//! Some retired objects are too big to free inside one deferred destructor:
//! a bucket array of 1 MiB or more (unmapping populated memory costs about
//! 130 µs per MiB), and a table chain that `clear` detached (every entry is
//! dropped: about 70 ms per million entries). A deferred destructor runs
//! inside whichever operation happens to collect, on any thread, readers
//! included, so freeing such an object there is a pause in an unrelated
//! operation. Instead its destructor, which runs once no reader can reach the
//! object, queues it here as [`Sliced`] work; every write then does one
//! bounded step ([`step_after_write`], one Relaxed load when nothing is
//! queued), and `reclaim()` finishes everything ([`finish_all`]). Its bytes
//! stay counted as retired until freed.
//!
//! Reads do a step too, so that a map that is cleared and then only read
//! still gets its memory back: the epoch pin of every read operation (`get`,
//! `get_cloned`, `contains_key`, `view`, a `pin()` handle, an iterator's
//! chunk) is taken through [`pin_for_read`], which first does one step while
//! work is queued. After a big `clear` or shrink, once the collector has run
//! the object's destructor (crossbeam collects every 128 pins of a thread,
//! readers' included: a few hundred operations), the work is gone within
//! `steps` further reads, where `steps` is what the work takes: one per 128
//! buckets of a cleared chain (about 500 entries), one per 256 KiB of an
//! unmapped table (tests/read_only_reclaim.rs checks it). This is the one
//! exception to "readers store nothing shared" (`raw/mod.rs`), and only
//! while work is queued: nothing is stored when the queue is empty, and a
//! read never waits for the queue's lock. The hook is in the read's pin, not
//! in the lookup, so reads through a `pin()` handle pay nothing for it, and
//! not in every pin, so writes (which step after the write) pay nothing
//! twice.
//!
//! Retired batches (of entries, or of old overflow buckets) come here too
//! once the thread running their destructors has freed [`INLINE_BUDGET`]
//! objects inline since it last helped with the queue: that bounds what one
//! crossbeam collection frees inside one operation (without it, about 32 k
//! entries after a backlog); tests/collection_bound.rs checks it.
//!
//! The queue is process-wide, like the epoch collector: any map's
//! operations advance any map's queued work.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::sync::epoch::{self, Guard};

use super::accounting::Accounting;
use super::pages::{Pages, SLICE_BYTES};

/// Work that frees a retired object in bounded steps. Runs on any thread,
/// after every reader that could reach the object has unpinned.
pub(crate) trait Sliced: Send {
    /// Frees one bounded slice and returns the bytes it freed, and whether
    /// the work is done.
    fn step(&mut self) -> (usize, bool);
}

/// A mapping is unmapped [`SLICE_BYTES`] at a time.
impl Sliced for Pages {
    fn step(&mut self) -> (usize, bool) {
        // SAFETY: queued pages are unreachable (see the module docs) and
        // owned by the queue.
        let n = unsafe { self.unmap_tail(SLICE_BYTES) };
        (n, self.len() == 0)
    }
}

struct Queued {
    work: Box<dyn Sliced>,
    accounting: Arc<Accounting>,
    /// Bytes still counted as retired for this work.
    pending: usize,
}

static QUEUE: Mutex<Vec<Queued>> = Mutex::new(Vec::new());

/// Items in [`QUEUE`]: the one load every write makes.
static QUEUED: AtomicUsize = AtomicUsize::new(0);

fn queue() -> MutexGuard<'static, Vec<Queued>> {
    // Nothing panics while the lock is held (steps run outside it), but a
    // poisoned queue must not stop the freeing of everything else.
    QUEUE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Queues `work`, counted as `pending` retired bytes (and one retired
/// object) in `accounting` until it is done.
///
/// Under loom the work is done at once instead: the models check that what
/// the collector collects is freed within the execution, and a process-wide
/// queue would carry work from one execution into the next.
pub(crate) fn enqueue(work: Box<dyn Sliced>, accounting: Arc<Accounting>, pending: usize) {
    let mut item = Queued {
        work,
        accounting,
        pending,
    };
    // inject: clear-frees-in-collection
    if cfg!(loom) {
        while !item.step() {}
        return;
    }
    push(item);
}

impl Queued {
    /// One step of the work, with the accounting updated; true when done.
    fn step(&mut self) -> bool {
        let (freed, done) = self.work.step();
        let freed = if done {
            self.pending
        } else {
            freed.min(self.pending)
        };
        self.pending -= freed;
        self.accounting.freed(freed, usize::from(done));
        done
    }
}

/// Objects a thread frees inline, in the deferred destructors of retired
/// batches ([`inline_free_allowed`]), before it hands further batches to
/// the queue: the bound on what one collection frees at once. A crossbeam
/// collection runs up to 8 × 64 deferred destructors, each of a batch of up
/// to 64 entries: about 32 k entries, a millisecond or more, in whichever
/// operation collects. With the budget, that operation frees at most
/// `INLINE_BUDGET` + 64 of them; the rest are freed [`BATCH_STEP`] per later
/// operation, like the other queued work.
pub(crate) const INLINE_BUDGET: usize = 4096;

/// Objects of a queued batch freed per step.
pub(crate) const BATCH_STEP: usize = 128;

std::thread_local! {
    /// Objects this thread freed inline since the queue last had work that
    /// this thread stepped. Reset by [`step_one`]: the budget renews once
    /// this thread has helped with the queue, so a thread whose frees stay
    /// under the budget never queues anything, and one whose frees go over
    /// it queues the excess until its next operation steps the queue.
    static INLINE_FREED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Whether a deferred destructor running on this thread may free a batch of
/// `objects` now, rather than queue it (see [`INLINE_BUDGET`]). Counts them
/// if so. Under loom always (queued work is done at once there anyway).
pub(crate) fn inline_free_allowed(objects: usize) -> bool {
    if cfg!(loom) {
        return true;
    }
    INLINE_FREED.with(|freed| {
        let total = freed.get() + objects;
        let allowed = freed.get() < INLINE_BUDGET;
        if allowed {
            freed.set(total);
        }
        allowed
    })
}

/// A retired batch of objects too many to free inline now (see
/// [`INLINE_BUDGET`]), freed [`BATCH_STEP`] at a time.
pub(crate) struct BatchFree<T, F> {
    objects: Vec<*mut T>,
    freed: usize,
    object_bytes: usize,
    free_some: F,
}

// SAFETY: the objects are unreachable (their batch's grace period is over)
// and owned by this value alone; freeing them on any thread is what the
// batch's retirement already required of them (`Retirer::retire_batch`).
unsafe impl<T, F: Send> Send for BatchFree<T, F> {}

impl<T, F: FnMut(&[*mut T])> BatchFree<T, F> {
    /// # Safety
    /// As `Retirer::retire_batch`'s destructor: every object is unreachable,
    /// owned by the batch alone, and sound to free with `free_some` (each
    /// once) on any thread.
    pub(crate) unsafe fn new(objects: Vec<*mut T>, object_bytes: usize, free_some: F) -> Self {
        BatchFree {
            objects,
            freed: 0,
            object_bytes,
            free_some,
        }
    }
}

impl<T, F: FnMut(&[*mut T]) + Send> Sliced for BatchFree<T, F> {
    fn step(&mut self) -> (usize, bool) {
        let end = (self.freed + BATCH_STEP).min(self.objects.len());
        // See `new`; `freed` only moves forward, so each object is freed once.
        (self.free_some)(&self.objects[self.freed..end]);
        let bytes = (end - self.freed) * self.object_bytes;
        self.freed = end;
        (bytes, end == self.objects.len())
    }
}

fn push(item: Queued) {
    let mut queue = queue();
    queue.push(item);
    QUEUED.store(queue.len(), Relaxed);
}

/// One step of the last queued work; false if there was none (or, with
/// `wait` false, if another thread holds the queue).
///
/// The step runs with the item taken out of the queue and the lock released:
/// it drops keys and values, whose destructors may call back into a map,
/// even `reclaim()`, which then simply does not see this item.
fn step_one(wait: bool) -> bool {
    // This thread helps with the queue: its inline budget renews.
    if !cfg!(loom) {
        INLINE_FREED.with(|freed| freed.set(0));
    }
    let mut item = {
        let mut queue = if wait {
            queue()
        } else {
            match QUEUE.try_lock() {
                Ok(queue) => queue,
                Err(_) => return false,
            }
        };
        let Some(item) = queue.pop() else {
            return false;
        };
        QUEUED.store(queue.len(), Relaxed);
        item
    };
    if !item.step() {
        push(item);
    }
    true
}

/// One step of queued work if there is any, out of line; one Relaxed load
/// otherwise. Never waits for the queue's lock.
#[inline(always)]
fn step_if_queued() {
    if QUEUED.load(Relaxed) != 0 {
        step_queued_work();
    }
}

#[cold]
#[inline(never)]
fn step_queued_work() {
    step_one(false);
}

/// Called after every write: [`step_if_queued`].
#[inline(always)]
pub(crate) fn step_after_write() {
    step_if_queued();
}

/// The epoch pin of a read operation: first [`step_if_queued`] (see the
/// module docs), so that the read grows only by the load.
#[inline(always)]
pub(crate) fn pin_for_read() -> Guard {
    // inject: pin-skips-queued-frees
    step_if_queued();
    epoch::pin()
}

/// Finishes all queued work (what `reclaim` needs), except items another
/// thread is stepping at this moment, and gives back the queue's own buffer
/// once it is empty (a few KiB that would otherwise outlive every map).
pub(crate) fn finish_all() {
    while QUEUED.load(Relaxed) != 0 && step_one(true) {}
    let mut queue = queue();
    // inject: queue-keeps-buffer
    if queue.is_empty() {
        *queue = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static FREED: AtomicUsize = AtomicUsize::new(0);

    /// Frees boxes the batch owns alone, each once.
    fn free_some(objects: &[*mut u64]) {
        for &object in objects {
            // SAFETY: from `Box::into_raw`, owned by the batch, freed once.
            drop(unsafe { Box::from_raw(object) });
            FREED.fetch_add(1, Relaxed);
        }
    }

    #[test]
    fn a_batch_free_frees_each_object_once_a_bounded_step_at_a_time() {
        let objects: Vec<*mut u64> = (0..300).map(|i| Box::into_raw(Box::new(i))).collect();
        // SAFETY: the boxes are owned by the batch alone.
        let mut work = unsafe { BatchFree::new(objects, 8, free_some) };
        let (mut steps, mut bytes) = (0, 0);
        loop {
            let (freed, done) = work.step();
            steps += 1;
            bytes += freed;
            assert_eq!(FREED.load(Relaxed), (steps * BATCH_STEP).min(300));
            if done {
                break;
            }
        }
        assert_eq!((steps, bytes), (300usize.div_ceil(BATCH_STEP), 300 * 8));
    }

    /// Work done in one step.
    struct Done;

    impl Sliced for Done {
        fn step(&mut self) -> (usize, bool) {
            (0, true)
        }
    }

    #[test]
    fn an_emptied_queue_gives_its_buffer_back() {
        let accounting = Arc::new(Accounting::default());
        accounting.retired(0, 1);
        push(Queued {
            work: Box::new(Done),
            accounting: accounting.clone(),
            pending: 0,
        });
        // Other tests of this binary may queue work meanwhile: the buffer
        // must be gone after some `finish_all` that leaves the queue empty.
        let given_back = (0..100).any(|_| {
            finish_all();
            let queue = queue();
            queue.is_empty() && queue.capacity() == 0
        });
        assert!(given_back, "the empty queue kept its buffer");
        assert_eq!(accounting.pending_objects(), 0);
    }

    #[test]
    fn the_inline_budget_admits_batches_until_it_is_spent() {
        // A fresh test thread: nothing freed inline yet.
        let admitted = (0..100).take_while(|_| inline_free_allowed(64)).count();
        assert_eq!(admitted, INLINE_BUDGET / 64);
        assert!(
            !inline_free_allowed(1),
            "spent until this thread steps the queue"
        );
    }
}
