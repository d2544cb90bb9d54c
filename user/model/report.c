// SPDX-License-Identifier: GPL-2.0
/* The report (model/report.h): groups, merging, sorting, scaling, function phases. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/report.h"
#include "host/array.h"

void bbs_report_init(struct bbs_report *r)
{
	memset(r, 0, sizeof(*r));
}

void bbs_report_reset(struct bbs_report *r)
{
	struct bbs_group_data *g = r->groups;
	struct bbs_func_data *fd = r->funcs;
	const char *label = r->fs_label;
	size_t cap = r->cap_groups, fcap = r->cap_funcs;

	memset(r, 0, sizeof(*r));
	r->groups = g;
	r->cap_groups = cap;
	r->funcs = fd;
	r->cap_funcs = fcap;
	r->fs_label = label;
}

void bbs_report_free(struct bbs_report *r)
{
	free(r->groups);
	free(r->funcs);
	memset(r, 0, sizeof(*r));
}

static bool group_eq(const struct bbs_group *a, const struct bbs_group *b)
{
	return a->fs == b->fs && a->dev == b->dev && a->op == b->op && a->kind == b->kind;
}

struct bbs_group_data *bbs_report_group(struct bbs_report *r, const struct bbs_group *g)
{
	struct bbs_group_data *gd;

	for (size_t i = 0; i < r->nr_groups; i++)
		if (group_eq(&r->groups[i].g, g))
			return &r->groups[i];
	gd = bbs_array_reserve(r->groups, &r->cap_groups, r->nr_groups + 1, sizeof(*gd), 16);
	if (!gd)
		return NULL;
	r->groups = gd;
	gd = &r->groups[r->nr_groups++];
	memset(gd, 0, sizeof(*gd));
	gd->g = *g;
	gd->g.epoch = 0;
	gd->g.level = 0;
	return gd;
}

void bbs_group_add_wq(struct bbs_group_data *gd, const char *name, uint64_t count)
{
	int i;

	for (i = 0; i < gd->nr_wqs; i++)
		if (!strncmp(gd->wqs[i].name, name, WQ_NAME_LEN))
			break;
	if (i == gd->nr_wqs) {
		if (gd->nr_wqs < BBS_MAX_WQS) {
			gd->nr_wqs++;
			snprintf(gd->wqs[i].name, WQ_NAME_LEN, "%s", name);
		} else {
			/* Fold the rest into the last slot. */
			i = BBS_MAX_WQS - 1;
			snprintf(gd->wqs[i].name, WQ_NAME_LEN, "other");
		}
	}
	gd->wqs[i].count += count;
}

uint64_t bbs_report_lost(const struct bbs_report *r)
{
	uint64_t n = r->evicted;

	for (int i = 0; i < NR_LOST_BPF; i++)
		n += r->lost[i];
	return n;
}

static int group_cmp(const void *a, const void *b)
{
	const struct bbs_group *x = &((const struct bbs_group_data *)a)->g;
	const struct bbs_group *y = &((const struct bbs_group_data *)b)->g;

	if (x->fs != y->fs)
		return x->fs < y->fs ? -1 : 1;
	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->op != y->op)
		return x->op - y->op;
	return x->kind - y->kind;
}

static int func_cmp(const void *a, const void *b)
{
	const struct bbs_func_data *x = a, *y = b;

	if (x->fs != y->fs)
		return x->fs < y->fs ? -1 : 1;
	if (x->slot != y->slot)
		return x->slot - y->slot;
	return x->under - y->under;
}

void bbs_report_sort(struct bbs_report *r)
{
	qsort(r->groups, r->nr_groups, sizeof(*r->groups), group_cmp);
	if (r->nr_funcs)
		qsort(r->funcs, r->nr_funcs, sizeof(*r->funcs), func_cmp);
}

void bbs_report_merge_funcs(struct bbs_report *total, const struct bbs_report *r)
{
	memcpy(total->func, r->func, sizeof(total->func));
	memcpy(total->func_off, r->func_off, sizeof(total->func_off));
	total->nr_func_off = r->nr_func_off;
	for (size_t i = 0; i < r->nr_funcs; i++) {
		const struct bbs_func_data *src = &r->funcs[i];
		struct bbs_func_data *dst = bbs_report_func(total, src->fs, src->slot, src->under);

		if (dst) {
			bbs_hist_merge(&dst->total, &src->total);
			bbs_hist_merge(&dst->self, &src->self);
		}
	}
}

static void scale_hist(struct bbs_hist *h, uint32_t n)
{
	h->count *= n;
	h->sum_ns *= n;
	for (int i = 0; i < HIST_SLOTS; i++)
		h->slots[i] *= n;
}

void bbs_report_scale(struct bbs_report *r, uint32_t n)
{
	r->sample = n > 1 ? n : 0;
	if (n <= 1)
		return;
	for (size_t i = 0; i < r->nr_groups; i++) {
		struct bbs_group_data *gd = &r->groups[i];
		struct bbs_stats *s = &gd->stats;

		s->bios *= n;
		s->bytes *= n;
		for (int c = 0; c < NR_CTX; c++) {
			s->complete_ctx[c] *= n;
			s->endio_ctx[c] *= n;
		}
		s->stripe_writes *= n;
		s->stripe_reads *= n;
		for (int p = 0; p < NR_PHASES; p++)
			scale_hist(&gd->phases[p], n);
		for (int w = 0; w < gd->nr_wqs; w++)
			gd->wqs[w].count *= n;
	}
}

/* Add r's BPF cost to total's, program by program. */
void bbs_report_merge_cost(struct bbs_report *total, const struct bbs_report *r)
{
	total->cost_measured = r->cost_measured;
	total->cost_why = r->cost_why;
	for (size_t i = 0; i < r->nr_prog_cost; i++) {
		const struct bbs_prog_cost *src = &r->prog_cost[i];
		size_t j;

		for (j = 0; j < total->nr_prog_cost; j++)
			if (!strcmp(total->prog_cost[j].name, src->name))
				break;
		if (j == total->nr_prog_cost) {
			if (j == BBS_MAX_PROG_COST)
				continue;
			total->prog_cost[j] = (struct bbs_prog_cost){ .runs = 0 };
			snprintf(total->prog_cost[j].name, sizeof(total->prog_cost[j].name), "%s",
				 src->name);
			total->nr_prog_cost++;
		}
		total->prog_cost[j].runs += src->runs;
		total->prog_cost[j].ns += src->ns;
		total->prog_cost[j].skipped_runs += src->skipped_runs;
	}
}

void bbs_report_merge(struct bbs_report *total, const struct bbs_report *r)
{
	bbs_report_merge_cost(total, r);
	total->sample = r->sample;
	for (int i = 0; i < NR_LOST_BPF; i++)
		total->lost[i] += r->lost[i];
	total->evicted += r->evicted;
	total->skipped_runs += r->skipped_runs;
	total->rescued_runs += r->rescued_runs;
	total->interval_s += r->interval_s;
	memcpy(total->phase_why, r->phase_why, sizeof(total->phase_why));
	bbs_report_merge_funcs(total, r);
	for (size_t i = 0; i < r->nr_groups; i++) {
		const struct bbs_group_data *src = &r->groups[i];
		struct bbs_group_data *dst = bbs_report_group(total, &src->g);

		if (!dst)
			continue;
		dst->stats.bios += src->stats.bios;
		dst->stats.bytes += src->stats.bytes;
		for (int c = 0; c < NR_CTX; c++) {
			dst->stats.complete_ctx[c] += src->stats.complete_ctx[c];
			dst->stats.endio_ctx[c] += src->stats.endio_ctx[c];
		}
		dst->stats.stripe_writes += src->stats.stripe_writes;
		dst->stats.stripe_reads += src->stats.stripe_reads;
		for (int p = 0; p < NR_PHASES; p++)
			bbs_hist_merge(&dst->phases[p], &src->phases[p]);
		for (int w = 0; w < src->nr_wqs; w++)
			bbs_group_add_wq(dst, src->wqs[w].name, src->wqs[w].count);
	}
}

struct bbs_func_data *bbs_report_func(struct bbs_report *r, uint32_t fs, int slot, int under)
{
	struct bbs_func_data *fd;

	for (size_t i = 0; i < r->nr_funcs; i++)
		if (r->funcs[i].fs == fs && r->funcs[i].slot == slot && r->funcs[i].under == under)
			return &r->funcs[i];
	fd = bbs_array_reserve(r->funcs, &r->cap_funcs, r->nr_funcs + 1, sizeof(*fd), 16);
	if (!fd)
		return NULL;
	r->funcs = fd;
	fd = &r->funcs[r->nr_funcs++];
	memset(fd, 0, sizeof(*fd));
	fd->fs = fs;
	fd->slot = slot;
	fd->under = under;
	return fd;
}

bool bbs_report_has_funcs(const struct bbs_report *r)
{
	for (int i = 0; i < MAX_FUNCS; i++)
		if (r->func[i].name[0])
			return true;
	return r->nr_func_off > 0;
}

/* "func:NAME", the function phase's name everywhere. */
const char *bbs_func_phase(const struct bbs_report *r, int slot, char *buf, size_t len)
{
	snprintf(buf, len, "func:%s", slot < MAX_FUNCS ? r->func[slot].name : "?");
	return buf;
}

/*
 * Why a group's phase has no samples.  Only btrfs data and metadata bios
 * have a btrfs end_io; a write's checksum not seen as work ran inline.
 */
int bbs_group_why(const struct bbs_report *r, const struct bbs_group_data *gd, int p)
{
	int op = gd->g.op < BBS_NR_OPS ? gd->g.op : 0, why = r->phase_why[op][p];

	if ((p == PHASE_HOP || p == PHASE_ENDIO) && gd->g.kind == KIND_SUPER)
		return WHY_NONE;
	if (p == PHASE_CSUM && why == WHY_NONE && op == BBS_OP_WRITE)
		return WHY_CSUM_INLINE;
	/*
	 * A request-based bio times queue whenever it times device (both end
	 * at the request's issue); device without queue is a bio-based device.
	 */
	if (p == PHASE_QUEUE && why == WHY_NONE && gd->g.dev && gd->phases[PHASE_DEVICE].count)
		return WHY_BIO_BASED;
	return why;
}

void bbs_report_cost_total(const struct bbs_report *r, uint64_t *runs, uint64_t *ns)
{
	*runs = *ns = 0;
	for (size_t i = 0; i < r->nr_prog_cost; i++) {
		*runs += r->prog_cost[i].runs;
		*ns += r->prog_cost[i].ns;
	}
}
