import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

_PathLike = Union[str, "os.PathLike[str]"]
ConfigLike = Union[str, "os.PathLike[str]", Mapping[str, Any]]
Record = Dict[str, Any]

class Error(Exception):
    """Any error depthlab reports (bad input, I/O, a diverged run)."""

class ConfigError(Error):
    """A config that cannot be read or is invalid; the message names the key."""

class DataError(Error):
    """A data set that cannot be found or read; the message names the file."""

class Interrupted(Error):
    """The run stopped early at a checkpoint (a stop request other than Ctrl-C)."""

class Run:
    """A run folder: its config, metrics, summary and weights."""

    path: Path
    def __init__(self, path: _PathLike) -> None: ...
    @property
    def config(self) -> str:
        """The resolved config (TOML text), as written to config.toml."""
    @property
    def metrics(self) -> List[Record]:
        """Every record of metrics.jsonl: one dict per logged step, epoch and evaluation."""
    def metrics_frame(self, kind: Optional[str] = None) -> Any:
        """metrics as a pandas DataFrame (needs pandas); ``kind`` keeps one kind of record."""
    @property
    def summary(self) -> Optional[Dict[str, Any]]:
        """summary.json (status, final losses and accuracies, elapsed_s), or None before the end."""
    def state_dict(self) -> Dict[str, np.ndarray]:
        """The latest checkpoint's weights: float32 arrays under PyTorch's state-dict names."""
    def resume(
        self,
        *,
        callback: Optional[Callable[[Record], Any]] = None,
        progress: Optional[bool] = None,
        threads: Optional[int] = None,
        data_dir: Optional[_PathLike] = None,
    ) -> Run:
        """Continue the run from its last checkpoint to the end of its config."""
    def probe(
        self, what: Optional[Sequence[str]] = None, out: Optional[_PathLike] = None, batches: int = 4
    ) -> Dict[str, Any]:
        """probe() of this run's latest weights."""

def train(
    config: ConfigLike,
    out: Optional[_PathLike] = None,
    overrides: Optional[Mapping[str, Any]] = None,
    *,
    callback: Optional[Callable[[Record], Any]] = None,
    progress: Optional[bool] = None,
    threads: Optional[int] = None,
    data_dir: Optional[_PathLike] = None,
) -> Run:
    """Train a model as ``depthlab train`` does, into the run folder ``out`` (default: a new
    temporary folder), with the GIL released; Ctrl-C stops at a checkpoint and re-raises
    KeyboardInterrupt (its ``run`` attribute is the stopped Run)."""

def total_steps(
    config: ConfigLike,
    overrides: Optional[Mapping[str, Any]] = None,
    *,
    data_dir: Optional[_PathLike] = None,
) -> int:
    """The training steps a run of ``config`` takes (epochs times the batches of an epoch, as
    the engine counts them): the progress bar's length and the finished run's
    ``summary["steps"]``. It loads the data."""

def load_run(path: _PathLike) -> Run:
    """The run in a folder written by ``depthlab train``."""

def probe(
    run_or_config: Union[Run, ConfigLike],
    what: Optional[Sequence[str]] = None,
    out: Optional[_PathLike] = None,
    *,
    batches: int = 4,
    overrides: Optional[Mapping[str, Any]] = None,
    threads: Optional[int] = None,
    data_dir: Optional[_PathLike] = None,
) -> Dict[str, Any]:
    """Run probes on a Run's weights or a config's model at initialisation; each probe's report
    under its name, lists of numbers as numpy arrays."""

def grads(
    config: ConfigLike,
    weights: Optional[Mapping[str, Any]],
    x: Any,
    y: Any = None,
    *,
    overrides: Optional[Mapping[str, Any]] = None,
) -> Dict[str, np.ndarray]:
    """One forward and backward pass: ``loss``, ``output``, ``grad.<param>``, ``act.<block>``."""

class Verdict:
    """One claim's result; ``outcome`` is "held", "did_not_hold", "inconclusive" or None."""

    id: str
    slug: str
    state: str
    outcome: Optional[str]
    rule: str
    measured: List[Dict[str, Any]]
    anchor: str
    note: str
    error: Optional[str]
    missing_runs: List[str]

class Report:
    """A suite's report: ``path`` (report.html), ``verdicts``, ``summary`` lines."""

    out: Path
    path: Path
    scale: str
    verdicts: List[Verdict]
    summary: List[str]
    def __init__(self, out: _PathLike, summary: Optional[List[str]] = None) -> None: ...
    def __getitem__(self, claim: str) -> Verdict: ...
    def _repr_html_(self) -> str: ...

def reproduce(
    claims: Union[None, str, Sequence[str]] = None,
    scale: str = "quick",
    out: Optional[_PathLike] = None,
    jobs: Optional[int] = None,
    *,
    seeds: Optional[int] = None,
    data_dir: Optional[_PathLike] = None,
    quiet: bool = True,
) -> Report:
    """Run the seed's claims (``depthlab reproduce``) with worker processes, then write and
    return their report; Ctrl-C stops the workers at their checkpoints."""

class Sweep:
    """A sweep's results: ``out``, ``ran``, ``skipped``, ``rows`` (one dict per run), ``columns``."""

    out: Path
    ran: int
    skipped: int
    wall_s: float
    columns: List[str]
    rows: List[Dict[str, Any]]
    files: List[Path]
    def frame(self) -> Any:
        """rows as a pandas DataFrame."""
    def runs(self) -> List[Run]:
        """Each row's run folder."""

def sweep(
    spec: ConfigLike,
    out: Optional[_PathLike] = None,
    jobs: Optional[int] = None,
    *,
    metric: Optional[str] = None,
    by: Optional[str] = None,
    data_dir: Optional[_PathLike] = None,
    quiet: bool = True,
) -> Sweep:
    """Run a grid of configs (``depthlab sweep``) with worker processes and collect its table."""
