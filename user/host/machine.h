/* SPDX-License-Identifier: GPL-2.0 */
/* What machine a benchmark ran on: every *_perf tool and bench JSON says so. */
#ifndef BBS_MACHINE_H
#define BBS_MACHINE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* "model name" from /proc/cpuinfo, "unknown" if absent. */
void bbs_cpu_model(char *buf, size_t len);
/* Size in bytes of cpu0's highest-level data or unified cache; 0 if unknown. */
size_t bbs_llc_size(unsigned int *level);
/* MemAvailable of /proc/meminfo in bytes: what can be used without swapping; 0 if unknown. */
uint64_t bbs_mem_available(void);
/*
 * A thread's scheduler statistics, /proc/.../schedstat (kernel
 * CONFIG_SCHED_INFO): time on a CPU, time runnable but waiting on a run
 * queue, and the timeslices it ran, summed since the thread began.
 */
struct bbs_sched {
	uint64_t run_ns, runq_ns, slices;
};
/* Read the calling thread's (tid 0) or this process's thread tid's: 0, or -1 (unknown). */
int bbs_sched_read(int tid, struct bbs_sched *s);
/* The CPUs this thread may run on (sched_getaffinity), at least 1. */
unsigned int bbs_cpus_allowed(void);
/*
 * Time the machine's CPUs spent idle so far (idle and iowait of /proc/stat,
 * summed over them; in USER_HZ units there, 10 ms): ns, 0 unknown.
 */
uint64_t bbs_machine_idle_ns(void);

/* {"cpu", "cores", "llc_bytes", "llc_level", "kernel"}: the caller owns it. */
json_t *bbs_machine_json(void);

#endif
