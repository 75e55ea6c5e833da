/*
 * The exact split search of one gradient-boosting stage (_split_search.c).
 *
 * The caller guarantees the sizes below; the only caller, _native_trees.pyx, checks
 * them (dtype, shape, C-contiguity, perm rows being permutations of 0 .. d - 1,
 * 0 <= depth <= 30) before calling, so that a wrong array raises ValueError in Python
 * instead of reading or writing outside a buffer.
 */
#ifndef UNTWINE_SPLIT_SEARCH_H
#define UNTWINE_SPLIT_SEARCH_H

#include <stdint.h>

/* n points, d codes, K trees, depth D; every array C-contiguous.
 * codes, orders, sorted: (d, n); residual: (n, K); perm: (K, 2^D - 1, d);
 * feature, threshold, is_split: out (K, 2^D - 1); leaf: out (n, K).
 * Returns 0, or -1 when memory runs out. */
int untwine_exact_stage(int64_t n, int64_t d, int64_t K, int64_t depth, const double *codes,
                        const int64_t *orders, const double *sorted, const double *residual,
                        const int64_t *perm, int64_t *feature, double *threshold, uint8_t *is_split,
                        int64_t *leaf);

#endif
