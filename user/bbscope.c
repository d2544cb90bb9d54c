// SPDX-License-Identifier: GPL-2.0
/*
 * bbscope: show what btrfs does with every bio, and reproduce its checksum
 * and RAID parity paths in userspace.  This file only dispatches.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "util.h"

static const struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} cmds[] = {
	{ "hist", cmd_hist, "live per-phase latency histograms of btrfs bios" },
	{ "record", cmd_record, "record every btrfs bio into a trace file" },
	{ "report", cmd_report, "histograms or per-bio lines from a recorded trace" },
	{ "export", cmd_export, "convert a trace to blktrace files or a fio iolog" },
	{ "sandbox", cmd_sandbox, "make or remove a throwaway loop-backed btrfs" },
	{ "csum", cmd_csum, "print btrfs checksums of a file's blocks" },
	{ "verify", cmd_verify, "recompute btrfs data checksums from the member devices" },
	{ "replay", cmd_replay, "replay writes through btrfs's checksum or raid56 parity paths" },
	{ "bench", cmd_bench, "kernel write path and its userspace replays, side by side" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: bbscope COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-9s %s\n", cmds[i].name, cmds[i].help);
	fprintf(f, "\n'bbscope COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
	const struct cmd *match = NULL;
	size_t n;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	/* Exact name first, then a unique prefix (as bpftool does). */
	n = strlen(argv[1]);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (!strcmp(argv[1], cmds[i].name)) {
			match = &cmds[i];
			break;
		}
		if (!strncmp(argv[1], cmds[i].name, n)) {
			if (match) {
				bbs_err("'%s' is ambiguous: it begins more than one command",
					argv[1]);
				return 2;
			}
			match = &cmds[i];
		}
	}
	if (!match) {
		bbs_err("unknown command '%s' (see 'bbscope --help')", argv[1]);
		return 2;
	}
	return match->fn(argc - 1, argv + 1);
}
