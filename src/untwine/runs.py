"""The run directory: what is in it, and everything that reads one.

A run directory (file names in :mod:`untwine.run_files`) is written by
:func:`untwine.train.train`; this room reads it back:

- :func:`load_model` — the trained model and its config;
- :func:`load_dataset` — a dataset by name, or a perturbed dataset from its ``*.json``
  description (whose encoder is a run of its own);
- :func:`train_run` — :func:`untwine.train.train` with the dataset resolved as above;
- :func:`evaluate_run` — score the model, merge the scores into ``metrics.json``;
- :func:`read_log` — ``log.csv`` as a DataFrame;
- :func:`status` — missing, partial (at which step), trained, or scored (which metrics).

>>> from untwine import runs
>>> runs.status("runs/quick")  # doctest: +SKIP
RunStatus(state='scored', step=4000, steps=4000, metrics=('mig',))
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import data as data_room
from .atomic import atomic_write
from .config import RunConfig
from .run_files import RunFiles

__all__ = ["RunFiles", "RunStatus", "load_model", "load_dataset", "observation_shape", "train_run", "evaluate_run",
           "perturb_run", "read_log", "read_metrics", "status"]


def _is_description(name) -> bool:
    return str(name).endswith(".json")


def load_dataset(name: str | Path, options: dict | None = None):
    """The dataset ``name`` with ``options`` (see ``untwine data list``), or the perturbed dataset
    described by a ``*.json`` file (written by ``untwine perturb``); the run whose encoder
    computes the perturbation is loaded from its own run directory."""
    options = dict(options or {})
    if not _is_description(name):
        return data_room.get(name, **options)
    if options:
        raise ValueError(f"a perturbed-dataset description takes no options, got {sorted(options)}")
    from .data.perturb import from_description, read_description

    description = read_description(name)
    posterior = None
    if description["kind"] == "pattern":
        run_dir = description.get("run_dir")
        if not run_dir:
            raise ValueError(f"{name}: a pattern perturbation needs 'run_dir' (the run whose encoder computes s)")
        model, _ = load_model(run_dir)
        posterior = model.posterior()
    return from_description(description, posterior=posterior)


def observation_shape(config: RunConfig) -> tuple[int, ...]:
    """The observation shape of a config's dataset (read from a perturbed dataset's description, so that no
    encoder is loaded for it)."""
    if _is_description(config.dataset):
        from .data.perturb import read_description

        return tuple(read_description(config.dataset)["observation_shape"])
    return tuple(data_room.get(config.dataset, **config.dataset_options).observation_shape)


def load_model(run_dir: str | Path, device: str = "cpu"):
    """``(model, config)``: the trained model of a run directory (weights from model.safetensors), in eval mode."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .train import make_model, resolve_device

    files = RunFiles(run_dir)
    config = RunConfig.from_toml(files.config)
    if not files.weights.is_file():
        raise FileNotFoundError(f"{files.weights} not found: train the run first (untwine train --out {files.root})")
    model, _ = make_model(config, observation_shape(config))
    try:
        model.load_state_dict(load_file(files.weights))
    except (SafetensorError, RuntimeError, OSError) as error:
        raise ValueError(f"{files.weights} does not hold this run's weights ({error}); retrain the run") from error
    return model.to(resolve_device(device)).eval(), config


def train_run(config: RunConfig, out: str | Path, *, progress: bool = True) -> Path:
    """Train ``config`` into ``out`` (continuing it if it holds state), resolving the dataset with
    :func:`load_dataset` so that perturbed-dataset descriptions work too. Returns the run directory."""
    from .train import train

    return train(config, out, progress=progress, data=load_dataset(config.dataset, config.dataset_options))


def perturb_run(run_dir: str | Path, epsilon: float, *, kind: str = "pattern", seed: int = 0,
                num_points: int = 10_000):
    """The perturbed dataset of seed 002 built from a trained run: its dataset, perturbed along the run's
    least-noisy latent (``kind="pattern"``) or with uniform noise (``kind="uniform"``). ``.save(path)`` writes
    its description, which :func:`load_dataset` (and ``untwine train --dataset FILE.json``) reads back."""
    from .data import perturb

    run_dir = Path(run_dir).resolve()
    if not RunFiles(run_dir).config.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no config.toml): give the directory of a "
                                f"trained run (untwine train --out DIR)")
    model, config = load_model(run_dir)
    data = load_dataset(config.dataset, config.dataset_options)
    return perturb(data, model.posterior(), epsilon, kind=kind, seed=seed, num_points=num_points,
                   run_dir=str(run_dir))


def read_log(run_dir: str | Path):
    """``log.csv`` as a pandas DataFrame (FileNotFoundError when there is none)."""
    import pandas as pd

    return pd.read_csv(RunFiles(run_dir).log)


def read_metrics(run_dir: str | Path) -> dict:
    """``metrics.json`` as a dict (empty when there is none)."""
    path = RunFiles(run_dir).metrics
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error}); move it aside and run untwine evaluate again") from error


def evaluate_run(run_dir: str | Path, metrics: list[str] | str | None = None, seed: int | None = None,
                 fast: bool = False, progress: bool | Callable[[str], None] | None = None) -> dict:
    """Score a run's model and merge the scores into its ``metrics.json`` (written atomically).

    ``metrics``: names (or ``"all"``); default the run config's ``[evaluate] metrics``. ``seed``:
    default the config's ``[evaluate] seed``. ``fast``: the metrics' fast presets. Metrics that need
    the posterior (``mig_exact``, ``active_units``) get it from the model. Returns the new scores.
    """
    from .metrics import evaluate, expand_metric_names, required_inputs

    model, config = load_model(run_dir)
    names = expand_metric_names(metrics or list(config.evaluate.metrics))
    data = load_dataset(config.dataset, config.dataset_options)
    seed = config.evaluate.seed if seed is None else seed
    extra = {}
    if any("posterior" in required_inputs(name) for name in names):
        extra["posterior"] = model.posterior()
    if progress is True:
        def progress(line: str) -> None:
            print(line, file=sys.stderr, flush=True)
    results = evaluate(model.representation(), data, metrics=names, seed=seed, fast=fast, progress=progress or None,
                       **extra)
    path = RunFiles(run_dir).metrics
    existing = read_metrics(run_dir)
    existing.update(results)
    atomic_write(path, json.dumps(existing, indent=1))
    return results


@dataclass(frozen=True)
class RunStatus:
    """Where a run stands: ``state`` is ``missing`` (no run there), ``partial`` (trained to ``step`` of
    ``steps``), ``trained`` or ``scored`` (``metrics`` lists the metrics in metrics.json)."""

    state: str
    step: int = 0
    steps: int = 0
    metrics: tuple[str, ...] = ()


def status(run_dir: str | Path) -> RunStatus:
    """The :class:`RunStatus` of a run directory, read from its files (nothing is loaded into torch)."""
    files = RunFiles(run_dir)
    if not files.config.is_file():
        return RunStatus("missing")
    config = RunConfig.from_toml(files.config)
    step = 0
    if files.state.is_file():
        try:
            step = int(json.loads(files.state.read_text())["step"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, UnicodeDecodeError) as error:
            raise ValueError(f"{files.state} is unreadable ({error}); run untwine train on {files.root} "
                             f"again to repair it") from error
    steps = config.train.steps
    if step < steps or not files.weights.is_file():
        return RunStatus("partial", step, steps)
    metrics = tuple(read_metrics(run_dir))
    return RunStatus("scored" if metrics else "trained", step, steps, metrics)
