"""The submitit side of the slurm executor: a task that SLURM may stop (a time limit, a
preemption) and requeue. It needs no state of its own to resume: the run directory is the
checkpoint, so the requeued job simply runs the same task again and continues the run.
Imported only when the slurm executor is used (it needs submitit: ``pip install "untwine[slurm]"``).
"""

from __future__ import annotations

import submitit

from .worker import execute

__all__ = ["ResumableTask"]


class ResumableTask(submitit.helpers.Checkpointable):
    """Calls :func:`untwine.study.worker.execute`; submitit's default ``checkpoint`` requeues the same call."""

    def __call__(self, task: dict) -> dict:
        return execute(task)
