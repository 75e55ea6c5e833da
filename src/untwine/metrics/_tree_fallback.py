"""The boosted trees' split search without the compiled kernel: the no-compiler fallback
of the fast preset, and the test oracle of the compiled search.

* ``NumpyExactStages``: the exact search in vectorised NumPy, the same trees as
  ``_split_search.c``; its temporaries grow as codes × points × trees × nodes, so the
  fast preset uses it only up to ``exact_max`` (255) training points.
* ``BinnedStages``: beyond that, splits among ``max_bins`` quantile bins per code,
  grown by scikit-learn's histogram tree grower (a private module, see
  ``SKLEARN_PRIVATE``) with unit hessians, so that the criterion is least squares.

Both grow all trees of a boosting stage, one per column of the residual, and return
``(feature, threshold, is_split, leaf)`` as ``_native_trees.ExactSplitSearch.stage``.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble._hist_gradient_boosting.grower import TreeGrower  # see SKLEARN_PRIVATE

__all__ = ["FEATURE_THRESHOLD", "SKLEARN_PRIVATE", "NumpyExactStages", "BinnedStages", "exact_stage"]

FEATURE_THRESHOLD = 1e-7  # the reference's trees do not split between values closer than this

# scikit-learn's private names this module imports (module, name, keyword arguments used):
# checked against the installed version by tests/metrics/test_sklearn_version.py.
SKLEARN_PRIVATE = (
    (
        "sklearn.ensemble._hist_gradient_boosting.grower",
        "TreeGrower",
        (
            "max_depth",
            "min_samples_leaf",
            "n_bins",
            "n_bins_non_missing",
            "has_missing_values",
            "l2_regularization",
            "shrinkage",
            "n_threads",
        ),
    ),
)


def exact_stage(codes, orders, upper, residual, depth, rng):
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
            after = np.flatnonzero(node[order[i + 1 :], k] == j)[0] + i + 1
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


class NumpyExactStages:
    """``exact_stage`` on codes (n, d; float32 values as float64) sorted once per fit."""

    def __init__(self, codes: np.ndarray, rng: np.random.Generator):
        self.codes, self.rng = codes, rng
        self.orders = np.stack([np.argsort(codes[:, f], kind="stable") for f in range(codes.shape[1])])
        # per sorted position, the last position whose value is within FEATURE_THRESHOLD of it
        self.upper = np.stack(
            [
                np.searchsorted(codes[o, f], codes[o, f] + FEATURE_THRESHOLD, side="right") - 1
                for f, o in enumerate(self.orders)
            ]
        )

    def grow(self, residual: np.ndarray, depth: int):
        return exact_stage(self.codes, self.orders, self.upper, residual, depth, self.rng)


class BinnedStages:
    """Least-squares trees on binned codes, by scikit-learn's histogram tree grower.

    A code with at most ``max_bins`` distinct values gets one binned column whose bin
    edges lie halfway between neighbouring values (every threshold of the reference is
    available); any other code gets ``replicas`` columns, each with ``max_bins``
    quantile bins, the quantile grids shifted by 1/replicas of a bin against each other.
    Thresholds are placed as the reference places them: halfway between the
    neighbouring values in the node, on the float32 codes ``x32`` (n, d).
    """

    def __init__(self, x32: np.ndarray, max_bins: int = 255, replicas: int = 1):
        self.x32 = x32
        columns, owner, counts = [], [], []
        for f in range(x32.shape[1]):
            values = x32[:, f]
            distinct = np.unique(values)
            if len(distinct) <= max_bins:
                grids = [distinct[:-1] / 2.0 + distinct[1:] / 2.0]
            else:
                grids = []
                for j in range(replicas):
                    q = (np.arange(1, max_bins) - j / replicas) / max_bins
                    grids.append(np.unique(np.quantile(values.astype(np.float64), q)))
            for edges in grids:
                columns.append(np.searchsorted(edges, values, side="left").astype(np.uint8))
                owner.append(f)
                counts.append(len(edges) + 1)
        self.binned = np.asfortranarray(np.stack(columns, axis=1))  # uint8, one column per grid
        self.owner = np.array(owner, dtype=np.intp)  # the code of each column
        self.bins_per_column = np.array(counts, dtype=np.uint32)

    def grow(self, residual: np.ndarray, depth: int):
        x32 = self.x32
        n, trees = residual.shape
        internal = 2**depth - 1
        feat = np.zeros((trees, internal), dtype=np.intp)
        thr = np.full((trees, internal), np.inf)
        split = np.zeros((trees, internal), dtype=bool)
        leaf = np.zeros((n, trees), dtype=np.intp)
        residual32 = np.asfortranarray(residual, dtype=np.float32)
        unit = np.ones(1, dtype=np.float32)
        for k in range(trees):
            grower = TreeGrower(
                self.binned,
                residual32[:, k],
                unit,
                max_depth=depth,
                min_samples_leaf=1,
                n_bins=256,
                n_bins_non_missing=self.bins_per_column,
                has_missing_values=False,
                l2_regularization=0.0,
                shrinkage=1.0,
                n_threads=1,
            )
            grower.grow()
            stack = [(grower.root, 0, 0)]
            while stack:
                node, pos, level = stack.pop()
                if node.is_leaf:
                    # a leaf above the last level passes every point to its leftmost descendant
                    leaf[node.sample_indices, k] = ((pos + 1) << (depth - level)) - 1 - internal
                    continue
                f = self.owner[node.split_info.feature_idx]
                feat[k, pos] = f
                # the reference's threshold: halfway between the neighbouring values in the node
                below = float(x32[node.left_child.sample_indices, f].max())
                above = float(x32[node.right_child.sample_indices, f].min())
                threshold = below / 2.0 + above / 2.0
                thr[k, pos] = below if threshold in (above, np.inf, -np.inf) else threshold
                split[k, pos] = True
                stack.append((node.left_child, 2 * pos + 1, level + 1))
                stack.append((node.right_child, 2 * pos + 2, level + 1))
        return feat, thr, split, leaf
