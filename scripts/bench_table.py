#!/usr/bin/env python3
"""Turn `tachyon bench --json` output into Markdown tables for docs/BENCHMARKS.md.

Usage: tachyon bench kernels --json > run.jsonl; python3 scripts/bench_table.py run.jsonl [--sizes 2048,33554432]
"""
import argparse
import json
from collections import defaultdict


def fmt_ns(ns):
    if ns < 1e3:
        return f"{ns:.1f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.2f} us"
    if ns < 1e9:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e9:.2f} s"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("jsonl")
    ap.add_argument("--sizes", default="", help="comma-separated sizes to keep (kernels)")
    args = ap.parse_args()
    rows = [json.loads(line) for line in open(args.jsonl) if line.startswith("{")]
    keep = {int(s) for s in args.sizes.split(",") if s}

    probes = [r for r in rows if r["workload"] == "probes"]
    if probes:
        print("| probe | isa | dtype | threads | median | GFLOP/s | GB/s |")
        print("|---|---|---|---|---|---|---|")
        for r in probes:
            g = f"{r['gflops']:.1f}" if "gflops" in r else "-"
            b = f"{r['gb_per_s']:.1f}" if "gb_per_s" in r else "-"
            print(f"| {r['case']} | {r['isa']} | {r['dtype']} | {r['threads']} | {fmt_ns(r['median_ns'])} | {g} | {b} |")
        print()

    gemm_table(rows)
    kern = [r for r in rows if r["workload"] == "kernels" and (not keep or r["size"] in keep)]
    if kern:
        groups = defaultdict(dict)
        isas = []
        for r in kern:
            groups[(r["dtype"], r["size"], r["case"])][r["isa"]] = r
            if r["isa"] not in isas:
                isas.append(r["isa"])
        best = [i for i in isas if i not in ("scalar", "iter")]
        head = "| dtype | size | kernel | " + " | ".join(f"{i} median" for i in isas)
        head += " | best GB/s | best % of peak | best x scalar | best x iter |"
        print(head)
        print("|" + "---|" * (head.count("|") - 1))
        for (dtype, size, case), by in groups.items():
            cells = [fmt_ns(by[i]["median_ns"]) if i in by else "-" for i in isas]
            top = by.get(best[-1]) if best else by.get("scalar")
            frac = f"{top['peak_fraction'] * 100:.0f}% {top['peak_of'].replace('memory_', '')}" if "peak_fraction" in top else "-"
            vs_iter = by["iter"]["median_ns"] / top["median_ns"] if "iter" in by else float("nan")
            print(f"| {dtype} | {size} | {case} | " + " | ".join(cells)
                  + f" | {top['gb_per_s']:.1f} | {frac} | {top.get('speedup_vs_scalar', float('nan')):.1f} | {vs_iter:.1f} |")


def gemm_table(rows):
    gemm = [r for r in rows if r["workload"] == "gemm"]
    if not gemm:
        return
    groups = defaultdict(dict)
    for r in gemm:
        groups[(r["dtype"], r["case"], r["size"])][(r["isa"], r["threads"])] = r
    order = [("avx512", 1), ("avx2", 1), ("avx512", 2), ("avx2", 2), ("faer", 1), ("faer", 2),
             ("numpy-openblas", 1), ("numpy-openblas", 2), ("matrixmultiply", 1), ("naive", 1),
             ("strassen1", 1), ("strassen2", 1), ("scalar", 1)]
    present = [k for k in order if any(k in g for g in groups.values())]
    names = {"avx512": "ours", "avx2": "ours"}
    head = "| dtype | shape | " + " | ".join(f"{names.get(i, i)} {t}t" for i, t in present) + " |"
    print("GFLOP/s (median), and for ours one thread: % of this run's FMA peak.")
    print()
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for (dtype, case, size), by in groups.items():
        cells = []
        for key in present:
            r = by.get(key)
            if r is None:
                cells.append("-")
            elif key[0] in ("avx512", "avx2") and key[1] == 1 and "peak_fraction" in r:
                cells.append(f"{r['gflops']:.1f} ({r['peak_fraction'] * 100:.0f}%)")
            elif r["median_ns"] < 2000:
                cells.append(f"{r['gflops']:.1f} ({r['median_ns']:.0f} ns)")
            else:
                cells.append(f"{r['gflops']:.1f}")
        shape = f"{size}" if case == "square" else case
        print(f"| {dtype} | {shape} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
