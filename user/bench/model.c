// SPDX-License-Identifier: GPL-2.0
/* The async_csum series' model (bench/model.h), and m and c measured for it. */
#include <math.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>

#include "bench/internal.h"
#include "bench/model.h"
#include "btrfs/simd.h"
#include "host/machine.h"
#include "host/stats.h"
#include "host/util.h"

const char bbs_model_formula[] = "serial 1/(1/m+1/c+1/d), async 1/(1/m+max(1/c,1/d)); "
				 "m mem_bps, c csum_bps, d dev_bps";

void bbs_model_predict(struct bbs_model *m)
{
	double mem = 1 / m->mem_bps, c = 1 / m->csum_bps, d = 1 / m->dev_bps;

	m->serial_bps = 1 / (mem + c + d);
	m->async_bps = 1 / (mem + fmax(c, d));
	m->speedup = m->async_bps / m->serial_bps;
}

/* ---- m and c: one core, cold, in this process ---- */

/*
 * The method of tools/csum_perf's cold trials, on a smaller buffer (8 LLCs,
 * 256 MiB to 1 GiB): each 4 KiB block of the buffer copied into one
 * L1-resident block (memcpy: the rate memory feeds a reader), or checksummed
 * with bbs_csum_blocks() 64 KiB a call, continuing where the last trial
 * stopped, so what a trial reads was last touched a whole buffer ago.
 */
#define BW_BLOCK 4096
#define BW_CALL 65536
#define BW_TRIALS 5

int bench_bw_init(struct bw *w)
{
	unsigned int level;
	size_t llc = bbs_llc_size(&level);

	w->len = 8 * (llc ? llc : 32 << 20);
	if (w->len < (256U << 20))
		w->len = 256U << 20;
	if (w->len > (1U << 30))
		w->len = 1U << 30;
	w->len -= w->len % BW_CALL;
	w->pos = 0;
	w->buf = mmap(NULL, w->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w->buf == MAP_FAILED) {
		w->buf = NULL;
		return -1;
	}
	for (size_t i = 0; i < w->len; i += 8) {
		uint64_t v = (i >> 3) * 0x9e3779b97f4a7c15ULL;

		memcpy(w->buf + i, &v, 8);
	}
	return 0;
}

/* One pass over the buffer: bytes a second.  csum < 0: memcpy. */
static double bw_trial(struct bw *w, int csum)
{
	static uint8_t l1[BW_BLOCK] __attribute__((aligned(64)));
	uint8_t out[BW_CALL / BW_BLOCK * BBS_CSUM_MAX];
	uint64_t t0 = bbs_now_ns();

	for (size_t done = 0; done < w->len; done += BW_CALL) {
		uint8_t *p = w->buf + w->pos;

		if (csum < 0) {
			for (size_t off = 0; off < BW_CALL; off += BW_BLOCK) {
				memcpy(l1, p + off, BW_BLOCK);
				__asm__ volatile("" : : "r"(l1) : "memory");
			}
		} else {
			bbs_csum_blocks(csum, p, BW_CALL, BW_BLOCK, out);
			__asm__ volatile("" : : "r"(out) : "memory");
		}
		w->pos = (w->pos + BW_CALL) % w->len;
	}
	return w->len / ((bbs_now_ns() - t0 + 1) / 1e9);
}

/* Median of BW_TRIALS alternating trials of each, pinned to the current CPU. */
void bench_bw_measure(struct bw *w, enum bbs_csum_type algo, double *m, double *c)
{
	double tm[BW_TRIALS], tc[BW_TRIALS];
	cpu_set_t old, one;
	int cpu = sched_getcpu();
	bool pinned = false;

	if (cpu >= 0 && !sched_getaffinity(0, sizeof(old), &old)) {
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		pinned = !sched_setaffinity(0, sizeof(one), &one);
	}
	bbs_avx_upper_clear();
	for (int i = 0; i < BW_TRIALS; i++) {
		tm[i] = bw_trial(w, -1);
		tc[i] = bw_trial(w, algo);
	}
	if (pinned)
		sched_setaffinity(0, sizeof(old), &old);
	*m = bbs_median(tm, BW_TRIALS);
	*c = bbs_median(tc, BW_TRIALS);
}
