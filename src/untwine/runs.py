"""The run directory: what is in it, and everything that reads one.

A run directory (file names in :mod:`untwine.run_files`) is written by
:func:`untwine.train.train`; this room reads it back:

- :func:`load_model` — the trained model and its config;
- :func:`load_dataset` — a dataset by name, or a perturbed dataset from its ``*.json``
  description (whose encoder is a run of its own);
- :func:`train_run` — :func:`untwine.train.train` with the dataset resolved as above;
- :func:`score_run` — score the model's mean and sampled representations (what is not
  scored yet, or everything again), into ``metrics.json`` and ``metrics-sampled.json``;
  :func:`evaluate_run` — score the mean representation again;
- :func:`read_log` — ``log.csv`` as a DataFrame;
- :func:`status` — missing, partial (at which step), trained, or scored (which metrics).

>>> from untwine import runs
>>> runs.status("runs/quick")  # doctest: +SKIP
RunStatus(state='scored', step=4000, steps=4000, metrics=('mig',))
"""

from __future__ import annotations

import inspect
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from . import data as data_room
from .config import QUICK, RunConfig, quick_config  # noqa: F401 (QUICK, quick_config re-exported)
from .data import perturb
from .data.perturb import from_description, read_description
from .metrics import CollapsedRepresentation, evaluate, expand_metric_names, metric_parameters, required_inputs
from .metrics.cache import CodeCache, cacheable
from .run_files import (
    NOTE,
    SKIPPED,
    UNDEFINED,
    RunFiles,
    is_current,
    is_skipped,
    read_manifest,
    read_scores,
    sha256,
    store_scores,
)
from .data.pairs import draw_pairs
from .models import build_objective, objective_class
from .train import make_model, pair_labels, resolve_device, train

__all__ = [
    "QUICK",
    "quick_config",
    "RunFiles",
    "RunStatus",
    "check_config",
    "load_model",
    "load_dataset",
    "observation_shape",
    "train_run",
    "score_run",
    "evaluate_run",
    "missing_scores",
    "expected_params",
    "metric_overrides",
    "stored_scores",
    "unscored",
    "skipped_metrics",
    "is_deterministic",
    "sampled_representation",
    "SAMPLED_STREAM",
    "pair_loss",
    "PAIR_SCORE",
    "PAIR_PARAMS",
    "perturb_run",
    "read_log",
    "read_metrics",
    "status",
]


def _is_description(name) -> bool:
    return str(name).endswith(".json")


def load_dataset(name: str | Path, options: dict | None = None):
    """A dataset by name, or a perturbed dataset from its description.

    Parameters
    ----------
    name
        A registered dataset (``untwine data list``), or a ``*.json`` description written by
        ``untwine perturb`` (the run whose encoder computes the perturbation is loaded from its own
        run directory).
    options
        The dataset's options (none for a description).

    Returns
    -------
    GroundTruthData
        The dataset.

    Raises
    ------
    ValueError
        An unknown name or option, or options given with a description.
    FileNotFoundError
        A dataset whose files are missing (the message says where to put them).
    """
    options = dict(options or {})
    if not _is_description(name):
        return data_room.get(name, **options)
    if options:
        raise ValueError(f"a perturbed-dataset description takes no options, got {sorted(options)}")

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
    """Validate a run config before anything is written or trained.

    Parameters
    ----------
    config
        The config: its settings (:meth:`RunConfig.validate`) and its metric names are checked.

    Returns
    -------
    RunConfig
        ``config`` itself.

    Raises
    ------
    ValueError
        Naming the setting or metric at fault.
    """
    config.validate()
    expand_metric_names(config.evaluate.metrics)
    return config


def observation_shape(config: RunConfig) -> tuple[int, ...]:
    """The observation shape of a config's dataset.

    Parameters
    ----------
    config
        A run config; a perturbed dataset's shape is read from its description, so that no encoder is loaded.

    Returns
    -------
    tuple of int
        The shape of one observation, e.g. ``(1, 64, 64)``.
    """
    if _is_description(config.dataset):
        return tuple(read_description(config.dataset)["observation_shape"])
    return tuple(data_room.get(config.dataset, **config.dataset_options).observation_shape)


def load_model(run_dir: str | Path, device: str = "cpu"):
    """The trained model of a run directory, in eval mode.

    Parameters
    ----------
    run_dir
        A run directory with ``config.toml`` and ``model.safetensors``.
    device
        Where to put the model.

    Returns
    -------
    tuple
        ``(model, config)``: the model with the weights of ``model.safetensors``, and its :class:`RunConfig`.

    Raises
    ------
    FileNotFoundError
        No config or no weights in ``run_dir`` (the run was never trained to a checkpoint).
    ValueError
        Weights that do not load (a corrupt or truncated file).
    """
    files = RunFiles(run_dir)
    config = RunConfig.from_toml(files.config)
    if not files.weights.is_file():
        raise FileNotFoundError(f"{files.weights} not found: train the run first (untwine train --out {files.root})")
    manifest = read_manifest(files.root)
    if manifest is not None and manifest.weights_sha256 and sha256(files.weights) != manifest.weights_sha256:
        raise ValueError(
            f"{files.weights} differs from the run's last committed checkpoint (step {manifest.step}): "
            f"a checkpoint was interrupted or the file is damaged. Run untwine train --out {files.root} "
            f"again: it restores the weights from the checkpoint and continues"
        )
    model, _ = make_model(config, observation_shape(config))
    try:
        model.load_state_dict(load_file(files.weights))
    except (SafetensorError, RuntimeError, OSError) as error:
        raise ValueError(f"{files.weights} does not hold this run's weights ({error}); retrain the run") from error
    return model.to(resolve_device(device)).eval(), config


def train_run(config: RunConfig, out: str | Path, *, progress: bool = True) -> Path:
    """Train a run, continuing it from its checkpoint if ``out`` holds one.

    Parameters
    ----------
    config
        The run's config; its dataset is resolved with :func:`load_dataset`, so a perturbed dataset's
        description works too.
    out
        The run directory.
    progress
        Show a progress bar.

    Returns
    -------
    Path
        The run directory.
    """
    return train(config, out, progress=progress, data=load_dataset(config.dataset, config.dataset_options))


def perturb_run(
    run_dir: str | Path,
    epsilon: float,
    *,
    kind: str = "pattern",
    seed: int = 0,
    num_points: int = 10_000,
    clip: bool = False,
    rescale: bool = False,
):
    """The perturbed dataset of seed 002, built from a trained run (:mod:`untwine.data.perturb`).

    Parameters
    ----------
    run_dir
        A trained run directory: its dataset is perturbed.
    epsilon
        The size of the perturbation.
    kind
        ``"pattern"``: along the run's least-noisy latent; ``"uniform"``: uniform pixel noise.
    seed
        The perturbation's seed.
    num_points
        Observations encoded to find the least-noisy latent.
    clip, rescale
        Bring the perturbed images back to [0, 1] by clipping or by rescaling.

    Returns
    -------
    PerturbedDataset
        The dataset; ``.save(path)`` writes its description, which :func:`load_dataset` (and
        ``untwine train --dataset FILE.json``) reads back.

    Raises
    ------
    FileNotFoundError
        ``run_dir`` is not a run directory.
    ValueError
        The pattern perturbation of a run whose code is deterministic (`is_deterministic`): it has no
        posterior variance to choose a latent by.
    """
    run_dir = Path(run_dir).resolve()
    if not RunFiles(run_dir).config.is_file():
        raise FileNotFoundError(
            f"{run_dir} is not a run directory (no config.toml): give the directory of a "
            f"trained run (untwine train --out DIR)"
        )
    model, config = load_model(run_dir)
    data = load_dataset(config.dataset, config.dataset_options)
    deterministic = is_deterministic(model, config)
    if kind == "pattern" and deterministic:
        raise ValueError(
            f"the pattern perturbation follows the latent with the least average posterior variance of the run "
            f"(Zietlow et al. 2021, Eq. 6); {run_dir} ({config.model.objective}) has a deterministic code, so no "
            f"posterior variance: perturb with kind='uniform' (untwine perturb --kind uniform), or give a run "
            f"of a VAE"
        )
    return perturb(
        data,
        None if deterministic else model.posterior(),  # the uniform perturbation reads none
        epsilon,
        kind=kind,
        seed=seed,
        num_points=num_points,
        run_dir=str(run_dir),
        clip=clip,
        rescale=rescale,
    )


def read_log(run_dir: str | Path):
    """A run's training log.

    Parameters
    ----------
    run_dir
        A run directory.

    Returns
    -------
    pandas.DataFrame
        ``log.csv``, one row per logged step.

    Raises
    ------
    FileNotFoundError
        The run has no log yet.
    """
    return pd.read_csv(RunFiles(run_dir).log)


def read_metrics(run_dir: str | Path) -> dict:
    """A run's scores of its mean representation.

    Parameters
    ----------
    run_dir
        A run directory.

    Returns
    -------
    dict
        ``metrics.json`` (empty when there is none): metric -> its result.

    Raises
    ------
    ValueError
        Naming a file that does not parse.
    """
    return read_scores(run_dir, "mean")


#: the stream of the sampled representation's noise, next to the metric's own seed
SAMPLED_STREAM = 1
#: the note stored with each score of the sampled representation of a deterministic code (`NOTE`)
SAMPLED_IS_MEAN = (
    "the model's code is deterministic (no posterior noise), so its sampled representation is its mean: "
    "this is the mean representation's score"
)


def is_deterministic(model, config: RunConfig | None = None) -> bool:
    """Whether a model's code is deterministic: no posterior variance (``VAE.deterministic``, set from the
    objective by ``untwine.models.build_model``; the run config's objective, when given, says so too).

    Parameters
    ----------
    model
        A VAE (anything without a ``deterministic`` attribute is not).
    config
        The run's config, whose objective class is asked as well (a model built by hand may lack the flag).

    Returns
    -------
    bool
        True for ``ae``, ``qlae`` and any objective with ``deterministic = True``.
    """
    if getattr(model, "deterministic", False):
        return True
    return config is not None and objective_class(config.model.objective).deterministic


def skipped_metrics(names, deterministic: bool, objective: str = "") -> dict:
    """The metrics of ``names`` that are not scored on a model, with why.

    A metric that needs the encoder's posterior (its extra input ``posterior``: ``active_units``, ``mig_exact``)
    has nothing to read on a deterministic code: its log-variance head is untrained, so a score would be noise.
    It is recorded as skipped (`untwine.run_files.SKIPPED`) rather than scored.

    Parameters
    ----------
    names
        Metric names.
    deterministic
        Whether the model's code is deterministic (`is_deterministic`).
    objective
        The objective's name, for the reason.

    Returns
    -------
    dict
        metric -> the reason it is skipped; empty for a model with a posterior.
    """
    if not deterministic:
        return {}
    which = f" ({objective})" if objective else ""
    return {
        name: (
            f"{name} reads the encoder's posterior variances, and this model's code is deterministic{which}: "
            "it has none (its log-variance head is untrained), so it is not scored "
            "(docs/objectives.md, 'Deterministic and quantized representations')"
        )
        for name in names
        if "posterior" in required_inputs(name)
    }


def sampled_representation(
    posterior: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], rng: np.random.Generator
) -> Callable[[np.ndarray], np.ndarray]:
    """Observations -> one z ~ N(mean, variance) per observation, the noise drawn from ``rng``.

    Parameters
    ----------
    posterior
        Observations -> (mean, variance) of the encoder's posterior, arrays of one shape.
    rng
        The generator the noise is drawn from (each call draws afresh).

    Returns
    -------
    callable
        Observations -> the sampled codes, float32.
    """

    def representation(observations: np.ndarray) -> np.ndarray:
        mean, variance = posterior(observations)
        noise = rng.standard_normal(mean.shape)
        return (mean + np.sqrt(variance) * noise).astype(np.float32)

    return representation


def expected_params(name: str, overrides: dict, fast: bool) -> dict:
    """The ``params`` that ``untwine.metrics.evaluate`` records for metric ``name`` with these overrides.

    Parameters
    ----------
    name
        A metric name.
    overrides
        The parameter overrides that reach the metric (`metric_overrides`); callables are left out
        (they are not recorded).
    fast
        Whether the metric runs with its ``fast`` preset (recorded where the metric has one).

    Returns
    -------
    dict
        The metric's defaults updated with ``overrides``, as they read back from JSON.

    Raises
    ------
    ValueError
        An unknown metric.
    """
    defaults = metric_parameters(name)
    params = {k: v for k, v in defaults.items() if v is not inspect.Parameter.empty}
    params.update({k: v for k, v in overrides.items() if not callable(v)})
    if "fast" in defaults:
        params["fast"] = bool(fast)
    return json.loads(json.dumps(params, default=list))


def metric_overrides(name: str, params: dict) -> dict:
    """The overrides of ``params`` (a study's ``[metrics] params``) that reach metric ``name``.

    Parameters
    ----------
    name
        A metric name.
    params
        Scalars shared by every metric that has them, and a table per metric name.

    Returns
    -------
    dict
        The shared scalars the metric takes, updated with its own table.

    Raises
    ------
    ValueError
        An unknown metric.
    """
    valid = metric_parameters(name)
    out = {k: v for k, v in params.items() if not isinstance(v, dict) and k in valid}
    out.update(params.get(name, {}))
    return out


def stored_scores(run_dir: str | Path, representations) -> dict:
    """The stored scores of a run, per representation.

    A scores file that does not parse counts as empty (scoring sets it aside and scores again).

    Parameters
    ----------
    run_dir
        A run directory.
    representations
        The representations to read (mean, sampled).

    Returns
    -------
    dict
        representation -> its stored scores, ``{metric: result}`` (empty, too, for a
        representation that is not mean or sampled).
    """
    stored = {}
    for representation in representations:
        try:
            stored[representation] = read_scores(run_dir, representation)
        except ValueError:
            stored[representation] = {}
    return stored


def unscored(stored: dict, representations, wanted: dict, seed: int, weights_sha256: str | None, skipped=()) -> list:
    """The (representation, metric) pairs that ``stored`` holds no current score for.

    Current is `untwine.run_files.is_current`'s rule: these weights, this seed and these
    parameters; and a metric of ``skipped`` is current only as a skip record (`untwine.run_files.SKIPPED`), any
    other only as a score (so that a number scored from a deterministic code's noise before it was skipped is
    done again, as a skip).

    Parameters
    ----------
    stored
        representation -> its stored scores (`stored_scores`), for each of ``representations``.
    representations
        The representations asked for.
    wanted
        metric -> the params it must have been scored with (`expected_params`).
    seed
        The evaluation seed it must have been scored with.
    weights_sha256
        The SHA-256 of the run's current weights (None: nothing is current).
    skipped
        The metrics that are not scored on this run (`skipped_metrics`).

    Returns
    -------
    list of tuple
        (representation, metric) pairs, representations outermost.
    """
    return [
        (representation, name)
        for representation in representations
        for name, params in wanted.items()
        if not is_current(result := stored[representation].get(name), weights_sha256, seed, params)
        or (is_skipped(result) and not result.get(UNDEFINED)) != (name in skipped)
    ]


def _committed_weights(files: RunFiles, manifest) -> str | None:
    """The SHA-256 of the run's committed weights: the checkpoint manifest's, else the weights file's own."""
    if manifest is not None and manifest.weights_sha256:
        return manifest.weights_sha256
    return sha256(files.weights) if files.weights.is_file() else None


def missing_scores(
    run_dir: str | Path,
    representations,
    names,
    seed: int,
    params: dict,
    fast: bool,
    weights_sha256: str | None = None,
    deterministic: bool | None = None,
) -> list[tuple[str, str]]:
    """The (representation, metric) pairs a run has not yet scored as asked.

    A pair is scored when its stored score is of the run's current weights, with this seed and
    these parameters.

    Parameters
    ----------
    run_dir
        A run directory.
    representations
        The representations asked for (mean, sampled).
    names
        The metrics asked for.
    seed
        The evaluation seed.
    params
        Metric parameter overrides, as a study's ``[metrics] params`` (`metric_overrides`).
    fast
        Whether the metrics run with their ``fast`` presets.
    weights_sha256
        The SHA-256 of the current weights (None: the committed checkpoint's, else the weights
        file's own).
    deterministic
        Whether the run's code is deterministic, so that the metrics of `skipped_metrics` are done as skip
        records (None: its config's objective says).

    Returns
    -------
    list of tuple of str
        (representation, metric) pairs, representations outermost.

    Raises
    ------
    ValueError
        An unknown metric, or a checkpoint manifest that does not parse (when ``weights_sha256``
        is not given).
    """
    if weights_sha256 is None:
        weights_sha256 = _committed_weights(RunFiles(run_dir), read_manifest(run_dir))
    if deterministic is None:
        config = RunFiles(run_dir).config
        deterministic = config.is_file() and objective_class(RunConfig.from_toml(config).model.objective).deterministic
    wanted = {name: expected_params(name, metric_overrides(name, params), fast) for name in names}
    skipped = skipped_metrics(names, deterministic)
    return unscored(stored_scores(run_dir, representations), representations, wanted, seed, weights_sha256, skipped)


def score_run(
    run_dir: str | Path,
    representations=("mean", "sampled"),
    metrics=None,
    seed: int | None = None,
    fast: bool = False,
    params: dict | None = None,
    *,
    rescore: bool = False,
    progress: bool | Callable[[str], None] | None = None,
    model=None,
    data=None,
    cache: bool = True,
) -> dict:
    """Score a run on each of its ``representations`` and store each result as soon as it is computed.

    The one scoring path of untwine: ``untwine evaluate``, :func:`evaluate_run` and a study's workers all come
    here. Representations: ``mean``, the posterior means μ(x) (scores in ``metrics.json``); ``sampled``, one
    draw z ~ N(μ(x), σ²(x)) per observation, as Locatello et al. (2019, §5.1) score it (scores in
    ``metrics-sampled.json``); the noise comes from a generator seeded with ``(seed, SAMPLED_STREAM)``, a fresh
    one per metric, so a metric's value depends neither on the other metrics asked for nor on their order.

    A model whose code is deterministic (`is_deterministic`: ``ae``, ``qlae``) has no posterior: its sampled
    representation is its mean (each such score stores `SAMPLED_IS_MEAN` under ``"note"``), and a metric that
    needs the posterior (`skipped_metrics`) is stored as ``{"skipped": <why>, "params", "seed", "step",
    "weights_sha256"}``, with no number, and counts as done (docs/objectives.md, "Deterministic and quantized
    representations").

    Parameters
    ----------
    run_dir
        A trained run directory.
    representations
        ``"mean"``, ``"sampled"`` or both.
    metrics
        Metric names (or ``"all"``); default the run config's ``[evaluate] metrics``.
    seed
        The metrics' seed; default the run config's ``[evaluate] seed``.
    fast
        The metrics' fast presets.
    params
        Overrides as a study's ``[metrics] params`` table gives them (shared scalars, a table per metric).
    rescore
        Score every metric asked for again; by default a metric whose stored result already scores the run's
        current weights with this seed and these parameters is kept, not redone.
    progress
        True (lines on stderr) or a callable taking each line of the metrics' progress.
    model, data
        The loaded model and dataset, when the caller has them (default: read from the run directory).
    cache
        For a dataset whose observations are a function of its factors, every metric and both representations
        share one :class:`untwine.metrics.cache.CodeCache`, so each distinct observation is encoded at most once.

    Returns
    -------
    dict
        ``{representation: {metric: result}}`` of what was computed now (skip records included); each result
        carries the ``step`` and ``weights_sha256`` of the weights it scored.
    """
    params = dict(params or {})
    files = RunFiles(run_dir)
    if model is None:
        model, config = load_model(run_dir)
    else:
        config = RunConfig.from_toml(files.config)
    names = expand_metric_names(metrics or list(config.evaluate.metrics))
    seed = config.evaluate.seed if seed is None else seed
    manifest = read_manifest(files.root)
    weights = _committed_weights(files, manifest)
    deterministic = is_deterministic(model, config)
    if rescore:
        todo = [(representation, name) for representation in representations for name in names]
    else:
        todo = missing_scores(run_dir, representations, names, seed, params, fast, weights, deterministic)
    pairs = "mean" in representations and objective_class(config.model.objective).paired
    if pairs and not rescore:
        pairs = not is_current(stored_scores(run_dir, ["mean"])["mean"].get(PAIR_SCORE), weights, seed, PAIR_PARAMS)
    if progress is True:

        def progress(line: str) -> None:
            print(line, file=sys.stderr, flush=True)

    stamp = {"step": manifest.step if manifest is not None else None, "weights_sha256": weights}
    skipped = skipped_metrics(names, deterministic, config.model.objective)
    done: dict = {}
    for representation, name in todo:
        if name in skipped:  # no number: the reason, with what makes it current
            used = expected_params(name, metric_overrides(name, params), fast)
            result = {SKIPPED: skipped[name], "params": used, "seed": seed, **stamp}
            if progress:
                progress(f"{name} ({representation}): skipped: {skipped[name]}")
            store_scores(run_dir, representation, {name: result})
            done.setdefault(representation, {})[name] = result
    todo = [(representation, name) for representation, name in todo if name not in skipped]
    if not todo and not pairs:
        return done
    if data is None:
        data = load_dataset(config.dataset, config.dataset_options)
    observed = data
    # a deterministic code has no posterior: the model is never asked for one (VAE.posterior raises)
    posterior, mean = (None if deterministic else model.posterior()), model.representation()
    if cache and cacheable(data):
        codes = CodeCache(posterior, data, representation=mean if deterministic else None)
        posterior, mean, data = (None if deterministic else codes.posterior), codes.representation, codes.data
    for representation, name in todo:
        overrides = metric_overrides(name, params)
        if "posterior" in required_inputs(name):
            overrides["posterior"] = posterior
        if representation == "mean" or deterministic:
            function = mean
        else:
            function = sampled_representation(posterior, np.random.default_rng([seed, SAMPLED_STREAM]))
        try:
            result = evaluate(
                function, data, metrics=[name], seed=seed, fast=fast, progress=progress or None, **overrides
            )[name]
        except CollapsedRepresentation as error:  # undefined on this code: the reason, current like a score
            used = expected_params(name, metric_overrides(name, params), fast)
            result = {SKIPPED: f"{name} is undefined here: {error}", UNDEFINED: True, "params": used, "seed": seed}
            if progress:
                progress(f"{name} ({representation}): skipped: {result[SKIPPED]}")
        result = {**result, **stamp}
        if representation == "sampled" and deterministic:
            result[NOTE] = SAMPLED_IS_MEAN
        store_scores(run_dir, representation, {name: result})
        done.setdefault(representation, {})[name] = result
    if pairs:
        objective = build_objective(config.model.objective, config.model.params)
        result = pair_loss(model, objective, observed, seed=seed, **PAIR_PARAMS)
        result = {**result, "params": dict(PAIR_PARAMS), "seed": seed, **stamp}
        store_scores(run_dir, "mean", {PAIR_SCORE: result})
        done.setdefault("mean", {})[PAIR_SCORE] = result
    return done


#: the score of a weakly-supervised model on held-out pairs (``metrics.json``), and how it is computed
PAIR_SCORE = "pair_elbo"
PAIR_PARAMS = {"num_pairs": 10_000}
#: the stream of the held-out pairs, next to the evaluation seed (the training batches use (train seed, step))
PAIR_STREAM = 2


def pair_loss(model, objective, data, num_pairs: int = 10_000, seed: int = 0, batch_size: int = 500) -> dict:
    """A weakly-supervised model's loss on held-out pairs: the paper's label-free model-selection score.

    Locatello et al. (2020, §5) select hyperparameters by the weakly-supervised ELBO (or reconstruction) of pairs
    the model was not trained on. The pairs are drawn as in training (``objective.k`` factors changed), from a
    generator seeded with ``(seed, PAIR_STREAM)``; the posterior noise from ``seed``.

    Parameters
    ----------
    model
        The trained VAE (put in eval mode here).
    objective
        Its paired objective (``untwine.models.weak``), which averages the pair's posteriors as in training.
    data
        The run's dataset.
    num_pairs
        Held-out pairs.
    seed
        The evaluation seed.
    batch_size
        Pairs per forward pass.

    Returns
    -------
    dict
        ``reconstruction`` (½ of the two observations' negative log-likelihoods, per pair), ``kl`` (½ of their KL
        to the prior after averaging) and ``elbo`` (−reconstruction − kl), means over the pairs.

    Raises
    ------
    ValueError
        An objective that does not train on pairs.
    """
    if not objective.paired:
        raise ValueError(f"pair_loss scores weakly-supervised models; {objective.name} trains on single observations")
    model.eval()
    device = next(model.parameters()).device
    rng = np.random.default_rng([seed, PAIR_STREAM])
    generator = torch.Generator(device=device).manual_seed(seed)
    reconstruction = kl = 0.0
    for start in range(0, num_pairs, batch_size):
        n = min(batch_size, num_pairs - start)
        factors, observations = draw_pairs(data, n, rng, objective.k)
        labels = pair_labels(objective, factors, device)
        x = model.prepare(torch.from_numpy(observations).to(device))
        with torch.no_grad():
            terms, logs, _ = objective(model, x, 0, generator, labels)
        reconstruction += float(terms["reconstruction"]) * n
        kl += float(logs["kl"]) * n
    reconstruction, kl = reconstruction / num_pairs, kl / num_pairs
    return {"reconstruction": reconstruction, "kl": kl, "elbo": -(reconstruction + kl)}


def evaluate_run(
    run_dir: str | Path,
    metrics: list[str] | str | None = None,
    seed: int | None = None,
    fast: bool = False,
    progress: bool | Callable[[str], None] | None = None,
    cache: bool = True,
) -> dict:
    """Score a run's mean representation with every metric asked for, again, and merge the scores into its
    ``metrics.json`` (each written atomically as it is computed): :func:`score_run` with ``rescore=True``.

    Parameters
    ----------
    run_dir
        A trained run directory.
    metrics
        Metric names (or ``"all"``); default the run config's ``[evaluate] metrics``.
    seed
        The metrics' seed; default the run config's ``[evaluate] seed``.
    fast
        The metrics' fast presets.
    progress
        True (lines on stderr) or a callable taking each line of the metrics' progress.
    cache
        Encode each distinct observation at most once, shared by all metrics (for a dataset whose observations
        are a function of its factors; :class:`untwine.metrics.cache.CodeCache`).

    Returns
    -------
    dict
        ``{metric: result}``, the new scores.
    """
    return score_run(run_dir, ("mean",), metrics, seed, fast, rescore=True, progress=progress, cache=cache).get(
        "mean", {}
    )


@dataclass(frozen=True)
class RunStatus:
    """Where a run stands.

    Attributes
    ----------
    state
        ``missing`` (no run there), ``partial`` (trained to ``step`` of ``steps``), ``trained`` or
        ``scored``.
    step, steps
        The committed step, of the steps the run trains for.
    metrics
        The metrics in metrics.json that score the current weights.
    stale
        Those that scored earlier weights and need ``untwine evaluate`` again.
    """

    state: str
    step: int = 0
    steps: int = 0
    metrics: tuple[str, ...] = ()
    stale: tuple[str, ...] = ()


def status(run_dir: str | Path) -> RunStatus:
    """Where a run stands, read from its files (nothing is loaded into torch).

    Parameters
    ----------
    run_dir
        A run directory (it need not exist).

    Returns
    -------
    RunStatus
        Missing, partial (at which step), trained, or scored (which metrics score the current weights).
    """
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
