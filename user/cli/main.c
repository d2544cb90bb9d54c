// SPDX-License-Identifier: GPL-2.0
/*
 * bbscope: show what btrfs does with every bio, and reproduce its checksum
 * and RAID parity paths in userspace.  This file only dispatches, and
 * makes output that could not be written an error (bbs_exit()).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cmd.h"
#include "cli/options.h"
#include "host/version.h"

static const struct bbs_cmd cmds[] = {
	{ "hist", cmd_hist, "live per-phase latency histograms of btrfs bios" },
	{ "record", cmd_record, "record every btrfs bio into a trace file" },
	{ "report", cmd_report, "histograms or per-bio lines from a recorded trace" },
	{ "export", cmd_export, "convert a trace to blktrace files or a fio iolog" },
	{ "sandbox", cmd_sandbox, "make or remove a throwaway loop-backed btrfs" },
	{ "csum", cmd_csum, "print btrfs checksums of a file's blocks" },
	{ "verify", cmd_verify, "recompute btrfs data checksums from the member devices" },
	{ "replay", cmd_replay, "replay writes through btrfs's checksum or raid56 parity paths" },
	{ "bench", cmd_bench, "kernel write path and its userspace replays, side by side" },
	{ "features", cmd_features, "what this host allows and what bbscope does with it" },
	{ "diff", cmd_diff, "two runs side by side: each change with its interval and p-value" },
};

int main(int argc, char **argv)
{
	if (argc == 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))) {
		printf("bbscope %s (commit %s)\n", bbs_version, bbs_commit);
		return bbs_exit(0);
	}
	return bbs_exit(bbs_dispatch(cmds, sizeof(cmds) / sizeof(cmds[0]), argc, argv, "bbscope",
				     "command"));
}
