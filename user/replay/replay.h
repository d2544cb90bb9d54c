/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The replays: a workload replayed in userspace through one of btrfs's
 * pipelines, measured with the tracer's histograms (model/hist.h).
 *
 *   replay/csum.h     the write-with-checksum path (replay csum)
 *   replay/raid56.h   the RAID5/6 write and degraded-read paths (replay parity)
 *
 * What both take: a workload (replay/workload.h), loaded here, written to
 * targets (replay/target.h) through io_uring (replay/uring.h).
 */
#ifndef BBS_REPLAY_H
#define BBS_REPLAY_H

#include <sys/resource.h>

#include "replay/workload.h"

/* What --trace FILE replays of a recording. */
enum bbs_replay_src {
	BBS_REPLAY_BIOS, /* its data write bios, at device offsets (replay csum) */
	BBS_REPLAY_STRIPS, /* its raid5/6 data strip writes, in the chunk's data
			    * address space (replay parity): bbs_workload_load_strips() */
};

/*
 * Load the workload of --synthetic SPEC or --trace FILE (exactly one is
 * non-NULL) into w (initialised); src says what a trace gives.  0, or -1
 * after saying why (bbs_err).
 */
int bbs_replay_load(struct bbs_workload *w, const char *synthetic, const char *trace,
		    enum bbs_replay_src src);

/* User + system seconds between two getrusage(RUSAGE_SELF) samples. */
double bbs_replay_cpu_s(const struct rusage *from, const struct rusage *to);

#endif
