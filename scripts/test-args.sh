# Sourced by scripts/miri.sh and scripts/sanitize.sh: the command line they
# share.
#
#   add_test_args "$@"
#
# Each argument before a `--` names an integration test (tests/NAME.rs) and
# is appended to the array `args` as `--test NAME`; the arguments after `--`
# go to the test harness, in the array `harness` (empty without `--`).
add_test_args() {
    harness=()
    while (($#)); do
        if [[ "$1" == "--" ]]; then
            shift
            harness=("$@")
            return
        fi
        args+=(--test "$1")
        shift
    done
}
