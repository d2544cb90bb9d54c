// SPDX-License-Identifier: GPL-2.0
/* bbscope replay: dispatch to a replay subcommand; what the subcommands share. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cmd.h"
#include "replay/replay.h"
#include "host/util.h"

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

int bbs_replay_opt(struct bbs_replay_common *co, int c, char **argv, const char *sub)
{
	switch (c) {
	case 'T':
		co->trace = optarg;
		return 1;
	case 'S':
		co->synthetic = optarg;
		return 1;
	case 'f':
		co->force = true;
		return 1;
	case 'm':
		co->po.ms = true;
		return 1;
	case 's':
		co->po.summary = true;
		return 1;
	case 'j':
		return 1;
	case ':':
		bbs_err("%s needs an argument (see 'bbscope replay %s --help')", argv[optind - 1],
			sub);
		return 2;
	case '?':
		bbs_err("unknown option '%s' (see 'bbscope replay %s --help')", argv[optind - 1],
			sub);
		return 2;
	default:
		return 0;
	}
}

int bbs_replay_args_done(const struct bbs_replay_common *co, int argc, char **argv)
{
	if (optind < argc) {
		bbs_err("unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (!co->trace == !co->synthetic) {
		bbs_err("give one workload: --synthetic SPEC or --trace FILE");
		return 2;
	}
	return 0;
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
