// SPDX-License-Identifier: GPL-2.0
/*
 * finish_bio() in user space (model/bio.h): the phases a recorded bio
 * yields, and the group a span counts under, as bpf/bbscope.bpf.c derives
 * them for its histograms.
 */
#include <string.h>

#include "model/bio.h"

static inline void phase_set(struct bbs_bio_phases *p, int phase, uint64_t v)
{
	p->ns[phase] = v;
	p->have |= 1U << phase;
}

void bbs_bio_phases(const struct bbs_event_bio *e, struct bbs_bio_phases *p)
{
	/*
	 * finish_bio()'s `now`: the end of the end_io work item, or, for bios
	 * that end inline, their completion (emit_bio() records no end then).
	 */
	uint64_t end = e->endio_start_ns ? e->endio_end_ns : e->complete_ns;
	/* An end_io that ran inline at completion has no hop and no endio of its own. */
	bool work = e->endio_start_ns && !(e->flags & BIO_F_NO_ENDIO);

	memset(p, 0, sizeof(*p));
	p->complete_ctx = e->complete_ns != 0;
	p->endio_ctx = e->endio_start_ns || (e->flags & (BIO_F_NO_ENDIO | BIO_F_ENDIO_UNSEEN));
	if (e->complete_ns) {
		if (e->flags & BIO_F_BIO_BASED) {
			phase_set(p, PHASE_DEVICE, e->complete_ns - e->queue_ns);
		} else if (e->issue_ns) {
			phase_set(p, PHASE_QUEUE, e->issue_ns - e->queue_ns);
			phase_set(p, PHASE_DEVICE, e->complete_ns - e->issue_ns);
		}
		if (work)
			phase_set(p, PHASE_HOP, e->endio_start_ns - e->complete_ns);
	}
	if (work)
		phase_set(p, PHASE_ENDIO, end - e->endio_start_ns);
	if (e->complete_ns || e->endio_start_ns)
		phase_set(p, PHASE_TOTAL, end - e->queue_ns);
}

void bbs_span_group(const struct bbs_event_span *e, struct bbs_group *g)
{
	memset(g, 0, sizeof(*g));
	g->fs = e->fs;
	if (e->phase == PHASE_ORDERED) {
		/* on_ordered_remove() */
		g->op = BBS_OP_WRITE;
		g->kind = KIND_DATA;
	} else {
		/* span_account() */
		g->op = e->phase == PHASE_RECOVER ? BBS_OP_READ : BBS_OP_WRITE;
		g->kind = e->kind;
	}
}
