#!/usr/bin/env bash
# Runs the whole benchmark suite, one bench at a time, then regenerates the
# tables of BENCHMARKS.md and the charts docs/bench-throughput.png and
# docs/cache-throughput.png.
#
#   scripts/bench_run.sh                 # full run (about 25 minutes on 2 cores)
#   EVACMAP_BENCH_QUICK=1 scripts/bench_run.sh   # smoke run; results go under the target dir
#   scripts/bench_run.sh concurrent skew # only these benches (then report + chart)
#
# Environment: CARGO_TARGET_DIR (default target), EVACMAP_BENCH_MAPS,
# EVACMAP_BENCH_THREADS (see benches/common/mod.rs), MAX_LOAD (default 1.0)
# and MAX_WAIT (seconds, default 600): before each bench, wait up to MAX_WAIT
# for the 1-minute load average to fall under MAX_LOAD, then run anyway (each
# result file records the load at its start and end).
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
export CARGO_TARGET_DIR="$target"
max_load="${MAX_LOAD:-1.0}"
max_wait="${MAX_WAIT:-600}"
benches=("$@")
[ ${#benches[@]} -eq 0 ] && benches=(evacmap concurrent skew pauses memory iteration cache cache_memory)
if [ -n "${EVACMAP_BENCH_QUICK:-}" ] && [ "${EVACMAP_BENCH_QUICK}" != 0 ]; then
    results="$target/evacmap-bench-quick"
    prefix="EVACMAP_BENCH_QUICK=1 "
else
    results="benches/results"
    prefix=""
fi
logs="$target/bench-logs"
mkdir -p "$logs" "$results"

load1() { cut -d' ' -f1 /proc/loadavg; }
wait_quiet() {
    local waited=0
    while awk -v l="$(load1)" -v m="$max_load" 'BEGIN { exit !(l >= m) }'; do
        if [ $waited -ge "$max_wait" ]; then
            echo "  load still $(load1) after ${waited}s; running anyway" >&2
            return
        fi
        sleep 10
        waited=$((waited + 10))
    done
    [ $waited -gt 0 ] && echo "  waited ${waited}s for load < $max_load" >&2
    return 0
}

cargo bench --no-run >/dev/null 2>&1 || cargo bench --no-run
for b in "${benches[@]}"; do
    wait_quiet
    echo "=== $b (load $(load1), $(date +%T))" >&2
    start=$(date +%s)
    load_start=$(load1)
    cargo bench --bench "$b" > "$logs/$b.log" 2>&1 || { tail -20 "$logs/$b.log"; exit 1; }
    if [ "$b" = evacmap ]; then
        EVACMAP_BENCH_COMMAND="${prefix}cargo bench --bench evacmap" \
        EVACMAP_BENCH_LOAD_START="$load_start" \
            python3 scripts/bench_report.py collect --out "$results" --since "$start"
    fi
    echo "    done in $(( $(date +%s) - start )) s, load $(load1)" >&2
done

python3 scripts/bench_report.py tables --results "$results" > "$logs/tables.md"
if [ "$results" = benches/results ]; then
    python3 scripts/bench_report.py tables --results "$results" --write BENCHMARKS.md
    python3 scripts/bench_chart.py --results "$results" --out docs/bench-throughput.png \
        --cache-out docs/cache-throughput.png
else
    python3 scripts/bench_chart.py --results "$results" --out "$logs/bench-throughput.png" \
        --cache-out "$logs/cache-throughput.png"
    echo "quick results: $results; tables: $logs/tables.md" >&2
fi
