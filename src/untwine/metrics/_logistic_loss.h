/*
 * Loss and gradient of L2-regularised logistic regression (_logistic_loss.c).
 *
 * The caller guarantees the sizes below; the only caller, _native_logistic.pyx,
 * checks them (dtype, shape, C-contiguity, labels in 0 .. K - 1) before calling, so
 * that a wrong array raises ValueError in Python instead of reading or writing
 * outside a buffer.
 */
#ifndef UNTWINE_LOGISTIC_LOSS_H
#define UNTWINE_LOGISTIC_LOSS_H

#include <stdint.h>

/* n points, d codes, K >= 3 classes; xt: (d, n) the codes transposed; y: (n,) labels
 * 0 .. K - 1; coef, grad: (K (d + 1),) in the layout of _logistic_loss.c; loss_out: one
 * double. Returns 0, or 1 when memory runs out. */
int untwine_multinomial_loss_grad(int64_t n, int64_t d, int64_t K, const double *xt,
                                  const int64_t *y, const double *coef, double l2,
                                  double *grad, double *loss_out);

/* Two classes: t: (n,) 0 or 1 (1 for the second class); coef, grad: (d + 1,) = [w, b].
 * Returns 0. */
int untwine_binomial_loss_grad(int64_t n, int64_t d, const double *xt, const int64_t *t,
                               const double *coef, double l2, double *grad, double *loss_out);

#endif
