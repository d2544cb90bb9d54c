// SPDX-License-Identifier: GPL-2.0
/*
 * The trace file (docs/format.md): the writer `record` streams ring buffer
 * records into, and the reader `report`, `export` and the fuzzer use.
 *
 * The reader trusts nothing: every length is checked against what is left,
 * every chunk's CRC32C is checked before its payload is looked at, every
 * name index against its table, every enum against its range (callers index
 * arrays with them).  Reading stops at the first chunk that fails a check
 * and says why; what came before it is returned.
 *
 * One file for both directions, longer than the others under user/ on
 * purpose: writer and reader are the two halves of one encoding (record
 * layouts, chunk framing, name tables, the clock deltas), and a change to
 * one must be read against the other, line by line.  Split, they would
 * drift.
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
#include <isa-l/crc.h>

#include "btrfs/simd.h"
#include "trace/tracefile.h"

#define ABSENT32 0xffffffffU
#define ABSENT64 0xffffffffffffffffULL
#define REC_F_USEC 0x40 /* TF_REC_BIO flags: deltas are in microseconds */
#define REC_F_KERNEL 0x3f /* BIO_F_* bits the compact record can hold */
#define LOST_HDR_LEN 24
#define TRAILER_HDR_LEN 56
#define NAME_ENT_LEN 10

/* ---- little-endian fields ---- */

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	put16(p, v);
	put16(p + 2, v >> 16);
}

static inline void put48(uint8_t *p, uint64_t v)
{
	put32(p, v);
	put16(p + 4, v >> 32);
}

static inline void put64(uint8_t *p, uint64_t v)
{
	put32(p, v);
	put32(p + 4, v >> 32);
}

static inline uint16_t get16(const uint8_t *p)
{
	return p[0] | (uint16_t)p[1] << 8;
}

static inline uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static inline uint64_t get48(const uint8_t *p)
{
	return get32(p) | (uint64_t)get16(p + 4) << 32;
}

static inline uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* Standard CRC32C (Castagnoli) of the chunk header's first 12 bytes and the payload. */
static uint32_t chunk_crc(const uint8_t *hdr, const uint8_t *payload, uint32_t len)
{
	/* crc32_iscsi only reads its buffer; it just lacks the const. */
	uint32_t crc = crc32_iscsi((unsigned char *)hdr, 12, ~0U);

	if (len)
		crc = crc32_iscsi((unsigned char *)payload, (int)len, crc);
	bbs_avx_upper_clear();
	return ~crc;
}

/* The ranges every consumer indexes arrays with; writer and reader agree on them. */
static bool bio_valid(const struct bbs_event_bio *e)
{
	return e->op < BBS_NR_OPS && e->kind < NR_KINDS && e->complete_ctx < NR_CTX &&
	       e->endio_ctx < NR_CTX;
}

static bool span_phase_valid(uint8_t phase)
{
	return phase == PHASE_CSUM || phase == PHASE_ORDERED || phase == PHASE_RMW ||
	       phase == PHASE_RECOVER;
}

static bool span_valid(const struct bbs_event_span *e)
{
	return span_phase_valid(e->phase) && e->kind < NR_KINDS && e->ctx < NR_CTX;
}

/* ---- finish_bio() in user space ---- */

static inline void phase_set(struct bbs_bio_phases *p, int phase, uint64_t v)
{
	p->ns[phase] = v;
	p->have |= 1U << phase;
}

void bbs_bio_phases(const struct bbs_event_bio *e, struct bbs_bio_phases *p)
{
	/*
	 * finish_bio()'s `now`: the end of the end_io work item, or, for bios
	 * that end inline, their completion (emit_bio() records no end then).
	 */
	uint64_t end = e->endio_start_ns ? e->endio_end_ns : e->complete_ns;
	/* An end_io that ran inline at completion has no hop and no endio of its own. */
	bool work = e->endio_start_ns && !(e->flags & BIO_F_NO_ENDIO);

	memset(p, 0, sizeof(*p));
	p->complete_ctx = e->complete_ns != 0;
	p->endio_ctx = e->endio_start_ns || (e->flags & BIO_F_NO_ENDIO);
	if (e->complete_ns) {
		if (e->flags & BIO_F_BIO_BASED) {
			phase_set(p, PHASE_DEVICE, e->complete_ns - e->queue_ns);
		} else if (e->issue_ns) {
			phase_set(p, PHASE_QUEUE, e->issue_ns - e->queue_ns);
			phase_set(p, PHASE_DEVICE, e->complete_ns - e->issue_ns);
		}
		if (work)
			phase_set(p, PHASE_HOP, e->endio_start_ns - e->complete_ns);
	}
	if (work)
		phase_set(p, PHASE_ENDIO, end - e->endio_start_ns);
	if (e->complete_ns || e->endio_start_ns)
		phase_set(p, PHASE_TOTAL, end - e->queue_ns);
}

void bbs_span_group(const struct bbs_event_span *e, struct bbs_group *g)
{
	memset(g, 0, sizeof(*g));
	g->fs = e->fs;
	if (e->phase == PHASE_ORDERED) {
		/* on_ordered_remove() */
		g->op = BBS_OP_WRITE;
		g->kind = KIND_DATA;
	} else {
		/* span_account() */
		g->op = e->phase == PHASE_RECOVER ? BBS_OP_READ : BBS_OP_WRITE;
		g->kind = e->kind;
	}
}

/* ---- growable byte buffers ---- */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static uint8_t *buf_put(struct buf *b, size_t n)
{
	uint8_t *p;

	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + n)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p)
			return NULL;
		b->p = p;
		b->cap = cap;
	}
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
		      uint32_t ncpus, uint32_t nr_reasons, uint64_t evicted)
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
	if (memcmp(w->percpu, percpu, n * sizeof(*percpu)) || evicted != w->user[TF_LOST_EVICTED])
		w->lost_dirty = true;
	memcpy(w->percpu, percpu, n * sizeof(*percpu));
	w->user[TF_LOST_EVICTED] = evicted;
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

/* The phases chunk: u8 ops, u8 phases, ops x phases reasons, then the tracer's flavour. */
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

/* ---- reader ---- */

/*
 * A fuzzer cannot forge CRC32Cs: in fuzzing builds (the libFuzzer harness
 * only) a mismatch is ignored so the parsers behind it get explored.
 */
static bool crc_ok(const uint8_t *hdr, const uint8_t *payload, uint32_t len)
{
	bool ok = chunk_crc(hdr, payload, len) == get32(hdr + 12);

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
	ok = true;
#endif
	return ok;
}

struct tf_tab {
	uint32_t n, cap;
	uint32_t *value;
	char **name;
};

struct bbs_tf_reader {
	const uint8_t *buf;
	size_t len;
	void *map; /* when opened from a file */
	size_t off; /* next chunk */
	uint32_t seq; /* its expected sequence number */
	const uint8_t *rec, *rec_end; /* records left in the current events chunk */
	bool done;
	struct bbs_tf_header hdr;
	struct bbs_tf_status st;
	struct bbs_tf_lost lost;
	uint64_t *percpu;
	struct tf_tab tab[TF_NR_TABLES];
	struct bbs_report *funcs; /* function phases, summed over funcs chunks */
};

/* A bounds-checked cursor over a payload. */
struct cur {
	const uint8_t *p, *end;
	bool bad;
};

static const uint8_t *cur_take(struct cur *c, size_t n)
{
	const uint8_t *p = c->p;

	if (c->bad || (size_t)(c->end - c->p) < n) {
		c->bad = true;
		return NULL;
	}
	c->p += n;
	return p;
}

static uint64_t cur_u64(struct cur *c)
{
	const uint8_t *p = cur_take(c, 8);

	return p ? get64(p) : 0;
}

static uint32_t cur_u32(struct cur *c)
{
	const uint8_t *p = cur_take(c, 4);

	return p ? get32(p) : 0;
}

static uint8_t cur_u8(struct cur *c)
{
	const uint8_t *p = cur_take(c, 1);

	return p ? *p : 0;
}

static uint16_t cur_u16(struct cur *c)
{
	const uint8_t *p = cur_take(c, 2);

	return p ? get16(p) : 0;
}

static void cur_str(struct cur *c, char *dst, size_t size)
{
	uint16_t n = cur_u16(c);
	const uint8_t *p = cur_take(c, n);
	size_t k = n < size - 1 ? n : size - 1;

	if (!p)
		k = 0;
	memcpy(dst, p ? p : (const uint8_t *)"", k);
	dst[k] = 0;
	/* A NUL inside would cut the name short: refuse it. */
	if (strlen(dst) != k)
		c->bad = true;
}

static int tab_add(struct tf_tab *t, uint32_t value, const uint8_t *name, size_t n)
{
	char *s;

	if (t->n == t->cap) {
		uint32_t cap = t->cap ? 2 * t->cap : 16;
		uint32_t *v = realloc(t->value, cap * sizeof(*v));
		char **nm;

		if (!v)
			return -ENOMEM;
		t->value = v;
		nm = realloc(t->name, cap * sizeof(*nm));
		if (!nm)
			return -ENOMEM;
		t->name = nm;
		t->cap = cap;
	}
	s = malloc(n + 1);
	if (!s)
		return -ENOMEM;
	memcpy(s, name, n);
	s[n] = 0;
	t->value[t->n] = value;
	t->name[t->n++] = s;
	return 0;
}

static void stop(struct bbs_tf_reader *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void stop(struct bbs_tf_reader *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->st.why, sizeof(r->st.why), fmt, ap);
	va_end(ap);
	r->st.stopped = true;
	r->done = true;
}

static bool parse_names(struct bbs_tf_reader *r, const uint8_t *p, size_t len)
{
	struct cur c = { p, p + len, false };

	while (c.p < c.end) {
		const uint8_t *e = cur_take(&c, NAME_ENT_LEN), *name;
		struct tf_tab *t;
		uint16_t n;

		if (!e)
			return false;
		n = get16(e + 8);
		name = cur_take(&c, n);
		if (!name || e[0] >= TF_NR_TABLES || n > TF_NAME_MAX || memchr(name, 0, n))
			return false;
		t = &r->tab[e[0]];
		if (get16(e + 2) != t->n || t->n >= TF_TABLE_MAX)
			return false;
		if (tab_add(t, get32(e + 4), name, n))
			return false;
	}
	return true;
}

static bool parse_header(struct bbs_tf_reader *r, const uint8_t *p, size_t len)
{
	struct bbs_tf_header *h = &r->hdr;
	struct cur c = { p, p + len, false };
	uint16_t nsyms;

	h->mono_ns = cur_u64(&c);
	h->real_ns = cur_u64(&c);
	h->ncpus = cur_u32(&c);
	h->phase_unavailable = cur_u32(&c);
	h->filter_fs = cur_u32(&c);
	h->filter_dev = cur_u32(&c);
	cur_str(&c, h->kernel, sizeof(h->kernel));
	cur_str(&c, h->host, sizeof(h->host));
	cur_str(&c, h->command, sizeof(h->command));
	nsyms = cur_u16(&c);
	for (uint32_t i = 0; i < nsyms && !c.bad; i++) {
		struct bbs_tf_sym s;

		s.addr = cur_u64(&c);
		cur_str(&c, s.name, sizeof(s.name));
		if (h->nr_syms < TF_MAX_SYMS)
			h->syms[h->nr_syms++] = s;
	}
	if (c.bad)
		return false;
	return parse_names(r, c.p, c.end - c.p);
}

static bool cur_hist(struct cur *c, struct bbs_hist *h)
{
	uint64_t max;
	uint16_t n;

	h->sum_ns += cur_u64(c);
	max = cur_u64(c);
	if (max > h->max_ns)
		h->max_ns = max;
	n = cur_u16(c);
	for (uint16_t i = 0; i < n && !c->bad; i++) {
		uint16_t slot = cur_u16(c);
		uint64_t count = cur_u64(c);

		if (slot >= HIST_SLOTS)
			return false;
		h->slots[slot] += count;
		h->count += count;
	}
	return !c->bad;
}

/* The funcs chunk (bbs_tfw_funcs): summed into r->funcs. */
static bool parse_funcs(struct bbs_tf_reader *r, const uint8_t *p, size_t len)
{
	struct cur c = { p, p + len, false };
	struct bbs_report *f = r->funcs;
	uint8_t slots;
	uint16_t noff;
	uint32_t n;

	if (!f) {
		f = r->funcs = calloc(1, sizeof(*f));
		if (!f)
			return false;
	}
	slots = cur_u8(&c);
	for (int i = 0; i < slots && !c.bad; i++) {
		struct bbs_func_info fi;

		cur_str(&c, fi.name, sizeof(fi.name));
		cur_str(&c, fi.attach, sizeof(fi.attach));
		if (i < MAX_FUNCS)
			f->func[i] = fi;
	}
	noff = cur_u16(&c);
	f->nr_func_off = 0;
	for (int i = 0; i < noff && !c.bad; i++) {
		struct bbs_func_off fo;

		cur_str(&c, fo.name, sizeof(fo.name));
		cur_str(&c, fo.why, sizeof(fo.why));
		if (f->nr_func_off < BBS_MAX_FUNC_OFF)
			f->func_off[f->nr_func_off++] = fo;
	}
	n = cur_u32(&c);
	for (uint32_t i = 0; i < n && !c.bad; i++) {
		uint32_t fs = cur_u32(&c);
		uint8_t slot = cur_u8(&c), under = cur_u8(&c);
		struct bbs_func_data *fd;

		if (c.bad || slot >= MAX_FUNCS || under >= NR_UNDER)
			return false;
		fd = bbs_report_func(f, fs, slot, under);
		if (!fd || !cur_hist(&c, &fd->total) || !cur_hist(&c, &fd->self))
			return false;
	}
	return !c.bad;
}

const struct bbs_report *bbs_tfr_funcs(const struct bbs_tf_reader *r)
{
	return r->funcs;
}

/* The phases chunk (put_phases): a table of any size, of which ours is kept. */
static bool parse_phases(struct bbs_tf_reader *r, const uint8_t *p, size_t len)
{
	struct bbs_tf_header *h = &r->hdr;
	struct cur c = { p, p + len, false };
	uint8_t ops = cur_u8(&c), phases = cur_u8(&c);

	for (int op = 0; op < ops && !c.bad; op++)
		for (int ph = 0; ph < phases && !c.bad; ph++) {
			uint8_t why = cur_u8(&c);

			if (op < 2 && ph < (int)sizeof(h->phase_why[0]))
				h->phase_why[op][ph] = why;
		}
	cur_str(&c, h->tracer, sizeof(h->tracer));
	if (!c.bad && c.p < c.end)
		h->sample = cur_u32(&c);
	if (h->sample == 1)
		h->sample = 0;
	if (c.bad)
		return false;
	h->have_phase_why = true;
	return true;
}

/* The producer chunk (put_producer): two strings; bytes after them are for later revisions. */
static bool parse_producer(struct bbs_tf_reader *r, const uint8_t *p, size_t len)
{
	struct cur c = { p, p + len, false };

	cur_str(&c, r->hdr.version, sizeof(r->hdr.version));
	cur_str(&c, r->hdr.commit, sizeof(r->hdr.commit));
	return !c.bad;
}

/* A loss block (lost chunk, or the end of the trailer): cumulative counters. */
static bool parse_lost(struct bbs_tf_reader *r, const uint8_t *p, size_t len, uint64_t *ts)
{
	struct bbs_tf_lost *l = &r->lost;
	uint32_t ncpus, nr, nuser;
	uint64_t *percpu;
	size_t n;

	if (len < LOST_HDR_LEN)
		return false;
	*ts = get64(p) + r->hdr.mono_ns;
	ncpus = get32(p + 8);
	nr = get32(p + 12);
	nuser = get32(p + 16);
	if (ncpus > 65536 || nr > 256 || nuser > 256)
		return false;
	n = (size_t)ncpus * nr;
	if (len != LOST_HDR_LEN + 8 * (n + nuser))
		return false;
	percpu = realloc(r->percpu, (n ? n : 1) * sizeof(*percpu));
	if (!percpu)
		return false;
	r->percpu = percpu;
	p += LOST_HDR_LEN;
	memset(l->total, 0, sizeof(l->total));
	l->other = 0;
	for (size_t i = 0; i < n; i++, p += 8) {
		percpu[i] = get64(p);
		if (i % nr < NR_LOST_BPF)
			l->total[i % nr] += percpu[i];
		else
			l->other += percpu[i];
	}
	memset(l->user, 0, sizeof(l->user));
	for (uint32_t i = 0; i < nuser; i++, p += 8)
		if (i < TF_NR_USER_LOST)
			l->user[i] = get64(p);
	l->seen = true;
	l->ncpus = ncpus;
	l->nr_reasons = nr;
	l->percpu = percpu;
	return true;
}

static bool parse_trailer(struct bbs_tf_reader *r, const uint8_t *p, size_t len)
{
	struct bbs_tf_status *st = &r->st;
	uint64_t ts;

	if (len < TRAILER_HDR_LEN ||
	    !parse_lost(r, p + TRAILER_HDR_LEN, len - TRAILER_HDR_LEN, &ts))
		return false;
	st->end_ns = get64(p) + r->hdr.mono_ns;
	st->end_errno = get32(p + 8);
	st->unwritten = get64(p + 48);
	if (get64(p + 16) != st->chunks || get64(p + 24) != st->bios ||
	    get64(p + 32) != st->spans || get64(p + 40) != st->stripes)
		snprintf(st->why, sizeof(st->why),
			 "the trailer counts %llu bios, %llu spans, %llu stripes in %llu chunks; "
			 "%llu, %llu, %llu in %llu were read",
			 (unsigned long long)get64(p + 24), (unsigned long long)get64(p + 32),
			 (unsigned long long)get64(p + 40), (unsigned long long)get64(p + 16),
			 (unsigned long long)st->bios, (unsigned long long)st->spans,
			 (unsigned long long)st->stripes, (unsigned long long)st->chunks);
	st->trailer = true;
	return true;
}

static size_t rec_len(uint8_t type)
{
	switch (type) {
	case TF_REC_BIO:
		return TF_REC_BIO_LEN;
	case TF_REC_BIO_WIDE:
		return TF_REC_BIO_WIDE_LEN;
	case TF_REC_LOGICAL:
		return TF_REC_LOGICAL_LEN;
	case TF_REC_SPAN:
		return TF_REC_SPAN_LEN;
	case TF_REC_STRIPE:
		return TF_REC_STRIPE_LEN;
	}
	return 0;
}

/* Check a whole events chunk before handing out any of it. */
static bool check_events(struct bbs_tf_reader *r, const uint8_t *p, const uint8_t *end)
{
	uint32_t n[TF_NR_TABLES];
	bool after_bio = false;

	for (int t = 0; t < TF_NR_TABLES; t++)
		n[t] = r->tab[t].n;
	while (p < end) {
		size_t len = rec_len(p[0]);
		bool ok;

		if (!len || (size_t)(end - p) < len)
			return false;
		switch (p[0]) {
		case TF_REC_BIO:
			ok = (p[2] & 1) < BBS_NR_OPS && (p[2] >> 1 & 3) < NR_KINDS &&
			     (p[2] >> 3 & 3) < NR_CTX && (p[2] >> 5 & 3) < NR_CTX &&
			     p[5] < n[TF_FS] && get16(p + 6) < n[TF_DEV] && p[39] < n[TF_WQ] &&
			     get16(p + 46) < n[TF_COMM];
			after_bio = true;
			break;
		case TF_REC_BIO_WIDE:
			ok = p[2] < BBS_NR_OPS && p[3] < NR_KINDS && p[4] < NR_CTX &&
			     p[5] < NR_CTX && get16(p + 8) < n[TF_FS] &&
			     get16(p + 10) < n[TF_DEV] && get16(p + 12) < n[TF_COMM] &&
			     get16(p + 14) < n[TF_WQ];
			after_bio = true;
			break;
		case TF_REC_LOGICAL:
			ok = after_bio;
			after_bio = false;
			break;
		case TF_REC_SPAN:
			ok = span_phase_valid(p[1]) && p[2] < NR_KINDS && (p[3] & 15) < NR_CTX &&
			     (p[3] >> 4) <= 2 && get16(p + 6) < n[TF_FS];
			after_bio = false;
			break;
		default: /* TF_REC_STRIPE */
			ok = p[1] < BBS_NR_OPS && p[2] < NR_KINDS && get16(p + 6) < n[TF_FS] &&
			     get16(p + 8) < n[TF_DEV];
			after_bio = false;
			break;
		}
		if (!ok)
			return false;
		p += len;
	}
	return true;
}

static void copy_name(char *dst, size_t size, const struct tf_tab *t, uint32_t idx)
{
	snprintf(dst, size, "%s", t->name[idx]);
}

static void decode_bio(struct bbs_tf_reader *r, const uint8_t *p, struct bbs_event_bio *e)
{
	uint64_t base = r->hdr.mono_ns;
	uint16_t fs, dev, comm, wq;

	memset(e, 0, sizeof(*e));
	e->type = EV_BIO;
	if (p[0] == TF_REC_BIO) {
		uint64_t mul = p[1] & REC_F_USEC ? 1000 : 1;
		__u64 *at[4] = { &e->issue_ns, &e->complete_ns, &e->endio_start_ns,
				 &e->endio_end_ns };

		e->flags = p[1] & REC_F_KERNEL;
		e->op = p[2] & 1;
		e->kind = p[2] >> 1 & 3;
		e->complete_ctx = p[2] >> 3 & 3;
		e->endio_ctx = p[2] >> 5 & 3;
		e->cpu_complete = p[3];
		e->cpu_endio = p[4];
		fs = p[5];
		dev = get16(p + 6);
		e->queue_ns = base + get64(p + 8);
		for (int i = 0; i < 4; i++) {
			uint32_t d = get32(p + 16 + 4 * i);

			*at[i] = d == ABSENT32 ? 0 : e->queue_ns + d * mul;
		}
		e->bytes = get32(p + 32);
		e->pid = get16(p + 36) | (uint32_t)p[38] << 16;
		wq = p[39];
		e->sector = get48(p + 40);
		comm = get16(p + 46);
	} else {
		__u64 *at[4] = { &e->issue_ns, &e->complete_ns, &e->endio_start_ns,
				 &e->endio_end_ns };

		e->flags = p[1];
		e->op = p[2];
		e->kind = p[3];
		e->complete_ctx = p[4];
		e->endio_ctx = p[5];
		e->cpu_complete = p[6];
		e->cpu_endio = p[7];
		fs = get16(p + 8);
		dev = get16(p + 10);
		comm = get16(p + 12);
		wq = get16(p + 14);
		e->bytes = get32(p + 16);
		e->pid = get32(p + 20);
		e->sector = get64(p + 24);
		e->queue_ns = base + get64(p + 32);
		for (int i = 0; i < 4; i++) {
			uint64_t v = get64(p + 40 + 8 * i);

			*at[i] = v == ABSENT64 ? 0 : base + v;
		}
	}
	e->fs = r->tab[TF_FS].value[fs];
	e->dev = r->tab[TF_DEV].value[dev];
	copy_name(e->comm, sizeof(e->comm), &r->tab[TF_COMM], comm);
	copy_name(e->wq, sizeof(e->wq), &r->tab[TF_WQ], wq);
}

static void decode_span(struct bbs_tf_reader *r, const uint8_t *p, struct bbs_event_span *e)
{
	static const uint64_t mul[3] = { 1, 1000, 1000000 };

	memset(e, 0, sizeof(*e));
	e->phase = p[1];
	e->type = e->phase == PHASE_CSUM      ? EV_CSUM
		  : e->phase == PHASE_ORDERED ? EV_ORDERED
					      : EV_RBIO;
	e->kind = p[2];
	e->ctx = p[3] & 15;
	e->cpu = get16(p + 4);
	e->fs = r->tab[TF_FS].value[get16(p + 6)];
	e->start_ns = r->hdr.mono_ns + get64(p + 8);
	e->end_ns = e->start_ns + get32(p + 16) * mul[p[3] >> 4];
	e->pid = get32(p + 20);
}

static void decode_stripe(struct bbs_tf_reader *r, const uint8_t *p, struct bbs_tf_event *ev)
{
	struct bbs_event_stripe *e = &ev->stripe;

	memset(e, 0, sizeof(*e));
	e->type = EV_STRIPE;
	e->op = p[1];
	e->kind = p[2];
	e->stripe_nr = p[3];
	e->nr_data = p[4];
	e->real_stripes = p[5];
	e->fs = r->tab[TF_FS].value[get16(p + 6)];
	e->dev = r->tab[TF_DEV].value[get16(p + 8)];
	e->len = get32(p + 12);
	e->offset = get32(p + 16);
	e->ts_ns = r->hdr.mono_ns + get64(p + 24);
	e->devid = get64(p + 32);
	e->full_stripe = get64(p + 40);
}

static void note_time(struct bbs_tf_reader *r, uint64_t ts)
{
	if (!r->st.trailer && ts > r->st.end_ns)
		r->st.end_ns = ts;
}

/* Read the next chunk: false when there is none, or it is bad (r->st says which). */
static bool next_chunk(struct bbs_tf_reader *r)
{
	size_t left = r->len - r->off;
	const uint8_t *c = r->buf + r->off, *payload;
	uint32_t type, len;
	uint64_t ts;
	bool ok = true;

	if (r->st.trailer) {
		if (left)
			snprintf(r->st.why, sizeof(r->st.why),
				 "%zu bytes after the trailer ignored", left);
		return false;
	}
	if (!left)
		return false;
	if (left < TF_CHUNK_HDR_LEN) {
		stop(r, "truncated: a chunk header at offset %zu has %zu of %d bytes", r->off, left,
		     TF_CHUNK_HDR_LEN);
		return false;
	}
	type = get32(c);
	len = get32(c + 8);
	payload = c + TF_CHUNK_HDR_LEN;
	if (len > TF_CHUNK_MAX) {
		stop(r, "corrupt: the chunk at offset %zu claims %u bytes", r->off, len);
		return false;
	}
	if (left - TF_CHUNK_HDR_LEN < len) {
		stop(r, "truncated: the chunk at offset %zu has %zu of %u bytes", r->off,
		     left - TF_CHUNK_HDR_LEN, len);
		return false;
	}
	if (!crc_ok(c, payload, len)) {
		stop(r, "corrupt: CRC mismatch in the chunk at offset %zu", r->off);
		return false;
	}
	if (get32(c + 4) != r->seq) {
		stop(r, "corrupt: the chunk at offset %zu has sequence number %u, not %u", r->off,
		     get32(c + 4), r->seq);
		return false;
	}
	switch (type) {
	case TF_CHUNK_NAMES:
		ok = parse_names(r, payload, len);
		break;
	case TF_CHUNK_EVENTS:
		ok = check_events(r, payload, payload + len);
		if (ok) {
			r->rec = payload;
			r->rec_end = payload + len;
		}
		break;
	case TF_CHUNK_LOST:
		ok = parse_lost(r, payload, len, &ts);
		if (ok)
			note_time(r, ts);
		break;
	case TF_CHUNK_TRAILER:
		ok = parse_trailer(r, payload, len);
		break;
	case TF_CHUNK_PHASES:
		ok = parse_phases(r, payload, len);
		break;
	case TF_CHUNK_FUNCS:
		ok = parse_funcs(r, payload, len);
		break;
	case TF_CHUNK_PRODUCER:
		ok = parse_producer(r, payload, len);
		break;
	case TF_CHUNK_HEADER:
		ok = false;
		break;
	default:
		/* A chunk type from a later minor revision: skip it. */
		break;
	}
	if (!ok) {
		stop(r, "corrupt: malformed %s chunk at offset %zu",
		     type == TF_CHUNK_HEADER	 ? "(second) header"
		     : type == TF_CHUNK_NAMES	 ? "names"
		     : type == TF_CHUNK_EVENTS	 ? "events"
		     : type == TF_CHUNK_LOST	 ? "lost"
		     : type == TF_CHUNK_PHASES	 ? "phases"
		     : type == TF_CHUNK_FUNCS	 ? "funcs"
		     : type == TF_CHUNK_PRODUCER ? "producer"
						 : "trailer",
		     r->off);
		return false;
	}
	r->off += TF_CHUNK_HDR_LEN + len;
	r->st.good = r->off;
	r->st.chunks++;
	r->seq++;
	return true;
}

int bbs_tfr_next(struct bbs_tf_reader *r, struct bbs_tf_event *ev)
{
	while (r->rec >= r->rec_end) {
		if (r->done || !next_chunk(r)) {
			r->done = true;
			return 0;
		}
	}
	memset(ev, 0, sizeof(*ev));
	switch (r->rec[0]) {
	case TF_REC_BIO:
	case TF_REC_BIO_WIDE:
		ev->type = EV_BIO;
		decode_bio(r, r->rec, &ev->bio);
		r->rec += rec_len(r->rec[0]);
		if (r->rec < r->rec_end && r->rec[0] == TF_REC_LOGICAL) {
			ev->bio.logical = get64(r->rec + 8);
			r->rec += TF_REC_LOGICAL_LEN;
		}
		r->st.bios++;
		note_time(r, ev->bio.endio_end_ns > ev->bio.complete_ns ? ev->bio.endio_end_ns
									: ev->bio.complete_ns);
		return 1;
	case TF_REC_SPAN:
		decode_span(r, r->rec, &ev->span);
		ev->type = ev->span.type;
		r->st.spans++;
		note_time(r, ev->span.end_ns);
		break;
	default: /* TF_REC_STRIPE; check_events() allows nothing else here */
		ev->type = EV_STRIPE;
		decode_stripe(r, r->rec, ev);
		r->st.stripes++;
		note_time(r, ev->stripe.ts_ns);
		break;
	}
	r->rec += rec_len(r->rec[0]);
	return 1;
}

int bbs_tfr_open_mem(struct bbs_tf_reader **out, const void *buf, size_t len, char *err,
		     size_t errlen)
{
	struct bbs_tf_reader *r;
	const uint8_t *p = buf;
	uint32_t clen;
	int ret = -EINVAL;

	if (!len) {
		snprintf(err, errlen, "empty file");
		return -ENODATA;
	}
	if (memcmp(p, TF_MAGIC, len < 8 ? len : 8)) {
		snprintf(err, errlen, "not a bbscope trace (bad magic)");
		return -EINVAL;
	}
	if (len < TF_PREAMBLE_LEN) {
		snprintf(err, errlen, "truncated in the file header (%zu bytes)", len);
		return -EINVAL;
	}
	if (get32(p + 8) != TF_VERSION || get32(p + 12)) {
		snprintf(err, errlen,
			 "unsupported trace format version %u, flags %#x (this bbscope "
			 "reads version %d)",
			 get32(p + 8), get32(p + 12), TF_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (len < TF_PREAMBLE_LEN + TF_CHUNK_HDR_LEN) {
		snprintf(err, errlen, "truncated in the file header (%zu bytes)", len);
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r->buf = p;
	r->len = len;
	r->st.size = len;
	for (int t = 0; t < TF_NR_TABLES; t++)
		if (tab_add(&r->tab[t], 0, (const uint8_t *)"", 0)) {
			snprintf(err, errlen, "out of memory");
			ret = -ENOMEM;
			goto err_free;
		}
	p += TF_PREAMBLE_LEN;
	clen = get32(p + 8);
	if (get32(p) != TF_CHUNK_HEADER || get32(p + 4) != 0 || clen > TF_CHUNK_MAX) {
		snprintf(err, errlen, "corrupt file header");
		goto err_free;
	}
	if (len - TF_PREAMBLE_LEN - TF_CHUNK_HDR_LEN < clen) {
		snprintf(err, errlen, "truncated in the file header (%zu bytes)", len);
		goto err_free;
	}
	if (!crc_ok(p, p + TF_CHUNK_HDR_LEN, clen)) {
		snprintf(err, errlen, "corrupt file header (CRC mismatch)");
		goto err_free;
	}
	if (!parse_header(r, p + TF_CHUNK_HDR_LEN, clen)) {
		snprintf(err, errlen, "malformed file header");
		goto err_free;
	}
	r->off = TF_PREAMBLE_LEN + TF_CHUNK_HDR_LEN + clen;
	r->st.good = r->off;
	r->st.chunks = 1;
	r->st.end_ns = r->hdr.mono_ns;
	r->seq = 1;
	/*
	 * A first chunk that is corrupt (not merely cut short by a killed
	 * recorder) leaves nothing readable: say so, rather than "0 bios".
	 */
	if (!next_chunk(r) && r->st.stopped && !strncmp(r->st.why, "corrupt", 7)) {
		snprintf(err, errlen, "%s: nothing after the file header can be read", r->st.why);
		goto err_free;
	}
	*out = r;
	return 0;

err_free:
	bbs_tfr_close(r);
	return ret;
}

int bbs_tfr_open(struct bbs_tf_reader **out, const char *path, char *err, size_t errlen)
{
	struct stat st;
	void *map = NULL;
	int fd, ret;

	/* O_NONBLOCK: a FIFO is refused below, not waited on in open(). */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		ret = -errno;
		snprintf(err, errlen, "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "not a regular file");
		return -EINVAL;
	}
	if (st.st_size) {
		map = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			ret = -errno;
			snprintf(err, errlen, "cannot map it: %s", strerror(errno));
			close(fd);
			return ret;
		}
	}
	close(fd);
	ret = bbs_tfr_open_mem(out, map, st.st_size, err, errlen);
	if (ret) {
		if (map)
			munmap(map, st.st_size);
		return ret;
	}
	(*out)->map = map;
	return 0;
}

void bbs_tfr_close(struct bbs_tf_reader *r)
{
	if (!r)
		return;
	if (r->map)
		munmap(r->map, r->len);
	for (int t = 0; t < TF_NR_TABLES; t++) {
		for (uint32_t i = 0; i < r->tab[t].n; i++)
			free(r->tab[t].name[i]);
		free(r->tab[t].name);
		free(r->tab[t].value);
	}
	free(r->percpu);
	if (r->funcs)
		free(r->funcs->funcs);
	free(r->funcs);
	free(r);
}

const struct bbs_tf_header *bbs_tfr_header(const struct bbs_tf_reader *r)
{
	return &r->hdr;
}

const struct bbs_tf_status *bbs_tfr_status(const struct bbs_tf_reader *r)
{
	return &r->st;
}

const struct bbs_tf_lost *bbs_tfr_lost(const struct bbs_tf_reader *r)
{
	return &r->lost;
}

const char *bbs_tfr_name(const struct bbs_tf_reader *r, enum tf_table table, uint32_t value)
{
	const struct tf_tab *t;

	if (table >= TF_NR_TABLES)
		return NULL;
	t = &r->tab[table];
	for (uint32_t i = 1; i < t->n; i++)
		if (t->value[i] == value)
			return t->name[i];
	return NULL;
}

void bbs_tfr_warn(const struct bbs_tf_reader *r, const char *path, FILE *f)
{
	const struct bbs_tf_status *st = &r->st;
	const struct bbs_tf_lost *l = &r->lost;
	uint64_t lost = l->other + l->user[TF_LOST_EVICTED];

	if (st->stopped)
		fprintf(f,
			"bbscope: warning: %s: %s; read %llu of %llu bytes (%llu chunks, %llu "
			"bios), the rest is ignored\n",
			path, st->why, (unsigned long long)st->good, (unsigned long long)st->size,
			(unsigned long long)st->chunks, (unsigned long long)st->bios);
	else if (!st->trailer)
		fprintf(f,
			"bbscope: warning: %s has no trailer: the recording did not finish "
			"(killed?); read all %llu bytes (%llu chunks, %llu bios)\n",
			path, (unsigned long long)st->good, (unsigned long long)st->chunks,
			(unsigned long long)st->bios);
	else if (st->why[0])
		fprintf(f, "bbscope: warning: %s: %s\n", path, st->why);
	if (st->end_errno)
		fprintf(f,
			"bbscope: warning: %s: the recording stopped early: %s; %llu records "
			"were not written\n",
			path, strerror(st->end_errno), (unsigned long long)st->unwritten);
	for (int i = 0; i < NR_LOST_BPF; i++)
		lost += l->total[i];
	if (lost) {
		fprintf(f, "bbscope: warning: %s: %llu events were lost while recording\n", path,
			(unsigned long long)lost);
		for (uint32_t c = 0; c < l->ncpus; c++) {
			uint64_t n = 0;

			for (uint32_t i = 0; i < l->nr_reasons; i++)
				n += l->percpu[c * l->nr_reasons + i];
			if (n)
				fprintf(f, "    cpu %u: %llu\n", c, (unsigned long long)n);
		}
		if (l->user[TF_LOST_EVICTED])
			fprintf(f, "    evicted (never completed): %llu\n",
				(unsigned long long)l->user[TF_LOST_EVICTED]);
	}
	if (l->user[TF_LOST_BAD_RECORD])
		fprintf(f,
			"bbscope: warning: %s: %llu ring buffer records of an unknown layout were "
			"dropped while recording\n",
			path, (unsigned long long)l->user[TF_LOST_BAD_RECORD]);
	if (l->user[TF_LOST_NAMES_FULL])
		fprintf(f,
			"bbscope: warning: %s: %llu records name no device, filesystem, comm or "
			"workqueue: a name table was full\n",
			path, (unsigned long long)l->user[TF_LOST_NAMES_FULL]);
}
