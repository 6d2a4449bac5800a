"""depthlab's own scaling: batch 32 against 64 (ms per example) and 1 against 2 threads, for the
recurrent and convolutional workloads, interleaved over rounds so that every cell sees the same
machine state. Usage (after cargo build --release):

    python3 bench/scaling.py [--rounds 3] [--quick] [--out bench/scaling-DATE.jsonl]

Prints a markdown table: per workload, batch and thread count the median over rounds of each
run's median ms per step, ms per example, the speed-up of 2 threads over 1 at the same batch,
and cpu/wall (about the thread count on a quiet machine; much less: the run waited for a core).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from benchcommon import loadavg

CELLS = [  # workload, batch, threads
    ("w2", 32, 1), ("w2", 64, 1), ("w2", 32, 2), ("w2", 64, 2),
    ("w4", 32, 1), ("w4", 64, 1), ("w4", 32, 2), ("w4", 64, 2),
    ("w3", 32, 1), ("w3", 64, 1), ("w3", 32, 2), ("w3", 64, 2),
]


def steps(w, quick):
    full = {"w2": (100, 10), "w4": (100, 10), "w3": (20, 3)}
    s, wu = full[w]
    return (max(s // 3, 5), max(wu // 2, 1)) if quick else (s, wu)


def run(binary, w, batch, threads, quick):
    s, wu = steps(w, quick)
    cmd = [binary, "bench", w, "--batch", str(batch), "--threads", str(threads), "--steps", str(s),
           "--warmup", str(wu), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(next(l for l in out.splitlines() if l.startswith("{")))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=time.strftime("bench/scaling-%Y-%m-%d.jsonl", time.gmtime()))
    ap.add_argument("--bin", default=os.environ.get("DEPTHLAB", "target/release/depthlab"))
    a = ap.parse_args()
    rows = []
    print(f"start {time.strftime('%H:%M:%S', time.gmtime())} UTC, load {loadavg()}", file=sys.stderr)
    with open(a.out, "w") as f:
        for r in range(a.rounds):
            # Rotate the order from round to round, as bench/peers.sh does.
            for i in range(len(CELLS)):
                w, b, t = CELLS[(i + r) % len(CELLS)]
                d = run(a.bin, w, b, t, a.quick)
                d["round"] = r + 1
                f.write(json.dumps(d) + "\n")
                rows.append(d)
                print(f"  round {r + 1} {w} b={b} t={t}: {d['median_ms']:.2f} ms, cpu/wall "
                      f"{d['cpu_wall_ratio']:.2f}, load {d['loadavg_1m']}", file=sys.stderr)
    print(f"end {time.strftime('%H:%M:%S', time.gmtime())} UTC, load {loadavg()}; raw lines in {a.out}",
          file=sys.stderr)
    med = {}
    for w, b, t in CELLS:
        mine = [d for d in rows if (d["workload"], d["batch"], d["threads"]) == (w, b, t)]
        med[(w, b, t)] = (statistics.median(d["median_ms"] for d in mine),
                          statistics.median(d["cpu_wall_ratio"] for d in mine))
    print("| workload | batch | threads | median ms | ms / example | 2 threads over 1 | cpu/wall |")
    print("|---|---|---|---|---|---|---|")
    for w, b, t in CELLS:
        ms, cw = med[(w, b, t)]
        up = f"{med[(w, b, 1)][0] / ms:.2f}x" if t == 2 else ""
        print(f"| {w} | {b} | {t} | {ms:.2f} | {ms / b:.3f} | {up} | {cw:.2f} |")


if __name__ == "__main__":
    main()
