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
#include "out/hist.h"
#include "out/html.h"
#include "trace/tracefile.h"
#include "host/util.h"

enum by_dim {
	BY_FS = 1 << 0,
	BY_DEV = 1 << 1,
	BY_OP = 1 << 2,
	BY_KIND = 1 << 3,
	BY_COMM = 1 << 4,
};
#define BY_DEFAULT (BY_FS | BY_DEV | BY_OP | BY_KIND)
/* A device group whose device --by leaves out: non-zero, so hist.c keeps its device phases. */
#define DEV_ANY 0xffffffffU

static const char *const dim_name[] = { "fs", "dev", "op", "kind", "comm" };

static void usage(FILE *f)
{
	fprintf(f, "usage: bbscope report FILE [--json] [--html OUT] [--by DIMS] [-m] [-s]\n"
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
		   "  -H, --html OUT       write the histograms and a latency-over-time heatmap\n"
		   "                       as one self-contained HTML page (no text report;\n"
		   "                       with --json the JSON is still printed)\n"
		   "\n"
		   "Exit status: 0 read (perhaps with warnings), 1 failed, 2 bad usage or not a\n"
		   "readable trace.\n");
}

static int parse_by(const char *s, unsigned *by)
{
	char *copy = strdup(s), *tok, *save = NULL;
	int ret = 0;

	if (!copy)
		return -1;
	*by = 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t i;

		for (i = 0; i < sizeof(dim_name) / sizeof(dim_name[0]); i++)
			if (!strcmp(tok, dim_name[i]))
				break;
		if (i == sizeof(dim_name) / sizeof(dim_name[0])) {
			ret = -1;
			break;
		}
		*by |= 1U << i;
	}
	free(copy);
	return ret || !*by ? -1 : 0;
}

/* One report per submitting comm when --by has comm, else one for all. */
struct slice {
	char comm[16];
	struct bbs_report r;
};

struct model {
	unsigned by;
	struct bbs_report all; /* every record: the top-level keys, and the groups without comm */
	struct slice *slices;
	size_t nr, cap, last;
};

static struct bbs_report *slice_of(struct model *m, const char *comm)
{
	struct slice *s;

	if (m->last < m->nr && !strcmp(m->slices[m->last].comm, comm))
		return &m->slices[m->last].r;
	for (size_t i = 0; i < m->nr; i++)
		if (!strcmp(m->slices[i].comm, comm)) {
			m->last = i;
			return &m->slices[i].r;
		}
	if (m->nr == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 16;

		s = realloc(m->slices, cap * sizeof(*s));
		if (!s)
			return NULL;
		m->slices = s;
		m->cap = cap;
	}
	s = &m->slices[m->nr];
	snprintf(s->comm, sizeof(s->comm), "%s", comm);
	bbs_report_init(&s->r);
	m->last = m->nr++;
	return &s->r;
}

/* The group a record counts in, with the dimensions --by leaves out merged. */
static struct bbs_group_data *group_of(struct model *m, struct bbs_report *r, struct bbs_group g)
{
	if (!(m->by & BY_FS))
		g.fs = 0;
	if (!(m->by & BY_DEV) && g.dev)
		g.dev = DEV_ANY;
	if (!(m->by & BY_OP))
		g.op = 0;
	if (!(m->by & BY_KIND))
		g.kind = 0;
	return bbs_report_group(r, &g);
}

/* What finish_bio() accounts for one bio, from bbs_bio_phases(). */
static int add_bio(struct model *m, struct bbs_report *r, const struct bbs_event_bio *e,
		   const struct bbs_bio_phases *p)
{
	struct bbs_group g = { .fs = e->fs, .dev = e->dev, .op = e->op, .kind = e->kind };
	struct bbs_group_data *gd = group_of(m, r, g);

	if (!gd)
		return -ENOMEM;
	gd->stats.bios++;
	gd->stats.bytes += e->bytes;
	if (p->complete_ctx)
		gd->stats.complete_ctx[e->complete_ctx]++;
	if (p->endio_ctx)
		gd->stats.endio_ctx[e->endio_ctx]++;
	for (int ph = 0; ph < NR_PHASES; ph++)
		if (p->have & (1U << ph))
			bbs_hist_add(&gd->phases[ph], p->ns[ph]);
	if (e->wq[0])
		bbs_group_add_wq(gd, e->wq, 1);
	return 0;
}

static int add_record(struct model *m, struct bbs_report *r, const struct bbs_tf_event *ev)
{
	struct bbs_group_data *gd;
	struct bbs_bio_phases p;
	struct bbs_group g;

	switch (ev->type) {
	case EV_BIO:
		bbs_bio_phases(&ev->bio, &p);
		return add_bio(m, r, &ev->bio, &p);
	case EV_STRIPE:
		g = (struct bbs_group){ .fs = ev->stripe.fs,
					.dev = ev->stripe.dev,
					.op = ev->stripe.op,
					.kind = ev->stripe.kind };
		gd = group_of(m, r, g);
		if (!gd)
			return -ENOMEM;
		if (ev->stripe.op == BBS_OP_WRITE)
			gd->stats.stripe_writes++;
		else
			gd->stats.stripe_reads++;
		return 0;
	default:
		bbs_span_group(&ev->span, &g);
		gd = group_of(m, r, g);
		if (!gd)
			return -ENOMEM;
		bbs_hist_add(&gd->phases[ev->span.phase], ev->span.end_ns - ev->span.start_ns);
		return 0;
	}
}

static const char *record_comm(const struct bbs_tf_event *ev)
{
	return ev->type == EV_BIO ? ev->bio.comm : "";
}

/* What every report of the trace shares: the interval, losses, unavailable phases. */
static void set_common(struct bbs_report *r, const struct bbs_tf_reader *rd, bool with_lost)
{
	const struct bbs_tf_header *h = bbs_tfr_header(rd);
	const struct bbs_tf_lost *l = bbs_tfr_lost(rd);

	r->interval_s = (bbs_tfr_status(rd)->end_ns - h->mono_ns) / 1e9;
	for (int p = 0; p < NR_PHASES; p++)
		r->phase_unavailable[p] = !!(h->phase_unavailable & (1U << p));
	if (!with_lost)
		return;
	memcpy(r->lost, l->total, sizeof(r->lost));
	r->evicted = l->user[TF_LOST_EVICTED];
}

static int slice_cmp(const void *a, const void *b)
{
	return strcmp(((const struct slice *)a)->comm, ((const struct slice *)b)->comm);
}

/* ---- names: recorded ones, '*' for dimensions left out ---- */

static const char *fs_name(const struct bbs_tf_reader *rd, unsigned by, uint32_t fs, char *buf,
			   size_t len)
{
	const char *n;

	if (!(by & BY_FS))
		return "*";
	n = bbs_tfr_name(rd, TF_FS, fs);
	return n ? n : bbs_fs_name(fs, buf, len);
}

static const char *dev_name(const struct bbs_tf_reader *rd, unsigned by, uint32_t dev, char *buf,
			    size_t len)
{
	const char *n;

	if (!(by & BY_DEV))
		return "*";
	n = bbs_tfr_name(rd, TF_DEV, dev);
	return n ? n : bbs_dev_name(dev, buf, len);
}

/* The start of a group's first line as hist.c prints it, and as report wants it. */
static void titles(const struct bbs_tf_reader *rd, unsigned by, const char *comm,
		   const struct bbs_group_data *gd, char *live, char *mine, size_t len)
{
	char fs[256], dev[64], fs2[256], dev2[64], c[32] = "";
	const char *op = bbs_op_name[gd->g.op], *kind = bbs_kind_name[gd->g.kind];

	bbs_fs_name(gd->g.fs, fs, sizeof(fs));
	if (by & BY_COMM)
		snprintf(c, sizeof(c), " comm=%s", comm[0] ? comm : "-");
	if (gd->g.dev) {
		snprintf(live, len, "%s %s %s %s:", fs, bbs_dev_name(gd->g.dev, dev, sizeof(dev)),
			 op, kind);
		snprintf(mine, len, "%s %s %s %s%s:", fs_name(rd, by, gd->g.fs, fs2, sizeof(fs2)),
			 dev_name(rd, by, gd->g.dev, dev2, sizeof(dev2)), by & BY_OP ? op : "*",
			 by & BY_KIND ? kind : "*", c);
	} else {
		snprintf(live, len, "%s (filesystem) %s %s:", fs, op, kind);
		snprintf(mine, len,
			 "%s (filesystem) %s %s%s:", fs_name(rd, by, gd->g.fs, fs2, sizeof(fs2)),
			 by & BY_OP ? op : "*", by & BY_KIND ? kind : "*", c);
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

	json_object_set_new(o, "fs", json_string(fs_name(rd, by, gd->g.fs, buf, sizeof(buf))));
	if (gd->g.dev)
		json_object_set_new(o, "dev",
				    json_string(dev_name(rd, by, gd->g.dev, buf, sizeof(buf))));
	if (!(by & BY_OP))
		json_object_set_new(o, "op", json_string("*"));
	if (!(by & BY_KIND))
		json_object_set_new(o, "kind", json_string("*"));
	if (by & BY_COMM)
		json_object_set_new(o, "comm", comm[0] ? json_string(comm) : json_null());
}

/* Append r's groups, patched, to arr. */
static void json_groups(json_t *arr, const struct bbs_tf_reader *rd, unsigned by, const char *comm,
			const struct bbs_report *r)
{
	json_t *o = bbs_report_json(r), *groups = json_object_get(o, "groups");

	for (size_t i = 0; i < r->nr_groups && i < json_array_size(groups); i++) {
		json_t *g = json_array_get(groups, i);

		patch_group(g, rd, by, comm, &r->groups[i]);
		json_array_append(arr, g);
	}
	json_decref(o);
}

/* ---- what the trace itself says: header, losses, damage ---- */

static json_t *trace_json(const char *path, const struct bbs_tf_reader *rd)
{
	const struct bbs_tf_header *h = bbs_tfr_header(rd);
	const struct bbs_tf_status *st = bbs_tfr_status(rd);
	const struct bbs_tf_lost *l = bbs_tfr_lost(rd);
	json_t *percpu = json_array();

	for (uint32_t c = 0; c < l->ncpus; c++) {
		json_t *row = json_array();

		for (uint32_t i = 0; i < l->nr_reasons; i++)
			json_array_append_new(row, json_integer(l->percpu[c * l->nr_reasons + i]));
		json_array_append_new(percpu, row);
	}
	return json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:b,s:s?,s:i,s:I,"
			 "s:I,s:I,s:o}",
			 "file", path, "kernel", h->kernel, "host", h->host, "command", h->command,
			 "start_realtime_ns", (json_int_t)h->real_ns, "bytes", (json_int_t)st->size,
			 "bytes_read", (json_int_t)st->good, "chunks", (json_int_t)st->chunks,
			 "bios", (json_int_t)st->bios, "spans", (json_int_t)st->spans, "stripes",
			 (json_int_t)st->stripes, "complete", st->trailer, "truncated", st->stopped,
			 "warning", st->why[0] ? st->why : NULL, "end_errno", (int)st->end_errno,
			 "unwritten", (json_int_t)st->unwritten, "bad_records",
			 (json_int_t)l->user[TF_LOST_BAD_RECORD], "names_full",
			 (json_int_t)l->user[TF_LOST_NAMES_FULL], "lost_per_cpu", percpu);
}

/* ---- --events ---- */

static void event_line(FILE *f, const struct bbs_tf_reader *rd, const struct bbs_tf_event *ev,
		       bool json, bool ms)
{
	static const int shown[] = { PHASE_QUEUE, PHASE_DEVICE, PHASE_HOP, PHASE_ENDIO,
				     PHASE_TOTAL };
	const struct bbs_event_bio *e = &ev->bio;
	uint64_t base = bbs_tfr_header(rd)->mono_ns;
	struct bbs_bio_phases p;
	char dev[64], fs[256];
	const char *cctx, *ectx;

	bbs_bio_phases(e, &p);
	cctx = p.complete_ctx ? bbs_ctx_name[e->complete_ctx] : NULL;
	ectx = p.endio_ctx ? bbs_ctx_name[e->endio_ctx] : NULL;
	if (json) {
		json_t *ph = json_object(), *o;

		for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
			if (p.have & (1U << shown[i]))
				json_object_set_new(ph, bbs_phase_name[shown[i]],
						    json_integer(p.ns[shown[i]]));
		o = json_pack("{s:I,s:s,s:I,s:s,s:s,s:s,s:s,s:I,s:I,s:o,s:s?,s:s?,s:i,s:i,s:s?,"
			      "s:i}",
			      "time_ns", (json_int_t)(e->queue_ns - base), "comm", e->comm, "pid",
			      (json_int_t)e->pid, "fs", fs_name(rd, BY_FS, e->fs, fs, sizeof(fs)),
			      "dev", dev_name(rd, BY_DEV, e->dev, dev, sizeof(dev)), "op",
			      bbs_op_name[e->op], "kind", bbs_kind_name[e->kind], "sector",
			      (json_int_t)e->sector, "bytes", (json_int_t)e->bytes, "phases", ph,
			      "complete_ctx", cctx, "endio_ctx", ectx, "cpu_complete",
			      e->cpu_complete, "cpu_endio", e->cpu_endio, "wq",
			      e->wq[0] ? e->wq : NULL, "flags", e->flags);
		if (e->logical)
			json_object_set_new(o, "logical", json_integer(e->logical));
		json_dumpf(o, f, JSON_COMPACT);
		fputc('\n', f);
		json_decref(o);
		return;
	}
	fprintf(f, "%-12.6f %-16s %-7u %-8s %-5s %-8s %-12llu %-8u", (e->queue_ns - base) / 1e9,
		e->comm[0] ? e->comm : "-", e->pid, dev_name(rd, BY_DEV, e->dev, dev, sizeof(dev)),
		bbs_op_name[e->op], bbs_kind_name[e->kind], (unsigned long long)e->sector,
		e->bytes);
	for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++) {
		if (p.have & (1U << shown[i]))
			fprintf(f, " %9.1f", p.ns[shown[i]] / (ms ? 1e6 : 1e3));
		else
			fprintf(f, " %9s", "-");
	}
	fprintf(f, " %-8s %-8s %s\n", cctx ? cctx : "-", ectx ? ectx : "-", e->wq[0] ? e->wq : "-");
}

static int print_events(struct bbs_tf_reader *rd, bool json, bool ms)
{
	struct bbs_tf_event ev;

	if (!json)
		printf("%-12s %-16s %-7s %-8s %-5s %-8s %-12s %-8s %9s %9s %9s %9s %9s %-8s %-8s "
		       "%s\n",
		       "TIME(s)", "COMM", "PID", "DEV", "OP", "KIND", "SECTOR", "BYTES", "QUEUE",
		       "DEVICE", "HOP", "ENDIO", "TOTAL", "COMPLETE", "END_IO", "WQ");
	while (bbs_tfr_next(rd, &ev) == 1)
		if (ev.type == EV_BIO)
			event_line(stdout, rd, &ev, json, ms);
	if (!json)
		printf("(latencies in %s; COMPLETE and END_IO: the context each ran in)\n",
		       ms ? "ms" : "us");
	return 0;
}

/* ---- histograms ---- */

static int build(struct model *m, struct bbs_tf_reader *rd)
{
	struct bbs_tf_event ev;
	struct bbs_report *r;

	while (bbs_tfr_next(rd, &ev) == 1) {
		if (add_record(m, &m->all, &ev))
			return -ENOMEM;
		if (!(m->by & BY_COMM))
			continue;
		r = slice_of(m, record_comm(&ev));
		if (!r || add_record(m, r, &ev))
			return -ENOMEM;
	}
	set_common(&m->all, rd, true);
	bbs_report_sort(&m->all);
	qsort(m->slices, m->nr, sizeof(*m->slices), slice_cmp);
	for (size_t i = 0; i < m->nr; i++) {
		/* The losses belong to the whole trace: printed once, after the last slice. */
		set_common(&m->slices[i].r, rd, i == m->nr - 1);
		bbs_report_sort(&m->slices[i].r);
	}
	return 0;
}

static void print_plain(const char *path, const struct model *m, const struct bbs_tf_reader *rd,
			const struct bbs_print_opts *po)
{
	const struct bbs_tf_header *h = bbs_tfr_header(rd);
	time_t t = h->real_ns / 1000000000ULL;
	char when[64];

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&t));
	printf("--- %s: recorded %s on %s (Linux %s), %.2f s, %llu bios ---\n", path, when, h->host,
	       h->kernel, m->all.interval_s, (unsigned long long)bbs_tfr_status(rd)->bios);
	if (!(m->by & BY_COMM)) {
		retitle(stdout, rd, m->by, "", &m->all, po);
		return;
	}
	if (!m->nr)
		bbs_report_print(stdout, &m->all, po);
	for (size_t i = 0; i < m->nr; i++)
		retitle(stdout, rd, m->by, m->slices[i].comm, &m->slices[i].r, po);
}

static json_t *report_json(const char *path, const struct model *m, const struct bbs_tf_reader *rd)
{
	json_t *o = bbs_report_json(&m->all), *groups = json_array();

	if (m->by & BY_COMM) {
		for (size_t i = 0; i < m->nr; i++)
			json_groups(groups, rd, m->by, m->slices[i].comm, &m->slices[i].r);
	} else {
		json_groups(groups, rd, m->by, "", &m->all);
	}
	json_object_set_new(o, "groups", groups);
	json_object_set_new(o, "trace", trace_json(path, rd));
	return o;
}

static void print_json(const char *path, const struct model *m, const struct bbs_tf_reader *rd)
{
	json_t *o = report_json(path, m, rd);

	json_dumpf(o, stdout, JSON_COMPACT);
	fputc('\n', stdout);
	json_decref(o);
}

/* --html: the same report as one page (user/html.h), with the trace's heatmaps. */
static int write_html(const char *out, const char *path, const struct model *m,
		      const struct bbs_tf_reader *rd)
{
	json_t *o = report_json(path, m, rd);
	struct bbs_html *h = bbs_html_new("bbscope report");
	char err[256];
	int ret = 1;

	if (!o || !h) {
		bbs_err("cannot write %s: out of memory", out);
		goto out;
	}
	if (bbs_html_report(h, "report", o, path, err, sizeof(err)))
		bbs_warn("%s: no heatmap: %s", path, err);
	if (bbs_html_write(h, out)) {
		bbs_err("cannot write %s: %s", out, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	bbs_html_free(h);
	json_decref(o);
	return ret;
}

int cmd_report(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "by", required_argument, NULL, 'b' },
		{ "events", no_argument, NULL, 'e' },
		{ "milliseconds", no_argument, NULL, 'm' },
		{ "summary", no_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "html", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct model m = { .by = BY_DEFAULT };
	struct bbs_print_opts po = { 0 };
	struct bbs_tf_reader *rd;
	bool json = false, events = false;
	const char *path, *html = NULL;
	char err[256];
	int c, ret;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j"))
			bbs_json_errors = json = true;

	while ((c = getopt_long(argc, argv, "b:emsjH:h", long_opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (parse_by(optarg, &m.by)) {
				bbs_err("--by %s: want a comma separated list of fs, dev, op, "
					"kind, "
					"comm",
					optarg);
				return 2;
			}
			break;
		case 'e':
			events = true;
			break;
		case 'm':
			po.ms = true;
			break;
		case 's':
			po.summary = true;
			break;
		case 'j':
			break;
		case 'H':
			html = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (html && events) {
		bbs_err("--html draws the histograms; it does not go with --events");
		return 2;
	}
	if (optind != argc - 1) {
		bbs_err(optind < argc ? "report reads one trace file"
				      : "report needs a trace FILE");
		return 2;
	}
	path = argv[optind];
	ret = bbs_tfr_open(&rd, path, err, sizeof(err));
	if (ret) {
		bbs_err("cannot read %s: %s", path, err);
		return ret == -ENOMEM ? 1 : 2;
	}
	if (events) {
		ret = print_events(rd, json, po.ms);
		bbs_tfr_warn(rd, path, stderr);
		bbs_tfr_close(rd);
		return ret;
	}
	bbs_report_init(&m.all);
	ret = build(&m, rd);
	if (ret) {
		bbs_err("cannot report %s: out of memory", path);
	} else {
		if (json)
			print_json(path, &m, rd);
		else if (!html)
			print_plain(path, &m, rd, &po);
		fflush(stdout);
		bbs_tfr_warn(rd, path, stderr);
		if (html)
			ret = write_html(html, path, &m, rd);
	}
	for (size_t i = 0; i < m.nr; i++)
		bbs_report_free(&m.slices[i].r);
	free(m.slices);
	bbs_report_free(&m.all);
	bbs_tfr_close(rd);
	return ret ? 1 : 0;
}
