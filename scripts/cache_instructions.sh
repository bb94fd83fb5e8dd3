#!/usr/bin/env bash
# Instructions per read-through operation of each cache, counted by callgrind
# in benches/cache.rs's timed runs only (`--toggle-collect='*measured*'`: the
# warm-up is not counted): repeatable on a noisy machine, unlike time.
#
#   scripts/cache_instructions.sh [caches...]    (default: evacmap quick_cache moka lru)
#   WAY=loader ZIPF=1.2 scripts/cache_instructions.sh evacmap
#
# One thread, quick mode (262,144 timed operations after a full run's warm-up
# of 1 M draws), fixed hash seed. Prints per cache: instructions per operation, per `get` (hits
# and misses) and per miss (the insert or the loader's miss work, eviction
# included) where the cache's functions can be told apart, and for evacmap
# the miss path's parts. Needs valgrind; a few minutes per cache.
set -euo pipefail
cd "$(dirname "$0")/.."
caches=("$@")
[ ${#caches[@]} -gt 0 ] || caches=(evacmap quick_cache moka lru)
way=${WAY:-get+insert}
zipf=${ZIPF:-0.99}
export EVACMAP_BENCH_SEED=${EVACMAP_BENCH_SEED:-1} EVACMAP_BENCH_QUICK=1 EVACMAP_BENCH_THREADS=1
# A full run's warm-up (the quick one leaves the policies adapting).
export EVACMAP_BENCH_CACHE_WARM=${EVACMAP_BENCH_CACHE_WARM:-1048576}
bin=$(cargo bench --bench cache --no-run --message-format=json 2>/dev/null | python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m["target"]["name"]=="cache" and m.get("executable"):
        print(m["executable"])')
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for cache in "${caches[@]}"; do
    EVACMAP_BENCH_MAPS=$cache EVACMAP_BENCH_OUT=$out valgrind --tool=callgrind --toggle-collect='*measured*' \
        --callgrind-out-file="$out/cg" "$bin" "throughput/s$zipf/$way/1" >/dev/null 2>"$out/log"
    # Run where the sources are not found: then each function is one line
    # with its inclusive count (in the repository, code inlined from other
    # files is listed apart and the function's own line undercounts).
    (cd "$out" && callgrind_annotate --inclusive=yes --auto=no cg > annotate 2>/dev/null)
    python3 - "$cache" "$out/cache.json" "$out/annotate" <<'PY'
import json, re, sys
cache, result, annotate = sys.argv[1:]
row = next(r for r in json.load(open(result))["rows"] if r["bench"] == "throughput")
text = open(annotate).read()
total = int(re.search(r"([\d,]+) \(100.0%\)\s+PROGRAM TOTALS", text).group(1).replace(",", ""))
ops = json.load(open(result))["params"]["ops_per_run"]
misses = ops * (1 - row["hit_ratio"])

def incl(pattern):
    """Inclusive count of the function matching `pattern` (its own symbol
    line, not code inlined into it; the largest if several match)."""
    counts = []
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S.*)", line)
        if m and re.search(pattern, m.group(2)) and " [" in m.group(2):
            counts.append(int(m.group(1).replace(",", "")))
    return max(counts) if counts else None

print(f"{cache:12} {row['path']:10} Zipf {row['zipf_s']}: {total / ops:7.1f} instructions/op, hits {100 * row['hit_ratio']:.1f} %")
parts = {
    "evacmap": [("get (hits and misses), per get", r"BenchCache>::get \[", ops),
                ("miss: Cache::insert, per miss", r"Core<K,V,S,T>::insert \[", misses),
                ("miss: loader, per miss", r"Core<K,V,S,T>::finish_load \[", misses),
                ("hit: loader lookup, per op", r"Core<K,V,S,T>::loader_lookup \[", ops),
                ("  map publish (new entry)", r"HashMap<K,V,S>>::publish \[", misses),
                ("  policy: place (on_insert)", r"Session<K,V,S,T>::place \[", misses),
                ("  policy: evict", r"Policy::evict \[", misses),
                ("    small queue exit (leave_small)", r"Policy::leave_small \[", misses),
                ("    CLOCK victim (main)", r"Clock::victim \[", misses),
                ("    map removal of the evicted", r"MapStore<K,V,S,T> as evacmap::cache::policy::Store>::evict \[", misses),
                ("  removal records (Removals::deliver)", r"Removals<K,V,T>::deliver \[", misses)],
    "quick_cache": [("get (hits and misses), per get", r"sync::Cache<Key,Val,We,B,L>::get \[", ops),
                    ("miss: insert, per miss", r"sync::Cache<Key,Val,We,B,L>::insert \[", misses),
                    ("get_or_insert_with, per op", r"get_or_insert_with \[", ops)],
}
for label, pattern, per in parts.get(cache, []):
    n = incl(pattern)
    if n is not None:
        print(f"    {label:40} {n / per:8.1f}")
PY
done
