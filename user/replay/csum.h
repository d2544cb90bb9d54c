/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The replay of btrfs's write-with-checksum path (replay/csum.c): a
 * workload written to one target with io_uring, every 4 KiB block
 * checksummed as btrfs does, in one of btrfs's pipelines.
 */
#ifndef BBS_REPLAY_CSUM_H
#define BBS_REPLAY_CSUM_H

#include <stdbool.h>
#include <stdint.h>

#include "btrfs/csum.h"
#include "host/machine.h"
#include "host/wakeups.h"
#include "model/report.h"
#include "replay/workload.h"

/* Where a bio's checksum is computed, relative to its write. */
enum bbs_replay_mode {
	BBS_REPLAY_NONE, /* no checksum: the device alone */
	BBS_REPLAY_SERIAL, /* checksum, then submit (btrfs before the async_csum series) */
	BBS_REPLAY_ASYNC, /* submit at once, a worker checksums meanwhile (async_csum) */
	BBS_REPLAY_OFFLOAD, /* workers checksum, the bio goes out when its sum is done */
	BBS_NR_REPLAY_MODES,
};

extern const char *const bbs_replay_mode_name[BBS_NR_REPLAY_MODES];

#define BBS_REPLAY_DEF_QD 16U
#define BBS_REPLAY_MAX_QD 4096U
#define BBS_REPLAY_MAX_WORKERS 64U

struct bbs_replay_csum_opts {
	const char *target; /* block device or file (replay/target.h checks it) */
	bool force; /* write over a signature or an existing file */
	enum bbs_replay_mode mode;
	enum bbs_csum_type algo;
	unsigned int qd; /* bios in flight, 1 .. BBS_REPLAY_MAX_QD */
	unsigned int workers; /* checksum threads of async and offload, 1 .. MAX_WORKERS */
	double scale; /* 0: as fast as the pipeline goes; else recorded times * scale */
	const char *csum_out; /* NULL, or a file for '<offset> <checksum>' of every block */
};

/*
 * The bench model's terms (bench/model.h), summed over a run's bios: what
 * each resource of the pipeline was busy with, and the two hand-offs.
 *
 *   issue_ns     the submitting thread submitting (io_uring_submit()): a
 *                write the kernel runs inline (tmpfs) is done in it
 *   sleep_ns     the submitting thread waiting for a completion or a
 *                worker's wake-up (io_uring_enter() with wait)
 *   csum_ns      checksum computation (whoever ran it)
 *   dev_busy_ns  time with at least one write submitted and not yet reaped:
 *                the device's busy time (utilization law: per bio, its demand)
 *   handoff_ns   a bio put on the work FIFO -> a worker starts its checksum,
 *                over the handoffs to an idle worker (its wake-up; a busy
 *                worker takes the next bio at once)
 *   worker_ns    a worker's time between two checksums when it did not
 *                sleep (pushing the bio back, the eventfd write, the next
 *                pop), over worker_gaps such gaps
 *   wake_ns      a worker finished a checksum -> the submitter sees it, over
 *                the wakes of a submitter asleep in io_uring_enter()
 *
 * The submitter's own time is elapsed - issue_ns - sleep_ns (less csum_ns
 * in serial).
 *
 * What the threads did with the CPUs over the run (schedstat: on a CPU,
 * waiting on a run queue, timeslices), for the model's CPU demands:
 *
 *   sched_submitter  the submitting thread
 *   sched_workers    the checksum workers, summed
 *   sched_io         every other thread of the process (io_uring's io-wq
 *                    workers: a write the kernel punts runs there)
 *   machine_idle_ns  every CPU's idle time over the run (/proc/stat): what
 *                    neither the run nor other load used
 *   cpus             the CPUs the run may use (sched_getaffinity)
 *
 * and, where this process may load BPF, every wake-up of the submitter and
 * of the workers and the other threads: its wait from woken to running,
 * and how much of it passed with a CPU idle (wake_submitter, wake_workers,
 * wake_io; wake_known).
 */
struct bbs_replay_terms {
	uint64_t issue_ns, sleep_ns, csum_ns, dev_busy_ns, handoff_ns, wake_ns;
	uint64_t handoffs, wakes; /* how many handoff_ns and wake_ns are summed over */
	uint64_t worker_ns, worker_gaps;
	uint64_t sleeps; /* the submitter's waits summed in sleep_ns */
	struct bbs_sched sched_submitter, sched_workers, sched_io;
	/* each wake-up timed by the kernel (host/wakeups.h): where BPF is allowed */
	struct bbs_wake_stat wake_submitter, wake_workers, wake_io;
	bool wake_known;
	uint64_t machine_idle_ns;
	unsigned int cpus;
	bool sched_known; /* schedstat was readable for every thread */
	bool idle_known;
};

struct bbs_replay_csum_result {
	/*
	 * As the tracer makes them: the target's device group (device, total;
	 * bios and bytes) and a dev-less one (csum), every group named after
	 * opts.target (which must outlive the report).
	 */
	struct bbs_report report;
	double elapsed_s; /* first bio start -> last bio done */
	double cpu_s; /* user + system time of the whole process during the run */
	struct bbs_hist csum; /* one bio's checksum; sum_ns is the busy time */
	uint64_t csum_wait_ns; /* summed over bios: bio start -> its checksum starts */
	struct bbs_replay_terms terms;
	char target_name[64]; /* "loop3", or a file's filesystem device */
};

/*
 * Replay w (at least one bio) on opts.target.  0 with res filled (free it
 * with bbs_replay_csum_free()); -EINVAL when the target was refused before
 * anything was written (in use, a signature without force, too small,
 * misaligned for the workload); another negative errno when the run
 * failed.  Either way after one error line (bbs_err).  A target file made
 * here is kept only when the run succeeded.
 */
int bbs_replay_csum(const struct bbs_replay_csum_opts *o, const struct bbs_workload *w,
		    struct bbs_replay_csum_result *res);
void bbs_replay_csum_free(struct bbs_replay_csum_result *res);

#endif
