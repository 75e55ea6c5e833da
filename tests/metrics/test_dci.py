"""DCI known answers (definitions in the module docstring).

* identity: each factor is read from its own code only, importances are one-hot:
  disentanglement and completeness ~ 1 (> 0.85), informativeness ~ 1.
* duplicated factor-0 code: factor 0's importance splits over two codes, its
  completeness falls towards 1 − log 2 / log d; completeness drops, D stays high.
* missing factor: that factor is predicted at chance, informativeness_test falls to
  about (K − 1 + 1/size)/K.
* pure noise: accuracy at chance (1/size per factor), importances spread evenly:
  D and C low.
"""

import numpy as np
import pytest

from untwine.metrics import dci
from untwine.metrics.dci import completeness, disentanglement

from tests.helpers.cases import train_test

SIZES = (3, 4, 5)
N = (1500, 800)


@pytest.fixture(scope="module")
def identity():
    return dci(*train_test("identity", SIZES, *N), n_jobs=1)


def test_identity(identity):
    assert identity["disentanglement"] > 0.85
    assert identity["completeness"] > 0.85
    assert identity["informativeness_test"] > 0.97
    assert identity["informativeness_train"] > 0.97


def test_duplicated(identity):
    out = dci(*train_test("duplicated", SIZES, *N), n_jobs=1)
    assert out["completeness"] < identity["completeness"] - 0.05
    assert out["disentanglement"] > 0.8


def test_missing(identity):
    out = dci(*train_test("missing", SIZES, *N), n_jobs=1)
    expected = (len(SIZES) - 1 + 1 / SIZES[0]) / len(SIZES)
    assert out["informativeness_test"] == pytest.approx(expected, abs=0.05)


def test_noise():
    out = dci(*train_test("noise", SIZES, *N), n_jobs=1)
    chance = np.mean([1 / s for s in SIZES])
    assert out["informativeness_test"] < chance + 0.08
    assert out["disentanglement"] < 0.3 and out["completeness"] < 0.3


def test_importance_formulas():
    one_hot = np.eye(3)
    assert disentanglement(one_hot) == pytest.approx(1.0, abs=1e-6)
    assert completeness(one_hot) == pytest.approx(1.0, abs=1e-6)
    uniform = np.ones((3, 3))
    assert disentanglement(uniform) == pytest.approx(0.0, abs=1e-6)
    assert completeness(uniform) == pytest.approx(0.0, abs=1e-6)
    assert disentanglement(np.zeros((3, 2))) == pytest.approx(0.0, abs=1e-6)


FAST_TOLERANCE = 0.02  # documented in docs/metrics.md


def test_fast_preset_is_close_on_identity(identity):
    out = dci(*train_test("identity", SIZES, *N), fast=True, n_jobs=1)
    for key in identity:
        assert abs(out[key] - identity[key]) < FAST_TOLERANCE


def test_fast_preset_is_close_on_rotated():
    data = train_test("rotated", SIZES, 600, 400)
    reference, fast = dci(*data, n_jobs=1), dci(*data, fast=True, n_jobs=1)
    for key in reference:
        assert abs(fast[key] - reference[key]) < FAST_TOLERANCE, key


def test_fast_booster_is_the_reference_algorithm():
    """With at most 255 distinct values per code the bins are exact: the same trees
    on the training points (decision values equal up to rounding), the same
    importances where no two codes tie for a split, the reference's thresholds."""
    from sklearn.ensemble import GradientBoostingClassifier

    from untwine.metrics._boosting import ExactGradientBoostingClassifier

    ct, ft, cs, fs = train_test("rotated", SIZES, 100, 300)
    y = ft[:, 0]
    ref = GradientBoostingClassifier(random_state=0).fit(ct, y)
    fast = ExactGradientBoostingClassifier().fit(ct, y)
    centred = lambda raw: raw - raw.mean(axis=1, keepdims=True)
    # both the boosting loop's own scores and a walk down the fitted trees
    for raw in (fast.decision_function(ct), fast._traverse(ct.astype(np.float32))):
        assert np.abs(centred(ref.decision_function(ct)) - centred(raw)).max() < 1e-9
    assert np.abs(ref.feature_importances_ - fast.feature_importances_).max() < 1e-4
    np.testing.assert_array_equal(ref.predict(cs), fast.predict(cs))


def test_compiled_split_search_is_built():
    """The install compiles _native_trees (CI has a C compiler); without it the fast preset
    falls back to binned splits, with a warning, and larger deviations."""
    from untwine.metrics import _native

    assert _native.available("trees"), "reinstall untwine with a C compiler present to build _native_trees"


def test_compiled_trees_are_the_reference_trees_beyond_255_points():
    """At 600 points (past the NumPy exact path) the compiled search grows the reference's
    trees: the same decision values on the training points. Importances agree up to the
    ties between codes that cut out the same points, which both break at random (the
    reference's own spread over random_state is 0.004 here; binned splits were 0.02 off)."""
    from sklearn.ensemble import GradientBoostingClassifier

    from untwine.metrics._boosting import ExactGradientBoostingClassifier

    ct, ft, cs, fs = train_test("rotated", SIZES, 600, 300)
    y = ft[:, 2]
    ref = GradientBoostingClassifier(random_state=0).fit(ct, y)
    fast = ExactGradientBoostingClassifier(random_state=0).fit(ct, y)
    centred = lambda raw: raw - raw.mean(axis=1, keepdims=True)
    for raw in (fast.decision_function(ct), fast._traverse(ct.astype(np.float32))):
        assert np.abs(centred(ref.decision_function(ct)) - centred(raw)).max() < 1e-6
    assert np.abs(ref.feature_importances_ - fast.feature_importances_).max() < 0.015
    np.testing.assert_array_equal(ref.predict(cs), fast.predict(cs))


def test_without_the_compiled_search_the_preset_warns_and_still_works(monkeypatch):
    from untwine.metrics import _native
    from untwine.metrics._boosting import ExactGradientBoostingClassifier

    monkeypatch.setattr(_native, "load", lambda kernel: None)
    monkeypatch.setattr(_native, "_warned", False)
    ct, ft, cs, fs = train_test("identity", SIZES, 600, 300)
    with pytest.warns(RuntimeWarning, match="not built"):
        model = ExactGradientBoostingClassifier(random_state=0).fit(ct, ft[:, 0])
    assert np.mean(model.predict(cs) == fs[:, 0]) > 0.97
