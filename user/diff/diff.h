/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bbscope diff: two runs side by side, each change with its uncertainty.
 *
 * A side is a recording (`record`: every bio's and span's latency), a
 * histogram document (`hist --json`, `report --json`: the buckets, each a
 * weight at its midpoint) or a bench result (`bench --json`: one
 * throughput per round).  Both sides are of one kind.
 *
 * Groups are matched by op and kind, and by device name where both sides
 * have the same devices (across kernels or machines dev_t and fsid differ,
 * so they are never matched on).  For each group and phase: count, p50,
 * p90, p99 of each side, the change of each quantile in percent with a
 * bootstrap interval (diff/stats.h), and a rank test's p-value; verdicts
 * from the primary tests, adjusted together (bbs_diff_opts): a change with
 * an adjusted p >= alpha is "~", not significant.
 */
#ifndef BBS_DIFF_DIFF_H
#define BBS_DIFF_DIFF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "bbscope.h"
#include "diff/stats.h"

enum bbs_diff_kind {
	BBS_DIFF_RECORDING,
	BBS_DIFF_HIST, /* hist --json or report --json */
	BBS_DIFF_BENCH,
};
extern const char *const bbs_diff_kind_name[]; /* JSON "kind" */
extern const char *const bbs_diff_kind_phrase[]; /* in a sentence */

#define BBS_DIFF_NQ 3 /* p50, p90, p99 */
extern const double bbs_diff_q[BBS_DIFF_NQ];
extern const char *const bbs_diff_q_name[BBS_DIFF_NQ];

/* One group of one side, as loaded. */
struct bbs_diff_group {
	char dev[64]; /* "" for a filesystem group; "*" when devices were merged */
	uint8_t op, kind;
	struct bbs_samples ph[NR_PHASES];
	uint64_t complete_ctx[NR_CTX], endio_ctx[NR_CTX];
	uint64_t bios, bytes;
	struct bbs_samples size; /* bytes of each bio (recordings only) */
	uint8_t why[NR_PHASES]; /* enum bbs_why: a phase this group cannot have (model/hist.h) */
};

/* One throughput of a bench result: the kernel's, or a replay mode's. */
struct bbs_diff_row {
	char name[32];
	struct bbs_samples rounds; /* bytes a second, one per round */
};

/* One input file of a side: a run. */
struct bbs_diff_run {
	const char *path;
	struct bbs_diff_group *g;
	size_t ng;
	double seconds; /* what its groups cover (0: unknown) */
	/* Who it is: each run counts once (bbs_diff_run refuses it twice). */
	uint64_t st_dev, st_ino; /* the file */
	uint64_t id; /* a recording: a hash of its header; JSON: of its bytes */
};

/*
 * A side: one file, or several runs of the same thing (`diff A1 A2 vs B1
 * B2`).  With two runs or more on both sides, each run is one value of
 * the tests (its quantile, its share, its throughput): the variation
 * between runs is what a change must stand out from.  With one run a side
 * the tests can only use the bios, which vary less inside a run than runs
 * vary on a busy machine.
 */
struct bbs_diff_side {
	enum bbs_diff_kind kind;
	const char *path; /* the first file */
	char kernel[65], host[128]; /* the first file's; "" when it does not say */
	struct bbs_diff_run *runs;
	size_t nruns;
	struct bbs_diff_row *rows; /* bench results: every file's rounds, pooled */
	size_t nrows;
	char warning[256]; /* what a reader warned of (a recording without trailer) */
};

/*
 * Read the n files of paths into s (each a run, all of one kind).  0; or -1
 * with a one-line reason in err: not readable, empty, truncated or corrupt,
 * of no kind, or of another kind than the side's first file.
 */
int bbs_diff_load(struct bbs_diff_side *s, char *const *paths, int n, char *err, size_t errlen);
void bbs_diff_side_free(struct bbs_diff_side *s);

/* ---- the comparison ---- */

struct bbs_diff_phase {
	int phase;
	double na, nb; /* samples (bios, spans) */
	unsigned runs_a, runs_b; /* runs with samples */
	bool by_run; /* the tests' values are runs (two or more a side), not bios */
	bool compared; /* both sides have samples */
	struct bbs_qchange q[BBS_DIFF_NQ];
	double p; /* by run: the permutation p of the runs' p50 (exact Mann-Whitney); by bio: Mann-Whitney */
	double p_adj; /* p adjusted over the primary tests (NAN for an exploratory one) */
	bool primary; /* device and total of a device group: one of the tests that give verdicts */
	bool significant; /* p_adj < alpha */
	bool too_few; /* the fewest p the run counts allow is at or above alpha */
	uint8_t why_a, why_b; /* enum bbs_why: why a side cannot have the phase (0: it can) */
};

struct bbs_diff_pair {
	char dev[64];
	uint8_t op, kind;
	int only; /* 0 both sides, 1 only A, 2 only B */
	struct bbs_diff_phase ph[NR_PHASES];
	int nph;
	/* Context shares: counts of each side, and a chi-square p for a change. */
	uint64_t complete_a[NR_CTX], complete_b[NR_CTX], endio_a[NR_CTX], endio_b[NR_CTX];
	double complete_p, endio_p, complete_p_adj, endio_p_adj;
	bool complete_too_few, endio_too_few;
	bool by_run; /* contexts, bytes per bio, throughput: one value a run */
	/* Throughput: bytes a second over the runs' length (by run: median, interval, p). */
	struct bbs_qchange tput;
	double tput_p, tput_p_adj;
	double bpb_a, bpb_b; /* bytes per bio */
	double bpb_p, bpb_p_adj; /* rank test of the bio sizes; NAN without per-bio sizes */
};

struct bbs_diff_rowcmp {
	char name[32];
	int only;
	double na, nb;
	struct bbs_qchange med;
	double p, p_adj;
	bool significant, verdict; /* verdict: both sides have more than one round */
};

struct bbs_diff_opts {
	double alpha; /* default 0.05 */
	unsigned draws; /* bootstrap draws, default 2000 */
	/*
	 * A diff makes many tests at once.  The primary ones (each device
	 * group's device and total p50 and its two context shares; a bench
	 * result's rows) give the verdicts, adjusted among themselves so that
	 * alpha bounds the chance of calling any unchanged one changed: by run,
	 * Westfall-Young step-down min-P over relabellings of the runs (exact
	 * by enumeration up to BBS_DIFF_PERM_MAX, sampled beyond), which knows
	 * that device and total, or a group and the next, move together; by
	 * bio or round, Holm.  The rest (queue, hop, end_io, the filesystem's
	 * spans, bytes per bio, throughput) are exploratory: their own p, no
	 * verdict.  no_adjust: every test on its own, as benchstat does.
	 */
	bool no_adjust;
	unsigned tests; /* set by bbs_diff_run: how many primary tests were adjusted */
	unsigned perms; /* set by bbs_diff_run: relabellings used (0: Holm) */
	bool perms_exact; /* every relabelling, not a sample */
};

#define BBS_DIFF_PERM_MAX 20000 /* relabellings enumerated; more are sampled */
#define BBS_DIFF_PERM_DRAWS 10000 /* relabellings drawn when sampled */

struct bbs_diff_test; /* one test's per-run values (diff.c) */

struct bbs_diff {
	const struct bbs_diff_side *a, *b;
	struct bbs_diff_opts o;
	bool by_dev; /* both sides have the same devices */
	bool by_run; /* both sides have two runs or more */
	bool other_kernel, other_host;
	struct bbs_diff_pair *pairs;
	size_t npairs;
	struct bbs_diff_rowcmp *rows;
	size_t nrows;
	struct bbs_diff_test *tests; /* by run: every test's values, for the relabellings */
	size_t ntests;
};

/*
 * Compare a and b (of one kind; -1 with err otherwise).  0, or -1 with a
 * one-line reason.
 */
int bbs_diff_run(struct bbs_diff *d, struct bbs_diff_side *a, struct bbs_diff_side *b,
		 const struct bbs_diff_opts *o, char *err, size_t errlen);
void bbs_diff_free(struct bbs_diff *d);

/* ---- printing (diff/print.c) ---- */

void bbs_diff_text(FILE *f, const struct bbs_diff *d);
/* docs/json.md, "bbscope diff --json".  NULL if it cannot be built. */
json_t *bbs_diff_json(const struct bbs_diff *d);
/* One self-contained page (render/html.h; force: over an existing file).  0, or -errno with why. */
int bbs_diff_html(const struct bbs_diff *d, const char *path, bool force, char *why, size_t whylen);

#endif
