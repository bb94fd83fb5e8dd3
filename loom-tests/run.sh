#!/usr/bin/env bash
# Runs evacmap's loom models (loom-tests/tests/models.rs), each under its own
# preemption bound, one at a time, and fails if any model fails.
#
#   bash loom-tests/run.sh                 # the whole suite (2.5-4.5 min on 2 cores)
#   bash loom-tests/run.sh clear_vs_get    # some models, at their bounds
#   LOOM_QUICK=1 bash loom-tests/run.sh    # bounds capped at 2 (~1 min)
#   LOOM_TARGET_DIR=... bash loom-tests/run.sh   # another target directory
#
# The bounds below were chosen so that the suite takes a few minutes on a
# 2-core machine; each model prints its executions and seconds. Measured
# (2 shared cores, load ~6): executions / seconds per model
#   get_vs_first_insert 240 k / 30   get_vs_reinsert     44 k / 6
#   get_vs_evacuation    57 k / 9    get_vs_pending_mig 154 k / 28
#   writers_vs_reader   182 k / 53   iter_vs_migration  117 k / 22
#   iter_vs_shrink       38 k / 7    iter_vs_reinsert    96 k / 15
#   remove_vs_held_ref   21 k / 3    clear_vs_get       409 k / 84
#   help_vs_reader       19 k / 4    total 262 s
# A model that finds a bug panics with loom's message and the process aborts (SIGABRT,
# exit 134, because crossbeam's thread-local teardown then touches loom
# outside the model): read the *first* panic message.
#
# The build needs all three switches: --cfg loom, --cfg crossbeam_loom and the
# crate's `loom` feature (pulled in by loom-tests/Cargo.toml). RUSTFLAGS reach
# every crate of the build, so it gets its own target directory.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export RUSTFLAGS="--cfg loom --cfg crossbeam_loom"
export CARGO_TARGET_DIR="${LOOM_TARGET_DIR:-$ROOT/target-loom}"
unset LOOM_LOG # gigabytes of output on long runs

# model -> LOOM_MAX_PREEMPTIONS (executions / seconds measured on 2 cores)
MODELS=(
  "get_vs_first_insert 4"
  "get_vs_reinsert 7"
  "get_vs_evacuation 7"
  "get_in_overflow_vs_evacuation 4"
  "get_vs_pending_migration 6"
  "writers_vs_reader 1"
  "iter_vs_migration 5"
  "iter_vs_shrink 3"
  "iter_vs_reinsert 4"
  "remove_vs_held_ref 7"
  "clear_vs_get 4"
  "help_vs_reader 7"
)

want=("$@")
selected() {
  [ ${#want[@]} -eq 0 ] && return 0
  local w
  for w in "${want[@]}"; do [ "$w" = "$1" ] && return 0; done
  return 1
}

echo "== building the loom models (target dir $CARGO_TARGET_DIR)"
if ! cargo test --release -p evacmap-loom-tests --test models --no-run; then
  echo "loom-tests: build failed" >&2
  exit 1
fi

failed=()
ran=0
start=$SECONDS
for entry in "${MODELS[@]}"; do
  read -r name bound <<<"$entry"
  selected "$name" || continue
  [ -n "${LOOM_QUICK:-}" ] && [ "$bound" -gt 2 ] && bound=2
  echo "== $name (LOOM_MAX_PREEMPTIONS=$bound)"
  t0=$SECONDS
  LOOM_MAX_PREEMPTIONS=$bound cargo test --release -q -p evacmap-loom-tests --test models -- \
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
