// SPDX-License-Identifier: GPL-2.0
/* The report as JSON (render/report.h): the objects of docs/json.md. */
#include <jansson.h>

#include "render/report.h"
#include "host/jsonstr.h"
#include "host/util.h"

json_t *bbs_report_cost_json(const struct bbs_report *r)
{
	json_t *progs, *o;
	uint64_t runs, ns;

	if (!r->cost_measured)
		return json_pack("{s:b,s:s}", "measured", 0, "why",
				 r->cost_why ? r->cost_why : "unknown");
	progs = json_object();
	for (size_t i = 0; i < r->nr_prog_cost; i++)
		json_object_set_new(progs, r->prog_cost[i].name,
				    json_pack("{s:I,s:f,s:I}", "runs",
					      (json_int_t)r->prog_cost[i].runs, "seconds",
					      r->prog_cost[i].ns / 1e9, "skipped_runs",
					      (json_int_t)r->prog_cost[i].skipped_runs));
	bbs_report_cost_total(r, &runs, &ns);
	o = json_pack("{s:b,s:I,s:f,s:o}", "measured", 1, "runs", (json_int_t)runs, "seconds",
		      ns / 1e9, "progs", progs);
	return o;
}

json_t *bbs_phase_json(const struct bbs_hist *h, int why)
{
	json_t *o, *buckets;

	if (!h || !h->count) {
		o = json_pack("{s:b}", "observable", 0);
		if (why > WHY_NONE && why < NR_WHY) {
			json_object_set_new(o, "reason", json_string(bbs_why_name[why]));
			json_object_set_new(o, "detail", json_string(bbs_why_detail[why]));
		}
		return o;
	}
	buckets = json_array();
	for (int i = 0; i < HIST_SLOTS; i++)
		if (h->slots[i])
			json_array_append_new(buckets,
					      json_pack("[I,I,I]", (json_int_t)bbs_hist_slot_lo(i),
							(json_int_t)bbs_hist_slot_hi(i),
							(json_int_t)h->slots[i]));
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "count", (json_int_t)h->count,
			 "sum_ns", (json_int_t)h->sum_ns, "mean_ns",
			 (json_int_t)(h->sum_ns / h->count), "p50_ns",
			 (json_int_t)bbs_hist_percentile(h, 0.50), "p90_ns",
			 (json_int_t)bbs_hist_percentile(h, 0.90), "p99_ns",
			 (json_int_t)bbs_hist_percentile(h, 0.99), "max_ns", (json_int_t)h->max_ns,
			 "buckets", buckets);
}

static json_t *ctx_json(const __u64 *c)
{
	return json_pack("{s:I,s:I,s:I}", "hardirq", (json_int_t)c[CTX_HARDIRQ], "softirq",
			 (json_int_t)c[CTX_SOFTIRQ], "task", (json_int_t)c[CTX_TASK]);
}

/* A workqueue name is a key: the text of its bytes (host/jsonstr.h). */
static void wq_json(json_t *wq, const char *name, uint64_t count)
{
	char *text = bbs_utf8_lossy(name);

	if (text)
		json_object_set_new(wq, text, json_integer(count));
	free(text);
}

static json_t *group_json(const struct bbs_report *r, const struct bbs_group_data *gd)
{
	bool dev_group = gd->g.dev != 0;
	char fs[256], dev[64];
	json_t *o, *phases, *wq;
	const struct bbs_stats *s = &gd->stats;

	phases = json_object();
	for (int p = 0; p < NR_PHASES; p++)
		if (bbs_phase_is_device(p) == dev_group)
			json_object_set_new(
				phases, bbs_phase_name[p],
				bbs_phase_json(&gd->phases[p], bbs_group_why(r, gd, p)));
	wq = json_object();
	for (int i = 0; i < gd->nr_wqs; i++)
		wq_json(wq, gd->wqs[i].name, gd->wqs[i].count);
	/* Names from the system go through host/jsonstr.h: no group is lost to a byte. */
	o = json_pack("{s:o,s:o,s:s,s:s,s:I,s:I,s:o,s:o,s:o,s:o,s:I,s:I}", "fs", json_null(), "dev",
		      json_null(), "op", bbs_op_name[gd->g.op], "kind", bbs_kind_name[gd->g.kind],
		      "bios", (json_int_t)s->bios, "bytes", (json_int_t)s->bytes, "phases", phases,
		      "complete_ctx", ctx_json(s->complete_ctx), "endio_ctx",
		      ctx_json(s->endio_ctx), "endio_wq", wq, "stripe_writes",
		      (json_int_t)s->stripe_writes, "stripe_reads", (json_int_t)s->stripe_reads);
	if (o && (bbs_json_set_str(o, "fs", bbs_report_group_fs(r, gd, fs, sizeof(fs))) ||
		  bbs_json_set_str(o, "dev",
				   dev_group ? bbs_dev_name(gd->g.dev, dev, sizeof(dev)) : NULL))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/*
 * "funcs": one object per filesystem, function and operation; "funcs_not_traced".
 * The mount point goes through host/jsonstr.h.  0, or -1 if one could not be encoded.
 */
static int funcs_json(const struct bbs_report *r, json_t *o)
{
	json_t *funcs = json_array(), *off = json_array(), *f;
	char fs[256], name[BBS_FUNC_NAME + 8];
	int failed = 0;

	for (size_t i = 0; i < r->nr_funcs; i++) {
		const struct bbs_func_data *fd = &r->funcs[i];

		if (!fd->total.count)
			continue;
		f = json_pack("{s:s,s:o,s:s,s:s,s:I,s:o,s:o}", "phase",
			      bbs_func_phase(r, fd->slot, name, sizeof(name)), "fs", json_null(),
			      "under", bbs_under_name[fd->under], "attach",
			      r->func[fd->slot].attach, "calls", (json_int_t)fd->total.count,
			      "total", bbs_phase_json(&fd->total, WHY_NONE), "self",
			      bbs_phase_json(&fd->self, WHY_NONE));
		if (!f || bbs_json_set_str(f, "fs", bbs_fs_name(fd->fs, fs, sizeof(fs))))
			failed = -1;
		if (json_array_append_new(funcs, f))
			failed = -1;
	}
	for (int i = 0; i < r->nr_func_off; i++) {
		snprintf(name, sizeof(name), "func:%s", r->func_off[i].name);
		if (json_array_append_new(off, json_pack("{s:s,s:s}", "phase", name, "reason",
							 r->func_off[i].why)))
			failed = -1;
	}
	json_object_set_new(o, "funcs", funcs);
	json_object_set_new(o, "funcs_not_traced", off);
	return failed;
}

json_t *bbs_report_json(const struct bbs_report *r)
{
	struct bbs_hist rmw = { 0 }, recover = { 0 };
	uint64_t sw = 0, sr = 0;
	json_t *groups = json_array(), *lost_detail = json_object(), *o;
	bool failed = false;

	for (size_t i = 0; i < r->nr_groups; i++) {
		const struct bbs_group_data *gd = &r->groups[i];

		/* A group that cannot be encoded fails the whole object, never just goes. */
		failed |= json_array_append_new(groups, group_json(r, gd)) != 0;
		bbs_hist_merge(&rmw, &gd->phases[PHASE_RMW]);
		bbs_hist_merge(&recover, &gd->phases[PHASE_RECOVER]);
		sw += gd->stats.stripe_writes;
		sr += gd->stats.stripe_reads;
	}
	for (int i = 0; i < NR_LOST_BPF; i++)
		json_object_set_new(lost_detail, bbs_lost_name[i], json_integer(r->lost[i]));
	json_object_set_new(lost_detail, "evicted", json_integer(r->evicted));
	if (failed) {
		json_decref(groups);
		json_decref(lost_detail);
		return NULL;
	}
	o = json_pack("{s:f,s:I,s:o,s:o,s:{s:o,s:o,s:I,s:I}}", "interval_s", r->interval_s, "lost",
		      (json_int_t)bbs_report_lost(r), "lost_detail", lost_detail, "groups", groups,
		      "raid56", "rmw", bbs_phase_json(&rmw, r->phase_why[BBS_OP_WRITE][PHASE_RMW]),
		      "recover", bbs_phase_json(&recover, r->phase_why[BBS_OP_READ][PHASE_RECOVER]),
		      "stripe_writes", (json_int_t)sw, "stripe_reads", (json_int_t)sr);
	if (o && bbs_report_has_funcs(r) && funcs_json(r, o)) {
		json_decref(o);
		return NULL;
	}
	if (o &&
	    (json_object_set_new(o, "skipped_runs", json_integer((json_int_t)r->skipped_runs)) ||
	     json_object_set_new(o, "rescued_runs", json_integer((json_int_t)r->rescued_runs)))) {
		json_decref(o);
		return NULL;
	}
	if (o && json_object_set_new(o, "sample", json_integer(r->sample ? r->sample : 1))) {
		json_decref(o);
		return NULL;
	}
	if (o && (r->cost_measured || r->cost_why) &&
	    json_object_set_new(o, "bpf_cost", bbs_report_cost_json(r))) {
		json_decref(o);
		return NULL;
	}
	return o;
}
