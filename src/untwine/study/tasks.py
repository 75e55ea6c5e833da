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
    """Train the run ``path`` of the study into the directory ``out`` from ``config`` (a
    :meth:`~untwine.config.RunConfig.to_dict`), then score its missing ``metrics`` on each of its
    ``representations`` with the study's metric ``seed``, ``fast`` presets and ``params`` overrides;
    ``hparams`` label its TensorBoard events. ``threads``: the torch threads it runs with (0: leave as is)."""

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
    """One finished run of a UDR cell: its ``path`` in the study, its directory ``dir``, the SHA-256 of the
    weights the score is computed on, and the ``hparams`` of its TensorBoard events."""

    path: str
    dir: str
    weights_sha256: str
    hparams: dict = field(default_factory=dict)


@dataclass(frozen=True)
class UDRTask:
    """Score UDR over the ``runs`` of the cell ``path`` (its UDR ``params`` and ``seed`` from the spec)."""

    path: str
    runs: tuple
    params: dict
    seed: int = 0
    threads: int = 0


#: what an executor runs
Task = Union[RunTask, UDRTask]


@dataclass(frozen=True)
class Outcome:
    """What became of the task ``path``: ``ok`` (it finished) or not, with the ``error`` line (and the
    ``traceback`` where one was caught). ``worker_died``: the process running it died (a kill, the OOM
    killer) rather than the run failing. A finished run's ``train_seconds``, ``score_seconds`` and
    ``summary`` (its last reconstruction and KL); a finished UDR task's ``udr`` (each run's model score)."""

    path: str
    ok: bool
    error: str = ""
    traceback: str = ""
    worker_died: bool = False
    train_seconds: float = 0.0
    score_seconds: float = 0.0
    summary: dict = field(default_factory=dict)
    udr: tuple | None = None

    def line(self) -> str:
        """The driver's line about it."""
        if not self.ok:
            return f"failed  {self.path}: {self.error}"
        if self.udr is not None:
            return f"udr     {self.path}: model scores " + ", ".join(f"{s:.3f}" for s in self.udr)
        parts = [f"{self.train_seconds:.0f} s training, {self.score_seconds:.0f} s scoring"]
        parts += [f"{key} {self.summary[key]:.4g}" for key in ("reconstruction", "kl") if key in self.summary]
        return f"done    {self.path} ({'; '.join(parts)})"


def with_threads(task: Task, threads: int) -> Task:
    """``task`` to run with ``threads`` threads."""
    return dataclasses.replace(task, threads=int(threads))


def worker_died(task: Task, how: str, tries: int) -> Outcome:
    """The outcome of a task whose process died ``tries`` times, the last ``how`` (a signal, an exit code)."""
    return Outcome(task.path, ok=False, worker_died=True,
                   error=f"its worker died {tries} time(s) ({how}); the run resumes from its checkpoint when the "
                         f"study is run again")
