/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The tracer's state, shared by its two halves: trace/tracer.c chooses,
 * loads and attaches the BPF programs; trace/drain.c drains what they
 * accounted, one epoch at a time, and sweeps what they left in flight.
 */
#ifndef BBS_TRACE_INTERNAL_H
#define BBS_TRACE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bbscope.skel.h"
#include "trace/funcs.h"
#include "trace/tracer.h"
#include "model/report.h"
#include "host/kernel.h"

/* The tracepoint roles of tracer.c's tps[] table. */
#define NR_TPS 17

struct tp_prog;

struct bbs_tracer {
	struct bbscope_bpf *skel;
	struct bbs_kernel k;
	bool btf; /* the tp_btf attach type is loaded (else raw_tp) */
	const char *attach_why; /* why raw_tp, when it is */
	struct table {
		void *base; /* the map, mmapped for the sweeper */
		size_t len, bucket_size, state_size;
		uint32_t *filter; /* bios under --sample: BPF's bio_filter */
	} bios, ordered, rbios;
	struct bpf_link *links[NR_TPS];
	/* tp_preempt: the tracepoint's second program (bbscope.bpf.c "Copies"), or NULL */
	struct bpf_link *copy_links[NR_TPS];
	struct bbs_func_plan funcs; /* --func */
	struct bpf_link *func_links[2 * MAX_FUNCS];
	const struct tp_prog *prog[NR_TPS]; /* the program chosen, NULL when none */
	const char *kind[NR_TPS]; /* "tp_btf", "raw_tp" or NULL */
	char why[NR_TPS][96]; /* reason a tracepoint is not attached */
	struct ring_buffer *rb;
	uint32_t unavailable; /* phases without their tracepoints */
	uint8_t tp_why[NR_TPS]; /* enum bbs_why of a tracepoint not attached */
	uint32_t epoch;
	uint64_t epoch_waits_timed_out; /* tp_preempt: drains that did not wait for every writer */
	uint64_t last_drain_ns;
	uint64_t evict_after_ns;
	uint64_t evicted; /* since the last drain */
	uint64_t lost_prev[NR_LOST_BPF];
	/* bpf_stats: the fd of bpf_enable_stats() (-1: the sysctl, or none) */
	int stats_fd;
	const char *cost_why; /* why the BPF cost cannot be measured, or NULL */
	uint64_t cost_runs_prev[NR_TPS], cost_ns_prev[NR_TPS];
	uint64_t skipped_prev[NR_TPS]; /* recursion_misses at the last drain */
	uint64_t copy_runs_prev[NR_TPS], copy_ns_prev[NR_TPS], copy_skipped_prev[NR_TPS];
	uint64_t rescued_prev; /* BPF's rescued_runs at the last drain */
	uint32_t filter_fs, filter_dev;
	uint32_t sample; /* --sample N, 0: every bio */
	int ncpus;
	bool verbose;
	bool record; /* record mode: emit_events */
	bool quiet;
};

/* tracer.c: what drain.c's tick and drain call back. */
void tracer_attach_on_demand(struct bbs_tracer *t);
void tracer_drain_cost(struct bbs_tracer *t, struct bbs_report *r);
void tracer_watch_skips(struct bbs_tracer *t);
/* drain.c: the in-flight tables, mmapped for the sweeper. */
int tracer_map_tables(struct bbs_tracer *t);
void tracer_unmap_tables(struct bbs_tracer *t);
/* drain.c: the histogram entries BPF would otherwise allocate in its handlers. */
void tracer_precreate(struct bbs_tracer *t);
/* drain.c: without btrfs BTF, tell BPF the filesystem of every btrfs device. */
void tracer_fill_devs(struct bbs_tracer *t);

#endif
