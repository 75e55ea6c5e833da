"""The fast preset's logistic regression (``_logistic.py``): its objective equals
scikit-learn's to rounding, and the cross-validated fit makes the reference's choices.

Known answers: scikit-learn's own ``LinearModelLoss`` (the objective the reference's
L-BFGS minimises) at random coefficients, including scores 800 apart (the softmax
underflow path); on a well-conditioned problem, where L-BFGS converges, the same C,
coefficients and predictions as ``LogisticRegressionCV``.
"""

import warnings

import numpy as np
import pytest
from sklearn._loss.loss import HalfBinomialLoss, HalfMultinomialLoss
from sklearn.linear_model import LogisticRegressionCV
from sklearn.linear_model._linear_loss import LinearModelLoss
from sklearn.model_selection import KFold

from untwine.metrics import downstream
from untwine.metrics.downstream import _predictor
from untwine.metrics import _native
from untwine.metrics._logistic import LogisticRegressionCVReplica, loss_grad

from tests.helpers.cases import train_test


def _reference_loss_grad(coef, x, y, k, l2):
    base = HalfBinomialLoss() if k == 2 else HalfMultinomialLoss(n_classes=k)
    return LinearModelLoss(base, fit_intercept=True).loss_gradient(coef, x, y.astype(float), None, l2, 1)


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("k", [2, 3, 32])
@pytest.mark.parametrize("scale", [0.5, 200.0])
def test_objective_equals_scikit_learn(native, k, scale):
    rng = np.random.default_rng(k)
    n, d = 203, 7  # n not a multiple of the C code's block of points
    x = rng.standard_normal((n, d))
    y = rng.integers(0, k, n).astype(np.int64)
    coef = scale * rng.standard_normal(d + 1 if k == 2 else k * (d + 1))  # 200: scores ~1000 apart
    l2 = 1.0 / (0.37 * n)
    want_loss, want_grad = _reference_loss_grad(coef, x, y, k, l2)
    loss, grad = loss_grad(coef, np.ascontiguousarray(x.T), y, k, l2, native=native)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    assert loss == pytest.approx(want_loss, rel=1e-12)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-10, atol=1e-12 * np.abs(want_grad).max())


def test_the_install_built_the_compiled_objective():
    """CI has a C compiler; without one the replica evaluates the objective in NumPy
    (``test_objective_equals_scikit_learn[False-...]``)."""
    assert _native.available("logistic"), "reinstall untwine with a C compiler present to build _native_logistic"


def _reference_fit(x, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LogisticRegressionCV(Cs=10, cv=KFold(n_splits=5)).fit(x, y)


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("k", [2, 4])
def test_converged_problem_gives_the_reference_fit(k, native):
    """Classes overlap, so no C sends the weights off to infinity and every fit of the
    path converges well inside 100 iterations: then the replica must reproduce the
    reference's selected C, its coefficients and its predictions."""
    rng = np.random.default_rng(3)
    n, d = 600, 4
    y = rng.integers(0, k, n)
    x = 0.8 * np.eye(k, d)[y] + rng.standard_normal((n, d))
    ref = _reference_fit(x, y)
    assert ref.n_iter_.max() < 100  # a converged problem, or the test proves nothing
    got = LogisticRegressionCVReplica(exact_below=0, native=native).fit(x, y)
    assert got._reference is None  # the replica itself, not the hand-over to scikit-learn
    assert got.C_ == pytest.approx(ref.C_[0])
    np.testing.assert_allclose(got.scores_, ref.scores_[ref.classes_[-1]], atol=1e-12)
    np.testing.assert_allclose(got.coef_, ref.coef_, atol=1e-9)
    np.testing.assert_allclose(got.intercept_, ref.intercept_, atol=1e-9)
    x_new = rng.standard_normal((500, d)) * 2
    assert np.mean(got.predict(x_new) == ref.predict(x_new)) > 0.99


def test_labels_keep_their_values():
    rng = np.random.default_rng(0)
    y = rng.choice(np.array([7, -2, 40]), 120)
    x = np.eye(3)[np.searchsorted([-2, 7, 40], y)] * 3 + 0.1 * rng.standard_normal((120, 3))
    model = LogisticRegressionCVReplica(exact_below=0).fit(x, y)
    assert set(model.classes_) == {-2, 7, 40}
    assert np.mean(model.predict(x) == y) == 1.0


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="at least 2 classes"):
        LogisticRegressionCVReplica().fit(np.zeros((10, 2)), np.ones(10))
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        LogisticRegressionCVReplica().fit(np.zeros((10, 2)), np.ones(9))
    codes = np.zeros((10, 2))
    codes[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        LogisticRegressionCVReplica(exact_below=0).fit(codes, np.arange(10) % 2)
    with pytest.raises(RuntimeError, match="not fitted"):
        LogisticRegressionCVReplica().predict(np.zeros((3, 2)))


def test_unconverged_problem_stays_close_to_reference():
    """Many classes and C up to 10^4: the reference stops at its 100-iteration cap, so
    last-bit differences steer the replica elsewhere; accuracies stay within 0.02."""
    ct, ft, cs, fs = train_test("rotated", (12,), 400, 400)
    rng = np.random.default_rng(1)
    ct, cs = ct + 0.2 * rng.standard_normal(ct.shape), cs + 0.2 * rng.standard_normal(cs.shape)
    ct, cs = np.hstack([ct, rng.standard_normal((400, 2))]), np.hstack([cs, rng.standard_normal((400, 2))])
    ref = _reference_fit(ct, ft[:, 0])
    assert ref.n_iter_.max() == 100  # unconverged somewhere on the path, or the test proves less
    got = LogisticRegressionCVReplica(exact_below=0).fit(ct, ft[:, 0])
    for x, y in ((ct, ft[:, 0]), (cs, fs[:, 0])):
        assert abs(np.mean(got.predict(x) == y) - np.mean(ref.predict(x) == y)) <= 0.02


def test_small_training_sets_are_the_reference_itself():
    """Below ``exact_below`` (1,000 points) the fast preset hands the fit to scikit-learn,
    so downstream_lr's small sizes equal the reference exactly."""
    assert isinstance(_predictor("lr", True, 0)(), LogisticRegressionCVReplica)  # fast=True reaches the replica
    ct, ft, cs, fs = train_test("rotated", (3, 12), 100, 200)
    model = LogisticRegressionCVReplica().fit(ct, ft[:, 1])
    assert model._reference is not None and model._w is None
    assert np.array_equal(model.predict(cs), _reference_fit(ct, ft[:, 1]).predict(cs))
    ref = downstream(ct, ft, cs, fs, predictor="lr")
    fast = downstream(ct, ft, cs, fs, predictor="lr", fast=True)
    assert fast == ref


def test_without_the_extension_it_warns_once_and_still_fits(monkeypatch):
    import untwine.metrics._logistic as logistic

    monkeypatch.setattr(_native, "load", lambda kernel: None)
    monkeypatch.setattr(_native, "_warned", False)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 1200)
    x = np.eye(3)[y] + 0.2 * rng.standard_normal((1200, 3))  # class means sqrt(2) apart: noise 0.2 rarely crosses
    with pytest.warns(RuntimeWarning, match="_native_logistic"):
        model = logistic.LogisticRegressionCVReplica().fit(x, y)
    assert np.mean(model.predict(x) == y) > 0.97
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        logistic.LogisticRegressionCVReplica().fit(x, y)  # once only
