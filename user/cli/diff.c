// SPDX-License-Identifier: GPL-2.0
/*
 * bbscope diff A B: two runs side by side, each change with its interval
 * and p-value (diff/diff.h), as text, JSON or a page.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd.h"
#include "cli/options.h"
#include "diff/diff.h"
#include "render/print.h"
#include "host/outfile.h"
#include "host/util.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: bbscope diff A B [--json] [--html FILE [--force]] [--alpha P] "
		   "[--no-adjust]\n"
		   "       bbscope diff A1 A2... vs B1 B2... [OPTIONS]\n"
		   "\n"
		   "Compare two runs: recordings ('bbscope record'), histograms ('hist --json',\n"
		   "'report --json') or bench results ('bench --json'); all of one kind.  With\n"
		   "several runs a side (the word 'vs' between the sides), each run is one value\n"
		   "of the tests: runs of one workload differ more than the bios inside a run do,\n"
		   "so that is how a change is told from a busy machine.  With one run a side\n"
		   "the tests use the bios (or rounds), with a warning.\n"
		   "Groups are matched by op and kind, and by device name when both sides have\n"
		   "the same devices.  For each phase: count, p50, p90 and p99 of A and B, the\n"
		   "change of each in percent with a bootstrap interval, and a Mann-Whitney\n"
		   "p-value; '~' when the change is not significant at P, with why (no change,\n"
		   "or too few runs to tell).  Also: the end_io and completion context shares,\n"
		   "throughput and bytes per bio.  Bench results: each throughput's median over\n"
		   "rounds, its interval and p-value.  Each run is given once.\n"
		   "\n"
		   "  -a, --alpha P      significance level, 0 < P < 1 (default 0.05); the\n"
		   "                     intervals are at 1 - P\n"
		   "      --no-adjust    judge each test on its own; by default the verdicts come\n"
		   "                     from the primary tests (device and total p50, context\n"
		   "                     shares), adjusted together (by run: Westfall-Young over\n"
		   "                     relabellings of the runs; else Holm), so that P bounds\n"
		   "                     the chance of calling anything unchanged changed; the\n"
		   "                     other lines are exploratory\n"
		   "  -j, --json         JSON (docs/json.md, \"bbscope diff --json\")\n"
		   "  -H, --html FILE    also write the comparison as one self-contained page:\n"
		   "                     paired bars with interval whiskers\n"
		   "  -F, --force        replace an existing --html FILE\n"
		   "\n"
		   "Exit status: 0 compared, 1 failed (or the output could not be written),\n"
		   "2 bad usage, or A and B not readable or not of one kind.\n");
}

struct diff_cmd {
	struct bbs_diff_opts o;
	bool json, force;
	const char *html;
	char **a, **b; /* the sides' files */
	int na, nb;
};

static int diff_opt(struct diff_cmd *c, int opt, char **argv)
{
	char *end;

	switch (opt) {
	case 'a':
		errno = 0;
		c->o.alpha = strtod(optarg, &end);
		if (errno || end == optarg || *end || !(c->o.alpha > 0 && c->o.alpha < 1)) {
			bbs_err("--alpha %s: want a number between 0 and 1, such as 0.05", optarg);
			return BBS_EXIT_USAGE;
		}
		break;
	case 'j':
		break;
	case 'N':
		c->o.no_adjust = true;
		break;
	case 'H':
		c->html = optarg;
		break;
	case 'F':
		c->force = true;
		break;
	case 'h':
		usage(stdout);
		return BBS_EXIT_OK;
	default:
		return bbs_opt_error(opt, argv, "diff");
	}
	return BBS_PARSE_GO;
}

static int parse_opts(int argc, char **argv, struct diff_cmd *c)
{
	static const struct option long_opts[] = {
		{ "alpha", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "no-adjust", no_argument, NULL, 'N' },
		{ "html", required_argument, NULL, 'H' },
		{ "force", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int opt, ret;

	bbs_opt_start();
	while ((opt = getopt_long(argc, argv, ":a:jH:Fh", long_opts, NULL)) != -1) {
		ret = diff_opt(c, opt, argv);
		if (ret != BBS_PARSE_GO)
			return ret;
	}
	int vs = -1;

	for (int i = optind; i < argc; i++)
		if (!strcmp(argv[i], "vs")) {
			if (vs >= 0) {
				bbs_err("diff compares two sides: one 'vs' (see --help)");
				return BBS_EXIT_USAGE;
			}
			vs = i;
		}
	if (vs < 0 && argc - optind == 2) {
		c->a = &argv[optind];
		c->b = &argv[optind + 1];
		c->na = c->nb = 1;
		return BBS_PARSE_GO;
	}
	if (vs < 0 || vs == optind || vs == argc - 1) {
		bbs_err("diff compares two runs: bbscope diff A B, or A1 A2... vs B1 B2... (see "
			"--help)");
		return BBS_EXIT_USAGE;
	}
	c->a = &argv[optind];
	c->na = vs - optind;
	c->b = &argv[vs + 1];
	c->nb = argc - vs - 1;
	return BBS_PARSE_GO;
}

int cmd_diff(int argc, char **argv)
{
	struct diff_cmd c = { .o = { .alpha = 0.05 } };
	struct bbs_diff_side a, b;
	struct bbs_diff d;
	char err[PATH_MAX + 256];
	int ret;

	c.json = bbs_opt_json(argc, argv);
	ret = parse_opts(argc, argv, &c);
	if (ret != BBS_PARSE_GO)
		return ret;
	if (bbs_diff_load(&a, c.a, c.na, err, sizeof(err))) {
		bbs_err("cannot compare %s", err);
		bbs_diff_side_free(&a);
		return strstr(err, "out of memory") ? BBS_EXIT_FAIL : BBS_EXIT_USAGE;
	}
	if (bbs_diff_load(&b, c.b, c.nb, err, sizeof(err))) {
		bbs_err("cannot compare %s", err);
		bbs_diff_side_free(&a);
		bbs_diff_side_free(&b);
		return strstr(err, "out of memory") ? BBS_EXIT_FAIL : BBS_EXIT_USAGE;
	}
	if (bbs_diff_run(&d, &a, &b, &c.o, err, sizeof(err))) {
		bbs_err("%s", err);
		ret = strcmp(err, "out of memory") ? BBS_EXIT_USAGE : BBS_EXIT_FAIL;
		goto out;
	}
	if (c.json) {
		json_t *o = bbs_diff_json(&d);

		ret = bbs_json_print(o, 0) ? BBS_EXIT_FAIL : BBS_EXIT_OK;
		json_decref(o);
	} else {
		bbs_diff_text(stdout, &d);
		ret = BBS_EXIT_OK;
	}
	if (!ret && c.html) {
		int r = bbs_diff_html(&d, c.html, c.force, err, sizeof(err));

		if (r) {
			/* A path refused (a directory, a dangling link) is bad input. */
			ret = bbs_out_refused(r) ? BBS_EXIT_USAGE : BBS_EXIT_FAIL;
			bbs_err("cannot write %s: %s", c.html, err);
		}
	}
	bbs_diff_free(&d);
out:
	bbs_diff_side_free(&a);
	bbs_diff_side_free(&b);
	return ret;
}
