"""Fixtures of the metric tests; the toy classes live in ``tests.helpers.toys``."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.toys import Recorder, ToyData, random_rotation  # noqa: F401  (re-exported for fixtures)


@pytest.fixture
def toy():
    return ToyData()


@pytest.fixture
def rng():
    return np.random.default_rng(0)
