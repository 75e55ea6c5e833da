"""The one loader of the fast preset's compiled kernels, and its one fallback warning.

Two optional extensions are built at install (setup.py), each a C kernel behind a
Cython wrapper that checks dtype, shape and contiguity before C sees an array:

* ``"trees"`` (``_native_trees``): the exact split search of the boosted trees (DCI and
  downstream_gbt); without it the search is exact in NumPy up to 255 training points
  and binned beyond, with larger deviations from the reference;
* ``"logistic"`` (``_native_logistic``): the logistic objective of downstream_lr;
  without it the objective runs in NumPy, about half as fast, same values to rounding.

Callers look kernels up through ``load`` at call time (never a module-level
constant), so a test can simulate a missing kernel by monkeypatching ``load``.
"""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType

__all__ = ["KERNELS", "load", "available", "warn_fallback"]

KERNELS = {"trees": "untwine.metrics._native_trees", "logistic": "untwine.metrics._native_logistic"}

# What the NumPy path costs, per missing kernel, for the warning.
_CONSEQUENCE = {
    "trees": "the boosted trees (DCI, downstream_gbt) search splits exactly only up to 255 training points "
    "and among 255 quantile bins per code beyond (deviations from the reference up to 0.05, "
    "docs/metrics.md)",
    "logistic": "downstream_lr evaluates its objective in NumPy (about half as fast, same values to rounding)",
}

_imported: dict[str, ModuleType | None] = {}  # an import is tried once per process
_warned = False  # the fallback warning is given once per process


def load(kernel: str) -> ModuleType | None:
    """The compiled extension of ``kernel`` ('trees' or 'logistic'), or None when it was not built."""
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; expected one of {sorted(KERNELS)}")
    if kernel not in _imported:
        try:
            _imported[kernel] = importlib.import_module(KERNELS[kernel])
        except ImportError:
            _imported[kernel] = None
    return _imported[kernel]


def available(kernel: str | None = None) -> bool:
    """Whether ``kernel`` (default: every kernel) was built at install."""
    return all(load(name) is not None for name in ([kernel] if kernel else KERNELS))


def warn_fallback(stacklevel: int = 2) -> None:
    """One RuntimeWarning per process, the first time the fast preset takes a NumPy path
    because a kernel is missing; it names every missing kernel and what that costs."""
    global _warned
    if _warned:
        return
    missing = [name for name in KERNELS if load(name) is None]
    if not missing:
        return
    _warned = True
    consequences = "; ".join(_CONSEQUENCE[name] for name in missing)
    modules = ", ".join(KERNELS[name].rsplit(".", 1)[1] for name in missing)
    warnings.warn(
        f"untwine's compiled metric kernels are not built ({modules}), so the fast preset uses NumPy: "
        f"{consequences}. Reinstall untwine where a C compiler is present (e.g. `pip install -e .` "
        "with gcc or clang) to build them.",
        RuntimeWarning,
        stacklevel=stacklevel + 1,
    )
