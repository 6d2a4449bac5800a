#!/usr/bin/env python3
"""Two depthlab builds against each other on `depthlab bench`, run alternately (A B A B ...) so
that both see the same machine state; for before/after comparisons of one change.

Usage: bench/ab.py A_EXE B_EXE [-r ROUNDS] [-w w1,w2] [-- BENCH ARGS...]
  e.g. bench/ab.py /tmp/before/depthlab target/release/depthlab -r 5 -w w2,w4 -- --batch 64

Prints, per workload, each build's median over rounds of its per-run median ms per step, and the
median, min and max over rounds of the paired ratio A/B. Every run's JSON line goes to stderr.
"""
import argparse
import json
import statistics
import subprocess
import sys


def run(exe, workload, extra):
    out = subprocess.run([exe, "bench", workload, "--json", *extra], check=True, capture_output=True, text=True)
    line = next(line for line in out.stdout.splitlines() if line.startswith("{"))
    print(json.dumps({"exe": exe, **json.loads(line)}), file=sys.stderr)
    return json.loads(line)


def main():
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("-r", "--rounds", type=int, default=5)
    p.add_argument("-w", "--workloads", default="w1,w2,w3,w4")
    args = p.parse_args(argv)
    print("| workload | args | A median ms | B median ms | A/B median | A/B min-max | rounds |")
    print("|---|---|---|---|---|---|---|")
    for w in args.workloads.split(","):
        a, b, ratios = [], [], []
        for r in range(args.rounds):
            # Alternate which build goes first, so that neither always follows the other.
            first, second = (args.a, args.b) if r % 2 == 0 else (args.b, args.a)
            x = run(first, w, extra)["median_ms"]
            y = run(second, w, extra)["median_ms"]
            ma, mb = (x, y) if r % 2 == 0 else (y, x)
            a.append(ma)
            b.append(mb)
            ratios.append(ma / mb)
        print(
            f"| {w} | {' '.join(extra) or '-'} | {statistics.median(a):.2f} | {statistics.median(b):.2f} | "
            f"{statistics.median(ratios):.3f} | {min(ratios):.3f}-{max(ratios):.3f} | {args.rounds} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
