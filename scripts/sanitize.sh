#!/usr/bin/env bash
# The body shared by scripts/asan.sh and scripts/tsan.sh: runs evacmap's
# concurrency tests under one sanitizer. Call those scripts, not this one.
#
#   scripts/sanitize.sh <address|thread> [extra test names] [-- harness args]
#
# std is rebuilt with the sanitizer (-Zbuild-std, needs rust-src), so its
# atomics, locks and allocations are instrumented too; RUSTDOCFLAGS must
# match or doctests fail with an ABI mismatch. Each sanitizer uses its own
# target dir (target-asan, target-tsan).
set -euo pipefail
source "$(dirname "$0")/test-args.sh"
sanitizer="$1"
shift
short="${sanitizer:0:1}san" # address -> asan, thread -> tsan
# Sanitizers are slow to print a panic: give the tests' watchdogs room.
export EVACMAP_WATCHDOG_SECS="${EVACMAP_WATCHDOG_SECS:-120}"
cd "$(dirname "$0")/.."

need_nightly rust-src
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target-$short}"
export RUSTFLAGS="${RUSTFLAGS:-} -Zsanitizer=$sanitizer"
export RUSTDOCFLAGS="${RUSTDOCFLAGS:-} -Zsanitizer=$sanitizer"
jobs="${JOBS:-2}"

args=(--test panics --test reentrancy)
add_test_args "$@"

echo "RUSTFLAGS=$RUSTFLAGS ASAN_OPTIONS=${ASAN_OPTIONS:-} TSAN_OPTIONS=${TSAN_OPTIONS:-}"
time cargo +nightly test -j "$jobs" -Zbuild-std --target x86_64-unknown-linux-gnu \
    -p evacmap "${args[@]}" -- "${harness[@]}"
