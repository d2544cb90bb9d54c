/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The replay of btrfs's RAID5/6 write and degraded-read paths
 * (replay/raid56.c): N targets laid out as one raid56 chunk
 * (btrfs/stripe.h), a workload replayed on them in btrfs's rbios.
 */
#ifndef BBS_REPLAY_RAID56_H
#define BBS_REPLAY_RAID56_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btrfs/parity.h"
#include "model/report.h"
#include "replay/workload.h"

/* How parity is computed: btrfs's shape, or a batched one. */
enum bbs_raid56_mode {
	BBS_RAID56_STEP, /* one 4 KiB vertical sector per call: generate_pq_vertical() */
	BBS_RAID56_BATCHED, /* the whole 64 KiB strip per call */
	BBS_RAID56_THREADS, /* batched, full stripes spread over threads */
	BBS_NR_RAID56_MODES,
};

extern const char *const bbs_raid56_mode_name[BBS_NR_RAID56_MODES];

#define BBS_RAID56_MAX_TARGETS 32U
#define BBS_RAID56_DEF_QD 4U /* rmw_workers: min(nr_cpus + 2, 8) active on 2 cores */
#define BBS_RAID56_MAX_QD 256U
#define BBS_RAID56_MAX_THREADS 64U
#define BBS_RAID56_DEF_CACHE 1024U /* RBIO_CACHE_SIZE */
#define BBS_RAID56_MAX_CACHE 65536U

struct bbs_raid56_opts {
	char *const *targets; /* block devices or files, strip order of the chunk */
	unsigned int nr_targets; /* raid5 2 .. MAX_TARGETS, raid6 3 .. */
	bool force; /* write over a signature or an existing file */
	enum bbs_raid raid;
	enum bbs_raid56_mode mode;
	unsigned int threads; /* BBS_RAID56_THREADS: threads, 0 for the online CPUs */
	unsigned int qd; /* rbios in flight per thread, 1 .. MAX_QD */
	unsigned int stripe_cache; /* full stripes kept after a sub-stripe write */
	unsigned int degraded[2], nr_degraded; /* targets missing: read the workload back */
	uint64_t data_seed; /* of the data written (BBS_POOL_SEED: as replay csum) */
	bool no_plug; /* every bio its own rbio; else merged as btrfs's plug does */
	bool recover_stripe; /* one recover per range, not per 4 KiB sector */
	const char *rebuilt_out; /* degraded: prefix of files for the rebuilt strips */
};

struct bbs_raid56_result {
	/*
	 * A filesystem group (fs 0) with rmw or recover per rbio, and one
	 * group per target and direction, fs target index + 1, with device
	 * and total per I/O, bios, bytes, stripe_writes or stripe_reads.
	 */
	struct bbs_report report;
	struct bbs_hist parity; /* P/Q generation or rebuild per rbio */
	unsigned int nr_data, nr_parity, threads;
	size_t step_bytes; /* per parity call */
	size_t full, partial; /* rbios of a whole full stripe, of less */
	size_t plain, recovered; /* degraded: plain reads, recover rbios */
	uint64_t stripes; /* full stripes the workload spans */
	uint64_t cache_hits;
	double elapsed_s, cpu_s;
	char target_name[BBS_RAID56_MAX_TARGETS][64]; /* "loop3", or a file's fs device */
};

/*
 * Replay w on the targets.  0 with res filled (free with
 * bbs_raid56_free()); -EINVAL when refused before anything was written (too
 * few targets, one target under two names, a degraded index out of range,
 * a recording of another stripe width, a target refused by
 * replay/target.h); another negative errno when the run failed.  Either
 * way after one error line (bbs_err).
 */
int bbs_raid56_replay(const struct bbs_raid56_opts *o, const struct bbs_workload *w,
		      struct bbs_raid56_result *res);
void bbs_raid56_free(struct bbs_raid56_result *res);

#endif
