/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One self-contained HTML page with inline SVG charts: no script, no
 * external style sheet, font or image, nothing fetched.  `bbscope report
 * --html` and `bbscope bench --html` build their pages from these pieces.
 *
 * A page is built in memory and written with bbs_html_write(): a temporary,
 * fsync, rename, so a reader never sees half a page.  Writing errors inside
 * the builders are remembered and reported there, once.
 *
 * Every chart is an <svg> carrying the caller's id and a <title>, and its
 * data marks (bars, cells, curves) have class "mark": what tests look for.
 */
#ifndef BBS_HTML_H
#define BBS_HTML_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

struct bbs_html;

/* A page titled title; NULL on ENOMEM. */
struct bbs_html *bbs_html_new(const char *title);
/*
 * Close the page and write it to path (host/outfile.h: atomically, over an
 * existing regular file only when force, into a device or FIFO).  0, or -1
 * with errno set (EEXIST: it exists and force is not set) and why.
 */
int bbs_html_write(struct bbs_html *h, const char *path, bool force, char *why, size_t whylen);
void bbs_html_free(struct bbs_html *h);

/* Text.  Everything given is escaped; printf-style arguments are formatted first. */
void bbs_html_h2(struct bbs_html *h, const char *text);
void bbs_html_p(struct bbs_html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bbs_html_pre(struct bbs_html *h, const char *text);
/* A table of rows x cols cells, row-major; the first row is the header. */
void bbs_html_table(struct bbs_html *h, const char *const *cells, size_t rows, size_t cols);

/* Charts between begin and end are laid out side by side, wrapping. */
void bbs_html_grid_begin(struct bbs_html *h);
void bbs_html_grid_end(struct bbs_html *h);

enum bbs_html_unit {
	BBS_UNIT_NS, /* a latency in nanoseconds: "12.5 us" */
	BBS_UNIT_BPS, /* bytes a second: "1.25 GB/s" (10^9) */
	BBS_UNIT_RATIO, /* a factor: "1.07x" */
};

/*
 * One series of a bar chart: a value per category, and the whisker (lo, hi)
 * drawn when both are finite.  NAN means absent (nothing drawn, "-").
 */
struct bbs_html_series {
	const char *name;
	const double *v, *lo, *hi; /* ncat each; lo and hi may be NULL */
	const char *color; /* "#rrggbb"; NULL: the next of the page's palette */
};

/*
 * Horizontal bars: one row per category, one bar per series within it, a
 * legend when there is more than one series.  log: logarithmic value axis
 * (zero and negative values are not drawn).
 */
void bbs_html_bars(struct bbs_html *h, const char *id, const char *title, enum bbs_html_unit unit,
		   const char *const *cats, size_t ncat, const struct bbs_html_series *s,
		   size_t nser, bool log);

/*
 * Lines over a logarithmic x axis (a queue depth, ...): each curve a
 * polyline through its n (x, y) points, or, with dots, its points alone as
 * circles (a measurement on a model's curve).  y linear from 0, in unit.
 */
struct bbs_html_curve {
	const char *name;
	const double *x, *y; /* n each; non-finite y: skipped */
	size_t n;
	const char *color; /* NULL: the palette's, by index */
	bool dots;
};

void bbs_html_curves(struct bbs_html *h, const char *id, const char *title, enum bbs_html_unit unit,
		     const char *xlabel, const struct bbs_html_curve *c, size_t nc);

/*
 * The latency histogram of one phase object of docs/json.md (count, p50_ns,
 * p99_ns, buckets [[lo_ns, hi_ns, count], ...]) on a logarithmic time axis,
 * with p50 and p99 marked.  {"observable": false} draws a note instead.
 */
void bbs_html_phase_hist(struct bbs_html *h, const char *id, const char *title,
			 const json_t *phase);

/*
 * What `bbscope report --html` shows of a report (the JSON object of
 * docs/json.md, with report's "trace" key when present) and of its trace
 * file (NULL: no heatmaps): a per-group table of phase percentiles, every
 * observed phase's histogram per group, raid56 spans, and the
 * latency-over-time heatmaps.  Chart ids start with id_prefix:
 * PREFIX-hist-<dev|fs>-<op>-<kind>-<phase>, PREFIX-raid56-<phase>,
 * PREFIX-heatmap-<op>.  0, or -1 when the trace cannot be read (said in
 * err; the rest of the page is there).
 */
int bbs_html_report(struct bbs_html *h, const char *id_prefix, const json_t *report,
		    const char *trace, char *err, size_t errlen);

/*
 * Heatmaps of bio latency over time from a trace file (tracefile/tracefile.h):
 * one per op that has bios, time since the recording started on x, total
 * latency (queue to end of end_io) on a log y axis in the histograms'
 * buckets, color the number of bios.  Ids PREFIX-heatmap-read|write.  0, or
 * -1 with a reason in err.
 */
int bbs_html_heatmaps(struct bbs_html *h, const char *id_prefix, const char *trace, char *err,
		      size_t errlen);

/* "12.5 us", "1.25 GB/s", "1.07x" as the charts print them (plain ASCII). */
void bbs_html_fmt(char *buf, size_t len, double v, enum bbs_html_unit unit);

#endif
