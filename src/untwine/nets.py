"""Encoder and decoder architectures.

ReLUs are in place: on the CPU that saves an allocation per activation and is
measurably faster (bench/train_throughput.py); the math is unchanged.

``ConvEncoder``/``DeconvDecoder`` are the networks of the reference study
(Locatello et al. 2019, Table 1 of its appendix; docs/reference.md): for 64×64
images with any number of channels. ``MLPEncoder``/``MLPDecoder`` serve datasets
whose observations are not 64×64 images (vectors, small images).
``build_encoder`` and ``build_decoder`` pick by observation shape.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class ConvEncoder(nn.Module):
    """The reference encoder for 64×64 images: conv 4×4/2 with 32, 32, 64, 64 channels (ReLU), dense 256 (ReLU), dense 2·d.

    Its forward pass returns the posterior mean and log-variance, each (n, d).

    Parameters
    ----------
    channels : int
        The image's channels C; the input is (n, C, 64, 64).
    latent_dim : int
        The number of latents d.
    norm : {"none", "instance"}, default "none"
        ``"none"``: the reference network. ``"instance"``: an instance norm (``GroupNorm`` with one group per
        channel, learned scale and shift) after every convolution and a layer norm after the dense 256, each
        before its ReLU, as the Tripod authors' encoder normalises its layers (``ENCODER_NORMS``).
    """

    def __init__(self, channels: int, latent_dim: int, norm: str = "none"):
        super().__init__()
        self.latent_dim = latent_dim
        norm = check_encoder_norm(norm)
        layers: list[nn.Module] = []
        for c_in, c_out in ((channels, 32), (32, 32), (32, 64), (64, 64)):
            layers.append(nn.Conv2d(c_in, c_out, 4, 2, 1))
            if norm == "instance":
                layers.append(nn.GroupNorm(c_out, c_out))
            layers.append(nn.ReLU(inplace=True))
        layers += [nn.Flatten(), nn.Linear(64 * 4 * 4, 256)]
        if norm == "instance":
            layers.append(nn.LayerNorm(256))
        layers += [nn.ReLU(inplace=True), nn.Linear(256, 2 * latent_dim)]
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = self.features(x).chunk(2, dim=1)
        return mean, logvar


class DeconvDecoder(nn.Module):
    """The reference decoder for 64×64 images: dense 256, dense 4·4·64 (ReLU), transposed conv 4×4/2 with 64, 32, 32 channels (ReLU), then to C.

    Its forward pass returns per-pixel logits (Bernoulli) or means (Gaussian), (n, C, 64, 64).

    Parameters
    ----------
    channels : int
        The image's channels C.
    latent_dim : int
        The number of latents d.
    """

    def __init__(self, channels: int, latent_dim: int):
        super().__init__()
        self.dense = nn.Sequential(
            nn.Linear(latent_dim, 256),
            nn.ReLU(inplace=True),
            nn.Linear(256, 64 * 4 * 4),
            nn.ReLU(inplace=True),
        )
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(64, 64, 4, 2, 1),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(64, 32, 4, 2, 1),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(32, 32, 4, 2, 1),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(32, channels, 4, 2, 1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.deconv(self.dense(z).view(-1, 64, 4, 4))


class MLPEncoder(nn.Module):
    """Two hidden layers (ReLU) from a flattened observation to mean and log-variance.

    Its forward pass returns the posterior mean and log-variance, each (n, d).

    Parameters
    ----------
    observation_shape : tuple of int
        The shape of one observation (flattened on input).
    latent_dim : int
        The number of latents d.
    hidden : int, default 256
        Units per hidden layer.
    norm : {"none", "instance"}, default "none"
        ``"instance"``: a layer norm after each hidden layer, before its ReLU (an MLP's features have no channels
        to normalise one by one; ``ConvEncoder``).
    """

    def __init__(self, observation_shape: tuple[int, ...], latent_dim: int, hidden: int = 256, norm: str = "none"):
        super().__init__()
        self.latent_dim = latent_dim
        norm = check_encoder_norm(norm)
        size = math.prod(observation_shape)
        layers: list[nn.Module] = [nn.Flatten()]
        for n_in in (size, hidden):
            layers.append(nn.Linear(n_in, hidden))
            if norm == "instance":
                layers.append(nn.LayerNorm(hidden))
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.Linear(hidden, 2 * latent_dim))
        self.features = nn.Sequential(*layers)

    def forward(self, x):
        mean, logvar = self.features(x).chunk(2, dim=1)
        return mean, logvar


class MLPDecoder(nn.Module):
    """Two hidden layers (ReLU) from a code to a flattened observation, reshaped.

    Parameters
    ----------
    observation_shape : tuple of int
        The shape of one observation, which the output takes.
    latent_dim : int
        The number of latents d.
    hidden : int, default 256
        Units per hidden layer.
    """

    def __init__(self, observation_shape: tuple[int, ...], latent_dim: int, hidden: int = 256):
        super().__init__()
        self.observation_shape = tuple(observation_shape)
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, math.prod(observation_shape)),
        )

    def forward(self, z):
        return self.net(z).view(-1, *self.observation_shape)


#: the encoder normalisations (``ModelConfig.encoder_norm``): none (the reference networks) or instance
ENCODER_NORMS = ("none", "instance")


def check_encoder_norm(norm: str, name: str = "encoder_norm") -> str:
    """``norm`` if it is one of ENCODER_NORMS, else a ValueError naming ``name``, the value and the valid ones."""
    if norm not in ENCODER_NORMS:
        raise ValueError(
            f"unknown {name} {norm!r}; valid: {', '.join(ENCODER_NORMS)} (none: the reference encoder; instance: an "
            "instance norm after every convolution and a layer norm on the dense layer; docs/training.md)"
        )
    return norm


def _is_reference_image(shape: tuple[int, ...]) -> bool:
    return len(shape) == 3 and shape[1] == 64 and shape[2] == 64


def build_encoder(observation_shape: tuple[int, ...], latent_dim: int, norm: str = "none") -> nn.Module:
    """The reference conv encoder for (C, 64, 64) observations, an MLP otherwise.

    Parameters
    ----------
    observation_shape : tuple of int
        The shape of one observation.
    latent_dim : int
        The number of latents d.
    norm : {"none", "instance"}, default "none"
        The encoder's normalisation (``ConvEncoder``, ``MLPEncoder``).

    Returns
    -------
    torch.nn.Module
        A ``ConvEncoder`` or an ``MLPEncoder``.
    """
    observation_shape = tuple(observation_shape)
    if _is_reference_image(observation_shape):
        return ConvEncoder(observation_shape[0], latent_dim, norm)
    return MLPEncoder(observation_shape, latent_dim, norm=norm)


def build_decoder(observation_shape: tuple[int, ...], latent_dim: int) -> nn.Module:
    """The reference deconv decoder for (C, 64, 64) observations, an MLP otherwise.

    Parameters
    ----------
    observation_shape : tuple of int
        The shape of one observation.
    latent_dim : int
        The number of latents d.

    Returns
    -------
    torch.nn.Module
        A ``DeconvDecoder`` or an ``MLPDecoder``.
    """
    observation_shape = tuple(observation_shape)
    if _is_reference_image(observation_shape):
        return DeconvDecoder(observation_shape[0], latent_dim)
    return MLPDecoder(observation_shape, latent_dim)
