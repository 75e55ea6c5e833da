/*
 * Loss and gradient of L2-regularised logistic regression, the objective that
 * scikit-learn's LogisticRegression(solver="lbfgs") hands to scipy's L-BFGS-B:
 *
 *   multinomial (K >= 3 classes), coefficients W (K x d) and intercepts b (K):
 *     f(W, b) = 1/n sum_i [ log sum_k exp(r_ik) - r_i,y_i ] + l2/2 ||W||^2,
 *     r_ik = b_k + sum_j x_ij W_kj;
 *     df/dr_ik = (softmax(r_i)_k - [k == y_i]) / n,
 *   binary (2 classes), w (d) and b:
 *     f(w, b) = 1/n sum_i [ log(1 + exp(r_i)) - t_i r_i ] + l2/2 ||w||^2,
 *     df/dr_i = (sigmoid(r_i) - t_i) / n.
 *
 * The intercepts are not penalised. The multinomial coefficient vector has
 * scikit-learn's layout: the (K, d + 1) matrix [W | b] raveled in Fortran order,
 * so coef[j * K + k] is feature j (j = d: the intercept) of class k, and the
 * gradient comes back in the same layout. Softmax subtracts the row maximum
 * before exponentiating, as scikit-learn's loss does.
 *
 * One pass over blocks of 64 points computes the scores, the softmax, the loss and
 * the gradient together, with no n x K temporaries, every inner loop running over
 * the block's points (contiguous in the transposed codes) so that it vectorises,
 * the exponential included. This, and no Python between the steps, makes it 4 to 5
 * times faster than the reference's matrix product + Cython loss + matrix product.
 * Sums run in another order than the reference's, so values agree to rounding
 * (1e-12 relative, tests/metrics/test_logistic.py), not bit for bit.
 *
 * Called from Python only through _native_logistic.pyx, which checks every array's
 * dtype, shape and contiguity (and the labels' range) before calling it.
 */
#include "_logistic_loss.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && __GNUC__ >= 11 && defined(__x86_64__) && !defined(__clang__)
/* An AVX2 + FMA build beside the baseline one, picked at load time by the CPU. */
#define UNTWINE_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define UNTWINE_CLONES
#endif

/* exp(x) for x <= 0 (a softmax after subtracting the row maximum), within 2 ulp,
 * written without branches or calls so that the compiler vectorises the loop around
 * it (libm's exp is a call per value and was half of the time). x = m ln2 + r with
 * |r| <= ln2 / 2, exp(r) by its Taylor polynomial to degree 13 (truncation below
 * 1e-18 relative), times 2^m built in the exponent bits. Below -708, where exp(x)
 * underflows to the subnormals, it returns 0: next to the row maximum's term (1)
 * such a term is lost in the sum anyway. */
static inline double exp_nonpositive(double x)
{
    const double log2e = 1.4426950408889634, ln2_hi = 6.93147180369123816490e-01,
                 ln2_lo = 1.90821492927058770002e-10;
    /* Adding 1.5 * 2^52 rounds to an integer m, which then sits in the low mantissa
     * bits: bits(t) = bits(shifter) + m, so 2^m is built with integer adds and a
     * shift, which vectorise (a double -> int64 conversion does not, before AVX-512). */
    const double shifter = 6755399441055744.0;
    int64_t shifter_bits;
    memcpy(&shifter_bits, &shifter, sizeof shifter_bits);
    const double xc = x > -708.0 ? x : -708.0;
    const double t = xc * log2e + shifter;
    const double m = t - shifter;
    const double r = (xc - m * ln2_hi) - m * ln2_lo;
    double q = 1.0 / 6227020800.0;
    q = q * r + 1.0 / 479001600.0;
    q = q * r + 1.0 / 39916800.0;
    q = q * r + 1.0 / 3628800.0;
    q = q * r + 1.0 / 362880.0;
    q = q * r + 1.0 / 40320.0;
    q = q * r + 1.0 / 5040.0;
    q = q * r + 1.0 / 720.0;
    q = q * r + 1.0 / 120.0;
    q = q * r + 1.0 / 24.0;
    q = q * r + 1.0 / 6.0;
    q = q * r + 0.5;
    q = q * r + 1.0;
    q = q * r + 1.0;
    int64_t t_bits;
    memcpy(&t_bits, &t, sizeof t_bits);
    const int64_t scale_bits = (t_bits - shifter_bits + 1023) << 52;
    double scale;
    memcpy(&scale, &scale_bits, sizeof scale);
    const double value = q * scale;
    return x > -708.0 ? value : 0.0;
}

/* sum_i a[i] b[i] over a block, in LANES interleaved partial sums (added up
 * pairwise at the end), so that the compiler vectorises it without being allowed to
 * reorder floating-point sums anywhere else. */
#define LANES 8
static inline double dot(const double *a, const double *b, int64_t nb)
{
    double acc[LANES] = {0.0};
    int64_t i = 0;
    for (; i + LANES <= nb; i += LANES)
        for (int l = 0; l < LANES; l++)
            acc[l] += a[i + l] * b[i + l];
    for (; i < nb; i++)
        acc[0] += a[i] * b[i];
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

static inline double sum(const double *a, int64_t nb)
{
    double acc[LANES] = {0.0};
    int64_t i = 0;
    for (; i + LANES <= nb; i += LANES)
        for (int l = 0; l < LANES; l++)
            acc[l] += a[i + l];
    for (; i < nb; i++)
        acc[0] += a[i];
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

#define BLOCK 64 /* points per block: K x BLOCK scores stay in the L1/L2 cache */

/* Multinomial. xt is the codes transposed, (d, n) C-contiguous, so that every inner
 * loop runs over a block of points, contiguous in memory, whatever K and d are.
 * Returns 0, or 1 when out of memory. */
UNTWINE_CLONES
int untwine_multinomial_loss_grad(int64_t n, int64_t d, int64_t K, const double *xt,
                                  const int64_t *y, const double *coef, double l2,
                                  double *grad, double *loss_out)
{
    double *work = (double *)malloc((size_t)(K + 3) * BLOCK * sizeof(double));
    if (work == NULL)
        return 1;
    double *R = work, *top = work + K * BLOCK, *total = top + BLOCK, *ry = total + BLOCK;
    const double *b = coef + d * K;
    double *gb = grad + d * K;
    double loss = 0.0;

    memset(grad, 0, (size_t)((d + 1) * K) * sizeof(double));
    for (int64_t i0 = 0; i0 < n; i0 += BLOCK) {
        const int64_t nb = n - i0 < BLOCK ? n - i0 : BLOCK;
        const int64_t *yb = y + i0;
        /* scores r_ik = b_k + sum_j W_kj x_ij */
        for (int64_t k = 0; k < K; k++) {
            double *Rk = R + k * BLOCK;
            for (int64_t i = 0; i < nb; i++)
                Rk[i] = b[k];
            for (int64_t j = 0; j < d; j++) {
                const double w = coef[j * K + k];
                const double *xj = xt + j * n + i0;
                for (int64_t i = 0; i < nb; i++)
                    Rk[i] += w * xj[i];
            }
        }
        for (int64_t i = 0; i < nb; i++) {
            top[i] = R[i];
            total[i] = 0.0;
            ry[i] = R[yb[i] * BLOCK + i];
        }
        for (int64_t k = 1; k < K; k++) {
            const double *Rk = R + k * BLOCK;
            for (int64_t i = 0; i < nb; i++)
                top[i] = Rk[i] > top[i] ? Rk[i] : top[i];
        }
        /* softmax, the maximum subtracted first */
        for (int64_t k = 0; k < K; k++) {
            double *Rk = R + k * BLOCK;
            for (int64_t i = 0; i < nb; i++) {
                Rk[i] = exp_nonpositive(Rk[i] - top[i]);
                total[i] += Rk[i];
            }
        }
        for (int64_t i = 0; i < nb; i++) {
            loss += log(total[i]) + top[i] - ry[i];
            total[i] = 1.0 / total[i];
        }
        for (int64_t k = 0; k < K; k++) {
            double *Rk = R + k * BLOCK;
            for (int64_t i = 0; i < nb; i++)
                Rk[i] *= total[i];
        }
        for (int64_t i = 0; i < nb; i++)
            R[yb[i] * BLOCK + i] -= 1.0;
        /* gradient: (softmax - onehot) summed against the codes */
        for (int64_t k = 0; k < K; k++) {
            const double *Rk = R + k * BLOCK;
            for (int64_t j = 0; j < d; j++)
                grad[j * K + k] += dot(Rk, xt + j * n + i0, nb);
            gb[k] += sum(Rk, nb);
        }
    }

    double norm2 = 0.0;
    const double inv_n = 1.0 / (double)n;
    for (int64_t m = 0; m < d * K; m++) {
        norm2 += coef[m] * coef[m];
        grad[m] = grad[m] * inv_n + l2 * coef[m];
    }
    for (int64_t k = 0; k < K; k++)
        gb[k] *= inv_n;
    *loss_out = loss * inv_n + 0.5 * l2 * norm2;
    free(work);
    return 0;
}

/* Binary: coef = [w (d), b]; t = 1 for the second class; xt as above. log(1 + e^r)
 * and the sigmoid are evaluated in forms that neither overflow nor lose the small end. */
UNTWINE_CLONES
int untwine_binomial_loss_grad(int64_t n, int64_t d, const double *xt, const int64_t *t,
                               const double *coef, double l2, double *grad, double *loss_out)
{
    double r[BLOCK];
    double loss = 0.0, gb = 0.0;

    memset(grad, 0, (size_t)(d + 1) * sizeof(double));
    for (int64_t i0 = 0; i0 < n; i0 += BLOCK) {
        const int64_t nb = n - i0 < BLOCK ? n - i0 : BLOCK;
        for (int64_t i = 0; i < nb; i++)
            r[i] = coef[d];
        for (int64_t j = 0; j < d; j++) {
            const double *xj = xt + j * n + i0;
            for (int64_t i = 0; i < nb; i++)
                r[i] += coef[j] * xj[i];
        }
        for (int64_t i = 0; i < nb; i++) {
            const double ti = (double)t[i0 + i];
            const double e = exp(-fabs(r[i]));
            const double softplus = (r[i] > 0 ? r[i] : 0.0) + log1p(e);
            const double sigmoid = r[i] > 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
            loss += softplus - ti * r[i];
            r[i] = sigmoid - ti; /* the pointwise gradient replaces the score */
        }
        for (int64_t j = 0; j < d; j++)
            grad[j] += dot(r, xt + j * n + i0, nb);
        gb += sum(r, nb);
    }

    double norm2 = 0.0;
    const double inv_n = 1.0 / (double)n;
    for (int64_t j = 0; j < d; j++) {
        norm2 += coef[j] * coef[j];
        grad[j] = grad[j] * inv_n + l2 * coef[j];
    }
    grad[d] = gb * inv_n;
    *loss_out = loss * inv_n + 0.5 * l2 * norm2;
    return 0;
}
