//! The bucket's tag word: one byte of hash per slot, matched eight at a time
//! with SWAR arithmetic, plus the bucket's control bits, as a type of its
//! own ([`TagWord`], stored in an [`AtomicTagWord`]) whose methods are the
//! only code that knows the layout. Modelled on hashbrown's `Tag`/`Group`.
//!
//! Layout of the word (byte 0 is the least significant):
//!
//! | bytes 0..SLOTS | bits 48..62 | bit 63 |
//! |---|---|---|
//! | slot tags: `0` = empty, anything else = occupied | primary bucket: inserts into the chain, 15 bits, wrapping | MOVED |
//!
//! What a tag word means (which pointer a tag announces, when MOVED and the
//! insert count change, and the orderings of the stores) is the bucket's to
//! keep: see the invariants of `bucket.rs`. This module keeps one:
//!
//! # Invariant: *no false negatives, exact emptiness*
//! [`TagWord::matching`] may report false positives (readers confirm with
//! the full hash and the key) but never misses a slot whose tag is equal.
//! [`TagWord::empty`] and [`TagWord::occupied`] are exact, because a writer
//! that trusted a false "empty" would overwrite a live entry.

use crate::sync::{AtomicU64, Ordering};

/// Entry slots per bucket: 8 bytes of tags + 6 × 8-byte pointers + an 8-byte
/// overflow link fill one 64-byte cache line.
pub(crate) const SLOTS: usize = 6;

/// Set in the control byte once the bucket's entries live in the successor table.
const MOVED: u64 = 1 << 63;

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
/// The high bit of each slot byte: the mask that confines results to slots.
const SLOT_HIGH_BITS: u64 = HIGH_BITS & ((1u64 << (8 * SLOTS)) - 1);

/// A slot's tag: one byte of an entry's hash, never 0 (which marks an empty
/// slot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub(crate) struct Tag(u8);

impl Tag {
    /// The tag of a hash: its low byte, with 0 (which means "empty") mapped
    /// to 1.
    ///
    /// Shards and buckets are chosen by the hash's high bits, so the low byte
    /// is independent of where the entry lives.
    #[inline(always)]
    pub(crate) fn of(hash: u64) -> Tag {
        Tag((hash as u8).max(1))
    }

    /// The tag byte repeated in every byte of a word.
    #[inline(always)]
    fn repeated(self) -> u64 {
        LOW_BITS * self.0 as u64
    }
}

/// A bucket's tag word (see the module doc for its layout). A plain value:
/// loaded from and stored to an [`AtomicTagWord`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(transparent)]
pub(crate) struct TagWord(u64);

impl TagWord {
    /// An empty bucket: no slot occupied, insert count 0, not MOVED.
    pub(crate) const EMPTY: TagWord = TagWord(0);

    /// Slots whose tag equals `tag`.
    ///
    /// Uses the cheap zero-byte test: a borrow out of a matching byte can flag
    /// a run of bytes equal to `tag ^ 1` above it. Such false positives are
    /// discarded by the caller's full hash and key comparison (and are rare: 1
    /// in 256 per neighbouring slot). It never misses a match.
    #[inline(always)]
    pub(crate) fn matching(self, tag: Tag) -> SlotSet {
        let x = self.0 ^ tag.repeated();
        SlotSet(x.wrapping_sub(LOW_BITS) & !x & SLOT_HIGH_BITS)
    }

    /// Slots with no entry (exact).
    #[inline(always)]
    pub(crate) fn empty(self) -> SlotSet {
        SlotSet(zero_bytes(self.0) & SLOT_HIGH_BITS)
    }

    /// Slots holding an entry (exact).
    #[inline(always)]
    pub(crate) fn occupied(self) -> SlotSet {
        SlotSet(!zero_bytes(self.0) & SLOT_HIGH_BITS)
    }

    /// This word with `slot`'s tag set to `tag`.
    #[inline(always)]
    pub(crate) fn with_tag(self, slot: usize, tag: Tag) -> TagWord {
        self.with_byte(slot, tag.0)
    }

    /// This word with `slot` marked empty.
    #[inline(always)]
    pub(crate) fn without(self, slot: usize) -> TagWord {
        self.with_byte(slot, 0)
    }

    #[inline(always)]
    fn with_byte(self, slot: usize, byte: u8) -> TagWord {
        debug_assert!(slot < SLOTS);
        TagWord((self.0 & !(0xFF << (8 * slot))) | ((byte as u64) << (8 * slot)))
    }

    /// The chain's insert count (meaningful in a primary bucket's word).
    #[inline(always)]
    pub(crate) fn inserts(self) -> u16 {
        ((self.0 >> INSERTS_SHIFT) & INSERTS_MASK) as u16
    }

    /// This word with the insert count incremented (wrapping at
    /// [`INSERTS_PERIOD`]).
    #[inline(always)]
    pub(crate) fn bump_inserts(self) -> TagWord {
        let count = (self.inserts() as u64 + 1) & INSERTS_MASK;
        TagWord((self.0 & !(INSERTS_MASK << INSERTS_SHIFT)) | (count << INSERTS_SHIFT))
    }

    /// Whether the bucket's entries live in the successor table.
    #[inline(always)]
    pub(crate) fn is_moved(self) -> bool {
        self.0 & MOVED != 0
    }

    /// This word with MOVED set.
    #[inline(always)]
    pub(crate) fn with_moved(self) -> TagWord {
        TagWord(self.0 | MOVED)
    }
}

/// The atomic cell of a bucket's tag word. Its orderings are chosen by the
/// bucket (see `bucket.rs`); this type only keeps the word typed.
#[repr(transparent)]
pub(crate) struct AtomicTagWord(AtomicU64);

impl AtomicTagWord {
    pub(crate) fn new(word: TagWord) -> Self {
        AtomicTagWord(AtomicU64::new(word.0))
    }

    #[inline(always)]
    pub(crate) fn load(&self, order: Ordering) -> TagWord {
        TagWord(self.0.load(order))
    }

    #[inline(always)]
    pub(crate) fn store(&self, word: TagWord, order: Ordering) {
        self.0.store(word.0, order);
    }

    /// An atomic read-modify-write that changes nothing: a *write* access
    /// to the word's page (see `Bucket::touch_for_write`). Relaxed: it
    /// stores the value it read, and as a read-modify-write it continues
    /// the release sequence of the store it read from, so a reader whose
    /// Acquire load reads it still synchronises with that store. The
    /// operand goes through `black_box`: LLVM lowers an `or` of a constant 0
    /// to a plain load, which is exactly the read it must not be.
    #[inline(always)]
    pub(crate) fn touch(&self) {
        // inject: touch-changes-the-word
        self.0.fetch_or(std::hint::black_box(0), Ordering::Relaxed);
    }
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

const INSERTS_SHIFT: u32 = 48;

/// The insert count's bits, below MOVED.
const INSERTS_MASK: u64 = 0x7FFF;

/// Inserts that make the chain's count wrap around once.
pub(crate) const INSERTS_PERIOD: usize = INSERTS_MASK as usize + 1;

#[cfg(test)]
mod tests {
    use super::*;

    /// A word with these tag bytes (0: empty), count 0, not MOVED.
    fn word_of(tags: [u8; SLOTS]) -> TagWord {
        tags.iter()
            .enumerate()
            .fold(TagWord::EMPTY, |w, (slot, &t)| w.with_byte(slot, t))
    }

    fn slots(set: SlotSet) -> Vec<usize> {
        set.collect()
    }

    #[test]
    fn tag_is_never_zero() {
        assert_eq!(Tag::of(0), Tag(1));
        assert_eq!(Tag::of(0x1234_5600), Tag(1));
        assert_eq!(Tag::of(0xAB), Tag(0xAB));
        assert_eq!(Tag::of(u64::MAX), Tag(0xFF));
    }

    #[test]
    fn matching_finds_every_equal_tag() {
        let w = word_of([7, 0, 7, 9, 0x80, 7]);
        assert_eq!(slots(w.matching(Tag(7))), vec![0, 2, 5]);
        // The false positive the cheap test allows: a byte equal to
        // `tag ^ 1` (6 ^ 7 == 1) above a true match.
        let fp = word_of([7, 6, 0, 0, 0, 0]);
        assert_eq!(slots(fp.matching(Tag(7))), vec![0, 1]);
        assert_eq!(slots(w.matching(Tag(9))), vec![3]);
        assert_eq!(slots(w.matching(Tag(0x80))), vec![4]);
        assert!(w.matching(Tag(1)).is_empty());
    }

    #[test]
    fn empty_detection_is_exact_even_next_to_ones() {
        // 0x01 bytes above a zero byte are where the cheap SWAR zero test
        // reports false positives; an empty-slot search must not.
        let w = word_of([0, 1, 1, 0, 1, 0x81]);
        assert_eq!(slots(w.empty()), vec![0, 3]);
        assert_eq!(slots(w.occupied()), vec![1, 2, 4, 5]);
    }

    #[test]
    fn exhaustive_single_byte_agreement() {
        // Exhaustive natively; sampled under Miri (pure arithmetic, and the
        // full sweep takes Miri minutes).
        let step = if cfg!(miri) { 37 } else { 1 };
        for t in (1..=255u8).step_by(step) {
            for other in (0..=255u8).step_by(step).chain([t ^ 1, 0, t]) {
                let w = word_of([other, t, other, other, t, other]);
                let m = slots(w.matching(Tag(t)));
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
                let e = slots(w.empty());
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
        let w = TagWord::EMPTY.with_moved();
        assert!(w.is_moved());
        assert!(!TagWord::EMPTY.is_moved());
        assert_eq!(w.empty().count(), SLOTS);
        assert!(w.occupied().is_empty());
        let w = w.with_tag(3, Tag(5)).without(3);
        assert!(w.is_moved());
        assert_eq!(w.empty().count(), SLOTS);
    }

    #[test]
    fn insert_count_is_not_a_slot_and_wraps() {
        let mut w = TagWord::EMPTY.with_moved().with_tag(2, Tag(9));
        for n in 1..=(INSERTS_PERIOD + 300) {
            w = w.bump_inserts();
            assert_eq!(w.inserts() as usize, n % INSERTS_PERIOD);
        }
        assert!(w.is_moved());
        assert_eq!(slots(w.occupied()), vec![2]);
        assert_eq!(slots(w.matching(Tag(9))), vec![2]);
        assert_eq!(w.empty().count(), SLOTS - 1);
    }

    #[test]
    fn first_and_iteration_agree() {
        let w = word_of([0, 0, 4, 0, 4, 0]);
        assert_eq!(w.matching(Tag(4)).first(), Some(2));
        assert_eq!(w.empty().first(), Some(0));
        assert_eq!(word_of([0; SLOTS]).occupied().first(), None);
    }
}
