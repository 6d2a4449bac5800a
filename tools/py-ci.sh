#!/usr/bin/env bash
# The Python package from scratch: a fresh virtualenv, `pip install ./python` (maturin from
# PyPI builds the Rust extension), numpy and pytest, then python/tests. Prints the build time
# and the wheel's size. Usage: tools/py-ci.sh [PYTHON]   (default: python3)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
py="${1:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$py" -m venv "$work/venv"
pip="$work/venv/bin/pip"
"$pip" install -q --upgrade pip
"$pip" install -q numpy pytest
start=$(date +%s)
# A wheel first, so that its size can be told; then the same wheel is installed.
"$pip" wheel -q --no-deps ./python -w "$work/wheel"
build_s=$(( $(date +%s) - start ))
wheel="$(ls "$work"/wheel/depthlab-*.whl)"
"$pip" install -q "$wheel"
# From outside python/, so that the installed package is tested, not the source folder.
(cd "$work" && "$work/venv/bin/python" -m pytest -q "$root/python/tests")
echo "py-ci: build ${build_s} s, wheel $(basename "$wheel") $(du -k "$wheel" | cut -f1) KiB"
