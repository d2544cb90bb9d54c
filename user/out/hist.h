/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Per-phase latency histograms, grouped by fs/dev/op/kind: the one model
 * behind `bbscope hist`, `report` and `replay` output, and its two printers
 * (plain text with biolatency-style stars, and JSON).  docs/json.md is the
 * schema this file writes.
 */
#ifndef BBS_HIST_H
#define BBS_HIST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "bbscope.h"

extern const char *const bbs_phase_name[NR_PHASES];
extern const char *const bbs_op_name[BBS_NR_OPS];
extern const char *const bbs_kind_name[NR_KINDS];
extern const char *const bbs_ctx_name[NR_CTX];
extern const char *const bbs_lost_name[NR_LOST_BPF];

/* Phases that belong to one device's bios, and those that belong to the fs. */
static inline bool bbs_phase_is_device(int phase)
{
	return phase <= PHASE_TOTAL;
}

int bbs_phase_parse(const char *name);

/* Does a phase exist for an op?  ordered and rmw are writes', recover reads'. */
static inline bool bbs_phase_has_op(int phase, int op)
{
	if (phase == PHASE_ORDERED || phase == PHASE_RMW)
		return op == BBS_OP_WRITE;
	if (phase == PHASE_RECOVER)
		return op == BBS_OP_READ;
	return true;
}

/*
 * Why a phase has no samples, where bbscope knows (the JSON "reason" and
 * "detail", docs/json.md).  The tracer sets it per op and phase when it
 * starts, from what the kernel has (user/host/kernel.h).
 */
enum bbs_why {
	WHY_NONE, /* observable: no samples means none happened */
	WHY_NO_TRACEPOINT, /* a tracepoint it needs is not in this kernel or did not attach */
	WHY_ENDIO_INLINE, /* this kernel runs the btrfs end_io inline at the bio's completion */
	WHY_NO_BTRFS_BTF, /* btrfs has no BTF here: its work items cannot be read */
	WHY_NO_FUNCTION, /* this kernel has no function it is seen through */
	WHY_CSUM_IN_ENDIO, /* read checksums are verified inside the read end_io */
	WHY_CSUM_INLINE, /* observable, none seen: checksums ran inline in the submitter */
	WHY_BIO_BASED, /* queue of a bio-based device: no request, so no issue to end it */
	NR_WHY,
};

extern const char *const bbs_why_name[NR_WHY];
extern const char *const bbs_why_detail[NR_WHY];

/* Slot arithmetic, the inverse of the BPF side's hist_slot(). */
uint32_t bbs_hist_slot(uint64_t v);
uint64_t bbs_hist_slot_lo(uint32_t slot);
uint64_t bbs_hist_slot_hi(uint32_t slot); /* exclusive */

void bbs_hist_add(struct bbs_hist *h, uint64_t v);
void bbs_hist_merge(struct bbs_hist *dst, const struct bbs_hist *src);
/* p in [0, 1]; interpolated inside the bucket, never above max_ns. */
uint64_t bbs_hist_percentile(const struct bbs_hist *h, double p);

#define BBS_MAX_WQS 8
struct bbs_wq_count {
	char name[WQ_NAME_LEN];
	uint64_t count;
};

struct bbs_group_data {
	struct bbs_group g; /* epoch unused */
	struct bbs_stats stats;
	struct bbs_hist phases[NR_PHASES];
	struct bbs_wq_count wqs[BBS_MAX_WQS];
	int nr_wqs;
};

/*
 * Function phases (hist --func, bbscope.h): one slot per traced function,
 * the same all run long; the functions asked for but not traced, and why;
 * and per filesystem, function and the raid56 operation each call ran
 * under (enum bbs_under), the calls' total and self times.  The phase's
 * name is "func:" and the function's, everywhere.
 */
#define BBS_FUNC_NAME 64
#define BBS_MAX_FUNC_OFF 32
extern const char *const bbs_under_name[NR_UNDER];

struct bbs_func_info {
	char name[BBS_FUNC_NAME]; /* "" when the slot is unused */
	char attach[12]; /* "fentry" or "kprobe" */
};

struct bbs_func_off {
	char name[BBS_FUNC_NAME];
	char why[96];
};

struct bbs_func_data {
	uint32_t fs;
	uint8_t slot; /* < MAX_FUNCS */
	uint8_t under; /* enum bbs_under */
	struct bbs_hist total, self;
};

/* One interval (hist), one whole file (report) or one run (replay). */
/*
 * What bbscope's own BPF programs cost (kernel bpf_stats: run_time_ns,
 * run_cnt), per program role (the tracepoint's name), over the report.
 */
#define BBS_MAX_PROG_COST 32
struct bbs_prog_cost {
	char name[48];
	uint64_t runs, ns;
};

struct bbs_report {
	double interval_s;
	/* --sample N: one bio in N was followed, counts scaled by N (0: all) */
	uint32_t sample;
	/* BPF cost: measured (bpf_stats on while tracing), else cost_why says why not. */
	bool cost_measured;
	const char *cost_why;
	struct bbs_prog_cost prog_cost[BBS_MAX_PROG_COST];
	size_t nr_prog_cost;
	/* Names the fs of every group when set (replay: the target path). */
	const char *fs_label;
	uint64_t lost[NR_LOST_BPF];
	uint64_t evicted;
	/*
	 * Runs of bbscope's programs the kernel skipped (bpf_prog_info's
	 * recursion_misses: the program was still running on that CPU, as on
	 * 7.x's raw tracepoints): the bios they would have seen are missing
	 * or partly timed, and no other counter knows it.
	 */
	uint64_t skipped_runs;
	uint8_t phase_why[BBS_NR_OPS][NR_PHASES]; /* enum bbs_why */
	struct bbs_group_data *groups;
	size_t nr_groups, cap_groups;
	struct bbs_func_info func[MAX_FUNCS];
	struct bbs_func_off func_off[BBS_MAX_FUNC_OFF];
	int nr_func_off;
	struct bbs_func_data *funcs;
	size_t nr_funcs, cap_funcs;
};

void bbs_report_init(struct bbs_report *r);
void bbs_report_reset(struct bbs_report *r); /* empty it, keep the allocation */
void bbs_report_free(struct bbs_report *r);
/* Find the group (epoch ignored) or add an empty one; NULL on ENOMEM. */
struct bbs_group_data *bbs_report_group(struct bbs_report *r, const struct bbs_group *g);
void bbs_group_add_wq(struct bbs_group_data *gd, const char *name, uint64_t count);
uint64_t bbs_report_lost(const struct bbs_report *r);
/*
 * The function phase of (fs, slot, under), added empty if new; NULL on ENOMEM.
 * Inline: the trace reader (trace/tracefile.c) uses it too, and is built
 * alone for the fuzzer.
 */
static inline struct bbs_func_data *bbs_report_func(struct bbs_report *r, uint32_t fs, int slot,
						    int under)
{
	struct bbs_func_data *fd;

	for (size_t i = 0; i < r->nr_funcs; i++)
		if (r->funcs[i].fs == fs && r->funcs[i].slot == slot && r->funcs[i].under == under)
			return &r->funcs[i];
	if (r->nr_funcs == r->cap_funcs) {
		size_t cap = r->cap_funcs ? 2 * r->cap_funcs : 16;

		fd = realloc(r->funcs, cap * sizeof(*fd));
		if (!fd)
			return NULL;
		r->funcs = fd;
		r->cap_funcs = cap;
	}
	fd = &r->funcs[r->nr_funcs++];
	memset(fd, 0, sizeof(*fd));
	fd->fs = fs;
	fd->slot = slot;
	fd->under = under;
	return fd;
}
/* Add r's function phases into total (and take its function list). */
void bbs_report_merge_funcs(struct bbs_report *total, const struct bbs_report *r);
/* Add r into total: counts, histograms, workqueues, lost (cumulative views). */
void bbs_report_merge(struct bbs_report *total, const struct bbs_report *r);
/* Order groups by fs, then device, op, kind, so output is stable. */
void bbs_report_sort(struct bbs_report *r);

struct bbs_print_opts {
	bool ms; /* milliseconds instead of microseconds */
	bool summary; /* the table only, no star histograms */
};

void bbs_report_print(FILE *f, const struct bbs_report *r, const struct bbs_print_opts *o);
/* The JSON object of docs/json.md; the caller adds its own keys and frees it. */
json_t *bbs_report_json(const struct bbs_report *r);
/* --sample N: scale r's counts, bytes and histogram counts by N (not max). */
void bbs_report_scale(struct bbs_report *r, uint32_t n);
/* bbscope's own BPF cost: its totals, a line of text, the JSON object "bpf_cost". */
void bbs_report_merge_cost(struct bbs_report *total, const struct bbs_report *r);
void bbs_report_cost_total(const struct bbs_report *r, uint64_t *runs, uint64_t *ns);
void bbs_report_print_cost(FILE *f, const struct bbs_report *r);
json_t *bbs_report_cost_json(const struct bbs_report *r);
/* A phase's JSON: its histogram, or {"observable": false} and why (enum bbs_why). */
json_t *bbs_phase_json(const struct bbs_hist *h, int why);

#endif
