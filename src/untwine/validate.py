"""Checks of user-given numbers, shared by every room (standard library only).

One function per kind of value, so that every hyperparameter is checked the same
way and every message names the parameter, what it must be and what it got.
"""

from __future__ import annotations

import math
import numbers


def check_positive(name: str, value, *, zero_ok: bool = False) -> float:
    """``value`` as a float, if it is a finite number > 0 (≥ 0 with ``zero_ok``).

    Parameters
    ----------
    name
        The parameter's name, for the message.
    value
        The value to check: a real number (not a bool).
    zero_ok
        Accept 0 as well.

    Returns
    -------
    float
        ``value`` as a float.

    Raises
    ------
    ValueError
        Naming ``name``: ``value`` is not a number (or is a bool), is not finite, is negative, or is 0
        without ``zero_ok``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
        wanted = "a finite non-negative number" if zero_ok else "a finite positive number"
        raise ValueError(f"{name} must be {wanted}, got {value}")
    return value


def check_count(name: str, value, *, zero_ok: bool = False) -> int:
    """``value`` as an int, if it is a whole number ≥ 1 (≥ 0 with ``zero_ok``).

    Parameters
    ----------
    name
        The parameter's name, for the message.
    value
        The value to check: a real number with no fractional part (not a bool), e.g. ``3`` or ``3.0``.
    zero_ok
        Accept 0 as well.

    Returns
    -------
    int
        ``value`` as an int.

    Raises
    ------
    ValueError
        Naming ``name``: ``value`` is not a whole number (a bool, NaN and infinity included), or is below 1
        (below 0 with ``zero_ok``).
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or int(value) != value
    ):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    value = int(value)
    if value < (0 if zero_ok else 1):
        raise ValueError(f"{name} must be a whole number ≥ {0 if zero_ok else 1}, got {value}")
    return value


__all__ = ["check_positive", "check_count"]
