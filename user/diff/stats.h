/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The statistics of `bbscope diff`: weighted samples (a per-bio latency is
 * weight 1, a histogram bucket its count), their quantiles, a bootstrap
 * interval for the change of a quantile, a rank test, and a test for a
 * change of distribution over categories.  The distributions come from GSL
 * (binomial and normal tails, chi-square, its random numbers); what GSL
 * does not have (the Mann-Whitney U statistic and its exact small-sample
 * distribution) is computed here.
 */
#ifndef BBS_DIFF_STATS_H
#define BBS_DIFF_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Values with integer weights; sorted (and equal values merged) by bbs_samples_sort(). */
struct bbs_samples {
	double *v;
	double *w;
	double *cum; /* after sorting: cum[i] = w[0] + ... + w[i] */
	size_t n, cap;
	double total; /* sum of w */
	bool sorted;
};

/* Add weight w of value v.  0, or -1 out of memory. */
int bbs_samples_add(struct bbs_samples *s, double v, double w);
/* Everything of from, added to s.  0, or -1 out of memory. */
int bbs_samples_merge(struct bbs_samples *s, const struct bbs_samples *from);
/* Sort, merge equal values, compute cum.  0, or -1 out of memory. */
int bbs_samples_sort(struct bbs_samples *s);
void bbs_samples_free(struct bbs_samples *s);

/* The q-quantile (0 < q <= 1): the smallest value whose cumulative weight reaches q of the total. */
double bbs_quantile(const struct bbs_samples *s, double q);

/*
 * The bootstrap distribution of a quantile, computed rather than
 * resampled: a resample of N values from s has its q-quantile at or below
 * v[j] exactly when at least ceil(qN) of the N draws fall at or below it,
 * a binomial tail.  Inverting that tail draws the quantile of a resample
 * in O(log n) without building one.
 */
struct bbs_qboot {
	const struct bbs_samples *s;
	double q;
	uint64_t k; /* ceil(qN) */
	double *g; /* memo of P(quantile of a resample <= v[j]); NAN until computed */
};

int bbs_qboot_init(struct bbs_qboot *b, const struct bbs_samples *s, double q);
void bbs_qboot_free(struct bbs_qboot *b);
/* The value a resample's quantile has with probability u of being at or below. */
double bbs_qboot_inv(struct bbs_qboot *b, double u);

/* A change of a quantile from A to B, in percent, and its interval. */
struct bbs_qchange {
	double a, b; /* the quantile of each side */
	double a_lo, a_hi, b_lo, b_hi; /* each side's bootstrap interval */
	double pct, lo, hi; /* (b / a - 1) * 100 and its bootstrap interval */
};

/*
 * The percentile-bootstrap interval at confidence 1 - alpha for the change
 * of the q-quantile (draws resamples of each side, independently; seeded,
 * so a run is reproducible).  a and b sorted, non-empty.  0, or -1 out of memory.
 */
int bbs_qchange(const struct bbs_samples *a, const struct bbs_samples *b, double q, double alpha,
		unsigned draws, struct bbs_qchange *out);

/*
 * Two-sided Mann-Whitney U test (Wilcoxon rank-sum) of a against b, sorted:
 * exact when both are small and without ties, else the normal
 * approximation with the tie correction and a continuity correction.
 * 1 when either side is empty or every value is the same.
 */
double bbs_mann_whitney(const struct bbs_samples *a, const struct bbs_samples *b);

/*
 * Chi-square test of homogeneity of two count vectors over n categories
 * (categories empty on both sides are left out).  1 when fewer than two
 * categories or either side is empty.
 */
double bbs_chi2_homogeneity(const uint64_t *a, const uint64_t *b, size_t n);

#endif
