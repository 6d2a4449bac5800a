#!/usr/bin/env bash
# depthlab vs PyTorch eager on W1 and W2, interleaved so both see the same machine state.
# Usage: bench/compare.sh [ROUNDS] [PYTHON]   (PYTHON: a virtualenv with torch; see bench/README.md)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
py=${2:-/work/venv-torch/bin/python}
cargo build --release --quiet
for r in $(seq "$rounds"); do
  for w in w1 w2; do
    ./target/release/depthlab bench "$w" --steps 200 --json | sed "s/^/depthlab $w round $r: /"
    "$py" bench/torch_ref.py "$w" --steps 200 | sed "s/^/torch    $w round $r: /"
    # W1 also with PyTorch's transform and gate fused by hand into one Linear (its faster form).
    [ "$w" = w1 ] && "$py" bench/torch_ref.py w1 --fused-gates --steps 200 | sed "s/^/torch-fused w1 round $r: /"
  done
done
