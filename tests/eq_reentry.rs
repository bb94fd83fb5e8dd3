//! A key whose `Eq` calls back into the same map: the one piece of user code
//! that runs under a shard lock. Re-entering the lock must panic with a clear
//! message, never deadlock. (Watchdog: the scenario runs on its own thread.)

use std::hash::{Hash, Hasher};
use std::sync::mpsc;
use std::time::Duration;

use evacmap::HashMap;

mod common;

/// A key whose comparison writes to a global map: exactly the mistake.
#[derive(Clone)]
struct Meddler(u64);

static MAP: std::sync::OnceLock<HashMap<Meddler, u64>> = std::sync::OnceLock::new();

impl Hash for Meddler {
    fn hash<H: Hasher>(&self, h: &mut H) {
        0u64.hash(h); // every key collides: comparisons are guaranteed
    }
}

impl PartialEq for Meddler {
    fn eq(&self, other: &Self) -> bool {
        if self.0 == 999 || other.0 == 999 {
            // Called under the shard lock by the insert below.
            MAP.get().unwrap().insert(Meddler(1000 + self.0), 0);
        }
        self.0 == other.0
    }
}
impl Eq for Meddler {}

#[test]
fn an_eq_that_writes_back_into_its_shard_panics_instead_of_deadlocking() {
    let map = MAP.get_or_init(|| HashMap::builder().shards(1).build().unwrap());
    map.insert(Meddler(1), 1);
    let (done, wait) = mpsc::channel();
    std::thread::spawn(move || {
        let result = std::panic::catch_unwind(|| {
            map.insert(Meddler(999), 9);
        });
        let message = result
            .err()
            .and_then(|e| e.downcast_ref::<&str>().map(|s| s.to_string()));
        let _ = done.send(message);
    });
    let message = wait
        .recv_timeout(Duration::from_secs(20))
        .expect("deadlocked: the re-entry was not detected");
    let message = message.expect("the insert should have panicked");
    assert!(
        message.contains("must not call back into the map"),
        "{message}"
    );
    // The lock was released by unwinding: the map is still usable.
    map.insert(Meddler(2), 2);
    assert_eq!(*map.get(&Meddler(1)).unwrap(), 1);
    assert!(map.get(&Meddler(999)).is_none());
}

// ---- writes from `Eq` into another shard or another map ----------------
//
// Taking a second shard lock while holding one can deadlock even when the
// shards differ: two threads whose `Eq`s write crosswise wait for each other.
// So a write from inside `Eq` panics whatever shard or map it targets, on the
// first attempt; reads from `Eq` stay allowed.

mod crosswise {
    use std::hash::{BuildHasherDefault, Hash, Hasher};
    use std::sync::{Arc, Barrier, OnceLock};

    use evacmap::HashMap;

    use super::common;

    /// The hash is the one u64 a key writes: tests choose shards directly
    /// (with 2 shards, the top bit picks the shard).
    #[derive(Default)]
    pub struct Identity(u64);

    impl Hasher for Identity {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, _: &[u8]) {
            unreachable!("keys write one u64")
        }
        fn write_u64(&mut self, x: u64) {
            self.0 = x;
        }
    }

    pub type IdState = BuildHasherDefault<Identity>;
    pub const SHARD_0: u64 = 0;
    pub const SHARD_1: u64 = 1 << 63;

    /// A key whose `Eq` runs `hook` (if any) before comparing ids.
    #[derive(Clone)]
    pub struct Hooked {
        pub hash: u64,
        pub id: u64,
        pub hook: Option<Arc<dyn Fn() + Send + Sync>>,
    }

    impl Hooked {
        pub fn plain(hash: u64, id: u64) -> Self {
            Hooked {
                hash,
                id,
                hook: None,
            }
        }
        pub fn with(hash: u64, id: u64, hook: impl Fn() + Send + Sync + 'static) -> Self {
            Hooked {
                hash,
                id,
                hook: Some(Arc::new(hook)),
            }
        }
    }

    impl Hash for Hooked {
        fn hash<H: Hasher>(&self, h: &mut H) {
            h.write_u64(self.hash);
        }
    }

    impl PartialEq for Hooked {
        fn eq(&self, other: &Self) -> bool {
            for hook in [&self.hook, &other.hook].into_iter().flatten() {
                hook();
            }
            self.id == other.id
        }
    }
    impl Eq for Hooked {}

    pub type Map = HashMap<Hooked, u64, IdState>;

    pub fn two_shards() -> Map {
        HashMap::builder()
            .shards(2)
            .hasher(IdState::default())
            .build()
            .unwrap()
    }

    /// Inserts `key` (whose `Eq` runs against the resident id 0 of its
    /// hash) and returns the panic message, if it panicked.
    pub fn insert_panics(map: &'static Map, key: Hooked) -> Option<String> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            map.insert(key, 1);
        }))
        .err()
        .map(|p| common::panic_message(&*p))
    }

    pub fn expect_refusal(message: Option<String>) {
        let message = message.expect("the write from `Eq` should have panicked");
        assert!(
            message.contains("must not call back into the map"),
            "{message}"
        );
    }

    fn quiet() {
        common::quiet_panics(|m| m.contains("must not call back into the map"));
    }

    #[test]
    fn an_eq_that_writes_to_another_shard_panics() {
        quiet();
        static MAP: OnceLock<Map> = OnceLock::new();
        let map = MAP.get_or_init(two_shards);
        map.insert(Hooked::plain(SHARD_0, 0), 0);
        let key = Hooked::with(SHARD_0, 1, || {
            MAP.get().unwrap().insert(Hooked::plain(SHARD_1, 7), 7);
        });
        expect_refusal(common::within("eq writes shard 1", move || {
            insert_panics(map, key)
        }));
        // Nothing of the refused write happened, and both shards still work.
        assert!(map.get(&Hooked::plain(SHARD_1, 7)).is_none());
        assert!(map.get(&Hooked::plain(SHARD_0, 1)).is_none());
        map.insert(Hooked::plain(SHARD_1, 8), 8);
        map.insert(Hooked::plain(SHARD_0, 2), 2);
        assert_eq!(map.len(), 3);
    }

    #[test]
    fn an_eq_that_writes_to_another_map_panics() {
        quiet();
        static MAP: OnceLock<Map> = OnceLock::new();
        static OTHER: OnceLock<HashMap<u64, u64>> = OnceLock::new();
        let map = MAP.get_or_init(two_shards);
        OTHER.get_or_init(HashMap::new);
        map.insert(Hooked::plain(SHARD_0, 0), 0);
        let key = Hooked::with(SHARD_0, 1, || {
            OTHER.get().unwrap().insert(1, 1);
        });
        expect_refusal(insert_panics(map, key));
        assert!(OTHER.get().unwrap().is_empty());
    }

    #[test]
    fn an_eq_may_read_the_map() {
        static MAP: OnceLock<Map> = OnceLock::new();
        let map = MAP.get_or_init(two_shards);
        map.insert(Hooked::plain(SHARD_0, 0), 0);
        map.insert(Hooked::plain(SHARD_1, 0), 10);
        let key = Hooked::with(SHARD_0, 1, || {
            let map = MAP.get().unwrap();
            assert_eq!(map.get(&Hooked::plain(SHARD_1, 0)).map(|r| *r), Some(10));
        });
        assert!(insert_panics(map, key).is_none());
        assert_eq!(map.len(), 3);
    }

    /// The deadlock itself: each thread holds its shard's lock inside `Eq`
    /// (the barrier makes sure both do) and writes to the other's shard.
    /// Without the refusal both wait forever.
    #[test]
    fn crosswise_writes_from_eq_panic_instead_of_deadlocking() {
        quiet();
        static MAP: OnceLock<Map> = OnceLock::new();
        let map = MAP.get_or_init(two_shards);
        map.insert(Hooked::plain(SHARD_0, 0), 0);
        map.insert(Hooked::plain(SHARD_1, 0), 0);
        let both_locked = Arc::new(Barrier::new(2));
        let writer = move |home: u64, away: u64| {
            let both_locked = Arc::clone(&both_locked);
            let key = Hooked::with(home, 1, move || {
                both_locked.wait();
                MAP.get().unwrap().insert(Hooked::plain(away, 2), 2);
            });
            std::thread::spawn(move || insert_panics(map, key))
        };
        let messages = common::within("crosswise writes from Eq", move || {
            let a = writer(SHARD_0, SHARD_1);
            let b = writer(SHARD_1, SHARD_0);
            [a.join().unwrap(), b.join().unwrap()]
        });
        for message in messages {
            expect_refusal(message);
        }
        assert_eq!(map.len(), 2);
    }

    /// Values are dropped outside every lock, also the retire batch a map
    /// drops with it: a value whose destructor writes to another map is fine.
    #[test]
    fn a_destructor_run_at_map_drop_may_write_to_another_map() {
        static LOG: OnceLock<HashMap<u64, u64>> = OnceLock::new();
        struct Logs(u64);
        impl Drop for Logs {
            fn drop(&mut self) {
                LOG.get().unwrap().insert(self.0, self.0);
            }
        }
        LOG.get_or_init(HashMap::new);
        let map: HashMap<u64, Logs> = HashMap::new();
        for k in 0..10 {
            map.insert(k, Logs(k));
        }
        // Removed entries wait in the shard's retire batch (64 per batch)...
        for k in 0..5 {
            map.remove(&k);
        }
        // ...which the map's drop frees directly.
        drop(map);
        common::flush_until(common::watchdog(), || LOG.get().unwrap().len() == 10);
        assert_eq!(LOG.get().unwrap().len(), 10);
    }
}
