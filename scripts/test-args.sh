# Sourced by scripts/miri.sh and scripts/sanitize.sh: the command line they
# share, and the nightly components they need.
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

# need_nightly COMPONENT...: adds the named components to the nightly
# toolchain, installing nightly first (minimal profile) if it is missing; a
# nightly already here is kept as it is, not updated. Stops the script with a
# message that says what could not be installed.
need_nightly() {
    if rustup run nightly rustc -V >/dev/null 2>&1; then
        rustup component add --toolchain nightly "$@" >/dev/null 2>&1 && return
    else
        local with=()
        for c in "$@"; do with+=(--component "$c"); done
        rustup toolchain install nightly --profile minimal "${with[@]}" >/dev/null 2>&1 && return
    fi
    echo "error: could not install the nightly toolchain's components: $*" >&2
    echo "       (try: rustup toolchain install nightly --component ${*// /,})" >&2
    exit 1
}
