"""The reference's cross-validated logistic regression, step for step, with a faster loss.

``downstream_lr`` follows the reference protocol: scikit-learn's
``LogisticRegressionCV(Cs=10, cv=KFold(n_splits=5))``. Nearly all of its time is spent
evaluating the L-BFGS objective (a matrix product, scikit-learn's Cython loss, a
second matrix product, and array-API bookkeeping between them, about 7 ms a call for
8,000 points and 32 classes), which it does about 14,000 times per 32-class factor.

``LogisticRegressionCVReplica`` runs the same algorithm:

* the same 10 Cs (``logspace(-4, 4, 10)``) and the same unshuffled 5 folds;
* per fold, the regularisation path from the smallest C up, each fit warm-started from
  the previous one's coefficients, with scipy's L-BFGS-B under the reference's options
  (``maxiter=100``, ``maxls=50``, ``gtol=1e-4``, ``ftol=64 eps``, 10 corrections);
* the objective scaled as the reference scales it (mean loss + ``1/(2 C n)`` ||W||²,
  intercepts unpenalised), multinomial over all classes (binary: one logistic);
* fold accuracy per C, summed over folds, the first best C chosen;
* a final fit on all points at that C, started from the folds' mean coefficients;

and evaluates the objective in one fused pass in C (``_logistic_loss.c``, 4 to 5 times
faster, behind the checked Cython interface ``_native_logistic.pyx``), or in NumPy
when that kernel was not built.

It is not bit-identical: the objective is summed in another order, so its values
differ in the last bits. Where the reference stops unconverged at its 100-iteration
cap (large C, many classes), those last bits steer L-BFGS a slightly different way,
and accuracies move by up to about a hundredth, as the reference's own do when the
codes are perturbed by one part in 10^16. docs/metrics.md gives the measured deviation.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import optimize
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import KFold

from . import _native
from ._validate import check_codes

__all__ = ["LogisticRegressionCVReplica", "NumpyLogisticObjective", "objective", "loss_grad"]


def _numpy_loss_grad(coef, xt, y, n_classes, l2):
    d, n = xt.shape
    if n_classes == 2:
        w, b = coef[:d], coef[d]
        r = w @ xt + b
        e = np.exp(-np.abs(r))
        loss = np.maximum(r, 0.0) + np.log1p(e) - y * r
        g = np.where(r > 0, 1.0 / (1.0 + e), e / (1.0 + e)) - y
        grad = np.empty(d + 1)
        grad[:d] = xt @ g / n + l2 * w
        grad[d] = g.sum() / n
        return float(loss.sum() / n + 0.5 * l2 * (w @ w)), grad
    # (K, n) scores, so that every reduction runs down contiguous rows
    wb = coef.reshape((n_classes, d + 1), order="F")
    w, b = wb[:, :d], wb[:, d]
    r = w @ xt
    r += b[:, None]
    top = r.max(axis=0)
    columns = np.arange(n)
    r_true = r[y, columns]
    r -= top
    np.exp(r, out=r)
    total = r.sum(axis=0)
    loss = np.log(total) + top - r_true
    r /= total
    r[y, columns] -= 1.0
    grad = np.empty((n_classes, d + 1), order="F")
    grad[:, :d] = r @ xt.T / n + l2 * w
    grad[:, d] = r.sum(axis=1) / n
    return float(loss.sum() / n + 0.5 * l2 * np.sum(w * w)), grad.ravel(order="F")


class NumpyLogisticObjective:
    """The objective in NumPy, with the compiled one's interface (``_native_logistic.LogisticObjective``):
    the fallback when the kernel was not built, and ``native=False``."""

    def __init__(self, xt, y, n_classes):
        self.xt, self.y, self.n_classes = xt, y, n_classes

    def __call__(self, coef, l2):
        return _numpy_loss_grad(coef, self.xt, self.y, self.n_classes, l2)


def objective(xt, y, n_classes, native=True):
    """``f(coef, l2) -> (loss, gradient)`` on fixed data, what L-BFGS-B calls (layout:
    the header of _logistic_loss.c): the compiled kernel when ``native`` and built, else NumPy.

    ``xt``: the codes transposed, float64 C-contiguous (d, n); ``y``: int64 class
    indices 0..n_classes-1 (binary: 1 for the second class); ``l2 = 1 / (C n)``. The
    compiled objective checks these once here (ValueError naming the argument).
    """
    kernel = _native.load("logistic") if native else None
    if kernel is not None:
        return kernel.LogisticObjective(xt, y, n_classes)
    return NumpyLogisticObjective(xt, y, n_classes)


def loss_grad(coef, xt, y, n_classes, l2, native=True):
    """Objective and gradient at ``coef``, in one call (arguments: ``objective``)."""
    return objective(xt, y, n_classes, native)(coef, l2)


def _path(x, y, n_classes, cs, max_iter, tol, coef=None, native=True):
    """Coefficients after each C of ``cs``, warm-started from the previous one."""
    n, d = x.shape
    xt = np.ascontiguousarray(x.T)
    size = (d + 1) if n_classes == 2 else n_classes * (d + 1)
    w0 = np.zeros(size) if coef is None else np.asarray(coef, dtype=np.float64).ravel(order="F").copy()
    function = objective(xt, y, n_classes, native)  # the data checked once, not at each of ~15,000 calls
    out = []
    for c in cs:
        result = optimize.minimize(
            function,
            w0,
            method="L-BFGS-B",
            jac=True,
            args=(1.0 / (c * n),),
            options={"maxiter": max_iter, "maxls": 50, "gtol": tol, "ftol": 64 * np.finfo(float).eps},
        )
        w0 = result.x
        out.append(w0.copy() if n_classes == 2 else w0.reshape((n_classes, d + 1), order="F").copy())
    return out


def _decide(coef, x, n_classes):
    """Class indices predicted by coefficients in (K, d + 1) form (binary: (d + 1,))."""
    if n_classes == 2:
        return (x @ coef[:-1] + coef[-1] > 0).astype(np.int64)
    return np.argmax(x @ coef[:, :-1].T + coef[:, -1], axis=1)


class LogisticRegressionCVReplica:
    """``LogisticRegressionCV(Cs=10, cv=KFold(5))`` (lbfgs, l2, accuracy), faster.

    Training sets of fewer than ``exact_below`` points are handed to scikit-learn
    itself: they are cheap, and there one point is a whole hundredth of accuracy, so
    a last-bit difference steering an unconverged fit elsewhere would show (measured:
    up to 0.2 at 10 points, 0.04 at 100). ``native=False`` evaluates the objective in
    NumPy instead of C.

    Attributes after ``fit``: ``classes_``, ``C_`` (the chosen C), ``Cs_``, ``scores_``
    (fold × C accuracies), ``coef_`` (K × d; binary 1 × d) and ``intercept_``.
    """

    def __init__(
        self,
        Cs: int = 10,
        n_splits: int = 5,
        max_iter: int = 100,
        tol: float = 1e-4,
        native: bool = True,
        exact_below: int = 1000,
    ):
        self.Cs, self.n_splits, self.max_iter, self.tol, self.native = Cs, n_splits, max_iter, tol, native
        self.exact_below = exact_below
        self._reference = self._w = None

    def fit(self, x, y):
        x = np.ascontiguousarray(check_codes(x))  # 2-D, finite: NaN would steer L-BFGS silently
        y = np.asarray(y)
        if y.shape != (len(x),):
            raise ValueError(f"expected codes (n, d) and labels (n,), got {x.shape} and {y.shape}")
        self.classes_, encoded = np.unique(y, return_inverse=True)
        encoded = encoded.astype(np.int64)
        k = len(self.classes_)
        if k < 2:
            raise ValueError(f"logistic regression needs at least 2 classes, got only {self.classes_[0]!r}")
        self._reference = self._w = None
        if len(x) < self.exact_below:
            return self._fit_reference(x, y)
        if self.native and _native.load("logistic") is None:
            _native.warn_fallback(stacklevel=2)
        self.Cs_ = np.logspace(-4, 4, self.Cs) if np.isscalar(self.Cs) else np.asarray(self.Cs, dtype=float)
        paths, scores = [], []
        for train, test in KFold(n_splits=self.n_splits).split(x):
            path = _path(x[train], encoded[train], k, self.Cs_, self.max_iter, self.tol, native=self.native)
            paths.append(path)
            scores.append([float(np.mean(_decide(w, x[test], k) == encoded[test])) for w in path])
        self.scores_ = np.array(scores)
        best = int(np.argmax(self.scores_.sum(axis=0)))
        self.C_ = float(self.Cs_[best])
        start = np.mean([path[best] for path in paths], axis=0)
        w = _path(x, encoded, k, [self.C_], self.max_iter, self.tol, coef=start, native=self.native)[0]
        self._w = w
        if k == 2:
            self.coef_, self.intercept_ = w[None, :-1], w[-1:]
        else:
            self.coef_, self.intercept_ = w[:, :-1], w[:, -1]
        return self

    def _fit_reference(self, x, y):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence warnings, as in the reference runs
            model = LogisticRegressionCV(
                Cs=self.Cs, cv=KFold(n_splits=self.n_splits), max_iter=self.max_iter, tol=self.tol
            ).fit(x, y)
        self._reference = model
        self.Cs_, self.C_ = model.Cs_, float(model.C_[0])
        scores = model.scores_
        self.scores_ = scores[model.classes_[-1]] if isinstance(scores, dict) else scores
        self.coef_, self.intercept_ = model.coef_, model.intercept_
        return self

    def predict(self, x):
        if self._reference is None and self._w is None:
            raise RuntimeError("this LogisticRegressionCVReplica is not fitted yet: call fit(codes, labels) first")
        if self._reference is not None:
            return self._reference.predict(x)
        x = np.asarray(x, dtype=np.float64)
        return self.classes_[_decide(self._w, x, len(self.classes_))]
