#!/usr/bin/env python3
"""PyTorch (CPU) reference timings for depthlab's training workloads.

Subcommands:
  w1  50-layer highway MLP (784 -> 64 stem, 50 highway layers of width 64,
      64 -> 10 head), softmax cross-entropy, SGD(lr=0.01, momentum=0.9), batch 128.
  w2  nn.LSTM(32 -> 128), input [32, 100, 32], Linear(128, 1) readout of the
      last hidden state, MSE, SGD(lr=0.01).
  w3  TCN (Bai et al., no weight norm, no dropout): input 2, 8 levels of 30
      channels, kernel 7, dilation 2^i, two causal convs + ReLU per level, 1x1
      downsample on level 0, Linear(30, 1) readout of the last step; the adding
      problem at T = 400, batch 32, MSE, SGD(lr=0.01).
  w4  nn.GRU(32 -> 128), otherwise as w2.

One "step" = optimizer.zero_grad() + forward + loss + backward + optimizer.step(),
timed with time.perf_counter() around the whole step. After the warm-up steps
(default 20) each of --steps timed steps (default 200) is recorded and the script
prints ONE JSON line with median/min/max/mean/count of ms per step plus the
versions and machine details.

Examples (run from the repository root):
  /work/venv-torch/bin/python bench/torch_ref.py w1
  /work/venv-torch/bin/python bench/torch_ref.py w1 --fused-gates
  /work/venv-torch/bin/python bench/torch_ref.py w2
  /work/venv-torch/bin/python bench/torch_ref.py w1 --compile
  /work/venv-torch/bin/python bench/torch_ref.py w3 --threads 2 --batch 64
"""

import argparse
import json
import os
import platform
import sys
import time


from benchcommon import cpu_model, loadavg, timing_fields


# --------------------------------------------------------------------------
# Workload 1: highway MLP
# --------------------------------------------------------------------------


def build_w1(torch, nn, F, args):
    width = args.width

    class Highway(nn.Module):
        """y = T * H + (1 - T) * x, H = tanh(W_H x + b_H), T = sigmoid(W_T x + b_T)."""

        def __init__(self):
            super().__init__()
            self.transform = nn.Linear(width, width)
            self.gate = nn.Linear(width, width)
            with torch.no_grad():
                self.gate.bias.fill_(args.gate_bias)

        def forward(self, x):
            h = torch.tanh(self.transform(x))
            t = torch.sigmoid(self.gate(x))
            return t * h + (1.0 - t) * x

    class HighwayFused(nn.Module):
        """Same maths, one Linear(width, 2*width): first half = transform, second half = gate."""

        def __init__(self):
            super().__init__()
            self.fused = nn.Linear(width, 2 * width)
            with torch.no_grad():
                self.fused.bias[width:].fill_(args.gate_bias)

        def forward(self, x):
            hp, tp = self.fused(x).split(width, dim=-1)
            h = torch.tanh(hp)
            t = torch.sigmoid(tp)
            return t * h + (1.0 - t) * x

    class HighwayNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Linear(args.in_dim, width)
            layer = HighwayFused if args.fused_gates else Highway
            self.layers = nn.ModuleList([layer() for _ in range(args.depth)])
            self.head = nn.Linear(width, args.classes)

        def forward(self, x):
            x = torch.tanh(self.stem(x))
            for layer in self.layers:
                x = layer(x)
            return self.head(x)

    model = HighwayNet()
    # depthlab's W1 init: Glorot-uniform weights, zero biases (gate bias -2, set above).
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight"):
                if p.shape[0] == 2 * width and args.fused_gates:
                    nn.init.xavier_uniform_(p[:width])
                    nn.init.xavier_uniform_(p[width:])
                else:
                    nn.init.xavier_uniform_(p)
            elif not (name.endswith("gate.bias") or name.endswith("fused.bias")):
                p.zero_()
            elif name.endswith("fused.bias"):
                p[:width].zero_()
            else:
                pass
        for layer in model.layers:
            if not args.fused_gates:
                layer.transform.bias.zero_()
    x = torch.rand(args.batch, args.in_dim)
    y = torch.randint(0, args.classes, (args.batch,))
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)

    def loss_fn(fwd):
        return F.cross_entropy(fwd(x), y)

    return model, opt, loss_fn


def last_step_regression(torch, F, args, model):
    """W2's and W4's batch, optimiser and loss around `model`: random inputs [batch, T, in] and
    targets [batch, 1], SGD, MSE of the model's output."""
    x = torch.rand(args.batch, args.seq_len, args.in_dim)
    target = torch.rand(args.batch, 1)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)

    def loss_fn(fwd):
        return F.mse_loss(fwd(x), target)

    return model, opt, loss_fn


# --------------------------------------------------------------------------
# Workload 2: LSTM regression
# --------------------------------------------------------------------------


def build_w2(torch, nn, F, args):
    class LstmReg(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(
                input_size=args.in_dim, hidden_size=args.hidden, batch_first=True
            )
            self.head = nn.Linear(args.hidden, 1)

        def forward(self, x):
            _, (h_n, _) = self.lstm(x)
            return self.head(h_n[-1])  # [batch, 1]

    model = LstmReg()
    if args.forget_bias is not None:
        # depthlab's default: bias_ih's forget block (rows H..2H) = 1, bias_hh's = 0.
        h = args.hidden
        with torch.no_grad():
            model.lstm.bias_ih_l0[h:2 * h].fill_(args.forget_bias)
            model.lstm.bias_hh_l0[h:2 * h].zero_()
    return last_step_regression(torch, F, args, model)


# --------------------------------------------------------------------------
# Workload 3: TCN on the adding problem
# --------------------------------------------------------------------------


def adding_batch(torch, batch, t, gen):
    """The adding problem: channel 0 ~ U(0, 1), channel 1 marks two steps (one in each half);
    target = the sum of the two marked values. Returned as [batch, 2, T] and [batch, 1]."""
    vals = torch.rand(batch, t, generator=gen)
    marks = torch.zeros(batch, t)
    half = t // 2
    i = torch.randint(0, half, (batch,), generator=gen)
    j = torch.randint(half, t, (batch,), generator=gen)
    rows = torch.arange(batch)
    marks[rows, i] = 1.0
    marks[rows, j] = 1.0
    x = torch.stack([vals, marks], dim=1)
    y = (vals[rows, i] + vals[rows, j]).unsqueeze(1)
    return x, y


def build_w3(torch, nn, F, args):
    k = args.kernel

    class Level(nn.Module):
        """out = relu(x' + relu(conv2(relu(conv1(x))))), causal dilated convs (pad left by
        (k-1)d: the same as padding both sides and chomping the last (k-1)d steps)."""

        def __init__(self, cin, cout, d):
            super().__init__()
            self.pad = (k - 1) * d
            self.conv1 = nn.Conv1d(cin, cout, k, dilation=d)
            self.conv2 = nn.Conv1d(cout, cout, k, dilation=d)
            self.downsample = nn.Conv1d(cin, cout, 1) if cin != cout else None

        def forward(self, x):
            h = F.relu(self.conv1(F.pad(x, (self.pad, 0))))
            h = F.relu(self.conv2(F.pad(h, (self.pad, 0))))
            res = x if self.downsample is None else self.downsample(x)
            return F.relu(h + res)

    class Tcn(nn.Module):
        def __init__(self):
            super().__init__()
            levels, cin = [], args.in_dim
            for i in range(args.levels):
                levels.append(Level(cin, args.channels, 2 ** i))
                cin = args.channels
            self.levels = nn.ModuleList(levels)
            self.head = nn.Linear(args.channels, 1)

        def forward(self, x):  # x [batch, in, T]
            for level in self.levels:
                x = level(x)
            return self.head(x[:, :, -1])

    model = Tcn()
    gen = torch.Generator().manual_seed(args.seed + 1)
    x, target = adding_batch(torch, args.batch, args.seq_len, gen)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)

    def loss_fn(fwd):
        return F.mse_loss(fwd(x), target)

    return model, opt, loss_fn


# --------------------------------------------------------------------------
# Workload 4: GRU regression
# --------------------------------------------------------------------------


def build_w4(torch, nn, F, args):
    class GruReg(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(input_size=args.in_dim, hidden_size=args.hidden, batch_first=True)
            self.head = nn.Linear(args.hidden, 1)

        def forward(self, x):
            _, h_n = self.gru(x)
            return self.head(h_n[-1])

    model = GruReg()
    return last_step_regression(torch, F, args, model)


# --------------------------------------------------------------------------


def run(args, build):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    # Must come before any parallel work.
    torch.set_num_interop_threads(args.threads)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    model, opt, loss_fn = build(torch, nn, F, args)

    fwd = model
    if args.compile:
        try:
            fwd = torch.compile(model)
            # Trigger compilation (forward + backward graphs) now, so failures
            # are caught here rather than in the timed loop.
            opt.zero_grad()
            loss_fn(fwd).backward()
            opt.zero_grad()
        except Exception as e:  # noqa: BLE001 - any failure means "skip"
            msg = f"torch.compile failed on this machine, skipping: {type(e).__name__}: {e}"
            print(msg.splitlines()[0][:500], file=sys.stderr)
            print(json.dumps({"workload": args.cmd, "compile": True, "skipped": True,
                              "reason": msg.splitlines()[0][:500]}))
            return 0

    def step():
        opt.zero_grad()
        loss = loss_fn(fwd)
        loss.backward()
        opt.step()
        return loss

    for _ in range(args.warmup):
        step()

    times_ms = []
    loss = None
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(args.steps):
        t0 = time.perf_counter()
        loss = step()
        t1 = time.perf_counter()
        times_ms.append((t1 - t0) * 1e3)
    # CPU time of this process / wall time over the timed loop. With one thread
    # this should be ~1.0; clearly below 1.0 means the process was descheduled
    # (another job competing for the cores), so the numbers are suspect.
    cpu_ratio = (time.process_time() - cpu0) / (time.perf_counter() - wall0)

    n_params = sum(p.numel() for p in model.parameters())
    variants = {"w1": "fused-gates" if getattr(args, "fused_gates", False) else "separate-gates",
                "w2": "lstm", "w3": "tcn", "w4": "gru"}
    result = {
        "tool": "torch.compile" if args.compile else "torch-eager",
        "workload": args.cmd,
        "variant": variants[args.cmd],
        "compile": bool(args.compile),
        "threads": args.threads,
        "batch": args.batch,
        **timing_fields(times_ms),
        "warmup": args.warmup,
        "cpu_wall_ratio": round(cpu_ratio, 3),
        "loadavg_1m": (loadavg() or [None])[0],
        "loadavg": loadavg(),
        "params": n_params,
        "final_loss": round(float(loss.detach()), 6) if loss is not None else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "nproc": os.cpu_count(),
        "num_threads": torch.get_num_threads(),
        "num_interop_threads": torch.get_num_interop_threads(),
        "seed": args.seed,
    }
    print(json.dumps(result))
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp):
        sp.add_argument("--steps", type=int, default=200, help="timed steps (default 200)")
        sp.add_argument("--warmup", type=int, default=20, help="untimed warm-up steps (default 20)")
        sp.add_argument("--threads", type=int, default=1,
                        help="torch intra-op and inter-op threads (default 1)")
        sp.add_argument("--seed", type=int, default=0)
        sp.add_argument("--compile", action="store_true",
                        help="wrap the model in torch.compile (skips with a message if it fails)")

    w1 = sub.add_parser("w1", help="50-layer highway MLP, cross-entropy, SGD+momentum")
    common(w1)
    w1.add_argument("--fused-gates", action="store_true",
                    help="one Linear(64,128) per layer, split into transform/gate halves")
    w1.add_argument("--batch", type=int, default=128)
    w1.add_argument("--in-dim", type=int, default=784)
    w1.add_argument("--width", type=int, default=64)
    w1.add_argument("--depth", type=int, default=50)
    w1.add_argument("--classes", type=int, default=10)
    w1.add_argument("--gate-bias", type=float, default=-2.0)
    w1.add_argument("--lr", type=float, default=0.01)
    w1.add_argument("--momentum", type=float, default=0.9)
    w1.set_defaults(build=build_w1)

    w2 = sub.add_parser("w2", help="LSTM(32->128) over T=100, MSE, SGD")
    common(w2)
    w2.add_argument("--batch", type=int, default=32)
    w2.add_argument("--seq-len", type=int, default=100)
    w2.add_argument("--in-dim", type=int, default=32)
    w2.add_argument("--hidden", type=int, default=128)
    w2.add_argument("--lr", type=float, default=0.01)
    w2.add_argument("--forget-bias", type=float, default=1.0,
                    help="LSTM forget-gate bias (depthlab's default 1; as bias_ih, bias_hh's = 0)")
    w2.set_defaults(build=build_w2)

    w3 = sub.add_parser("w3", help="TCN 8 x 30 channels, kernel 7, adding problem T=400, MSE, SGD")
    common(w3)
    w3.add_argument("--batch", type=int, default=32)
    w3.add_argument("--seq-len", type=int, default=400)
    w3.add_argument("--in-dim", type=int, default=2)
    w3.add_argument("--channels", type=int, default=30)
    w3.add_argument("--levels", type=int, default=8)
    w3.add_argument("--kernel", type=int, default=7)
    w3.add_argument("--lr", type=float, default=0.01)
    w3.set_defaults(build=build_w3)

    w4 = sub.add_parser("w4", help="GRU(32->128) over T=100, MSE, SGD")
    common(w4)
    w4.add_argument("--batch", type=int, default=32)
    w4.add_argument("--seq-len", type=int, default=100)
    w4.add_argument("--in-dim", type=int, default=32)
    w4.add_argument("--hidden", type=int, default=128)
    w4.add_argument("--lr", type=float, default=0.01)
    w4.set_defaults(build=build_w4)

    args = p.parse_args(argv)
    return run(args, args.build)


if __name__ == "__main__":
    sys.exit(main())
