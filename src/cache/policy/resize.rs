//! Sizing of the hashed tables (sketch, ghost filters) by entry count.
//!
//! A hash `h` picks slot `(h * len) >> 64` of a table of `len` slots
//! (multiply-shift: any length works, no rounding to a power of two, so a
//! table costs what its entries need). Each slot then covers a contiguous
//! range of the hash space, and after a resize a new slot's range overlaps
//! a few old ones: [`covering`] names them, so a table can rebuild each new
//! slot from the old slots its keys came from (a max for counters, an or
//! for filter bits) and lose nothing.

/// The slot of hash `h` in a table of `len` slots.
#[inline]
pub(crate) fn slot(h: u64, len: usize) -> usize {
    ((u128::from(h) * len as u128) >> 64) as usize
}

/// The first and last old slot (of `old_len`) that share hashes with new
/// slot `i` (of `new_len`).
pub(crate) fn covering(i: usize, new_len: usize, old_len: usize) -> (usize, usize) {
    let (i, new, old) = (i as u128, new_len as u128, old_len as u128);
    let first = (i * old / new) as usize;
    let last = ((i + 1) * old).div_ceil(new) as usize - 1;
    (first, last.min(old_len - 1))
}

/// The length a table of `current` slots should take when `needed` slots'
/// worth of entries are held: `None` to stay. It grows to what is needed
/// (by a quarter at least, so growing is amortised O(1) per entry) and
/// shrinks, with a quarter of slack, once four times too big; never below
/// `min`.
pub(crate) fn grown_len(current: usize, needed: usize, min: usize) -> Option<usize> {
    let needed = needed.max(min);
    if needed > current {
        Some(needed.max(current + current / 4))
    } else if current > 4 * needed {
        Some((needed + needed / 4).max(min))
    } else {
        None
    }
}

// Not under Miri: see `mod tests` in policy/mod.rs.
#[cfg(all(test, not(miri)))]
mod tests {
    use super::*;
    use crate::cache::policy::mix64;

    #[test]
    fn a_resized_slot_covers_every_old_slot_of_its_hashes() {
        for (old, new) in [(16, 20), (20, 16), (7, 1000), (1000, 7), (64, 64), (3, 4)] {
            for k in 0..20_000 {
                let h = mix64(k);
                let (first, last) = covering(slot(h, new), new, old);
                let was = slot(h, old);
                assert!(
                    first <= was && was <= last,
                    "{old}->{new}: {was} not in {first}..={last}"
                );
            }
            // and covering doesn't overreach: at most one slot of slack per side
            for i in 0..new {
                let (first, last) = covering(i, new, old);
                assert!(last + 1 - first <= old.div_ceil(new) + 1);
            }
        }
    }

    #[test]
    fn grows_by_a_quarter_at_least_and_shrinks_with_hysteresis() {
        assert_eq!(grown_len(100, 101, 16), Some(125));
        assert_eq!(grown_len(100, 300, 16), Some(300));
        assert_eq!(grown_len(100, 100, 16), None);
        assert_eq!(grown_len(100, 30, 16), None);
        assert_eq!(grown_len(100, 20, 16), Some(25));
        assert_eq!(grown_len(100, 0, 16), Some(20));
        assert_eq!(grown_len(16, 0, 16), None);
    }
}
