"""The perturbed datasets of seed 002 (§4–§5): same factors, ε-small changes that VAEs pick up.

x̃ = x + ε · f(s(x)) (seed 002, §4.2), so that ‖x̃ − x‖∞ ≤ ε (Eq. 5), where

- s(x) = μ_j(x), the posterior mean of the latent j with the least average
  posterior variance, j = argmin_k E_x[σ²_k(x)] (seed 002, Eq. 6; "the latent with
  the least noise injected"), estimated on ``num_points`` observations drawn
  with ``seed``, of the β-VAE run with the lowest MIG among several restarts
  (§4 step (i): :func:`perturb_lowest_mig`; :func:`perturb` takes the one run given);
- f(s) shifts a fixed random pattern p ∈ {−1, 1}^{P×W} vertically with s, column by
  column (seed 002, §4.2): f(s)_{i,j} = p_{(round(r(s)/c_j) + i) mod P, j} with column
  factors c_j drawn uniformly from {1, 2, 3, 4}, so that column j moves by one row
  each time r(s) crosses c_j rows: information about s on several scales. The same
  pattern is added to every channel.

**What a model sees.** The paper adds the pattern without clipping, and so does
untwine by default (``clip=False``): pixels lie in [−ε, 1 + ε], outside the [0, 1] of
the data contract. On binary dSprites the background becomes ±ε and the object 1 ± ε,
the full pattern. With ``clip=True`` the result is clipped to [0, 1] (untwine's
behaviour before; descriptions of version 1 mean it): the background then only gets
+ε and the object only −ε, which halves the pattern's amplitude and quarters its
variance, so the paper's ε ≈ 0.1 crossover does not carry over. Unclipped targets
outside [0, 1] change the Bernoulli likelihood (the reference's sigmoid cross-entropy
on logits): per pixel, softplus(l) − t·l with t > 1 (or t < 0) has no minimum, it
falls by |t − clip(t, 0, 1)| per unit of logit forever, so a decoder that predicts the
pattern's sign at a pixel is rewarded without bound. The Gaussian likelihood (squared
error) is bounded below for any target. ``rescale=True`` keeps the whole perturbation and the
[0, 1] range: x̃ is mapped affinely from [−ε, 1 + ε] onto [0, 1], (x̃ + ε)/(1 + 2ε), so the
background becomes ε/(1 + 2ε) ± ε/(1 + 2ε) and the object (1 + ε)/(1 + 2ε) ± ε/(1 + 2ε): the
perturbation keeps its size relative to the image's contrast (ε), every statistic of figure 4
is scaled by the same factor (its crossovers do not move), and the Bernoulli likelihood is
bounded again (untwine's trainer warns when it meets Bernoulli targets outside [0, 1]).
``clip`` and ``rescale`` exclude each other.

**Scaling of s to pixel rows.** r(s) = H · (s − s₀₁) / (s₉₉ − s₀₁), with s₀₁ and s₉₉
the 1st and 99th percentiles of s over the estimation sample and H the image
height: the central 98 % of the data sweeps the pattern over one image height in
the columns with c_j = 1 (a quarter of that in those with c_j = 4). The pattern
has P = 4H rows and wraps around, so values far outside the sample range alias.

``kind="uniform"`` is the control of seed 002, §5.3, "contaminating each image with
pixel-wise uniform noise between [−ε, ε]": each image is contaminated once, so the noise
is fixed per image, a function of ``(seed, flat index of its factors, pixel)`` (the base
dataset's ``factors_to_index``; :func:`hashed_uniform`), the same at every ``observe``. It
needs no representation, and is clipped only with ``clip=True``.

:class:`PatternFactor` (registry name ``pattern-factor``) is the dataset of seed 002's §5.2 and
figure 4: the same pattern, driven not by s(x) but by an extra factor s, uniform with zero
mean and unit variance and independent of the others, so that its effect on the data's
statistics (:mod:`untwine.data.statistics`) and on a trained model can be isolated.

A perturbed dataset describes itself as JSON (:meth:`PerturbedDataset.describe`,
:meth:`~PerturbedDataset.save`; version 3): the base dataset's :meth:`spec`, the latent, ε,
kind, seed, ``clip``, ``rescale``, scaling and an opaque ``run_dir`` string that names the run
whose encoder computes s (and, from :func:`perturb_lowest_mig`, the candidates' MIGs). A
version-1 description (no ``clip``) was clipped and is read with ``clip=True``; a version-2
one (no ``rescale``) is read with ``rescale=False``.
:func:`read_description` reads and checks such a file and
:meth:`PerturbedDataset.from_description` rebuilds the dataset from it, given the
posterior function. The data room never opens a run (it imports nothing above
it): ``untwine.runs.load_dataset(path)`` does read_description, loads the run's
model, then from_description.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ...atomic import atomic_write
from ..base import GroundTruthDataset

KINDS = ("pattern", "uniform")
FORMAT = "untwine.perturbed-dataset"
VERSION = 3
_PERCENTILES = (1.0, 99.0)

Posterior = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _range_options(clip, rescale) -> tuple[bool, bool]:
    """``(clip, rescale)`` as booleans; a TypeError names a non-boolean, a ValueError both set."""
    for name, value in (("clip", clip), ("rescale", rescale)):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {value!r}")
    if clip and rescale:
        raise ValueError("clip and rescale exclude each other: clip cuts x̃ to [0, 1], rescale maps [−ε, 1 + ε] "
                         "onto [0, 1]; choose one")
    return bool(clip), bool(rescale)


def fit_range(perturbed: np.ndarray, epsilon: float, clip: bool, rescale: bool) -> np.ndarray:
    """x̃ as it is (neither), clipped to [0, 1] (``clip``) or mapped from [−ε, 1 + ε] onto [0, 1] as
    (x̃ + ε)/(1 + 2ε) (``rescale``; clipped after the map, which float32 rounding can take past 1 by an ulp, as
    at ε = 0.2); float32 in, float32 out."""
    if clip:
        return np.clip(perturbed, 0.0, 1.0)
    if rescale:
        mapped = (perturbed + np.float32(epsilon)) / np.float32(1.0 + 2.0 * epsilon)
        return np.clip(mapped, 0.0, 1.0).astype(np.float32)
    return perturbed


def _posterior_function(posterior) -> Posterior:
    """A callable numpy observations -> (means, variances) from what the user gave."""
    if isinstance(posterior, (str, os.PathLike)):
        raise TypeError(f"posterior must be a callable observations -> (means, variances), got the path "
                        f"{str(posterior)!r}: the data room does not open runs; load the run's model "
                        f"(untwine.runs) and pass model.posterior(), with run_dir={str(posterior)!r} to record it")
    if hasattr(posterior, "posterior") and callable(posterior.posterior):
        return posterior.posterior()  # a VAE
    if callable(posterior):
        return posterior
    raise TypeError("posterior must be a callable observations -> (means, variances), or a VAE (with "
                    f".posterior()), got {type(posterior).__name__}")


def _encode(posterior, observations: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    means, variances = [], []
    for start in range(0, len(observations), batch_size):
        mean, variance = posterior(observations[start:start + batch_size])
        means.append(np.asarray(mean, dtype=np.float64))
        variances.append(np.asarray(variance, dtype=np.float64))
    return np.concatenate(means), np.concatenate(variances)


def hashed_uniform(counters: np.ndarray, seed: int) -> np.ndarray:
    """U[0, 1) float32 numbers that are a fixed function of (seed, counter): SplitMix64 (Steele et al.
    2014) of the counter XOR a key drawn from ``seed``, top 24 bits. Vectorised, and the same on every
    platform: the uniform control's noise of an image depends on nothing but its flat index."""
    key = np.random.SeedSequence([int(seed), 3]).generate_state(1, dtype=np.uint64)[0]
    z = np.asarray(counters, dtype=np.uint64) ^ key
    z += np.uint64(0x9E3779B97F4A7C15)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    z >>= np.uint64(40)
    return z.astype(np.float32) * np.float32(2.0 ** -24)


def pattern(height: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The fixed random pattern (4·height, width) in {−1, 1} and column factors (width,) in {1..4}."""
    rng = np.random.default_rng([seed, 2])  # its own stream: independent of the estimation sample
    signs = rng.integers(0, 2, size=(4 * height, width)).astype(np.float32) * 2 - 1
    blocks = rng.integers(1, 5, size=width)
    return signs, blocks


def shifted_pattern(signs: np.ndarray, blocks: np.ndarray, rows: np.ndarray, height: int) -> np.ndarray:
    """f(s) of seed 002, §4.2, for s already in pixel rows ``rows`` (n,): (n, height, W) float32 in {−1, 1},
    f_{i,j} = signs[(round(rows/c_j) + i) mod P, j] with P = len(signs) and c_j = ``blocks[j]``."""
    shift = np.rint(np.asarray(rows, dtype=np.float64)[:, None] / blocks[None, :]).astype(np.int64)  # (n, W)
    index = (shift[:, None, :] + np.arange(height)[None, :, None]) % len(signs)  # (n, H, W)
    return signs[index, np.arange(signs.shape[1])[None, None, :]]


def scaling_for(s: np.ndarray, height: int) -> dict:
    """The scaling of s to pixel rows (see the module docstring): offset and rows per unit from the 1st and 99th
    percentiles of the sample ``s``, so that its central 98 % sweeps ``height`` rows."""
    low, high = np.percentile(np.asarray(s, dtype=np.float64), _PERCENTILES)
    spread = float(high - low)
    if not np.isfinite(spread) or spread <= 1e-12:
        raise ValueError("s is constant over the sample: there is nothing to sweep the pattern along")
    return {"offset": float(low), "rows_per_unit": float(height / spread),
            "rule": "rows = (s - offset) * rows_per_unit; offset and offset + height / rows_per_unit are the "
                    "1st and 99th percentiles of s over the estimation sample"}


class PerturbedDataset(GroundTruthDataset):
    """A dataset with the factors of ``base`` and observations perturbed by at most ε.

    Build it with :func:`perturb`, or from a description with
    :meth:`from_description`. For a base dataset without nuisance noise, s is cached per flat factor index (one
    float32 per point of the factor space, filled on first use), so that the
    encoder runs once per point. ``clip``: clip x̃ to [0, 1] (default False, as the
    paper; see the module docstring for what a model then sees); ``rescale``: map it from
    [−ε, 1 + ε] onto [0, 1] instead. ``selection``: how the run was chosen among several
    (recorded in the description).
    """

    def __init__(self, base: GroundTruthDataset, epsilon: float, kind: str = "pattern", seed: int = 0,
                 posterior: Callable | None = None, latent: int | None = None,
                 scaling: dict | None = None, run_dir: str | None = None, num_points: int | None = None,
                 clip: bool = False, selection: dict | None = None, rescale: bool = False):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if not 0 <= epsilon <= 1:
            raise ValueError(f"epsilon must be in [0, 1] (pixels are in [0, 1]), got {epsilon}")
        if kind == "pattern" and (posterior is None or latent is None or scaling is None):
            raise ValueError("the pattern perturbation needs a posterior, a latent index and a scaling; use "
                             "untwine.data.perturb(data, posterior, epsilon)")
        if run_dir is not None and not isinstance(run_dir, str):
            raise TypeError(f"run_dir is an opaque string recorded in the description, got {type(run_dir).__name__}")
        self.clip, self.rescale = _range_options(clip, rescale)
        self.selection = selection
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
        # only a base that draws its own nuisance needs the rng of observe (the uniform noise is fixed per image)
        self.draws_nuisance = bool(getattr(base, "draws_nuisance", False))
        if kind == "pattern":
            if len(self.observation_shape) != 3:
                raise ValueError(f"the pattern perturbation needs image observations (C, H, W), "
                                 f"{base.name!r} has {self.observation_shape}")
            height, width = self.observation_shape[1:]
            self._pattern, self._blocks = pattern(height, width, self.seed)
            self._height = height
            self._cache = np.full(len(base), np.nan, dtype=np.float32) if _is_deterministic(base) else None

    def factor_values(self, k: int) -> np.ndarray:
        return self.base.factor_values(k)

    @property
    def num_observations(self) -> int:
        """The base dataset's: perturbing an image keeps it one image."""
        return int(getattr(self.base, "num_observations", len(self.base)))

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
        return shifted_pattern(self._pattern, self._blocks, self.rows(s), self._height)

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

    def noise(self, factors: np.ndarray) -> np.ndarray:
        """The uniform control's noise (n, *observation_shape) float32 in [−ε, ε]: fixed per image, a function of
        (seed, flat index of the image's factors, pixel) (see :func:`hashed_uniform`)."""
        flat = self.base.factors_to_index(factors)
        shape = tuple(self.observation_shape)
        pixels = int(np.prod(shape))
        counters = flat.astype(np.uint64)[:, None] * np.uint64(pixels) + np.arange(pixels, dtype=np.uint64)[None]
        noise = hashed_uniform(counters, self.seed)
        noise *= np.float32(2 * self.epsilon)
        noise -= np.float32(self.epsilon)
        return noise.reshape((len(flat), *shape))

    def _perturbed(self, factors: np.ndarray, clean: np.ndarray) -> np.ndarray:
        clean = np.asarray(clean, dtype=np.float32)
        if self.kind == "uniform":
            change = self.noise(factors)
        else:
            change = np.float32(self.epsilon) * self.pattern_for(self._codes(factors, clean))[:, None]
        return fit_range(clean + change, self.epsilon, self.clip, self.rescale)

    def observe(self, factors: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """x̃ (n, C, H, W) float32: x + ε·f(s(x)) (or x + the image's fixed noise), in [−ε, 1 + ε], clipped
        to [0, 1] when ``clip``, mapped onto [0, 1] when ``rescale``. ``rng`` is required only for a base
        dataset that draws nuisance noise."""
        factors = self.check_factors(factors)
        if self.draws_nuisance:
            rng = self._require_rng(rng)
        return self._perturbed(factors, self.base.observe(factors, rng))

    def observations_at(self, index, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The base dataset's distinct observations (``observations_at``), perturbed."""
        if hasattr(self.base, "observations_at"):
            factors, clean = self.base.observations_at(index, rng)
        else:
            factors = self.index_to_factors(index)
            clean = self.base.observe(factors, rng)
        return factors, self._perturbed(factors, clean)

    # -- description -------------------------------------------------------------------
    def spec(self) -> dict:
        raise TypeError(f"{self.name!r} is a perturbed dataset, not a registry name: its description is "
                        f"describe() (or save(path)), rebuilt by PerturbedDataset.from_description or "
                        f"untwine.runs.load_dataset(path)")

    def describe(self) -> dict:
        """The JSON-able description (format "untwine.perturbed-dataset", version 3)."""
        description = {
            "format": FORMAT,
            "version": VERSION,
            "name": self.name,
            "base": self.base.spec(),
            "run_dir": self.run_dir,
            "latent": self.latent,
            "epsilon": self.epsilon,
            "kind": self.kind,
            "seed": self.seed,
            "clip": self.clip,
            "rescale": self.rescale,
            "num_points": self.num_points,
            "scaling": self.scaling,
            "factor_names": list(self.factor_names),
            "factor_sizes": list(self.factor_sizes),
            "observation_shape": list(self.observation_shape),
        }
        if self.selection is not None:
            description["selection"] = self.selection
        return description

    def save(self, path: str | Path) -> Path:
        """Write the description as JSON, atomically; returns the path.

        A pattern perturbation must name the run whose encoder computes s
        (``perturb(..., run_dir=...)``): without it nothing could rebuild it from the file.
        """
        if self.kind == "pattern" and self.run_dir is None:
            raise ValueError("a pattern perturbation is saved only with the run whose encoder computes s: build it "
                             "with perturb(data, model.posterior(), epsilon, run_dir=RUN_DIR)")
        description = self.describe()
        path = Path(path)
        atomic_write(path, json.dumps(description, indent=2) + "\n")
        return path

    @classmethod
    def from_description(cls, description: dict, posterior=None) -> "PerturbedDataset":
        """Rebuild a perturbed dataset from its description (:func:`read_description`, :meth:`describe`).

        The base dataset is built with ``untwine.data.get(**description["base"])``.
        A pattern perturbation computes s through ``posterior`` (a callable numpy
        observations -> (means, variances), or a VAE): the caller loads the model of
        ``description["run_dir"]``; ``untwine.runs.load_dataset(path)`` does that.
        """
        _check_description(description, "the description")
        from .. import get  # the registry lives in the room's __init__, which imports this module

        base_spec = description["base"]
        base = get(base_spec["name"], **(base_spec.get("options") or {}))
        sizes = description.get("factor_sizes")
        if sizes is not None and tuple(sizes) != tuple(base.factor_sizes):
            raise ValueError(f"the description's factor sizes {tuple(sizes)} differ from those of its base dataset "
                             f"{base_spec['name']!r} now, {tuple(base.factor_sizes)} (its files changed?); "
                             f"perturb the dataset again")
        kind, epsilon, seed = description["kind"], float(description["epsilon"]), int(description["seed"])
        run_dir = description.get("run_dir")
        clip = description_clip(description)
        rescale = bool(description.get("rescale", False))
        selection = description.get("selection")
        if kind == "uniform":
            return cls(base, epsilon, "uniform", seed, run_dir=run_dir, num_points=description.get("num_points"),
                       clip=clip, selection=selection, rescale=rescale)
        if posterior is None:
            raise ValueError(f"a pattern perturbation computes s through the encoder of its run ({run_dir}): pass "
                             f"posterior= (that run's model.posterior()), or use untwine.runs.load_dataset(path)")
        return cls(base, epsilon, kind, seed, posterior=_posterior_function(posterior),
                   latent=int(description["latent"]), scaling=dict(description["scaling"]), run_dir=run_dir,
                   num_points=description.get("num_points"), clip=clip, selection=selection, rescale=rescale)


class PatternFactor(GroundTruthDataset):
    """A base dataset plus seed 002's pattern, driven by an extra independent factor s (its figure 4).

    Seed 002, §5.2: "by adding an additional generating factor s, a uniform random variable with
    zero mean and unit variance, we isolate the effect of the manipulation from the other
    factors". The factors are the base dataset's and ``s``, with ``num_s_values`` evenly spaced
    values of mean 0 and variance exactly 1 (spacing √(12/(M² − 1)); with M = 32, the number of
    dSprites positions, one step of s is one step of a position factor standardised to unit
    variance). Observations are x + ε·f(s) with f the pattern of :class:`PerturbedDataset` for the
    same ``seed`` (same signs and column factors) and s scaled to pixel rows by the same rule,
    the 1st and 99th percentiles of s (here of its values, all equally likely) spanning the image
    height. Not clipped unless ``clip``, not rescaled unless ``rescale`` (see the module docstring).
    ``base`` and ``base_options`` name the base dataset (``untwine.data.get``); it must have image observations.
    """

    name = "pattern-factor"
    source = "procedural"

    def __init__(self, base: str = "dsprites", base_options: dict | None = None, epsilon: float = 0.1,
                 seed: int = 0, num_s_values: int = 32, clip: bool = False, rescale: bool = False):
        from .. import get  # the registry lives in the room's __init__, which imports this module

        if not isinstance(base, str) or base == self.name:
            raise ValueError(f"base must name another dataset (untwine data list), got {base!r}")
        if base_options is not None and not isinstance(base_options, dict):
            raise ValueError(f"base_options must be a dict of the base dataset's options, got {base_options!r}")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not 0 <= epsilon <= 1:
            raise ValueError(f"epsilon must be a number in [0, 1] (pixels are in [0, 1]), got {epsilon!r}")
        if isinstance(num_s_values, bool) or not isinstance(num_s_values, (int, np.integer)) or num_s_values < 2:
            raise ValueError(f"num_s_values must be an integer ≥ 2, got {num_s_values!r}")
        clip, rescale = _range_options(clip, rescale)
        options = dict(base=base, base_options=dict(base_options) if base_options else None, epsilon=float(epsilon),
                       seed=int(seed), num_s_values=int(num_s_values), clip=clip)
        if rescale:  # recorded only when set, so that the specs of existing runs read as before
            options["rescale"] = True
        self._record_options(**options)
        self.base = get(base, **(base_options or {}))
        if len(self.base.observation_shape) != 3:
            raise ValueError(f"the pattern needs image observations (C, H, W); {base!r} has "
                             f"{tuple(self.base.observation_shape)}")
        if "s" in self.base.factor_names:
            raise ValueError(f"{base!r} already has a factor called 's'")
        self.epsilon = float(epsilon)
        self.seed = int(seed)
        self.clip, self.rescale = clip, rescale
        self.factor_names = (*self.base.factor_names, "s")
        self.factor_sizes = (*(int(s) for s in self.base.factor_sizes), int(num_s_values))
        self.observation_shape = tuple(self.base.observation_shape)
        self.draws_nuisance = bool(self.base.draws_nuisance)  # every registered dataset says
        m = int(num_s_values)
        self.s_values = (np.arange(m) - (m - 1) / 2) * np.sqrt(12.0 / (m * m - 1))
        height, width = self.observation_shape[1:]
        self._height = height
        self._pattern, self._blocks = pattern(height, width, self.seed)
        self.scaling = scaling_for(self.s_values, height)

    def factor_values(self, k: int) -> np.ndarray:
        if k == self.num_factors - 1:
            return self.s_values.copy()
        return self.base.factor_values(k)

    def rows(self, s: np.ndarray) -> np.ndarray:
        """r(s): s in pixel rows."""
        return (np.asarray(s, dtype=np.float64) - self.scaling["offset"]) * self.scaling["rows_per_unit"]

    def pattern_for(self, s: np.ndarray) -> np.ndarray:
        """f(s): (n, H, W) float32 in {−1, 1}."""
        return shifted_pattern(self._pattern, self._blocks, self.rows(s), self._height)

    def observe(self, factors: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """x + ε·f(s) (n, C, H, W) float32, in [−ε, 1 + ε] (clipped to [0, 1] when ``clip``, mapped onto [0, 1]
        when ``rescale``); ``rng`` is required only for a base dataset that draws nuisance noise."""
        factors = self.check_factors(factors)
        if self.draws_nuisance:
            rng = self._require_rng(rng)
        clean = np.asarray(self.base.observe(factors[:, :-1], rng), dtype=np.float32)
        change = np.float32(self.epsilon) * self.pattern_for(self.s_values[factors[:, -1]])[:, None]
        return fit_range(clean + change, self.epsilon, self.clip, self.rescale)


def _is_deterministic(data: GroundTruthDataset) -> bool:
    """Whether observe ignores its rng (checked on two points with two rngs)."""
    factors = data.sample_factors(2, np.random.default_rng(0))
    first = data.observe(factors, np.random.default_rng(1))
    second = data.observe(factors, np.random.default_rng(2))
    return bool(np.array_equal(first, second))


def perturb(data: GroundTruthDataset, posterior, epsilon: float, kind: str = "pattern", seed: int = 0,
            num_points: int = 10_000, run_dir: str | None = None, *, clip: bool = False,
            selection: dict | None = None, rescale: bool = False) -> PerturbedDataset:
    """The perturbed dataset of seed 002: x̃ = x + ε·f(s(x)) (clipped to [0, 1] only with ``clip=True``).

    ``data``: the dataset to perturb. ``posterior``: a callable numpy observations
    -> (posterior means, posterior variances), or a VAE (its ``.posterior()`` is
    used). The latent j with the least average posterior variance over
    ``num_points`` observations drawn with ``seed`` gives s(x) = μ_j(x) (Eq. 6).
    ``kind="uniform"`` is the §5.3 control (U[−ε, ε] per pixel, fixed per image) and
    needs no posterior (None). ``run_dir``: an opaque string recorded in the
    description, naming the run whose encoder ``posterior`` is, so that the description
    can be rebuilt (the data room never opens it). ``clip``, ``rescale``: see the module
    docstring (what a model sees). To choose the run among several β-VAE restarts as §4 does, use
    :func:`perturb_lowest_mig`. See the module docstring for f and for how s is scaled
    to pixel rows.
    """
    if data is None or not hasattr(data, "observe"):
        raise ValueError("data is required: the dataset to perturb (e.g. untwine.data.get('dsprites')); to perturb "
                         "a run's dataset, load the run (untwine.runs) and pass its dataset and model.posterior()")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not 0 <= epsilon <= 1:
        raise ValueError(f"epsilon must be in [0, 1] (pixels are in [0, 1]), got {epsilon}")
    if run_dir is not None:
        if not isinstance(run_dir, (str, os.PathLike)):
            raise TypeError(f"run_dir must be a string (recorded, never opened), got {type(run_dir).__name__}")
        run_dir = os.fspath(run_dir)
    if kind == "uniform":
        return PerturbedDataset(data, epsilon, "uniform", seed, run_dir=run_dir, clip=clip, selection=selection,
                                rescale=rescale)
    if posterior is None:
        raise ValueError("the pattern perturbation needs posterior: a callable observations -> (means, variances) "
                         "(e.g. a trained model's .posterior()); only kind='uniform' takes None")
    posterior = _posterior_function(posterior)
    if num_points < 10:
        raise ValueError(f"num_points must be at least 10, got {num_points}")
    rng = np.random.default_rng(seed)
    factors = data.sample_factors(num_points, rng)
    means, variances = _encode(posterior, data.observe(factors, rng))
    latent = int(np.argmin(variances.mean(axis=0)))
    height = data.observation_shape[1] if len(data.observation_shape) == 3 else 1
    try:
        scaling = scaling_for(means[:, latent], height)
    except ValueError:
        raise ValueError(f"latent {latent} (least posterior variance) is constant over the sample: the model "
                         f"encodes nothing to perturb along; train it longer or use kind='uniform'") from None
    scaling["mean_variances"] = [float(v) for v in variances.mean(axis=0)]
    return PerturbedDataset(data, epsilon, "pattern", seed, posterior=posterior, latent=latent, scaling=scaling,
                            run_dir=run_dir, num_points=num_points, clip=clip, selection=selection, rescale=rescale)


def lowest_mig(migs: Sequence[float]) -> int:
    """The index of the lowest MIG (the first of equal ones): seed 002 §4 step (i), "over multiple restarts
    of β-VAE we pick one with the lowest MIG score". NaN or a missing score is refused."""
    values = np.asarray([float(m) for m in migs], dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError("migs must hold one MIG per candidate run, at least one")
    if not np.isfinite(values).all():
        raise ValueError(f"every candidate needs a finite MIG, got {values.tolist()}")
    return int(np.argmin(values))


def perturb_lowest_mig(data: GroundTruthDataset, posteriors: Sequence, epsilon: float, *,
                       migs: Sequence[float] | Callable | None = None, run_dirs: Sequence[str] | None = None,
                       kind: str = "pattern", seed: int = 0, num_points: int = 10_000,
                       clip: bool = False, rescale: bool = False) -> PerturbedDataset:
    """Seed 002 §4 step (i)–(iii): among several β-VAE runs (restarts), the one with the lowest MIG gives s.

    ``posteriors``: one posterior per candidate run (a callable observations -> (means,
    variances), or a VAE). ``migs``: their MIG scores (a sequence), or a callable
    ``posterior -> MIG`` that scores each candidate; the data room computes no metric
    (metrics live above it), so the caller supplies the scores, e.g.
    ``untwine.metrics.evaluate(model.representation(), data, "mig")["mig"]["discrete_mig"]``.
    ``run_dirs``: the candidates' run directories (opaque strings; the chosen one is
    recorded as ``run_dir``). The description records the candidates, their MIGs and the
    choice under ``selection``. Other arguments as :func:`perturb`.
    """
    posteriors = list(posteriors)
    if not posteriors:
        raise ValueError("posteriors must hold at least one candidate run's posterior")
    if migs is None:
        raise ValueError("migs is required: one MIG per candidate (a sequence), or a callable posterior -> MIG")
    scores = [float(migs(p)) for p in posteriors] if callable(migs) else [float(m) for m in migs]
    if len(scores) != len(posteriors):
        raise ValueError(f"{len(posteriors)} candidate posteriors but {len(scores)} MIGs")
    if run_dirs is not None:
        run_dirs = [os.fspath(r) for r in run_dirs]
        if len(run_dirs) != len(posteriors):
            raise ValueError(f"{len(posteriors)} candidate posteriors but {len(run_dirs)} run_dirs")
    chosen = lowest_mig(scores)
    selection = {"rule": "lowest MIG (seed 002, section 4, step (i))", "migs": scores, "chosen": chosen,
                 "run_dirs": run_dirs}
    return perturb(data, posteriors[chosen], epsilon, kind=kind, seed=seed, num_points=num_points,
                   run_dir=None if run_dirs is None else run_dirs[chosen], clip=clip, selection=selection,
                   rescale=rescale)


def description_clip(description: dict) -> bool:
    """Whether a description's observations are clipped: its ``clip``, or True for version 1 (which clipped)."""
    if "clip" in description:
        return bool(description["clip"])
    return description.get("version", VERSION) < 2  # version 1 was written before clip was an option


def _check_description(description, source: str) -> None:
    """Raise ValueError (naming ``source``) unless ``description`` is a valid perturbed-dataset description."""
    if not isinstance(description, dict):
        raise ValueError(f"{source} is not a JSON object")
    if description.get("format") != FORMAT:
        raise ValueError(f"{source}: 'format' is {description.get('format')!r}, not {FORMAT!r}")
    version = description.get("version", VERSION)
    if not isinstance(version, int) or version > VERSION:
        raise ValueError(f"{source}: version {version!r} is newer than this untwine reads ({VERSION}); "
                         f"upgrade untwine")
    base = description.get("base")
    if not isinstance(base, dict) or not isinstance(base.get("name"), str):
        raise ValueError(f"{source}: 'base' must be {{\"name\": DATASET, \"options\": {{...}}}}, got {base!r}")
    if not isinstance(base.get("options") or {}, dict):
        raise ValueError(f"{source}: 'base.options' must be an object, got {base.get('options')!r}")
    clip = description.get("clip")
    if clip is None and version >= 2:
        raise ValueError(f"{source}: a version-{version} description must say 'clip' (true or false)")
    if clip is not None and not isinstance(clip, bool):
        raise ValueError(f"{source}: 'clip' must be true or false, got {clip!r}")
    rescale = description.get("rescale")
    if rescale is None and version >= 3:
        raise ValueError(f"{source}: a version-{version} description must say 'rescale' (true or false)")
    if rescale is not None and not isinstance(rescale, bool):
        raise ValueError(f"{source}: 'rescale' must be true or false, got {rescale!r}")
    if rescale and description_clip(description):
        raise ValueError(f"{source}: 'clip' and 'rescale' exclude each other; set one of them to false")
    selection = description.get("selection")
    if selection is not None and not isinstance(selection, dict):
        raise ValueError(f"{source}: 'selection' must be an object, got {selection!r}")
    kind = description.get("kind")
    if kind not in KINDS:
        raise ValueError(f"{source}: 'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
    for key, convert in (("epsilon", float), ("seed", int)):
        try:
            convert(description[key])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{source}: {key!r} must be a number, got {description.get(key)!r}") from None
    if kind == "pattern":
        try:
            int(description["latent"])
            float(description["scaling"]["offset"])
            float(description["scaling"]["rows_per_unit"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{source}: a pattern perturbation needs 'latent' and 'scaling' "
                             f"{{'offset', 'rows_per_unit'}}") from None
    run_dir = description.get("run_dir")
    if run_dir is not None and not isinstance(run_dir, str):
        raise ValueError(f"{source}: 'run_dir' must be a string, got {run_dir!r}")


def read_description(path: str | Path) -> dict:
    """Read and check a perturbed-dataset description (JSON written by :meth:`PerturbedDataset.save`).

    A missing file raises FileNotFoundError, a malformed one ValueError; both name
    the file and how to write a good one. The dataset itself is rebuilt by
    :meth:`PerturbedDataset.from_description` (or ``untwine.runs.load_dataset(path)``,
    which also loads the run's encoder).
    """
    path = Path(path)
    fix = f"write it again with `untwine perturb RUN_DIR --epsilon E --out {path}` (or PerturbedDataset.save)"
    if not path.is_file():
        raise FileNotFoundError(f"perturbed-dataset description not found: {path}; {fix}")
    try:
        description = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as error:
        raise ValueError(f"{path} is not a perturbed-dataset description (not readable JSON: {error}); "
                         f"{fix}") from error
    try:
        _check_description(description, str(path))
    except ValueError as error:
        raise ValueError(f"{error}; {fix}") from None
    return description


def from_description(description: dict, posterior=None) -> PerturbedDataset:
    """:meth:`PerturbedDataset.from_description` as a function."""
    return PerturbedDataset.from_description(description, posterior)
