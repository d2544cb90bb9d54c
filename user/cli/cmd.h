/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The subcommands.  Each takes argv with argv[0] = its own name and returns
 * the process exit status.  Usage text lives with each command.
 */
#ifndef BBS_CMD_H
#define BBS_CMD_H

#include <stddef.h>

struct bbs_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

/*
 * Run the command argv[1] names, exactly or by a unique prefix, with
 * argv + 1; usage on -h, --help or help.  prog is how the caller is invoked
 * ("bbscope", "bbscope replay"), what its commands are called ("command").
 */
int bbs_dispatch(const struct bbs_cmd *cmds, size_t nr, int argc, char **argv, const char *prog,
		 const char *what);

int cmd_hist(int argc, char **argv);
int cmd_record(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_sandbox(int argc, char **argv);
int cmd_csum(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_features(int argc, char **argv);
int cmd_diff(int argc, char **argv);

#endif
