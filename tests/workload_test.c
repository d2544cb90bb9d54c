// SPDX-License-Identifier: GPL-2.0
/*
 * Replay workloads: the synthetic spec grammar accepts what --help says and
 * refuses the rest with a reason; seq and rand workloads write every byte of
 * [0, size) exactly once in aligned bios; rand is a permutation that a seed
 * fixes; the trace path keeps only data writes, drops mirror copies and
 * rebases times and offsets, also when read from a trace file; the raid56
 * path keeps only data strip writes, in the full stripe and data strip they
 * wrote, counted from the lowest full stripe, refuses strips of two widths
 * and a recording without any; --timing parses.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tracefile/tracefile.h"
#include "replay/workload.h"

#include "check.h"

static void test_parse_good(void)
{
	static const struct {
		const char *spec;
		uint64_t size, bs;
		enum bbs_wl_pattern pattern;
		uint64_t seed;
	} good[] = {
		{ "size=256M,bs=128K,pattern=seq", 256ULL << 20, 128 << 10, BBS_WL_SEQ, 1 },
		{ "size=256M,bs=128K,pattern=rand,seed=7", 256ULL << 20, 128 << 10, BBS_WL_RAND,
		  7 },
		{ "size=1G", 1ULL << 30, BBS_WL_DEFAULT_BS, BBS_WL_SEQ, BBS_WL_DEFAULT_SEED },
		{ "bs=4K,size=8K", 8192, 4096, BBS_WL_SEQ, 1 },
		{ "seed=0,pattern=rand,size=64MiB,bs=64M", 64ULL << 20, 64 << 20, BBS_WL_RAND, 0 },
		{ "size=4096,bs=4096", 4096, 4096, BBS_WL_SEQ, 1 },
		{ "size=2T,bs=1M", 2ULL << 40, 1 << 20, BBS_WL_SEQ, 1 },
	};
	struct bbs_synth_spec s;
	char err[256];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int ret = bbs_synth_parse(good[i].spec, &s, err, sizeof(err));

		CHECK(ret == 0, "'%s' refused: %s", good[i].spec, err);
		if (ret)
			continue;
		CHECK(s.size == good[i].size && s.bs == good[i].bs &&
			      s.pattern == good[i].pattern && s.seed == good[i].seed,
		      "'%s' parsed as size %llu bs %llu pattern %d seed %llu", good[i].spec,
		      (unsigned long long)s.size, (unsigned long long)s.bs, s.pattern,
		      (unsigned long long)s.seed);
	}
	printf("ok %zu good specs\n", sizeof(good) / sizeof(good[0]));
}

static void test_parse_bad(void)
{
	static const char *const bad[] = {
		"",
		"bs=128K", /* no size */
		"size=0", /* empty */
		"size=256M,bs=100K", /* bs not a multiple of 4K */
		"size=256M,bs=0", /* zero bs */
		"size=256M,bs=128M", /* bs above 64M */
		"size=100K,bs=64K", /* size not a multiple of bs */
		"size=256M,pattern=zigzag",
		"size=256M,seed=-1",
		"size=256M,seed=x",
		"size=256M,size=128M", /* twice */
		"size=256M,depth=4", /* unknown key */
		"size", /* no value */
		"size=",
		"=256M",
		"size=256Q",
		"size=256M,,bs=4K",
		"size=64T,bs=4K", /* 2^34 bios: too many */
		"size=256M,bs=128K,",
	};
	struct bbs_synth_spec s;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		CHECK(bbs_synth_parse(bad[i], &s, err, sizeof(err)) == -1, "'%s' accepted", bad[i]);
		CHECK(err[0], "'%s' refused without a reason", bad[i]);
	}
	printf("ok %zu bad specs refused with a reason\n", sizeof(bad) / sizeof(bad[0]));
}

static int cmp_off(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Every bs slot of [0, size) exactly once, aligned; returns 0 if so. */
static int covers_once(const struct bbs_workload *w, uint64_t size, uint64_t bs)
{
	uint64_t *off = malloc(w->nr * sizeof(*off));
	int bad = 0;

	if (!off)
		return -1;
	for (size_t i = 0; i < w->nr; i++) {
		const struct bbs_wbio *b = &w->bios[i];

		if (b->len != bs || b->offset % bs || b->offset % BBS_WL_BLOCK ||
		    b->offset + b->len > size || b->ts_ns)
			bad = 1;
		off[i] = b->offset;
	}
	qsort(off, w->nr, sizeof(*off), cmp_off);
	for (size_t i = 0; i < w->nr; i++)
		if (off[i] != i * bs)
			bad = 1;
	free(off);
	return bad;
}

static void synth(struct bbs_workload *w, const char *spec)
{
	struct bbs_synth_spec s;
	char err[256];

	bbs_workload_init(w);
	if (bbs_synth_parse(spec, &s, err, sizeof(err)) || bbs_workload_synth(w, &s)) {
		printf("FAIL cannot build '%s': %s\n", spec, err);
		failures++;
	}
}

static void test_synth(void)
{
	struct bbs_workload seq, r1, r2, r3;
	size_t same = 0, moved = 0;

	synth(&seq, "size=64M,bs=128K,pattern=seq");
	CHECK(seq.nr == 512 && seq.bytes == 64 << 20 && seq.span == 64 << 20 &&
		      seq.max_len == 128 << 10 && !seq.timed,
	      "seq: %zu bios, %llu bytes, span %llu", seq.nr, (unsigned long long)seq.bytes,
	      (unsigned long long)seq.span);
	CHECK(!covers_once(&seq, 64 << 20, 128 << 10), "seq covers [0, size) once, aligned");
	for (size_t i = 0; i < seq.nr; i++)
		CHECK(seq.bios[i].offset == i * (128 << 10), "seq bio %zu in order", i);

	synth(&r1, "size=64M,bs=128K,pattern=rand,seed=42");
	synth(&r2, "size=64M,bs=128K,pattern=rand,seed=42");
	synth(&r3, "size=64M,bs=128K,pattern=rand,seed=43");
	CHECK(r1.nr == 512 && r1.bytes == 64 << 20 && r1.span == 64 << 20, "rand totals");
	CHECK(!covers_once(&r1, 64 << 20, 128 << 10), "rand covers [0, size) once, aligned");
	CHECK(!covers_once(&r3, 64 << 20, 128 << 10), "rand (seed 43) covers once");
	CHECK(r1.nr == r2.nr && !memcmp(r1.bios, r2.bios, r1.nr * sizeof(*r1.bios)),
	      "the same seed gives the same order");
	for (size_t i = 0; i < r1.nr; i++) {
		same += r1.bios[i].offset == r3.bios[i].offset;
		moved += r1.bios[i].offset != seq.bios[i].offset;
	}
	CHECK(same < r1.nr / 8, "another seed gives another order (%zu of %zu equal)", same, r1.nr);
	CHECK(moved > r1.nr / 2, "rand is not sequential (%zu of %zu moved)", moved, r1.nr);
	bbs_workload_free(&seq);
	bbs_workload_free(&r1);
	bbs_workload_free(&r2);
	bbs_workload_free(&r3);

	/* Odd sizes: one bio; and bs = 4K with many bios. */
	synth(&seq, "size=4K,bs=4K,pattern=rand");
	CHECK(seq.nr == 1 && seq.bios[0].offset == 0, "a single-bio rand workload");
	bbs_workload_free(&seq);
	synth(&seq, "size=8M,bs=4K,pattern=rand,seed=9");
	CHECK(!covers_once(&seq, 8 << 20, 4096), "4K rand covers once");
	bbs_workload_free(&seq);
	printf("ok seq and rand write [0, size) once, aligned; seeds are deterministic\n");
}

static void test_add(void)
{
	struct bbs_workload w;

	bbs_workload_init(&w);
	CHECK(bbs_workload_add(&w, 0, 0, 0) < 0, "empty bio refused");
	CHECK(bbs_workload_add(&w, 0, 1000, 0) < 0, "length not a multiple of 4K refused");
	CHECK(bbs_workload_add(&w, 100, 4096, 0) < 0, "offset not sector-aligned refused");
	CHECK(bbs_workload_add(&w, 0, BBS_WL_MAX_BIO + 4096, 0) < 0, "huge bio refused");
	CHECK(bbs_workload_add(&w, 512, 4096, 5) == 0, "sector-aligned bio kept");
	CHECK(w.nr == 1 && w.span == 4608 && w.bytes == 4096, "totals of one bio");
	bbs_workload_free(&w);
	printf("ok bbs_workload_add checks alignment and size\n");
}

#define BASE 1000000000000ULL /* a recording's clock base */

/* Records of a raid1/dup recording: what a trace workload keeps of them. */
static const struct bbs_event_bio trace_in[] = {
	/* kept: data write at sector 2048 (1 MiB), t = 1000 */
	{ .type = EV_BIO,
	  .op = BBS_OP_WRITE,
	  .kind = KIND_DATA,
	  .dev = 7,
	  .sector = 2048,
	  .bytes = 8192,
	  .queue_ns = BASE + 1000,
	  .logical = 1 << 30 },
	/* filtered: read, metadata write, superblock */
	{ .type = EV_BIO,
	  .op = BBS_OP_READ,
	  .kind = KIND_DATA,
	  .dev = 7,
	  .sector = 4096,
	  .bytes = 4096,
	  .queue_ns = BASE + 1100 },
	{ .type = EV_BIO,
	  .op = BBS_OP_WRITE,
	  .kind = KIND_METADATA,
	  .dev = 7,
	  .sector = 8192,
	  .bytes = 16384,
	  .queue_ns = BASE + 1200,
	  .logical = 2 << 20 },
	{ .type = EV_BIO,
	  .op = BBS_OP_WRITE,
	  .kind = KIND_SUPER,
	  .dev = 7,
	  .sector = 128,
	  .bytes = 4096,
	  .queue_ns = BASE + 1300 },
	/* mirror copy of the first on another device: dropped */
	{ .type = EV_BIO,
	  .op = BBS_OP_WRITE,
	  .kind = KIND_DATA,
	  .dev = 8,
	  .sector = 6144,
	  .bytes = 8192,
	  .queue_ns = BASE + 1010,
	  .logical = 1 << 30 },
	/* dup copy on the same device elsewhere: dropped */
	{ .type = EV_BIO,
	  .op = BBS_OP_WRITE,
	  .kind = KIND_DATA,
	  .dev = 7,
	  .sector = 10240,
	  .bytes = 8192,
	  .queue_ns = BASE + 1020,
	  .logical = 1 << 30 },
	/* same logical 5 s later (space reused): kept */
	{ .type = EV_BIO,
	  .op = BBS_OP_WRITE,
	  .kind = KIND_DATA,
	  .dev = 7,
	  .sector = 2048,
	  .bytes = 8192,
	  .queue_ns = BASE + 5000000000ULL,
	  .logical = 1 << 30 },
	/* an earlier data write with unknown logical: kept, becomes t = 0 */
	{ .type = EV_BIO,
	  .op = BBS_OP_WRITE,
	  .kind = KIND_DATA,
	  .dev = 7,
	  .sector = 3072,
	  .bytes = 4096,
	  .queue_ns = BASE + 500 },
};
#define NR_TRACE_IN (sizeof(trace_in) / sizeof(trace_in[0]))

static void check_trace_workload(struct bbs_workload *w, const char *how)
{
	CHECK(w->nr == 3, "%s: %zu bios after mirror removal (want 3)", how, w->nr);
	CHECK(w->timed, "%s: a trace workload is timed", how);
	if (w->nr == 3) {
		/* by time; offsets rebased on the lowest (sector 2048 = 1 MiB) */
		CHECK(w->bios[0].ts_ns == 0 && w->bios[0].offset == (3072 - 2048) * 512ULL &&
			      w->bios[0].len == 4096,
		      "%s: first bio: t %llu offset %llu", how,
		      (unsigned long long)w->bios[0].ts_ns, (unsigned long long)w->bios[0].offset);
		CHECK(w->bios[1].ts_ns == 500 && w->bios[1].offset == 0 && w->bios[1].len == 8192,
		      "%s: second bio: t %llu offset %llu", how,
		      (unsigned long long)w->bios[1].ts_ns, (unsigned long long)w->bios[1].offset);
		CHECK(w->bios[2].ts_ns == 5000000000ULL - 500, "%s: third bio keeps its gap", how);
	}
	CHECK(w->bytes == 4096 + 8192 + 8192, "%s: bytes after removal", how);
	CHECK(w->span == (3072 - 2048) * 512ULL + 4096, "%s: span %llu", how,
	      (unsigned long long)w->span);
}

static void test_trace_events(void)
{
	struct bbs_workload w;
	int kept = 0;

	bbs_workload_init(&w);
	for (size_t i = 0; i < NR_TRACE_IN; i++)
		kept += bbs_workload_add_event(&w, &trace_in[i]) == 1;
	CHECK(kept == 5, "%d data writes kept before mirror removal (want 5)", kept);
	CHECK(bbs_workload_finish_trace(&w) == 0, "finish");
	check_trace_workload(&w, "events");
	bbs_workload_free(&w);
	printf("ok traces keep data writes once, by time, rebased\n");
}

/* The same records through a trace file: the tracefile.h reader path. */
static void test_trace_file(void)
{
	struct bbs_event_span span = {
		.type = EV_CSUM,
		.phase = PHASE_CSUM,
		.start_ns = BASE + 10,
		.end_ns = BASE + 20,
	};
	struct bbs_tf_header h = { .mono_ns = BASE, .ncpus = 1 };
	char path[] = "/tmp/workload_test.XXXXXX";
	struct bbs_tf_writer *tw;
	struct bbs_workload w;
	int fd, err;

	fd = mkstemp(path);
	if (fd < 0) {
		printf("FAIL mkstemp: %s\n", strerror(errno));
		failures++;
		return;
	}
	err = bbs_tfw_open(&tw, fd, &h, NULL);
	CHECK(!err, "bbs_tfw_open: %s", strerror(-err));
	if (err)
		goto out;
	for (size_t i = 0; i < NR_TRACE_IN; i++) {
		struct bbs_event_bio e = trace_in[i];

		/* As the tracer fills them: every bio completes after it is queued. */
		e.issue_ns = e.queue_ns + 10;
		e.complete_ns = e.queue_ns + 100;
		err = err ?: bbs_tfw_event(tw, &e, sizeof(e));
	}
	err = err ?: bbs_tfw_event(tw, &span, sizeof(span));
	err = err ?: bbs_tfw_finish(tw, BASE + 6000000000ULL, 0);
	bbs_tfw_free(tw);
	CHECK(!err, "writing the trace: %s", strerror(-err));

	bbs_workload_init(&w);
	CHECK(bbs_workload_load_trace(&w, path) == 0, "bbs_workload_load_trace");
	check_trace_workload(&w, "file");
	bbs_workload_free(&w);

	/* Not a trace: refused. */
	CHECK(ftruncate(fd, 0) == 0 && write(fd, "hello\n", 6) == 6, "rewrite");
	bbs_workload_init(&w);
	CHECK(bbs_workload_load_trace(&w, path) == -1, "a file that is not a trace is refused");
	bbs_workload_free(&w);
	printf("ok a recording's data writes load through the trace reader\n");
out:
	close(fd);
	unlink(path);
}

#define STRIP (64U << 10)
#define L0 (1ULL << 30) /* lowest full stripe of the raid56 records below */
#define FS2 (2 * STRIP) /* a full stripe of raid5 on 3 devices: 2 data strips */

/* raid5 on 3 devices: what a parity workload keeps of the stripe records. */
static const struct bbs_event_stripe strips_in[] = {
	/* kept: data strip 1 of full stripe L0 + 5, 12 KiB at 8 KiB, t = 300 */
	{ .type = EV_STRIPE,
	  .op = BBS_OP_WRITE,
	  .kind = KIND_DATA,
	  .stripe_nr = 1,
	  .nr_data = 2,
	  .real_stripes = 3,
	  .len = 12288,
	  .offset = 8192,
	  .full_stripe = L0 + 5 * FS2,
	  .ts_ns = BASE + 300 },
	/* its P strip: filtered */
	{ .type = EV_STRIPE,
	  .op = BBS_OP_WRITE,
	  .kind = KIND_DATA,
	  .stripe_nr = 2,
	  .nr_data = 2,
	  .real_stripes = 3,
	  .len = 12288,
	  .offset = 8192,
	  .full_stripe = L0 + 5 * FS2,
	  .ts_ns = BASE + 310 },
	/* the rmw's read, a metadata strip write, a strip the kernel did not find
	 * (stripe_nr -1): filtered */
	{ .type = EV_STRIPE,
	  .op = BBS_OP_READ,
	  .kind = KIND_DATA,
	  .stripe_nr = 0,
	  .nr_data = 2,
	  .real_stripes = 3,
	  .len = STRIP,
	  .full_stripe = L0 + 5 * FS2,
	  .ts_ns = BASE + 200 },
	{ .type = EV_STRIPE,
	  .op = BBS_OP_WRITE,
	  .kind = KIND_METADATA,
	  .stripe_nr = 0,
	  .nr_data = 2,
	  .real_stripes = 3,
	  .len = 16384,
	  .full_stripe = L0 - 64 * FS2,
	  .ts_ns = BASE + 50 },
	{ .type = EV_STRIPE,
	  .op = BBS_OP_WRITE,
	  .kind = KIND_DATA,
	  .stripe_nr = 0xff,
	  .nr_data = 2,
	  .real_stripes = 3,
	  .len = 4096,
	  .offset = 0xffffffff,
	  .full_stripe = L0,
	  .ts_ns = BASE + 60 },
	/* kept: a full-stripe write of L0 (the lowest, but not the first seen) */
	{ .type = EV_STRIPE,
	  .op = BBS_OP_WRITE,
	  .kind = KIND_DATA,
	  .stripe_nr = 0,
	  .nr_data = 2,
	  .real_stripes = 3,
	  .len = STRIP,
	  .full_stripe = L0,
	  .ts_ns = BASE + 100 },
	{ .type = EV_STRIPE,
	  .op = BBS_OP_WRITE,
	  .kind = KIND_DATA,
	  .stripe_nr = 1,
	  .nr_data = 2,
	  .real_stripes = 3,
	  .len = STRIP,
	  .full_stripe = L0,
	  .ts_ns = BASE + 101 },
	/* kept: data strip 0 of a full stripe in another chunk, whose start is not
	 * a whole number of full stripes from L0: full stripe 100, rounded down */
	{ .type = EV_STRIPE,
	  .op = BBS_OP_WRITE,
	  .kind = KIND_DATA,
	  .stripe_nr = 0,
	  .nr_data = 2,
	  .real_stripes = 3,
	  .len = 4096,
	  .offset = 61440,
	  .full_stripe = L0 + 100 * FS2 + STRIP,
	  .ts_ns = BASE + 5000000000ULL },
};
#define NR_STRIPS_IN (sizeof(strips_in) / sizeof(strips_in[0]))

static void check_strip_workload(struct bbs_workload *w, const char *how)
{
	static const struct {
		uint64_t offset, ts_ns;
		uint32_t len;
	} want[] = {
		{ 0, 0, STRIP },
		{ STRIP, 1, STRIP },
		{ 5 * FS2 + STRIP + 8192, 200, 12288 },
		{ 100 * FS2 + 61440, 5000000000ULL - 100, 4096 },
	};

	CHECK(w->nr == 4, "%s: %zu strip writes kept (want 4)", how, w->nr);
	CHECK(w->timed && w->nr_data == 2 && w->real_stripes == 3,
	      "%s: timed %d, nr_data %u, real_stripes %u", how, w->timed, w->nr_data,
	      w->real_stripes);
	for (size_t i = 0; i < w->nr && i < 4; i++)
		CHECK(w->bios[i].offset == want[i].offset && w->bios[i].ts_ns == want[i].ts_ns &&
			      w->bios[i].len == want[i].len,
		      "%s: bio %zu at %llu, t %llu, %u bytes; want %llu, t %llu, %u bytes", how, i,
		      (unsigned long long)w->bios[i].offset, (unsigned long long)w->bios[i].ts_ns,
		      w->bios[i].len, (unsigned long long)want[i].offset,
		      (unsigned long long)want[i].ts_ns, want[i].len);
	CHECK(w->bytes == 2 * STRIP + 12288 + 4096, "%s: bytes %llu (data strips only)", how,
	      (unsigned long long)w->bytes);
	CHECK(w->span == 100 * FS2 + STRIP, "%s: span %llu", how, (unsigned long long)w->span);
}

/*
 * Every data strip write lands where the replay's geometry puts the strip it
 * wrote: X / (nr_data * 64 KiB) is its full stripe (counted from the lowest),
 * (X / 64 KiB) mod nr_data its data strip, X mod 64 KiB its offset there.
 */
static void test_strip_mapping(void)
{
	/* raid6 on 5 devices: 3 data strips, full stripes of 192 KiB */
	const uint64_t fs3 = 3 * STRIP, low = (5ULL << 30) + 7 * fs3, top = 40 * 5;
	struct bbs_workload w;
	unsigned int nr = 0;
	int bad = 0;

	bbs_workload_init(&w);
	for (uint64_t f = 1; f < 40; f += 3) {
		for (unsigned int j = 0; j < 5; j++) {
			struct bbs_event_stripe e = {
				.type = EV_STRIPE,
				.op = BBS_OP_WRITE,
				.kind = KIND_DATA,
				.stripe_nr = j,
				.nr_data = 3,
				.real_stripes = 5,
				.len = 4096 * (1 + f % 4),
				.offset = 4096 * (j + f % 5),
				.full_stripe = low + f * fs3,
				/* later f and j first: the workload's order is by time */
				.ts_ns = BASE + top - (f * 5 + j),
			};

			nr += bbs_workload_add_strip(&w, &e) == 1;
		}
	}
	CHECK(nr == 13 * 3, "%u data strips kept of 13 full stripes (want 39: no P, Q)", nr);
	CHECK(bbs_workload_finish_strips(&w) == 0, "finish");
	CHECK(w.nr == 39 && w.nr_data == 3 && w.real_stripes == 5, "%zu bios, nr_data %u", w.nr,
	      w.nr_data);
	for (size_t i = 0; i < w.nr; i++) {
		const struct bbs_wbio *b = &w.bios[i];
		/* the first in time is f = 37, j = 2: key 187 */
		uint64_t key = 187 - b->ts_ns, f = key / 5, j = key % 5;

		bad += b->offset / fs3 != f - 1 || b->offset / STRIP % 3 != j ||
		       b->offset % STRIP != 4096 * (j + f % 5) || b->len != 4096 * (1 + f % 4);
	}
	CHECK(!bad, "%d strip writes not in their full stripe and data strip", bad);
	/* The last in time is the lowest full stripe's (f = 1) strip 0, 4 KiB in. */
	CHECK(w.nr && w.bios[0].ts_ns == 0 && w.bios[w.nr - 1].offset == 4096,
	      "the first in time at t 0, the lowest full stripe at 0");
	bbs_workload_free(&w);
	printf("ok strip writes land in the full stripe and data strip they wrote\n");
}

static void test_strip_events(void)
{
	struct bbs_event_stripe e = strips_in[0];
	struct bbs_workload w, w2;
	int kept = 0;

	bbs_workload_init(&w);
	for (size_t i = 0; i < NR_STRIPS_IN; i++)
		kept += bbs_workload_add_strip(&w, &strips_in[i]) == 1;
	CHECK(kept == 4, "%d data strip writes kept (want 4)", kept);
	/* A chunk of another width (raid5 on 4 devices: 3 data strips) is
	 * refused; raid6 on 4 (2 data strips + P + Q) has the same data layout. */
	e.nr_data = 3;
	e.real_stripes = 4;
	CHECK(bbs_workload_add_strip(&w, &e) == -EXDEV, "another nr_data refused");
	bbs_workload_init(&w2);
	e = strips_in[0];
	CHECK(bbs_workload_add_strip(&w2, &e) == 1, "raid5/3 kept");
	e.real_stripes = 4;
	CHECK(bbs_workload_add_strip(&w2, &e) == 1, "raid6/4 beside it: the same nr_data");
	bbs_workload_free(&w2);
	/* Strips past their 64 KiB, or not whole blocks. */
	e = strips_in[0];
	e.offset = STRIP - 4096;
	e.len = 8192;
	CHECK(bbs_workload_add_strip(&w, &e) == -EINVAL, "a write past its strip refused");
	e.offset = 0;
	e.len = 2 * STRIP;
	CHECK(bbs_workload_add_strip(&w, &e) == -EINVAL, "a write longer than a strip refused");
	e.len = 1000;
	CHECK(bbs_workload_add_strip(&w, &e) == -EINVAL, "a part of a block refused");
	CHECK(bbs_workload_finish_strips(&w) == 0, "finish");
	check_strip_workload(&w, "strip events");
	bbs_workload_free(&w);

	bbs_workload_init(&w);
	CHECK(bbs_workload_finish_strips(&w) == 0 && !w.nr && !w.span && !w.nr_data,
	      "no strips: an empty workload");
	bbs_workload_free(&w);
	printf("ok parity workloads keep data strip writes, not P/Q, reads or metadata\n");
}

/* Strips and bios through a trace file: each loader takes its own records. */
static void test_strip_file(void)
{
	struct bbs_tf_header h = { .mono_ns = BASE, .ncpus = 1 };
	char path[] = "/tmp/workload_test.XXXXXX";
	struct bbs_tf_writer *tw;
	struct bbs_workload w;
	int fd, err;

	fd = mkstemp(path);
	if (fd < 0) {
		printf("FAIL mkstemp: %s\n", strerror(errno));
		failures++;
		return;
	}
	err = bbs_tfw_open(&tw, fd, &h, NULL);
	CHECK(!err, "bbs_tfw_open: %s", strerror(-err));
	if (err)
		goto out;
	for (size_t i = 0; i < NR_STRIPS_IN && !err; i++) {
		err = bbs_tfw_event(tw, &strips_in[i], sizeof(strips_in[i]));
		if (i < NR_TRACE_IN && !err) {
			struct bbs_event_bio e = trace_in[i];

			e.issue_ns = e.queue_ns + 10;
			e.complete_ns = e.queue_ns + 100;
			err = bbs_tfw_event(tw, &e, sizeof(e));
		}
	}
	err = err ?: bbs_tfw_finish(tw, BASE + 6000000000ULL, 0);
	bbs_tfw_free(tw);
	CHECK(!err, "writing the trace: %s", strerror(-err));

	bbs_workload_init(&w);
	CHECK(bbs_workload_load_strips(&w, path) == 0, "bbs_workload_load_strips");
	check_strip_workload(&w, "strip file");
	bbs_workload_free(&w);
	/* The csum path still takes the bios of the same file. */
	bbs_workload_init(&w);
	CHECK(bbs_workload_load_trace(&w, path) == 0, "bbs_workload_load_trace");
	check_trace_workload(&w, "bios beside strips");
	bbs_workload_free(&w);

	/* A recording of bios only (single, raid1): no strips, refused. */
	CHECK(ftruncate(fd, 0) == 0, "truncate");
	err = bbs_tfw_open(&tw, fd, &h, NULL);
	for (size_t i = 0; i < NR_TRACE_IN && !err; i++) {
		struct bbs_event_bio e = trace_in[i];

		e.complete_ns = e.queue_ns + 100;
		err = bbs_tfw_event(tw, &e, sizeof(e));
	}
	err = err ?: bbs_tfw_finish(tw, BASE + 6000000000ULL, 0);
	bbs_tfw_free(tw);
	CHECK(!err, "writing the trace: %s", strerror(-err));
	bbs_workload_init(&w);
	CHECK(bbs_workload_load_strips(&w, path) == -1, "a recording without strips is refused");
	bbs_workload_free(&w);
	printf("ok a recording's data strip writes load through the trace reader\n");
out:
	close(fd);
	unlink(path);
}

static void test_timing(void)
{
	double s;

	CHECK(!bbs_timing_parse("fast", &s) && s == 0, "fast");
	CHECK(!bbs_timing_parse("recorded", &s) && s == 1, "recorded");
	CHECK(!bbs_timing_parse("scale=0.5", &s) && s == 0.5, "scale=0.5");
	CHECK(!bbs_timing_parse("scale=4", &s) && s == 4, "scale=4");
	CHECK(bbs_timing_parse("scale=0", &s), "scale=0 refused");
	CHECK(bbs_timing_parse("scale=", &s), "scale= refused");
	CHECK(bbs_timing_parse("scale=-1", &s), "scale=-1 refused");
	CHECK(bbs_timing_parse("slow", &s), "slow refused");
	printf("ok --timing\n");
}

/*
 * workload_test --write-trace PATH: a recording of 64 data writes of 64 KiB,
 * 5 ms apart, for tests/t_replay.sh to replay with --timing.
 */
static int write_timed_trace(const char *path)
{
	struct bbs_tf_header h = { .mono_ns = BASE, .ncpus = 1 };
	struct bbs_tf_writer *tw = NULL;
	int fd, err;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	err = bbs_tfw_open(&tw, fd, &h, NULL);
	for (int i = 0; i < 64 && !err; i++) {
		struct bbs_event_bio e = {
			.type = EV_BIO,
			.op = BBS_OP_WRITE,
			.kind = KIND_DATA,
			.dev = 7,
			.sector = 8192 + i * 128,
			.bytes = 65536,
			.queue_ns = BASE + i * 5000000ULL,
		};

		e.issue_ns = e.queue_ns + 1000;
		e.complete_ns = e.queue_ns + 50000;
		err = bbs_tfw_event(tw, &e, sizeof(e));
	}
	if (!err)
		err = bbs_tfw_finish(tw, BASE + 64 * 5000000ULL, 0);
	bbs_tfw_free(tw);
	close(fd);
	if (err)
		fprintf(stderr, "%s: %s\n", path, strerror(-err));
	return err ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--write-trace"))
		return write_timed_trace(argv[2]);

	test_parse_good();
	test_parse_bad();
	test_synth();
	test_add();
	test_trace_events();
	test_trace_file();
	test_strip_events();
	test_strip_mapping();
	test_strip_file();
	test_timing();
	printf("%s\n", failures ? "FAIL" : "PASS");
	return failures ? 1 : 0;
}
