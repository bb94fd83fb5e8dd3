#!/usr/bin/env bash
# AddressSanitizer (with LeakSanitizer) over evacmap's concurrency tests.
#
#   scripts/asan.sh                 # tests/panics.rs and tests/reentrancy.rs
#   scripts/asan.sh drops memory    # ... plus tests/drops.rs and tests/memory.rs
#   scripts/asan.sh -- storm        # after `--`: test-harness arguments
#
# Catches use-after-free (an entry or table freed while a reader can still
# reach it), double frees and heap overflows; LeakSanitizer reports memory
# that is unreachable at exit (a leaked entry, table or overflow bucket).
# crossbeam-epoch's global collector keeps its garbage reachable from a
# static, so garbage not yet collected at exit is not reported as a leak.
# std is rebuilt with the sanitizer (-Zbuild-std, needs rust-src);
# RUSTDOCFLAGS must match. Uses its own target dir.
set -euo pipefail
# Sanitizers and Miri are slow to print a panic: give the tests' watchdogs room.
export EVACMAP_WATCHDOG_SECS="${EVACMAP_WATCHDOG_SECS:-120}"
cd "$(dirname "$0")/.."

rustup +nightly component add rust-src >/dev/null
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target-asan}"
export RUSTFLAGS="${RUSTFLAGS:-} -Zsanitizer=address"
export RUSTDOCFLAGS="${RUSTDOCFLAGS:-} -Zsanitizer=address"
# allocator_may_return_null: an impossible allocation returns null as with the
# system allocator (tests/bad_input.rs checks that try_reserve reports it).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=1:allocator_may_return_null=1}"
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

echo "RUSTFLAGS=$RUSTFLAGS ASAN_OPTIONS=$ASAN_OPTIONS"
time cargo +nightly test -j "$jobs" -Zbuild-std --target x86_64-unknown-linux-gnu \
    -p evacmap "${args[@]}" -- "${harness[@]}"
