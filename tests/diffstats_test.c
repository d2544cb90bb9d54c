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

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <string.h>

#include "diff/diff.h"
#include "diff/internal.h"
#include "diff/stats.h"
#include "model/report.h"

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

/*
 * ---- Whole diffs of simulated runs (issue 22) ----
 *
 * A run has three device groups (write data, write metadata, read data),
 * each with queue, device and total, and its completion contexts.  A run's
 * latencies are its group's base times a run effect (lognormal, sigma
 * RUN_SIGMA: runs of one workload differ by about 10%), shared by the
 * group's phases (device and total move together), times a bio's own
 * noise; its softirq share is 0.9 give or take 0.03.  B's write data
 * device and total are shifted by a factor, or B's contexts swapped.
 */
#define RUN_SIGMA 0.10
#define GROUP_SIGMA 0.03
#define BIOS 40

struct sim {
	double shift; /* B's write data device and total, times this */
	bool swap; /* B's write data completes 90% in task, not softirq */
	bool separate; /* B's runs all above A's: A's run effects below 1, B's above */
};

static void sim_run(struct bbs_diff_run *r, gsl_rng *g, const struct sim *s, bool is_b, int idx)
{
	static const struct {
		int op, kind;
		double base;
	} grp[] = { { BBS_OP_WRITE, KIND_DATA, 80e3 }, { BBS_OP_WRITE, KIND_METADATA, 120e3 } };

	double machine = exp(gsl_ran_gaussian(g, RUN_SIGMA));

	memset(r, 0, sizeof(*r));
	static uint64_t serial;

	r->path = is_b ? "b" : "a";
	r->seconds = 1;
	r->st_ino = r->id = ++serial; /* each run another file: diff refuses one twice */
	for (size_t k = 0; k < sizeof(grp) / sizeof(grp[0]); k++) {
		struct bbs_diff_group *gr = bbs_diff_group_get(r, "d", grp[k].op, grp[k].kind);
		double eff = machine * exp(gsl_ran_gaussian(g, GROUP_SIGMA)), soft;
		bool target = k == 0 && is_b;

		if (s->separate && k == 0)
			eff = is_b ? 1.3 + 0.01 * idx : 0.7 + 0.01 * idx;
		for (int i = 0; i < BIOS; i++) {
			double q = 5e3 * eff * exp(gsl_ran_gaussian(g, 0.3));
			double dv = grp[k].base * eff * exp(gsl_ran_gaussian(g, 0.3));

			if (target)
				dv *= s->shift;
			bbs_samples_add(&gr->ph[PHASE_QUEUE], q, 1);
			bbs_samples_add(&gr->ph[PHASE_DEVICE], dv, 1);
			bbs_samples_add(&gr->ph[PHASE_TOTAL], q + dv + 2e3, 1);
		}
		soft = 0.9 + gsl_ran_gaussian(g, 0.03);
		soft = soft > 1 ? 1 : soft;
		if (target && s->swap)
			soft = 1 - soft;
		gr->complete_ctx[CTX_SOFTIRQ] = (uint64_t)(soft * 1000);
		gr->complete_ctx[CTX_TASK] = 1000 - (uint64_t)(soft * 1000);
		gr->endio_ctx[CTX_TASK] = 1000;
		gr->bios = BIOS;
		gr->bytes = BIOS * 65536;
	}
	bbs_diff_run_sort(r);
}

static void sim_side(struct bbs_diff_side *side, int n, gsl_rng *g, const struct sim *s, bool b)
{
	memset(side, 0, sizeof(*side));
	side->kind = BBS_DIFF_HIST;
	side->path = b ? "b" : "a";
	side->runs = calloc(n, sizeof(*side->runs));
	side->nruns = n;
	for (int i = 0; i < n; i++)
		sim_run(&side->runs[i], g, s, b, i);
}

/* What one simulated diff found: any primary "changed", and the target's verdicts. */
struct found {
	bool any, device, ctx;
};

static struct found sim_diff(int n, gsl_rng *g, const struct sim *s)
{
	struct bbs_diff_side a, b;
	struct bbs_diff d;
	struct bbs_diff_opts o = { .alpha = 0.05, .draws = 50 };
	struct found f = { 0 };
	char err[128];

	sim_side(&a, n, g, &(struct sim){ 1, false, s->separate }, false);
	sim_side(&b, n, g, s, true);
	if (bbs_diff_run(&d, &a, &b, &o, err, sizeof(err))) {
		CHECK(0, "bbs_diff_run: %s", err);
		return f;
	}
	for (size_t i = 0; i < d.npairs; i++) {
		const struct bbs_diff_pair *pr = &d.pairs[i];
		bool target = pr->op == BBS_OP_WRITE && pr->kind == KIND_DATA;

		for (int k = 0; k < pr->nph; k++) {
			f.any |= pr->ph[k].primary && pr->ph[k].significant;
			if (target && pr->ph[k].phase == PHASE_DEVICE)
				f.device = pr->ph[k].significant;
		}
		f.any |= pr->complete_p_adj < o.alpha || pr->endio_p_adj < o.alpha;
		if (target)
			f.ctx = pr->complete_p_adj < o.alpha;
	}
	bbs_diff_free(&d);
	bbs_diff_side_free(&a);
	bbs_diff_side_free(&b);
	return f;
}

/* The largest count of S trials a true rate p exceeds with probability at most 1e-3. */
static unsigned binom_upper(unsigned S, double p)
{
	unsigned k = 0;

	while (k < S && gsl_cdf_binomial_Q(k, p, S) > 1e-3)
		k++;
	return k;
}

static void test_simulation(void)
{
	gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
	enum { S_NULL = 300, S = 20 };
	unsigned fp = 0, sep = 0, limit;
	static const int runs[] = { 3, 4, 5, 6, 8 };
	static const struct {
		const char *name;
		struct sim s;
	} sc[] = { { "+10%", { 1.10, false, false } },
		   { "+30%", { 1.30, false, false } },
		   { "2x", { 2.0, false, false } },
		   { "ctx swap", { 1, true, false } } };

	gsl_rng_set(g, 22);
	/* Nothing changed, 5 runs a side: how often does a whole diff call anything changed? */
	for (int i = 0; i < S_NULL; i++)
		fp += sim_diff(5, g, &(struct sim){ 1, false, false }).any;
	limit = binom_upper(S_NULL, 0.05);
	CHECK(fp <= limit,
	      "5 v 5, nothing changed: %u of %d diffs call something changed (at most %u)", fp,
	      S_NULL, limit);
	printf("ok 5 v 5, nothing changed: %u of %d whole diffs found a change (%.3f; alpha "
	       "0.05)\n",
	       fp, S_NULL, (double)fp / S_NULL);
	/* A shift that separates every run: found, every time. */
	for (int i = 0; i < S; i++)
		sep += sim_diff(5, g, &(struct sim){ 1.0, false, true }).device;
	CHECK(sep == S, "5 v 5, every run of B above A's: found in %u of %d", sep, S);
	printf("ok 5 v 5, every run separated: found in %u of %d\n", sep, S);
	/* The power curve: runs a side against the change found (docs/guide.md section 3). */
	printf("power (%d diffs each; run-to-run sigma %.2f):\n  runs a side", S, RUN_SIGMA);
	for (size_t k = 0; k < sizeof(sc) / sizeof(sc[0]); k++)
		printf("  %8s", sc[k].name);
	printf("\n");
	for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
		printf("  %10d", runs[r]);
		for (size_t k = 0; k < sizeof(sc) / sizeof(sc[0]); k++) {
			unsigned hit = 0;

			for (int i = 0; i < S; i++) {
				struct found f = sim_diff(runs[r], g, &sc[k].s);

				hit += sc[k].s.swap ? f.ctx : f.device;
			}
			printf("  %7.0f%%", 100.0 * hit / S);
			if (runs[r] == 5 && sc[k].s.shift >= 2)
				CHECK(hit >= S * 9 / 10, "5 v 5, 2x: found in %u of %d", hit, S);
			if (runs[r] == 5 && sc[k].s.swap)
				CHECK(hit >= S * 9 / 10,
				      "5 v 5, contexts swapped: found in %u of %d", hit, S);
		}
		printf("\n");
	}
	gsl_rng_free(g);
}

int main(void)
{
	test_quantile();
	test_qboot();
	test_mann_whitney();
	test_qchange();
	test_chi2();
	test_simulation();
	return failures ? 1 : 0;
}
