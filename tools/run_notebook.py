#!/usr/bin/env python3
"""Execute examples/notebooks/gradient-flow.ipynb headless (nbclient + ipykernel) and check
what its output cells show against what docs/python.md says of it.

    python tools/run_notebook.py [NOTEBOOK] [--save EXECUTED.ipynb] [--timeout 300]

Run it with the interpreter of a virtualenv that has depthlab, nbclient, ipykernel and
matplotlib (tools/py-ci.sh does). The kernel is this interpreter: a kernel spec is written to a
temporary folder under a name of its own, so that no other installed "python3" kernel (another
virtualenv's, a user's) can be picked instead.

Checks, each of which fails the script (exit 1) with what it saw:
  - no cell raised, and at least one output is a PNG figure;
  - the RESULT lines (one per net, `RESULT arch=... test_accuracy=... first_over_last=...
    spread=...`) parse, for both the plain and the highway net, over 50 layers;
  - the highway net's test accuracy beats the plain net's and is well above chance (10
    classes), and the plain net's stays near chance;
  - the plain net's gradient spans several orders of magnitude more than the highway net's:
    |log10(first/last)| at least 3 more, the highway net's spread within a factor of five
    and the plain net's at least 10^4.
"""

import argparse
import math
import os
import re
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DEFAULT = os.path.join(ROOT, "examples", "notebooks", "gradient-flow.ipynb")
KERNEL = "depthlab-notebook-check"

RESULT = re.compile(
    r"^RESULT arch=(?P<arch>\w+) layers=(?P<layers>\d+) test_accuracy=(?P<acc>\S+) "
    r"first_over_last=(?P<ratio>\S+) spread=(?P<spread>\S+)$"
)


def install_kernel(prefix):
    """A kernel spec for this interpreter under `prefix`; returns the folder to put on JUPYTER_PATH."""
    from ipykernel.kernelspec import install

    install(prefix=prefix, kernel_name=KERNEL, display_name="depthlab check")
    return os.path.join(prefix, "share", "jupyter")


def texts(nb):
    """Every text a code cell printed or displayed, as one string per output."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                yield out.text
            elif out.output_type in ("execute_result", "display_data") and "text/plain" in out.data:
                yield out.data["text/plain"]


def pngs(nb):
    return [
        out.data["image/png"]
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.output_type in ("display_data", "execute_result") and "image/png" in out.get("data", {})
    ]


def results(nb):
    found = {}
    for text in texts(nb):
        for line in text.splitlines():
            m = RESULT.match(line.strip())
            if m:
                found[m["arch"]] = {
                    "layers": int(m["layers"]),
                    "test_accuracy": float(m["acc"]),
                    "first_over_last": float(m["ratio"]),
                    "spread": float(m["spread"]),
                }
    return found


def check(nb):
    """The failed checks (empty: all hold), and the numbers read."""
    failed = []
    figs = pngs(nb)
    if not figs:
        failed.append("no image/png output: the figure was not drawn")
    elif min(len(f) for f in figs) < 1000:
        failed.append(f"a PNG output of only {min(len(f) for f in figs)} base64 characters: an empty figure?")
    r = results(nb)
    for arch in ("plain", "highway"):
        if arch not in r:
            failed.append(f"no RESULT line for arch={arch} in the output cells")
    if failed:
        return failed, r
    plain, highway = r["plain"], r["highway"]
    for arch, v in r.items():
        if v["layers"] != 50:
            failed.append(f"{arch}: {v['layers']} layers in the gradient flow, not 50")
        for k in ("test_accuracy", "first_over_last", "spread"):
            if not math.isfinite(v[k]) or v[k] < 0:
                failed.append(f"{arch}: {k} = {v[k]} is not a finite non-negative number")
    if failed:
        return failed, r
    chance = 0.1
    if not highway["test_accuracy"] > plain["test_accuracy"]:
        failed.append(f"highway test accuracy {highway['test_accuracy']} does not beat plain's {plain['test_accuracy']}")
    if not highway["test_accuracy"] >= 3 * chance:
        failed.append(f"highway test accuracy {highway['test_accuracy']} is not well above chance ({chance})")
    if not plain["test_accuracy"] <= 2 * chance:
        failed.append(f"plain test accuracy {plain['test_accuracy']} is not near chance ({chance}), as docs/python.md says")
    decades = lambda v: abs(math.log10(max(v["first_over_last"], 1e-300)))
    if not decades(plain) >= decades(highway) + 3:
        failed.append(
            f"plain first/last gradient ratio {plain['first_over_last']:.3e} does not span 3 orders of magnitude "
            f"more than highway's {highway['first_over_last']:.3e}"
        )
    if not highway["spread"] <= 5:
        failed.append(f"highway gradient spread {highway['spread']:.3e} is not within a factor of five")
    if not plain["spread"] >= 1e4:
        failed.append(f"plain gradient spread {plain['spread']:.3e} is under 10^4")
    return failed, r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebook", nargs="?", default=DEFAULT)
    ap.add_argument("--save", help="write the executed notebook here (it is committed without outputs)")
    ap.add_argument("--timeout", type=int, default=300, help="seconds a cell may take")
    args = ap.parse_args()
    nb = nbformat.read(args.notebook, as_version=4)
    stale = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count"))]
    if stale:
        print(f"note: {args.notebook} has outputs in cells {stale}; it is committed with them cleared", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="depthlab-nb-") as tmp:
        os.environ["JUPYTER_PATH"] = install_kernel(os.path.join(tmp, "kernel")) + os.pathsep + os.environ.get("JUPYTER_PATH", "")
        # The notebook runs in a folder of its own, so that nothing it writes lands in the tree.
        work = os.path.join(tmp, "cwd")
        os.makedirs(work)
        client = NotebookClient(nb, timeout=args.timeout, kernel_name=KERNEL, resources={"metadata": {"path": work}})
        start = time.perf_counter()
        try:
            client.execute()
        except CellExecutionError as e:
            print(f"run_notebook: a cell raised:\n{e}", file=sys.stderr)
            return 1
        took = time.perf_counter() - start
    if args.save:
        nbformat.write(nb, args.save)
    failed, r = check(nb)
    for arch, v in sorted(r.items()):
        print(f"run_notebook: {arch:8s} test accuracy {v['test_accuracy']:.4f}, "
              f"first/last gradient {v['first_over_last']:.3e}, spread {v['spread']:.3e}")
    for f in failed:
        print(f"run_notebook: FAILED: {f}", file=sys.stderr)
    print(f"run_notebook: {os.path.relpath(args.notebook)} executed in {took:.1f} s, "
          f"{len(pngs(nb))} figure(s), {'ok' if not failed else f'{len(failed)} check(s) failed'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
