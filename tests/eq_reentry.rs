//! A key whose `Eq` calls back into the same map: the one piece of user code
//! that runs under a shard lock. Re-entering the lock must panic with a clear
//! message, never deadlock. (Watchdog: the scenario runs on its own thread.)

use std::hash::{Hash, Hasher};
use std::sync::mpsc;
use std::time::Duration;

use evacmap::HashMap;

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
