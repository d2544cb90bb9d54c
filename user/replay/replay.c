// SPDX-License-Identifier: GPL-2.0
/* What the replays share: their workload, and the CPU time they took. */
#include <string.h>

#include "host/util.h"
#include "replay/replay.h"

int bbs_replay_load(struct bbs_workload *w, const char *synthetic, const char *trace,
		    enum bbs_replay_src src)
{
	struct bbs_synth_spec spec;
	char why[256];
	int err;

	if (trace)
		return src == BBS_REPLAY_STRIPS ? bbs_workload_load_strips(w, trace)
						: bbs_workload_load_trace(w, trace);
	if (bbs_synth_parse(synthetic, &spec, why, sizeof(why))) {
		bbs_err("--synthetic %s: %s", synthetic, why);
		return -1;
	}
	err = bbs_workload_synth(w, &spec);
	if (err) {
		bbs_err("--synthetic %s: %s", synthetic, strerror(-err));
		return -1;
	}
	return 0;
}

static double tv_s(const struct timeval *tv)
{
	return tv->tv_sec + tv->tv_usec / 1e6;
}

double bbs_replay_cpu_s(const struct rusage *from, const struct rusage *to)
{
	return tv_s(&to->ru_utime) - tv_s(&from->ru_utime) + tv_s(&to->ru_stime) -
	       tv_s(&from->ru_stime);
}
