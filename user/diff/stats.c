// SPDX-License-Identifier: GPL-2.0
/* The statistics of `bbscope diff` (diff/stats.h), on GSL's distributions. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_rng.h>

#include "diff/stats.h"

int bbs_samples_add(struct bbs_samples *s, double v, double w)
{
	if (w <= 0)
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 256;
		double *nv = realloc(s->v, cap * sizeof(*nv));

		if (!nv)
			return -1;
		s->v = nv;
		nv = realloc(s->w, cap * sizeof(*nv));
		if (!nv)
			return -1;
		s->w = nv;
		s->cap = cap;
	}
	s->v[s->n] = v;
	s->w[s->n++] = w;
	s->total += w;
	s->sorted = false;
	return 0;
}

int bbs_samples_merge(struct bbs_samples *s, const struct bbs_samples *from)
{
	for (size_t i = 0; i < from->n; i++)
		if (bbs_samples_add(s, from->v[i], from->w[i]))
			return -1;
	return 0;
}

struct vw {
	double v, w;
};

static int cmp_vw(const void *x, const void *y)
{
	double a = ((const struct vw *)x)->v, b = ((const struct vw *)y)->v;

	return (a > b) - (a < b);
}

int bbs_samples_sort(struct bbs_samples *s)
{
	struct vw *t;
	size_t m = 0;

	if (s->sorted)
		return 0;
	t = malloc((s->n ? s->n : 1) * sizeof(*t));
	free(s->cum);
	s->cum = malloc((s->n ? s->n : 1) * sizeof(*s->cum));
	if (!t || !s->cum) {
		free(t);
		return -1;
	}
	for (size_t i = 0; i < s->n; i++)
		t[i] = (struct vw){ s->v[i], s->w[i] };
	qsort(t, s->n, sizeof(*t), cmp_vw);
	for (size_t i = 0; i < s->n; i++) {
		if (m && s->v[m - 1] == t[i].v) {
			s->w[m - 1] += t[i].w;
			continue;
		}
		s->v[m] = t[i].v;
		s->w[m++] = t[i].w;
	}
	s->n = m;
	s->total = 0;
	for (size_t i = 0; i < m; i++) {
		s->total += s->w[i];
		s->cum[i] = s->total;
	}
	free(t);
	s->sorted = true;
	return 0;
}

void bbs_samples_free(struct bbs_samples *s)
{
	free(s->v);
	free(s->w);
	free(s->cum);
	memset(s, 0, sizeof(*s));
}

/* The first index whose cumulative weight reaches x. */
static size_t first_reaching(const struct bbs_samples *s, double x)
{
	size_t lo = 0, hi = s->n - 1;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->cum[mid] >= x)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* ceil(q * total), at least 1 and at most total: the rank of the q-quantile. */
static double quantile_rank(const struct bbs_samples *s, double q)
{
	double k = ceil(q * s->total - 1e-9);

	return k < 1 ? 1 : k > s->total ? s->total : k;
}

double bbs_quantile(const struct bbs_samples *s, double q)
{
	if (!s->n)
		return NAN;
	return s->v[first_reaching(s, quantile_rank(s, q))];
}

/* GSL aborts on a domain error by default; here an edge case is a number, never a crash. */
static void gsl_quiet(void)
{
	gsl_set_error_handler_off();
}

int bbs_qboot_init(struct bbs_qboot *b, const struct bbs_samples *s, double q)
{
	gsl_quiet();
	b->s = s;
	b->q = q;
	b->k = (uint64_t)quantile_rank(s, q);
	b->g = malloc((s->n ? s->n : 1) * sizeof(*b->g));
	if (!b->g)
		return -1;
	for (size_t i = 0; i < s->n; i++)
		b->g[i] = NAN;
	return 0;
}

void bbs_qboot_free(struct bbs_qboot *b)
{
	free(b->g);
	b->g = NULL;
}

/* P(the q-quantile of a resample <= v[j]) = P(Binomial(N, F(v[j])) >= k). */
static double qboot_g(struct bbs_qboot *b, size_t j)
{
	const struct bbs_samples *s = b->s;
	double n = s->total > 4e9 ? 4e9 : s->total;

	if (isnan(b->g[j]))
		b->g[j] = j + 1 == s->n ? 1.0
					: gsl_cdf_binomial_Q((unsigned)(b->k - 1),
							     s->cum[j] / s->total, (unsigned)n);
	return b->g[j];
}

double bbs_qboot_inv(struct bbs_qboot *b, double u)
{
	size_t lo = 0, hi = b->s->n - 1;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (qboot_g(b, mid) >= u)
			hi = mid;
		else
			lo = mid + 1;
	}
	return b->s->v[lo];
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

int bbs_qchange(const struct bbs_samples *a, const struct bbs_samples *b, double q, double alpha,
		unsigned draws, struct bbs_qchange *out)
{
	struct bbs_qboot ba = { 0 }, bb = { 0 };
	double *r = malloc((draws ? draws : 1) * sizeof(*r));
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
	unsigned m = 0;
	int ret = -1;

	if (!r || !rng || bbs_qboot_init(&ba, a, q) || bbs_qboot_init(&bb, b, q))
		goto out;
	/* Seeded: the same two inputs give the same interval. */
	gsl_rng_set(rng, 0x62627363);
	out->a = bbs_quantile(a, q);
	out->b = bbs_quantile(b, q);
	out->a_lo = bbs_qboot_inv(&ba, alpha / 2);
	out->a_hi = bbs_qboot_inv(&ba, 1 - alpha / 2);
	out->b_lo = bbs_qboot_inv(&bb, alpha / 2);
	out->b_hi = bbs_qboot_inv(&bb, 1 - alpha / 2);
	out->pct = out->a > 0 ? (out->b / out->a - 1) * 100 : NAN;
	for (unsigned i = 0; i < draws; i++) {
		double va = bbs_qboot_inv(&ba, gsl_rng_uniform_pos(rng));
		double vb = bbs_qboot_inv(&bb, gsl_rng_uniform_pos(rng));

		if (va > 0)
			r[m++] = (vb / va - 1) * 100;
	}
	if (m) {
		size_t lo = (size_t)floor(alpha / 2 * m), hi = (size_t)ceil((1 - alpha / 2) * m);

		qsort(r, m, sizeof(*r), cmp_double);
		out->lo = r[lo < m ? lo : m - 1];
		out->hi = r[hi ? (hi <= m ? hi - 1 : m - 1) : 0];
	} else {
		out->lo = out->hi = NAN;
	}
	ret = 0;
out:
	bbs_qboot_free(&ba);
	bbs_qboot_free(&bb);
	gsl_rng_free(rng);
	free(r);
	return ret;
}

/* Exact two-sided p of U = u for m and n values without ties (both <= EXACT_MAX). */
#define EXACT_MAX 25
static double mw_exact(unsigned m, unsigned n, double u)
{
	/* f[i][j][x]: orderings of i values of A and j of B with U = x, built up. */
	size_t umax = (size_t)m * n, stride = umax + 1;
	double *f = calloc((size_t)(m + 1) * (n + 1) * stride, sizeof(*f)), tot = 0, le = 0, ge = 0,
	       p;

	if (!f)
		return NAN;
#define F(i, j, x) f[((size_t)(i) * (n + 1) + (j)) * stride + (x)]
	for (unsigned i = 0; i <= m; i++)
		for (unsigned j = 0; j <= n; j++)
			for (size_t x = 0; x <= umax; x++) {
				if (!i || !j) {
					F(i, j, x) = x == 0;
					continue;
				}
				/* The largest value is A's (it beats j of B) or B's. */
				F(i, j, x) = (x >= j ? F(i - 1, j, x - j) : 0) + F(i, j - 1, x);
			}
	for (size_t x = 0; x <= umax; x++) {
		tot += F(m, n, x);
		if ((double)x <= u + 1e-9)
			le += F(m, n, x);
		if ((double)x >= u - 1e-9)
			ge += F(m, n, x);
	}
#undef F
	free(f);
	p = 2 * fmin(le, ge) / tot;
	return p > 1 ? 1 : p;
}

/*
 * Exact two-sided p with ties, for a few values: every way of choosing
 * which na of the n (mid)ranks are A's, counted by how far its rank sum is
 * from the mean.
 */
#define PERM_MAX 20
static double mw_permutation(const struct bbs_samples *a, const struct bbs_samples *b, double ra)
{
	double rank[PERM_MAX], before = 0, mean, dev, hits = 0, all = 0;
	unsigned n = 0, na = (unsigned)a->total;
	size_t i = 0, j = 0;

	while (i < a->n || j < b->n) {
		double v = j >= b->n || (i < a->n && a->v[i] <= b->v[j]) ? a->v[i] : b->v[j];
		double t = 0;

		if (i < a->n && a->v[i] == v)
			t += a->w[i++];
		if (j < b->n && b->v[j] == v)
			t += b->w[j++];
		for (unsigned k = 0; k < (unsigned)t && n < PERM_MAX; k++)
			rank[n++] = before + (t + 1) / 2;
		before += t;
	}
	mean = na * (n + 1) / 2.0;
	dev = fabs(ra - mean) - 1e-9;
	for (uint32_t m = 0; m < (1U << n); m++) {
		double sum = 0;

		if ((unsigned)__builtin_popcount(m) != na)
			continue;
		for (unsigned k = 0; k < n; k++)
			if (m & (1U << k))
				sum += rank[k];
		all++;
		hits += fabs(sum - mean) >= dev;
	}
	return all ? hits / all : 1;
}

double bbs_mann_whitney(const struct bbs_samples *a, const struct bbs_samples *b)
{
	double na = a->total, nb = b->total, n = na + nb, before = 0, ra = 0, tie = 0;
	size_t i = 0, j = 0;
	bool ties = false;

	gsl_quiet();
	if (!na || !nb)
		return 1;
	while (i < a->n || j < b->n) {
		double v, wa = 0, wb = 0, t;

		if (j >= b->n || (i < a->n && a->v[i] <= b->v[j]))
			v = a->v[i];
		else
			v = b->v[j];
		if (i < a->n && a->v[i] == v)
			wa = a->w[i++];
		if (j < b->n && b->v[j] == v)
			wb = b->w[j++];
		t = wa + wb;
		ra += wa * (before + (t + 1) / 2);
		tie += t * t * t - t;
		ties |= t > 1;
		before += t;
	}
	double u = ra - na * (na + 1) / 2, mean = na * nb / 2, var, z;

	if (!ties && na <= EXACT_MAX && nb <= EXACT_MAX)
		return mw_exact((unsigned)na, (unsigned)nb, u);
	if (ties && n <= PERM_MAX)
		return mw_permutation(a, b, ra);
	var = na * nb / 12 * ((n + 1) - tie / (n * (n - 1)));
	if (var <= 0)
		return 1;
	z = (fabs(u - mean) - 0.5) / sqrt(var);
	return z <= 0 ? 1 : fmin(1, 2 * gsl_cdf_ugaussian_Q(z));
}

double bbs_chi2_homogeneity(const uint64_t *a, const uint64_t *b, size_t n)
{
	gsl_quiet();
	double ta = 0, tb = 0, chi = 0;
	size_t cats = 0;

	for (size_t i = 0; i < n; i++) {
		ta += a[i];
		tb += b[i];
		cats += a[i] + b[i] > 0;
	}
	if (cats < 2 || !ta || !tb)
		return 1;
	for (size_t i = 0; i < n; i++) {
		double col = (double)a[i] + b[i], ea = col * ta / (ta + tb),
		       eb = col * tb / (ta + tb);

		if (!col)
			continue;
		chi += (a[i] - ea) * (a[i] - ea) / ea + (b[i] - eb) * (b[i] - eb) / eb;
	}
	return gsl_cdf_chisq_Q(chi, (double)(cats - 1));
}
