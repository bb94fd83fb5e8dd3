#!/usr/bin/env python3
"""Draws throughput by map and workload from the benchmark results.

    scripts/bench_chart.py [--results benches/results] [--out docs/bench-throughput.png]
                           [--cache-out docs/cache-throughput.png]

One panel per workload (the three bustle mixes on a presized map and grown
from empty, and the Zipf-skewed reads), threads on the x axis, one bar per
map, in millions of operations per second; plus the single-thread get-hit
panel (operations per second from criterion's time per operation). Needs
matplotlib (`pip install matplotlib`).

The cache's chart (from cache.json and cache_memory.json, if present): read-
through throughput per cache, threads on the x axis, one panel per workload
and path (each bar labelled with the hit ratio the cache achieved), the async
loaders, and bytes per entry.
"""

import argparse
import os
import sys

import matplotlib

# The results are loaded by bench_report.py's code (this script's directory
# is on sys.path when it runs); no __pycache__ left in scripts/.
sys.dont_write_bytecode = True
from bench_report import load, size_key  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {
    "evacmap": "#d62728",
    "evacmap-pin": "#ff9896",
    "evacmap-blocking": "#e377c2",
    "dashmap": "#1f77b4",
    "papaya": "#2ca02c",
    "papaya-pin": "#98df8a",
    "papaya-blocking": "#bcbd22",
    "scc": "#9467bd",
    "rwlock-std": "#7f7f7f",
    "std": "#17becf",
    "quick_cache": "#1f77b4",
    "moka": "#2ca02c",
    "lru": "#7f7f7f",
}

CACHES = ["evacmap", "quick_cache", "moka", "lru"]
CACHE_TITLES = {"zipf0.99": "Zipf 0.99, capacity 100 k", "zipf1.2": "Zipf 1.2 (95 % hits), capacity 100 k"}


def cache_chart(cache, memory, out):
    """The cache against its peers: throughput with hit ratios, async loaders, bytes per entry."""
    panels = []
    if cache:
        rows = [r for r in cache["rows"] if r.get("bench") == "throughput"]
        by = {(r["workload"], r["path"], r["threads"], r["cache"]): r for r in rows}
        for path in ["get+insert", "loader"]:
            for w in ["zipf0.99", "zipf1.2"]:
                sel = [r for r in rows if r["workload"] == w and r["path"] == path]
                if not sel:
                    continue
                threads = sorted({r["threads"] for r in sel})
                caches = [c for c in CACHES if any(r["cache"] == c for r in sel)]
                what = "`get`, `insert` on a miss" if path == "get+insert" else "loader (`get_with` & co.)"
                panels.append((f"{CACHE_TITLES.get(w, w)}: {what}", threads, caches,
                               lambda t, c, w=w, path=path: by.get((w, path, t, c))))
        arows = [r for r in cache["rows"] if r.get("bench") == "async"]
        if arows:
            aby = {(r["threads"], r["cache"]): r for r in arows}
            threads = sorted({r["threads"] for r in arows})
            caches = [c for c in CACHES if any(r["cache"] == c for r in arows)]
            panels.append(("async loaders on tokio (Zipf 0.99), worker threads = tasks", threads, caches,
                           lambda t, c: aby.get((t, c))))
    n = len(panels) + (1 if memory else 0)
    if n == 0:
        return False
    cols = 2
    nrows = (n + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(14, 3.6 * nrows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax, (title, threads, caches, get) in zip(flat, panels):
        width = 0.8 / len(caches)
        for i, c in enumerate(caches):
            xs = [j + (i - (len(caches) - 1) / 2) * width for j in range(len(threads))]
            rs = [get(t, c) for t in threads]
            ys = [r["mops"] if r else 0 for r in rs]
            bars_ = ax.bar(xs, ys, width, label=c, color=COLORS.get(c))
            for b, r in zip(bars_, rs):
                if r and r.get("hit_ratio") is not None:
                    ax.annotate(f"{100 * r['hit_ratio']:.0f}%", (b.get_x() + b.get_width() / 2, b.get_height()),
                                ha="center", va="bottom", fontsize=6)
        ax.set_xticks(range(len(threads)))
        ax.set_xticklabels([f"{t} thr" for t in threads])
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("Mops/s")
        ax.grid(axis="y", alpha=0.3)
    if memory:
        ax = flat[len(panels)]
        mrows = [r for r in memory["rows"]]
        names = [r["cache"] for r in mrows]
        req = [r["bytes_per_entry"]["requested"] for r in mrows]
        use = [r["bytes_per_entry"]["usable"] for r in mrows]
        xs = range(len(names))
        ax.bar([x - 0.2 for x in xs], req, 0.4, color=[COLORS.get(c) for c in names], label="_requested")
        ax.bar([x + 0.2 for x in xs], use, 0.4, color=[COLORS.get(c) for c in names], alpha=0.5, label="_usable")
        for x, v in zip(xs, req):
            ax.annotate(f"{v:.0f}", (x - 0.2, v), ha="center", va="bottom", fontsize=7)
        ax.axhline(64, color="#d62728", linestyle="--", linewidth=1)
        ax.set_xticks(list(xs))
        ax.set_xticklabels(names)
        ax.set_ylabel("bytes per entry")
        ax.set_title(f"bytes per entry at {memory['params']['entries']:,} entries\n(solid: requested, "
                     "light: malloc usable; dashed: the 64 B target)", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    for ax in flat[n:]:
        ax.axis("off")
    handles = {}
    for ax in flat[: len(panels)]:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    order = [c for c in CACHES if c in handles]
    fig.legend([handles[c] for c in order], order, loc="upper center", ncol=len(order), fontsize=9,
               frameon=False, bbox_to_anchor=(0.5, 0.975))
    doc = cache or memory
    machine = doc.get("machine", {})
    loads = [x for d in (cache, memory) if d for x in (d.get("loadavg_start", [])[:1] + d.get("loadavg_end", [])[:1])
             if x == x]
    load_note = f"; 1-min load average {min(loads):.1f}-{max(loads):.1f}" if loads else ""
    fig.suptitle(
        f"evacmap::Cache vs peers: read-through throughput (labels: hit ratio) — {machine.get('cpu', '?')}, "
        f"{machine.get('cores', '?')} cores (4 threads oversubscribe){load_note}",
        y=0.998, fontsize=11,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.955))
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")
    return True


def bars(ax, title, threads, maps, value):
    width = 0.8 / len(maps)
    for i, m in enumerate(maps):
        xs = [t + (i - (len(maps) - 1) / 2) * width for t in range(len(threads))]
        ys = [value(t, m) or 0 for t in threads]
        ax.bar(xs, ys, width, label=m, color=COLORS.get(m))
    ax.set_xticks(range(len(threads)))
    ax.set_xticklabels([f"{t} thr" for t in threads])
    ax.set_title(title, fontsize=10)
    ax.set_ylabel("Mops/s")
    ax.grid(axis="y", alpha=0.3)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default="benches/results")
    ap.add_argument("--out", default="docs/bench-throughput.png")
    ap.add_argument("--cache-out", default="docs/cache-throughput.png")
    args = ap.parse_args()

    drew_cache = cache_chart(load(args.results, "cache"), load(args.results, "cache_memory"), args.cache_out)

    conc = load(args.results, "concurrent")
    skew = load(args.results, "skew")
    single = load(args.results, "single_thread")
    panels = []
    if conc:
        data = {(r["workload"], r["variant"], r["threads"], r["map"]): r["mops"] for r in conc["rows"]}
        threads = sorted({r["threads"] for r in conc["rows"]})
        maps = []
        for r in conc["rows"]:
            if r["map"] not in maps:
                maps.append(r["map"])
        for w in ["ReadHeavy", "Exchange", "RapidGrow"]:
            for v in ["presized", "empty"]:
                panels.append(
                    (f"{w} ({'presized' if v == 'presized' else 'from empty'})", threads, maps,
                     lambda t, m, w=w, v=v: data.get((w, v, t, m)))
                )
    if skew:
        data_s = {(r["threads"], r["map"]): r["mops"] for r in skew["rows"]}
        threads = sorted({r["threads"] for r in skew["rows"]})
        maps = []
        for r in skew["rows"]:
            if r["map"] not in maps:
                maps.append(r["map"])
        panels.append(("Zipf 0.99 reads, 5% overwrites", threads, maps, lambda t, m: data_s.get((t, m))))
    if not panels and not single:
        if drew_cache:
            return
        raise SystemExit(f"no results in {args.results}")

    n = len(panels) + (1 if single else 0)
    cols = 2
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(14, 3.4 * rows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax, (title, threads, maps, value) in zip(flat, panels):
        bars(ax, title, threads, maps, value)
    if single:
        ax = flat[len(panels)]
        ns = {(r["op"], r["size"], r["map"]): r["ns"] for r in single["rows"]}
        sizes = sorted({r["size"] for r in single["rows"]}, key=size_key)
        maps = [m for m in ["std", "evacmap", "evacmap-pin", "dashmap", "papaya", "papaya-pin", "scc", "rwlock-std"]
                if any(k[2] == m for k in ns)]
        width = 0.8 / len(maps)
        for i, m in enumerate(maps):
            xs = [j + (i - (len(maps) - 1) / 2) * width for j in range(len(sizes))]
            ys = [1e3 / ns[("get_hit", s, m)] if ("get_hit", s, m) in ns else 0 for s in sizes]
            ax.bar(xs, ys, width, label=m, color=COLORS.get(m))
        ax.set_xticks(range(len(sizes)))
        ax.set_xticklabels([f"{s} entries" for s in sizes])
        ax.set_title("single thread: get hit", fontsize=10)
        ax.set_ylabel("Mops/s")
        ax.grid(axis="y", alpha=0.3)
    for ax in flat[n:]:
        ax.axis("off")
    handles, labels = {}, {}
    for ax in flat[:n]:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    order = [m for m in COLORS if m in handles]
    fig.legend([handles[m] for m in order], order, loc="upper center", ncol=min(len(order), 10),
               fontsize=9, frameon=False, bbox_to_anchor=(0.5, 0.975))
    machine = (conc or skew or single or {}).get("machine", {})
    loads = [x for d in (conc, skew, single) if d for x in (d.get("loadavg_start", [])[:1] + d.get("loadavg_end", [])[:1])
             if x == x]
    load_note = f"; 1-min load average {min(loads):.1f}-{max(loads):.1f} during the runs" if loads else ""
    fig.suptitle(
        f"evacmap vs peers: throughput (higher is better) — {machine.get('cpu', '?')}, "
        f"{machine.get('cores', '?')} cores (4 threads oversubscribe){load_note}",
        y=0.998, fontsize=11,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.955))
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
