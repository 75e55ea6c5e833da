# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""The exact split search of the fast preset's boosted trees (``_split_search.c``),
behind a checked interface.

Every array crosses into C through a typed memoryview, after its dtype, shape and
C-contiguity have been checked here; a wrong one raises ``ValueError`` naming the
argument, what was expected and what came, never a read or write outside a buffer.
"""

import numpy as np

from libc.stdint cimport int64_t, uint8_t

from ._native_checks cimport mismatch


cdef extern from "_split_search.h" nogil:
    int untwine_exact_stage(int64_t n, int64_t d, int64_t K, int64_t depth, const double *codes,
                            const int64_t *orders, const double *sorted, const double *residual,
                            const int64_t *perm, int64_t *feature, double *threshold, uint8_t *is_split,
                            int64_t *leaf)


MAX_DEPTH = 30  # node slots are int32 in C and 2^depth of them are allocated per tree


cdef class ExactSplitSearch:
    """Least-squares regression trees of one boosting stage, every split position searched.

    ``codes_by_code``: float64, C-contiguous, shape (d codes, n points), the training
    codes (float32 values held as float64), one row per code. Each code is sorted once
    here (stable order, held for the whole fit); :meth:`stage` then grows all trees of
    a stage in one pass per level over those sorted codes. The algorithm is the header
    of ``_split_search.c``.
    """

    cdef const double[:, ::1] codes
    cdef int64_t[:, ::1] orders
    cdef double[:, ::1] sorted_codes
    cdef readonly Py_ssize_t n_codes, n_points

    def __init__(self, codes_by_code):
        cdef const double[:, ::1] codes
        try:
            codes = codes_by_code
        except (TypeError, ValueError, BufferError):
            raise ValueError(mismatch("codes_by_code", "a C-contiguous float64 array of shape (d codes, n points)",
                                      codes_by_code)) from None
        if codes.shape[0] < 1 or codes.shape[1] < 1:
            raise ValueError(f"codes_by_code: expected at least one code and one point, got shape "
                             f"{(codes.shape[0], codes.shape[1])}")
        self.codes = codes
        self.n_codes, self.n_points = codes.shape[0], codes.shape[1]
        array = np.asarray(codes_by_code)
        orders = np.ascontiguousarray(np.argsort(array, axis=1, kind="stable"), dtype=np.int64)
        self.orders = orders
        self.sorted_codes = np.ascontiguousarray(np.take_along_axis(array, orders, axis=1))

    def stage(self, residual, perm, Py_ssize_t depth):
        """The trees of one stage, one per column of ``residual``.

        ``residual``: float64, C-contiguous, (n points, K trees), what each tree fits;
        ``perm``: int64, C-contiguous, (K, 2^depth - 1, d), each row a permutation of
        the codes, the order in which a node visits them (ties go to the first);
        ``depth``: 0 to 30.

        Returns ``(feature, threshold, is_split, leaf)``: the split code (intp), the
        threshold (float64, +inf where no split) and the split mask (bool) of each node,
        shape (K, 2^depth - 1), nodes numbered level by level (root 0, children 2p + 1
        and 2p + 2); and each point's leaf slot 0 .. 2^depth - 1 in each tree (int64,
        (n, K); a leaf above the last level passes its points to its leftmost descendant).
        """
        cdef Py_ssize_t n = self.n_points, d = self.n_codes, trees, internal
        cdef const double[:, ::1] res
        cdef const int64_t[:, :, ::1] order
        if not 0 <= depth <= MAX_DEPTH:
            raise ValueError(f"depth: expected 0 to {MAX_DEPTH}, got {depth}")
        internal = (<Py_ssize_t>1 << depth) - 1
        try:
            res = residual
        except (TypeError, ValueError, BufferError):
            raise ValueError(mismatch("residual", f"a C-contiguous float64 array of shape ({n} points, K >= 1 trees)",
                                      residual)) from None
        trees = res.shape[1]
        if res.shape[0] != n or trees < 1:
            raise ValueError(mismatch("residual", f"a C-contiguous float64 array of shape ({n} points, K >= 1 "
                                      "trees)", residual))
        try:
            order = perm
        except (TypeError, ValueError, BufferError):
            raise ValueError(mismatch("perm", f"a C-contiguous int64 array of shape ({trees}, {internal}, {d})",
                                      perm)) from None
        if order.shape[0] != trees or order.shape[1] != internal or order.shape[2] != d:
            raise ValueError(mismatch("perm", f"a C-contiguous int64 array of shape ({trees}, {internal}, {d})",
                                      perm))
        if not _rows_are_permutations(order, np.empty(d, dtype=np.uint8)):
            raise ValueError(f"perm: expected every row perm[k, p, :] to be a permutation of 0 .. {d - 1}")

        feature_array = np.empty((trees, internal), dtype=np.int64)
        threshold_array = np.empty((trees, internal), dtype=np.float64)
        split_array = np.empty((trees, internal), dtype=np.uint8)
        leaf_array = np.empty((n, trees), dtype=np.int64)
        cdef int64_t[:, ::1] feature = feature_array
        cdef double[:, ::1] threshold = threshold_array
        cdef uint8_t[:, ::1] is_split = split_array
        cdef int64_t[:, ::1] leaf = leaf_array
        # empty node arrays (depth 0) have no first element to point at; C never reads them
        cdef const int64_t *perm_data = &order[0, 0, 0] if internal > 0 else NULL
        cdef int64_t *feature_data = &feature[0, 0] if internal > 0 else NULL
        cdef double *threshold_data = &threshold[0, 0] if internal > 0 else NULL
        cdef uint8_t *split_data = &is_split[0, 0] if internal > 0 else NULL
        cdef int status
        with nogil:
            status = untwine_exact_stage(n, d, trees, depth, &self.codes[0, 0], &self.orders[0, 0],
                                         &self.sorted_codes[0, 0], &res[0, 0], perm_data, feature_data,
                                         threshold_data, split_data, &leaf[0, 0])
        if status != 0:
            raise MemoryError("the exact split search ran out of memory")
        return feature_array.astype(np.intp, copy=False), threshold_array, split_array.view(bool), leaf_array


cdef bint _rows_are_permutations(const int64_t[:, :, ::1] perm, uint8_t[::1] seen) noexcept nogil:
    """Whether every perm[k, p, :] holds each of 0 .. d - 1 once (C takes a code from
    each row and indexes with it); ``seen`` is scratch space of d entries."""
    cdef Py_ssize_t d = perm.shape[2], k, p, t
    cdef int64_t value
    for k in range(perm.shape[0]):
        for p in range(perm.shape[1]):
            for t in range(d):
                seen[t] = 0
            for t in range(d):
                value = perm[k, p, t]
                if value < 0 or value >= d or seen[value]:
                    return False
                seen[value] = 1
    return True
