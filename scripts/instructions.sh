#!/usr/bin/env bash
# Instructions per single-thread operation, counted by callgrind (repeatable
# on a noisy machine, unlike time): benches/instructions.rs.
#
#   scripts/instructions.sh [maps...]        (default: std evacmap evacmap-pin dashmap papaya-pin scc)
#   OPS="get_hit insert" ENTRIES=10000 N=20000 scripts/instructions.sh evacmap
#   PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 scripts/instructions.sh
#       (another allocator for every map: Debian's libjemalloc2 / libmimalloc2.0)
#
# Prints a table: instructions per operation inside the counted loop.
set -euo pipefail
cd "$(dirname "$0")/.."
maps=("$@")
[ ${#maps[@]} -gt 0 ] || maps=(std evacmap evacmap-pin dashmap papaya-pin scc)
ops=(${OPS:-get_hit get_miss insert remove update})
entries=${ENTRIES:-10000}
n=${N:-20000}
# A fixed hash seed: the same buckets, hence the same counts, on every run.
export EVACMAP_BENCH_SEED=${EVACMAP_BENCH_SEED:-1}
cargo bench --bench instructions --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m["target"]["name"]=="instructions" and m.get("executable"):
        print(m["executable"])' > /tmp/instructions-bin.$$
bin=$(cat /tmp/instructions-bin.$$); rm -f /tmp/instructions-bin.$$
out=$(mktemp -d)
printf '%-12s' "ops/entries=$entries"; for op in "${ops[@]}"; do printf '%10s' "$op"; done; echo
for map in "${maps[@]}"; do
    printf '%-12s' "$map"
    for op in "${ops[@]}"; do
        count=$n
        [[ $op == insert || $op == remove ]] && count=$entries
        LD_PRELOAD=${PRELOAD:-} valgrind --tool=callgrind --toggle-collect='*measured*' \
            --callgrind-out-file="$out/cg" "$bin" "$map" "$op" "$entries" "$count" >/dev/null 2>"$out/log"
        total=$(grep -E '^(summary|totals):' "$out/cg" | tail -1 | awk '{print $2}')
        printf '%10.1f' "$(echo "$total / $count" | bc -l)"
    done
    echo
done
rm -rf "$out"
