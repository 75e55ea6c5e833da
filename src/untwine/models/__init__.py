"""Models: one VAE and objectives that differ only in their regulariser.

``OBJECTIVES`` maps each objective's name to its class (the one place names live);
:func:`build_model` turns a :class:`ModelConfig` into ``(VAE, Objective)``.
"""

from __future__ import annotations

import difflib

from .annealed_vae import AnnealedVAE
from .autoencoder import Autoencoder
from .beta_tcvae import BetaTCVAE
from .beta_vae import BetaVAE, VanillaVAE
from .decomposition import Decomposition
from .dip_vae import DIPVAEI, DIPVAEII
from .factor_vae import Discriminator, FactorVAE
from ..estimators import gaussian_kl
from .vae import VAE, ModelConfig, Objective, Step

OBJECTIVES: dict[str, type[Objective]] = {
    cls.name: cls
    for cls in (VanillaVAE, BetaVAE, AnnealedVAE, BetaTCVAE, FactorVAE, DIPVAEI, DIPVAEII, Decomposition, Autoencoder)
}


def objective_class(name: str) -> type[Objective]:
    try:
        return OBJECTIVES[name]
    except KeyError:
        close = difflib.get_close_matches(name, OBJECTIVES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown model {name!r}{hint}; valid names: {', '.join(sorted(OBJECTIVES))}") from None


def build_objective(name: str, params: dict | None = None) -> Objective:
    """The objective ``name`` with hyperparameters ``params`` (others at their defaults)."""
    cls = objective_class(name)
    params = dict(params or {})
    valid = cls.hyperparameters()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        listing = ", ".join(f"{k}={v!r}" for k, v in valid.items()) or "none"
        raise ValueError(f"model {name!r} has no hyperparameter {', '.join(unknown)}; its hyperparameters: {listing}")
    return cls(**params)


def build_model(config: ModelConfig, observation_shape: tuple[int, ...]) -> tuple[VAE, Objective]:
    """(VAE, objective) for ``config`` and a dataset's observation shape."""
    objective = build_objective(config.objective, config.params)
    model = VAE(observation_shape, latent_dim=config.latent_dim, likelihood=config.likelihood)
    return model, objective


__all__ = ["OBJECTIVES", "VAE", "ModelConfig", "Objective", "Step", "BetaVAE", "VanillaVAE", "AnnealedVAE", "BetaTCVAE",
           "FactorVAE", "Discriminator", "DIPVAEI", "DIPVAEII", "Decomposition", "Autoencoder", "build_model",
           "build_objective", "objective_class", "gaussian_kl"]
