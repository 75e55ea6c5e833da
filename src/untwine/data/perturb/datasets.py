"""The two perturbed datasets: :class:`PerturbedDataset` and :class:`PatternFactor`.

:class:`PerturbedDataset` perturbs a base dataset by s(x), the mean of one latent of a run's encoder (or, the
control, by fixed uniform noise); it describes itself (:meth:`~PerturbedDataset.describe`,
:meth:`~PerturbedDataset.save`) and is rebuilt from a description (:meth:`~PerturbedDataset.from_description`).
:class:`PatternFactor` (registry name ``pattern-factor``) drives the same pattern by an extra factor s. Both build
their base dataset by name through the registry (:mod:`untwine.data.registry`). Which latent and which run give s
is chosen in :mod:`untwine.data.perturb.selection`; the maths is :mod:`untwine.data.perturb.patterns`; the package
docstring, :mod:`untwine.data.perturb`, derives it all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

from ...atomic import atomic_write
from ..base import GroundTruthDataset
from ..registry import get
from .files import FORMAT, VERSION, check_description, description_clip
from .patterns import KINDS, fit_range, hashed_uniform, pattern, range_options, scaling_for, shifted_pattern

Posterior = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def posterior_function(posterior) -> Posterior:
    """A callable numpy observations -> (means, variances) from what the user gave."""
    if isinstance(posterior, (str, os.PathLike)):
        raise TypeError(
            f"posterior must be a callable observations -> (means, variances), got the path "
            f"{str(posterior)!r}: the data room does not open runs; load the run's model "
            f"(untwine.runs) and pass model.posterior(), with run_dir={str(posterior)!r} to record it"
        )
    if hasattr(posterior, "posterior") and callable(posterior.posterior):
        return posterior.posterior()  # a VAE
    if callable(posterior):
        return posterior
    raise TypeError(
        "posterior must be a callable observations -> (means, variances), or a VAE (with "
        f".posterior()), got {type(posterior).__name__}"
    )


def encode(posterior, observations: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    means, variances = [], []
    for start in range(0, len(observations), batch_size):
        mean, variance = posterior(observations[start : start + batch_size])
        means.append(np.asarray(mean, dtype=np.float64))
        variances.append(np.asarray(variance, dtype=np.float64))
    return np.concatenate(means), np.concatenate(variances)


class PerturbedDataset(GroundTruthDataset):
    """A dataset with the factors of ``base`` and observations perturbed by at most ε.

    Build it with `perturb`, or from a description with `from_description`. For a base dataset
    without nuisance noise, s is cached per flat factor index (one float32 per point of the factor
    space, filled on first use, or at once by `warm`), so that the encoder runs once per point.
    The arguments but ``posterior`` are kept as attributes of the same names (``epsilon`` a float,
    ``seed`` an int).

    Parameters
    ----------
    base
        The dataset to perturb; its factors are this dataset's.
    epsilon
        ε in [0, 1], the bound of the perturbation.
    kind
        ``"pattern"`` or ``"uniform"`` (the control, fixed noise per image).
    seed
        Seeds the pattern and the uniform noise.
    posterior
        The callable numpy observations -> (means, variances) that computes s (the pattern only).
    latent
        The index of the latent whose mean is s (the pattern only).
    scaling
        The scaling of s to pixel rows, ``{"offset", "rows_per_unit", ...}`` (``scaling_for``; the
        pattern only).
    run_dir
        An opaque string recorded in the description, naming the run whose encoder ``posterior`` is.
    num_points
        How many observations the latent and scaling were estimated on (recorded).
    clip
        Clip x̃ to [0, 1] (default False, as the paper; see the package docstring for what a model
        then sees).
    selection
        How the run was chosen among several (recorded in the description).
    rescale
        Map x̃ from [−ε, 1 + ε] onto [0, 1] instead; excludes ``clip``.

    Attributes
    ----------
    name
        ``"{base name}-perturbed-{kind}"``.
    factor_names
        The base dataset's.
    factor_sizes
        The base dataset's.
    observation_shape
        The base dataset's.

    Raises
    ------
    ValueError
        An unknown ``kind``, ``epsilon`` outside [0, 1], a pattern without ``posterior``, ``latent``
        or ``scaling``, or one over a base without image observations (C, H, W), or both ``clip``
        and ``rescale``.
    TypeError
        A ``run_dir`` that is not a string, or a ``clip`` or ``rescale`` that is not a boolean.
    """

    def __init__(
        self,
        base: GroundTruthDataset,
        epsilon: float,
        kind: str = "pattern",
        seed: int = 0,
        posterior: Callable | None = None,
        latent: int | None = None,
        scaling: dict | None = None,
        run_dir: str | None = None,
        num_points: int | None = None,
        clip: bool = False,
        selection: dict | None = None,
        rescale: bool = False,
    ):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if not 0 <= epsilon <= 1:
            raise ValueError(f"epsilon must be in [0, 1] (pixels are in [0, 1]), got {epsilon}")
        if kind == "pattern" and (posterior is None or latent is None or scaling is None):
            raise ValueError(
                "the pattern perturbation needs a posterior, a latent index and a scaling; use "
                "untwine.data.perturb(data, posterior, epsilon)"
            )
        if run_dir is not None and not isinstance(run_dir, str):
            raise TypeError(f"run_dir is an opaque string recorded in the description, got {type(run_dir).__name__}")
        self.clip, self.rescale = range_options(clip, rescale)
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
                raise ValueError(
                    f"the pattern perturbation needs image observations (C, H, W), "
                    f"{base.name!r} has {self.observation_shape}"
                )
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
        means, _ = encode(self._posterior, observations)
        return means[:, self.latent]

    def rows(self, s: np.ndarray) -> np.ndarray:
        """r(s): s in pixel rows (see the package docstring)."""
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
        raise TypeError(
            f"{self.name!r} is a perturbed dataset, not a registry name: its description is "
            f"describe() (or save(path)), rebuilt by PerturbedDataset.from_description or "
            f"untwine.runs.load_dataset(path)"
        )

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
            raise ValueError(
                "a pattern perturbation is saved only with the run whose encoder computes s: build it "
                "with perturb(data, model.posterior(), epsilon, run_dir=RUN_DIR)"
            )
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
        check_description(description, "the description")
        base_spec = description["base"]
        base = get(base_spec["name"], **(base_spec.get("options") or {}))
        sizes = description.get("factor_sizes")
        if sizes is not None and tuple(sizes) != tuple(base.factor_sizes):
            raise ValueError(
                f"the description's factor sizes {tuple(sizes)} differ from those of its base dataset "
                f"{base_spec['name']!r} now, {tuple(base.factor_sizes)} (its files changed?); "
                f"perturb the dataset again"
            )
        kind, epsilon, seed = description["kind"], float(description["epsilon"]), int(description["seed"])
        run_dir = description.get("run_dir")
        clip = description_clip(description)
        rescale = bool(description.get("rescale", False))
        selection = description.get("selection")
        if kind == "uniform":
            return cls(
                base,
                epsilon,
                "uniform",
                seed,
                run_dir=run_dir,
                num_points=description.get("num_points"),
                clip=clip,
                selection=selection,
                rescale=rescale,
            )
        if posterior is None:
            raise ValueError(
                f"a pattern perturbation computes s through the encoder of its run ({run_dir}): pass "
                f"posterior= (that run's model.posterior()), or use untwine.runs.load_dataset(path)"
            )
        return cls(
            base,
            epsilon,
            kind,
            seed,
            posterior=posterior_function(posterior),
            latent=int(description["latent"]),
            scaling=dict(description["scaling"]),
            run_dir=run_dir,
            num_points=description.get("num_points"),
            clip=clip,
            selection=selection,
            rescale=rescale,
        )


class PatternFactor(GroundTruthDataset):
    """A base dataset plus seed 002's pattern, driven by an extra independent factor s (its figure 4).

    Seed 002, §5.2: "by adding an additional generating factor s, a uniform random variable with
    zero mean and unit variance, we isolate the effect of the manipulation from the other
    factors". The factors are the base dataset's and ``s``, with ``num_s_values`` evenly spaced
    values of mean 0 and variance exactly 1 (spacing √(12/(M² − 1)); with M = 32, the number of
    dSprites positions, one step of s is one step of a position factor standardised to unit
    variance). Observations are x + ε·f(s) with f the pattern of `PerturbedDataset` for the
    same ``seed`` (same signs and column factors) and s scaled to pixel rows by the same rule,
    the 1st and 99th percentiles of s (here of its values, all equally likely) spanning the image
    height. Not clipped unless ``clip``, not rescaled unless ``rescale`` (see the package docstring).

    Parameters
    ----------
    base
        The registry name of the base dataset (``untwine.data.get``); it must have image
        observations and no factor called ``s``.
    base_options
        The base dataset's options.
    epsilon
        ε in [0, 1], the amplitude of the pattern.
    seed
        Seeds the pattern (signs and column factors).
    num_s_values
        M ≥ 2, the number of values of s.
    clip
        Clip x + ε·f(s) to [0, 1].
    rescale
        Map it from [−ε, 1 + ε] onto [0, 1] instead; excludes ``clip``.

    Attributes
    ----------
    base
        The base dataset (built from ``base`` and ``base_options``).
    epsilon
        As given, a float.
    seed
        As given, an int.
    clip
        As given.
    rescale
        As given.
    factor_names
        The base dataset's, then ``"s"``.
    factor_sizes
        The base dataset's, then ``num_s_values``.
    observation_shape
        The base dataset's.
    s_values
        The values of s, (M,) float64, mean 0 and variance 1.
    scaling
        The scaling of s to pixel rows (``scaling_for`` of ``s_values``).

    Raises
    ------
    ValueError
        A ``base`` that is not another dataset's name (or the base dataset refuses its options),
        ``base_options`` that are not a dict, ``epsilon`` outside [0, 1] or not a number,
        ``num_s_values`` not an integer ≥ 2, a base without image observations or with a factor
        ``s``, or both ``clip`` and ``rescale``.
    TypeError
        A ``clip`` or ``rescale`` that is not a boolean.
    """

    name = "pattern-factor"
    source = "procedural"

    def __init__(
        self,
        base: str = "dsprites",
        base_options: dict | None = None,
        epsilon: float = 0.1,
        seed: int = 0,
        num_s_values: int = 32,
        clip: bool = False,
        rescale: bool = False,
    ):
        if not isinstance(base, str) or base == self.name:
            raise ValueError(f"base must name another dataset (untwine data list), got {base!r}")
        if base_options is not None and not isinstance(base_options, dict):
            raise ValueError(f"base_options must be a dict of the base dataset's options, got {base_options!r}")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not 0 <= epsilon <= 1:
            raise ValueError(f"epsilon must be a number in [0, 1] (pixels are in [0, 1]), got {epsilon!r}")
        if isinstance(num_s_values, bool) or not isinstance(num_s_values, (int, np.integer)) or num_s_values < 2:
            raise ValueError(f"num_s_values must be an integer ≥ 2, got {num_s_values!r}")
        clip, rescale = range_options(clip, rescale)
        options = dict(
            base=base,
            base_options=dict(base_options) if base_options else None,
            epsilon=float(epsilon),
            seed=int(seed),
            num_s_values=int(num_s_values),
            clip=clip,
        )
        if rescale:  # recorded only when set, so that the specs of existing runs read as before
            options["rescale"] = True
        self._record_options(**options)
        self.base = get(base, **(base_options or {}))
        if len(self.base.observation_shape) != 3:
            raise ValueError(
                f"the pattern needs image observations (C, H, W); {base!r} has {tuple(self.base.observation_shape)}"
            )
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


def from_description(description: dict, posterior=None) -> PerturbedDataset:
    """`PerturbedDataset.from_description` as a function: rebuild a perturbed dataset from its description.

    The base dataset is built with ``untwine.data.get(**description["base"])``. A pattern
    perturbation computes s through ``posterior``: the caller loads the model of
    ``description["run_dir"]``; ``untwine.runs.load_dataset(path)`` does that.

    Parameters
    ----------
    description
        A perturbed-dataset description (``read_description``, `PerturbedDataset.describe`).
    posterior
        A callable numpy observations -> (means, variances), or a VAE; required for a pattern
        perturbation, unused by the uniform control.

    Returns
    -------
    PerturbedDataset
        The dataset the description describes.

    Raises
    ------
    ValueError
        An invalid description, a base dataset that is unknown, does not take the recorded options
        or whose factor sizes differ from the recorded ones, or a pattern perturbation without
        ``posterior``.
    TypeError
        A ``posterior`` that is a path or not callable.
    FileNotFoundError
        A base dataset whose files are missing.
    """
    return PerturbedDataset.from_description(description, posterior)
