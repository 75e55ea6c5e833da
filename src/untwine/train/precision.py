"""Which arithmetic a run trains in: float32, or bfloat16 autocast where the hardware runs it fast.

``train.precision`` is ``"fp32"``, ``"bf16"`` or ``"auto"``. bf16 autocast covers the
encoder and decoder (convolutions and linear layers); sampling, losses and the optimiser
stay in float32. ``auto`` picks bf16 where it is fast — a CPU with AMX (Intel Sapphire
Rapids and later: ``amx_bf16`` in ``/proc/cpuinfo``) or a CUDA GPU with bf16 support — and
fp32 elsewhere (an AVX2-only CPU runs bf16 10–15× slower than fp32), but only where
``AUTO_BF16`` allows it: bf16 becomes the automatic choice once it has been shown to
train as well as fp32 (docs/training.md, "Precision").
"""

from __future__ import annotations

import platform
from pathlib import Path

import torch

PRECISIONS = ("auto", "fp32", "bf16")
DTYPES = {"fp32": None, "bf16": torch.bfloat16}

#: Whether ``auto`` may choose bf16 on hardware that runs it fast (see docs/training.md, "Precision").
AUTO_BF16 = {"cpu": True, "cuda": True}


def cpu_flags(path: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags as Linux reports them (empty where there is no /proc/cpuinfo).

    Parameters
    ----------
    path : str or Path, default "/proc/cpuinfo"
        The file to read.

    Returns
    -------
    set of str
        The flags, e.g. ``{"avx2", "amx_bf16", ...}``.
    """
    try:
        text = Path(path).read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_model(path: str | Path = "/proc/cpuinfo") -> str:
    """The CPU's model name, for the machine records of benches and experiments.

    Linux's ``model name``, else what the platform module says.

    Parameters
    ----------
    path : str or Path, default "/proc/cpuinfo"
        The file to read.

    Returns
    -------
    str
        The model name.
    """
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fast_bf16(device: torch.device, flags: set[str] | None = None) -> bool:
    """Whether ``device`` runs bf16 matrix work faster than fp32 (AMX on the CPU; bf16 support on CUDA).

    Parameters
    ----------
    device : torch.device
        The device.
    flags : set of str, optional
        The CPU's flags; None reads them with ``cpu_flags``.

    Returns
    -------
    bool
        True where bf16 is fast.
    """
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        return "amx_bf16" in (cpu_flags() if flags is None else flags)
    return False


def resolve_precision(
    name: str, device: torch.device, *, recorded: str | None = None, flags: set[str] | None = None
) -> str:
    """The precision a run uses: ``fp32`` or ``bf16``.

    Parameters
    ----------
    name : {"auto", "fp32", "bf16"}
        The precision asked for (``train.precision``); ``auto`` picks bf16 where it is fast and
        ``AUTO_BF16`` allows it.
    device : torch.device
        The device the run trains on.
    recorded : str, optional
        The precision a run already trained in (from its checkpoint): ``auto`` keeps it, and an
        explicit other choice is refused, since a run continued in another precision is no longer
        one run.
    flags : set of str, optional
        The CPU's flags; None reads them with ``cpu_flags``.

    Returns
    -------
    str
        ``"fp32"`` or ``"bf16"``.

    Raises
    ------
    ValueError
        If ``name`` is unknown, or differs from ``recorded``.
    """
    if name not in PRECISIONS:
        raise ValueError(f"train.precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
    if name == "auto":
        if recorded is not None:
            return recorded
        auto = AUTO_BF16.get(device.type, False) and fast_bf16(device, flags)
        return "bf16" if auto else "fp32"
    if recorded is not None and name != recorded:
        raise ValueError(
            f"this run trained in {recorded} and cannot continue in {name}: a resume must keep its "
            f"precision to stay one run. Use --precision {recorded} (or auto), or another --out"
        )
    return name


__all__ = ["PRECISIONS", "AUTO_BF16", "cpu_flags", "cpu_model", "fast_bf16", "resolve_precision"]
