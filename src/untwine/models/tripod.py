"""Tripod (Hsu, Hamid, Burns, Finn & Wu 2024): a deterministic autoencoder with three legs, finite scalar
quantization of the latents (FSQ), a kernel-based latent multiinformation penalty (KLM) and a normalized Hessian
penalty on the decoder (NHP).

The definitions and defaults follow the authors' code (github.com/kylehkhsu/tripod, commit d794dc41):
``disentangle/nn/quantizer.py`` (tanh, then rounding to ``num_values_per_latent`` evenly spaced values in
[−1, 1], straight-through around the rounding only), ``disentangle/models/autoencoder.py`` (the KLM estimator and
its bandwidths, the Hessian penalty's finite differences, its normalisation, the 1e-6 and 1e-10 floors),
``disentangle/nn/decoder.py`` (the decoder layers it is applied to) and ``configs/train_autoencoder.yaml``
(``num_quantized_values: 12``, ``epsilon: 0.1``, ``num_perturbations: 2``, the Shapes3D weights
``latent_multiinformation: 1e-4`` and ``hessian_penalty_normalized: 1e-2``, Adam at 2e-4 without weight decay).
One default differs: the Hessian penalty divides the batch's mean curvatures, not each code's
(``nhp_ratio``; ``normalized_hessian_penalty`` says why). docs/objectives.md (section ``tripod``) gives the formulas, the other datasets' weights and where untwine differs.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Callable

import torch
from torch import nn

from ..nets import DeconvDecoder, MLPDecoder
from ..validate import check_count, check_positive
from .vae import Objective, Step

#: added to each latent's standard deviation before it sets a bandwidth or a perturbation size (the authors'
#: ``jnp.std(z_c, axis=0) + 1e-6``)
STD_FLOOR = 1e-6
#: added to the denominator of the normalized Hessian penalty (the authors' ``+ 1e-10``)
RATIO_FLOOR = 1e-10
#: from this step on, every COLLAPSE_EVERY steps, a batch whose code has one value per latent is a collapsed model
#: and is warned about once (a model starts with every image on one grid value; a healthy one leaves it within
#: a few hundred steps, a collapsed one never does: docs/objectives.md, tripod, "fp32 only, and what collapses")
COLLAPSE_STEP = 500
COLLAPSE_EVERY = 100


class CollapsedCodeWarning(RuntimeWarning):
    """A Tripod model whose code has one value per latent on a whole batch, long after its start."""


def _check_whole(name: str, value, least: int, why: str, default: int) -> int:
    """``value`` as an int, if it is a whole number ≥ ``least``; else an error that names the fix."""
    whole = not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)
    if not whole or int(value) != value or value < least:
        raise ValueError(
            f"hyperparameter {name} must be a whole number, at least {least}, got {value!r}: {why}; set {name} = "
            f"{least} or more (--param {name}={default}, the authors' value)"
        )
    return int(value)


def _check_levels(value) -> int:
    return _check_whole("levels", value, 2, "one level maps every input to the same code", 12)


class FiniteScalarQuantizer(nn.Module):
    """Finite scalar quantization with a fixed grid: each latent is bounded by tanh and rounded to the nearest of
    ``levels`` evenly spaced values in [−1, 1].

    q(z) = 2·round(u)/(L − 1) − 1 with u = (tanh(z) + 1)/2 · (L − 1) ∈ [0, L − 1], so the grid is
    {−1 + 2k/(L − 1) : k = 0, …, L − 1} for odd and even L alike (L = 12 by default, the authors'); ``round``
    takes a half to the even integer (``torch.round``, as ``jnp.round``). Nothing is learned.

    In training ``Objective.forward`` decodes ``straight_through(bound(z), q(z))``: forward exactly q, backward
    the gradient of ``bound`` = tanh, 1 − tanh²(z) (the straight-through estimator around the rounding only, as
    in FSQ and the authors' code), not the identity.

    Parameters
    ----------
    levels : int, default 12
        Values per latent L (at least 2).
    latent_dim : int, optional
        The number of latents d, for ``grid()`` (``VAE``'s quantizer protocol); ``Tripod.make_quantizer`` gives
        it. Quantizing does not need it.
    """

    def __init__(self, levels: int = 12, latent_dim: int | None = None):
        super().__init__()
        self.levels = _check_levels(levels)
        self.latent_dim = None if latent_dim is None else check_count("latent_dim", latent_dim)

    def extra_repr(self) -> str:
        return f"levels={self.levels}" + ("" if self.latent_dim is None else f", latent_dim={self.latent_dim}")

    def bound(self, z: torch.Tensor) -> torch.Tensor:
        """tanh(z): the differentiable value in [−1, 1] whose rounding is the code."""
        return torch.tanh(z)

    def indices(self, z: torch.Tensor) -> torch.Tensor:
        """The index k ∈ {0, …, L − 1} of each latent's grid value, (n, d) int64."""
        return torch.round((self.bound(z) + 1) / 2 * (self.levels - 1)).long()

    def value(self, indices: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The grid values −1 + 2k/(L − 1) of indices k."""
        return 2 * indices.to(dtype) / (self.levels - 1) - 1

    @property
    def points(self) -> torch.Tensor:
        """The L values of the grid, ascending (float32): every latent's."""
        return self.value(torch.arange(self.levels))

    def grid(self) -> list[torch.Tensor]:
        """Each latent's values, sorted (``VAE``'s quantizer protocol): the same L points for every latent.

        Raises
        ------
        TypeError
            If the quantizer was built without ``latent_dim``.
        """
        if self.latent_dim is None:
            raise TypeError(
                "this FiniteScalarQuantizer was built without latent_dim, so it cannot list each latent's values; "
                "build it with FiniteScalarQuantizer(levels, latent_dim) (Tripod.make_quantizer does)"
            )
        return [self.points for _ in range(self.latent_dim)]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """The quantized values q(z) (n, d), without gradient (the straight-through code gets it from ``bound``)."""
        return self.value(self.indices(z), z.dtype)


# -- the kernel-based latent multiinformation ---------------------------------------------------------------


def silverman_factor(n: int, d: int) -> float:
    """Silverman's rule of thumb for a d-dimensional Gaussian kernel on n points: (4/(d + 2))^(1/(d + 4)) ·
    n^(−1/(d + 4)), the bandwidth per unit of standard deviation."""
    return (4 / (d + 2)) ** (1 / (d + 4)) * n ** (-1 / (d + 4))


def latent_multiinformation(z: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The kernel estimate of the multiinformation KL(q(z) ‖ Π_k q_k(z_k)) at each point of a batch.

    KLM_i = log q̂(z_i) − Σ_k log q̂_k(z_ik), where q̂ is the Gaussian kernel density estimate of the batch with
    diagonal bandwidths c·s_k (c = ``silverman_factor(n, d)``) and q̂_k that of latent k alone with bandwidth s_k,
    each point's own kernel included (the authors' estimator). The Gaussians' normalising constants cancel but
    for −d·log c, so

    KLM_i = −d·log c + LSE_j(−½ Σ_k ((z_ik − z_jk)/(c·s_k))²) − log n − Σ_k [LSE_j(−½ ((z_ik − z_jk)/s_k)²) − log n].

    Parameters
    ----------
    z : torch.Tensor
        The batch of codes (n, d).
    scale : torch.Tensor
        The per-latent scales s (d,), > 0 (Tripod: the batch standard deviation of the bounded codes + 1e-6).

    Returns
    -------
    torch.Tensor
        KLM_i for each point (n,); the estimate of the multiinformation is their mean.
    """
    n, d = z.shape
    factor = silverman_factor(n, d)
    squared = ((z.unsqueeze(1) - z.unsqueeze(0)) / scale).square()  # [i, j, k] = ((z_ik − z_jk)/s_k)²
    log_n = math.log(n)
    joint = torch.logsumexp(-0.5 * squared.sum(-1) / factor**2, dim=1) - log_n - d * math.log(factor)
    marginals = torch.logsumexp(-0.5 * squared, dim=1) - log_n
    return joint - marginals.sum(1)


# -- the normalized Hessian penalty -----------------------------------------------------------------------


def decoder_layers(decoder: nn.Module, z: torch.Tensor) -> list[torch.Tensor]:
    """The decoder's hidden activations at codes z, the layers the Hessian penalty is applied to.

    The authors penalise the output of the decoder's MLP on z and of each upsampling stage but the last, not the
    logits. In untwine's reference decoder (``DeconvDecoder``) the same places are the output of its two dense
    layers (n, 1024) and of each transposed convolution but the last, after its ReLU ((n, 64, 8, 8),
    (n, 32, 16, 16), (n, 32, 32, 32)); in the ``MLPDecoder``, its two hidden layers (n, hidden) each.

    Parameters
    ----------
    decoder : nn.Module
        A ``DeconvDecoder`` or ``MLPDecoder`` (``untwine.nets``).
    z : torch.Tensor
        Codes (m, d).

    Returns
    -------
    list of torch.Tensor
        The activations, first layer first, each with m rows.

    Raises
    ------
    TypeError
        For any other decoder.
    """
    if isinstance(decoder, DeconvDecoder):
        hidden = decoder.dense(z)
        layers = [hidden]
        hidden = hidden.view(-1, 64, 4, 4)
        modules = decoder.deconv[:-1]
    elif isinstance(decoder, MLPDecoder):
        hidden, layers, modules = z, [], decoder.net[:-1]
    else:
        raise TypeError(
            f"Tripod's Hessian penalty reads the hidden layers of untwine's decoders (DeconvDecoder, MLPDecoder); "
            f"got {type(decoder).__name__}"
        )
    for module in modules:
        hidden = module(hidden)
        if isinstance(module, nn.ReLU):
            layers.append(hidden)
    return layers


def second_differences(
    layers: Callable[[torch.Tensor], list[torch.Tensor]], z: torch.Tensor, directions: torch.Tensor, epsilon: float
) -> list[torch.Tensor]:
    """Central second differences (f(z + ε·u) − 2·f(z) + f(z − ε·u)) / ε² of every layer of f along directions u.

    For a quadratic f this is exactly uᵀ H u, the second derivative along u (H, the Hessian of each output entry
    in z); for a smooth f it is that up to O(ε²). All points go through ``layers`` in one batch.

    Parameters
    ----------
    layers : callable
        Codes (m, d) -> a list of tensors with m rows (e.g. ``decoder_layers`` of a decoder).
    z : torch.Tensor
        The codes (n, d).
    directions : torch.Tensor
        The directions u (k, n, d): k per code.
    epsilon : float
        The step ε.

    Returns
    -------
    list of torch.Tensor
        Per layer, the differences (k, n, *the layer's shape per code).
    """
    k, n, d = directions.shape
    offset = epsilon * directions
    points = torch.cat([z.unsqueeze(0), z + offset, z - offset]).reshape(-1, d)
    differences = []
    for output in layers(points):
        # split, not slices: the gradient of a slice fills a zero tensor of the whole layer, per slice
        centre, plus, minus = output.reshape(2 * k + 1, n, *output.shape[1:]).split([1, k, k])
        differences.append((plus + minus - 2 * centre) / epsilon**2)
    return differences


def curvature_spreads(
    layers: Callable[[torch.Tensor], list[torch.Tensor]],
    z: torch.Tensor,
    scale: torch.Tensor,
    epsilon: float,
    rademacher: torch.Tensor,
    gaussian: torch.Tensor,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per layer and code, the mean over the layer's entries of the spread of the second differences along
    Rademacher directions (the mixed curvature) and along Gaussian ones (the whole curvature).

    D_u = second difference of output entry o along s∘u (``second_differences``), an estimate of (s∘u)ᵀ H_o (s∘u)
    with H_o the Hessian of entry o in z. Over Rademacher signs r, Var_r = 2 Σ_{i≠j} (s_i s_j H_o,ij)² (the
    Hessian penalty of Peebles et al. 2020, in units of each latent's spread s); over standard normal g,
    Var_g = 2 Σ_ij (s_i s_j H_o,ij)². Variances are the samples' (divided by k, as ``jnp.var``).

    The variance over directions does not see the −2·f(z) of every difference, so it is computed as that of
    f(z + ε·s∘u) + f(z − ε·s∘u), divided by ε⁴: the same value as the authors' (who evaluate f(z) too) with one
    decoder pass and two element-wise passes fewer.

    Parameters
    ----------
    layers : callable
        Codes (m, d) -> a list of tensors with m rows.
    z : torch.Tensor
        The codes (n, d).
    scale : torch.Tensor
        Per-latent scales s (d,) of the perturbations.
    epsilon : float
        The finite-difference step ε: the perturbations are ±ε·s∘r and ±ε·s∘g.
    rademacher : torch.Tensor
        Random signs r (k, n, d).
    gaussian : torch.Tensor
        Standard normal draws g (k', n, d).

    Returns
    -------
    list of (torch.Tensor, torch.Tensor)
        Per layer, (mean_o Var_r[D_r], mean_o Var_g[D_g]), each (n,).
    """
    k, n, d = rademacher.shape
    offsets = epsilon * torch.cat([rademacher, gaussian]) * scale
    points = torch.cat([z + offsets, z - offsets]).reshape(-1, d)
    sizes = [k, len(gaussian)]
    spreads = []
    for output in layers(points):
        # split, not slices: the gradient of a slice fills a zero tensor of the whole layer, per slice
        plus, minus = output.reshape(2, -1, n, *output.shape[1:]).unbind(0)
        sums = (plus + minus).split(sizes)
        spreads.append(tuple(_mean_spread(part) / epsilon**4 for part in sums))
    return spreads


def _mean_spread(samples: torch.Tensor) -> torch.Tensor:
    """The variance over the first axis (divided by the count), averaged over every axis after the second:
    (k, n, ...) -> (n,). Written out: ``Tensor.var`` over a short leading axis is slow on the CPU (about 90 ms
    per call on the reference decoder's layers, against a few ms for these element-wise passes)."""
    return (samples - samples.mean(0)).square().mean([0, *range(2, samples.dim())])


#: how the normalized Hessian penalty divides the mixed curvature by the whole (``normalized_hessian_penalty``)
RATIOS = ("batch", "example")


def normalized_hessian_penalty(
    layers: Callable[[torch.Tensor], list[torch.Tensor]],
    z: torch.Tensor,
    scale: torch.Tensor,
    epsilon: float,
    rademacher: torch.Tensor,
    gaussian: torch.Tensor,
    ratio: str = "batch",
) -> torch.Tensor:
    """The normalized Hessian penalty of a batch of codes: per layer, the mixed curvature over the whole
    (``curvature_spreads``), summed over the layers.

    The ratio is the fraction of the layer's curvature that mixes latents: 0 for a layer additive in the latents,
    1 for one whose curvature is all mixed, whatever the scale of the layer or of the latents. ``"example"``
    divides per code and averages the ratios, mean_i [M_i / (T_i + 1e-10)], as the authors' code;
    ``"batch"`` divides the batch means, mean_i M_i / (mean_i T_i + 1e-10), untwine's default. With k = 2
    directions each, T_i is a variance of two draws, whose density does not vanish at 0, so the per-code ratio
    has no finite mean (only the 1e-10 floor bounds it); the batch's has one for n ≥ 3 codes.

    Parameters
    ----------
    layers : callable
        Codes (m, d) -> a list of tensors with m rows.
    z : torch.Tensor
        The codes (n, d).
    scale : torch.Tensor
        Per-latent scales s (d,) of the perturbations.
    epsilon : float
        The finite-difference step ε: the perturbations are ±ε·s∘r and ±ε·s∘g.
    rademacher : torch.Tensor
        Random signs r (k, n, d).
    gaussian : torch.Tensor
        Standard normal draws g (k', n, d).
    ratio : {"batch", "example"}, default "batch"
        Divide the batch means, or each code's and average.

    Returns
    -------
    torch.Tensor
        The penalty, a scalar.

    Raises
    ------
    ValueError
        If ``ratio`` is not one of ``RATIOS``.
    """
    if ratio not in RATIOS:
        raise ValueError(f"unknown ratio {ratio!r}; valid: {', '.join(RATIOS)}")
    spreads = curvature_spreads(layers, z, scale, epsilon, rademacher, gaussian)
    if ratio == "example":
        layer_penalties = [(mixed / (total + RATIO_FLOOR)).mean() for mixed, total in spreads]
    else:
        layer_penalties = [mixed.mean() / (total.mean() + RATIO_FLOOR) for mixed, total in spreads]
    return torch.stack(layer_penalties).sum()


def draw_directions(
    num: int, like: torch.Tensor, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``num`` Rademacher sign vectors and ``num`` standard normal vectors per code of ``like`` (n, d), each
    (num, n, d) with ``like``'s dtype and device, from ``generator`` (the signs first)."""
    shape = (num, *like.shape)
    signs = torch.randint(2, shape, generator=generator, device=like.device).mul(2).sub(1).to(like.dtype)
    normals = torch.randn(shape, generator=generator, device=like.device).to(like.dtype)
    return signs, normals


class Tripod(Objective):
    """loss = recon(x | ẑ) + λ_KLM·P·mean_i KLM_i + λ_NHP·P·NHP, ẑ = straight-through FSQ code of μ(x).

    Tripod (Hsu, Hamid, Burns, Finn & Wu 2024, "Tripod: Three Complementary Inductive Biases for Disentangled
    Representation Learning", ICML) is a deterministic autoencoder (z = μ(x), no noise, no prior) with three legs:

    - **FSQ**: each latent is bounded by tanh and rounded to one of ``levels`` fixed values in [−1, 1]
      (``FiniteScalarQuantizer``); the decoder sees the quantized code ẑ, with the straight-through gradient of
      tanh (nothing to learn, so no codebook or commitment loss).
    - **KLM**: the kernel estimate of the latents' multiinformation (``latent_multiinformation``) on the batch of
      codes ẑ, with per-latent bandwidths proportional to s, the batch standard deviation of tanh(z) plus 1e-6:
      s_k for each latent alone and Silverman's c·s_k in the joint, so the estimate does not change when a latent
      is rescaled.
    - **NHP**: the normalized Hessian penalty of the decoder (``normalized_hessian_penalty``) at ẑ, on the
      decoder's hidden layers (``decoder_layers``), by second differences with step ε along ``num_perturbations``
      Rademacher and as many Gaussian directions per code, scaled by s and drawn from the step's generator;
      each layer's off-diagonal curvature over its total, summed over the layers. untwine divides the batch means
      (``nhp_ratio = "batch"``); the authors divide each code's and average (``"example"``), a ratio whose mean
      is unbounded with two directions and which, on untwine's ReLU decoders (curvature only where a kink falls
      within ±ε·s), put penalties of 10³–10⁵ into the tiny test run (docs/objectives.md).

    P is the number of entries of one observation (e.g. 4096 for 64×64 greyscale): the authors' reconstruction
    is the per-pixel *mean* cross-entropy, untwine's the *sum*, so both penalties are scaled by P and the whole
    loss is P times the authors'. Adam's updates are invariant to that scale (up to ε), so the weights mean what
    they mean in the authors' configs.

    The representation is the quantized code q(μ(x)) (``VAE.code``); the authors use twice as many latents as
    factors (``latent_dim``), the model's optimiser is Adam (the authors' AdamW has weight decay 0).

    Parameters
    ----------
    levels : int, default 12
        Values per latent L of the FSQ grid, at least 2 (the authors' ``num_quantized_values``).
    klm_weight : float, default 1e-4
        λ_KLM ≥ 0 (the authors' Shapes3D value of ``lambdas.latent_multiinformation``).
    nhp_weight : float, default 1e-2
        λ_NHP ≥ 0 (the authors' Shapes3D value of ``lambdas.hessian_penalty_normalized``); 0 skips the penalty
        and its decoder passes.
    epsilon : float, default 0.1
        The finite-difference step ε > 0, in units of each latent's spread s (the authors' ``epsilon``).
    num_perturbations : int, default 2
        Rademacher directions, and as many Gaussian ones, per code, at least 2 (the authors'
        ``num_perturbations``).
    nhp_ratio : {"batch", "example"}, default "batch"
        How the mixed curvature is divided by the whole (``normalized_hessian_penalty``): the batch means
        (untwine's) or each code's, averaged (the authors').

    Raises
    ------
    ValueError
        If ``levels`` or ``num_perturbations`` is not a whole number ≥ 2, a weight is not a finite non-negative
        number, ``epsilon`` is not a finite positive number, or ``nhp_ratio`` is unknown.
    """

    name = "tripod"
    paper = "Hsu et al. 2024, Tripod: Three Complementary Inductive Biases (ICML); values from the authors' code"
    fp32_only = (
        "under bf16 autocast the reference encoder's pre-tanh output runs away within a hundred steps and every code "
        "saturates at one grid value (a collapsed model; experiments/hsu2023_quantized/fsq_saturation.py "
        "--penalties --precision bf16 shows it), where the same run in fp32 spreads its codes"
    )
    deterministic = True

    def __init__(
        self,
        *,
        levels: int = 12,
        klm_weight: float = 1e-4,
        nhp_weight: float = 1e-2,
        epsilon: float = 0.1,
        num_perturbations: int = 2,
        nhp_ratio: str = "batch",
    ):
        super().__init__()
        self.levels = _check_levels(levels)
        self.klm_weight = check_positive("hyperparameter klm_weight", klm_weight, zero_ok=True)
        self.nhp_weight = check_positive("hyperparameter nhp_weight", nhp_weight, zero_ok=True)
        self.epsilon = check_positive("hyperparameter epsilon", epsilon)
        self.num_perturbations = _check_whole(
            "num_perturbations",
            num_perturbations,
            2,
            "the variance over one perturbation is always 0, so the penalty would vanish",
            2,
        )
        if nhp_ratio not in RATIOS:
            raise ValueError(
                f"unknown nhp_ratio {nhp_ratio!r}; valid: {', '.join(RATIOS)} (batch: the batch means divided, "
                f"untwine's default; example: each code's ratio, the authors')"
            )
        self.nhp_ratio = nhp_ratio
        self._collapse_warned = False  # CollapsedCodeWarning is given once per objective (per run)

    def make_quantizer(self, latent_dim: int) -> FiniteScalarQuantizer:
        return FiniteScalarQuantizer(self.levels, latent_dim)

    def _check_collapse(self, step: Step) -> None:
        """Warn once (``CollapsedCodeWarning``) when, at step COLLAPSE_STEP or a later multiple of COLLAPSE_EVERY,
        every latent of the batch's code takes one value: the model has collapsed and will not recover, and its
        InfoMEC and DCI-ES will be undefined."""
        if self._collapse_warned or step.step < COLLAPSE_STEP or step.step % COLLAPSE_EVERY:
            return
        codes = step.quantized.detach()
        if codes.shape[0] < 2 or bool((codes.amax(0) > codes.amin(0)).any()):
            return
        self._collapse_warned = True
        warnings.warn(
            f"Tripod's code has one value per latent on the whole batch at step {step.step}: the model has "
            "collapsed (the encoder's output left tanh's range, where no gradient brings it back), it will not "
            "recover, and infomec and dci_es will record it as undefined. On untwine's reference networks this "
            "happens for some seeds even in fp32 (docs/objectives.md, tripod, 'fp32 only, and what collapses'): "
            'stop the run and train it with model.encoder_norm = "instance" (the authors\' normalised encoder), '
            "which keeps the codes apart",
            CollapsedCodeWarning,
            stacklevel=2,
        )

    def regularizer(self, step: Step):
        if step.quantized is None:
            raise RuntimeError(
                "Tripod needs a model with a finite scalar quantizer: build it with untwine.models.build_model (or "
                "VAE(..., quantizer=Tripod().make_quantizer(latent_dim)))"
            )
        if step.model is None or not isinstance(step.model.quantizer, FiniteScalarQuantizer):
            raise RuntimeError(
                "Tripod's penalties need the model and its finite scalar quantizer: call the objective as "
                "objective(model, x, step), which sets Step.model, on a model built by untwine.models.build_model"
            )
        self._check_collapse(step)
        scale = step.model.quantizer.bound(step.mean).std(0, correction=0) + STD_FLOOR
        entries = step.x[0].numel()
        klm = latent_multiinformation(step.z, scale).mean()
        terms = {"latent_multiinformation": self.klm_weight * entries * klm}
        logs = {"klm": float(klm.detach())}
        if self.nhp_weight:
            signs, normals = draw_directions(self.num_perturbations, step.z, step.generator)
            decoder = step.model.decoder
            nhp = normalized_hessian_penalty(
                lambda codes: decoder_layers(decoder, codes),
                step.z,
                scale,
                self.epsilon,
                signs,
                normals,
                self.nhp_ratio,
            )
            terms["hessian_penalty"] = self.nhp_weight * entries * nhp
            logs["nhp"] = float(nhp.detach())
        return terms, logs
