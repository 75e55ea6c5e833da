"""IRS known answers (definition: 1 − mean within-value quantile deviation / max deviation).

* identity: fixing a factor fixes its own code exactly, deviation 0, IRS = 1; the
  same for a duplicated code and for a representation missing a factor (IRS does
  not penalise what a code fails to capture).
* uniform noise on [-1, 1]: within every group the 99th percentile of |z − E z| is
  ~0.99 while the maximal deviation is ~1, so IRS ~ 0.01 (< 0.05).
* rotated: every code moves when any factor is held, IRS well below 1.
"""

import numpy as np
import pytest

from untwine.metrics import irs

from tests.helpers.cases import case, draw

SIZES = (3, 6, 10)


@pytest.mark.parametrize("name", ["identity", "duplicated", "missing"])
def test_robust_codes_score_one(name, rng):
    f = draw(rng, 5000, SIZES)
    out = irs(case(name, f, SIZES, rng), f)
    assert out["IRS"] == pytest.approx(1.0, abs=1e-12)
    assert out["num_active_dims"] == case(name, f, SIZES, rng).shape[1]


def test_uniform_noise_scores_near_zero(rng):
    f = draw(rng, 10_000, SIZES)
    assert irs(rng.uniform(-1, 1, (10_000, 4)), f)["IRS"] < 0.05


def test_rotation_is_lower(rng):
    f = draw(rng, 5000, SIZES)
    assert irs(case("rotated", f, SIZES, rng), f)["IRS"] < 0.8


def test_constant_codes_are_dropped(rng):
    f = draw(rng, 2000, SIZES)
    z = np.concatenate([case("identity", f, SIZES, rng), np.full((2000, 2), 3.0)], axis=1)
    out = irs(z, f)
    assert out["num_active_dims"] == 3 and out["IRS"] == pytest.approx(1.0)
    assert irs(np.zeros((100, 2)), f[:100]) == {"IRS": 0.0, "num_active_dims": 0}
