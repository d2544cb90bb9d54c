// SPDX-License-Identifier: GPL-2.0
/* bbscope replay: dispatch to a replay subcommand; what the subcommands share. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "replay.h"
#include "util.h"

static const struct replay_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} replay_cmds[] = {
	{ "csum", replay_csum, "data writes with btrfs checksums: serial, async, offload, none" },
	{ "parity", replay_parity, "raid5/6 stripe writes (rmw) or degraded reads (recover)" },
};

#define NR_REPLAY_CMDS (sizeof(replay_cmds) / sizeof(replay_cmds[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: bbscope replay SUBCOMMAND [OPTIONS]\n\nsubcommands:\n");
	for (size_t i = 0; i < NR_REPLAY_CMDS; i++)
		fprintf(f, "  %-8s %s\n", replay_cmds[i].name, replay_cmds[i].help);
	fprintf(f, "\n'bbscope replay SUBCOMMAND --help' for its options.\n");
}

int cmd_replay(int argc, char **argv)
{
	const struct replay_cmd *match = NULL;
	size_t n;

	/* A --json anywhere makes even a dispatch error JSON. */
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j"))
			bbs_json_errors = true;
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	/* Exact name first, then a unique prefix, as the top-level dispatcher does. */
	n = strlen(argv[1]);
	for (size_t i = 0; i < NR_REPLAY_CMDS; i++) {
		if (!strcmp(argv[1], replay_cmds[i].name)) {
			match = &replay_cmds[i];
			break;
		}
		if (n && !strncmp(argv[1], replay_cmds[i].name, n)) {
			if (match) {
				bbs_err("replay '%s' is ambiguous: it begins more than one "
					"subcommand",
					argv[1]);
				return 2;
			}
			match = &replay_cmds[i];
		}
	}
	if (!match) {
		bbs_err("unknown replay subcommand '%s' (see 'bbscope replay --help')", argv[1]);
		return 2;
	}
	return match->fn(argc - 1, argv + 1);
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
