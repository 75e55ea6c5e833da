"""What drives s: the latent of a run, and the run among restarts.

:func:`perturb` takes the latent with the least average posterior variance of the run given (seed 002, Eq. 6) and
scales it to pixel rows; :func:`perturb_lowest_mig` first picks, among several β-VAE restarts, the run with the
lowest MIG (seed 002, §4 step (i); :func:`lowest_mig`). The data room computes no metric: the caller gives the
MIGs. See the package docstring, :mod:`untwine.data.perturb`.
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

import numpy as np

from ..base import GroundTruthDataset
from .datasets import PerturbedDataset, encode, posterior_function
from .patterns import KINDS, scaling_for


def perturb(
    data: GroundTruthDataset,
    posterior,
    epsilon: float,
    kind: str = "pattern",
    seed: int = 0,
    num_points: int = 10_000,
    run_dir: str | None = None,
    *,
    clip: bool = False,
    selection: dict | None = None,
    rescale: bool = False,
) -> PerturbedDataset:
    """The perturbed dataset of seed 002: x̃ = x + ε·f(s(x)) (clipped to [0, 1] only with ``clip=True``).

    The latent j with the least average posterior variance over ``num_points`` observations drawn
    with ``seed`` gives s(x) = μ_j(x) (Eq. 6). To choose the run among several β-VAE restarts as §4
    does, use `perturb_lowest_mig`. See the package docstring (`untwine.data.perturb`) for f and for
    how s is scaled to pixel rows.

    Parameters
    ----------
    data
        The dataset to perturb.
    posterior
        A callable numpy observations -> (posterior means, posterior variances), or a VAE (its
        ``.posterior()`` is used). None only with ``kind="uniform"``.
    epsilon
        ε in [0, 1], the bound of the perturbation: ‖x̃ − x‖∞ ≤ ε.
    kind
        ``"pattern"`` (the pattern shifted by s), or ``"uniform"``, the §5.3 control (U[−ε, ε] per
        pixel, fixed per image), which needs no posterior.
    seed
        Seeds the estimation sample, the pattern and the uniform noise.
    num_points
        How many observations the latent and the scaling are estimated on (at least 10; the pattern
        only).
    run_dir
        An opaque string (or path) recorded in the description, naming the run whose encoder
        ``posterior`` is, so that the description can be rebuilt (the data room never opens it).
    clip
        Clip x̃ to [0, 1]; see the package docstring (what a model sees).
    selection
        How the run was chosen among several, recorded in the description (``perturb_lowest_mig``
        fills it).
    rescale
        Map x̃ from [−ε, 1 + ε] onto [0, 1] instead; excludes ``clip``.

    Returns
    -------
    PerturbedDataset
        The perturbed dataset.

    Raises
    ------
    ValueError
        No ``data`` (or one without ``observe``), an unknown ``kind``, ``epsilon`` outside [0, 1], no
        ``posterior`` for the pattern, ``num_points`` below 10, a latent that is constant over the
        sample, a dataset without image observations (the pattern), or both ``clip`` and ``rescale``.
    TypeError
        A ``run_dir`` that is not a string or path, a ``posterior`` that is a path or not callable,
        or a ``clip`` or ``rescale`` that is not a boolean.
    """
    if data is None or not hasattr(data, "observe"):
        raise ValueError(
            "data is required: the dataset to perturb (e.g. untwine.data.get('dsprites')); to perturb "
            "a run's dataset, load the run (untwine.runs) and pass its dataset and model.posterior()"
        )
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not 0 <= epsilon <= 1:
        raise ValueError(f"epsilon must be in [0, 1] (pixels are in [0, 1]), got {epsilon}")
    if run_dir is not None:
        if not isinstance(run_dir, (str, os.PathLike)):
            raise TypeError(f"run_dir must be a string (recorded, never opened), got {type(run_dir).__name__}")
        run_dir = os.fspath(run_dir)
    if kind == "uniform":
        return PerturbedDataset(
            data, epsilon, "uniform", seed, run_dir=run_dir, clip=clip, selection=selection, rescale=rescale
        )
    if posterior is None:
        raise ValueError(
            "the pattern perturbation needs posterior: a callable observations -> (means, variances) "
            "(e.g. a trained model's .posterior()); only kind='uniform' takes None"
        )
    posterior = posterior_function(posterior)
    if num_points < 10:
        raise ValueError(f"num_points must be at least 10, got {num_points}")
    rng = np.random.default_rng(seed)
    factors = data.sample_factors(num_points, rng)
    means, variances = encode(posterior, data.observe(factors, rng))
    latent = int(np.argmin(variances.mean(axis=0)))
    height = data.observation_shape[1] if len(data.observation_shape) == 3 else 1
    try:
        scaling = scaling_for(means[:, latent], height)
    except ValueError:
        raise ValueError(
            f"latent {latent} (least posterior variance) is constant over the sample: the model "
            f"encodes nothing to perturb along; train it longer or use kind='uniform'"
        ) from None
    scaling["mean_variances"] = [float(v) for v in variances.mean(axis=0)]
    return PerturbedDataset(
        data,
        epsilon,
        "pattern",
        seed,
        posterior=posterior,
        latent=latent,
        scaling=scaling,
        run_dir=run_dir,
        num_points=num_points,
        clip=clip,
        selection=selection,
        rescale=rescale,
    )


def lowest_mig(migs: Sequence[float]) -> int:
    """The index of the lowest MIG (the first of equal ones).

    Seed 002 §4 step (i): "over multiple restarts of β-VAE we pick one with the lowest MIG score".
    NaN or a missing score is refused.

    Parameters
    ----------
    migs
        One MIG per candidate run.

    Returns
    -------
    int
        The index of the candidate with the lowest MIG.

    Raises
    ------
    ValueError
        No candidates, a score that is not finite (NaN, ±inf), or a string that is not a number.
    TypeError
        A missing score (None) or another value that is not a number.
    """
    values = np.asarray([float(m) for m in migs], dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError("migs must hold one MIG per candidate run, at least one")
    if not np.isfinite(values).all():
        raise ValueError(f"every candidate needs a finite MIG, got {values.tolist()}")
    return int(np.argmin(values))


def perturb_lowest_mig(
    data: GroundTruthDataset,
    posteriors: Sequence,
    epsilon: float,
    *,
    migs: Sequence[float] | Callable | None = None,
    run_dirs: Sequence[str] | None = None,
    kind: str = "pattern",
    seed: int = 0,
    num_points: int = 10_000,
    clip: bool = False,
    rescale: bool = False,
) -> PerturbedDataset:
    """Seed 002 §4 step (i)–(iii): among several β-VAE runs (restarts), the one with the lowest MIG gives s.

    The data room computes no metric (metrics live above it), so the caller supplies the scores.
    The description records the candidates, their MIGs and the choice under ``selection``.

    Parameters
    ----------
    data
        The dataset to perturb.
    posteriors
        One posterior per candidate run (a callable observations -> (means, variances), or a VAE).
    epsilon
        ε in [0, 1], as `perturb`.
    migs
        Their MIG scores (a sequence), or a callable ``posterior -> MIG`` that scores each
        candidate, e.g. one returning
        ``untwine.metrics.evaluate(model.representation(), data, "mig")["mig"]["discrete_mig"]``.
        Required.
    run_dirs
        The candidates' run directories (opaque strings or paths; the chosen one is recorded as
        ``run_dir``).
    kind, seed, num_points, clip, rescale
        As `perturb`.

    Returns
    -------
    PerturbedDataset
        The perturbed dataset of the candidate with the lowest MIG (the first of equal ones).

    Raises
    ------
    ValueError
        No candidates, no ``migs``, a number of MIGs or of ``run_dirs`` other than the number of
        candidates, a MIG that is not finite (`lowest_mig`), or any argument that `perturb` refuses.
    TypeError
        A run directory that is not a string or path, a missing MIG (None), or what `perturb`
        refuses as such.
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
    selection = {
        "rule": "lowest MIG (seed 002, section 4, step (i))",
        "migs": scores,
        "chosen": chosen,
        "run_dirs": run_dirs,
    }
    return perturb(
        data,
        posteriors[chosen],
        epsilon,
        kind=kind,
        seed=seed,
        num_points=num_points,
        run_dir=None if run_dirs is None else run_dirs[chosen],
        clip=clip,
        selection=selection,
        rescale=rescale,
    )
