"""Weakly-supervised objectives (Locatello et al. 2020, "Weakly-Supervised Disentanglement Without
Compromises", ICML): β-VAEs trained on pairs of observations that differ in a few factors.

Both observations of a pair are encoded; on the latents judged *shared* by the pair, each
observation's posterior is replaced by an average of the two, the others are kept per
observation; each observation is then decoded from a sample of its (partly averaged) posterior.
The loss is β-VAE's, with reconstruction and KL the mean of the two observations':

    loss = ½ (E[−log p(x₁|z₁)] + E[−log p(x₂|z₂)]) + β · ½ (KL(q̃₁ ‖ p) + KL(q̃₂ ‖ p))

The averages (per latent j, posteriors N(μ₁, v₁) and N(μ₂, v₂)):

- GroupVAE (Hosoya 2019): μ = ½(μ₁ + μ₂), v = ½(v₁ + v₂);
- ML-VAE (Bouchacourt et al. 2018): v = 2 v₁ v₂ / (v₁ + v₂), μ = ½ v (μ₁/v₁ + μ₂/v₂), the
  precision-weighted mean of the product of the two Gaussians, whose own variance is
  v₁ v₂ / (v₁ + v₂) (so v is twice the product's).

Which latents are shared:

- adaptive (``ada-``): per pair and latent, δⱼ = v₁/v₂ + (μ₂ − μ₁)²/v₂ − 1 + log v₂ − log v₁ (twice
  KL(q₁ ‖ q₂)); the latents in the lower of two equal-width bins between the pair's smallest and
  largest δ are averaged, those in the upper bin (the midpoint included) kept apart. A pair whose δ
  are all equal averages every latent.
- labels (``-labels``): pairs differ in one factor (k = 1) whose index i is given; latent i is kept
  apart, all others are averaged.

The pairs (``untwine.data.pairs``) differ in exactly ``k`` factors, each changed to another
value; ``k = -1`` draws k per pair from 1 ... K − 1 (the paper's "k unknown").
"""

from __future__ import annotations

from typing import ClassVar

import torch

from ..data.pairs import UNKNOWN_K, check_k
from .beta_vae import BetaVAE

__all__ = [
    "WeakVAE",
    "AdaGVAE",
    "AdaMLVAE",
    "GVAELabels",
    "MLVAELabels",
    "group_average",
    "ml_average",
    "pair_divergence",
    "adaptive_mask",
    "label_mask",
    "share",
]


def group_average(mean1, logvar1, mean2, logvar2) -> tuple[torch.Tensor, torch.Tensor]:
    """GroupVAE's average of two diagonal Gaussians: the mean of the means and of the variances.

    Parameters
    ----------
    mean1, logvar1, mean2, logvar2
        The two posteriors' means and log-variances, the same shape.

    Returns
    -------
    tuple of torch.Tensor
        ``(mean, logvar)`` of N(½(μ₁ + μ₂), ½(v₁ + v₂)).
    """
    return 0.5 * (mean1 + mean2), torch.log(0.5 * (logvar1.exp() + logvar2.exp()))


def ml_average(mean1, logvar1, mean2, logvar2) -> tuple[torch.Tensor, torch.Tensor]:
    """ML-VAE's average of two diagonal Gaussians: the product's precision-weighted mean, twice its variance.

    Parameters
    ----------
    mean1, logvar1, mean2, logvar2
        The two posteriors' means and log-variances, the same shape.

    Returns
    -------
    tuple of torch.Tensor
        ``(mean, logvar)`` with variance v = 2 v₁ v₂ / (v₁ + v₂) and mean ½ v (μ₁/v₁ + μ₂/v₂).
    """
    var1, var2 = logvar1.exp(), logvar2.exp()
    var = 2 * var1 * var2 / (var1 + var2)
    return 0.5 * var * (mean1 / var1 + mean2 / var2), torch.log(var)


def pair_divergence(mean1, logvar1, mean2, logvar2) -> torch.Tensor:
    """Per latent, twice KL(N(μ₁, v₁) ‖ N(μ₂, v₂)): v₁/v₂ + (μ₂ − μ₁)²/v₂ − 1 + log v₂ − log v₁.

    Parameters
    ----------
    mean1, logvar1, mean2, logvar2
        The two posteriors' means and log-variances, (pairs, latents).

    Returns
    -------
    torch.Tensor
        (pairs, latents), ≥ 0.
    """
    var2 = logvar2.exp()
    return logvar1.exp() / var2 + (mean2 - mean1) ** 2 / var2 - 1 + logvar2 - logvar1


def adaptive_mask(divergence: torch.Tensor) -> torch.Tensor:
    """The latents each pair keeps apart: its divergences in the upper of two equal-width bins.

    Parameters
    ----------
    divergence
        (pairs, latents), from :func:`pair_divergence`.

    Returns
    -------
    torch.Tensor
        (pairs, latents) booleans: True where the latent is kept per observation (δ at or above the midpoint of
        the pair's smallest and largest δ, which differ), False where it is averaged.
    """
    low = divergence.min(dim=1, keepdim=True).values
    high = divergence.max(dim=1, keepdim=True).values
    return (divergence >= 0.5 * (low + high)) & (high > low)


def label_mask(labels: torch.Tensor, latents: int) -> torch.Tensor:
    """The latents each pair keeps apart when told its changed factor: latent ``labels[i]`` of pair i.

    Parameters
    ----------
    labels
        (pairs,) the index of the factor that changed in each pair.
    latents
        The number of latents (a factor index at or beyond it keeps no latent apart).

    Returns
    -------
    torch.Tensor
        (pairs, latents) booleans, True at the kept latent.
    """
    return labels.reshape(-1, 1) == torch.arange(latents, device=labels.device).reshape(1, -1)


def share(mean: torch.Tensor, logvar: torch.Tensor, keep: torch.Tensor, average) -> tuple[torch.Tensor, torch.Tensor]:
    """The posteriors of a batch of pairs after sharing: averaged where ``keep`` is False, their own elsewhere.

    Parameters
    ----------
    mean, logvar
        (2n, latents): the pairs' first observations, then their second ones.
    keep
        (n, latents) booleans, True where a latent is kept per observation.
    average
        :func:`group_average` or :func:`ml_average`.

    Returns
    -------
    tuple of torch.Tensor
        ``(mean, logvar)``, (2n, latents).
    """
    mean1, mean2 = mean.chunk(2)
    logvar1, logvar2 = logvar.chunk(2)
    shared_mean, shared_logvar = average(mean1, logvar1, mean2, logvar2)
    return (
        torch.cat([torch.where(keep, mean1, shared_mean), torch.where(keep, mean2, shared_mean)]),
        torch.cat([torch.where(keep, logvar1, shared_logvar), torch.where(keep, logvar2, shared_logvar)]),
    )


class WeakVAE(BetaVAE):
    """β-VAE on pairs with an average of the two posteriors on the shared latents (see the module docstring).

    Parameters
    ----------
    beta : float, default 1.0
        The weight β ≥ 0 of the KL.
    k : int
        Factors that differ within a training pair (1 ≤ k < K), or −1 to draw k per pair from 1 ... K − 1.

    Raises
    ------
    ValueError
        A ``beta`` that is not a finite non-negative number, a ``k`` that is not an integer; at training time, a
        ``k`` the dataset cannot give (:func:`untwine.data.pairs.check_k`).
    """

    paired = True
    #: "group" (GroupVAE) or "ml" (ML-VAE)
    averaging: ClassVar[str] = "group"

    def __init__(self, *, beta: float = 1.0, k: int = UNKNOWN_K):
        super().__init__(beta=beta)
        if isinstance(k, bool) or not isinstance(k, int) or (k < 1 and k != UNKNOWN_K):
            raise ValueError(
                f"hyperparameter k must be a positive integer (factors that differ within a pair) or "
                f"-1 (drawn per pair), got {k!r}"
            )
        self.k = k

    def configure(self, model, train_config, data) -> None:
        check_k(data, self.k)

    def keep(self, mean1, logvar1, mean2, logvar2, labels) -> torch.Tensor:
        """(pairs, latents) booleans: the latents kept per observation."""
        return adaptive_mask(pair_divergence(mean1, logvar1, mean2, logvar2))

    def aggregate(self, mean, logvar, labels):
        if mean.shape[0] % 2:
            raise ValueError(
                f"{self.name} trains on pairs: a batch of 2n observations, the pairs' first "
                f"observations then their second ones; got {mean.shape[0]} observations. Train it "
                f"with untwine.train (it draws pairs for paired objectives), not on single "
                f"observations"
            )
        mean1, mean2 = mean.chunk(2)
        logvar1, logvar2 = logvar.chunk(2)
        with torch.no_grad():
            keep = self.keep(mean1, logvar1, mean2, logvar2, labels)
        return share(mean, logvar, keep, ml_average if self.averaging == "ml" else group_average)


class AdaGVAE(WeakVAE):
    """Ada-GVAE: GroupVAE averaging on the latents an adaptive threshold judges shared."""

    name = "ada-gvae"
    paper = "Locatello et al. 2020, Weakly-Supervised Disentanglement Without Compromises, §4 (Ada-GVAE)"
    averaging = "group"


class AdaMLVAE(WeakVAE):
    """Ada-ML-VAE: ML-VAE averaging on the latents an adaptive threshold judges shared."""

    name = "ada-ml-vae"
    paper = "Locatello et al. 2020, Weakly-Supervised Disentanglement Without Compromises, §4 (Ada-ML-VAE)"
    averaging = "ml"


class _LabelledVAE(WeakVAE):
    """Pairs that differ in one factor whose index is given: latent i is kept apart for factor i."""

    uses_labels = True
    fixed = {
        "k": "it trains on pairs that differ in exactly one factor whose index it is given (k = 1); for other "
        "k use ada-gvae or ada-ml-vae with k"
    }

    def __init__(self, *, beta: float = 1.0):
        super().__init__(beta=beta, k=1)

    def keep(self, mean1, logvar1, mean2, logvar2, labels):
        if labels is None:
            raise ValueError(
                f"{self.name} needs the index of the changed factor of each pair (labels); train it "
                f"with untwine.train, which draws pairs with k = 1 and gives them"
            )
        return label_mask(labels, mean1.shape[1])


class GVAELabels(_LabelledVAE):
    """GroupVAE averaging, the changed factor of each pair given (k = 1)."""

    name = "gvae-labels"
    paper = "Locatello et al. 2020, Weakly-Supervised Disentanglement Without Compromises, §5 (GVAE, labels)"
    averaging = "group"


class MLVAELabels(_LabelledVAE):
    """ML-VAE averaging, the changed factor of each pair given (k = 1)."""

    name = "ml-vae-labels"
    paper = "Locatello et al. 2020, Weakly-Supervised Disentanglement Without Compromises, §5 (ML-VAE, labels)"
    averaging = "ml"
