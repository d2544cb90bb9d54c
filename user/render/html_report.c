// SPDX-License-Identifier: GPL-2.0
/*
 * A report (the JSON of docs/json.md) as an HTML page, from render/html.c's
 * pieces: the summary table, a phase histogram per observed group and
 * phase, raid56 work items, function phases and, from the trace, the
 * latency-over-time heatmaps (bbs_html_report, render/html.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render/html.h"
#include "host/jsonstr.h"
#include "host/array.h"

static const char *jstr(const json_t *o, const char *key, const char *def)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : def;
}

static bool observed(const json_t *phase)
{
	return json_integer_value(json_object_get(phase, "count")) > 0;
}

/*
 * "loop0 write data", or "/mnt (filesystem) write data" for the phases
 * without a device (as the text report says it; "filesystem" alone where
 * filesystems are merged); with --by, only what the groups are told apart by
 * ("*": merged), so "/mnt dd" for --by fs,comm, never "* * *".
 */
static void group_label(const json_t *g, char *buf, size_t len)
{
	const char *dev = jstr(g, "dev", NULL), *fs = jstr(g, "fs", "*");
	bool fs_level = !dev, with_fs = (fs_level || !strcmp(dev, "*")) && strcmp(fs, "*");
	const char *where = fs_level ? (with_fs ? "(filesystem)" : "filesystem") : dev;
	const char *part[] = { with_fs ? fs : NULL, where, jstr(g, "op", "?"), jstr(g, "kind", "?"),
			       jstr(g, "comm", "*") };
	size_t n = 0;

	buf[0] = 0;
	for (size_t i = 0; i < sizeof(part) / sizeof(part[0]) && n < len; i++)
		if (part[i] && strcmp(part[i], "*"))
			n += snprintf(buf + n, len - n, "%s%s", n ? " " : "", part[i]);
	if (!buf[0])
		snprintf(buf, len, "all bios");
	/* split by comm, but this group's phases have no process (ordered extents) */
	n = strlen(buf);
	if (json_is_null(json_object_get(g, "comm")) && n < len)
		snprintf(buf + n, len - n, ", every process");
}

/* 67108864 -> "64 MiB" */
static void fmt_bytes(char *buf, size_t len, double v)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, "%.3g %s", v, unit[i]);
}

static void ctx_cell(const json_t *ctx, char *buf, size_t len)
{
	const char *k;
	json_t *v;
	size_t n = 0;

	buf[0] = 0;
	json_object_foreach((json_t *)ctx, k, v)
	{
		if (json_integer_value(v) && n < len)
			n += snprintf(buf + n, len - n, "%s%s %lld", n ? ", " : "", k,
				      (long long)json_integer_value(v));
	}
	if (!buf[0])
		snprintf(buf, len, "-");
}

static void report_table(struct bbs_html *h, const json_t *groups)
{
	static const char *const head[] = { "group", "bios", "bytes",	   "phase", "p50",
					    "p99",   "max",  "completion", "end_io" };
	enum { COLS = sizeof(head) / sizeof(head[0]) };
	size_t rows = 1, cap = 64, i;
	char **cells = calloc(cap * COLS, sizeof(*cells));
	const json_t *g;

	if (!cells)
		return;
	for (int c = 0; c < COLS; c++)
		cells[c] = strdup(head[c]);
	json_array_foreach(groups, i, g)
	{
		const char *pn;
		json_t *ph;
		char label[160], cc[96], ec[96];
		bool first = true;

		group_label(g, label, sizeof(label));
		ctx_cell(json_object_get(g, "complete_ctx"), cc, sizeof(cc));
		ctx_cell(json_object_get(g, "endio_ctx"), ec, sizeof(ec));
		json_object_foreach(json_object_get(g, "phases"), pn, ph)
		{
			char v[3][32], n[2][32], **more;

			if (!observed(ph))
				continue;
			more = bbs_array_reserve(cells, &cap, rows + 1, COLS * sizeof(*cells), 64);
			if (!more)
				break;
			cells = more;
			bbs_html_fmt(v[0], 32, bbs_json_num(ph, "p50_ns"), BBS_UNIT_NS);
			bbs_html_fmt(v[1], 32, bbs_json_num(ph, "p99_ns"), BBS_UNIT_NS);
			bbs_html_fmt(v[2], 32, bbs_json_num(ph, "max_ns"), BBS_UNIT_NS);
			snprintf(n[0], 32, "%lld", json_integer_value(json_object_get(g, "bios")));
			fmt_bytes(n[1], 32, json_integer_value(json_object_get(g, "bytes")));
			{
				const char *row[COLS] = { first ? label : "",
							  first ? n[0] : "",
							  first ? n[1] : "",
							  pn,
							  v[0],
							  v[1],
							  v[2],
							  first ? cc : "",
							  first ? ec : "" };

				for (int c = 0; c < COLS; c++)
					cells[rows * COLS + c] = strdup(row[c]);
			}
			rows++;
			first = false;
		}
	}
	bbs_html_table(h, (const char *const *)cells, rows, COLS);
	for (size_t k = 0; k < rows * COLS; k++)
		free(cells[k]);
	free(cells);
}

/* Function phases (--func): each function's total and self time, and those not traced. */
static void funcs_section(struct bbs_html *h, const char *id_prefix, const json_t *report)
{
	const json_t *funcs = json_object_get(report, "funcs"), *f;
	const json_t *off = json_object_get(report, "funcs_not_traced");
	char id[256], title[256];
	size_t i;

	if (!json_array_size(funcs) && !json_array_size(off))
		return;
	bbs_html_h2(h, "Kernel functions (--func)");
	bbs_html_grid_begin(h);
	json_array_foreach(funcs, i, f)
	{
		for (int self = 0; self < 2; self++) {
			snprintf(id, sizeof(id), "%s-func-%zu-%s", id_prefix, i,
				 self ? "self" : "total");
			snprintf(title, sizeof(title), "%s under %s, %s: %s time (%lld calls)",
				 jstr(f, "phase", "?"), jstr(f, "under", "?"), jstr(f, "fs", "?"),
				 self ? "self" : "total",
				 json_integer_value(json_object_get(f, "calls")));
			bbs_html_phase_hist(h, id, title,
					    json_object_get(f, self ? "self" : "total"));
		}
	}
	bbs_html_grid_end(h);
	json_array_foreach(off, i, f)
		bbs_html_p(h, "%s not traced: %s", jstr(f, "phase", "?"), jstr(f, "reason", "?"));
}

int bbs_html_report(struct bbs_html *h, const char *id_prefix, const json_t *report,
		    const char *trace, char *err, size_t errlen)
{
	const json_t *groups = json_object_get(report, "groups"),
		     *tr = json_object_get(report, "trace");
	const json_t *raid = json_object_get(report, "raid56"), *g;
	char id[256], title[256], label[160];
	size_t i;

	if (tr)
		bbs_html_p(h, "Trace %s: %lld bios over %.3f s, recorded on %s (Linux %s)%s%s.",
			   jstr(tr, "file", "?"), json_integer_value(json_object_get(tr, "bios")),
			   bbs_json_num(report, "interval_s"), jstr(tr, "host", "?"),
			   jstr(tr, "kernel", "?"), jstr(tr, "command", "")[0] ? ", command: " : "",
			   jstr(tr, "command", ""));
	if (json_integer_value(json_object_get(report, "sample")) > 1)
		bbs_html_p(h, "Sampled: one bio in %lld followed; counts and bytes scaled by it.",
			   json_integer_value(json_object_get(report, "sample")));
	if (json_integer_value(json_object_get(report, "lost")))
		bbs_html_p(h, "Lost observations: %lld (see lost_detail in the JSON report).",
			   json_integer_value(json_object_get(report, "lost")));
	report_table(h, groups);

	json_array_foreach(groups, i, g)
	{
		const char *pn;
		json_t *ph;
		bool any = false;

		json_object_foreach(json_object_get(g, "phases"), pn, ph)
		{
			any |= observed(ph);
		}
		if (!any)
			continue;
		group_label(g, label, sizeof(label));
		bbs_html_h2(h, label);
		bbs_html_grid_begin(h);
		json_object_foreach(json_object_get(g, "phases"), pn, ph)
		{
			if (!observed(ph))
				continue;
			/* The comm only where groups are split by it (--by comm). */
			const char *comm = jstr(g, "comm", "");

			/* a filesystem's own phases: named after it, as two may be traced */
			const char *dev = json_string_value(json_object_get(g, "dev"));
			const char *fs = jstr(g, "fs", "all");
			char where[96];

			if (dev)
				snprintf(where, sizeof(where), "%s", dev);
			else
				snprintf(where, sizeof(where), "fs-%s", fs + (*fs == '/'));
			snprintf(id, sizeof(id), "%s-hist-%s-%s-%s%s%s-%s", id_prefix, where,
				 jstr(g, "op", "x"), jstr(g, "kind", "x"), *comm ? "-" : "", comm,
				 pn);
			snprintf(title, sizeof(title), "%s: %s", label, pn);
			bbs_html_phase_hist(h, id, title, ph);
		}
		bbs_html_grid_end(h);
	}
	if (observed(json_object_get(raid, "rmw")) || observed(json_object_get(raid, "recover"))) {
		bbs_html_h2(h, "raid56 work items (all traced filesystems)");
		bbs_html_p(h, "stripe writes %lld, stripe reads %lld",
			   json_integer_value(json_object_get(raid, "stripe_writes")),
			   json_integer_value(json_object_get(raid, "stripe_reads")));
		bbs_html_grid_begin(h);
		for (int k = 0; k < 2; k++) {
			const char *pn = k ? "recover" : "rmw";

			if (!observed(json_object_get(raid, pn)))
				continue;
			snprintf(id, sizeof(id), "%s-raid56-%s", id_prefix, pn);
			snprintf(title, sizeof(title), "raid56 %s_rbio work", pn);
			bbs_html_phase_hist(h, id, title, json_object_get(raid, pn));
		}
		bbs_html_grid_end(h);
	}
	funcs_section(h, id_prefix, report);
	if (!trace)
		return 0;
	bbs_html_h2(h, "Latency over time");
	bbs_html_grid_begin(h);
	i = bbs_html_heatmaps(h, id_prefix, trace, err, errlen);
	bbs_html_grid_end(h);
	return i ? -1 : 0;
}
