"""Scoring a run of a study on its mean and its sampled representation.

- ``mean``: the posterior means μ(x), :meth:`untwine.models.VAE.representation` (what
  ``untwine evaluate`` scores). Scores go to the run's ``metrics.json``, in the format
  :func:`untwine.runs.evaluate_run` writes (each result with its ``params``, ``seed``,
  ``step`` and ``weights_sha256``), so ``untwine.runs.status`` and the run's report see them.
- ``sampled``: one draw z ~ q(z|x) = N(μ(x), σ²(x)) per observation, as Locatello et al.
  (2019, §5.1) score it. The noise comes from an explicit ``np.random.Generator``, a fresh
  one per metric seeded from ``(seed, 1)``, so a metric's value depends neither on the other
  metrics asked for nor on their order, and a rerun gives the same value. Scores go to
  ``metrics-sampled.json``, in the same format. An objective whose code is deterministic
  (the autoencoder) has no posterior noise: its sampled representation is its mean.

Each metric is written as soon as it is computed (atomically), so a kill loses at most
the metric being computed; a rerun scores only what is missing: a metric counts as scored
when its stored result has the asked seed and parameters and scored the run's current
weights (the SHA-256 the run's checkpoint manifest records).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Callable

import numpy as np

from ..run_files import SCORE_FILES, RunFiles, is_current, read_manifest, read_scores, score_file, store_scores

__all__ = ["SCORE_FILES", "score_file", "sampled_representation", "read_scores", "expected_params", "is_scored",
           "stored_scores", "unscored",
           "missing_scores", "score_run", "current_weights"]

#: the stream of the sampled representation's noise, next to the metric's own seed
SAMPLED_STREAM = 1


def sampled_representation(posterior: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
                           rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    """Observations -> one z ~ N(mean, variance) per observation, the noise drawn from ``rng``."""
    def representation(observations: np.ndarray) -> np.ndarray:
        mean, variance = posterior(observations)
        noise = rng.standard_normal(mean.shape)
        return (mean + np.sqrt(variance) * noise).astype(np.float32)

    return representation


def expected_params(name: str, overrides: dict, fast: bool) -> dict:
    """The ``params`` that :func:`untwine.metrics.evaluate` records for metric ``name`` with these overrides."""
    from ..metrics import metric_parameters

    defaults = metric_parameters(name)
    params = {k: v for k, v in defaults.items() if v is not inspect.Parameter.empty}
    params.update({k: v for k, v in overrides.items() if not callable(v)})
    if "fast" in defaults:
        params["fast"] = bool(fast)
    return json.loads(json.dumps(params, default=list))


def metric_overrides(name: str, params: dict) -> dict:
    """The overrides of ``[metrics] params`` that reach metric ``name``: shared scalars it has, and its table."""
    from ..metrics import metric_parameters

    valid = metric_parameters(name)
    out = {k: v for k, v in params.items() if not isinstance(v, dict) and k in valid}
    out.update(params.get(name, {}))
    return out


def current_weights(run_dir: str | Path) -> str | None:
    """The SHA-256 of the run's committed weights (from its checkpoint manifest), None before a checkpoint."""
    manifest = read_manifest(run_dir)
    return None if manifest is None else manifest.weights_sha256


def is_scored(result, weights_sha256: str | None, seed: int, params: dict) -> bool:
    """A stored score of these weights with this seed and these parameters (:func:`untwine.run_files.is_current`)."""
    return is_current(result, weights_sha256, seed, params)


def stored_scores(run_dir: str | Path, representations) -> dict:
    """representation -> its stored scores; a scores file that does not parse counts as empty (scoring sets it
    aside and scores again)."""
    stored = {}
    for representation in representations:
        try:
            stored[representation] = read_scores(run_dir, representation)
        except ValueError:
            stored[representation] = {}
    return stored


def unscored(stored: dict, representations, wanted: dict, seed: int, weights_sha256: str | None) -> list:
    """(representation, metric) pairs of ``wanted`` (metric -> the params it must have been scored with) that
    ``stored`` (:func:`stored_scores`) holds no current score for."""
    return [(representation, name) for representation in representations for name, params in wanted.items()
            if not is_scored(stored[representation].get(name), weights_sha256, seed, params)]


def missing_scores(run_dir: str | Path, representations, names, seed: int, params: dict, fast: bool,
                   weights_sha256: str | None = None) -> list[tuple[str, str]]:
    """(representation, metric) pairs not yet scored on the run's current weights as asked."""
    weights = weights_sha256 if weights_sha256 is not None else current_weights(run_dir)
    wanted = {name: expected_params(name, metric_overrides(name, params), fast) for name in names}
    return unscored(stored_scores(run_dir, representations), representations, wanted, seed, weights)


def store_score(run_dir: str | Path, representation: str, name: str, result: dict) -> None:
    """Merge one metric's result into the representation's scores file (:func:`untwine.run_files.store_scores`)."""
    store_scores(run_dir, representation, {name: result})


def score_run(run_dir: str | Path, representations=("mean", "sampled"), metrics=None, seed: int | None = None,
              fast: bool = False, params: dict | None = None, *, model=None, data=None, cache: bool = True) -> dict:
    """Score the run in ``run_dir`` on each representation with each metric that is not scored yet (see the
    module docstring); returns ``{representation: {metric: result}}`` of what was computed now.

    ``metrics``: names (default the run config's ``[evaluate] metrics``); ``seed``: default the config's
    ``[evaluate] seed``; ``params``: overrides as :func:`untwine.metrics.evaluate` takes them. ``cache``: for a
    dataset whose observations are a function of its factors, every metric and both representations share one
    :class:`untwine.metrics.cache.CodeCache`, so each distinct observation is encoded at most once per call (the
    sampled representation draws its noise from the cached posterior, as it would from a fresh encoding).
    """
    from ..metrics.cache import CodeCache, cacheable
    from ..metrics import evaluate, expand_metric_names, required_inputs
    from ..models import OBJECTIVES
    from ..runs import load_dataset, load_model

    params = dict(params or {})
    if model is None:
        model, config = load_model(run_dir)
    else:
        from ..config import RunConfig

        config = RunConfig.from_toml(RunFiles(run_dir).config)
    names = expand_metric_names(list(metrics) if metrics else list(config.evaluate.metrics))
    seed = config.evaluate.seed if seed is None else seed
    manifest = read_manifest(run_dir)
    weights = manifest.weights_sha256 if manifest is not None else None
    todo = missing_scores(run_dir, representations, names, seed, params, fast, weights)
    if not todo:
        return {}
    if data is None:
        data = load_dataset(config.dataset, config.dataset_options)
    deterministic = getattr(OBJECTIVES.get(config.model.objective), "deterministic", False)
    stamp = {"step": manifest.step if manifest is not None else None, "weights_sha256": weights}
    posterior, mean = model.posterior(), model.representation()
    if cache and cacheable(data):
        codes = CodeCache(posterior, data)
        posterior, mean, data = codes.posterior, codes.representation, codes.data
    done: dict = {}
    for representation, name in todo:
        overrides = metric_overrides(name, params)
        if "posterior" in required_inputs(name):
            overrides["posterior"] = posterior
        if representation == "mean" or deterministic:
            function = mean
        else:
            function = sampled_representation(posterior, np.random.default_rng([seed, SAMPLED_STREAM]))
        result = evaluate(function, data, metrics=[name], seed=seed, fast=fast, **overrides)[name]
        result = {**result, **stamp}
        store_score(run_dir, representation, name, result)
        done.setdefault(representation, {})[name] = result
    return done
