/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The tracer's user-space half: resolve btrfs symbols, load the BPF object,
 * attach each tracepoint (tp_btf, else raw_tp), and drain the in-kernel
 * histograms one interval at a time.  `hist` and `record` both drive it.
 */
#ifndef BBS_TRACE_H
#define BBS_TRACE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "model/report.h"

struct bbs_tracer;
struct bbs_kernel;

struct bbs_tracer_opts {
	uint32_t filter_fs; /* btrfs s_dev (kernel encoding), 0 = all */
	uint32_t filter_dev; /* bd_dev, 0 = all */
	bool emit_events; /* record mode: one ring buffer record per bio */
	uint32_t sample; /* --sample N: follow one bio in N (0 or 1: every bio) */
	uint32_t ringbuf_mb; /* ring buffer size in record mode */
	uint64_t evict_after_ns; /* in-flight state older than this is evicted */
	bool verbose; /* libbpf messages and attach details on stderr */
	bool quiet; /* no warnings about tracepoints missing (bbscope features) */
	/* --func: functions or presets to time (trace/funcs.h) */
	const char *const *funcs;
	int nr_funcs;
	/* record mode: called for every ring buffer record */
	int (*on_event)(void *ctx, void *data, size_t len);
	void *event_ctx;
};

/* 0 on success; on failure prints one line and returns a negative errno. */
int bbs_tracer_open(struct bbs_tracer **out, const struct bbs_tracer_opts *o);
void bbs_tracer_close(struct bbs_tracer *t);

/* Names of the tracepoints attached, and why the missing ones are missing. */
void bbs_tracer_describe(struct bbs_tracer *t, FILE *f);
/* Why each phase cannot be seen on this kernel, per op (enum bbs_why; 0: it can). */
void bbs_tracer_phase_why(const struct bbs_tracer *t, uint8_t why[BBS_NR_OPS][NR_PHASES]);
/* One tracepoint the tracer knows (i < bbs_tracer_nr_tps()). */
struct bbs_tp_info {
	const char *name;
	const char *attach; /* "tp_btf", "raw_tp", NULL when not used */
	const char *as; /* the tracepoint attached when it has another name here, or NULL */
	bool attached; /* attached now (some are attached only once needed) */
	const char *why; /* why it is not used, or why not attached yet */
};
size_t bbs_tracer_nr_tps(void);
void bbs_tracer_tp(const struct bbs_tracer *t, size_t i, struct bbs_tp_info *out);
/* Does the tracer read contexts from the preempt count (else irq tracepoints)? */
bool bbs_tracer_ctx_from_preempt_count(const struct bbs_tracer *t);
/* The ops (bit per enum bbs_op) whose end_io of end_io function fn runs as a work item. */
uint8_t bbs_tracer_work_ops(const struct bbs_tracer *t, int fn);
/* Why the raw_tp attach type is used (NULL with tp_btf). */
const char *bbs_tracer_attach_why(const struct bbs_tracer *t);
/*
 * The attach type of the programs loaded, "tp_btf" or "raw_tp" (BBSCOPE_ATTACH;
 * features JSON "programs", the trace header's "tracer").
 */
const char *bbs_tracer_attach_type(const struct bbs_tracer *t);
/* What the kernel is and allows (the btrfs functions found, by enum bbs_fn: kernel.h). */
const struct bbs_kernel *bbs_tracer_kernel(const struct bbs_tracer *t);
/* Each tracepoint's attach type ("tp_btf", "raw_tp", or NULL: not attached). */
const char *bbs_tracer_attach_kind(struct bbs_tracer *t, const char *tp);

/*
 * Close the current interval: switch BPF to the other buffer, then move
 * everything accounted in the closed one into r (which is reset first).
 * Also evicts in-flight state older than evict_after_ns.
 */
int bbs_tracer_drain(struct bbs_tracer *t, struct bbs_report *r);

/*
 * Housekeeping, once a second: evict in-flight state older than
 * evict_after_ns (counted as lost at the next drain) and forget the
 * per-device cache (a device may be reformatted under a running tracer).
 */
void bbs_tracer_tick(struct bbs_tracer *t);

/* Record mode: consume ring buffer records for up to timeout_ms. */
int bbs_tracer_poll(struct bbs_tracer *t, int timeout_ms);
/* Cumulative lost counters per CPU (record mode writes them to the file). */
int bbs_tracer_lost_percpu(struct bbs_tracer *t, uint64_t *out, int ncpus);

#endif
