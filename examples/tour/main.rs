//! A tour of evacmap: the concurrent `HashMap` on its defaults, as a
//! session store ([`session_store`]), grows to a million sessions, loses
//! 90% of them, and is cleared, while you watch its memory follow its
//! contents.
//!
//! Run: `cargo run --release --example tour`

mod session_store;

use std::thread;
use std::time::Instant;

fn main() {
    let start = Instant::now();
    let cores = thread::available_parallelism().map_or(2, |n| n.get());
    println!("evacmap tour on {cores} cores\n");
    let map = session_store::run(cores);
    println!("\n\n### Summary ({:.1} s)", start.elapsed().as_secs_f64());
    println!(
        "   map: {} sessions in at {:.1} M writes/s; {:.1} MiB held at 1 M entries, {} bytes after clear()",
        map.sessions,
        map.writes_per_second / 1e6,
        map.peak_held_bytes as f64 / (1024.0 * 1024.0),
        map.held_after_clear
    );
}
