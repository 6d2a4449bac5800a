#!/usr/bin/env bash
# The Python layer's overhead on W1-sized training: `depthlab train CONFIG --out DIR` against
# `python -c "import depthlab; depthlab.train(CONFIG, out=DIR)"`, the same config, timed as
# whole processes (interpreter start-up, imports, data loading and the final checkpoint
# included), in pairs whose order alternates, so that both see the same machine state.
# The bar (issue "Python package"): the Python run within 2% of the command's.
#
# Usage: bench/py_overhead.sh [PAIRS] [PYTHON]
#   PAIRS   timed pairs after one untimed warm-up pair (default 7)
#   PYTHON  an interpreter with depthlab installed (default .venv/bin/python; see docs/python.md)
# Env: EPOCHS (default 1: 469 steps of 128 over MNIST's 60,000, about 3 s at one thread),
#      THREADS (default 1: steadier on a shared machine), DEPTHLAB_DATA (default ../shared/data;
#      the MNIST IDX files, see DATA.md).
# Needs `cargo build --release` (target/release/depthlab) and GNU time (/usr/bin/time). On a
# shared machine the cpu ratio (user + system) is the steadier figure; wall is what a user waits.
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${1:-7}
py=${2:-.venv/bin/python}
export DEPTHLAB_DATA="${DEPTHLAB_DATA:-$(cd .. && pwd)/shared/data}"
bin=target/release/depthlab
[ -x "$bin" ] || { echo "py_overhead: $bin is missing: cargo build --release" >&2; exit 2; }
"$py" -c "import depthlab" || { echo "py_overhead: $py cannot import depthlab: $py -m pip install ./python" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# W1 (src/bench.rs): a 50-layer tanh highway MLP 784 -> 64 -> 10, gate bias -2, Glorot weights,
# batch 128, cross-entropy, SGD momentum 0.9; here as a whole training run on MNIST.
cat > "$work/w1.toml" <<EOF
seed = 1
[data]
name = "mnist"
[model]
arch = "highway"
depth = 50
width = 64
activation = "tanh"
init = { kind = "glorot" }
gate_bias = -2.0
[optim]
lr = 0.01
optimizer = { kind = "sgd", momentum = 0.9 }
[train]
epochs = ${EPOCHS:-1}
batch_size = 128
threads = ${THREADS:-1}
EOF

# The two commands, as argument lists (GNU time runs programs, not shell functions); the run
# folder is appended.
cli=("$bin" train "$work/w1.toml" --out)
pyrun=("$py" -c "import depthlab, sys; depthlab.train(sys.argv[1], out=sys.argv[2])" "$work/w1.toml")
timed() {  # "wall cpu" seconds of command $1 (cli or pyrun) into a new run folder (cpu: user +
           # system, GNU time's accounting of the finished process); a failed run stops all
  local dir="$work/run-$2"
  local -n cmd="$1"
  if ! /usr/bin/time -f "%e %U %S" -o "$work/time" "${cmd[@]}" "$dir" >"$work/log" 2>&1; then
    echo "py_overhead: $1 failed:" >&2; tail -5 "$work/log" >&2; exit 1
  fi
  awk '{printf "%.3f %.3f", $1, $2 + $3}' "$work/time"
  rm -rf "$dir"
}

echo "py_overhead: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start; $pairs pairs + 1 warm-up"
: > "$work/times"
for i in $(seq 0 "$pairs"); do
  # Alternate which goes first, so that neither always runs on the warmer (or busier) machine.
  if (( i % 2 == 0 )); then a=$(timed cli "$i-a"); b=$(timed pyrun "$i-b"); else b=$(timed pyrun "$i-b"); a=$(timed cli "$i-a"); fi
  read -r aw ac <<< "$a"; read -r bw bc <<< "$b"
  if (( i == 0 )); then echo "  warm-up: command ${aw} s (cpu ${ac}), python ${bw} s (cpu ${bc})"; continue; fi
  echo "  pair $i: command ${aw} s (cpu ${ac}), python ${bw} s (cpu ${bc})"
  echo "$aw $ac $bw $bc" >> "$work/times"
done
echo "py_overhead: load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
# Medians of each, and the medians of the per-pair ratios python / command (wall and cpu).
median() { sort -g | awk '{v[NR]=$1} END{m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.4f %.4f %.4f\n", m, v[1], v[NR]}'; }
show() { read -r m lo hi; printf "%s median %.3f (min %.3f, max %.3f)\n" "$1" "$m" "$lo" "$hi"; }
awk '{print $1}' "$work/times" | median | show "command wall s"
awk '{print $3}' "$work/times" | median | show "python  wall s"
awk '{print $2}' "$work/times" | median | show "command cpu s "
awk '{print $4}' "$work/times" | median | show "python  cpu s "
for col in "wall 3 1" "cpu 4 2"; do
  read -r what b a <<< "$col"
  awk -v b="$b" -v a="$a" '{print $b / $a}' "$work/times" | median | {
    read -r m lo hi
    printf "python / command, %s: median ratio %.4f (%+.1f%%), pairs from %.4f to %.4f\n" "$what" "$m" "$(awk -v m="$m" 'BEGIN{print (m - 1) * 100}')" "$lo" "$hi"
  }
done
