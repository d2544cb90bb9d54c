// SPDX-License-Identifier: GPL-2.0
/*
 * A bench run's results: every number the median over the rounds, with
 * min and max; the model's predictions from the medians; the notes that
 * say where the measurement leaves the model; the table and the JSON.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/internal.h"
#include "bench/model.h"
#include "host/jsonstr.h"
#include "host/machine.h"
#include "host/median.h"
#include "host/util.h"
#include "render/html.h"

const char *const bench_row_name[NR_ROWS] = { "kernel",	 "none", "serial", "async",
					      "offload", "step", "batched" };

/* A note of the run: in the JSON's notes, and on stderr as it happens. */
void bench_note(struct bbs_bench *b, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	json_array_append_new(b->notes, json_string(buf));
	fprintf(stderr, "bbscope: bench: %s\n", buf);
}

/* ---- medians over the rounds ---- */

/*
 * The rounds' sample objects made into one: a number becomes the median of
 * its rounds, with the extremes in sibling objects "min" and "max" under
 * the same key; objects are merged key by key the same way; anything else
 * is the first round's.  A phase not observed in some rounds is the median
 * of the rounds that observed it.
 */
static json_t *aggregate(json_t *const *v, size_t n)
{
	json_t *out = json_object(), *mins = json_object(), *maxs = json_object();

	for (size_t i = 0; i < n; i++) {
		const char *key;
		json_t *x;

		json_object_foreach(v[i], key, x)
		{
			json_t *vals[BBS_BENCH_MAX_ROUNDS];
			bool nums = true, objs = true, ints = true, seen = false;
			size_t k = 0;

			if (json_object_get(out, key))
				continue;
			for (size_t j = i; j < n; j++) {
				json_t *y = json_object_get(v[j], key);

				if (!y)
					continue;
				vals[k++] = y;
				nums &= json_is_number(y);
				objs &= json_is_object(y);
				ints &= json_is_integer(y);
				seen |= json_is_object(y) && !json_object_get(y, "observable");
			}
			if (nums) {
				double d[BBS_BENCH_MAX_ROUNDS], med;

				for (size_t j = 0; j < k; j++)
					d[j] = json_number_value(vals[j]);
				med = bbs_median(d, k);
				json_object_set_new(out, key,
						    ints && med == floor(med)
							    ? json_integer((json_int_t)med)
							    : json_real(med));
				json_object_set_new(mins, key,
						    ints ? json_integer((json_int_t)d[0])
							 : json_real(d[0]));
				json_object_set_new(maxs, key,
						    ints ? json_integer((json_int_t)d[k - 1])
							 : json_real(d[k - 1]));
			} else if (objs) {
				size_t m = 0;

				/* rounds that did not observe a phase others did: left out */
				for (size_t j = 0; j < k; j++)
					if (!seen || !json_object_get(vals[j], "observable"))
						vals[m++] = vals[j];
				json_object_set_new(out, key, aggregate(vals, m));
			} else {
				json_object_set(out, key, vals[0]);
			}
		}
	}
	if (json_object_size(mins)) {
		json_object_set_new(out, "min", mins);
		json_object_set_new(out, "max", maxs);
	} else {
		json_decref(mins);
		json_decref(maxs);
	}
	return out;
}

static json_t *aggregate_array(const json_t *arr)
{
	json_t *v[BBS_BENCH_MAX_ROUNDS];
	size_t n = json_array_size(arr);

	for (size_t i = 0; i < n && i < BBS_BENCH_MAX_ROUNDS; i++)
		v[i] = json_array_get(arr, i);
	return aggregate(v, n);
}

/* ---- results ---- */

/* Median (and min, max) at a dotted path: "phases.device.p50_ns". */
double bench_stat(const json_t *o, const char *path, double *lo, double *hi)
{
	char buf[128], *dot, *key = buf;

	snprintf(buf, sizeof(buf), "%s", path);
	while (o && (dot = strchr(key, '.'))) {
		*dot = 0;
		o = json_object_get(o, key);
		key = dot + 1;
	}
	if (lo)
		*lo = bbs_json_num(json_object_get(o, "min"), key);
	if (hi)
		*hi = bbs_json_num(json_object_get(o, "max"), key);
	return bbs_json_num(o, key);
}

void bench_results_free(struct results *r)
{
	for (int i = 0; i < NR_ROWS; i++)
		json_decref(r->rows[i]);
	json_decref(r->model);
}

/* "1.23 GB/s [1.2-1.25]": the median, and the range when rounds differ. */
static void fmt_range(char *buf, size_t len, double v, double lo, double hi,
		      enum bbs_html_unit unit, unsigned int rounds)
{
	char a[32], x[32], y[32];

	bbs_html_fmt(a, sizeof(a), v, unit);
	if (rounds < 2 || !isfinite(lo) || !isfinite(hi)) {
		snprintf(buf, len, "%s", a);
		return;
	}
	bbs_html_fmt(x, sizeof(x), lo, unit);
	bbs_html_fmt(y, sizeof(y), hi, unit);
	/* the range without its unit when the unit is the median's */
	if (strchr(x, ' ') && strchr(y, ' ') && !strcmp(strchr(x, ' '), strchr(a, ' ')) &&
	    !strcmp(strchr(y, ' '), strchr(a, ' '))) {
		*strchr(x, ' ') = 0;
		*strchr(y, ' ') = 0;
	}
	snprintf(buf, len, "%s [%s-%s]", a, x, y);
}

/* "2.96 ms / 4.1 ms": p50 / p99 of a phase, "-" when not observed. */
static void fmt_p50_p99(char *buf, size_t len, const json_t *row, const char *phase)
{
	char path[64], a[32], z[32];
	double p50, p99;

	snprintf(path, sizeof(path), "phases.%s.p50_ns", phase);
	p50 = bench_stat(row, path, NULL, NULL);
	snprintf(path, sizeof(path), "phases.%s.p99_ns", phase);
	p99 = bench_stat(row, path, NULL, NULL);
	if (!isfinite(p50)) {
		snprintf(buf, len, "-");
		return;
	}
	bbs_html_fmt(a, sizeof(a), p50, BBS_UNIT_NS);
	bbs_html_fmt(z, sizeof(z), p99, BBS_UNIT_NS);
	snprintf(buf, len, "%s / %s", a, z);
}

const char *bench_row_label(int row)
{
	static const char *const label[NR_ROWS] = { "kernel",	     "none",	"serial",
						    "async",	     "offload", "parity step",
						    "parity batched" };

	return label[row];
}

/* btrfs checksums these inline, never on a worker (BTRFS_FS_CSUM_IMPL_FAST) */
static bool csum_fast(const struct bbs_bench *b)
{
	return b->algo == BBS_CSUM_CRC32C || b->algo == BBS_CSUM_XXHASH;
}

bool bench_raid56(const struct bbs_bench *b)
{
	return !strcmp(b->profile, "raid5") || !strcmp(b->profile, "raid6");
}

static void ctx_text(char *buf, size_t len, const json_t *ctx)
{
	const char *k;
	json_t *v;
	size_t n = 0;

	buf[0] = 0;
	json_object_foreach((json_t *)ctx, k, v)
	{
		if (strcmp(k, "min") && strcmp(k, "max") && json_integer_value(v) && n < len)
			n += snprintf(buf + n, len - n, "%s%s %lld", n ? ", " : "", k,
				      (long long)json_integer_value(v));
	}
	if (!buf[0])
		snprintf(buf, len, "none");
}

/* The table and the lines under it, as printed and as the page shows them. */
/* The header and one line a row: throughput, and p50 / p99 of csum, device, total (rmw). */
static void table_rows(FILE *f, const struct bbs_bench *b, const struct results *r)
{
	bool rmw = bench_raid56(b);
	char tp[128], cs[80], dv[80], tt[80], rm[80];
	double v, lo, hi;

	fprintf(f,
		"bbscope bench: %s %s btrfs (%s), %llu MiB of %s writes, bs %llu KiB, %s "
		"backing; %u round%s%s\n",
		b->profile, bbs_csum_name(b->algo), b->o.fs ? b->o.fs : "sandbox",
		(unsigned long long)(b->o.size >> 20),
		b->o.direct	  ? "sequential O_DIRECT (one at a time)"
		: b->o.rand	  ? "random O_DIRECT"
		: b->o.fsync_only ? "sequential buffered (fsync)"
				  : "sequential buffered (background writeback)",
		(unsigned long long)(b->o.bs >> 10), bbs_backing_name[b->o.backing], b->o.rounds,
		b->o.rounds > 1 ? "s" : "", b->o.rounds > 1 ? ", median [min-max]" : "");
	fprintf(f, "%-15s %-26s %-21s %-21s %s%s\n", "row", "throughput", "csum p50 / p99",
		"device p50 / p99", rmw ? "total p50 / p99      " : "total p50 / p99",
		rmw ? " rmw p50 / p99" : "");
	for (int i = 0; i < NR_ROWS; i++) {
		const json_t *row = r->rows[i];

		if (!row)
			continue;
		v = bench_stat(row, "throughput_bps", &lo, &hi);
		fmt_range(tp, sizeof(tp), v, lo, hi, BBS_UNIT_BPS, b->o.rounds);
		fmt_p50_p99(cs, sizeof(cs), row, ROW_IS_PARITY(i) ? "parity" : "csum");
		fmt_p50_p99(dv, sizeof(dv), row, "device");
		fmt_p50_p99(tt, sizeof(tt), row, "total");
		fmt_p50_p99(rm, sizeof(rm), row, "rmw");
		if (rmw)
			fprintf(f, "%-15s %-26s %-21s %-21s %-21s %s\n", bench_row_label(i), tp, cs,
				dv, tt, rm);
		else
			fprintf(f, "%-15s %-26s %-21s %-21s %s\n", bench_row_label(i), tp, cs, dv,
				tt);
	}
	if (r->rows[ROW_STEP] || r->rows[ROW_BATCHED])
		fprintf(f,
			"(parity rows: the csum column is one rbio's P/Q generation; they replay "
			"the recorded data strip writes and compute P and Q)\n");
}

/* What the kernel row shows besides: hop, endio, contexts, checksum work, raid56. */
static void table_kernel(FILE *f, const struct bbs_bench *b, const json_t *k)
{
	char tp[128], a[80], z[80], x[80];
	bool rmw = bench_raid56(b);
	char ectx[128], cctx[128], wq[128];

	fmt_p50_p99(a, sizeof(a), k, "hop");
	fmt_p50_p99(z, sizeof(z), k, "endio");
	ctx_text(cctx, sizeof(cctx), json_object_get(k, "complete_ctx"));
	ctx_text(ectx, sizeof(ectx), json_object_get(k, "endio_ctx"));
	ctx_text(wq, sizeof(wq), json_object_get(k, "endio_wq"));
	fprintf(f, "\nkernel data writes: hop p50 / p99 %s, endio p50 / p99 %s\n", a, z);
	fprintf(f, "  completion context: %s; end_io context: %s; end_io workqueues: %s\n", cctx,
		ectx, wq);
	if (isfinite(bbs_json_num(k, "csum_share"))) {
		bbs_html_fmt(x, sizeof(x), bbs_json_num(k, "csum_busy_s") * 1e9, BBS_UNIT_NS);
		bbs_html_fmt(tp, sizeof(tp), bbs_json_num(k, "elapsed_s") * 1e9, BBS_UNIT_NS);
		fmt_p50_p99(a, sizeof(a), k, "csum");
		fprintf(f,
			"  checksum work: %s of it over %s of writeback (%.0f%%), "
			"p50 / p99 %s per work item\n",
			x, tp, 100 * bbs_json_num(k, "csum_share"), a);
	} else {
		fprintf(f,
			"  checksum work: not observable: it ran inline in the submitting "
			"thread (%s)\n",
			csum_fast(b) ? "crc32c and xxhash always do"
				     : "synchronous writes, such as fsync's, do");
	}
	if (rmw) {
		fmt_p50_p99(a, sizeof(a), k, "rmw");
		fmt_p50_p99(z, sizeof(z), k, "recover");
		fprintf(f, "  raid56: rmw %s, recover %s (p50 / p99); stripe writes %lld\n", a, z,
			(long long)bench_stat(k, "stripe_writes", NULL, NULL));
	}
}

/* The model's inputs and predictions beside the measured speedup, then the notes. */
static void table_model(FILE *f, const struct bbs_bench *b, const struct results *r)
{
	char tp[128], a[80], z[80], x[80];

	bbs_html_fmt(a, sizeof(a), bbs_json_num(r->model, "mem_bps"), BBS_UNIT_BPS);
	bbs_html_fmt(z, sizeof(z), bbs_json_num(r->model, "csum_bps"), BBS_UNIT_BPS);
	bbs_html_fmt(x, sizeof(x), bbs_json_num(r->model, "dev_bps"), BBS_UNIT_BPS);
	fprintf(f,
		"\nmodel inputs (one core): m %s (memcpy, cold), c %s (%s, cold), d %s (replay "
		"none)\n",
		a, z, bbs_csum_name(b->algo), x);
	bbs_html_fmt(a, sizeof(a), r->pred_serial, BBS_UNIT_BPS);
	bbs_html_fmt(z, sizeof(z), r->pred_async, BBS_UNIT_BPS);
	fprintf(f, "model: serial 1/(1/m+1/c+1/d) = %s, async 1/(1/m+max(1/c,1/d)) = %s\n", a, z);
	fmt_range(tp, sizeof(tp), r->speedup, r->speedup_lo, r->speedup_hi, BBS_UNIT_RATIO,
		  b->o.rounds);
	fprintf(f,
		"async/serial speedup: predicted %.2fx, measured %s (replay, async over serial "
		"in the same round)\n",
		r->predicted, tp);
	if (json_array_size(b->notes))
		fputc('\n', f);
	for (size_t i = 0; i < json_array_size(b->notes); i++)
		fprintf(f, "note: %s\n", json_string_value(json_array_get(b->notes, i)));
}

/* ---- the pipeline model at every point of the sweep (bench/model.h) ---- */

static struct bbs_pipe pipe_one(const struct point *pt, int k, const json_t *row, bool shared);
static struct bbs_pipe pipe_of(const struct point *pt, int k, const json_t *row, bool shared);

static const enum bbs_model_shape row_shape[NR_SHAPES] = { BBS_SHAPE_NONE, BBS_SHAPE_SERIAL,
							   BBS_SHAPE_ASYNC, BBS_SHAPE_OFFLOAD };

/* One shape at one point: its terms, the prediction, the seed's, and their errors. */
bool bench_pipe_of(const struct point *pt, int k, unsigned int qd, struct bbs_pipe *p)
{
	struct bbs_pipe q = pipe_one(pt, k, pt->rows[k], true);

	/* the lower of the two models, each at qd */
	*p = pipe_one(pt, k, pt->rows[k], false);
	p->qd = q.qd = qd;
	if (bbs_pipe_predict(p) || (q.cores > 0 && !bbs_pipe_predict(&q) && q.bps < p->bps))
		*p = q;
	return !bbs_pipe_predict(p) && isfinite(p->bps);
}

/*
 * A thread's run-queue wait at each wake-up: its wait for a core less the
 * part that fell while it was busy (its busy time beyond its CPU time),
 * over its wake-ups.
 */
static double wake_runq(double runq, double busy, double run, double wakeups)
{
	double in_busy = fmin(fmax(busy - run, 0), runq);

	return wakeups > 0 ? (runq - in_busy) / wakeups : 0;
}

/*
 * The terms as CPU work on shared cores (docs/design.md, "The bench
 * model"): all of S's CPU time (a serial checksum too), W's, and the
 * device's where it ran on io_uring's workers are work the stations share
 * the cores with; what stays a delay, without a CPU, is the device's time
 * beyond its workers' running and waiting for a core, and each wake-up less
 * the waker's wait for a core (the sharing makes that wait again).
 */
static void share_cpu(struct bbs_pipe *p, const json_t *t, double bios, double elapsed_ns,
		      double cores, int k)
{
	double sr = bbs_json_num(t, "submitter_run_ns"),
	       sq = bbs_json_num(t, "submitter_runq_wait_ns");
	double wr = bbs_json_num(t, "workers_run_ns"), wq = bbs_json_num(t, "workers_runq_wait_ns");
	double ir = bbs_json_num(t, "io_run_ns"), iq = bbs_json_num(t, "io_runq_wait_ns");
	double s_busy = p->submit_ns + p->issue_ns + (k == 1 ? p->csum_ns : 0);
	double w_busy = p->csum_ns + p->worker_ns * bbs_json_num(t, "worker_gaps") / bios;

	/*
	 * S's CPU time beyond its busy time ran inside its waits, in the
	 * kernel on its behalf (io_uring's task work, completions) while the
	 * device held the bio: it is the device's CPU work where the device had
	 * time without a CPU of its own, and took cores beside the io-wq
	 * worker's for the rest (as other load does).
	 */
	double s_wait_cpu = fmax(sr - s_busy, 0);
	double d_delay = fmax(p->device_ns - p->issue_ns - ir - iq, 0);
	double placed = fmin(s_wait_cpu, d_delay);
	/*
	 * Likewise a worker's CPU time beyond its busy time (its checksums, its
	 * gaps between two) ran inside its wake-ups and after its notices: in
	 * hand-offs already timed on the wall clock.  Not its station's work
	 * again; cores it took, as other load does.
	 */
	double w_wait_cpu = k >= 2 ? fmax(wr - w_busy, 0) : 0;

	/*
	 * Each wake-up timed by the kernel, where the replay could: of its wait
	 * for a core, only what passed with every CPU busy is the sharing's to
	 * make again; what passed with a CPU idle stays a delay (for io-wq's
	 * wake-ups too, inside the device's time).  Else schedstat's sums.
	 */
	bool timed = isfinite(bbs_json_num(t, "workers_wake_wait_ns"));
	double io_idle = timed ? bbs_json_num(t, "io_wake_wait_idle_ns") *
					 bbs_json_num(t, "io_wakeups") / bios
			       : 0;

	p->cores = fmax(cores - (elapsed_ns > 0
					 ? (s_wait_cpu - placed + w_wait_cpu) * bios / elapsed_ns
					 : 0),
			0.05);
	p->submit_cpu_ns = sr - s_wait_cpu;
	p->device_cpu_ns = ir + placed;
	p->device_ns = d_delay - placed + fmin(fmax(io_idle, 0), iq);
	if (k >= 2) {
		p->worker_cpu_ns = wr - w_wait_cpu;
		p->handoff_ns =
			fmax(p->handoff_ns -
				     (timed ? bbs_json_num(t, "workers_wake_wait_ns") -
						      bbs_json_num(t, "workers_wake_wait_idle_ns")
					    : wake_runq(wq, w_busy, wr,
							bbs_json_num(t, "handoffs") / bios)),
			     0);
		p->wake_ns = fmax(
			p->wake_ns - (timed ? bbs_json_num(t, "submitter_wake_wait_ns") -
						      bbs_json_num(t, "submitter_wake_wait_idle_ns")
					    : wake_runq(sq, s_busy, sr,
							bbs_json_num(t, "sleeps") / bios)),
			0);
	}
	p->submit_ns = p->issue_ns = p->csum_ns = p->worker_ns = 0;
}

/*
 * The pipeline of shape k at pt from one sample's terms (or the medians'),
 * predicted: shared, with CPU work on the cores the run had (docs/design.md,
 * "The bench model"), where the replay measured its threads' schedstat;
 * else every term a station's wall-clock time, each station a core of its
 * own.
 */
static struct bbs_pipe pipe_one(const struct point *pt, int k, const json_t *row, bool shared)
{
	const json_t *t = json_object_get(row, "terms");
	double bios = bbs_json_num(row, "bios"), bytes = bbs_json_num(row, "bytes");
	struct bbs_pipe p = {
		.shape = row_shape[k],
		.qd = pt->qd,
		.workers = 1,
		.bio_bytes = bios > 0 ? bytes / bios : NAN,
		.submit_ns = bbs_json_num(t, "submit_ns"),
		.csum_ns = k ? bbs_json_num(t, "csum_ns") : 0,
		.device_ns = bbs_json_num(t, "device_ns"),
		.handoff_ns = k >= 2 ? bbs_json_num(t, "handoff_ns") : 0,
		.wake_ns = k >= 2 ? bbs_json_num(t, "wake_ns") : 0,
		.worker_ns = k >= 2 ? bbs_json_num(t, "worker_ns") : 0,
		.issue_ns = bbs_json_num(t, "issue_ns"),
	};
	double io_run = bbs_json_num(t, "io_run_ns"), io_rq = bbs_json_num(t, "io_runq_wait_ns");
	double cores = fmin(bbs_json_num(t, "cpus"),
			    sysconf(_SC_NPROCESSORS_ONLN) - bbs_json_num(t, "other_load_cores"));

	if (shared && io_run >= 0 && io_rq >= 0 && cores > 0)
		share_cpu(&p, t, bios, bbs_json_num(row, "elapsed_s") * 1e9, cores, k);
	bbs_pipe_predict(&p);
	return p;
}

/*
 * The prediction: the lower of the two.  Each relaxes one constraint the
 * run obeys (without sharing, the cores' capacity; shared, the run-queue
 * waits of wake-ups on cores left idle), so each bounds the throughput from
 * above where its own assumption fails.  shared false: without sharing only.
 */
static struct bbs_pipe pipe_of(const struct point *pt, int k, const json_t *row, bool shared)
{
	struct bbs_pipe p = pipe_one(pt, k, row, false), q;

	if (!shared)
		return p;
	q = pipe_one(pt, k, row, true);
	return q.cores > 0 && q.bps < p.bps ? q : p;
}

/* Median over the rounds of each round's prediction from its own terms. */
static double pred_median(const struct point *pt, int k, bool shared, double *per_round)
{
	double v[BBS_BENCH_MAX_ROUNDS];
	size_t n = 0;

	for (size_t i = 0; i < json_array_size(pt->samples[k]) && n < BBS_BENCH_MAX_ROUNDS; i++) {
		struct bbs_pipe p = pipe_of(pt, k, json_array_get(pt->samples[k], i), shared);

		if (per_round)
			per_round[i] = p.bps;
		v[n++] = p.bps;
	}
	return n ? bbs_median(v, n) : NAN;
}

static json_t *predict_shape(const struct point *pt, int k, const struct bbs_model *seed)
{
	const json_t *row = pt->rows[k];
	double meas = bbs_json_num(row, "throughput_bps");
	struct bbs_pipe p = pipe_one(pt, k, row, true);
	double cores = bbs_json_num(row, "cpu_s") / bbs_json_num(row, "elapsed_s");
	double unshared = pred_median(pt, k, false, NULL), shared = NAN;
	double per_round[BBS_BENCH_MAX_ROUNDS] = { 0 };
	double seed_bps = k == 0   ? 1 / (1 / seed->mem_bps + 1 / seed->dev_bps)
			  : k == 2 ? seed->async_bps
				   : seed->serial_bps;
	json_t *o;

	/* every round predicted from its own terms; the median of those */
	if (p.cores > 0) {
		double v[BBS_BENCH_MAX_ROUNDS];
		size_t n = 0;

		for (size_t i = 0; i < json_array_size(pt->samples[k]) && n < BBS_BENCH_MAX_ROUNDS;
		     i++)
			v[n++] = pipe_one(pt, k, json_array_get(pt->samples[k], i), true).bps;
		shared = n ? bbs_median(v, n) : NAN;
	}
	p.bps = pred_median(pt, k, true, per_round);
	o = json_pack("{s:{s:f,s:f,s:f,s:f,s:f,s:f,s:f},s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "inputs",
		      "submit_ns", p.submit_ns, "issue_ns", p.issue_ns, "csum_ns", p.csum_ns,
		      "device_ns", p.device_ns, "handoff_ns", p.handoff_ns, "wake_ns", p.wake_ns,
		      "worker_ns", p.worker_ns, "cores_used", cores, "measured_bps", meas,
		      "predicted_bps", p.bps, "error", p.bps / meas - 1, "predicted_latency_ns",
		      p.latency_ns, "seed_bps", seed_bps, "seed_error", seed_bps / meas - 1);
	json_object_set_new(o, "measured_latency_ns",
			    json_real(bench_stat(row, "phases.total.mean_ns", NULL, NULL)));
	if (p.cores > 0) {
		json_t *in = json_object_get(o, "inputs");

		json_object_set_new(in, "cores", json_real(p.cores));
		json_object_set_new(in, "submit_cpu_ns", json_real(p.submit_cpu_ns));
		json_object_set_new(in, "device_cpu_ns", json_real(p.device_cpu_ns));
		json_object_set_new(in, "worker_cpu_ns", json_real(p.worker_cpu_ns));
	}
	/* each round's own terms and throughput: what each round was predicted from */
	{
		json_t *tr = json_array(), *mr = json_array(), *br = json_array(),
		       *pr = json_array();

		for (size_t i = 0; i < json_array_size(pt->samples[k]); i++) {
			const json_t *r = json_array_get(pt->samples[k], i);

			if (i < BBS_BENCH_MAX_ROUNDS)
				json_array_append_new(pr, json_real(per_round[i]));
			json_array_append(tr, json_object_get(r, "terms"));
			json_array_append_new(mr, json_real(bbs_json_num(r, "throughput_bps")));
			json_array_append_new(
				br, json_real(bbs_json_num(r, "bytes") / bbs_json_num(r, "bios")));
		}
		json_object_set_new(o, "rounds_terms", tr);
		json_object_set_new(o, "rounds_bio_bytes", br);
		json_object_set_new(o, "rounds_measured_bps", mr);
		json_object_set_new(o, "rounds_predicted_bps", pr);
	}
	/* the two bounds the prediction is the lower of, each round */
	json_object_set_new(o, "unshared_bps", json_real(unshared));
	json_object_set_new(o, "unshared_error", json_real(unshared / meas - 1));
	json_object_set_new(o, "shared_bps", json_real(shared));
	json_object_set_new(o, "shared_error", json_real(shared / meas - 1));
	return o;
}

/*
 * async over serial, predicted and measured, each the median over the
 * rounds of the round's ratio (as measured_async_speedup is): *pa / *ps and
 * *ma / *ms are those medians.
 */
static void speedups(const struct point *pt, bool shared, double *pa, double *ps, double *ma,
		     double *ms)
{
	double s[BBS_BENCH_MAX_ROUNDS], a[BBS_BENCH_MAX_ROUNDS], rp[BBS_BENCH_MAX_ROUNDS],
		rm[BBS_BENCH_MAX_ROUNDS];
	size_t n = json_array_size(pt->samples[1]);

	if (n > BBS_BENCH_MAX_ROUNDS || n != json_array_size(pt->samples[2]) || !n) {
		*pa = *ps = *ma = *ms = NAN;
		return;
	}
	pred_median(pt, 1, shared, s);
	pred_median(pt, 2, shared, a);
	for (size_t i = 0; i < n; i++) {
		rp[i] = a[i] / s[i];
		rm[i] = bbs_json_num(json_array_get(pt->samples[2], i), "throughput_bps") /
			bbs_json_num(json_array_get(pt->samples[1], i), "throughput_bps");
	}
	*pa = bbs_median(rp, n);
	*ma = bbs_median(rm, n);
	*ps = *ms = 1;
}

static void predict_points(struct bbs_bench *b)
{
	for (unsigned int i = 0; i < b->npts; i++) {
		struct point *pt = &b->pts[i];
		struct bbs_model seed;
		json_t *shapes = json_object();
		double pa, ps, ma, ms, unshared;

		for (int k = 0; k < NR_SHAPES; k++)
			pt->rows[k] = aggregate_array(pt->samples[k]);
		pt->bw_med = aggregate_array(pt->bw);
		seed = (struct bbs_model){ .mem_bps = bbs_json_num(pt->bw_med, "mem_bps"),
					   .csum_bps = bbs_json_num(pt->bw_med, "csum_bps"),
					   .dev_bps = bbs_json_num(pt->rows[0], "throughput_bps") };
		bbs_model_predict(&seed);
		for (int k = 0; k < NR_SHAPES; k++)
			json_object_set_new(shapes, bench_row_name[ROW_NONE + k],
					    predict_shape(pt, k, &seed));
		speedups(pt, false, &pa, &ps, &ma, &ms);
		unshared = pa / ps;
		speedups(pt, true, &pa, &ps, &ma, &ms);
		pt->model =
			json_pack("{s:i,s:s,s:i,s:f,s:f,s:f,s:f,s:o}", "qd", (int)pt->qd, "algo",
				  bbs_csum_name(pt->algo), "workers", 1, "mem_bps", seed.mem_bps,
				  "csum_bps", seed.csum_bps, "predicted_async_speedup", pa / ps,
				  "measured_async_speedup", ma / ms, "shapes", shapes);
		json_object_set_new(pt->model, "speedup_error", json_real(pa / ps - ma / ms));
		json_object_set_new(pt->model, "seed_async_speedup", json_real(seed.speedup));
		json_object_set_new(pt->model, "unshared_async_speedup", json_real(unshared));
	}
}

/*
 * The test that is not circular: every shape at every point predicted from
 * the terms of each other depth of its checksum (the HTML page's curves),
 * against what that point measured.  Into each shape's "from_depths" and
 * the summary b->cross.
 */
static void predict_across(struct bbs_bench *b)
{
	double sum = 0;
	int n = 0, within = 0;

	for (unsigned int i = 0; i < b->npts; i++) {
		const struct point *to = &b->pts[i];
		json_t *shapes = json_object_get(to->model, "shapes");

		for (int k = 0; k < NR_SHAPES; k++) {
			json_t *s = json_object_get(shapes, bench_row_name[ROW_NONE + k]);
			double meas = bbs_json_num(s, "measured_bps");
			json_t *arr = json_array();

			for (unsigned int j = 0; j < b->npts; j++) {
				const struct point *from = &b->pts[j];
				struct bbs_pipe p;
				double err;

				if (j == i || from->algo != to->algo || from->qd == to->qd ||
				    !bench_pipe_of(from, k, to->qd, &p) || !(meas > 0))
					continue;
				err = p.bps / meas - 1;
				json_array_append_new(arr, json_pack("{s:i,s:f,s:f}", "qd",
								     (int)from->qd, "predicted_bps",
								     p.bps, "error", err));
				sum += fabs(err);
				within += fabs(err) <= 0.1;
				n++;
			}
			json_object_set_new(s, "from_depths", arr);
		}
	}
	json_decref(b->cross);
	b->cross = n ? json_pack("{s:i,s:i,s:f}", "predictions", n, "within_10pct", within,
				 "mean_abs_error", sum / n)
		     : NULL;
}

/* The sweep's table: every shape at every point, predicted beside measured. */
static void table_points(FILE *f, const struct bbs_bench *b)
{
	char a[32], z[32], x[32];

	fprintf(f, "\nmodel: a closed pipeline, one customer a bio in flight; predicted: the lower "
		   "of its stations sharing the cores the run had and each with a core of its own "
		   "(docs/design.md); terms measured per bio in the same run\n");
	fprintf(f, "%-4s %-7s %-8s %-11s %-11s %-7s %-8s %-9s %-11s %-7s %s\n", "qd", "algo",
		"shape", "measured", "predicted", "error", "shared", "unshared", "seed", "error",
		"cores; cpu: S W D; delay: D handoff wake (us)");
	for (unsigned int i = 0; i < b->npts; i++) {
		const json_t *m = b->pts[i].model, *sh = json_object_get(m, "shapes");

		for (int k = 0; k < NR_SHAPES; k++) {
			const json_t *s = json_object_get(sh, bench_row_name[ROW_NONE + k]);
			const json_t *in = json_object_get(s, "inputs");

			bbs_html_fmt(a, sizeof(a), bbs_json_num(s, "measured_bps"), BBS_UNIT_BPS);
			bbs_html_fmt(z, sizeof(z), bbs_json_num(s, "predicted_bps"), BBS_UNIT_BPS);
			bbs_html_fmt(x, sizeof(x), bbs_json_num(s, "seed_bps"), BBS_UNIT_BPS);
			fprintf(f,
				"%-4u %-7s %-8s %-11s %-11s %+6.1f%% %+6.1f%% %+7.1f%% %-11s "
				"%+6.1f%% "
				"%.2f; "
				"%.1f %.1f %.1f; %.1f %.1f %.1f\n",
				b->pts[i].qd, bbs_csum_name(b->pts[i].algo),
				bench_row_name[ROW_NONE + k], a, z, 100 * bbs_json_num(s, "error"),
				100 * bbs_json_num(s, "shared_error"),
				100 * bbs_json_num(s, "unshared_error"), x,
				100 * bbs_json_num(s, "seed_error"), bbs_json_num(in, "cores"),
				bbs_json_num(in, "submit_cpu_ns") / 1e3,
				bbs_json_num(in, "worker_cpu_ns") / 1e3,
				bbs_json_num(in, "device_cpu_ns") / 1e3,
				bbs_json_num(in, "device_ns") / 1e3,
				bbs_json_num(in, "handoff_ns") / 1e3,
				bbs_json_num(in, "wake_ns") / 1e3);
		}
		fprintf(f,
			"%-4u %-7s async/serial: predicted %.2fx, measured %.2fx (error %+.2f); "
			"unshared %.2fx; seed %.2fx\n",
			b->pts[i].qd, bbs_csum_name(b->pts[i].algo),
			bbs_json_num(m, "predicted_async_speedup"),
			bbs_json_num(m, "measured_async_speedup"), bbs_json_num(m, "speedup_error"),
			bbs_json_num(m, "unshared_async_speedup"),
			bbs_json_num(m, "seed_async_speedup"));
	}
	if (b->cross)
		fprintf(f,
			"across depths (each point from another depth's terms): %.0f of %.0f "
			"within 10%%, mean |error| %.1f%%\n",
			bbs_json_num(b->cross, "within_10pct"),
			bbs_json_num(b->cross, "predictions"),
			100 * bbs_json_num(b->cross, "mean_abs_error"));
}

/*
 * The kernel row: one write at a time (--workload direct) is the pipeline
 * at qd 1, in series, each term per write and measured in the same run:
 *
 *   copy       where btrfs turns the direct write into a buffered one (the
 *              run dirtied the workload's bytes in the page cache; commit
 *              968f19c5b1b7, "btrfs: always fallback to buffered write if
 *              the inode requires checksum", 6.15, and stable backports):
 *              bs at the page-cache write bandwidth p bench timed on the
 *              same btrfs; 0 where the direct write pins the user's pages
 *   drop       the fallback then drops the written folios from the page
 *              cache (invalidation): timed on the same file, per write
 *   writeback  ordered extent made -> its first data bio queued, less the
 *              checksum: writeback submission (extent_writepage, bio build)
 *   csum       the checksum phase, or bs/c where it ran inline (unobserved)
 *   bio        first data bio queued -> last end_io done: queue, device,
 *              hop, end_io (the writer waits for its folios' writeback)
 *   runq       the writer then waits for a core: the run-queue wait a write
 *              of the page-cache timing above (its schedstat), which
 *              sleeps on its writeback the same way
 *
 * What they leave of the measured time per write is unexplained; the
 * recording says where it lies: before each write's ordered extent (beyond
 * the copy), and the ordered extent's finish (a worker, sharing the cores).
 */
struct kterms {
	double per[6]; /* csum queue device hop endio ordered, per write */
	double front, submit, bio, finish, copy, drop, wb, runq, pw;
	bool inline_csum, fallback;
};

static const char *const kphase[] = { "csum", "queue", "device", "hop", "endio", "ordered" };

/* One kernel sample's (or the medians') terms; T, the predicted time a write, or NAN. */
static double kernel_terms(const struct bbs_bench *b, const json_t *k, double c, struct kterms *t)
{
	double writes = b->o.size / (double)b->o.bs, pc = bbs_json_num(k, "pagecache_write_bps");
	struct bbs_pipe p;

	t->pw = bbs_json_num(k, "elapsed_s") * 1e9 / writes;
	if (!(t->pw > 0) || !json_object_get(k, "writes"))
		return NAN;
	for (int i = 0; i < 6; i++) {
		char path[64];

		snprintf(path, sizeof(path), "phases.%s.sum_ns", kphase[i]);
		t->per[i] = bench_stat(k, path, NULL, NULL) / writes;
		if (!isfinite(t->per[i]))
			t->per[i] = 0;
	}
	t->front = bench_stat(k, "writes.front_ns", NULL, NULL);
	t->submit = bench_stat(k, "writes.submit_ns", NULL, NULL);
	t->bio = bench_stat(k, "writes.bio_ns", NULL, NULL);
	t->finish = bench_stat(k, "writes.finish_ns", NULL, NULL);
	/* crc32c and synchronous writes checksum inline, unobserved: the bytes at c */
	t->inline_csum = t->per[0] <= 0 && c > 0;
	if (t->inline_csum)
		t->per[0] = b->o.bs / c * 1e9;
	/* the page cache took (at least half) the workload's bytes: a buffered write */
	t->fallback = bbs_json_num(k, "dirtied_bytes") >= 0.5 * (double)b->o.size;
	t->copy = t->fallback && pc > 0 ? b->o.bs / pc * 1e9 : 0;
	t->drop = bbs_json_num(k, "pagecache_drop_ns");
	t->drop = t->fallback && t->drop > 0 ? t->drop : 0;
	t->wb = fmax(t->submit - t->per[0], 0);
	t->runq = bbs_json_num(k, "runq_wait_ns");
	t->runq = t->runq > 0 ? t->runq : 0;
	p = (struct bbs_pipe){ .shape = BBS_SHAPE_SERIAL,
			       .qd = 1,
			       .workers = 1,
			       .bio_bytes = b->o.bs,
			       .submit_ns = t->copy + t->drop + t->wb,
			       .wake_ns = 0,
			       .csum_ns = t->per[0],
			       .device_ns = t->bio };
	if (bbs_pipe_predict(&p) || !(p.bps > 0))
		return NAN;
	/* the writer sleeps on its writeback once a write: then it waits for a core */
	return b->o.bs / p.bps * 1e9 + t->runq;
}

static void predict_kernel(struct bbs_bench *b, const struct results *r)
{
	const json_t *k = r->rows[ROW_KERNEL], *arr = b->samples[ROW_KERNEL];
	double meas = bbs_json_num(k, "throughput_bps"), c = bbs_json_num(r->model, "csum_bps");
	double pred[BBS_BENCH_MAX_ROUNDS], pbps, unexpl;
	size_t n = 0;
	struct kterms t;
	json_t *terms;

	/* each round predicted from its own terms (and its own c); the medians reported */
	for (size_t i = 0; i < json_array_size(arr) && n < BBS_BENCH_MAX_ROUNDS; i++) {
		double ci = bbs_json_num(json_array_get(b->model, i), "csum_bps");
		double T = kernel_terms(b, json_array_get(arr, i), isfinite(ci) ? ci : c, &t);

		if (!isfinite(T))
			continue;
		pred[n++] = b->o.bs / T * 1e9;
	}
	if (!k || !n || !isfinite(kernel_terms(b, k, c, &t)))
		return;
	pbps = bbs_median(pred, n);
	/* the measured time a write the predicted one leaves (negative: over-explained) */
	unexpl = 1 - meas / pbps;
	terms = json_object();
	for (int i = 0; i < 6; i++)
		json_object_set_new(terms, kphase[i], json_real(t.per[i]));
	json_object_set_new(terms, "copy", json_real(t.copy));
	json_object_set_new(terms, "drop", json_real(t.drop));
	json_object_set_new(terms, "writeback", json_real(t.wb));
	json_object_set_new(terms, "bio", json_real(t.bio));
	json_object_set_new(terms, "runq", json_real(t.runq));
	/* where the rest lies: before the ordered extent beyond copy and drop; its finish */
	json_object_set_new(terms, "front", json_real(t.front));
	json_object_set_new(terms, "front_beyond_copy",
			    json_real(fmax(t.front - t.copy - t.drop - t.runq, 0)));
	json_object_set_new(terms, "finish", json_real(t.finish));
	json_object_set_new(
		terms, "no_bio_in_flight",
		json_real((bbs_json_num(k, "elapsed_s") - bbs_json_num(k, "bio_busy_s")) * 1e9 /
			  (b->o.size / (double)b->o.bs)));
	b->kmodel = json_pack(
		"{s:o,s:b,s:b,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:i}", "per_write_ns", terms,
		"csum_inline_from_c", t.inline_csum, "buffered_fallback", t.fallback,
		"dirtied_bytes",
		isfinite(bbs_json_num(k, "dirtied_bytes")) ? bbs_json_num(k, "dirtied_bytes") : 0.0,
		"pagecache_write_bps",
		isfinite(bbs_json_num(k, "pagecache_write_bps"))
			? bbs_json_num(k, "pagecache_write_bps")
			: 0.0,
		"mem_bps", bbs_json_num(r->model, "mem_bps"), "measured_per_write_ns", t.pw,
		"predicted_bps", pbps, "measured_bps", meas, "error", pbps / meas - 1,
		"rounds_predicted", (int)n);
	json_object_set_new(b->kmodel, "unexplained_share", json_real(unexpl));
}

static bool r_kernel_shown(const struct bbs_bench *b)
{
	return b->r.rows[ROW_KERNEL] != NULL;
}

static void table_kernel_model(FILE *f, const struct bbs_bench *b)
{
	const json_t *km = b->kmodel, *t = json_object_get(km, "per_write_ns");
	bool fb = json_is_true(json_object_get(km, "buffered_fallback"));
	char a[32], z[32], pc[32], m[32];

	if (!km) {
		if (r_kernel_shown(b))
			fprintf(f, "\nkernel model: for --workload direct (one write at a time); "
				   "buffered writeback keeps many bios in flight\n");
		return;
	}
	bbs_html_fmt(a, sizeof(a), bbs_json_num(km, "predicted_bps"), BBS_UNIT_BPS);
	bbs_html_fmt(z, sizeof(z), bbs_json_num(km, "measured_bps"), BBS_UNIT_BPS);
	bbs_html_fmt(pc, sizeof(pc), bbs_json_num(km, "pagecache_write_bps"), BBS_UNIT_BPS);
	bbs_html_fmt(m, sizeof(m), bbs_json_num(km, "mem_bps"), BBS_UNIT_BPS);
	fprintf(f,
		"\nkernel model (qd 1 pipeline, per write): predicted %s, measured %s (error "
		"%+.1f%%); unexplained: %.0f%%\n",
		a, z, 100 * bbs_json_num(km, "error"), 100 * bbs_json_num(km, "unexplained_share"));
	if (fb)
		fprintf(f,
			"  the kernel wrote the direct writes through the page cache (%.0f MiB "
			"dirtied; btrfs falls back to a buffered write for checksummed files, "
			"968f19c5b1b7, 6.15+)\n",
			bbs_json_num(km, "dirtied_bytes") / (1 << 20));
	fprintf(f,
		"  per write of %.0f us: copy %.1f us%s, drop %.1f, writeback %.1f, csum %.1f "
		"us%s, "
		"bio %.1f us (queue %.1f, device %.1f, hop %.1f, end_io %.1f), run-queue wait "
		"%.1f us\n",
		bbs_json_num(km, "measured_per_write_ns") / 1e3, bbs_json_num(t, "copy") / 1e3,
		fb ? "" : " (none: the direct path pins the user's pages)",
		bbs_json_num(t, "drop") / 1e3, bbs_json_num(t, "writeback") / 1e3,
		bbs_json_num(t, "csum") / 1e3,
		json_is_true(json_object_get(km, "csum_inline_from_c")) ? " (inline: bs/c)" : "",
		bbs_json_num(t, "bio") / 1e3, bbs_json_num(t, "queue") / 1e3,
		bbs_json_num(t, "device") / 1e3, bbs_json_num(t, "hop") / 1e3,
		bbs_json_num(t, "endio") / 1e3, bbs_json_num(t, "runq") / 1e3);
	if (fb)
		fprintf(f,
			"  copy at the page-cache write bandwidth p %s (timed on this btrfs; "
			"memcpy m %s)\n",
			pc, m);
	fprintf(f,
		"  unexplained lies before each write's ordered extent: %.1f us beyond copy, drop "
		"and run-queue wait (the syscall's return and entry, extent allocation, "
		"preemption); the "
		"ordered extent's finish (a worker, sharing the cores) %.1f us a write\n",
		bbs_json_num(t, "front_beyond_copy") / 1e3, bbs_json_num(t, "finish") / 1e3);
}

static void bench_table(FILE *f, const struct bbs_bench *b, const struct results *r)
{
	table_rows(f, b, r);
	if (r->rows[ROW_KERNEL])
		table_kernel(f, b, r->rows[ROW_KERNEL]);
	table_model(f, b, r);
	table_points(f, b);
	table_kernel_model(f, b);
}

json_t *bbs_bench_json(const struct bbs_bench *b)
{
	const struct results *r = &b->r;
	json_t *o = json_object(), *us = json_object(), *p;

	p = json_pack("{s:s,s:s,s:I,s:I,s:s,s:s,s:s,s:o,s:o,s:i}", "profile", b->profile, "algo",
		      bbs_csum_name(b->algo), "size", (json_int_t)b->o.size, "bs",
		      (json_int_t)b->o.bs, "pattern", b->o.rand ? "rand" : "seq", "writeback",
		      b->o.rand || b->o.direct ? "direct"
		      : b->o.fsync_only	       ? "fsync"
					       : "background",
		      "backing", bbs_backing_name[b->o.backing], "fs", json_null(), "mountpoint",
		      json_null(), "devices", (int)b->ndevs);
	/* Paths are bytes (host/jsonstr.h). */
	bbs_json_set_str(p, "fs", b->o.fs);
	bbs_json_set_str(p, "mountpoint", b->mnt);
	json_object_set_new(o, "params", p);
	json_object_set_new(o, "rounds", json_integer(b->o.rounds));
	json_object_set_new(o, "machine", bbs_machine_json());
	if (r->rows[ROW_KERNEL])
		json_object_set(o, "kernel", r->rows[ROW_KERNEL]);
	for (int i = ROW_NONE; i < NR_ROWS; i++) {
		if (!r->rows[i])
			continue;
		json_object_set_new(r->rows[i], "replay",
				    json_string(ROW_IS_PARITY(i) ? "parity" : "csum"));
		json_object_set(us, bench_row_name[i], r->rows[i]);
	}
	json_object_set_new(o, "userspace", us);
	json_object_set(o, "model", r->model);
	{
		json_t *pts = json_array();

		for (unsigned int i = 0; i < b->npts; i++)
			json_array_append(pts, b->pts[i].model);
		json_object_set_new(r->model, "points", pts);
		if (b->kmodel)
			json_object_set(r->model, "kernel", b->kmodel);
		if (b->cross)
			json_object_set(r->model, "cross_depth", b->cross);
	}
	json_object_set_new(o, "measured_async_speedup", json_real(r->speedup));
	json_object_set_new(o, "min", json_pack("{s:f}", "measured_async_speedup", r->speedup_lo));
	json_object_set_new(o, "max", json_pack("{s:f}", "measured_async_speedup", r->speedup_hi));
	/* every round's throughput, beside the medians */
	for (int i = 0; i < NR_ROWS; i++) {
		json_t *arr = json_array(), *s;
		size_t k;

		if (!r->rows[i])
			continue;
		json_array_foreach(b->samples[i], k, s)
			json_array_append(arr, json_object_get(s, "throughput_bps"));
		json_object_set_new(r->rows[i], "throughput_rounds_bps", arr);
	}
	json_object_set(o, "notes", b->notes);
	if (b->o.html)
		bbs_json_set_str(o, "html", b->o.html);
	return o;
}

/*
 * Where the measurement leaves the model, say why, from what was measured:
 * the two shapes of gap these machines show (see docs/guide.md).
 */
static void explain_points(struct bbs_bench *b)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	for (unsigned int i = 0; i < b->npts; i++) {
		const json_t *m = b->pts[i].model, *sh = json_object_get(m, "shapes");
		/* the wall-clock terms (the shared model's inputs have CPU work moved out) */
		const json_t *in = json_object_get(b->pts[i].rows[2], "terms");

		if (i == 0)
			bench_note(
				b,
				"qd %u %s: async overlaps the checksum (%.1f us a bio) with the "
				"write (%.1f us) but pays a worker's wake-up (%.1f us, when idle), "
				"the submitter's (%.1f us) and the worker's hand-back (%.1f us): "
				"the pipeline predicts async/serial %.2fx, measured %.2fx; the "
				"seed's model, with free hand-offs, %.2fx",
				b->pts[i].qd, bbs_csum_name(b->pts[i].algo),
				bbs_json_num(in, "csum_ns") / 1e3,
				bbs_json_num(in, "device_ns") / 1e3,
				bbs_json_num(in, "handoff_ns") / 1e3,
				bbs_json_num(in, "wake_ns") / 1e3,
				bbs_json_num(in, "worker_ns") / 1e3,
				bbs_json_num(m, "predicted_async_speedup"),
				bbs_json_num(m, "measured_async_speedup"),
				bbs_json_num(m, "seed_async_speedup"));
		for (int k = 0; k < NR_SHAPES; k++) {
			const json_t *s = json_object_get(sh, bench_row_name[ROW_NONE + k]);
			const json_t *si = json_object_get(s, "inputs");
			double e = bbs_json_num(s, "error");

			if (!(fabs(e) > 0.1))
				continue;
			bench_note(
				b,
				"qd %u %s %s: the pipeline is off by %+.0f%% (shared %+.0f%%, "
				"without sharing %+.0f%%): its stations shared %.2f of %ld cores "
				"(the rest other "
				"load's), S %.1f, W %.1f, D %.1f us of CPU a bio; the replay's "
				"threads used %.2f cores",
				b->pts[i].qd, bbs_csum_name(b->pts[i].algo),
				bench_row_name[ROW_NONE + k], 100 * e,
				100 * bbs_json_num(s, "shared_error"),
				100 * bbs_json_num(s, "unshared_error"), bbs_json_num(si, "cores"),
				cores, bbs_json_num(si, "submit_cpu_ns") / 1e3,
				bbs_json_num(si, "worker_cpu_ns") / 1e3,
				bbs_json_num(si, "device_cpu_ns") / 1e3,
				bbs_json_num(s, "cores_used"));
		}
	}
}

static void bench_explain(struct bbs_bench *b, const struct results *r)
{
	double ser = bench_stat(r->rows[ROW_SERIAL], "throughput_bps", NULL, NULL);
	double asy = bench_stat(r->rows[ROW_ASYNC], "throughput_bps", NULL, NULL);
	double c = bbs_json_num(r->model, "csum_bps"), d = bbs_json_num(r->model, "dev_bps");
	double cp = bbs_json_num(r->model, "csum_pipeline_bps"), lost = 0;
	char a[32], z[32];

	if (cp > 0 && cp < 0.85 * c) {
		bbs_html_fmt(a, sizeof(a), cp, BBS_UNIT_BPS);
		bbs_html_fmt(z, sizeof(z), c, BBS_UNIT_BPS);
		bench_note(
			b,
			"the serial replay checksummed at %s, %.0f%% below c (%s) measured alone "
			"on "
			"one core (csum_pipeline_bps): per-bio costs on small bios, or a checksum "
			"slowed in the replay process; the model's c overstates what it got",
			a, 100 * (1 - cp / c), z);
	}
	if (bench_stat(r->rows[ROW_KERNEL], "lost", NULL, &lost) > 0 || lost > 0)
		bench_note(
			b,
			"the recordings lost observations (up to %.0f in a round): the kernel row "
			"misses them; see lost_detail in 'bbscope report --json'",
			lost);
	if (c < d && asy > 0.9 * c && ser > 0.9 * c) {
		bbs_html_fmt(a, sizeof(a), c, BBS_UNIT_BPS);
		bbs_html_fmt(z, sizeof(z), d, BBS_UNIT_BPS);
		bench_note(
			b,
			"c (%s) is below d (%s): the checksum bounds serial and async alike "
			"(serial "
			"reached %.0f%% of c, async %.0f%%), so async has nothing left to win here",
			a, z, 100 * ser / c, 100 * asy / c);
	}
}

/* The model's predictions from the medians of its inputs, into r->model. */
static void predict(struct results *r)
{
	struct bbs_model m = {
		.mem_bps = bbs_json_num(r->model, "mem_bps"),
		.csum_bps = bbs_json_num(r->model, "csum_bps"),
		.dev_bps = bbs_json_num(r->model, "dev_bps"),
	};

	bbs_model_predict(&m);
	r->pred_serial = m.serial_bps;
	r->pred_async = m.async_bps;
	r->predicted = m.speedup;
	json_object_set_new(r->model, "predicted_serial_bps", json_real(r->pred_serial));
	json_object_set_new(r->model, "predicted_async_bps", json_real(r->pred_async));
	json_object_set_new(r->model, "predicted_async_speedup", json_real(r->predicted));
	json_object_set_new(r->model, "formula", json_string(bbs_model_formula));
}

int bench_results(struct bbs_bench *b)
{
	struct results *r = &b->r;
	size_t len = 0;
	json_t *s;
	FILE *f;

	for (int i = 0; i < NR_ROWS; i++)
		r->rows[i] = json_array_size(b->samples[i]) ? aggregate_array(b->samples[i]) : NULL;
	r->model = aggregate_array(b->model);
	predict(r);
	predict_points(b);
	predict_across(b);
	if (b->o.direct)
		predict_kernel(b, r);
	explain_points(b);
	s = aggregate_array(b->speedup);
	r->speedup = bench_stat(s, "measured_async_speedup", &r->speedup_lo, &r->speedup_hi);
	json_decref(s);
	bench_explain(b, r);
	f = open_memstream(&b->table, &len);
	if (!f) {
		bbs_err("bench: cannot make the table: out of memory");
		return -1;
	}
	bench_table(f, b, r);
	return fclose(f) ? -1 : 0;
}
