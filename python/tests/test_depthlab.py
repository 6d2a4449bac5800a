"""Tests of the Python package: every function, its errors, arrays in and out, the GIL and
Ctrl-C. Data is generated in-process (MNIST-1D), so nothing needs downloading."""

import json
import signal
import struct
import threading
import time
import _thread

import numpy as np
import pytest

import depthlab

# A small MNIST-1D net: a few hundred steps take well under a second.
@pytest.fixture
def ctrl_c():
    """Python's own Ctrl-C handler for the test: a process started in the background by a
    shell inherits SIGINT ignored, and then `_thread.interrupt_main` does nothing."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


SMALL = {
    "seed": 3,
    "data": {"name": "mnist1d", "num_samples": 400},
    "model": {"arch": "highway", "depth": 4, "width": 16, "gate_bias": -1.0},
    "optim": {"lr": 0.01, "optimizer": {"kind": "adam"}},
    "train": {"epochs": 2, "batch_size": 50, "log_every": 1, "threads": 1},
}

SMALL_TOML = """
seed = 3
[data]
name = "mnist1d"
num_samples = 400
[model]
arch = "highway"
depth = 4
width = 16
gate_bias = -1.0
[optim]
lr = 0.01
optimizer = { kind = "adam" }
[train]
epochs = 2
batch_size = 50
log_every = 1
threads = 1
"""


def read_safetensors(path):
    """A safetensors file read without depthlab: to check state_dict's values exactly."""
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    body = raw[8 + n :]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32"
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(body[a:b], dtype="<f4").reshape(t["shape"])
    return out


def test_train_from_dict_string_and_path_agree(tmp_path):
    a = depthlab.train(SMALL, out=tmp_path / "a", progress=False)
    b = depthlab.train(SMALL_TOML, out=tmp_path / "b", progress=False)
    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL_TOML)
    c = depthlab.train(cfg, out=tmp_path / "c", progress=False)
    d = depthlab.train(str(cfg), out=tmp_path / "d", progress=False)
    assert a.summary["status"] == "finished"
    assert a.summary["epochs"] == 2
    # Same config, same seed: bit-identical runs, whichever way the config came in.
    for r in (b, c, d):
        assert r.summary["final_train_loss"] == a.summary["final_train_loss"]
        for k, v in a.state_dict().items():
            np.testing.assert_array_equal(r.state_dict()[k], v)


def test_run_metrics_summary_and_callback(tmp_path):
    seen = []
    run = depthlab.train(SMALL, out=tmp_path / "r", callback=seen.append, progress=False)
    assert run.path == tmp_path / "r"
    m = run.metrics
    assert m == seen, "the callback sees every logged record, in order"
    steps = [r for r in m if r["kind"] == "step"]
    # 400 examples, MNIST-1D's default split keeps 4/5 for training: 320 / 50 -> 7 batches.
    assert len(steps) == run.summary["steps"]
    assert [r["step"] for r in steps] == list(range(1, len(steps) + 1)), "steps count from 1"
    epochs = [r for r in m if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [0, 1]
    assert epochs[-1]["test_loss"] == run.summary["test_loss"]
    assert run.summary["test_accuracy"] is not None
    assert "Run(" in repr(run) and "finished" in repr(run)


def test_metrics_frame(tmp_path):
    pd = pytest.importorskip("pandas")
    run = depthlab.train(SMALL, out=tmp_path / "r", progress=False)
    f = run.metrics_frame(kind="step")
    assert isinstance(f, pd.DataFrame)
    assert len(f) == run.summary["steps"]


def test_overrides_and_default_out():
    run = depthlab.train(SMALL, overrides={"train.epochs": 1, "model.depth": 3}, progress=False)
    assert run.path.is_dir()
    assert run.summary["epochs"] == 1
    names = run.state_dict().keys()
    assert "layers.2.gate.weight" in names and "layers.3.gate.weight" not in names
    assert "depth = 3" in run.config


def test_an_override_can_be_a_table(tmp_path):
    sgd = {"optim.optimizer": {"kind": "sgd", "momentum": 0.9}, "train.epochs": 1}
    run = depthlab.train(SMALL, out=tmp_path / "r", overrides=sgd, progress=False)
    assert 'kind = "sgd"' in run.config and "momentum = 0.9" in run.config


def test_state_dict_matches_the_file_exactly(tmp_path):
    run = depthlab.train(SMALL, out=tmp_path / "r", progress=False)
    sd = run.state_dict()
    ref = read_safetensors(tmp_path / "r" / "model.safetensors")
    assert sorted(sd) == sorted(ref)
    for k in ref:
        assert sd[k].dtype == np.float32
        assert sd[k].shape == ref[k].shape
        np.testing.assert_array_equal(sd[k], ref[k])
    assert sd["layers.0.gate.weight"].shape == (16, 16)


def test_resume_continues_to_the_same_weights(tmp_path):
    # Long enough that the stop, asked for at the next poll (0.1 s), comes before the end.
    long = {"train.epochs": 300}
    whole = depthlab.train(SMALL, out=tmp_path / "whole", overrides=long, progress=False)

    class Stop(Exception):
        pass

    def stop_after_an_epoch(rec):
        if rec["kind"] == "epoch":
            raise Stop()

    with pytest.raises(Stop):
        depthlab.train(SMALL, out=tmp_path / "cut", overrides=long, callback=stop_after_an_epoch, progress=False)
    cut = depthlab.load_run(tmp_path / "cut")
    stopped_at = json.loads((tmp_path / "cut" / "state.json").read_text())["step"]
    assert 0 < stopped_at < whole.summary["steps"]
    assert cut.summary is None or cut.summary["status"] != "finished"
    seen = []
    done = cut.resume(callback=seen.append, progress=False)
    assert done.summary["status"] == "finished"
    first = [r["step"] for r in seen if r["kind"] == "step"][0]
    assert first == stopped_at + 1, "the resumed run's callback sees only the records it adds"
    def numbers(run):  # every record but its timing
        return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in run.metrics]

    assert numbers(done) == numbers(whole)
    for k, v in whole.state_dict().items():
        np.testing.assert_array_equal(done.state_dict()[k], v)


def test_gil_is_released_while_training(tmp_path):
    counter = [0]
    done = threading.Event()

    def spin():
        while not done.is_set():
            counter[0] += 1
            time.sleep(0)

    t = threading.Thread(target=spin)
    t.start()
    try:
        start = time.perf_counter()
        run = depthlab.train(SMALL, out=tmp_path / "r", overrides={"train.epochs": 300}, progress=False)
        took = time.perf_counter() - start
    finally:
        done.set()
        t.join()
    assert run.summary["status"] == "finished"
    assert took > 0.2, f"training took {took:.3f} s: too short to tell"
    # A thread that could not get the GIL would count a handful, at the 0.1 s polls only.
    assert counter[0] > 1000, counter[0]


def test_keyboard_interrupt_stops_at_a_checkpoint(tmp_path, ctrl_c):
    out = tmp_path / "r"
    # Ctrl-C comes once the run is under way, and the run is far too long to end first.
    started = threading.Event()

    def press_ctrl_c():
        if started.wait(60):
            _thread.interrupt_main()

    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    epochs = 10**6
    try:
        with pytest.raises(KeyboardInterrupt) as ei:
            depthlab.train(SMALL, out=out, overrides={"train.epochs": epochs}, callback=lambda rec: started.set(), progress=False)
    finally:
        started.set()
        presser.join()
    run = ei.value.run
    assert run.path == out
    assert (out / "model.safetensors").is_file() and (out / "state.json").is_file()
    st = json.loads((out / "state.json").read_text())
    assert 0 < st["step"] < epochs * 7
    # It resumes from there (one more epoch is enough to see it go on).
    assert run.state_dict()


def test_grads_names_shapes_and_exact_inputs(tmp_path):
    run = depthlab.train(SMALL, out=tmp_path / "r", progress=False)
    sd = run.state_dict()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 40)).astype(np.float32)
    y = np.array([0, 1, 2, 3, 9])
    g = depthlab.grads(SMALL, sd, x, y)
    assert g["loss"].shape == (1,) and np.isfinite(g["loss"][0])
    assert g["output"].shape == (5, 10)
    for k, v in sd.items():
        assert g["grad." + k].shape == v.shape
        assert g["grad." + k].dtype == np.float32
    assert g["act.stem"].shape == (5, 16)
    assert [k for k in g if k.startswith("act.layers.")] == [f"act.layers.{i}" for i in range(4)]
    # float64 weights and inputs holding float32 values give exactly the same numbers.
    g64 = depthlab.grads(SMALL, {k: v.astype(np.float64) for k, v in sd.items()}, x.astype(np.float64), y.astype(np.int32))
    for k in g:
        np.testing.assert_array_equal(g64[k], g[k])
    # The inputs were not changed.
    np.testing.assert_array_equal(sd["layers.0.gate.weight"], run.state_dict()["layers.0.gate.weight"])


def test_grads_agree_with_finite_differences(tmp_path):
    cfg = dict(SMALL, model={"arch": "plain", "depth": 2, "width": 8, "activation": "tanh"})
    g0 = depthlab.grads(cfg, None, np.ones((2, 40), np.float32), np.array([1, 2]))
    w = {k[len("grad."):]: None for k in g0 if k.startswith("grad.")}
    assert w
    # Weights of the config's seed, read back from a zero-epoch-like run: use a run's checkpoint.
    run = depthlab.train(cfg, out=tmp_path / "r", overrides={"train.epochs": 1, "optim.lr": 0.0}, progress=False)
    sd = {k: v.astype(np.float64) for k, v in run.state_dict().items()}
    x = np.linspace(-1, 1, 80).reshape(2, 40)
    y = np.array([1, 2])
    g = depthlab.grads(cfg, sd, x, y)
    name = "layers.0.linear.weight" if "layers.0.linear.weight" in sd else sorted(sd)[0]
    eps = 1e-2
    for idx in [(0, 0), (3, 5)]:
        up = {k: v.copy() for k, v in sd.items()}
        dn = {k: v.copy() for k, v in sd.items()}
        up[name][idx] += eps
        dn[name][idx] -= eps
        fd = (depthlab.grads(cfg, up, x, y)["loss"][0] - depthlab.grads(cfg, dn, x, y)["loss"][0]) / (2 * eps)
        assert abs(fd - g["grad." + name][idx]) < 2e-3 + 0.05 * abs(fd), (name, idx, fd, g["grad." + name][idx])


def test_grads_without_weights_uses_the_seed():
    x = np.zeros((3, 40), np.float32)
    a = depthlab.grads(SMALL, None, x)
    b = depthlab.grads(SMALL, None, x)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_probe_a_run_and_a_config(tmp_path):
    run = depthlab.train(SMALL, out=tmp_path / "r", progress=False)
    p = depthlab.probe(run, what=["gradflow", "gates"])
    assert p["trained"] is True
    assert set(p["ran"]) == {"gradflow", "gates"}
    flow = p["gradflow"]
    assert [layer["layer"] for layer in flow["layers"]] == [0, 1, 2, 3]
    assert isinstance(flow["blocks"][0]["per_batch"], np.ndarray)
    assert p["files"] == []
    # At initialisation, from the config, with files written where asked.
    q = depthlab.probe(SMALL, what=["gradflow"], out=tmp_path / "probes")
    assert q["trained"] is False
    assert (tmp_path / "probes" / "gradflow.json").is_file()
    assert (tmp_path / "probes" / "gradflow.svg").is_file()
    assert str(tmp_path / "probes" / "gradflow.json") in q["files"]
    assert run.probe(["gradflow"])["gradflow"]["loss"] == p["gradflow"]["loss"]


def test_config_error_names_the_key(tmp_path):
    bad = {**SMALL, "model": {**SMALL["model"], "depth": 0}}
    with pytest.raises(depthlab.ConfigError, match="depth"):
        depthlab.train(bad, out=tmp_path / "a", progress=False)
    with pytest.raises(depthlab.ConfigError, match="overrides: train.epochs=0"):
        depthlab.train(SMALL, out=tmp_path / "b", overrides={"train.epochs": 0}, progress=False)
    with pytest.raises(depthlab.ConfigError, match="widht"):
        depthlab.train(SMALL_TOML.replace("width", "widht"), out=tmp_path / "c", progress=False)
    with pytest.raises(depthlab.ConfigError, match="nosuch.toml"):
        depthlab.train(tmp_path / "nosuch.toml", progress=False)
    with pytest.raises(depthlab.ConfigError, match="model.depth"):
        depthlab.train({**SMALL, "model": {**SMALL["model"], "depth": object()}}, progress=False)
    assert issubclass(depthlab.ConfigError, depthlab.Error)
    assert not (tmp_path / "a").exists(), "a bad config makes no run folder"


def test_data_error_names_the_folder_and_the_command(tmp_path, monkeypatch):
    # Offline, as the tests must be: a missing data set is refused before the run starts.
    monkeypatch.setenv("DEPTHLAB_NO_DOWNLOAD", "1")
    cfg = {**SMALL, "data": {"name": "mnist"}}
    with pytest.raises(depthlab.DataError) as ei:
        depthlab.train(cfg, out=tmp_path / "r", data_dir=tmp_path / "empty", progress=False)
    assert str(tmp_path / "empty") in str(ei.value)
    assert "depthlab data fetch mnist" in str(ei.value)
    assert not (tmp_path / "r").exists()
    assert issubclass(depthlab.DataError, depthlab.Error)


def test_other_errors(tmp_path):
    run = depthlab.train(SMALL, out=tmp_path / "r", progress=False)
    with pytest.raises(depthlab.Error, match="already holds a run"):
        depthlab.train(SMALL, out=tmp_path / "r", progress=False)
    with pytest.raises(depthlab.Error, match="unknown probe"):
        depthlab.probe(run, what=["nosuch"])
    with pytest.raises(depthlab.Error, match="not a run folder"):
        depthlab.load_run(tmp_path)
    with pytest.raises(depthlab.Error):
        depthlab.grads(SMALL, run.state_dict(), np.zeros((2, 39), np.float32))  # wrong width
    with pytest.raises(depthlab.Error):
        depthlab.grads(SMALL, {"nosuch.weight": np.zeros(3)}, np.zeros((2, 40), np.float32))
    with pytest.raises(depthlab.Error):
        depthlab.grads(SMALL, None, np.array(["a", "b"]))
    with pytest.raises(TypeError):
        depthlab.train(42)


def test_a_sequence_model_on_the_adding_problem(tmp_path):
    cfg = {
        "seed": 1,
        "data": {"name": "adding", "t": 10, "train": 64, "test": 32},
        "model": {"arch": "lstm", "depth": 1, "width": 8},
        "optim": {"lr": 0.01, "optimizer": {"kind": "adam"}},
        "train": {"epochs": 1, "batch_size": 16, "threads": 1},
    }
    run = depthlab.train(cfg, out=tmp_path / "r", progress=False)
    assert run.summary["status"] == "finished"
    x = np.random.default_rng(1).random((2, 10, 2)).astype(np.float32)
    g = depthlab.grads(cfg, run.state_dict(), x, np.array([[0.5], [1.0]], np.float32))
    assert "act.rnn.l0.h.9" in g and "act.rnn.l0.c.0" in g
    assert g["output"].shape == (2, 1)


def test_reproduce_a_claim_computed_in_the_report(tmp_path):
    r = depthlab.reproduce(["C2"], scale="quick", out=tmp_path / "suite")
    assert isinstance(r, depthlab.Report)
    assert r.path == tmp_path / "suite" / "report.html" and r.path.is_file()
    [v] = r.verdicts
    assert (v.id, v.slug) == ("C2", "linear-chain")
    assert v.outcome in ("held", "did_not_hold", "inconclusive")
    assert r["C2"] is v and r["linear-chain"] is v
    assert v.measured and "shown" in v.measured[0]
    assert r.summary and r.summary[0].startswith("C2 linear-chain")
    html = r._repr_html_()
    assert "C2" in html and "report.html" in html


def test_reproduce_runs_its_workers_and_continues(tmp_path):
    # The hidden tiny scale: every pipeline end to end in seconds (its verdicts mean nothing).
    out = tmp_path / "suite"
    r = depthlab.reproduce("C6", scale="tiny", out=out, jobs=2)
    v = r["C6"]
    assert v.outcome in ("held", "did_not_hold", "inconclusive")
    assert v.state == v.outcome.replace("_", " ") and v.error is None and v.missing_runs == []
    runs = sorted((out / "runs").iterdir())
    assert runs and all((d / "summary.json").is_file() for d in runs)
    stamp = {d: (d / "summary.json").stat().st_mtime_ns for d in runs}
    again = depthlab.reproduce("C6", scale="tiny", out=out, jobs=2)
    assert again["C6"].outcome == r["C6"].outcome
    assert {d: (d / "summary.json").stat().st_mtime_ns for d in runs} == stamp, "finished runs are not run again"


def test_reproduce_bad_input(tmp_path):
    with pytest.raises(depthlab.Error, match="C99|claim"):
        depthlab.reproduce(["C99"], out=tmp_path / "a")
    with pytest.raises(depthlab.Error, match="scale"):
        depthlab.reproduce(["C2"], scale="huge", out=tmp_path / "b")
    with pytest.raises(depthlab.Error, match="jobs"):
        depthlab.reproduce(["C2"], out=tmp_path / "c", jobs=0)


def test_sweep_runs_a_grid_and_collects_its_table(tmp_path):
    base = tmp_path / "base.toml"
    base.write_text(SMALL_TOML)
    spec = {"base": str(base), "seeds": 1, "set": {"train.epochs": 1}, "axes": {"model.depth": [2, 3]}}
    s = depthlab.sweep(spec, out=tmp_path / "sw", jobs=2, metric="test_accuracy", by="model.depth")
    assert isinstance(s, depthlab.Sweep)
    assert (s.ran, s.skipped) == (2, 0)
    assert sorted(r["model.depth"] for r in s.rows) == [2, 3]
    assert all(r["status"] == "finished" for r in s.rows)
    assert (tmp_path / "sw" / "table.csv").is_file()
    assert len(s.runs()) == 2 and all(r.summary["epochs"] == 1 for r in s.runs())
    again = depthlab.sweep(spec, out=tmp_path / "sw", jobs=2)
    assert (again.ran, again.skipped) == (0, 2)
    assert again.rows == s.rows
    with pytest.raises(depthlab.ConfigError):
        depthlab.sweep({**spec, "axes": {"model.widht": [1]}}, out=tmp_path / "bad")


def test_total_steps_is_the_runs_step_count(tmp_path):
    # 400 MNIST-1D examples keep 320 for training: 320 / 50 -> 7 batches (the last one short).
    assert depthlab.total_steps(SMALL) == 14
    run = depthlab.train(SMALL, out=tmp_path / "flat", progress=False)
    assert run.summary["steps"] == 14
    assert len([r for r in run.metrics if r["kind"] == "step"]) == 14  # log_every = 1
    over = {"train.epochs": 3, "train.batch_size": 64}
    assert depthlab.total_steps(SMALL, over) == 3 * 5
    assert depthlab.total_steps(SMALL, over) == depthlab.train(SMALL, overrides=over, progress=False).summary["steps"]
    # Sequences: batches are counted by the engine's own grouping (never mixing lengths).
    seq = {
        "seed": 1,
        "data": {"name": "adding", "t": 6, "train": 70, "test": 10},
        "model": {"arch": "gru", "depth": 1, "width": 4},
        "optim": {"lr": 0.01, "optimizer": {"kind": "sgd"}},
        "train": {"epochs": 2, "batch_size": 16, "threads": 1},
    }
    run = depthlab.train(seq, out=tmp_path / "seq", progress=False)
    assert depthlab.total_steps(seq) == run.summary["steps"] == 2 * 5
    with pytest.raises(depthlab.ConfigError, match="batch_size"):
        depthlab.total_steps(SMALL, {"train.batch_size": 0})


class FakeBar:
    """Stands in for tqdm (not installed in CI): records what the bar was told."""

    made = []

    def __init__(self, total=None, initial=0, **kw):
        self.total, self.n, self.updates, self.closed = total, initial, 0, False
        FakeBar.made.append(self)

    def update(self, k):
        assert k >= 0, "a progress bar never goes back"
        self.n += k
        self.updates += 1

    def set_postfix(self, **kw):
        pass

    def close(self):
        self.closed = True


@pytest.mark.parametrize("log_every", [1, 0])
def test_progress_bar_runs_to_its_total(tmp_path, monkeypatch, log_every):
    import sys
    import types

    fake = types.ModuleType("tqdm.auto")
    fake.tqdm = FakeBar
    monkeypatch.setitem(sys.modules, "tqdm", types.ModuleType("tqdm"))
    monkeypatch.setitem(sys.modules, "tqdm.auto", fake)
    FakeBar.made = []
    over = {"train.log_every": log_every}
    run = depthlab.train(SMALL, out=tmp_path / "r", overrides=over, progress=True)
    [bar] = FakeBar.made
    assert bar.total == run.summary["steps"] == 14
    # With log_every = 0 only the epoch records say how far the run is: the bar still ends full.
    assert bar.n == bar.total and bar.closed
    assert bar.updates >= 1

    # A resumed run's bar starts where the run stopped and runs to the same total.
    class Stop(Exception):
        pass

    def stop_after_an_epoch(rec):
        if rec["kind"] == "epoch":
            raise Stop()

    long = {**over, "train.epochs": 300}
    with pytest.raises(Stop):
        depthlab.train(SMALL, out=tmp_path / "cut", overrides=long, callback=stop_after_an_epoch, progress=False)
    stopped_at = json.loads((tmp_path / "cut" / "state.json").read_text())["step"]
    FakeBar.made = []
    done = depthlab.load_run(tmp_path / "cut").resume(progress=True)
    [bar] = FakeBar.made
    assert bar.total == done.summary["steps"] == 300 * 7
    assert bar.n == bar.total and bar.updates >= 1
    assert stopped_at > 0


def test_progress_bar_counts_the_steps(tmp_path, capsys):
    pytest.importorskip("tqdm")
    run = depthlab.train(SMALL, out=tmp_path / "r", progress=True)
    err = capsys.readouterr().err
    steps = run.summary["steps"]
    assert f"{steps}/{steps}" in err, err[-300:]
    depthlab.train(SMALL, out=tmp_path / "q", progress=False)
    assert capsys.readouterr().err == ""


# A worker that stands for a run in progress: it says it has begun, then waits for the engine
# to pass Ctrl-C on, and exits as a worker does once its checkpoint is written. A real run of
# the tiny suite ends in well under a second, before any Ctrl-C could reach it.
_WAITING_WORKER = """#!{python}
import pathlib, signal, sys, time
signal.signal(signal.SIGINT, lambda *a: sys.exit(130))
pathlib.Path({began!r}).touch()
time.sleep(60)
sys.exit(1)
"""


def test_keyboard_interrupt_stops_reproduce_and_it_continues(tmp_path, ctrl_c, monkeypatch):
    import sys

    out = tmp_path / "suite"
    began = tmp_path / "began"
    exe_dir = tmp_path / "worker"
    exe_dir.mkdir()
    exe = exe_dir / "depthlab"
    exe.write_text(_WAITING_WORKER.format(python=sys.executable, began=str(began)))
    exe.chmod(0o755)
    monkeypatch.setattr(depthlab, "_worker_exe", lambda: str(exe))

    def press_ctrl_c():
        deadline = time.monotonic() + 60
        while not began.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        _thread.interrupt_main()

    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            depthlab.reproduce("C12", scale="tiny", out=out, jobs=2)
    finally:
        presser.join()
    # The waiting workers were stopped by the engine, not by their own minute running out.
    assert began.exists() and time.monotonic() - t0 < 50
    assert not (out / "report.html").exists()
    monkeypatch.undo()
    r = depthlab.reproduce("C12", scale="tiny", out=out, jobs=2)
    assert r["C12"].outcome in ("held", "did_not_hold", "inconclusive")
    assert (out / "report.html").is_file()
