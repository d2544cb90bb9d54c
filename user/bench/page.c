// SPDX-License-Identifier: GPL-2.0
/* A bench run as one self-contained HTML page (render/html.h): tables, charts, histograms. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench/internal.h"
#include "bench/model.h"
#include "host/machine.h"
#include "host/util.h"
#include "render/html.h"

/* ---- the page ---- */

static void page_phase_hists(struct bbs_html *h, const struct bbs_bench *b)
{
	static const char *const shown[] = { "csum", "parity", "device", "total", "rmw" };
	char id[64], title[96];

	for (int i = ROW_NONE; i < NR_ROWS; i++) {
		const json_t *full = b->last[i];

		if (!full)
			continue;
		for (size_t k = 0; k < sizeof(shown) / sizeof(shown[0]); k++) {
			const json_t *ph = json_object_get(full, shown[k]);

			if (!json_integer_value(json_object_get(ph, "count")))
				continue;
			snprintf(id, sizeof(id), "replay-%s-%s", bench_row_name[i], shown[k]);
			snprintf(title, sizeof(title), "replay %s: %s", bench_row_label(i),
				 shown[k]);
			bbs_html_phase_hist(h, id, title, ph);
		}
	}
}

/* Where it ran, and the table as printed. */
static void page_head(struct bbs_html *h, const struct bbs_bench *b)
{
	struct utsname u;
	char cpu[128];

	bbs_cpu_model(cpu, sizeof(cpu));
	uname(&u);
	bbs_html_p(h,
		   "%s, %ld cores, Linux %s. %u round%s, interleaved; bars are medians, "
		   "whiskers min to max.",
		   cpu, sysconf(_SC_NPROCESSORS_ONLN), u.release, b->o.rounds,
		   b->o.rounds > 1 ? "s" : "");
	bbs_html_pre(h, b->table);
}

/* Throughput of every row, and its device, total and csum (parity) p50 and p99. */
static void page_rows(struct bbs_html *h, const struct results *r)
{
	static const char *const lat_names[] = { "device p50", "device p99", "total p50",
						 "total p99",  "csum p50",   "csum p99" };
	/* one hue a phase: light p50, dark p99 */
	static const char *const lat_colors[] = { "#9ecae9", "#2f6b9a", "#a6d89b",
						  "#3b8132", "#f8c28c", "#c8621a" };
	double v[NR_ROWS], lo[NR_ROWS], hi[NR_ROWS], lat[6][NR_ROWS];
	const char *cats[NR_ROWS];
	struct bbs_html_series s[6];
	size_t n = 0;

	for (int i = 0; i < NR_ROWS; i++) {
		if (!r->rows[i])
			continue;
		cats[n] = bench_row_label(i);
		v[n] = bench_stat(r->rows[i], "throughput_bps", &lo[n], &hi[n]);
		for (int k = 0; k < 6; k++) {
			const char *ph = k < 2		    ? "device"
					 : k < 4	    ? "total"
					 : ROW_IS_PARITY(i) ? "parity"
							    : "csum";
			char path[64];

			snprintf(path, sizeof(path), "phases.%s.%s_ns", ph, k % 2 ? "p99" : "p50");
			lat[k][n] = bench_stat(r->rows[i], path, NULL, NULL);
		}
		n++;
	}
	bbs_html_h2(h, "Throughput and latency");
	bbs_html_grid_begin(h);
	s[0] = (struct bbs_html_series){ "throughput", v, lo, hi, NULL };
	bbs_html_bars(h, "throughput", "throughput (bytes written / elapsed)", BBS_UNIT_BPS, cats,
		      n, s, 1, false);
	for (int k = 0; k < 6; k++)
		s[k] = (struct bbs_html_series){ lat_names[k], lat[k], NULL, NULL, lat_colors[k] };
	bbs_html_bars(h, "latency", "per-bio latency, p50 and p99 (log scale)", BBS_UNIT_NS, cats,
		      n, s, 6, true);
	bbs_html_grid_end(h);
}

/* The model's inputs, its throughputs beside the replays', and the speedups. */
static void page_model(struct bbs_html *h, const struct results *r)
{
	static const char *const in_cats[] = { "m memcpy", "c csum", "d device" };
	static const char *const keys[] = { "mem_bps", "csum_bps", "dev_bps" };
	static const char *const t_cats[] = { "serial", "async" };
	static const char *const sp_cats[] = { "async/serial" };
	double iv[3], il[3], ih[3], mv[2] = { r->pred_serial, r->pred_async }, xv[2], xl[2], xh[2];
	double pv = r->predicted, sv = r->speedup, sl = r->speedup_lo, sh = r->speedup_hi;
	struct bbs_html_series s[2];

	bbs_html_h2(h, "The model beside the measurement");
	bbs_html_grid_begin(h);
	for (int k = 0; k < 3; k++)
		iv[k] = bench_stat(r->model, keys[k], &il[k], &ih[k]);
	s[0] = (struct bbs_html_series){ "bandwidth", iv, il, ih, NULL };
	bbs_html_bars(h, "model-inputs", "model inputs: one core, bytes a second", BBS_UNIT_BPS,
		      in_cats, 3, s, 1, false);
	xv[0] = bench_stat(r->rows[ROW_SERIAL], "throughput_bps", &xl[0], &xh[0]);
	xv[1] = bench_stat(r->rows[ROW_ASYNC], "throughput_bps", &xl[1], &xh[1]);
	s[0] = (struct bbs_html_series){ "model", mv, NULL, NULL, NULL };
	s[1] = (struct bbs_html_series){ "measured (replay)", xv, xl, xh, NULL };
	bbs_html_bars(h, "model-throughput", "throughput: model and measurement", BBS_UNIT_BPS,
		      t_cats, 2, s, 2, false);
	s[0] = (struct bbs_html_series){ "predicted", &pv, NULL, NULL, NULL };
	s[1] = (struct bbs_html_series){ "measured", &sv, &sl, &sh, NULL };
	bbs_html_bars(h, "model-speedup", "async over serial speedup", BBS_UNIT_RATIO, sp_cats, 1,
		      s, 2, false);
	bbs_html_grid_end(h);
}

/*
 * Every shape's measured throughput (dots) on the pipeline model's curve
 * over the queue depth, one chart a checksum of the sweep.  The curve is
 * predicted at every depth from 1 to the largest swept, each from the terms
 * measured at the nearest swept depth at or below it.
 */
#define CURVE_PTS 64
static void page_sweep(struct bbs_html *h, const struct bbs_bench *b)
{
	static const char *const colors[NR_SHAPES] = { "#4e79a7", "#f28e2b", "#59a14f", "#e15759" };
	enum bbs_csum_type seen[MAX_POINTS];
	unsigned int nseen = 0;

	bbs_html_h2(h, "The model's curves and the measured points");
	bbs_html_grid_begin(h);
	for (unsigned int i = 0; i < b->npts; i++) {
		enum bbs_csum_type algo = b->pts[i].algo;
		double cx[NR_SHAPES][CURVE_PTS], cy[NR_SHAPES][CURVE_PTS];
		double mx[NR_SHAPES][MAX_POINTS], my[NR_SHAPES][MAX_POINTS];
		struct bbs_html_curve cv[2 * NR_SHAPES];
		char names[2 * NR_SHAPES][48], id[64], title[96];
		size_t nc[NR_SHAPES] = { 0 }, nm[NR_SHAPES] = { 0 };
		unsigned int maxqd = 0;
		bool dup = false;

		for (unsigned int k = 0; k < nseen; k++)
			dup |= seen[k] == algo;
		if (dup)
			continue;
		seen[nseen++] = algo;
		for (unsigned int j = 0; j < b->npts; j++)
			if (b->pts[j].algo == algo && b->pts[j].qd > maxqd)
				maxqd = b->pts[j].qd;
		for (unsigned int qd = 1; qd <= maxqd; qd = qd < 8 ? qd + 1 : qd * 5 / 4) {
			const struct point *near = NULL;

			for (unsigned int j = 0; j < b->npts; j++)
				if (b->pts[j].algo == algo && b->pts[j].qd <= qd &&
				    (!near || b->pts[j].qd > near->qd))
					near = &b->pts[j];
			for (int k = 0; near && k < NR_SHAPES; k++) {
				struct bbs_pipe p;

				if (nc[k] >= CURVE_PTS || !bench_pipe_of(near, k, qd, &p))
					continue;
				cx[k][nc[k]] = qd;
				cy[k][nc[k]++] = p.bps;
			}
		}
		for (unsigned int j = 0; j < b->npts; j++) {
			const json_t *sh = json_object_get(b->pts[j].model, "shapes");

			if (b->pts[j].algo != algo)
				continue;
			for (int k = 0; k < NR_SHAPES; k++) {
				mx[k][nm[k]] = b->pts[j].qd;
				my[k][nm[k]++] = bbs_json_num(
					json_object_get(sh, bench_row_name[ROW_NONE + k]),
					"measured_bps");
			}
		}
		for (int k = 0; k < NR_SHAPES; k++) {
			snprintf(names[2 * k], sizeof(names[0]), "%s model",
				 bench_row_name[ROW_NONE + k]);
			snprintf(names[2 * k + 1], sizeof(names[0]), "%s measured",
				 bench_row_name[ROW_NONE + k]);
			cv[2 * k] = (struct bbs_html_curve){ names[2 * k], cx[k],     cy[k],
							     nc[k],	   colors[k], false };
			cv[2 * k + 1] =
				(struct bbs_html_curve){ names[2 * k + 1], mx[k], my[k], nm[k],
							 colors[k],	   true };
		}
		snprintf(id, sizeof(id), "model-curves-%s", bbs_csum_name(algo));
		snprintf(title, sizeof(title),
			 "%s: throughput over queue depth, model and measured",
			 bbs_csum_name(algo));
		bbs_html_curves(h, id, title, BBS_UNIT_BPS, "queue depth (bios in flight)", cv,
				2 * NR_SHAPES);
	}
	bbs_html_grid_end(h);
}

int bench_page(const struct bbs_bench *b)
{
	struct bbs_html *h;
	char title[256], err[256];
	int ret;

	snprintf(title, sizeof(title), "bbscope bench: %s, %s, %llu MiB", b->profile,
		 bbs_csum_name(b->algo), (unsigned long long)(b->o.size >> 20));
	h = bbs_html_new(title);
	if (!h) {
		bbs_err("bench: cannot write %s: %s", b->o.html, strerror(ENOMEM));
		return -1;
	}
	page_head(h, b);
	page_rows(h, &b->r);
	page_model(h, &b->r);
	page_sweep(h, b);
	bbs_html_h2(h, "Userspace replays: latency histograms (last round)");
	bbs_html_grid_begin(h);
	page_phase_hists(h, b);
	bbs_html_grid_end(h);
	if (b->last_report) {
		bbs_html_h2(h, "Kernel: the last round's recording");
		if (bbs_html_report(h, "kernel", b->last_report, b->trace, err, sizeof(err)))
			bbs_html_p(h, "No heatmap: %s", err);
	}
	ret = bbs_html_write(h, b->o.html, b->o.force, err, sizeof(err));
	if (ret)
		bbs_err("bench: cannot write %s: %s", b->o.html, err);
	bbs_html_free(h);
	return ret;
}
