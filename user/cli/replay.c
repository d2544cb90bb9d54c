// SPDX-License-Identifier: GPL-2.0
/*
 * bbscope replay csum | parity: the options of the two replays, their
 * engines (replay/csum.h, replay/raid56.h) run on the workload they name,
 * and the result printed as the tracer's report (model/report.h) with the run's
 * own keys.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cmd.h"
#include "btrfs/stripe.h"
#include "cli/options.h"
#include "host/jsonstr.h"
#include "host/outfile.h"
#include "host/util.h"
#include "render/print.h"
#include "render/report.h"
#include "replay/csum.h"
#include "replay/raid56.h"
#include "replay/replay.h"
#include "replay/uring.h"

/* The options both replays take: the workload, --force, the output. */
struct common {
	const char *trace, *synthetic;
	bool force, json;
	struct bbs_print_opts po;
};

/* Their long options, for a subcommand's table (and "msjh" short ones). */
#define COMMON_OPTS                                                                               \
	{ "trace", required_argument, NULL, 'T' }, { "synthetic", required_argument, NULL, 'S' }, \
		{ "force", no_argument, NULL, 'f' }, { "milliseconds", no_argument, NULL, 'm' },  \
		{ "summary", no_argument, NULL, 's' }, { "json", no_argument, NULL, 'j' },        \
	{                                                                                         \
		"help", no_argument, NULL, 'h'                                                    \
	}
#define COMMON_SHORT ":msjh"

/*
 * Option handlers return BBS_PARSE_GO to go on (an option taken, or not
 * theirs), or the exit status to end with.  This one takes the common
 * options and the ones getopt refused.
 */
static int common_opt(struct common *co, int c, char **argv, const char *sub)
{
	switch (c) {
	case 'T':
		co->trace = optarg;
		break;
	case 'S':
		co->synthetic = optarg;
		break;
	case 'f':
		co->force = true;
		break;
	case 'm':
		co->po.ms = true;
		break;
	case 's':
		co->po.summary = true;
		break;
	case ':':
	case '?':
		return bbs_opt_error(c, argv, sub);
	}
	return BBS_PARSE_GO;
}

/* After the options: no argument left, exactly one workload. */
static int common_done(const struct common *co, int argc, char **argv)
{
	if (optind < argc) {
		bbs_err("unexpected argument '%s'", argv[optind]);
		return BBS_EXIT_USAGE;
	}
	if (!co->trace == !co->synthetic) {
		bbs_err("give one workload: --synthetic SPEC or --trace FILE");
		return BBS_EXIT_USAGE;
	}
	return BBS_PARSE_GO;
}

/* An engine's return as the exit status: refused before writing, or failed. */
static int engine_exit(int ret)
{
	return ret == -EINVAL ? BBS_EXIT_USAGE : ret ? BBS_EXIT_FAIL : BBS_EXIT_OK;
}

/* The report, as text or as JSON with the run's keys in j (taken over). */
static int print_report(const struct common *co, const struct bbs_report *rep, json_t *j)
{
	int ret = 0;

	if (!co->json) {
		bbs_report_print(stdout, rep, &co->po);
		return 0;
	}
	if (bbs_json_print(j, 0))
		ret = -1;
	json_decref(j);
	return ret;
}

/* ---- replay csum ---- */

struct csum_cmd {
	struct common co;
	struct bbs_replay_csum_opts o;
	const char *timing;
	bool have_mode;
};

static void csum_usage(FILE *f)
{
	fprintf(f,
		"usage: bbscope replay csum (--synthetic SPEC | --trace FILE) --target PATH\n"
		"                           --mode none|serial|async|offload [--algo ALGO]\n"
		"                           [--qd N] [--workers N] [--timing "
		"fast|recorded|scale=X]\n"
		"                           [--csum-out FILE] [--force] [-m] [-s] [--json]\n"
		"\n"
		"Write a workload to PATH with io_uring (O_DIRECT, registered buffers) and\n"
		"checksum every 4 KiB block as btrfs does, in one of btrfs's pipelines:\n"
		"  none     no checksums: the device baseline\n"
		"  serial   checksum a bio, then submit it (btrfs before async_csum)\n"
		"  async    submit at once, a worker checksums meanwhile; done when both are\n"
		"  offload  --workers threads checksum, a bio is submitted when its sum is done\n"
		"Prints the tracer's histograms (phases csum, device, total) and throughput.\n"
		"\n"
		"  --synthetic SPEC   a generated workload (grammar below)\n"
		"  --trace FILE       the data writes of a recording ('bbscope record')\n"
		"  --target PATH      block device or file to write: a device that is mounted\n"
		"                     or held is always refused; one with a filesystem, RAID or\n"
		"                     partition signature, or an existing file, needs --force;\n"
		"                     a new file is created and preallocated\n"
		"  --mode MODE        none, serial, async or offload\n"
		"  --algo ALGO        crc32c (default), xxhash, sha256 or blake2 (--csum: the\n"
		"                     same, as mkfs.btrfs calls it)\n"
		"  --qd N             bios in flight (default %u)\n"
		"  --workers N        checksum threads for async and offload (default 1)\n"
		"  --timing T         fast (default): as fast as the pipeline goes; recorded:\n"
		"                     honour a trace's inter-arrival times; scale=X: times * X\n"
		"  --csum-out FILE    write '<offset> <checksum>' of every block written,\n"
		"                     sorted by offset, as 'bbscope csum' prints them\n"
		"  --force            overwrite a signature or an existing file\n"
		"  -m, --milliseconds millisecond histograms\n"
		"  -s, --summary      the per-phase table only, no star histograms\n"
		"  -j, --json         one JSON object (docs/json.md, plus the run's keys)\n"
		"\n"
		"%s",
		BBS_REPLAY_DEF_QD, bbs_synth_help);
}

static int csum_opt(struct csum_cmd *c, int opt)
{
	struct bbs_replay_csum_opts *o = &c->o;
	unsigned long long v;
	int m;

	switch (opt) {
	case 't':
		o->target = optarg;
		break;
	case 'M':
		for (m = 0; m < BBS_NR_REPLAY_MODES && strcmp(optarg, bbs_replay_mode_name[m]); m++)
			;
		if (m == BBS_NR_REPLAY_MODES) {
			bbs_err("--mode %s: want none, serial, async or offload", optarg);
			return BBS_EXIT_USAGE;
		}
		o->mode = m;
		c->have_mode = true;
		break;
	case 'a':
	case 'c':
		if (bbs_opt_algo(opt == 'a' ? "--algo" : "--csum", optarg, &o->algo))
			return BBS_EXIT_USAGE;
		break;
	case 'q':
		if (bbs_parse_uint(optarg, BBS_REPLAY_MAX_QD, &v) || !v) {
			bbs_err("--qd %s: want 1 to %u", optarg, BBS_REPLAY_MAX_QD);
			return BBS_EXIT_USAGE;
		}
		o->qd = v;
		break;
	case 'w':
		if (bbs_parse_uint(optarg, BBS_REPLAY_MAX_WORKERS, &v) || !v) {
			bbs_err("--workers %s: want 1 to %u", optarg, BBS_REPLAY_MAX_WORKERS);
			return BBS_EXIT_USAGE;
		}
		o->workers = v;
		break;
	case 'i':
		if (bbs_timing_parse(optarg, &o->scale)) {
			bbs_err("--timing %s: want fast, recorded or scale=X (X > 0)", optarg);
			return BBS_EXIT_USAGE;
		}
		c->timing = optarg;
		break;
	case 'o':
		o->csum_out = optarg;
		break;
	case 'h':
		csum_usage(stdout);
		return BBS_EXIT_OK;
	}
	return BBS_PARSE_GO;
}

static int csum_parse(int argc, char **argv, struct csum_cmd *c)
{
	static const struct option long_opts[] = {
		{ "target", required_argument, NULL, 't' },
		{ "mode", required_argument, NULL, 'M' },
		{ "algo", required_argument, NULL, 'a' },
		{ "csum", required_argument, NULL, 'c' },
		{ "qd", required_argument, NULL, 'q' },
		{ "workers", required_argument, NULL, 'w' },
		{ "timing", required_argument, NULL, 'i' },
		{ "csum-out", required_argument, NULL, 'o' },
		COMMON_OPTS,
		{},
	};
	int opt, ret;

	bbs_opt_start();
	while ((opt = getopt_long(argc, argv, COMMON_SHORT, long_opts, NULL)) != -1) {
		ret = common_opt(&c->co, opt, argv, "replay csum");
		if (ret == BBS_PARSE_GO)
			ret = csum_opt(c, opt);
		if (ret != BBS_PARSE_GO)
			return ret;
	}
	ret = common_done(&c->co, argc, argv);
	if (ret != BBS_PARSE_GO)
		return ret;
	if (!c->o.target) {
		bbs_err("--target PATH is required (a block device or a file)");
		return BBS_EXIT_USAGE;
	}
	if (!c->have_mode) {
		bbs_err("--mode is required: none, serial, async or offload");
		return BBS_EXIT_USAGE;
	}
	if (c->co.synthetic && c->o.scale) {
		bbs_err("--timing %s needs recorded times: use it with --trace", c->timing);
		return BBS_EXIT_USAGE;
	}
	return BBS_PARSE_GO;
}

/* The model's terms (replay/csum.h), per bio: docs/json.md. */
static json_t *terms_json(const struct bbs_replay_csum_opts *o, const struct bbs_workload *w,
			  const struct bbs_replay_csum_result *r)
{
	const struct bbs_replay_terms *t = &r->terms;
	double n = w->nr, el = r->elapsed_s * 1e9;
	double sub =
		el - t->issue_ns - t->sleep_ns - (o->mode == BBS_REPLAY_SERIAL ? t->csum_ns : 0);

	const struct bbs_sched *ss = &t->sched_submitter, *sw = &t->sched_workers,
			       *si = &t->sched_io;
	double ours = (double)ss->run_ns + sw->run_ns + si->run_ns;
	double online = (double)sysconf(_SC_NPROCESSORS_ONLN); /* /proc/stat's idle is theirs */
	json_t *j;

	j = json_pack("{s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:I,s:I}", "issue_ns", t->issue_ns / n,
		      "worker_ns", t->worker_gaps ? (double)t->worker_ns / t->worker_gaps : 0.0,
		      "submit_ns", (sub > 0 ? sub : 0) / n, "sleep_ns", t->sleep_ns / n, "csum_ns",
		      t->csum_ns / n, "device_ns", t->dev_busy_ns / n, "handoff_ns",
		      t->handoffs ? (double)t->handoff_ns / t->handoffs : 0.0, "wake_ns",
		      t->wakes ? (double)t->wake_ns / t->wakes : 0.0, "handoffs",
		      (json_int_t)t->handoffs, "wakes", (json_int_t)t->wakes);
	json_object_set_new(j, "cpus", json_integer(t->cpus));
	json_object_set_new(j, "sleeps", json_integer((json_int_t)t->sleeps));
	json_object_set_new(j, "worker_gaps", json_integer((json_int_t)t->worker_gaps));
	if (!t->sched_known || !t->idle_known || !(el > 0))
		return j;
	/* what each thread group did with the CPUs, per bio (schedstat) */
	json_object_update_missing_new(
		j,
		json_pack("{s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "submitter_run_ns", ss->run_ns / n,
			  "submitter_runq_wait_ns", ss->runq_ns / n, "workers_run_ns",
			  sw->run_ns / n, "workers_runq_wait_ns", sw->runq_ns / n, "io_run_ns",
			  si->run_ns / n, "io_runq_wait_ns", si->runq_ns / n, "idle_cores",
			  t->machine_idle_ns / el, "other_load_cores",
			  fmax(online - (t->machine_idle_ns + ours) / el, 0)));
	if (t->wake_known) {
		static const char *const who[] = { "submitter", "workers", "io" };
		const struct bbs_wake_stat *ws[] = { &t->wake_submitter, &t->wake_workers,
						     &t->wake_io };
		char k[64];

		/* each wake-up, timed by the kernel: how many, and per wake-up */
		for (size_t i = 0; i < sizeof(ws) / sizeof(ws[0]); i++) {
			double n_w = (double)ws[i]->wakeups;

			snprintf(k, sizeof(k), "%s_wakeups", who[i]);
			json_object_set_new(j, k, json_integer((json_int_t)ws[i]->wakeups));
			snprintf(k, sizeof(k), "%s_wake_wait_ns", who[i]);
			json_object_set_new(j, k, json_real(n_w ? ws[i]->wait_ns / n_w : 0));
			snprintf(k, sizeof(k), "%s_wake_wait_idle_ns", who[i]);
			json_object_set_new(j, k, json_real(n_w ? ws[i]->wait_idle_ns / n_w : 0));
		}
	}
	return j;
}

static int csum_print(const struct csum_cmd *c, const struct bbs_workload *w,
		      const struct bbs_replay_csum_result *r)
{
	const struct bbs_replay_csum_opts *o = &c->o;
	unsigned int workers = o->mode >= BBS_REPLAY_ASYNC ? o->workers : 0;
	double bps = r->elapsed_s > 0 ? w->bytes / r->elapsed_s : 0;
	json_t *j;

	if (!c->co.json) {
		printf("replay csum: mode %s, %s, qd %u, %u worker%s, timing %s, target %s (%s)\n",
		       bbs_replay_mode_name[o->mode], bbs_csum_name(o->algo), o->qd, workers,
		       workers == 1 ? "" : "s", c->timing, o->target, r->target_name);
		printf("%llu bytes in %zu bios, %.3f s: %.3f GB/s, cpu %.3f s\n\n",
		       (unsigned long long)w->bytes, w->nr, r->elapsed_s, bps / 1e9, r->cpu_s);
		return print_report(&c->co, &r->report, NULL);
	}
	j = bbs_report_json(&r->report);
	json_object_set_new(j, "mode", json_string(bbs_replay_mode_name[o->mode]));
	json_object_set_new(j, "algo", json_string(bbs_csum_name(o->algo)));
	json_object_set_new(j, "bytes", json_integer(w->bytes));
	json_object_set_new(j, "bios", json_integer(w->nr));
	json_object_set_new(j, "elapsed_s", json_real(r->elapsed_s));
	json_object_set_new(j, "throughput_bps", json_real(bps));
	json_object_set_new(j, "cpu_s", json_real(r->cpu_s));
	json_object_set_new(j, "csum_busy_s", json_real(r->csum.sum_ns / 1e9));
	json_object_set_new(j, "csum_wait_mean_ns",
			    o->mode == BBS_REPLAY_NONE ? json_null()
						       : json_integer(r->csum_wait_ns / w->nr));
	json_object_set_new(j, "qd", json_integer(o->qd));
	json_object_set_new(j, "workers", json_integer(workers));
	json_object_set_new(j, "timing", json_string(c->timing));
	json_object_set_new(j, "terms", terms_json(o, w, r));
	bbs_json_set_str(j, "target", o->target);
	return print_report(&c->co, &r->report, j);
}

static int replay_csum(int argc, char **argv)
{
	struct csum_cmd c = {
		.o = { .algo = BBS_CSUM_CRC32C, .qd = BBS_REPLAY_DEF_QD, .workers = 1 },
		.timing = "fast",
	};
	struct bbs_replay_csum_result r;
	struct bbs_workload w;
	char why[128];
	int ret;

	c.co.json = bbs_opt_json(argc, argv);
	ret = csum_parse(argc, argv, &c);
	if (ret != BBS_PARSE_GO)
		return ret;
	c.o.force = c.co.force;
	if (bbs_out_precheck(c.o.csum_out, c.o.force ? BBS_OUT_FORCE : 0, why, sizeof(why))) {
		bbs_err("--csum-out %s: %s", c.o.csum_out, why);
		return BBS_EXIT_USAGE;
	}
	bbs_workload_init(&w);
	if (bbs_replay_load(&w, c.co.synthetic, c.co.trace, BBS_REPLAY_BIOS)) {
		bbs_workload_free(&w);
		return BBS_EXIT_USAGE;
	}
	ret = engine_exit(bbs_replay_csum(&c.o, &w, &r));
	if (ret == BBS_EXIT_OK) {
		if (csum_print(&c, &w, &r))
			ret = BBS_EXIT_FAIL;
		bbs_replay_csum_free(&r);
	}
	bbs_workload_free(&w);
	return ret;
}

/* ---- replay parity ---- */

struct parity_cmd {
	struct common co;
	struct bbs_raid56_opts o;
	const char *targets, *degraded;
	char *copy; /* of --targets, split into paths */
	char *paths[BBS_RAID56_MAX_TARGETS];
	unsigned int devices;
	bool have_mode;
};

static void parity_usage(FILE *f)
{
	fprintf(f,
		"usage: bbscope replay parity (--synthetic SPEC | --trace FILE)\n"
		"                             --profile raid5|raid6 --targets PATH,PATH,...\n"
		"                             --mode step|batched|threads\n"
		"                             [--devices N] [--threads N] [--qd N]\n"
		"                             [--no-plug] [--stripe-cache N] [--data-seed N]\n"
		"                             [--degraded IDX[,IDX]] [--recover-unit U]\n"
		"                             [--rebuilt-out PREFIX] [--force] [-m] [-s] [--json]\n"
		"\n"
		"Lay the targets out as one btrfs raid5/6 chunk (64 KiB strips, parity rotating\n"
		"by one target per full stripe) and replay a workload on them with io_uring\n"
		"(O_DIRECT, registered buffers): writes go through btrfs's rmw path (full\n"
		"stripes: generate P/Q and write; sub-stripe writes: read the full stripe,\n"
		"regenerate P/Q, write the new data and parity), or with --degraded the\n"
		"workload is read back with targets missing (recover: read the surviving\n"
		"strips, rebuild the missing ones).  Prints the tracer's histograms: rmw or\n"
		"recover per rbio, device and total per target I/O.\n"
		"\n"
		"  --synthetic SPEC   a generated workload (grammar below); offsets are in the\n"
		"                     data address space of the chunk\n"
		"  --trace FILE       the raid5/raid6 data strip writes of a recording ('bbscope\n"
		"                     record' on a raid5 or raid6 btrfs), in the full stripe\n"
		"                     and data strip they wrote, counted from the lowest full\n"
		"                     stripe written; P and Q are computed, not replayed.  The\n"
		"                     recording's data strips per full stripe must be the\n"
		"                     replay's (targets less 1 for raid5, less 2 for raid6),\n"
		"                     the profile may differ (raid6/4 replays as raid5/3)\n"
		"  --profile P        raid5 (N-1 data strips + P) or raid6 (N-2 + P + Q)\n"
		"  --targets LIST     N distinct block devices or files, strip order of the\n"
		"                     chunk (at least 2 for raid5, 3 for raid6, at most %u);\n"
		"                     each is checked as 'replay csum --target' checks: a\n"
		"                     mounted or held device is always refused, a signature\n"
		"                     or an existing file needs --force\n"
		"  --devices N        the number of targets, checked against --targets\n"
		"  --mode MODE        step: parity one 4 KiB vertical sector per call (the\n"
		"                     kernel's generate_pq_vertical); batched: one 64 KiB strip\n"
		"                     per call; threads: batched, full stripes spread over\n"
		"                     --threads threads\n"
		"  --threads N        threads for --mode threads (default: online CPUs)\n"
		"  --qd N             rbios in flight per thread (default %u)\n"
		"  --no-plug          every bio is its own rbio (default: the next piece of the\n"
		"                     same full stripe is merged, as btrfs's plug does)\n"
		"  --stripe-cache N   full stripes kept after a sub-stripe write, so that the\n"
		"                     next one skips the read (default %u, btrfs's; 0: off)\n"
		"  --degraded LIST    replay the workload as reads with these targets (0-based\n"
		"                     indexes into --targets; raid6 takes two) missing\n"
		"  --recover-unit U   sector (default): one recover per 4 KiB sector on a\n"
		"                     missing strip, as btrfs's read repair; stripe: one per\n"
		"                     range in a full stripe\n"
		"  --rebuilt-out P    with --degraded: write the strips rebuilt for missing\n"
		"                     target N to file P.N, at their offsets on the target\n"
		"  --data-seed N      seed of the data written (default: as replay csum)\n"
		"  --force            overwrite a signature or an existing file\n"
		"  -m, --milliseconds millisecond histograms\n"
		"  -s, --summary      the per-phase table only, no star histograms\n"
		"  -j, --json         one JSON object (docs/json.md, plus the run's keys)\n"
		"\n"
		"%s",
		BBS_RAID56_MAX_TARGETS, BBS_RAID56_DEF_QD, BBS_RAID56_DEF_CACHE, bbs_synth_help);
}

/* optarg, a number from 1 (0 with zero_ok) to max: BBS_PARSE_GO, or BBS_EXIT_USAGE. */
static int opt_uint(const char *opt, unsigned long long max, bool zero_ok, unsigned int *out)
{
	unsigned long long v;

	if (bbs_parse_uint(optarg, max, &v) || (!v && !zero_ok)) {
		bbs_err("%s %s: want %u to %llu", opt, optarg, zero_ok ? 0 : 1, max);
		return BBS_EXIT_USAGE;
	}
	*out = v;
	return BBS_PARSE_GO;
}

static int parity_opt(struct parity_cmd *c, int opt)
{
	struct bbs_raid56_opts *o = &c->o;
	unsigned long long v;
	int m;

	switch (opt) {
	case 'p':
		if (strcmp(optarg, "raid5") && strcmp(optarg, "raid6")) {
			bbs_err("--profile %s: want raid5 or raid6", optarg);
			return BBS_EXIT_USAGE;
		}
		o->raid = strcmp(optarg, "raid5") ? BBS_RAID6 : BBS_RAID5;
		break;
	case 'n':
		return opt_uint("--devices", BBS_RAID56_MAX_TARGETS, false, &c->devices);
	case 't':
		c->targets = optarg;
		break;
	case 'M':
		for (m = 0; m < BBS_NR_RAID56_MODES && strcmp(optarg, bbs_raid56_mode_name[m]); m++)
			;
		if (m == BBS_NR_RAID56_MODES) {
			bbs_err("--mode %s: want step, batched or threads", optarg);
			return BBS_EXIT_USAGE;
		}
		o->mode = m;
		c->have_mode = true;
		break;
	case 'w':
		return opt_uint("--threads", BBS_RAID56_MAX_THREADS, false, &o->threads);
	case 'q':
		return opt_uint("--qd", BBS_RAID56_MAX_QD, false, &o->qd);
	case 'd':
		c->degraded = optarg;
		break;
	case 'o':
		o->rebuilt_out = optarg;
		break;
	case 'e':
		if (bbs_parse_uint(optarg, UINT64_MAX, &v)) {
			bbs_err("--data-seed %s: want an unsigned integer", optarg);
			return BBS_EXIT_USAGE;
		}
		o->data_seed = v;
		break;
	case 'P':
		o->no_plug = true;
		break;
	case 'C':
		return opt_uint("--stripe-cache", BBS_RAID56_MAX_CACHE, true, &o->stripe_cache);
	case 'u':
		if (strcmp(optarg, "sector") && strcmp(optarg, "stripe")) {
			bbs_err("--recover-unit %s: want sector or stripe", optarg);
			return BBS_EXIT_USAGE;
		}
		o->recover_stripe = !strcmp(optarg, "stripe");
		break;
	case 'h':
		parity_usage(stdout);
		return BBS_EXIT_OK;
	}
	return BBS_PARSE_GO;
}

/* "1" or "0,2": at most max distinct indexes. */
static int parse_indexes(const char *s, unsigned int *out, unsigned int max, unsigned int *nr)
{
	char buf[64], *tok, *rest;
	unsigned long long v;

	if (snprintf(buf, sizeof(buf), "%s", s) >= (int)sizeof(buf))
		return -1;
	*nr = 0;
	for (rest = buf; (tok = strsep(&rest, ","));) {
		if (*nr == max || bbs_parse_uint(tok, BBS_RAID56_MAX_TARGETS - 1, &v))
			return -1;
		for (unsigned int i = 0; i < *nr; i++)
			if (out[i] == v)
				return -1;
		out[(*nr)++] = v;
	}
	return 0;
}

/* What the options say together, once all are read. */
static int parity_check(struct parity_cmd *c)
{
	struct bbs_raid56_opts *o = &c->o;

	if (!o->raid) {
		bbs_err("--profile is required: raid5 or raid6");
		return BBS_EXIT_USAGE;
	}
	if (!c->targets) {
		bbs_err("--targets PATH,PATH,... is required (block devices or files)");
		return BBS_EXIT_USAGE;
	}
	if (!c->have_mode) {
		bbs_err("--mode is required: step, batched or threads");
		return BBS_EXIT_USAGE;
	}
	if (o->threads && o->mode != BBS_RAID56_THREADS) {
		bbs_err("--threads goes with --mode threads");
		return BBS_EXIT_USAGE;
	}
	if (c->degraded &&
	    parse_indexes(c->degraded, o->degraded, bbs_parity_nr(o->raid), &o->nr_degraded)) {
		bbs_err("--degraded %s: want %s (0-based, into --targets)", c->degraded,
			o->raid == BBS_RAID5 ? "one target index: raid5 survives one missing"
					     : "one or two distinct target indexes");
		return BBS_EXIT_USAGE;
	}
	if (o->rebuilt_out && !o->nr_degraded) {
		bbs_err("--rebuilt-out goes with --degraded");
		return BBS_EXIT_USAGE;
	}
	return BBS_PARSE_GO;
}

/* Split --targets into c->paths. */
static int split_targets(struct parity_cmd *c)
{
	char *rest, *tok;

	c->copy = strdup(c->targets);
	if (!c->copy) {
		bbs_err("out of memory");
		return BBS_EXIT_FAIL;
	}
	for (rest = c->copy; (tok = strsep(&rest, ","));) {
		if (!*tok) {
			bbs_err("--targets %s: empty path", c->targets);
			return BBS_EXIT_USAGE;
		}
		if (c->o.nr_targets == BBS_RAID56_MAX_TARGETS) {
			bbs_err("--targets: more than %u targets", BBS_RAID56_MAX_TARGETS);
			return BBS_EXIT_USAGE;
		}
		c->paths[c->o.nr_targets++] = tok;
	}
	if (c->devices && c->devices != c->o.nr_targets) {
		bbs_err("--devices %u but --targets names %u", c->devices, c->o.nr_targets);
		return BBS_EXIT_USAGE;
	}
	c->o.targets = c->paths;
	return BBS_PARSE_GO;
}

static int parity_parse(int argc, char **argv, struct parity_cmd *c)
{
	static const struct option long_opts[] = {
		{ "profile", required_argument, NULL, 'p' },
		{ "devices", required_argument, NULL, 'n' },
		{ "targets", required_argument, NULL, 't' },
		{ "mode", required_argument, NULL, 'M' },
		{ "threads", required_argument, NULL, 'w' },
		{ "qd", required_argument, NULL, 'q' },
		{ "degraded", required_argument, NULL, 'd' },
		{ "rebuilt-out", required_argument, NULL, 'o' },
		{ "data-seed", required_argument, NULL, 'e' },
		{ "no-plug", no_argument, NULL, 'P' },
		{ "stripe-cache", required_argument, NULL, 'C' },
		{ "recover-unit", required_argument, NULL, 'u' },
		COMMON_OPTS,
		{},
	};
	int opt, ret;

	bbs_opt_start();
	while ((opt = getopt_long(argc, argv, COMMON_SHORT, long_opts, NULL)) != -1) {
		ret = common_opt(&c->co, opt, argv, "replay parity");
		if (ret == BBS_PARSE_GO)
			ret = parity_opt(c, opt);
		if (ret != BBS_PARSE_GO)
			return ret;
	}
	ret = common_done(&c->co, argc, argv);
	if (ret == BBS_PARSE_GO)
		ret = parity_check(c);
	if (ret == BBS_PARSE_GO)
		ret = split_targets(c);
	return ret;
}

static void parity_text(const struct parity_cmd *c, const struct bbs_workload *w,
			const struct bbs_raid56_result *r)
{
	const struct bbs_raid56_opts *o = &c->o;
	double bps = r->elapsed_s > 0 ? w->bytes / r->elapsed_s : 0;

	printf("replay parity: %s on %u targets (%u data + %s, 64 KiB strips), mode %s "
	       "(%s per parity call), %u thread%s, qd %u\n",
	       o->raid == BBS_RAID5 ? "raid5" : "raid6", o->nr_targets, r->nr_data,
	       r->nr_parity == 1 ? "P" : "P + Q", bbs_raid56_mode_name[o->mode],
	       r->step_bytes == BBS_STRIPE_LEN ? "64 KiB" : "4 KiB", r->threads,
	       r->threads == 1 ? "" : "s", o->qd);
	for (unsigned int i = 0; i < o->nr_targets; i++) {
		bool missing = false;

		for (unsigned int k = 0; k < o->nr_degraded; k++)
			missing |= o->degraded[k] == i;
		printf("  target %u (fs 0:%u below): %s (%s)%s\n", i, i + 1, o->targets[i],
		       r->target_name[i], missing ? ", missing" : "");
	}
	printf("%llu bytes %s in %zu full + %zu partial stripe rbios (%llu full stripes), "
	       "%.3f s: %.3f GB/s, cpu %.3f s\n",
	       (unsigned long long)w->bytes, o->nr_degraded ? "read" : "written", r->full,
	       r->partial, (unsigned long long)r->stripes, r->elapsed_s, bps / 1e9, r->cpu_s);
	if (o->nr_degraded)
		printf("%zu recover rbios (one per %s), %zu plain reads\n", r->recovered,
		       o->recover_stripe ? "range in a full stripe" : "sector", r->plain);
	else
		printf("rbios %s, stripe cache %u entries: %llu hits\n",
		       o->no_plug ? "as the bios (no plug)" : "merged as by btrfs's plug",
		       o->stripe_cache, (unsigned long long)r->cache_hits);
	if (r->parity.count)
		printf("parity %s per rbio: %llu, mean %.1f us, p50 %.1f us, p99 %.1f us\n",
		       o->nr_degraded ? "rebuild" : "generation",
		       (unsigned long long)r->parity.count,
		       r->parity.sum_ns / 1e3 / r->parity.count,
		       bbs_hist_percentile(&r->parity, 0.5) / 1e3,
		       bbs_hist_percentile(&r->parity, 0.99) / 1e3);
	putchar('\n');
}

/* Each group's fs: its target's path (and index), or every target for the filesystem's. */
static void parity_json_groups(const struct parity_cmd *c, const struct bbs_raid56_result *r,
			       json_t *j)
{
	json_t *groups = json_object_get(j, "groups");

	for (size_t i = 0; i < json_array_size(groups); i++) {
		json_t *g = json_array_get(groups, i);
		uint32_t fs = r->report.groups[i].g.fs;

		if (fs) {
			bbs_json_set_str(g, "fs", c->o.targets[fs - 1]);
			json_object_set_new(g, "target_index", json_integer(fs - 1));
		} else {
			bbs_json_set_str(g, "fs", c->targets);
		}
	}
}

static json_t *parity_json(const struct parity_cmd *c, const struct bbs_workload *w,
			   const struct bbs_raid56_result *r)
{
	const struct bbs_raid56_opts *o = &c->o;
	json_t *j = bbs_report_json(&r->report), *arr = json_null();

	parity_json_groups(c, r, j);
	json_object_set_new(j, "mode", json_string(bbs_raid56_mode_name[o->mode]));
	json_object_set_new(j, "profile", json_string(o->raid == BBS_RAID5 ? "raid5" : "raid6"));
	json_object_set_new(j, "devices", json_integer(o->nr_targets));
	json_object_set_new(j, "nr_data", json_integer(r->nr_data));
	json_object_set_new(j, "strip_len", json_integer(BBS_STRIPE_LEN));
	json_object_set_new(j, "step_bytes", json_integer(r->step_bytes));
	json_object_set_new(j, "threads", json_integer(r->threads));
	json_object_set_new(j, "qd", json_integer(o->qd));
	if (o->nr_degraded) {
		arr = json_array();
		for (unsigned int i = 0; i < o->nr_degraded; i++)
			json_array_append_new(arr, json_integer(o->degraded[i]));
	}
	json_object_set_new(j, "degraded", arr);
	json_object_set_new(j, "bytes", json_integer(w->bytes));
	json_object_set_new(j, "elapsed_s", json_real(r->elapsed_s));
	json_object_set_new(j, "throughput_bps",
			    json_real(r->elapsed_s > 0 ? w->bytes / r->elapsed_s : 0));
	json_object_set_new(j, "cpu_s", json_real(r->cpu_s));
	json_object_set_new(j, "full_stripes", json_integer(r->full));
	json_object_set_new(j, "partial_stripes", json_integer(r->partial));
	json_object_set_new(j, "stripes_spanned", json_integer(r->stripes));
	json_object_set_new(j, "recovered_stripes", json_integer(r->recovered));
	json_object_set_new(j, "plain_reads", json_integer(r->plain));
	json_object_set_new(j, "recover_unit",
			    json_string(o->recover_stripe ? "stripe" : "sector"));
	json_object_set_new(j, "plug", json_boolean(!o->no_plug));
	json_object_set_new(j, "stripe_cache", json_integer(o->stripe_cache));
	json_object_set_new(j, "stripe_cache_hits", json_integer(r->cache_hits));
	json_object_set_new(j, "parity", bbs_phase_json(&r->parity, WHY_NONE));
	json_object_set_new(j, "parity_busy_s", json_real(r->parity.sum_ns / 1e9));
	arr = json_array();
	for (unsigned int i = 0; i < o->nr_targets; i++)
		json_array_append_new(arr, bbs_json_str(o->targets[i]));
	json_object_set_new(j, "targets", arr);
	return j;
}

static int replay_parity(int argc, char **argv)
{
	struct parity_cmd c = {
		.o = { .qd = BBS_RAID56_DEF_QD,
		       .data_seed = BBS_POOL_SEED,
		       .stripe_cache = BBS_RAID56_DEF_CACHE },
	};
	struct bbs_raid56_result r;
	struct bbs_workload w;
	int ret;

	c.co.json = bbs_opt_json(argc, argv);
	bbs_workload_init(&w);
	ret = parity_parse(argc, argv, &c);
	if (ret != BBS_PARSE_GO)
		goto out;
	c.o.force = c.co.force;
	if (bbs_replay_load(&w, c.co.synthetic, c.co.trace, BBS_REPLAY_STRIPS)) {
		ret = BBS_EXIT_USAGE;
		goto out;
	}
	ret = engine_exit(bbs_raid56_replay(&c.o, &w, &r));
	if (ret == BBS_EXIT_OK) {
		if (!c.co.json)
			parity_text(&c, &w, &r);
		if (print_report(&c.co, &r.report, c.co.json ? parity_json(&c, &w, &r) : NULL))
			ret = BBS_EXIT_FAIL;
		bbs_raid56_free(&r);
	}
out:
	bbs_workload_free(&w);
	free(c.copy);
	return ret;
}

/* ---- the command ---- */

static const struct bbs_cmd replay_cmds[] = {
	{ "csum", replay_csum, "data writes with btrfs checksums: serial, async, offload, none" },
	{ "parity", replay_parity, "raid5/6 stripe writes (rmw) or degraded reads (recover)" },
};

int cmd_replay(int argc, char **argv)
{
	/* A --json anywhere makes even a dispatch error JSON. */
	bbs_opt_json(argc, argv);
	return bbs_dispatch(replay_cmds, sizeof(replay_cmds) / sizeof(replay_cmds[0]), argc, argv,
			    "bbscope replay", "subcommand");
}
