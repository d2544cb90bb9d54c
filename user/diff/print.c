// SPDX-License-Identifier: GPL-2.0
/* bbscope diff's output: text like benchstat's, JSON (docs/json.md) and a page. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "diff/diff.h"
#include "host/jsonstr.h"
#include "model/report.h"
#include "render/html.h"

/* ---- text ---- */

/* Latencies and rates as the pages print them (render/html.h): "12.5 us", "1.25 GB/s". */
static void fmt_ns(char *buf, size_t len, double ns)
{
	bbs_html_fmt(buf, len, ns, BBS_UNIT_NS);
}

static void fmt_bps(char *buf, size_t len, double v)
{
	bbs_html_fmt(buf, len, v, BBS_UNIT_BPS);
}

static void fmt_pct(char *buf, size_t len, double pct)
{
	if (isnan(pct))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%+.1f%%", pct);
}

static void fmt_interval(char *buf, size_t len, double lo, double hi)
{
	if (isnan(lo) || isnan(hi))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "[%+.1f%%, %+.1f%%]", lo, hi);
}

static void fmt_p(char *buf, size_t len, double p)
{
	if (isnan(p))
		snprintf(buf, len, "-");
	else if (p < 0.001)
		snprintf(buf, len, "p<0.001");
	else
		snprintf(buf, len, "p=%.3f", p);
}

static double side_seconds(const struct bbs_diff_side *s)
{
	double t = 0;

	for (size_t r = 0; r < s->nruns; r++)
		t += s->runs[r].seconds;
	return t;
}

static void side_line(FILE *f, const char *tag, const struct bbs_diff_side *s)
{
	fprintf(f, "%s: %s", tag, s->path);
	if (s->nruns > 1)
		fprintf(f, " and %zu more", s->nruns - 1);
	fprintf(f, " (%s", bbs_diff_kind_name[s->kind]);
	if (s->nruns > 1)
		fprintf(f, "s, %zu runs", s->nruns);
	if (*s->kernel)
		fprintf(f, "; Linux %s", s->kernel);
	if (*s->host)
		fprintf(f, " on %s", s->host);
	if (side_seconds(s) > 0)
		fprintf(f, "; %.2f s", side_seconds(s));
	fprintf(f, ")\n");
}

static const char *group_dev(const struct bbs_diff_pair *p)
{
	return *p->dev ? p->dev : "filesystem";
}

/* "softirq 97% task 3%": the shares of the contexts seen. */
static void fmt_shares(char *buf, size_t len, const uint64_t *c)
{
	uint64_t t = 0;
	size_t n = 0;

	for (int x = 0; x < NR_CTX; x++)
		t += c[x];
	buf[0] = 0;
	if (!t) {
		snprintf(buf, len, "-");
		return;
	}
	for (int x = 0; x < NR_CTX && n < len; x++)
		if (c[x])
			n += snprintf(buf + n, len - n, "%s%s %.0f%%", n ? " " : "",
				      bbs_ctx_name[x], 100.0 * c[x] / t);
}

/* What a "~" means: nothing found, or nothing these run counts could find. */
static const char *why_same(bool too_few)
{
	return too_few ? "too few runs to tell" : "no change";
}

static void ctx_line(FILE *f, const char *what, const uint64_t *a, const uint64_t *b, double p,
		     bool too_few, double alpha)
{
	char sa[96], sb[96], sp[32];

	fmt_shares(sa, sizeof(sa), a);
	fmt_shares(sb, sizeof(sb), b);
	if (!strcmp(sa, "-") && !strcmp(sb, "-"))
		return;
	fmt_p(sp, sizeof(sp), p);
	if (p < alpha)
		fprintf(f, "  %-9s %s -> %s  changed %s\n", what, sa, sb, sp);
	else
		fprintf(f, "  %-9s %s -> %s  ~ %s (%s)\n", what, sa, sb, sp, why_same(too_few));
}

/* A test that gives no verdict: adjusting, and not one of the primary tests. */
static bool exploratory(const struct bbs_diff *d, bool primary)
{
	return !d->o.no_adjust && !primary;
}

static void text_pair(FILE *f, const struct bbs_diff *d, const struct bbs_diff_pair *pr)
{
	double alpha = d->o.alpha;
	char a[32], b[32], c[3][32], iv[48], sp[32], ta[32], tb[32], note[192];

	fprintf(f, "\n%s %s %s%s\n", group_dev(pr), bbs_op_name[pr->op], bbs_kind_name[pr->kind],
		pr->only == 1	? "  (only in A)"
		: pr->only == 2 ? "  (only in B)"
				: "");
	fprintf(f, "  %-8s %9s %9s %10s %10s %8s  %-20s %8s %8s  %s\n", "phase", "count A",
		"count B", "p50 A", "p50 B", "p50", "[interval]", "p90", "p99", "p");
	for (int i = 0; i < pr->nph; i++) {
		const struct bbs_diff_phase *ph = &pr->ph[i];

		fmt_ns(a, sizeof(a), ph->q[0].a);
		fmt_ns(b, sizeof(b), ph->q[0].b);
		bool expl = exploratory(d, ph->primary);

		for (int q = 0; q < BBS_DIFF_NQ; q++) {
			if (!ph->compared)
				snprintf(c[q], sizeof(c[q]), "-");
			else if (!expl && !ph->significant)
				snprintf(c[q], sizeof(c[q]), "~");
			else
				fmt_pct(c[q], sizeof(c[q]), ph->q[q].pct);
		}
		fmt_interval(iv, sizeof(iv), ph->q[0].lo, ph->q[0].hi);
		fmt_p(sp, sizeof(sp), expl ? ph->p : ph->p_adj);
		if (!ph->compared && (ph->why_a || ph->why_b) && ph->why_a < NR_WHY &&
		    ph->why_b < NR_WHY)
			snprintf(note, sizeof(note), "  (not observable in %s: %s)",
				 ph->why_a ? "A" : "B",
				 bbs_why_detail[ph->why_a ? ph->why_a : ph->why_b]);
		else if (!ph->compared)
			snprintf(note, sizeof(note), "  (only in %s)", ph->na ? "A" : "B");
		else if (expl)
			snprintf(note, sizeof(note), "  (exploratory)");
		else if (!ph->significant)
			snprintf(note, sizeof(note), "  (%s)", why_same(ph->too_few));
		else
			note[0] = 0;
		fprintf(f, "  %-8s %9.0f %9.0f %10s %10s %8s  %-20s %8s %8s  %s%s\n",
			bbs_phase_name[ph->phase], ph->na, ph->nb, a, b, c[0], iv, c[1], c[2], sp,
			note);
	}
	if (*pr->dev && !pr->only) {
		ctx_line(f, "complete", pr->complete_a, pr->complete_b, pr->complete_p_adj,
			 pr->complete_too_few, alpha);
		ctx_line(f, "end_io", pr->endio_a, pr->endio_b, pr->endio_p_adj, pr->endio_too_few,
			 alpha);
		fmt_bps(ta, sizeof(ta), pr->tput.a);
		fmt_bps(tb, sizeof(tb), pr->tput.b);
		fmt_pct(c[0], sizeof(c[0]), pr->tput.pct);
		if (isnan(pr->tput_p)) {
			fprintf(f, "  %-9s %s -> %s  %s (one value a side: no interval)\n",
				"throughput", ta, tb, c[0]);
		} else {
			bool expl = exploratory(d, false);

			fmt_interval(iv, sizeof(iv), pr->tput.lo, pr->tput.hi);
			fmt_p(sp, sizeof(sp), expl ? pr->tput_p : pr->tput_p_adj);
			fprintf(f, "  %-9s %s -> %s  %s %s %s (medians over runs%s)\n",
				"throughput", ta, tb, expl || pr->tput_p_adj < alpha ? c[0] : "~",
				iv, sp, expl ? "; exploratory" : "");
		}
		fmt_pct(c[0], sizeof(c[0]), (pr->bpb_b / pr->bpb_a - 1) * 100);
		fmt_p(sp, sizeof(sp), exploratory(d, false) ? pr->bpb_p : pr->bpb_p_adj);
		fprintf(f, "  %-9s %.0f -> %.0f  %s %s%s\n", "bytes/bio", pr->bpb_a, pr->bpb_b,
			!exploratory(d, false) && !isnan(pr->bpb_p_adj) && pr->bpb_p_adj >= alpha
				? "~"
				: c[0],
			sp, exploratory(d, false) ? " (exploratory)" : "");
	}
}

static void text_rows(FILE *f, const struct bbs_diff *d)
{
	char a[32], b[32], c[32], iv[48], sp[32];

	fprintf(f, "\n%-16s %12s %12s %8s  %-20s %-8s %s\n", "throughput", "A median", "B median",
		"change", "[interval]", "p", "rounds");
	for (size_t i = 0; i < d->nrows; i++) {
		const struct bbs_diff_rowcmp *r = &d->rows[i];

		fmt_bps(a, sizeof(a), r->med.a);
		fmt_bps(b, sizeof(b), r->med.b);
		if (r->only || !r->verdict)
			fmt_pct(c, sizeof(c), r->med.pct);
		else if (!r->significant)
			snprintf(c, sizeof(c), "~");
		else
			fmt_pct(c, sizeof(c), r->med.pct);
		fmt_interval(iv, sizeof(iv), r->med.lo, r->med.hi);
		fmt_p(sp, sizeof(sp), r->p_adj);
		fprintf(f, "%-16s %12s %12s %8s  %-20s %-8s %.0f/%.0f%s\n", r->name, a, b, c, iv,
			sp, r->na, r->nb,
			r->only == 1   ? "  (only in A)"
			: r->only == 2 ? "  (only in B)"
			: r->verdict   ? ""
				       : "  (one round: no verdict)");
	}
}

void bbs_diff_text(FILE *f, const struct bbs_diff *d)
{
	side_line(f, "A", d->a);
	side_line(f, "B", d->b);
	if (d->other_kernel || d->other_host)
		fprintf(f, "note: A and B ran on different %s\n",
			d->other_kernel && d->other_host ? "kernels and machines"
			: d->other_kernel		 ? "kernels"
							 : "machines");
	for (int k = 0; k < 2; k++) {
		const struct bbs_diff_side *s = k ? d->b : d->a;

		if (*s->warning)
			fprintf(f, "warning: %s\n", s->warning);
	}
	fprintf(f, "change: B against A, with its %.0f%% bootstrap interval\n",
		100 * (1 - d->o.alpha));
	if (d->o.no_adjust)
		fprintf(f, "p: %s, each test on its own; ~: not significant at alpha %g\n",
			d->by_run ? "permutation of the runs (Mann-Whitney)"
				  : "Mann-Whitney (contexts: chi-square)",
			d->o.alpha);
	else if (d->o.perms)
		fprintf(f,
			"p: permutation of the runs (Mann-Whitney); verdicts on the %u primary "
			"tests (device and total p50, context shares), Westfall-Young adjusted "
			"over %s%u relabellings of the runs; ~: not significant at alpha %g; "
			"the other lines are exploratory (their own p, no verdict)\n",
			d->o.tests, d->o.perms_exact ? "all " : "", d->o.perms, d->o.alpha);
	else
		fprintf(f,
			"p: Mann-Whitney (contexts: chi-square); verdicts on the %u primary tests, "
			"Holm-adjusted; ~: not significant at alpha %g; the other lines are "
			"exploratory (their own p, no verdict)\n",
			d->o.tests, d->o.alpha);
	if (d->a->kind == BBS_DIFF_BENCH) {
		for (size_t i = 0; i < d->nrows; i++)
			if (!d->rows[i].only && !d->rows[i].verdict) {
				fprintf(f, "warning: a single round on a side is a number, not a "
					   "distribution: no verdict (run bench with --rounds 5 or "
					   "more)\n");
				break;
			}
		text_rows(f, d);
		return;
	}
	if (!d->by_dev)
		fprintf(f, "groups: by op and kind; A and B have other devices, so each side's "
			   "devices are taken together (\"*\")\n");
	else
		fprintf(f, "groups: by device, op and kind\n");
	if (d->by_run)
		fprintf(f, "by run: each quantile is the median over runs of each run's, its "
			   "interval the bootstrap over runs, the test on the runs' p50\n");
	else
		fprintf(f,
			"warning: one run on a side: the tests see the bios of one run, and runs "
			"of one workload can differ more than that on a busy machine; record "
			"several a side (bbscope diff A1 A2 A3 vs B1 B2 B3)\n");
	for (size_t i = 0; i < d->npairs; i++)
		text_pair(f, d, &d->pairs[i]);
	if (!d->npairs)
		fprintf(f, "\nno groups on either side\n");
}

/* ---- JSON ---- */

static json_t *num(double v)
{
	return isnan(v) || isinf(v) ? json_null() : json_real(v);
}

static json_t *side_json(const struct bbs_diff_side *s)
{
	json_t *paths = json_array();
	json_t *o = json_pack("{s:s,s:o,s:I,s:o}", "kind", bbs_diff_kind_name[s->kind], "seconds",
			      num(side_seconds(s) > 0 ? side_seconds(s) : NAN), "runs",
			      (json_int_t)s->nruns, "warning",
			      *s->warning ? json_string(s->warning) : json_null());

	/* Every file of the side; "path" is the first (host/jsonstr.h for their bytes). */
	for (size_t r = 0; paths && r < s->nruns; r++) {
		char *t = bbs_utf8_lossy(s->runs[r].path);

		json_array_append_new(paths, json_string(t ? t : ""));
		free(t);
	}
	if (o)
		json_object_set_new(o, "paths", paths);
	else
		json_decref(paths);

	if (o && (bbs_json_set_str(o, "path", s->path) ||
		  bbs_json_set_str(o, "kernel", *s->kernel ? s->kernel : NULL) ||
		  bbs_json_set_str(o, "host", *s->host ? s->host : NULL))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *qchange_json(const struct bbs_qchange *q)
{
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "a", num(q->a), "b", num(q->b),
			 "a_lo", num(q->a_lo), "a_hi", num(q->a_hi), "b_lo", num(q->b_lo), "b_hi",
			 num(q->b_hi), "change_pct", num(q->pct), "change_lo_pct", num(q->lo),
			 "change_hi_pct", num(q->hi));
}

static json_t *ctx_json(const uint64_t *c)
{
	json_t *o = json_object();

	for (int x = 0; x < NR_CTX; x++)
		json_object_set_new(o, bbs_ctx_name[x], json_integer((json_int_t)c[x]));
	return o;
}

/* "changed", "no_change", "too_few_runs"; null for an exploratory test or one not made. */
static json_t *verdict_json(double p_adj, double alpha, bool too_few)
{
	if (isnan(p_adj))
		return json_null();
	return json_string(p_adj < alpha ? "changed" : too_few ? "too_few_runs" : "no_change");
}

static json_t *ctx_change_json(const uint64_t *a, const uint64_t *b, double p, double p_adj,
			       bool too_few, double alpha)
{
	return json_pack("{s:o,s:o,s:o,s:o,s:b,s:b,s:o}", "a", ctx_json(a), "b", ctx_json(b),
			 "p_value", num(p), "p_adjusted", num(p_adj), "significant", p_adj < alpha,
			 "primary", 1, "verdict", verdict_json(p_adj, alpha, too_few));
}

static const char *only_name(int only)
{
	return only == 1 ? "a" : only == 2 ? "b" : NULL;
}

static json_t *pair_json(const struct bbs_diff_pair *pr, double alpha)
{
	json_t *phases = json_object(), *o;

	for (int i = 0; i < pr->nph; i++) {
		const struct bbs_diff_phase *ph = &pr->ph[i];
		json_t *po = json_pack(
			"{s:I,s:I,s:i,s:i,s:b,s:b,s:o,s:o,s:b}", "count_a", (json_int_t)ph->na,
			"count_b", (json_int_t)ph->nb, "runs_a", (int)ph->runs_a, "runs_b",
			(int)ph->runs_b, "by_run", ph->by_run, "compared", ph->compared, "p_value",
			num(ph->p), "p_adjusted", num(ph->p_adj), "significant", ph->significant);

		for (int q = 0; po && q < BBS_DIFF_NQ; q++)
			json_object_set_new(po, bbs_diff_q_name[q], qchange_json(&ph->q[q]));
		if (po) {
			json_object_set_new(po, "not_observable_a",
					    ph->why_a && ph->why_a < NR_WHY
						    ? json_string(bbs_why_name[ph->why_a])
						    : json_null());
			json_object_set_new(po, "not_observable_b",
					    ph->why_b && ph->why_b < NR_WHY
						    ? json_string(bbs_why_name[ph->why_b])
						    : json_null());
			json_object_set_new(po, "primary", json_boolean(ph->primary));
			json_object_set_new(po, "verdict",
					    ph->compared
						    ? verdict_json(ph->p_adj, alpha, ph->too_few)
						    : json_null());
		}
		json_object_set_new(phases, bbs_phase_name[ph->phase], po);
	}
	o = json_pack("{s:o,s:s,s:s,s:o,s:o}", "dev", json_null(), "op", bbs_op_name[pr->op],
		      "kind", bbs_kind_name[pr->kind], "only",
		      only_name(pr->only) ? json_string(only_name(pr->only)) : json_null(),
		      "phases", phases);
	if (o && *pr->dev && !pr->only) {
		json_object_set_new(o, "complete_ctx",
				    ctx_change_json(pr->complete_a, pr->complete_b, pr->complete_p,
						    pr->complete_p_adj, pr->complete_too_few,
						    alpha));
		json_object_set_new(o, "endio_ctx",
				    ctx_change_json(pr->endio_a, pr->endio_b, pr->endio_p,
						    pr->endio_p_adj, pr->endio_too_few, alpha));
		json_object_set_new(o, "throughput_bps",
				    json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "a", num(pr->tput.a),
					      "b", num(pr->tput.b), "change_pct", num(pr->tput.pct),
					      "change_lo_pct", num(pr->tput.lo), "change_hi_pct",
					      num(pr->tput.hi), "p_value", num(pr->tput_p),
					      "p_adjusted", num(pr->tput_p_adj)));
		json_object_set_new(o, "bytes_per_bio",
				    json_pack("{s:o,s:o,s:o,s:o,s:o}", "a", num(pr->bpb_a), "b",
					      num(pr->bpb_b), "change_pct",
					      num((pr->bpb_b / pr->bpb_a - 1) * 100), "p_value",
					      num(pr->bpb_p), "p_adjusted", num(pr->bpb_p_adj)));
	}
	if (o && *pr->dev && bbs_json_set_str(o, "dev", pr->dev)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *row_json(const struct bbs_diff_rowcmp *r)
{
	return json_pack("{s:s,s:o,s:I,s:I,s:o,s:o,s:o,s:b,s:b}", "name", r->name, "only",
			 only_name(r->only) ? json_string(only_name(r->only)) : json_null(),
			 "rounds_a", (json_int_t)r->na, "rounds_b", (json_int_t)r->nb, "median",
			 qchange_json(&r->med), "p_value", num(r->p), "p_adjusted", num(r->p_adj),
			 "significant", r->significant, "verdict", r->verdict);
}

json_t *bbs_diff_json(const struct bbs_diff *d)
{
	json_t *o, *arr = json_array();
	bool failed = false;

	o = json_pack("{s:s,s:o,s:o,s:f,s:I,s:s,s:I,s:b,s:b}", "kind",
		      bbs_diff_kind_name[d->a->kind], "a", side_json(d->a), "b", side_json(d->b),
		      "alpha", d->o.alpha, "draws", (json_int_t)d->o.draws, "adjust",
		      d->o.no_adjust ? "none"
		      : d->o.perms   ? "westfall-young"
				     : "holm",
		      "tests", (json_int_t)d->o.tests, "different_kernel", d->other_kernel,
		      "different_host", d->other_host);
	if (o) {
		json_object_set_new(o, "relabellings", json_integer((json_int_t)d->o.perms));
		json_object_set_new(o, "relabellings_exact", json_boolean(d->o.perms_exact));
	}
	if (o)
		json_object_set_new(o, "unit",
				    json_string(d->a->kind == BBS_DIFF_BENCH ? "round"
						: d->by_run		     ? "run"
									     : "bio"));
	if (!o || !arr) {
		json_decref(o);
		json_decref(arr);
		return NULL;
	}
	if (d->a->kind == BBS_DIFF_BENCH) {
		for (size_t i = 0; i < d->nrows; i++)
			failed |= json_array_append_new(arr, row_json(&d->rows[i])) != 0;
		failed |= json_object_set_new(o, "rows", arr) != 0;
	} else {
		for (size_t i = 0; i < d->npairs; i++)
			failed |= json_array_append_new(arr, pair_json(&d->pairs[i], d->o.alpha)) !=
				  0;
		failed |= json_object_set_new(o, "matched_by",
					      d->by_dev ? json_pack("[s,s,s]", "dev", "op", "kind")
							: json_pack("[s,s]", "op", "kind")) != 0;
		failed |= json_object_set_new(o, "groups", arr) != 0;
	}
	if (failed) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- HTML: paired bars, A and B, with each side's interval as whiskers ---- */

static void html_pair(struct bbs_html *h, const struct bbs_diff_pair *pr, size_t idx)
{
	const char *cats[NR_PHASES];
	double v[2][BBS_DIFF_NQ][NR_PHASES], lo[2][BBS_DIFF_NQ][NR_PHASES],
		hi[2][BBS_DIFF_NQ][NR_PHASES];
	char id[64], title[160];
	int n = pr->nph;

	for (int i = 0; i < n; i++) {
		const struct bbs_diff_phase *ph = &pr->ph[i];

		cats[i] = bbs_phase_name[ph->phase];
		for (int q = 0; q < BBS_DIFF_NQ; q++) {
			v[0][q][i] = ph->q[q].a;
			v[1][q][i] = ph->q[q].b;
			lo[0][q][i] = ph->q[q].a_lo;
			hi[0][q][i] = ph->q[q].a_hi;
			lo[1][q][i] = ph->q[q].b_lo;
			hi[1][q][i] = ph->q[q].b_hi;
		}
	}
	for (int q = 0; q < BBS_DIFF_NQ; q += 2) { /* p50 and p99 */
		struct bbs_html_series s[2] = {
			{ "A", v[0][q], lo[0][q], hi[0][q], "#6b8fb8" },
			{ "B", v[1][q], lo[1][q], hi[1][q], "#d08a3c" },
		};

		snprintf(id, sizeof(id), "diff-%zu-%s", idx, bbs_diff_q_name[q]);
		snprintf(title, sizeof(title), "%s %s %s: %s, A and B (log scale)", group_dev(pr),
			 bbs_op_name[pr->op], bbs_kind_name[pr->kind], bbs_diff_q_name[q]);
		bbs_html_bars(h, id, title, BBS_UNIT_NS, cats, n, s, 2, true);
	}
}

static void html_rows(struct bbs_html *h, const struct bbs_diff *d)
{
	const char *cats[64];
	double v[2][64], lo[2][64], hi[2][64];
	size_t n = 0;

	for (size_t i = 0; i < d->nrows && n < 64; i++, n++) {
		const struct bbs_diff_rowcmp *r = &d->rows[i];

		cats[n] = r->name;
		v[0][n] = r->med.a;
		v[1][n] = r->med.b;
		lo[0][n] = r->med.a_lo;
		hi[0][n] = r->med.a_hi;
		lo[1][n] = r->med.b_lo;
		hi[1][n] = r->med.b_hi;
	}
	struct bbs_html_series s[2] = {
		{ "A", v[0], lo[0], hi[0], "#6b8fb8" },
		{ "B", v[1], lo[1], hi[1], "#d08a3c" },
	};
	bbs_html_bars(h, "diff-throughput", "throughput, median over rounds, A and B", BBS_UNIT_BPS,
		      cats, n, s, 2, false);
}

int bbs_diff_html(const struct bbs_diff *d, const char *path, bool force, char *why, size_t whylen)
{
	struct bbs_html *h = bbs_html_new("bbscope diff");
	char *text = NULL;
	size_t len = 0;
	FILE *mem;
	int ret;

	if (!h) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	mem = open_memstream(&text, &len);
	if (!mem) {
		bbs_html_free(h);
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	bbs_diff_text(mem, d);
	fclose(mem);
	for (int k = 0; k < 2; k++) {
		char *line = NULL;
		size_t n = 0;
		FILE *m = open_memstream(&line, &n);

		if (m) {
			side_line(m, k ? "B" : "A", k ? d->b : d->a);
			fclose(m);
			bbs_html_p(h, "%s", line ? line : "");
		}
		free(line);
	}
	bbs_html_p(h,
		   "Bars: A and B; whiskers: each side's %.0f%% bootstrap interval of the "
		   "quantile.  Below: the comparison as 'bbscope diff' prints it.",
		   100 * (1 - d->o.alpha));
	bbs_html_grid_begin(h);
	if (d->a->kind == BBS_DIFF_BENCH)
		html_rows(h, d);
	else
		for (size_t i = 0; i < d->npairs; i++)
			if (d->pairs[i].nph)
				html_pair(h, &d->pairs[i], i);
	bbs_html_grid_end(h);
	bbs_html_h2(h, "The comparison");
	bbs_html_pre(h, text ? text : "");
	errno = 0;
	ret = bbs_html_write(h, path, force, why, whylen) ? -(errno ? errno : EIO) : 0;
	bbs_html_free(h);
	free(text);
	return ret;
}
