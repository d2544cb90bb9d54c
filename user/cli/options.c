// SPDX-License-Identifier: GPL-2.0
/* The command line and exit conventions every command shares (options.h). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/options.h"
#include "host/util.h"

bool bbs_opt_json(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j"))
			return bbs_json_errors = true;
	return false;
}

void bbs_opt_start(void)
{
	opterr = 0;
	optind = 1;
}

int bbs_opt_error(int c, char **argv, const char *cmd)
{
	const char *arg = argv[optind - 1];
	char opt[64];

	/* A long option as given; a short one by optopt (it may sit in a cluster). */
	if (strncmp(arg, "--", 2) && optopt)
		snprintf(opt, sizeof(opt), "-%c", optopt);
	else
		snprintf(opt, sizeof(opt), "%s", arg);
	if (c == ':')
		bbs_err("%s: %s needs an argument (see 'bbscope %s --help')", cmd, opt, cmd);
	else
		bbs_err("%s: unknown option '%s' (see 'bbscope %s --help')", cmd, opt, cmd);
	return BBS_EXIT_USAGE;
}

int bbs_opt_algo(const char *opt, const char *name, enum bbs_csum_type *type)
{
	int t = bbs_csum_parse(name);

	if (t < 0) {
		bbs_err("%s %s: want crc32c, xxhash, sha256 or blake2", opt, name);
		return BBS_EXIT_USAGE;
	}
	*type = t;
	return 0;
}

int bbs_exit(int status)
{
	int err = 0;

	if (fflush(stdout))
		err = errno;
	else if (ferror(stdout))
		err = EIO;
	if (!err)
		return status;
	/* stdout failed: the message goes to stderr alone. */
	bbs_json_errors = false;
	if (err == EIO)
		bbs_err("cannot write to standard output: a write failed");
	else
		bbs_err("cannot write to standard output: %s", strerror(err));
	return status ? status : BBS_EXIT_FAIL;
}

static int opt_sample(const char *arg, uint32_t *n)
{
	unsigned long long v;

	if (bbs_parse_uint(arg, 65536, &v) || !v) {
		bbs_err("--sample %s: want a number from 1 to 65536 (follow one bio in N)", arg);
		return BBS_EXIT_USAGE;
	}
	*n = v;
	return 0;
}

static int opt_func(const char *spec, const char **funcs, int *n, int max)
{
	if (*n == max) {
		bbs_err("--func: %d at most", max);
		return BBS_EXIT_USAGE;
	}
	funcs[(*n)++] = spec;
	return 0;
}

void bbs_opt_tracer_init(struct bbs_trace_args *a)
{
	memset(a, 0, sizeof(*a));
	a->to.funcs = a->funcs;
	a->to.evict_after_ns = 30ULL * 1000000000ULL;
}

int bbs_opt_tracer(int c, const char *arg, struct bbs_trace_args *a)
{
	double evict;

	switch (c) {
	case 'f':
		return bbs_fs_arg(arg, &a->to.filter_fs) ? BBS_EXIT_USAGE : 0;
	case 'D':
		return bbs_dev_arg(arg, &a->to.filter_dev) ? BBS_EXIT_USAGE : 0;
	case 'd':
		if (bbs_parse_seconds(arg, &a->duration) || a->duration <= 0) {
			bbs_err("--duration %s: want seconds above 0, up to %d", arg,
				BBS_SECONDS_MAX);
			return BBS_EXIT_USAGE;
		}
		return 0;
	case BBS_OPT_EVICT:
		if (bbs_parse_seconds(arg, &evict) || evict < 1) {
			bbs_err("--evict-after %s: want seconds from 1 to %d", arg,
				BBS_SECONDS_MAX);
			return BBS_EXIT_USAGE;
		}
		a->to.evict_after_ns = (uint64_t)(evict * 1e9);
		return 0;
	case BBS_OPT_FUNC:
		return opt_func(arg, a->funcs, &a->to.nr_funcs, MAX_FUNCS * 2);
	case BBS_OPT_SAMPLE:
		return opt_sample(arg, &a->to.sample);
	case 'v':
		a->to.verbose = true;
		return 0;
	}
	return BBS_PARSE_GO;
}
