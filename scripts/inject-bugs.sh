#!/usr/bin/env bash
# Injected bugs, caught: every bug of scripts/inject-bugs.toml, applied at its
# `// inject: <name>` markers in a copy of the source, must make a loom model,
# a release test or Miri fail. The runner is scripts/inject_bugs.py (Python
# 3.11+, standard library only); this wrapper keeps the command line callers
# use:
#
#   scripts/inject-bugs.sh                  # every bug, then the baseline
#   scripts/inject-bugs.sh free-immediately # some bugs (names from --list)
#   scripts/inject-bugs.sh --list           # the bugs, their marked sites and checks
#   scripts/inject-bugs.sh --check-markers  # only check that the markers resolve (CI)
#   scripts/inject-bugs.sh --all-checks ... # every check of a bug, not just up to
#                                           # the first that fails
#   scripts/inject-bugs.sh --no-baseline ...
#   scripts/inject-bugs.sh -h               # the full description
exec python3 "$(dirname "${BASH_SOURCE[0]}")/inject_bugs.py" "$@"
