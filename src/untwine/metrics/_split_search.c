/*
 * Exact least-squares regression trees for one gradient-boosting stage.
 *
 * This is the split search of scikit-learn's DecisionTreeRegressor(criterion=
 * "friedman_mse", splitter="best", max_depth=D, min_samples_leaf=1), the tree that
 * GradientBoostingClassifier fits to each class's residuals, written so that one
 * call grows all K trees of a boosting stage on codes sorted once per fit:
 *
 *   - a node with fewer than two points or an impurity (variance of the residual)
 *     <= DBL_EPSILON stays a leaf;
 *   - candidate splits lie between two consecutive member values (in the code's
 *     sorted order) more than 1e-7 apart;
 *   - a split's score is the Friedman proxy (n_r S_l - n_l S_r)^2 / (n_l n_r),
 *     which orders splits as the squared-error decrease does;
 *   - per code the first best position wins; across codes, visited in a random
 *     order per node (given by `perm`), the first code within a relative 1e-10 of
 *     the best score (the reference draws its own order, so ties between equally
 *     good splits are broken at random in both);
 *   - the threshold is halfway between the two neighbouring values, or the lower
 *     value when the halfway point rounds onto the upper one.
 *
 * Points of a leaf above the last level pass to its leftmost descendant, so each
 * point ends in a leaf slot 0 .. 2^D - 1 of a complete binary tree; nodes are
 * numbered level by level (root 0, children 2p + 1 and 2p + 2).
 *
 * Cost per tree: D passes over the n points of each of the d sorted codes.
 *
 * Called from Python only through _native_trees.pyx, which checks every array's dtype,
 * shape and contiguity (and that perm holds permutations) before calling it.
 */
#include "_split_search.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

#define FEATURE_THRESHOLD 1e-7

/*
 * n points, d codes, K trees, depth D.
 * codes:    (d, n) code values (float32 values held as double), by code;
 * orders:   (d, n) point indices sorting each code ascending;
 * sorted:   (d, n) each code's values in that order;
 * residual: (n, K) the residual each tree fits;
 * perm:     (K, 2^D - 1, d) the order in which each node visits the codes;
 * feature:  out (K, 2^D - 1) split code per node (0 where no split);
 * threshold:out (K, 2^D - 1) threshold per node (+inf where no split);
 * is_split: out (K, 2^D - 1) 1 where the node splits;
 * leaf:     out (n, K) the leaf slot of every point in every tree.
 * Returns 0, or -1 when memory runs out.
 *
 * The K trees are grown together: one pass over a code's sorted order serves the
 * open nodes of every tree, so each point's row of K residuals is read at once.
 */
int untwine_exact_stage(int64_t n, int64_t d, int64_t K, int64_t depth, const double *codes,
                        const int64_t *orders, const double *sorted, const double *residual,
                        const int64_t *perm, int64_t *feature, double *threshold, uint8_t *is_split,
                        int64_t *leaf)
{
    const int64_t internal = ((int64_t)1 << depth) - 1;
    const int64_t max_width = (int64_t)1 << (depth > 0 ? depth - 1 : 0);
    const int64_t slots = K * max_width; /* (tree, node of the level) */
    double *total = malloc(sizeof(double) * slots);
    double *squares = malloc(sizeof(double) * slots);
    double *count = malloc(sizeof(double) * slots);
    double *left_sum = malloc(sizeof(double) * slots);
    double *left_n = malloc(sizeof(double) * slots);
    double *last = malloc(sizeof(double) * slots);
    double *root_num = malloc(sizeof(double) * K);
    double *root_den = malloc(sizeof(double) * K);
    double *root_pos = malloc(sizeof(double) * K);
    uint8_t *open = malloc(slots);
    uint8_t *next_open = malloc(2 * slots);
    double *best_num = malloc(sizeof(double) * slots * d);
    double *best_den = malloc(sizeof(double) * slots * d);
    double *below = malloc(sizeof(double) * slots * d);
    double *above = malloc(sizeof(double) * slots * d);
    int32_t *node = malloc(sizeof(int32_t) * (n > 0 ? n : 1) * K);
    int status = 0;
    if (!total || !squares || !count || !left_sum || !left_n || !last || !root_num || !root_den || !root_pos || !open || !next_open || !best_num ||
        !best_den || !below || !above || !node) {
        status = -1;
        goto done;
    }
    for (int64_t i = 0; i < K * internal; i++) {
        feature[i] = 0;
        threshold[i] = INFINITY;
        is_split[i] = 0;
    }
    for (int64_t i = 0; i < n * K; i++) node[i] = 0;
    for (int64_t k = 0; k < K; k++) open[k] = 1; /* level 0: slot k is tree k's root */
    for (int64_t level = 0; level < depth; level++) {
        const int64_t width = (int64_t)1 << level;
        const int64_t first = width - 1; /* number of the level's first node */
        const int64_t used = K * width;  /* slot of (tree k, node j) is k * width + j */
        for (int64_t s = 0; s < used; s++) {
            total[s] = 0.0;
            squares[s] = 0.0;
            count[s] = 0.0;
        }
        for (int64_t p = 0; p < n; p++) {
            const double *rp = residual + p * K;
            const int32_t *np_ = node + p * K;
            for (int64_t k = 0; k < K; k++) {
                const int64_t s = k * width + np_[k];
                total[s] += rp[k];
                squares[s] += rp[k] * rp[k];
                count[s] += 1.0;
            }
        }
        int any = 0;
        for (int64_t s = 0; s < used; s++) {
            if (open[s]) {
                const double mean = count[s] > 0 ? total[s] / count[s] : 0.0;
                const double impurity = count[s] > 0 ? squares[s] / count[s] - mean * mean : 0.0;
                open[s] = count[s] >= 2.0 && impurity > DBL_EPSILON;
            }
            any |= open[s];
            for (int64_t f = 0; f < d; f++) {
                best_num[s * d + f] = -1.0; /* below any score: every score is >= 0 */
                best_den[s * d + f] = 1.0;
            }
        }
        if (any && width == 1) {
            /* the roots: every tree holds every point, so the positions and their validity are shared
               and the loop over trees runs on contiguous rows (vectorised by the compiler) */
            for (int64_t f = 0; f < d; f++) {
                const int64_t *order = orders + f * n;
                const double *x = sorted + f * n;
                for (int64_t k = 0; k < K; k++) {
                    left_sum[k] = 0.0;
                    root_pos[k] = -1.0; /* best position per tree (none yet) */
                    root_num[k] = -1.0; /* its score's numerator and denominator */
                    root_den[k] = 1.0;
                }
                for (int64_t i = 0; i < n; i++) {
                    const double *rp = residual + order[i] * K;
                    if (i > 0 && x[i] > x[i - 1] + FEATURE_THRESHOLD) {
                        const double nl = (double)i, nr = (double)(n - i), den = nl * nr, pos = (double)i;
                        for (int64_t k = 0; k < K; k++) {
                            const double sl = left_sum[k];
                            const double diff = nr * sl - nl * (total[k] - sl);
                            const double num = diff * diff;
                            const int better = num * root_den[k] > root_num[k] * den;
                            root_num[k] = better ? num : root_num[k];
                            root_den[k] = better ? den : root_den[k];
                            root_pos[k] = better ? pos : root_pos[k];
                        }
                    }
                    for (int64_t k = 0; k < K; k++) left_sum[k] += rp[k];
                }
                for (int64_t k = 0; k < K; k++) {
                    if (root_pos[k] < 0.0) continue;
                    const int64_t b = k * d + f, i = (int64_t)root_pos[k];
                    best_num[b] = root_num[k];
                    best_den[b] = root_den[k];
                    below[b] = x[i - 1];
                    above[b] = x[i];
                }
            }
        } else if (any) {
            for (int64_t f = 0; f < d; f++) {
                const int64_t *order = orders + f * n;
                const double *x = sorted + f * n;
                for (int64_t s = 0; s < used; s++) {
                    left_sum[s] = 0.0;
                    left_n[s] = 0.0;
                }
                for (int64_t i = 0; i < n; i++) {
                    const int64_t p = order[i];
                    const double v = x[i];
                    const double *rp = residual + p * K;
                    const int32_t *np_ = node + p * K;
                    for (int64_t k = 0; k < K; k++) {
                        const int64_t s = k * width + np_[k];
                        if (!open[s]) continue;
                        const double nl = left_n[s];
                        const int valid = (nl > 0.0) & (v > last[s] + FEATURE_THRESHOLD);
                        /* score (n_r S_l - n_l S_r)^2 / (n_l n_r), compared without dividing */
                        const double nr = count[s] - nl;
                        const double sl = left_sum[s];
                        const double diff = nr * sl - nl * (total[s] - sl);
                        const double num = diff * diff, den = nl * nr;
                        const int64_t b = s * d + f;
                        if (valid & (num * best_den[b] > best_num[b] * den)) {
                            best_num[b] = num;
                            best_den[b] = den;
                            below[b] = last[s];
                            above[b] = v;
                        }
                        left_sum[s] = sl + rp[k];
                        left_n[s] = nl + 1.0;
                        last[s] = v;
                    }
                }
            }
        }
        for (int64_t k = 0; k < K; k++) {
            for (int64_t j = 0; j < width; j++) {
                const int64_t s = k * width + j;
                const int64_t pos = first + j;
                next_open[2 * s] = 0;
                next_open[2 * s + 1] = 0;
                if (!open[s]) continue;
                double top = -INFINITY;
                for (int64_t f = 0; f < d; f++) {
                    const int64_t b = s * d + f;
                    if (best_num[b] >= 0.0 && best_num[b] / best_den[b] > top) top = best_num[b] / best_den[b];
                }
                if (!(top > -INFINITY)) continue;
                const double bar = top - 1e-10 * fabs(top);
                const int64_t *visit = perm + (k * internal + pos) * d;
                int64_t chosen = -1;
                for (int64_t t = 0; t < d && chosen < 0; t++) {
                    const int64_t b = s * d + visit[t];
                    if (best_num[b] >= 0.0 && best_num[b] / best_den[b] >= bar) chosen = visit[t];
                }
                const double lo = below[s * d + chosen], hi = above[s * d + chosen];
                double cut = lo / 2.0 + hi / 2.0;
                if (cut == hi || isinf(cut)) cut = lo;
                feature[k * internal + pos] = chosen;
                threshold[k * internal + pos] = cut;
                is_split[k * internal + pos] = 1;
                next_open[2 * s] = 1;
                next_open[2 * s + 1] = 1;
            }
        }
        for (int64_t p = 0; p < n; p++) {
            int32_t *np_ = node + p * K;
            for (int64_t k = 0; k < K; k++) {
                const int64_t j = np_[k];
                const int64_t at = k * internal + first + j;
                int right = 0;
                if (is_split[at]) right = codes[feature[at] * n + p] > threshold[at];
                np_[k] = (int32_t)(2 * j + right);
            }
        }
        /* slot k * width + j's children are slots 2(k * width + j) and +1 = k * 2width + 2j (+1) */
        if (level + 1 < depth)
            for (int64_t s = 0; s < 2 * used; s++) open[s] = next_open[s];
    }
    for (int64_t i = 0; i < n * K; i++) leaf[i] = node[i];
done:
    free(total);
    free(squares);
    free(count);
    free(left_sum);
    free(left_n);
    free(last);
    free(root_num);
    free(root_den);
    free(root_pos);
    free(open);
    free(next_open);
    free(best_num);
    free(best_den);
    free(below);
    free(above);
    free(node);
    return status;
}
