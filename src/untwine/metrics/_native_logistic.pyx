# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""The logistic-regression objective of the fast preset (``_logistic_loss.c``), behind a
checked interface.

Every array crosses into C through a typed memoryview, after its dtype, shape and
C-contiguity (and the labels' range) have been checked here; a wrong one raises
``ValueError`` naming the argument, what was expected and what came, never a read or
write outside a buffer. The data, fixed over the ~15,000 evaluations of a fit, are
checked once when the objective is made; each call checks only the coefficients.
"""

import numpy as np

from libc.stdint cimport int64_t

from ._native_checks cimport mismatch


cdef extern from "_logistic_loss.h" nogil:
    int untwine_multinomial_loss_grad(int64_t n, int64_t d, int64_t K, const double *xt, const int64_t *y,
                                      const double *coef, double l2, double *grad, double *loss_out)
    int untwine_binomial_loss_grad(int64_t n, int64_t d, const double *xt, const int64_t *t,
                                   const double *coef, double l2, double *grad, double *loss_out)


cdef class LogisticObjective:
    """Mean logistic loss + l2/2 ||W||² and its gradient, on fixed data.

    ``xt``: float64, C-contiguous, (d codes, n points), the codes transposed; ``y``:
    int64, C-contiguous, (n,), class indices 0 .. n_classes - 1 (two classes: 1 for the
    second). Calling it with ``coef`` (float64, C-contiguous, (d + 1,) for two classes,
    (n_classes (d + 1),) otherwise, the layout of ``_logistic_loss.c``) and ``l2``
    returns ``(loss, gradient)``, what scipy's L-BFGS-B takes with ``jac=True``.
    """

    cdef const double[:, ::1] xt
    cdef const int64_t[::1] y
    cdef readonly Py_ssize_t n_classes, n_codes, n_points, size

    def __init__(self, xt, y, Py_ssize_t n_classes):
        cdef const double[:, ::1] codes
        cdef const int64_t[::1] labels
        cdef Py_ssize_t i
        if n_classes < 2:
            raise ValueError(f"n_classes: expected at least 2, got {n_classes}")
        try:
            codes = xt
        except (TypeError, ValueError, BufferError):
            raise ValueError(mismatch("xt", "a C-contiguous float64 array of shape (d codes, n points)", xt)) from None
        if codes.shape[0] < 1 or codes.shape[1] < 1:
            raise ValueError(f"xt: expected at least one code and one point, got shape "
                             f"{(codes.shape[0], codes.shape[1])}")
        try:
            labels = y
        except (TypeError, ValueError, BufferError):
            raise ValueError(mismatch("y", f"a C-contiguous int64 array of shape ({codes.shape[1]},)", y)) from None
        if labels.shape[0] != codes.shape[1]:
            raise ValueError(mismatch("y", f"a C-contiguous int64 array of shape ({codes.shape[1]},), one label "
                                      "per column of xt", y))
        for i in range(labels.shape[0]):
            if labels[i] < 0 or labels[i] >= n_classes:
                raise ValueError(f"y: expected class indices 0 .. {n_classes - 1}, got {labels[i]} at position {i}")
        self.xt, self.y, self.n_classes = codes, labels, n_classes
        self.n_codes, self.n_points = codes.shape[0], codes.shape[1]
        self.size = self.n_codes + 1 if n_classes == 2 else n_classes * (self.n_codes + 1)

    def __call__(self, coef, double l2):
        cdef const double[::1] w
        try:
            w = coef
        except (TypeError, ValueError, BufferError):
            raise ValueError(mismatch("coef", f"a C-contiguous float64 array of shape ({self.size},)", coef)) from None
        if w.shape[0] != self.size:
            raise ValueError(mismatch("coef", f"a C-contiguous float64 array of shape ({self.size},)", coef))
        gradient = np.empty(self.size)
        cdef double[::1] grad = gradient
        cdef double loss = 0.0
        cdef int status
        with nogil:
            if self.n_classes == 2:
                status = untwine_binomial_loss_grad(self.n_points, self.n_codes, &self.xt[0, 0], &self.y[0], &w[0],
                                                    l2, &grad[0], &loss)
            else:
                status = untwine_multinomial_loss_grad(self.n_points, self.n_codes, self.n_classes, &self.xt[0, 0],
                                                       &self.y[0], &w[0], l2, &grad[0], &loss)
        if status != 0:
            raise MemoryError("the logistic loss ran out of memory")
        return loss, gradient
