//! The traffic: product ids drawn with Zipf popularity (a few products are
//! wanted all the time, most almost never), replayed by many threads with
//! every request timed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Zipf};

/// One stream of product ids per thread, drawn up front (in parallel) so
/// that drawing costs nothing during the timed runs, and so that the runs
/// with and without the cache replay exactly the same requests. Each thread
/// has its own seed: every run of the tour draws the same streams.
pub fn zipf_streams(products: u32, exponent: f64, threads: usize, total: usize) -> Vec<Vec<u32>> {
    let zipf = Zipf::new(u64::from(products), exponent).expect("valid Zipf parameters");
    thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut rng = StdRng::seed_from_u64(t as u64);
                    (0..total / threads)
                        .map(|_| product_of_rank(zipf.sample(&mut rng) as u64, products))
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// The product at a popularity rank (1 is the most wanted). A stride
/// coprime with the catalog's size scatters ranks over ids, so the popular
/// products are not also neighbours in the database's B-tree: popularity
/// has nothing to do with when a product was added.
fn product_of_rank(rank: u64, products: u32) -> u32 {
    const STRIDE: u64 = 7_919 * 104_729; // two primes, neither 2 nor 5
    ((rank - 1) * STRIDE % u64::from(products)) as u32 + 1
}

/// What a replay measured.
pub struct Replay {
    pub requests: u64,
    pub elapsed: Duration,
    pub latencies: Latencies,
}

impl Replay {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// Request latencies, counted in a log-linear histogram: exact below 64 ns,
/// then 32 buckets per power of two (each about 3% wide). A run of any
/// length, on any number of threads, takes the same few kilobytes.
pub struct Latencies {
    counts: Vec<u64>,
}

impl Latencies {
    const EXACT: usize = 64;
    const PER_POWER: usize = 32;

    fn new() -> Self {
        // Up to 2^64 ns: 64 exact buckets, then powers 2^6 to 2^63.
        Latencies {
            counts: vec![0; Self::EXACT + (64 - 6) * Self::PER_POWER],
        }
    }

    fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        let bucket = if nanos < Self::EXACT as u64 {
            nanos as usize
        } else {
            let power = 63 - nanos.leading_zeros() as usize; // 6 and up
            let step = (nanos >> (power - 5)) as usize & (Self::PER_POWER - 1);
            Self::EXACT + (power - 6) * Self::PER_POWER + step
        };
        self.counts[bucket] += 1;
    }

    /// The smallest latency that falls in `bucket`.
    fn floor(bucket: usize) -> Duration {
        if bucket < Self::EXACT {
            return Duration::from_nanos(bucket as u64);
        }
        let (power, step) = (
            (bucket - Self::EXACT) / Self::PER_POWER + 6,
            (bucket - Self::EXACT) % Self::PER_POWER,
        );
        Duration::from_nanos(((Self::PER_POWER + step) as u64) << (power - 5))
    }

    fn merge(&mut self, other: &Latencies) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
    }

    /// The latency within which a fraction `q` of the requests finished
    /// (0.5: the median; 0.99: all but the slowest 1%), to within 3%.
    pub fn percentile(&self, q: f64) -> Duration {
        let total: u64 = self.counts.iter().sum();
        let wanted = ((total as f64 * q).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= wanted {
                return Self::floor(bucket);
            }
        }
        Duration::ZERO
    }
}

/// Replays each stream on a thread of its own through `serve`, for
/// `duration` (whole seconds), timing every request; a thread that reaches the end of its
/// stream starts it over. A fixed duration rather than a fixed number of
/// requests keeps the tour's length the same on any machine.
///
/// Each thread first makes its own state with `connect` (a database
/// connection is not shared between threads); the clock starts once all
/// are connected. Meanwhile, once a second, the calling thread reports
/// `progress(elapsed, requests_so_far)`, so a run is never silent.
pub fn replay<C>(
    streams: &[Vec<u32>],
    duration: Duration,
    connect: impl Fn() -> C + Sync,
    serve: impl Fn(&mut C, u32) + Sync,
    mut progress: impl FnMut(Duration, u64),
) -> Replay {
    let ready = Barrier::new(streams.len() + 1);
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    thread::scope(|s| {
        let handles: Vec<_> = streams
            .iter()
            .map(|stream| {
                let (connect, serve) = (&connect, &serve);
                let (ready, stop, done) = (&ready, &stop, &done);
                s.spawn(move || {
                    let mut state = connect();
                    let mut latencies = Latencies::new();
                    let mut requests = 0u64;
                    ready.wait();
                    for chunk in stream.chunks(1024).cycle() {
                        if stop.load(Relaxed) {
                            break;
                        }
                        for &id in chunk {
                            let start = Instant::now();
                            serve(&mut state, id);
                            latencies.record(start.elapsed());
                        }
                        requests += chunk.len() as u64;
                        done.fetch_add(chunk.len() as u64, Relaxed);
                    }
                    (requests, latencies, Instant::now())
                })
            })
            .collect();
        ready.wait();
        let start = Instant::now();
        for second in 1..=duration.as_secs() {
            thread::sleep(
                (start + Duration::from_secs(second)).saturating_duration_since(Instant::now()),
            );
            progress(start.elapsed(), done.load(Relaxed));
        }
        stop.store(true, Relaxed);
        // The run ends when its last thread has finished its last request.
        let mut run = Replay {
            requests: 0,
            elapsed: Duration::ZERO,
            latencies: Latencies::new(),
        };
        for h in handles {
            let (requests, latencies, finished_at) = h.join().unwrap();
            run.requests += requests;
            run.latencies.merge(&latencies);
            run.elapsed = run.elapsed.max(finished_at - start);
        }
        run
    })
}
