// SPDX-License-Identifier: GPL-2.0
/*
 * Workloads for replay: the synthetic spec parser and generator, and the
 * import of a recording's data writes (device bios for `replay csum`, raid5/6
 * data strip writes for `replay parity`).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "btrfs/stripe.h"
#include "tracefile/tracefile.h"
#include "host/util.h"
#include "replay/workload.h"

const char bbs_synth_help[] =
	"SPEC is KEY=VALUE[,KEY=VALUE]...:\n"
	"  size=SIZE          bytes to write (required), a multiple of bs\n"
	"  bs=SIZE            bytes per bio: a multiple of 4K, at most 64M (default 128K)\n"
	"  pattern=seq|rand   seq: offsets 0, bs, 2*bs, ...; rand: every bs slot of\n"
	"                     [0, size) exactly once, in a random order (default seq)\n"
	"  seed=N             rand's order: the same seed gives the same order (default 1)\n"
	"SIZE is a number with an optional K, M, G or T suffix (powers of 1024).\n";

/*
 * Where an imported bio came from.  Data bios: their logical address (0 when
 * unknown) and device, to recognise mirror copies.  Strip writes: their full
 * stripe's logical address, placed by bbs_workload_finish_strips().
 */
struct bbs_wl_src {
	uint64_t logical;
	uint32_t dev;
	uint32_t idx; /* position in w->bios */
};

static int spec_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int spec_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

int bbs_synth_parse(const char *spec, struct bbs_synth_spec *out, char *err, size_t errlen)
{
	struct bbs_synth_spec s = {
		.bs = BBS_WL_DEFAULT_BS,
		.pattern = BBS_WL_SEQ,
		.seed = BBS_WL_DEFAULT_SEED,
	};
	bool have_size = false, have_bs = false, have_pattern = false, have_seed = false;
	char *copy, *rest, *tok;
	int ret = -1;

	if (!spec || !*spec)
		return spec_err(err, errlen, "empty spec (want size=SIZE[,bs=SIZE,...])");
	copy = strdup(spec);
	if (!copy)
		return spec_err(err, errlen, "out of memory");
	/* strsep, not strtok: an empty field ("a=1,,b=2", a trailing ',') is an error. */
	for (rest = copy; (tok = strsep(&rest, ","));) {
		char *val = strchr(tok, '=');
		unsigned long long seed;

		if (!*tok) {
			spec_err(err, errlen,
				 "empty field (KEY=VALUE pairs are separated by one ',')");
			goto out;
		}
		if (!val || val == tok || !val[1]) {
			spec_err(err, errlen, "'%s': want KEY=VALUE", tok);
			goto out;
		}
		*val++ = 0;
		if (!strcmp(tok, "size") && !have_size) {
			if (bbs_parse_size(val, &s.size) || !s.size) {
				spec_err(err, errlen, "size=%s: want a positive size (256M)", val);
				goto out;
			}
			have_size = true;
		} else if (!strcmp(tok, "bs") && !have_bs) {
			if (bbs_parse_size(val, &s.bs) || !s.bs || s.bs % BBS_WL_BLOCK ||
			    s.bs > BBS_WL_MAX_BIO) {
				spec_err(err, errlen, "bs=%s: want a multiple of 4K up to 64M",
					 val);
				goto out;
			}
			have_bs = true;
		} else if (!strcmp(tok, "pattern") && !have_pattern) {
			if (!strcmp(val, "seq")) {
				s.pattern = BBS_WL_SEQ;
			} else if (!strcmp(val, "rand")) {
				s.pattern = BBS_WL_RAND;
			} else {
				spec_err(err, errlen, "pattern=%s: want seq or rand", val);
				goto out;
			}
			have_pattern = true;
		} else if (!strcmp(tok, "seed") && !have_seed) {
			if (bbs_parse_uint(val, UINT64_MAX, &seed)) {
				spec_err(err, errlen, "seed=%s: want an unsigned integer", val);
				goto out;
			}
			s.seed = seed;
			have_seed = true;
		} else if (!strcmp(tok, "size") || !strcmp(tok, "bs") || !strcmp(tok, "pattern") ||
			   !strcmp(tok, "seed")) {
			spec_err(err, errlen, "'%s' given twice", tok);
			goto out;
		} else {
			spec_err(err, errlen, "unknown key '%s' (size, bs, pattern, seed)", tok);
			goto out;
		}
	}
	if (!have_size) {
		spec_err(err, errlen, "size=SIZE is required");
		goto out;
	}
	if (s.size % s.bs) {
		spec_err(err, errlen, "size %llu is not a multiple of bs %llu",
			 (unsigned long long)s.size, (unsigned long long)s.bs);
		goto out;
	}
	if (s.size / s.bs > BBS_WL_MAX_BIOS) {
		spec_err(err, errlen, "size/bs is %llu bios, more than %u: use a larger bs",
			 (unsigned long long)(s.size / s.bs), BBS_WL_MAX_BIOS);
		goto out;
	}
	*out = s;
	ret = 0;
out:
	free(copy);
	return ret;
}

void bbs_workload_init(struct bbs_workload *w)
{
	memset(w, 0, sizeof(*w));
}

void bbs_workload_free(struct bbs_workload *w)
{
	free(w->bios);
	free(w->src);
	memset(w, 0, sizeof(*w));
}

static int grow(struct bbs_workload *w)
{
	size_t cap = w->cap ? 2 * w->cap : 1024;
	struct bbs_wbio *b;

	if (cap > BBS_WL_MAX_BIOS)
		cap = BBS_WL_MAX_BIOS;
	b = realloc(w->bios, cap * sizeof(*b));
	if (!b)
		return -ENOMEM;
	w->bios = b;
	w->cap = cap;
	return 0;
}

int bbs_workload_add(struct bbs_workload *w, uint64_t offset, uint32_t len, uint64_t ts_ns)
{
	struct bbs_wbio *b;

	if (!len || len % BBS_WL_BLOCK || len > BBS_WL_MAX_BIO || offset % BBS_WL_ALIGN ||
	    offset > UINT64_MAX - len)
		return -EINVAL;
	if (w->nr == BBS_WL_MAX_BIOS)
		return -E2BIG;
	if (w->nr == w->cap && grow(w))
		return -ENOMEM;
	b = &w->bios[w->nr++];
	b->offset = offset;
	b->len = len;
	b->ts_ns = ts_ns;
	b->pad = 0;
	w->bytes += len;
	if (offset + len > w->span)
		w->span = offset + len;
	if (len > w->max_len)
		w->max_len = len;
	return 0;
}

/* splitmix64: a small, well-mixed, seedable generator. */
static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0, without modulo bias (Lemire's method). */
static uint64_t rand_below(uint64_t *state, uint64_t n)
{
	unsigned __int128 m = (unsigned __int128)splitmix64(state) * n;
	uint64_t lo = (uint64_t)m;

	if (lo < n) {
		uint64_t floor = -n % n;

		while (lo < floor) {
			m = (unsigned __int128)splitmix64(state) * n;
			lo = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

int bbs_workload_synth(struct bbs_workload *w, const struct bbs_synth_spec *s)
{
	uint64_t n = s->size / s->bs, state = s->seed;
	int err;

	for (uint64_t i = 0; i < n; i++) {
		err = bbs_workload_add(w, i * s->bs, (uint32_t)s->bs, 0);
		if (err)
			return err;
	}
	if (s->pattern != BBS_WL_RAND)
		return 0;
	/* Fisher-Yates: every slot once, each order equally likely. */
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = rand_below(&state, i + 1);
		uint64_t t = w->bios[i].offset;

		w->bios[i].offset = w->bios[j].offset;
		w->bios[j].offset = t;
	}
	return 0;
}

/* bbs_workload_add(), and where the bio came from in w->src. */
static int add_src(struct bbs_workload *w, uint64_t offset, uint32_t len, uint64_t ts_ns,
		   uint64_t logical, uint32_t dev)
{
	struct bbs_wl_src *src;
	int err;

	if (w->nr == w->cap) {
		/* Keep src as long as bios: grow both before adding. */
		src = realloc(w->src, (w->cap ? 2 * w->cap : 1024) * sizeof(*src));
		if (!src)
			return -ENOMEM;
		w->src = src;
	}
	err = bbs_workload_add(w, offset, len, ts_ns);
	if (err)
		return err;
	w->src[w->nr - 1] = (struct bbs_wl_src){ logical, dev, (uint32_t)(w->nr - 1) };
	return 0;
}

int bbs_workload_add_event(struct bbs_workload *w, const struct bbs_event_bio *e)
{
	uint32_t off, len;
	int err;

	if (e->type != EV_BIO || !bbs_bio_data_write(e))
		return 0;
	/* A recorded bio larger than the replay's largest (an 86 MiB writeback bio
	 * is possible) is replayed as consecutive pieces of at most BBS_WL_MAX_BIO. */
	for (off = 0; off < e->bytes || !e->bytes; off += len) {
		len = e->bytes - off < BBS_WL_MAX_BIO ? e->bytes - off : BBS_WL_MAX_BIO;
		err = add_src(w, (e->sector << 9) + off, len, e->queue_ns,
			      e->logical ? e->logical + off : 0, e->dev);
		if (err)
			return err;
	}
	return 1;
}

int bbs_workload_add_strip(struct bbs_workload *w, const struct bbs_event_stripe *e)
{
	int err;

	if (e->type != EV_STRIPE || !bbs_stripe_data_write(e))
		return 0;
	if (w->nr_data && e->nr_data != w->nr_data)
		return -EXDEV;
	if (e->len > BBS_STRIPE_LEN || e->offset > BBS_STRIPE_LEN - e->len)
		return -EINVAL;
	/* Until bbs_workload_finish_strips(): the offset in the full stripe. */
	err = add_src(w, (uint64_t)e->stripe_nr * BBS_STRIPE_LEN + e->offset, e->len, e->ts_ns,
		      e->full_stripe, e->dev);
	if (err)
		return err;
	if (!w->nr_data) {
		w->nr_data = e->nr_data;
		w->real_stripes = e->real_stripes;
	}
	return 1;
}

static const struct bbs_workload *cmp_w;

/* By logical address and length, then queue time: mirror copies become neighbours. */
static int src_cmp(const void *a, const void *b)
{
	const struct bbs_wl_src *x = a, *y = b;
	const struct bbs_wbio *bx = &cmp_w->bios[x->idx], *by = &cmp_w->bios[y->idx];

	if (x->logical != y->logical)
		return x->logical < y->logical ? -1 : 1;
	if (bx->len != by->len)
		return bx->len < by->len ? -1 : 1;
	if (bx->ts_ns != by->ts_ns)
		return bx->ts_ns < by->ts_ns ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int ts_cmp(const void *a, const void *b)
{
	const struct bbs_wbio *x = a, *y = b;

	if (x->ts_ns != y->ts_ns)
		return x->ts_ns < y->ts_ns ? -1 : 1;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Mark mirror copies (len = 0) and compact the list. */
static void drop_mirrors(struct bbs_workload *w)
{
	size_t keep = 0;

	cmp_w = w;
	qsort(w->src, w->nr, sizeof(*w->src), src_cmp);
	for (size_t i = 1, first = 0; i < w->nr; i++) {
		const struct bbs_wl_src *a = &w->src[first], *b = &w->src[i];
		struct bbs_wbio *ba = &w->bios[a->idx], *bb = &w->bios[b->idx];

		if (b->logical && b->logical == a->logical && bb->len == ba->len &&
		    (b->dev != a->dev || bb->offset != ba->offset) &&
		    bb->ts_ns - ba->ts_ns < BBS_WL_MIRROR_NS)
			bb->len = 0;
		else
			first = i;
	}
	w->bytes = 0;
	w->span = 0;
	w->max_len = 0;
	for (size_t i = 0; i < w->nr; i++) {
		struct bbs_wbio b = w->bios[i];

		if (!b.len)
			continue;
		w->bios[keep++] = b;
		w->bytes += b.len;
		if (b.len > w->max_len)
			w->max_len = b.len;
	}
	w->nr = keep;
}

/* Order by time, times from the first, offsets less lowest; recompute span. */
static void rebase(struct bbs_workload *w, uint64_t lowest)
{
	uint64_t t0;

	w->timed = true;
	w->span = 0;
	if (!w->nr)
		return;
	qsort(w->bios, w->nr, sizeof(*w->bios), ts_cmp);
	t0 = w->bios[0].ts_ns;
	for (size_t i = 0; i < w->nr; i++) {
		struct bbs_wbio *b = &w->bios[i];

		b->ts_ns -= t0;
		b->offset -= lowest;
		if (b->offset + b->len > w->span)
			w->span = b->offset + b->len;
	}
}

int bbs_workload_finish_trace(struct bbs_workload *w)
{
	uint64_t lowest = UINT64_MAX;

	if (w->src && w->nr)
		drop_mirrors(w);
	free(w->src);
	w->src = NULL;
	for (size_t i = 0; i < w->nr; i++)
		if (w->bios[i].offset < lowest)
			lowest = w->bios[i].offset;
	rebase(w, w->nr ? lowest - lowest % BBS_WL_BLOCK : 0);
	return 0;
}

int bbs_workload_finish_strips(struct bbs_workload *w)
{
	uint64_t lowest = UINT64_MAX, stripe = (uint64_t)w->nr_data * BBS_STRIPE_LEN;

	for (size_t i = 0; i < w->nr; i++)
		if (w->src[i].logical < lowest)
			lowest = w->src[i].logical;
	/* src[i] is still bios[i]'s: nothing has been reordered yet. */
	for (size_t i = 0; i < w->nr; i++)
		w->bios[i].offset += (w->src[i].logical - lowest) / stripe * stripe;
	free(w->src);
	w->src = NULL;
	rebase(w, 0);
	return 0;
}

/* Open a trace for a loader; -1 after saying why. */
static int open_trace(struct bbs_tf_reader **r, const char *path)
{
	char why[256];

	if (bbs_tfr_open(r, path, why, sizeof(why))) {
		bbs_err("--trace %s: %s", path, why);
		return -1;
	}
	return 0;
}

int bbs_workload_load_trace(struct bbs_workload *w, const char *path)
{
	const struct bbs_tf_status *st;
	struct bbs_tf_reader *r;
	struct bbs_tf_event ev;
	int err;

	if (open_trace(&r, path))
		return -1;
	while (bbs_tfr_next(r, &ev) == 1) {
		if (ev.type != EV_BIO)
			continue;
		err = bbs_workload_add_event(w, &ev.bio);
		if (err < 0) {
			bbs_err("--trace %s: data write at sector %llu, %u bytes: %s", path,
				(unsigned long long)ev.bio.sector, ev.bio.bytes,
				err == -EINVAL	? "not a whole number of 4 KiB blocks"
				: err == -E2BIG ? "too many bios to replay"
						: strerror(-err));
			goto err_close;
		}
	}
	st = bbs_tfr_status(r);
	if (st->stopped)
		bbs_warn("--trace %s: %s; replaying the %zu data writes before it", path, st->why,
			 w->nr);
	if (bbs_workload_finish_trace(w)) {
		bbs_err("--trace %s: out of memory", path);
		goto err_close;
	}
	if (!w->nr) {
		bbs_err("--trace %s: the recording has no data writes to replay", path);
		goto err_close;
	}
	bbs_tfr_close(r);
	return 0;

err_close:
	bbs_tfr_close(r);
	return -1;
}

int bbs_workload_load_strips(struct bbs_workload *w, const char *path)
{
	const struct bbs_tf_status *st;
	struct bbs_tf_reader *r;
	struct bbs_tf_event ev;
	int err;

	if (open_trace(&r, path))
		return -1;
	while (bbs_tfr_next(r, &ev) == 1) {
		const struct bbs_event_stripe *e = &ev.stripe;

		if (ev.type != EV_STRIPE)
			continue;
		err = bbs_workload_add_strip(w, e);
		if (err >= 0)
			continue;
		if (err == -EXDEV)
			bbs_err("--trace %s: data strip writes of raid5/6 chunks with %u and with "
				"%u data strips: replay parity lays out one chunk geometry",
				path, w->nr_data, e->nr_data);
		else
			bbs_err("--trace %s: data strip write to full stripe %llu strip %u offset "
				"%u, %u bytes: %s",
				path, (unsigned long long)e->full_stripe, e->stripe_nr, e->offset,
				e->len,
				err == -EINVAL	? "not whole 4 KiB blocks inside its 64 KiB strip"
				: err == -E2BIG ? "too many bios to replay"
						: strerror(-err));
		goto err_close;
	}
	st = bbs_tfr_status(r);
	if (st->stopped)
		bbs_warn("--trace %s: %s; replaying the %zu data strip writes before it", path,
			 st->why, w->nr);
	bbs_workload_finish_strips(w);
	if (!w->nr) {
		bbs_err("--trace %s: no raid5/raid6 data strip writes in this recording (record "
			"on a raid5 or raid6 filesystem, or use --synthetic)",
			path);
		goto err_close;
	}
	bbs_tfr_close(r);
	return 0;

err_close:
	bbs_tfr_close(r);
	return -1;
}

int bbs_timing_parse(const char *s, double *scale)
{
	if (!strcmp(s, "fast")) {
		*scale = 0;
		return 0;
	}
	if (!strcmp(s, "recorded")) {
		*scale = 1;
		return 0;
	}
	if (!strncmp(s, "scale=", 6) && !bbs_parse_seconds(s + 6, scale) && *scale > 0)
		return 0;
	return -1;
}
