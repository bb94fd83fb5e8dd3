//! A count-min sketch of recent key frequencies (TinyLFU's "how often was
//! this key asked for lately"), 4-bit counters, about 4 bytes per entry.
//!
//! Layout: a table of 64-bit blocks, each holding sixteen 4-bit counters in
//! four groups of four. A key picks one block (by multiply-shift of its
//! hash onto the table, so any table length works) and one counter in each
//! group (from low hash bits), so its four counters share a cache line. The
//! estimate is the smallest of the four; increments are conservative (only
//! the counters at the minimum rise), which keeps overestimates from
//! colliding keys small.
//!
//! Invariants:
//! - one block serves [`ENTRIES_PER_BLOCK`] entries; the table has at least
//!   [`MIN_BLOCKS`], grows (by a quarter at least) when the policy holds
//!   more entries than it serves and shrinks when it serves four times as
//!   many (never sized by the capacity, so a huge cache with few entries
//!   stays small);
//! - a resize never lowers an estimate: a new block covers a range of the
//!   hash space that overlaps one or two old blocks, and each of its
//!   counters takes the larger of theirs (count-min never underestimates
//!   what it was told since the last aging);
//! - every `sample` additions (ten per entry the table serves) all counters
//!   halve: the sketch forgets at a fixed rate, so it follows a shifting
//!   workload.

use super::resize::{covering, grown_len, slot};

/// Counters saturate here (4 bits).
const MAX_COUNT: u64 = 15;
/// The smallest table, in blocks.
const MIN_BLOCKS: usize = 16;
/// Entries one block (sixteen counters) serves: eight counters per entry.
const ENTRIES_PER_BLOCK: u64 = 2;
/// Additions per entry between two agings.
const SAMPLE_PER_ENTRY: u64 = 10;

/// The frequency sketch. `h` arguments are the policy's well-mixed key
/// hashes.
pub(crate) struct Sketch {
    table: Vec<u64>,
    additions: u64,
    sample: u64,
}

/// Counter-wise maximum of two blocks.
fn max_block(a: u64, b: u64) -> u64 {
    let mut out = 0;
    for nibble in 0..16 {
        let s = nibble * 4;
        out |= ((a >> s) & MAX_COUNT).max((b >> s) & MAX_COUNT) << s;
    }
    out
}

impl Sketch {
    pub(crate) fn new() -> Self {
        Sketch {
            table: vec![0; MIN_BLOCKS],
            additions: 0,
            sample: MIN_BLOCKS as u64 * ENTRIES_PER_BLOCK * SAMPLE_PER_ENTRY,
        }
    }

    /// Resizes the table if it serves too few or far too many entries.
    pub(crate) fn fit(&mut self, entries: u64) {
        let blocks = entries.div_ceil(ENTRIES_PER_BLOCK) as usize;
        if let Some(len) = grown_len(self.table.len(), blocks, MIN_BLOCKS) {
            self.resize(len);
        }
    }

    fn resize(&mut self, len: usize) {
        let old = std::mem::take(&mut self.table);
        self.table = (0..len)
            .map(|i| {
                let (first, last) = covering(i, len, old.len());
                old[first..=last]
                    .iter()
                    .fold(0, |acc, &b| max_block(acc, b))
            })
            .collect();
        self.sample = len as u64 * ENTRIES_PER_BLOCK * SAMPLE_PER_ENTRY;
    }

    /// Forgets everything and goes back to the smallest table.
    pub(crate) fn clear(&mut self) {
        *self = Sketch::new();
    }

    /// The bit offsets of `h`'s four counters in its block, and the block.
    #[inline]
    fn locate(&self, h: u64) -> (usize, [u32; 4]) {
        let block = slot(h, self.table.len());
        let s = h as u32;
        let nibble = |g: u32| (g * 4 + ((s >> (2 * g)) & 3)) * 4;
        (block, [nibble(0), nibble(1), nibble(2), nibble(3)])
    }

    /// The estimated frequency of `h`, `0..=15`.
    #[inline]
    pub(crate) fn estimate(&self, h: u64) -> u8 {
        let (block, shifts) = self.locate(h);
        let word = self.table[block];
        shifts
            .iter()
            .map(|&s| (word >> s) & MAX_COUNT)
            .min()
            .unwrap_or(0) as u8
    }

    /// Records `n` more occurrences of `h` (conservatively: only counters
    /// below the new estimate rise, to it).
    #[inline]
    pub(crate) fn add(&mut self, h: u64, n: u8) {
        if n == 0 {
            return;
        }
        let (block, shifts) = self.locate(h);
        let mut word = self.table[block];
        let min = shifts
            .iter()
            .map(|&s| (word >> s) & MAX_COUNT)
            .min()
            .unwrap_or(0);
        let target = (min + u64::from(n)).min(MAX_COUNT);
        for &s in &shifts {
            if (word >> s) & MAX_COUNT < target {
                word = (word & !(MAX_COUNT << s)) | (target << s);
            }
        }
        self.table[block] = word;
        self.additions += u64::from(n);
        if self.additions >= self.sample {
            self.age();
        }
    }

    /// Halves every counter.
    fn age(&mut self) {
        for word in &mut self.table {
            *word = (*word >> 1) & 0x7777_7777_7777_7777;
        }
        self.additions /= 2;
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.table.capacity() * std::mem::size_of::<u64>()
    }
}

// Not under Miri: see `mod tests` in policy/mod.rs.
#[cfg(all(test, not(miri)))]
mod tests {
    use super::*;
    use crate::cache::policy::mix64;

    #[test]
    fn counts_and_saturates() {
        let mut s = Sketch::new();
        let h = mix64(7);
        assert_eq!(s.estimate(h), 0);
        s.add(h, 3);
        assert_eq!(s.estimate(h), 3);
        s.add(h, 200);
        assert_eq!(s.estimate(h), 15);
    }

    #[test]
    fn resizing_keeps_estimates() {
        let mut s = Sketch::new();
        let keys: Vec<u64> = (0..40).map(mix64).collect();
        for (i, &h) in keys.iter().enumerate() {
            s.add(h, (i % 5) as u8 + 1);
        }
        let before: Vec<u8> = keys.iter().map(|&h| s.estimate(h)).collect();
        for entries in [100, 10_000, 12_345, 40] {
            s.fit(entries);
            assert!(s.table.len() * 4 >= entries as usize);
            let after: Vec<u8> = keys.iter().map(|&h| s.estimate(h)).collect();
            for (b, a) in before.iter().zip(&after) {
                assert!(a >= b, "resizing lost counts: {b} -> {a}");
            }
        }
    }

    #[test]
    fn ages_after_the_sample() {
        let mut s = Sketch::new();
        s.fit(4096);
        let h = mix64(1);
        s.add(h, 12);
        // Fill up the sample with other keys: the counter halves.
        for k in 100..100 + s.sample {
            s.add(mix64(k), 1);
        }
        assert!(s.estimate(h) <= 6, "no aging: {}", s.estimate(h));
    }

    #[test]
    fn clear_shrinks() {
        let mut s = Sketch::new();
        s.fit(1 << 20);
        assert!(s.heap_bytes() >= 1 << 19);
        s.clear();
        assert_eq!(s.heap_bytes(), MIN_BLOCKS * 8);
    }
}
