"""AnnealedVAE (Burgess et al. 2018): reconstruction + γ·|KL − C| with a growing capacity C."""

from __future__ import annotations

from ..validate import check_count, check_positive
from .vae import Objective


class AnnealedVAE(Objective):
    """loss = E[−log p(x|z)] + γ · |KL(q(z|x) ‖ p(z)) − C|, KL summed over latents and averaged over the batch.

    The AnnealedVAE objective (Burgess et al. 2018): the KL pulled towards a growing capacity C.

    The capacity C grows linearly from 0 at step 0 to ``c_max`` nats at step
    ``iteration_threshold`` and stays there: C = min(c_max, c_max · step / iteration_threshold).
    Reference (Locatello et al. 2019): γ = 1000, C over 100,000 steps,
    C_max ∈ {5, 10, 25, 50, 75, 100}; untwine's default C_max is 25.

    Parameters
    ----------
    gamma : float, default 1000.0
        The weight γ ≥ 0 of |KL − C|.
    c_max : float, default 25.0
        The final capacity C_max, in nats.
    iteration_threshold : int, default 100000
        The step at which C reaches ``c_max``.

    Raises
    ------
    ValueError
        If ``gamma`` or ``c_max`` is not a finite non-negative number, or
        ``iteration_threshold`` is not a whole number ≥ 0.
    """

    name = "annealed-vae"
    paper = "Burgess et al. 2018, Understanding disentangling in β-VAE, Eq. 8"

    def __init__(self, *, gamma: float = 1000.0, c_max: float = 25.0, iteration_threshold: int = 100_000):
        super().__init__()
        self.gamma = check_positive("hyperparameter gamma", gamma, zero_ok=True)
        self.c_max = check_positive("hyperparameter c_max", c_max, zero_ok=True)
        self.iteration_threshold = check_count(
            "hyperparameter iteration_threshold (steps)", iteration_threshold, zero_ok=True
        )

    def capacity(self, step: int) -> float:
        """C at ``step`` (nats)."""
        if self.iteration_threshold == 0:
            return self.c_max
        return min(self.c_max, self.c_max * step / self.iteration_threshold)

    def regularizer(self, step):
        capacity = self.capacity(step.step)
        return {"capacity_kl": self.gamma * (step.kl - capacity).abs()}, {
            "kl": float(step.kl.detach()),
            "capacity": capacity,
        }
