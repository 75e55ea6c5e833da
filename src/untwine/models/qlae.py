"""QLAE (Hsu, Dorrell, Whittington, Wu & Finn 2023): an autoencoder whose latents are quantized to learned
scalar codebooks, one per latent, under strong weight decay.

The values follow the paper and the authors' code (github.com/kylehkhsu/latent_quantization;
``disentangle/latents/quantized.py``, ``disentangle/models/quantized_ae.py``, ``disentangle/models/ae.py``
and ``configs/model_partial/quantized_ae.yaml``): 10 values per latent initialised at
``linspace(-0.5, 0.5, 10)``, the nearest value by absolute distance (the first on a tie), straight-through
gradients, quantization and commitment weights 0.01, AdamW weight decay 0.1 on every weight but the biases
and the codebooks. docs/objectives.md (section ``qlae``) gives the formulas and where untwine differs.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import nn

from ..validate import check_count, check_positive
from .vae import Objective, Step

#: where each latent's codebook starts: evenly spaced values in [LOW, HIGH] (the authors' ``jnp.linspace(-0.5,
#: 0.5, n)``)
LOW, HIGH = -0.5, 0.5


def _check_codebook_size(value) -> int:
    """``value`` as an int, if it is a whole number ≥ 2; else an error that names the fix."""
    whole = not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)
    if not whole or int(value) != value or value < 2:
        raise ValueError(
            f"hyperparameter codebook_size must be a whole number of values per latent, at least 2, got {value!r}: "
            f"a codebook of one value maps every input to the same code; set codebook_size = 2 or more "
            f"(--param codebook_size=10, the paper's value)"
        )
    return int(value)


class ScalarCodebooks(nn.Module):
    """One learnable codebook of scalar values per latent; each latent goes to the nearest value of its own.

    Parameters
    ----------
    latent_dim : int
        The number of latents d.
    size : int, default 10
        Values per codebook K (at least 2).

    Attributes
    ----------
    values : nn.Parameter
        (d, K): row j is latent j's codebook, initialised to K evenly spaced values in [−0.5, 0.5].
    """

    def __init__(self, latent_dim: int, size: int = 10):
        super().__init__()
        latent_dim = check_count("latent_dim", latent_dim)
        size = _check_codebook_size(size)
        self.values = nn.Parameter(torch.linspace(LOW, HIGH, size).repeat(latent_dim, 1))

    def indices(self, z: torch.Tensor) -> torch.Tensor:
        """The index of each latent's nearest codebook value, (n, d) int64 (the first on a tie)."""
        return (z.detach().unsqueeze(-1) - self.values.detach()).abs().argmin(-1)

    def grid(self) -> list[torch.Tensor]:
        """Each latent's values, sorted (``VAE``'s quantizer protocol): row j of ``values``, detached."""
        return [row.sort().values for row in self.values.detach()]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """The nearest codebook values q (n, d); their gradient reaches ``values`` only (none to ``z``)."""
        return self.values.gather(1, self.indices(z).T).T


class QLAE(Objective):
    """loss = recon(x | ẑ) + λ_q·P·mean_j (sg(z_j) − q_j)² + λ_c·P·mean_j (z_j − sg(q_j))², ẑ = straight-through q.

    The quantized-latent autoencoder of Hsu et al. (2023, "Disentanglement via Latent Quantization",
    NeurIPS): the encoder's mean z = μ(x) (deterministic, no noise, no prior) is quantized latent by latent
    to the nearest value q_j of latent j's own learnable scalar codebook; the decoder sees q through the
    straight-through estimator (forward q, gradient the identity to z). The quantization term moves the
    codebooks towards the codes, the commitment term the codes towards their values. The model's AdamW
    optimiser applies decoupled weight decay ``weight_decay`` to every weight but the biases and the
    codebooks (the authors' parameter groups).

    P is the number of entries of one observation (e.g. 4096 for 64×64 greyscale): the authors' loss is
    the per-pixel *mean* cross-entropy plus the per-latent means, untwine's reconstruction is the per-pixel
    *sum*, so the terms are scaled by P and the whole loss is P times the authors'. Adam(W)'s updates are
    invariant to that scale (up to ε), so the weights 0.01 mean what they mean in the authors' configs.

    The representation is the quantized code q(μ(x)) (``VAE.code``); the paper uses twice as many latents as
    factors (``latent_dim``).

    Parameters
    ----------
    codebook_size : int, default 10
        Values per latent's codebook K, at least 2 (the paper's 10).
    quantization_weight : float, default 0.01
        λ_q ≥ 0, the weight of the quantization term (the authors' ``lambdas.quantization``).
    commitment_weight : float, default 0.01
        λ_c ≥ 0, the weight of the commitment term (the authors' ``lambdas.commitment``).
    weight_decay : float, default 0.1
        AdamW's decoupled weight decay ≥ 0 (the authors' ``lambdas.l2``); 0 trains with plain Adam.

    Raises
    ------
    ValueError
        If ``codebook_size`` is not a whole number ≥ 2, or a weight is not a finite non-negative number.
    """

    name = "qlae"
    paper = "Hsu et al. 2023, Disentanglement via Latent Quantization (NeurIPS); values from the authors' code"
    deterministic = True

    def __init__(
        self,
        *,
        codebook_size: int = 10,
        quantization_weight: float = 0.01,
        commitment_weight: float = 0.01,
        weight_decay: float = 0.1,
    ):
        super().__init__()
        self.codebook_size = _check_codebook_size(codebook_size)
        self.quantization_weight = check_positive(
            "hyperparameter quantization_weight", quantization_weight, zero_ok=True
        )
        self.commitment_weight = check_positive("hyperparameter commitment_weight", commitment_weight, zero_ok=True)
        self.weight_decay = check_positive("hyperparameter weight_decay", weight_decay, zero_ok=True)

    def make_quantizer(self, latent_dim: int) -> ScalarCodebooks:
        return ScalarCodebooks(latent_dim, self.codebook_size)

    def regularizer(self, step: Step):
        if step.quantized is None:
            raise RuntimeError(
                "QLAE needs a model with scalar codebooks: build it with untwine.models.build_model (or "
                "VAE(..., quantizer=QLAE().make_quantizer(latent_dim)))"
            )
        scale = step.x[0].numel()
        quantization = (step.mean.detach() - step.quantized).pow(2).mean()
        commitment = (step.mean - step.quantized.detach()).pow(2).mean()
        terms = {
            "quantization": self.quantization_weight * scale * quantization,
            "commitment": self.commitment_weight * scale * commitment,
        }
        return terms, {"quantization_error": float(commitment.detach())}
