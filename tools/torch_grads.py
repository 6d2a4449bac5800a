#!/usr/bin/env python3
"""A PyTorch model's state_dict into depthlab.grads: the gradients must agree with PyTorch's.

For each case below, the PyTorch model of a depthlab config is built with the classes of
tools/torch_fixtures.py (the mapping of docs/pytorch.md: the same parameter names
and formulas), given PyTorch's own initialisation (biases moved off zero so that every term
shows), and run forward and backward on a random batch in PyTorch. Its state dict then goes,
as numpy arrays, to

    depthlab.grads(config, {k: v.detach().numpy() for k, v in model.state_dict().items()}, x, y)

and every tensor depthlab returns (loss, output, grad.<param>, act.<block>) is compared with
PyTorch's. The reference is PyTorch in float64 from the same float32 weights and inputs (the
exact values a float32 computation approximates); PyTorch's own float32 result is shown beside
it as the noise any float32 implementation has. Per case it prints, for the worst tensors, the
largest absolute difference and that difference relative to the tensor's largest magnitude;
the script exits 1 if any tensor is over --tol (relative) or either side lacks a tensor.

Needs torch and depthlab in one virtualenv, run from the repository root (not CI: torch is
large):

    python -m venv /work/venv-torch && /work/venv-torch/bin/pip install torch numpy safetensors
    /work/venv-torch/bin/pip install ./python
    /work/venv-torch/bin/python tools/torch_grads.py [--tol 1e-4] [--all]
"""

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_fixtures as tf  # noqa: E402  (the model builders and the reference pass)

import depthlab  # noqa: E402


# depthlab configs (dicts, as depthlab.train takes them); the data section fixes the input and
# output sizes the model is built with, and the batch below has those sizes.
def case(data, model, shapes, x, y):
    return dict(
        config={
            "seed": 0,
            "data": data,
            "model": model,
            "optim": {"lr": 0.01, "optimizer": {"kind": "sgd"}},
            "train": {"epochs": 1},
        },
        shapes=shapes,
        x=x,
        y=y,
    )


def mnist1d_case(model):
    """A flat model on MNIST-1D's sizes (40 -> 10), a batch of 16 with class targets."""
    return case(
        {"name": "mnist1d"},
        model,
        {"in": 40, "out": 10},
        lambda g: torch.randn(16, 40, generator=g),
        lambda g: torch.randint(0, 10, (16,), generator=g),
    )


CASES = {
    "highway MLP (mnist1d: 40 -> 4 x highway(32, tanh) -> 10), cross-entropy": mnist1d_case(
        {"arch": "highway", "depth": 4, "width": 32, "activation": "tanh", "gate_bias": -1.0}
    ),
    "residual MLP (pre-activation, relu, 2-layer branches), cross-entropy": mnist1d_case(
        {"arch": "residual", "depth": 3, "width": 24, "activation": "relu", "preact": True}
    ),
    "LSTM (nn.LSTM, 2 layers of 16, adding problem T=12), MSE on the last step": case(
        {"name": "adding", "t": 12},
        {"arch": "lstm", "depth": 2, "width": 16},
        {"in": 2, "out": 1},
        lambda g: torch.rand(8, 12, 2, generator=g),
        lambda g: torch.rand(8, 1, generator=g),
    ),
}


def torch_model(case, seed):
    m = case["config"]["model"]
    torch.manual_seed(seed)
    model = tf.build(m, case["shapes"])
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.add_(0.2 * torch.randn(p.shape, generator=gen))
    return model, gen


def compare(got, ref):
    """(max |got - ref|, that / max |ref|) of two arrays of one shape."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    diff = float(np.max(np.abs(got - ref))) if got.size else 0.0
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    return diff, diff / max(scale, 1e-12)


def run_case(title, case, seed, tol, show_all):
    model, gen = torch_model(case, seed)
    x, y = case["x"](gen), case["y"](gen)
    m = case["config"]["model"]
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    ref64 = tf.reference(model, m, x, y, torch.float64)
    model.load_state_dict(state)
    ref32 = tf.reference(model, m, x, y, torch.float32)

    # What a user writes: the state dict as numpy arrays, the batch as numpy arrays.
    weights = {k: v.detach().numpy() for k, v in state.items()}
    got = depthlab.grads(case["config"], weights, x.numpy(), y.numpy())

    rows, problems = [], []
    for name in sorted(set(got) | set(ref64)):
        if name not in ref64:
            problems.append(f"depthlab returned {name}, PyTorch has no such tensor")
            continue
        if name not in got:
            problems.append(f"depthlab did not return {name}")
            continue
        r = ref64[name].numpy()
        if tuple(got[name].shape) != tuple(r.shape):
            problems.append(f"{name}: depthlab shape {tuple(got[name].shape)}, PyTorch {tuple(r.shape)}")
            continue
        d_abs, d_rel = compare(got[name], r)
        _, noise = compare(ref32[name].numpy(), r)
        rows.append((d_rel, d_abs, noise, name))
        if d_rel > tol:
            problems.append(f"{name}: relative difference {d_rel:.2e} > {tol:.0e}")
    rows.sort(reverse=True)
    params = sum(1 for r in rows if r[3].startswith("grad."))
    print(f"{title}\n  {len(rows)} tensors compared ({params} parameter gradients); loss depthlab "
          f"{float(got['loss'][0]):.7f}, PyTorch f64 {float(ref64['loss'][0]):.7f}")
    print(f"  {'tensor':40s} {'max abs diff':>12s} {'max rel diff':>12s} {'torch f32 rel':>13s}")
    for d_rel, d_abs, noise, name in rows if show_all else rows[:6]:
        print(f"  {name:40s} {d_abs:12.2e} {d_rel:12.2e} {noise:13.2e}")
    if not show_all and len(rows) > 6:
        print(f"  ... {len(rows) - 6} more, all within {rows[6][0]:.2e} (--all lists them)")
    worst = rows[0][0] if rows else float("nan")
    print(f"  worst relative difference {worst:.2e} (tolerance {tol:.0e}): {'ok' if not problems else 'FAILED'}")
    for p in problems:
        print(f"  FAILED: {p}")
    return not problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tol", type=float, default=1e-4, help="largest relative difference allowed per tensor")
    ap.add_argument("--all", action="store_true", help="print every tensor, not only the worst")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    print(f"torch {torch.__version__}, depthlab from {os.path.dirname(depthlab.__file__)}")
    ok = True
    for i, (title, case) in enumerate(CASES.items()):
        ok &= run_case(title, case, args.seed + 100 * i, args.tol, args.all)
    print("torch_grads: all agree" if ok else "torch_grads: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
