#!/usr/bin/env python3
"""Draws throughput by map and workload from the benchmark results.

    scripts/bench_chart.py [--results benches/results] [--out docs/bench-throughput.png]

One panel per workload (the three bustle mixes on a presized map and grown
from empty, and the Zipf-skewed reads), threads on the x axis, one bar per
map, in millions of operations per second; plus the single-thread get-hit
panel (operations per second from criterion's time per operation). Needs
matplotlib (`pip install matplotlib`).
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
}


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
    args = ap.parse_args()

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
