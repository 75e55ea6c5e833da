"""InfoMEC: InfoM (modularity), InfoC (compactness) and InfoE (explicitness) of Hsu, Dorrell,
Whittington, Wu & Finn 2023, "Disentanglement via Latent Quantization" (NeurIPS 2023),
with the choices of the authors' evaluation code (kylehkhsu/latent_quantization,
``disentangle/metrics/infomec.py``) where the paper leaves one open; docs/metrics.md.

Normalised mutual information, factors s_i (i = 1..K, discrete) against latents z_j::

    NMI[i, j] = I(s_i; z_j) / H(s_i)                         (K, d), nats over nats

* a *discrete* latent: exact plug-in counts (the contingency table of s_i and z_j, as
  ``sklearn.metrics.mutual_info_score``);
* a *continuous* latent: the k-nearest-neighbour estimate of the MI between a discrete and a
  continuous variable (Ross 2014, after Kraskov et al. 2004), scikit-learn's
  ``mutual_info_classif`` with ``n_neighbors=10`` (the authors' value);
* H(s_i): the plug-in entropy of the factor over the sample.

A latent is *discrete* when it takes at most ``max_discrete_values`` (32) distinct values and at
most half as many as there are points (so a small sample of a continuous code is never mistaken
for a discrete one); ``discrete=True``/``False`` overrides the detection for every latent.

Active latents (the authors' rule): a discrete latent is active when it takes at least two values;
a continuous latent when its range (max − min) exceeds ``active_fraction`` (1/20) of the largest
range among the continuous latents. A latent with a single distinct value is never active and its
NMI column is exactly 0; NMI entries below 1e-12 (the rounding noise of an exactly zero plug-in
MI) are set to 0. With L active latents and NMI restricted to them::

    InfoM = ( mean_j [ max_i NMI[i, j] / sum_i NMI[i, j] ] − 1/K ) / (1 − 1/K)
    InfoC = ( mean_i [ max_j NMI[i, j] / sum_j NMI[i, j] ] − 1/L ) / (1 − 1/L)

each in [0, 1]: 1 when every active latent carries at most one factor (InfoM) or every factor is
carried by at most one active latent (InfoC). A latent (factor) with an all-zero NMI column (row)
counts as spread evenly, ratio 1/K (1/L), so it adds 0 before the rescaling (the authors' code
gives NaN). With K = 1, InfoM is 1; with L = 1, InfoC is 1 (nothing can be shared).

InfoE (predictive information, Xu et al. 2020, normalised by the factor entropy)::

    InfoE = mean_i ( H(s_i) − CE_i ) / H(s_i)

CE_i is the in-sample mean cross-entropy (nats) of an unpenalised multinomial logistic regression
(lbfgs, at most 100 iterations, as the authors') from the latents to s_i: continuous latents
standardised, discrete latents one-hot; latents with a single value are left out (they carry
nothing). H(s_i) is what the same regression reaches without input (the intercept alone fits the
factor's empirical frequencies). The authors weight classes ("balanced") and normalise by the
balanced null model; untwine fits unweighted, which agrees for uniformly sampled factors.

Scale-free ratios: on codes that carry (almost) no information, the small positive NMI entries
of the kNN estimate still have a max/sum, so InfoM and InfoC are not near 0 there; read them with
InfoE and the NMI matrix.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_selection import mutual_info_classif
from sklearn.linear_model import LogisticRegression

from ._discrete import discrete_entropy, discrete_mutual_info, relabel
from ._sampling import DEFAULT_BATCH_SIZE, sample_codes
from ._validate import CollapsedRepresentation, check_codes_factors

_ZERO = 1e-12

__all__ = [
    "infomec",
    "sample_infomec",
    "normalized_mutual_info",
    "active_latents",
    "discrete_latents",
    "modularity_compactness",
    "explicitness",
]


def discrete_latents(codes: np.ndarray, discrete: bool | None = None, max_discrete_values: int = 32) -> np.ndarray:
    """Which latents are scored as discrete, (d,) bool.

    ``discrete=None``: a latent with at most ``max_discrete_values`` distinct values, and at most
    half as many as there are points; ``True``/``False``: every latent.
    """
    n, d = codes.shape
    if discrete is not None:
        return np.full(d, bool(discrete))
    counts = np.array([len(np.unique(codes[:, j])) for j in range(d)])
    return (counts <= max_discrete_values) & (2 * counts <= n)


def active_latents(codes: np.ndarray, discrete: np.ndarray, active_fraction: float = 1 / 20) -> np.ndarray:
    """Active latents, (d,) bool: discrete ones with two or more values; continuous ones whose range
    exceeds ``active_fraction`` (>= 0) of the largest continuous range (so a range of 0 never)."""
    ranges = codes.max(axis=0) - codes.min(axis=0)
    largest = ranges[~discrete].max(initial=0.0)
    return np.where(discrete, ranges > 0, ranges > active_fraction * largest)


def normalized_mutual_info(
    codes: np.ndarray, factors: np.ndarray, discrete: np.ndarray, n_neighbors: int = 10, random_state: int = 0
) -> np.ndarray:
    """NMI[i, j] = I(s_i; z_j) / H(s_i), (K, d): exact counts for discrete latents, the kNN
    estimate (``mutual_info_classif``) for continuous ones, 0 for a latent with one value."""
    n, d = codes.shape
    entropy = discrete_entropy(factors)
    mi = np.zeros((factors.shape[1], d))
    varies = codes.max(axis=0) > codes.min(axis=0)
    if discrete.any():  # a single-valued latent's table has one row: MI exactly 0
        mi[:, discrete] = discrete_mutual_info(relabel(codes[:, discrete])[0], factors).T
    knn = ~discrete & varies
    if knn.any():
        for i in range(factors.shape[1]):
            mi[i, knn] = mutual_info_classif(
                codes[:, knn],
                factors[:, i],
                discrete_features=False,
                n_neighbors=n_neighbors,
                random_state=random_state,
            )
    nmi = mi / entropy[:, None]
    # the plug-in MI of exactly independent counts is 0 but sums to rounding noise (1e-16), whose max/sum
    # would be arbitrary: below _ZERO it is 0
    return np.where(np.abs(nmi) < _ZERO, 0.0, nmi)


def _concentration(nmi: np.ndarray, axis: int) -> float:
    """(mean over the other axis of max/sum along ``axis`` − 1/m) / (1 − 1/m), m = size of ``axis``;
    an all-zero line counts as 1/m; 1 when m = 1."""
    m = nmi.shape[axis]
    if m == 1:
        return 1.0
    total = nmi.sum(axis=axis)
    ratio = np.divide(nmi.max(axis=axis), total, out=np.full(total.shape, 1.0 / m), where=total > 0)
    return float((ratio.mean() - 1.0 / m) / (1.0 - 1.0 / m))


def modularity_compactness(nmi: np.ndarray) -> tuple[float, float]:
    """(InfoM, InfoC) of an NMI matrix (K factors, L active latents)."""
    return _concentration(nmi, axis=0), _concentration(nmi, axis=1)


def _design(codes: np.ndarray, discrete: np.ndarray) -> np.ndarray:
    """Standardised continuous latents and one-hot discrete ones; single-valued latents left out."""
    parts = []
    for j in range(codes.shape[1]):
        col = codes[:, j]
        values, inverse = np.unique(col, return_inverse=True)
        if len(values) < 2:
            continue
        if discrete[j]:
            parts.append(np.eye(len(values))[inverse.ravel()])
        else:
            parts.append(((col - col.mean()) / col.std())[:, None])
    return np.concatenate(parts, axis=1)


def _cross_entropy(x: np.ndarray, y: np.ndarray, max_iter: int) -> float:
    """In-sample mean cross-entropy (nats) of an unpenalised multinomial logistic regression."""
    model = LogisticRegression(C=np.inf, solver="lbfgs", max_iter=max_iter, tol=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, y)
    scores = model.decision_function(x)
    if scores.ndim == 1:  # two classes: the logit of the second against the first
        scores = np.stack([np.zeros_like(scores), scores], axis=1)
    log_proba = scores - logsumexp(scores, axis=1, keepdims=True)
    column = np.searchsorted(model.classes_, y)
    return float(-log_proba[np.arange(len(y)), column].mean())


def explicitness(codes: np.ndarray, factors: np.ndarray, discrete: np.ndarray, max_iter: int) -> np.ndarray:
    """Per factor, (H(s_i) − CE_i) / H(s_i), (K,)."""
    x = _design(codes, discrete)
    entropy = discrete_entropy(factors)
    return np.array(
        [(entropy[i] - _cross_entropy(x, factors[:, i], max_iter)) / entropy[i] for i in range(len(entropy))]
    )


def infomec(
    codes: np.ndarray,
    factors: np.ndarray,
    *,
    discrete: bool | None = None,
    max_discrete_values: int = 32,
    n_neighbors: int = 10,
    active_fraction: float = 1 / 20,
    max_iter: int = 100,
    random_state: int = 0,
) -> dict:
    """InfoM, InfoC and InfoE of ``codes`` (n, d) against integer ``factors`` (n, K).

    Hsu et al. 2023, "Disentanglement via Latent Quantization", with the defaults of the
    authors' code (module docstring; docs/metrics.md).

    Parameters
    ----------
    codes : np.ndarray
        The representation, (n, d).
    factors : np.ndarray
        Integer factor indices, (n, K); every factor must take at least two values.
    discrete : bool, optional
        ``None`` (default): detect per latent (at most ``max_discrete_values`` distinct values and
        at most n/2 of them: discrete, scored by exact counts); ``True``/``False``: every latent.
    max_discrete_values : int, default 32
        The most distinct values a latent detected as discrete may take.
    n_neighbors : int, default 10
        Neighbours of the kNN MI estimate for continuous latents (the authors' value).
    active_fraction : float, default 1/20
        A continuous latent is active when its range exceeds this fraction of the largest one.
    max_iter : int, default 100
        L-BFGS iterations of InfoE's logistic regressions (the authors' value).
    random_state : int, default 0
        Seed of the kNN estimator's jitter (scikit-learn adds 1e-10-scale noise).

    Returns
    -------
    dict
        ``infom``, ``infoc``, ``infoe`` (floats in [0, 1], up to estimation error),
        ``infoe_per_factor`` (K,), ``nmi`` (K, d) over all latents, ``active`` (d,) bool,
        ``discrete`` (d,) bool, ``num_active`` (int).

    Raises
    ------
    ValueError
        If ``codes`` is not a finite 2-D array of at least 2 points, ``factors`` is not an integer
        array (n, K) with as many points, a factor takes a single value, or no latent is active.
    """
    codes, factors = check_codes_factors(codes, factors)
    if factors.shape[1] == 0 or codes.shape[1] == 0:
        raise ValueError(
            f"infomec needs at least one factor and one latent, got factors {factors.shape}, codes {codes.shape}"
        )
    constant = np.flatnonzero(factors.max(axis=0) == factors.min(axis=0)).tolist()
    if constant:
        raise ValueError(
            f"factor(s) {constant} take a single value in these {codes.shape[0]} points (entropy 0, NMI undefined); "
            "sample more points or leave those factors out"
        )
    if not 0 <= active_fraction < 1:
        raise ValueError(f"active_fraction must be in [0, 1), got {active_fraction}")
    is_discrete = discrete_latents(codes, discrete, max_discrete_values)
    active = active_latents(codes, is_discrete, active_fraction)
    if not active.any():
        raise CollapsedRepresentation(
            f"no active latent: all {codes.shape[1]} latents take a single value over these {codes.shape[0]} points "
            "(a collapsed or constant representation, which InfoMEC cannot score); check the representation, "
            "or pass the codes of a trained model"
        )
    nmi = normalized_mutual_info(codes, factors, is_discrete, n_neighbors, random_state)
    infom, infoc = modularity_compactness(nmi[:, active])
    per_factor = explicitness(codes, factors, is_discrete, max_iter)
    return {
        "infom": infom,
        "infoc": infoc,
        "infoe": float(per_factor.mean()),
        "infoe_per_factor": per_factor,
        "nmi": nmi,
        "active": active,
        "discrete": is_discrete,
        "num_active": int(active.sum()),
    }


def sample_infomec(
    representation,
    data,
    rng: np.random.Generator,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    num_train: int = 10_000,
    discrete: bool | None = None,
    n_neighbors: int = 10,
    active_fraction: float = 1 / 20,
    max_iter: int = 100,
) -> dict:
    """``num_train`` uniformly drawn points (10,000 by default); the kNN jitter's seed is drawn from
    the metric's rng."""
    codes, factors = sample_codes(representation, data, num_train, rng, batch_size)
    random_state = int(rng.integers(2**31 - 1))
    return infomec(
        codes,
        factors,
        discrete=discrete,
        n_neighbors=n_neighbors,
        active_fraction=active_fraction,
        max_iter=max_iter,
        random_state=random_state,
    )
