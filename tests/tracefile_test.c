// SPDX-License-Identifier: GPL-2.0
/*
 * The trace file format, without root: records written are read back
 * identical (or with their documented rounding); a file cut at every byte
 * offset is read up to its last complete chunk and says why it stopped; every
 * single-bit flip is caught; empty files, bad magic and unknown versions are
 * refused; a failing write leaves a file that ends at a chunk boundary; the
 * phase derivation matches finish_bio() case by case.
 *
 * tracefile_test --seeds DIR writes the fuzzer's seed corpus (tests/fuzz/).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <isa-l/crc.h>

#include "tracefile/tracefile.h"

#include "check.h"

#define BASE 1000000000000ULL /* clock base of the test traces */
#define MAX_EV 1024

/* One record as the ring buffer delivers it, and what reading it back must give. */
struct input {
	uint8_t raw[sizeof(struct bbs_event_bio)];
	size_t len;
	bool bad; /* rejected by the writer, not in the file */
	struct bbs_tf_event want;
};

static struct input in[MAX_EV];
static int nr_in;

static uint64_t rng = 88172645463325252ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* The decoded form of a bio: strings end at their NUL, nothing after. */
static void want_bio(struct input *x, const struct bbs_event_bio *e)
{
	struct bbs_event_bio *w = &x->want.bio;

	x->want.type = EV_BIO;
	*w = *e;
	memset(w->comm, 0, sizeof(w->comm));
	memset(w->wq, 0, sizeof(w->wq));
	memcpy(w->comm, e->comm, strnlen(e->comm, sizeof(e->comm)));
	memcpy(w->wq, e->wq, strnlen(e->wq, sizeof(e->wq)));
	w->comm[sizeof(w->comm) - 1] = 0;
	w->wq[sizeof(w->wq) - 1] = 0;
}

static struct input *add_raw(const void *rec, size_t len)
{
	struct input *x = &in[nr_in++];

	memset(x, 0, sizeof(*x));
	memcpy(x->raw, rec, len < sizeof(x->raw) ? len : sizeof(x->raw));
	x->len = len;
	return x;
}

static void add_bio(const struct bbs_event_bio *e)
{
	want_bio(add_raw(e, sizeof(*e)), e);
}

static struct bbs_event_bio a_bio(int i)
{
	static const char *const comms[] = { "dd", "kworker/u8:3", "btrfs-transacti", "fio", "x" };
	static const char *const wqs[] = { "", "btrfs-endio", "btrfs-endio-meta",
					   "btrfs-endio-write" };
	struct bbs_event_bio e;
	uint64_t q = BASE + 1000 * (uint64_t)i + rnd() % 1000;

	/* Garbage after the strings' NULs, as a ring buffer may hold. */
	memset(&e, 0xa5, sizeof(e));
	e.type = EV_BIO;
	e.op = rnd() % BBS_NR_OPS;
	e.kind = rnd() % NR_KINDS;
	e.flags = rnd() & (BIO_F_META | BIO_F_SYNC | BIO_F_FUA | BIO_F_PREFLUSH | BIO_F_NO_ENDIO);
	e.complete_ctx = rnd() % NR_CTX;
	e.endio_ctx = rnd() % NR_CTX;
	e.cpu_complete = rnd() % 4;
	e.cpu_endio = rnd() % 4;
	e.fs = (0 << 20) | (40 + rnd() % 2);
	e.dev = (7 << 20) | (rnd() % 3);
	e.bytes = 4096 * (1 + rnd() % 32);
	e.pid = 1 + rnd() % 100000;
	e.sector = rnd() % (1ULL << 40);
	e.queue_ns = q;
	e.issue_ns = rnd() % 4 ? q + rnd() % 100000 : 0;
	e.complete_ns = q + 100000 + rnd() % 1000000;
	e.endio_start_ns = rnd() % 4 ? e.complete_ns + rnd() % 50000 : 0;
	e.endio_end_ns = e.endio_start_ns ? e.endio_start_ns + rnd() % 50000 : 0;
	e.logical = rnd() % 3 ? 0 : rnd() % (1ULL << 50);
	snprintf(e.comm, sizeof(e.comm), "%s", comms[rnd() % 5]);
	snprintf(e.wq, sizeof(e.wq), "%s", wqs[rnd() % 4]);
	return e;
}

static void add_span(int phase, uint64_t start, uint64_t dur, uint64_t want_dur)
{
	struct bbs_event_span s;
	struct input *x;

	memset(&s, 0, sizeof(s));
	s.type = phase == PHASE_CSUM ? EV_CSUM : phase == PHASE_ORDERED ? EV_ORDERED : EV_RBIO;
	s.phase = phase;
	s.kind = phase == PHASE_ORDERED ? KIND_DATA : rnd() % 2;
	s.ctx = CTX_TASK;
	s.fs = 41;
	s.cpu = rnd() % 4;
	s.pid = 1234;
	s.start_ns = start;
	s.end_ns = start + dur;
	s.id = 0xffff888812345678ULL; /* a kernel pointer: not recorded */
	x = add_raw(&s, sizeof(s));
	x->want.type = s.type;
	x->want.span = s;
	x->want.span.id = 0;
	x->want.span.end_ns = start + want_dur;
}

static void add_stripe(uint64_t ts)
{
	struct bbs_event_stripe s;
	struct input *x;

	memset(&s, 0, sizeof(s));
	s.type = EV_STRIPE;
	s.op = rnd() % 2;
	s.stripe_nr = rnd() % 4;
	s.nr_data = 2;
	s.real_stripes = 3;
	s.fs = 41;
	s.dev = (7 << 20) | 1;
	s.len = 65536;
	s.offset = 4096;
	s.devid = 2;
	s.full_stripe = 1 << 30;
	s.kind = KIND_METADATA;
	s.ts_ns = ts;
	x = add_raw(&s, sizeof(s));
	x->want.type = EV_STRIPE;
	x->want.stripe = s;
}

/* The test's records: every encoding path at least once. */
static void make_inputs(int nbios)
{
	struct bbs_event_bio e;
	struct input *x;
	uint8_t junk[8] = { 99 };

	nr_in = 0;
	for (int i = 0; i < nbios; i++) {
		add_bio((e = a_bio(i), &e));
		if (i % 17 == 3)
			add_span(PHASE_ORDERED, BASE + 1000 * (uint64_t)i, 777777, 777777);
	}
	/* A delta beyond 2^32 ns: microseconds, truncated. */
	e = a_bio(nbios);
	e.issue_ns = e.queue_ns + 5000000123ULL;
	e.complete_ns = e.queue_ns + 6000000456ULL;
	e.endio_start_ns = e.endio_end_ns = 0;
	x = add_raw(&e, sizeof(e));
	want_bio(x, &e);
	x->want.bio.issue_ns = e.queue_ns + 5000000000ULL;
	x->want.bio.complete_ns = e.queue_ns + 6000000000ULL;
	/* Values only the wide record holds. */
	e = a_bio(nbios + 1);
	e.sector = 1ULL << 50;
	add_bio(&e);
	e = a_bio(nbios + 2);
	e.pid = 1U << 25;
	add_bio(&e);
	e = a_bio(nbios + 3);
	e.issue_ns = e.queue_ns - 5; /* before queue: never from the tracer, kept exactly */
	add_bio(&e);
	e = a_bio(nbios + 4);
	e.flags |= 0x80; /* a BIO_F_ bit from a later tracer */
	add_bio(&e);
	/* An inline end_io and a bio counted at queue (bio-based raid56 strip). */
	e = a_bio(nbios + 5);
	e.flags |= BIO_F_NO_ENDIO;
	e.endio_start_ns = e.endio_end_ns = e.complete_ns;
	add_bio(&e);
	e = a_bio(nbios + 6);
	e.flags = BIO_F_BIO_BASED;
	e.issue_ns = e.complete_ns = e.endio_start_ns = e.endio_end_ns = 0;
	add_bio(&e);
	/* Spans in ns, us and ms. */
	add_span(PHASE_CSUM, BASE + 5, 12345, 12345);
	add_span(PHASE_RMW, BASE + 6, 10000000123ULL, 10000000000ULL);
	add_span(PHASE_RECOVER, BASE + 7, 7200000000123ULL, 7200000000000ULL);
	add_stripe(BASE + 8);
	add_stripe(BASE + 9);
	/* What the writer must refuse and count. */
	x = add_raw(junk, sizeof(junk));
	x->bad = true;
	e = a_bio(0);
	x = add_raw(&e, 10);
	x->bad = true;
	e.op = 7;
	x = add_raw(&e, sizeof(e));
	x->bad = true;
}

static int nr_good(void)
{
	int n = 0;

	for (int i = 0; i < nr_in; i++)
		n += !in[i].bad;
	return n;
}

static struct bbs_tf_header a_header(void)
{
	struct bbs_tf_header h;

	memset(&h, 0, sizeof(h));
	h.mono_ns = BASE;
	h.real_ns = 1700000000123456789ULL;
	h.ncpus = 4;
	h.phase_unavailable = 1 << PHASE_CSUM;
	h.filter_fs = 41;
	snprintf(h.kernel, sizeof(h.kernel), "6.18.0-test");
	snprintf(h.host, sizeof(h.host), "testhost");
	snprintf(h.command, sizeof(h.command), "dd if=/dev/zero of=x");
	h.nr_syms = 2;
	h.syms[0].addr = 0xffffffff81000000ULL;
	snprintf(h.syms[0].name, sizeof(h.syms[0].name), "btrfs_simple_end_io");
	h.syms[1].addr = 0xffffffff81000100ULL;
	snprintf(h.syms[1].name, sizeof(h.syms[1].name), "simple_end_io_work");
	return h;
}

static const char *resolve(enum tf_table t, uint32_t v, char *buf, size_t len)
{
	snprintf(buf, len, t == TF_DEV ? "dev%u" : "/mnt/fs%u", v & 0xfffff);
	return buf;
}

/* Write the inputs to fd, a flush every `every` records (0: only when full). */
static int write_trace(int fd, int every, bool finish)
{
	struct bbs_tf_header h = a_header();
	uint32_t fs = 41, dev = 7 << 20;
	struct bbs_tf_wopts o = {
		.resolve = resolve, .fs = &fs, .nr_fs = 1, .dev = &dev, .nr_dev = 1
	};
	uint64_t percpu[4 * NR_LOST_BPF] = { 0 };
	struct bbs_tf_writer *w;
	int err;

	err = bbs_tfw_open(&w, fd, &h, &o);
	if (err)
		return err;
	for (int i = 0; i < nr_in && !err; i++) {
		err = bbs_tfw_event(w, in[i].raw, in[i].len);
		if (!err && every && i % every == every - 1) {
			percpu[(i % 4) * NR_LOST_BPF + LOST_RINGBUF] += i;
			bbs_tfw_set_lost(w, BASE + i, percpu, 4, NR_LOST_BPF, i / every,
					 i / every / 2);
			err = bbs_tfw_flush(w);
		}
	}
	if (finish) {
		percpu[3 * NR_LOST_BPF + LOST_BIO_MAP_FULL] = 5;
		bbs_tfw_set_lost(w, BASE + 1, percpu, 4, NR_LOST_BPF, 99, 7);
		err = err ?: bbs_tfw_finish(w, BASE + 123456789, 0);
	} else {
		err = err ?: bbs_tfw_flush(w);
	}
	bbs_tfw_free(w);
	return err;
}

static uint8_t *file_bytes(int fd, size_t *len)
{
	struct stat st;
	uint8_t *b;

	fstat(fd, &st);
	b = malloc(st.st_size ? st.st_size : 1);
	if (pread(fd, b, st.st_size, 0) != st.st_size)
		*len = 0;
	else
		*len = st.st_size;
	return b;
}

static uint8_t *make_file(int every, bool finish, size_t *len)
{
	int fd = memfd_create("trace", 0);
	uint8_t *b;

	CHECK(fd >= 0 && !write_trace(fd, every, finish), "write the test trace");
	b = file_bytes(fd, len);
	close(fd);
	return b;
}

static bool same_event(const struct bbs_tf_event *a, const struct bbs_tf_event *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case EV_BIO:
		return !memcmp(&a->bio, &b->bio, sizeof(a->bio));
	case EV_STRIPE:
		return !memcmp(&a->stripe, &b->stripe, sizeof(a->stripe));
	default:
		return !memcmp(&a->span, &b->span, sizeof(a->span));
	}
}

/* Read everything; returns the number of records, -1 if refused. */
static int read_all(const uint8_t *b, size_t len, struct bbs_tf_reader **rp, bool *prefix_ok)
{
	struct bbs_tf_reader *r;
	struct bbs_tf_event ev;
	char err[256];
	int n = 0, k = 0;

	*prefix_ok = true;
	if (bbs_tfr_open_mem(&r, b, len, err, sizeof(err)))
		return -1;
	while (bbs_tfr_next(r, &ev) == 1) {
		while (k < nr_in && in[k].bad)
			k++;
		if (k >= nr_in || !same_event(&ev, &in[k].want))
			*prefix_ok = false;
		k++;
		n++;
	}
	*rp = r;
	return n;
}

static void test_crc(void)
{
	unsigned char v[] = "123456789";

	CHECK((~crc32_iscsi(v, 9, ~0U)) == 0xe3069283, "crc32c(123456789) = 0xe3069283");
	printf("ok crc32c convention\n");
}

static void test_round_trip(void)
{
	struct bbs_tf_reader *r;
	const struct bbs_tf_header *h;
	const struct bbs_tf_status *st;
	const struct bbs_tf_lost *l;
	struct bbs_tf_header want = a_header();
	size_t len;
	uint8_t *b;
	bool ok;
	int n;

	make_inputs(300);
	b = make_file(0, true, &len);
	n = read_all(b, len, &r, &ok);
	CHECK(n == nr_good(), "read %d records, wrote %d", n, nr_good());
	CHECK(ok, "records read back as written");
	h = bbs_tfr_header(r);
	st = bbs_tfr_status(r);
	l = bbs_tfr_lost(r);
	CHECK(h->mono_ns == want.mono_ns && h->real_ns == want.real_ns && h->ncpus == 4 &&
		      h->phase_unavailable == want.phase_unavailable && h->filter_fs == 41 &&
		      !strcmp(h->kernel, want.kernel) && !strcmp(h->host, want.host) &&
		      !strcmp(h->command, want.command) && h->nr_syms == 2 &&
		      h->syms[1].addr == want.syms[1].addr &&
		      !strcmp(h->syms[1].name, want.syms[1].name),
	      "header fields round trip");
	CHECK(st->trailer && !st->stopped && !st->why[0] && st->good == len,
	      "complete file: trailer, nothing left (%s)", st->why);
	CHECK(st->end_ns == BASE + 123456789, "end time from the trailer");
	CHECK(l->seen && l->ncpus == 4 && l->total[LOST_BIO_MAP_FULL] == 5 &&
		      l->percpu[3 * NR_LOST_BPF + LOST_BIO_MAP_FULL] == 5 &&
		      l->user[TF_LOST_EVICTED] == 99 && l->user[TF_LOST_BAD_RECORD] == 3 &&
		      l->user[TF_LOST_SKIPPED_RUNS] == 7,
	      "lost counters: per CPU, evicted, bad records, skipped runs (%llu)",
	      (unsigned long long)l->user[TF_LOST_BAD_RECORD]);
	CHECK(!strcmp(bbs_tfr_name(r, TF_FS, 41), "/mnt/fs41") &&
		      !strcmp(bbs_tfr_name(r, TF_DEV, 7 << 20), "dev0") &&
		      !strcmp(bbs_tfr_name(r, TF_DEV, (7 << 20) | 2), "dev2") &&
		      !bbs_tfr_name(r, TF_DEV, 12345),
	      "names from the header and the names chunks");
	printf("ok round trip: %d records, %zu bytes, %.1f bytes per record\n", n, len,
	       (double)len / n);
	bbs_tfr_close(r);
	free(b);
}

/* Bytes per bio of plain 4 KiB writes: the format's promise is <= 48. */
static void test_size(void)
{
	int fd = memfd_create("size", 0);
	struct bbs_tf_header h = a_header();
	struct bbs_tf_writer *w;
	struct bbs_tf_wstats s;

	bbs_tfw_open(&w, fd, &h, NULL);
	for (int i = 0; i < 100000; i++) {
		struct bbs_event_bio e = a_bio(i);

		e.logical = 0;
		bbs_tfw_event(w, &e, sizeof(e));
	}
	bbs_tfw_finish(w, BASE + 200000000, 0);
	bbs_tfw_stats(w, &s);
	CHECK((double)s.bytes / s.bios <= 48.5, "%.2f bytes per bio", (double)s.bytes / s.bios);
	CHECK(s.wide == 0, "no wide records for ordinary bios");
	printf("ok %.2f bytes per bio on disk (100000 bios, %llu chunks)\n",
	       (double)s.bytes / s.bios, (unsigned long long)s.chunks);
	bbs_tfw_free(w);
	close(fd);
}

/* Chunk boundaries of a well-formed file. */
static int chunk_ends(const uint8_t *b, size_t len, size_t *ends, int max)
{
	size_t off = TF_PREAMBLE_LEN;
	int n = 0;

	while (off + TF_CHUNK_HDR_LEN <= len && n < max) {
		uint32_t clen = b[off + 8] | b[off + 9] << 8 | b[off + 10] << 16 |
				(uint32_t)b[off + 11] << 24;

		off += TF_CHUNK_HDR_LEN + clen;
		ends[n++] = off;
	}
	return n;
}

static void test_truncation(void)
{
	size_t len, ends[4096];
	int nends, prev = 0, refused = 0, bad = 0;
	uint8_t *b;

	make_inputs(60);
	b = make_file(7, true, &len);
	nends = chunk_ends(b, len, ends, 4096);
	CHECK(nends > 10 && ends[nends - 1] == len, "%d chunks end at the file's end", nends);
	for (size_t k = 0; k <= len; k++) {
		struct bbs_tf_reader *r = NULL;
		const struct bbs_tf_status *st;
		size_t last = 0;
		bool ok, boundary = false;
		uint8_t *copy = malloc(k ? k : 1);
		int n;

		/* A copy of exactly k bytes, so ASan sees any read past the end. */
		memcpy(copy, b, k);
		for (int i = 0; i < nends; i++) {
			if (ends[i] <= k)
				last = ends[i];
			boundary |= ends[i] == k;
		}
		n = read_all(copy, k, &r, &ok);
		if (n < 0) {
			refused++;
			CHECK(k < ends[0], "refused at %zu bytes, after the header", k);
			free(copy);
			continue;
		}
		st = bbs_tfr_status(r);
		if (!ok || n < prev || st->good != last || st->stopped == boundary ||
		    st->trailer != (k == len)) {
			if (bad++ < 5)
				CHECK(0,
				      "cut at %zu: %d records (before %d), good %llu of last chunk "
				      "end %zu, "
				      "stopped %d, trailer %d: %s",
				      k, n, prev, (unsigned long long)st->good, last, st->stopped,
				      st->trailer, st->why);
		}
		prev = n;
		bbs_tfr_close(r);
		free(copy);
	}
	CHECK(prev == nr_good(), "whole file gives every record");
	printf("ok cut at each of %zu offsets: refused %d (inside the header), else read to the "
	       "last "
	       "complete chunk\n",
	       len + 1, refused);
	free(b);
}

static void test_bit_flips(void)
{
	size_t len;
	uint8_t *b;
	long flips = 0, missed = 0, wrong = 0;

	make_inputs(20);
	b = make_file(5, true, &len);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			struct bbs_tf_reader *r = NULL;
			const struct bbs_tf_status *st;
			bool ok;
			int n;

			b[i] ^= 1 << bit;
			n = read_all(b, len, &r, &ok);
			flips++;
			if (n >= 0) {
				st = bbs_tfr_status(r);
				if (!st->stopped && st->trailer)
					missed++;
				if (!ok)
					wrong++;
				bbs_tfr_close(r);
			}
			b[i] ^= 1 << bit;
		}
	}
	CHECK(!missed, "%ld of %ld bit flips not noticed", missed, flips);
	CHECK(!wrong, "%ld of %ld bit flips gave records that were not written", wrong, flips);
	printf("ok %ld single-bit flips: every one refused or stopped at its chunk\n", flips);
	free(b);
}

static void test_refused(void)
{
	struct bbs_tf_reader *r;
	char err[256];
	size_t len;
	uint8_t *b;
	int ret;

	ret = bbs_tfr_open_mem(&r, "", 0, err, sizeof(err));
	CHECK(ret == -ENODATA, "empty: %d %s", ret, err);
	ret = bbs_tfr_open_mem(&r, "BBSTRACX\1\0\0\0\0\0\0\0", 16, err, sizeof(err));
	CHECK(ret == -EINVAL && strstr(err, "magic"), "bad magic: %s", err);
	ret = bbs_tfr_open_mem(&r, "PK\3\4", 4, err, sizeof(err));
	CHECK(ret == -EINVAL && strstr(err, "magic"), "short, bad magic: %s", err);
	ret = bbs_tfr_open_mem(&r, "BBST", 4, err, sizeof(err));
	CHECK(ret == -EINVAL && strstr(err, "truncated"), "short, good magic: %s", err);
	make_inputs(5);
	b = make_file(0, true, &len);
	b[8] = 2;
	ret = bbs_tfr_open_mem(&r, b, len, err, sizeof(err));
	CHECK(ret == -EPROTONOSUPPORT && strstr(err, "version 2"), "version 2: %s", err);
	b[8] = 1;
	b[12] = 1;
	ret = bbs_tfr_open_mem(&r, b, len, err, sizeof(err));
	CHECK(ret == -EPROTONOSUPPORT, "unknown flags: %s", err);
	b[12] = 0;
	ret = bbs_tfr_open_mem(&r, b, len, err, sizeof(err));
	CHECK(!ret, "restored file opens: %s", err);
	if (!ret)
		bbs_tfr_close(r);
	free(b);
	printf("ok empty, bad magic, unknown version and flags refused\n");
}

/* A write that fails half way (EFBIG here, ENOSPC in life) leaves whole chunks only. */
static void test_write_failure(void)
{
	char path[] = "/tmp/bbscope-tf.XXXXXX";
	struct bbs_tf_header h = a_header();
	struct rlimit old, lim;
	struct bbs_tf_writer *w;
	struct bbs_tf_wstats s;
	struct bbs_tf_reader *r;
	const struct bbs_tf_status *st;
	struct bbs_tf_event ev;
	int fd, err = 0, i, n = 0;
	char msg[256];
	struct stat sb;

	fd = mkstemp(path);
	unlink(path);
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 100000;
	setrlimit(RLIMIT_FSIZE, &lim);
	bbs_tfw_open(&w, fd, &h, NULL);
	for (i = 0; i < 100000 && !err; i++) {
		struct bbs_event_bio e = a_bio(i);

		err = bbs_tfw_event(w, &e, sizeof(e));
	}
	CHECK(err == -EFBIG, "write fails with EFBIG: %d", err);
	bbs_tfw_event(w, &in[0].raw, in[0].len);
	err = bbs_tfw_finish(w, BASE + 5, 0);
	bbs_tfw_stats(w, &s);
	setrlimit(RLIMIT_FSIZE, &old);
	CHECK(!err, "the trailer still fits once the half chunk is cut off: %d", err);
	fstat(fd, &sb);
	CHECK((uint64_t)sb.st_size == s.bytes, "file is %lld bytes, writer says %llu",
	      (long long)sb.st_size, (unsigned long long)s.bytes);
	CHECK(s.unwritten > 0 && s.bios + s.unwritten == (uint64_t)i + 1,
	      "%llu written + %llu unwritten == %d accepted", (unsigned long long)s.bios,
	      (unsigned long long)s.unwritten, i + 1);
	{
		size_t len;
		uint8_t *b = file_bytes(fd, &len);

		CHECK(!bbs_tfr_open_mem(&r, b, len, msg, sizeof(msg)), "readable: %s", msg);
		while (bbs_tfr_next(r, &ev) == 1)
			n++;
		st = bbs_tfr_status(r);
		CHECK(!st->stopped && st->trailer && st->end_errno == EFBIG &&
			      st->unwritten == s.unwritten && (uint64_t)n == s.bios,
		      "ends at a chunk boundary with a trailer saying EFBIG, %llu unwritten, "
		      "%d bios read (%s)",
		      (unsigned long long)st->unwritten, n, st->why);
		bbs_tfr_close(r);
		free(b);
	}
	bbs_tfw_free(w);
	close(fd);
	printf("ok failed write: file ends at a chunk, trailer records EFBIG and %llu unwritten\n",
	       (unsigned long long)s.unwritten);
}

/* More names than a compact record can index: wide records, still exact. */
static void test_many_names(void)
{
	int fd = memfd_create("names", 0);
	struct bbs_tf_header h = a_header();
	struct bbs_tf_writer *w;
	struct bbs_tf_reader *r;
	struct bbs_tf_event ev;
	struct bbs_tf_wstats s;
	char msg[128];
	size_t len;
	uint8_t *b;
	int n = 0, bad = 0;

	bbs_tfw_open(&w, fd, &h, NULL);
	for (int i = 0; i < 70000; i++) {
		struct bbs_event_bio e = a_bio(i);

		e.fs = 1 + i % 300;
		snprintf(e.comm, sizeof(e.comm), "c%d", i);
		bbs_tfw_event(w, &e, sizeof(e));
	}
	bbs_tfw_finish(w, BASE, 0);
	bbs_tfw_stats(w, &s);
	b = file_bytes(fd, &len);
	CHECK(!bbs_tfr_open_mem(&r, b, len, msg, sizeof(msg)), "%s", msg);
	while (bbs_tfr_next(r, &ev) == 1) {
		char want[16];

		snprintf(want, sizeof(want), "c%d", n);
		if (ev.bio.fs != 1 + (uint32_t)n % 300 ||
		    (n < 65534 && strcmp(ev.bio.comm, want)) || (n >= 65534 && ev.bio.comm[0]))
			bad++;
		n++;
	}
	CHECK(n == 70000 && !bad, "%d bios, %d with the wrong fs or comm", n, bad);
	CHECK(s.wide > 0, "fs index >= 256 uses the wide record");
	CHECK(bbs_tfr_lost(r)->user[TF_LOST_NAMES_FULL] == 70000 - 65534,
	      "a full comm table is counted: %llu",
	      (unsigned long long)bbs_tfr_lost(r)->user[TF_LOST_NAMES_FULL]);
	bbs_tfr_close(r);
	bbs_tfw_free(w);
	free(b);
	close(fd);
	printf("ok 300 filesystems, 70000 comms: wide records, full table counted\n");
}

static void test_phases(void)
{
	struct bbs_event_bio e;
	struct bbs_bio_phases p;
	struct bbs_event_span s;
	struct bbs_group g;

	/* Request-based, end_io work item. */
	memset(&e, 0, sizeof(e));
	e.queue_ns = 100;
	e.issue_ns = 150;
	e.complete_ns = 400;
	e.endio_start_ns = 450;
	e.endio_end_ns = 700;
	bbs_bio_phases(&e, &p);
	CHECK(p.have == ((1 << PHASE_QUEUE) | (1 << PHASE_DEVICE) | (1 << PHASE_HOP) |
			 (1 << PHASE_ENDIO) | (1 << PHASE_TOTAL)) &&
		      p.ns[PHASE_QUEUE] == 50 && p.ns[PHASE_DEVICE] == 250 &&
		      p.ns[PHASE_HOP] == 50 && p.ns[PHASE_ENDIO] == 250 &&
		      p.ns[PHASE_TOTAL] == 600 && p.complete_ctx && p.endio_ctx,
	      "request-based bio");
	/* Request-based without an issue seen: no queue, no device. */
	e.issue_ns = 0;
	bbs_bio_phases(&e, &p);
	CHECK(p.have == ((1 << PHASE_HOP) | (1 << PHASE_ENDIO) | (1 << PHASE_TOTAL)), "no issue");
	/* Bio-based: device from queue. */
	e.flags = BIO_F_BIO_BASED;
	bbs_bio_phases(&e, &p);
	CHECK((p.have & (1 << PHASE_DEVICE)) && !(p.have & (1 << PHASE_QUEUE)) &&
		      p.ns[PHASE_DEVICE] == 300,
	      "bio-based bio");
	/* raid56 strip ending inline: total to completion, no hop, no endio. */
	memset(&e, 0, sizeof(e));
	e.flags = BIO_F_NO_ENDIO;
	e.queue_ns = 100;
	e.issue_ns = 120;
	e.complete_ns = 300;
	bbs_bio_phases(&e, &p);
	CHECK(p.have == ((1 << PHASE_QUEUE) | (1 << PHASE_DEVICE) | (1 << PHASE_TOTAL)) &&
		      p.ns[PHASE_TOTAL] == 200 && p.complete_ctx && p.endio_ctx,
	      "inline strip");
	/* A btrfs_bio whose end_io ran inline (kernels without end_io work items). */
	e.endio_start_ns = e.endio_end_ns = e.complete_ns;
	bbs_bio_phases(&e, &p);
	CHECK(p.have == ((1 << PHASE_QUEUE) | (1 << PHASE_DEVICE) | (1 << PHASE_TOTAL)) &&
		      p.ns[PHASE_TOTAL] == 200 && p.endio_ctx,
	      "inline end_io: no hop, no endio");
	/* Counted at queue (bio-based strip): stats only. */
	memset(&e, 0, sizeof(e));
	e.flags = BIO_F_BIO_BASED;
	e.queue_ns = 100;
	bbs_bio_phases(&e, &p);
	CHECK(!p.have && !p.complete_ctx && !p.endio_ctx, "counted at queue");
	/* Spans: recover is a read, everything else a write; ordered is data. */
	memset(&s, 0, sizeof(s));
	s.fs = 9;
	s.phase = PHASE_RECOVER;
	s.kind = KIND_METADATA;
	bbs_span_group(&s, &g);
	CHECK(g.fs == 9 && !g.dev && g.op == BBS_OP_READ && g.kind == KIND_METADATA, "recover");
	s.phase = PHASE_ORDERED;
	bbs_span_group(&s, &g);
	CHECK(g.op == BBS_OP_WRITE && g.kind == KIND_DATA, "ordered");
	printf("ok phases derived as finish_bio() does\n");
}

/* The fuzzer's seed corpus: small valid files and the edge cases. */
static int write_seeds(const char *dir)
{
	static const struct {
		const char *name;
		int nbios, every;
		bool finish;
		long cut; /* >0: keep this many bytes, <0: drop this many */
	} seeds[] = {
		{ "valid-small.bbt", 12, 4, true, 0 },	{ "valid-one-chunk.bbt", 30, 0, true, 0 },
		{ "no-trailer.bbt", 10, 3, false, 0 },	{ "truncated.bbt", 10, 3, true, -37 },
		{ "header-only.bbt", -1, 0, false, 0 },
	};
	char path[4096];
	size_t len;
	uint8_t *b;
	FILE *f;

	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		make_inputs(seeds[i].nbios > 0 ? seeds[i].nbios : 0);
		if (seeds[i].nbios < 0)
			nr_in = 0;
		b = make_file(seeds[i].every, seeds[i].finish, &len);
		if (seeds[i].cut < 0)
			len -= -seeds[i].cut;
		snprintf(path, sizeof(path), "%s/%s", dir, seeds[i].name);
		f = fopen(path, "w");
		if (!f || fwrite(b, 1, len, f) != len || fclose(f)) {
			perror(path);
			return 1;
		}
		free(b);
	}
	snprintf(path, sizeof(path), "%s/empty.bbt", dir);
	f = fopen(path, "w");
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "%s/bad-version.bbt", dir);
	f = fopen(path, "w");
	if (f) {
		fwrite("BBSTRACE\x02\0\0\0\0\0\0\0", 1, 16, f);
		fclose(f);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--seeds"))
		return write_seeds(argv[2]);
	test_crc();
	test_phases();
	test_round_trip();
	test_size();
	test_refused();
	test_truncation();
	test_bit_flips();
	test_write_failure();
	test_many_names();
	if (failures) {
		printf("%d failures\n", failures);
		return 1;
	}
	printf("all passed\n");
	return 0;
}
