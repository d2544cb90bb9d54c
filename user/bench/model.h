/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The async_csum series' model of btrfs's data write path, from three
 * bandwidths of one core, in bytes a second:
 *
 *   m  memory: how fast it feeds a reader (a cold memcpy)
 *   c  checksum: the algorithm over cold data
 *   d  device: the write path without checksums
 *
 *   serial  1 / (1/m + 1/c + 1/d)          async  1 / (1/m + max(1/c, 1/d))
 *
 * bench measures m and c in-process and takes d from `replay csum --mode
 * none`; tools/bench_replay.sh asks tools/bench_model.  The one copy of the
 * formula is bbs_model_predict().
 */
#ifndef BBS_BENCH_MODEL_H
#define BBS_BENCH_MODEL_H

struct bbs_model {
	double mem_bps, csum_bps, dev_bps; /* m, c, d; m INFINITY leaves memory out */
	double serial_bps, async_bps; /* predicted */
	double speedup; /* async over serial */
};

/* The formula as text, for JSON and tables. */
extern const char bbs_model_formula[];

/* Fill the predictions of m from its inputs (all > 0). */
void bbs_model_predict(struct bbs_model *m);

#endif
