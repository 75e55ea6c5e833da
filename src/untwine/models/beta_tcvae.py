"""β-TCVAE (Chen et al. 2018): penalise the total correlation of the aggregate posterior."""

from __future__ import annotations

import numpy as np

from ..estimators import check_estimator, decompose_kl
from ..validate import check_count, check_positive
from .vae import Objective


class BetaTCVAE(Objective):
    """loss = E[−log p(x|z)] + KL(q(z|x) ‖ p(z)) + (β − 1)·TC, TC estimated on the minibatch.

    The β-TCVAE objective (Chen et al. 2018): the total correlation of q(z) weighted by β.

    This is the form of the reference library (Locatello et al. 2019): the KL is the
    analytic one, and (β − 1)·TC adds the extra TC weight. With
    ``full_decomposition=true`` the KL is replaced by its three minibatch-estimated
    parts with separate weights (Chen et al. 2018, Eq. 4):

        loss = E[−log p(x|z)] + α·I_q(z; n) + β·TC + γ·Σ_k KL(q(z_k) ‖ p(z_k)).

    ``estimator``: ``mws`` (minibatch weighted sampling, §4.1) or ``mss`` (minibatch
    stratified sampling, Appendix C); see ``untwine.estimators``. MSS needs the
    dataset size N: the trainer passes the dataset to ``configure``, which takes its
    number of distinct observations (``data.num_observations``); a non-zero
    ``dataset_size`` hyperparameter overrides it.
    Reference grid: β ∈ {1, 2, 4, 6, 8, 10}; untwine's default β is 6.

    Parameters
    ----------
    beta : float, default 6.0
        The weight β ≥ 0 of the total correlation.
    estimator : {"mws", "mss"}, default "mws"
        The minibatch estimator of log q(z).
    full_decomposition : bool, default False
        Replace the KL by its three estimated parts, weighted by ``alpha``, ``beta`` and ``gamma``.
    alpha : float, default 1.0
        The weight of the index-code MI (only with ``full_decomposition``).
    gamma : float, default 1.0
        The weight of the dimension-wise KL (only with ``full_decomposition``).
    dataset_size : int, default 0
        The dataset size N for MSS; 0 takes it from the dataset.

    Raises
    ------
    ValueError
        If a weight is not a finite non-negative number, ``estimator`` is unknown,
        ``full_decomposition`` is not a bool, ``alpha`` or ``gamma`` differs from 1 without
        ``full_decomposition``, or ``dataset_size`` is not a whole number ≥ 0.
    """

    name = "beta-tcvae"
    paper = "Chen et al. 2018, Isolating Sources of Disentanglement in VAEs, Eq. 4 (MWS §4.1, MSS App. C)"

    def __init__(
        self,
        *,
        beta: float = 6.0,
        estimator: str = "mws",
        full_decomposition: bool = False,
        alpha: float = 1.0,
        gamma: float = 1.0,
        dataset_size: int = 0,
    ):
        super().__init__()
        self.beta = check_positive("hyperparameter beta", beta, zero_ok=True)
        self.estimator = check_estimator(estimator)
        if not isinstance(full_decomposition, bool):
            raise ValueError(f"hyperparameter full_decomposition must be true or false, got {full_decomposition!r}")
        self.full_decomposition = full_decomposition
        self.alpha = check_positive("hyperparameter alpha", alpha, zero_ok=True)
        self.gamma = check_positive("hyperparameter gamma", gamma, zero_ok=True)
        if not full_decomposition and (self.alpha != 1.0 or self.gamma != 1.0):
            raise ValueError(
                "alpha (index-code MI) and gamma (dimension-wise KL) weigh the terms of the full "
                "decomposition; set full_decomposition=true to use them"
            )
        self.dataset_size = check_count(
            "hyperparameter dataset_size (0: take it from the dataset)", dataset_size, zero_ok=True
        )
        self._dataset_size = self.dataset_size or None

    def configure(self, model, train_config, data) -> None:
        """Take the dataset size N for MSS from the dataset, unless the hyperparameter set it: its number of
        distinct observations, ``data.num_observations`` (48,600 for SmallNORB), or the size of its finite
        factor space for a dataset that does not say."""
        if not self.dataset_size and data is not None:
            size = getattr(data, "num_observations", None)
            if size is None:
                size = np.prod(data.factor_sizes, dtype=np.int64)
            self._dataset_size = int(size)

    def regularizer(self, step):
        if self.estimator == "mss" and self._dataset_size is None:
            raise ValueError(
                "the MSS estimator needs the dataset size: train through untwine.train (which passes "
                "the dataset to configure), call configure(model, train_config, data), or set the "
                "hyperparameter dataset_size"
            )
        parts = decompose_kl(step.z, step.mean, step.logvar, estimator=self.estimator, dataset_size=self._dataset_size)
        logs = {key: float(value.detach()) for key, value in parts.items()}
        if self.full_decomposition:
            return {
                "weighted_mi": self.alpha * parts["index_code_mi"],
                "weighted_tc": self.beta * parts["total_correlation"],
                "weighted_dwkl": self.gamma * parts["dimension_wise_kl"],
            }, logs
        return {"kl": step.kl, "weighted_tc": (self.beta - 1.0) * parts["total_correlation"]}, logs
