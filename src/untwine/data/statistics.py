"""Statistics of a ground-truth dataset itself, no model: how much each factor moves the observations,
globally and locally (Zietlow, Rolinek & Martius 2021, seed 002, §5.2 and figure 4).

Seed 002 argues that a VAE orders its latents by *local* sensitivity of the data to each source of
variation, not by the variance each source explains globally, and shows it on a dataset with an
extra factor s that drives its pattern (``untwine.data.PatternFactor``): s dominates the local
statistic at ε ≈ 0.1, long before it dominates the global one. The two statistics:

- ``explained_variance``: the explained global variance of factor k,
  Var_{w_k}(E[x | w_k]) summed over the observation's entries, w_k uniform over its values
  ("approximated by extensively sampling", §5.2);
- ``local_expansiveness``: how far the observation moves per unit of the factor,
  E_w ‖x(w + δ e_k) − x(w)‖₂ / δ, with δ one step of the factor's grid, the factor standardised
  to zero mean and unit variance (as seed 002's s is).

Both sample factors uniformly with an explicit seed and render the observations in batches.
"""

from __future__ import annotations

import numpy as np

__all__ = ["explained_variance", "local_expansiveness", "standardised_step"]


def _check_count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def standardised_step(size: int) -> float:
    """One step of a factor with ``size`` evenly spaced values, in units of the factor's standard deviation.

    With the values equally likely the step is √(12 / (size² − 1)).

    Parameters
    ----------
    size : int
        The number of values of the factor.

    Returns
    -------
    float
        The step; NaN for a factor with one value.
    """
    size = int(size)
    return float(np.sqrt(12.0 / (size * size - 1))) if size > 1 else float("nan")


def explained_variance(data, num_points: int = 20_000, seed: int = 0, batch_size: int = 1000) -> dict:
    """Explained global variance of each factor: Var_{w_k}(E[x | w_k]), summed over observation entries.

    Draws ``num_points`` factor vectors uniformly (``np.random.default_rng(seed)``), renders them,
    and for each factor k groups the observations by the value of w_k. With m_v the mean
    observation of the n_v points whose w_k = v, and V the number of values, the plug-in
    (1/V) Σ_v ‖m_v − m̄‖² (m̄ the mean of the m_v, values equally likely) overestimates the
    variance by the noise of the group means; untwine subtracts its expectation,
    (1/V)(1 − 1/V) Σ_v s²_v / n_v, with s²_v the within-group variance (summed over entries,
    ddof 1), so that a factor without effect scores 0 on average (the estimate can then be
    slightly negative).

    Parameters
    ----------
    data : GroundTruthData
        The dataset.
    num_points : int, default 20000
        Factor vectors drawn; every value of every factor must be drawn at least twice.
    seed : int, default 0
        Seed of the draws.
    batch_size : int, default 1000
        Observations rendered at once.

    Returns
    -------
    dict
        ``factor_names``, ``explained_variance`` (bias-corrected, per factor), ``uncorrected``
        (the plug-in), ``total_variance`` (Σ over entries of Var(x), ddof 1), ``num_points``,
        ``seed``.

    Raises
    ------
    ValueError
        If ``num_points`` < 2 or ``batch_size`` < 1 (or either is not an integer), or a value of a
        factor was drawn fewer than twice.
    """
    num_points = _check_count("num_points", num_points, 2)
    batch_size = _check_count("batch_size", batch_size, 1)
    rng = np.random.default_rng(seed)
    sizes = [int(s) for s in data.factor_sizes]
    entries = int(np.prod(data.observation_shape))
    sums = [np.zeros((size, entries)) for size in sizes]
    squares = [np.zeros(size) for size in sizes]
    counts = [np.zeros(size, dtype=np.int64) for size in sizes]
    total, total_square = np.zeros(entries), 0.0
    for start in range(0, num_points, batch_size):
        n = min(batch_size, num_points - start)
        factors = data.sample_factors(n, rng)
        x = np.asarray(data.observe(factors, rng), dtype=np.float64).reshape(n, entries)
        square = (x * x).sum(axis=1)
        total += x.sum(axis=0)
        total_square += float(square.sum())
        for k, size in enumerate(sizes):
            values = factors[:, k]
            one_hot = np.zeros((size, n))
            one_hot[values, np.arange(n)] = 1.0
            sums[k] += one_hot @ x
            squares[k] += np.bincount(values, weights=square, minlength=size)
            counts[k] += np.bincount(values, minlength=size)
    explained, uncorrected = [], []
    for k, size in enumerate(sizes):
        n = counts[k]
        if n.min() < 2:
            value = int(np.argmin(n))
            raise ValueError(
                f"value {value} of factor {data.factor_names[k]!r} was drawn {int(n[value])} time(s); "
                f"every value needs at least 2: raise num_points (now {num_points})"
            )
        means = sums[k] / n[:, None]
        within = (squares[k] - n * (means * means).sum(axis=1)) / (n - 1)
        plug_in = float(((means - means.mean(axis=0)) ** 2).sum(axis=1).mean())
        correction = (1.0 / size) * (1.0 - 1.0 / size) * float((within / n).sum())
        uncorrected.append(plug_in)
        explained.append(plug_in - correction)
    mean = total / num_points
    total_variance = (total_square - num_points * float(mean @ mean)) / (num_points - 1)
    return {
        "factor_names": list(data.factor_names),
        "explained_variance": explained,
        "uncorrected": uncorrected,
        "total_variance": float(total_variance),
        "num_points": num_points,
        "seed": int(seed),
    }


def local_expansiveness(data, num_points: int = 2000, seed: int = 0, batch_size: int = 500) -> dict:
    """Local expansiveness of each factor: how far one step of the factor moves the observation.

    Seed 002 (§4.2) defines the local expansiveness factor of the pattern as
    α_δ(s) = inf_{|δ'| < δ} ‖f(s) − f(s + δ')‖ / |δ'| and computes it for the factors "for δ equal
    the step size of the position generating factors" (§5.2), since the factors live on a grid.
    untwine takes the finite difference at one step of each factor's grid: for ``num_points``
    uniformly drawn points w whose factor k is not at its last value, ‖x(w + e_k) − x(w)‖₂ (over all
    entries; both observations drawn with the same nuisance rng), averaged; that is ``step_norm``.
    Dividing by the step δ_k of the factor standardised to unit variance
    (``standardised_step``, √(12/(V² − 1)) for V values) gives ``local_expansiveness``, the change
    per unit of a zero-mean unit-variance factor, as seed 002's s. Factors with the same number of
    values (dSprites' positions and a 32-valued s) then share δ, as §5.2 asks; the ranking of
    factors with other grids depends on that standardisation.

    Parameters
    ----------
    data : GroundTruthData
        The dataset.
    num_points : int, default 2000
        Points drawn per factor.
    seed : int, default 0
        Seed of the draws.
    batch_size : int, default 500
        Observations rendered at once.

    Returns
    -------
    dict
        ``factor_names``, ``step_norm``, ``step`` (δ_k), ``local_expansiveness`` (per factor; NaN
        for a factor with one value), ``num_points``, ``seed``.

    Raises
    ------
    ValueError
        If ``num_points`` or ``batch_size`` is not an integer ≥ 1.
    """
    num_points = _check_count("num_points", num_points, 1)
    batch_size = _check_count("batch_size", batch_size, 1)
    rng = np.random.default_rng(seed)
    entries = int(np.prod(data.observation_shape))
    step_norm, steps, expansiveness = [], [], []
    for k, size in enumerate(int(s) for s in data.factor_sizes):
        step = standardised_step(size)
        if size < 2:
            step_norm.append(float("nan"))
            steps.append(step)
            expansiveness.append(float("nan"))
            continue
        norms = []
        for start in range(0, num_points, batch_size):
            n = min(batch_size, num_points - start)
            here = data.sample_factors(n, rng)
            here[:, k] = rng.integers(0, size - 1, size=n)
            there = here.copy()
            there[:, k] += 1
            nuisance = int(rng.integers(2**63))
            a = np.asarray(data.observe(here, np.random.default_rng(nuisance)), dtype=np.float64)
            b = np.asarray(data.observe(there, np.random.default_rng(nuisance)), dtype=np.float64)
            norms.append(np.sqrt(((b - a) ** 2).reshape(n, entries).sum(axis=1)))
        mean_norm = float(np.concatenate(norms).mean())
        step_norm.append(mean_norm)
        steps.append(step)
        expansiveness.append(mean_norm / step)
    return {
        "factor_names": list(data.factor_names),
        "step_norm": step_norm,
        "step": steps,
        "local_expansiveness": expansiveness,
        "num_points": num_points,
        "seed": int(seed),
    }
