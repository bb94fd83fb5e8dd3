//! A per-key linearizability checker (Wing & Gong / Lowe), shared by the
//! map's and the cache's concurrency tests: each key is a register (absent or
//! one value); every recorded operation is a [`Transition`] of it with a
//! start and end tick from one shared counter; [`check_history`] searches,
//! key by key, for an order consistent with real time that explains every
//! result. See `tests/linearizability.rs` for how histories are recorded and
//! for the checker's own tests.

use std::collections::HashSet;
use std::fmt;

// ---------------------------------------------------------------------------
// The model: a register per key, and what each recorded operation did to it.
// ---------------------------------------------------------------------------

/// `remove_if` removes values for which this holds.
pub fn remove_if_pred(v: u64) -> bool {
    v % 3 == 0
}

/// `retain` keeps values for which this holds.
pub fn retain_keep(v: u64) -> bool {
    v % 4 != 0
}

/// What an operation, given its recorded result, does to its key's register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Takes effect only if the register is `pre`, and leaves it `post`.
    /// (insert, remove, get, update, compute, remove_if that removed,
    /// get_or_insert_with.)
    Exact { pre: Option<u64>, post: Option<u64> },
    /// `remove_if` that removed nothing: the key was absent, or its value did
    /// not satisfy the predicate. No change.
    RemoveIfRefused,
    /// `clear`: whatever the value, the key is absent afterwards.
    Clear,
    /// `retain`: a value `retain_keep` rejects may be removed; otherwise (or
    /// if the retain did not get to it) no change.
    Retain,
    /// A write whose result does not say what it replaced (the cache's
    /// `insert`, `invalidate`): whatever the value, it is `post` afterwards.
    Set(Option<u64>),
}

impl Transition {
    /// The register values this operation can leave, applied to `state`
    /// (empty: it cannot take effect now).
    fn apply(self, state: Option<u64>, out: &mut Vec<Option<u64>>) {
        out.clear();
        match self {
            Transition::Exact { pre, post } => {
                if state == pre {
                    out.push(post);
                }
            }
            Transition::RemoveIfRefused => match state {
                Some(v) if remove_if_pred(v) => {}
                _ => out.push(state),
            },
            Transition::Clear => out.push(None),
            Transition::Set(post) => out.push(post),
            Transition::Retain => {
                out.push(state);
                if let Some(v) = state {
                    if !retain_keep(v) {
                        out.push(None);
                    }
                }
            }
        }
    }
}

/// The key of whole-map operations (`clear`, `retain`).
pub const ALL_KEYS: u64 = u64::MAX;

#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Rec {
    pub start: u64,
    pub end: u64,
    pub key: u64,
    pub tr: Transition,
    /// What was called, for failure reports.
    pub what: &'static str,
}

impl fmt::Debug for Rec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = if self.key == ALL_KEYS {
            "*".to_string()
        } else {
            self.key.to_string()
        };
        write!(
            f,
            "[{:>8}..{:>8}] key {key} {} {:?}",
            self.start, self.end, self.what, self.tr
        )
    }
}

// ---------------------------------------------------------------------------
// The checker.
// ---------------------------------------------------------------------------

/// Checks one key's history: `threads[t]` is thread t's operations on this
/// key (whole-map ones included), in program order. The register starts
/// absent. Returns a report of the furthest point reached on failure.
pub fn check_key(key: u64, threads: &[Vec<Rec>]) -> Result<(), String> {
    let n = threads.len();
    let done = |idx: &[u32]| (0..n).all(|t| idx[t] as usize == threads[t].len());
    let mut visited: HashSet<(Box<[u32]>, Option<u64>)> = HashSet::new();
    let mut stack: Vec<(Box<[u32]>, Option<u64>)> = vec![(vec![0u32; n].into(), None)];
    let mut best: (usize, Box<[u32]>, Option<u64>) = (0, vec![0u32; n].into(), None);
    let mut posts = Vec::with_capacity(2);
    while let Some((idx, value)) = stack.pop() {
        if done(&idx) {
            return Ok(());
        }
        if !visited.insert((idx.clone(), value)) {
            continue;
        }
        let progress: usize = idx.iter().map(|&i| i as usize).sum();
        if progress > best.0 {
            best = (progress, idx.clone(), value);
        }
        // An operation may take effect next only if no other pending
        // operation finished before it started: its start must precede the
        // earliest end among every thread's next operation.
        let min_end = (0..n)
            .filter_map(|t| threads[t].get(idx[t] as usize))
            .map(|r| r.end)
            .min()
            .expect("not done");
        for t in 0..n {
            let Some(rec) = threads[t].get(idx[t] as usize) else {
                continue;
            };
            if rec.start > min_end {
                continue;
            }
            rec.tr.apply(value, &mut posts);
            for &post in &posts {
                let mut next = idx.clone();
                next[t] += 1;
                if !visited.contains(&(next.clone(), post)) {
                    stack.push((next, post));
                }
            }
        }
    }
    // Not linearizable: show where the search got stuck.
    let (_, idx, value) = best;
    let mut report = format!(
        "key {key} is not linearizable. Furthest consistent prefix: per-thread progress {idx:?}, \
         register {value:?}. Operations around it:\n"
    );
    for t in 0..n {
        let i = idx[t] as usize;
        report += &format!("  thread {t}:\n");
        let from = i.saturating_sub(4);
        for (j, rec) in threads[t].iter().enumerate().skip(from).take(i + 4 - from) {
            let mark = if j == i { "->" } else { "  " };
            report += &format!("    {mark} #{j} {rec:?}\n");
        }
    }
    Err(report)
}

/// Splits a whole history (one `Vec<Rec>` per thread) by key, whole-map
/// operations going to every key, and checks each key.
pub fn check_history(keys: u64, history: &[Vec<Rec>]) -> Result<(), String> {
    let mut per_key: Vec<Vec<Vec<Rec>>> =
        (0..keys).map(|_| vec![Vec::new(); history.len()]).collect();
    for (t, ops) in history.iter().enumerate() {
        for rec in ops {
            if rec.key == ALL_KEYS {
                for k in per_key.iter_mut() {
                    k[t].push(*rec);
                }
            } else {
                per_key[rec.key as usize][t].push(*rec);
            }
        }
    }
    for (key, threads) in per_key.iter().enumerate() {
        check_key(key as u64, threads)?;
    }
    Ok(())
}
