#!/usr/bin/env python3
"""Turns the benchmark results into the ratio tables of BENCHMARKS.md.

    scripts/bench_report.py collect [--criterion DIR] [--out DIR] [--since UNIXTIME]
        Reads criterion's estimates for the single-thread bench (benches/evacmap.rs)
        from DIR (default: $CARGO_TARGET_DIR/criterion, else target/criterion) and
        writes OUT/single_thread.json (default OUT: benches/results), skipping
        results older than --since (left over from earlier runs).

    scripts/bench_report.py tables [--results DIR] [--write BENCHMARKS.md]
        Prints the markdown tables (ratios evacmap / peer) built from DIR/*.json
        (default benches/results). With --write, replaces each block between
        `<!-- BEGIN name -->` and `<!-- END name -->` in that file.

The cache's tables (benches/results/cache.json and cache_memory.json, from
benches/cache.rs and benches/cache_memory.rs) go to the `cache-*` blocks.

Ratios always read "higher is better for evacmap" for throughput (evacmap
throughput / peer throughput) and are stated as evacmap / peer for latency and
bytes, where lower is better; every table says which.
"""

import argparse
import glob
import json
import os
import re
import sys
import time

RESULTS = "benches/results"
# The per-call peers: evacmap's `get` (one pin per call) is compared with these.
PEERS = ["dashmap", "papaya", "papaya-blocking", "scc", "rwlock-std"]
# The peers of evacmap through a pinned handle (`evacmap-pin`): the per-call
# ones plus papaya through its own pinned handle.
PIN_PEERS = ["dashmap", "papaya", "papaya-blocking", "papaya-pin", "scc", "rwlock-std"]
# The cells of the concurrent targets: every map start at 1, 2 and 4 threads.
CONC_CELLS = [(v, t) for v in ["presized", "empty"] for t in [1, 2, 4]]


def size_key(s):
    """'10k' -> 10000, '1M' -> 1000000."""
    return float(s[:-1]) * {"k": 1e3, "M": 1e6}.get(s[-1], 1) if s[-1] in "kM" else float(s)


def load(results, name):
    path = os.path.join(results, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def fmt(x, digits=2):
    if x is None:
        return "–"
    if isinstance(x, float) and (x != x):
        return "–"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def rfmt(r, good_above=True, target=None):
    """A ratio, bold when it meets `target` (if given)."""
    if r is None:
        return "–"
    s = f"{r:.2f}×"
    if target is not None:
        ok = r >= target if good_above else r <= target
        s = f"**{s}**" if ok else s
    return s


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def meta_line(doc):
    if doc is None:
        return ""
    la0 = doc.get("loadavg_start", [None])[0]
    la1 = doc.get("loadavg_end", [None])[0]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(doc.get("unix_time", 0)))
    preload = doc.get("ld_preload")
    command = f"LD_PRELOAD={preload} {doc['command']}" if preload else doc["command"]
    return (
        f"Command: `{command}` ({when}, git `{doc['machine'].get('git', '?')}`, "
        f"{doc['wall_seconds']:.0f} s; 1-min load average {fmt(la0)} at start, {fmt(la1)} at end)."
    )


# ------------------------------------------------------------- collect ----


def collect(args):
    crit = args.criterion or os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "criterion")
    rows = []
    for bench in glob.glob(os.path.join(crit, "**", "new", "benchmark.json"), recursive=True):
        with open(bench) as f:
            b = json.load(f)
        with open(os.path.join(os.path.dirname(bench), "estimates.json")) as f:
            e = json.load(f)
        group = b["group_id"]
        if "/" not in group or os.path.getmtime(bench) < args.since:
            continue
        op, size = group.split("/", 1)
        est = e.get("slope") or e["mean"]
        rows.append(
            {
                "op": op,
                "size": size,
                "map": b.get("value_str") or b.get("function_id"),
                "ns": est["point_estimate"],
                "ns_lo": est["confidence_interval"]["lower_bound"],
                "ns_hi": est["confidence_interval"]["upper_bound"],
                "ns_median": e["median"]["point_estimate"],
                "mtime": os.path.getmtime(bench),
            }
        )
    if not rows:
        sys.exit(f"no criterion results under {crit}")
    rows.sort(key=lambda r: (r["op"], r["size"], r["map"]))
    out = args.out or RESULTS
    os.makedirs(out, exist_ok=True)
    first = min(r["mtime"] for r in rows)
    last = max(r["mtime"] for r in rows)
    doc = {
        "bench": "evacmap",
        "command": os.environ.get("EVACMAP_BENCH_COMMAND", "cargo bench --bench evacmap"),
        "machine": machine(),
        "unix_time": int(last),
        "wall_seconds": last - first,
        "loadavg_start": [float(os.environ.get("EVACMAP_BENCH_LOAD_START", "nan"))],
        "loadavg_end": [os.getloadavg()[0]],
        "params": {"statistic": "criterion slope estimate (ns per operation)"},
        "rows": rows,
    }
    path = os.path.join(out, "single_thread.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
    print(f"wrote {path} ({len(rows)} benchmarks)")


def machine():
    model = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    git = os.environ.get("EVACMAP_BENCH_GIT") or os.popen("git describe --always --dirty 2>/dev/null").read().strip()
    return {"cpu": model, "cores": os.cpu_count(), "git": git}


# -------------------------------------------------------------- tables ----


def single_table(doc):
    if doc is None:
        return "(no results: run `cargo bench --bench evacmap`, then `scripts/bench_report.py collect`)", {}
    ns = {(r["op"], r["size"], r["map"]): r["ns"] for r in doc["rows"]}
    ops = ["get_hit", "get_miss", "insert", "remove", "update"]
    sizes = sorted({r["size"] for r in doc["rows"]}, key=size_key)
    peers = ["std", "dashmap", "papaya", "papaya-pin", "scc", "rwlock-std"]
    header = ["operation", "size", "evacmap ns/op", "evacmap-pin ns/op", "std ns/op"] + [
        f"vs {p}" for p in peers
    ]
    rows = []
    for size in sizes:
        for op in ops:
            e = ns.get((op, size, "evacmap"))
            if e is None:
                continue
            row = [op.replace("_", " "), size, fmt(e, 1), fmt(ns.get((op, size, "evacmap-pin")), 1), fmt(ns.get((op, size, "std")), 1)]
            for p in peers:
                # throughput ratio = peer time / evacmap time
                row.append(rfmt(ratio(ns.get((op, size, p)), e)))
            rows.append(row)
    text = table(header, rows)
    extra = []
    for size in sizes:
        for m in ["evacmap-blocking", "papaya-blocking"]:
            if ("insert", size, m) in ns:
                extra.append(f"{m} insert/{size}: {fmt(ns[('insert', size, m)], 1)} ns")
    if extra:
        text += "\n\nInsert with blocking resizes: " + "; ".join(extra) + "."
    return text, ns


def best_peer(mops, w, v, t, peers):
    """(Mops/s, name) of the fastest of `peers` in one concurrent cell, or (None, None)."""
    best = (None, None)
    for p in peers:
        m = mops.get((w, v, t, p))
        if m is not None and (best[0] is None or m > best[0]):
            best = (m, p)
    return best


def concurrent_table(doc):
    if doc is None:
        return "(no results: run `cargo bench --bench concurrent`)", {}
    mops = {(r["workload"], r["variant"], r["threads"], r["map"]): r["mops"] for r in doc["rows"]}
    keys = []
    for r in doc["rows"]:
        k = (r["workload"], r["variant"], r["threads"])
        if k not in keys:
            keys.append(k)
    # "vs X": evacmap's `get` over X (papaya-pin included, as in §1 and §3);
    # "vs best peer" over the per-call peers only, "pin vs best peer" is
    # evacmap-pin over the best of PIN_PEERS. Bold: the cell meets its
    # target (see targets_table).
    shown = ["dashmap", "papaya", "papaya-blocking", "papaya-pin", "scc", "rwlock-std"]
    header = (
        ["workload", "map start", "threads", "evacmap Mops/s", "evacmap-blocking Mops/s", "evacmap-pin Mops/s"]
        + [f"vs {p}" for p in shown]
        + ["vs best peer", "pin vs best peer"]
    )
    rows = []
    for w, v, t in keys:
        e = mops.get((w, v, t, "evacmap"))
        ep = mops.get((w, v, t, "evacmap-pin"))
        row = [w, v, t, fmt(e), fmt(mops.get((w, v, t, "evacmap-blocking"))), fmt(ep)]
        for p in shown:
            row.append(rfmt(ratio(e, mops.get((w, v, t, p))), target=1.0 if p == "papaya" else None))
        row.append(rfmt(ratio(e, best_peer(mops, w, v, t, PEERS)[0]), target=0.8 if w in ("Exchange", "RapidGrow") else None))
        row.append(rfmt(ratio(ep, best_peer(mops, w, v, t, PIN_PEERS)[0]), target=1.3 if w == "ReadHeavy" else None))
        rows.append(row)
    return table(header, rows), mops


def skew_table(doc):
    if doc is None:
        return "(no results: run `cargo bench --bench skew`)", {}
    mops = {(r["threads"], r["map"]): r["mops"] for r in doc["rows"]}
    threads = sorted({r["threads"] for r in doc["rows"]})
    peers = ["dashmap", "papaya", "papaya-pin", "scc", "rwlock-std"]
    header = ["threads", "evacmap via", "Mops/s"] + [f"vs {p}" for p in peers]
    rows = []
    for t in threads:
        for m, label in [("evacmap", "`get`"), ("evacmap-pin", "`pin()`")]:
            e = mops.get((t, m))
            rows.append([t, label, fmt(e)] + [rfmt(ratio(e, mops.get((t, p)))) for p in peers])
    return table(header, rows), mops


def pauses_table(doc):
    if doc is None:
        return "(no results: run `cargo bench --bench pauses`)", {}
    by = {r["map"]: r for r in doc["rows"]}
    e = by.get("evacmap")
    header = ["map", "worst insert", "p99.9", "p99", "median", "total", "worst (wall clock)", "evacmap worst / this", "evacmap p99.9 / this"]
    rows = []

    def us(ns):
        return f"{ns / 1000:.1f} µs" if ns < 1e6 else f"{ns / 1e6:.2f} ms"

    for m, r in by.items():
        rows.append(
            [
                m,
                us(r["max_ns"]),
                us(r["p999_ns"]),
                us(r["p99_ns"]),
                f"{r['p50_ns']:.0f} ns",
                f"{r['total_s']:.2f} s",
                us(r["max_ns_wall"]),
                rfmt(ratio(e["max_ns"], r["max_ns"])) if e else "–",
                rfmt(ratio(e["p999_ns"], r["p999_ns"])) if e else "–",
            ]
        )
    return table(header, rows), by


def memory_table(doc):
    if doc is None:
        return "(no results: run `cargo bench --bench memory`)", {}
    by = {r["map"]: r for r in doc["rows"]}
    n = doc["params"]["entries"]
    e = by.get("evacmap")
    header = [
        "map",
        "bytes/entry (requested)",
        "bytes/entry (malloc usable)",
        "empty map",
        "after removing all (+ shrink)",
        "shrink call",
        "after clear",
        "evacmap / this, bytes/entry",
    ]
    rows = []

    def b(x):
        x = x["requested"]
        if abs(x) < 10_000:
            return f"{x} B"
        if abs(x) < 10_000_000:
            return f"{x / 1024:.1f} KiB"
        return f"{x / 1048576:.1f} MiB"

    for m, r in by.items():
        rows.append(
            [
                m,
                f"{r['bytes_per_entry']['requested']:.1f}",
                f"{r['bytes_per_entry']['usable']:.1f}",
                b(r["empty"]),
                b(r["after_remove_all"]),
                f"`{r['shrink']}`",
                b(r["after_clear"]),
                rfmt(ratio(e["bytes_per_entry"]["requested"], r["bytes_per_entry"]["requested"])) if e else "–",
            ]
        )
    return table(header, rows) + f"\n\n(at {n:,} u64 → u64 entries; \"requested\" counts the sizes asked of the allocator, \"malloc usable\" what glibc hands out.)", by


def iteration_table(doc):
    if doc is None:
        return "(no results: run `cargo bench --bench iteration`)", {}
    by = {(r["case"], r["map"]): r for r in doc["rows"]}
    maps = []
    for r in doc["rows"]:
        if r["map"] not in maps:
            maps.append(r["map"])
    e = by.get(("writer", "evacmap"))
    header = ["map", "M entries/s, no writer", "M entries/s, writer resizing", "writer Mops/s", "iterations", "every original key seen", "evacmap / this (with writer)"]
    rows = []
    for m in maps:
        q = by.get(("quiet", m))
        w = by.get(("writer", m))
        rows.append(
            [
                m,
                fmt(q["m_entries_per_s"]) if q else "–",
                fmt(w["m_entries_per_s"]) if w else "–",
                fmt(w["writer_mops"]) if w else "–",
                w["iterations"] if w else "–",
                ("yes" if not w["missed_original_keys"] else "**NO**") if w else "–",
                rfmt(ratio(e["m_entries_per_s"], w["m_entries_per_s"])) if (e and w) else "–",
            ]
        )
    return table(header, rows), by


CACHE_PEERS = ["quick_cache", "moka", "lru"]
CACHE_LABEL = {"zipf0.99": "Zipf 0.99", "zipf1.2": "Zipf 1.2 (95 % variant)"}


def pct(x):
    return "–" if x is None else f"{100 * x:.1f} %"


def cache_throughput_table(doc, path):
    """Read-through throughput for one path ("get+insert" or "loader")."""
    if doc is None:
        return "(no results: run `cargo bench --bench cache`)", {}
    rows_in = [r for r in doc["rows"] if r.get("bench") == "throughput"]
    by = {(r["workload"], r["path"], r["threads"], r["cache"]): r for r in rows_in}
    keys = []
    for r in rows_in:
        k = (r["workload"], r["threads"])
        if r["path"] == path and k not in keys:
            keys.append(k)
    header = ["workload", "threads", "evacmap Mops/s", "hits"]
    for p in CACHE_PEERS:
        header += [f"{p} Mops/s", "hits"]
    header += [f"vs {p}" for p in CACHE_PEERS]
    rows = []
    for w, t in keys:
        e = by.get((w, path, t, "evacmap"))
        row = [CACHE_LABEL.get(w, w), t, fmt(e["mops"]) if e else "–", pct(e["hit_ratio"]) if e else "–"]
        for p in CACHE_PEERS:
            r = by.get((w, path, t, p))
            row += [fmt(r["mops"]) if r else "–", pct(r["hit_ratio"]) if r else "–"]
        for p in CACHE_PEERS:
            r = by.get((w, path, t, p))
            row.append(rfmt(ratio(e["mops"], r["mops"])) if (e and r) else "–")
        rows.append(row)
    loaders = {}
    for r in rows_in:
        if r["path"] == path:
            loaders.setdefault(r["cache"], r.get("loader"))
    text = table(header, rows)
    if path == "loader":
        text += "\n\nLoaders: " + "; ".join(f"{c} `{l}`" for c, l in loaders.items()) + "."
    return text, by


def cache_latency_table(doc):
    if doc is None:
        return "(no results: run `cargo bench --bench cache`)", {}
    rows_in = [r for r in doc["rows"] if r.get("bench") == "latency"]
    by = {(r["cache"], r["op"]): r for r in rows_in}

    def t(ns):
        if ns < 1e4:
            return f"{ns:.0f} ns"
        if ns < 1e6:
            return f"{ns / 1e3:.1f} µs"
        return f"{ns / 1e6:.2f} ms"

    header = ["op", "cache", "p50", "p99", "p99.9", "max", "ops timed", "evacmap p50 / this", "evacmap p99.9 / this"]
    rows = []
    for op in ["get", "insert"]:
        e = by.get(("evacmap", op))
        for r in rows_in:
            if r["op"] != op:
                continue
            rows.append(
                [
                    f"`{op}`",
                    r["cache"],
                    t(r["p50_ns"]),
                    t(r["p99_ns"]),
                    t(r["p999_ns"]),
                    t(r["max_ns"]),
                    f"{r['count']:,}",
                    rfmt(ratio(e["p50_ns"], r["p50_ns"])) if e else "–",
                    rfmt(ratio(e["p999_ns"], r["p999_ns"])) if e else "–",
                ]
            )
    timer = [r.get("timer_p50_ns") for r in rows_in if r.get("timer_p50_ns")]
    text = table(header, rows)
    if timer:
        text += (
            f"\n\n(One thread, Zipf 0.99 read-through on a full cache of {rows_in[0]['capacity']:,}; every `insert` "
            f"is a miss's and evicts. The clock's own cost, an empty timed region, is "
            f"{min(timer):.0f}{'' if round(min(timer)) == round(max(timer)) else f'-{max(timer):.0f}'} ns "
            "at the median and is included in every figure.)"
        )
    return text, by


def cache_async_table(doc):
    if doc is None:
        return "(no results: run `cargo bench --bench cache`)", {}
    rows_in = [r for r in doc["rows"] if r.get("bench") == "async"]
    by = {(r["threads"], r["cache"]): r for r in rows_in}
    caches = []
    for r in rows_in:
        if r["cache"] not in caches:
            caches.append(r["cache"])
    peers = [c for c in caches if c != "evacmap"]
    header = ["worker threads = tasks"]
    for c in caches:
        header += [f"{c} Mops/s", "hits"]
    header += [f"vs {p}" for p in peers]
    rows = []
    for t in sorted({r["threads"] for r in rows_in}):
        e = by.get((t, "evacmap"))
        row = [t]
        for c in caches:
            r = by.get((t, c))
            row += [fmt(r["mops"]) if r else "–", pct(r["hit_ratio"]) if r else "–"]
        for p in peers:
            r = by.get((t, p))
            row.append(rfmt(ratio(e["mops"], r["mops"])) if (e and r) else "–")
        rows.append(row)
    loaders = {r["cache"]: r["loader"] for r in rows_in}
    return table(header, rows) + "\n\nLoaders: " + "; ".join(f"{c} `{l}`" for c, l in loaders.items()) + ".", by


def cache_memory_table(doc):
    if doc is None:
        return "(no results: run `cargo bench --bench cache_memory`)", {}
    by = {r["cache"]: r for r in doc["rows"]}
    n = doc["params"]["entries"]
    e = by.get("evacmap")

    def b(x):
        x = x["requested"]
        if abs(x) < 10_000:
            return f"{x} B"
        if abs(x) < 10_000_000:
            return f"{x / 1024:.1f} KiB"
        return f"{x / 1048576:.1f} MiB"

    header = [
        "cache",
        "bytes/entry (requested)",
        "bytes/entry (malloc usable)",
        "entries held",
        "empty cache",
        "after emptying",
        "emptied with",
        "evacmap / this, bytes/entry",
    ]
    rows = []
    for c, r in by.items():
        rows.append(
            [
                c,
                f"{r['bytes_per_entry']['requested']:.1f}",
                f"{r['bytes_per_entry']['usable']:.1f}",
                f"{r['entries_held']:,}",
                b(r["empty"]),
                b(r["after_invalidate_all"]),
                f"`{r['invalidate']}`",
                rfmt(ratio(e["bytes_per_entry"]["requested"], r["bytes_per_entry"]["requested"])) if e else "–",
            ]
        )
    text = table(header, rows)
    text += (
        f"\n\n(Capacity {n:,}, {n:,} distinct u64 → u64 inserts; bytes per entry held. "
        "\"requested\" counts the sizes asked of the allocator plus evacmap's OS-mapped tables, "
        "\"malloc usable\" what glibc hands out."
    )
    if e and e.get("policy_bytes", {}).get("full") is not None:
        pb = e["policy_bytes"]
        text += (
            f" Of evacmap's, its policy's structures (`policy_bytes()`): {pb['full'] / e['entries_held']:.1f} B/entry "
            f"full, {pb['after_invalidate_all']} B after emptying."
        )
    return text + ")", by


def cache_targets_table(cache, memory):
    rows = []

    def add(name, value, target, ok):
        rows.append([name, value, target, "met" if ok else ("**missed**" if ok is not None else "–")])

    if cache:
        for w in ["zipf0.99", "zipf1.2"]:
            for t in [1, 2]:
                e = cache.get((w, "get+insert", t, "evacmap"))
                q = cache.get((w, "get+insert", t, "quick_cache"))
                if not (e and q):
                    continue
                r = ratio(e["mops"], q["mops"])
                hits = f" (hits {pct(e['hit_ratio'])} vs {pct(q['hit_ratio'])})"
                add(
                    f"{CACHE_LABEL.get(w, w)} read-through, {t} thread{'s' if t > 1 else ''}, vs quick_cache{hits}",
                    rfmt(r),
                    "≥ 1.20×",
                    r >= 1.2,
                )
    if memory:
        e = memory.get("evacmap")
        if e:
            n = e["entries_held"]
            for c in ["requested", "usable"]:
                v = e["bytes_per_entry"][c]
                add(f"bytes per entry at {n:,} entries ({'malloc usable' if c == 'usable' else c})", f"{v:.1f} B", "≤ 64 B", v <= 64)
            r = ratio(e["after_invalidate_all"]["requested"], e["empty"]["requested"])
            add("after `invalidate_all()` + `run_pending_tasks()`, / empty cache", rfmt(r), "≤ 2.00×", r <= 2.0)
    return table(["target", "measured", "wanted", ""], rows)


def threads_label(t):
    return f"{t} thread{'s' if t > 1 else ''}"


def worst_cell(cell_ratio):
    """The minimum of `cell_ratio(variant, threads)` over CONC_CELLS.

    `cell_ratio` returns (ratio, peer name or None), or None where the cell
    has no result. Returns (ratio, "cell[, vs peer]", cells missing), the
    ratio None when no cell has a result."""
    found, missing = [], 0
    for v, t in CONC_CELLS:
        x = cell_ratio(v, t)
        if x is None or x[0] is None:
            missing += 1
        else:
            found.append((x[0], v, t, x[1]))
    if not found:
        return None, "", missing
    r, v, t, peer = min(found, key=lambda f: f[0])
    return r, f"{v}, {threads_label(t)}" + (f", vs {peer}" if peer else ""), missing


def targets_table(single, conc, skew, pauses, memory):
    """The "Targets" block: issue 11's targets that the results files measure.

    (Its instruction-count targets come from scripts/instructions.sh, run by
    hand; BENCHMARKS.md lists them below the table.)"""
    rows = []

    def add(name, value, target, ok):
        rows.append([name, value, target, "met" if ok else ("**missed**" if ok is not None else "–")])

    def add_min(name, cell_ratio, target):
        """One row: the worst of the concurrent cells, against `target` (≥)."""
        r, cell, missing = worst_cell(cell_ratio)
        if r is None:
            add(name, "–", f"≥ {target:.2f}×", None)
            return
        note = cell + (f"; {len(CONC_CELLS) - missing} of {len(CONC_CELLS)} cells" if missing else "")
        ok = r >= target
        # A met minimum over some of the cells is not the target met.
        add(name, f"{rfmt(r)} ({note})", f"≥ {target:.2f}×", ok if (missing == 0 or not ok) else None)

    every = "every start and thread count"
    for w in ["ReadHeavy", "Exchange", "RapidGrow"]:
        add_min(
            f"{w}, {every}, evacmap `get` vs papaya",
            lambda v, t: (ratio(conc.get((w, v, t, "evacmap")), conc.get((w, v, t, "papaya"))), None),
            1.0,
        )

    def vs_best(w, m, peers):
        def cell(v, t):
            best, peer = best_peer(conc, w, v, t, peers)
            return ratio(conc.get((w, v, t, m)), best), peer

        return cell

    add_min(f"ReadHeavy, {every}, evacmap `pin()` vs best peer", vs_best("ReadHeavy", "evacmap-pin", PIN_PEERS), 1.3)
    for w in ["Exchange", "RapidGrow"]:
        add_min(f"{w}, {every}, evacmap `get` vs best peer", vs_best(w, "evacmap", PEERS), 0.8)
    r = ratio(skew.get((2, "evacmap-pin")), skew.get((2, "papaya")))
    add("Zipf reads, 2 threads, evacmap `pin()` vs papaya", rfmt(r), "≥ 1.30×", None if r is None else r >= 1.3)
    size = next((s for s in {k[1] for k in single} if size_key(s) == 1e6), None)
    for op in ["remove", "update"]:
        r = ratio(single.get((op, size, "evacmap")), single.get((op, size, "dashmap")))
        add(f"single-thread {op} at 1 M, evacmap time / dashmap time", rfmt(r), "≤ 2.00×", None if r is None else r <= 2.0)
    if pauses:
        e, d = pauses.get("evacmap"), pauses.get("dashmap")
        if e and d:
            r = ratio(e["max_ns"], d["max_ns"])
            add("worst insert pause growing to 10 M, evacmap / dashmap", rfmt(r), "≤ 0.10×", r <= 0.1)
    if memory:
        e, d = memory.get("evacmap"), memory.get("dashmap")
        if e and d:
            r = ratio(e["bytes_per_entry"]["requested"], d["bytes_per_entry"]["requested"])
            add("bytes per entry at 1 M, evacmap / dashmap (requested)", rfmt(r), "≤ 1.10×", r <= 1.1)
            r = ratio(e["bytes_per_entry"]["usable"], d["bytes_per_entry"]["usable"])
            add("  (same, malloc usable sizes)", rfmt(r), "≤ 1.10×", r <= 1.1)
            r = ratio(e["after_remove_all"]["requested"], e["empty"]["requested"])
            add("after removing all + reclaim(), / empty map", rfmt(r), "≤ 2.00×", r <= 2.0)
    return table(["target", "measured", "wanted", ""], rows)


def tables(args):
    results = args.results or RESULTS
    docs = {n: load(results, n) for n in ["single_thread", "concurrent", "skew", "pauses", "memory", "iteration"]}
    blocks = {}
    text, single = single_table(docs["single_thread"])
    blocks["single"] = meta_line(docs["single_thread"]) + "\n\n" + text
    text, conc = concurrent_table(docs["concurrent"])
    blocks["concurrent"] = meta_line(docs["concurrent"]) + "\n\n" + text
    # Optional: the same mixes with every map on mimalloc (see BENCHMARKS.md §2).
    mimalloc = load(os.path.join(results, "mimalloc"), "concurrent")
    if mimalloc is not None:
        text, _ = concurrent_table(mimalloc)
        blocks["concurrent-mimalloc"] = meta_line(mimalloc) + "\n\n" + text
    text, skew = skew_table(docs["skew"])
    blocks["skew"] = meta_line(docs["skew"]) + "\n\n" + text
    text, pauses = pauses_table(docs["pauses"])
    blocks["pauses"] = meta_line(docs["pauses"]) + "\n\n" + text
    text, memory = memory_table(docs["memory"])
    blocks["memory"] = meta_line(docs["memory"]) + "\n\n" + text
    text, _ = iteration_table(docs["iteration"])
    blocks["iteration"] = meta_line(docs["iteration"]) + "\n\n" + text
    blocks["targets"] = targets_table(single, conc, skew, pauses, memory)
    cache_doc = load(results, "cache")
    cache_mem = load(results, "cache_memory")
    text, cache = cache_throughput_table(cache_doc, "get+insert")
    blocks["cache-throughput"] = meta_line(cache_doc) + "\n\n" + text
    text, _ = cache_throughput_table(cache_doc, "loader")
    blocks["cache-loader"] = text
    text, _ = cache_latency_table(cache_doc)
    blocks["cache-latency"] = text
    text, _ = cache_async_table(cache_doc)
    blocks["cache-async"] = text
    text, cmem = cache_memory_table(cache_mem)
    blocks["cache-memory"] = meta_line(cache_mem) + "\n\n" + text
    blocks["cache-targets"] = cache_targets_table(cache, cmem)
    machine = next((d["machine"] for d in docs.values() if d and "evacmap_default_shards" in d["machine"]), None)
    if machine:
        blocks["machine"] = (
            f"CPU: {machine['cpu']} ({machine['cores']} cores visible to the process); "
            f"evacmap default shards: {machine.get('evacmap_default_shards', '?')}."
        )
    if args.write:
        with open(args.write) as f:
            page = f.read()
        for name, body in blocks.items():
            pat = re.compile(rf"(<!-- BEGIN {name} -->\n)(.*?)(<!-- END {name} -->)", re.S)
            if not pat.search(page):
                print(f"warning: no block '{name}' in {args.write}", file=sys.stderr)
                continue
            page = pat.sub(lambda m: m.group(1) + body.strip() + "\n" + m.group(3), page)
        with open(args.write, "w") as f:
            f.write(page)
        print(f"updated {args.write}")
    else:
        for name, body in blocks.items():
            print(f"## {name}\n\n{body}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--criterion")
    c.add_argument("--out")
    c.add_argument("--since", type=float, default=0, help="ignore results older than this unix time")
    t = sub.add_parser("tables")
    t.add_argument("--results")
    t.add_argument("--write")
    args = ap.parse_args()
    {"collect": collect, "tables": tables}[args.cmd](args)


if __name__ == "__main__":
    main()
