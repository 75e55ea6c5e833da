"""FactorVAE (Kim & Mnih 2018): a discriminator estimates the total correlation."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ..validate import check_positive
from .vae import VAE, Objective, Step


class Discriminator(nn.Module):
    """The FactorVAE discriminator: an MLP with leaky ReLUs (slope 0.2) and 2 logits.

    Logit 0: "z comes from q(z)"; logit 1: "z comes from Π_k q(z_k)" (a permuted batch).
    The reference library's discriminator (Locatello et al. 2019) has 6 hidden layers of 1000
    units.

    Parameters
    ----------
    latent_dim : int
        The number of latents d (the input width).
    hidden : int, default 1000
        Units per hidden layer.
    layers : int, default 6
        Hidden layers.
    """

    def __init__(self, latent_dim: int, hidden: int = 1000, layers: int = 6):
        super().__init__()
        modules: list[nn.Module] = []
        width = latent_dim
        for _ in range(layers):
            modules += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
            width = hidden
        modules.append(nn.Linear(width, 2))
        self.net = nn.Sequential(*modules)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def permute_dims(z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shuffle each latent dimension independently across the batch: samples of Π_k q(z_k)."""
    keys = torch.rand(z.shape, generator=generator, device=z.device)
    return torch.gather(z, 0, torch.argsort(keys, dim=0))


class FactorVAE(Objective):
    """loss = E[−log p(x|z)] + KL(q(z|x) ‖ p(z)) + γ·TC, TC ≈ E_q(z)[D_0(z) − D_1(z)] (logit difference).

    The FactorVAE objective (Kim & Mnih 2018): the total correlation estimated by a discriminator.

    The discriminator D has its own Adam optimiser (lr ``discriminator_lr``, β1 0.5,
    β2 0.9) and is trained after every VAE step (``auxiliary_step``) to tell the
    batch's z ~ q(z) (class 0) from the same batch with each dimension permuted
    independently (class 1), by cross-entropy. As in the reference library the
    discriminator sees the same batch as the VAE (Kim & Mnih's Algorithm 2 draws a
    second one). Gradients are kept apart: the VAE's TC term runs D with detached
    parameters (D gets no gradient from it), and D's loss sees detached codes (the
    encoder gets no gradient from it).
    Reference grid: γ ∈ {10, 20, 30, 40, 50, 100}; untwine's default γ is 10.

    Parameters
    ----------
    gamma : float, default 10.0
        The weight γ ≥ 0 of the total correlation.
    discriminator_lr : float, default 1e-4
        The learning rate of the discriminator's optimiser.

    Raises
    ------
    ValueError
        If ``gamma`` is not a finite non-negative number, or ``discriminator_lr`` not a finite
        positive one.
    """

    name = "factor-vae"
    paper = "Kim & Mnih 2018, Disentangling by Factorising, Eq. 2 and Algorithm 2"
    #: the discriminator's hidden width and depth (the reference's 6 × 1000; a subclass may change them)
    discriminator_hidden = 1000
    discriminator_layers = 6

    def __init__(self, *, gamma: float = 10.0, discriminator_lr: float = 1e-4):
        super().__init__()
        self.gamma = check_positive("hyperparameter gamma", gamma, zero_ok=True)
        self.discriminator_lr = check_positive("hyperparameter discriminator_lr", discriminator_lr)
        self.discriminator: Discriminator | None = None
        self._optimizer: torch.optim.Optimizer | None = None

    def configure(self, model: VAE, train_config, data) -> None:
        """Build the discriminator (weights from the run's seed; seed 0 without a train config) and its
        optimiser."""
        seed = 0 if train_config is None else int(train_config.seed)
        device = next(model.parameters()).device
        with torch.random.fork_rng(devices=[]):
            # A stream of its own, so the discriminator does not share the VAE's initial draws.
            torch.manual_seed(int(np.random.SeedSequence([seed, 0xD15C]).generate_state(1)[0]))
            self.discriminator = Discriminator(
                model.latent_dim, self.discriminator_hidden, self.discriminator_layers
            ).to(device)
        self._optimizer = torch.optim.Adam(
            self.discriminator.parameters(), lr=self.discriminator_lr, betas=(0.5, 0.9), fused=True
        )

    def _discriminator(self) -> Discriminator:
        if self.discriminator is None:
            raise RuntimeError(
                "FactorVAE's discriminator is built by configure(model, train_config, data); "
                "train through untwine.train, or call configure first"
            )
        return self.discriminator

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {} if self._optimizer is None else {"discriminator": self._optimizer}

    def regularizer(self, step: Step):
        discriminator = self._discriminator()
        frozen = {name: p.detach() for name, p in discriminator.named_parameters()}
        logits = functional_call(discriminator, frozen, (step.z,))
        tc = (logits[:, 0] - logits[:, 1]).mean()
        return {"kl": step.kl, "weighted_tc": self.gamma * tc}, {"tc_estimate": float(tc.detach())}

    def discriminator_loss(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(loss, logits, labels): loss = ½ CE(D(z), 0) + ½ CE(D(permute_dims(z)), 1) on detached codes."""
        z = z.detach()
        z_permuted = permute_dims(z, generator)
        logits = self.discriminator(torch.cat([z, z_permuted]))
        labels = torch.cat(
            [
                torch.zeros(len(z), dtype=torch.long, device=z.device),
                torch.ones(len(z), dtype=torch.long, device=z.device),
            ]
        )
        return F.cross_entropy(logits, labels), logits, labels

    def auxiliary_step(self, model: VAE, step: Step) -> dict[str, float]:
        """One Adam step of the discriminator on the step's codes (after the model's update)."""
        self._discriminator()
        loss, logits, labels = self.discriminator_loss(step.z, step.generator)
        self._optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self._optimizer.step()
        accuracy = (logits.detach().argmax(1) == labels).float().mean()
        return {"discriminator_loss": float(loss.detach()), "discriminator_accuracy": float(accuracy)}
