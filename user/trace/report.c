// SPDX-License-Identifier: GPL-2.0
/*
 * The report model of a recorded trace (trace/report.h): every record
 * accounted as the tracer's finish_bio() and span accounting would have
 * (bbs_bio_phases(), bbs_span_group()), grouped as --by asks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "trace/report.h"
#include "host/array.h"

static const char *const dim_name[] = { "fs", "dev", "op", "kind", "comm" };

int bbs_by_parse(const char *s, unsigned int *by)
{
	char *copy = strdup(s), *tok, *save = NULL;
	int ret = 0;

	if (!copy)
		return -1;
	*by = 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t i;

		for (i = 0; i < sizeof(dim_name) / sizeof(dim_name[0]); i++)
			if (!strcmp(tok, dim_name[i]))
				break;
		if (i == sizeof(dim_name) / sizeof(dim_name[0])) {
			ret = -1;
			break;
		}
		*by |= 1U << i;
	}
	free(copy);
	return ret || !*by ? -1 : 0;
}

static struct bbs_report *slice_of(struct bbs_trace_report *m, const char *comm)
{
	struct bbs_trace_slice *s;

	if (m->last < m->nr && !strcmp(m->slices[m->last].comm, comm))
		return &m->slices[m->last].r;
	for (size_t i = 0; i < m->nr; i++)
		if (!strcmp(m->slices[i].comm, comm)) {
			m->last = i;
			return &m->slices[i].r;
		}
	s = bbs_array_reserve(m->slices, &m->cap, m->nr + 1, sizeof(*s), 16);
	if (!s)
		return NULL;
	m->slices = s;
	s = &m->slices[m->nr];
	snprintf(s->comm, sizeof(s->comm), "%s", comm);
	bbs_report_init(&s->r);
	m->last = m->nr++;
	return &s->r;
}

/* The group a record counts in, with the dimensions --by leaves out merged. */
static struct bbs_group_data *group_of(struct bbs_trace_report *m, struct bbs_report *r,
				       struct bbs_group g)
{
	if (!(m->by & BBS_BY_FS))
		g.fs = 0;
	if (!(m->by & BBS_BY_DEV) && g.dev)
		g.dev = BBS_DEV_ANY;
	if (!(m->by & BBS_BY_OP))
		g.op = 0;
	if (!(m->by & BBS_BY_KIND))
		g.kind = 0;
	return bbs_report_group(r, &g);
}

/* What finish_bio() accounts for one bio, from bbs_bio_phases(). */
static int add_bio(struct bbs_trace_report *m, struct bbs_report *r, const struct bbs_event_bio *e,
		   const struct bbs_bio_phases *p)
{
	struct bbs_group g = { .fs = e->fs, .dev = e->dev, .op = e->op, .kind = e->kind };
	struct bbs_group_data *gd = group_of(m, r, g);

	if (!gd)
		return -ENOMEM;
	gd->stats.bios++;
	gd->stats.bytes += e->bytes;
	if (p->complete_ctx)
		gd->stats.complete_ctx[e->complete_ctx]++;
	if (p->endio_ctx)
		gd->stats.endio_ctx[e->endio_ctx]++;
	for (int ph = 0; ph < NR_PHASES; ph++)
		if (p->have & (1U << ph))
			bbs_hist_add(&gd->phases[ph], p->ns[ph]);
	if (e->wq[0])
		bbs_group_add_wq(gd, e->wq, 1);
	return 0;
}

static int add_record(struct bbs_trace_report *m, struct bbs_report *r,
		      const struct bbs_tf_event *ev)
{
	struct bbs_group_data *gd;
	struct bbs_bio_phases p;
	struct bbs_group g;

	switch (ev->type) {
	case EV_BIO:
		bbs_bio_phases(&ev->bio, &p);
		return add_bio(m, r, &ev->bio, &p);
	case EV_STRIPE:
		g = (struct bbs_group){ .fs = ev->stripe.fs,
					.dev = ev->stripe.dev,
					.op = ev->stripe.op,
					.kind = ev->stripe.kind };
		gd = group_of(m, r, g);
		if (!gd)
			return -ENOMEM;
		if (ev->stripe.op == BBS_OP_WRITE)
			gd->stats.stripe_writes++;
		else
			gd->stats.stripe_reads++;
		return 0;
	default:
		bbs_span_group(&ev->span, &g);
		gd = group_of(m, r, g);
		if (!gd)
			return -ENOMEM;
		bbs_hist_add(&gd->phases[ev->span.phase], ev->span.end_ns - ev->span.start_ns);
		return 0;
	}
}

static const char *record_comm(const struct bbs_tf_event *ev)
{
	return ev->type == EV_BIO ? ev->bio.comm : "";
}

/* What every report of the trace shares: the interval, losses, unavailable phases. */
static void set_common(struct bbs_report *r, const struct bbs_tf_reader *rd, bool with_lost)
{
	const struct bbs_tf_header *h = bbs_tfr_header(rd);
	const struct bbs_tf_lost *l = bbs_tfr_lost(rd);

	r->interval_s = (bbs_tfr_status(rd)->end_ns - h->mono_ns) / 1e9;
	for (int op = 0; op < BBS_NR_OPS; op++)
		for (int p = 0; p < NR_PHASES; p++)
			r->phase_why[op][p] = h->have_phase_why ? h->phase_why[op][p]
					      : h->phase_unavailable & (1U << p) ? WHY_NO_TRACEPOINT
										 : WHY_NONE;
	if (!with_lost)
		return;
	memcpy(r->lost, l->total, sizeof(r->lost));
	r->evicted = l->user[TF_LOST_EVICTED];
	r->skipped_runs = l->user[TF_LOST_SKIPPED_RUNS];
}

static int slice_cmp(const void *a, const void *b)
{
	return strcmp(((const struct bbs_trace_slice *)a)->comm,
		      ((const struct bbs_trace_slice *)b)->comm);
}

int bbs_trace_report_build(struct bbs_trace_report *m, struct bbs_tf_reader *rd)
{
	struct bbs_tf_event ev;
	struct bbs_report *r;

	while (bbs_tfr_next(rd, &ev) == 1) {
		if (add_record(m, &m->all, &ev))
			return -ENOMEM;
		if (!(m->by & BBS_BY_COMM))
			continue;
		r = slice_of(m, record_comm(&ev));
		if (!r || add_record(m, r, &ev))
			return -ENOMEM;
	}
	set_common(&m->all, rd, true);
	/* --sample N: one bio in N was recorded; counts scaled as hist scales them. */
	bbs_report_scale(&m->all, bbs_tfr_header(rd)->sample);
	/* Function phases are the whole trace's, recorded as histograms. */
	if (bbs_tfr_funcs(rd))
		bbs_report_merge_funcs(&m->all, bbs_tfr_funcs(rd));
	bbs_report_sort(&m->all);
	qsort(m->slices, m->nr, sizeof(*m->slices), slice_cmp);
	for (size_t i = 0; i < m->nr; i++) {
		/* The losses belong to the whole trace: printed once, after the last slice. */
		set_common(&m->slices[i].r, rd, i == m->nr - 1);
		bbs_report_scale(&m->slices[i].r, bbs_tfr_header(rd)->sample);
		bbs_report_sort(&m->slices[i].r);
	}
	return 0;
}

void bbs_trace_report_free(struct bbs_trace_report *m)
{
	for (size_t i = 0; i < m->nr; i++)
		bbs_report_free(&m->slices[i].r);
	free(m->slices);
	bbs_report_free(&m->all);
	m->slices = NULL;
	m->nr = m->cap = 0;
}
