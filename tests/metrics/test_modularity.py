"""Modularity/explicitness known answers.

* identity: each code has MI with one factor only (others at plug-in bias), so
  modularity ~ 1 (> 0.95); a 1-D multinomial logistic regression on an ordinal
  code separates its classes, so explicitness ~ 1 (> 0.95).
* duplicated code: both copies are modular, modularity stays ~ 1.
* missing factor: that factor's AUC is ~0.5 on test, explicitness_test ~ (K − 0.5)/K.
* pure noise: explicitness_test ~ 0.5.
* rotated: every code mixes factors, modularity well below 1.
"""

import numpy as np
import pytest

from untwine.metrics import modularity_explicitness
from untwine.metrics.modularity import modularity

from tests.helpers.cases import train_test

SIZES = (3, 4, 5)


def run(name, **kw):
    return modularity_explicitness(*train_test(name, SIZES, 3000, 1500), **kw)


def test_identity_and_duplicated():
    for name in ("identity", "duplicated"):
        out = run(name)
        assert out["modularity_score"] > 0.95
        assert out["explicitness_score_test"] > 0.95
        assert out["explicitness_score_train"] > 0.95


def test_missing_factor():
    out = run("missing")
    assert out["explicitness_score_test"] == pytest.approx((3 - 0.5) / 3, abs=0.03)


def test_noise_and_rotation():
    assert run("noise")["explicitness_score_test"] == pytest.approx(0.5, abs=0.03)
    assert run("rotated")["modularity_score"] < 0.8


def test_modularity_formula():
    assert modularity(np.eye(3)) == 1.0
    assert modularity(np.zeros((2, 3))) == 0.0
    assert modularity(np.array([[1.0, 1.0]])) == pytest.approx(0.0)


def test_test_sample_missing_a_class_does_not_crash():
    ct, ft, cs, fs = train_test("identity", SIZES, 3000, 1500)
    keep = fs[:, 2] != 4
    out = modularity_explicitness(ct, ft, cs[keep], fs[keep])
    assert out["explicitness_score_test"] > 0.95


def test_parallel_gives_same_value():
    args = train_test("rotated", SIZES, 600, 300)
    assert modularity_explicitness(*args, n_jobs=1) == modularity_explicitness(*args, n_jobs=2)
