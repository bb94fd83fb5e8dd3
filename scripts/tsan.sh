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
# The shared body is scripts/sanitize.sh.
set -euo pipefail
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1 second_deadlock_stack=1}"
exec bash "$(dirname "$0")/sanitize.sh" thread "$@"
