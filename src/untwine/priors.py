"""Priors p(z) for the decomposition objective (Mathieu et al. 2019, seed 004).

Mathieu et al. ("Disentangling Disentanglement in Variational Autoencoders", ICML
2019) impose structure on the aggregate posterior q(z) by matching it to a prior that
has that structure:

* ``gaussian`` — independence: p(z) = N(0, σ*² I) (§5, "independence").
* ``mixture`` — clustering: p(z) = Σ_k ρ_k N(μ_k, σ_k² I) (§5, "clustering"). untwine
  places K components with equal weights ρ_k = 1/K at ±``radius`` along the first
  ⌈K/2⌉ latent axes (component k sits on axis k // 2 with sign (−1)^k), each with
  standard deviation ``component_scale``. Needs K ≤ 2·d.
* ``sparse`` — sparsity: a spike-and-slab style prior, independent per dimension,
  p(z_k) = (1 − γ)·N(z_k; 0, 1) + γ·N(z_k; 0, σ0²) with a narrow spike σ0
  (the paper's Eq. for sparsity, with γ = 0.8 in its experiments).

Each prior gives ``log_prob(z)`` (summed over latents, (n,)), ``sample(n, d,
generator)`` and ``kl(mean, logvar, z)``, the per-example KL(q(z|x) ‖ p(z)): closed
form for the Gaussian, the one-sample Monte-Carlo estimate log q(z|x) − log p(z) at
the reparameterised sample z otherwise (as Mathieu et al. estimate it).
"""

from __future__ import annotations

import math

import torch

from .estimators import LOG_2PI, gaussian_kl, gaussian_log_density
from .validate import check_count, check_positive


class Prior:
    """Base class: a factorised or mixture p(z) over d latents.

    A prior has a ``name`` (its key in ``PRIORS``) and ``hyperparameters``, which maps each
    decomposition hyperparameter to the constructor argument it sets.
    """

    name = ""
    #: The decomposition objective's hyperparameter that sets each constructor argument
    #: (hyperparameter name -> argument name), so that an objective can build any prior by name.
    hyperparameters: dict[str, str] = {}

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) of each point, summed over latents.

        Parameters
        ----------
        z : torch.Tensor
            Points (n, d).

        Returns
        -------
        torch.Tensor
            The log-densities (n,).
        """
        raise NotImplementedError

    def sample(
        self, n: int, latent_dim: int, generator: torch.Generator | None = None, *, device=None, dtype=torch.float32
    ) -> torch.Tensor:
        """Draw ``n`` points from the prior.

        Parameters
        ----------
        n : int
            The number of points.
        latent_dim : int
            The number of latents d.
        generator : torch.Generator, optional
            The source of randomness (torch's global one when None).
        device : torch.device or str, optional
            Where the samples are made.
        dtype : torch.dtype, default torch.float32
            The samples' dtype.

        Returns
        -------
        torch.Tensor
            Samples (n, d).
        """
        raise NotImplementedError

    def variance(self, latent_dim: int) -> float:
        """Per-latent variance E[z_j²] of the prior, averaged over the d latents (its mean is 0).

        Parameters
        ----------
        latent_dim : int
            The number of latents d.

        Returns
        -------
        float
            The variance.
        """
        raise NotImplementedError

    def kl(self, mean: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Per-example KL(q(z|x) ‖ p(z)): Monte-Carlo at the sample z unless overridden.

        Parameters
        ----------
        mean : torch.Tensor
            Posterior means (n, d).
        logvar : torch.Tensor
            Posterior log-variances (n, d).
        z : torch.Tensor
            A reparameterised sample (n, d) of the posterior.

        Returns
        -------
        torch.Tensor
            The KL of each example, (n,).
        """
        return gaussian_log_density(z, mean, logvar).sum(1) - self.log_prob(z)

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({options})"


class GaussianPrior(Prior):
    """p(z) = N(0, scale² I); the KL to it is in closed form.

    Parameters
    ----------
    scale : float, default 1.0
        The standard deviation of every latent.

    Raises
    ------
    ValueError
        If ``scale`` is not a finite positive number.
    """

    name = "gaussian"
    hyperparameters = {"prior_scale": "scale"}

    def __init__(self, scale: float = 1.0):
        self.scale = check_positive("prior scale", scale)

    def variance(self, latent_dim):
        return self.scale**2

    def log_prob(self, z):
        log_scale = math.log(self.scale)
        return (-0.5 * (LOG_2PI + 2 * log_scale + (z / self.scale).pow(2))).sum(1)

    def sample(self, n, latent_dim, generator=None, *, device=None, dtype=torch.float32):
        return self.scale * torch.randn((n, latent_dim), generator=generator, device=device, dtype=dtype)

    def kl(self, mean, logvar, z=None):
        return gaussian_kl(mean, logvar, self.scale**2).sum(1)


class MixturePrior(Prior):
    """Equal-weight Gaussian mixture with components at ±radius on the first latent axes.

    Component k sits on axis k // 2 with sign (−1)^k, so K components need at least ⌈K/2⌉
    latents (checked when the prior is used).

    Parameters
    ----------
    components : int, default 4
        The number of components K.
    radius : float, default 2.0
        The distance of each component's mean from the origin.
    component_scale : float, default 0.5
        The standard deviation of each component.

    Raises
    ------
    ValueError
        If ``components`` is not a whole number ≥ 1 or ``component_scale`` not a finite positive
        number.
    """

    name = "mixture"
    hyperparameters = {"components": "components", "component_radius": "radius", "component_scale": "component_scale"}

    def __init__(self, components: int = 4, radius: float = 2.0, component_scale: float = 0.5):
        self.components = check_count("components", components)
        self.radius = float(radius)
        self.component_scale = check_positive("component_scale", component_scale)

    def variance(self, latent_dim):
        # E[z_j²] averaged over latents: every component mean has one coordinate ±radius.
        return self.component_scale**2 + self.radius**2 / latent_dim

    def means(self, latent_dim: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
        """Component means (K, d)."""
        if self.components > 2 * latent_dim:
            raise ValueError(
                f"a mixture prior with {self.components} components needs at least "
                f"{math.ceil(self.components / 2)} latents (two components per axis); got {latent_dim}"
            )
        means = torch.zeros((self.components, latent_dim), device=device, dtype=dtype)
        for k in range(self.components):
            means[k, k // 2] = self.radius * (-1.0) ** k
        return means

    def log_prob(self, z):
        means = self.means(z.shape[1], device=z.device, dtype=z.dtype)
        logvar = torch.full_like(means, 2 * math.log(self.component_scale))
        per_component = gaussian_log_density(z[:, None, :], means[None], logvar[None]).sum(2)  # (n, K)
        return torch.logsumexp(per_component, dim=1) - math.log(self.components)

    def sample(self, n, latent_dim, generator=None, *, device=None, dtype=torch.float32):
        means = self.means(latent_dim, device=device, dtype=dtype)
        index = torch.randint(self.components, (n,), generator=generator, device=device)
        noise = torch.randn((n, latent_dim), generator=generator, device=device, dtype=dtype)
        return means[index] + self.component_scale * noise


class SparsePrior(Prior):
    """Per latent, (1 − γ)·N(0, 1) + γ·N(0, σ0²): a slab and a narrow spike at zero.

    Parameters
    ----------
    sparsity : float, default 0.8
        The spike's weight γ, in [0, 1].
    spike_scale : float, default 0.05
        The spike's standard deviation σ0.

    Raises
    ------
    ValueError
        If ``sparsity`` is not in [0, 1] or ``spike_scale`` not a finite positive number.
    """

    name = "sparse"
    hyperparameters = {"sparsity": "sparsity", "spike_scale": "spike_scale"}

    def __init__(self, sparsity: float = 0.8, spike_scale: float = 0.05):
        sparsity = check_positive("sparsity (the spike's weight γ)", sparsity, zero_ok=True)
        if sparsity > 1.0:
            raise ValueError(f"sparsity (the spike's weight γ) must lie in [0, 1], got {sparsity}")
        self.sparsity = sparsity
        self.spike_scale = check_positive("spike_scale", spike_scale)

    def variance(self, latent_dim):
        return (1.0 - self.sparsity) + self.sparsity * self.spike_scale**2

    def log_prob(self, z):
        slab = -0.5 * (LOG_2PI + z.pow(2))
        log_s = math.log(self.spike_scale)
        spike = -0.5 * (LOG_2PI + 2 * log_s + (z / self.spike_scale).pow(2))
        parts = []
        if self.sparsity < 1.0:
            parts.append(slab + math.log(1.0 - self.sparsity))
        if self.sparsity > 0.0:
            parts.append(spike + math.log(self.sparsity))
        return torch.logsumexp(torch.stack(parts), dim=0).sum(1)

    def sample(self, n, latent_dim, generator=None, *, device=None, dtype=torch.float32):
        spike = torch.rand((n, latent_dim), generator=generator, device=device, dtype=dtype) < self.sparsity
        noise = torch.randn((n, latent_dim), generator=generator, device=device, dtype=dtype)
        return torch.where(spike, self.spike_scale * noise, noise)


PRIORS: dict[str, type[Prior]] = {cls.name: cls for cls in (GaussianPrior, MixturePrior, SparsePrior)}


def prior_class(name: str) -> type[Prior]:
    """The class of the prior called ``name``.

    Parameters
    ----------
    name : str
        A key of ``PRIORS``: ``gaussian``, ``mixture`` or ``sparse``.

    Returns
    -------
    type[Prior]
        The class.

    Raises
    ------
    ValueError
        If ``name`` is not a prior; the message lists the valid names.
    """
    try:
        return PRIORS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown prior {name!r}; valid: {', '.join(PRIORS)}") from None


def make_prior(name: str, **options) -> Prior:
    """The prior called ``name`` (``gaussian``, ``mixture``, ``sparse``) with ``options``.

    Parameters
    ----------
    name : str
        A key of ``PRIORS``.
    **options
        The prior's constructor arguments.

    Returns
    -------
    Prior
        The prior.

    Raises
    ------
    ValueError
        If ``name`` is not a prior, or an option is out of range.
    """
    return prior_class(name)(**options)


def prior_from_hyperparameters(name: str, hyperparameters: dict) -> Prior:
    """The prior ``name`` built from an objective's hyperparameters (those the prior reads; others ignored).

    Parameters
    ----------
    name : str
        A key of ``PRIORS``.
    hyperparameters : dict
        The decomposition objective's hyperparameters by name; each prior's ``hyperparameters``
        says which it reads.

    Returns
    -------
    Prior
        The prior.

    Raises
    ------
    ValueError
        If ``name`` is not a prior, or a value it reads is out of range.
    """
    cls = prior_class(name)
    return cls(
        **{argument: hyperparameters[key] for key, argument in cls.hyperparameters.items() if key in hyperparameters}
    )


__all__ = [
    "Prior",
    "GaussianPrior",
    "MixturePrior",
    "SparsePrior",
    "PRIORS",
    "make_prior",
    "prior_class",
    "prior_from_hyperparameters",
]
