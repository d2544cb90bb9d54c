// SPDX-License-Identifier: GPL-2.0
/*
 * bbscope export --blktrace | --fio-iolog: a recorded trace written out by
 * render/export.c, and a summary of what was written.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cmd.h"
#include "cli/options.h"
#include "host/jsonstr.h"
#include "host/outfile.h"
#include "host/util.h"
#include "render/export.h"
#include "render/print.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: bbscope export --blktrace -o DIR TRACE [--force] [--json]\n"
		   "       bbscope export --fio-iolog -o FILE TRACE [--all] [--force] [--json]\n"
		   "\n"
		   "  --blktrace         blktrace files DIR/<dev>.blktrace.<cpu>, for\n"
		   "                     'blkparse -i <dev> -D DIR' and btt (Q, I, D, C per bio)\n"
		   "  --fio-iolog        a fio iolog (version 3) of the data bios, for\n"
		   "                     'fio --read_iolog=FILE' (--replay_redirect to replay it\n"
		   "                     elsewhere)\n"
		   "  -o, --output PATH  the directory or file to write\n"
		   "  -a, --all          fio iolog: metadata and superblock I/O too\n"
		   "  -F, --force        overwrite existing output\n"
		   "  -j, --json         summary and errors as JSON on stdout\n");
}

struct export_cmd {
	int format; /* 'B' blktrace, 'I' fio iolog */
	const char *out, *path;
	bool json, force, all;
};

static int blktrace_summary(const struct export_cmd *c, const struct bbs_export_result *r)
{
	json_t *devs, *o;
	int ret;

	if (r->no_complete || r->no_issue)
		bbs_warn("not exported: %llu bios never seen completing (counted at queue), "
			 "%llu request-based bios without an issue time",
			 (unsigned long long)r->no_complete, (unsigned long long)r->no_issue);
	if (!c->json) {
		for (uint32_t d = 0; d < r->nr_devs; d++)
			fprintf(stderr,
				"bbscope: %s: %llu bios, %llu events in %s/%s.blktrace.0-%u\n",
				r->devs[d].name, (unsigned long long)r->devs[d].bios,
				(unsigned long long)r->devs[d].events, c->out, r->devs[d].name,
				r->cpus - 1);
		return 0;
	}
	devs = json_array();
	for (uint32_t d = 0; d < r->nr_devs; d++) {
		json_t *dev =
			json_pack("{s:I,s:I,s:i}", "bios", (json_int_t)r->devs[d].bios, "events",
				  (json_int_t)r->devs[d].events, "cpus", (int)r->cpus);

		if (!dev || bbs_json_set_str(dev, "name", r->devs[d].name) ||
		    json_array_append_new(devs, dev)) {
			json_decref(dev);
			json_decref(devs);
			devs = NULL;
			break;
		}
	}
	o = json_pack("{s:s,s:o,s:I,s:I}", "format", "blktrace", "devices", devs,
		      "skipped_no_completion", (json_int_t)r->no_complete, "skipped_no_issue",
		      (json_int_t)r->no_issue);
	if (o && bbs_json_set_str(o, "output", c->out)) {
		json_decref(o);
		o = NULL;
	}
	ret = bbs_json_print(o, 0);
	json_decref(o);
	return ret;
}

static int iolog_summary(const struct export_cmd *c, const struct bbs_export_result *r)
{
	json_t *o;
	int ret;

	if (!c->json) {
		fprintf(stderr, "bbscope: %llu I/Os on %u devices in %s (%llu %s bios left out)\n",
			(unsigned long long)r->ios, r->nr_devs, c->out,
			(unsigned long long)r->skipped,
			c->all ? "empty" : "metadata, superblock or empty");
		return 0;
	}
	o = json_pack("{s:s,s:I,s:I,s:i}", "format", "fio-iolog", "ios", (json_int_t)r->ios,
		      "skipped", (json_int_t)r->skipped, "devices", (int)r->nr_devs);
	if (o && bbs_json_set_str(o, "output", c->out)) {
		json_decref(o);
		o = NULL;
	}
	ret = bbs_json_print(o, 0);
	json_decref(o);
	return ret;
}

static int export_opt(struct export_cmd *c, int opt, char **argv)
{
	switch (opt) {
	case 'B':
	case 'I':
		if (c->format && c->format != opt) {
			bbs_err("--blktrace and --fio-iolog: one format at a time");
			return BBS_EXIT_USAGE;
		}
		c->format = opt;
		break;
	case 'o':
		c->out = optarg;
		break;
	case 'a':
		c->all = true;
		break;
	case 'F':
		c->force = true;
		break;
	case 'j':
		break;
	case 'h':
		usage(stdout);
		return BBS_EXIT_OK;
	default:
		return bbs_opt_error(opt, argv, "export");
	}
	return BBS_PARSE_GO;
}

static int parse_opts(int argc, char **argv, struct export_cmd *c)
{
	static const struct option long_opts[] = {
		{ "blktrace", no_argument, NULL, 'B' },	    { "fio-iolog", no_argument, NULL, 'I' },
		{ "output", required_argument, NULL, 'o' }, { "all", no_argument, NULL, 'a' },
		{ "force", no_argument, NULL, 'F' },	    { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },	    {},
	};
	int opt, ret;

	bbs_opt_start();
	while ((opt = getopt_long(argc, argv, ":o:aFjh", long_opts, NULL)) != -1) {
		ret = export_opt(c, opt, argv);
		if (ret != BBS_PARSE_GO)
			return ret;
	}
	if (!c->format) {
		bbs_err("export needs a format: --blktrace or --fio-iolog");
		return BBS_EXIT_USAGE;
	}
	if (!c->out) {
		bbs_err("export needs -o %s", c->format == 'B' ? "DIR" : "FILE");
		return BBS_EXIT_USAGE;
	}
	if (optind != argc - 1) {
		bbs_err(optind < argc ? "export reads one trace file"
				      : "export needs a trace file");
		return BBS_EXIT_USAGE;
	}
	c->path = argv[optind];
	return BBS_PARSE_GO;
}

int cmd_export(int argc, char **argv)
{
	struct export_cmd c = { 0 };
	struct bbs_export_result r;
	struct bbs_tf_reader *rd;
	char err[256];
	int ret;

	c.json = bbs_opt_json(argc, argv);
	ret = parse_opts(argc, argv, &c);
	if (ret != BBS_PARSE_GO)
		return ret;
	ret = bbs_tfr_open(&rd, c.path, err, sizeof(err));
	if (ret) {
		bbs_err("cannot read %s: %s", c.path, err);
		return ret == -ENOMEM ? BBS_EXIT_FAIL : BBS_EXIT_USAGE;
	}
	if (c.format == 'B')
		ret = bbs_export_blktrace(rd, c.out, c.force, &r);
	else
		ret = bbs_export_iolog(rd, c.out, c.all, c.force, &r);
	if (!ret) {
		ret = (c.format == 'B' ? blktrace_summary : iolog_summary)(&c, &r) ? BBS_EXIT_FAIL
										   : BBS_EXIT_OK;
		bbs_export_free(&r);
	} else {
		ret = bbs_out_refused(ret) ? BBS_EXIT_USAGE : BBS_EXIT_FAIL;
	}
	bbs_tfr_warn(rd, c.path, stderr);
	bbs_tfr_close(rd);
	return ret;
}
