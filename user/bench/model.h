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

#include <stdint.h>

struct bbs_model {
	double mem_bps, csum_bps, dev_bps; /* m, c, d; m INFINITY leaves memory out */
	double serial_bps, async_bps; /* predicted */
	double speedup; /* async over serial */
};

/* The formula as text, for JSON and tables. */
extern const char bbs_model_formula[];

/* Fill the predictions of m from its inputs (all > 0). */
void bbs_model_predict(struct bbs_model *m);

/*
 * The pipeline model: a closed network with qd customers (one a bio in
 * flight), simulated event by event with each service time its measured
 * mean (docs/design.md, "The bench model").  Stations:
 *
 *   S  the submitting thread, one server: starts a bio (submit_ns; plus
 *      csum_ns in serial) and sees a worker's finished checksum (no work,
 *      but wake_ns first when S was asleep)
 *   D  the device, one FIFO server: device_ns a bio (its busy time per bio)
 *      less issue_ns, the part S ran inline while submitting (S's own)
 *   W  workers checksum servers: csum_ns a bio, then worker_ns of its own
 *      (handing it back), handoff_ns first when the bio finds a worker
 *      idle (its wake-up)
 *
 * Routes: none S -> D; serial S(+csum) -> D; async S -> (D and W -> S's
 * notice), done when both are; offload S -> W -> S's notice -> D.  A bio
 * done frees its slot and S starts the next one.
 */
enum bbs_model_shape {
	BBS_SHAPE_NONE,
	BBS_SHAPE_SERIAL,
	BBS_SHAPE_ASYNC,
	BBS_SHAPE_OFFLOAD,
};

struct bbs_pipe {
	enum bbs_model_shape shape;
	unsigned int qd, workers; /* >= 1 */
	double bio_bytes;
	double submit_ns, csum_ns, device_ns, handoff_ns, wake_ns; /* per bio, >= 0 */
	double worker_ns; /* a worker's own cost a bio besides the checksum, >= 0 */
	double issue_ns; /* S's time submitting a write: inline device work, part of device_ns */
	/*
	 * The cores the stations share, and each station's CPU work a bio
	 * (ns on a core of its own), done after the times above, which are
	 * then what the station spends without a CPU (waking, a device's own
	 * time).  At each instant the n stations doing CPU work each progress
	 * at min(1, cores / n): processor sharing.  cores 0: each station has
	 * a core of its own (the model without sharing).
	 */
	double cores;
	double submit_cpu_ns, device_cpu_ns, worker_cpu_ns; /* S's (a bio it starts), D's, W's */
	/* predicted */
	double bps, latency_ns; /* throughput; mean bio start -> done */
};

/* Simulate p's shape and fill p->bps and p->latency_ns.  0, or -1 on bad input. */
int bbs_pipe_predict(struct bbs_pipe *p);

/*
 * The seed's model as the pipeline's special case: qd 1, free hand-offs,
 * submit_ns the copy (bio_bytes / m), csum_ns bio_bytes / c, device_ns
 * bio_bytes / d.
 */
void bbs_pipe_seed(struct bbs_pipe *p, const struct bbs_model *m, enum bbs_model_shape shape,
		   double bio_bytes);

#endif
