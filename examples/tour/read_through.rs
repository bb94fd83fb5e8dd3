//! Part 2: evacmap's [`Cache`] as a read-through cache in front of a real
//! SQLite database.
//!
//! Threads ask for products with Zipf popularity through
//! `cache.try_get_with(id, || load_from_sqlite(id))`: a hit never touches
//! the database, a miss queries it once however many threads miss the same
//! product at the same moment (single flight). The cache is bounded in
//! bytes, entries live at most a few seconds (prices and stock change), and
//! an eviction listener counts who leaves and why. Then the same requests
//! go straight to SQLite, to show what the cache saves, and a stampede on
//! a slow query shows single flight at work.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use evacmap::cache::RemovalCause;
use evacmap::Cache;

use crate::catalog::{Catalog, Product, CATEGORIES};
use crate::requests::{self, Replay};
use crate::{mib, thousands};

const PRODUCTS: u32 = 1_000_000;
/// Requests drawn up front, over all threads; a thread that gets to the
/// end of its stream starts it over.
const REQUESTS_DRAWN: usize = 4_000_000;
/// Popularity skew, about that of web and storage traces.
const ZIPF_EXPONENT: f64 = 1.0;
/// The cache's budget: room for about an eighth of the catalog.
const BUDGET_BYTES: u64 = 32 << 20;
/// How stale a cached product may get (the tour's seconds stand for a
/// shop's minutes). Half the cached run, so that products expire during it.
const TIME_TO_LIVE: Duration = Duration::from_secs(4);
/// How long the requests run through the cache, and straight to SQLite.
const CACHED_RUN: Duration = Duration::from_secs(8);
const DIRECT_RUN: Duration = Duration::from_secs(3);
/// Requests that arrive at once in the stampede.
const STAMPEDE: usize = 16;

/// Products by id, shared as `Arc`s so that a hit clones a pointer, not
/// three strings.
type ProductCache = Cache<u32, Arc<Product>>;

/// What part 2 found, for the tour's summary.
pub struct Summary {
    pub requests: u64,
    pub hit_ratio: f64,
    pub queries: u64,
    pub p50_cached: Duration,
    pub p50_direct: Duration,
    pub budget_bytes: u64,
    pub expirations: u64,
    pub stampede_requests: u64,
    pub stampede_scans: u64,
}

/// Runs phases 6 to 11 on `threads` request threads.
pub fn run(threads: usize) -> Summary {
    println!("\n\n### Part 2: the cache, read-through in front of SQLite ({threads} threads)");
    let catalog = build_catalog();
    let streams = draw_requests(threads);

    let departures = Arc::new(Departures::default());
    let cache = product_cache(departures.clone());
    let (cached, queries) = read_through(&catalog, &cache, &streams);
    report_cache(&cache, &cached, queries, &departures);
    let stats = cache.stats();
    empty(&cache, &departures);

    let direct = straight_to_sqlite(&catalog, &streams);
    compare(&cached, &direct);

    let (stampede_requests, stampede_scans) = stampede(&catalog);

    Summary {
        requests: cached.requests,
        hit_ratio: stats.hit_ratio(),
        queries,
        p50_cached: cached.latencies.percentile(0.5),
        p50_direct: direct.latencies.percentile(0.5),
        budget_bytes: BUDGET_BYTES,
        expirations: stats.expirations,
        stampede_requests,
        stampede_scans,
    }
}

/// Phase 6: the database, with a progress line every 250,000 rows.
fn build_catalog() -> Catalog {
    println!(
        "\n== 6. build the database: {} products in a SQLite file",
        thousands(PRODUCTS.into())
    );
    let start = Instant::now();
    let catalog = Catalog::build(PRODUCTS, |rows| {
        println!(
            "   {:.1} s: {} rows inserted",
            start.elapsed().as_secs_f64(),
            thousands(rows.into())
        )
    })
    .expect("build the catalog");
    println!(
        "   done in {:.1} s: {:.0} MiB on disk (one transaction, one prepared statement)",
        start.elapsed().as_secs_f64(),
        mib(catalog.bytes_on_disk())
    );
    catalog
}

/// Phase 7: who asks for what.
fn draw_requests(threads: usize) -> Vec<Vec<u32>> {
    println!(
        "\n== 7. draw {} requests: Zipf({ZIPF_EXPONENT:.1}) popularity over the products, \
         one seeded stream per thread",
        thousands(REQUESTS_DRAWN as u64)
    );
    let start = Instant::now();
    let streams = requests::zipf_streams(PRODUCTS, ZIPF_EXPONENT, threads, REQUESTS_DRAWN);
    let mut distinct: Vec<u32> = streams.iter().flatten().copied().collect();
    distinct.sort_unstable();
    distinct.dedup();
    println!(
        "   done in {:.1} s: {} distinct products asked for ({:.0}% of the catalog)",
        start.elapsed().as_secs_f64(),
        thousands(distinct.len() as u64),
        100.0 * distinct.len() as f64 / f64::from(PRODUCTS)
    );
    streams
}

/// The cache, configured for products.
fn product_cache(departures: Arc<Departures>) -> ProductCache {
    Cache::builder()
        // The bound is in bytes, not entries: a product's description makes
        // it anything from ~150 to ~450 bytes, and what a budget limits is
        // memory. So the number of products held floats while the weight
        // holds at the bound. (The cache's own bookkeeping per entry, a few
        // dozen bytes, is not charged.)
        .max_capacity(BUDGET_BYTES)
        .weigher(|_id, product: &Arc<Product>| product.bytes())
        // Prices and stock change: no product is served more than this
        // stale. Popular products expire too, and are loaded again.
        .time_to_live(TIME_TO_LIVE)
        .eviction_listener(move |_id, _product, cause| departures.count(cause))
        .name("products")
        .build()
}

/// Who left the cache, and why, as the eviction listener hears it. The
/// listener runs on the thread whose request removed the entry (after the
/// cache released its locks), so it is kept to one relaxed add.
#[derive(Default)]
struct Departures {
    evicted_for_size: AtomicU64,
    expired: AtomicU64,
    /// Invalidated or overwritten: removals the application asked for.
    removed: AtomicU64,
}

impl Departures {
    fn count(&self, cause: RemovalCause) {
        let counter = match cause {
            RemovalCause::Size => &self.evicted_for_size,
            RemovalCause::Expired => &self.expired,
            RemovalCause::Explicit | RemovalCause::Replaced => &self.removed,
        };
        counter.fetch_add(1, Relaxed);
    }
}

/// Phase 8: every request goes through the cache; a miss loads the row from
/// SQLite on the requesting thread, through that thread's own connection.
/// Returns the run and the number of SQLite queries the loaders ran.
fn read_through(catalog: &Catalog, cache: &ProductCache, streams: &[Vec<u32>]) -> (Replay, u64) {
    println!(
        "\n== 8. read through the cache for {} s: try_get_with(id, load from SQLite), \
         {} MiB budget weighed in bytes, {} s time to live",
        CACHED_RUN.as_secs(),
        BUDGET_BYTES >> 20,
        TIME_TO_LIVE.as_secs()
    );
    let queries = AtomicU64::new(0);
    let run = requests::replay(
        streams,
        CACHED_RUN,
        || catalog.reader(),
        |db, id| {
            // `try_get_with` because a query can fail; an error would be
            // handed to every caller waiting on that load, and not cached.
            let product = cache.try_get_with(id, || {
                queries.fetch_add(1, Relaxed);
                db.product(id).map(Arc::new)
            });
            black_box(product.expect("every requested id is in the catalog"));
        },
        |elapsed, done| {
            let weight = cache.weighted_size();
            // The bound is global and exact: checked, not just printed.
            assert!(weight <= BUDGET_BYTES, "{weight} bytes over the budget");
            let stats = cache.stats();
            println!(
                "   {:.0} s: {:>10} requests, {:4.1}% hits; {:5.2} of {} MiB used by {:>7} products; \
                 {:>9} expired so far",
                elapsed.as_secs_f64(),
                thousands(done),
                100.0 * stats.hit_ratio(),
                mib(weight),
                BUDGET_BYTES >> 20,
                thousands(cache.entry_count()),
                thousands(stats.expirations)
            );
        },
    );
    (run, queries.into_inner())
}

/// What the cache did during phase 8.
fn report_cache(cache: &ProductCache, run: &Replay, queries: u64, departures: &Departures) {
    let stats = cache.stats();
    println!(
        "   {} requests in {:.1} s; hit ratio {:.1}% ({} hits, {} misses)",
        thousands(run.requests),
        run.elapsed.as_secs_f64(),
        100.0 * stats.hit_ratio(),
        thousands(stats.hits),
        thousands(stats.misses)
    );
    // Without single flight every miss would be a query. With it, a thread
    // that misses a product another thread is already loading waits for
    // that row instead. Here a load takes microseconds, so two threads
    // rarely miss the same product at once (phase 11 has a slow query).
    // The load time is wall time: it includes any time a loader spent
    // preempted, with more threads than cores.
    println!(
        "   SQLite queries: {} for {} misses (single flight: {} misses waited for another \
         thread's query); {:.1} µs per load on average",
        thousands(queries),
        thousands(stats.misses),
        thousands(stats.misses - queries),
        stats.total_load_time.as_secs_f64() * 1e6 / stats.load_successes.max(1) as f64
    );
    // An independent check of the bound: weigh what is actually in there.
    // `iter()` skips entries that have expired but are not removed yet,
    // which `weighted_size()` still counts.
    let live: u64 = cache.iter().map(|(_, p)| u64::from(p.bytes())).sum();
    let weight = cache.weighted_size();
    assert!(live <= weight && weight <= BUDGET_BYTES);
    println!(
        "   size: {:.2} MiB of {} MiB (weighted_size()); the unexpired products in iter() weigh {:.2} MiB",
        mib(weight),
        BUDGET_BYTES >> 20,
        mib(live)
    );
    let heard = (
        departures.evicted_for_size.load(Relaxed),
        departures.expired.load(Relaxed),
    );
    println!(
        "   the eviction listener heard {} evictions for size and {} expirations \
         (stats(): {} and {})",
        thousands(heard.0),
        thousands(heard.1),
        thousands(stats.evictions.size),
        thousands(stats.expirations)
    );
    assert_eq!(heard, (stats.evictions.size, stats.expirations));
}

/// Phase 9: `invalidate_all` empties the cache and `run_pending_tasks`
/// gives back what it had retired. The listener hears each product leave
/// as invalidated, except those whose time had run out: they leave as
/// expired, whatever removes them.
fn empty(cache: &ProductCache, departures: &Departures) {
    println!("\n== 9. invalidate_all(), then run_pending_tasks()");
    let before = cache.entry_count();
    let expired_before = departures.expired.load(Relaxed);
    cache.invalidate_all();
    cache.run_pending_tasks();
    println!(
        "   {} products before, {} after; the listener heard {} invalidated and {} expired",
        thousands(before),
        cache.entry_count(),
        thousands(departures.removed.load(Relaxed)),
        thousands(departures.expired.load(Relaxed) - expired_before)
    );
}

/// Phase 10: the same streams, each request a SQLite query.
fn straight_to_sqlite(catalog: &Catalog, streams: &[Vec<u32>]) -> Replay {
    println!(
        "\n== 10. the same requests straight to SQLite, without the cache, for {} s",
        DIRECT_RUN.as_secs()
    );
    requests::replay(
        streams,
        DIRECT_RUN,
        || catalog.reader(),
        |db, id| {
            black_box(
                db.product(id)
                    .expect("every requested id is in the catalog"),
            );
        },
        |elapsed, done| {
            println!(
                "   {:.0} s: {:>10} requests",
                elapsed.as_secs_f64(),
                thousands(done)
            )
        },
    )
}

/// Requests per second and latency, with and without the cache. Latencies
/// include the two clock reads that time each request (tens of ns). The
/// cache's tail is its misses: each pays for the query and then for the
/// insert, with the eviction and expiry work the insert does.
fn compare(cached: &Replay, direct: &Replay) {
    println!("\n   per request            p50        p90        p99      throughput");
    for (name, run) in [
        ("through the cache", cached),
        ("straight to SQLite", direct),
    ] {
        println!(
            "   {name:<19} {:>7.2} µs {:>7.2} µs {:>7.2} µs  {:>6.2} M requests/s",
            micros(run.latencies.percentile(0.5)),
            micros(run.latencies.percentile(0.9)),
            micros(run.latencies.percentile(0.99)),
            run.per_second() / 1e6
        );
    }
    println!(
        "   (the cache's tail is its misses: a query, then the insert and the eviction it does)"
    );
}

/// Phase 11: a stampede. A category's bargains take a scan of the whole
/// table, and many requests ask for the same category at the same moment,
/// as when a popular page expires under load. Without single flight each
/// would scan; with it one does, and the others wait for its result (parked,
/// holding no lock). Returns the requests and the scans.
fn stampede(catalog: &Catalog) -> (u64, u64) {
    println!(
        "\n== 11. stampede: {STAMPEDE} threads ask for a category's bargains at once \
         (a full-table scan), for four categories"
    );
    let bargains: Cache<&'static str, Arc<Vec<(u32, i64)>>> = Cache::builder()
        .max_capacity(CATEGORIES.len() as u64)
        .time_to_live(TIME_TO_LIVE)
        .build();
    let scans = AtomicU64::new(0);
    for category in &CATEGORIES[..4] {
        let all_ready = Barrier::new(STAMPEDE);
        let (scans_before, start) = (scans.load(Relaxed), Instant::now());
        thread::scope(|s| {
            for _ in 0..STAMPEDE {
                s.spawn(|| {
                    let db = catalog.reader();
                    all_ready.wait();
                    bargains.get_with(category, || {
                        scans.fetch_add(1, Relaxed);
                        Arc::new(db.bargains(category).expect("scan the catalog"))
                    })
                });
            }
        });
        println!(
            "   {category:<9} {:>4.0} ms: {STAMPEDE} requests, {} scan",
            start.elapsed().as_secs_f64() * 1e3,
            scans.load(Relaxed) - scans_before
        );
    }
    let stats = bargains.stats();
    let scans = scans.into_inner();
    println!(
        "   {} requests, {} misses, {scans} scans: {} requests waited for another thread's scan",
        stats.hits + stats.misses,
        stats.misses,
        stats.misses - scans
    );
    (stats.hits + stats.misses, scans)
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
