// SPDX-License-Identifier: GPL-2.0
#include <stdlib.h>

#include "host/median.h"

int bbs_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bbs_median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), bbs_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
