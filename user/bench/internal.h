/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What bench's files share: the state of a run and the functions one file
 * gives the others.
 *
 *   bench.c    the run: prepare, bring up, rounds, results, tear down
 *   child.c    this binary and other programs as children, their output
 *   store.c    where the data lives: tmpfs, a directory, or zram
 *   reap.c     what a run killed with SIGKILL left, removed by the next
 *   rounds.c   one round: the kernel recorded, then the replays
 *   model.c    m and c measured here, and the model's formula
 *   results.c  medians over the rounds, the table, the JSON, the notes
 *   page.c     the HTML page
 */
#ifndef BBS_BENCH_INTERNAL_H
#define BBS_BENCH_INTERNAL_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "bench/bench.h"
#include "host/jsonstr.h"

#define MIN_DEV_SIZE (1ULL << 30)
/* Every directory a run makes is <parent>/RUN_PREFIX<pid>.XXXXXX. */
#define RUN_PREFIX "bbscope-bench."
/* In every child's environment: what a killed run's children still carry. */
#define RUN_ENV "BBSCOPE_BENCH_PID"
#define REAP_WAIT_TRIES 100 /* 100 ms apart: for a killed run's children to go */

/* The rows of the table, in the order each round runs them. */
enum row {
	ROW_KERNEL,
	ROW_NONE,
	ROW_SERIAL,
	ROW_ASYNC,
	ROW_OFFLOAD,
	ROW_STEP,
	ROW_BATCHED,
	NR_ROWS
};
extern const char *const bench_row_name[NR_ROWS];
#define ROW_IS_PARITY(r) ((r) >= ROW_STEP)

/* The medians over the rounds, and the model's predictions from them. */
struct results {
	json_t *rows[NR_ROWS]; /* aggregated; NULL when the row did not run */
	json_t *model;
	double speedup, speedup_lo, speedup_hi;
	double pred_serial, pred_async, predicted;
};

/*
 * A point of the sweep: the four csum replays at one queue depth and
 * checksum.  Point 0 is the table's rows (samples[ROW_NONE..ROW_OFFLOAD]).
 */
#define NR_SHAPES 4 /* none, serial, async, offload: ROW_NONE + shape */
#define MAX_POINTS (BBS_BENCH_MAX_SWEEP * BBS_BENCH_MAX_SWEEP)
struct point {
	unsigned int qd;
	enum bbs_csum_type algo;
	json_t *samples[NR_SHAPES]; /* arrays: one sample a round */
	json_t *bw; /* array: {mem_bps, csum_bps} a round, for the seed's model */
	json_t *rows[NR_SHAPES], *bw_med; /* medians */
	json_t *model; /* the predictions (docs/json.md "model.points") */
};

/* The kernel's writes one at a time, from the recording (rounds.c write_timeline()). */
struct bbs_kwrites {
	unsigned int n, nfront; /* writes with data bios; gaps between two of them */
	double front_ns, submit_ns, bio_ns, finish_ns; /* sums */
};

/* The buffer m and c are measured over (model.c). */
struct bw {
	uint8_t *buf;
	size_t len, pos;
};

struct bbs_bench {
	struct bbs_bench_opts o;
	char self[PATH_MAX]; /* this binary */
	char work[PATH_MAX / 4]; /* $TMPDIR/bbscope-bench.PID.XXXXXX: state, traces, outputs */
	char store[PATH_MAX / 2]; /* the data: sandbox backing files and replay targets */
	bool store_made; /* store is a directory we made (tmpfs, file) */
	int zram; /* the zram device hot-added for the run, -1 none */
	bool zram_mounted;
	char zram_mnt[PATH_MAX / 2];
	bool sandbox; /* `sandbox up` was run */
	char mnt[PATH_MAX]; /* the btrfs written to */
	char datadir[PATH_MAX]; /* where the workload's file goes */
	bool datadir_made; /* --fs: a directory of ours on it */
	char profile[16];
	enum bbs_csum_type algo;
	unsigned int ndevs;
	bool parity; /* the step and batched rows run */
	unsigned int parity_targets; /* for them: the recording's data strips + P (+ Q) */
	char out[PATH_MAX], err[PATH_MAX]; /* a child's stdout and stderr */
	char trace[PATH_MAX]; /* this round's recording */
	json_t *samples[NR_ROWS]; /* arrays: one sample object a round */
	json_t *model; /* array: {mem_bps, csum_bps, dev_bps, csum_pipeline_bps} a round */
	json_t *speedup; /* array: {measured_async_speedup} a round */
	json_t *last[NR_ROWS]; /* last round: merged full phase objects (histograms) */
	json_t *last_report; /* last round's `report --json` */
	json_t *notes;
	struct bw bw;
	struct results r;
	struct point pts[MAX_POINTS];
	unsigned int npts;
	json_t *kmodel; /* the kernel row's model */
	json_t *cross; /* each point predicted from another depth's terms: a summary */
	char *table; /* the text table */
};

/* ---- child.c ---- */

/* The signal that asked the run to stop, 0 while none has. */
extern volatile sig_atomic_t bench_stop_sig;
/* Passed on to the running child while set; cleared for the teardown. */
extern volatile sig_atomic_t bench_forward_sig;
/* SIGINT, SIGTERM and SIGHUP stop the run, and reach its child. */
void bench_catch_signals(void);

/*
 * Run argv in its own process group: this binary when self, else argv[0]
 * from PATH.  stdin is /dev/null, stdout goes to b->out, stderr to b->err
 * (both truncated).  The exit status, or 128 + the signal that killed it.
 */
int bench_child(struct bbs_bench *b, bool self, char **argv);
/* The last non-empty line the child wrote on stderr, without "bbscope: ". */
void bench_child_error(struct bbs_bench *b, char *buf, size_t len);
/*
 * This binary with args (NULL-terminated, without argv[0]) and its JSON
 * output.  NULL after saying why (or quietly, when interrupted).
 */
json_t *bench_child_json(struct bbs_bench *b, const char *what, const char **args);

/* ---- store.c ---- */

/* Where the store's directory goes (tmpfs, file), NULL for zram. */
const char *bench_store_parent(const struct bbs_bench *b);
/*
 * mkdtemp() dir/RUN_PREFIX<pid>.XXXXXX into buf (dir made absolute), and
 * link WORK/link to it: what the next run follows should this one be killed.
 */
int bench_run_dir(struct bbs_bench *b, const char *dir, char *buf, size_t len, const char *link);
/* The store of the --backing kind; zram_bytes sizes a zram device. */
int bench_store_up(struct bbs_bench *b, uint64_t zram_bytes);
/* Unmount and remove the zram device: 0, or -1 when it is left. */
int bench_zram_down(struct bbs_bench *b);
/* rm -r of a directory this run made: never crossing into another filesystem. */
void bench_rm_tree(const char *dir);

/* ---- reap.c ---- */

/*
 * Remove the directories in parent of runs whose process is gone (killed:
 * SIGKILL skips the teardown), never one of a live process.
 */
void bench_reap(struct bbs_bench *b, const char *parent);

/* ---- rounds.c ---- */

/* The workload once, unmeasured: the pages behind the loop devices exist before timing. */
int bench_warm_up(struct bbs_bench *b);
/* One round: the kernel recorded, the replays, m and c. */
int bench_round(struct bbs_bench *b, unsigned int round);

/* ---- model.c ---- */

int bench_bw_init(struct bw *w);
/* m and c: the median of alternating cold trials of memcpy and algo, pinned to this CPU. */
void bench_bw_measure(struct bw *w, enum bbs_csum_type algo, double *m, double *c);

/* ---- results.c ---- */

/* Median (and min, max) at a dotted path: "phases.device.p50_ns". */
double bench_stat(const json_t *o, const char *path, double *lo, double *hi);
const char *bench_row_label(int row);
bool bench_raid56(const struct bbs_bench *b);
struct bbs_pipe;
/* The pipeline model of shape k (ROW_NONE + k) at pt's median terms, at qd: true if predicted. */
bool bench_pipe_of(const struct point *pt, int k, unsigned int qd, struct bbs_pipe *p);
/* The medians, the model's predictions, the notes that explain them, the table. */
int bench_results(struct bbs_bench *b);
void bench_results_free(struct results *r);

/* ---- page.c ---- */

/* The page, at b->o.html: 0, or -1 with errno. */
int bench_page(const struct bbs_bench *b);

/* ---- bench.c ---- */

/* A line for the report's notes, and stderr now. */
void bench_note(struct bbs_bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
