"""β-VAE (Higgins et al. 2017): reconstruction + β·KL(q(z|x) ‖ N(0, I)).

β = 1 is the plain VAE of Kingma & Welling (2014).
"""

from __future__ import annotations

from ..validate import check_positive
from .vae import Objective


class BetaVAE(Objective):
    """loss = E[−log p(x|z)] + β · KL(q(z|x) ‖ p(z)), KL summed over latents, mean over the batch.

    The β-VAE objective (Higgins et al. 2017): the ELBO with the KL weighted by β.

    Reference grid (Locatello et al. 2019): β ∈ {1, 2, 4, 6, 8, 16}.

    Parameters
    ----------
    beta : float, default 1.0
        The weight β ≥ 0 of the KL.

    Raises
    ------
    ValueError
        If ``beta`` is not a finite non-negative number.
    """

    name = "beta-vae"
    paper = "Higgins et al. 2017, β-VAE, Eq. 4"

    def __init__(self, *, beta: float = 1.0):
        super().__init__()
        self.beta = check_positive("hyperparameter beta", beta, zero_ok=True)

    def regularizer(self, step):
        return {"beta_kl": self.beta * step.kl}, {}


class VanillaVAE(BetaVAE):
    """The plain VAE (Kingma & Welling 2014): β-VAE with β = 1.

    It has no hyperparameters.
    """

    name = "vae"
    paper = "Kingma & Welling 2014, Eq. 10"

    def __init__(self):
        super().__init__(beta=1.0)
