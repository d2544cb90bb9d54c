// SPDX-License-Identifier: GPL-2.0
/*
 * The two sides of `bbscope diff` (diff/diff.h): a recording, a histogram
 * document or a bench result, read into groups of weighted samples.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diff/internal.h"
#include "host/jsonstr.h"
#include "model/report.h"
#include "tracefile/tracefile.h"

const char *const bbs_diff_kind_name[] = {
	[BBS_DIFF_RECORDING] = "recording",
	[BBS_DIFF_HIST] = "histograms",
	[BBS_DIFF_BENCH] = "bench result",
};

const char *const bbs_diff_kind_phrase[] = {
	[BBS_DIFF_RECORDING] = "a recording",
	[BBS_DIFF_HIST] = "histograms (hist or report --json)",
	[BBS_DIFF_BENCH] = "a bench result",
};

struct bbs_diff_group *bbs_diff_group_get(struct bbs_diff_run *r, const char *dev, int op, int kind)
{
	struct bbs_diff_group like = { .op = op, .kind = kind }, *g;

	snprintf(like.dev, sizeof(like.dev), "%s", dev);
	g = (struct bbs_diff_group *)bbs_diff_group_find(r, &like);
	if (g)
		return g;
	g = realloc(r->g, (r->ng + 1) * sizeof(*g));
	if (!g)
		return NULL;
	r->g = g;
	g = &r->g[r->ng++];
	*g = like;
	return g;
}

const struct bbs_diff_group *bbs_diff_group_find(const struct bbs_diff_run *r,
						 const struct bbs_diff_group *like)
{
	for (size_t i = 0; i < r->ng; i++)
		if (r->g[i].op == like->op && r->g[i].kind == like->kind &&
		    !strcmp(r->g[i].dev, like->dev))
			return &r->g[i];
	return NULL;
}

int bbs_diff_run_sort(struct bbs_diff_run *r)
{
	int ret = 0;

	for (size_t i = 0; i < r->ng; i++) {
		for (int ph = 0; ph < NR_PHASES; ph++)
			ret |= bbs_samples_sort(&r->g[i].ph[ph]);
		ret |= bbs_samples_sort(&r->g[i].size);
	}
	return ret;
}

void bbs_diff_run_free(struct bbs_diff_run *r)
{
	for (size_t i = 0; i < r->ng; i++) {
		for (int ph = 0; ph < NR_PHASES; ph++)
			bbs_samples_free(&r->g[i].ph[ph]);
		bbs_samples_free(&r->g[i].size);
	}
	free(r->g);
	r->g = NULL;
	r->ng = 0;
}

/* FNV-1a, 64 bits: who a run is (diff.h), not a checksum. */
static uint64_t fnv1a(const void *p, size_t n, uint64_t h)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

/* ---- a recording: every bio's phases and size, every span ---- */

static int load_recording(struct bbs_diff_side *side, struct bbs_diff_run *s, char *err,
			  size_t errlen)
{
	struct bbs_tf_reader *rd;
	struct bbs_tf_event ev;
	const struct bbs_tf_status *st;
	char dev[64];
	int ret;

	ret = bbs_tfr_open(&rd, s->path, err, errlen);
	if (ret)
		return -1;
	/* A recording is its start: both clocks, the host and the kernel. */
	{
		const struct bbs_tf_header *h = bbs_tfr_header(rd);
		uint64_t id = 0xcbf29ce484222325ULL;

		id = fnv1a(&h->mono_ns, sizeof(h->mono_ns), id);
		id = fnv1a(&h->real_ns, sizeof(h->real_ns), id);
		id = fnv1a(h->host, strnlen(h->host, sizeof(h->host)), id);
		s->id = fnv1a(h->kernel, strnlen(h->kernel, sizeof(h->kernel)), id);
	}
	if (side->nruns == 1) {
		snprintf(side->kernel, sizeof(side->kernel), "%s", bbs_tfr_header(rd)->kernel);
		snprintf(side->host, sizeof(side->host), "%s", bbs_tfr_header(rd)->host);
	}
	ret = -1;
	while (bbs_tfr_next(rd, &ev) == 1) {
		struct bbs_diff_group *g;

		if (ev.type == EV_BIO) {
			const struct bbs_event_bio *e = &ev.bio;
			const char *name = bbs_tfr_name(rd, TF_DEV, e->dev);
			struct bbs_bio_phases p;

			if (e->op >= BBS_NR_OPS || e->kind >= NR_KINDS)
				continue;
			if (name)
				snprintf(dev, sizeof(dev), "%s", name);
			else
				snprintf(dev, sizeof(dev), "%u:%u", e->dev >> 20, e->dev & 0xfffff);
			g = bbs_diff_group_get(s, dev, e->op, e->kind);
			if (!g)
				goto nomem;
			bbs_bio_phases(e, &p);
			for (int ph = 0; ph < NR_PHASES; ph++)
				if ((p.have & (1U << ph)) &&
				    bbs_samples_add(&g->ph[ph], p.ns[ph], 1))
					goto nomem;
			if (p.complete_ctx && e->complete_ctx < NR_CTX)
				g->complete_ctx[e->complete_ctx]++;
			if (p.endio_ctx && e->endio_ctx < NR_CTX)
				g->endio_ctx[e->endio_ctx]++;
			g->bios++;
			g->bytes += e->bytes;
			if (bbs_samples_add(&g->size, e->bytes, 1))
				goto nomem;
		} else if (ev.type == EV_CSUM || ev.type == EV_ORDERED || ev.type == EV_RBIO) {
			struct bbs_group sg;

			bbs_span_group(&ev.span, &sg);
			if (ev.span.phase >= NR_PHASES || sg.op >= BBS_NR_OPS ||
			    sg.kind >= NR_KINDS)
				continue;
			g = bbs_diff_group_get(s, "", sg.op, sg.kind);
			if (!g || bbs_samples_add(&g->ph[ev.span.phase],
						  (double)(ev.span.end_ns - ev.span.start_ns), 1))
				goto nomem;
		}
	}
	/* A device phase with device time and no queue: a bio-based device (model/report.c: bbs_group_why). */
	for (size_t i = 0; i < s->ng; i++)
		if (*s->g[i].dev && !s->g[i].ph[PHASE_QUEUE].total &&
		    s->g[i].ph[PHASE_DEVICE].total)
			s->g[i].why[PHASE_QUEUE] = WHY_BIO_BASED;
	st = bbs_tfr_status(rd);
	if (st->stopped) {
		/* A diff of what was read would compare part of a run with a whole one. */
		snprintf(err, errlen, "%s; read %llu of %llu bytes: diff compares whole runs",
			 st->why, (unsigned long long)st->good, (unsigned long long)st->size);
		goto out;
	}
	if (!st->trailer)
		snprintf(side->warning, sizeof(side->warning),
			 "%s has no trailer: the recording did not finish", s->path);
	if (st->end_ns > bbs_tfr_header(rd)->mono_ns)
		s->seconds = (st->end_ns - bbs_tfr_header(rd)->mono_ns) / 1e9;
	ret = 0;
	goto out;
nomem:
	snprintf(err, errlen, "out of memory");
out:
	bbs_tfr_close(rd);
	return ret;
}

/* ---- a histogram document: buckets, each its count at its midpoint ---- */

static int name_index(const char *const *names, int n, const char *s)
{
	for (int i = 0; s && i < n; i++)
		if (!strcmp(names[i], s))
			return i;
	return -1;
}

/*
 * Every JSON number diff reads is range-checked: a count is a whole number
 * from 0 to 2^53 (what a double holds exactly), a time or a rate a finite
 * number from 0.  v absent is 0 when optional.  0, or -1 with what and why.
 */
#define COUNT_MAX 9007199254740992.0 /* 2^53 */
static int num_ok(const json_t *v, bool count, bool optional, double *out, char *err, size_t errlen,
		  const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static int num_ok(const json_t *v, bool count, bool optional, double *out, char *err, size_t errlen,
		  const char *fmt, ...)
{
	char what[160];
	double x;
	va_list ap;

	*out = 0;
	if (!v && optional)
		return 0;
	x = json_number_value(v);
	if (json_is_number(v) && isfinite(x) && x >= 0 &&
	    (!count || (json_is_integer(v) && x <= COUNT_MAX))) {
		*out = x;
		return 0;
	}
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s is %s: %s", what,
		 !v		      ? "missing"
		 : json_is_null(v)    ? "null"
		 : json_is_string(v)  ? "a string"
		 : !json_is_number(v) ? "not a number"
		 : x < 0	      ? "negative"
				      : "out of range",
		 count ? "a count is a whole number from 0 to 2^53"
		       : "a time or a rate is a finite number from 0");
	return -1;
}

static int ctx_add(uint64_t *ctx, const json_t *o, const char *key, size_t gi, char *err,
		   size_t errlen)
{
	for (int c = 0; o && c < NR_CTX; c++) {
		double x;

		if (num_ok(json_object_get(o, bbs_ctx_name[c]), true, true, &x, err, errlen,
			   "groups[%zu].%s.%s", gi, key, bbs_ctx_name[c]))
			return -1;
		ctx[c] += (uint64_t)x;
	}
	return 0;
}

static int hist_object(struct bbs_diff_side *side, struct bbs_diff_run *s, const json_t *o,
		       char *err, size_t errlen)
{
	const json_t *groups = json_object_get(o, "groups"), *gj,
		     *trace = json_object_get(o, "trace");
	size_t i;

	if (json_is_true(json_object_get(trace, "truncated"))) {
		snprintf(err, errlen, "the report is of a truncated recording");
		return -1;
	}
	if (trace && side->nruns == 1) {
		bbs_json_get_str(trace, "kernel", side->kernel, sizeof(side->kernel));
		bbs_json_get_str(trace, "host", side->host, sizeof(side->host));
	}
	double x;

	if (num_ok(json_object_get(o, "interval_s"), false, true, &x, err, errlen, "interval_s"))
		return -1;
	s->seconds += x;
	json_array_foreach(groups, i, gj)
	{
		int op = name_index(bbs_op_name, BBS_NR_OPS,
				    json_string_value(json_object_get(gj, "op")));
		int kind = name_index(bbs_kind_name, NR_KINDS,
				      json_string_value(json_object_get(gj, "kind")));
		const json_t *phases = json_object_get(gj, "phases");
		struct bbs_diff_group *g;
		char dev[64] = "";

		if (op < 0 || kind < 0) {
			snprintf(err, errlen, "a group without a known op and kind");
			return -1;
		}
		if (json_is_string(json_object_get(gj, "dev")))
			bbs_json_get_str(gj, "dev", dev, sizeof(dev));
		g = bbs_diff_group_get(s, dev, op, kind);
		if (!g)
			goto nomem;
		for (int ph = 0; ph < NR_PHASES; ph++) {
			const json_t *b,
				*buckets = json_object_get(
					json_object_get(phases, bbs_phase_name[ph]), "buckets");
			size_t k;

			const json_t *po = json_object_get(phases, bbs_phase_name[ph]);
			double lo, hi, n, count;
			int why = name_index(bbs_why_name, NR_WHY,
					     json_string_value(json_object_get(po, "reason")));

			if (json_is_false(json_object_get(po, "observable")) && why > 0)
				g->why[ph] = (uint8_t)why;

			if (num_ok(json_object_get(po, "count"), true, true, &count, err, errlen,
				   "groups[%zu].phases.%s.count", i, bbs_phase_name[ph]))
				return -1;
			json_array_foreach(buckets, k, b)
			{
				const char *pn = bbs_phase_name[ph];

				if (num_ok(json_array_get(b, 0), false, false, &lo, err, errlen,
					   "groups[%zu].phases.%s.buckets[%zu][0]", i, pn, k) ||
				    num_ok(json_array_get(b, 1), false, false, &hi, err, errlen,
					   "groups[%zu].phases.%s.buckets[%zu][1]", i, pn, k) ||
				    num_ok(json_array_get(b, 2), true, false, &n, err, errlen,
					   "groups[%zu].phases.%s.buckets[%zu][2]", i, pn, k))
					return -1;
				if (hi < lo) {
					snprintf(
						err, errlen,
						"groups[%zu].phases.%s.buckets[%zu] ends before it "
						"starts",
						i, pn, k);
					return -1;
				}
				if (bbs_samples_add(&g->ph[ph], (lo + hi) / 2, n))
					goto nomem;
			}
			if (g->ph[ph].total > COUNT_MAX) {
				snprintf(err, errlen,
					 "groups[%zu].phases.%s: more than 2^53 in its buckets", i,
					 bbs_phase_name[ph]);
				return -1;
			}
		}
		if (ctx_add(g->complete_ctx, json_object_get(gj, "complete_ctx"), "complete_ctx", i,
			    err, errlen) ||
		    ctx_add(g->endio_ctx, json_object_get(gj, "endio_ctx"), "endio_ctx", i, err,
			    errlen))
			return -1;
		if (num_ok(json_object_get(gj, "bios"), true, true, &x, err, errlen,
			   "groups[%zu].bios", i))
			return -1;
		g->bios += (uint64_t)x;
		if (num_ok(json_object_get(gj, "bytes"), true, true, &x, err, errlen,
			   "groups[%zu].bytes", i))
			return -1;
		g->bytes += (uint64_t)x;
	}
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* ---- a bench result: each row's throughput, one value per round ---- */

static int bench_row(struct bbs_diff_side *s, const char *name, const json_t *o, char *err,
		     size_t errlen)
{
	const json_t *rounds = json_object_get(o, "throughput_rounds_bps"), *v;
	struct bbs_diff_row *r;
	size_t i;

	if (!json_array_size(rounds))
		return 0;
	/* Several bench files a side: their rounds are pooled, row by row. */
	for (i = 0; i < s->nrows; i++)
		if (!strcmp(s->rows[i].name, name))
			break;
	if (i < s->nrows) {
		r = &s->rows[i];
	} else {
		r = realloc(s->rows, (s->nrows + 1) * sizeof(*r));
		if (!r)
			return -1;
		s->rows = r;
		r = &s->rows[s->nrows++];
		memset(r, 0, sizeof(*r));
		snprintf(r->name, sizeof(r->name), "%s", name);
	}
	json_array_foreach(rounds, i, v)
	{
		double x;

		if (num_ok(v, false, false, &x, err, errlen, "%s throughput_rounds_bps[%zu]", name,
			   i))
			return -2;
		if (bbs_samples_add(&r->rounds, x, 1))
			return -1;
	}
	return 0;
}

static int bench_object(struct bbs_diff_side *s, const json_t *o, char *err, size_t errlen)
{
	const json_t *m = json_object_get(o, "machine"), *u = json_object_get(o, "userspace"), *v;
	const char *mode;
	char name[32];

	if (s->nruns == 1) {
		snprintf(s->kernel, sizeof(s->kernel), "%s",
			 json_string_value(json_object_get(m, "kernel")) ?: "");
		snprintf(s->host, sizeof(s->host), "%s, %lld cores",
			 json_string_value(json_object_get(m, "cpu")) ?: "?",
			 (long long)json_integer_value(json_object_get(m, "cores")));
	}
	int r = bench_row(s, "kernel", json_object_get(o, "kernel"), err, errlen);

	if (r)
		goto bad;
	json_object_foreach((json_t *)u, mode, v)
	{
		snprintf(name, sizeof(name), "replay %s", mode);
		r = bench_row(s, name, v, err, errlen);
		if (r)
			goto bad;
	}
	if (!s->nrows) {
		snprintf(err, errlen, "a bench result without throughput_rounds_bps");
		return -1;
	}
	return 0;
bad:
	if (r == -1)
		snprintf(err, errlen, "out of memory");
	return -1;
}

/* The whole file, a regular one (a FIFO would block: refused like a directory). */
static char *slurp(const char *path, size_t *len, struct bbs_diff_run *run, char *err,
		   size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "not a regular file");
		goto out;
	}
	run->st_dev = st.st_dev;
	run->st_ino = st.st_ino;
	buf = malloc(st.st_size + 1);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, st.st_size - got);

		if (n <= 0) {
			snprintf(err, errlen, "%s", n ? strerror(errno) : "shorter than it was");
			free(buf);
			buf = NULL;
			goto out;
		}
		got += n;
	}
	buf[got] = 0;
	*len = got;
out:
	close(fd);
	return buf;
}

/*
 * One JSON document or JSON lines (hist --json: one object an interval).
 * Sets *kind.
 */
static int load_json(struct bbs_diff_side *side, struct bbs_diff_run *run, const char *buf,
		     size_t len, enum bbs_diff_kind *kind, char *err, size_t errlen)
{
	size_t off = 0, objs = 0;

	*kind = BBS_DIFF_HIST;
	for (;;) {
		json_error_t je;
		json_t *o;
		int ret;

		while (off < len && strchr(" \t\r\n", buf[off]))
			off++;
		if (off == len)
			break;
		o = json_loadb(buf + off, len - off, JSON_DISABLE_EOF_CHECK, &je);
		if (!o) {
			snprintf(err, errlen, "not a recording, and not JSON at byte %zu: %s",
				 off + je.position, je.text);
			return -1;
		}
		off += je.position;
		if (json_object_get(o, "error")) {
			snprintf(err, errlen, "a JSON error document, not a result");
			ret = -1;
		} else if (json_object_get(o, "userspace") && json_object_get(o, "rounds")) {
			*kind = BBS_DIFF_BENCH;
			ret = objs ? -1 : bench_object(side, o, err, errlen);
			if (objs)
				snprintf(err, errlen, "more than one bench result");
		} else if (json_is_array(json_object_get(o, "groups"))) {
			ret = *kind == BBS_DIFF_BENCH ? -1 : hist_object(side, run, o, err, errlen);
			if (*kind == BBS_DIFF_BENCH)
				snprintf(err, errlen, "a bench result mixed with histograms");
		} else {
			snprintf(err, errlen,
				 "JSON that is neither histograms (hist/report --json) nor a bench "
				 "result (bench --json)");
			ret = -1;
		}
		json_decref(o);
		if (ret)
			return -1;
		objs++;
	}
	if (!objs) {
		snprintf(err, errlen, "empty");
		return -1;
	}
	return 0;
}

/* One file, as the side's next run.  0, or -1 with err. */
static int load_one(struct bbs_diff_side *s, const char *path, char *err, size_t errlen)
{
	struct bbs_diff_run *run;
	enum bbs_diff_kind kind = BBS_DIFF_RECORDING;
	size_t len = 0;
	char *buf;
	int ret;

	run = realloc(s->runs, (s->nruns + 1) * sizeof(*run));
	if (!run) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->runs = run;
	run = &s->runs[s->nruns++];
	memset(run, 0, sizeof(*run));
	run->path = path;
	buf = slurp(path, &len, run, err, errlen);
	if (!buf)
		return -1;
	if (!len) {
		snprintf(err, errlen, "empty");
		ret = -1;
	} else if (len >= strlen(TF_MAGIC) && !memcmp(buf, TF_MAGIC, strlen(TF_MAGIC))) {
		ret = load_recording(s, run, err, errlen);
	} else {
		ret = load_json(s, run, buf, len, &kind, err, errlen);
		run->id = fnv1a(buf, len, 0xcbf29ce484222325ULL);
	}
	free(buf);
	if (ret)
		return -1;
	if (s->nruns > 1 && kind != s->kind) {
		snprintf(err, errlen, "%s, after %s: the files of a side are of one kind",
			 bbs_diff_kind_phrase[kind], bbs_diff_kind_phrase[s->kind]);
		return -1;
	}
	s->kind = kind;
	if (bbs_diff_run_sort(run)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int bbs_diff_load(struct bbs_diff_side *s, char *const *paths, int n, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->path = paths[0];
	for (int i = 0; i < n; i++) {
		char why[256] = "";

		if (load_one(s, paths[i], why, sizeof(why))) {
			snprintf(err, errlen, "%s: %s", paths[i], why);
			return -1;
		}
	}
	for (size_t i = 0; i < s->nrows; i++)
		if (bbs_samples_sort(&s->rows[i].rounds)) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	return 0;
}

void bbs_diff_side_free(struct bbs_diff_side *s)
{
	for (size_t r = 0; r < s->nruns; r++)
		bbs_diff_run_free(&s->runs[r]);
	for (size_t i = 0; i < s->nrows; i++)
		bbs_samples_free(&s->rows[i].rounds);
	free(s->runs);
	free(s->rows);
	memset(s, 0, sizeof(*s));
}
