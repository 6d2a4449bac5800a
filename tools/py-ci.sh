#!/usr/bin/env bash
# The Python package from scratch: a fresh virtualenv, `pip install ./python` (maturin from
# PyPI builds the Rust extension), numpy and pytest, then python/tests; then the example
# notebook executed headless (nbclient, ipykernel, matplotlib from PyPI) and its outputs checked
# (tools/run_notebook.py). Prints the build time, the wheel's size and the notebook's time.
# Usage: tools/py-ci.sh [PYTHON]   (default: python3)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
py="${1:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$py" -m venv "$work/venv"
pip="$work/venv/bin/pip"
"$pip" install -q --upgrade pip
# One resolver run for everything but the wheel (the notebook's tools included).
"$pip" install -q numpy pytest nbclient ipykernel matplotlib
start=$(date +%s)
# A wheel first, so that its size can be told; then the same wheel is installed.
"$pip" wheel -q --no-deps ./python -w "$work/wheel"
build_s=$(( $(date +%s) - start ))
wheel="$(ls "$work"/wheel/depthlab-*.whl)"
"$pip" install -q "$wheel"
# From outside python/, so that the installed package is tested, not the source folder.
(cd "$work" && "$work/venv/bin/python" -m pytest -q "$root/python/tests")
# examples/notebooks/gradient-flow.ipynb, the example of docs/python.md: its figure and numbers.
"$work/venv/bin/python" tools/run_notebook.py examples/notebooks/gradient-flow.ipynb
echo "py-ci: build ${build_s} s, wheel $(basename "$wheel") $(du -k "$wheel" | cut -f1) KiB"
