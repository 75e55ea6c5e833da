"""FactorVAE score (Kim & Mnih 2018, "Disentangling by Factorising", Sec. 4), as the
reference protocol computes it (disentanglement_lib ``factor_vae.py``).

Global variance of each code over 10,000 points (ddof 1); codes with std < 0.05
are pruned. A vote fixes one factor k (chosen uniformly) at the value of the
first of ``group_size`` = 64 random factor vectors, takes each active code's
variance (ddof 1) over the group divided by its global variance, and votes
(k, argmin code). The majority-vote classifier maps each code to the factor it got
most votes for; accuracy = votes it gets right / all votes (10,000 train,
5,000 eval).

``num_active_dims`` is the number of active codes; the reference reports
``len`` of its boolean mask, i.e. always d (when any code is active). With no
active code the reference returns accuracies 0, and so does this.
"""

from __future__ import annotations

import numpy as np

from ._sampling import DEFAULT_BATCH_SIZE, encode_factors, sample_codes, sample_factors

__all__ = ["factor_vae_votes", "factor_vae_score", "sample_factor_vae"]


def draw_factor_vae_factors(data, num_votes: int, group_size: int, rng: np.random.Generator):
    """(fixed factor (n,), factors (n, g, K)) in the reference's draw order."""
    k = len(data.factor_sizes)
    labels = np.empty(num_votes, dtype=np.int64)
    groups = np.empty((num_votes, group_size, k), dtype=np.int64)
    for v in range(num_votes):
        index = int(rng.integers(k))
        f = sample_factors(data, group_size, rng)
        f[:, index] = f[0, index]
        labels[v], groups[v] = index, f
    return labels, groups


def factor_vae_votes(
    codes_groups: np.ndarray, labels: np.ndarray, global_variances: np.ndarray, active: np.ndarray, num_factors: int
) -> np.ndarray:
    """Vote matrix (K factors, d codes) from grouped codes (n, g, d)."""
    local = np.var(codes_groups[:, :, active], axis=1, ddof=1)
    winner = np.flatnonzero(active)[np.argmin(local / global_variances[active], axis=1)]
    votes = np.zeros((num_factors, codes_groups.shape[2]), dtype=np.int64)
    np.add.at(votes, (labels, winner), 1)
    return votes


def factor_vae_score(train_votes: np.ndarray, eval_votes: np.ndarray) -> tuple[float, float]:
    """Majority-vote classifier accuracies from FactorVAE vote matrices.

    Parameters
    ----------
    train_votes : np.ndarray
        Training votes (K, d): how often factor k was fixed when code j varied least.
    eval_votes : np.ndarray
        Evaluation votes (K, d).

    Returns
    -------
    tuple of float
        (train accuracy, eval accuracy) of the classifier that maps each code to the factor it
        got most training votes for.
    """
    classifier = np.argmax(train_votes, axis=0)
    cols = np.arange(train_votes.shape[1])
    return (
        float(train_votes[classifier, cols].sum() / train_votes.sum()),
        float(eval_votes[classifier, cols].sum() / eval_votes.sum()),
    )


def _votes(representation, data, rng, num_votes, group_size, global_var, active, batch_size):
    labels, groups = draw_factor_vae_factors(data, num_votes, group_size, rng)
    k = groups.shape[2]
    per_chunk = max(1, batch_size // group_size)
    votes = 0
    for start in range(0, num_votes, per_chunk):
        stop = min(num_votes, start + per_chunk)
        codes = encode_factors(representation, data, groups[start:stop].reshape(-1, k), rng, batch_size)
        votes = votes + factor_vae_votes(
            codes.reshape(stop - start, group_size, -1), labels[start:stop], global_var, active, k
        )
    return votes


def sample_factor_vae(
    representation,
    data,
    rng,
    *,
    batch_size=DEFAULT_BATCH_SIZE,
    num_train=10_000,
    num_eval=5_000,
    num_variance_estimate=10_000,
    group_size=64,
    prune_threshold=0.05,
) -> dict:
    """Reference sampler (``group_size`` is the reference's ``batch_size`` = 64)."""
    codes, _ = sample_codes(representation, data, num_variance_estimate, rng, batch_size)
    global_var = np.var(codes, axis=0, ddof=1)
    active = np.sqrt(global_var) >= prune_threshold
    if not active.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}
    train = _votes(representation, data, rng, num_train, group_size, global_var, active, batch_size)
    evaluation = _votes(representation, data, rng, num_eval, group_size, global_var, active, batch_size)
    train_acc, eval_acc = factor_vae_score(train, evaluation)
    return {"train_accuracy": train_acc, "eval_accuracy": eval_acc, "num_active_dims": int(active.sum())}
