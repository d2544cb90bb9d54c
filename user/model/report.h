/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The report: per-phase latency histograms grouped by fs/dev/op/kind, with
 * what was lost, what bbscope's programs cost and the function phases.  The
 * one model behind `bbscope hist`, `report`, `replay` and `diff`; render/
 * prints it (render/report.h: text and the JSON of docs/json.md).
 */
#ifndef BBS_MODEL_REPORT_H
#define BBS_MODEL_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/hist.h"

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
	uint64_t skipped_runs; /* its own recursion_misses, made up for or not */
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
	/*
	 * Runs of a tracepoint's copy (7.x: its second program, attached where
	 * tracepoints are preemptible) that acted: its first was skipped, and
	 * the copy made the run up.  Where a copy is attached only the copy's
	 * skips count in skipped_runs.
	 */
	uint64_t rescued_runs;
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
/* The function phase of (fs, slot, under), added empty if new; NULL on ENOMEM. */
struct bbs_func_data *bbs_report_func(struct bbs_report *r, uint32_t fs, int slot, int under);
/* Does r have function phases (traced, or asked for and not traced)? */
bool bbs_report_has_funcs(const struct bbs_report *r);
/* "func:NAME", the function phase's name everywhere. */
const char *bbs_func_phase(const struct bbs_report *r, int slot, char *buf, size_t len);
/* Why a group's phase has no samples (enum bbs_why). */
int bbs_group_why(const struct bbs_report *r, const struct bbs_group_data *gd, int p);
/* Add r's function phases into total (and take its function list). */
void bbs_report_merge_funcs(struct bbs_report *total, const struct bbs_report *r);
/* Add r into total: counts, histograms, workqueues, lost (cumulative views). */
void bbs_report_merge(struct bbs_report *total, const struct bbs_report *r);
/* Order groups by fs, then device, op, kind, so output is stable. */
void bbs_report_sort(struct bbs_report *r);
/* --sample N: scale r's counts, bytes and histogram counts by N (not max). */
void bbs_report_scale(struct bbs_report *r, uint32_t n);
/* bbscope's own BPF cost: its totals, a line of text, the JSON object "bpf_cost". */
void bbs_report_merge_cost(struct bbs_report *total, const struct bbs_report *r);
void bbs_report_cost_total(const struct bbs_report *r, uint64_t *runs, uint64_t *ns);

#endif
