// SPDX-License-Identifier: GPL-2.0
/*
 * The trace file's reader (docs/format.md): what `report`, `export`, `diff`
 * and the fuzzer use.
 *
 * The reader trusts nothing: every length is checked against what is left,
 * every chunk's CRC32C is checked before its payload is looked at, every
 * name index against its table, every enum against its range (callers index
 * arrays with them).  Reading stops at the first chunk that fails a check
 * and says why; what came before it is returned.  tracefile/wire.h is the
 * encoding it shares with the writer (tracefile/write.c).
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
	if (l->user[TF_LOST_SKIPPED_RUNS])
		fprintf(f,
			"bbscope: warning: %s: the kernel skipped %llu runs of bbscope's programs "
			"while recording (recursion_misses): a bio may be missing or partly "
			"timed\n",
			path, (unsigned long long)l->user[TF_LOST_SKIPPED_RUNS]);
}
