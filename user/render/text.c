// SPDX-License-Identifier: GPL-2.0
/* The report as text (render/report.h): a table per group, biolatency-style stars. */
#include <stdio.h>
#include <string.h>

#include "render/report.h"
#include "render/print.h"
#include "host/util.h"

static void print_stars(FILE *f, uint64_t val, uint64_t max, int width)
{
	int n = max ? (int)((double)val * width / max) : 0;

	if (n > width)
		n = width;
	for (int i = 0; i < n; i++)
		fputc('*', f);
	for (int i = n; i < width; i++)
		fputc(' ', f);
}

/* biolatency-style power-of-two rows, folded from the sub-buckets. */
static void print_log2(FILE *f, const struct bbs_hist *h, const char *phase, bool ms)
{
	uint64_t rows[64] = { 0 }, max = 0, div = ms ? 1000000 : 1000;
	int first = -1, last = -1;
	const char *unit = ms ? "msecs" : "usecs";

	for (int i = 0; i < HIST_SLOTS; i++) {
		uint64_t v = bbs_hist_slot_lo(i) / div;
		int row = v ? 64 - __builtin_clzll(v) : 0;

		rows[row] += h->slots[i];
	}
	for (int i = 0; i < 64; i++) {
		if (!rows[i])
			continue;
		if (first < 0)
			first = i;
		last = i;
		if (rows[i] > max)
			max = rows[i];
	}
	if (first < 0)
		return;
	fprintf(f, "    %s %s%*s: count    distribution\n", phase, unit,
		(int)(17 - strlen(phase) - strlen(unit)), "");
	for (int i = 0; i <= last; i++) {
		uint64_t lo = i ? 1ULL << (i - 1) : 0, hi = (1ULL << i) - 1;

		if (i < first && i != 0)
			continue;
		fprintf(f, "    %10llu -> %-10llu: %-8llu |", (unsigned long long)lo,
			(unsigned long long)hi, (unsigned long long)rows[i]);
		print_stars(f, rows[i], max, 40);
		fputs("|\n", f);
	}
}

static void print_phase_row(FILE *f, const char *name, const struct bbs_hist *h, bool ms)
{
	double div = ms ? 1e6 : 1e3;

	fprintf(f, "    %-8s %9llu %10.1f %10.1f %10.1f %10.1f %10.1f\n", name,
		(unsigned long long)h->count, (double)h->sum_ns / h->count / div,
		bbs_hist_percentile(h, 0.50) / div, bbs_hist_percentile(h, 0.90) / div,
		bbs_hist_percentile(h, 0.99) / div, h->max_ns / div);
}

const char *bbs_report_group_fs(const struct bbs_report *r, const struct bbs_group_data *gd,
				char *buf, size_t len)
{
	if (r->fs_label) {
		snprintf(buf, len, "%s", r->fs_label);
		return buf;
	}
	return bbs_fs_name(gd->g.fs, buf, len);
}

/* Replays and bio-based reports have no contexts: say nothing rather than zeros. */
static bool ctx_seen(const struct bbs_stats *s)
{
	for (int c = 0; c < NR_CTX; c++)
		if (s->complete_ctx[c] || s->endio_ctx[c])
			return true;
	return false;
}

static void print_group(FILE *f, const struct bbs_report *r, const struct bbs_group_data *gd,
			const struct bbs_print_opts *o)
{
	bool dev_group = gd->g.dev != 0;
	char fs[256], dev[64], bytes[32];
	const struct bbs_stats *s = &gd->stats;

	bbs_report_group_fs(r, gd, fs, sizeof(fs));
	if (dev_group) {
		bbs_human_bytes(s->bytes, bytes, sizeof(bytes));
		fprintf(f, "%s %s %s %s: %llu bios, %s\n", fs,
			bbs_dev_name(gd->g.dev, dev, sizeof(dev)), bbs_op_name[gd->g.op],
			bbs_kind_name[gd->g.kind], (unsigned long long)s->bios, bytes);
		if (ctx_seen(s)) {
			fprintf(f,
				"    completion in hardirq %llu, softirq %llu, task %llu;"
				" end_io in hardirq %llu, softirq %llu, task %llu",
				(unsigned long long)s->complete_ctx[CTX_HARDIRQ],
				(unsigned long long)s->complete_ctx[CTX_SOFTIRQ],
				(unsigned long long)s->complete_ctx[CTX_TASK],
				(unsigned long long)s->endio_ctx[CTX_HARDIRQ],
				(unsigned long long)s->endio_ctx[CTX_SOFTIRQ],
				(unsigned long long)s->endio_ctx[CTX_TASK]);
			for (int i = 0; i < gd->nr_wqs; i++)
				fprintf(f, "%s%s %llu", i ? ", " : " (", gd->wqs[i].name,
					(unsigned long long)gd->wqs[i].count);
			fprintf(f, "%s\n", gd->nr_wqs ? ")" : "");
		}
		if (s->stripe_writes || s->stripe_reads)
			fprintf(f, "    raid56 stripe writes %llu, stripe reads %llu\n",
				(unsigned long long)s->stripe_writes,
				(unsigned long long)s->stripe_reads);
	} else {
		fprintf(f, "%s (filesystem) %s %s:\n", fs, bbs_op_name[gd->g.op],
			bbs_kind_name[gd->g.kind]);
	}
	fprintf(f, "    %-8s %9s %10s %10s %10s %10s %10s  (%s)\n", "phase", "count", "mean", "p50",
		"p90", "p99", "max", o->ms ? "msecs" : "usecs");
	for (int p = 0; p < NR_PHASES; p++) {
		const struct bbs_hist *h = &gd->phases[p];

		if (bbs_phase_is_device(p) != dev_group)
			continue;
		int why = bbs_group_why(r, gd, p);

		if (h->count)
			print_phase_row(f, bbs_phase_name[p], h, o->ms);
		else if (why != WHY_NONE)
			fprintf(f, "    %-8s not observable: %s\n", bbs_phase_name[p],
				bbs_why_detail[why]);
	}
	if (o->summary)
		return;
	for (int p = 0; p < NR_PHASES; p++)
		if (gd->phases[p].count && bbs_phase_is_device(p) == dev_group)
			print_log2(f, &gd->phases[p], bbs_phase_name[p], o->ms);
}

/* Function phases: per filesystem, a row per function and operation, total then self. */
static void print_funcs(FILE *f, const struct bbs_report *r, const struct bbs_print_opts *o)
{
	double div = o->ms ? 1e6 : 1e3;
	char fs[256], name[BBS_FUNC_NAME + 8];
	uint32_t cur = ~0U;

	for (size_t i = 0; i < r->nr_funcs; i++) {
		const struct bbs_func_data *fd = &r->funcs[i];

		if (!fd->total.count)
			continue;
		if (fd->fs != cur) {
			cur = fd->fs;
			fprintf(f,
				"%s functions:\n    %-32s %-7s %8s %10s %10s %10s %10s %10s  "
				"(%s)\n",
				bbs_fs_name(fd->fs, fs, sizeof(fs)), "phase", "under", "calls",
				"mean", "p50", "p99", "max", "self p50", o->ms ? "msecs" : "usecs");
		}
		fprintf(f, "    %-32s %-7s %8llu %10.1f %10.1f %10.1f %10.1f %10.1f\n",
			bbs_func_phase(r, fd->slot, name, sizeof(name)), bbs_under_name[fd->under],
			(unsigned long long)fd->total.count,
			(double)fd->total.sum_ns / fd->total.count / div,
			bbs_hist_percentile(&fd->total, 0.50) / div,
			bbs_hist_percentile(&fd->total, 0.99) / div, fd->total.max_ns / div,
			bbs_hist_percentile(&fd->self, 0.50) / div);
	}
	for (int i = 0; i < MAX_FUNCS; i++) {
		bool seen = false;

		for (size_t j = 0; j < r->nr_funcs && !seen; j++)
			seen = r->funcs[j].slot == i && r->funcs[j].total.count;
		if (r->func[i].name[0] && !seen)
			fprintf(f, "    func:%-27s no calls (%s)\n", r->func[i].name,
				r->func[i].attach);
	}
	for (int i = 0; i < r->nr_func_off; i++)
		fprintf(f, "    func:%-27s not traced: %s\n", r->func_off[i].name,
			r->func_off[i].why);
	fputc('\n', f);
}

void bbs_report_print(FILE *f, const struct bbs_report *r, const struct bbs_print_opts *o)
{
	uint64_t lost = bbs_report_lost(r);

	if (r->sample)
		fprintf(f, "sampled: one bio in %u followed, counts and bytes scaled by %u\n",
			r->sample, r->sample);
	if (!r->nr_groups)
		fprintf(f, "no btrfs bios in this interval\n");
	for (size_t i = 0; i < r->nr_groups; i++) {
		print_group(f, r, &r->groups[i], o);
		fputc('\n', f);
	}
	if (bbs_report_has_funcs(r))
		print_funcs(f, r, o);
	if (r->skipped_runs)
		fprintf(f,
			"skipped: the kernel skipped %llu runs of bbscope's programs "
			"(recursion_misses:\n"
			"  still running on that CPU); the bios they would have seen are missing "
			"or\n"
			"  partly timed\n",
			(unsigned long long)r->skipped_runs);
	if (r->rescued_runs)
		fprintf(f,
			"rescued: %llu skipped runs made up for by the tracepoints' copies "
			"(rescued_runs)\n",
			(unsigned long long)r->rescued_runs);
	if (lost) {
		fprintf(f, "lost: %llu (", (unsigned long long)lost);
		for (int i = 0; i < NR_LOST_BPF; i++)
			if (r->lost[i])
				fprintf(f, "%s %llu, ", bbs_lost_name[i],
					(unsigned long long)r->lost[i]);
		fprintf(f, "evicted %llu)\n", (unsigned long long)r->evicted);
	}
}

void bbs_report_print_cost(FILE *f, const struct bbs_report *r)
{
	uint64_t runs, ns;

	if (!r->cost_measured) {
		fprintf(f, "bpf cost: not measured (%s)\n", r->cost_why ? r->cost_why : "unknown");
		return;
	}
	bbs_report_cost_total(r, &runs, &ns);
	fprintf(f, "bpf cost: %.3f ms CPU in %llu program runs (%.0f ns per run)\n", ns / 1e6,
		(unsigned long long)runs, runs ? (double)ns / runs : 0.0);
}
