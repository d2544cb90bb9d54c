/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Medians of repeated measurements: bench's rounds, the perf tools' trials.
 * (The per-group counters are bbscope.h's struct bbs_stats; diff's
 * statistics are diff/stats.c.)
 */
#ifndef BBS_HOST_MEDIAN_H
#define BBS_HOST_MEDIAN_H

#include <stddef.h>

/* qsort() order of doubles, smallest first. */
int bbs_cmp_double(const void *a, const void *b);

/* The median of v[0 .. n-1] (n > 0), which is sorted on return: v[0] is the min, v[n-1] the max. */
double bbs_median(double *v, size_t n);

#endif
