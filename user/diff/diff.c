// SPDX-License-Identifier: GPL-2.0
/* bbscope diff: matching two sides' groups and comparing them (diff/diff.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "diff/internal.h"
#include "model/report.h"
#include "host/median.h"

const double bbs_diff_q[BBS_DIFF_NQ] = { 0.50, 0.90, 0.99 };
const char *const bbs_diff_q_name[BBS_DIFF_NQ] = { "p50", "p90", "p99" };

/* Whether both sides have the same device names (over all their runs). */
static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static size_t side_devices(const struct bbs_diff_side *s, const char ***out)
{
	size_t cap = 0, n = 0;
	const char **names;

	for (size_t r = 0; r < s->nruns; r++)
		cap += s->runs[r].ng;
	names = calloc(cap ? cap : 1, sizeof(char *));
	*out = names;
	if (!names)
		return 0;
	for (size_t r = 0; r < s->nruns; r++)
		for (size_t i = 0; i < s->runs[r].ng; i++) {
			const char *d = s->runs[r].g[i].dev;
			bool seen = false;

			for (size_t j = 0; j < n; j++)
				seen |= !strcmp(names[j], d);
			if (*d && !seen)
				names[n++] = d;
		}
	qsort(names, n, sizeof(char *), cmp_str);
	return n;
}

static bool same_devices(const struct bbs_diff_side *a, const struct bbs_diff_side *b)
{
	const char **na, **nb;
	size_t n = side_devices(a, &na), m = side_devices(b, &nb);
	bool same = na && nb && n == m && n > 0;

	for (size_t j = 0; same && j < n; j++)
		same = !strcmp(na[j], nb[j]);
	free(na);
	free(nb);
	return same;
}

/*
 * Groups as compared are a run's groups (diff/internal.h): one run's, or
 * all runs' pooled, devices merged to "*" unless matched by name.
 */
static int run_add(struct bbs_diff_run *v, const struct bbs_diff_run *run, bool by_dev)
{
	for (size_t i = 0; i < run->ng; i++) {
		const struct bbs_diff_group *from = &run->g[i];
		struct bbs_diff_group *g = bbs_diff_group_get(
			v, by_dev || !*from->dev ? from->dev : "*", from->op, from->kind);

		if (!g)
			return -1;
		for (int ph = 0; ph < NR_PHASES; ph++)
			if (bbs_samples_merge(&g->ph[ph], &from->ph[ph]))
				return -1;
		if (bbs_samples_merge(&g->size, &from->size))
			return -1;
		for (int c = 0; c < NR_CTX; c++) {
			g->complete_ctx[c] += from->complete_ctx[c];
			g->endio_ctx[c] += from->endio_ctx[c];
		}
		g->bios += from->bios;
		g->bytes += from->bytes;
		for (int ph = 0; ph < NR_PHASES; ph++)
			if (!g->why[ph])
				g->why[ph] = from->why[ph];
	}
	v->seconds += run->seconds;
	return 0;
}

/* A side as compared: all its runs pooled, and each run on its own. */
struct sideview {
	struct bbs_diff_run pooled;
	struct bbs_diff_run *run;
	size_t nruns;
};

static int sideview_build(struct sideview *sv, const struct bbs_diff_side *s, bool by_dev)
{
	sv->run = calloc(s->nruns ? s->nruns : 1, sizeof(*sv->run));
	if (!sv->run)
		return -1;
	sv->nruns = s->nruns;
	for (size_t r = 0; r < s->nruns; r++)
		if (run_add(&sv->pooled, &s->runs[r], by_dev) ||
		    run_add(&sv->run[r], &s->runs[r], by_dev) || bbs_diff_run_sort(&sv->run[r]))
			return -1;
	return bbs_diff_run_sort(&sv->pooled);
}

static void sideview_free(struct sideview *sv)
{
	bbs_diff_run_free(&sv->pooled);
	for (size_t r = 0; r < sv->nruns; r++)
		bbs_diff_run_free(&sv->run[r]);
	free(sv->run);
}

/* One value per run that has the group: f(run's group), into out (sorted). */
static int
per_run(struct bbs_samples *out, const struct sideview *sv, const struct bbs_diff_group *like,
	double (*f)(const struct bbs_diff_group *, const struct bbs_diff_run *, const void *),
	const void *arg)
{
	memset(out, 0, sizeof(*out));
	for (size_t r = 0; r < sv->nruns; r++) {
		const struct bbs_diff_group *g = bbs_diff_group_find(&sv->run[r], like);
		double v = g ? f(g, &sv->run[r], arg) : NAN;

		if (!isnan(v) && bbs_samples_add(out, v, 1))
			return -1;
	}
	return bbs_samples_sort(out);
}

struct qarg {
	int phase;
	double q;
};

static double run_quantile(const struct bbs_diff_group *g, const struct bbs_diff_run *v,
			   const void *arg)
{
	const struct qarg *a = arg;

	return g->ph[a->phase].total ? bbs_quantile(&g->ph[a->phase], a->q) : NAN;
}

static double run_tput(const struct bbs_diff_group *g, const struct bbs_diff_run *v,
		       const void *arg)
{
	return v->seconds > 0 && g->bios ? g->bytes / v->seconds : NAN;
}

static double run_bpb(const struct bbs_diff_group *g, const struct bbs_diff_run *v, const void *arg)
{
	return g->bios ? (double)g->bytes / g->bios : NAN;
}

struct ctxarg {
	bool endio;
	int ctx;
};

static double run_share(const struct bbs_diff_group *g, const struct bbs_diff_run *v,
			const void *arg)
{
	const struct ctxarg *a = arg;
	const uint64_t *c = a->endio ? g->endio_ctx : g->complete_ctx;
	uint64_t t = 0;

	for (int x = 0; x < NR_CTX; x++)
		t += c[x];
	return t ? (double)c[a->ctx] / t : NAN;
}

static void qchange_nan(struct bbs_qchange *q)
{
	*q = (struct bbs_qchange){ NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN };
}

/*
 * One test by run: for each of its variables (one, or one a context), a
 * value per run (A's runs first, then B's; NAN where a run lacks it).  Its
 * statistic under a labelling of the runs is the largest standardized
 * distance of A's rank sum from its mean over the variables; its p, the
 * share of labellings at least as far.  With one variable and no ties
 * that is the exact two-sided Mann-Whitney p.
 */
struct bbs_diff_test {
	double *v; /* nvar * N */
	int nvar;
	bool primary;
	double *p, *p_adj;
	bool *too_few;
	double pobs; /* p under the labelling observed */
};

static double *test_new(struct bbs_diff *d, size_t n, int nvar, bool primary, double *p,
			double *p_adj, bool *too_few)
{
	struct bbs_diff_test *t = realloc(d->tests, (d->ntests + 1) * sizeof(*t));

	if (!t)
		return NULL;
	d->tests = t;
	t = &t[d->ntests];
	t->v = malloc((n ? n : 1) * nvar * sizeof(double));
	if (!t->v)
		return NULL;
	d->ntests++;
	for (size_t i = 0; i < n * nvar; i++)
		t->v[i] = NAN;
	t->nvar = nvar;
	t->primary = primary;
	t->p = p;
	t->p_adj = p_adj;
	t->too_few = too_few;
	return t->v;
}

/* f of every run of sa, then of sb, into v (NAN where a run lacks the group). */
static void run_values(double *v, const struct sideview *sa, const struct sideview *sb,
		       const struct bbs_diff_group *like,
		       double (*f)(const struct bbs_diff_group *, const struct bbs_diff_run *,
				   const void *),
		       const void *arg)
{
	for (size_t r = 0; r < sa->nruns + sb->nruns; r++) {
		const struct bbs_diff_run *run =
			r < sa->nruns ? &sa->run[r] : &sb->run[r - sa->nruns];
		const struct bbs_diff_group *g = bbs_diff_group_find(run, like);

		v[r] = g ? f(g, run, arg) : NAN;
	}
}

/*
 * One phase of one group.  By run (two runs or more with samples on both
 * sides): each quantile is the median over runs of each run's quantile, its
 * interval the bootstrap over runs, the test on the runs' p50.  Else by bio.
 */
static int compare_phase(struct bbs_diff_phase *p, const struct bbs_diff_group *like,
			 const struct sideview *sa, const struct sideview *sb, struct bbs_diff *d)
{
	const struct bbs_diff_opts *o = &d->o;
	const struct bbs_diff_group *ga = bbs_diff_group_find(&sa->pooled, like),
				    *gb = bbs_diff_group_find(&sb->pooled, like);
	const struct bbs_samples *a = ga ? &ga->ph[p->phase] : NULL,
				 *b = gb ? &gb->ph[p->phase] : NULL;
	struct bbs_samples ra[BBS_DIFF_NQ] = { 0 }, rb[BBS_DIFF_NQ] = { 0 };
	int ret = -1;

	p->na = a ? a->total : 0;
	p->nb = b ? b->total : 0;
	p->p = p->p_adj = NAN;
	for (int q = 0; q < BBS_DIFF_NQ; q++) {
		struct qarg qa = { p->phase, bbs_diff_q[q] };

		if (per_run(&ra[q], sa, like, run_quantile, &qa) ||
		    per_run(&rb[q], sb, like, run_quantile, &qa))
			goto out;
	}
	p->runs_a = (unsigned)ra[0].total;
	p->runs_b = (unsigned)rb[0].total;
	p->by_run = p->runs_a >= 2 && p->runs_b >= 2;
	/* In a diff by run, a phase that fewer than two runs of a side have gives no verdict. */
	if (d->by_run && !p->by_run)
		p->primary = false;
	p->compared = p->na > 0 && p->nb > 0;
	for (int q = 0; q < BBS_DIFF_NQ; q++) {
		qchange_nan(&p->q[q]);
		if (p->by_run) {
			p->q[q].a = bbs_quantile(&ra[q], 0.5);
			p->q[q].b = bbs_quantile(&rb[q], 0.5);
		} else {
			if (p->na)
				p->q[q].a = bbs_quantile(a, bbs_diff_q[q]);
			if (p->nb)
				p->q[q].b = bbs_quantile(b, bbs_diff_q[q]);
		}
	}
	ret = 0;
	if (!p->compared)
		goto out;
	for (int q = 0; q < BBS_DIFF_NQ; q++)
		if (p->by_run ? bbs_qchange(&ra[q], &rb[q], 0.5, o->alpha, o->draws, &p->q[q])
			      : bbs_qchange(a, b, bbs_diff_q[q], o->alpha, o->draws, &p->q[q]))
			ret = -1;
	p->p = p->by_run ? bbs_mann_whitney(&ra[0], &rb[0]) : bbs_mann_whitney(a, b);
	if (p->by_run) {
		struct qarg qa = { p->phase, 0.5 };
		double *v = test_new(d, sa->nruns + sb->nruns, 1, p->primary, &p->p, &p->p_adj,
				     &p->too_few);

		if (!v)
			ret = -1;
		else
			run_values(v, sa, sb, like, run_quantile, &qa);
	}
out:
	for (int q = 0; q < BBS_DIFF_NQ; q++) {
		bbs_samples_free(&ra[q]);
		bbs_samples_free(&rb[q]);
	}
	return ret;
}

/*
 * Context shares.  By bio: chi-square of the pooled counts.  By run: the
 * rank test of each run's share of the context whose pooled share moved
 * most.
 */
static int compare_ctx(struct bbs_diff *d, double *p, double *p_adj, bool *too_few, bool endio,
		       const struct bbs_diff_group *like, const struct bbs_diff_group *ga,
		       const struct bbs_diff_group *gb, const struct sideview *sa,
		       const struct sideview *sb)
{
	const uint64_t *ca = endio ? ga->endio_ctx : ga->complete_ctx;
	const uint64_t *cb = endio ? gb->endio_ctx : gb->complete_ctx;
	double ta = 0, tb = 0, *v;

	if (!d->by_run) {
		*p = bbs_chi2_homogeneity(ca, cb, NR_CTX);
		return 0;
	}
	for (int x = 0; x < NR_CTX; x++) {
		ta += ca[x];
		tb += cb[x];
	}
	if (!ta || !tb) {
		*p = NAN;
		return 0;
	}
	/* Each context's share a run: the test takes the one that moved most. */
	v = test_new(d, sa->nruns + sb->nruns, NR_CTX, true, p, p_adj, too_few);
	if (!v)
		return -1;
	for (int x = 0; x < NR_CTX; x++) {
		struct ctxarg arg = { endio, x };

		run_values(v + x * (sa->nruns + sb->nruns), sa, sb, like, run_share, &arg);
	}
	*p = NAN; /* set by the relabellings (adjust; none beyond 64 runs) */
	return 0;
}

static int compare_pair(struct bbs_diff_pair *pr, const struct bbs_diff_group *like,
			const struct sideview *sa, const struct sideview *sb, struct bbs_diff *d)
{
	const struct bbs_diff_group *ga = bbs_diff_group_find(&sa->pooled, like),
				    *gb = bbs_diff_group_find(&sb->pooled, like);
	static const uint64_t zero[NR_CTX];
	struct bbs_samples ra = { 0 }, rb = { 0 };
	bool dev_group = *like->dev != 0;

	memset(pr, 0, sizeof(*pr));
	snprintf(pr->dev, sizeof(pr->dev), "%s", like->dev);
	pr->op = like->op;
	pr->kind = like->kind;
	pr->only = ga && gb ? 0 : ga ? 1 : 2;
	pr->by_run = d->by_run;
	for (int ph = 0; ph < NR_PHASES; ph++) {
		if (bbs_phase_is_device(ph) != dev_group)
			continue;
		if ((!ga || !ga->ph[ph].total) && (!gb || !gb->ph[ph].total))
			continue;
		pr->ph[pr->nph].phase = ph;
		pr->ph[pr->nph].why_a = ga && !ga->ph[ph].total ? ga->why[ph] : 0;
		pr->ph[pr->nph].why_b = gb && !gb->ph[ph].total ? gb->why[ph] : 0;
		pr->ph[pr->nph].primary = ph == PHASE_DEVICE || ph == PHASE_TOTAL;
		if (compare_phase(&pr->ph[pr->nph++], like, sa, sb, d))
			return -1;
	}
	memcpy(pr->complete_a, ga ? ga->complete_ctx : zero, sizeof(zero));
	memcpy(pr->complete_b, gb ? gb->complete_ctx : zero, sizeof(zero));
	memcpy(pr->endio_a, ga ? ga->endio_ctx : zero, sizeof(zero));
	memcpy(pr->endio_b, gb ? gb->endio_ctx : zero, sizeof(zero));
	pr->complete_p = pr->complete_p_adj = pr->endio_p = pr->endio_p_adj = NAN;
	pr->bpb_p = pr->bpb_p_adj = pr->tput_p = pr->tput_p_adj = NAN;
	qchange_nan(&pr->tput);
	pr->bpb_a = ga && ga->bios ? (double)ga->bytes / ga->bios : NAN;
	pr->bpb_b = gb && gb->bios ? (double)gb->bytes / gb->bios : NAN;
	pr->tput.a = ga && sa->pooled.seconds > 0 ? ga->bytes / sa->pooled.seconds : NAN;
	pr->tput.b = gb && sb->pooled.seconds > 0 ? gb->bytes / sb->pooled.seconds : NAN;
	pr->tput.pct = (pr->tput.b / pr->tput.a - 1) * 100;
	if (!ga || !gb || !dev_group)
		return 0;
	if (compare_ctx(d, &pr->complete_p, &pr->complete_p_adj, &pr->complete_too_few, false, like,
			ga, gb, sa, sb) ||
	    compare_ctx(d, &pr->endio_p, &pr->endio_p_adj, &pr->endio_too_few, true, like, ga, gb,
			sa, sb))
		return -1;
	if (!d->by_run) {
		if (ga->size.total && gb->size.total)
			pr->bpb_p = bbs_mann_whitney(&ga->size, &gb->size);
		return 0;
	}
	/* By run: bytes per bio and throughput are one value a run. */
	if (per_run(&ra, sa, like, run_bpb, NULL) || per_run(&rb, sb, like, run_bpb, NULL))
		goto nomem;
	pr->bpb_p = bbs_mann_whitney(&ra, &rb);
	bbs_samples_free(&ra);
	bbs_samples_free(&rb);
	if (per_run(&ra, sa, like, run_tput, NULL) || per_run(&rb, sb, like, run_tput, NULL))
		goto nomem;
	if (ra.total >= 2 && rb.total >= 2) {
		if (bbs_qchange(&ra, &rb, 0.5, d->o.alpha, d->o.draws, &pr->tput))
			goto nomem;
		pr->tput_p = bbs_mann_whitney(&ra, &rb);
	}
	bbs_samples_free(&ra);
	bbs_samples_free(&rb);
	return 0;
nomem:
	bbs_samples_free(&ra);
	bbs_samples_free(&rb);
	return -1;
}

/* Device groups by name, then the filesystem's; each by op, then kind. */
static int cmp_like(const void *x, const void *y)
{
	const struct bbs_diff_group *a = *(const struct bbs_diff_group *const *)x,
				    *b = *(const struct bbs_diff_group *const *)y;
	int c;

	if (!*a->dev != !*b->dev)
		return !*a->dev ? 1 : -1;
	c = strcmp(a->dev, b->dev);
	if (c)
		return c;
	if (a->op != b->op)
		return a->op - b->op;
	return a->kind - b->kind;
}

/*
 * The pairs in their printed order, built in place: the tests (d->tests)
 * point into them, so they are never moved after.
 */
static int compare_groups(struct bbs_diff *d)
{
	struct sideview sa = { 0 }, sb = { 0 };
	const struct bbs_diff_group **like = NULL;
	size_t n = 0;
	int ret = -1;

	d->by_dev = same_devices(d->a, d->b);
	d->by_run = d->a->nruns >= 2 && d->b->nruns >= 2;
	if (sideview_build(&sa, d->a, d->by_dev) || sideview_build(&sb, d->b, d->by_dev))
		goto out;
	d->pairs = calloc(sa.pooled.ng + sb.pooled.ng + 1, sizeof(*d->pairs));
	like = calloc(sa.pooled.ng + sb.pooled.ng + 1, sizeof(*like));
	if (!d->pairs || !like)
		goto out;
	for (size_t i = 0; i < sa.pooled.ng; i++)
		like[n++] = &sa.pooled.g[i];
	for (size_t i = 0; i < sb.pooled.ng; i++)
		if (!bbs_diff_group_find(&sa.pooled, &sb.pooled.g[i]))
			like[n++] = &sb.pooled.g[i];
	qsort(like, n, sizeof(*like), cmp_like);
	for (size_t i = 0; i < n; i++)
		if (compare_pair(&d->pairs[d->npairs++], like[i], &sa, &sb, d))
			goto out;
	ret = 0;
out:
	free(like);
	sideview_free(&sa);
	sideview_free(&sb);
	return ret;
}

static const struct bbs_diff_row *row_find(const struct bbs_diff_side *s, const char *name)
{
	for (size_t i = 0; i < s->nrows; i++)
		if (!strcmp(s->rows[i].name, name))
			return &s->rows[i];
	return NULL;
}

static int compare_row(struct bbs_diff_rowcmp *rc, const struct bbs_diff_row *ra,
		       const struct bbs_diff_row *rb, const struct bbs_diff_opts *o)
{
	memset(rc, 0, sizeof(*rc));
	snprintf(rc->name, sizeof(rc->name), "%s", (ra ? ra : rb)->name);
	rc->only = ra && rb ? 0 : ra ? 1 : 2;
	rc->na = ra ? ra->rounds.total : 0;
	rc->nb = rb ? rb->rounds.total : 0;
	qchange_nan(&rc->med);
	rc->p = rc->p_adj = NAN;
	if (ra)
		rc->med.a = bbs_quantile(&ra->rounds, 0.5);
	if (rb)
		rc->med.b = bbs_quantile(&rb->rounds, 0.5);
	if (rc->only)
		return 0;
	if (bbs_qchange(&ra->rounds, &rb->rounds, 0.5, o->alpha, o->draws, &rc->med))
		return -1;
	/* One round on a side is a number, not a distribution: no verdict. */
	rc->verdict = rc->na > 1 && rc->nb > 1;
	if (rc->verdict)
		rc->p = bbs_mann_whitney(&ra->rounds, &rb->rounds);
	return 0;
}

static int compare_rows(struct bbs_diff *d)
{
	d->rows = calloc(d->a->nrows + d->b->nrows + 1, sizeof(*d->rows));
	if (!d->rows)
		return -1;
	for (size_t i = 0; i < d->a->nrows; i++)
		if (compare_row(&d->rows[d->nrows++], &d->a->rows[i],
				row_find(d->b, d->a->rows[i].name), &d->o))
			return -1;
	for (size_t i = 0; i < d->b->nrows; i++)
		if (!row_find(d->a, d->b->rows[i].name) &&
		    compare_row(&d->rows[d->nrows++], NULL, &d->b->rows[i], &d->o))
			return -1;
	return 0;
}

/* ---- many tests at once ---- */

struct ptest {
	const double *p;
	double *adj;
	bool primary;
};

static int cmp_ptest(const void *x, const void *y)
{
	double a = *((const struct ptest *)x)->p, b = *((const struct ptest *)y)->p;

	return (a > b) - (a < b);
}

static void ptest_add(struct ptest *t, size_t *n, const double *p, double *adj, bool primary)
{
	if (!isnan(*p))
		t[(*n)++] = (struct ptest){ p, adj, primary };
}

/*
 * Holm's step-down over the primary tests (by bio, by round): sorted
 * ascending, the i-th of m becomes max over j <= i of min(1, (m - j) p_j)
 * (0-based), which bounds the chance of any false "changed" by alpha
 * whatever the tests' dependence.
 */
static void holm(struct ptest *t, size_t n)
{
	double run = 0;

	qsort(t, n, sizeof(*t), cmp_ptest);
	for (size_t i = 0; i < n; i++) {
		run = fmax(run, fmin(1, (double)(n - i) * *t[i].p));
		*t[i].adj = run;
	}
}

/* ---- Westfall-Young step-down min-P over relabellings of the runs ---- */

static double choose(unsigned n, unsigned k)
{
	double c = 1;

	for (unsigned i = 1; i <= k; i++)
		c = c * (n - k + i) / i;
	return c;
}

/* The next mask with as many bits (Gosper's hack). */
static uint64_t next_combination(uint64_t x)
{
	uint64_t c = x & -x, r = x + c;

	return (((r ^ x) >> 2) / c) | r;
}

/*
 * A test's variable prepared for relabelling: each run's midrank among the
 * runs that have a value (0: none), the count of them, and the variance of
 * a rank sum of k of them is k (n - k) vtie / 12.
 */
struct ranked {
	double *rank;
	unsigned n;
	double tie; /* (n + 1) - sum(t^3 - t) / (n (n - 1)) */
};

static const double *sort_vals; /* what cmp_idx sorts by */
static int cmp_idx(const void *x, const void *y)
{
	double a = sort_vals[*(const unsigned *)x], b = sort_vals[*(const unsigned *)y];

	return (a > b) - (a < b);
}

static void rank_runs(struct ranked *rk, const double *v, unsigned n_all, unsigned *idx)
{
	unsigned n = 0;
	double ties = 0;

	for (unsigned r = 0; r < n_all; r++) {
		rk->rank[r] = 0;
		if (!isnan(v[r]))
			idx[n++] = r;
	}
	sort_vals = v;
	qsort(idx, n, sizeof(*idx), cmp_idx);
	for (unsigned i = 0; i < n;) {
		unsigned j = i;

		while (j < n && v[idx[j]] == v[idx[i]])
			j++;
		for (unsigned k = i; k < j; k++)
			rk->rank[idx[k]] = (i + 1 + j) / 2.0;
		ties += (double)(j - i) * (j - i) * (j - i) - (j - i);
		i = j;
	}
	rk->n = n;
	rk->tie = n > 1 ? (n + 1) - ties / ((double)n * (n - 1)) : 0;
}

/* The test's statistic for the labelling mask (bit r set: run r is A's). */
static double statistic(const struct ranked *rk, int nvar, uint64_t mask, unsigned n_all)
{
	double best = 0;

	for (int x = 0; x < nvar; x++) {
		const struct ranked *k = &rk[x];
		double sum = 0, var, m = 0;

		if (k->n < 2)
			continue;
		for (unsigned r = 0; r < n_all; r++)
			if (k->rank[r] > 0 && (mask >> r & 1)) {
				sum += k->rank[r];
				m++;
			}
		var = m * (k->n - m) * k->tie / 12;
		if (var > 0)
			best = fmax(best, fabs(sum - m * (k->n + 1) / 2) / sqrt(var));
	}
	return best;
}

/*
 * The labellings of the runs to test under, the observed first (A's runs
 * are 0 .. na - 1): all C(n_all, na) when exact, else np - 1 drawn at
 * random, seeded so a diff of the same runs gives the same p.  0, or -1
 * on ENOMEM.
 */
static int labellings(uint64_t *mask, size_t np, unsigned na, unsigned n_all, bool exact)
{
	gsl_rng *rng;
	uint64_t m;

	mask[0] = (na == 64 ? 0 : (1ULL << na)) - 1;
	if (exact) {
		size_t k = 1;

		for (m = next_combination(mask[0]); k < np; m = next_combination(m))
			mask[k++] = m;
		return 0;
	}
	rng = gsl_rng_alloc(gsl_rng_mt19937);
	if (!rng)
		return -1;
	gsl_rng_set(rng, 0x62627377);
	for (size_t k = 1; k < np; k++) {
		unsigned left = na;

		m = 0;
		for (unsigned r = 0; r < n_all; r++)
			if (gsl_rng_uniform(rng) * (n_all - r) < left) {
				m |= 1ULL << r;
				left--;
			}
		mask[k] = m;
	}
	gsl_rng_free(rng);
	return 0;
}

/* p under labelling k (P[k]): the share of labellings whose statistic T is at least as far. */
static void perm_p(const double *T, double *P, double *col, size_t np)
{
	memcpy(col, T, np * sizeof(*col));
	qsort(col, np, sizeof(*col), bbs_cmp_double);
	for (size_t k = 0; k < np; k++) {
		double x = T[k] - 1e-9;
		size_t lo = 0, hi = np;

		while (lo < hi) {
			size_t mid = (lo + hi) / 2;

			if (col[mid] >= x)
				hi = mid;
			else
				lo = mid + 1;
		}
		P[k] = (double)(np - lo) / np;
	}
}

/* The fewest p these run counts allow: 2 of C(n, k) (the labelling and its mirror). */
static bool too_few_runs(const struct bbs_diff_test *tt, unsigned na, unsigned n_all, double alpha)
{
	unsigned ka = 0, kn = 0;

	for (unsigned r = 0; r < n_all; r++)
		if (!isnan(tt->v[r])) {
			kn++;
			ka += r < na;
		}
	return kn < 2 || fmin(1, 2 / choose(kn, ka)) >= alpha;
}

/*
 * Every test's permutation p under every labelling used (the observed
 * first), and the primary ones' step-down min-P adjusted p: sorted by
 * their observed p, the i-th is the share of labellings whose smallest p
 * among the i-th and those after it is at or below the i-th's observed p,
 * made monotone.  Exact by enumeration: all C(N, nA) labellings.
 */
static int westfall_young(struct bbs_diff *d)
{
	unsigned na = (unsigned)d->a->nruns, n_all = na + (unsigned)d->b->nruns;
	size_t nt = d->ntests, np, ord_n = 0;
	double all = choose(n_all, na);
	bool exact = all <= BBS_DIFF_PERM_MAX;
	uint64_t *mask = NULL;
	double *T = NULL, *col = NULL, *P = NULL, *count = NULL, run = 0;
	struct ranked *rk = NULL;
	unsigned *idx = NULL;
	size_t *ord = NULL;
	int ret = -1;

	np = exact ? (size_t)all : BBS_DIFF_PERM_DRAWS;
	mask = malloc(np * sizeof(*mask));
	T = malloc(np * (nt ? nt : 1) * sizeof(*T));
	col = malloc(np * sizeof(*col));
	P = malloc(np * (nt ? nt : 1) * sizeof(*P));
	rk = calloc(NR_CTX, sizeof(*rk));
	idx = malloc(n_all * sizeof(*idx));
	ord = malloc((nt ? nt : 1) * sizeof(*ord));
	count = calloc(nt ? nt : 1, sizeof(*count));
	if (!mask || !T || !col || !P || !rk || !idx || !ord || !count)
		goto out;
	for (int x = 0; x < NR_CTX; x++)
		if (!(rk[x].rank = malloc(n_all * sizeof(double))))
			goto out;
	if (labellings(mask, np, na, n_all, exact))
		goto out;
	for (size_t t = 0; t < nt; t++) {
		const struct bbs_diff_test *tt = &d->tests[t];

		for (int x = 0; x < tt->nvar; x++)
			rank_runs(&rk[x], tt->v + (size_t)x * n_all, n_all, idx);
		for (size_t k = 0; k < np; k++)
			T[t * np + k] = statistic(rk, tt->nvar, mask[k], n_all);
		perm_p(&T[t * np], &P[t * np], col, np);
		d->tests[t].pobs = P[t * np];
		*tt->p = P[t * np];
		if (tt->too_few)
			*tt->too_few = too_few_runs(tt, na, n_all, d->o.alpha);
		if (tt->primary)
			ord[ord_n++] = t;
	}
	/* The primary tests by observed p, ascending (insertion sort: a few dozen). */
	for (size_t i = 1; i < ord_n; i++)
		for (size_t j = i; j > 0 && d->tests[ord[j]].pobs < d->tests[ord[j - 1]].pobs;
		     j--) {
			size_t s = ord[j];

			ord[j] = ord[j - 1];
			ord[j - 1] = s;
		}
	for (size_t k = 0; k < np; k++) {
		double q = 1;

		for (size_t i = ord_n; i-- > 0;) {
			q = fmin(q, P[ord[i] * np + k]);
			count[i] += q <= d->tests[ord[i]].pobs + 1e-12;
		}
	}
	for (size_t i = 0; i < ord_n; i++) {
		run = fmax(run, count[i] / np);
		*d->tests[ord[i]].p_adj = run;
	}
	d->o.tests = (unsigned)ord_n;
	d->o.perms = (unsigned)np;
	d->o.perms_exact = exact;
	ret = 0;
out:
	for (int x = 0; rk && x < NR_CTX; x++)
		free(rk[x].rank);
	free(rk);
	free(mask);
	free(T);
	free(col);
	free(P);
	free(idx);
	free(ord);
	free(count);
	return ret;
}

/*
 * The verdicts.  By run (two runs or more a side, at most 64 in all), the
 * primary tests by Westfall-Young over the relabellings of the runs; by
 * bio or round, by Holm.  The exploratory tests keep their own p and no
 * verdict.  Without adjusting, every test is judged on its own p.
 */
static int adjust(struct bbs_diff *d)
{
	size_t cap = d->nrows + d->npairs * (NR_PHASES + 4), n = 0;
	struct ptest *t = calloc(cap ? cap : 1, sizeof(*t));
	bool wy = d->by_run && d->a->kind != BBS_DIFF_BENCH && d->a->nruns + d->b->nruns <= 64;

	if (!t)
		return -1;
	if (wy && westfall_young(d)) {
		free(t);
		return -1;
	}
	for (size_t i = 0; i < d->nrows; i++)
		ptest_add(t, &n, &d->rows[i].p, &d->rows[i].p_adj, true);
	for (size_t i = 0; i < d->npairs; i++) {
		struct bbs_diff_pair *pr = &d->pairs[i];

		for (int k = 0; k < pr->nph; k++)
			ptest_add(t, &n, &pr->ph[k].p, &pr->ph[k].p_adj, pr->ph[k].primary);
		ptest_add(t, &n, &pr->complete_p, &pr->complete_p_adj, true);
		ptest_add(t, &n, &pr->endio_p, &pr->endio_p_adj, true);
		ptest_add(t, &n, &pr->bpb_p, &pr->bpb_p_adj, false);
		ptest_add(t, &n, &pr->tput_p, &pr->tput_p_adj, false);
	}
	if (d->o.no_adjust) {
		for (size_t i = 0; i < n; i++)
			*t[i].adj = *t[i].p;
		d->o.tests = 0;
		d->o.perms = 0;
	} else {
		size_t m = 0;

		for (size_t i = 0; i < n; i++)
			if (!t[i].primary)
				*t[i].adj = NAN;
			else
				t[m++] = t[i];
		if (!wy) {
			holm(t, m);
			d->o.tests = (unsigned)m;
		}
	}
	for (size_t i = 0; i < d->nrows; i++)
		d->rows[i].significant = d->rows[i].p_adj < d->o.alpha;
	for (size_t i = 0; i < d->npairs; i++)
		for (int k = 0; k < d->pairs[i].nph; k++)
			d->pairs[i].ph[k].significant = d->pairs[i].ph[k].p_adj < d->o.alpha;
	free(t);
	return 0;
}

int bbs_diff_run(struct bbs_diff *d, struct bbs_diff_side *a, struct bbs_diff_side *b,
		 const struct bbs_diff_opts *o, char *err, size_t errlen)
{
	memset(d, 0, sizeof(*d));
	d->a = a;
	d->b = b;
	d->o = *o;
	if (!d->o.alpha)
		d->o.alpha = 0.05;
	if (!d->o.draws)
		d->o.draws = 2000;
	/*
	 * Each run counts once: the same file twice (by name, or by a link),
	 * or a copy of one recording, would be taken as runs that agree.
	 */
	for (size_t i = 0; i < a->nruns + b->nruns; i++)
		for (size_t j = 0; j < i; j++) {
			const struct bbs_diff_run *x = j < a->nruns ? &a->runs[j]
								    : &b->runs[j - a->nruns],
						  *y = i < a->nruns ? &a->runs[i]
								    : &b->runs[i - a->nruns];
			bool file = x->st_dev == y->st_dev && x->st_ino == y->st_ino;

			if (file || x->id == y->id) {
				snprintf(err, errlen,
					 "%s and %s are one run (%s): each run counts once (give "
					 "each recording once)",
					 x->path, y->path,
					 file ? "the same file"
					 : a->kind == BBS_DIFF_RECORDING
						 ? "the same recording: one header"
						 : "the same bytes");
				return -1;
			}
		}
	if (a->kind != b->kind) {
		snprintf(err, errlen, "%s is %s and %s %s: diff compares two of one kind", a->path,
			 bbs_diff_kind_phrase[a->kind], b->path, bbs_diff_kind_phrase[b->kind]);
		return -1;
	}
	d->other_kernel = *a->kernel && *b->kernel && strcmp(a->kernel, b->kernel);
	d->other_host = *a->host && *b->host && strcmp(a->host, b->host);
	if ((a->kind == BBS_DIFF_BENCH ? compare_rows(d) : compare_groups(d)) || adjust(d)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

void bbs_diff_free(struct bbs_diff *d)
{
	for (size_t i = 0; i < d->ntests; i++)
		free(d->tests[i].v);
	free(d->tests);
	free(d->pairs);
	free(d->rows);
	memset(d, 0, sizeof(*d));
}
