"""The decomposition objective of Mathieu et al. 2019 (seed 004): overlap and structure."""

from __future__ import annotations

from ..estimators import KERNELS, PER_DIMENSION_SCALES, default_bandwidth, mmd, mmd_per_dimension
from ..priors import prior_from_hyperparameters
from ..validate import check_positive
from .vae import Objective, Step


#: The two discrepancies D(q(z), p(z)): one MMD² on the joint codes, or Mathieu et al.'s per-dimension sum.
MMD_FORMS = ("joint", "per-dimension")


class Decomposition(Objective):
    """loss = E[−log p(x|z)] + β·KL(q(z|x) ‖ p(z)) + α·MMD²(q(z), p(z)).

    The decomposition objective of Mathieu et al. (2019).

    β controls the overlap of the encodings, α how closely the aggregate posterior q(z)
    matches the structured prior p(z) (Mathieu et al. 2019, Eq. 7 with D = MMD).

    ``prior``: ``gaussian`` (N(0, prior_scale² I), independence), ``mixture``
    (``components`` equal-weight Gaussians at ±``component_radius`` on the first latent
    axes, std ``component_scale``; clustering) or ``sparse`` (per latent
    (1 − sparsity)·N(0, 1) + sparsity·N(0, spike_scale²); sparsity). See untwine.priors.

    The KL is in closed form for the Gaussian prior and the one-sample Monte-Carlo
    estimate log q(z|x) − log p(z) otherwise. MMD² is the biased (V-statistic)
    estimate between the batch's codes z ~ q(z) and as many prior samples, with
    ``kernel`` ``imq`` (k = C/(C + ‖z − z'‖²)) or ``gaussian`` (k = exp(−‖z − z'‖²/2h²));
    ``bandwidth`` 0 means the rule of Tolstikhin et al. 2018: C = 2·d·σ², h² = d·σ², σ²
    the prior's per-latent variance.

    That joint MMD² (``mmd="joint"``, the default) is not the discrepancy of Mathieu et
    al.'s released code, so the paper's α values are not on its scale. Theirs
    (``mmd="per-dimension"``, ``untwine.estimators.mmd_per_dimension``) sums, over
    the latents and six IMQ scales C = 2·s, s ∈ {0.1, 0.2, 0.5, 1, 2, 5}, the
    one-dimensional MMD² between z_k and the prior samples' k-th coordinate (U-statistics
    within each sample): 6·d terms, and only the marginals q(z_k) are compared, so the
    clustering prior's joint structure is not seen by it.

    Parameters
    ----------
    beta : float, default 1.0
        The weight β ≥ 0 of the KL.
    alpha : float, default 100.0
        The weight α ≥ 0 of the MMD².
    prior : {"gaussian", "mixture", "sparse"}, default "gaussian"
        The prior p(z).
    kernel : {"imq", "gaussian"}, default "imq"
        The kernel of the joint MMD².
    bandwidth : float, default 0.0
        The kernel's C (IMQ) or h² (Gaussian); 0 takes the rule of Tolstikhin et al.
    prior_scale : float, default 1.0
        The standard deviation of the Gaussian prior.
    components : int, default 4
        The mixture prior's number of components.
    component_radius : float, default 2.0
        The distance of each mixture component from the origin.
    component_scale : float, default 0.5
        The standard deviation of each mixture component.
    sparsity : float, default 0.8
        The sparse prior's spike weight γ, in [0, 1].
    spike_scale : float, default 0.05
        The standard deviation of the sparse prior's spike.
    mmd : {"joint", "per-dimension"}, default "joint"
        The discrepancy: untwine's joint MMD², or Mathieu et al.'s per-dimension sum.

    Raises
    ------
    ValueError
        If ``mmd``, ``kernel`` or ``prior`` is unknown, ``mmd="per-dimension"`` is given with
        another kernel or bandwidth, or a weight or prior option is out of range.
    """

    name = "decomposition"
    paper = "Mathieu et al. 2019, Disentangling Disentanglement in Variational Autoencoders, Eq. 7"

    def __init__(
        self,
        *,
        beta: float = 1.0,
        alpha: float = 100.0,
        prior: str = "gaussian",
        kernel: str = "imq",
        bandwidth: float = 0.0,
        prior_scale: float = 1.0,
        components: int = 4,
        component_radius: float = 2.0,
        component_scale: float = 0.5,
        sparsity: float = 0.8,
        spike_scale: float = 0.05,
        mmd: str = "joint",
    ):
        super().__init__()
        if mmd not in MMD_FORMS:
            raise ValueError(f"unknown mmd {mmd!r}; valid: {', '.join(MMD_FORMS)}")
        if mmd == "per-dimension" and (kernel != "imq" or bandwidth != 0):
            raise ValueError(
                "kernel and bandwidth choose the joint MMD; mmd='per-dimension' is Mathieu et al.'s "
                f"IMQ at the scales {PER_DIMENSION_SCALES}: leave kernel and bandwidth at their defaults"
            )
        self.mmd = mmd
        self.beta = check_positive("hyperparameter beta", beta, zero_ok=True)
        self.alpha = check_positive("hyperparameter alpha", alpha, zero_ok=True)
        if kernel not in KERNELS:
            raise ValueError(f"unknown kernel {kernel!r}; valid: {', '.join(KERNELS)}")
        self.prior_name = prior
        self.kernel = kernel
        self.bandwidth = check_positive("hyperparameter bandwidth (0: the WAE rule)", bandwidth, zero_ok=True)
        self.prior = prior_from_hyperparameters(
            prior,
            {
                "prior_scale": prior_scale,
                "components": components,
                "component_radius": component_radius,
                "component_scale": component_scale,
                "sparsity": sparsity,
                "spike_scale": spike_scale,
            },
        )

    def kernel_bandwidth(self, latent_dim: int) -> float:
        if self.bandwidth > 0:
            return self.bandwidth
        return default_bandwidth(self.kernel, latent_dim, self.prior.variance(latent_dim))

    def regularizer(self, step: Step):
        z = step.z
        kl = self.prior.kl(step.mean, step.logvar, z).mean()
        # The prior samples draw from the step's generator, after the reparameterisation noise.
        samples = self.prior.sample(len(z), z.shape[1], step.generator, device=z.device, dtype=z.dtype)
        if self.mmd == "joint":
            discrepancy = mmd(z, samples, self.kernel, self.kernel_bandwidth(z.shape[1]))
        else:
            discrepancy = mmd_per_dimension(z, samples)
        return (
            {"beta_kl": self.beta * kl, "alpha_mmd": self.alpha * discrepancy},
            {"kl": float(kl.detach()), "mmd": float(discrepancy.detach())},
        )
