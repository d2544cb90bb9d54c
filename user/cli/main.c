// SPDX-License-Identifier: GPL-2.0
/*
 * bbscope: show what btrfs does with every bio, and reproduce its checksum
 * and RAID parity paths in userspace.  This file only dispatches, and
 * makes output that could not be written an error (bbs_exit()).
 */
#include "cli/cmd.h"
#include "cli/options.h"

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
	return bbs_exit(bbs_dispatch(cmds, sizeof(cmds) / sizeof(cmds[0]), argc, argv, "bbscope",
				     "command"));
}
