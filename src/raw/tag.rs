//! The bucket's tag word: one byte of hash per slot, matched eight at a time
//! with SWAR arithmetic, plus the bucket's control bits.
//!
//! Layout of the `u64` (byte 0 is the least significant):
//!
//! | bytes 0..SLOTS | bits 48..62 | bit 63 |
//! |---|---|---|
//! | slot tags: `0` = empty, anything else = occupied | primary bucket: inserts into the chain, 15 bits, wrapping | MOVED |
//!
//! Invariants (kept by the shard's writer, under its lock):
//! - a slot's tag byte is non-zero iff its entry pointer is non-null, except
//!   transiently inside one write, where the pointer is stored before the tag
//!   (so a reader that sees a tag can then find the pointer) and cleared before
//!   the tag;
//! - MOVED is set once, after every entry of the bucket's chain was copied to
//!   the successor table, and never cleared.
//! - The insert count (primary bucket) is bumped, with a Release store,
//!   *before* each entry published anywhere in the chain: a scan that saw the
//!   entry sees the bump. Scans use it to detect a racing insert (see
//!   `scan.rs`); it wraps at 2^15, so a scan also checks the shard's
//!   insert count, which cannot wrap, to rule out a full turn.
//!
//! Matching may report false positives (readers confirm with the full hash and
//! the key) but never false negatives. Empty-slot detection is exact, because a
//! writer that trusted a false "empty" would overwrite a live entry.

/// Entry slots per bucket: 8 bytes of tags + 6 × 8-byte pointers + an 8-byte
/// overflow link fill one 64-byte cache line.
pub(crate) const SLOTS: usize = 6;

/// Set in the control byte once the bucket's entries live in the successor table.
pub(crate) const MOVED: u64 = 1 << 63;

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
/// The high bit of each slot byte: the mask that confines results to slots.
const SLOT_HIGH_BITS: u64 = HIGH_BITS & ((1u64 << (8 * SLOTS)) - 1);

/// The tag of a hash: its low byte, with 0 (which means "empty") mapped to 1.
///
/// Shards and buckets are chosen by the hash's high bits, so the low byte is
/// independent of where the entry lives.
#[inline(always)]
pub(crate) fn tag_of(hash: u64) -> u8 {
    (hash as u8).max(1)
}

/// A set of slot indices, one bit per slot (the high bit of the slot's byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SlotSet(u64);

impl SlotSet {
    #[inline(always)]
    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The lowest slot in the set.
    #[inline(always)]
    pub(crate) fn first(self) -> Option<usize> {
        if self.0 == 0 {
            None
        } else {
            Some(self.0.trailing_zeros() as usize / 8)
        }
    }
}

impl Iterator for SlotSet {
    type Item = usize;

    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        let slot = self.first()?;
        self.0 &= self.0 - 1;
        Some(slot)
    }
}

/// Exact zero-byte detection: the high bit of each byte of the result is set
/// iff that byte of `x` is zero (no carries cross byte boundaries).
#[inline(always)]
fn zero_bytes(x: u64) -> u64 {
    let low7 = !HIGH_BITS;
    !(((x & low7).wrapping_add(low7)) | x | low7)
}

/// Slots whose tag equals `tag` (`tag` must be non-zero).
///
/// Uses the cheap zero-byte test: a borrow out of a matching byte can flag a
/// run of bytes equal to `tag ^ 1` above it. Such false positives are
/// discarded by the caller's full hash and key comparison (and are rare: 1 in
/// 256 per neighbouring slot). It never misses a match.
#[inline(always)]
pub(crate) fn matching(word: u64, tag: u8) -> SlotSet {
    debug_assert_ne!(tag, 0);
    let x = word ^ (LOW_BITS * tag as u64);
    SlotSet(x.wrapping_sub(LOW_BITS) & !x & SLOT_HIGH_BITS)
}

/// Slots with no entry.
#[inline(always)]
pub(crate) fn empty(word: u64) -> SlotSet {
    SlotSet(zero_bytes(word) & SLOT_HIGH_BITS)
}

/// Slots holding an entry.
#[inline(always)]
pub(crate) fn occupied(word: u64) -> SlotSet {
    SlotSet(!zero_bytes(word) & SLOT_HIGH_BITS)
}

/// `word` with `slot`'s tag set to `tag`.
#[inline(always)]
pub(crate) fn with_tag(word: u64, slot: usize, tag: u8) -> u64 {
    debug_assert!(slot < SLOTS);
    (word & !(0xFF << (8 * slot))) | ((tag as u64) << (8 * slot))
}

/// `word` with `slot` marked empty.
#[inline(always)]
pub(crate) fn without(word: u64, slot: usize) -> u64 {
    with_tag(word, slot, 0)
}

const INSERTS_SHIFT: u32 = 48;

/// The insert count's bits, below MOVED.
const INSERTS_MASK: u64 = 0x7FFF;

/// Inserts that make the chain's count wrap around once.
pub(crate) const INSERTS_PERIOD: usize = INSERTS_MASK as usize + 1;

/// The chain's insert count (meaningful in a primary bucket's word).
#[inline(always)]
pub(crate) fn inserts(word: u64) -> u16 {
    ((word >> INSERTS_SHIFT) & INSERTS_MASK) as u16
}

/// `word` with the insert count incremented (wrapping at [`INSERTS_PERIOD`]).
#[inline(always)]
pub(crate) fn bump_inserts(word: u64) -> u64 {
    let count = (inserts(word) as u64 + 1) & INSERTS_MASK;
    (word & !(INSERTS_MASK << INSERTS_SHIFT)) | (count << INSERTS_SHIFT)
}

#[inline(always)]
pub(crate) fn is_moved(word: u64) -> bool {
    word & MOVED != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word_of(tags: [u8; SLOTS]) -> u64 {
        tags.iter()
            .enumerate()
            .fold(0, |w, (slot, &t)| with_tag(w, slot, t))
    }

    #[test]
    fn tag_is_never_zero() {
        assert_eq!(tag_of(0), 1);
        assert_eq!(tag_of(0x1234_5600), 1);
        assert_eq!(tag_of(0xAB), 0xAB);
        assert_eq!(tag_of(u64::MAX), 0xFF);
    }

    #[test]
    fn matching_finds_every_equal_tag() {
        let w = word_of([7, 0, 7, 9, 0x80, 7]);
        assert_eq!(matching(w, 7).collect::<Vec<_>>(), vec![0, 2, 5]);
        // The false positive the cheap test allows: a byte equal to
        // `tag ^ 1` (6 ^ 7 == 1) above a true match.
        let fp = word_of([7, 6, 0, 0, 0, 0]);
        assert_eq!(matching(fp, 7).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(matching(w, 9).collect::<Vec<_>>(), vec![3]);
        assert_eq!(matching(w, 0x80).collect::<Vec<_>>(), vec![4]);
        assert!(matching(w, 1).is_empty());
    }

    #[test]
    fn empty_detection_is_exact_even_next_to_ones() {
        // 0x01 bytes above a zero byte are where the cheap SWAR zero test
        // reports false positives; an empty-slot search must not.
        let w = word_of([0, 1, 1, 0, 1, 0x81]);
        assert_eq!(empty(w).collect::<Vec<_>>(), vec![0, 3]);
        assert_eq!(occupied(w).collect::<Vec<_>>(), vec![1, 2, 4, 5]);
    }

    #[test]
    fn exhaustive_single_byte_agreement() {
        // Exhaustive natively; sampled under Miri (pure arithmetic, and the
        // full sweep takes Miri minutes).
        let step = if cfg!(miri) { 37 } else { 1 };
        for t in (1..=255u8).step_by(step) {
            for other in (0..=255u8).step_by(step).chain([t ^ 1, 0, t]) {
                let w = word_of([other, t, other, other, t, other]);
                let m: Vec<_> = matching(w, t).collect();
                if other == t {
                    assert_eq!(m, vec![0, 1, 2, 3, 4, 5]);
                } else {
                    // Never a miss; false positives only on bytes equal to
                    // `t ^ 1`, in a run above a true match (the borrow).
                    assert!(
                        m.contains(&1) && m.contains(&4),
                        "tag {t} other {other}: {m:?}"
                    );
                    for slot in m.iter().filter(|&&s| s != 1 && s != 4) {
                        assert!(other ^ t == 1 && *slot > 1, "tag {t} other {other}: {m:?}");
                    }
                }
                let e: Vec<_> = empty(w).collect();
                if other == 0 {
                    assert_eq!(e, vec![0, 2, 3, 5]);
                } else {
                    assert!(e.is_empty());
                }
            }
        }
    }

    #[test]
    fn control_byte_is_not_a_slot() {
        let w = MOVED | word_of([0; SLOTS]);
        assert!(is_moved(w));
        assert_eq!(empty(w).count(), SLOTS);
        assert!(occupied(w).is_empty());
        let w = without(with_tag(w, 3, 5), 3);
        assert!(is_moved(w));
        assert_eq!(empty(w).count(), SLOTS);
    }

    #[test]
    fn insert_count_is_not_a_slot_and_wraps() {
        let mut w = with_tag(MOVED, 2, 9);
        for n in 1..=(INSERTS_PERIOD + 300) {
            w = bump_inserts(w);
            assert_eq!(inserts(w) as usize, n % INSERTS_PERIOD);
        }
        assert!(is_moved(w));
        assert_eq!(occupied(w).collect::<Vec<_>>(), vec![2]);
        assert_eq!(matching(w, 9).collect::<Vec<_>>(), vec![2]);
        assert_eq!(empty(w).count(), SLOTS - 1);
    }

    #[test]
    fn first_and_iteration_agree() {
        let w = word_of([0, 0, 4, 0, 4, 0]);
        assert_eq!(matching(w, 4).first(), Some(2));
        assert_eq!(empty(w).first(), Some(0));
        assert_eq!(occupied(word_of([0; SLOTS])).first(), None);
    }
}
