// SPDX-License-Identifier: GPL-2.0
/*
 * diff's statistics (user/diff/stats.c) against what they claim: quantiles
 * of weighted samples; the computed bootstrap distribution of a quantile
 * against resampling for real; Mann-Whitney p-values against values known
 * from tables and against the normal approximation for large samples; the
 * permutation test with ties against the exact test without; chi-square.
 */
#include <math.h>
#include <stdlib.h>

#include <gsl/gsl_rng.h>

#include "diff/stats.h"

#include "check.h"

static void fill(struct bbs_samples *s, const double *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		bbs_samples_add(s, v[i], 1);
	bbs_samples_sort(s);
}

static void test_quantile(void)
{
	struct bbs_samples s = { 0 };
	const double v[] = { 5, 1, 4, 2, 3, 3 };

	fill(&s, v, 6);
	CHECK(s.n == 5 && s.total == 6, "equal values merged: n %zu total %g", s.n, s.total);
	CHECK(bbs_quantile(&s, 0.5) == 3, "median of 1 2 3 3 4 5: %g", bbs_quantile(&s, 0.5));
	CHECK(bbs_quantile(&s, 1) == 5, "max");
	CHECK(bbs_quantile(&s, 0.01) == 1, "min");
	bbs_samples_free(&s);
	printf("ok quantiles of weighted samples\n");
}

static int cmp_d(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

/* P(resample median <= v[j]) computed, against 20000 real resamples. */
static void test_qboot(void)
{
	struct bbs_samples s = { 0 };
	struct bbs_qboot b;
	gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
	enum { N = 31, R = 20000 };
	double v[N], draw[N], below[N] = { 0 }, worst = 0;

	for (int i = 0; i < N; i++)
		v[i] = 100 + i * i;
	fill(&s, v, N);
	bbs_qboot_init(&b, &s, 0.5);
	for (int k = 0; k < R; k++) {
		for (int i = 0; i < N; i++)
			draw[i] = v[gsl_rng_uniform_int(r, N)];
		qsort(draw, N, sizeof(double), cmp_d);
		/* the 16th of 31: ceil(0.5 * 31) */
		for (int j = 0; j < N; j++)
			below[j] += draw[15] <= v[j];
	}
	for (int j = 0; j < N; j++) {
		double want = below[j] / R, got;
		/* the smallest u whose inverse is at or above v[j] brackets G(j) */
		double lo = 0, hi = 1;

		for (int it = 0; it < 40; it++) {
			double mid = (lo + hi) / 2;

			if (bbs_qboot_inv(&b, mid) <= v[j])
				lo = mid;
			else
				hi = mid;
		}
		got = lo;
		worst = fmax(worst, fabs(got - want));
	}
	CHECK(worst < 0.02, "computed bootstrap CDF within 0.02 of resampling (worst %.4f)", worst);
	bbs_qboot_free(&b);
	bbs_samples_free(&s);
	gsl_rng_free(r);
	printf("ok bootstrap of the median: computed CDF matches resampling (worst %.4f)\n", worst);
}

static void test_mann_whitney(void)
{
	struct bbs_samples a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 };
	const double x[] = { 1, 2, 3, 4, 5 }, y[] = { 6, 7, 8, 9, 10 };
	const double t1[] = { 1, 2, 2, 3 }, t2[] = { 3, 4, 4, 5 };
	double p;

	fill(&a, x, 5);
	fill(&b, y, 5);
	/* Complete separation, 5 and 5: two-sided exact p = 2 / C(10,5) = 2/252. */
	p = bbs_mann_whitney(&a, &b);
	CHECK(fabs(p - 2.0 / 252) < 1e-12, "5 v 5 separated: p %.6f, want %.6f", p, 2.0 / 252);
	CHECK(bbs_mann_whitney(&a, &a) == 1, "a sample against itself: p 1");
	/* With ties: enumeration; 4 v 4 separated but for one tie, p = 4/70. */
	fill(&c, t1, 4);
	fill(&d, t2, 4);
	p = bbs_mann_whitney(&c, &d);
	CHECK(fabs(p - 4.0 / 70) < 1e-12, "4 v 4 with a tie at the border: p %.6f, want %.6f", p,
	      4.0 / 70);
	bbs_samples_free(&a);
	bbs_samples_free(&b);
	bbs_samples_free(&c);
	bbs_samples_free(&d);

	/* Large samples, one shifted by half a standard deviation: p tiny; unshifted: not. */
	gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
	struct bbs_samples e = { 0 }, f = { 0 }, g = { 0 };

	for (int i = 0; i < 2000; i++) {
		bbs_samples_add(&e, gsl_rng_uniform(r), 1);
		bbs_samples_add(&f, gsl_rng_uniform(r) + 0.15, 1);
		bbs_samples_add(&g, gsl_rng_uniform(r), 1);
	}
	bbs_samples_sort(&e);
	bbs_samples_sort(&f);
	bbs_samples_sort(&g);
	p = bbs_mann_whitney(&e, &f);
	CHECK(p < 1e-6, "2000 v 2000 shifted: p %.3g", p);
	p = bbs_mann_whitney(&e, &g);
	CHECK(p > 0.01, "2000 v 2000 from one distribution: p %.3g", p);
	bbs_samples_free(&e);
	bbs_samples_free(&f);
	bbs_samples_free(&g);
	gsl_rng_free(r);
	printf("ok Mann-Whitney: exact, with ties, normal approximation\n");
}

static void test_qchange(void)
{
	struct bbs_samples a = { 0 }, b = { 0 };
	struct bbs_qchange q;

	for (int i = 0; i < 500; i++) {
		bbs_samples_add(&a, 1000 + i, 1);
		bbs_samples_add(&b, 2 * (1000 + i), 1);
	}
	bbs_samples_sort(&a);
	bbs_samples_sort(&b);
	CHECK(!bbs_qchange(&a, &b, 0.5, 0.05, 2000, &q), "qchange");
	CHECK(fabs(q.pct - 100) < 0.5, "doubled: +100%% (%.2f)", q.pct);
	CHECK(q.lo <= q.pct && q.pct <= q.hi && q.lo > 90 && q.hi < 110,
	      "interval [%.2f, %.2f] around it", q.lo, q.hi);
	CHECK(q.a_lo <= q.a && q.a <= q.a_hi, "A's own interval holds its median");
	bbs_samples_free(&a);
	bbs_samples_free(&b);
	printf("ok a doubled median: +100%% [%.1f%%, %.1f%%]\n", q.lo, q.hi);
}

static void test_chi2(void)
{
	const uint64_t a[3] = { 0, 100, 0 }, b[3] = { 0, 0, 100 }, c[3] = { 0, 50, 50 };

	CHECK(bbs_chi2_homogeneity(a, b, 3) < 1e-10, "all softirq against all task: p ~ 0");
	CHECK(bbs_chi2_homogeneity(c, c, 3) > 0.99, "the same shares: p 1");
	CHECK(bbs_chi2_homogeneity(a, a, 3) == 1, "one category only: p 1");
	printf("ok chi-square of context shares\n");
}

int main(void)
{
	test_quantile();
	test_qboot();
	test_mann_whitney();
	test_qchange();
	test_chi2();
	return failures ? 1 : 0;
}
