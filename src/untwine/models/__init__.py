"""Models: one VAE and objectives that differ only in their regulariser.

``OBJECTIVES`` maps each objective's name to its class (the one place names live);
``build_model`` turns a ``ModelConfig`` into ``(VAE, Objective)``.
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
from .qlae import QLAE, ScalarCodebooks
from .tripod import FiniteScalarQuantizer, Tripod
from ..estimators import gaussian_kl
from .vae import VAE, DeterministicCodeError, ModelConfig, Objective, Step
from .weak import AdaGVAE, AdaMLVAE, GVAELabels, MLVAELabels

OBJECTIVES: dict[str, type[Objective]] = {
    cls.name: cls
    for cls in (
        VanillaVAE,
        BetaVAE,
        AnnealedVAE,
        BetaTCVAE,
        FactorVAE,
        DIPVAEI,
        DIPVAEII,
        Decomposition,
        Autoencoder,
        QLAE,
        Tripod,
        AdaGVAE,
        AdaMLVAE,
        GVAELabels,
        MLVAELabels,
    )
}


def objective_class(name: str) -> type[Objective]:
    """The objective class called ``name``.

    Parameters
    ----------
    name : str
        An objective's name, a key of ``OBJECTIVES`` (``untwine models`` lists them).

    Returns
    -------
    type[Objective]
        The class, not an instance.

    Raises
    ------
    ValueError
        If ``name`` is not an objective; the message suggests the closest name and lists the
        valid ones.
    """
    try:
        return OBJECTIVES[name]
    except KeyError:
        close = difflib.get_close_matches(name, OBJECTIVES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown model {name!r}{hint}; valid names: {', '.join(sorted(OBJECTIVES))}") from None


def build_objective(name: str, params: dict | None = None) -> Objective:
    """The objective ``name`` with hyperparameters ``params`` (others at their defaults).

    Parameters
    ----------
    name : str
        An objective's name, a key of ``OBJECTIVES``.
    params : dict, optional
        Hyperparameter name -> value; missing ones take the objective's defaults.

    Returns
    -------
    Objective
        The objective, ready to be configured by the trainer.

    Raises
    ------
    ValueError
        If ``name`` is not an objective, ``params`` names a hyperparameter it does not have (the
        message lists those it has), or a value is out of range.
    """
    cls = objective_class(name)
    params = dict(params or {})
    valid = cls.hyperparameters()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        listing = ", ".join(f"{k}={v!r}" for k, v in valid.items()) or "none"
        notes = "".join(f"; {cls.fixed[k]}" for k in unknown if k in cls.fixed)
        raise ValueError(
            f"model {name!r} has no hyperparameter {', '.join(unknown)}; its hyperparameters: {listing}{notes}"
        )
    return cls(**params)


def build_model(config: ModelConfig, observation_shape: tuple[int, ...]) -> tuple[VAE, Objective]:
    """The VAE and its objective for ``config`` and a dataset's observation shape.

    Parameters
    ----------
    config : ModelConfig
        The objective, its hyperparameters, the latent size and the likelihood.
    observation_shape : tuple of int
        The shape of one observation, e.g. ``(1, 64, 64)``.

    Returns
    -------
    tuple of (VAE, Objective)
        The model (freshly initialised from torch's global generator) and its objective; the model's
        ``quantizer`` is the objective's (``Objective.make_quantizer``) and ``deterministic`` the objective's.

    Raises
    ------
    ValueError
        As ``build_objective``, or if the likelihood or latent size is invalid.
    """
    objective = build_objective(config.objective, config.params)
    model = VAE(
        observation_shape,
        latent_dim=config.latent_dim,
        likelihood=config.likelihood,
        quantizer=objective.make_quantizer(config.latent_dim),
        deterministic=objective.deterministic,
        encoder_norm=config.encoder_norm,
    )
    return model, objective


__all__ = [
    "OBJECTIVES",
    "VAE",
    "DeterministicCodeError",
    "ModelConfig",
    "Objective",
    "Step",
    "BetaVAE",
    "VanillaVAE",
    "AnnealedVAE",
    "BetaTCVAE",
    "FactorVAE",
    "Discriminator",
    "DIPVAEI",
    "DIPVAEII",
    "Decomposition",
    "Autoencoder",
    "QLAE",
    "ScalarCodebooks",
    "Tripod",
    "FiniteScalarQuantizer",
    "AdaGVAE",
    "AdaMLVAE",
    "GVAELabels",
    "MLVAELabels",
    "build_model",
    "build_objective",
    "objective_class",
    "gaussian_kl",
]
