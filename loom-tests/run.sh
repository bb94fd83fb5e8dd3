#!/usr/bin/env bash
# Runs evacmap's loom models, each under its own preemption bound, one at a
# time, and fails if any model fails: the map's (loom-tests/tests/models.rs)
# and the cache's (loom-tests/tests/cache_models.rs).
#
#   bash loom-tests/run.sh                 # every model (about 8-10 min on 2 cores)
#   bash loom-tests/run.sh map             # the map's models (about 4 min)
#   bash loom-tests/run.sh cache           # the cache's models (about 3.5 min)
#   bash loom-tests/run.sh clear_vs_get    # some models, at their bounds
#   LOOM_QUICK=1 bash loom-tests/run.sh    # bounds capped at 2 (~2 min)
#   LOOM_TARGET_DIR=... bash loom-tests/run.sh   # another target directory
#
# The bounds below were chosen so that each model takes about a minute at most
# and each set a few minutes on a 2-core machine; each model prints its
# executions and seconds. Measured (2 cores, load ~2, 2026-12-05, after
# Counters::inserts became a loom atomic, which chain scans read: the
# iteration models grew, iter_vs_shrink from 38 k / 3 s, iter_vs_migration
# from 117 k / 7 s, iter_vs_reinsert from 96 k / 7 s): executions / seconds
#   get_vs_first_insert 240 k / 11   get_vs_reinsert     44 k / 2
#   get_vs_evacuation    57 k / 4    get_vs_pending_mig 154 k / 12
#   writers_vs_reader   189 k / 19   iter_vs_migration  569 k / 42
#   iter_vs_shrink      601 k / 63   iter_vs_reinsert   240 k / 16
#   remove_vs_held_ref   21 k / 1    clear_vs_get       409 k / 48
#   help_vs_reader       19 k / 2    get_in_overflow_vs_evacuation 22 k / 2
#   owned_pin_moved_vs_remove 16 k / 2 (1 preemption: 3 threads)
#   total 224 s (108 s before that change, same machine and day)
# and for the cache (2 cores, load ~3)
#   single_flight_success    104 k / 34   single_flight_failure     60 k / 18
#   single_flight_panic       60 k / 18   single_flight_invalidated 76 k / 20
#   single_flight_vs_insert   63 k / 17   single_flight_superseded_waiter 69 k / 28
#   get_ref_vs_evicting_insert 48 k / 16  get_vs_evicting_insert    54 k / 19
#   inserts_vs_bound          35 k / 15   expiry_vs_reinsert        51 k / 23
#   total 212 s
# A model that finds a bug panics with loom's message and the process aborts (SIGABRT,
# exit 134, because crossbeam's thread-local teardown then touches loom
# outside the model): read the *first* panic message. A lost wakeup or a
# load left registered shows as loom's "deadlock" (or, for a follower that
# goes round forever, "Model exceeded maximum number of branches").
#
# Not in the list: cache_models' loaders_vs_invalidation (three loader
# threads; 1.2 M executions / 23 min at one preemption). When changing
# src/cache/loads.rs, run it with the RUSTFLAGS and CARGO_TARGET_DIR below:
#   LOOM_MAX_PREEMPTIONS=1 cargo test --release -p evacmap-loom-tests \
#     --test cache_models -- --exact loaders_vs_invalidation --nocapture
#
# The build needs both switches, --cfg loom and --cfg crossbeam_loom (no cargo
# feature: the cfg alone pulls in loom). RUSTFLAGS reach every crate of the
# build, so it gets its own target directory.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export RUSTFLAGS="--cfg loom --cfg crossbeam_loom"
export CARGO_TARGET_DIR="${LOOM_TARGET_DIR:-$ROOT/target-loom}"
unset LOOM_LOG # gigabytes of output on long runs

# model LOOM_MAX_PREEMPTIONS test-file (executions / seconds measured on 2 cores)
MODELS=(
  "get_vs_first_insert 4 models"
  "get_vs_reinsert 7 models"
  "get_vs_evacuation 7 models"
  "get_in_overflow_vs_evacuation 4 models"
  "get_vs_pending_migration 6 models"
  "writers_vs_reader 1 models"
  "iter_vs_migration 5 models"
  "iter_vs_shrink 3 models"
  "iter_vs_reinsert 4 models"
  "remove_vs_held_ref 7 models"
  "clear_vs_get 4 models"
  "help_vs_reader 7 models"
  "owned_pin_moved_vs_remove 1 models"
  "single_flight_success 3 cache_models"
  "single_flight_failure 3 cache_models"
  "single_flight_panic 3 cache_models"
  "single_flight_invalidated 3 cache_models"
  "single_flight_vs_insert 3 cache_models"
  "single_flight_superseded_waiter 3 cache_models"
  "get_ref_vs_evicting_insert 6 cache_models"
  "get_vs_evicting_insert 6 cache_models"
  "inserts_vs_bound 6 cache_models"
  "expiry_vs_reinsert 2 cache_models"
)

want=("$@")
# A model runs if no argument is given, if it is named, or if its set is
# named ("map": tests/models.rs, "cache": tests/cache_models.rs).
selected() {
  [ ${#want[@]} -eq 0 ] && return 0
  local w set
  [ "$2" = models ] && set=map || set=cache
  for w in "${want[@]}"; do [ "$w" = "$1" ] || [ "$w" = "$set" ] && return 0; done
  return 1
}

echo "== building the loom models (target dir $CARGO_TARGET_DIR)"
if ! cargo test --release -p evacmap-loom-tests --test models --test cache_models --no-run; then
  echo "loom-tests: build failed" >&2
  exit 1
fi

failed=()
ran=0
start=$SECONDS
for entry in "${MODELS[@]}"; do
  read -r name bound file <<<"$entry"
  selected "$name" "$file" || continue
  [ -n "${LOOM_QUICK:-}" ] && [ "$bound" -gt 2 ] && bound=2
  echo "== $name (LOOM_MAX_PREEMPTIONS=$bound)"
  t0=$SECONDS
  LOOM_MAX_PREEMPTIONS=$bound cargo test --release -q -p evacmap-loom-tests --test "$file" -- \
    --exact "$name" --test-threads=1 --nocapture
  rc=$?
  ran=$((ran + 1))
  if [ $rc -ne 0 ]; then
    echo "!! $name FAILED (exit $rc; 134 = loom found a problem, see the first panic above)"
    failed+=("$name")
  fi
  echo "   $name: $((SECONDS - t0)) s"
done

if [ $ran -eq 0 ]; then
  echo "loom-tests: no model matched: $*" >&2
  exit 2
fi
echo "== $ran models in $((SECONDS - start)) s"
if [ ${#failed[@]} -ne 0 ]; then
  echo "loom-tests: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "loom-tests: all models passed"
