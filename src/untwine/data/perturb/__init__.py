"""The perturbed datasets of seed 002 (see :mod:`untwine.data.perturb.datasets`), moved to a package."""

from .datasets import (FORMAT, KINDS, VERSION, PatternFactor, Posterior, PerturbedDataset, description_clip, fit_range,
                       from_description, hashed_uniform, lowest_mig, pattern, perturb, perturb_lowest_mig,
                       read_description, scaling_for, shifted_pattern)

__all__ = [
    "FORMAT", "KINDS", "VERSION", "PatternFactor", "Posterior", "PerturbedDataset", "description_clip", "fit_range",
    "from_description", "hashed_uniform", "lowest_mig", "pattern", "perturb", "perturb_lowest_mig",
    "read_description", "scaling_for", "shifted_pattern",
]
