"""Fitting independent per-factor (or per-pair) models in parallel.

Values never depend on ``n_jobs``: every fit gets the same data and the same
``random_state`` whichever worker runs it.
"""

from __future__ import annotations

import warnings
from typing import Callable, Sequence

import numpy as np
from joblib import Parallel, delayed


def parallel_map(function: Callable, items: Sequence, n_jobs: int | None = None,
                 costs: Sequence[float] | None = None) -> list:
    """``[function(item) for item in items]``, with joblib when ``n_jobs`` is not 1/None.

    ``costs`` (an estimate per item) hands the items to the workers longest first,
    which balances unequal jobs (a 40-class factor against a 3-class one) far
    better than the given order; results come back in the given order either way.
    """
    if n_jobs in (None, 1) or len(items) <= 1:
        return [function(item) for item in items]
    order = list(range(len(items))) if costs is None else sorted(range(len(items)), key=lambda i: -costs[i])
    done = Parallel(n_jobs=n_jobs)(delayed(function)(items[i]) for i in order)
    out = [None] * len(items)
    for i, result in zip(order, done):
        out[i] = result
    return out


def classes_cost(factors: np.ndarray) -> list[int]:
    """Cost estimate of one classifier per factor column: its number of classes."""
    return [len(np.unique(factors[:, k])) for k in range(factors.shape[1])]


class ConstantClassifier:
    """Predicts the one class seen in training (the reference would crash instead)."""

    def __init__(self, label):
        self.classes_ = np.array([label])
        self.feature_importances_ = None

    def predict(self, x):
        return np.full(len(x), self.classes_[0])

    def predict_proba(self, x):
        return np.ones((len(x), 1))


def fit_classifier(make_model: Callable, x: np.ndarray, y: np.ndarray):
    """Fit ``make_model()`` on (x, y), or a constant classifier when y has a single class."""
    classes = np.unique(y)
    if len(classes) < 2:
        return ConstantClassifier(classes[0])
    return make_model().fit(x, y)


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(model.predict(x) == y))


_FEATURE_THRESHOLD = 1e-7  # the reference's trees do not split between values closer than this


def _load_native():
    """The compiled exact split search (``_gbt_native.c``) through ctypes, or None when not built."""
    import ctypes

    try:
        from . import _gbt_native
    except ImportError:
        return None
    library = ctypes.CDLL(_gbt_native.__file__)
    function = library.untwine_exact_stage
    pointer = ctypes.c_void_p
    function.argtypes = [ctypes.c_int64] * 4 + [pointer] * 9
    function.restype = ctypes.c_int
    return function


_NATIVE = _load_native()
_WARNED = []


def native_available() -> bool:
    """Whether the compiled exact split search of the ``fast`` preset was built at install."""
    return _NATIVE is not None


def _native_stage(codes_by_code, orders, sorted_codes, residual, depth, rng):
    """``_exact_stage`` in C: the same trees, every split position searched at any size."""
    d, n = codes_by_code.shape
    trees = residual.shape[1]
    internal = 2**depth - 1
    perm = np.ascontiguousarray(rng.permuted(np.broadcast_to(np.arange(d), (trees, internal, d)), axis=2),
                                dtype=np.int64)
    residual = np.ascontiguousarray(residual, dtype=np.float64)
    feat = np.zeros((trees, internal), dtype=np.int64)
    thr = np.full((trees, internal), np.inf)
    split = np.zeros((trees, internal), dtype=np.uint8)
    leaf = np.zeros((n, trees), dtype=np.int64)
    status = _NATIVE(n, d, trees, depth, codes_by_code.ctypes.data, orders.ctypes.data, sorted_codes.ctypes.data,
                     residual.ctypes.data, perm.ctypes.data, feat.ctypes.data, thr.ctypes.data,
                     split.ctypes.data, leaf.ctypes.data)
    if status != 0:
        raise MemoryError("the exact split search ran out of memory")
    return feat.astype(np.intp), thr, split.astype(bool), leaf


def _exact_stage(codes, orders, upper, residual, depth, rng):
    """One boosting stage of exact least-squares trees, one per column of ``residual``.

    The reference's split search, vectorised over the trees of a stage: every
    node takes the split (code, position in the code's sorted order) with the
    largest squared-error decrease among positions between two member values more
    than 1e-7 apart; on ties (equal up to rounding, e.g. the same partition from two
    codes) the first position, and the first code in a random order of the codes
    drawn per level (the reference draws one per node); a node with fewer than
    two points or a constant residual stays a leaf. Returns feature and threshold
    per node position (complete binary tree, root 0, children 2p+1 and 2p+2), the
    split mask, and each point's leaf slot (a leaf above the last level passes its
    points to its leftmost descendant).
    """
    n, trees = residual.shape
    internal = 2**depth - 1
    feat = np.zeros((trees, internal), dtype=np.intp)
    thr = np.full((trees, internal), np.inf)
    split = np.zeros((trees, internal), dtype=bool)
    node = np.zeros((n, trees), dtype=np.intp)
    open_nodes = np.ones((trees, 1), dtype=bool)
    rows, cols = np.arange(n)[:, None], np.arange(trees)
    squares = residual * residual
    for level in range(depth):
        width = 2**level
        member = node[..., None] == np.arange(width)  # (n, trees, width)
        total = (residual[..., None] * member).sum(axis=0)
        count = member.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            impurity = (squares[..., None] * member).sum(axis=0) / count - (total / count) ** 2
        can = open_nodes & (count >= 2) & (impurity > np.finfo(np.float64).eps)
        m = member[orders]  # (codes, n, trees, width), each code's points in its sorted order
        left_sum = np.cumsum(residual[orders][..., None] * m, axis=1)
        left_n = np.cumsum(m, axis=1)
        valid = m & (np.take_along_axis(left_n, upper[:, :, None, None], axis=1) == left_n) & (left_n < count)
        with np.errstate(divide="ignore", invalid="ignore"):
            gain = left_sum**2 / left_n + (total - left_sum) ** 2 / (count - left_n) - total**2 / count
        gain = np.where(valid, gain, -np.inf)
        pos = gain.argmax(axis=1)  # (codes, trees, width): first best position per code
        value = np.take_along_axis(gain, pos[:, None], axis=1)[:, 0]
        best = value.max(axis=0)
        perm = rng.permutation(len(orders))
        with np.errstate(invalid="ignore"):
            near = value[perm] >= np.where(np.isfinite(best), best - 1e-10 * np.abs(best), best)
        best_f = perm[near.argmax(axis=0)]
        best_i = np.take_along_axis(pos, best_f[None], axis=0)[0]
        do = can & np.isfinite(best)
        for k, j in zip(*np.nonzero(do)):
            f, i = best_f[k, j], best_i[k, j]
            order = orders[f]
            after = np.flatnonzero(node[order[i + 1:], k] == j)[0] + i + 1
            below, above = codes[order[i], f], codes[order[after], f]
            threshold = below / 2.0 + above / 2.0
            p = width - 1 + j
            feat[k, p] = f
            thr[k, p] = below if threshold in (above, np.inf, -np.inf) else threshold
            split[k, p] = True
        at = width - 1 + node
        node = 2 * node + (codes[rows, feat[cols, at]] > thr[cols, at])
        open_nodes = np.repeat(do, 2, axis=1)
    return feat, thr, split, node


class BinnedGradientBoostingClassifier:
    """scikit-learn's ``GradientBoostingClassifier()`` algorithm on binned codes.

    The reference (``GradientBoostingClassifier`` with default settings) fits, per
    boosting stage and per class k (one tree for two classes), a depth-3 regression
    tree to the residuals y_k − p_k by least squares, sets each leaf to one Newton
    step  (K − 1)/K · Σ r / Σ p(1 − p)  (no (K − 1)/K for two classes), scaled by
    the learning rate 0.1, starting from the log class priors; its
    ``feature_importances_`` sum, over all trees, the squared-error decrease of each
    split (G_l²/n_l + G_r²/n_r − G²/n, G the residual sum of a node) divided by
    the number of training points, normalised to 1.

    This class runs that same algorithm, thresholds placed as the reference places
    them (halfway between the neighbouring values in the node, on float32 codes).
    With ``native=True`` (the default) and the compiled module built at install
    (``_gbt_native.c``), the split search is exact at any size: every position
    between two member values more than 1e-7 apart, all trees of a stage grown in
    one pass over codes sorted once per fit, ties between equally good codes broken
    at random like the reference. Without it, the search is exact up to
    ``exact_max`` training points (``_exact_stage``, vectorised NumPy) and, beyond,
    among ``max_bins`` quantile bins per code (``replicas`` shifted grids per code;
    a code with at most ``max_bins`` distinct values is exact) with scikit-learn's
    histogram tree grower (a private module of ``HistGradientBoostingClassifier``)
    and unit hessians, so that the criterion is least squares as in the reference;
    a warning says so once. Leaf values and importances
    are computed here from the definitions above.
    """

    def __init__(self, n_estimators=100, learning_rate=0.1, max_depth=3, max_bins=255, replicas=1,
                 exact_max=255, native=True, random_state=None):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.max_bins = max_bins
        self.replicas = replicas
        self.exact_max = exact_max
        self.native = native
        self.random_state = random_state

    def _bin(self, x32):
        """Binned columns (uint8, Fortran order), the code of each column, bins per column.

        A code with at most ``max_bins`` distinct values gets one column whose bin
        edges lie halfway between neighbouring values (every threshold of the
        reference is available); any other code gets ``replicas`` columns, each
        with ``max_bins`` quantile bins, the quantile grids shifted by 1/replicas
        of a bin against each other.
        """
        columns, owner, counts = [], [], []
        for f in range(x32.shape[1]):
            values = x32[:, f]
            distinct = np.unique(values)
            if len(distinct) <= self.max_bins:
                grids = [distinct[:-1] / 2.0 + distinct[1:] / 2.0]
            else:
                grids = []
                for j in range(self.replicas):
                    q = (np.arange(1, self.max_bins) - j / self.replicas) / self.max_bins
                    grids.append(np.unique(np.quantile(values.astype(np.float64), q)))
            for edges in grids:
                columns.append(np.searchsorted(edges, values, side="left").astype(np.uint8))
                owner.append(f)
                counts.append(len(edges) + 1)
        return (np.asfortranarray(np.stack(columns, axis=1)), np.array(owner, dtype=np.intp),
                np.array(counts, dtype=np.uint32))

    def fit(self, x, y):
        from sklearn.ensemble._hist_gradient_boosting.grower import TreeGrower

        self._fit_input = x  # predictions on the training codes are kept from the fit
        x = np.asarray(x, dtype=np.float64)
        self.classes_, yi = np.unique(np.asarray(y), return_inverse=True)
        n, num_features = x.shape
        num_classes = len(self.classes_)
        if num_classes < 2:
            raise ValueError("need at least two classes")
        trees_per_stage = 1 if num_classes == 2 else num_classes
        x32 = x.astype(np.float32)  # the reference's trees see float32 codes
        native = self.native and _NATIVE is not None
        if self.native and not native and n > self.exact_max and not _WARNED:
            _WARNED.append(True)
            warnings.warn("untwine's compiled split search (_gbt_native) is not built, so the fast preset "
                          f"searches splits among {self.max_bins} bins per code beyond {self.exact_max} points "
                          "(larger deviations, see docs/metrics.md); reinstall untwine with a C compiler "
                          "present (e.g. `pip install -e .` with gcc) to build it.", RuntimeWarning, stacklevel=3)
        exact = native or n <= self.exact_max
        if exact:
            rng = np.random.default_rng(self.random_state)
            codes = x32.astype(np.float64)
            orders = np.stack([np.argsort(codes[:, f], kind="stable") for f in range(num_features)])
            if native:
                codes_by_code = np.ascontiguousarray(codes.T)
                orders = orders.astype(np.int64)
                sorted_codes = np.ascontiguousarray(np.take_along_axis(codes_by_code, orders, axis=1))
            else:
                upper = np.stack([np.searchsorted(codes[o, f], codes[o, f] + _FEATURE_THRESHOLD, side="right") - 1
                                  for f, o in enumerate(orders)])
        else:
            binned, owner, bins_per_column = self._bin(x32)
        prior = np.bincount(yi, minlength=num_classes) / n
        eps = np.finfo(np.float64).eps
        if num_classes == 2:
            p1 = np.clip(prior[1], eps, 1 - eps)
            self._init = np.array([np.log(p1 / (1 - p1))])
            target = (yi == 1).astype(np.float64)[:, None]
        else:
            self._init = np.log(np.clip(prior, eps, 1 - eps))
            target = np.zeros((n, num_classes))
            target[np.arange(n), yi] = 1.0
        raw = np.tile(self._init, (n, 1))
        factor = 1.0 if num_classes == 2 else (num_classes - 1) / num_classes
        depth = self.max_depth
        internal = 2**depth - 1
        feats = np.zeros((self.n_estimators, trees_per_stage, internal), dtype=np.intp)
        thresholds = np.full((self.n_estimators, trees_per_stage, internal), np.inf)
        is_split = np.zeros((self.n_estimators, trees_per_stage, internal), dtype=bool)
        values = np.zeros((self.n_estimators, trees_per_stage, 2**depth))
        leaf_sums = np.zeros((self.n_estimators, trees_per_stage, 2**depth))
        leaf_counts = np.zeros((self.n_estimators, trees_per_stage, 2**depth))
        unit = np.ones(1, dtype=np.float32)
        leaf_of = np.zeros((n, trees_per_stage), dtype=np.intp)
        offsets = np.arange(trees_per_stage) * 2**depth
        for stage in range(self.n_estimators):
            if num_classes == 2:
                prob = 1.0 / (1.0 + np.exp(-raw))
            else:
                prob = np.exp(raw - raw.max(axis=1, keepdims=True))
                prob /= prob.sum(axis=1, keepdims=True)
            residual = target - prob
            hessian = prob * (1.0 - prob)
            if native:
                feats[stage], thresholds[stage], is_split[stage], leaf_of[:] = _native_stage(
                    codes_by_code, orders, sorted_codes, residual, depth, rng)
            elif exact:
                feats[stage], thresholds[stage], is_split[stage], leaf_of[:] = _exact_stage(
                    codes, orders, upper, residual, depth, rng)
            residual32 = None if exact else np.asfortranarray(residual, dtype=np.float32)
            for k in range(0 if exact else trees_per_stage):
                grower = TreeGrower(binned, residual32[:, k], unit, max_depth=depth, min_samples_leaf=1,
                                    n_bins=256, n_bins_non_missing=bins_per_column,
                                    has_missing_values=False, l2_regularization=0.0, shrinkage=1.0, n_threads=1)
                grower.grow()
                stack = [(grower.root, 0, 0)]
                while stack:
                    node, pos, level = stack.pop()
                    if node.is_leaf:
                        # a leaf above the last level passes every point to its leftmost descendant
                        leaf_of[node.sample_indices, k] = ((pos + 1) << (depth - level)) - 1 - internal
                        continue
                    f = owner[node.split_info.feature_idx]
                    feats[stage, k, pos] = f
                    # the reference's threshold: halfway between the neighbouring values in the node
                    below = float(x32[node.left_child.sample_indices, f].max())
                    above = float(x32[node.right_child.sample_indices, f].min())
                    threshold = below / 2.0 + above / 2.0
                    thresholds[stage, k, pos] = below if threshold in (above, np.inf, -np.inf) else threshold
                    is_split[stage, k, pos] = True
                    stack.append((node.left_child, 2 * pos + 1, level + 1))
                    stack.append((node.right_child, 2 * pos + 2, level + 1))
            keys = (leaf_of + offsets).ravel()
            size = trees_per_stage * 2**depth
            sums = np.bincount(keys, residual.ravel(), minlength=size).reshape(trees_per_stage, -1)
            hess = np.bincount(keys, hessian.ravel(), minlength=size).reshape(trees_per_stage, -1)
            leaf_counts[stage] = np.bincount(keys, minlength=size).reshape(trees_per_stage, -1)
            leaf_sums[stage] = sums
            safe = np.abs(hess) >= 1e-150
            step = np.where(safe, self.learning_rate * factor * sums / np.where(safe, hess, 1.0), 0.0)
            values[stage] = step
            raw += step[np.arange(trees_per_stage), leaf_of]
        # squared-error decrease of every split, from the residual sums of the (leftmost-descendant) leaf slots
        importance = np.zeros(num_features)
        sums, counts = leaf_sums, leaf_counts
        for level in range(depth - 1, -1, -1):
            gl, gr = sums[..., 0::2], sums[..., 1::2]
            nl, nr = counts[..., 0::2], counts[..., 1::2]
            gp, npar = gl + gr, nl + nr
            with np.errstate(divide="ignore", invalid="ignore"):
                gain = (np.where(nl > 0, gl * gl / nl, 0.0) + np.where(nr > 0, gr * gr / nr, 0.0)
                        - np.where(npar > 0, gp * gp / npar, 0.0)) / n
            nodes = slice(2**level - 1, 2**(level + 1) - 1)
            split = is_split[..., nodes]
            np.add.at(importance, feats[..., nodes][split], gain[split])
            sums, counts = gp, npar
        self._feats, self._thresholds, self._values = feats, thresholds, values
        total = importance.sum()
        self.feature_importances_ = importance / total if total > 0 else importance
        self._train_raw = raw
        return self

    def decision_function(self, x):
        if x is self._fit_input:
            return self._train_raw.copy()
        codes = np.asarray(x, dtype=np.float32).astype(np.float64)
        n = len(codes)
        stages, per_stage, internal = self._feats.shape
        feats = self._feats.reshape(-1, internal)
        thresholds = self._thresholds.reshape(-1, internal)
        values = self._values.reshape(len(feats), -1)
        raw = np.tile(self._init, (n, 1))
        by_code = np.ascontiguousarray(codes.T)  # (codes, n): one row per code
        chunk = max(1, 1_000_000 // max(n, 1))
        for start in range(0, len(feats), chunk):
            f, t, v = feats[start:start + chunk], thresholds[start:start + chunk], values[start:start + chunk]
            node = np.zeros((len(f), n), dtype=np.intp)  # (trees, n)
            for level in range(self.max_depth):
                right = np.zeros(node.shape, dtype=bool)
                for p in range(2**level - 1, 2 ** (level + 1) - 1):
                    side = by_code[f[:, p]] > t[:, p, None]
                    right = side if level == 0 else np.where(node == p, side, right)
                node = 2 * node + 1 + right
            contrib = np.take_along_axis(v, node - internal, axis=1)  # (trees, n)
            tree_class = np.arange(start, start + len(f)) % per_stage
            for k in range(per_stage):
                raw[:, k] += contrib[tree_class == k].sum(axis=0)
        return raw

    def predict(self, x):
        raw = self.decision_function(x)
        if raw.shape[1] == 1:
            return self.classes_[(raw[:, 0] > 0).astype(np.intp)]
        return self.classes_[np.argmax(raw, axis=1)]
