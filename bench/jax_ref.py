#!/usr/bin/env python3
"""JAX (CPU, jit) reference timings for depthlab's four training workloads.

Subcommands (the same models, shapes and steps as `depthlab bench w1..w4` and
bench/torch_ref.py):
  w1  50-layer tanh highway MLP: stem 784 -> 64 + tanh, 50 highway layers of width
      64 (coupled carry: y = T*H + (1-T)*x, transform and gate as one 64 -> 128
      product per layer, gate bias -2), head 64 -> 10; batch 128, softmax
      cross-entropy, SGD(lr=0.01, momentum=0.9, PyTorch's rule).
  w2  LSTM(32 -> 128) over T=100, batch 32, Linear(128, 1) on the last hidden
      state, MSE, SGD(lr=0.01). PyTorch's layout (W_ih, W_hh, b_ih, b_hh, gates
      i f g o); the input projection of all steps is one product, the recurrence
      a lax.scan.
  w3  TCN (Bai et al., no weight norm, no dropout): input 2, 8 levels of 30
      channels, kernel 7, dilation 2^i, two causal convs + ReLU per level, 1x1
      downsample on level 0, Linear(30, 1) on the last step; adding problem,
      T=400, batch 32, MSE, SGD(lr=0.01).
  w4  GRU(32 -> 128), PyTorch's formulas (n = tanh(W_in x + b_in + r*(W_hn h + b_hn))),
      otherwise as w2.

One step = one jitted call computing the loss, the gradients (jax.value_and_grad)
and the SGD update, with the parameters (and momentum) donated; "zero_grad" has
no counterpart in JAX (gradients are fresh values). Each step is timed with
time.perf_counter() around the call and jax.block_until_ready of its outputs.
Compilation happens in the first warm-up step.

Threads: XLA's CPU backend reads its thread settings from XLA_FLAGS, which must
be set before jax is imported; this script sets (unless XLA_FLAGS is already in
the environment)
  --threads 1: XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
  --threads N: XLA_FLAGS="--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads=N"
and, with --pin, also restricts the process to the first N CPUs
(os.sched_setaffinity), which bounds every thread pool whatever the flags do.
The JSON line reports cpu_wall_ratio (process CPU time / wall time over the
timed steps), which shows how many cores the process really used.

Output: one JSON line (median, quartiles, min, max ms per step, versions, machine,
load averages, parameter count).
"""

import argparse
import json
import os
import platform
import sys
import time


from benchcommon import cpu_model, loadavg, timing_fields


def uniform(rng, shape, bound):
    return rng.uniform(-bound, bound, size=shape).astype("float32")


def glorot(rng, out_dim, in_dim):
    return uniform(rng, (out_dim, in_dim), (6.0 / (in_dim + out_dim)) ** 0.5)


# --------------------------------------------------------------------------
# Models: each builder returns (params, loss(params) -> scalar, momentum or None)
# --------------------------------------------------------------------------


def build_w1(jnp, jax, np, rng, args):
    w = args.width
    params = {
        "stem": {"w": glorot(rng, w, args.in_dim), "b": np.zeros(w, "float32")},
        "layers": [],
        "head": {"w": glorot(rng, args.classes, w), "b": np.zeros(args.classes, "float32")},
    }
    for _ in range(args.depth):
        wt = np.concatenate([glorot(rng, w, w), glorot(rng, w, w)], axis=0)  # [W_H; W_T]
        b = np.concatenate([np.zeros(w, "float32"), np.full(w, args.gate_bias, "float32")])
        params["layers"].append({"w": wt, "b": b})
    x = jnp.asarray(rng.uniform(0, 1, (args.batch, args.in_dim)).astype("float32"))
    y = jnp.asarray(rng.integers(0, args.classes, args.batch))

    def loss(p):
        h = jnp.tanh(x @ p["stem"]["w"].T + p["stem"]["b"])
        for layer in p["layers"]:
            z = h @ layer["w"].T + layer["b"]
            t = jax.nn.sigmoid(z[:, w:])
            h = t * jnp.tanh(z[:, :w]) + (1.0 - t) * h
        logits = h @ p["head"]["w"].T + p["head"]["b"]
        logp = jax.nn.log_softmax(logits, axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    return params, loss, args.momentum


def rnn_params(np, rng, args, gates):
    h, d = args.hidden, args.in_dim
    bound = 1.0 / h ** 0.5  # PyTorch's nn.LSTM / nn.GRU init
    p = {
        "w_ih": uniform(rng, (gates * h, d), bound),
        "w_hh": uniform(rng, (gates * h, h), bound),
        "b_ih": uniform(rng, (gates * h,), bound),
        "b_hh": uniform(rng, (gates * h,), bound),
        "head": {"w": uniform(rng, (1, h), bound), "b": uniform(rng, (1,), bound)},
    }
    return p


def build_w2(jnp, jax, np, rng, args):
    h = args.hidden
    params = rnn_params(np, rng, args, 4)
    params["b_ih"][h:2 * h] = 1.0  # depthlab's default forget bias (bias_hh's forget block 0)
    params["b_hh"][h:2 * h] = 0.0
    x = jnp.asarray(rng.uniform(0, 1, (args.seq_len, args.batch, args.in_dim)).astype("float32"))
    target = jnp.asarray(rng.uniform(0, 1, (args.batch, 1)).astype("float32"))

    def loss(p):
        gx = x @ p["w_ih"].T + (p["b_ih"] + p["b_hh"])  # [T, B, 4H], one product

        def cell(carry, g_in):
            hh, cc = carry
            g = g_in + hh @ p["w_hh"].T
            i = jax.nn.sigmoid(g[:, :h])
            f = jax.nn.sigmoid(g[:, h:2 * h])
            gg = jnp.tanh(g[:, 2 * h:3 * h])
            o = jax.nn.sigmoid(g[:, 3 * h:])
            cc = f * cc + i * gg
            return (o * jnp.tanh(cc), cc), None

        zeros = jnp.zeros((args.batch, h), jnp.float32)
        (h_last, _), _ = jax.lax.scan(cell, (zeros, zeros), gx, unroll=args.unroll)
        pred = h_last @ p["head"]["w"].T + p["head"]["b"]
        return jnp.mean((pred - target) ** 2)

    return params, loss, None


def build_w4(jnp, jax, np, rng, args):
    h = args.hidden
    params = rnn_params(np, rng, args, 3)
    x = jnp.asarray(rng.uniform(0, 1, (args.seq_len, args.batch, args.in_dim)).astype("float32"))
    target = jnp.asarray(rng.uniform(0, 1, (args.batch, 1)).astype("float32"))

    def loss(p):
        gx = x @ p["w_ih"].T + p["b_ih"]  # [T, B, 3H]

        def cell(hh, g_in):
            gh = hh @ p["w_hh"].T + p["b_hh"]
            r = jax.nn.sigmoid(g_in[:, :h] + gh[:, :h])
            z = jax.nn.sigmoid(g_in[:, h:2 * h] + gh[:, h:2 * h])
            n = jnp.tanh(g_in[:, 2 * h:] + r * gh[:, 2 * h:])
            return (1.0 - z) * n + z * hh, None

        h_last, _ = jax.lax.scan(cell, jnp.zeros((args.batch, h), jnp.float32), gx, unroll=args.unroll)
        pred = h_last @ p["head"]["w"].T + p["head"]["b"]
        return jnp.mean((pred - target) ** 2)

    return params, loss, None


def build_w3(jnp, jax, np, rng, args):
    k, c = args.kernel, args.channels
    levels, cin = [], args.in_dim
    for _ in range(args.levels):
        b1, b2 = 1.0 / (cin * k) ** 0.5, 1.0 / (c * k) ** 0.5  # PyTorch's Conv1d init
        lv = {"conv1": {"w": uniform(rng, (c, cin, k), b1), "b": uniform(rng, (c,), b1)},
              "conv2": {"w": uniform(rng, (c, c, k), b2), "b": uniform(rng, (c,), b2)}}
        if cin != c:
            bd = 1.0 / cin ** 0.5
            lv["downsample"] = {"w": uniform(rng, (c, cin, 1), bd), "b": uniform(rng, (c,), bd)}
        levels.append(lv)
        cin = c
    params = {"levels": levels,
              "head": {"w": glorot(rng, 1, c), "b": np.zeros(1, "float32")}}

    # The adding problem: channel 0 ~ U(0, 1), channel 1 marks one step in each half.
    t, bsz = args.seq_len, args.batch
    vals = rng.uniform(0, 1, (bsz, t)).astype("float32")
    marks = np.zeros((bsz, t), "float32")
    i = rng.integers(0, t // 2, bsz)
    j = rng.integers(t // 2, t, bsz)
    marks[np.arange(bsz), i] = 1.0
    marks[np.arange(bsz), j] = 1.0
    x = jnp.asarray(np.stack([vals, marks], axis=1))  # [B, 2, T] (NCW, as PyTorch)
    target = jnp.asarray((vals[np.arange(bsz), i] + vals[np.arange(bsz), j])[:, None])

    def conv(v, cp, d, pad):
        y = jax.lax.conv_general_dilated(
            v, cp["w"], window_strides=(1,), padding=[(pad, 0)], rhs_dilation=(d,),
            dimension_numbers=("NCH", "OIH", "NCH"))
        return y + cp["b"][None, :, None]

    def loss(p):
        v = x
        for li, lv in enumerate(p["levels"]):
            d = 2 ** li
            hh = jax.nn.relu(conv(v, lv["conv1"], d, (k - 1) * d))
            hh = jax.nn.relu(conv(hh, lv["conv2"], d, (k - 1) * d))
            res = conv(v, lv["downsample"], 1, 0) if "downsample" in lv else v
            v = jax.nn.relu(hh + res)
        pred = v[:, :, -1] @ p["head"]["w"].T + p["head"]["b"]
        return jnp.mean((pred - target) ** 2)

    return params, loss, None


# --------------------------------------------------------------------------


def run(args):
    if "XLA_FLAGS" not in os.environ:
        if args.threads == 1:
            os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        else:
            os.environ["XLA_FLAGS"] = (
                f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={args.threads}")
    if args.pin:
        os.sched_setaffinity(0, set(range(args.threads)))
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    # Reuse compiled executables across runs (W1's 50 unrolled layers take ~10-25 s to compile).
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", f"/tmp/jax_cache_{os.getuid()}")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

    import numpy as np
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(args.seed)
    builders = {"w1": build_w1, "w2": build_w2, "w3": build_w3, "w4": build_w4}
    params, loss_fn, momentum = builders[args.cmd](jnp, jax, np, rng, args)
    params = jax.tree_util.tree_map(jnp.asarray, params)
    lr = args.lr

    if momentum is None:
        def step(p):
            loss, g = jax.value_and_grad(loss_fn)(p)
            return jax.tree_util.tree_map(lambda a, b: a - lr * b, p, g), loss

        step = jax.jit(step, donate_argnums=0)
        state = params

        def call(s):
            return step(s)
    else:
        # PyTorch's SGD momentum: buf = m * buf + g (buf = g at the first step), p -= lr * buf.
        def step_m(p, buf, first):
            loss, g = jax.value_and_grad(loss_fn)(p)
            buf = jax.tree_util.tree_map(
                lambda b, gg: jnp.where(first, gg, momentum * b + gg), buf, g)
            return jax.tree_util.tree_map(lambda a, b: a - lr * b, p, buf), buf, loss

        step_m = jax.jit(step_m, donate_argnums=(0, 1))
        state = (params, jax.tree_util.tree_map(jnp.zeros_like, params), True)

        def call(s):
            p, buf, loss = step_m(*s)
            return (p, buf, False), loss

    n_params = sum(int(np.prod(a.shape)) for a in jax.tree_util.tree_leaves(params))

    t0 = time.perf_counter()
    state, loss = call(state)
    jax.block_until_ready((state, loss))
    compile_s = time.perf_counter() - t0
    for _ in range(args.warmup - 1):
        state, loss = call(state)
        jax.block_until_ready((state, loss))

    times_ms = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(args.steps):
        t0 = time.perf_counter()
        state, loss = call(state)
        jax.block_until_ready((state, loss))
        times_ms.append((time.perf_counter() - t0) * 1e3)
    cpu_ratio = (time.process_time() - cpu0) / (time.perf_counter() - wall0)

    la = loadavg()
    result = {
        "tool": "jax-jit",
        "workload": args.cmd,
        "threads": args.threads,
        "batch": args.batch,
        **timing_fields(times_ms),
        "warmup": args.warmup,
        "first_step_s": round(compile_s, 3),
        "cpu_wall_ratio": round(cpu_ratio, 3),
        "loadavg_1m": la[0] if la else None,
        "loadavg": la,
        "params": n_params,
        "final_loss": round(float(loss), 6),
        "jax": jax.__version__,
        "jaxlib": getattr(jax.lib, "__version__", None) or __import__("jaxlib").__version__,
        "xla_flags": os.environ.get("XLA_FLAGS"),
        "pinned": bool(args.pin),
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "nproc": os.cpu_count(),
        "seed": args.seed,
    }
    print(json.dumps(result))
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp, batch):
        sp.add_argument("--steps", type=int, default=200, help="timed steps (default 200)")
        sp.add_argument("--warmup", type=int, default=20,
                        help="untimed steps, the first compiles (default 20)")
        sp.add_argument("--threads", type=int, default=1, help="XLA CPU threads (default 1)")
        sp.add_argument("--pin", action="store_true",
                        help="also restrict the process to the first --threads CPUs")
        sp.add_argument("--batch", type=int, default=batch)
        sp.add_argument("--seed", type=int, default=0)
        sp.add_argument("--lr", type=float, default=0.01)

    w1 = sub.add_parser("w1", help="50-layer highway MLP, cross-entropy, SGD+momentum")
    common(w1, 128)
    w1.add_argument("--in-dim", type=int, default=784)
    w1.add_argument("--width", type=int, default=64)
    w1.add_argument("--depth", type=int, default=50)
    w1.add_argument("--classes", type=int, default=10)
    w1.add_argument("--gate-bias", type=float, default=-2.0)
    w1.add_argument("--momentum", type=float, default=0.9)
    for name, helptext in (("w2", "LSTM(32->128), T=100, MSE, SGD"), ("w4", "GRU(32->128), T=100, MSE, SGD")):
        sp = sub.add_parser(name, help=helptext)
        common(sp, 32)
        sp.add_argument("--seq-len", type=int, default=100)
        sp.add_argument("--in-dim", type=int, default=32)
        sp.add_argument("--hidden", type=int, default=128)
        sp.add_argument("--unroll", type=int, default=1,
                        help="lax.scan's unroll factor (steps per loop iteration, default 1)")
    w3 = sub.add_parser("w3", help="TCN 8 x 30 channels, kernel 7, adding problem T=400, MSE, SGD")
    common(w3, 32)
    w3.add_argument("--seq-len", type=int, default=400)
    w3.add_argument("--in-dim", type=int, default=2)
    w3.add_argument("--channels", type=int, default=30)
    w3.add_argument("--levels", type=int, default=8)
    w3.add_argument("--kernel", type=int, default=7)

    args = p.parse_args(argv)
    if args.threads < 1:
        p.error("--threads must be at least 1")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
