"""A plain deterministic autoencoder: the baseline of Zietlow et al. 2021 (seed 002)."""

from __future__ import annotations

from .vae import Objective


class Autoencoder(Objective):
    """loss = −log p(x | z = μ(x)): reconstruction only, from the deterministic code μ(x).

    The deterministic autoencoder baseline.

    No noise and no prior: the encoder's mean is the code, which is also the
    representation that metrics score. (The encoder's log-variance output is unused.)
    It has no hyperparameters.
    """

    name = "ae"
    paper = "Zietlow et al. 2021, Demystifying Inductive Biases for β-VAE Based Architectures (AE baseline)"
    deterministic = True

    def __init__(self):
        super().__init__()

    def regularizer(self, step):
        return {}, {}
