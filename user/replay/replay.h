/* SPDX-License-Identifier: GPL-2.0 */
/*
 * `bbscope replay`: a workload replayed in userspace through one of btrfs's
 * pipelines, measured with the tracer's histograms (user/hist.h).
 * user/replay.c dispatches to one function per subcommand; each takes argv
 * with argv[0] = its own name ("csum") and returns the exit status.  The
 * helpers below are what the subcommands share besides user/uring.h.
 */
#ifndef BBS_REPLAY_H
#define BBS_REPLAY_H

#include <stdbool.h>
#include <sys/resource.h>

#include "out/hist.h"
#include "replay/workload.h"

int replay_csum(int argc, char **argv);
int replay_parity(int argc, char **argv);

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

/* The options every replay takes: the workload, --force, the output. */
struct bbs_replay_common {
	const char *trace, *synthetic;
	bool force;
	struct bbs_print_opts po;
};

/* Their long options, for a subcommand's table (and "msjh" short ones). */
#define BBS_REPLAY_COMMON_OPTS                                                                    \
	{ "trace", required_argument, NULL, 'T' }, { "synthetic", required_argument, NULL, 'S' }, \
		{ "force", no_argument, NULL, 'f' }, { "milliseconds", no_argument, NULL, 'm' },  \
		{ "summary", no_argument, NULL, 's' },                                            \
		{ "json", no_argument, NULL, 'j' }, /* read before: JSON errors */                \
	{                                                                                         \
		"help", no_argument, NULL, 'h'                                                    \
	}

/*
 * Take getopt_long's c if it is a common option, or a missing argument or
 * an unknown option (getopt run with opterr 0 and a leading ':'): 1 when
 * taken, 2 after reporting an error, 0 when c is the subcommand's own.
 * sub names the subcommand in messages ("csum").
 */
int bbs_replay_opt(struct bbs_replay_common *co, int c, char **argv, const char *sub);

/* After the options: no argument left, exactly one workload.  0, or 2 after saying why. */
int bbs_replay_args_done(const struct bbs_replay_common *co, int argc, char **argv);

/* User + system seconds between two getrusage(RUSAGE_SELF) samples. */
double bbs_replay_cpu_s(const struct rusage *from, const struct rusage *to);

#endif
