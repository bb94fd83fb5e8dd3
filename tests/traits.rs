//! `Send` and `Sync` exactly when sound (checked at compile time), and the
//! other standard traits exist.
//!
//! The map is `Send` when keys, values and hasher are `Send` (values may be
//! dropped on any thread), and `Sync` when keys and values are `Send + Sync`
//! (any thread can read `&V` and any thread can drop a value it removes).
//! References and pinned handles hold an epoch guard, which is tied to its
//! thread: they are neither `Send` nor `Sync`.

use std::cell::Cell;
use std::rc::Rc;

use evacmap::{HashMap, Iter, KeyRef, Pinned, Ref};
use static_assertions::{assert_impl_all, assert_not_impl_any};

type S = evacmap::DefaultHashBuilder;

assert_impl_all!(HashMap<u64, String>: Send, Sync, Default, Clone, std::fmt::Debug);
assert_impl_all!(HashMap<u64, Vec<u8>, S>: Send, Sync);
// Panics in user code leave the map consistent (contract 8): unwind safe.
assert_impl_all!(HashMap<u64, String>: std::panic::UnwindSafe, std::panic::RefUnwindSafe);
// Cell is Send but not Sync: the map can move between threads, not be shared.
assert_impl_all!(HashMap<u64, Cell<u64>>: Send);
assert_not_impl_any!(HashMap<u64, Cell<u64>>: Sync);
assert_not_impl_any!(HashMap<Cell<u64>, u64>: Sync);
// Rc is neither: no sending, no sharing.
assert_not_impl_any!(HashMap<u64, Rc<u64>>: Send, Sync);
assert_not_impl_any!(HashMap<Rc<u64>, u64>: Send, Sync);
// A Sync-but-not-Send value (a MutexGuard) cannot be dropped on another
// thread, so the map may be neither sent nor shared.
assert_not_impl_any!(HashMap<u64, std::sync::MutexGuard<'static, u64>>: Send, Sync);
// Guard-holding types stay on their thread.
assert_not_impl_any!(Ref<'static, u64, u64>: Send, Sync);
assert_not_impl_any!(KeyRef<'static, u64, u64>: Send, Sync);
assert_not_impl_any!(Pinned<'static, u64, u64, S>: Send, Sync);
assert_not_impl_any!(Iter<'static, u64, u64>: Send, Sync);

// The cache: a shared handle (`Clone` shares it) that threads and tasks can
// own; its keys and values must be `Send + Sync` (hits lend `&V` to any
// thread, departures are dropped on any thread).
assert_impl_all!(evacmap::Cache<u64, String>: Send, Sync, Clone, std::fmt::Debug);
assert_impl_all!(evacmap::cache::future::Cache<u64, String>: Send, Sync, Clone, std::fmt::Debug);
assert_impl_all!(evacmap::cache::MockClock: Send, Sync, Clone);
// A lent value holds an epoch guard: it stays on its thread.
assert_not_impl_any!(evacmap::cache::CacheRef<'static, u64, u64>: Send, Sync);

#[test]
fn a_shared_map_works_across_threads() {
    let map: HashMap<u64, String> = HashMap::new();
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let map = &map;
            s.spawn(move || {
                for i in 0..1000 {
                    map.insert(t * 1000 + i, i.to_string());
                }
            });
        }
    });
    assert_eq!(map.len(), 2000);
    let moved = std::thread::spawn(move || map.len()).join().unwrap();
    assert_eq!(moved, 2000);
}

// The async-safe handles (tests/async_handles.rs). An owned pin has an
// epoch participant of its own: it may move to another thread (with the
// `&V` it lent, inside a future) but never be shared, and it is `Send` only
// when the map is `Sync`. The cloned iterator holds no guard between items.
assert_impl_all!(evacmap::OwnedPinned<'static, u64, String, S>: Send, std::fmt::Debug);
assert_not_impl_any!(evacmap::OwnedPinned<'static, u64, String, S>: Sync);
assert_not_impl_any!(evacmap::OwnedPinned<'static, u64, Cell<u64>, S>: Send, Sync);
assert_not_impl_any!(evacmap::OwnedPinned<'static, u64, Rc<u64>, S>: Send, Sync);
assert_impl_all!(evacmap::ClonedIter<'static, u64, String, S>: Send, Sync, Iterator, std::fmt::Debug);
assert_not_impl_any!(evacmap::ClonedIter<'static, u64, Cell<u64>, S>: Send);
assert_not_impl_any!(evacmap::ClonedIter<'static, Rc<u64>, u64, S>: Send, Sync);
