"""The fast preset's boosted trees: scikit-learn's ``GradientBoostingClassifier()``
algorithm with an exact split search (DCI and downstream_gbt, ``fast=True``)."""

from __future__ import annotations

import hashlib

import numpy as np

from . import _native
from ._tree_fallback import BinnedStages, NumpyExactStages

__all__ = ["ExactGradientBoostingClassifier"]


class _CompiledStages:
    """The compiled exact split search (``_native_trees``), one random code order per node."""

    def __init__(self, kernel, codes: np.ndarray, rng: np.random.Generator):
        self.search = kernel.ExactSplitSearch(np.ascontiguousarray(codes.T))  # sorts each code once
        self.num_codes, self.rng = codes.shape[1], rng

    def grow(self, residual: np.ndarray, depth: int):
        trees, internal, d = residual.shape[1], 2**depth - 1, self.num_codes
        perm = np.ascontiguousarray(
            self.rng.permuted(np.broadcast_to(np.arange(d), (trees, internal, d)), axis=2), dtype=np.int64
        )
        return self.search.stage(np.ascontiguousarray(residual, dtype=np.float64), perm, depth)


def _content_key(codes32: np.ndarray) -> tuple:
    """What identifies codes for the model: their float32 values (the trees see nothing else)."""
    data = np.ascontiguousarray(codes32)
    return data.shape, hashlib.blake2b(data.data, digest_size=16).digest()


class ExactGradientBoostingClassifier:
    """scikit-learn's ``GradientBoostingClassifier()`` algorithm, exact split search.

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
    With ``native=True`` (the default) and the compiled kernel built at install
    (``_native_trees``, see ``_native.py``), the split search is exact at any size:
    every position between two member values more than 1e-7 apart, all trees of a
    stage grown in one pass over codes sorted once per fit, ties between equally good
    codes broken at random like the reference. Without it (or with ``native=False``)
    the search is exact up to ``exact_max`` training points (vectorised NumPy) and,
    beyond, among ``max_bins`` quantile bins per code (``replicas`` shifted grids per
    code; a code with at most ``max_bins`` distinct values is exact), see
    ``_tree_fallback.py``; when the kernel is missing one warning says so. Leaf values
    and importances are computed here from the definitions above.

    The decision values on the training codes are kept from the fit (the boosting
    loop's own scores) and returned again for codes of the same content (same shape
    and float32 values, compared by digest), so that training accuracy costs nothing.
    """

    def __init__(
        self,
        n_estimators=100,
        learning_rate=0.1,
        max_depth=3,
        max_bins=255,
        replicas=1,
        exact_max=255,
        native=True,
        random_state=None,
    ):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.max_bins = max_bins
        self.replicas = replicas
        self.exact_max = exact_max
        self.native = native
        self.random_state = random_state

    def _stages(self, x32: np.ndarray):
        """The split search of this fit: compiled, exact NumPy or binned (class docstring)."""
        n = len(x32)
        kernel = _native.load("trees") if self.native else None
        if self.native and kernel is None and n > self.exact_max:
            _native.warn_fallback(stacklevel=3)
        if kernel is not None:
            return _CompiledStages(kernel, x32.astype(np.float64), np.random.default_rng(self.random_state))
        if n <= self.exact_max:
            return NumpyExactStages(x32.astype(np.float64), np.random.default_rng(self.random_state))
        return BinnedStages(x32, self.max_bins, self.replicas)

    def fit(self, x, y):
        x = np.asarray(x, dtype=np.float64)
        self.classes_, yi = np.unique(np.asarray(y), return_inverse=True)
        n, num_features = x.shape
        num_classes = len(self.classes_)
        if num_classes < 2:
            raise ValueError("need at least two classes")
        trees_per_stage = 1 if num_classes == 2 else num_classes
        x32 = x.astype(np.float32)  # the reference's trees see float32 codes
        stages = self._stages(x32)
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
            feats[stage], thresholds[stage], is_split[stage], leaf_of[:] = stages.grow(residual, depth)
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
                gain = (
                    np.where(nl > 0, gl * gl / nl, 0.0)
                    + np.where(nr > 0, gr * gr / nr, 0.0)
                    - np.where(npar > 0, gp * gp / npar, 0.0)
                ) / n
            nodes = slice(2**level - 1, 2 ** (level + 1) - 1)
            split = is_split[..., nodes]
            np.add.at(importance, feats[..., nodes][split], gain[split])
            sums, counts = gp, npar
        self._feats, self._thresholds, self._values = feats, thresholds, values
        total = importance.sum()
        self.feature_importances_ = importance / total if total > 0 else importance
        self._train_key, self._train_raw = _content_key(x32), raw
        return self

    def decision_function(self, x):
        if getattr(self, "_feats", None) is None:
            raise RuntimeError("this ExactGradientBoostingClassifier is not fitted yet: call fit(codes, labels) first")
        codes32 = np.asarray(x, dtype=np.float32)
        if _content_key(codes32) == self._train_key:
            return self._train_raw.copy()
        return self._traverse(codes32)

    def _traverse(self, codes32):
        """Decision values by walking every tree (``decision_function`` minus the training-codes shortcut)."""
        codes = np.asarray(codes32, dtype=np.float32).astype(np.float64)
        n = len(codes)
        stages, per_stage, internal = self._feats.shape
        feats = self._feats.reshape(-1, internal)
        thresholds = self._thresholds.reshape(-1, internal)
        values = self._values.reshape(len(feats), -1)
        raw = np.tile(self._init, (n, 1))
        by_code = np.ascontiguousarray(codes.T)  # (codes, n): one row per code
        chunk = max(1, 1_000_000 // max(n, 1))
        for start in range(0, len(feats), chunk):
            f, t, v = feats[start : start + chunk], thresholds[start : start + chunk], values[start : start + chunk]
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
