//! The ways to read the map from `async` code: `view` (a closure, no handle),
//! `iter_cloned` (a `Send` iterator of clones that holds no guard between
//! chunks) and `pin_owned` (a `Send` pinned handle with its own epoch
//! participant, lending `&V` across `.await`s and thread moves).
//!
//! Values carry a token of the drop registry (`tests/common/drops.rs`): a
//! value read through a handle after the handle's pin should have kept it
//! alive, but which was dropped anyway, fails the test by id (the id is
//! checked in the registry). The first test moves a future holding the handle
//! between two threads at a chosen point, so it also runs under Miri; the
//! tokio test does the same at scale, on a multi-thread runtime.

mod common;

use std::collections::HashSet as StdSet;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use common::{reclaim_fully, scaled, within, Registry, Token};
use evacmap::HashMap;

/// A value whose drop is counted, with a payload derived from its id.
struct Val {
    id: usize,
    text: String,
    token: Token,
}

fn text(id: usize) -> String {
    format!("value-{id}")
}

impl Val {
    fn new(tracker: &Arc<Registry>, id: usize) -> Val {
        Val {
            id,
            text: text(id),
            token: tracker.token_with_id(id as u64),
        }
    }

    /// Fails if this value, known to be held under a pin, was dropped.
    #[track_caller]
    fn check_held(&self, id: usize) {
        assert_eq!(
            self.token.registry().drops_of(id as u64),
            0,
            "value {id} was dropped while a pinned handle still lent it"
        );
        assert_eq!(self.id, id);
        assert_eq!(self.text, text(id));
    }
}

/// A future that is pending once (waking itself), then ready.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

struct NoopWake;
impl Wake for NoopWake {
    fn wake(self: Arc<Self>) {}
}

fn poll_once<F: Future + ?Sized>(future: Pin<&mut F>) -> Poll<F::Output> {
    let waker = Waker::from(Arc::new(NoopWake));
    future.poll(&mut Context::from_waker(&waker))
}

/// The handle pins on one thread, lends `&V`, and the future holding both is
/// finished on another thread after the key was removed and the remover
/// tried hard to reclaim: the value must still be there, and be freed once
/// the handle is dropped (on the second thread).
#[test]
fn owned_pin_keeps_a_lent_value_alive_across_a_thread_move() {
    let tracker = Registry::new();
    let map: HashMap<u64, Val> = HashMap::new();
    map.insert(1, Val::new(&tracker, 0));

    std::thread::scope(|s| {
        let map = &map;
        let future = async move {
            let handle = map.pin_owned();
            let value = handle.get(&1).expect("present");
            let (id, thread) = (value.id, std::thread::current().id());
            YieldOnce(false).await;
            // Resumed on another thread, the reference still under the pin.
            assert_ne!(
                std::thread::current().id(),
                thread,
                "the test must move the future"
            );
            value.check_held(id);
            id
        };
        let mut future: Pin<Box<dyn Future<Output = usize> + Send + '_>> = Box::pin(future);
        // Thread A: pin, look up, suspend.
        let mut future = s
            .spawn(move || {
                assert!(poll_once(future.as_mut()).is_pending());
                future
            })
            .join()
            .unwrap();

        // The key goes away and its remover reclaims as hard as it can: the
        // suspended handle's participant is still pinned, so nothing it
        // could have read is freed.
        assert!(map.remove(&1).is_some());
        for _ in 0..4 {
            let left = map.reclaim();
            assert!(
                left.pending_objects > 0,
                "the retired entry was freed under the pin"
            );
        }
        assert_eq!(
            tracker.drops_of(0),
            0,
            "the lent value was dropped under the pin"
        );

        // Thread B: resume, read through the reference, drop the handle.
        let id = s
            .spawn(move || match poll_once(future.as_mut()) {
                Poll::Ready(id) => id,
                Poll::Pending => panic!("pending twice"),
            })
            .join()
            .unwrap();
        assert_eq!(id, 0);
    });

    // The handle is gone (its participant unregistered on thread B): the
    // value is freed now, exactly once.
    assert_eq!(reclaim_fully(&map), 0);
    assert_eq!(tracker.drops_of(0), 1);
}

/// Tasks on a 4-worker runtime hold owned handles and the `&V`s they lent
/// across `.await`s while a writer replaces every value (retiring the old
/// ones) and reclaims after every round; each reader waits for two full
/// rounds while holding, so every value it holds has been replaced and
/// reclaimed around it. No held value may be dropped; afterwards every
/// value is dropped exactly once.
#[test]
#[cfg_attr(miri, ignore = "tokio's multi-thread runtime is too slow under Miri")]
fn tasks_hold_owned_pins_across_awaits_on_a_multi_thread_runtime() {
    const KEYS: usize = 64;
    const ROUNDS: usize = 40;
    const READERS: usize = 8;
    let tracker = Registry::new();
    let map: Arc<HashMap<u64, Val>> = Arc::new(HashMap::new());
    for k in 0..KEYS {
        map.insert(k as u64, Val::new(&tracker, k));
    }
    let round = Arc::new(AtomicUsize::new(0));
    let held_while_replaced = Arc::new(AtomicUsize::new(0));
    let moved_threads = Arc::new(AtomicUsize::new(0));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let writer = tokio::spawn({
            let (map, tracker, round) = (map.clone(), tracker.clone(), round.clone());
            async move {
                for r in 1..=ROUNDS {
                    for k in 0..KEYS {
                        map.insert(k as u64, Val::new(&tracker, r * KEYS + k));
                    }
                    map.reclaim();
                    round.store(r, SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
        });
        let readers: Vec<_> = (0..READERS)
            .map(|reader| {
                let (map, round) = (map.clone(), round.clone());
                let (replaced, moved) = (held_while_replaced.clone(), moved_threads.clone());
                tokio::spawn(async move {
                    loop {
                        let start = round.load(SeqCst);
                        if start + 2 > ROUNDS {
                            return;
                        }
                        let handle = map.pin_owned();
                        let held: Vec<(u64, &Val, usize)> = (0..KEYS as u64)
                            .filter(|k| (*k as usize + reader) % 4 == 0)
                            .map(|k| {
                                let v = handle.get(&k).expect("keys are never removed");
                                (k, v, v.id)
                            })
                            .collect();
                        let thread = std::thread::current().id();
                        // Hold across awaits until two more rounds have
                        // replaced (and reclaimed around) every value.
                        while round.load(SeqCst) < start + 2 {
                            tokio::task::yield_now().await;
                        }
                        if std::thread::current().id() != thread {
                            moved.fetch_add(1, SeqCst);
                        }
                        for &(k, v, id) in &held {
                            v.check_held(id);
                            if map.view(&k, |_, now| now.id) != Some(id) {
                                replaced.fetch_add(1, SeqCst);
                            }
                        }
                        drop(held);
                        drop(handle);
                    }
                })
            })
            .collect();
        writer.await.unwrap();
        for r in readers {
            r.await.unwrap();
        }
    });
    drop(runtime);

    assert!(
        held_while_replaced.load(SeqCst) > 0,
        "no reader held a value while it was replaced: the test proves nothing"
    );
    eprintln!(
        "held values replaced meanwhile: {}, resumed on another thread: {} times",
        held_while_replaced.load(SeqCst),
        moved_threads.load(SeqCst)
    );
    // Every replaced value is freed now that no handle is left; the live
    // ones go with the map.
    assert_eq!(reclaim_fully(&map), 0);
    assert_eq!(tracker.dropped(), KEYS * ROUNDS);
    drop(map);
    tracker.assert_dropped_once(0..(KEYS * (ROUNDS + 1)) as u64, "async handles");
}

/// `repin` lets reclamation pass a handle that stays alive.
#[test]
fn repin_lets_reclamation_pass_a_live_handle() {
    let tracker = Registry::new();
    let map: HashMap<u64, Val> = HashMap::new();
    map.insert(1, Val::new(&tracker, 0));
    let mut handle = map.pin_owned();
    assert!(handle.contains_key(&1));
    map.remove(&1);
    assert!(map.reclaim().pending_objects > 0);
    assert_eq!(tracker.drops_of(0), 0);
    // A repin moves the handle to the current epoch; garbage needs the
    // epoch to advance twice past its retirement, so a loop that repins
    // between batches lets it go, handle alive. Other tests of this binary
    // run beside it and pin the same global collector (the tokio test keeps
    // readers pinned for a while), which holds the epoch back for as long
    // as they do: so the bound is time, generous, not a number of rounds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while map.reclaim().pending_objects > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "repinning never let the entry be freed"
        );
        handle.repin();
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(tracker.drops_of(0), 1);
    assert!(handle.get(&1).is_none());
}

/// Writes through the owned handle retire into its own participant's bag;
/// dropping the handle hands that bag to the collector, so nothing leaks.
#[test]
fn writes_through_an_owned_handle_are_reclaimed_after_it_is_dropped() {
    let n = scaled(200, 20);
    let tracker = Registry::new();
    let map: HashMap<u64, Val> = HashMap::new();
    {
        let handle = map.pin_owned();
        for i in 0..n {
            assert!(handle.insert(i as u64, Val::new(&tracker, i)).is_none());
        }
        for i in 0..n {
            let old = handle.insert(i as u64, Val::new(&tracker, n + i)).unwrap();
            old.check_held(i);
        }
        for i in 0..n / 2 {
            handle.remove(&(i as u64)).unwrap().check_held(n + i);
        }
        assert_eq!(handle.len(), n - n / 2);
        assert_eq!(handle.iter().count(), n - n / 2);
        assert_eq!(
            tracker.dropped(),
            0,
            "nothing is freed under the handle's pin"
        );
    }
    assert_eq!(reclaim_fully(&map), 0);
    assert_eq!(tracker.dropped(), n + n / 2);
    drop(map);
    tracker.assert_dropped_once(0..(2 * n) as u64, "async handles");
}

#[test]
fn view_returns_what_the_closure_returns_and_never_calls_it_for_absent_keys() {
    let map: HashMap<String, Vec<u32>> = HashMap::new();
    map.insert("a".into(), vec![1, 2, 3]);
    assert_eq!(
        map.view("a", |k, v| (k.clone(), v.iter().sum::<u32>())),
        Some(("a".into(), 6))
    );
    assert_eq!(
        map.view("b", |_, _| -> u32 { panic!("called for an absent key") }),
        None
    );
    map.insert("a".into(), vec![7]);
    assert_eq!(
        map.view("a", |_, v| v.clone()),
        Some(vec![7]),
        "sees the latest value"
    );
}

/// `view`'s closure runs under no lock: it may write to the map, its own
/// key included.
#[test]
fn view_closure_may_write_to_the_map() {
    within("view writes", || {
        let map: HashMap<u64, u64> = HashMap::new();
        map.insert(1, 10);
        let old = map.view(&1, |_, v| {
            map.insert(2, *v + 1);
            map.insert(1, 11);
            *v
        });
        assert_eq!(old, Some(10));
        assert_eq!(map.get_cloned(&1), Some(11));
        assert_eq!(map.get_cloned(&2), Some(11));
    });
}

/// Nothing `view` returns holds a pin: a value removed after the call is
/// freed while the result is still alive.
#[test]
fn view_holds_no_pin_after_it_returns() {
    let tracker = Registry::new();
    let map: HashMap<u64, Val> = HashMap::new();
    map.insert(1, Val::new(&tracker, 0));
    let copy = map.view(&1, |_, v| v.text.clone());
    map.remove(&1);
    assert_eq!(reclaim_fully(&map), 0);
    assert_eq!(tracker.drops_of(0), 1);
    assert_eq!(copy.as_deref(), Some("value-0"));
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[test]
fn futures_holding_the_async_handles_are_send() {
    let map: HashMap<u64, String> = (0..10).map(|i| (i, i.to_string())).collect();
    let map = &map;
    let future = assert_send(async move {
        let n = map.view(&1, |_, v| v.len());
        YieldOnce(false).await;
        let mut sum = 0;
        for (_, v) in map.iter_cloned() {
            YieldOnce(false).await;
            sum += v.len();
        }
        let handle = map.pin_owned();
        let one = handle.get(&1);
        YieldOnce(false).await;
        (n, sum, one.cloned())
    });
    let mut future = Box::pin(future);
    let out = loop {
        if let Poll::Ready(out) = poll_once(future.as_mut()) {
            break out;
        }
    };
    assert_eq!(out, (Some(1), 10, Some("1".to_string())));
}

#[test]
fn iter_cloned_yields_every_entry_once() {
    let n = scaled(5000, 200) as u64;
    let map: HashMap<u64, u64> = (0..n).map(|i| (i, i * 3)).collect();
    let mut seen = StdSet::new();
    for (k, v) in map.iter_cloned() {
        assert_eq!(v, k * 3);
        assert!(seen.insert(k), "key {k} yielded twice");
    }
    assert_eq!(seen.len() as u64, n);
    assert!(HashMap::<u64, u64>::new().iter_cloned().next().is_none());
}

/// The iterator holds no guard between chunks: half-way through, a removed
/// entry is freed by the same thread's reclaim while the iterator lives.
#[test]
fn iter_cloned_holds_no_pin_between_items() {
    let n = scaled(1000, 100) as u64;
    let map: HashMap<u64, u64> = (0..n).map(|i| (i, i)).collect();
    let mut iter = map.iter_cloned();
    let (first, _) = iter.next().unwrap();
    assert!(map.remove(&((first + 1) % n)).is_some());
    assert!(map.stats().retired_objects > 0);
    assert_eq!(
        reclaim_fully(&map),
        0,
        "an iterator mid-way held reclamation back"
    );
    // The removed key is yielded only if its chunk was cloned before the
    // removal (the one already buffered): weakly consistent.
    let total = 1 + iter.count() as u64;
    assert!(total == n - 1 || total == n, "{total} of {n} entries");
}

/// Weakly consistent and exact-once under writes and resizes: keys present
/// throughout are yielded exactly once, no key twice, nothing never present;
/// the iterator also changes threads half-way.
#[test]
fn iter_cloned_is_exact_once_under_churn_resizes_and_a_thread_move() {
    let stable = scaled(2000, 64) as u64;
    let churn = scaled(4000, 64) as u64;
    let rounds = scaled(20, 2);
    let map: HashMap<u64, u64> = HashMap::builder().shards(2).build().unwrap();
    for k in 0..stable {
        map.insert(k, k);
    }
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            // Grows and shrinks the shards repeatedly (auto-shrink is on).
            while !stop.load(SeqCst) {
                for k in stable..stable + churn {
                    map.insert(k, k);
                }
                for k in stable..stable + churn {
                    map.remove(&k);
                }
            }
        });
        for _ in 0..rounds {
            let mut seen = StdSet::new();
            let mut iter = map.iter_cloned();
            for (k, v) in iter.by_ref().take(stable as usize / 2) {
                assert_eq!(k, v);
                assert!(seen.insert(k), "key {k} yielded twice");
            }
            let rest: Vec<(u64, u64)> = s.spawn(move || iter.collect()).join().unwrap();
            for (k, v) in rest {
                assert_eq!(k, v);
                assert!(seen.insert(k), "key {k} yielded twice (after the move)");
            }
            assert!(
                seen.iter().all(|&k| k < stable + churn),
                "a key never present"
            );
            for k in 0..stable {
                assert!(seen.contains(&k), "key {k}, present throughout, was missed");
            }
        }
        stop.store(true, SeqCst);
    });
    assert!(map.stats().grows > 0, "the churn never resized the map");
}

/// A value whose `Clone` panics when armed.
struct Fragile(u64);

/// Clones left before one panics (0: disarmed).
static ARMED: AtomicUsize = AtomicUsize::new(0);

impl Clone for Fragile {
    fn clone(&self) -> Self {
        let left = ARMED.load(SeqCst);
        if left > 0 {
            ARMED.store(left - 1, SeqCst);
            if left == 1 {
                panic!("clone failed on purpose");
            }
        }
        Fragile(self.0)
    }
}

/// A `Clone` that panics in the middle of a chunk: after catching it, the
/// iteration goes on and still yields every key exactly once.
#[test]
fn a_panicking_clone_skips_nothing_and_repeats_nothing() {
    let n = scaled(500, 100) as u64;
    let map: HashMap<u64, Fragile> = (0..n).map(|i| (i, Fragile(i))).collect();
    let mut iter = map.iter_cloned();
    let mut seen = StdSet::new();
    let mut panics = 0;
    loop {
        if seen.len() == 7 {
            // The 4th clone from now: in the middle of the next chunk.
            ARMED.store(4, SeqCst);
        }
        match catch_unwind(AssertUnwindSafe(|| iter.next())) {
            Ok(Some((k, v))) => {
                assert_eq!(k, v.0);
                assert!(
                    seen.insert(k),
                    "key {k} yielded twice after a panicking clone"
                );
            }
            Ok(None) => break,
            Err(_) => panics += 1,
        }
    }
    assert_eq!(panics, 1);
    assert_eq!(
        seen.len() as u64,
        n,
        "a key was skipped after a panicking clone"
    );
}
