// SPDX-License-Identifier: GPL-2.0
/*
 * The self-contained HTML writer behind `report --html` and `bench --html`:
 * text, tables and three kinds of inline SVG chart (bars with whiskers,
 * phase latency histograms, latency-over-time heatmaps).  Nothing in the
 * page refers to anything outside it.  render/html_report.c lays a report
 * out with these pieces.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/report.h"
#include "render/html.h"
#include "tracefile/tracefile.h"
#include "host/jsonstr.h"
#include "host/outfile.h"
#include "host/util.h"

#define MAX_IDS 4096
#define HM_MAX_COLS 120 /* heatmap time columns, at most */
#define HM_MIN_COLS 24
#define HM_SLOTS_PER_ROW 2 /* histogram slots (a quarter octave each) per heatmap row */

struct bbs_html {
	FILE *f; /* open_memstream over buf */
	char *buf;
	size_t len;
	char *ids[MAX_IDS]; /* chart ids used so far: each id is made unique */
	size_t nr_ids;
};

static const char *const palette[] = { "#4e79a7", "#f28e2b", "#59a14f", "#e15759",
				       "#76b7b2", "#b07aa1", "#edc948", "#9c755f" };
#define NR_COLORS (sizeof(palette) / sizeof(palette[0]))

/* viridis, 9 stops: the heatmap's count scale */
static const uint8_t viridis[][3] = {
	{ 68, 1, 84 },	  { 71, 44, 122 }, { 59, 81, 139 },  { 44, 113, 142 }, { 33, 144, 141 },
	{ 39, 173, 129 }, { 92, 200, 99 }, { 170, 220, 50 }, { 253, 231, 37 },
};

static const char style[] =
	"body{font:14px/1.45 sans-serif;color:#222;margin:24px auto;max-width:1240px;"
	"padding:0 16px}\n"
	"h1{font-size:22px;margin-bottom:4px}\n"
	"h2{font-size:17px;margin-top:30px;border-bottom:1px solid #ddd;padding-bottom:3px}\n"
	"pre{background:#f6f6f6;padding:8px 10px;overflow-x:auto;font:12px/1.35 monospace}\n"
	"table{border-collapse:collapse;font-size:12px;margin:8px 0}\n"
	"td,th{border:1px solid #ddd;padding:2px 7px;text-align:right;white-space:nowrap}\n"
	"th{background:#f2f2f2}\n"
	"td:first-child,th:first-child{text-align:left}\n"
	".grid{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0}\n"
	"svg{background:#fff;border:1px solid #e2e2e2}\n"
	"svg text{font:11px sans-serif;fill:#333}\n"
	"svg text.title{font-size:12px;font-weight:bold}\n"
	"svg text.note{fill:#777}\n"
	"svg line.grid{stroke:#e8e8e8}\n"
	"svg line.axis{stroke:#888}\n";

/* ---- text ---- */

static void esc(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

void bbs_html_fmt(char *buf, size_t len, double v, enum bbs_html_unit unit)
{
	static const char *const ns_unit[] = { "ns", "us", "ms", "s" };
	static const char *const bps_unit[] = { "B/s", "KB/s", "MB/s", "GB/s", "TB/s" };
	int i = 0;

	if (!isfinite(v)) {
		snprintf(buf, len, "-");
		return;
	}
	switch (unit) {
	case BBS_UNIT_NS:
		while (fabs(v) >= 1000 && i < 3) {
			v /= 1000;
			i++;
		}
		snprintf(buf, len, "%.3g %s", v, ns_unit[i]);
		break;
	case BBS_UNIT_BPS:
		while (fabs(v) >= 1000 && i < 4) {
			v /= 1000;
			i++;
		}
		snprintf(buf, len, "%.3g %s", v, bps_unit[i]);
		break;
	case BBS_UNIT_RATIO:
		snprintf(buf, len, "%.2fx", v);
		break;
	}
}

struct bbs_html *bbs_html_new(const char *title)
{
	struct bbs_html *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->f = open_memstream(&h->buf, &h->len);
	if (!h->f) {
		free(h);
		return NULL;
	}
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width\">\n<title>",
	      h->f);
	esc(h->f, title);
	fprintf(h->f, "</title>\n<style>\n%s</style></head><body>\n<h1>", style);
	esc(h->f, title);
	fputs("</h1>\n", h->f);
	return h;
}

void bbs_html_free(struct bbs_html *h)
{
	if (!h)
		return;
	if (h->f)
		fclose(h->f);
	for (size_t i = 0; i < h->nr_ids; i++)
		free(h->ids[i]);
	free(h->buf);
	free(h);
}

int bbs_html_write(struct bbs_html *h, const char *path, bool force, char *why, size_t whylen)
{
	int bad, ret;

	fputs("</body></html>\n", h->f);
	bad = ferror(h->f);
	if (fclose(h->f) || bad) {
		h->f = NULL;
		snprintf(why, whylen, "%s", strerror(ENOMEM));
		errno = ENOMEM;
		return -1;
	}
	h->f = NULL;
	ret = bbs_out_write_all(path, force ? BBS_OUT_FORCE : 0, h->buf, h->len, why, whylen);
	if (!ret)
		return 0;
	errno = -ret;
	return -1;
}

void bbs_html_h2(struct bbs_html *h, const char *text)
{
	fputs("<h2>", h->f);
	esc(h->f, text);
	fputs("</h2>\n", h->f);
}

void bbs_html_p(struct bbs_html *h, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fputs("<p>", h->f);
	esc(h->f, buf);
	fputs("</p>\n", h->f);
}

void bbs_html_pre(struct bbs_html *h, const char *text)
{
	fputs("<pre>", h->f);
	esc(h->f, text);
	fputs("</pre>\n", h->f);
}

void bbs_html_table(struct bbs_html *h, const char *const *cells, size_t rows, size_t cols)
{
	fputs("<table>\n", h->f);
	for (size_t r = 0; r < rows; r++) {
		const char *tag = r ? "td" : "th";

		fputs("<tr>", h->f);
		for (size_t c = 0; c < cols; c++) {
			fprintf(h->f, "<%s>", tag);
			esc(h->f, cells[r * cols + c]);
			fprintf(h->f, "</%s>", tag);
		}
		fputs("</tr>\n", h->f);
	}
	fputs("</table>\n", h->f);
}

void bbs_html_grid_begin(struct bbs_html *h)
{
	fputs("<div class=\"grid\">\n", h->f);
}

void bbs_html_grid_end(struct bbs_html *h)
{
	fputs("</div>\n", h->f);
}

/* ---- svg plumbing ---- */

/* An id made of [a-z0-9-] from the caller's, unique in the page (-2, -3, ... added). */
static void make_id(struct bbs_html *h, const char *want, char *out, size_t len)
{
	char base[128];
	size_t n = 0;

	for (const char *p = want; *p && n + 1 < sizeof(base); p++) {
		char c = *p;

		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			c = '-';
		base[n++] = c;
	}
	base[n] = 0;
	snprintf(out, len, "%s", base);
	for (int k = 2;; k++) {
		size_t i;

		for (i = 0; i < h->nr_ids; i++)
			if (!strcmp(h->ids[i], out))
				break;
		if (i == h->nr_ids)
			break;
		snprintf(out, len, "%s-%d", base, k);
	}
	if (h->nr_ids < MAX_IDS)
		h->ids[h->nr_ids++] = strdup(out);
}

static void svg_begin(struct bbs_html *h, const char *want_id, const char *title, int w, int ht)
{
	char id[160];

	make_id(h, want_id, id, sizeof(id));
	fprintf(h->f,
		"<svg id=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		"viewBox=\"0 0 %d %d\" role=\"img\"><title>",
		id, w, ht, w, ht);
	esc(h->f, title);
	fputs("</title>\n<text class=\"title\" x=\"8\" y=\"16\">", h->f);
	esc(h->f, title);
	fputs("</text>\n", h->f);
}

static void svg_end(struct bbs_html *h)
{
	fputs("</svg>\n", h->f);
}

static void text(struct bbs_html *h, double x, double y, const char *anchor, const char *cls,
		 const char *s)
{
	fprintf(h->f, "<text x=\"%.1f\" y=\"%.1f\"", x, y);
	if (anchor)
		fprintf(h->f, " text-anchor=\"%s\"", anchor);
	if (cls)
		fprintf(h->f, " class=\"%s\"", cls);
	fputc('>', h->f);
	esc(h->f, s);
	fputs("</text>\n", h->f);
}

/* A value axis: data in [lo, hi] onto pixels [p0, p1], linear or log10. */
struct scale {
	double lo, hi, p0, p1;
	bool log;
};

static double nice_step(double span)
{
	double e = pow(10, floor(log10(span))), f = span / e;

	return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * e;
}

/* Fit the scale to values in [min, max] (max > 0; min > 0 when log). */
static void scale_fit(struct scale *s, double min, double max, bool log)
{
	s->log = log;
	if (log) {
		s->lo = pow(10, floor(log10(min)));
		s->hi = pow(10, ceil(log10(max)));
		if (s->hi <= s->lo)
			s->hi = s->lo * 10;
		return;
	}
	s->lo = 0;
	s->hi = ceil(max * 1.02 / nice_step(max / 5)) * nice_step(max / 5);
	if (s->hi <= 0)
		s->hi = 1;
}

static double sx(const struct scale *s, double v)
{
	double f;

	if (s->log)
		f = (log10(v) - log10(s->lo)) / (log10(s->hi) - log10(s->lo));
	else
		f = (v - s->lo) / (s->hi - s->lo);
	if (f < 0)
		f = 0;
	if (f > 1)
		f = 1;
	return s->p0 + f * (s->p1 - s->p0);
}

/* Tick values of a scale, at most max of them. */
static int scale_ticks(const struct scale *s, double *t, int max)
{
	int n = 0;

	if (s->log) {
		bool fine = s->hi / s->lo <= 100;

		for (double d = s->lo; d <= s->hi * 1.0001 && n < max; d *= 10) {
			t[n++] = d;
			if (fine && d * 2 < s->hi && n < max)
				t[n++] = d * 2;
			if (fine && d * 5 < s->hi && n < max)
				t[n++] = d * 5;
		}
		return n;
	}
	for (double step = nice_step(s->hi / 5), v = 0; v <= s->hi * 1.0001 && n < max; v += step)
		t[n++] = v;
	return n;
}

/* Vertical grid lines and labels of a horizontal value axis between y0 and y1. */
static void axis_x(struct bbs_html *h, const struct scale *s, double y0, double y1,
		   enum bbs_html_unit unit)
{
	double t[32];
	char buf[32];
	int n = scale_ticks(s, t, 32);

	for (int i = 0; i < n; i++) {
		double x = sx(s, t[i]);

		fprintf(h->f,
			"<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
			x, y0, x, y1);
		bbs_html_fmt(buf, sizeof(buf), t[i], unit);
		text(h, x, y1 + 13, "middle", NULL, buf);
	}
	fprintf(h->f, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
		s->p0, y1, s->p1, y1);
}

/* ---- curves (bbs_html_curves) ---- */

void bbs_html_curves(struct bbs_html *h, const char *id, const char *title, enum bbs_html_unit unit,
		     const char *xlabel, const struct bbs_html_curve *c, size_t nc)
{
	const int W = 600, H = 260, L = 70, R = 20, T = 26 + 18 * (int)((nc + 3) / 4), B = 36;
	struct scale xs = { .p0 = L, .p1 = W - R }, ys = { .p0 = H - B, .p1 = T };
	double xmin = INFINITY, xmax = 0, ymax = 0, t[32];
	char buf[32];
	int n;

	for (size_t k = 0; k < nc; k++) {
		for (size_t i = 0; i < c[k].n; i++) {
			if (!isfinite(c[k].y[i]) || !(c[k].x[i] > 0))
				continue;
			xmin = fmin(xmin, c[k].x[i]);
			xmax = fmax(xmax, c[k].x[i]);
			ymax = fmax(ymax, c[k].y[i]);
		}
	}
	svg_begin(h, id, title, W, H);
	if (!(ymax > 0)) {
		text(h, W / 2.0, T + 20, "middle", "note", "nothing measured");
		svg_end(h);
		return;
	}
	scale_fit(&xs, xmin, xmax > xmin ? xmax : xmin * 10, true);
	scale_fit(&ys, 0, ymax, false);
	n = scale_ticks(&ys, t, 32);
	for (int i = 0; i < n; i++) {
		double y = sx(&ys, t[i]);

		fprintf(h->f,
			"<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>\n", L,
			y, W - R, y);
		bbs_html_fmt(buf, sizeof(buf), t[i], unit);
		text(h, L - 4, y + 4, "end", NULL, buf);
	}
	n = scale_ticks(&xs, t, 32);
	for (int i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "%g", t[i]);
		text(h, sx(&xs, t[i]), H - B + 13, "middle", NULL, buf);
	}
	text(h, (L + W - R) / 2.0, H - 6, "middle", NULL, xlabel);
	fprintf(h->f, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", L, H - B,
		W - R, H - B);
	for (size_t k = 0; k < nc; k++) {
		const char *col = c[k].color ? c[k].color : palette[k % NR_COLORS];
		double lx = 8 + (k % 4) * 148, ly = 24 + (k / 4) * 18;

		if (c[k].dots)
			fprintf(h->f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n",
				lx + 5, ly + 5, col);
		else
			fprintf(h->f,
				"<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
				"stroke=\"%s\" stroke-width=\"2\"/>\n",
				lx, ly + 5, lx + 10, ly + 5, col);
		text(h, lx + 14, ly + 9, NULL, NULL, c[k].name);
		if (!c[k].dots) {
			fprintf(h->f,
				"<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
				"points=\"",
				col);
			for (size_t i = 0; i < c[k].n; i++)
				if (isfinite(c[k].y[i]) && c[k].x[i] > 0)
					fprintf(h->f, "%.1f,%.1f ", sx(&xs, c[k].x[i]),
						sx(&ys, c[k].y[i]));
			fputs("\"/>\n", h->f);
			continue;
		}
		for (size_t i = 0; i < c[k].n; i++) {
			if (!isfinite(c[k].y[i]) || !(c[k].x[i] > 0))
				continue;
			fprintf(h->f,
				"<circle class=\"mark\" cx=\"%.1f\" cy=\"%.1f\" r=\"4\" "
				"fill=\"%s\"><title>",
				sx(&xs, c[k].x[i]), sx(&ys, c[k].y[i]), col);
			esc(h->f, c[k].name);
			bbs_html_fmt(buf, sizeof(buf), c[k].y[i], unit);
			fprintf(h->f, " at %g: %s</title></circle>\n", c[k].x[i], buf);
		}
	}
	svg_end(h);
}

/* ---- bar charts ---- */

static const char *series_color(const struct bbs_html_series *s, size_t k)
{
	return s[k].color ? s[k].color : palette[k % NR_COLORS];
}

static bool drawable(double v, bool log)
{
	return isfinite(v) && (!log || v > 0);
}

void bbs_html_bars(struct bbs_html *h, const char *id, const char *title, enum bbs_html_unit unit,
		   const char *const *cats, size_t ncat, const struct bbs_html_series *s,
		   size_t nser, bool log)
{
	const int W = 600, L = 96, R = 86, bar = 11, gap = 2, group_gap = 9;
	int legend = nser > 1 ? 18 * (int)((nser + 3) / 4) : 0;
	int top = 26 + legend, plot_h = (int)ncat * ((int)nser * (bar + gap) + group_gap);
	double min = INFINITY, max = 0;
	struct scale sc = { .p0 = L, .p1 = W - R };
	char buf[32];

	for (size_t k = 0; k < nser; k++) {
		for (size_t c = 0; c < ncat; c++) {
			double vals[3] = { s[k].v[c], s[k].lo ? s[k].lo[c] : NAN,
					   s[k].hi ? s[k].hi[c] : NAN };

			for (int i = 0; i < 3; i++) {
				if (!drawable(vals[i], log))
					continue;
				if (vals[i] < min)
					min = vals[i];
				if (vals[i] > max)
					max = vals[i];
			}
		}
	}
	svg_begin(h, id, title, W, top + plot_h + 24);
	if (max <= 0) {
		text(h, W / 2.0, top + 20, "middle", "note", "nothing measured");
		svg_end(h);
		return;
	}
	scale_fit(&sc, min, max, log);
	for (size_t k = 0; nser > 1 && k < nser; k++) {
		double x = 8 + (k % 4) * 148, y = 24 + (k / 4) * 18;

		fprintf(h->f,
			"<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%s\"/>\n", x,
			y, series_color(s, k));
		text(h, x + 14, y + 9, NULL, NULL, s[k].name);
	}
	axis_x(h, &sc, top - 4, top + plot_h, unit);
	for (size_t c = 0; c < ncat; c++) {
		double gy = top + (double)c * (nser * (bar + gap) + group_gap);

		text(h, L - 6, gy + nser * (bar + gap) / 2.0 + 4, "end", NULL, cats[c]);
		for (size_t k = 0; k < nser; k++) {
			double y = gy + k * (bar + gap), v = s[k].v[c], x0 = sx(&sc, sc.lo), x1, xe;
			double lo = s[k].lo ? s[k].lo[c] : NAN, hi = s[k].hi ? s[k].hi[c] : NAN;

			if (!drawable(v, log))
				continue;
			x1 = sx(&sc, v);
			fprintf(h->f,
				"<rect class=\"mark\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
				"height=\"%d\" fill=\"%s\"><title>",
				x0, y, x1 - x0 > 1 ? x1 - x0 : 1, bar, series_color(s, k));
			bbs_html_fmt(buf, sizeof(buf), v, unit);
			esc(h->f, cats[c]);
			fputs(nser > 1 ? ", " : "", h->f);
			esc(h->f, nser > 1 ? s[k].name : "");
			fprintf(h->f, ": %s</title></rect>\n", buf);
			xe = x1;
			if (drawable(lo, log) && drawable(hi, log) && hi >= lo) {
				double a = sx(&sc, lo), b = sx(&sc, hi), m = y + bar / 2.0;

				fprintf(h->f,
					"<path d=\"M%.1f %.1fH%.1fM%.1f %.1fV%.1fM%.1f %.1fV%.1f\" "
					"stroke=\"#222\" fill=\"none\"/>\n",
					a, m, b, a, m - 3, m + 3, b, m - 3, m + 3);
				if (b > xe)
					xe = b;
			}
			text(h, xe + 4, y + bar - 2, NULL, NULL, buf);
		}
	}
	svg_end(h);
}

/* ---- phase histograms ---- */

void bbs_html_phase_hist(struct bbs_html *h, const char *id, const char *title, const json_t *phase)
{
	const int W = 380, H = 200, L = 44, R = 24, T = 52, B = 30;
	const json_t *buckets = json_object_get(phase, "buckets"), *b;
	struct scale sx_ = { .p0 = L, .p1 = W - R };
	double lo = INFINITY, hi = 0, cmax = 0,
	       marks[2] = { bbs_json_num(phase, "p50_ns"), bbs_json_num(phase, "p99_ns") };
	static const char *const mark_color[] = { "#d9730d", "#c92a2a" };
	char buf[64], buf2[32];
	size_t i;

	svg_begin(h, id, title, W, H);
	if (!json_array_size(buckets)) {
		const char *why = json_string_value(json_object_get(phase, "reason"));

		text(h, W / 2.0, H / 2.0, "middle", "note", why ? why : "not observable");
		svg_end(h);
		return;
	}
	json_array_foreach(buckets, i, b)
	{
		double a = json_number_value(json_array_get(b, 0));
		double z = json_number_value(json_array_get(b, 1));
		double c = json_number_value(json_array_get(b, 2));

		if (a < 1)
			a = 1;
		lo = a < lo ? a : lo;
		hi = z > hi ? z : hi;
		cmax = c > cmax ? c : cmax;
	}
	bbs_html_fmt(buf2, sizeof(buf2), bbs_json_num(phase, "mean_ns"), BBS_UNIT_NS);
	snprintf(buf, sizeof(buf), "%.0f samples, mean %s", bbs_json_num(phase, "count"), buf2);
	text(h, 8, 30, NULL, "note", buf);
	scale_fit(&sx_, lo, hi, true);
	axis_x(h, &sx_, T, H - B, BBS_UNIT_NS);
	snprintf(buf, sizeof(buf), "%.0f", cmax);
	text(h, L - 4, T + 8, "end", NULL, buf);
	text(h, L - 4, H - B, "end", NULL, "0");
	json_array_foreach(buckets, i, b)
	{
		double a = json_number_value(json_array_get(b, 0));
		double z = json_number_value(json_array_get(b, 1));
		double c = json_number_value(json_array_get(b, 2));
		double x0 = sx(&sx_, a < 1 ? 1 : a), x1 = sx(&sx_, z);
		double bh = (H - B - T) * c / cmax;

		fprintf(h->f,
			"<rect class=\"mark\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
			"fill=\"%s\"><title>%.0f-%.0f ns: %.0f</title></rect>\n",
			x0, H - B - bh, x1 - x0 > 1 ? x1 - x0 : 1, bh, palette[0], a, z, c);
	}
	for (int k = 0; k < 2; k++) {
		double x;

		if (!isfinite(marks[k]) || marks[k] < sx_.lo)
			continue;
		x = sx(&sx_, marks[k]);
		fprintf(h->f,
			"<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\" "
			"stroke-width=\"1.5\" stroke-dasharray=\"4 2\"/>\n",
			x, T - 4, x, H - B, mark_color[k]);
		/* the values go in the header, in the line's color: never over the bars */
		bbs_html_fmt(buf2, sizeof(buf2), marks[k], BBS_UNIT_NS);
		snprintf(buf, sizeof(buf), "%s %s", k ? "p99" : "p50", buf2);
		fprintf(h->f, "<text x=\"%d\" y=\"43\" fill=\"%s\" style=\"fill:%s\">", 8 + 110 * k,
			mark_color[k], mark_color[k]);
		esc(h->f, buf);
		fputs("</text>\n", h->f);
	}
	svg_end(h);
}

/* ---- heatmaps ---- */

struct heatmap {
	uint64_t t0, t1; /* queue times, ns since the recording started */
	uint32_t s0, s1; /* rows: latency slots (bbs_hist_slot) / HM_SLOTS_PER_ROW, inclusive */
	uint32_t cols; /* about four bios a column, HM_MIN_COLS to HM_MAX_COLS */
	uint64_t bios, max;
	uint64_t *cells; /* [(row - s0) * cols + col] */
};

static void color_of(double f, char *buf, size_t len)
{
	double pos = f * 8;
	int i = (int)pos;
	double t;

	if (i >= 8) {
		i = 7;
		pos = 8;
	}
	if (i < 0)
		i = 0;
	t = pos - i;
	snprintf(buf, len, "#%02x%02x%02x",
		 (int)(viridis[i][0] + t * (viridis[i + 1][0] - viridis[i][0])),
		 (int)(viridis[i][1] + t * (viridis[i + 1][1] - viridis[i][1])),
		 (int)(viridis[i][2] + t * (viridis[i + 1][2] - viridis[i][2])));
}

/* Each bio with a total latency: its op, queue time since the start, latency. */
static int next_bio(struct bbs_tf_reader *rd, int *op, uint64_t *t, uint64_t *lat)
{
	uint64_t base = bbs_tfr_header(rd)->mono_ns;
	struct bbs_tf_event ev;
	struct bbs_bio_phases p;

	while (bbs_tfr_next(rd, &ev) == 1) {
		if (ev.type != EV_BIO)
			continue;
		bbs_bio_phases(&ev.bio, &p);
		if (!(p.have & (1U << PHASE_TOTAL)) || ev.bio.op >= BBS_NR_OPS)
			continue;
		*op = ev.bio.op;
		*t = ev.bio.queue_ns - base;
		*lat = p.ns[PHASE_TOTAL];
		return 1;
	}
	return 0;
}

/* Two passes over the trace: the ranges, then the counts. */
static int heatmaps_load(const char *trace, struct heatmap hm[BBS_NR_OPS], char *err, size_t errlen)
{
	struct bbs_tf_reader *rd;
	uint64_t t, lat;
	int op;

	memset(hm, 0, sizeof(*hm) * BBS_NR_OPS);
	for (op = 0; op < BBS_NR_OPS; op++) {
		hm[op].t0 = UINT64_MAX;
		hm[op].s0 = UINT32_MAX;
	}
	if (bbs_tfr_open(&rd, trace, err, errlen))
		return -1;
	while (next_bio(rd, &op, &t, &lat)) {
		struct heatmap *m = &hm[op];
		uint32_t s = bbs_hist_slot(lat) / HM_SLOTS_PER_ROW;

		m->bios++;
		m->t0 = t < m->t0 ? t : m->t0;
		m->t1 = t > m->t1 ? t : m->t1;
		m->s0 = s < m->s0 ? s : m->s0;
		m->s1 = s > m->s1 ? s : m->s1;
	}
	bbs_tfr_close(rd);
	for (op = 0; op < BBS_NR_OPS; op++) {
		if (!hm[op].bios)
			continue;
		hm[op].cols = hm[op].bios / 4;
		if (hm[op].cols < HM_MIN_COLS)
			hm[op].cols = HM_MIN_COLS;
		if (hm[op].cols > HM_MAX_COLS)
			hm[op].cols = HM_MAX_COLS;
		hm[op].cells = calloc((size_t)(hm[op].s1 - hm[op].s0 + 1) * hm[op].cols, 8);
		if (!hm[op].cells) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	if (bbs_tfr_open(&rd, trace, err, errlen))
		return -1;
	while (next_bio(rd, &op, &t, &lat)) {
		struct heatmap *m = &hm[op];
		uint64_t span = m->t1 - m->t0 + 1;
		size_t col = (size_t)((double)(t - m->t0) / span * m->cols);
		size_t row = bbs_hist_slot(lat) / HM_SLOTS_PER_ROW - m->s0;
		uint64_t *c = &m->cells[row * m->cols + col];

		if (++*c > m->max)
			m->max = *c;
	}
	bbs_tfr_close(rd);
	return 0;
}

static void heatmap_svg(struct bbs_html *h, const char *id, const char *title,
			const struct heatmap *m)
{
	const int W = 640, L = 64, R = 78, T = 40, B = 34, PH = 240;
	uint32_t rows = m->s1 - m->s0 + 1;
	double cw = (double)(W - L - R) / m->cols, rh = (double)PH / rows;
	double secs = (m->t1 - m->t0) / 1e9, lmax = log((double)m->max + 1);
	struct scale ys = { .p0 = T + PH, .p1 = T, .log = true };
	char buf[96], col[16];

	svg_begin(h, id, title, W, T + PH + B);
	snprintf(buf, sizeof(buf), "%llu bios; latency: queue to end of end_io (log scale)",
		 (unsigned long long)m->bios);
	text(h, 8, 30, NULL, "note", buf);
	/* the plot area: empty cells read as "no bio" */
	fprintf(h->f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#f4f4f6\"/>\n", L,
		T, W - L - R, PH);
	for (uint32_t r = 0; r < rows; r++) {
		for (uint32_t c = 0; c < m->cols; c++) {
			uint64_t v = m->cells[(size_t)r * m->cols + c];

			if (!v)
				continue;
			color_of(log((double)v + 1) / lmax, col, sizeof(col));
			fprintf(h->f,
				"<rect class=\"mark\" x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" "
				"height=\"%.2f\" fill=\"%s\"><title>%llu</title></rect>\n",
				L + c * cw, T + PH - (r + 1) * rh, cw + 0.3, rh + 0.3, col,
				(unsigned long long)v);
		}
	}
	/* y: decades inside the rows shown, and 2 and 5 times them when few */
	ys.lo = bbs_hist_slot_lo(m->s0 * HM_SLOTS_PER_ROW);
	ys.lo = ys.lo < 1 ? 1 : ys.lo;
	ys.hi = (double)bbs_hist_slot_hi(m->s1 * HM_SLOTS_PER_ROW + HM_SLOTS_PER_ROW - 1);
	for (double d = pow(10, floor(log10(ys.lo))); d <= ys.hi; d *= 10) {
		for (int k = 0; k < 3; k++) {
			double v = d * (k == 0 ? 1 : k == 1 ? 2 : 5), y;

			if (v < ys.lo || v > ys.hi || (k && ys.hi / ys.lo > 1000))
				continue;
			y = sx(&ys, v);
			bbs_html_fmt(buf, sizeof(buf), v, BBS_UNIT_NS);
			fprintf(h->f,
				"<line class=\"axis\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" "
				"y2=\"%.1f\"/>\n",
				L - 4, y, L, y);
			text(h, L - 6, y + 4, "end", NULL, buf);
		}
	}
	/* x: seconds since the recording started, nice steps */
	{
		double lo = m->t0 / 1e9, span = secs > 0 ? secs : 1e-3, step = nice_step(span / 5);

		for (double v = ceil(lo / step) * step; v <= lo + span * 1.0001; v += step) {
			double x = L + (v - lo) / span * (W - L - R);

			snprintf(buf, sizeof(buf), "%.4g s", v);
			fprintf(h->f,
				"<line class=\"axis\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" "
				"y2=\"%d\"/>\n",
				x, T + PH, x, T + PH + 4);
			text(h, x, T + PH + 15, "middle", NULL, buf);
		}
		text(h, L + (W - L - R) / 2.0, T + PH + 29, "middle", "note",
		     "time since the recording started");
	}
	/* the color scale */
	for (int i = 0; i < 10; i++) {
		color_of(i / 9.0, col, sizeof(col));
		fprintf(h->f,
			"<rect x=\"%d\" y=\"%.1f\" width=\"12\" height=\"%.1f\" fill=\"%s\"/>\n",
			W - R + 14, T + PH - (i + 1) * PH / 10.0, PH / 10.0 + 0.3, col);
	}
	text(h, W - R + 30, T + 10, NULL, NULL, "bios");
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)m->max);
	text(h, W - R + 30, T + 24, NULL, NULL, buf);
	text(h, W - R + 30, T + PH, NULL, NULL, "1");
	svg_end(h);
}

int bbs_html_heatmaps(struct bbs_html *h, const char *id_prefix, const char *trace, char *err,
		      size_t errlen)
{
	struct heatmap hm[BBS_NR_OPS];
	char id[128], title[128];
	int ret = heatmaps_load(trace, hm, err, errlen);

	for (int op = 0; ret == 0 && op < BBS_NR_OPS; op++) {
		if (!hm[op].bios)
			continue;
		snprintf(id, sizeof(id), "%s-heatmap-%s", id_prefix, bbs_op_name[op]);
		snprintf(title, sizeof(title), "%s bios: latency over time", bbs_op_name[op]);
		heatmap_svg(h, id, title, &hm[op]);
	}
	for (int op = 0; op < BBS_NR_OPS; op++)
		free(hm[op].cells);
	return ret;
}
