"""Pairs of observations for weak supervision (Locatello et al. 2020, "Weakly-Supervised
Disentanglement Without Compromises", §4 and §5).

A pair is two observations whose factors agree except for k of them: the k factors are
chosen uniformly without replacement among the factors that take more than one value, and
each is given a *different* value drawn uniformly among its other values, so that exactly k
factors differ. k is fixed (1, 2, ...) or, with ``k = -1`` (the paper's "k unknown"; the
reference library's ``k = -1``), drawn per pair uniformly from 1 ... K − 1, K the number of
factors that vary. The first observation's factors come from the dataset's (or a biased
sampler's) own distribution.

Works for any ground-truth dataset (procedural, file-backed, perturbed): it needs only
``factor_sizes``, ``sample_factors`` and ``observe``.

>>> import numpy as np
>>> from untwine import data
>>> first, second = pair_factors(data.get("dsprites"), 4, np.random.default_rng(0), k=1)
>>> ((first != second).sum(1) == 1).all()
True
"""

from __future__ import annotations

import numpy as np

__all__ = ["UNKNOWN_K", "varying_factors", "check_k", "pair_factors", "changed_factor", "draw_pairs"]

#: ``k`` for "a number of changed factors drawn per pair from 1 ... K − 1"
UNKNOWN_K = -1


def varying_factors(data) -> np.ndarray:
    """The indices of the factors that take more than one value (only those can change within a pair).

    Parameters
    ----------
    data
        A ground-truth dataset.

    Returns
    -------
    numpy.ndarray
        The factor indices, in order.
    """
    return np.flatnonzero(np.asarray(data.factor_sizes) > 1)


def check_k(data, k: int) -> int:
    """Check that pairs differing in ``k`` factors can be drawn from ``data``; returns ``k``.

    Parameters
    ----------
    data
        A ground-truth dataset.
    k
        Factors that differ within a pair (1 ≤ k < K), or :data:`UNKNOWN_K` (−1) for a number drawn per pair
        from 1 ... K − 1; K is the number of factors that vary.

    Returns
    -------
    int
        ``k``.

    Raises
    ------
    ValueError
        A dataset with fewer than two varying factors, or a ``k`` outside 1 ... K − 1 (and not −1); the message
        names the dataset, K and the values allowed.
    """
    name = getattr(data, "name", type(data).__name__)
    varying = len(varying_factors(data))
    if varying < 2:
        raise ValueError(
            f"pairs need a dataset with at least two varying factors; {name} has {varying} "
            f"(factor sizes {tuple(int(s) for s in data.factor_sizes)}): weak supervision cannot tell "
            f"a shared factor from a changed one there; pick another dataset"
        )
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"pairs: k must be an integer (1 ... {varying - 1}, or -1 for unknown k), got {k!r}")
    if k != UNKNOWN_K and not 1 <= k < varying:
        raise ValueError(
            f"pairs: k = {k} is outside 1 ... {varying - 1} for {name} ({varying} varying factors: a "
            f"pair must share at least one factor and differ in at least one); give k in 1 ... "
            f"{varying - 1}, or k = -1 to draw it per pair"
        )
    return int(k)


def pair_factors(
    data, n: int, rng: np.random.Generator, k: int = UNKNOWN_K, sampler=None
) -> tuple[np.ndarray, np.ndarray]:
    """The factors of ``n`` pairs.

    Parameters
    ----------
    data
        A ground-truth dataset.
    n
        Pairs.
    rng
        Draws the first factors, which factors change and their new values.
    k
        Factors that differ within each pair, or −1 for a number drawn per pair uniformly from 1 ... K − 1
        (:func:`check_k`).
    sampler
        A factor sampler (``untwine.data.sampling.make_sampler``) for the first observation's factors; None
        draws them as the dataset does.

    Returns
    -------
    tuple of numpy.ndarray
        ``(first, second)``, each (n, number of factors), integer indices; ``second`` differs from ``first`` in
        exactly k factors of each row.
    """
    k = check_k(data, k)
    first = np.asarray(data.sample_factors(n, rng) if sampler is None else sampler.sample(n, rng))
    sizes = np.asarray(data.factor_sizes)
    varying = varying_factors(data)
    counts = rng.integers(1, len(varying), size=n) if k == UNKNOWN_K else np.full(n, k)
    second = first.copy()
    for row in range(n):
        for factor in rng.choice(varying, size=counts[row], replace=False):
            # a different value, uniform among the factor's other values
            shift = rng.integers(1, sizes[factor])
            second[row, factor] = (first[row, factor] + shift) % sizes[factor]
    return first, second


def changed_factor(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The index of the one factor that differs in each pair (pairs drawn with k = 1).

    Parameters
    ----------
    first, second
        The factors of the pairs' two observations, (n, number of factors).

    Returns
    -------
    numpy.ndarray
        (n,) integer factor indices.

    Raises
    ------
    ValueError
        A pair that does not differ in exactly one factor.
    """
    differ = np.asarray(first) != np.asarray(second)
    counts = differ.sum(1)
    if len(counts) and not (counts == 1).all():
        bad = int(np.flatnonzero(counts != 1)[0])
        raise ValueError(
            f"the changed factor is defined for pairs that differ in exactly one factor (k = 1); pair "
            f"{bad} differs in {int(counts[bad])}"
        )
    return differ.argmax(1)


def draw_pairs(
    data, n: int, rng: np.random.Generator, k: int = UNKNOWN_K, sampler=None
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pairs as one batch of ``2n`` observations in two halves.

    Parameters
    ----------
    data
        A ground-truth dataset.
    n
        Pairs.
    rng
        Draws the factors (:func:`pair_factors`) and then the observations.
    k
        Factors that differ within each pair, or −1 (unknown k).
    sampler
        A factor sampler for the first observation's factors (None: the dataset's own distribution).

    Returns
    -------
    tuple of numpy.ndarray
        ``(factors, observations)``: (2n, number of factors) and (2n, \\*observation shape); rows ``i`` and
        ``n + i`` are the two observations of pair ``i``.
    """
    first, second = pair_factors(data, n, rng, k, sampler)
    factors = np.concatenate([first, second])
    return factors, data.observe(factors, rng)
