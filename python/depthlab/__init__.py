"""depthlab in Python: train deep plain, residual, highway and dense nets and recurrent nets on
depthlab's Rust engine, and look inside them (gradient flow, gates, lesions, ...), with numpy
arrays in and out.

    import depthlab
    run = depthlab.train("examples/mnist1d-highway.toml", overrides={"train.epochs": 2})
    run.summary["test_accuracy"]
    flow = depthlab.probe(run, what=["gradflow"])["gradflow"]

Every function raises ``depthlab.ConfigError`` for a bad config (naming the key),
``depthlab.DataError`` for data it cannot find or read (naming the file) and
``depthlab.Error`` for anything else depthlab refuses; all three derive from ``depthlab.Error``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Union

from . import _depthlab as _native
from ._depthlab import ConfigError, DataError, Error, Interrupted

__all__ = [
    "ConfigError",
    "DataError",
    "Error",
    "Interrupted",
    "Report",
    "Run",
    "Verdict",
    "grads",
    "load_run",
    "probe",
    "reproduce",
    "Sweep",
    "sweep",
    "total_steps",
    "train",
]

if TYPE_CHECKING:
    import numpy as np
# numpy is imported where arrays are made (grads, probe), not here: importing it takes about
# as long as 50 training steps of a W1-sized net, and `depthlab.train` needs none of it
# (bench/py_overhead.sh). state_dict's arrays come from the native layer, which loads numpy
# itself when it makes the first one.

ConfigLike = Union[str, "os.PathLike[str]", Mapping[str, Any]]


def _opt_path(p: Union[str, "os.PathLike[str]", None]) -> Optional[str]:
    """A path as the native layer takes it (a str), or None."""
    return None if p is None else str(p)


def _config_text(config: ConfigLike) -> "tuple[str, str]":
    """(TOML text, origin for error messages) of a path, a TOML string or a dict."""
    if isinstance(config, Mapping):
        return _native.dump_toml(config), "<config dict>"
    if isinstance(config, os.PathLike):
        path = Path(config)
    elif isinstance(config, str):
        # TOML text always has a `=` or a `[section]`; a file name (practically) never.
        if ("=" in config or "[" in config or "\n" in config) and not os.path.isfile(config):
            return config, "<config string>"
        path = Path(config)
    else:
        raise TypeError(f"config must be a path, a TOML string or a dict, not {type(config).__name__}")
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror or e}") from None


def _sets(overrides: Optional[Mapping[str, Any]]) -> List[str]:
    """`--set KEY=VALUE` arguments of an overrides dict, e.g. {"train.epochs": 3}."""
    if not overrides:
        return []
    if not isinstance(overrides, Mapping):
        raise TypeError("overrides must be a dict of key paths to values, e.g. {'train.epochs': 3}")
    out = []
    for key, value in overrides.items():
        if not isinstance(key, str):
            raise ConfigError(f"overrides: keys are key paths like 'train.epochs', not {key!r}")
        out.append(f"{key}={_native.dump_toml(value, key)}")
    return out


def _resolved(config: ConfigLike, overrides: Optional[Mapping[str, Any]]) -> "tuple[str, str]":
    text, origin = _config_text(config)
    try:
        return _native.resolve_config(text, origin, _sets(overrides)), origin
    except ConfigError as e:
        # The engine names overrides as the command's `--set`; here they came from `overrides`.
        msg = str(e)
        if msg.startswith("--set "):
            raise ConfigError("overrides: " + msg[len("--set ") :]) from None
        raise


def _read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _read_jsonl(path: Path) -> List[Dict[str, Any]]:
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class _Tail:
    """The records appended to metrics.jsonl since the last look; a partial last line waits."""

    def __init__(self, path: Path, offset: int = 0):
        self.path, self.offset, self.buf = path, offset, b""

    def new(self) -> List[Dict[str, Any]]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(chunk)
        data = self.buf + chunk
        lines = data.split(b"\n")
        self.buf = lines.pop()
        return [json.loads(line) for line in lines if line.strip()]


def _want_bar(progress: Optional[bool]) -> bool:
    if progress is not None:
        return bool(progress)
    in_kernel = "ipykernel" in sys.modules
    if not (in_kernel or (hasattr(sys.stderr, "isatty") and sys.stderr.isatty() and not os.environ.get("CI"))):
        return False
    # Only now: importing tqdm takes tens of milliseconds, for a bar no one would see.
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


def _supervised(
    out: Path,
    config: Optional[str],
    origin: str,
    offset: int,
    callback: Optional[Callable[[Dict[str, Any]], Any]],
    progress: Optional[bool],
    threads: Optional[int],
    data_dir: Optional[str],
    start_step: int = 0,
) -> "Run":
    tail = _Tail(out / "metrics.jsonl", offset)
    bar = None
    if _want_bar(progress):
        from tqdm.auto import tqdm

        # The bar's length is the run's step count, as the engine's own bar has it (this loads
        # the data once more; a resumed run counts from its config.toml).
        text = config if config is not None else (out / "config.toml").read_text(encoding="utf-8")
        total = _native.total_steps(text, origin, data_dir)
        bar = tqdm(total=total, unit="step", initial=start_step, desc=out.name)

    def on_poll() -> None:
        for rec in tail.new():
            # Epoch records carry the step count too: with train.log_every = 0 (the default)
            # they are the only records, and the bar moves once an epoch.
            if bar is not None and isinstance(rec.get("step"), int):
                bar.update(rec["step"] - bar.n)
                if "loss" in rec:
                    bar.set_postfix(loss=f"{rec['loss']:.4g}", refresh=False)
            if callback is not None:
                callback(rec)

    try:
        _native.train(
            config,
            origin,
            str(out),
            resume=config is None,
            on_poll=on_poll,
            threads=threads,
            data_dir=data_dir,
        )
    except KeyboardInterrupt as e:
        # The run stopped at a checkpoint: hand it over, so that `e.run.resume()` continues it.
        e.run = Run(out)  # type: ignore[attr-defined]
        raise
    finally:
        if bar is not None:
            bar.close()
    return Run(out)


def train(
    config: ConfigLike,
    out: Union[str, "os.PathLike[str]", None] = None,
    overrides: Optional[Mapping[str, Any]] = None,
    *,
    callback: Optional[Callable[[Dict[str, Any]], Any]] = None,
    progress: Optional[bool] = None,
    threads: Optional[int] = None,
    data_dir: Union[str, "os.PathLike[str]", None] = None,
) -> "Run":
    """Train a model as ``depthlab train`` does, into the run folder ``out``.

    config: a path to a TOML config, TOML text, or a dict of the same shape
        (``{"data": {"name": "mnist1d"}, "model": {"arch": "highway", "depth": 50}, ...}``).
    out: the run folder (it must not hold a run); default: a new temporary folder.
    overrides: key paths to values, as the command's ``--set``: ``{"train.epochs": 3}``.
    callback: called with every record logged to metrics.jsonl (dicts with ``"kind"``
        ``"step"``, ``"epoch"`` or ``"eval"``), from the calling thread. If it raises, the run
        stops at a checkpoint and the exception propagates.
    progress: a tqdm progress bar (default: when tqdm is installed and running in a notebook or
        a terminal).
    threads: threads the engine uses (default: the config's ``train.threads``, else all cores).
    data_dir: where data files are looked for (MNIST, Brown); MNIST-1D and the synthetic tasks
        need none.

    The GIL is released while the engine runs. Ctrl-C (KeyboardInterrupt) stops the run cleanly
    at a checkpoint and re-raises; the exception's ``run`` attribute is the stopped Run, and
    ``run.resume()`` continues it to the same weights as an uninterrupted run.
    """
    text, origin = _resolved(config, overrides)
    if threads is not None and threads < 1:
        raise Error("threads must be at least 1")
    out = Path(tempfile.mkdtemp(prefix="depthlab-run-")) if out is None else Path(out)
    return _supervised(out, text, origin, 0, callback, progress, threads, _opt_path(data_dir))


def total_steps(
    config: ConfigLike,
    overrides: Optional[Mapping[str, Any]] = None,
    *,
    data_dir: Union[str, "os.PathLike[str]", None] = None,
) -> int:
    """The number of training steps a run of ``config`` takes: ``train.epochs`` times the
    batches of an epoch, as the engine counts them (the length of the progress bar, and
    ``summary["steps"]`` of the finished run). A cosine schedule's ``total`` is usually this.
    It loads the data to know the training set's size."""
    text, origin = _resolved(config, overrides)
    return _native.total_steps(text, origin, _opt_path(data_dir))


def load_run(path: Union[str, "os.PathLike[str]"]) -> "Run":
    """The run in a folder written by ``depthlab train`` (or ``depthlab.train``)."""
    p = Path(path)
    if not (p / "config.toml").is_file():
        raise Error(f"{p} is not a run folder: it has no config.toml")
    return Run(p)


class Run:
    """A run folder: its config, metrics, summary and weights."""

    def __init__(self, path: Union[str, "os.PathLike[str]"]):
        self.path = Path(path)

    def __repr__(self) -> str:
        s = self.summary
        status = s.get("status", "unfinished") if s else "unfinished"
        return f"Run({str(self.path)!r}, status={status!r})"

    @property
    def config(self) -> str:
        """The resolved config (TOML text), as written to config.toml."""
        return (self.path / "config.toml").read_text(encoding="utf-8")

    @property
    def metrics(self) -> List[Dict[str, Any]]:
        """Every record of metrics.jsonl: one dict per logged step, epoch and evaluation."""
        return _read_jsonl(self.path / "metrics.jsonl")

    def metrics_frame(self, kind: Optional[str] = None):
        """metrics as a pandas DataFrame (needs pandas); ``kind`` keeps one kind of record."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("Run.metrics_frame needs pandas: pip install pandas") from None
        recs = self.metrics
        if kind is not None:
            recs = [r for r in recs if r.get("kind") == kind]
        return pd.DataFrame.from_records(recs)

    @property
    def summary(self) -> Optional[Dict[str, Any]]:
        """summary.json (status, final losses and accuracies, elapsed_s), or None before the end."""
        p = self.path / "summary.json"
        return _read_json(p) if p.is_file() else None

    def state_dict(self) -> Dict[str, np.ndarray]:
        """The weights of the latest checkpoint, float32 arrays under PyTorch's state-dict names
        (``layers.3.gate.weight``), so ``model.load_state_dict({k: torch.from_numpy(v) ...})``."""
        path = _native.model_file(str(self.path))
        if not Path(path).is_file():
            raise Error(f"{self.path} has no model.safetensors: the run has not written a checkpoint yet")
        return {n: v.reshape(s) for n, s, v in _native.load_tensors(str(path))}

    def resume(
        self,
        *,
        callback: Optional[Callable[[Dict[str, Any]], Any]] = None,
        progress: Optional[bool] = None,
        threads: Optional[int] = None,
        data_dir: Union[str, "os.PathLike[str]", None] = None,
    ) -> "Run":
        """Continue the run from its last checkpoint to the end of its config (as
        ``depthlab train --resume``); the same arguments as :func:`train`."""
        offset, step = 0, 0
        state = self.path / "state.json"
        if _native.has_checkpoint(str(self.path)) and state.is_file():
            st = _read_json(state)
            offset, step = int(st.get("metrics_bytes", 0)), int(st.get("step", 0))
        return _supervised(
            self.path, None, str(self.path), offset, callback, progress, threads,
            _opt_path(data_dir), start_step=step,
        )

    def probe(self, what: Optional[Sequence[str]] = None, out=None, batches: int = 4) -> Dict[str, Any]:
        """:func:`probe` of this run's latest weights."""
        return probe(self, what=what, out=out, batches=batches)


def _arrays(v: Any) -> Any:
    """JSON with every list of numbers made a numpy array (float64; int64 when all are ints)."""
    import numpy as np

    if isinstance(v, dict):
        return {k: _arrays(x) for k, x in v.items()}
    if isinstance(v, list):
        if v and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
            return np.array(v, dtype=np.int64 if all(isinstance(x, int) for x in v) else np.float64)
        if v and all(isinstance(x, list) for x in v):
            items = [_arrays(x) for x in v]
            if all(isinstance(x, np.ndarray) and x.shape == items[0].shape for x in items):
                return np.stack(items)
            return items
        return [_arrays(x) for x in v]
    return v


def probe(
    run_or_config: Union["Run", ConfigLike],
    what: Optional[Sequence[str]] = None,
    out: Union[str, "os.PathLike[str]", None] = None,
    *,
    batches: int = 4,
    overrides: Optional[Mapping[str, Any]] = None,
    threads: Optional[int] = None,
    data_dir: Union[str, "os.PathLike[str]", None] = None,
) -> Dict[str, Any]:
    """Run probes (as ``depthlab probe``) on a Run's latest weights, or on a config's model at
    initialisation.

    what: probe names (gradflow, meanfield, lesion, gates, paths, aux_share, diagnosis,
        jacobian, temporal); default: every probe that applies.
    out: write the command's files (JSON and SVG) there; default: nothing is kept.

    Returns a dict: each probe's report under its name (lists of numbers as numpy arrays),
    ``"ran"`` (probe name to seconds), ``"trained"`` and ``"files"`` (empty without ``out``).
    """
    if isinstance(what, str):
        what = [what]
    what = list(what or [])
    if batches < 1:
        raise Error("batches must be at least 1")
    keep = out is not None
    with tempfile.TemporaryDirectory(prefix="depthlab-probe-") as tmp:
        if isinstance(run_or_config, Run):
            if overrides:
                raise Error("overrides apply to a config, not to a run")
            src = str(run_or_config.path)
        else:
            text, _ = _resolved(run_or_config, overrides)
            src = os.path.join(tmp, "config.toml")
            Path(src).write_text(text, encoding="utf-8")
        dest = Path(out) if keep else Path(tmp) / "probes"
        r = json.loads(
            _native.probe(src, str(dest), what, batches, threads, _opt_path(data_dir))
        )
        result: Dict[str, Any] = {
            "trained": r["trained"],
            "ran": {name: secs for name, secs in r["ran"]},
            "files": [str(f) for f in r["files"]] if keep else [],
        }
        for f in r["files"]:
            p = Path(f)
            if p.suffix == ".json":
                result[p.stem] = _arrays(_read_json(p))
    return result


def grads(
    config: ConfigLike,
    weights: Optional[Mapping[str, Any]],
    x: Any,
    y: Any = None,
    *,
    overrides: Optional[Mapping[str, Any]] = None,
) -> Dict[str, np.ndarray]:
    """One forward and backward pass (as ``depthlab grads``) of the config's model with
    ``weights`` on the batch ``x`` (and targets ``y``).

    weights: PyTorch state-dict names to arrays (``{k: v.numpy() for k, v in
        model.state_dict().items()}`` works), or None for the config's seeded initialisation.
    x: float ``[batch, features]`` (sequences ``[batch, time, features]``, or int tokens
        ``[batch, time]``). y: int class labels or float values; None: the loss is the sum of
        the outputs.

    Returns float32 arrays: ``loss``, ``output``, ``grad.<param>`` for every parameter and
    ``act.<block>`` (dL/d of each block's output).
    """
    import numpy as np

    text, origin = _config_text(config)
    w = None
    if weights is not None:
        w = []
        for name, v in weights.items():
            a = np.ascontiguousarray(np.asarray(v), dtype=np.float32)
            w.append((str(name), list(a.shape), a.reshape(-1)))

    def flat(a: Any, what: str):
        a = np.asarray(a)
        if a.dtype.kind in "iu":
            return list(a.shape), None, np.ascontiguousarray(a, dtype=np.int64).reshape(-1)
        if a.dtype.kind == "f":
            return list(a.shape), np.ascontiguousarray(a, dtype=np.float32).reshape(-1), None
        raise Error(f"{what}: expected a float or integer array, got dtype {a.dtype}")

    xs, xf, xi = flat(x, "x")
    ys, yf, yi = flat(y, "y") if y is not None else (None, None, None)
    out = _native.grads(text, origin, _sets(overrides), w, xs, xf, xi, ys, yf, yi)
    return {n: v.reshape(s) for n, s, v in out}


def _worker_exe() -> str:
    """A program the engine can start as it starts `depthlab` (see _worker.py): this
    interpreter, running this package."""
    d = Path(tempfile.mkdtemp(prefix="depthlab-worker-"))
    exe = d / "depthlab"
    exe.write_text(
        f"#!{sys.executable}\ntry:\n    import sys\n    from depthlab._worker import main\nexcept KeyboardInterrupt:  # the engine stopped before this worker began\n    raise SystemExit(130)\nsys.exit(main())\n", encoding="utf-8"
    )
    exe.chmod(0o755)
    return str(exe)


class Verdict:
    """One claim's result: ``outcome`` is "held", "did_not_hold" or "inconclusive" (None when
    the claim could not be judged: see ``error`` and ``missing_runs``)."""

    def __init__(self, entry: Dict[str, Any]):
        v = entry.get("verdict") or {}
        self.id: str = entry["id"]
        self.slug: str = entry["slug"]
        self.state: str = entry["state"]
        self.outcome: Optional[str] = v.get("outcome")
        self.rule: str = v.get("rule", "")
        self.measured: List[Dict[str, Any]] = v.get("measured", [])
        self.anchor: str = v.get("anchor", "")
        self.note: str = v.get("note", "")
        self.error: Optional[str] = entry.get("error")
        self.missing_runs: List[str] = entry.get("missing_runs", [])

    def __repr__(self) -> str:
        return f"Verdict({self.id} {self.slug}: {self.outcome or self.state})"


class Report:
    """A suite's report: ``path`` (report.html, one self-contained page), ``verdicts``
    (a Verdict per claim), ``summary`` (the command's summary lines)."""

    def __init__(self, out: Union[str, "os.PathLike[str]"], summary: Optional[List[str]] = None):
        self.out = Path(out)
        self.path = self.out / "report.html"
        v = _read_json(self.out / "verdicts.json")
        self.scale: str = v.get("scale", "")
        self.verdicts: List[Verdict] = [Verdict(c) for c in v.get("claims", [])]
        self.summary: List[str] = list(summary or [])

    def __getitem__(self, claim: str) -> Verdict:
        for v in self.verdicts:
            if claim in (v.id, v.slug, f"{v.id}-{v.slug}"):
                return v
        raise KeyError(claim)

    def __repr__(self) -> str:
        return f"Report({str(self.path)!r}, {', '.join(f'{v.id}: {v.outcome or v.state}' for v in self.verdicts)})"

    def _repr_html_(self) -> str:
        import html

        rows = "".join(
            f"<tr><td>{html.escape(v.id)}</td><td>{html.escape(v.slug)}</td>"
            f"<td>{html.escape((v.outcome or v.state).replace('_', ' '))}</td>"
            f"<td>{html.escape('; '.join(m.get('shown', '') for m in v.measured[:3]))}</td></tr>"
            for v in self.verdicts
        )
        return (
            f"<p>depthlab report, {html.escape(self.scale)} scale: "
            f"<a href=\"{html.escape(self.path.as_uri())}\" target=\"_blank\">{html.escape(str(self.path))}</a></p>"
            f"<table><tr><th>claim</th><th></th><th>outcome</th><th>measured</th></tr>{rows}</table>"
        )


def reproduce(
    claims: Optional[Sequence[str]] = None,
    scale: str = "quick",
    out: Union[str, "os.PathLike[str]", None] = None,
    jobs: Optional[int] = None,
    *,
    seeds: Optional[int] = None,
    data_dir: Union[str, "os.PathLike[str]", None] = None,
    quiet: bool = True,
) -> Report:
    """Run the seed's claims as ``depthlab reproduce`` does and write their report.

    claims: ids or names ("C4", "highway-vs-plain"); default: all thirteen.
    scale: "quick" (minutes) or "paper" (hours). out: the suite folder (default
    ``reproduce/<scale>``); running again continues where an interrupted run stopped.
    jobs: worker processes (default: the number of cores), each run single-threaded.

    The GIL is released while it runs; Ctrl-C stops the workers at their checkpoints and
    raises KeyboardInterrupt.
    """
    if isinstance(claims, str):
        claims = [claims]
    out = Path("reproduce") / scale if out is None else Path(out)
    exe = _worker_exe()
    try:
        lines = json.loads(
            _native.reproduce(
                list(claims or []), scale, str(out), exe, jobs=jobs, seeds=seeds,
                data_dir=_opt_path(data_dir), quiet=quiet,
            )
        )
    finally:
        shutil.rmtree(os.path.dirname(exe), ignore_errors=True)
    return Report(out, lines)


class Sweep:
    """A sweep's results: ``out`` (its folder), ``ran`` and ``skipped`` (runs done now / found
    done), ``rows`` (one dict per run, as DIR/table.jsonl: id, status, every config key, the
    results), ``columns``, ``files`` (table.csv, table.jsonl and the plot, if asked)."""

    def __init__(self, r: Dict[str, Any]):
        self.out = Path(r["out"])
        self.ran: int = r["ran"]
        self.skipped: int = r["skipped"]
        self.wall_s: float = r["wall_s"]
        self.columns: List[str] = r["columns"]
        self.rows: List[Dict[str, Any]] = r["rows"]
        self.files: List[Path] = [Path(f) for f in r["files"]]

    def __repr__(self) -> str:
        return f"Sweep({str(self.out)!r}, {len(self.rows)} runs, {self.ran} run now)"

    def frame(self):
        """rows as a pandas DataFrame (needs pandas), in ``columns`` order."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("Sweep.frame needs pandas: pip install pandas") from None
        return pd.DataFrame.from_records(self.rows, columns=self.columns)

    def runs(self) -> List[Run]:
        """Each row's run folder (the ones that trained)."""
        dirs = [self.out / "runs" / str(r["id"]) for r in self.rows]
        return [Run(d) for d in dirs if (d / "config.toml").is_file()]


def sweep(
    spec: ConfigLike,
    out: Union[str, "os.PathLike[str]", None] = None,
    jobs: Optional[int] = None,
    *,
    metric: Optional[str] = None,
    by: Optional[str] = None,
    data_dir: Union[str, "os.PathLike[str]", None] = None,
    quiet: bool = True,
) -> Sweep:
    """Run a grid of configs (``depthlab sweep``) with worker processes, then collect its table
    (``depthlab sweep collect``; with ``metric`` and ``by``, also its plot).

    spec: a sweep file's path, or a dict of the same shape (``{"base": "examples/x.toml",
        "seeds": 2, "axes": {"model.depth": [10, 20]}, "set": {...}, "probes": [...]}``; a
        relative ``base`` is taken from the current folder).
    out: the sweep folder (default: the spec's ``out``, else ``sweeps/<name>``); finished runs
        in it are not run again.
    """
    with tempfile.TemporaryDirectory(prefix="depthlab-sweep-") as tmp:
        if isinstance(spec, Mapping):
            spec = dict(spec)
            for key in ("base", "out"):
                if isinstance(spec.get(key), str):
                    spec[key] = os.path.abspath(spec[key])
            if "out" not in spec and out is None:
                spec["out"] = os.path.abspath(os.path.join("sweeps", "sweep"))
            path = os.path.join(tmp, "sweep.toml")
            Path(path).write_text(_native.dump_toml(spec), encoding="utf-8")
        elif isinstance(spec, (str, os.PathLike)):
            path = str(spec)
            if not os.path.isfile(path):
                raise ConfigError(f"cannot read sweep file {path}: no such file")
        else:
            raise TypeError(f"spec must be a path or a dict, not {type(spec).__name__}")
        exe = _worker_exe()
        try:
            r = json.loads(
                _native.sweep(
                    path, exe, out=_opt_path(out), jobs=jobs,
                    data_dir=_opt_path(data_dir), metric=metric, by=by, quiet=quiet,
                )
            )
        finally:
            shutil.rmtree(os.path.dirname(exe), ignore_errors=True)
    return Sweep(r)
