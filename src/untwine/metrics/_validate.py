"""Argument checks shared by the array-level cores."""

from __future__ import annotations

import numpy as np


class CollapsedRepresentation(ValueError):
    """A representation that carries nothing to score: every latent takes a single value over the points.

    Raised by the metrics that are undefined there (``infomec``, ``dci_es``); a ``ValueError``, so callers
    that catch those keep working. A run's scoring (``untwine.runs``) records it as the metric's reason
    instead of a number.
    """


def check_not_collapsed(codes: np.ndarray, metric: str) -> None:
    """Raise :class:`CollapsedRepresentation` when every column of ``codes`` (n, d) takes a single value."""
    if codes.shape[1] and np.all(codes.max(axis=0) == codes.min(axis=0)):
        raise CollapsedRepresentation(
            f"no active latent: all {codes.shape[1]} latents take a single value over these {codes.shape[0]} "
            f"points (a collapsed or constant representation, which {metric} cannot score); check the "
            f"representation, or pass the codes of a trained model"
        )


def check_codes(codes, name: str = "codes") -> np.ndarray:
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n points, d codes), got shape {codes.shape}")
    if codes.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 points, got {codes.shape[0]}")
    if not np.all(np.isfinite(codes)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return codes


def check_factors(factors, n: int, name: str = "factors") -> np.ndarray:
    factors = np.asarray(factors)
    if factors.ndim != 2 or factors.shape[0] != n:
        raise ValueError(f"{name} must be a 2-D integer array (n={n} points, K factors), got shape {factors.shape}")
    if not np.issubdtype(factors.dtype, np.integer):
        if np.all(np.mod(factors, 1) == 0):
            factors = factors.astype(np.int64)
        else:
            raise ValueError(f"{name} must hold integer factor indices, got dtype {factors.dtype}")
    return factors.astype(np.int64, copy=False)


def check_codes_factors(codes, factors, suffix: str = ""):
    codes = check_codes(codes, "codes" + suffix)
    return codes, check_factors(factors, codes.shape[0], "factors" + suffix)


def check_train_test(codes_train, factors_train, codes_test, factors_test):
    ct, ft = check_codes_factors(codes_train, factors_train, "_train")
    cs, fs = check_codes_factors(codes_test, factors_test, "_test")
    if ct.shape[1] != cs.shape[1] or ft.shape[1] != fs.shape[1]:
        raise ValueError(
            f"train and test disagree on the number of codes or factors: "
            f"codes {ct.shape} vs {cs.shape}, factors {ft.shape} vs {fs.shape}"
        )
    return ct, ft, cs, fs
