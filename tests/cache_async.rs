//! The async loaders on tokio's multi-thread runtime (a dev-dependency only:
//! the library depends on no executor). Initialisers are held open with
//! gates, never with sleeps.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use evacmap::Cache;
use tokio::sync::Notify;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

/// Polls until `cond` holds (a few seconds at most).
async fn until(cond: impl Fn() -> bool) {
    for _ in 0..10_000 {
        if cond() {
            return;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("condition not reached");
}

#[test]
fn one_initialiser_for_many_tasks() {
    runtime().block_on(async {
        let cache: Cache<u32, String> = Cache::new(100);
        let runs = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(Notify::new());
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (cache, runs, gate) = (cache.clone(), runs.clone(), gate.clone());
                tokio::spawn(async move {
                    cache
                        .get_with_async(7, async {
                            runs.fetch_add(1, SeqCst);
                            gate.notified().await;
                            "seven".to_string()
                        })
                        .await
                })
            })
            .collect();
        until(|| runs.load(SeqCst) == 1 && cache.stats().misses == 16).await;
        gate.notify_one();
        for t in tasks {
            assert_eq!(t.await.unwrap(), "seven");
        }
        assert_eq!(runs.load(SeqCst), 1);
        assert_eq!(cache.get(&7).as_deref(), Some("seven"));
    });
}

#[test]
fn a_cancelled_load_is_handed_to_a_waiter() {
    runtime().block_on(async {
        let cache: Cache<u32, u32> = Cache::new(100);
        let started = Arc::new(AtomicUsize::new(0));
        // The leader never finishes; it is aborted while loading.
        let leader = {
            let (cache, started) = (cache.clone(), started.clone());
            tokio::spawn(async move {
                cache
                    .get_with_async(1, async {
                        started.fetch_add(1, SeqCst);
                        std::future::pending::<u32>().await
                    })
                    .await
            })
        };
        until(|| started.load(SeqCst) == 1).await;
        let follower = {
            let (cache, started) = (cache.clone(), started.clone());
            tokio::spawn(async move {
                cache
                    .get_with_async(1, async {
                        started.fetch_add(1, SeqCst);
                        11
                    })
                    .await
            })
        };
        until(|| cache.stats().misses == 2).await;
        leader.abort();
        assert!(leader.await.unwrap_err().is_cancelled());
        assert_eq!(follower.await.unwrap(), 11);
        assert_eq!(started.load(SeqCst), 2);
        assert_eq!(cache.get(&1), Some(11));
    });
}

#[test]
fn errors_and_nothing_are_shared_not_cached() {
    runtime().block_on(async {
        let cache: Cache<u32, u32> = Cache::new(100);
        let gate = Arc::new(Notify::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (cache, gate, runs) = (cache.clone(), gate.clone(), runs.clone());
                tokio::spawn(async move {
                    cache
                        .try_get_with_async(3, async {
                            runs.fetch_add(1, SeqCst);
                            gate.notified().await;
                            Err::<u32, String>("backend down".into())
                        })
                        .await
                })
            })
            .collect();
        until(|| runs.load(SeqCst) == 1 && cache.stats().misses == 8).await;
        gate.notify_one();
        let errors: Vec<Arc<String>> = futures_join(tasks)
            .await
            .into_iter()
            .map(|r| r.unwrap_err())
            .collect();
        assert!(
            errors.iter().all(|e| Arc::ptr_eq(e, &errors[0])),
            "one shared error"
        );
        assert!(!cache.contains_key(&3));
        assert_eq!(
            cache.optionally_get_with_async(4, async { None }).await,
            None
        );
        assert!(!cache.contains_key(&4));
        assert_eq!(
            cache
                .get_or_insert_with_async(&5, async { Ok::<_, ()>(50) })
                .await,
            Ok(50)
        );
        assert_eq!(
            cache.get_or_insert_with_async(&5, async { Err(()) }).await,
            Ok(50)
        );
    });
}

async fn futures_join<T>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[test]
fn an_async_initialiser_asking_for_its_own_key_panics() {
    common::quiet_panics(|m| m.contains("its own key"));
    runtime().block_on(async {
        let cache: Cache<u32, u32> = Cache::new(100);
        let inner = cache.clone();
        let r = tokio::spawn(async move {
            cache
                .get_with_async(1, async move { inner.get_with_async(1, async { 2 }).await })
                .await
        })
        .await;
        assert!(r.unwrap_err().is_panic());
    });
}

/// The loaders' futures are `Send` (they can be spawned on any executor).
#[allow(dead_code)]
fn futures_are_send(cache: Cache<String, Vec<u8>>) {
    fn send<T: Send>(_: T) {}
    send(cache.get_with_async("k".into(), async { vec![] }));
    send(cache.try_get_with_async("k".into(), async { Ok::<_, std::io::Error>(vec![]) }));
    send(cache.optionally_get_with_async("k".into(), async { None }));
    send(cache.get_or_insert_with_async("k", async { Ok::<_, ()>(vec![]) }));
}

#[test]
fn the_future_cache_has_mokas_async_names() {
    runtime().block_on(async {
        let cache: evacmap::cache::future::Cache<u32, u32> =
            evacmap::cache::future::Cache::builder()
                .max_capacity(10)
                .build();
        let runs = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(Notify::new());
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (cache, runs, gate) = (cache.clone(), runs.clone(), gate.clone());
                tokio::spawn(async move {
                    cache
                        .get_with(1, async {
                            runs.fetch_add(1, SeqCst);
                            gate.notified().await;
                            10
                        })
                        .await
                })
            })
            .collect();
        until(|| runs.load(SeqCst) == 1 && cache.stats().misses == 8).await;
        gate.notify_one();
        for t in futures_join(tasks).await {
            assert_eq!(t, 10);
        }
        cache.insert(2, 20).await;
        assert_eq!(cache.get(&2).await, Some(20));
        assert_eq!(cache.remove(&2).await, Some(20));
        cache.invalidate(&1).await;
        cache.run_pending_tasks().await;
        assert_eq!(cache.entry_count(), 0);
    });
}
