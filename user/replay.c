// SPDX-License-Identifier: GPL-2.0
/* bbscope replay: dispatch to a replay subcommand; what the subcommands share. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "replay.h"
#include "util.h"

static const struct bbs_cmd replay_cmds[] = {
	{ "csum", replay_csum, "data writes with btrfs checksums: serial, async, offload, none" },
	{ "parity", replay_parity, "raid5/6 stripe writes (rmw) or degraded reads (recover)" },
};

int cmd_replay(int argc, char **argv)
{
	/* A --json anywhere makes even a dispatch error JSON. */
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j"))
			bbs_json_errors = true;
	return bbs_dispatch(replay_cmds, sizeof(replay_cmds) / sizeof(replay_cmds[0]), argc, argv,
			    "bbscope replay", "subcommand");
}

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
