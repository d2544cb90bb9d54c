/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What every command shares about its command line and its exit: the exit
 * status convention, the global --json, and one way to parse options.
 *
 * Exit status (docs/bbscope.8, EXIT STATUS):
 *
 *   0  done (verify: everything checked matched)
 *   1  failed, or found a mismatch (verify); also: needs root, and output
 *      that could not be written (a full disk, a closed pipe)
 *   2  bad usage or bad input: an unknown option, a bad value, a path or
 *      target refused before anything was done
 *
 * bench exits 128+N when killed by signal N; record -- COMMAND with the
 * command's status.
 *
 * Parsing: a command's option parser returns BBS_PARSE_GO when the command
 * should run, or the exit status to end with: BBS_EXIT_OK after --help,
 * BBS_EXIT_USAGE after one error line.  getopt_long() runs with opterr 0 and
 * a leading ':' in the short options, and bbs_opt_error() says what was
 * wrong with the option getopt stopped at.
 */
#ifndef BBS_CLI_OPTIONS_H
#define BBS_CLI_OPTIONS_H

#include <stdbool.h>

#include "trace/tracer.h"
#include "btrfs/csum.h"

enum bbs_exit {
	BBS_EXIT_OK = 0,
	BBS_EXIT_FAIL = 1,
	BBS_EXIT_USAGE = 2,
};

/* What an option parser returns when the command goes on. */
#define BBS_PARSE_GO (-1)

/*
 * --json (or -j) anywhere before a "--": errors come out as JSON from now
 * on, even those of the option parsing that follows.  Returns whether it
 * was given.
 */
bool bbs_opt_json(int argc, char **argv);

/*
 * Reset getopt for a command's own argv (argv[0] its name): optind 1, no
 * messages of getopt's own.
 */
void bbs_opt_start(void);

/*
 * The error line for what getopt_long() returned at an option it refused
 * (':' for a missing argument, '?' for an unknown option), naming cmd ("csum",
 * "replay parity") for its --help.  Returns BBS_EXIT_USAGE.
 */
int bbs_opt_error(int c, char **argv, const char *cmd);

/*
 * --algo NAME (and its alias --csum): the checksum algorithm, by
 * bbs_csum_parse()'s one name table.  0, or BBS_EXIT_USAGE after one error
 * line naming opt ("--algo").
 */
int bbs_opt_algo(const char *opt, const char *name, enum bbs_csum_type *type);

/*
 * The tracer's options, the same in every command that traces (hist,
 * record): --fs, --dev, --duration, --evict-after, --func, --sample and -v.
 * A command puts BBS_TRACER_OPTIONS in its long options and "f:D:d:v" in its
 * short ones, and hands each option its own switch does not take to
 * bbs_opt_tracer().  --func has no short option of its own here: -F is
 * --func in hist and --force in record, so hist maps its 'F' to
 * BBS_OPT_FUNC itself.
 */
enum {
	BBS_OPT_FUNC = 0x100,
	BBS_OPT_EVICT,
	BBS_OPT_SAMPLE,
};

#define BBS_TRACER_OPTIONS                                                               \
	{ "fs", required_argument, NULL, 'f' }, { "dev", required_argument, NULL, 'D' }, \
		{ "duration", required_argument, NULL, 'd' },                            \
		{ "evict-after", required_argument, NULL, BBS_OPT_EVICT },               \
		{ "func", required_argument, NULL, BBS_OPT_FUNC },                       \
		{ "sample", required_argument, NULL, BBS_OPT_SAMPLE },                   \
	{                                                                                \
		"verbose", no_argument, NULL, 'v'                                        \
	}

struct bbs_trace_args {
	struct bbs_tracer_opts to; /* filters, --evict-after, --func, --sample, -v */
	const char *funcs[MAX_FUNCS * 2]; /* to.funcs */
	double duration; /* --duration SEC, 0: until stopped */
};

/* The defaults: everything traced, in-flight state evicted after 30 s. */
void bbs_opt_tracer_init(struct bbs_trace_args *a);

/*
 * Option c (getopt_long's return) with its argument, when it is one of the
 * tracer's: 0 taken, BBS_EXIT_USAGE after one error line, BBS_PARSE_GO when
 * c is not a tracer option (the command's usage error).
 */
int bbs_opt_tracer(int c, const char *arg, struct bbs_trace_args *a);

/*
 * A command's exit: flush stdout, and turn a write that failed (now or
 * before) into exit status 1 with one line saying why, unless status
 * already says the run failed.
 */
int bbs_exit(int status);

#endif
