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
# The shared body is scripts/sanitize.sh.
set -euo pipefail
# allocator_may_return_null: an impossible allocation returns null as with the
# system allocator (tests/bad_input.rs checks that try_reserve reports it).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=1:allocator_may_return_null=1}"
exec bash "$(dirname "$0")/sanitize.sh" address "$@"
