// SPDX-License-Identifier: GPL-2.0
/*
 * bbscope report: the histograms of a recorded trace, printed exactly as
 * `bbscope hist` prints its own (the same struct bbs_report, the same
 * printers, the same JSON), or one line per bio (--events).
 *
 * Two things the hist printers cannot know are patched in here, in one place
 * (retitle(), patch_group()): filesystem and device names come from the
 * trace (names at record time, not whatever has that dev_t now), and --by
 * may leave dimensions out ("*") or add the submitting comm.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cmd.h"
#include "cli/options.h"
#include "render/report.h"
#include "render/html.h"
#include "render/print.h"
#include "trace/report.h"
#include "tracefile/tracefile.h"
#include "host/jsonstr.h"
#include "host/outfile.h"
#include "host/util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bbscope report FILE [--json] [--html OUT [--force]] [--by DIMS] [-m] [-s]\n"
		"       bbscope report --events FILE [--json] [-m]\n"
		"\n"
		"Per-phase latency histograms of a trace written by 'bbscope record', the same\n"
		"as 'bbscope hist' prints for a live run (docs/json.md), or one line per bio.\n"
		"A truncated trace is read up to its last complete chunk, with a warning.\n"
		"\n"
		"  -b, --by DIMS        group by these, comma separated: fs dev op kind comm\n"
		"                       (default fs,dev,op,kind, as hist); left out: '*'\n"
		"  -e, --events         one line per bio: time, comm, pid, dev, op, kind,\n"
		"                       sector, bytes, phase latencies, contexts, workqueue\n"
		"  -m, --milliseconds   milliseconds instead of microseconds\n"
		"  -s, --summary        the per-phase table only, no star histograms\n"
		"  -j, --json           JSON (docs/json.md; with --events, one object per bio)\n"
		"  -F, --force          replace an existing --html OUT\n"
		"  -H, --html OUT       write the histograms and a latency-over-time heatmap\n"
		"                       as one self-contained HTML page (no text report;\n"
		"                       with --json the JSON is still printed)\n"
		"\n"
		"Exit status: 0 read (perhaps with warnings), 1 failed (or the output could\n"
		"not be written), 2 bad usage or not a readable trace.\n");
}

/* ---- names: recorded ones, '*' for dimensions left out ---- */

static const char *fs_name(const struct bbs_tf_reader *rd, unsigned by, uint32_t fs, char *buf,
			   size_t len)
{
	const char *n;

	if (!(by & BBS_BY_FS))
		return "*";
	n = bbs_tfr_name(rd, TF_FS, fs);
	return n ? n : bbs_fs_name(fs, buf, len);
}

static const char *dev_name(const struct bbs_tf_reader *rd, unsigned by, uint32_t dev, char *buf,
			    size_t len)
{
	const char *n;

	if (!(by & BBS_BY_DEV))
		return "*";
	n = bbs_tfr_name(rd, TF_DEV, dev);
	return n ? n : bbs_dev_name(dev, buf, len);
}

/* The start of a group's first line as render/text.c prints it, and as report wants it. */
static void titles(const struct bbs_tf_reader *rd, unsigned by, const char *comm,
		   const struct bbs_group_data *gd, char *live, char *mine, size_t len)
{
	char fs[256], dev[64], fs2[256], dev2[64], c[32] = "";
	const char *op = bbs_op_name[gd->g.op], *kind = bbs_kind_name[gd->g.kind];

	bbs_fs_name(gd->g.fs, fs, sizeof(fs));
	if (by & BBS_BY_COMM)
		snprintf(c, sizeof(c), " comm=%s", comm[0] ? comm : "-");
	if (gd->g.dev) {
		snprintf(live, len, "%s %s %s %s:", fs, bbs_dev_name(gd->g.dev, dev, sizeof(dev)),
			 op, kind);
		snprintf(mine, len, "%s %s %s %s%s:", fs_name(rd, by, gd->g.fs, fs2, sizeof(fs2)),
			 dev_name(rd, by, gd->g.dev, dev2, sizeof(dev2)), by & BBS_BY_OP ? op : "*",
			 by & BBS_BY_KIND ? kind : "*", c);
	} else {
		snprintf(live, len, "%s (filesystem) %s %s:", fs, op, kind);
		snprintf(mine, len,
			 "%s (filesystem) %s %s%s:", fs_name(rd, by, gd->g.fs, fs2, sizeof(fs2)),
			 by & BBS_BY_OP ? op : "*", by & BBS_BY_KIND ? kind : "*", c);
	}
}

/* bbs_report_print(), with each group's title rewritten by titles(). */
static void retitle(FILE *out, const struct bbs_tf_reader *rd, unsigned by, const char *comm,
		    const struct bbs_report *r, const struct bbs_print_opts *po)
{
	char *text = NULL, live[512], mine[512];
	size_t len = 0, gi = 0;
	FILE *m = open_memstream(&text, &len);
	const char *p;

	if (!m) {
		bbs_report_print(out, r, po);
		return;
	}
	bbs_report_print(m, r, po);
	fclose(m);
	if (r->nr_groups)
		titles(rd, by, comm, &r->groups[0], live, mine, sizeof(live));
	for (p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p), k = strlen(live);

		if (gi < r->nr_groups && n >= k && !strncmp(p, live, k)) {
			fputs(mine, out);
			fwrite(p + k, 1, n - k, out);
			if (++gi < r->nr_groups)
				titles(rd, by, comm, &r->groups[gi], live, mine, sizeof(live));
		} else {
			fwrite(p, 1, n, out);
		}
		p += n;
	}
	free(text);
}

static void patch_group(json_t *o, const struct bbs_tf_reader *rd, unsigned by, const char *comm,
			const struct bbs_group_data *gd)
{
	char buf[256];

	bbs_json_set_str(o, "fs", fs_name(rd, by, gd->g.fs, buf, sizeof(buf)));
	if (gd->g.dev)
		bbs_json_set_str(o, "dev", dev_name(rd, by, gd->g.dev, buf, sizeof(buf)));
	if (!(by & BBS_BY_OP))
		json_object_set_new(o, "op", json_string("*"));
	if (!(by & BBS_BY_KIND))
		json_object_set_new(o, "kind", json_string("*"));
	if (by & BBS_BY_COMM)
		bbs_json_set_str(o, "comm", comm[0] ? comm : NULL);
}

/* Append r's groups, patched, to arr. */
static int json_groups(json_t *arr, const struct bbs_tf_reader *rd, unsigned by, const char *comm,
		       const struct bbs_report *r)
{
	json_t *o = bbs_report_json(r), *groups = json_object_get(o, "groups");
	int ret = o ? 0 : -1;

	for (size_t i = 0; i < r->nr_groups && i < json_array_size(groups); i++) {
		json_t *g = json_array_get(groups, i);

		patch_group(g, rd, by, comm, &r->groups[i]);
		ret |= json_array_append(arr, g);
	}
	json_decref(o);
	return ret;
}

/* ---- what the trace itself says: header, losses, damage ---- */

/*
 * The warnings bbs_tfr_warn() prints, in its words: "warnings" holds every
 * line (without "bbscope: warning: "), "warning" the first, or null.
 */
static int warnings_json(json_t *o, const char *path, const struct bbs_tf_reader *rd)
{
	static const char prefix[] = "bbscope: warning: ";
	json_t *arr = json_array();
	char *text = NULL, *line, *save;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	int err = !m || !arr;

	if (m) {
		bbs_tfr_warn(rd, path, m);
		err |= fclose(m) != 0;
	}
	for (line = text && !err ? strtok_r(text, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		json_t *s;

		if (!strncmp(line, prefix, sizeof(prefix) - 1))
			line += sizeof(prefix) - 1;
		line += strspn(line, " ");
		s = bbs_json_str(line);
		err |= json_array_append_new(arr, s);
	}
	free(text);
	err |= json_object_set(o, "warning",
			       json_array_size(arr) ? json_array_get(arr, 0) : json_null());
	err |= json_object_set_new(o, "warnings", arr);
	return err ? -1 : 0;
}

static json_t *trace_json(const char *path, const struct bbs_tf_reader *rd)
{
	const struct bbs_tf_header *h = bbs_tfr_header(rd);
	const struct bbs_tf_status *st = bbs_tfr_status(rd);
	const struct bbs_tf_lost *l = bbs_tfr_lost(rd);
	json_t *percpu = json_array(), *o;

	for (uint32_t c = 0; c < l->ncpus; c++) {
		json_t *row = json_array();

		for (uint32_t i = 0; i < l->nr_reasons; i++)
			json_array_append_new(row, json_integer(l->percpu[c * l->nr_reasons + i]));
		json_array_append_new(percpu, row);
	}
	o = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:b,s:i,s:I,s:I,s:I,s:o}",
		      "start_realtime_ns", (json_int_t)h->real_ns, "bytes", (json_int_t)st->size,
		      "bytes_read", (json_int_t)st->good, "chunks", (json_int_t)st->chunks, "bios",
		      (json_int_t)st->bios, "spans", (json_int_t)st->spans, "stripes",
		      (json_int_t)st->stripes, "complete", st->trailer, "truncated", st->stopped,
		      "end_errno", (int)st->end_errno, "unwritten", (json_int_t)st->unwritten,
		      "bad_records", (json_int_t)l->user[TF_LOST_BAD_RECORD], "names_full",
		      (json_int_t)l->user[TF_LOST_NAMES_FULL], "lost_per_cpu", percpu);
	/* Strings from the recording: any bytes (host/jsonstr.h). */
	if (o &&
	    (bbs_json_set_str(o, "file", path) || bbs_json_set_str(o, "kernel", h->kernel) ||
	     bbs_json_set_str(o, "host", h->host) || bbs_json_set_str(o, "command", h->command) ||
	     (h->version[0] && (bbs_json_set_str(o, "version", h->version) ||
				bbs_json_set_str(o, "commit", h->commit))) ||
	     warnings_json(o, path, rd))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- --events ---- */

/* One bio, on f (JSON: on stdout).  0, or -1 when it could not be written. */
static int event_line(FILE *f, const struct bbs_tf_reader *rd, const struct bbs_tf_event *ev,
		      bool json, bool ms)
{
	static const int shown[] = { PHASE_QUEUE, PHASE_DEVICE, PHASE_HOP, PHASE_ENDIO,
				     PHASE_TOTAL };
	const struct bbs_event_bio *e = &ev->bio;
	uint64_t base = bbs_tfr_header(rd)->mono_ns;
	struct bbs_bio_phases p;
	char dev[64], fs[256];
	const char *cctx, *ectx;
	int ret;

	bbs_bio_phases(e, &p);
	cctx = p.complete_ctx ? bbs_ctx_name[e->complete_ctx] : NULL;
	ectx = p.endio_ctx ? bbs_ctx_name[e->endio_ctx] : NULL;
	if (json) {
		json_t *ph = json_object(), *o;

		for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
			if (p.have & (1U << shown[i]))
				json_object_set_new(ph, bbs_phase_name[shown[i]],
						    json_integer(p.ns[shown[i]]));
		o = json_pack("{s:I,s:o,s:I,s:o,s:o,s:s,s:s,s:I,s:I,s:o,s:s?,s:s?,s:i,s:i,s:o,"
			      "s:i}",
			      "time_ns", (json_int_t)(e->queue_ns - base), "comm", json_null(),
			      "pid", (json_int_t)e->pid, "fs", json_null(), "dev", json_null(),
			      "op", bbs_op_name[e->op], "kind", bbs_kind_name[e->kind], "sector",
			      (json_int_t)e->sector, "bytes", (json_int_t)e->bytes, "phases", ph,
			      "complete_ctx", cctx, "endio_ctx", ectx, "cpu_complete",
			      e->cpu_complete, "cpu_endio", e->cpu_endio, "wq", json_null(),
			      "flags", e->flags);
		if (o && e->logical)
			json_object_set_new(o, "logical", json_integer(e->logical));
		/* Names from the recording: any bytes (host/jsonstr.h). */
		if (o &&
		    (bbs_json_set_str(o, "comm", e->comm) ||
		     bbs_json_set_str(o, "fs", fs_name(rd, BBS_BY_FS, e->fs, fs, sizeof(fs))) ||
		     bbs_json_set_str(o, "dev",
				      dev_name(rd, BBS_BY_DEV, e->dev, dev, sizeof(dev))) ||
		     bbs_json_set_str(o, "wq", e->wq[0] ? e->wq : NULL))) {
			json_decref(o);
			o = NULL;
		}
		ret = bbs_json_print(o, 0);
		json_decref(o);
		return ret;
	}
	fprintf(f, "%-12.6f %-16s %-7u %-8s %-5s %-8s %-12llu %-8u", (e->queue_ns - base) / 1e9,
		e->comm[0] ? e->comm : "-", e->pid,
		dev_name(rd, BBS_BY_DEV, e->dev, dev, sizeof(dev)), bbs_op_name[e->op],
		bbs_kind_name[e->kind], (unsigned long long)e->sector, e->bytes);
	for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++) {
		if (p.have & (1U << shown[i]))
			fprintf(f, " %9.1f", p.ns[shown[i]] / (ms ? 1e6 : 1e3));
		else
			fprintf(f, " %9s", "-");
	}
	fprintf(f, " %-8s %-8s %s\n", cctx ? cctx : "-", ectx ? ectx : "-", e->wq[0] ? e->wq : "-");
	return 0;
}

static int print_events(struct bbs_tf_reader *rd, bool json, bool ms)
{
	struct bbs_tf_event ev;
	int ret = 0;

	if (!json)
		printf("%-12s %-16s %-7s %-8s %-5s %-8s %-12s %-8s %9s %9s %9s %9s %9s %-8s %-8s "
		       "%s\n",
		       "TIME(s)", "COMM", "PID", "DEV", "OP", "KIND", "SECTOR", "BYTES", "QUEUE",
		       "DEVICE", "HOP", "ENDIO", "TOTAL", "COMPLETE", "END_IO", "WQ");
	/* Stop at the first line stdout refuses: bbs_exit() says why. */
	while (!ret && !ferror(stdout) && bbs_tfr_next(rd, &ev) == 1)
		if (ev.type == EV_BIO)
			ret = event_line(stdout, rd, &ev, json, ms);
	if (!json)
		printf("(latencies in %s; COMPLETE and END_IO: the context each ran in)\n",
		       ms ? "ms" : "us");
	return ret || ferror(stdout) ? BBS_EXIT_FAIL : BBS_EXIT_OK;
}

/* ---- histograms ---- */

static void print_plain(const char *path, const struct bbs_trace_report *m,
			const struct bbs_tf_reader *rd, const struct bbs_print_opts *po)
{
	const struct bbs_tf_header *h = bbs_tfr_header(rd);
	time_t t = h->real_ns / 1000000000ULL;
	char when[64];

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&t));
	printf("--- %s: recorded %s on %s (Linux %s), %.2f s, %llu bios ---\n", path, when, h->host,
	       h->kernel, m->all.interval_s, (unsigned long long)bbs_tfr_status(rd)->bios);
	if (!(m->by & BBS_BY_COMM)) {
		retitle(stdout, rd, m->by, "", &m->all, po);
		return;
	}
	if (!m->nr)
		bbs_report_print(stdout, &m->all, po);
	for (size_t i = 0; i < m->nr; i++)
		retitle(stdout, rd, m->by, m->slices[i].comm, &m->slices[i].r, po);
}

static json_t *report_json(const char *path, const struct bbs_trace_report *m,
			   const struct bbs_tf_reader *rd)
{
	json_t *o = bbs_report_json(&m->all), *groups = json_array();

	int err = !o;

	if (m->by & BBS_BY_COMM) {
		for (size_t i = 0; i < m->nr; i++)
			err |= json_groups(groups, rd, m->by, m->slices[i].comm, &m->slices[i].r);
	} else {
		err |= json_groups(groups, rd, m->by, "", &m->all);
	}
	err |= json_object_set_new(o, "groups", groups);
	err |= json_object_set_new(o, "trace", trace_json(path, rd));
	if (err) {
		/* Never half a report: bbs_json_print() says it could not be built. */
		json_decref(o);
		return NULL;
	}
	return o;
}

static int print_json(const char *path, const struct bbs_trace_report *m,
		      const struct bbs_tf_reader *rd)
{
	json_t *o = report_json(path, m, rd);
	int ret = bbs_json_print(o, 0);

	json_decref(o);
	return ret;
}

/* --html: the same report as one page (render/html.h), with the trace's heatmaps. */
static int write_html(const char *out, bool force, const char *path,
		      const struct bbs_trace_report *m, const struct bbs_tf_reader *rd)
{
	json_t *o = report_json(path, m, rd);
	struct bbs_html *h = bbs_html_new("bbscope report");
	char err[PATH_MAX + 128];
	int ret = 1;

	if (!o || !h) {
		bbs_err("cannot write %s: out of memory", out);
		goto out;
	}
	if (bbs_html_report(h, "report", o, path, err, sizeof(err)))
		bbs_warn("%s: no heatmap: %s", path, err);
	if (bbs_html_write(h, out, force, err, sizeof(err))) {
		/* A path refused (a directory, a dangling link) is bad input. */
		ret = bbs_out_refused(-errno) ? BBS_EXIT_USAGE : BBS_EXIT_FAIL;
		bbs_err("cannot write %s: %s", out, err);
		goto out;
	}
	ret = 0;
out:
	bbs_html_free(h);
	json_decref(o);
	return ret;
}

struct report_cmd {
	struct bbs_trace_report m;
	struct bbs_print_opts po;
	bool json, events, force;
	const char *path, *html;
};

static int report_opt(struct report_cmd *c, int opt, char **argv)
{
	switch (opt) {
	case 'b':
		if (bbs_by_parse(optarg, &c->m.by)) {
			bbs_err("--by %s: want a comma separated list of fs, dev, op, kind, comm",
				optarg);
			return BBS_EXIT_USAGE;
		}
		break;
	case 'e':
		c->events = true;
		break;
	case 'm':
		c->po.ms = true;
		break;
	case 's':
		c->po.summary = true;
		break;
	case 'j':
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
		return bbs_opt_error(opt, argv, "report");
	}
	return BBS_PARSE_GO;
}

static int parse_opts(int argc, char **argv, struct report_cmd *c)
{
	static const struct option long_opts[] = {
		{ "by", required_argument, NULL, 'b' },
		{ "events", no_argument, NULL, 'e' },
		{ "milliseconds", no_argument, NULL, 'm' },
		{ "summary", no_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "html", required_argument, NULL, 'H' },
		{ "force", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int opt, ret;

	bbs_opt_start();
	while ((opt = getopt_long(argc, argv, ":b:emsjH:Fh", long_opts, NULL)) != -1) {
		ret = report_opt(c, opt, argv);
		if (ret != BBS_PARSE_GO)
			return ret;
	}
	if (c->html && c->events) {
		bbs_err("--html draws the histograms; it does not go with --events");
		return BBS_EXIT_USAGE;
	}
	if (optind != argc - 1) {
		bbs_err(optind < argc ? "report reads one trace file"
				      : "report needs a trace FILE");
		return BBS_EXIT_USAGE;
	}
	c->path = argv[optind];
	return BBS_PARSE_GO;
}

/* The histograms: text, JSON, or the page. */
static int report_hists(struct report_cmd *c, struct bbs_tf_reader *rd)
{
	int ret = 0;

	if (bbs_trace_report_build(&c->m, rd)) {
		bbs_err("cannot report %s: out of memory", c->path);
		return BBS_EXIT_FAIL;
	}
	if (c->json)
		ret = print_json(c->path, &c->m, rd);
	else if (!c->html)
		print_plain(c->path, &c->m, rd, &c->po);
	fflush(stdout);
	bbs_tfr_warn(rd, c->path, stderr);
	if (!ret && c->html)
		ret = write_html(c->html, c->force, c->path, &c->m, rd);
	bbs_trace_report_free(&c->m);
	return ret < 0 ? BBS_EXIT_FAIL : ret;
}

int cmd_report(int argc, char **argv)
{
	struct report_cmd c = { .m.by = BBS_BY_DEFAULT };
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
	if (c.events) {
		ret = print_events(rd, c.json, c.po.ms);
		bbs_tfr_warn(rd, c.path, stderr);
	} else {
		ret = report_hists(&c, rd);
	}
	bbs_tfr_close(rd);
	return ret;
}
