// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "out/hist.h"
#include "out/print.h"
#include "host/jsonstr.h"
#include "host/util.h"

const char *const bbs_phase_name[NR_PHASES] = {
	[PHASE_QUEUE] = "queue",     [PHASE_DEVICE] = "device", [PHASE_HOP] = "hop",
	[PHASE_ENDIO] = "endio",     [PHASE_TOTAL] = "total",	[PHASE_CSUM] = "csum",
	[PHASE_ORDERED] = "ordered", [PHASE_RMW] = "rmw",	[PHASE_RECOVER] = "recover",
};
const char *const bbs_op_name[BBS_NR_OPS] = { "read", "write" };
const char *const bbs_kind_name[NR_KINDS] = { "data", "metadata", "super" };
const char *const bbs_ctx_name[NR_CTX] = { "hardirq", "softirq", "task" };
const char *const bbs_lost_name[NR_LOST_BPF] = {
	[LOST_BIO_MAP_FULL] = "bio_map_full",
	[LOST_WORK_MAP_FULL] = "work_map_full",
	[LOST_RQ_WALK] = "rq_walk",
	[LOST_RINGBUF] = "ringbuf_full",
	[LOST_GROUP_MAP_FULL] = "group_map_full",
	[LOST_FUNC_STACK] = "func_stack",
};

const char *const bbs_why_name[NR_WHY] = {
	[WHY_NONE] = "none",
	[WHY_NO_TRACEPOINT] = "no_tracepoint",
	[WHY_ENDIO_INLINE] = "endio_inline",
	[WHY_NO_BTRFS_BTF] = "no_btrfs_btf",
	[WHY_NO_FUNCTION] = "no_function",
	[WHY_CSUM_IN_ENDIO] = "csum_in_endio",
	[WHY_CSUM_INLINE] = "csum_inline",
	[WHY_BIO_BASED] = "bio_based",
};

const char *const bbs_why_detail[NR_WHY] = {
	[WHY_NONE] = "",
	[WHY_NO_TRACEPOINT] = "a tracepoint it needs is not in this kernel or did not attach",
	[WHY_ENDIO_INLINE] = "this kernel runs the btrfs end_io inline at the bio's completion: "
			     "no work item to time",
	[WHY_NO_BTRFS_BTF] = "btrfs has no BTF on this kernel: its work items cannot be read",
	[WHY_NO_FUNCTION] = "this kernel has no function it is seen through",
	[WHY_CSUM_IN_ENDIO] = "read checksums are verified inside the read end_io (endio)",
	[WHY_CSUM_INLINE] = "none offloaded: checksums ran inline in the submitting task",
	[WHY_BIO_BASED] = "a bio-based device (zram, dm, md) has no request, so no queue to "
			  "time: its device phase runs from the bio's queueing",
};

const char *const bbs_under_name[NR_UNDER] = {
	[UNDER_FS] = "fs",
	[UNDER_RMW] = "rmw",
	[UNDER_RECOVER] = "recover",
	[UNDER_SCRUB] = "scrub",
};

int bbs_phase_parse(const char *name)
{
	for (int i = 0; i < NR_PHASES; i++)
		if (!strcmp(name, bbs_phase_name[i]))
			return i;
	return -1;
}

uint32_t bbs_hist_slot(uint64_t v)
{
	uint32_t msb, slot;

	if (v < HIST_SUB)
		return v;
	msb = 63 - __builtin_clzll(v);
	slot = (msb - HIST_SUB_BITS + 1) * HIST_SUB +
	       ((v >> (msb - HIST_SUB_BITS)) & (HIST_SUB - 1));
	return slot < HIST_SLOTS ? slot : HIST_SLOTS - 1;
}

uint64_t bbs_hist_slot_lo(uint32_t slot)
{
	uint32_t msb;

	if (slot < 2 * HIST_SUB)
		return slot;
	msb = slot / HIST_SUB + HIST_SUB_BITS - 1;
	return (1ULL << msb) + (uint64_t)(slot % HIST_SUB) * (1ULL << (msb - HIST_SUB_BITS));
}

uint64_t bbs_hist_slot_hi(uint32_t slot)
{
	uint32_t msb;

	if (slot < 2 * HIST_SUB)
		return slot + 1;
	msb = slot / HIST_SUB + HIST_SUB_BITS - 1;
	return bbs_hist_slot_lo(slot) + (1ULL << (msb - HIST_SUB_BITS));
}

void bbs_hist_add(struct bbs_hist *h, uint64_t v)
{
	h->count++;
	h->sum_ns += v;
	if (v > h->max_ns)
		h->max_ns = v;
	h->slots[bbs_hist_slot(v)]++;
}

void bbs_hist_merge(struct bbs_hist *dst, const struct bbs_hist *src)
{
	dst->count += src->count;
	dst->sum_ns += src->sum_ns;
	if (src->max_ns > dst->max_ns)
		dst->max_ns = src->max_ns;
	for (int i = 0; i < HIST_SLOTS; i++)
		dst->slots[i] += src->slots[i];
}

uint64_t bbs_hist_percentile(const struct bbs_hist *h, double p)
{
	uint64_t total = 0, seen = 0, lo, hi, v;
	double rank;

	for (int i = 0; i < HIST_SLOTS; i++)
		total += h->slots[i];
	if (!total)
		return 0;
	rank = p * total;
	for (int i = 0; i < HIST_SLOTS; i++) {
		if (!h->slots[i])
			continue;
		if (seen + h->slots[i] >= rank) {
			lo = bbs_hist_slot_lo(i);
			hi = bbs_hist_slot_hi(i);
			/* Spread the bucket's samples evenly over its width. */
			v = lo + (uint64_t)((hi - lo) * ((rank - seen) / h->slots[i]));
			if (v >= hi)
				v = hi - 1;
			return v > h->max_ns ? h->max_ns : v;
		}
		seen += h->slots[i];
	}
	return h->max_ns;
}

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
	if (r->nr_groups == r->cap_groups) {
		size_t cap = r->cap_groups ? 2 * r->cap_groups : 16;

		gd = realloc(r->groups, cap * sizeof(*gd));
		if (!gd)
			return NULL;
		r->groups = gd;
		r->cap_groups = cap;
	}
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

/* ---- plain text ---- */

static void print_stars(FILE *f, uint64_t val, uint64_t max, int width)
{
	int n = max ? (int)((double)val * width / max) : 0;

	if (n > width)
		n = width;
	for (int i = 0; i < n; i++)
		fputc('*', f);
	for (int i = n; i < width; i++)
		fputc(' ', f);
}

/* biolatency-style power-of-two rows, folded from the sub-buckets. */
static void print_log2(FILE *f, const struct bbs_hist *h, const char *phase, bool ms)
{
	uint64_t rows[64] = { 0 }, max = 0, div = ms ? 1000000 : 1000;
	int first = -1, last = -1;
	const char *unit = ms ? "msecs" : "usecs";

	for (int i = 0; i < HIST_SLOTS; i++) {
		uint64_t v = bbs_hist_slot_lo(i) / div;
		int row = v ? 64 - __builtin_clzll(v) : 0;

		rows[row] += h->slots[i];
	}
	for (int i = 0; i < 64; i++) {
		if (!rows[i])
			continue;
		if (first < 0)
			first = i;
		last = i;
		if (rows[i] > max)
			max = rows[i];
	}
	if (first < 0)
		return;
	fprintf(f, "    %s %s%*s: count    distribution\n", phase, unit,
		(int)(17 - strlen(phase) - strlen(unit)), "");
	for (int i = 0; i <= last; i++) {
		uint64_t lo = i ? 1ULL << (i - 1) : 0, hi = (1ULL << i) - 1;

		if (i < first && i != 0)
			continue;
		fprintf(f, "    %10llu -> %-10llu: %-8llu |", (unsigned long long)lo,
			(unsigned long long)hi, (unsigned long long)rows[i]);
		print_stars(f, rows[i], max, 40);
		fputs("|\n", f);
	}
}

static void print_phase_row(FILE *f, const char *name, const struct bbs_hist *h, bool ms)
{
	double div = ms ? 1e6 : 1e3;

	fprintf(f, "    %-8s %9llu %10.1f %10.1f %10.1f %10.1f %10.1f\n", name,
		(unsigned long long)h->count, (double)h->sum_ns / h->count / div,
		bbs_hist_percentile(h, 0.50) / div, bbs_hist_percentile(h, 0.90) / div,
		bbs_hist_percentile(h, 0.99) / div, h->max_ns / div);
}

static const char *group_fs(const struct bbs_report *r, const struct bbs_group_data *gd, char *buf,
			    size_t len)
{
	if (r->fs_label) {
		snprintf(buf, len, "%s", r->fs_label);
		return buf;
	}
	return bbs_fs_name(gd->g.fs, buf, len);
}

/* Replays and bio-based reports have no contexts: say nothing rather than zeros. */
static bool ctx_seen(const struct bbs_stats *s)
{
	for (int c = 0; c < NR_CTX; c++)
		if (s->complete_ctx[c] || s->endio_ctx[c])
			return true;
	return false;
}

/*
 * Why a group's phase has no samples.  Only btrfs data and metadata bios
 * have a btrfs end_io; a write's checksum not seen as work ran inline.
 */
static int group_why(const struct bbs_report *r, const struct bbs_group_data *gd, int p)
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

static void print_group(FILE *f, const struct bbs_report *r, const struct bbs_group_data *gd,
			const struct bbs_print_opts *o)
{
	bool dev_group = gd->g.dev != 0;
	char fs[256], dev[64], bytes[32];
	const struct bbs_stats *s = &gd->stats;

	group_fs(r, gd, fs, sizeof(fs));
	if (dev_group) {
		bbs_human_bytes(s->bytes, bytes, sizeof(bytes));
		fprintf(f, "%s %s %s %s: %llu bios, %s\n", fs,
			bbs_dev_name(gd->g.dev, dev, sizeof(dev)), bbs_op_name[gd->g.op],
			bbs_kind_name[gd->g.kind], (unsigned long long)s->bios, bytes);
		if (ctx_seen(s)) {
			fprintf(f,
				"    completion in hardirq %llu, softirq %llu, task %llu;"
				" end_io in hardirq %llu, softirq %llu, task %llu",
				(unsigned long long)s->complete_ctx[CTX_HARDIRQ],
				(unsigned long long)s->complete_ctx[CTX_SOFTIRQ],
				(unsigned long long)s->complete_ctx[CTX_TASK],
				(unsigned long long)s->endio_ctx[CTX_HARDIRQ],
				(unsigned long long)s->endio_ctx[CTX_SOFTIRQ],
				(unsigned long long)s->endio_ctx[CTX_TASK]);
			for (int i = 0; i < gd->nr_wqs; i++)
				fprintf(f, "%s%s %llu", i ? ", " : " (", gd->wqs[i].name,
					(unsigned long long)gd->wqs[i].count);
			fprintf(f, "%s\n", gd->nr_wqs ? ")" : "");
		}
		if (s->stripe_writes || s->stripe_reads)
			fprintf(f, "    raid56 stripe writes %llu, stripe reads %llu\n",
				(unsigned long long)s->stripe_writes,
				(unsigned long long)s->stripe_reads);
	} else {
		fprintf(f, "%s (filesystem) %s %s:\n", fs, bbs_op_name[gd->g.op],
			bbs_kind_name[gd->g.kind]);
	}
	fprintf(f, "    %-8s %9s %10s %10s %10s %10s %10s  (%s)\n", "phase", "count", "mean", "p50",
		"p90", "p99", "max", o->ms ? "msecs" : "usecs");
	for (int p = 0; p < NR_PHASES; p++) {
		const struct bbs_hist *h = &gd->phases[p];

		if (bbs_phase_is_device(p) != dev_group)
			continue;
		int why = group_why(r, gd, p);

		if (h->count)
			print_phase_row(f, bbs_phase_name[p], h, o->ms);
		else if (why != WHY_NONE)
			fprintf(f, "    %-8s not observable: %s\n", bbs_phase_name[p],
				bbs_why_detail[why]);
	}
	if (o->summary)
		return;
	for (int p = 0; p < NR_PHASES; p++)
		if (gd->phases[p].count && bbs_phase_is_device(p) == dev_group)
			print_log2(f, &gd->phases[p], bbs_phase_name[p], o->ms);
}

static bool has_funcs(const struct bbs_report *r)
{
	for (int i = 0; i < MAX_FUNCS; i++)
		if (r->func[i].name[0])
			return true;
	return r->nr_func_off > 0;
}

/* "func:NAME", the function phase's name everywhere. */
static const char *func_phase(const struct bbs_report *r, int slot, char *buf, size_t len)
{
	snprintf(buf, len, "func:%s", slot < MAX_FUNCS ? r->func[slot].name : "?");
	return buf;
}

/* Function phases: per filesystem, a row per function and operation, total then self. */
static void print_funcs(FILE *f, const struct bbs_report *r, const struct bbs_print_opts *o)
{
	double div = o->ms ? 1e6 : 1e3;
	char fs[256], name[BBS_FUNC_NAME + 8];
	uint32_t cur = ~0U;

	for (size_t i = 0; i < r->nr_funcs; i++) {
		const struct bbs_func_data *fd = &r->funcs[i];

		if (!fd->total.count)
			continue;
		if (fd->fs != cur) {
			cur = fd->fs;
			fprintf(f,
				"%s functions:\n    %-32s %-7s %8s %10s %10s %10s %10s %10s  "
				"(%s)\n",
				bbs_fs_name(fd->fs, fs, sizeof(fs)), "phase", "under", "calls",
				"mean", "p50", "p99", "max", "self p50", o->ms ? "msecs" : "usecs");
		}
		fprintf(f, "    %-32s %-7s %8llu %10.1f %10.1f %10.1f %10.1f %10.1f\n",
			func_phase(r, fd->slot, name, sizeof(name)), bbs_under_name[fd->under],
			(unsigned long long)fd->total.count,
			(double)fd->total.sum_ns / fd->total.count / div,
			bbs_hist_percentile(&fd->total, 0.50) / div,
			bbs_hist_percentile(&fd->total, 0.99) / div, fd->total.max_ns / div,
			bbs_hist_percentile(&fd->self, 0.50) / div);
	}
	for (int i = 0; i < MAX_FUNCS; i++) {
		bool seen = false;

		for (size_t j = 0; j < r->nr_funcs && !seen; j++)
			seen = r->funcs[j].slot == i && r->funcs[j].total.count;
		if (r->func[i].name[0] && !seen)
			fprintf(f, "    func:%-27s no calls (%s)\n", r->func[i].name,
				r->func[i].attach);
	}
	for (int i = 0; i < r->nr_func_off; i++)
		fprintf(f, "    func:%-27s not traced: %s\n", r->func_off[i].name,
			r->func_off[i].why);
	fputc('\n', f);
}

void bbs_report_print(FILE *f, const struct bbs_report *r, const struct bbs_print_opts *o)
{
	uint64_t lost = bbs_report_lost(r);

	if (r->sample)
		fprintf(f, "sampled: one bio in %u followed, counts and bytes scaled by %u\n",
			r->sample, r->sample);
	if (!r->nr_groups)
		fprintf(f, "no btrfs bios in this interval\n");
	for (size_t i = 0; i < r->nr_groups; i++) {
		print_group(f, r, &r->groups[i], o);
		fputc('\n', f);
	}
	if (has_funcs(r))
		print_funcs(f, r, o);
	if (r->skipped_runs)
		fprintf(f,
			"skipped: the kernel skipped %llu runs of bbscope's programs "
			"(recursion_misses:\n"
			"  still running on that CPU); the bios they would have seen are missing "
			"or\n"
			"  partly timed\n",
			(unsigned long long)r->skipped_runs);
	if (lost) {
		fprintf(f, "lost: %llu (", (unsigned long long)lost);
		for (int i = 0; i < NR_LOST_BPF; i++)
			if (r->lost[i])
				fprintf(f, "%s %llu, ", bbs_lost_name[i],
					(unsigned long long)r->lost[i]);
		fprintf(f, "evicted %llu)\n", (unsigned long long)r->evicted);
	}
}

void bbs_report_cost_total(const struct bbs_report *r, uint64_t *runs, uint64_t *ns)
{
	*runs = *ns = 0;
	for (size_t i = 0; i < r->nr_prog_cost; i++) {
		*runs += r->prog_cost[i].runs;
		*ns += r->prog_cost[i].ns;
	}
}

void bbs_report_print_cost(FILE *f, const struct bbs_report *r)
{
	uint64_t runs, ns;

	if (!r->cost_measured) {
		fprintf(f, "bpf cost: not measured (%s)\n", r->cost_why ? r->cost_why : "unknown");
		return;
	}
	bbs_report_cost_total(r, &runs, &ns);
	fprintf(f, "bpf cost: %.3f ms CPU in %llu program runs (%.0f ns per run)\n", ns / 1e6,
		(unsigned long long)runs, runs ? (double)ns / runs : 0.0);
}

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
				    json_pack("{s:I,s:f}", "runs", (json_int_t)r->prog_cost[i].runs,
					      "seconds", r->prog_cost[i].ns / 1e9));
	bbs_report_cost_total(r, &runs, &ns);
	o = json_pack("{s:b,s:I,s:f,s:o}", "measured", 1, "runs", (json_int_t)runs, "seconds",
		      ns / 1e9, "progs", progs);
	return o;
}

/* ---- JSON ---- */

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
			json_object_set_new(phases, bbs_phase_name[p],
					    bbs_phase_json(&gd->phases[p], group_why(r, gd, p)));
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
	if (o && (bbs_json_set_str(o, "fs", group_fs(r, gd, fs, sizeof(fs))) ||
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
			      func_phase(r, fd->slot, name, sizeof(name)), "fs", json_null(),
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
	if (o && has_funcs(r) && funcs_json(r, o)) {
		json_decref(o);
		return NULL;
	}
	if (o &&
	    json_object_set_new(o, "skipped_runs", json_integer((json_int_t)r->skipped_runs))) {
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
