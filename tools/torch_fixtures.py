#!/usr/bin/env python3
"""PyTorch reference fixtures for depthlab (tests/torch_agreement.rs).

For every architecture depthlab has, this builds the equivalent PyTorch model (the classes
below are the mapping of docs/pytorch.md), draws random weights and a small
batch, runs one forward and one backward pass, and writes, per case, a folder under
tests/fixtures/torch/:

    config.toml           the depthlab config of the model
    weights.safetensors   the PyTorch state dict (f32), names as depthlab names its parameters
    input.npy             the batch: float32 [batch, features] or [batch, time, features],
                          or int64 tokens [batch, time]
    target.npy            (when the case has one) int64 labels [batch] / [batch, time], or
                          float32 [batch, out]
    target_<name>.npy     the targets `name` of per-layer heads (model.layer_heads[j].target),
                          as target.npy (`depthlab grads --head-target name=target_<name>.npy`)
    expected.safetensors  what `depthlab grads` must write: loss, output, grad.<param>,
                          act.<block> (the gradient of the loss at every block output), and
                          for layer heads output.layer_heads.<j> and act.layer_heads.<j>

The reference numbers are computed in float64 from the float32 weights and inputs (so they are
the exact values the f32 computation approximates) and stored as float32.

It then checks the other direction: every depthlab-made checkpoint under
tests/fixtures/torch/depthlab_made/ (written by `cargo test --test torch_agreement` with
DEPTHLAB_REGEN_FIXTURES=1) is loaded into the PyTorch model with load_state_dict(strict=True)
and must reproduce depthlab's loss, outputs and gradients.

Run from the repository root, in a virtualenv with torch, numpy and safetensors from PyPI
(python -m venv .venv && .venv/bin/pip install torch numpy safetensors):

    python tools/torch_fixtures.py            # regenerate the fixtures, then check depthlab_made
    python tools/torch_fixtures.py --check    # only check depthlab_made
"""

import argparse
import math
import os
import shutil
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "torch")

ACTIVATIONS = {
    "tanh": torch.tanh,
    "relu": F.relu,
    "sigmoid": torch.sigmoid,
    "identity": lambda x: x,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.01),
    "gelu": F.gelu,  # exact erf form, approximate='none'
}


# ---------------------------------------------------------------------------------------------
# Feed-forward models: x -> stem -> layers.0 .. layers.{depth-1} -> head (+ aux.j heads)
# ---------------------------------------------------------------------------------------------


class LinearAct(nn.Module):
    """depthlab `plain` layer and the stem: phi(W x + b); parameters `linear.*`."""

    def __init__(self, i, o, phi):
        super().__init__()
        self.linear = nn.Linear(i, o)
        self.phi = ACTIVATIONS[phi]

    def forward(self, x):
        return self.phi(self.linear(x))


class Residual(nn.Module):
    """y = x + F(x). Post-activation: F = phi(fc1 x) or fc2 phi(fc1 x); pre-activation
    (preact = true): F = fc1 phi(x) or fc2 phi(fc1 phi(x))."""

    def __init__(self, w, layers, phi, preact):
        super().__init__()
        self.fc1 = nn.Linear(w, w)
        self.fc2 = nn.Linear(w, w) if layers == 2 else None
        self.phi = ACTIVATIONS[phi]
        self.preact = preact

    def forward(self, x):
        if self.preact:
            f = self.fc1(self.phi(x))
            if self.fc2 is not None:
                f = self.fc2(self.phi(f))
        else:
            f = self.phi(self.fc1(x))
            if self.fc2 is not None:
                f = self.fc2(f)
        return x + f


class Highway(nn.Module):
    """y = T H + C x, H = phi(transform x), T = sigmoid(gate x); C = 1 - T (coupled) or
    sigmoid(carry x) (independent)."""

    def __init__(self, w, phi, independent):
        super().__init__()
        self.transform = nn.Linear(w, w)
        self.gate = nn.Linear(w, w)
        self.carry = nn.Linear(w, w) if independent else None
        self.phi = ACTIVATIONS[phi]

    def forward(self, x):
        h = self.phi(self.transform(x))
        t = torch.sigmoid(self.gate(x))
        c = 1 - t if self.carry is None else torch.sigmoid(self.carry(x))
        return t * h + c * x


class WeightedSkip(nn.Module):
    """y = alpha x + phi(linear x), alpha of shape [1] or [width]."""

    def __init__(self, w, phi, per_unit):
        super().__init__()
        self.linear = nn.Linear(w, w)
        self.alpha = nn.Parameter(torch.ones(w if per_unit else 1))
        self.phi = ACTIVATIONS[phi]

    def forward(self, x):
        return self.alpha * x + self.phi(self.linear(x))


class FeedForward(nn.Module):
    def __init__(self, m, in_dim, out_dim):
        super().__init__()
        arch, w, phi, depth = m["arch"], m["width"], m.get("activation", "tanh"), m["depth"]
        self.arch = arch
        self.stem = LinearAct(in_dim, w, phi)
        if arch == "dense":
            g = m.get("growth", 12)
            self.layers = nn.ModuleList([LinearAct(w + l * g, g, phi) for l in range(depth)])
            top = w + depth * g
        elif arch == "dense_to_output":
            self.layers = nn.ModuleList([LinearAct(w, w, phi) for _ in range(depth)])
            top = depth * w
        else:
            make = {
                "plain": lambda: LinearAct(w, w, phi),
                "residual": lambda: Residual(w, m.get("residual_layers", 2), phi, m.get("preact", False)),
                "highway": lambda: Highway(w, phi, m.get("carry", "coupled") == "independent"),
                "weighted_skip": lambda: WeightedSkip(w, phi, m.get("per_unit_alpha", False)),
            }[arch]
            self.layers = nn.ModuleList([make() for _ in range(depth)])
            top = w
        self.head = nn.Linear(top, out_dim)
        self.aux_layers = [a["layer"] for a in m.get("aux", [])]
        self.aux_weights = [a["weight"] for a in m.get("aux", [])]
        self.aux = nn.ModuleList([nn.Linear(w, out_dim) for _ in self.aux_layers])

    def forward(self, x, taps):
        """The output, the auxiliary logits; `taps` gets every block output (retain_grad)."""
        h = tap(taps, "act.stem", self.stem(x))
        aux = [None] * len(self.aux)
        if self.arch == "dense":
            feats = [h]
            for l, layer in enumerate(self.layers):
                feats.append(tap(taps, f"act.layers.{l}", layer(torch.cat(feats, dim=1))))
            h = tap(taps, "act.layers", torch.cat(feats, dim=1))
        elif self.arch == "dense_to_output":
            outs = []
            for l, layer in enumerate(self.layers):
                h = tap(taps, f"act.layers.{l}", layer(h))
                outs.append(h)
            h = tap(taps, "act.layers", torch.cat(outs, dim=1))
        else:
            for i, layer in enumerate(self.layers):
                h = tap(taps, f"act.layers.{i}", layer(h))
                for j, at in enumerate(self.aux_layers):
                    if at == i:
                        aux[j] = self.aux[j](h)
        return tap(taps, "act.head", self.head(h)), aux


def tap(taps, name, t):
    if t.requires_grad:
        t.retain_grad()
    taps[name] = t
    return t


# ---------------------------------------------------------------------------------------------
# Sequence models: [embed ->] body -> head (last step, or every step)
# ---------------------------------------------------------------------------------------------


class Chomp(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.n = n

    def forward(self, x):
        return x[:, :, : -self.n] if self.n > 0 else x


class TcnLevel(nn.Module):
    """out = relu(x' + relu(conv2(relu(conv1(x))))), causal convolutions (padding (k-1)d on
    both sides, then the last (k-1)d steps chomped); x' = x or downsample(x) (1x1 conv)."""

    def __init__(self, i, o, k, d):
        super().__init__()
        pad = (k - 1) * d
        self.conv1 = nn.Conv1d(i, o, k, padding=pad, dilation=d)
        self.conv2 = nn.Conv1d(o, o, k, padding=pad, dilation=d)
        self.chomp = Chomp(pad)
        self.downsample = nn.Conv1d(i, o, 1) if i != o else None

    def forward(self, x):  # [B, C, T]
        h = F.relu(self.chomp(self.conv1(x)))
        h = F.relu(self.chomp(self.conv2(h)))
        res = x if self.downsample is None else self.downsample(x)
        return F.relu(res + h)


class Tcn(nn.Module):
    def __init__(self, i, w, levels, k, dilated):
        super().__init__()
        self.levels = nn.ModuleList(
            [TcnLevel(i if l == 0 else w, w, k, 2**l if dilated else 1) for l in range(levels)]
        )


def sinusoidal(t, e):
    w = torch.exp(torch.arange(0, e, 2, dtype=torch.float64) * (-math.log(10000.0) / e))
    p = torch.zeros(t, e, dtype=torch.float64)
    pos = torch.arange(t, dtype=torch.float64)[:, None]
    p[:, 0::2] = torch.sin(pos * w)
    p[:, 1::2] = torch.cos(pos * w[: e // 2])
    return p


class AttnLayer(nn.MultiheadAttention):
    """nn.MultiheadAttention (state dict: in_proj_weight, in_proj_bias, out_proj.*) plus, at
    layer 0 with learned positions, `pos` (an nn.Embedding). y = u + attn(u, u, u) with a causal
    mask, u = x + P."""

    def __init__(self, e, heads, pos, max_len):
        super().__init__(e, heads, batch_first=True)
        self.pos_kind = pos
        if pos == "learned":
            self.pos = nn.Embedding(max_len, e)

    def forward(self, x):  # [B, T, E]
        t, e = x.shape[1], x.shape[2]
        if self.pos_kind == "sinusoidal":
            u = x + sinusoidal(t, e).to(x.dtype)
        elif self.pos_kind == "learned":
            u = x + self.pos.weight[:t]
        else:
            u = x
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
        a, _ = super().forward(u, u, u, attn_mask=mask, need_weights=False)
        return u + a


RNNS = {"rnn_tanh": "RNN", "rnn_relu": "RNN", "lstm": "LSTM", "gru": "GRU"}


class SeqNet(nn.Module):
    """[embed ->] body -> head, and for recurrent bodies `layer_heads.{j}`: nn.Linear on the
    output sequence of layer `layer` (both directions concatenated), read at every step or at
    the last one, as its targets ask."""

    def __init__(self, m, in_dim, out_dim, vocab=None, max_len=None, head_outs=()):
        super().__init__()
        arch, w, depth = m["arch"], m["width"], m["depth"]
        self.arch = arch
        if vocab is not None:
            self.embed = nn.Embedding(vocab, m.get("embed_dim", w))
            in_dim = m.get("embed_dim", w)
        else:
            self.embed = None
        if arch in RNNS:
            kw = dict(num_layers=depth, bidirectional=m.get("bidirectional", False), batch_first=True)
            if arch == "rnn_relu":
                kw["nonlinearity"] = "relu"
            self.rnn = getattr(nn, RNNS[arch])(in_dim, w, **kw)
            top = w * (2 if m.get("bidirectional", False) else 1)
        elif arch == "tcn":
            self.tcn = Tcn(in_dim, w, depth, m.get("kernel_size", 2), m.get("dilation", True))
            top = w
        elif arch == "attention":
            self.input = nn.Linear(in_dim, w) if in_dim != w else None
            pos = m.get("positional", "sinusoidal")
            self.attn = nn.ModuleList(
                [AttnLayer(w, m.get("heads", 1), pos if i == 0 else "none", max_len) for i in range(depth)]
            )
            top = w
        self.head = nn.Linear(top, out_dim)
        heads = m.get("layer_heads", [])
        self.head_layers = [hd["layer"] for hd in heads]
        self.head_weights = [hd.get("weight", 1.0) for hd in heads]
        self.head_targets = [hd.get("target") for hd in heads]
        if heads:
            self.layer_heads = nn.ModuleList([nn.Linear(top, o) for o in head_outs])

    def forward(self, x, taps, each, head_each=()):
        """The main output; with layer heads, (output, [each head's output])."""
        h = x
        layers = []
        if self.embed is not None:
            h = tap(taps, "act.embed", self.embed(x))
        if self.arch in RNNS:
            inp = h
            h = self.rnn_unrolled(inp, taps, layers)
            with torch.no_grad():
                ref, _ = self.rnn(inp)
            assert torch.allclose(h, ref, rtol=1e-5, atol=1e-6), "the unrolled recurrence differs from nn.RNN's"
            h = tap(taps, "act.rnn", h)
        elif self.arch == "tcn":
            c = h.transpose(1, 2)
            for l, level in enumerate(self.tcn.levels):
                c = tap(taps, f"_tcn.l{l}", level(c))
            h = tap(taps, "act.tcn", c.transpose(1, 2))
        elif self.arch == "attention":
            if self.input is not None:
                h = tap(taps, "act.input", self.input(h))
            for i, layer in enumerate(self.attn):
                h = tap(taps, f"act.attn.{i}", layer(h))
        out = self.head(h if each else h[:, -1])
        out = tap(taps, "act.head", out)
        if not self.head_layers:
            return out
        outs = []
        for j, (k, e) in enumerate(zip(self.head_layers, head_each)):
            y = layers[k]
            outs.append(tap(taps, f"act.layer_heads.{j}", self.layer_heads[j](y if e else y[:, -1])))
        return out, outs

    def rnn_unrolled(self, x, taps, layers):
        """nn.RNN / nn.LSTM / nn.GRU step by step with its own weights, so that every h_t (and
        c_t) is a tensor whose gradient can be kept."""
        r = self.rnn
        kind = self.arch
        b, t_len, _ = x.shape
        hs = r.hidden_size
        inp = x
        for l in range(r.num_layers):
            outs = []
            for d in range(2 if r.bidirectional else 1):
                sfx = f"l{l}" + ("_reverse" if d else "")
                w_ih, w_hh = getattr(r, "weight_ih_" + sfx), getattr(r, "weight_hh_" + sfx)
                b_ih, b_hh = getattr(r, "bias_ih_" + sfx), getattr(r, "bias_hh_" + sfx)
                h = x.new_zeros(b, hs)
                c = x.new_zeros(b, hs)
                steps = [None] * t_len
                for t in reversed(range(t_len)) if d else range(t_len):
                    gi = inp[:, t] @ w_ih.T + b_ih
                    gh = h @ w_hh.T + b_hh
                    if kind == "rnn_tanh":
                        h = torch.tanh(gi + gh)
                    elif kind == "rnn_relu":
                        h = F.relu(gi + gh)
                    elif kind == "lstm":
                        i, f, g, o = (gi + gh).chunk(4, dim=1)
                        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                        h = torch.sigmoid(o) * torch.tanh(c)
                        tap(taps, f"act.rnn.{sfx}.c.{t}", c)
                    else:
                        ir, iz, i_n = gi.chunk(3, dim=1)
                        hr, hz, h_n = gh.chunk(3, dim=1)
                        rg, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
                        n = torch.tanh(i_n + rg * h_n)
                        h = (1 - z) * n + z * h
                    tap(taps, f"act.rnn.{sfx}.h.{t}", h)
                    steps[t] = h
                outs.append(torch.stack(steps, dim=1))
            inp = torch.cat(outs, dim=2)
            layers.append(inp)
        return inp


# ---------------------------------------------------------------------------------------------
# Running a case
# ---------------------------------------------------------------------------------------------


def build(m, shapes):
    """The PyTorch model for the [model] section `m`; `shapes` gives in/out sizes."""
    if m["arch"] in ("plain", "residual", "highway", "dense", "dense_to_output", "weighted_skip"):
        return FeedForward(m, shapes["in"], shapes["out"])
    return SeqNet(
        m, shapes.get("in"), shapes["out"], shapes.get("vocab"), shapes.get("max_len"), shapes.get("head_outs", ())
    )


def loss_of(out, y, kind, each):
    if kind is None:
        return out.sum()
    if kind == "mse":
        return F.mse_loss(out, y)
    if each:
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1), ignore_index=-100)
    return F.cross_entropy(out, y)


def target_kind(y):
    """(loss kind, per step) of a target tensor (None: no target)."""
    if y is None:
        return None, False
    if y.is_floating_point():
        return "mse", False
    return "ce", y.dim() == 2


def reference(model, m, x, y, dtype, named=None):
    """Loss, output, parameter gradients and block-output gradients, in `dtype`. `named`: the
    targets of layer heads by name (a head without a name learns `y`)."""
    named = named or {}
    model = model.to(dtype)
    model.zero_grad()
    x = x.to(dtype) if x.is_floating_point() else x
    cast = lambda t: None if t is None else (t.to(dtype) if t.is_floating_point() else t)
    kind, each = target_kind(y)
    yy = cast(y)
    taps = {}
    head_outs = []
    if isinstance(model, FeedForward):
        out, aux = model(x, taps)
        loss = loss_of(out, yy, kind, False)
        if kind is not None:
            for w, a in zip(model.aux_weights, aux):
                loss = loss + w * loss_of(a, yy, kind, False)
    elif model.head_layers:
        # Without targets a head reads the main output's layout (its loss is not taken).
        head_y = [named[t] if t is not None else y for t in model.head_targets]
        head_each = [target_kind(t)[1] if kind is not None else each for t in head_y]
        out, head_outs = model(x, taps, each, head_each)
        loss = loss_of(out, yy, kind, each)
        if kind is not None:
            for w, t, o in zip(model.head_weights, head_y, head_outs):
                k, e = target_kind(t)
                loss = loss + w * loss_of(o, cast(t), k, e)
    else:
        out = model(x, taps, each)
        loss = loss_of(out, yy, kind, each)
    loss.backward()
    res = {"loss": loss.detach().reshape(1), "output": out.detach()}
    for j, o in enumerate(head_outs):
        res[f"output.layer_heads.{j}"] = o.detach()
    for name, p in model.named_parameters():
        res["grad." + name] = p.grad if p.grad is not None else torch.zeros_like(p)
    for name, t in taps.items():
        g = t.grad if t.grad is not None else torch.zeros_like(t)
        if name.startswith("_tcn."):  # [B, C, T] -> one tap per step, [B, C]
            for s in range(g.shape[2]):
                res[f"act.tcn.{name[5:]}.h.{s}"] = g[:, :, s]
        else:
            res[name] = g
    return {k: v.detach().to(torch.float32).contiguous() for k, v in res.items()}


def rel_err(a, b):
    a, b = a.double(), b.double()
    return ((a - b).norm() / max(b.norm().item(), 1e-6)).item()


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(a) for a in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(a)}" for k, a in v.items()) + " }"
    raise TypeError(v)


def config_toml(case):
    m = dict(case["model"])
    lines = [f"# {case['about']}", "# Made by tools/torch_fixtures.py.", "seed = 0", "", "[data]"]
    seq = m["arch"] not in ("plain", "residual", "highway", "dense", "dense_to_output", "weighted_skip")
    data = {"name": "adding", "t": case["time"]} if seq else {"name": "mnist1d"}
    if any(h.get("target") for h in m.get("layer_heads", [])):
        # A data set that has named targets, so that the whole config is valid.
        data = {"name": "brown", "tags": "full"}
    lines += [f"{k} = {toml_value(v)}" for k, v in data.items()]
    lines += ["", "[model]"] + [f"{k} = {toml_value(v)}" for k, v in m.items()]
    lines += ["", "[optim]", "lr = 0.01", 'optimizer = { kind = "sgd" }', "", "[train]", "epochs = 1"]
    if case.get("target") == "mse":
        lines.append('loss = "mse"')
    return "\n".join(lines) + "\n"


def make_case(case, gen):
    m = case["model"]
    b, t, f, out = case.get("batch", 4), case.get("time"), case.get("features", 6), case.get("out", 5)
    seq = t is not None
    vocab = case.get("vocab")
    # Layer heads: the main targets, or the named ones of case["named"] ({name: (kind, classes)}).
    named_kinds = case.get("named", {})
    head_outs = [named_kinds[h["target"]][1] if h.get("target") else out for h in m.get("layer_heads", [])]
    shapes = {"in": f, "out": out, "vocab": vocab, "max_len": case.get("max_len", t), "head_outs": head_outs}
    torch.manual_seed(case["seed"])
    model = build(m, shapes)
    # Weights: PyTorch's own initialisation, with biases and alpha moved off their defaults so
    # that every term shows in the gradients.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or name.endswith("alpha"):
                p.add_(0.2 * torch.randn(p.shape, generator=gen))
    if vocab is not None:
        x = torch.randint(0, vocab, (b, t), generator=gen)
    elif seq:
        x = torch.randn(b, t, f, generator=gen)
    else:
        x = torch.randn(b, f, generator=gen)
    y = None
    kind = case.get("target")
    if kind == "class":
        y = torch.randint(0, out, (b,), generator=gen)
    elif kind == "each":
        y = torch.randint(0, out, (b, t), generator=gen)
        y[0, 1] = -100  # one unscored step
    elif kind == "mse":
        y = torch.randn(b, out, generator=gen)
    named = {}
    for name, (k, classes) in named_kinds.items():
        if k == "each":
            named[name] = torch.randint(0, classes, (b, t), generator=gen)
            named[name][b - 1, 0] = -100
        else:
            named[name] = torch.randint(0, classes, (b,), generator=gen)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    exp64 = reference(model, m, x, y, torch.float64, named)
    model.load_state_dict(state)
    exp32 = reference(model, m, x, y, torch.float32, named)
    noise = max(rel_err(exp32[k], exp64[k]) for k in exp64)
    return state, x, y, named, exp64, noise


def write_case(name, case, gen):
    state, x, y, named, expected, noise = make_case(case, gen)
    d = os.path.join(FIXTURES, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    with open(os.path.join(d, "config.toml"), "w") as fh:
        fh.write(config_toml(case))
    save_file(state, os.path.join(d, "weights.safetensors"))
    np.save(os.path.join(d, "input.npy"), x.numpy())
    if y is not None:
        np.save(os.path.join(d, "target.npy"), y.numpy())
    for n, t in named.items():  # `depthlab grads --head-target n=target_n.npy`
        np.save(os.path.join(d, f"target_{n}.npy"), t.numpy())
    save_file(expected, os.path.join(d, "expected.safetensors"))
    size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    print(f"{name:36s} {len(expected):4d} tensors {size / 1024:6.1f} KiB   torch f32 vs f64: {noise:.1e}")


# The cases: feed-forward (batch 4, 6 features, width 8, depth 3, 5 classes) and sequence
# (batch 3, T 5-6, 4 features, width 6-8) models.
FF = dict(features=6, out=5, batch=4)
SEQ = dict(features=4, out=4, batch=3, time=5)
CASES = {
    "plain_tanh": dict(FF, about="plain, tanh", target="class", model=dict(arch="plain", depth=3, width=8, activation="tanh")),
    "plain_relu_mse": dict(FF, out=3, about="plain, relu, MSE", target="mse", model=dict(arch="plain", depth=3, width=8, activation="relu")),
    "plain_sum_no_target": dict(FF, about="plain, sigmoid, no target (loss = sum of outputs)", model=dict(arch="plain", depth=2, width=8, activation="sigmoid")),
    "residual_post2_relu": dict(FF, about="residual, two-layer post-activation branch", target="class", model=dict(arch="residual", depth=3, width=8, activation="relu", residual_layers=2, preact=False)),
    "residual_post1_tanh": dict(FF, about="residual, one-layer post-activation branch", target="class", model=dict(arch="residual", depth=3, width=8, activation="tanh", residual_layers=1)),
    "residual_pre2_gelu": dict(FF, about="residual, two-layer pre-activation branch, GELU", target="class", model=dict(arch="residual", depth=3, width=8, activation="gelu", residual_layers=2, preact=True)),
    "residual_pre1_leaky_relu": dict(FF, about="residual, one-layer pre-activation branch, leaky relu", target="class", model=dict(arch="residual", depth=3, width=8, activation="leaky_relu", residual_layers=1, preact=True)),
    "highway_coupled_tanh": dict(FF, about="highway, coupled carry C = 1 - T", target="class", model=dict(arch="highway", depth=3, width=8, activation="tanh", carry="coupled")),
    "highway_independent_relu": dict(FF, about="highway, independent carry gate", target="class", model=dict(arch="highway", depth=3, width=8, activation="relu", carry="independent")),
    "dense_relu": dict(FF, about="dense (concatenation), growth 3", target="class", model=dict(arch="dense", depth=3, width=8, activation="relu", growth=3)),
    "dense_to_output_tanh": dict(FF, about="dense_to_output: every layer wired to the head", target="class", model=dict(arch="dense_to_output", depth=3, width=8, activation="tanh")),
    "weighted_skip_scalar_tanh": dict(FF, about="weighted skip, scalar alpha [1]", target="class", model=dict(arch="weighted_skip", depth=3, width=8, activation="tanh")),
    "weighted_skip_per_unit_identity": dict(FF, about="weighted skip, per-unit alpha [width], identity", target="mse", out=2, model=dict(arch="weighted_skip", depth=3, width=8, activation="identity", per_unit_alpha=True)),
    "aux_highway": dict(FF, about="highway with two auxiliary heads", target="class", model=dict(arch="highway", depth=3, width=8, activation="tanh", aux=[dict(layer=0, weight=0.3), dict(layer=1, weight=0.5)])),
    "aux_residual_mse": dict(FF, out=2, about="residual with an auxiliary head, MSE", target="mse", model=dict(arch="residual", depth=3, width=8, activation="tanh", aux=[dict(layer=1, weight=0.25)])),
    "rnn_tanh": dict(SEQ, about="nn.RNN tanh, last step, classes", target="class", model=dict(arch="rnn_tanh", depth=1, width=6)),
    "rnn_relu_mse": dict(SEQ, out=2, about="nn.RNN relu, last step, MSE", target="mse", model=dict(arch="rnn_relu", depth=1, width=6)),
    "rnn_tanh_bidirectional": dict(SEQ, about="nn.RNN tanh, bidirectional", target="class", model=dict(arch="rnn_tanh", depth=1, width=6, bidirectional=True)),
    "lstm": dict(SEQ, time=6, about="nn.LSTM, last step, classes", target="class", model=dict(arch="lstm", depth=1, width=6)),
    "lstm_stacked_bidirectional_tokens": dict(SEQ, vocab=7, about="nn.LSTM, 2 layers, bidirectional, tokens, per-step classes", target="each", model=dict(arch="lstm", depth=2, width=6, bidirectional=True, embed_dim=5)),
    "gru": dict(SEQ, about="nn.GRU, last step, classes", target="class", model=dict(arch="gru", depth=1, width=6)),
    "gru_stacked_mse": dict(SEQ, out=2, about="nn.GRU, 2 layers, MSE", target="mse", model=dict(arch="gru", depth=2, width=6)),
    "gru_stacked_bidirectional_each": dict(SEQ, about="nn.GRU, 2 layers, bidirectional, per-step classes", target="each", model=dict(arch="gru", depth=2, width=5, bidirectional=True)),
    "rnn_relu_stacked_no_target": dict(SEQ, about="nn.RNN relu, 2 layers, no target (loss = sum of last outputs)", model=dict(arch="rnn_relu", depth=2, width=6)),
    "tcn_k2_dilated": dict(SEQ, time=6, about="TCN, kernel 2, dilations 1, 2 (downsample at level 0)", target="class", model=dict(arch="tcn", depth=2, width=6, kernel_size=2)),
    "tcn_k3_undilated_tokens_each": dict(SEQ, vocab=6, about="TCN, kernel 3, no dilation, tokens, per-step classes", target="each", model=dict(arch="tcn", depth=2, width=6, kernel_size=3, dilation=False)),
    "tcn_k2_mse": dict(SEQ, out=2, features=6, about="TCN, kernel 2, 3 levels, no downsample, MSE", target="mse", model=dict(arch="tcn", depth=3, width=6, kernel_size=2)),
    "attention_sinusoidal": dict(SEQ, about="attention, 2 layers, 2 heads, sinusoidal positions, input projection", target="class", model=dict(arch="attention", depth=2, width=8, heads=2, positional="sinusoidal")),
    "attention_learned_tokens_each": dict(SEQ, vocab=7, max_len=7, about="attention, learned positions (table of 7), tokens, per-step classes", target="each", model=dict(arch="attention", depth=2, width=8, heads=2, positional="learned")),
    "attention_none_mse": dict(SEQ, time=6, features=8, out=2, about="attention, 1 head, no positions, no input projection, MSE", target="mse", model=dict(arch="attention", depth=1, width=8, heads=1, positional="none")),
    # Per-layer heads of recurrent stacks (model.layer_heads), each on its own targets.
    "layer_heads_lstm_stacked_tokens": dict(SEQ, vocab=7, about="nn.LSTM, 3 layers, bidirectional, tokens, per-step classes; heads on layer 0 (own per-step targets `base`, weight 0.5) and layer 2 (main targets, weight 0.3)", target="each", named={"base": ("each", 3)}, model=dict(arch="lstm", depth=3, width=4, bidirectional=True, embed_dim=5, layer_heads=[dict(layer=0, target="base", weight=0.5), dict(layer=2, weight=0.3)])),
    "layer_heads_gru_bidirectional_each": dict(SEQ, about="nn.GRU, 2 layers, bidirectional, real inputs, per-step classes; heads on layers 0 and 1 learning `base` (weights 1, 0.25)", target="each", named={"base": ("each", 3)}, model=dict(arch="gru", depth=2, width=5, bidirectional=True, layer_heads=[dict(layer=0, target="base", weight=1.0), dict(layer=1, target="base", weight=0.25)])),
    "layer_heads_lstm_last_class": dict(SEQ, about="nn.LSTM, 3 layers, last step, classes; a head on layer 1 reading every step (own per-step targets `tags`, weight 0.7) and one on layer 0 reading the last step (main targets, weight 0.2)", target="class", named={"tags": ("each", 6)}, model=dict(arch="lstm", depth=3, width=5, layer_heads=[dict(layer=1, target="tags", weight=0.7), dict(layer=0, weight=0.2)])),
    "layer_heads_rnn_tanh_class_heads": dict(SEQ, about="nn.RNN tanh, 3 layers, per-step classes; heads on layers 0 and 1 reading the last step (own per-sequence targets `kind`, weights 0.6, 0.4)", target="each", named={"kind": ("class", 3)}, model=dict(arch="rnn_tanh", depth=3, width=5, layer_heads=[dict(layer=0, target="kind", weight=0.6), dict(layer=1, target="kind", weight=0.4)])),
    "layer_heads_gru_no_target": dict(SEQ, about="nn.GRU, 2 layers, no target (loss = sum of last outputs): a head on layer 0 gets no gradient", model=dict(arch="gru", depth=2, width=5, layer_heads=[dict(layer=0, weight=0.5)])),
}


# ---------------------------------------------------------------------------------------------
# The other direction: depthlab-made checkpoints in PyTorch
# ---------------------------------------------------------------------------------------------


def read_toml(path):
    import tomllib

    with open(path, "rb") as fh:
        return tomllib.load(fh)


def check_depthlab_made(tol=1e-4):
    base = os.path.join(FIXTURES, "depthlab_made")
    if not os.path.isdir(base):
        print("no depthlab_made fixtures (run DEPTHLAB_REGEN_FIXTURES=1 cargo test --test torch_agreement)")
        return True
    ok = True
    for name in sorted(os.listdir(base)):
        d = os.path.join(base, name)
        m = read_toml(os.path.join(d, "config.toml"))["model"]
        state = load_file(os.path.join(d, "model.safetensors"))
        expected = load_file(os.path.join(d, "expected.safetensors"))
        x = torch.from_numpy(np.load(os.path.join(d, "input.npy")))
        yp = os.path.join(d, "target.npy")
        y = torch.from_numpy(np.load(yp)) if os.path.exists(yp) else None
        shapes = {"out": state["head.weight"].shape[0]}
        if "embed.weight" in state:
            shapes["vocab"] = state["embed.weight"].shape[0]
        if "stem.linear.weight" in state:
            shapes["in"] = state["stem.linear.weight"].shape[1]
        elif x.is_floating_point():
            shapes["in"] = x.shape[-1]
        if "attn.0.pos.weight" in state:
            shapes["max_len"] = state["attn.0.pos.weight"].shape[0]
        heads = m.get("layer_heads", [])
        shapes["head_outs"] = [state[f"layer_heads.{j}.weight"].shape[0] for j in range(len(heads))]
        named = {}
        for h in heads:
            if h.get("target"):
                named[h["target"]] = torch.from_numpy(np.load(os.path.join(d, f"target_{h['target']}.npy")))
        model = build(m, shapes)
        model.load_state_dict(state, strict=True)
        got = reference(model, m, x, y, torch.float64, named)
        worst, missing = 0.0, [k for k in expected if k not in got]
        for k, v in expected.items():
            if k in got:
                worst = max(worst, rel_err(v, got[k]))
        good = worst <= tol and not missing
        ok &= good
        print(f"depthlab_made/{name:28s} {len(expected):4d} tensors, worst relative error {worst:.1e}"
              + (f"; missing in PyTorch: {missing}" if missing else "") + ("" if good else "  FAILED"))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only check the depthlab-made checkpoints")
    ap.add_argument("--only", nargs="*", help="regenerate only these cases")
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    if not args.check:
        os.makedirs(FIXTURES, exist_ok=True)
        for i, (name, case) in enumerate(CASES.items()):
            if args.only and name not in args.only:
                continue
            case = dict(case, seed=1000 + i)
            gen = torch.Generator().manual_seed(2000 + i)
            write_case(name, case, gen)
        names = set(CASES) | {"depthlab_made"}
        for stale in sorted(set(os.listdir(FIXTURES)) - names):
            print(f"note: {stale} is not a case of this script")
    sys.exit(0 if check_depthlab_made() else 1)


if __name__ == "__main__":
    main()
