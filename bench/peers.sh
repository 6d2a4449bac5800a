#!/usr/bin/env bash
# depthlab against PyTorch eager, torch.compile and JAX jit on W1-W4 at 1 and 2 threads,
# interleaved: each round runs, for each thread count and workload, the four tools one after
# the other (their order rotating from round to round), so that all see the same machine state.
#
# Usage: bench/peers.sh [-r ROUNDS] [-q] [-o OUT.jsonl]
#   -r ROUNDS  rounds (default 3)
#   -q         quick: fewer timed steps (for a loaded machine; see STEPS below)
#   -o FILE    where the raw JSON lines go (default bench/peers-<date>.jsonl)
# Environment:
#   DEPTHLAB   the binary (default ./target/release/depthlab; build it with cargo build --release)
#   TORCH_PY   python with torch (default /work/venv-torch/bin/python)
#   JAX_PY     python with jax   (default /work/venv-jax/bin/python)
#   THREADS    thread counts (default "1 2");  WORKLOADS (default "w1 w2 w3 w4")
#   TOOLS      (default "depthlab torch-eager torch.compile jax-jit")
# Output: the markdown table on stdout (median over rounds of each run's median ms per step, and
# depthlab's ratio to the fastest peer); progress on stderr; every raw line in the JSONL, with
# "tool" and "round" added. Not part of CI: it needs the two virtualenvs (bench/README.md).
set -uo pipefail
cd "$(dirname "$0")/.."

rounds=3 quick=0 out="bench/peers-$(date -u +%Y%m%d-%H%M).jsonl"
while getopts "r:qo:" opt; do
  case $opt in
    r) rounds=$OPTARG ;;
    q) quick=1 ;;
    o) out=$OPTARG ;;
    *) sed -n '2,19p' "$0" >&2; exit 2 ;;
  esac
done
bin=${DEPTHLAB:-./target/release/depthlab}
tpy=${TORCH_PY:-/work/venv-torch/bin/python}
jpy=${JAX_PY:-/work/venv-jax/bin/python}
threads_list=${THREADS:-1 2}
workloads=${WORKLOADS:-w1 w2 w3 w4}
read -r -a tools <<<"${TOOLS:-depthlab torch-eager torch.compile jax-jit}"
[ -x "$bin" ] || { echo "no $bin: run cargo build --release first" >&2; exit 1; }

# Timed steps and warm-up steps per workload (W3's step is ~10x the others').
steps_for() {
  if [ "$quick" = 1 ]; then
    case $1 in w1) echo "100 10" ;; w2|w4) echo "60 10" ;; w3) echo "10 2" ;; esac
  else
    case $1 in w1) echo "200 20" ;; w2|w4) echo "150 20" ;; w3) echo "40 5" ;; esac
  fi
}

: >"$out"
emit() {  # tool round: JSON lines on stdin -> $out with "tool" and "round" set; a summary on stderr
  python3 -c '
import json, sys
tool, rnd = sys.argv[1], int(sys.argv[2])
for line in sys.stdin:
    line = line.strip()
    if not line.startswith("{"):
        continue
    d = json.loads(line)
    d["tool"], d["round"] = tool, rnd
    print(json.dumps(d))
    med = d.get("median_ms", d.get("error", "skipped"))
    summary = "  round %d %s t=%s %s: %s ms, cpu/wall %s, load %s" % (
        rnd, d.get("workload"), d.get("threads"), tool, med, d.get("cpu_wall_ratio"), d.get("loadavg_1m"))
    print(summary, file=sys.stderr)
' "$1" "$2" >>"$out"
}

run_one() {  # tool workload threads round
  local tool=$1 w=$2 t=$3 r=$4 s wu
  read -r s wu <<<"$(steps_for "$w")"
  local log; log=$(mktemp)
  case $tool in
    depthlab) "$bin" bench "$w" --threads "$t" --steps "$s" --warmup "$wu" --json >"$log" 2>&1 ;;
    torch-eager) "$tpy" bench/torch_ref.py "$w" --threads "$t" --steps "$s" --warmup "$wu" \
                   $([ "$w" = w1 ] && echo --fused-gates) >"$log" 2>&1 ;;
    torch.compile) "$tpy" bench/torch_ref.py "$w" --compile --threads "$t" --steps "$s" --warmup "$wu" \
                   $([ "$w" = w1 ] && echo --fused-gates) >"$log" 2>&1 ;;
    # --pin: XLA keeps a second busy thread even with its one-thread flags (cpu/wall 1.44 at
    # "1 thread" unpinned); pinned to the first T CPUs it uses T cores like the others.
    jax-jit) "$jpy" bench/jax_ref.py "$w" --threads "$t" --pin --steps "$s" --warmup "$wu" >"$log" 2>&1 ;;
  esac
  local rc=$?
  if grep -q '^{' "$log"; then
    grep '^{' "$log" | emit "$tool" "$r"
  else
    python3 -c 'import json,sys; print(json.dumps({"workload": sys.argv[1], "threads": int(sys.argv[2]), "error": sys.argv[3][-300:]}))' \
      "$w" "$t" "$(tail -3 "$log")" | emit "$tool" "$r"
  fi
  rm -f "$log"
}

echo "start $(date -u '+%Y-%m-%d %H:%M:%S') UTC, load average $(cut -d' ' -f1-3 /proc/loadavg), rounds $rounds, quick $quick" >&2
n=${#tools[@]}
for r in $(seq "$rounds"); do
  for t in $threads_list; do
    for w in $workloads; do
      for i in $(seq 0 $((n - 1))); do
        run_one "${tools[$(((i + r - 1) % n))]}" "$w" "$t" "$r"
      done
    done
  done
done
echo "end $(date -u '+%Y-%m-%d %H:%M:%S') UTC, load average $(cut -d' ' -f1-3 /proc/loadavg); raw lines in $out" >&2

python3 bench/peers_table.py "$out"
