//! Ghosts: the hashes of keys recently evicted from the small queue, so that
//! a key coming back soon after is recognised as worth keeping (S3-FIFO's
//! ghost queue). Only membership is needed, never the key, so the ghosts are
//! two generations of a blocked Bloom filter, about 1 to 2 bytes per entry.
//!
//! A ghost is remembered for between one and two generations; a generation
//! is half as many evictions as the policy holds entries, so a key is
//! recognised if it comes back within roughly one cache's worth of small
//! evictions (S3-FIFO keeps as many ghosts as the main queue holds entries).
//!
//! Invariants:
//! - both filters have the same number of words, at least [`MIN_WORDS`],
//!   about [`BITS_PER_GHOST`] bits per ghost of a generation; they follow
//!   the entry count as the sketch does (see `resize`), rebuilding each new
//!   word as the or of the old words its hashes came from, so no ghost is
//!   lost (a key's bits are chosen within its word, whatever the length);
//! - `current` receives insertions; when it has taken `per_generation` of
//!   them the other filter is cleared and becomes current. A lookup checks
//!   both. False positives (a few percent) send a new key to main early;
//!   there are no false negatives within a generation.

use super::resize::{covering, grown_len, slot};

/// The smallest filter, in 64-bit words.
const MIN_WORDS: usize = 4;
/// Filter bits per ghost of one generation (before rounding up).
const BITS_PER_GHOST: u64 = 8;

/// Two generations of recently evicted hashes.
pub(crate) struct Ghosts {
    filters: [Vec<u64>; 2],
    current: usize,
    inserted: u64,
    per_generation: u64,
}

/// The three bits of `h` within its word (from low hash bits; the word is
/// chosen by the high ones).
#[inline]
fn mask(h: u64) -> u64 {
    (1 << (h & 63)) | (1 << ((h >> 6) & 63)) | (1 << ((h >> 12) & 63))
}

impl Ghosts {
    pub(crate) fn new() -> Self {
        Ghosts {
            filters: [vec![0; MIN_WORDS], vec![0; MIN_WORDS]],
            current: 0,
            inserted: 0,
            per_generation: (MIN_WORDS as u64 * 64 / BITS_PER_GHOST).max(1),
        }
    }

    /// Sizes the generations for a policy holding `entries` entries.
    pub(crate) fn fit(&mut self, entries: u64) {
        let words = ((entries / 2) * BITS_PER_GHOST).div_ceil(64) as usize;
        let Some(len) = grown_len(self.filters[0].len(), words, MIN_WORDS) else {
            return;
        };
        for f in &mut self.filters {
            let old = std::mem::take(f);
            *f = (0..len)
                .map(|i| {
                    let (first, last) = covering(i, len, old.len());
                    old[first..=last].iter().fold(0, |acc, &w| acc | w)
                })
                .collect();
        }
        self.per_generation = (len as u64 * 64 / BITS_PER_GHOST).max(1);
        self.inserted = self.inserted.min(self.per_generation - 1);
    }

    /// Forgets every ghost and goes back to the smallest filters.
    pub(crate) fn clear(&mut self) {
        *self = Ghosts::new();
    }

    /// Remembers `h` as evicted.
    pub(crate) fn insert(&mut self, h: u64) {
        let f = &mut self.filters[self.current];
        let word = slot(h, f.len());
        f[word] |= mask(h);
        self.inserted += 1;
        if self.inserted >= self.per_generation {
            self.current ^= 1;
            self.filters[self.current].fill(0);
            self.inserted = 0;
        }
    }

    /// Whether `h` was evicted lately (or collides with one that was).
    pub(crate) fn contains(&self, h: u64) -> bool {
        let m = mask(h);
        self.filters.iter().any(|f| f[slot(h, f.len())] & m == m)
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.filters
            .iter()
            .map(|f| f.capacity() * std::mem::size_of::<u64>())
            .sum()
    }
}

// Not under Miri: see `mod tests` in policy/mod.rs.
#[cfg(all(test, not(miri)))]
mod tests {
    use super::*;
    use crate::cache::policy::mix64;

    #[test]
    fn remembers_for_a_generation_then_forgets() {
        let mut g = Ghosts::new();
        g.fit(1000);
        let h = mix64(42);
        g.insert(h);
        assert!(g.contains(h));
        // A full generation later it is still there (in the older filter)...
        for k in 0..g.per_generation - 1 {
            g.insert(mix64(1_000_000 + k));
        }
        assert!(g.contains(h));
        // ...and two generations later it is gone.
        for k in 0..g.per_generation + 1 {
            g.insert(mix64(2_000_000 + k));
        }
        assert!(!g.contains(h));
    }

    #[test]
    fn growth_keeps_ghosts_and_false_positives_stay_rare() {
        let mut g = Ghosts::new();
        g.fit(100);
        let kept: Vec<u64> = (0..8).map(mix64).collect();
        for &h in &kept {
            g.insert(h);
        }
        g.fit(100_000);
        assert!(kept.iter().all(|&h| g.contains(h)));
        g.fit(1_000);
        assert!(kept.iter().all(|&h| g.contains(h)));
        g.fit(100_000);
        for k in 0..50_000 {
            g.insert(mix64(10_000 + k));
        }
        let fp = (0..100_000u64)
            .filter(|&k| g.contains(mix64(5_000_000 + k)))
            .count();
        assert!(fp < 8_000, "false positive rate too high: {fp} / 100000");
    }

    #[test]
    fn clear_shrinks() {
        let mut g = Ghosts::new();
        g.fit(1 << 20);
        assert!(g.heap_bytes() >= 1 << 20, "{}", g.heap_bytes());
        g.clear();
        assert_eq!(g.heap_bytes(), 2 * MIN_WORDS * 8);
    }
}
