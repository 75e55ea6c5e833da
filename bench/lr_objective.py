"""The fast preset's logistic objective against scikit-learn's, in one process.

Run by hand (never by the test command):

    python bench/lr_objective.py [--points 8000] [--codes 10] [--repeats 200]

Times one evaluation of loss + gradient, the call L-BFGS makes about 15,000 times per
many-class factor in downstream_lr: scikit-learn's ``LinearModelLoss.loss_gradient``
(what the reference evaluates), untwine's C objective (``_logistic_loss.c`` behind the
checked Cython wrapper ``_native_logistic.pyx``, made once per data set as L-BFGS uses it)
and its NumPy fallback, for 2, 3, 32 and 40 classes, one thread each (as in the metric's
workers).
Prints milliseconds per call and the speed-up over scikit-learn.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import time  # noqa: E402

import numpy as np  # noqa: E402
from sklearn._loss.loss import HalfBinomialLoss, HalfMultinomialLoss  # noqa: E402
from sklearn.linear_model._linear_loss import LinearModelLoss  # noqa: E402

from untwine.metrics import _native  # noqa: E402
from untwine.metrics._logistic import objective  # noqa: E402


def per_call(function, repeats):
    function()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=8000)
    parser.add_argument("--codes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    if not _native.available("logistic"):
        raise SystemExit("the C objective (_native_logistic) is not built: reinstall untwine with a C compiler")
    rng = np.random.default_rng(0)
    n, d = args.points, args.codes
    x = rng.standard_normal((n, d))
    xt = np.ascontiguousarray(x.T)
    print(f"{n} points, {d} codes, one thread; ms per loss + gradient call (speed-up over scikit-learn)")
    print(f"{'classes':>8}{'scikit-learn':>14}{'untwine C':>18}{'untwine NumPy':>20}")
    for k in (2, 3, 32, 40):
        y = rng.integers(0, k, n)
        coef = 0.3 * rng.standard_normal(d + 1 if k == 2 else k * (d + 1))
        l2 = 1.0 / n
        base = HalfBinomialLoss() if k == 2 else HalfMultinomialLoss(n_classes=k)
        reference = LinearModelLoss(base, fit_intercept=True)
        yf, yi = y.astype(float), y.astype(np.int64)
        t_ref = per_call(lambda: reference.loss_gradient(coef, x, yf, None, l2, 1), args.repeats)
        compiled, numpy = objective(xt, yi, k, native=True), objective(xt, yi, k, native=False)
        t_c = per_call(lambda: compiled(coef, l2), args.repeats)
        t_np = per_call(lambda: numpy(coef, l2), args.repeats)
        print(
            f"{k:>8}{1e3 * t_ref:>14.2f}{1e3 * t_c:>10.2f} ({t_ref / t_c:4.1f}x){1e3 * t_np:>12.2f} "
            f"({t_ref / t_np:4.1f}x)"
        )


if __name__ == "__main__":
    main()
