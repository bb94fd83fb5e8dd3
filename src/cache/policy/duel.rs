//! Set dueling between the two admission rules into main.
//!
//! - [`Rule::Recency`] (S3-FIFO): a key that was hit while in the small
//!   queue, or that comes back while still a ghost, goes to main. Quick to
//!   follow a shifting working set; helpless against loops bigger than the
//!   cache.
//! - [`Rule::Frequency`] (TinyLFU): a key leaving the small queue goes to
//!   main only if the sketch says it is asked for more often than main's
//!   next victim. Keeps a frequent set against scans and loops; slow to let
//!   a new working set in.
//!
//! A small fraction of the hash space is pinned to each rule (the leaders);
//! their misses move a saturating counter, and every other key (the
//! followers) uses the rule whose leaders missed less lately. A miss is what
//! the policy sees of every lookup that failed: an insert of a new key.
//!
//! The leaders share main with everyone, so the permissive rule (recency)
//! looks better than it is: its leaders get in, and the entries they push out
//! belong to others. On a loop bigger than the cache, recency leaders keep
//! hitting while each of their admissions evicts a follower that was about
//! to be hit, and an even score made the followers flap between the rules.
//! So recency must win by a margin ([`RECENCY_MARGIN`]); an undecided duel
//! keeps the frequency rule.
//!
//! Invariants: `-LIMIT <= score <= LIMIT`; followers use the recency rule
//! only while `score < -RECENCY_MARGIN` (the frequency leaders missed that
//! many more lately).

/// Which admission rule decides for a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// S3-FIFO: hit in small, or a ghost, goes to main.
    Recency,
    /// TinyLFU: more frequent than main's victim goes to main.
    Frequency,
}

/// How the policy picks the rule (an ablation switch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Set dueling between the two rules (the default).
    Duel,
    /// Always [`Rule::Recency`].
    Recency,
    /// Always [`Rule::Frequency`].
    Frequency,
}

/// Leader sets: the top `LEADER_BITS` bits of the hash equal to 0 lead for
/// recency, equal to 1 for frequency (1/32 of the keys each).
const LEADER_BITS: u32 = 5;
/// The score saturates at ±LIMIT.
const LIMIT: i32 = 64;
/// How many more misses the frequency leaders must have had before the
/// followers take the recency rule.
const RECENCY_MARGIN: i32 = 8;

/// The duel's state.
pub(crate) struct Duel {
    mode: Admission,
    score: i32,
}

impl Duel {
    pub(crate) fn new(mode: Admission) -> Self {
        Duel { mode, score: 0 }
    }

    fn leader(h: u64) -> Option<Rule> {
        match h >> (64 - LEADER_BITS) {
            0 => Some(Rule::Recency),
            1 => Some(Rule::Frequency),
            _ => None,
        }
    }

    /// The rule for the key with (policy) hash `h`.
    #[inline]
    pub(crate) fn rule(&self, h: u64) -> Rule {
        match self.mode {
            Admission::Recency => Rule::Recency,
            Admission::Frequency => Rule::Frequency,
            Admission::Duel => Self::leader(h).unwrap_or(self.follow()),
        }
    }

    /// The followers' rule now.
    pub(crate) fn follow(&self) -> Rule {
        if self.score < -RECENCY_MARGIN {
            Rule::Recency
        } else {
            Rule::Frequency
        }
    }

    /// Records a miss on the key with hash `h`.
    #[inline]
    pub(crate) fn on_miss(&mut self, h: u64) {
        match Self::leader(h) {
            Some(Rule::Recency) => self.score = (self.score + 1).min(LIMIT),
            Some(Rule::Frequency) => self.score = (self.score - 1).max(-LIMIT),
            None => {}
        }
    }

    /// Back to the undecided start (the frequency rule).
    pub(crate) fn clear(&mut self) {
        self.score = 0;
    }
}

// Not under Miri: see `mod tests` in policy/mod.rs.
#[cfg(all(test, not(miri)))]
mod tests {
    use super::*;

    const RECENCY_LEADER: u64 = 0x0123_4567_89ab_cdef >> LEADER_BITS;
    const FREQUENCY_LEADER: u64 = RECENCY_LEADER | (1 << (64 - LEADER_BITS));
    const FOLLOWER: u64 = u64::MAX;

    #[test]
    fn leaders_are_pinned_and_followers_follow_fewer_misses() {
        let mut d = Duel::new(Admission::Duel);
        assert_eq!(d.rule(RECENCY_LEADER), Rule::Recency);
        assert_eq!(d.rule(FREQUENCY_LEADER), Rule::Frequency);
        assert_eq!(d.rule(FOLLOWER), Rule::Frequency, "undecided: frequency");
        for _ in 0..RECENCY_MARGIN {
            d.on_miss(FREQUENCY_LEADER);
        }
        assert_eq!(
            d.rule(FOLLOWER),
            Rule::Frequency,
            "recency must win by the margin"
        );
        d.on_miss(FREQUENCY_LEADER);
        assert_eq!(d.rule(FOLLOWER), Rule::Recency);
        assert_eq!(d.rule(FREQUENCY_LEADER), Rule::Frequency);
        for _ in 0..10 {
            d.on_miss(RECENCY_LEADER);
        }
        assert_eq!(d.rule(FOLLOWER), Rule::Frequency);
        assert_eq!(d.rule(RECENCY_LEADER), Rule::Recency);
    }

    #[test]
    fn score_saturates_so_it_can_turn_back() {
        let mut d = Duel::new(Admission::Duel);
        for _ in 0..100_000 {
            d.on_miss(RECENCY_LEADER);
        }
        for _ in 0..=LIMIT + RECENCY_MARGIN {
            d.on_miss(FREQUENCY_LEADER);
        }
        assert_eq!(d.rule(FOLLOWER), Rule::Recency);
        // and the other way
        for _ in 0..100_000 {
            d.on_miss(FREQUENCY_LEADER);
        }
        for _ in 0..=LIMIT - RECENCY_MARGIN {
            d.on_miss(RECENCY_LEADER);
        }
        assert_eq!(d.rule(FOLLOWER), Rule::Frequency);
    }

    #[test]
    fn fixed_modes_ignore_the_score() {
        let mut d = Duel::new(Admission::Recency);
        for _ in 0..100 {
            d.on_miss(RECENCY_LEADER);
        }
        assert_eq!(d.rule(FREQUENCY_LEADER), Rule::Recency);
        assert_eq!(
            Duel::new(Admission::Frequency).rule(RECENCY_LEADER),
            Rule::Frequency
        );
    }
}
