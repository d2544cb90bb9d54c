/* SPDX-License-Identifier: GPL-2.0 */
/* Statistics of repeated measurements: bench's rounds, the perf tools' trials. */
#ifndef BBS_HOST_STATS_H
#define BBS_HOST_STATS_H

#include <stddef.h>

/* qsort() order of doubles, smallest first. */
int bbs_cmp_double(const void *a, const void *b);

/* The median of v[0 .. n-1] (n > 0), which is sorted on return: v[0] is the min, v[n-1] the max. */
double bbs_median(double *v, size_t n);

#endif
