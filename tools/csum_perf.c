// SPDX-License-Identifier: GPL-2.0
/*
 * csum_perf: throughput of user/btrfs/csum.c on one core, in GB/s of data
 * checksummed (10^9 bytes a second), beside memcpy on the same buffers.
 *
 *   memcpy   each 4 KiB block copied into one 4 KiB buffer that stays in L1:
 *            it reads the source exactly as a checksum does, so it is the
 *            rate memory can feed a checksum (the limit), without the store
 *            traffic of a large copy
 *   read     XOR of every 16-byte word of each block: the bare rate at
 *            which this core reads memory, the other limit
 *   crc32c, xxhash, sha256, blake2
 *            bbs_csum_blocks() on 4 KiB blocks, 64 KiB (one bio) per call
 *
 * Warm: one 64 KiB buffer (in L2, not in L1) over and over.  Cold: a buffer
 * of 1 GiB (at least 8 times the last-level cache), written once before any
 * timing; each cold trial reads on from where the previous trial of any
 * subject stopped, so what it reads was last touched a whole buffer ago.
 * Subjects alternate trial by trial (memcpy, crc32c, xxhash, ..., memcpy,
 * crc32c, ...), so drift on a noisy machine hits all of them alike; each
 * result is the median of the trials, with min and max.
 *
 * Then ISA-L's crc32c alone, warm: crc32_iscsi (the multibinary dispatcher)
 * beside each implementation the library exports (found with dlsym, as they
 * are not in its headers), and crc32_iscsi at several call sizes, which
 * shows its fixed cost per call.
 *
 *   csum_perf [--quick] [--json | --table] [--reps N] [--cold-size SIZE]
 *
 * Output: one JSON object (machine, params, results, isal_crc32c, targets),
 * or with --table a plain table.  --quick is a smoke test: 3 short trials,
 * a cold buffer of twice the last-level cache.
 */
#include <ctype.h>
#include <dlfcn.h>
#include <getopt.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <jansson.h>

#include <isa-l/crc.h>

#include "btrfs/csum.h"
#include "host/machine.h"
#include "host/median.h"
#include "host/util.h"

#define BLOCK 4096 /* btrfs sector size on x86 */
#define BIO_BYTES 65536 /* bytes per bbs_csum_blocks() call */
#define WARM_BYTES 65536
#define MAX_REPS 101
#define MAX_SUBJECTS 16
#define TARGET_CRC32C_WARM 55.0 /* GB/s, from the issue */
#define TARGET_COLD_RATIO 0.9 /* cold crc32c within 10% of cold memcpy */

typedef unsigned int (*isal_crc_fn)(unsigned char *buf, int len, unsigned int init);

struct opts {
	bool quick;
	bool table;
	unsigned int reps;
	uint64_t warm_ns; /* length of one warm trial */
	uint64_t cold_ns; /* length of one cold trial, at least 4 LLCs read */
	size_t cold_bytes;
	size_t llc;
};

enum kind { MEMCPY, READ, CSUM, ISAL };

typedef uint64_t u64x2 __attribute__((vector_size(16)));

struct subject {
	const char *name;
	enum kind kind;
	enum bbs_csum_type type; /* CSUM */
	isal_crc_fn fn; /* ISAL */
	size_t call; /* ISAL: bytes per call */
	unsigned long warm_iters;
	size_t cold_len;
	double warm[MAX_REPS], cold[MAX_REPS];
};

static uint8_t *cold_buf, *warm_buf;
static size_t cold_pos; /* where the next cold trial starts */
static volatile uint32_t sink;

/* Stay on the CPU we started on: one core, no migrations mid-trial. */
static int pin_cpu(void)
{
	cpu_set_t set;
	int cpu = sched_getcpu();

	if (cpu < 0)
		return -1;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return -1;
	return cpu;
}

/* ---- trials ---- */

/* Run a subject over len bytes at p (len a multiple of BIO_BYTES). */
static void pass(const struct subject *s, uint8_t *p, size_t len)
{
	static uint8_t l1[BLOCK] __attribute__((aligned(64)));
	uint8_t out[BIO_BYTES / BLOCK * BBS_CSUM_MAX];
	uint32_t acc = 0;

	switch (s->kind) {
	case MEMCPY:
		for (size_t off = 0; off < len; off += BLOCK) {
			memcpy(l1, p + off, BLOCK);
			/* The copy must happen: l1 escapes to the compiler. */
			__asm__ volatile("" : : "r"(l1) : "memory");
		}
		acc = l1[0];
		break;
	case READ: {
		u64x2 a0 = { 0 }, a1 = { 0 }, a2 = { 0 }, a3 = { 0 };

		for (size_t off = 0; off < len; off += 64) {
			const u64x2 *q = (const u64x2 *)(p + off);

			a0 ^= q[0];
			a1 ^= q[1];
			a2 ^= q[2];
			a3 ^= q[3];
		}
		a0 ^= a1 ^ a2 ^ a3;
		acc = (uint32_t)a0[0];
		break;
	}
	case CSUM:
		for (size_t off = 0; off < len; off += BIO_BYTES)
			bbs_csum_blocks(s->type, p + off, BIO_BYTES, BLOCK, out);
		acc = out[0];
		break;
	case ISAL:
		for (size_t off = 0; off < len; off += s->call)
			acc += s->fn(p + off, (int)s->call, ~0U);
		break;
	}
	sink += acc;
}

static double gbps(size_t bytes, uint64_t ns)
{
	return (double)bytes / (double)(ns ? ns : 1);
}

static double warm_trial(const struct subject *s)
{
	uint64_t t0 = bbs_now_ns();

	for (unsigned long i = 0; i < s->warm_iters; i++)
		pass(s, warm_buf, WARM_BYTES);
	return gbps(WARM_BYTES * s->warm_iters, bbs_now_ns() - t0);
}

static double cold_trial(const struct subject *s, const struct opts *o)
{
	size_t done = 0;
	uint64_t t0 = bbs_now_ns();

	while (done < s->cold_len) {
		size_t n = o->cold_bytes - cold_pos;

		if (n > s->cold_len - done)
			n = s->cold_len - done;
		pass(s, cold_buf + cold_pos, n);
		done += n;
		cold_pos = (cold_pos + n) % o->cold_bytes;
	}
	return gbps(done, bbs_now_ns() - t0);
}

/*
 * Size each subject's trials: warm, enough passes for about warm_ns; cold,
 * enough bytes for about cold_ns at the warm rate, at least 4 LLCs and at
 * most the whole buffer, in whole bios.
 */
static void calibrate(struct subject *s, const struct opts *o)
{
	uint64_t t0;
	double rate;

	s->warm_iters = 1;
	for (;;) {
		t0 = bbs_now_ns();
		warm_trial(s);
		if (bbs_now_ns() - t0 >= o->warm_ns / 2)
			break;
		s->warm_iters *= 2;
	}
	s->warm_iters *= 2;
	rate = warm_trial(s); /* bytes per ns */
	s->cold_len = (size_t)(rate * (double)o->cold_ns);
	if (s->cold_len < 4 * o->llc)
		s->cold_len = 4 * o->llc;
	if (s->cold_len > o->cold_bytes)
		s->cold_len = o->cold_bytes;
	s->cold_len -= s->cold_len % BIO_BYTES;
	if (!s->cold_len)
		s->cold_len = BIO_BYTES;
}

/* Trials of all subjects, alternating: s0 s1 s2 ... s0 s1 s2 ... */
static void measure(struct subject *s, unsigned int n, bool cold, const struct opts *o)
{
	for (unsigned int r = 0; r < o->reps; r++) {
		for (unsigned int i = 0; i < n; i++) {
			if (cold)
				s[i].cold[r] = cold_trial(&s[i], o);
			else
				s[i].warm[r] = warm_trial(&s[i]);
		}
	}
}

/* {"median", "min", "max"} of the trials; v is sorted in place. */
static json_t *stats(double *v, unsigned int n, double *median)
{
	double m = bbs_median(v, n);

	if (median)
		*median = m;
	return json_pack("{s:f, s:f, s:f}", "median", m, "min", v[0], "max", v[n - 1]);
}

/* ---- the runs ---- */

static json_t *run_main(const struct opts *o, json_t **targets)
{
	struct subject s[BBS_NR_CSUMS + 2] = {
		{ .name = "memcpy", .kind = MEMCPY },
		{ .name = "read", .kind = READ },
	};
	double memcpy_cold = 0, read_cold = 0, crc_warm = 0, crc_cold = 0;
	unsigned int n = 2;
	json_t *res = json_object();

	for (int t = 0; t < BBS_NR_CSUMS; t++)
		s[n++] = (struct subject){ .name = bbs_csum_name(t), .kind = CSUM, .type = t };
	for (unsigned int i = 0; i < n; i++)
		calibrate(&s[i], o);
	measure(s, n, false, o);
	measure(s, n, true, o);

	for (unsigned int i = 0; i < n; i++) {
		double warm, cold;
		json_t *w = stats(s[i].warm, o->reps, &warm);
		json_t *c = stats(s[i].cold, o->reps, &cold);

		json_object_set_new(res, s[i].name,
				    json_pack("{s:o, s:o, s:I}", "warm", w, "cold", c,
					      "cold_trial_bytes", (json_int_t)s[i].cold_len));
		if (s[i].kind == MEMCPY)
			memcpy_cold = cold;
		if (s[i].kind == READ)
			read_cold = cold;
		if (s[i].kind == CSUM && s[i].type == BBS_CSUM_CRC32C) {
			crc_warm = warm;
			crc_cold = cold;
		}
	}
	*targets = json_pack("{s:f, s:f, s:b, s:f, s:b, s:f}", "crc32c_warm_gbps_target",
			     TARGET_CRC32C_WARM, "crc32c_warm_gbps", crc_warm, "crc32c_warm_met",
			     crc_warm >= TARGET_CRC32C_WARM, "crc32c_cold_over_memcpy_cold",
			     crc_cold / memcpy_cold, "crc32c_cold_within_10pct_of_memcpy",
			     crc_cold >= TARGET_COLD_RATIO * memcpy_cold,
			     "crc32c_cold_over_read_cold", crc_cold / read_cold);
	return res;
}

/* ISA-L's crc32c implementations and call sizes, warm, alternating. */
static json_t *run_isal(const struct opts *o)
{
	static const char *const impls[] = {
		"crc32_iscsi_by16_10", /* AVX-512 + VPCLMULQDQ (AS_FEATURE_LEVEL 10) */
		"crc32_iscsi_01", /* SSE4.2 crc32 with PCLMULQDQ recombination */
		"crc32_iscsi_00", /* SSE4.2 crc32 */
	};
	static const size_t calls[] = { 512, 4096, 16384, 65536 };
	struct subject s[MAX_SUBJECTS];
	unsigned int n = 0, nimpl;
	json_t *res = json_object(), *impl = json_object(), *size = json_object();
	char key[32];

	s[n++] = (struct subject){
		.name = "crc32_iscsi", .kind = ISAL, .fn = crc32_iscsi, .call = BLOCK
	};
	for (size_t i = 0; i < sizeof(impls) / sizeof(impls[0]); i++) {
		isal_crc_fn fn = (isal_crc_fn)dlsym(RTLD_DEFAULT, impls[i]);

		if (fn)
			s[n++] = (struct subject){
				.name = impls[i], .kind = ISAL, .fn = fn, .call = BLOCK
			};
	}
	nimpl = n;
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
		s[n++] = (struct subject){
			.name = "crc32_iscsi", .kind = ISAL, .fn = crc32_iscsi, .call = calls[i]
		};
	for (unsigned int i = 0; i < n; i++)
		calibrate(&s[i], o);
	measure(s, n, false, o);

	for (unsigned int i = 0; i < n; i++) {
		json_t *w = stats(s[i].warm, o->reps, NULL);

		if (i < nimpl) {
			json_object_set_new(impl, s[i].name, w);
		} else {
			snprintf(key, sizeof(key), "%zu", s[i].call);
			json_object_set_new(size, key, w);
		}
	}
	json_object_set_new(res, "implementations_4k_warm", impl);
	json_object_set_new(res, "crc32_iscsi_by_call_bytes_warm", size);
	return res;
}

/* ---- output ---- */

static void print_stats(json_t *g)
{
	printf(" %7.2f [%6.2f ..%6.2f]", json_real_value(json_object_get(g, "median")),
	       json_real_value(json_object_get(g, "min")),
	       json_real_value(json_object_get(g, "max")));
}

static void print_table(json_t *root)
{
	json_t *m = json_object_get(root, "machine"), *p = json_object_get(root, "params");
	json_t *res = json_object_get(root, "results"),
	       *isal = json_object_get(root, "isal_crc32c");
	json_t *t = json_object_get(root, "targets"), *v;
	double memcpy_cold = json_real_value(
		json_object_get(json_object_get(json_object_get(res, "memcpy"), "cold"), "median"));
	const char *key;

	printf("# %s, %lld cores, LLC L%lld %lld KiB; %lld-byte blocks, %lld bytes a call;\n"
	       "# warm %lld KiB, cold %lld MiB; GB/s, median [min .. max] of %lld trials\n",
	       json_string_value(json_object_get(m, "cpu")),
	       json_integer_value(json_object_get(m, "cores")),
	       json_integer_value(json_object_get(m, "llc_level")),
	       json_integer_value(json_object_get(m, "llc_bytes")) >> 10,
	       json_integer_value(json_object_get(p, "block_bytes")),
	       json_integer_value(json_object_get(p, "call_bytes")),
	       json_integer_value(json_object_get(p, "warm_bytes")) >> 10,
	       json_integer_value(json_object_get(p, "cold_bytes")) >> 20,
	       json_integer_value(json_object_get(p, "trials")));
	printf("%-22s %-27s %-27s %s\n", "subject", "warm", "cold", "cold/memcpy cold");
	json_object_foreach(res, key, v)
	{
		json_t *c = json_object_get(v, "cold");

		printf("%-22s", key);
		print_stats(json_object_get(v, "warm"));
		print_stats(c);
		printf(" %6.2f\n", json_real_value(json_object_get(c, "median")) / memcpy_cold);
	}
	printf("\n# ISA-L crc32c, warm, 4 KiB calls\n");
	json_object_foreach(json_object_get(isal, "implementations_4k_warm"), key, v)
	{
		printf("%-22s", key);
		print_stats(v);
		putchar('\n');
	}
	printf("\n# crc32_iscsi by bytes a call, warm\n");
	json_object_foreach(json_object_get(isal, "crc32_iscsi_by_call_bytes_warm"), key, v)
	{
		printf("%-22s", key);
		print_stats(v);
		putchar('\n');
	}
	printf("\n# targets: crc32c warm >= %.0f GB/s: %s (%.2f); cold within 10%% of memcpy: "
	       "%s (%.2f; of read: %.2f)\n",
	       json_real_value(json_object_get(t, "crc32c_warm_gbps_target")),
	       json_is_true(json_object_get(t, "crc32c_warm_met")) ? "met" : "NOT met",
	       json_real_value(json_object_get(t, "crc32c_warm_gbps")),
	       json_is_true(json_object_get(t, "crc32c_cold_within_10pct_of_memcpy")) ? "met"
										      : "NOT met",
	       json_real_value(json_object_get(t, "crc32c_cold_over_memcpy_cold")),
	       json_real_value(json_object_get(t, "crc32c_cold_over_read_cold")));
}

static void usage(FILE *f)
{
	fprintf(f, "usage: csum_perf [--quick] [--json | --table] [--reps N] [--cold-size SIZE]\n"
		   "  --quick           smoke test: 3 short trials, cold buffer 2x the LLC\n"
		   "  --json            one JSON object (the default)\n"
		   "  --table           plain table instead of JSON\n"
		   "  --reps N          trials per subject (default 7, odd is best)\n"
		   "  --cold-size SIZE  cold buffer (default 1G, at least 8x the LLC)\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' },
		{ "table", no_argument, NULL, 't' },
		{ "reps", required_argument, NULL, 'r' },
		{ "cold-size", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct opts o = { .reps = 7, .warm_ns = 20000000, .cold_ns = 200000000 };
	unsigned long long reps = 0;
	uint64_t cold_size = 0;
	unsigned int llc_level;
	json_t *root, *results, *isal, *targets, *machine;
	int c, pinned;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'q':
			o.quick = true;
			break;
		case 'j':
			o.table = false;
			break;
		case 't':
			o.table = true;
			break;
		case 'r':
			if (bbs_parse_uint(optarg, MAX_REPS, &reps) || reps == 0) {
				fprintf(stderr, "csum_perf: bad --reps '%s' (1..%d)\n", optarg,
					MAX_REPS);
				return 2;
			}
			break;
		case 'c':
			if (bbs_parse_size(optarg, &cold_size) || cold_size < 16 * BIO_BYTES ||
			    cold_size > (1ULL << 40)) {
				fprintf(stderr, "csum_perf: bad --cold-size '%s' (1M .. 1T)\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}

	o.llc = bbs_llc_size(&llc_level);
	if (!o.llc) {
		fprintf(stderr, "csum_perf: cannot read the cache size from sysfs, "
				"assuming 32 MiB\n");
		o.llc = 32 << 20;
	}
	if (o.quick) {
		o.reps = 3;
		o.warm_ns = 2000000;
		o.cold_ns = 10000000;
		o.cold_bytes = 2 * o.llc;
	} else {
		o.cold_bytes = 8 * o.llc > (1UL << 30) ? 8 * o.llc : (1UL << 30);
	}
	if (reps)
		o.reps = (unsigned int)reps;
	if (cold_size)
		o.cold_bytes = cold_size;
	o.cold_bytes -= o.cold_bytes % BIO_BYTES;
	if (o.cold_bytes < 2 * o.llc)
		fprintf(stderr, "csum_perf: warning: the cold buffer is under twice the LLC: "
				"cold numbers will be partly warm\n");
	pinned = pin_cpu();

	cold_buf = mmap(NULL, o.cold_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			0);
	warm_buf = aligned_alloc(4096, WARM_BYTES);
	if (cold_buf == MAP_FAILED || !warm_buf) {
		fprintf(stderr, "csum_perf: cannot allocate %zu MiB for the cold buffer\n",
			o.cold_bytes >> 20);
		return 1;
	}
	/* Touch every page once, outside any timing; data that is not all zeroes. */
	for (size_t i = 0; i < o.cold_bytes; i += 8) {
		uint64_t v = (i >> 3) * 0x9e3779b97f4a7c15ULL;

		memcpy(cold_buf + i, &v, 8);
	}
	memcpy(warm_buf, cold_buf + o.cold_bytes / 2, WARM_BYTES);
	bbs_csum_block(BBS_CSUM_SHA256, warm_buf, BLOCK, (uint8_t[BBS_CSUM_MAX]){ 0 });

	results = run_main(&o, &targets);
	isal = run_isal(&o);

	machine = bbs_machine_json();
	json_object_set_new(machine, "pinned_cpu", json_integer(pinned));
	root = json_pack("{s:s, s:o, s:{s:i, s:i, s:i, s:I, s:i, s:I, s:I, s:b, s:s, s:s}, s:o, "
			 "s:o, s:o}",
			 "tool", "csum_perf", "machine", machine, "params", "block_bytes", BLOCK,
			 "call_bytes", BIO_BYTES, "warm_bytes", WARM_BYTES, "cold_bytes",
			 (json_int_t)o.cold_bytes, "trials", (int)o.reps, "warm_trial_ns",
			 (json_int_t)o.warm_ns, "cold_trial_ns", (json_int_t)o.cold_ns, "quick",
			 o.quick, "unit",
			 "GB/s: 1e9 bytes of data checksummed (memcpy: copied) a second", "memcpy",
			 "each 4 KiB block copied into one L1-resident 4 KiB buffer: the source is "
			 "read as a checksum reads it",
			 "results", results, "isal_crc32c", isal, "targets", targets);
	if (!root) {
		fprintf(stderr, "csum_perf: cannot build the JSON result\n");
		return 1;
	}
	if (o.table) {
		print_table(root);
	} else {
		json_dumpf(root, stdout,
			   JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(5));
		putchar('\n');
	}
	json_decref(root);
	munmap(cold_buf, o.cold_bytes);
	free(warm_buf);
	return 0;
}
