"""Fixtures of the metric tests; the toy classes live in ``_toys``."""

from __future__ import annotations

import numpy as np
import pytest

from _toys import Recorder, ToyData, random_rotation  # noqa: F401  (re-exported for fixtures)


@pytest.fixture
def toy():
    return ToyData()


@pytest.fixture
def rng():
    return np.random.default_rng(0)
