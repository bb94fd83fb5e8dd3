#!/usr/bin/env bash
# ThreadSanitizer over evacmap's concurrency tests.
#
#   scripts/tsan.sh                   # tests/panics.rs and tests/reentrancy.rs
#   scripts/tsan.sh linearizability   # ... plus tests/linearizability.rs
#   scripts/tsan.sh -- storm          # after `--`: test-harness arguments
#
# std is rebuilt with the sanitizer (-Zbuild-std, needs rust-src), so its
# atomics and locks are instrumented too; RUSTDOCFLAGS must match or doctests
# fail with an ABI mismatch. crossbeam-epoch detects TSan (cfg sanitize) and
# avoids the fences TSan cannot model, so correct code runs clean. A report
# makes the run fail (halt_on_error). Uses its own target dir; the first
# build takes a few minutes.
set -euo pipefail
# Sanitizers and Miri are slow to print a panic: give the tests' watchdogs room.
export EVACMAP_WATCHDOG_SECS="${EVACMAP_WATCHDOG_SECS:-120}"
cd "$(dirname "$0")/.."

rustup +nightly component add rust-src >/dev/null
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target-tsan}"
export RUSTFLAGS="${RUSTFLAGS:-} -Zsanitizer=thread"
export RUSTDOCFLAGS="${RUSTDOCFLAGS:-} -Zsanitizer=thread"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1 second_deadlock_stack=1}"
# The tests' own sizes are meant for plain debug builds; TSan is ~5-15x slower.
jobs="${JOBS:-2}"

tests=(panics reentrancy)
harness=()
while (($#)); do
    if [[ "$1" == "--" ]]; then
        shift
        harness=("$@")
        break
    fi
    tests+=("$1")
    shift
done
args=()
for t in "${tests[@]}"; do
    args+=(--test "$t")
done

echo "RUSTFLAGS=$RUSTFLAGS TSAN_OPTIONS=$TSAN_OPTIONS"
time cargo +nightly test -j "$jobs" -Zbuild-std --target x86_64-unknown-linux-gnu \
    -p evacmap "${args[@]}" -- "${harness[@]}"
