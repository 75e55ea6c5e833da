"""The perturbed datasets of seed 002 (§4): same factors, ε-small changes that VAEs pick up.

x̃ = clip(x + ε · f(s(x)), 0, 1), so that ‖x̃ − x‖∞ ≤ ε (seed 002, Eq. 5), where

- s(x) = μ_j(x), the posterior mean of the latent j with the least average
  posterior variance, j = argmin_k E_x[σ²_k(x)] (seed 002, Eq. 6; "the latent with
  the least noise injected"), estimated on ``num_points`` observations drawn
  with ``seed``;
- f(s) shifts a fixed random pattern p ∈ {−1, 1}^{P×W} vertically with s, column by
  column (seed 002, §4.2): f(s)_{i,j} = p_{(round(r(s)/c_j) + i) mod P, j} with column
  factors c_j drawn uniformly from {1, 2, 3, 4}, so that column j moves by one row
  each time r(s) crosses c_j rows: information about s on several scales. The same
  pattern is added to every channel.

**Scaling of s to pixel rows.** r(s) = H · (s − s₀₁) / (s₉₉ − s₀₁), with s₀₁ and s₉₉
the 1st and 99th percentiles of s over the estimation sample and H the image
height: the central 98 % of the data sweeps the pattern over one image height in
the columns with c_j = 1 (a quarter of that in those with c_j = 4). The pattern
has P = 4H rows and wraps around, so values far outside the sample range alias.

``kind="uniform"`` is the control of seed 002, §5.3: pixel-wise noise U[−ε, ε]
drawn from the ``rng`` of :meth:`observe`, clipped to [0, 1]; it needs no
representation.

A perturbed dataset describes itself as JSON (:meth:`PerturbedDataset.describe`,
:meth:`save`); ``untwine.data.get("path/to/perturbed.json")`` rebuilds it, loading
the run's encoder through ``untwine.train.load_model`` (imported only then: the
data room does not import models).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from .base import GroundTruthDataset

KINDS = ("pattern", "uniform")
FORMAT = "untwine.perturbed-dataset"
_PERCENTILES = (1.0, 99.0)


def _posterior_function(representation) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """A callable numpy observations -> (means, variances) from what the user gave."""
    if hasattr(representation, "posterior") and callable(representation.posterior):
        return representation.posterior()  # a VAE
    if callable(representation):
        return representation
    raise TypeError("representation must be a VAE (with .posterior()) or a callable observations -> "
                    f"(means, variances), got {type(representation).__name__}")


def _encode(posterior, observations: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    means, variances = [], []
    for start in range(0, len(observations), batch_size):
        mean, variance = posterior(observations[start:start + batch_size])
        means.append(np.asarray(mean, dtype=np.float64))
        variances.append(np.asarray(variance, dtype=np.float64))
    return np.concatenate(means), np.concatenate(variances)


def pattern(height: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The fixed random pattern (4·height, width) in {−1, 1} and column factors (width,) in {1..4}."""
    rng = np.random.default_rng([seed, 2])  # its own stream: independent of the estimation sample
    signs = rng.integers(0, 2, size=(4 * height, width)).astype(np.float32) * 2 - 1
    blocks = rng.integers(1, 5, size=width)
    return signs, blocks


class PerturbedDataset(GroundTruthDataset):
    """A dataset with the factors of ``base`` and observations perturbed by at most ε.

    Build it with :func:`perturb` or from a description with :func:`load`. For a
    base dataset without nuisance noise, s is cached per flat factor index (one
    float32 per point of the factor space, filled on first use), so that the
    encoder runs once per point.
    """

    def __init__(self, base: GroundTruthDataset, epsilon: float, kind: str = "pattern", seed: int = 0,
                 posterior: Callable | None = None, latent: int | None = None,
                 scaling: dict | None = None, run_dir: str | None = None, num_points: int | None = None):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if not 0 <= epsilon <= 1:
            raise ValueError(f"epsilon must be in [0, 1] (pixels are in [0, 1]), got {epsilon}")
        if kind == "pattern" and (posterior is None or latent is None or scaling is None):
            raise ValueError("the pattern perturbation needs a posterior, a latent index and a scaling; use "
                             "untwine.data.perturb(data, representation, epsilon)")
        self.base = base
        self.epsilon = float(epsilon)
        self.kind = kind
        self.seed = int(seed)
        self.latent = latent
        self.scaling = scaling
        self.run_dir = run_dir
        self.num_points = num_points
        self._posterior = posterior
        self.name = f"{base.name}-perturbed-{kind}"
        self.factor_names = tuple(base.factor_names)
        self.factor_sizes = tuple(base.factor_sizes)
        self.observation_shape = tuple(base.observation_shape)
        if kind == "pattern":
            if len(self.observation_shape) != 3:
                raise ValueError(f"the pattern perturbation needs image observations (C, H, W), "
                                 f"{base.name!r} has {self.observation_shape}")
            height, width = self.observation_shape[1:]
            self._pattern, self._blocks = pattern(height, width, self.seed)
            self._rows = np.arange(height)
            self._columns = np.arange(width)
            self._cache = np.full(len(base), np.nan, dtype=np.float32) if _is_deterministic(base) else None

    def factor_values(self, k: int) -> np.ndarray:
        return self.base.factor_values(k)

    # -- s(x) and f(s) -----------------------------------------------------------------
    def code(self, observations: np.ndarray) -> np.ndarray:
        """s(x): the mean of the selected latent, (n,) float64."""
        means, _ = _encode(self._posterior, observations)
        return means[:, self.latent]

    def rows(self, s: np.ndarray) -> np.ndarray:
        """r(s): s in pixel rows (see the module docstring)."""
        return (np.asarray(s, dtype=np.float64) - self.scaling["offset"]) * self.scaling["rows_per_unit"]

    def pattern_for(self, s: np.ndarray) -> np.ndarray:
        """f(s): (n, H, W) float32 in {−1, 1}."""
        shift = np.rint(self.rows(s)[:, None] / self._blocks[None, :]).astype(np.int64)  # (n, W)
        period = len(self._pattern)
        index = (shift[:, None, :] + self._rows[None, :, None]) % period  # (n, H, W)
        return self._pattern[index, self._columns[None, None, :]]

    def _codes(self, factors: np.ndarray, clean: np.ndarray) -> np.ndarray:
        if self._cache is None:
            return self.code(clean)
        flat = self.base.factors_to_index(factors)
        s = self._cache[flat]
        todo = np.isnan(s)
        if todo.any():
            s[todo] = self.code(clean[todo])
            self._cache[flat[todo]] = s[todo]
        return s.astype(np.float64)

    def warm(self, chunk: int = 4096) -> "PerturbedDataset":
        """Compute s for every point of the factor space now (one encoder pass over the dataset).

        Without it, s is computed the first time each point is drawn, which costs an
        encoder forward pass per new point early in training.
        """
        if self.kind != "pattern" or self._cache is None:
            return self
        for start in range(0, len(self), chunk):
            flat = np.arange(start, min(start + chunk, len(self)))
            todo = flat[np.isnan(self._cache[flat])]
            if todo.size:
                factors = self.base.index_to_factors(todo)
                self._cache[todo] = self.code(self.base.observe(factors, np.random.default_rng(0)))
        return self

    def observe(self, factors: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        factors = self.check_factors(factors)
        rng = rng if rng is not None else np.random.default_rng()
        clean = np.asarray(self.base.observe(factors, rng), dtype=np.float32)
        if self.kind == "uniform":
            change = rng.uniform(-self.epsilon, self.epsilon, size=clean.shape).astype(np.float32)
        else:
            change = np.float32(self.epsilon) * self.pattern_for(self._codes(factors, clean))[:, None]
        return np.clip(clean + change, 0.0, 1.0)

    # -- description -------------------------------------------------------------------
    def describe(self) -> dict:
        base_options = getattr(self.base, "options", {})
        return {
            "format": FORMAT,
            "version": 1,
            "name": self.name,
            "base": {"name": getattr(self.base, "registry_name", self.base.name), "options": base_options},
            "run_dir": self.run_dir,
            "latent": self.latent,
            "epsilon": self.epsilon,
            "kind": self.kind,
            "seed": self.seed,
            "num_points": self.num_points,
            "scaling": self.scaling,
            "factor_names": list(self.factor_names),
            "factor_sizes": list(self.factor_sizes),
            "observation_shape": list(self.observation_shape),
        }

    def save(self, path: str | Path) -> Path:
        """Write the description as JSON, atomically; returns the path."""
        description = self.describe()
        if self.kind == "pattern" and self.run_dir is None:
            raise ValueError("only a perturbation built from a run directory can be saved (its observations are "
                             "computed through that run's encoder): call perturb(data, RUN_DIR, epsilon)")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w") as file:
                json.dump(description, file, indent=2)
                file.write("\n")
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return path


def _is_deterministic(data: GroundTruthDataset) -> bool:
    """Whether observe ignores its rng (checked on two points with two rngs)."""
    factors = data.sample_factors(2, np.random.default_rng(0))
    first = data.observe(factors, np.random.default_rng(1))
    second = data.observe(factors, np.random.default_rng(2))
    return bool(np.array_equal(first, second))


def _load_run(run_dir):
    from ..train import load_model  # lazily: data must not import models at import time

    return load_model(run_dir)


def perturb(data: GroundTruthDataset | None, representation, epsilon: float, kind: str = "pattern",
            seed: int = 0, num_points: int = 10_000) -> PerturbedDataset:
    """The perturbed dataset of seed 002: x̃ = clip(x + ε·f(s(x)), 0, 1).

    ``representation``: a run directory (its model is loaded and ``data`` may be
    None: the run's dataset is used), a VAE, or a callable observations ->
    (posterior means, posterior variances). The latent j with the least average
    posterior variance over ``num_points`` observations drawn with ``seed`` gives
    s(x) = μ_j(x) (Eq. 6). ``kind="uniform"`` is the §5.3 control
    (U[−ε, ε] per pixel) and ignores ``representation``. See the module docstring
    for f and for how s is scaled to pixel rows.
    """
    run_dir = None
    if isinstance(representation, (str, Path)):
        run_dir = str(Path(representation).resolve())
        if not (Path(run_dir) / "config.toml").is_file():
            raise FileNotFoundError(f"{run_dir} is not a run directory (no config.toml): give the directory of a "
                                    f"trained run (untwine train --out DIR)")
        model, config = _load_run(run_dir)
        if data is None:
            from . import get

            data = get(config.dataset, **config.dataset_options)
        representation = model
    if data is None:
        raise ValueError("data is required unless representation is a run directory")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "uniform":
        return PerturbedDataset(data, epsilon, "uniform", seed, run_dir=run_dir)
    if num_points < 10:
        raise ValueError(f"num_points must be at least 10, got {num_points}")
    posterior = _posterior_function(representation)
    rng = np.random.default_rng(seed)
    factors = data.sample_factors(num_points, rng)
    means, variances = _encode(posterior, data.observe(factors, rng))
    latent = int(np.argmin(variances.mean(axis=0)))
    s = means[:, latent]
    low, high = np.percentile(s, _PERCENTILES)
    spread = float(high - low)
    if not np.isfinite(spread) or spread <= 1e-12:
        raise ValueError(f"latent {latent} (least posterior variance) is constant over the sample: the model "
                         f"encodes nothing to perturb along; train it longer or use kind='uniform'")
    height = data.observation_shape[1] if len(data.observation_shape) == 3 else 1
    scaling = {"offset": float(low), "rows_per_unit": float(height / spread),
               "rule": "rows = (s - offset) * rows_per_unit; offset and offset + height / rows_per_unit are the "
                       "1st and 99th percentiles of s over the estimation sample",
               "mean_variances": [float(v) for v in variances.mean(axis=0)]}
    return PerturbedDataset(data, epsilon, "pattern", seed, posterior=posterior, latent=latent, scaling=scaling,
                            run_dir=run_dir, num_points=num_points)


def load(path: str | Path) -> PerturbedDataset:
    """Rebuild a perturbed dataset from its JSON description (the run's encoder is loaded)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"perturbed-dataset description not found: {path}; write one with "
                                f"`untwine perturb RUN_DIR --epsilon 0.1 --out {path}`")
    try:
        description = json.loads(path.read_text())
        if description.get("format") != FORMAT:
            raise ValueError(f"'format' is {description.get('format')!r}, not {FORMAT!r}")
        base_name, base_options = description["base"]["name"], description["base"].get("options") or {}
        kind, epsilon, seed = description["kind"], float(description["epsilon"]), int(description["seed"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"{path} is not a perturbed-dataset description ({error}); rewrite it with "
                         f"`untwine perturb RUN_DIR --epsilon E --out {path}`") from error
    from . import get

    base = get(base_name, **base_options)
    if kind == "uniform":
        return PerturbedDataset(base, epsilon, "uniform", seed, run_dir=description.get("run_dir"))
    run_dir = description.get("run_dir")
    if not run_dir:
        raise ValueError(f"{path}: a pattern perturbation needs 'run_dir' (the run whose encoder computes s)")
    model, _ = _load_run(run_dir)
    return PerturbedDataset(base, epsilon, kind, seed, posterior=model.posterior(), latent=int(description["latent"]),
                            scaling=description["scaling"], run_dir=run_dir, num_points=description.get("num_points"))
