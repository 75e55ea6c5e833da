"""The VAE shared by every objective, and the base class of objectives.

Losses follow the reference library (docs/reference.md): the reconstruction term
is summed over pixels, KL terms summed over latents, both averaged over the batch,
so that β means what the papers mean.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..estimators import DeterministicCodeError, gaussian_kl
from ..nets import build_decoder, build_encoder

LIKELIHOODS = ("bernoulli", "gaussian")


@dataclass
class ModelConfig:
    """What builds a model: the objective by name, latent size, likelihood, hyperparameters.

    Parameters
    ----------
    objective : str, default "beta-vae"
        The objective's name (``untwine models`` lists them).
    latent_dim : int, default 10
        The number of latents d.
    likelihood : {"bernoulli", "gaussian"}, default "bernoulli"
        The decoder's likelihood (see ``VAE``).
    params : dict, optional
        The objective's hyperparameters by name (``untwine models`` lists them with their
        defaults); missing ones take the defaults.
    encoder_norm : {"none", "instance"}, default "none"
        The encoder's normalisation: none, the reference network; "instance", an instance norm after every
        convolution and a layer norm on the dense layer (``untwine.nets.ConvEncoder``), as the Tripod authors'
        encoder, which keeps Tripod's codes from collapsing where the reference encoder lets them
        (docs/objectives.md, ``tripod``). Every objective accepts it.
    """

    objective: str = "beta-vae"
    latent_dim: int = 10
    likelihood: str = "bernoulli"
    params: dict = field(default_factory=dict)
    encoder_norm: str = "none"


class VAE(nn.Module):
    """Encoder q(z|x) = N(μ(x), diag σ²(x)), decoder p(x|z), prior N(0, I).

    ``likelihood="bernoulli"``: the decoder outputs logits; the reconstruction loss
    is sigmoid cross-entropy summed over pixels (the reference). ``"gaussian"``: the
    decoder outputs means (through a sigmoid) and the loss is the squared error
    Σ (x − μ)² summed over pixels, as in the reference library's l2 loss. That is the
    negative log-likelihood of a Gaussian with variance σ² = ½ up to a constant
    ((x − μ)²/(2σ²) + ½ log 2πσ² per pixel), not of a unit-variance one, whose NLL is
    half of it: β with this loss weighs the KL against twice the unit-variance NLL.

    The encoder and decoder are those of ``untwine.nets``, picked by ``observation_shape``.

    Parameters
    ----------
    observation_shape : tuple of int
        The shape of one observation: (channels, 64, 64) images get the reference's
        convolutional networks, anything else MLPs.
    latent_dim : int, default 10
        The number of latents d.
    likelihood : {"bernoulli", "gaussian"}, default "bernoulli"
        The decoder's likelihood.
    quantizer : nn.Module, optional
        Maps codes (n, d) to their quantized values (n, d), e.g. QLAE's scalar codebooks
        (``untwine.models.qlae``) or Tripod's finite scalar quantizer (``untwine.models.tripod``); built by the
        objective (``Objective.make_quantizer``). Its parameters, if any, are the model's (saved in
        ``model.safetensors``, trained by its optimiser), and the code the decoder sees, the representation and
        the reconstructions are then the quantized posterior means. A quantizer may define ``bound(z)``, the
        differentiable map whose rounding it returns: the straight-through gradient in training is then
        ``bound``'s (``Objective.forward``), else the identity. See "The quantizer protocol" below.
    deterministic : bool, default False
        Whether the code is deterministic: the objective decodes the encoder's mean μ(x) (quantized when there
        is a quantizer), never a sample, and the encoder's log-variance head is untrained (``ae``, ``qlae``,
        ``tripod``: ``Objective.deterministic``, which ``untwine.models.build_model`` copies here). Such a model
        has no posterior variance: ``posterior()`` raises ``DeterministicCodeError`` instead of returning that
        head's noise, and every consumer of posterior variances (metrics, the code cache, UDR, the report, the
        sampled representation, the pattern perturbation) asks ``deterministic`` first.
    encoder_norm : {"none", "instance"}, default "none"
        The encoder's normalisation (``ModelConfig.encoder_norm``, ``untwine.nets.build_encoder``).

    Raises
    ------
    ValueError
        If ``likelihood`` or ``encoder_norm`` is unknown or ``latent_dim`` < 1.

    Notes
    -----
    **The quantizer protocol.** A quantizer is an ``nn.Module`` whose ``forward(z)`` maps codes (n, d) to
    quantized values (n, d), latent by latent, and whose ``grid()`` returns the values each latent can take:
    a sequence of d one-dimensional tensors or arrays, latent j's values sorted in increasing order (their
    lengths may differ, as for finite scalar quantization's levels per latent). ``VAE.code_values()`` reads
    it; the report traverses each latent over exactly these values. A quantizer without ``grid()`` but with a
    ``values`` tensor (d, K) of per-latent values (``ScalarCodebooks``) is read from that.
    """

    def __init__(
        self,
        observation_shape: tuple[int, ...],
        latent_dim: int = 10,
        likelihood: str = "bernoulli",
        quantizer: nn.Module | None = None,
        deterministic: bool = False,
        encoder_norm: str = "none",
    ):
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"unknown likelihood {likelihood!r}; valid: {', '.join(LIKELIHOODS)}")
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive integer, got {latent_dim}")
        self.observation_shape = tuple(int(s) for s in observation_shape)
        self.latent_dim = int(latent_dim)
        self.likelihood = likelihood
        self.encoder = build_encoder(self.observation_shape, latent_dim, encoder_norm)
        self.encoder_norm = encoder_norm
        self.decoder = build_decoder(self.observation_shape, latent_dim)
        self.register_module("quantizer", quantizer)
        self.deterministic = bool(deterministic)

    @property
    def is_image(self) -> bool:
        return len(self.observation_shape) == 3

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Channels-last for images: measurably faster convolutions on the CPU."""
        return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x

    #: Set by the trainer for mixed precision (``torch.bfloat16``): the encoder and decoder then run under
    #: autocast and hand back float32, so that sampling and every loss stay in float32. None: float32 throughout.
    autocast_dtype: torch.dtype | None = None

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance, (n, d) each."""
        if self.autocast_dtype is None:
            return self.encoder(x)
        with torch.autocast(x.device.type, dtype=self.autocast_dtype):
            mean, logvar = self.encoder(x)
        return mean.float(), logvar.float()

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder output: logits (Bernoulli) or pre-sigmoid means (Gaussian)."""
        if self.autocast_dtype is None:
            return self.decoder(z)
        with torch.autocast(z.device.type, dtype=self.autocast_dtype):
            return self.decoder(z).float()

    def code(self, mean: torch.Tensor) -> torch.Tensor:
        """The representation of posterior means: the means themselves, or their quantized values when the
        model has a quantizer (no straight-through gradient here: ``Objective.forward`` adds it in training)."""
        return mean if self.quantizer is None else self.quantizer(mean)

    @staticmethod
    def sample_posterior(mean: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None):
        """z = μ + σ·ε with ε drawn from ``generator`` (reparameterisation)."""
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + torch.exp(0.5 * logvar) * noise

    def reconstruction_loss(self, x: torch.Tensor, decoded: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood per example (n,), summed over all observation entries (up to a constant
        for the Gaussian likelihood: the squared error, the NLL of variance ½)."""
        if self.likelihood == "bernoulli":
            loss = F.binary_cross_entropy_with_logits(decoded, x, reduction="none")
        else:
            loss = (torch.sigmoid(decoded) - x).pow(2)
        return loss.flatten(1).sum(1)

    def mean_observation(self, decoded: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(decoded)

    # -- numpy faces, batched, without gradients --------------------------------
    def _batched(self, fn: Callable, batch_size: int) -> Callable[[np.ndarray], tuple[np.ndarray, ...]]:
        def apply(observations: np.ndarray):
            observations = np.asarray(observations, dtype=np.float32)
            if observations.shape[1:] != self.observation_shape:
                raise ValueError(
                    f"observations must have shape (n, {', '.join(map(str, self.observation_shape))}), "
                    f"got {observations.shape}"
                )
            was_training = self.training
            self.eval()
            device = next(self.parameters()).device
            outputs = []
            try:
                with torch.no_grad():
                    for start in range(0, len(observations), batch_size):
                        x = self.prepare(torch.from_numpy(observations[start : start + batch_size]).to(device))
                        outputs.append(tuple(o.float().cpu().numpy() for o in fn(x)))
            finally:
                self.train(was_training)
            if not outputs:
                empty = np.zeros((0, self.latent_dim), dtype=np.float32)
                return empty, empty
            return tuple(np.concatenate(parts) for parts in zip(*outputs))

        return apply

    def representation(self, batch_size: int = 512) -> Callable[[np.ndarray], np.ndarray]:
        """The encoder as a representation: posterior means, batched, without gradients.

        Parameters
        ----------
        batch_size : int, default 512
            Observations encoded per forward pass.

        Returns
        -------
        callable
            Maps numpy observations (n, *obs) to posterior means (n, d); the model is put in eval
            mode for the call and restored after.
        """
        apply = self._batched(lambda x: (self.code(self.encode(x)[0]),), batch_size)
        return lambda observations: apply(observations)[0]

    def posterior(self, batch_size: int = 512) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """The encoder's posterior as numpy: observations -> (means, variances).

        Parameters
        ----------
        batch_size : int, default 512
            Observations encoded per forward pass.

        Returns
        -------
        callable
            Maps numpy observations (n, *obs) to (posterior means, posterior variances), each (n, d).

        Raises
        ------
        DeterministicCodeError
            If the model's code is deterministic (``deterministic``): it has no posterior variance, and the
            encoder's log-variance head is untrained noise, so no variances are returned (neither that noise
            nor zeros, which would make every latent "active" and every KL infinite without a word). Use
            ``representation()`` for its codes.
        """
        if self.deterministic:
            raise DeterministicCodeError(
                "this model's code is deterministic (its objective decodes the encoder's mean, quantized when "
                "it has a quantizer, never a sample), so it has no posterior variance and model.posterior() "
                "is not defined: its log-variance head is untrained. Use model.representation() for its codes. "
                "What needs posterior variances (the metrics active_units and mig_exact, elbo_decomposition, "
                "UDR's KL filter, the pattern perturbation) does not apply to it; untwine's scoring records "
                "those metrics as skipped (docs/objectives.md, 'Deterministic and quantized representations')"
            )

        def fn(x):
            mean, logvar = self.encode(x)
            return self.code(mean), logvar.exp()

        return self._batched(fn, batch_size)

    def code_values(self) -> list[np.ndarray] | None:
        """The values each latent's code can take, from the quantizer (see "The quantizer protocol").

        Returns
        -------
        list of np.ndarray or None
            d float32 arrays, latent j's values sorted and each once; None for a model without a quantizer.

        Raises
        ------
        TypeError
            If the quantizer has neither ``grid()`` nor a ``values`` tensor (d, K).
        """
        if self.quantizer is None:
            return None
        if callable(getattr(self.quantizer, "grid", None)):
            rows = self.quantizer.grid()
        elif isinstance(getattr(self.quantizer, "values", None), torch.Tensor) and self.quantizer.values.dim() == 2:
            rows = list(self.quantizer.values)
        else:
            raise TypeError(
                f"the quantizer {type(self.quantizer).__name__} tells no values per latent: give it a grid() "
                f"method returning d one-dimensional tensors, latent j's values (VAE's quantizer protocol)"
            )
        out = []
        for row in rows:
            values = row.detach().float().cpu().numpy() if isinstance(row, torch.Tensor) else np.asarray(row)
            out.append(np.unique(values.astype(np.float32).ravel()))
        if len(out) != self.latent_dim:
            raise TypeError(f"the quantizer's grid() gave {len(out)} latents' values; the model has {self.latent_dim}")
        return out

    def reconstruct(self, observations: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """Mean reconstructions from the posterior means.

        Parameters
        ----------
        observations : np.ndarray
            Observations (n, *obs).
        batch_size : int, default 512
            Observations per forward pass.

        Returns
        -------
        np.ndarray
            The decoder's means at the posterior means, the same shape as ``observations``.

        Raises
        ------
        ValueError
            If ``observations`` do not have the model's observation shape.
        """
        apply = self._batched(lambda x: (self.mean_observation(self.decode(self.code(self.encode(x)[0]))),), batch_size)
        return apply(observations)[0]

    def generate(self, codes: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """Decoder means for codes.

        Parameters
        ----------
        codes : np.ndarray
            Codes (n, d).
        batch_size : int, default 512
            Codes per forward pass.

        Returns
        -------
        np.ndarray
            Observations (n, *obs): the decoder's means.
        """
        codes = np.asarray(codes, dtype=np.float32)
        device = next(self.parameters()).device
        with torch.no_grad():
            outs = [
                self.mean_observation(self.decode(torch.from_numpy(codes[i : i + batch_size]).to(device)))
                .float()
                .cpu()
                .numpy()
                for i in range(0, len(codes), batch_size)
            ]
        return np.concatenate(outs) if outs else np.zeros((0, *self.observation_shape), np.float32)


def straight_through(z: torch.Tensor, quantized: torch.Tensor) -> torch.Tensor:
    """The straight-through estimator: forward, exactly ``quantized``'s values; backward, the identity to ``z``
    (and nothing to ``quantized``).

    ``quantized.detach() + (z − z.detach())``: the bracket is exactly 0 forward, so no rounding moves the
    quantized values, unlike ``z + (quantized − z).detach()``.
    """
    return quantized.detach() + (z - z.detach())


@dataclass(frozen=True, eq=False)
class Step:
    """One training step as an objective sees it: immutable, built once by ``Objective.forward``.

    ``kl`` is the analytic KL(q(z|x) ‖ N(0, I)), summed over latents and averaged over the
    batch, computed at most once per step, when first read.

    Parameters
    ----------
    x : torch.Tensor
        The batch (n, *obs).
    mean : torch.Tensor
        The posterior means (n, d).
    logvar : torch.Tensor
        The posterior log-variances (n, d).
    z : torch.Tensor
        The code the decoder saw (a reparameterised sample, or ``mean`` for deterministic
        objectives).
    decoded : torch.Tensor
        The decoder's output.
    step : int
        The index of the step.
    generator : torch.Generator, optional
        The step's torch generator (its reparameterisation noise already drawn).
    quantized : torch.Tensor, optional
        For a model with a quantizer, the quantized values of the code (n, d), with their gradient reaching
        the quantizer's parameters only; ``z`` then carries these values forward and the identity gradient
        back to the unquantized code (straight-through), or, for a quantizer with a ``bound`` method (Tripod's
        finite scalar quantizer), the gradient of ``bound`` at the code. None without a quantizer.
    model : VAE, optional
        The model that made the step (set by ``Objective.forward``), for the objectives whose regulariser runs
        its networks again (Tripod's Hessian penalty evaluates the decoder around ``z``). None on a Step built
        by hand; no other objective reads it.
    """

    x: torch.Tensor
    mean: torch.Tensor
    logvar: torch.Tensor
    z: torch.Tensor
    decoded: torch.Tensor
    step: int
    generator: torch.Generator | None = None
    quantized: torch.Tensor | None = None
    model: VAE | None = None

    @cached_property
    def kl_per_latent(self) -> torch.Tensor:
        """KL(q(z_j|x) ‖ N(0, 1)) per example and latent, (n, d)."""
        return gaussian_kl(self.mean, self.logvar)

    @cached_property
    def kl(self) -> torch.Tensor:
        """The batch mean of the KL summed over latents (a scalar that carries gradients)."""
        return self.kl_per_latent.sum(1).mean()


class Objective(nn.Module):
    """An objective: reconstruction plus a regulariser, as named loss terms.

    Subclasses override ``regularizer`` (the one hook most objectives need)
    and declare their hyperparameters as keyword arguments of ``__init__`` with
    defaults; ``hyperparameters`` reads them from the signature, so nothing is
    listed twice. An objective that trains parameters of its own (FactorVAE's
    discriminator) owns them and overrides ``auxiliary_step``.

    ``forward`` returns ``(terms, logs, step)``: ``terms`` are tensors whose sum is
    minimised; ``logs`` are floats worth recording (e.g. the raw KL); ``step`` is the
    ``Step`` record, which the trainer hands to ``auxiliary_step`` after the
    model's update. Objectives keep no state between calls other than their own
    trained parameters.
    """

    name: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    # True for objectives whose representation is a deterministic code (``ae``, ``qlae``): they decode the mean, never
    # a sample, and their model has no posterior variance (``build_model`` sets ``VAE.deterministic`` from it).
    deterministic: ClassVar[bool] = False
    # True for objectives that train on pairs of observations (weak supervision, ``untwine.models.weak``): the
    # trainer hands them batches of 2n observations in two halves, the pairs' first and second observations.
    paired: ClassVar[bool] = False
    # True for paired objectives that are also told which factor changed in each pair (``labels``).
    uses_labels: ClassVar[bool] = False
    # Settings an objective fixes, by name, with why (said when a user tries to set one).
    fixed: ClassVar[dict[str, str]] = {}
    #: Decoupled weight decay (AdamW) the objective asks of the model's optimiser; 0: plain Adam
    #: (``untwine.train.make_optimizer``). QLAE sets it from its hyperparameter ``weight_decay``.
    weight_decay: float = 0.0
    #: Why the objective trains in float32 only, or "" (every objective but those that say why): ``precision =
    #: "auto"`` then resolves to fp32 for it, and an explicit bf16 is refused (``untwine.train``).
    fp32_only: ClassVar[str] = ""

    @classmethod
    def hyperparameters(cls) -> dict[str, object]:
        """Hyperparameter names and defaults, read from ``__init__``'s signature."""
        sig = inspect.signature(cls.__init__)
        return {n: p.default for n, p in sig.parameters.items() if n != "self" and p.kind == p.KEYWORD_ONLY}

    def forward(
        self,
        model: VAE,
        x: torch.Tensor,
        step: int,
        generator: torch.Generator | None = None,
        labels: torch.Tensor | None = None,
    ):
        if labels is not None and not self.uses_labels:
            raise ValueError(
                f"{self.name or type(self).__name__} takes no labels of changed factors; train it on "
                f"single observations, or use gvae-labels / ml-vae-labels for labelled pairs"
            )
        mean, logvar = model.encode(x)
        mean, logvar = self.aggregate(mean, logvar, labels)
        z = mean if self.deterministic else model.sample_posterior(mean, logvar, generator)
        quantized = None
        if model.quantizer is not None:
            quantized = model.quantizer(z)
            # the straight-through gradient is that of the quantizer's bound where it has one (finite scalar
            # quantization rounds tanh(z): the gradient is tanh's), else the identity
            bound = getattr(model.quantizer, "bound", None)
            z = straight_through(z if bound is None else bound(z), quantized)
        decoded = model.decode(z)
        record = Step(
            x=x,
            mean=mean,
            logvar=logvar,
            z=z,
            decoded=decoded,
            step=step,
            generator=generator,
            quantized=quantized,
            model=model,
        )
        reconstruction = model.reconstruction_loss(x, decoded).mean()
        regularizer, logs = self.regularizer(record)
        terms = {"reconstruction": reconstruction, **regularizer}
        logs = dict(logs)
        if not self.deterministic:
            logs.setdefault("kl", float(record.kl.detach()))
            logs.setdefault("elbo", -float(reconstruction.detach()) - logs["kl"])
        return terms, logs, record

    def aggregate(
        self, mean: torch.Tensor, logvar: torch.Tensor, labels: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The posterior the decoder samples from, given the encoder's: the encoder's own for every objective but
        the weakly-supervised ones, which share latents within each pair (``untwine.models.weak``)."""
        return mean, logvar

    def regularizer(self, step: Step) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        """The objective's loss terms (tensors, added to the reconstruction) and logged values (floats)."""
        raise NotImplementedError

    def auxiliary_step(self, model: VAE, step: Step) -> dict[str, float]:
        """Train the objective's own parameters after the model's update; returns logs."""
        return {}

    def make_quantizer(self, latent_dim: int) -> nn.Module | None:
        """The quantizer the model applies to its code (``VAE(quantizer=...)``), or None (every objective but
        the quantized ones)."""
        return None

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The objective's own optimisers by name; the trainer checkpoints them."""
        return {}

    def configure(self, model: VAE, train_config, data) -> None:
        """Called once by the trainer before training, with the model, the TrainConfig and the dataset
        (e.g. to build an objective's own networks and optimisers, or read the dataset's size)."""
