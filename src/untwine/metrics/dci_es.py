"""DCI-ES: explicitness (E) and size (S) beside D, C, I (Eastwood, Nicolicioiu, von Kügelgen,
Kekić, Träuble, Dittadi, Schölkopf, "DCI-ES: An Extended Disentanglement Framework with
Connections to Identifiability", ICLR 2023).

Explicitness, per factor j, from the loss–capacity curve ℓ_1, ..., ℓ_T of probes of increasing
capacity κ_1 < ... < κ_T (test loss of each probe):

* ℓ^b: the baseline loss, that of the best constant predictor (the training mean);
* ℓ^{*,c} = min_t ℓ_t, reached first at capacity κ_{t*}: the representation's lowest loss;
* AULCC = area between the curve (linear between the points) and ℓ^{*,c}, from κ_1 to κ_{t*};
* Z = ½ (κ_T − κ_1)(ℓ^b − ℓ*): the triangle under the line from (κ_1, ℓ^b) to (κ_T, ℓ*), with
  ℓ* the lowest loss any probe reaches on any representation (``lowest_loss``, 0: a perfect
  predictor);
* E_j = 1 − AULCC / Z; E = mean over factors.

The curve, AULCC and normaliser follow the authors' Figure 2 script
(cianeastwood/loss_capacity_curves, ``plot_detailed.py``). The capacity axis is the rank of
the capacity (κ_t = t, evenly spaced as in that figure), so that a few large probes do not
outweigh the small ones. E is 1 when the smallest probe already reaches the representation's
lowest loss, 0 when the curve falls along the normaliser's diagonal, and negative for a slower
fall. E does not measure informativeness: a code that carries nothing about a factor has a flat
curve (its first probe is already its best) and E ≈ 1; read E beside I.

Probe family: random Fourier features (one of the authors' three families: MLPs, random
Fourier features with a learned linear layer, random forests) on the standardised codes, with
the codes themselves as well, fit by ridge regression to the standardised factor; capacity =
the number of random features (0: a linear probe). Features are nested (capacity m uses the
first m of the largest set), so a larger probe contains every smaller one. Loss = test mean
squared error.

Size: S = K / L, the number of factors over the number of latents (1 when the code is as small
as the factors, below 1 when it is larger).

D, C, I are untwine's ``dci`` on the same train and test points, not recomputed here.
"""

from __future__ import annotations

import numpy as np

from ._sampling import DEFAULT_BATCH_SIZE, sample_codes
from ._validate import check_not_collapsed, check_train_test
from .dci import dci

__all__ = ["dci_es", "explicitness", "loss_capacity_curve", "sample_dci_es"]

#: Default probe capacities: number of random Fourier features beside the linear part.
DEFAULT_CAPACITIES = (0, 4, 16, 64, 256, 1024)


def check_capacities(capacities) -> np.ndarray:
    """The capacities as a 1-D integer array, strictly increasing and non-negative, at least 2."""
    values = np.asarray(capacities)
    if values.ndim != 1 or values.size < 2:
        raise ValueError(
            f"capacities must be a list of at least 2 probe sizes, got {capacities!r}; "
            f"e.g. capacities={list(DEFAULT_CAPACITIES)}"
        )
    if not np.all(np.mod(values, 1) == 0):
        raise ValueError(f"capacities must be whole numbers of random features, got {capacities!r}")
    values = values.astype(np.int64)
    if values[0] < 0 or np.any(np.diff(values) <= 0):
        raise ValueError(
            f"capacities must be non-negative and strictly increasing (smallest probe first), got "
            f"{values.tolist()}; sort them and drop repeats, e.g. {sorted(set(values.clip(0).tolist()))}"
        )
    return values


def explicitness(losses, baseline_loss, lowest_loss: float = 0.0) -> dict:
    """Explicitness of one loss–capacity curve: E = 1 − AULCC / Z.

    Parameters
    ----------
    losses : array-like
        Test losses ℓ_1, ..., ℓ_T of probes of increasing capacity (T ≥ 2), taken at evenly spaced
        capacities κ_t = t.
    baseline_loss : float
        ℓ^b, the loss of the best constant predictor.
    lowest_loss : float, default 0.0
        ℓ*, the lowest loss any probe reaches on any representation (0 for a perfect predictor).

    Returns
    -------
    dict
        ``{"explicitness": E, "aulcc": AULCC, "normaliser": Z, "best": t*}`` (t* the 0-based index
        of the first lowest loss).

    Raises
    ------
    ValueError
        If there are fewer than 2 finite losses, or ``baseline_loss`` is not above ``lowest_loss``.
    """
    losses = np.asarray(losses, dtype=np.float64)
    if losses.ndim != 1 or losses.size < 2 or not np.all(np.isfinite(losses)):
        raise ValueError(f"losses must be at least 2 finite values, one per capacity, got {losses.tolist()}")
    if not baseline_loss > lowest_loss:
        raise ValueError(
            f"the baseline loss ({baseline_loss}) must be above the lowest loss ({lowest_loss}); "
            "a factor whose constant predictor is already perfect has no explicitness"
        )
    best = int(np.argmin(losses))
    excess = losses[: best + 1] - losses[best]
    aulcc = float(np.sum((excess[:-1] + excess[1:]) / 2.0))
    normaliser = 0.5 * (losses.size - 1) * (baseline_loss - lowest_loss)
    return {"explicitness": 1.0 - aulcc / normaliser, "aulcc": aulcc, "normaliser": normaliser, "best": best}


def _standardise(train: np.ndarray, test: np.ndarray):
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (train - mean) / std, (test - mean) / std


def loss_capacity_curve(
    codes_train, targets_train, codes_test, targets_test, capacities=DEFAULT_CAPACITIES, ridge=1e-3, random_state=0
) -> np.ndarray:
    """Test mean squared error (T, K) of random-Fourier-feature ridge probes, one row per capacity.

    Parameters
    ----------
    codes_train, codes_test : np.ndarray
        Codes (n, d) and (m, d); standardised with the training mean and std inside.
    targets_train, targets_test : np.ndarray
        Targets (n, K) and (m, K), all fit at once (one ridge solve per capacity).
    capacities : sequence of int, default (0, 4, 16, 64, 256, 1024)
        Numbers of random Fourier features beside the linear part, strictly increasing.
    ridge : float, default 1e-3
        Ridge penalty per training point on every weight but the intercept.
    random_state : int, default 0
        Seed of the random features.

    Returns
    -------
    np.ndarray
        Test losses, (T capacities, K targets).

    Raises
    ------
    ValueError
        If ``capacities`` is not strictly increasing non-negative whole numbers, at least 2.
    """
    capacities = check_capacities(capacities)
    ct, cs = _standardise(np.asarray(codes_train, np.float64), np.asarray(codes_test, np.float64))
    n, d = ct.shape
    rng = np.random.default_rng(random_state)
    most = int(capacities[-1])
    # Gaussian kernel of length-scale sqrt(d) on standardised codes: frequencies N(0, 1/d).
    weights = rng.normal(0.0, 1.0 / np.sqrt(d), size=(d, most))
    phases = rng.uniform(0.0, 2.0 * np.pi, size=most)
    curve = []
    for m in capacities:
        xt = _features(ct, weights[:, :m], phases[:m])
        xs = _features(cs, weights[:, :m], phases[:m])
        gram = xt.T @ xt
        penalty = np.full(gram.shape[0], ridge * n)
        penalty[0] = 0.0
        coef = np.linalg.solve(gram + np.diag(penalty), xt.T @ targets_train)
        curve.append(np.mean((xs @ coef - targets_test) ** 2, axis=0))
    return np.array(curve)


def _features(codes: np.ndarray, weights: np.ndarray, phases: np.ndarray) -> np.ndarray:
    parts = [np.ones((codes.shape[0], 1)), codes]
    if weights.shape[1]:
        parts.append(np.sqrt(2.0 / weights.shape[1]) * np.cos(codes @ weights + phases))
    return np.hstack(parts)


def dci_es(
    codes_train,
    factors_train,
    codes_test,
    factors_test,
    capacities=DEFAULT_CAPACITIES,
    ridge=1e-3,
    lowest_loss=0.0,
    fast=False,
    random_state=0,
    n_jobs=None,
) -> dict:
    """DCI-ES: explicitness and size beside untwine's D, C, I on the same points.

    Parameters
    ----------
    codes_train : np.ndarray
        Training codes (n, d).
    factors_train : np.ndarray
        Integer factor indices (n, K) of the training points.
    codes_test : np.ndarray
        Test codes (m, d).
    factors_test : np.ndarray
        Integer factor indices (m, K) of the test points.
    capacities : sequence of int, default (0, 4, 16, 64, 256, 1024)
        Probe capacities: random Fourier features beside a linear probe, strictly increasing.
    ridge : float, default 1e-3
        Ridge penalty of the probes, per training point.
    lowest_loss : float, default 0.0
        ℓ* of the normaliser, in units of the factor's training variance (0: a perfect predictor).
    fast : bool, default False
        Passed to ``dci`` (its fast preset).
    random_state : int, default 0
        Seed of the random features and of ``dci``'s classifiers.
    n_jobs : int, optional
        Joblib workers of ``dci``.

    Returns
    -------
    dict
        ``explicitness`` (mean over factors), ``explicitness_per_factor`` (K,), ``size`` (K / d),
        ``disentanglement``, ``completeness``, ``informativeness_train``, ``informativeness_test``
        (untwine's ``dci``), ``capacities`` (T,), ``loss_capacity_curve`` (T, K test losses),
        ``baseline_loss`` (K,), ``aulcc`` (K,).

    Raises
    ------
    ValueError
        If the codes are not finite 2-D arrays, the factors not integer (n, K) arrays matching
        them, train and test disagree on d or K, a factor takes one value in the training points,
        or ``capacities`` is not strictly increasing; ``CollapsedRepresentation`` (a ValueError) if every
        latent takes one value in the training points (a flat curve at the baseline would read as E = 1).
    """
    capacities = check_capacities(capacities)
    ct, ft, cs, fs = check_train_test(codes_train, factors_train, codes_test, factors_test)
    check_not_collapsed(ct, "DCI-ES")  # a flat curve at the baseline would read as E = 1
    spread = ft.std(axis=0)
    flat = np.flatnonzero(spread == 0)
    if flat.size:
        raise ValueError(
            f"factor(s) {flat.tolist()} take one value in the training points, so no probe can do better than a "
            "constant; drop those factor columns or sample more points"
        )
    yt = (ft - ft.mean(axis=0)) / spread
    ys = (fs - ft.mean(axis=0)) / spread
    curve = loss_capacity_curve(ct, yt, cs, ys, capacities, ridge=ridge, random_state=random_state)
    baseline = np.mean(ys**2, axis=0)
    per_factor = [explicitness(curve[:, k], baseline[k], lowest_loss) for k in range(ft.shape[1])]
    scores = dci(ct, ft, cs, fs, fast=fast, random_state=random_state, n_jobs=n_jobs)
    return {
        "explicitness": float(np.mean([e["explicitness"] for e in per_factor])),
        "explicitness_per_factor": np.array([e["explicitness"] for e in per_factor]),
        "size": ft.shape[1] / ct.shape[1],
        **scores,
        "capacities": capacities,
        "loss_capacity_curve": curve,
        "baseline_loss": baseline,
        "aulcc": np.array([e["aulcc"] for e in per_factor]),
    }


def sample_dci_es(
    representation,
    data,
    rng,
    *,
    batch_size=DEFAULT_BATCH_SIZE,
    num_train=10_000,
    num_test=5_000,
    capacities=DEFAULT_CAPACITIES,
    fast=False,
    n_jobs=-1,
) -> dict:
    """Sampler: ``num_train`` / ``num_test`` uniform points, as ``dci``'s, then ``dci_es``.

    The seed of the random features and of ``dci``'s classifiers is drawn from the metric's rng.
    """
    ct, ft = sample_codes(representation, data, num_train, rng, batch_size)
    cs, fs = sample_codes(representation, data, num_test, rng, batch_size)
    random_state = int(rng.integers(2**31 - 1))
    return dci_es(ct, ft, cs, fs, capacities=capacities, fast=fast, random_state=random_state, n_jobs=n_jobs)
