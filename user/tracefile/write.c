// SPDX-License-Identifier: GPL-2.0
/*
 * The trace file's writer (docs/format.md): `record` streams ring buffer
 * records into it; it interns names, packs records into chunks and writes
 * each chunk whole, so a killed recorder leaves a file readable up to its
 * last complete chunk.  tracefile/wire.h is the encoding it shares with the
 * reader (tracefile/read.c): a change to one is read against the other.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tracefile/wire.h"
#include "host/array.h"

/* ---- growable byte buffers ---- */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static uint8_t *buf_put(struct buf *b, size_t n)
{
	uint8_t *p;

	p = bbs_array_reserve(b->p, &b->cap, b->len + n, 1, 4096);
	if (!p)
		return NULL;
	b->p = p;
	p = b->p + b->len;
	b->len += n;
	return p;
}

static int buf_str(struct buf *b, const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	uint8_t *p = buf_put(b, 2 + n);

	if (!p)
		return -ENOMEM;
	put16(p, n);
	memcpy(p + 2, s, n);
	return 0;
}

/* ---- writer ---- */

/* Open addressing from a name's key (dev_t bytes, or the string) to its index. */
struct intern_ent {
	uint8_t used;
	uint8_t klen;
	uint16_t idx;
	char key[WQ_NAME_LEN];
};

struct intern {
	struct intern_ent *ent;
	uint32_t cap;
	uint32_t n; /* entries in the table, index 0 included */
};

struct bbs_tf_writer {
	int fd;
	int err; /* -errno of the write that failed, sticky */
	uint64_t base; /* clock base */
	uint64_t off; /* end of the last complete chunk */
	uint32_t seq;
	bbs_tf_resolve_fn resolve;
	struct buf names, events, funcs, out;
	struct intern tab[TF_NR_TABLES];
	/* records in the events buffer, by kind */
	uint64_t pend_bios, pend_spans, pend_stripes, pend_wide;
	struct bbs_tf_wstats st;
	/* loss counters */
	bool lost_dirty;
	uint64_t lost_ns;
	uint64_t *percpu;
	uint32_t ncpus, nr_reasons;
	uint64_t user[TF_NR_USER_LOST];
};

static uint32_t fnv1a(const void *key, size_t n)
{
	const uint8_t *p = key;
	uint32_t h = 2166136261U;

	while (n--)
		h = (h ^ *p++) * 16777619U;
	return h;
}

static struct intern_ent *intern_slot(struct intern *t, const void *key, size_t klen)
{
	uint32_t i = fnv1a(key, klen) & (t->cap - 1);

	while (t->ent[i].used && (t->ent[i].klen != klen || memcmp(t->ent[i].key, key, klen)))
		i = (i + 1) & (t->cap - 1);
	return &t->ent[i];
}

static int intern_grow(struct intern *t)
{
	struct intern old = *t;

	t->cap = old.cap ? old.cap * 2 : 64;
	t->ent = calloc(t->cap, sizeof(*t->ent));
	if (!t->ent) {
		*t = old;
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < old.cap; i++)
		if (old.ent[i].used)
			*intern_slot(t, old.ent[i].key, old.ent[i].klen) = old.ent[i];
	free(old.ent);
	return 0;
}

static int put_name(struct buf *b, enum tf_table table, uint16_t idx, uint32_t value,
		    const char *name)
{
	size_t n = strnlen(name, TF_NAME_MAX);
	uint8_t *p = buf_put(b, NAME_ENT_LEN + n);

	if (!p)
		return -ENOMEM;
	p[0] = table;
	p[1] = 0;
	put16(p + 2, idx);
	put32(p + 4, value);
	put16(p + 8, n);
	memcpy(p + NAME_ENT_LEN, name, n);
	return 0;
}

/*
 * Index of a name, adding it (and its names entry, written before the
 * events that use it) the first time.  0 for "none", and for a full table.
 */
static uint16_t name_index(struct bbs_tf_writer *w, enum tf_table table, uint32_t value,
			   const char *str, size_t max)
{
	struct intern *t = &w->tab[table];
	char key[WQ_NAME_LEN], buf[TF_NAME_MAX + 1];
	const char *name = NULL;
	struct intern_ent *e;
	size_t klen;

	if (str) {
		klen = strnlen(str, max);
		memcpy(key, str, klen);
	} else {
		klen = 4;
		put32((uint8_t *)key, value);
	}
	if (!klen || (!str && !value))
		return 0;
	if (2 * (t->n + 1) > t->cap && intern_grow(t))
		goto full;
	e = intern_slot(t, key, klen);
	if (e->used)
		return e->idx;
	if (t->n >= TF_TABLE_MAX)
		goto full;
	if (str) {
		memcpy(buf, str, klen);
		buf[klen] = 0;
		name = buf;
	} else {
		if (w->resolve)
			name = w->resolve(table, value, buf, sizeof(buf));
		if (!name) {
			snprintf(buf, sizeof(buf), "%u:%u", value >> 20, value & ((1U << 20) - 1));
			name = buf;
		}
	}
	if (put_name(&w->names, table, t->n, str ? 0 : value, name))
		goto full;
	e->used = 1;
	e->klen = klen;
	e->idx = t->n++;
	memcpy(e->key, key, klen);
	return e->idx;
full:
	w->user[TF_LOST_NAMES_FULL]++;
	w->lost_dirty = true;
	return 0;
}

static int put_bio(struct bbs_tf_writer *w, const struct bbs_event_bio *e)
{
	const uint64_t at[4] = { e->issue_ns, e->complete_ns, e->endio_start_ns, e->endio_end_ns };
	uint16_t fs = name_index(w, TF_FS, e->fs, NULL, 0);
	uint16_t dev = name_index(w, TF_DEV, e->dev, NULL, 0);
	uint16_t comm = name_index(w, TF_COMM, 0, e->comm, sizeof(e->comm));
	uint16_t wq = name_index(w, TF_WQ, 0, e->wq, sizeof(e->wq));
	uint64_t q = e->queue_ns - w->base, max = 0;
	bool fits = fs < 256 && wq < 256 && e->pid < (1U << 24) && e->sector < (1ULL << 48) &&
		    !(e->flags & ~REC_F_KERNEL);
	uint32_t d[4], div = 1;
	uint8_t *p;
	bool wide = false;

	for (int i = 0; i < 4; i++) {
		if (!at[i])
			continue;
		if (at[i] < e->queue_ns)
			fits = false;
		else if (at[i] - e->queue_ns > max)
			max = at[i] - e->queue_ns;
	}
	if (max >= ABSENT32)
		div = 1000;
	if (max / div >= ABSENT32)
		fits = false;

	if (fits) {
		for (int i = 0; i < 4; i++)
			d[i] = at[i] ? (at[i] - e->queue_ns) / div : ABSENT32;
		p = buf_put(&w->events, TF_REC_BIO_LEN);
		if (!p)
			return -ENOMEM;
		p[0] = TF_REC_BIO;
		p[1] = e->flags | (div > 1 ? REC_F_USEC : 0);
		p[2] = e->op | e->kind << 1 | e->complete_ctx << 3 | e->endio_ctx << 5;
		p[3] = e->cpu_complete;
		p[4] = e->cpu_endio;
		p[5] = fs;
		put16(p + 6, dev);
		put64(p + 8, q);
		for (int i = 0; i < 4; i++)
			put32(p + 16 + 4 * i, d[i]);
		put32(p + 32, e->bytes);
		put16(p + 36, e->pid);
		p[38] = e->pid >> 16;
		p[39] = wq;
		put48(p + 40, e->sector);
		put16(p + 46, comm);
	} else {
		p = buf_put(&w->events, TF_REC_BIO_WIDE_LEN);
		if (!p)
			return -ENOMEM;
		p[0] = TF_REC_BIO_WIDE;
		p[1] = e->flags;
		p[2] = e->op;
		p[3] = e->kind;
		p[4] = e->complete_ctx;
		p[5] = e->endio_ctx;
		p[6] = e->cpu_complete;
		p[7] = e->cpu_endio;
		put16(p + 8, fs);
		put16(p + 10, dev);
		put16(p + 12, comm);
		put16(p + 14, wq);
		put32(p + 16, e->bytes);
		put32(p + 20, e->pid);
		put64(p + 24, e->sector);
		put64(p + 32, q);
		for (int i = 0; i < 4; i++)
			put64(p + 40 + 8 * i, at[i] ? at[i] - w->base : ABSENT64);
		wide = true;
	}
	if (e->logical) {
		p = buf_put(&w->events, TF_REC_LOGICAL_LEN);
		if (!p)
			return -ENOMEM;
		memset(p, 0, 8);
		p[0] = TF_REC_LOGICAL;
		put64(p + 8, e->logical);
	}
	w->pend_bios++;
	w->pend_wide += wide;
	return 0;
}

static int put_span(struct bbs_tf_writer *w, const struct bbs_event_span *e)
{
	uint64_t dur = e->end_ns - e->start_ns;
	uint8_t unit = 0;
	uint8_t *p;

	/* ns, us, ms: a span longer than 49 days is clamped. */
	while (unit < 2 && dur > ABSENT32) {
		dur /= 1000;
		unit++;
	}
	if (dur > ABSENT32)
		dur = ABSENT32;
	p = buf_put(&w->events, TF_REC_SPAN_LEN);
	if (!p)
		return -ENOMEM;
	p[0] = TF_REC_SPAN;
	p[1] = e->phase;
	p[2] = e->kind;
	p[3] = e->ctx | unit << 4;
	put16(p + 4, e->cpu < 0xffff ? e->cpu : 0xffff);
	put16(p + 6, name_index(w, TF_FS, e->fs, NULL, 0));
	put64(p + 8, e->start_ns - w->base);
	put32(p + 16, dur);
	put32(p + 20, e->pid);
	w->pend_spans++;
	return 0;
}

static int put_stripe(struct bbs_tf_writer *w, const struct bbs_event_stripe *e)
{
	uint16_t fs = name_index(w, TF_FS, e->fs, NULL, 0);
	uint16_t dev = name_index(w, TF_DEV, e->dev, NULL, 0);
	uint8_t *p = buf_put(&w->events, TF_REC_STRIPE_LEN);

	if (!p)
		return -ENOMEM;
	memset(p, 0, TF_REC_STRIPE_LEN);
	p[0] = TF_REC_STRIPE;
	p[1] = e->op;
	p[2] = e->kind;
	p[3] = e->stripe_nr;
	p[4] = e->nr_data;
	p[5] = e->real_stripes;
	put16(p + 6, fs);
	put16(p + 8, dev);
	put32(p + 12, e->len);
	put32(p + 16, e->offset);
	put64(p + 24, e->ts_ns - w->base);
	put64(p + 32, e->devid);
	put64(p + 40, e->full_stripe);
	w->pend_stripes++;
	return 0;
}

static void bad_record(struct bbs_tf_writer *w)
{
	w->user[TF_LOST_BAD_RECORD]++;
	w->lost_dirty = true;
}

int bbs_tfw_event(struct bbs_tf_writer *w, const void *data, size_t len)
{
	const uint8_t *type = data;
	union {
		struct bbs_event_bio bio;
		struct bbs_event_span span;
		struct bbs_event_stripe stripe;
	} e;
	size_t mark = w->events.len;
	int err;

	if (w->err) {
		w->st.unwritten++;
		return w->err;
	}
	if (!len) {
		bad_record(w);
		return 0;
	}
	switch (*type) {
	case EV_BIO:
		if (len < sizeof(e.bio))
			goto bad;
		memcpy(&e.bio, data, sizeof(e.bio));
		if (!bio_valid(&e.bio))
			goto bad;
		err = put_bio(w, &e.bio);
		break;
	case EV_CSUM:
	case EV_ORDERED:
	case EV_RBIO:
		if (len < sizeof(e.span))
			goto bad;
		memcpy(&e.span, data, sizeof(e.span));
		if (!span_valid(&e.span))
			goto bad;
		err = put_span(w, &e.span);
		break;
	case EV_STRIPE:
		if (len < sizeof(e.stripe))
			goto bad;
		memcpy(&e.stripe, data, sizeof(e.stripe));
		if (e.stripe.op >= BBS_NR_OPS)
			goto bad;
		err = put_stripe(w, &e.stripe);
		break;
	default:
		goto bad;
	}
	if (err) {
		/* Out of memory half way through a record: drop all of it. */
		w->events.len = mark;
		w->st.unwritten++;
		return err;
	}
	if (w->events.len >= TF_EVENTS_TARGET || w->names.len >= TF_EVENTS_TARGET)
		return bbs_tfw_flush(w);
	return 0;
bad:
	bad_record(w);
	return 0;
}

void bbs_tfw_set_lost(struct bbs_tf_writer *w, uint64_t now_ns, const uint64_t *percpu,
		      uint32_t ncpus, uint32_t nr_reasons, uint64_t evicted, uint64_t skipped_runs)
{
	size_t n = (size_t)ncpus * nr_reasons;

	if (ncpus != w->ncpus || nr_reasons != w->nr_reasons) {
		uint64_t *p = realloc(w->percpu, (n ? n : 1) * sizeof(*p));

		if (!p)
			return;
		w->percpu = p;
		w->ncpus = ncpus;
		w->nr_reasons = nr_reasons;
		memset(w->percpu, 0, n * sizeof(*p));
		w->lost_dirty = true;
	}
	if (memcmp(w->percpu, percpu, n * sizeof(*percpu)) || evicted != w->user[TF_LOST_EVICTED] ||
	    skipped_runs != w->user[TF_LOST_SKIPPED_RUNS])
		w->lost_dirty = true;
	memcpy(w->percpu, percpu, n * sizeof(*percpu));
	w->user[TF_LOST_EVICTED] = evicted;
	w->user[TF_LOST_SKIPPED_RUNS] = skipped_runs;
	w->lost_ns = now_ns;
}

static int put_lost(struct bbs_tf_writer *w, struct buf *b, uint64_t now_ns)
{
	size_t n = (size_t)w->ncpus * w->nr_reasons;
	uint8_t *p = buf_put(b, LOST_HDR_LEN + 8 * (n + TF_NR_USER_LOST));

	if (!p)
		return -ENOMEM;
	put64(p, now_ns - w->base);
	put32(p + 8, w->ncpus);
	put32(p + 12, w->nr_reasons);
	put32(p + 16, TF_NR_USER_LOST);
	put32(p + 20, 0);
	p += LOST_HDR_LEN;
	for (size_t i = 0; i < n; i++, p += 8)
		put64(p, w->percpu[i]);
	for (int i = 0; i < TF_NR_USER_LOST; i++, p += 8)
		put64(p, w->user[i]);
	return 0;
}

/* Append a whole chunk (header + payload) to out. */
static int put_chunk(struct bbs_tf_writer *w, struct buf *out, uint32_t type,
		     const uint8_t *payload, size_t len)
{
	uint8_t *p = buf_put(out, TF_CHUNK_HDR_LEN + len);

	if (!p)
		return -ENOMEM;
	put32(p, type);
	put32(p + 4, w->seq++);
	put32(p + 8, len);
	memcpy(p + TF_CHUNK_HDR_LEN, payload, len);
	put32(p + 12, chunk_crc(p, p + TF_CHUNK_HDR_LEN, len));
	return 0;
}

/*
 * Write whole chunks at the end of the file.  A short write (ENOSPC) is
 * cut off again, so the file always ends at a chunk boundary.
 */
static int write_chunks(struct bbs_tf_writer *w, const uint8_t *p, size_t len)
{
	size_t done = 0;
	ssize_t n;
	int err;

	while (done < len) {
		n = pwrite(w->fd, p + done, len - done, w->off + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			/* If this fails too, readers stop at the half chunk. */
			if (done)
				(void)!ftruncate(w->fd, w->off);
			return err;
		}
		done += n;
	}
	w->off += len;
	return 0;
}

int bbs_tfw_flush(struct bbs_tf_writer *w)
{
	uint32_t seq = w->seq;
	uint64_t chunks = 0;
	struct buf lost = { 0 };
	int err = 0;

	if (w->err)
		return w->err;
	w->out.len = 0;
	if (w->names.len) {
		err = put_chunk(w, &w->out, TF_CHUNK_NAMES, w->names.p, w->names.len);
		chunks++;
	}
	if (!err && w->events.len) {
		err = put_chunk(w, &w->out, TF_CHUNK_EVENTS, w->events.p, w->events.len);
		chunks++;
	}
	if (!err && w->funcs.len) {
		err = put_chunk(w, &w->out, TF_CHUNK_FUNCS, w->funcs.p, w->funcs.len);
		chunks++;
	}
	if (!err && w->lost_dirty) {
		err = put_lost(w, &lost, w->lost_ns);
		if (!err)
			err = put_chunk(w, &w->out, TF_CHUNK_LOST, lost.p, lost.len);
		chunks++;
	}
	free(lost.p);
	if (!err && w->out.len)
		err = write_chunks(w, w->out.p, w->out.len);
	if (err) {
		w->seq = seq;
		w->err = err;
		w->st.unwritten += w->pend_bios + w->pend_spans + w->pend_stripes;
	} else {
		w->st.chunks += chunks;
		w->st.bios += w->pend_bios;
		w->st.spans += w->pend_spans;
		w->st.stripes += w->pend_stripes;
		w->st.wide += w->pend_wide;
		w->lost_dirty = false;
	}
	w->names.len = 0;
	w->events.len = 0;
	w->funcs.len = 0;
	w->pend_bios = w->pend_spans = w->pend_stripes = w->pend_wide = 0;
	return err;
}

/* A histogram: sum, max, then its non-empty slots as (index, count). */
static int put_hist(struct buf *b, const struct bbs_hist *h)
{
	uint16_t n = 0;
	uint8_t *p;

	for (int i = 0; i < HIST_SLOTS; i++)
		n += h->slots[i] != 0;
	p = buf_put(b, 18 + 10 * n);
	if (!p)
		return -ENOMEM;
	put64(p, h->sum_ns);
	put64(p + 8, h->max_ns);
	put16(p + 16, n);
	p += 18;
	for (int i = 0; i < HIST_SLOTS; i++) {
		if (!h->slots[i])
			continue;
		put16(p, i);
		put64(p + 2, h->slots[i]);
		p += 10;
	}
	return 0;
}

/*
 * The funcs chunk: u8 slots, each (name, attach); u16 not-traced, each
 * (name, why); u32 entries, each (u32 fs, u8 slot, u8 under, total, self).
 */
int bbs_tfw_funcs(struct bbs_tf_writer *w, const struct bbs_report *r)
{
	struct buf *b = &w->funcs;
	uint8_t *p;
	int err = 0;
	bool any = r->nr_func_off > 0;

	for (int i = 0; i < MAX_FUNCS; i++)
		any |= r->func[i].name[0] != 0;
	if (!any || w->err)
		return w->err;
	b->len = 0;
	p = buf_put(b, 1);
	if (!p)
		return -ENOMEM;
	*p = MAX_FUNCS;
	for (int i = 0; i < MAX_FUNCS && !err; i++) {
		err = buf_str(b, r->func[i].name, sizeof(r->func[i].name));
		err = err ?: buf_str(b, r->func[i].attach, sizeof(r->func[i].attach));
	}
	p = err ? NULL : buf_put(b, 2);
	if (!p)
		return -ENOMEM;
	put16(p, r->nr_func_off);
	for (int i = 0; i < r->nr_func_off && !err; i++) {
		err = buf_str(b, r->func_off[i].name, sizeof(r->func_off[i].name));
		err = err ?: buf_str(b, r->func_off[i].why, sizeof(r->func_off[i].why));
	}
	p = err ? NULL : buf_put(b, 4);
	if (!p)
		return -ENOMEM;
	put32(p, r->nr_funcs);
	for (size_t i = 0; i < r->nr_funcs && !err; i++) {
		const struct bbs_func_data *fd = &r->funcs[i];

		p = buf_put(b, 6);
		if (!p)
			return -ENOMEM;
		put32(p, fd->fs);
		p[4] = fd->slot;
		p[5] = fd->under;
		err = put_hist(b, &fd->total);
		err = err ?: put_hist(b, &fd->self);
	}
	return err;
}

int bbs_tfw_finish(struct bbs_tf_writer *w, uint64_t end_ns, int end_errno)
{
	struct buf t = { 0 };
	uint32_t seq;
	uint8_t *p;
	int err;

	bbs_tfw_flush(w);
	p = buf_put(&t, TRAILER_HDR_LEN);
	if (!p)
		return -ENOMEM;
	put64(p, end_ns - w->base);
	put32(p + 8, end_errno > 0 ? end_errno : w->err ? -w->err : 0);
	put32(p + 12, 0);
	put64(p + 16, w->st.chunks);
	put64(p + 24, w->st.bios);
	put64(p + 32, w->st.spans);
	put64(p + 40, w->st.stripes);
	put64(p + 48, w->st.unwritten);
	err = put_lost(w, &t, end_ns);
	seq = w->seq;
	w->out.len = 0;
	if (!err)
		err = put_chunk(w, &w->out, TF_CHUNK_TRAILER, t.p, t.len);
	if (!err)
		err = write_chunks(w, w->out.p, w->out.len);
	if (err)
		w->seq = seq;
	else
		w->st.chunks++;
	free(t.p);
	return err;
}

static int put_header(struct bbs_tf_writer *w, const struct bbs_tf_header *h, struct buf *b)
{
	uint32_t nsyms = h->nr_syms < TF_MAX_SYMS ? h->nr_syms : TF_MAX_SYMS;
	uint8_t *p = buf_put(b, 32);
	int err;

	if (!p)
		return -ENOMEM;
	put64(p, h->mono_ns);
	put64(p + 8, h->real_ns);
	put32(p + 16, h->ncpus);
	put32(p + 20, h->phase_unavailable);
	put32(p + 24, h->filter_fs);
	put32(p + 28, h->filter_dev);
	err = buf_str(b, h->kernel, sizeof(h->kernel));
	err = err ?: buf_str(b, h->host, sizeof(h->host));
	err = err ?: buf_str(b, h->command, sizeof(h->command));
	p = err ? NULL : buf_put(b, 2);
	if (!p)
		return -ENOMEM;
	put16(p, nsyms);
	for (uint32_t i = 0; i < nsyms && !err; i++) {
		p = buf_put(b, 8);
		if (!p)
			return -ENOMEM;
		put64(p, h->syms[i].addr);
		err = buf_str(b, h->syms[i].name, sizeof(h->syms[i].name));
	}
	if (err)
		return err;
	/* The name tables known at start: the rest of the payload. */
	if (w->names.len) {
		p = buf_put(b, w->names.len);
		if (!p)
			return -ENOMEM;
		memcpy(p, w->names.p, w->names.len);
		w->names.len = 0;
	}
	return 0;
}

/* The phases chunk: u8 ops, u8 phases, ops x phases reasons, then the tracer's attach type. */
static int put_phases(struct bbs_tf_writer *w, const struct bbs_tf_header *h)
{
	struct buf b = { 0 };
	uint8_t *p = buf_put(&b, 2 + sizeof(h->phase_why));
	int err;

	if (!p)
		return -ENOMEM;
	p[0] = 2;
	p[1] = sizeof(h->phase_why[0]);
	memcpy(p + 2, h->phase_why, sizeof(h->phase_why));
	err = buf_str(&b, h->tracer, sizeof(h->tracer));
	/* --sample N (added later: a reader takes 1 when the chunk ends before it) */
	p = err ? NULL : buf_put(&b, 4);
	if (!err && !p)
		err = -ENOMEM;
	if (p)
		put32(p, h->sample > 1 ? h->sample : 1);
	if (!err)
		err = put_chunk(w, &w->out, TF_CHUNK_PHASES, b.p, b.len);
	free(b.p);
	return err;
}

/* The producer chunk: str version, str commit (written when the header has a version). */
static int put_producer(struct bbs_tf_writer *w, const struct bbs_tf_header *h)
{
	struct buf b = { 0 };
	int err = buf_str(&b, h->version, sizeof(h->version));

	err = err ?: buf_str(&b, h->commit, sizeof(h->commit));
	if (!err)
		err = put_chunk(w, &w->out, TF_CHUNK_PRODUCER, b.p, b.len);
	free(b.p);
	return err;
}

int bbs_tfw_open(struct bbs_tf_writer **out, int fd, const struct bbs_tf_header *h,
		 const struct bbs_tf_wopts *o)
{
	struct bbs_tf_writer *w = calloc(1, sizeof(*w));
	struct buf hdr = { 0 };
	uint8_t *p;
	int err;

	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->base = h->mono_ns;
	w->resolve = o ? o->resolve : NULL;
	for (int t = 0; t < TF_NR_TABLES; t++)
		w->tab[t].n = 1; /* index 0: none */
	for (uint32_t i = 0; o && i < o->nr_fs; i++)
		name_index(w, TF_FS, o->fs[i], NULL, 0);
	for (uint32_t i = 0; o && i < o->nr_dev; i++)
		name_index(w, TF_DEV, o->dev[i], NULL, 0);

	err = put_header(w, h, &hdr);
	p = err ? NULL : buf_put(&w->out, TF_PREAMBLE_LEN);
	if (!p) {
		err = -ENOMEM;
		goto err_free;
	}
	memcpy(p, TF_MAGIC, 8);
	put32(p + 8, TF_VERSION);
	put32(p + 12, 0);
	err = put_chunk(w, &w->out, TF_CHUNK_HEADER, hdr.p, hdr.len);
	if (!err && h->have_phase_why)
		err = put_phases(w, h);
	if (!err && h->version[0])
		err = put_producer(w, h);
	if (!err)
		err = write_chunks(w, w->out.p, w->out.len);
	if (err)
		goto err_free;
	free(hdr.p);
	w->st.chunks = 1 + h->have_phase_why + !!h->version[0];
	*out = w;
	return 0;

err_free:
	free(hdr.p);
	bbs_tfw_free(w);
	return err;
}

void bbs_tfw_stats(const struct bbs_tf_writer *w, struct bbs_tf_wstats *s)
{
	*s = w->st;
	s->bytes = w->off;
	s->pending = w->pend_bios + w->pend_spans + w->pend_stripes;
}

void bbs_tfw_free(struct bbs_tf_writer *w)
{
	if (!w)
		return;
	free(w->names.p);
	free(w->events.p);
	free(w->funcs.p);
	free(w->out.p);
	for (int t = 0; t < TF_NR_TABLES; t++)
		free(w->tab[t].ent);
	free(w->percpu);
	free(w);
}
