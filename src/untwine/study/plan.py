"""``untwine study plan``: what a spec expands to, how long its training takes and how much disk it needs.

Time comes from a measured step: for each distinct architecture of the study (observation
shape, objective, latent size, likelihood, batch size, precision) a few training steps run
here, on a dataset of the study with that observation shape, with the executor's threads
per run; the estimate is Σ steps × step time / parallel runs. Scoring time is not in it
(it depends on the metrics' sample sizes far more than on the model: see docs/studies.md).
Disk is the weights (model.safetensors), the checkpoint (weights, Adam moments, objective
state) and the logs (log.csv and TensorBoard events) of every run.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import data as data_room
from ..models import build_model
from ..runs import load_dataset, observation_shape, read_log
from ..train import train
from .executors import default_threads
from .spec import StudySpec, load_spec

__all__ = ["Plan", "plan", "measure_step_seconds"]

_LOG_ROW_BYTES = 160  # one row of log.csv and its share of the events file, measured on a β-VAE run


@dataclass
class Plan:
    """The expansion of a spec (``runs``), with estimates of its training time and disk.

    Attributes
    ----------
    spec
        The `StudySpec` planned.
    runs
        Its `PlannedRun` records, in expansion order.
    parallel
        Runs at once the time estimate assumes.
    threads
        Threads per run the steps were measured with.
    step_seconds
        Seconds per training step, per architecture (a label naming objective, shape and batch size).
    train_seconds
        Estimated wall time of the training at ``parallel`` runs at once, in seconds; None when
        nothing was measured (``measure`` False). Runs whose step could not be measured are left out
        of it, and a note says so.
    disk_bytes
        Estimated disk of the weights, checkpoints and logs of every run.
    notes
        What could not be measured and why.
    """

    spec: StudySpec
    runs: list
    parallel: int
    threads: int
    step_seconds: dict = field(default_factory=dict)
    train_seconds: float | None = None
    disk_bytes: int = 0
    notes: list = field(default_factory=list)

    def summary(self) -> str:
        spec = self.spec
        cells = len({r.cell for r in self.runs})
        per_dataset = {len({r.cell for r in self.runs if r.dataset == d.label}) for d in spec.datasets}
        if len(per_dataset) == 1:
            shape = f"{len(spec.datasets)} dataset(s) × {per_dataset.pop()} method/value cell(s)"
        else:  # a grid given per dataset: the datasets have different numbers of cells
            shape = f"{cells} dataset/method/value cells"
        lines = [f"{spec.name}: {len(self.runs)} runs = {shape} × {len(spec.seeds)} seed(s)"]
        by_dataset: dict = {}
        for run in self.runs:
            by_dataset.setdefault(run.dataset, {}).setdefault(run.method, set()).add(run.cell)
        for dataset, methods in by_dataset.items():
            lines.append(f"  {dataset}: " + ", ".join(f"{m} ({len(c)} value(s))" for m, c in methods.items()))
        steps = sum(r.config.train.steps for r in self.runs)
        lines.append(
            f"training steps: {steps:,} in all; representations scored: "
            f"{', '.join(spec.representations) or 'none'}; metrics: {', '.join(spec.metrics.names)}"
            + (" (fast)" if spec.metrics.fast else "")
        )
        for key, seconds in self.step_seconds.items():
            lines.append(f"  measured step: {key}: {seconds * 1000:.1f} ms")
        if self.train_seconds is not None:
            lines.append(
                f"estimated training time: {_duration(self.train_seconds)} with {self.parallel} run(s) at "
                f"once × {self.threads} thread(s) (scoring not included)"
            )
        lines.append(f"disk: about {_size(self.disk_bytes)}")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def _arch_key(config, shape) -> tuple:
    return (
        tuple(shape),
        config.model.objective,
        config.model.latent_dim,
        config.model.likelihood,
        config.train.batch_size,
        getattr(config.train, "precision", "fp32"),
    )


def _shape(config):
    """The observation shape of a run's dataset, without reading files where the class declares it."""
    try:
        return tuple(observation_shape(config))
    except (FileNotFoundError, OSError, ValueError):
        declared = getattr(data_room.DATASETS.get(config.dataset), "observation_shape", ())
        return tuple(declared) or None


def measure_step_seconds(config, data, threads: int, steps: int = 8, warmup: int = 2) -> float:
    """Seconds per training step of ``config`` on ``data`` with ``threads`` threads: a short run in a temporary
    directory, continued for ``steps`` steps after ``warmup``; the step time is read from log.csv's throughput
    (so model building and checkpoint writes are left out)."""

    config = dataclasses.replace(
        config,
        train=dataclasses.replace(
            config.train, steps=warmup, log_every=1, checkpoint_every=10**9, checkpoint_seconds=1e9, threads=threads
        ),
    )
    saved = torch.get_num_threads()
    try:
        with tempfile.TemporaryDirectory(prefix="untwine-plan-") as tmp:
            train(config, tmp, progress=False, data=data)
            config.train.steps = warmup + steps
            train(config, tmp, progress=False, data=data)
            log = read_log(tmp)
    finally:
        torch.set_num_threads(saved)
    rates = log[log["step"] > warmup]["images_per_s"]
    return float(config.observations_per_step / rates.median())


def plan(
    spec: str | Path | StudySpec,
    *,
    measure: bool = True,
    workers: int | None = None,
    threads_per_run: int | None = None,
) -> Plan:
    """The `Plan` of a spec: its runs, and estimates of their training time and disk.

    Parameters
    ----------
    spec
        A TOML file, a preset's name, or a `StudySpec`.
    measure
        Measure a few training steps per architecture for the time estimate; False skips the
        step measurements (no time estimate).
    workers
        Runs at once (None: the spec's ``[executor] workers``).
    threads_per_run
        Threads (ray, slurm: CPUs) per run (None: the spec's ``[executor] threads_per_run``; 0 there:
        the cores shared by the workers for the local executor, 1 for the others).

    Returns
    -------
    Plan
        The expanded runs with ``train_seconds`` (None when ``measure`` is False), ``disk_bytes``
        and ``notes``; ``.summary()`` is what ``untwine study plan`` prints.

    Raises
    ------
    SpecError
        A spec that does not parse or check.
    FileNotFoundError
        ``spec`` is neither a file nor a preset.
    """
    spec = load_spec(spec)
    runs = spec.runs()
    executor = spec.executor
    workers = executor.workers if workers is None else workers
    threads = threads_per_run if threads_per_run is not None else executor.threads_per_run
    if executor.kind == "local":
        threads = threads or default_threads(workers)
        parallel = max(1, workers)
    else:
        threads = threads or 1
        parallel = max(1, workers)
    result = Plan(spec, runs, parallel, threads)
    shapes: dict = {}
    sizes: dict = {}
    measured: dict = {}
    total_seconds = 0.0
    unmeasured = False
    for run in runs:
        config = run.config
        name_key = (config.dataset, repr(sorted(config.dataset_options.items())))
        if name_key not in shapes:
            shapes[name_key] = _shape(config)
        shape = shapes[name_key]
        if shape is None:
            result.notes.append(
                f"{run.dataset}: observation shape unknown (its files are missing); left out of the estimates"
            )
            unmeasured = True
            continue
        key = _arch_key(config, shape)
        if key not in sizes:
            model, _ = build_model(config.model, shape)
            weights = sum(p.numel() * p.element_size() for p in model.parameters())
            extra = 4 if config.model.objective == "factor-vae" else 0  # the discriminator and its optimiser
            sizes[key] = weights * (1 + 3 + extra)  # model.safetensors; checkpoint with Adam's two moments
        rows = config.train.steps // max(1, config.train.log_every) + 1
        result.disk_bytes += sizes[key] + rows * _LOG_ROW_BYTES * 2
        if not measure:
            continue
        if key not in measured:
            measured[key] = None
            try:
                data = load_dataset(config.dataset, config.dataset_options)
            except (FileNotFoundError, OSError, ValueError) as error:
                data = _stand_in(runs, shape, shapes)
                if data is None:
                    result.notes.append(f"{run.dataset}: not measured ({error})")
            if data is not None:
                measured[key] = measure_step_seconds(config, data, threads)
                label = f"{config.model.objective} on {'×'.join(map(str, shape))}, batch {config.train.batch_size}"
                result.step_seconds[label] = measured[key]
        if measured[key] is None:
            unmeasured = True
            continue
        total_seconds += config.train.steps * measured[key]
    if measure:
        result.train_seconds = total_seconds / parallel
        if unmeasured:
            result.notes.append("the time estimate leaves out the runs that could not be measured")
    return result


def _stand_in(runs, shape, shapes):
    """A dataset of the study with the same observation shape that can be built here, for timing a run whose
    own dataset's files are missing (the step time depends on the shape, not on the pixels). Any dataset of the
    study may stand in, also one whose runs come later in the study's order (its shape is read here, once); each
    is tried once."""
    tried = set()
    for run in runs:
        key = (run.config.dataset, repr(sorted(run.config.dataset_options.items())))
        if key in tried:
            continue
        tried.add(key)
        if key not in shapes:
            shapes[key] = _shape(run.config)
        if shapes[key] == shape:
            try:
                return load_dataset(run.config.dataset, run.config.dataset_options)
            except (FileNotFoundError, OSError, ValueError):
                continue
    return None
