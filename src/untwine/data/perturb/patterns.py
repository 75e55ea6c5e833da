"""The pattern maths of the perturbed datasets (the package docstring, :mod:`untwine.data.perturb`, derives it).

The two kinds; the fixed random pattern p and its shift f(s) (seed 002, §4.2); the scaling of s to pixel rows; the
uniform control's noise, hashed from an image's flat index; and the range x̃ is fitted to (as it is, clipped, or
rescaled onto [0, 1]) with the check of those two options. Arrays in, arrays out: no dataset, no file.
"""

from __future__ import annotations

import numpy as np

KINDS = ("pattern", "uniform")
_PERCENTILES = (1.0, 99.0)


def range_options(clip, rescale) -> tuple[bool, bool]:
    """``(clip, rescale)`` as booleans; a TypeError names a non-boolean, a ValueError both set."""
    for name, value in (("clip", clip), ("rescale", rescale)):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {value!r}")
    if clip and rescale:
        raise ValueError(
            "clip and rescale exclude each other: clip cuts x̃ to [0, 1], rescale maps [−ε, 1 + ε] "
            "onto [0, 1]; choose one"
        )
    return bool(clip), bool(rescale)


def fit_range(perturbed: np.ndarray, epsilon: float, clip: bool, rescale: bool) -> np.ndarray:
    """x̃ as it is (neither), clipped to [0, 1] (``clip``) or mapped from [−ε, 1 + ε] onto [0, 1] (``rescale``).

    Float32 in, float32 out. The map is (x̃ + ε)/(1 + 2ε), clipped after it, since float32 rounding can take
    it past 1 by an ulp (as at ε = 0.2).

    Parameters
    ----------
    perturbed
        x̃ = x + the perturbation, float32, in [−ε, 1 + ε].
    epsilon
        ε, the perturbation's bound.
    clip
        Clip x̃ to [0, 1].
    rescale
        Map x̃ from [−ε, 1 + ε] onto [0, 1]. ``clip`` and ``rescale`` exclude each other (the callers check
        it); ``clip`` wins here if both are set.

    Returns
    -------
    numpy.ndarray
        x̃ fitted to its range, float32, the shape of ``perturbed`` (``perturbed`` itself with neither
        option).
    """
    if clip:
        return np.clip(perturbed, 0.0, 1.0)
    if rescale:
        mapped = (perturbed + np.float32(epsilon)) / np.float32(1.0 + 2.0 * epsilon)
        return np.clip(mapped, 0.0, 1.0).astype(np.float32)
    return perturbed


def hashed_uniform(counters: np.ndarray, seed: int) -> np.ndarray:
    """U[0, 1) float32 numbers that are a fixed function of (seed, counter).

    Each is SplitMix64 (Steele et al. 2014) of the counter XOR a key drawn from ``seed``, top 24 bits.
    Vectorised, and the same on every platform: the uniform control's noise of an image depends on nothing
    but its flat index.

    Parameters
    ----------
    counters
        Non-negative integers, any shape (taken as uint64): one number is drawn per counter.
    seed
        The seed the key is drawn from.

    Returns
    -------
    numpy.ndarray
        float32 numbers in [0, 1), the shape of ``counters``.
    """
    key = np.random.SeedSequence([int(seed), 3]).generate_state(1, dtype=np.uint64)[0]
    z = np.asarray(counters, dtype=np.uint64) ^ key
    z += np.uint64(0x9E3779B97F4A7C15)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    z >>= np.uint64(40)
    return z.astype(np.float32) * np.float32(2.0**-24)


def pattern(height: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The fixed random pattern (4·height, width) in {−1, 1} and column factors (width,) in {1..4}.

    Drawn from its own stream of ``seed``, independent of the estimation sample.

    Parameters
    ----------
    height
        The image height H; the pattern has P = 4H rows.
    width
        The image width W.
    seed
        The perturbation's seed.

    Returns
    -------
    tuple of numpy.ndarray
        ``(signs, blocks)``: the pattern, (4·height, width) float32 in {−1, 1}, and the column factors
        c_j, (width,) integers in {1, 2, 3, 4}.
    """
    rng = np.random.default_rng([seed, 2])  # its own stream: independent of the estimation sample
    signs = rng.integers(0, 2, size=(4 * height, width)).astype(np.float32) * 2 - 1
    blocks = rng.integers(1, 5, size=width)
    return signs, blocks


def shifted_pattern(signs: np.ndarray, blocks: np.ndarray, rows: np.ndarray, height: int) -> np.ndarray:
    """f(s) of seed 002, §4.2, for s already in pixel rows.

    f_{i,j} = signs[(round(rows/c_j) + i) mod P, j] with P = len(signs) and c_j = ``blocks[j]``.

    Parameters
    ----------
    signs
        The pattern, (P, W) in {−1, 1} (from ``pattern``).
    blocks
        The column factors c_j, (W,) (from ``pattern``).
    rows
        r(s), s in pixel rows, (n,).
    height
        The image height: the number of rows of f(s).

    Returns
    -------
    numpy.ndarray
        f(s), (n, height, W), the dtype of ``signs`` (float32 in {−1, 1} from ``pattern``).
    """
    shift = np.rint(np.asarray(rows, dtype=np.float64)[:, None] / blocks[None, :]).astype(np.int64)  # (n, W)
    index = (shift[:, None, :] + np.arange(height)[None, :, None]) % len(signs)  # (n, H, W)
    return signs[index, np.arange(signs.shape[1])[None, None, :]]


def scaling_for(s: np.ndarray, height: int) -> dict:
    """The scaling of s to pixel rows (see the package docstring).

    Offset and rows per unit come from the 1st and 99th percentiles of the sample ``s``, so that its central
    98 % sweeps ``height`` rows.

    Parameters
    ----------
    s
        The sample of s, (n,).
    height
        The image height H.

    Returns
    -------
    dict
        ``{"offset", "rows_per_unit", "rule"}``: rows = (s − offset) · rows_per_unit, and ``rule`` says so
        in words.

    Raises
    ------
    ValueError
        ``s`` is constant over the sample (its percentiles are within 1e-12 of each other), or its
        percentiles are not finite (a NaN in it): there is nothing to sweep the pattern along.
    """
    low, high = np.percentile(np.asarray(s, dtype=np.float64), _PERCENTILES)
    spread = float(high - low)
    if not np.isfinite(spread) or spread <= 1e-12:
        raise ValueError("s is constant over the sample: there is nothing to sweep the pattern along")
    return {
        "offset": float(low),
        "rows_per_unit": float(height / spread),
        "rule": "rows = (s - offset) * rows_per_unit; offset and offset + height / rows_per_unit are the "
        "1st and 99th percentiles of s over the estimation sample",
    }
