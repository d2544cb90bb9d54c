/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The subcommands.  Each takes argv with argv[0] = its own name and returns
 * the process exit status.  Usage text lives with each command.
 */
#ifndef BBS_CMD_H
#define BBS_CMD_H

int cmd_hist(int argc, char **argv);
int cmd_record(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_sandbox(int argc, char **argv);
int cmd_csum(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
