//! The one drop registry of the integration tests (contract item 7: every
//! value is dropped exactly once).
//!
//! A [`Registry`] hands out [`Token`]s; a test puts one inside each key or
//! value it wants accounted for. Every token has an id, and the registry
//! counts the drops of every id it ever handed out, so that a test can ask
//! whether a value was dropped (`drops_of`), whether everything was dropped
//! exactly once (`assert_all_dropped_once`), and whether a value it reads
//! through the map is still alive (`Token::check`).
//!
//! A second drop of the same id is *counted*, not panicked on: drops run
//! inside crossbeam's collector, where a panic would abort the test binary
//! instead of failing the test. The assertions report it.
//!
//! Each token owns a heap box holding its id, so that reading a dropped
//! token is a use after free that Miri reports and that `check` is likely to
//! notice in an ordinary run.
//!
//! The registry's lock tolerates poisoning: the panic tests drop tokens while
//! unwinding.

use std::collections::HashMap as StdMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Created and dropped tokens of one test; shared by all its threads.
#[derive(Default)]
pub struct Registry {
    /// Drops of every id ever handed out (0 while the token is alive).
    drops: Mutex<StdMap<u64, usize>>,
    /// The next id [`Registry::token`] hands out.
    next: AtomicU64,
    created: AtomicUsize,
    dropped: AtomicUsize,
    live: AtomicUsize,
    double_drops: AtomicUsize,
}

impl Registry {
    pub fn new() -> Arc<Registry> {
        Arc::new(Registry::default())
    }

    fn ids(&self) -> MutexGuard<'_, StdMap<u64, usize>> {
        self.drops.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A token with a fresh id.
    pub fn token(self: &Arc<Self>) -> Token {
        let id = self.next.fetch_add(1, SeqCst);
        self.register(id)
    }

    /// A token with an id the test chooses (to find the value again by a
    /// key, say). Panics if the id was handed out before: ids name values.
    /// (Fresh ids from [`Registry::token`] skip the chosen ones.)
    pub fn token_with_id(self: &Arc<Self>, id: u64) -> Token {
        self.next.fetch_max(id + 1, SeqCst);
        self.register(id)
    }

    fn register(self: &Arc<Self>, id: u64) -> Token {
        let fresh = self.ids().insert(id, 0).is_none();
        assert!(fresh, "token id {id} handed out twice");
        self.created.fetch_add(1, SeqCst);
        self.live.fetch_add(1, SeqCst);
        Token {
            id,
            payload: Box::new(id),
            reg: Arc::clone(self),
        }
    }

    /// Tokens created so far.
    pub fn created(&self) -> usize {
        self.created.load(SeqCst)
    }

    /// Drops so far (a double drop counts twice).
    pub fn dropped(&self) -> usize {
        self.dropped.load(SeqCst)
    }

    /// Drops of an id that was already dropped.
    pub fn double_drops(&self) -> usize {
        self.double_drops.load(SeqCst)
    }

    /// Tokens created and not dropped.
    pub fn live(&self) -> usize {
        self.live.load(SeqCst)
    }

    /// Whether the token `id` was created and is not dropped yet.
    pub fn is_live(&self, id: u64) -> bool {
        self.ids().get(&id) == Some(&0)
    }

    /// How many times the token `id` was dropped (0 if it never existed).
    pub fn drops_of(&self, id: u64) -> usize {
        self.ids().get(&id).copied().unwrap_or(0)
    }

    /// Every token was dropped exactly once: none twice, none left alive.
    #[track_caller]
    pub fn assert_all_dropped_once(&self, what: &str) {
        assert_eq!(self.double_drops(), 0, "{what}: a value dropped twice");
        let live = self.live();
        assert_eq!(live, 0, "{what}: {live} values never dropped (a leak)");
        assert_eq!(self.created(), self.dropped(), "{what}: created != dropped");
    }

    /// Each of `ids` was dropped exactly once, and no token of the registry
    /// was dropped twice.
    #[track_caller]
    pub fn assert_dropped_once(&self, ids: impl IntoIterator<Item = u64>, what: &str) {
        assert_eq!(self.double_drops(), 0, "{what}: a value dropped twice");
        let drops = self.ids();
        for id in ids {
            assert_eq!(
                drops.get(&id).copied(),
                Some(1),
                "{what}: value {id} must be dropped exactly once"
            );
        }
    }

    /// Flushes this thread's epoch garbage until every token is dropped (at
    /// most 20 s), then asserts that each was dropped exactly once.
    #[track_caller]
    pub fn wait_all_dropped_once(&self, what: &str) {
        super::flush_until(Duration::from_secs(20), || self.created() == self.dropped());
        self.assert_all_dropped_once(what);
    }
}

/// One accounted value: put it inside a key or value. Cloning makes a new
/// token (a clone is a new value, dropped on its own).
pub struct Token {
    id: u64,
    payload: Box<u64>,
    reg: Arc<Registry>,
}

impl Token {
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.reg
    }

    /// Panics if this token was already dropped (or its memory reused): the
    /// map lent out a value it had freed.
    #[track_caller]
    pub fn check(&self) {
        assert_eq!(
            *self.payload, self.id,
            "token memory overwritten: use after free"
        );
        assert!(
            self.reg.is_live(self.id),
            "token {} read after it was dropped",
            self.id
        );
    }
}

impl Clone for Token {
    fn clone(&self) -> Token {
        self.reg.token()
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({})", self.id)
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        let twice = {
            let mut drops = self.reg.ids();
            let n = drops.entry(self.id).or_insert(0);
            *n += 1;
            *n > 1
        };
        if twice {
            self.reg.double_drops.fetch_add(1, SeqCst);
        } else {
            self.reg.live.fetch_sub(1, SeqCst);
        }
        self.reg.dropped.fetch_add(1, SeqCst);
    }
}
