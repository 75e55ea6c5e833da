"""The compiled kernels of the fast preset behind their checked interface (``_native.py``,
``_native_trees.pyx``, ``_native_logistic.pyx``).

Known answers:
* a wrong dtype, a non-contiguous array, a wrong shape or an out-of-range index raise
  ValueError naming the argument, the expected dtype/shape and what came (never a
  crash or a silent read outside a buffer);
* the compiled split search grows the trees of its NumPy oracle (``_tree_fallback``)
  bit for bit wherever no two codes tie for a split; the compiled objective equals the
  NumPy one to rounding;
* without the extensions one RuntimeWarning names them, then the NumPy paths run;
* the boosted trees reuse their training scores only for codes of the same content.
"""

import warnings

import numpy as np
import pytest

from untwine.metrics import _native
from untwine.metrics._boosting import ExactGradientBoostingClassifier
from untwine.metrics._logistic import LogisticRegressionCVReplica, NumpyLogisticObjective
from untwine.metrics._tree_fallback import NumpyExactStages

from tests.helpers.cases import train_test

trees = pytest.importorskip("untwine.metrics._native_trees", reason="the compiled kernels were not built")
logistic = pytest.importorskip("untwine.metrics._native_logistic", reason="the compiled kernels were not built")

N, D, K, DEPTH = 50, 3, 2, 3
INTERNAL = 2**DEPTH - 1


def _perm(k=K, internal=INTERNAL, d=D, seed=0):
    rng = np.random.default_rng(seed)
    return np.ascontiguousarray(rng.permuted(np.broadcast_to(np.arange(d), (k, internal, d)), axis=2))


@pytest.fixture
def search():
    codes = np.random.default_rng(0).standard_normal((D, N))
    return trees.ExactSplitSearch(codes)


# --- the split search's boundary --------------------------------------------------------


@pytest.mark.parametrize(
    "codes, got",
    [
        (np.zeros((D, N), dtype=np.float32), r"an array of dtype float32, shape \(3, 50\), C-contiguous"),
        (np.zeros((N, D)).T, r"an array of dtype float64, shape \(3, 50\), not C-contiguous"),
        (np.zeros(N), r"an array of dtype float64, shape \(50,\)"),
        (np.zeros((D, N), dtype=np.int64), "an array of dtype int64"),
        ([[0.0, 1.0]], "an object of type list"),
    ],
)
def test_split_search_rejects_bad_codes(codes, got):
    with pytest.raises(
        ValueError,
        match=rf"codes_by_code: expected a C-contiguous float64 array of shape \(d codes, n points\); got {got}",
    ):
        trees.ExactSplitSearch(codes)


def test_split_search_rejects_empty_codes():
    with pytest.raises(ValueError, match="codes_by_code: expected at least one code and one point"):
        trees.ExactSplitSearch(np.zeros((D, 0)))


@pytest.mark.parametrize(
    "residual, got",
    [
        (np.zeros((N, K), dtype=np.float32), "dtype float32"),
        (np.zeros((K, N)).T, r"dtype float64, shape \(50, 2\), not C-contiguous"),
        (np.zeros((N + 1, K)), r"shape \(51, 2\)"),
        (np.zeros(N), r"shape \(50,\)"),
    ],
)
def test_split_search_rejects_bad_residual(search, residual, got):
    with pytest.raises(
        ValueError,
        match=rf"residual: expected a C-contiguous float64 array of shape \(50 points, K.* trees\); got an array .*{got}",
    ):
        search.stage(residual, _perm(), DEPTH)


@pytest.mark.parametrize(
    "perm, got",
    [
        (_perm().astype(np.int32), "dtype int32"),
        (np.asfortranarray(_perm()), "not C-contiguous"),
        (_perm(internal=3), r"shape \(2, 3, 3\)"),
        (_perm(k=3), r"shape \(3, 7, 3\)"),
    ],
)
def test_split_search_rejects_bad_perm(search, perm, got):
    with pytest.raises(
        ValueError, match=rf"perm: expected a C-contiguous int64 array of shape \(2, 7, 3\); got an array .*{got}"
    ):
        search.stage(np.zeros((N, K)), perm, DEPTH)


@pytest.mark.parametrize("value", [-1, D, 0])  # out of range, out of range, a duplicate
def test_split_search_rejects_perm_rows_that_are_not_permutations(search, value):
    perm = _perm()
    perm[1, 4, 2] = value if value != 0 else perm[1, 4, 1]
    with pytest.raises(ValueError, match="perm: expected every row .* permutation of 0 .. 2"):
        search.stage(np.zeros((N, K)), perm, DEPTH)


@pytest.mark.parametrize("depth", [-1, 31])
def test_split_search_rejects_bad_depth(search, depth):
    with pytest.raises(ValueError, match=f"depth: expected 0 to 30, got {depth}"):
        search.stage(np.zeros((N, K)), np.zeros((K, 0, D), dtype=np.int64), depth)


def test_split_search_at_depth_zero_is_one_leaf(search):
    feature, threshold, is_split, leaf = search.stage(np.ones((N, K)), np.zeros((K, 0, D), dtype=np.int64), 0)
    assert feature.shape == threshold.shape == is_split.shape == (K, 0)
    assert leaf.shape == (N, K) and not leaf.any()


def _structured(seed, n=300, d=4):
    """Residuals that are step functions of three codes plus a little noise: every node
    keeps many points, so no two codes tie for a split and the random order is moot."""
    rng = np.random.default_rng(seed)
    codes = rng.standard_normal((n, d)).astype(np.float32).astype(np.float64)
    step = (codes[:, :3] > [0.0, 0.5, -0.5]) * [4.0, 2.0, 1.0]
    residual = np.stack([step.sum(1), step[:, ::-1].sum(1), step[:, [1, 2, 0]].sum(1)], axis=1)
    return codes, residual + 0.1 * rng.standard_normal(residual.shape)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("one_code", [False, True])
def test_compiled_stage_grows_the_numpy_oracles_trees(seed, one_code):
    """Without ties (large nodes, or a single code) the compiled and the NumPy search
    must agree bit for bit: features, thresholds, split mask and every point's leaf."""
    codes, residual = _structured(seed)
    if one_code:  # one code: no ties between codes even in the smallest nodes
        codes = np.ascontiguousarray(codes[:, :1])
        residual = residual + np.random.default_rng(seed).standard_normal(residual.shape)
    d, k = codes.shape[1], residual.shape[1]
    want = NumpyExactStages(codes, np.random.default_rng(seed)).grow(residual, DEPTH)
    got = trees.ExactSplitSearch(np.ascontiguousarray(codes.T)).stage(residual, _perm(k, INTERNAL, d, seed), DEPTH)
    for name, w, g in zip(("feature", "threshold", "is_split", "leaf"), want, got):
        np.testing.assert_array_equal(g, w, err_msg=name)
    assert got[2].dtype == bool and got[0].dtype == np.intp


# --- the logistic objective's boundary --------------------------------------------------


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, D))
    return np.ascontiguousarray(x.T), rng.integers(0, 3, N).astype(np.int64)


@pytest.mark.parametrize(
    "change, pattern",
    [
        (
            lambda xt, y: (xt.astype(np.float32), y),
            r"xt: expected a C-contiguous float64 .*; got an array of dtype float32",
        ),
        (
            lambda xt, y: (np.asfortranarray(xt), y),
            r"xt: expected .*; got an array of dtype float64, shape \(3, 50\), not C-contiguous",
        ),
        (
            lambda xt, y: (xt[0], y),
            r"xt: expected .* \(d codes, n points\); got an array of dtype float64, shape \(50,\)",
        ),
        (
            lambda xt, y: (xt, y.astype(np.int32)),
            r"y: expected a C-contiguous int64 array of shape \(50,\); got an array of dtype int32",
        ),
        (lambda xt, y: (xt, y[:-1]), r"y: expected .* shape \(50,\), one label per column of xt; got .* shape \(49,\)"),
        (
            lambda xt, y: (xt, np.repeat(y, 2)[::2]),
            r"y: expected .*; got an array of dtype int64, shape \(50,\), not C-contiguous",
        ),
        (lambda xt, y: (xt, np.where(y == 0, 3, y)), r"y: expected class indices 0 .. 2, got 3"),
        (lambda xt, y: (xt, np.where(y == 0, -1, y)), r"y: expected class indices 0 .. 2, got -1"),
    ],
)
def test_objective_rejects_bad_data(data, change, pattern):
    xt, y = change(*data)
    with pytest.raises(ValueError, match=pattern):
        logistic.LogisticObjective(xt, y, 3)


def test_objective_rejects_bad_class_count(data):
    with pytest.raises(ValueError, match="n_classes: expected at least 2, got 1"):
        logistic.LogisticObjective(*data, 1)
    with pytest.raises(ValueError, match="y: expected class indices 0 .. 1, got 2"):
        logistic.LogisticObjective(data[0], np.full(N, 2, dtype=np.int64), 2)


@pytest.mark.parametrize(
    "coef, got",
    [
        (np.zeros(3 * (D + 1), dtype=np.float32), "dtype float32"),
        (np.zeros(2 * 3 * (D + 1))[::2], "dtype float64, shape \\(12,\\), not C-contiguous"),
        (np.zeros(D + 1), r"shape \(4,\)"),
        (np.zeros((3, D + 1)), r"shape \(3, 4\)"),
    ],
)
def test_objective_rejects_bad_coef(data, coef, got):
    objective = logistic.LogisticObjective(*data, 3)
    with pytest.raises(
        ValueError, match=rf"coef: expected a C-contiguous float64 array of shape \(12,\); got an array .*{got}"
    ):
        objective(coef, 0.1)


@pytest.mark.parametrize("k", [2, 3])
def test_compiled_objective_equals_the_numpy_one(k):
    rng = np.random.default_rng(k)
    xt = np.ascontiguousarray(rng.standard_normal((D, 203)))
    y = rng.integers(0, k, 203).astype(np.int64)
    coef = rng.standard_normal(D + 1 if k == 2 else k * (D + 1))
    loss, grad = logistic.LogisticObjective(xt, y, k)(coef, 0.01)
    want_loss, want_grad = NumpyLogisticObjective(xt, y, k)(coef, 0.01)
    assert isinstance(loss, float) and loss == pytest.approx(want_loss, rel=1e-12)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-10, atol=1e-14)


# --- the loader and its one warning -----------------------------------------------------


def test_the_loader_knows_its_kernels():
    assert _native.load("trees") is trees and _native.load("logistic") is logistic
    assert _native.available()
    with pytest.raises(ValueError, match="unknown kernel 'gbt'"):
        _native.load("gbt")


def _fits_without(monkeypatch, missing):
    """Fit the boosted trees (past the NumPy exact range) and the logistic replica with
    the kernels in ``missing`` reported absent; return the warnings given."""
    real = _native.load
    monkeypatch.setattr(_native, "load", lambda kernel: None if kernel in missing else real(kernel))
    monkeypatch.setattr(_native, "_warned", False)
    ct, ft, cs, fs = train_test("identity", (3, 4), 300, 100)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 1200)
    x = np.eye(3)[y] + 0.2 * rng.standard_normal((1200, 3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            ExactGradientBoostingClassifier(random_state=0, n_estimators=5).fit(ct, ft[:, 0])
            LogisticRegressionCVReplica(Cs=2, n_splits=2).fit(x, y)
    return [w for w in caught if issubclass(w.category, RuntimeWarning)]


def test_without_both_kernels_one_warning_names_both(monkeypatch):
    caught = _fits_without(monkeypatch, {"trees", "logistic"})
    assert len(caught) == 1, [str(w.message) for w in caught]
    message = str(caught[0].message)
    assert "_native_trees" in message and "_native_logistic" in message and "C compiler" in message
    assert caught[0].filename == __file__  # it points at the caller of fit


def test_without_one_kernel_the_warning_names_that_one(monkeypatch):
    caught = _fits_without(monkeypatch, {"logistic"})
    assert len(caught) == 1 and "_native_logistic" in str(caught[0].message)
    assert "_native_trees" not in str(caught[0].message) and caught[0].filename == __file__


def test_with_the_kernels_no_warning(monkeypatch):
    assert _fits_without(monkeypatch, set()) == []


def test_small_fallback_fits_are_exact_and_silent(monkeypatch):
    """Up to exact_max points the NumPy search is exact: no deviation, so no warning."""
    monkeypatch.setattr(_native, "load", lambda kernel: None)
    monkeypatch.setattr(_native, "_warned", False)
    ct, ft, cs, fs = train_test("rotated", (3, 4), 100, 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ExactGradientBoostingClassifier(random_state=0, n_estimators=5).fit(ct, ft[:, 0])


# --- the boosted trees' training-score cache --------------------------------------------


def test_training_scores_are_reused_by_content_only():
    ct, ft, cs, fs = train_test("rotated", (3, 4), 300, 100)
    model = ExactGradientBoostingClassifier(random_state=0, n_estimators=20).fit(ct, ft[:, 1])
    walked = model._traverse(ct.astype(np.float32))
    np.testing.assert_allclose(model.decision_function(ct), walked, rtol=0, atol=1e-12)
    assert np.array_equal(model.decision_function(ct.copy()), model.decision_function(ct))  # same content
    changed = ct.copy()
    changed[0] += 100.0  # a different point: the cache must not answer for it
    np.testing.assert_array_equal(model.decision_function(changed), model._traverse(changed.astype(np.float32)))
    ct[0] += 100.0  # the training array itself mutated after the fit: no stale answer either
    np.testing.assert_array_equal(model.decision_function(ct), model._traverse(ct.astype(np.float32)))


def test_predicting_before_fit_is_named():
    with pytest.raises(RuntimeError, match="not fitted"):
        ExactGradientBoostingClassifier().predict(np.zeros((3, 2)))
