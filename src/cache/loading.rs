//! The loaders' common loop, in a blocking and an async version: look the
//! key up; on a miss, lead or follow its load (`loads.rs`); a follower
//! whose load ended without a result for it (the leader panicked, was
//! cancelled, or failed in a way this caller cannot report) goes round
//! again, and may lead the next load.
//!
//! The initialiser runs without any lock and without an epoch guard held,
//! so it may take as long as it likes and use the cache (for other keys).

use std::future::{poll_fn, Future};
use std::hash::{BuildHasher, Hash};
use std::pin::pin;

use super::core::Core;
use super::loads::{Outcome, Role};
use super::slot::Timing;

/// What one loader makes of the three ways a lookup can end.
pub(crate) struct Rules<H, L, F> {
    /// The key was present: the value.
    pub(crate) hit: H,
    /// This caller led the load: its initialiser's output, turned into the
    /// outcome its followers see and this caller's result.
    pub(crate) lead: L,
    /// This caller followed a load that ended so: its result, or `None` to
    /// go round again.
    pub(crate) follow: F,
}

/// Counts a load's time and records it as failed unless told otherwise
/// (so a panicking initialiser is counted too).
struct LoadTimer<'c, K, V, S, T> {
    core: &'c Core<K, V, S, T>,
    started: u64,
    armed: bool,
}

impl<K, V, S, T> Drop for LoadTimer<'_, K, V, S, T> {
    fn drop(&mut self) {
        if self.armed {
            let elapsed = self.core.time.now().saturating_sub(self.started);
            self.core.stats.loaded(false, elapsed);
        }
    }
}

impl<K, V, S, T> Core<K, V, S, T>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher,
    T: Timing,
{
    /// The blocking loader loop.
    pub(crate) fn load<I, R>(
        &self,
        key: K,
        init: impl FnOnce() -> I,
        rules: Rules<
            impl Fn(V) -> R,
            impl FnOnce(I) -> (Outcome<V>, R),
            impl Fn(Outcome<V>) -> Option<R>,
        >,
    ) -> R {
        self.load_from(key, init, rules, false)
    }

    /// [`Core::load`] for a caller that has just looked the key up and
    /// missed (and counted the miss).
    pub(crate) fn load_missed<I, R>(
        &self,
        key: K,
        init: impl FnOnce() -> I,
        rules: Rules<
            impl Fn(V) -> R,
            impl FnOnce(I) -> (Outcome<V>, R),
            impl Fn(Outcome<V>) -> Option<R>,
        >,
    ) -> R {
        self.load_from(key, init, rules, true)
    }

    fn load_from<I, R>(
        &self,
        key: K,
        init: impl FnOnce() -> I,
        rules: Rules<
            impl Fn(V) -> R,
            impl FnOnce(I) -> (Outcome<V>, R),
            impl Fn(Outcome<V>) -> Option<R>,
        >,
        mut missed: bool,
    ) -> R {
        let hash = self.map.hash_of(&key);
        let Rules { hit, lead, follow } = rules;
        let mut init = Some((init, lead));
        loop {
            if !std::mem::take(&mut missed) {
                if let Some(value) = self.loader_lookup(hash, &key) {
                    return hit(value);
                }
            }
            match self.loads.join(hash, key.clone()) {
                Role::Follow(load) => {
                    if let Some(result) = follow(load.wait()) {
                        return result;
                    }
                }
                Role::Lead(leader) => {
                    if let Some(value) = self.loader_recheck(hash, &key) {
                        leader.finish(Outcome::Done(value.clone()), |_| ());
                        return hit(value);
                    }
                    let (init, lead) = init.take().expect("a caller leads at most once");
                    let mut timer = LoadTimer {
                        core: self,
                        started: self.time.now(),
                        armed: true,
                    };
                    let output = leader.run(init);
                    timer.armed = false;
                    let (outcome, result) = lead(output);
                    self.finish_load(leader, hash, key, outcome, timer.started);
                    return result;
                }
            }
        }
    }

    /// The async loader loop: [`Core::load`] with an initialiser future.
    /// Dropping the returned future while it leads abandons the load to a
    /// follower.
    pub(crate) async fn load_async<F: Future, R>(
        &self,
        key: K,
        init: F,
        rules: Rules<
            impl Fn(V) -> R,
            impl FnOnce(F::Output) -> (Outcome<V>, R),
            impl Fn(Outcome<V>) -> Option<R>,
        >,
    ) -> R {
        self.load_async_from(key, init, rules, false).await
    }

    /// [`Core::load_async`] after a counted miss (see [`Core::load_missed`]).
    pub(crate) async fn load_async_missed<F: Future, R>(
        &self,
        key: K,
        init: F,
        rules: Rules<
            impl Fn(V) -> R,
            impl FnOnce(F::Output) -> (Outcome<V>, R),
            impl Fn(Outcome<V>) -> Option<R>,
        >,
    ) -> R {
        self.load_async_from(key, init, rules, true).await
    }

    async fn load_async_from<F: Future, R>(
        &self,
        key: K,
        init: F,
        rules: Rules<
            impl Fn(V) -> R,
            impl FnOnce(F::Output) -> (Outcome<V>, R),
            impl Fn(Outcome<V>) -> Option<R>,
        >,
        mut missed: bool,
    ) -> R {
        let hash = self.map.hash_of(&key);
        let Rules { hit, lead, follow } = rules;
        let mut init = pin!(init);
        let mut lead = Some(lead);
        loop {
            if !std::mem::take(&mut missed) {
                if let Some(value) = self.loader_lookup(hash, &key) {
                    return hit(value);
                }
            }
            let role = self.loads.join(hash, key.clone());
            match role {
                Role::Follow(load) => {
                    if let Some(result) = follow(load.wait_async().await) {
                        return result;
                    }
                }
                Role::Lead(leader) => {
                    if let Some(value) = self.loader_recheck(hash, &key) {
                        leader.finish(Outcome::Done(value.clone()), |_| ());
                        return hit(value);
                    }
                    let lead = lead.take().expect("a caller leads at most once");
                    let mut timer = LoadTimer {
                        core: self,
                        started: self.time.now(),
                        armed: true,
                    };
                    let output = poll_fn(|cx| leader.poll(init.as_mut(), cx)).await;
                    timer.armed = false;
                    let (outcome, result) = lead(output);
                    self.finish_load(leader, hash, key, outcome, timer.started);
                    return result;
                }
            }
        }
    }
}
