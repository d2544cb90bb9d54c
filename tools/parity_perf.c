// SPDX-License-Identifier: GPL-2.0
/*
 * parity_perf: throughput of user/btrfs/parity.c, in GB/s of data (nr_data * strip
 * length per stripe, 10^9 bytes a second).
 *
 *   gen      P (raid5) and P+Q (raid6) for 3..8 devices, two shapes:
 *              step     4 KiB per call, as btrfs generate_pq_vertical()
 *              batched  the whole 64 KiB strip per call
 *   recover  raid5: data; raid6: data, data+p, data+q, data+data
 *
 * Each is measured warm (one stripe, over and over: it stays in cache) and
 * cold (a pass over stripes filling a working set several times the
 * last-level cache, so every stripe comes from memory).  The variants of one
 * configuration alternate trial by trial (A B A B ...), so drift on a noisy
 * machine hits all of them alike; each result is the median of the trials,
 * with min and max.
 *
 *   parity_perf [--quick] [--table] [--reps N]
 *
 * Output: one JSON object (machine, params, results), or with --table a
 * plain table.  --quick is a smoke test: few short trials, a smaller cold set.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "btrfs/parity.h"
#include "btrfs/stripe.h"
#include "host/machine.h"
#include "host/median.h"
#include "host/util.h"

#define STEP 4096 /* sector size: the kernel's step */
#define MIN_DEVICES 3
#define MAX_DEVICES 8
#define MAX_VARIANTS 4
#define MAX_REPS 101

struct opts {
	bool quick;
	bool table;
	unsigned int reps;
	uint64_t warm_ns; /* length of one warm trial */
	size_t cold_bytes; /* working set of the cold trials */
};

/* What one trial runs on each stripe. */
struct variant {
	const char *name; /* shape for gen, failed strips for recover */
	size_t step; /* gen */
	unsigned int failed[2], nr_failed; /* recover */
};

struct config {
	const char *op; /* "gen" or "recover" */
	bool gen;
	enum bbs_raid raid;
	unsigned int devices, nr_data;
	bool cold;
	struct variant v[MAX_VARIANTS];
	unsigned int nr_variants;
};

static uint8_t *arena; /* opts.cold_bytes, page aligned */
static json_t *results;
static bool failed_call;

static const char *raid_name(enum bbs_raid raid)
{
	return raid == BBS_RAID6 ? "raid6" : "raid5";
}

/* ---- trials ---- */

static void stripe_ptrs(const struct config *c, size_t stripe, void **s)
{
	unsigned int nr = c->nr_data + bbs_parity_nr(c->raid);

	for (unsigned int i = 0; i < nr; i++)
		s[i] = arena + (stripe * nr + i) * (size_t)BBS_STRIPE_LEN;
}

static size_t nr_stripes(const struct config *c, const struct opts *o)
{
	unsigned int nr = c->nr_data + bbs_parity_nr(c->raid);

	return c->cold ? o->cold_bytes / (nr * (size_t)BBS_STRIPE_LEN) : 1;
}

static void run_one(const struct config *c, const struct variant *v, void **s)
{
	int ret;

	if (c->gen)
		ret = bbs_parity_gen(c->raid, c->nr_data, s, BBS_STRIPE_LEN, v->step);
	else
		ret = bbs_parity_recover(c->raid, c->nr_data, s, BBS_STRIPE_LEN, v->failed,
					 v->nr_failed);
	failed_call |= ret != 0;
}

/*
 * One trial: iters passes over the configuration's stripes (1 stripe warm,
 * the whole working set cold).  Returns GB/s of data.
 */
static double trial(const struct config *c, const struct variant *v, const struct opts *o,
		    unsigned long iters)
{
	void *s[BBS_PARITY_MAX_STRIPS];
	size_t n = nr_stripes(c, o);
	uint64_t t0, t1;

	t0 = bbs_now_ns();
	for (unsigned long it = 0; it < iters; it++) {
		for (size_t i = 0; i < n; i++) {
			stripe_ptrs(c, i, s);
			run_one(c, v, s);
		}
	}
	t1 = bbs_now_ns();
	return (double)c->nr_data * BBS_STRIPE_LEN * n * iters / (double)(t1 - t0 ? t1 - t0 : 1);
}

static void add_result(const struct config *c, const struct variant *v, double *gbps,
		       unsigned int reps)
{
	double median = bbs_median(gbps, reps);
	json_t *r;

	r = json_pack("{s:s, s:s, s:i, s:i, s:s, s:s, s:{s:f, s:f, s:f}, s:i}", "op", c->op,
		      "profile", raid_name(c->raid), "devices", c->devices, "nr_data", c->nr_data,
		      c->gen ? "shape" : "failed", v->name, "cache", c->cold ? "cold" : "warm",
		      "gbps", "median", median, "min", gbps[0], "max", gbps[reps - 1], "trials",
		      reps);
	json_array_append_new(results, r);
}

static void measure(const struct config *c, const struct opts *o)
{
	static double gbps[MAX_VARIANTS][MAX_REPS];
	void *s[BBS_PARITY_MAX_STRIPS];
	unsigned long iters = 1;

	/* Consistent stripes, so recovery rebuilds what was there. */
	for (size_t i = 0; i < nr_stripes(c, o); i++) {
		stripe_ptrs(c, i, s);
		failed_call |= bbs_parity_gen(c->raid, c->nr_data, s, BBS_STRIPE_LEN, 0) != 0;
	}

	/* Warm: repeat the stripe for about warm_ns.  Cold: one pass a trial. */
	if (!c->cold) {
		uint64_t t0;

		do {
			iters *= 2;
			t0 = bbs_now_ns();
			trial(c, &c->v[0], o, iters);
		} while (bbs_now_ns() - t0 < o->warm_ns / 2);
	}

	for (unsigned int v = 0; v < c->nr_variants; v++)
		trial(c, &c->v[v], o, iters); /* warm-up, discarded */
	for (unsigned int r = 0; r < o->reps; r++)
		for (unsigned int v = 0; v < c->nr_variants; v++)
			gbps[v][r] = trial(c, &c->v[v], o, iters);
	for (unsigned int v = 0; v < c->nr_variants; v++)
		add_result(c, &c->v[v], gbps[v], o->reps);
}

static struct config config(const char *op, enum bbs_raid raid, unsigned int devices, bool cold)
{
	struct config c = {
		.op = op,
		.gen = !strcmp(op, "gen"),
		.raid = raid,
		.devices = devices,
		.nr_data = devices - bbs_parity_nr(raid),
		.cold = cold,
	};

	return c;
}

/* step for gen; nr_failed strips a, b for recover. */
static void add_variant(struct config *c, const char *name, size_t step, unsigned int nr_failed,
			unsigned int a, unsigned int b)
{
	struct variant *v = &c->v[c->nr_variants++];

	*v = (struct variant){ .name = name, .step = step, .nr_failed = nr_failed };
	v->failed[0] = a;
	v->failed[1] = b;
}

static void run_all(const struct opts *o)
{
	static const enum bbs_raid raids[] = { BBS_RAID5, BBS_RAID6 };

	for (size_t k = 0; k < 2; k++) {
		for (unsigned int dev = MIN_DEVICES; dev <= MAX_DEVICES; dev++) {
			for (int cold = 0; cold <= 1; cold++) {
				struct config gen = config("gen", raids[k], dev, cold);
				struct config rec = config("recover", raids[k], dev, cold);
				unsigned int p = BBS_PARITY_P(gen.nr_data);

				add_variant(&gen, "step", STEP, 0, 0, 0);
				add_variant(&gen, "batched", 0, 0, 0, 0);
				add_variant(&rec, "data", 0, 1, 0, 0);
				if (raids[k] == BBS_RAID6) {
					add_variant(&rec, "data+p", 0, 2, 0, p);
					add_variant(&rec, "data+q", 0, 2, 0, p + 1);
					if (gen.nr_data >= 2)
						add_variant(&rec, "data+data", 0, 2, 0, 1);
				}
				measure(&gen, o);
				measure(&rec, o);
			}
		}
	}
}

/* ---- output ---- */

static void print_table(json_t *root)
{
	json_t *r, *m = json_object_get(root, "machine");
	size_t i;

	printf("# %s, %lld cores, LLC L%lld %lld KiB; strip %d, step %d; GB/s of data\n",
	       json_string_value(json_object_get(m, "cpu")),
	       json_integer_value(json_object_get(m, "cores")),
	       json_integer_value(json_object_get(m, "llc_level")),
	       json_integer_value(json_object_get(m, "llc_bytes")) >> 10, BBS_STRIPE_LEN, STEP);
	printf("%-8s %-6s %3s %3s %-10s %-5s %8s %8s %8s\n", "op", "raid", "dev", "nd", "variant",
	       "cache", "median", "min", "max");
	json_array_foreach(json_object_get(root, "results"), i, r)
	{
		const char *op = json_string_value(json_object_get(r, "op"));
		json_t *g = json_object_get(r, "gbps");

		printf("%-8s %-6s %3lld %3lld %-10s %-5s %8.2f %8.2f %8.2f\n", op,
		       json_string_value(json_object_get(r, "profile")),
		       json_integer_value(json_object_get(r, "devices")),
		       json_integer_value(json_object_get(r, "nr_data")),
		       json_string_value(
			       json_object_get(r, !strcmp(op, "gen") ? "shape" : "failed")),
		       json_string_value(json_object_get(r, "cache")),
		       json_real_value(json_object_get(g, "median")),
		       json_real_value(json_object_get(g, "min")),
		       json_real_value(json_object_get(g, "max")));
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: parity_perf [--quick] [--table] [--reps N]\n"
		   "  --quick   smoke test: 3 short trials, cold set 2x the LLC\n"
		   "  --table   plain table instead of JSON\n"
		   "  --reps N  trials per variant (default 11, odd is best)\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "table", no_argument, NULL, 't' },
		{ "reps", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct opts o = { .reps = 11, .warm_ns = 20000000 };
	unsigned long long reps = 0;
	unsigned int llc_level;
	size_t llc;
	json_t *root;
	int c, ret = 1;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'q':
			o.quick = true;
			break;
		case 't':
			o.table = true;
			break;
		case 'r':
			if (bbs_parse_uint(optarg, MAX_REPS, &reps) || reps == 0) {
				fprintf(stderr, "parity_perf: bad --reps '%s' (1..%d)\n", optarg,
					MAX_REPS);
				return 1;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 1;
	}

	llc = bbs_llc_size(&llc_level);
	if (!llc) {
		fprintf(stderr, "parity_perf: cannot read the cache size from sysfs, "
				"assuming 32 MiB\n");
		llc = 32 << 20;
	}
	if (o.quick) {
		o.reps = 3;
		o.warm_ns = 2000000;
		o.cold_bytes = 2 * llc;
	} else {
		o.cold_bytes = 4 * llc > (64 << 20) ? 4 * llc : (64 << 20);
	}
	if (reps)
		o.reps = (unsigned int)reps;
	/* At least a few stripes of the widest configuration. */
	if (o.cold_bytes < 4 * MAX_DEVICES * (size_t)BBS_STRIPE_LEN)
		o.cold_bytes = 4 * MAX_DEVICES * (size_t)BBS_STRIPE_LEN;

	arena = aligned_alloc(4096, o.cold_bytes);
	if (!arena) {
		fprintf(stderr, "parity_perf: cannot allocate %zu MiB for the cold set\n",
			o.cold_bytes >> 20);
		return 1;
	}
	for (size_t i = 0; i < o.cold_bytes; i++)
		arena[i] = (uint8_t)(i * 2654435761u >> 13);

	results = json_array();
	run_all(&o);
	if (failed_call) {
		fprintf(stderr, "parity_perf: a bbs_parity call failed (a bug: see parity_test)\n");
		goto out_free;
	}

	root = json_pack(
		"{s:s, s:o, s:{s:i, s:i, s:i, s:I, s:I, s:b, s:s}, s:o}", "tool", "parity_perf",
		"machine", bbs_machine_json(), "params", "strip_len", BBS_STRIPE_LEN, "step", STEP,
		"trials", (int)o.reps, "warm_trial_ns", (json_int_t)o.warm_ns, "cold_bytes",
		(json_int_t)o.cold_bytes, "quick", o.quick, "unit",
		"GB/s of data: nr_data * strip_len per stripe, 1e9 bytes/s", "results", results);
	results = NULL;
	if (o.table) {
		print_table(root);
	} else {
		json_dumpf(root, stdout,
			   JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(5));
		putchar('\n');
	}
	json_decref(root);
	ret = 0;
out_free:
	json_decref(results);
	free(arena);
	return ret;
}
