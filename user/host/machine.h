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
/* {"cpu", "cores", "llc_bytes", "llc_level", "kernel"}: the caller owns it. */
json_t *bbs_machine_json(void);

#endif
