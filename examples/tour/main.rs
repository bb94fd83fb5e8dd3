//! A tour of evacmap, in two parts.
//!
//! 1. [`session_store`]: the concurrent `HashMap` on its defaults grows to a
//!    million sessions, loses 90% of them, and is cleared, while you watch
//!    its memory follow its contents.
//! 2. [`read_through`]: the bounded `Cache` in front of a real SQLite
//!    database ([`catalog`], a million products): many threads ask for
//!    products with Zipf popularity ([`requests`]); the tour prints the hit
//!    ratio, the queries single flight saved, the size holding at its byte
//!    budget, expirations, and request latency with and without the cache.
//!
//! Every phase prints a line at least every second or so. The data and the
//! request streams are seeded, so runs differ only in timing.
//!
//! Run: `cargo run --release --example tour` (under 30 s on two cores).

mod catalog;
mod read_through;
mod requests;
mod session_store;

use std::thread;
use std::time::Instant;

fn main() {
    let start = Instant::now();
    let cores = thread::available_parallelism().map_or(2, |n| n.get());
    println!("evacmap tour on {cores} cores\n");

    let map = session_store::run(cores);
    // More request threads than cores, as in a server, so requests really
    // are concurrent: a thread can be preempted in the middle of a load
    // while others ask for the same product.
    let cache = read_through::run((cores * 2).clamp(4, 16));

    println!("\n\n### Summary ({:.1} s)", start.elapsed().as_secs_f64());
    println!(
        "   map:   {} sessions in at {:.1} M writes/s; {:.1} MiB held at 1 M entries, {} bytes after clear()",
        thousands(map.sessions),
        map.writes_per_second / 1e6,
        mib(map.peak_held_bytes as u64),
        map.held_after_clear
    );
    println!(
        "   cache: {:.1}% hits over {} requests, so {} SQLite queries instead of {};",
        100.0 * cache.hit_ratio,
        thousands(cache.requests),
        thousands(cache.queries),
        thousands(cache.requests)
    );
    println!(
        "          median request {:.2} µs instead of {:.2} µs; within its {} MiB budget at every check; \
         {} products expired;",
        cache.p50_cached.as_secs_f64() * 1e6,
        cache.p50_direct.as_secs_f64() * 1e6,
        cache.budget_bytes >> 20,
        thousands(cache.expirations)
    );
    println!(
        "          in the stampede, {} requests for a slow query ran it {} times",
        cache.stampede_requests, cache.stampede_scans
    );
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
