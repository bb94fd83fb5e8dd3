//! Shared scaffolding for evacmap's loom models (`tests/models.rs` for the
//! map, `tests/cache_models.rs` for the cache).
//!
//! Build and run only through `loom-tests/run.sh`, i.e. with
//! `RUSTFLAGS="--cfg loom --cfg crossbeam_loom"` and a separate target dir.
//! Without `--cfg loom` this crate is empty, so a plain `cargo test
//! --workspace` compiles it to nothing.
//!
//! What lives here:
//! - [`KeyHasher`] and [`key`]: a deterministic `BuildHasher` whose hash of a
//!   `u64` key is the key itself, so a model picks the bucket (high bits) and
//!   the tag (low byte) of every key.
//! - [`Val`]: a map value whose payload sits in a loom `UnsafeCell`. Its
//!   initialisation is a write, [`Val::read`] a read, its drop a write: a
//!   reader that sees a value whose initialisation does not happen-before the
//!   read (a publish too weak), or a value dropped while a reader can still
//!   read it (an early free), is a data race that loom reports. Drops are
//!   counted per value id in a [`Tracker`] ("dropped exactly once").
//! - [`Quarantine`]: a global allocator that poisons freed memory and delays
//!   its reuse, so a double drop or a read after free hits `Val`'s magic
//!   check instead of a recycled block.
//! - [`Window`] and [`Stats`]: per-model counters (executions, outcomes, and
//!   executions in which the retired object was really freed while the racing
//!   reader was inside its operation), checked at the end of `loom::model`.
//! - [`run_model`] and [`Setup`]: the scaffolding every model shares: each
//!   execution's fresh tracker, window and map, its teardown ([`finish`]),
//!   and the checks over all executions. [`run_executions`] is the same for
//!   models that build their own structure (a cache) in each execution.
//!
//! Facts about loom 0.7 + crossbeam-epoch 0.9 these models depend on (found
//! while writing them; each cost a false pass or a false failure):
//! - `JoinHandle::join` is signalled when the thread's closure returns,
//!   *before* its thread-locals are destroyed. crossbeam-epoch's teardown of
//!   the exited thread's `Local` (a pin and an unpin) is therefore unordered
//!   with the joiner, and loom may let the joiner read that `Local` as pinned
//!   forever: after a join, flushing cannot be relied on to collect. The
//!   exactly-once drop check therefore runs after loom dropped crossbeam's
//!   collector at the end of the execution (see [`finish`]).
//! - Under loom, `epoch::pin()` is a SeqCst fence, and loom's fences
//!   synchronise more than C++ requires, and loom stamps a cell's creation
//!   with the thread's clock without advancing it. A value built *before*
//!   the writer's `insert` pins is ordered before the publish by that fence,
//!   and a Relaxed publish goes unnoticed. Writers therefore create values
//!   after pinning (`Pinned::insert`), as the map creates its entry after
//!   pinning, and [`Val::new`] writes the payload as a separate write.
//! - Loom's bounded DPOR does not preempt a reader between two loads that
//!   only conflict with later stores; it explores such outcomes by letting
//!   loads return older stores instead. Models must not depend on a specific
//!   schedule being tried: they assert on every outcome they claim to reach.
//! - Loom switches threads only at loom operations. A step that is not one
//!   (a std atomic flag, advancing a `MockClock`) right after `spawn` always
//!   runs before the spawned thread's first step, so an assertion guarded by
//!   "the other thread had not started yet" is silently vacuous (found with
//!   a deliberately broken cache that the model still passed). Put a
//!   `loom::thread::yield_now()` before such a step.
//! - A std `thread_local!` is one value for all model threads (they share
//!   an OS thread) and survives from one execution to the next; per-thread
//!   state the code under test reads must be `loom::thread_local!` (evacmap
//!   picks it in `src/sync.rs`).
//! - A panic caught with `catch_unwind` inside a model thread works, loom
//!   operations in the destructors that run during the unwinding included.
//!   Beware: std's panic count is per OS thread, which all model threads
//!   share, so while one unwinds the others count as panicking too (a
//!   failing assertion in that window aborts instead of reporting).
#![cfg(loom)]

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use evacmap::{HashMap, ResizeMode};

/// The value written into a payload cell when its `Val` is dropped.
const POISON: u64 = 0xDEAD_DEAD_DEAD_DEAD;
/// `Val::magic` of a live value.
const LIVE: u64 = 0x11FE_11FE_11FE_11FE;
/// `Val::magic` of a dropped value.
const DEAD: u64 = 0xD0D0_D0D0_D0D0_D0D0;

/// Hashes a `u64` key to itself. Any other key type panics: models only use `u64`.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyHasher;

/// The hasher state of [`KeyHasher`].
#[derive(Debug, Default)]
pub struct IdentityHash(u64);

impl Hasher for IdentityHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("loom models hash u64 keys only (write_u64)");
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl BuildHasher for KeyHasher {
    type Hasher = IdentityHash;
    fn build_hasher(&self) -> IdentityHash {
        IdentityHash(0)
    }
}

/// A key whose hash is itself: `quarter` (0..4) is its bucket in a table of 4
/// buckets (the top two bits of the position; in a 2-bucket table its bucket
/// is `quarter / 2`, in a 1-bucket table 0), `id` its tag byte (non-zero) and
/// its identity.
pub const fn key(quarter: u64, id: u8) -> u64 {
    assert!(quarter < 4 && id != 0);
    (quarter << 62) | id as u64
}

/// The map type every model uses: one shard, deterministic hashing.
pub type Map = HashMap<u64, Val, KeyHasher>;

/// One shard, incremental resizing one bucket per write, the given minimum
/// capacity (0: a 1-bucket table; 5: a 2-bucket table) and auto-shrink.
pub fn map(capacity: usize, auto_shrink: bool) -> Map {
    HashMap::builder()
        .shards(1)
        .capacity(capacity)
        .resize_mode(ResizeMode::Incremental { step: 1 })
        .auto_shrink(auto_shrink)
        .hasher(KeyHasher)
        .build()
        .expect("a valid loom map configuration")
}

/// Per-execution bookkeeping of the values a model creates.
#[derive(Debug)]
pub struct Tracker {
    created: Vec<AtomicUsize>,
    dropped: Vec<AtomicUsize>,
}

impl Tracker {
    /// A tracker for value ids `0..ids`.
    pub fn new(ids: usize) -> Arc<Tracker> {
        Arc::new(Tracker {
            created: (0..ids).map(|_| AtomicUsize::new(0)).collect(),
            dropped: (0..ids).map(|_| AtomicUsize::new(0)).collect(),
        })
    }

    /// Drops of value `id` so far.
    pub fn drops(&self, id: usize) -> usize {
        self.dropped[id].load(SeqCst)
    }

    /// Panics if some value was dropped more often than created.
    pub fn assert_no_double_drop(&self) {
        for (id, (c, d)) in self.created.iter().zip(&self.dropped).enumerate() {
            let (c, d) = (c.load(SeqCst), d.load(SeqCst));
            assert!(d <= c, "value {id}: created {c}, dropped {d} times");
        }
    }

    /// Panics unless every value created was dropped exactly once.
    pub fn assert_all_dropped_once(&self) {
        for (id, (c, d)) in self.created.iter().zip(&self.dropped).enumerate() {
            let (c, d) = (c.load(SeqCst), d.load(SeqCst));
            assert!(c <= 1, "value {id} created {c} times (model bug)");
            assert_eq!(d, c, "value {id}: created {c}, dropped {d} times");
        }
    }
}

/// A map value: an id and a payload in a loom `UnsafeCell`.
#[derive(Debug)]
pub struct Val {
    /// [`LIVE`] while the value is alive; anything else means it was dropped
    /// (set to [`DEAD`]) or its memory freed (poisoned by [`Quarantine`]).
    magic: u64,
    id: usize,
    payload: loom::cell::UnsafeCell<u64>,
    tracker: Arc<Tracker>,
}

// SAFETY: the payload is written only at creation and in `drop` (`&mut self`);
// every other access is a read. Loom checks exactly this claim: a read that is
// not ordered after the creation write, or a drop not ordered after every read,
// is reported as a causality violation.
unsafe impl Sync for Val {}

impl Val {
    /// A new value `id` whose payload is `payload(id)`.
    pub fn new(tracker: &Arc<Tracker>, id: usize) -> Val {
        tracker.created[id].fetch_add(1, SeqCst);
        let cell = loom::cell::UnsafeCell::new(0);
        // Write the payload as a separate, tracked write. Loom stamps a cell's
        // creation with the thread's current clock without advancing it, so a
        // creation right after a fence (`pin` is a SeqCst fence under loom)
        // shares the fence's timestamp and looks published by it; the write
        // advances the clock, so only a real publish makes it visible.
        cell.with_mut(|p| unsafe { *p = payload(id) });
        Val {
            magic: LIVE,
            id,
            payload: cell,
            tracker: Arc::clone(tracker),
        }
    }

    /// Reads the payload (a loom-tracked read) and checks it is the one this
    /// value was created with. Returns the id.
    pub fn read(&self) -> usize {
        // Checked before touching anything else: a read through a dangling
        // reference sees DEAD or the quarantine's poison here.
        let magic = unsafe { std::ptr::read_volatile(&self.magic) };
        assert_eq!(
            magic, LIVE,
            "a value was read after it was dropped or freed"
        );
        let p = self.payload.with(|p| unsafe { *p });
        assert_ne!(p, POISON, "value {} read after it was dropped", self.id);
        assert_eq!(p, payload(self.id), "value {} has a torn payload", self.id);
        self.id
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        // A second drop of the same value runs on a dropped or freed value:
        // check before following any of its pointers.
        let magic = unsafe { std::ptr::read_volatile(&self.magic) };
        assert_eq!(
            magic, LIVE,
            "a value was dropped twice (or dropped after its memory was freed)"
        );
        // A loom-tracked write: races with any read not ordered before it.
        self.payload.with_mut(|p| unsafe { *p = POISON });
        self.tracker.dropped[self.id].fetch_add(1, SeqCst);
        unsafe { std::ptr::write_volatile(&mut self.magic, DEAD) };
    }
}

fn payload(id: usize) -> u64 {
    0x1000 + id as u64 * 7
}

/// Flushes this thread's garbage and tries to advance the epoch: `rounds`
/// times (twice is what it takes for garbage retired now to become
/// collectable when no other thread is pinned).
pub fn flush(rounds: usize) {
    for _ in 0..rounds {
        crossbeam_epoch::pin().flush();
    }
}

/// Where the racing reader of one execution is: set by the reader around its
/// operation, read by the thread that frees (plain std atomics: loom runs all
/// model threads on one OS thread, so they report the real schedule and add
/// no interleavings).
#[derive(Debug, Default)]
pub struct Window {
    started: AtomicBool,
    done: AtomicBool,
}

impl Window {
    /// A fresh window for one execution.
    pub fn new() -> Arc<Window> {
        Arc::new(Window::default())
    }

    /// The reader calls this before it pins for the racing operation.
    pub fn start(&self) {
        self.started.store(true, SeqCst);
    }

    /// The reader calls this after its operation, guard dropped.
    pub fn end(&self) {
        self.done.store(true, SeqCst);
    }

    fn open(&self) -> bool {
        self.started.load(SeqCst) && !self.done.load(SeqCst)
    }
}

/// How many distinct outcomes a model can count ([`Stats::event`]).
const EVENTS: usize = 8;

/// Counters for one model, kept across its executions.
#[derive(Debug)]
pub struct Stats {
    name: &'static str,
    executions: AtomicUsize,
    freed: AtomicUsize,
    freed_in_race: AtomicUsize,
    events: [AtomicUsize; EVENTS],
    /// The tracker of the previous execution, checked once loom has dropped
    /// crossbeam's collector (at the start of the next execution, and after
    /// the last one).
    teardown: Mutex<Option<Arc<Tracker>>>,
}

impl Stats {
    /// Counters for the model `name`.
    pub const fn new(name: &'static str) -> Stats {
        Stats {
            name,
            executions: AtomicUsize::new(0),
            freed: AtomicUsize::new(0),
            freed_in_race: AtomicUsize::new(0),
            events: [const { AtomicUsize::new(0) }; EVENTS],
            teardown: Mutex::new(None),
        }
    }

    /// Called first thing in each execution (by [`run_model`]).
    pub fn execution(&self) {
        self.check_previous_teardown();
        self.executions.fetch_add(1, SeqCst);
    }

    /// Schedules the exactly-once check of `tracker` for after this
    /// execution's teardown.
    pub fn check_after_teardown(&self, tracker: &Arc<Tracker>) {
        *self.teardown.lock().unwrap() = Some(Arc::clone(tracker));
    }

    fn check_previous_teardown(&self) {
        let previous = self.teardown.lock().unwrap().take();
        if let Some(tracker) = previous {
            let execution = self.executions.load(SeqCst);
            // `Tracker::assert_all_dropped_once` with the execution named.
            if let Err(e) = std::panic::catch_unwind(|| tracker.assert_all_dropped_once()) {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                panic!(
                    "{}: after execution {execution} was torn down (collector dropped): {msg}",
                    self.name
                );
            }
        }
    }

    /// Records that, in this execution, the retired object was already freed
    /// when the racing thread checked (before the join), and whether the
    /// racing reader was inside its operation at that moment.
    pub fn freed(&self, reader: &Window) {
        self.freed.fetch_add(1, SeqCst);
        if reader.open() {
            self.freed_in_race.fetch_add(1, SeqCst);
        }
    }

    /// The freeing thread's last step: [`flush`]es twice (enough for what it
    /// retired to be collectable when no other thread is pinned) and then,
    /// if `freed()` says the retired object is gone, records it as
    /// [`Stats::freed`] does.
    pub fn flush_then_record_freed(&self, reader: &Window, freed: impl FnOnce() -> bool) {
        flush(2);
        if freed() {
            self.freed(reader);
        }
    }

    /// Counts a model-specific outcome (`which` < 8), for coverage reports.
    pub fn event(&self, which: usize) {
        self.events[which].fetch_add(1, SeqCst);
    }

    /// Number of executions that recorded outcome `which`.
    pub fn events(&self, which: usize) -> usize {
        self.events[which].load(SeqCst)
    }
}

/// What a model must have shown over all its executions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Nothing is retired in this model.
    NoReclamation,
    /// Some execution freed the retired object while the reader was inside
    /// its operation (between `Window::start` and `Window::end`).
    FreedDuringRead,
}

/// How every execution of a model starts (see [`run_model`]).
#[derive(Clone, Copy, Debug)]
pub struct Setup {
    /// The model creates values `0..values` (its [`Tracker`]'s ids).
    pub values: usize,
    /// The map's minimum capacity (see [`map`]).
    pub capacity: usize,
    /// Whether the map shrinks by itself (see [`map`]).
    pub auto_shrink: bool,
}

impl Setup {
    /// `values` values; the map's first table has 1 bucket (capacity 0),
    /// auto-shrink on.
    pub const fn one_bucket(values: usize) -> Setup {
        Setup {
            values,
            capacity: 0,
            auto_shrink: true,
        }
    }

    /// `values` values; the map's first table has 2 buckets (capacity 5),
    /// auto-shrink on.
    pub const fn two_buckets(values: usize) -> Setup {
        Setup {
            values,
            capacity: 5,
            auto_shrink: true,
        }
    }

    /// The same setup with auto-shrink off.
    pub const fn no_auto_shrink(self) -> Setup {
        Setup {
            auto_shrink: false,
            ..self
        }
    }
}

/// Runs a model: `body` once per execution under `loom::model`, then the
/// checks over all executions (see `explore`).
///
/// Each execution is counted ([`Stats::execution`]), then gets a fresh
/// [`Tracker`] for `setup.values` values, the racing reader's [`Window`] and
/// a fresh map (`map(setup.capacity, setup.auto_shrink)`), in that order.
/// `body` seeds the map, runs the race and joins every thread it spawned;
/// the execution then ends with [`finish`].
pub fn run_model<F>(stats: &'static Stats, events: &[&str], expect: Expect, setup: Setup, body: F)
where
    F: Fn(&Arc<Map>, &Arc<Tracker>, &Arc<Window>) + Sync + Send + 'static,
{
    explore(stats, events, expect, move || {
        stats.execution();
        let (t, w) = (Tracker::new(setup.values), Window::new());
        let map = Arc::new(map(setup.capacity, setup.auto_shrink));
        body(&map, &t, &w);
        finish(map, &t, stats);
    });
}

/// Runs a model that builds what it races on itself (a cache, say): `body`
/// once per execution under `loom::model`, then the checks over all
/// executions (as [`run_model`]).
///
/// Each execution is counted, then gets a fresh [`Tracker`] for `values`
/// values and the racing reader's [`Window`]. `body` builds the structure,
/// runs the race, joins every thread it spawned and drops the structure
/// (freeing what it still holds); then no value may have been dropped twice,
/// and once loom has torn the execution down (crossbeam's collector
/// dropped, see [`finish`]) every value created must have been dropped
/// exactly once.
pub fn run_executions<F>(
    stats: &'static Stats,
    events: &[&str],
    expect: Expect,
    values: usize,
    body: F,
) where
    F: Fn(&Arc<Tracker>, &Arc<Window>) + Sync + Send + 'static,
{
    explore(stats, events, expect, move || {
        stats.execution();
        let (t, w) = (Tracker::new(values), Window::new());
        body(&t, &w);
        t.assert_no_double_drop();
        stats.check_after_teardown(&t);
    });
}

/// Runs `f` under `loom::model`, prints executions and seconds, and checks
/// `expect` and that every outcome named in `events` was reached at least
/// once (so a model cannot silently stop exploring what it claims to).
fn explore<F>(stats: &'static Stats, events: &[&str], expect: Expect, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let start = Instant::now();
    loom::model(f);
    stats.check_previous_teardown();
    let secs = start.elapsed().as_secs_f64();
    let execs = stats.executions.load(SeqCst);
    let freed = stats.freed.load(SeqCst);
    let in_race = stats.freed_in_race.load(SeqCst);
    let mut line = format!(
        "loom model {:<24} preemptions={} executions={} seconds={:.1} freed={} freed_during_read={}",
        stats.name,
        std::env::var("LOOM_MAX_PREEMPTIONS").unwrap_or_else(|_| "unbounded".into()),
        execs,
        secs,
        freed,
        in_race,
    );
    for (i, name) in events.iter().enumerate() {
        line.push_str(&format!(" {name}={}", stats.events(i)));
    }
    println!("{line}");
    if expect == Expect::FreedDuringRead {
        assert!(
            in_race > 0,
            "{}: no execution freed the retired object while the reader was \
             inside its operation: the model proves nothing about reclamation \
             (raise LOOM_MAX_PREEMPTIONS?)",
            stats.name
        );
    }
    for (i, name) in events.iter().enumerate() {
        assert!(
            stats.events(i) > 0,
            "{}: outcome `{name}` never happened in {execs} executions",
            stats.name
        );
    }
}

/// Bytes retired by the map and not yet freed.
pub fn retired_bytes(map: &Map) -> usize {
    map.stats().retired_bytes
}

/// Ends an execution's own checks: the map must be the last reference. Drops
/// it (freeing its live entries at once), checks that no value has been
/// dropped twice so far, and hands the tracker to `stats` for the final
/// exactly-once check, which runs after loom has torn the execution down.
///
/// Why not drain the epoch here and check at once: loom signals `join` when
/// the thread's closure returns, *before* its thread-locals are destroyed, so
/// crossbeam-epoch's teardown of an exited thread's `Local` (a pin and an
/// unpin) is not ordered before the joiner, and loom may let the joiner read
/// that `Local` as pinned forever: in some executions no amount of flushing
/// collects. At the end of each execution loom drops crossbeam's collector
/// (a loom `lazy_static`), which runs every deferred destructor still queued;
/// only then is "every value dropped exactly once, nothing leaked" decidable.
pub fn finish(map: Arc<Map>, tracker: &Arc<Tracker>, stats: &Stats) {
    let map = Arc::try_unwrap(map).unwrap_or_else(|_| panic!("a model thread still holds the map"));
    drop(map);
    tracker.assert_no_double_drop();
    stats.check_after_teardown(tracker);
}

/// A global allocator for the model binaries that poisons freed memory and
/// delays its reuse (the last [`Quarantine::SLOTS`] frees are held back).
///
/// Loom does not track raw memory. A value dropped twice, or read after its
/// entry was freed, would otherwise run on memory the allocator may already
/// have handed out again, and crash (or pass) by accident. With the
/// quarantine it reads the poison, and `Val`'s magic check reports it with a
/// clear message.
pub struct Quarantine;

const QUARANTINE_SLOTS: usize = 1024;
/// Held-back blocks as (address, size, align), and the next slot to use.
type Held = ([(usize, usize, usize); QUARANTINE_SLOTS], usize);
static QUARANTINE: std::sync::Mutex<Held> =
    std::sync::Mutex::new(([(0, 0, 0); QUARANTINE_SLOTS], 0));

impl Quarantine {
    /// How many freed blocks are held back before being reused.
    pub const SLOTS: usize = QUARANTINE_SLOTS;
}

// SAFETY: forwards to `System`; every block is freed once, with its layout,
// possibly later than asked (after being poisoned while nobody owns it).
unsafe impl std::alloc::GlobalAlloc for Quarantine {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        unsafe { std::ptr::write_bytes(ptr, 0xDD, layout.size()) };
        // The std mutex does not allocate; a poisoned one is still usable.
        let mut q = QUARANTINE.lock().unwrap_or_else(|e| e.into_inner());
        let (slots, next) = &mut *q;
        let i = *next % QUARANTINE_SLOTS;
        let (old, size, align) =
            std::mem::replace(&mut slots[i], (ptr as usize, layout.size(), layout.align()));
        *next += 1;
        drop(q);
        if old != 0 {
            unsafe {
                std::alloc::System.dealloc(
                    old as *mut u8,
                    std::alloc::Layout::from_size_align_unchecked(size, align),
                )
            };
        }
    }
}
