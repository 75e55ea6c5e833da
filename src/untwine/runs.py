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

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import data as data_room
from .config import RunConfig
from .run_files import RunFiles, is_current, read_manifest, read_scores, sha256, store_scores

__all__ = ["QUICK", "quick_config", "RunFiles", "RunStatus", "check_config", "load_model", "load_dataset",
           "observation_shape", "train_run", "evaluate_run", "perturb_run", "read_log", "read_metrics", "status"]

#: The quick preset of ``untwine run``: a first model in minutes on a 2-core laptop (β-TCVAE, β = 20, 6,000 steps of
#: batch 64 at lr 1e-3), the best of the candidates tried on seeds 1-2; on fresh seeds about one in six comes out
#: entangled in either precision (docs/training.md, "The quick preset", has every run and what to expect).
#: ``untwine train`` keeps the reference set-up (docs/reference.md).
QUICK = {"steps": 6000, "lr": 1e-3, "model": "beta-tcvae", "params": {"beta": 20.0}, "out": "runs/quick"}


def quick_config(seed: int = 0) -> RunConfig:
    """The RunConfig of ``untwine run``'s defaults (the quick preset, :data:`QUICK`), with ``seed``."""
    config = RunConfig()
    config.train.steps = QUICK["steps"]
    config.train.lr = QUICK["lr"]
    config.train.checkpoint_every = 500
    config.train.seed = seed
    config.model.objective = QUICK["model"]
    config.model.params = dict(QUICK["params"])
    return config


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


def check_config(config: RunConfig) -> RunConfig:
    """Validate a run config before anything is written or trained: its settings (``RunConfig.validate``) and its
    metric names. Raises a ValueError naming the problem; returns the config."""
    from .metrics import expand_metric_names

    config.validate()
    expand_metric_names(config.evaluate.metrics)
    return config


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
    manifest = read_manifest(files.root)
    if manifest is not None and manifest.weights_sha256 and sha256(files.weights) != manifest.weights_sha256:
        raise ValueError(f"{files.weights} differs from the run's last committed checkpoint (step {manifest.step}): "
                         f"a checkpoint was interrupted or the file is damaged. Run untwine train --out {files.root} "
                         f"again: it restores the weights from the checkpoint and continues")
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
                num_points: int = 10_000, clip: bool = False, rescale: bool = False):
    """The perturbed dataset of seed 002 built from a trained run: its dataset, perturbed along the run's
    least-noisy latent (``kind="pattern"``) or with uniform noise (``kind="uniform"``); ``clip`` or ``rescale``
    bring it back to [0, 1] (:mod:`untwine.data.perturb`). ``.save(path)`` writes its description, which
    :func:`load_dataset` (and ``untwine train --dataset FILE.json``) reads back."""
    from .data import perturb

    run_dir = Path(run_dir).resolve()
    if not RunFiles(run_dir).config.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no config.toml): give the directory of a "
                                f"trained run (untwine train --out DIR)")
    model, config = load_model(run_dir)
    data = load_dataset(config.dataset, config.dataset_options)
    return perturb(data, model.posterior(), epsilon, kind=kind, seed=seed, num_points=num_points,
                   run_dir=str(run_dir), clip=clip, rescale=rescale)


def read_log(run_dir: str | Path):
    """``log.csv`` as a pandas DataFrame (FileNotFoundError when there is none)."""
    import pandas as pd

    return pd.read_csv(RunFiles(run_dir).log)


def read_metrics(run_dir: str | Path) -> dict:
    """``metrics.json`` as a dict (empty when there is none); a ValueError names a file that does not parse."""
    return read_scores(run_dir, "mean")


def evaluate_run(run_dir: str | Path, metrics: list[str] | str | None = None, seed: int | None = None,
                 fast: bool = False, progress: bool | Callable[[str], None] | None = None, cache: bool = True
                 ) -> dict:
    """Score a run's model and merge the scores into its ``metrics.json`` (written atomically).

    ``metrics``: names (or ``"all"``); default the run config's ``[evaluate] metrics``. ``seed``:
    default the config's ``[evaluate] seed``. ``fast``: the metrics' fast presets. Metrics that need
    the posterior (``mig_exact``, ``active_units``) get it from the model. ``cache``: for a dataset whose
    observations are a function of its factors, encode each distinct observation at most once, shared by
    all metrics (:class:`untwine.metrics.cache.CodeCache`). Returns the new scores.
    """
    from .metrics import evaluate, expand_metric_names, required_inputs
    from .metrics.cache import CodeCache, cacheable

    model, config = load_model(run_dir)
    names = expand_metric_names(metrics or list(config.evaluate.metrics))
    data = load_dataset(config.dataset, config.dataset_options)
    seed = config.evaluate.seed if seed is None else seed
    if cache and cacheable(data):
        codes = CodeCache(model.posterior(), data)
        representation, posterior, data = codes.representation, codes.posterior, codes.data
    else:
        representation, posterior = model.representation(), model.posterior()
    extra = {}
    if any("posterior" in required_inputs(name) for name in names):
        extra["posterior"] = posterior
    if progress is True:
        def progress(line: str) -> None:
            print(line, file=sys.stderr, flush=True)
    files = RunFiles(run_dir)
    manifest = read_manifest(files.root)
    scored = {"step": manifest.step if manifest is not None else None, "weights_sha256": sha256(files.weights)}
    results = evaluate(representation, data, metrics=names, seed=seed, fast=fast, progress=progress or None,
                       **extra)
    results = {name: {**result, **scored} for name, result in results.items()}
    store_scores(run_dir, "mean", results)
    return results


@dataclass(frozen=True)
class RunStatus:
    """Where a run stands: ``state`` is ``missing`` (no run there), ``partial`` (trained to ``step`` of
    ``steps``), ``trained`` or ``scored`` (``metrics`` lists the metrics in metrics.json that score the current
    weights; ``stale`` those that scored earlier weights and need ``untwine evaluate`` again)."""

    state: str
    step: int = 0
    steps: int = 0
    metrics: tuple[str, ...] = ()
    stale: tuple[str, ...] = ()


def status(run_dir: str | Path) -> RunStatus:
    """The :class:`RunStatus` of a run directory, read from its files (nothing is loaded into torch)."""
    files = RunFiles(run_dir)
    if not files.config.is_file():
        return RunStatus("missing")
    config = RunConfig.from_toml(files.config)
    manifest = read_manifest(files.root)
    step = 0 if manifest is None else manifest.step
    steps = config.train.steps
    if step < steps or not files.weights.is_file():
        return RunStatus("partial", step, steps)
    weights = sha256(files.weights)
    if manifest.weights_sha256 and weights != manifest.weights_sha256:
        return RunStatus("partial", step, steps)  # a checkpoint was interrupted: train repairs it
    metrics = read_metrics(run_dir)
    current = tuple(name for name, result in metrics.items() if is_current(result, weights))
    stale = tuple(name for name in metrics if name not in current)
    return RunStatus("scored" if current else "trained", step, steps, current, stale)

