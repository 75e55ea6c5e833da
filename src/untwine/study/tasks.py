"""The records a study's driver and its executors exchange: tasks going out, outcomes coming back.

Both are frozen dataclasses of plain values (strings, numbers, dicts of them), so they pickle to a
spawned worker, a Ray task or a SLURM job unchanged, and a reader sees every field they carry.

- :class:`RunTask`: train one run (continuing from its checkpoint) and score what it is missing.
- :class:`UDRTask`: score UDR over the finished runs of one cell (:class:`UDRRun` each).
- :class:`Outcome`: what became of a task; ``ok`` when it finished, else ``error`` says why.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Union

__all__ = ["RunTask", "UDRRun", "UDRTask", "Task", "Outcome", "with_threads", "worker_died"]


@dataclass(frozen=True)
class RunTask:
    """Train one run of a study (continuing from its checkpoint), then score what it is missing.

    The run ``path`` of the study is trained into the directory ``out`` from ``config`` (a
    ``RunConfig.to_dict()``), then its missing ``metrics`` are scored on each of its
    ``representations`` with the study's metric ``seed``, ``fast`` presets and ``params`` overrides.

    Attributes
    ----------
    path
        The run's path in the study (relative to the study directory).
    out
        The run directory.
    config
        The run's configuration, as ``RunConfig.to_dict()`` writes it.
    representations
        The representations to score (mean, sampled).
    metrics
        The metrics to score.
    seed
        The study's metric (evaluation) seed.
    fast
        Whether the metrics run with their ``fast`` presets.
    params
        The metric parameter overrides (a study's ``[metrics] params``).
    hparams
        The labels of its TensorBoard events.
    threads
        The torch threads it runs with (0: leave as is).
    """

    path: str
    out: str
    config: dict
    representations: tuple = ()
    metrics: tuple = ()
    seed: int = 0
    fast: bool = False
    params: dict = field(default_factory=dict)
    hparams: dict = field(default_factory=dict)
    threads: int = 0


@dataclass(frozen=True)
class UDRRun:
    """One finished run of a UDR cell.

    Attributes
    ----------
    path
        The run's path in the study.
    dir
        The run directory.
    weights_sha256
        The SHA-256 of the weights the score is computed on.
    hparams
        The labels of its TensorBoard events.
    """

    path: str
    dir: str
    weights_sha256: str
    hparams: dict = field(default_factory=dict)


@dataclass(frozen=True)
class UDRTask:
    """Score UDR over the ``runs`` of the cell ``path`` (its UDR ``params`` and ``seed`` from the spec).

    Attributes
    ----------
    path
        The cell (the runs' path without the seed).
    runs
        The cell's finished runs, a `UDRRun` each.
    params
        UDR's parameters, from the spec's ``[udr]`` table.
    seed
        UDR's sampling seed.
    threads
        The torch threads it runs with (0: leave as is).
    """

    path: str
    runs: tuple
    params: dict
    seed: int = 0
    threads: int = 0


#: what an executor runs
Task = Union[RunTask, UDRTask]


@dataclass(frozen=True)
class Outcome:
    """What became of the task ``path``: ``ok`` (it finished) or not, with the ``error`` line.

    Attributes
    ----------
    path
        The task's path (a run, or a UDR cell).
    ok
        Whether it finished.
    error
        Why it did not, one line.
    traceback
        The traceback, where one was caught.
    worker_died
        The process running it died (a kill, the OOM killer) rather than the run failing.
    train_seconds, score_seconds
        A finished run's training and scoring time.
    summary
        A finished run's last reconstruction and KL.
    udr
        A finished UDR task's model score of each run (None for a run; empty for a skipped cell).
    skipped
        Why a finished UDR task stored no score (a cell of deterministic codes); empty otherwise.
    """

    path: str
    ok: bool
    error: str = ""
    traceback: str = ""
    worker_died: bool = False
    train_seconds: float = 0.0
    score_seconds: float = 0.0
    summary: dict = field(default_factory=dict)
    udr: tuple | None = None
    skipped: str = ""

    def line(self) -> str:
        """The driver's line about it."""
        if not self.ok:
            return f"failed  {self.path}: {self.error}"
        if self.skipped:
            return f"udr     {self.path}: skipped: {self.skipped}"
        if self.udr is not None:
            return f"udr     {self.path}: model scores " + ", ".join(f"{s:.3f}" for s in self.udr)
        parts = [f"{self.train_seconds:.0f} s training, {self.score_seconds:.0f} s scoring"]
        parts += [f"{key} {self.summary[key]:.4g}" for key in ("reconstruction", "kl") if key in self.summary]
        return f"done    {self.path} ({'; '.join(parts)})"


def with_threads(task: Task, threads: int) -> Task:
    """``task`` to run with ``threads`` threads.

    Parameters
    ----------
    task
        A `RunTask` or `UDRTask`.
    threads
        The torch threads it runs with (0: leave as is).

    Returns
    -------
    RunTask or UDRTask
        A copy of ``task`` with ``threads`` set.
    """
    return dataclasses.replace(task, threads=int(threads))


def worker_died(task: Task, how: str, tries: int) -> Outcome:
    """The outcome of a task whose process died ``tries`` times, the last ``how`` (a signal, an exit code).

    Parameters
    ----------
    task
        The task whose process died.
    how
        How it died the last time, e.g. ``"signal 9"`` or an exit code.
    tries
        How many times it died.

    Returns
    -------
    Outcome
        Not ``ok``, with ``worker_died`` set and an ``error`` saying that the run resumes from its
        checkpoint when the study is run again.
    """
    return Outcome(
        task.path,
        ok=False,
        worker_died=True,
        error=f"its worker died {tries} time(s) ({how}); the run resumes from its checkpoint when the "
        f"study is run again",
    )
