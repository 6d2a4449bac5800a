#!/usr/bin/env python3
"""The markdown table of a bench/peers.sh JSONL: per thread count and workload, the median over
rounds of each tool's median ms per step, the fastest peer, and depthlab's ratio to it (with
issue 11's one-thread target beside it). Standard library only.

Usage: python3 bench/peers_table.py bench/peers-....jsonl
"""

import json
import statistics
import sys

TOOLS = ["depthlab", "torch-eager", "torch.compile", "jax-jit"]
PEERS = TOOLS[1:]
TARGET_1T = {"w1": 0.33, "w2": 0.8, "w3": 0.6, "w4": 0.5}


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    cell = {}  # (threads, workload, tool) -> [median_ms per round]
    cpu = {}
    loads = []
    versions = {}
    for d in rows:
        if "median_ms" not in d:
            continue
        key = (int(d["threads"]), d["workload"], d["tool"])
        cell.setdefault(key, []).append(d["median_ms"])
        if d.get("cpu_wall_ratio") is not None:
            cpu.setdefault(key, []).append(d["cpu_wall_ratio"])
        if d.get("loadavg_1m") is not None:
            loads.append(d["loadavg_1m"])
        for v in ("torch", "jax", "jaxlib", "python", "cpu", "nproc"):
            if v in d:
                versions[v] = d[v]
    threads = sorted({k[0] for k in cell})
    workloads = sorted({k[1] for k in cell})
    ratio = {}
    print("| threads | workload | depthlab | torch eager | torch.compile | JAX jit | fastest peer | "
          "depthlab / fastest | target (1 thread) | rounds |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for t in threads:
        for w in workloads:
            med = {tool: statistics.median(cell[(t, w, tool)]) for tool in TOOLS if (t, w, tool) in cell}
            peers = {k: v for k, v in med.items() if k in PEERS}
            fmt = lambda tool: f"{med[tool]:.2f}" if tool in med else "-"  # noqa: E731
            if peers and "depthlab" in med:
                best = min(peers, key=peers.get)
                r = med["depthlab"] / peers[best]
                ratio[(t, w)] = r
                best_s, r_s = f"{best} {peers[best]:.2f}", f"**{r:.2f}**"
            else:
                best_s, r_s = "-", "-"
            tgt = f"<= {TARGET_1T[w]}" if t == 1 and w in TARGET_1T else (
                f"<= {ratio[(1, w)]:.2f} (1-thread ratio)" if (1, w) in ratio else "-")
            n = max((len(cell.get((t, w, tool), [])) for tool in TOOLS), default=0)
            print(f"| {t} | {w} | {fmt('depthlab')} | {fmt('torch-eager')} | {fmt('torch.compile')} | "
                  f"{fmt('jax-jit')} | {best_s} | {r_s} | {tgt} | {n} |")
    print()
    if loads:
        print(f"load average (1 min) seen by the runs: min {min(loads):.2f}, median "
              f"{statistics.median(loads):.2f}, max {max(loads):.2f}")
    print("cpu/wall (median over rounds): " + "; ".join(
        f"{w} t={t} " + " ".join(f"{tool} {statistics.median(cpu[(t, w, tool)]):.2f}"
                                 for tool in TOOLS if (t, w, tool) in cpu)
        for t in threads for w in workloads))
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    for t in threads:
        for w in workloads:
            if (t, w) not in ratio:
                continue
            r = ratio[(t, w)]
            if t == 1:
                ok = r <= TARGET_1T[w]
                print(f"- 1 thread {w}: ratio {r:.2f}, target <= {TARGET_1T[w]}: {'met' if ok else 'NOT met'}")
            elif (1, w) in ratio:
                ok = r <= ratio[(1, w)]
                print(f"- {t} threads {w}: ratio {r:.2f} vs {ratio[(1, w)]:.2f} at 1 thread: "
                      f"{'met' if ok else 'NOT met'}")
    errors = [d for d in rows if "error" in d or d.get("skipped")]
    for d in errors:
        print(f"- failed/skipped: {d.get('tool')} {d.get('workload')} t={d.get('threads')} "
              f"round {d.get('round')}: {d.get('error') or d.get('reason')}")


if __name__ == "__main__":
    main(sys.argv[1])
