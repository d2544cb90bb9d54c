// SPDX-License-Identifier: GPL-2.0
/* bbscope hist: live per-phase latency histograms of btrfs bios. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#include "cli/cmd.h"
#include "cli/options.h"
#include "render/report.h"
#include "render/print.h"
#include "render/prom.h"
#include "trace/tracer.h"
#include "host/util.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bbscope hist [-i SEC] [-c COUNT] [--duration SEC] [--fs MOUNTPOINT]\n"
		   "                    [--dev NAME] [--func SPEC]... [-m] [-s] [--json]\n"
		   "                    [--prom [ADDR:PORT]] [--sample N] [-v]\n"
		   "\n"
		   "Trace every btrfs bio and print per-phase latency histograms:\n"
		   "  queue    block_bio_queue -> request issue (request-based devices)\n"
		   "  device   issue (bio-based: queue) -> completion\n"
		   "  hop      completion -> btrfs end_io work starts\n"
		   "  endio    btrfs end_io work runtime\n"
		   "  total    queue -> end of end_io\n"
		   "  csum, ordered, rmw, recover: per filesystem, where observable\n"
		   "\n"
		   "  -i, --interval SEC   print every SEC seconds (default: once, at the end)\n"
		   "  -c, --count N        stop after N intervals\n"
		   "  -d, --duration SEC   stop after SEC seconds\n"
		   "  -f, --fs PATH        only this btrfs filesystem (a path on it)\n"
		   "  -D, --dev NAME       only this block device (loop0, /dev/loop0, 7:0)\n"
		   "  -F, --func SPEC      also time a kernel function (phase func:NAME) where\n"
		   "                       the kernel allows fentry or kprobes; SPEC is a\n"
		   "                       function or a preset: raid56, csum (repeatable)\n"
		   "  -m, --milliseconds   millisecond histograms\n"
		   "  -s, --summary        the per-phase table only, no star histograms\n"
		   "  -j, --json           one JSON object per interval (docs/json.md)\n"
		   "      --prom [ADDR:PORT] serve the histograms to Prometheus at\n"
		   "                       http://ADDR:PORT/metrics (default 127.0.0.1:9435:\n"
		   "                       loopback unless told; port 0: any free one, printed).\n"
		   "                       The endpoint counts from the start (cumulative, as\n"
		   "                       Prometheus wants); the terminal shows each interval.\n"
		   "      --evict-after SEC  drop bios in flight longer than this (default 30)\n"
		   "      --sample N       follow one bio in N (by a hash of the bio, not\n"
		   "                       time): histograms unbiased, counts and bytes\n"
		   "                       scaled by N, the cost per I/O cut (default 1)\n"
		   "  -v, --verbose        libbpf messages and attach details\n");
}

/* false when stdout cannot take it any more (a full disk, a closed pipe) */
static bool print_interval(const struct bbs_report *r, bool json, const struct bbs_print_opts *po)
{
	char ts[32];
	time_t now;

	if (json) {
		json_t *o = bbs_report_json(r);
		int ret = bbs_json_print(o, 0);

		json_decref(o);
		if (ret)
			return false; /* it said why, or bbs_exit() will */
	} else {
		now = time(NULL);
		strftime(ts, sizeof(ts), "%H:%M:%S", localtime(&now));
		printf("--- %s, %.2f s ---\n", ts, r->interval_s);
		bbs_report_print(stdout, r, po);
		bbs_report_print_cost(stdout, r);
	}
	return bbs_stdout_ok();
}

/*
 * --prom: once a second, drain the maps into this interval and the whole
 * run, and publish the whole run to the endpoint (Prometheus wants
 * cumulative counters; the terminal shows each interval).
 */
static void fold_prom(struct bbs_tracer *t, struct bbs_prom *prom, struct bbs_report *r,
		      struct bbs_report *iv, struct bbs_report *total)
{
	if (bbs_tracer_drain(t, r) == 0) {
		bbs_report_merge(iv, r);
		bbs_report_merge(total, r);
	}
	bbs_report_sort(total);
	bbs_prom_publish(prom, total);
}

/* What the command line asks for. */
struct hist_args {
	struct bbs_trace_args ta; /* the tracer's options (cli/options.h) */
	struct bbs_print_opts po;
	double interval;
	unsigned long long count;
	const char *prom_addr;
	bool prom_on, json;
};

static int hist_opt(struct hist_args *a, int c, int argc, char **argv)
{
	switch (c) {
	case 'i':
		if (bbs_parse_seconds(optarg, &a->interval) || a->interval < 0.01) {
			bbs_err("-i %s: want seconds from 0.01 to %d", optarg, BBS_SECONDS_MAX);
			return 2;
		}
		return 0;
	case 'c':
		if (bbs_parse_uint(optarg, ULLONG_MAX, &a->count) || !a->count) {
			bbs_err("-c %s: want a count from 1 to %llu", optarg, ULLONG_MAX);
			return 2;
		}
		return 0;
	case 'm':
		a->po.ms = true;
		return 0;
	case 's':
		a->po.summary = true;
		return 0;
	case 'j':
		return 0;
	case 'P':
		if (a->prom_on) {
			bbs_err("--prom given twice: the endpoint listens on one address "
				"(give one)");
			return 2;
		}
		a->prom_on = true;
		a->prom_addr = optarg;
		/* --prom ADDR:PORT as well as --prom=ADDR:PORT */
		if (!optarg && optind < argc && argv[optind][0] != '-' && strchr(argv[optind], ':'))
			a->prom_addr = argv[optind++];
		return 0;
	case 'h':
		usage(stdout);
		return 0;
	}
	/* -F is --func here (record's -F is --force). */
	c = bbs_opt_tracer(c == 'F' ? BBS_OPT_FUNC : c, optarg, &a->ta);
	if (c == BBS_PARSE_GO) {
		usage(stderr);
		return 2;
	}
	return c;
}

static int parse_args(int argc, char **argv, struct hist_args *a)
{
	static const struct option long_opts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'c' },
		{ "milliseconds", no_argument, NULL, 'm' },
		{ "summary", no_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "prom", optional_argument, NULL, 'P' },
		BBS_TRACER_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int c, ret;

	/* Errors come out as JSON when JSON was asked for, even in option parsing. */
	a->json = bbs_opt_json(argc, argv);

	while ((c = getopt_long(argc, argv, "i:c:d:f:D:F:msjvh", long_opts, NULL)) != -1) {
		ret = hist_opt(a, c, argc, argv);
		if (ret || c == 'h')
			return ret;
	}
	if (optind < argc) {
		bbs_err("unexpected argument '%s'", argv[optind]);
		return 2;
	}
	return BBS_PARSE_GO;
}

/* Drain and print each interval until the count, the duration or a signal. */
static int trace_loop(struct bbs_tracer *t, struct bbs_prom *prom, const struct hist_args *a)
{
	struct bbs_report r, total, iv; /* a drain, the whole run, this interval (--prom) */
	uint64_t start, deadline, next, tick;
	unsigned long long n = 0; /* intervals printed */
	int err = 0;
	bool ok;

	bbs_report_init(&r);
	bbs_report_init(&total);
	bbs_report_init(&iv);
	start = bbs_now_ns();
	deadline = a->ta.duration ? start + (uint64_t)(a->ta.duration * 1e9) : UINT64_MAX;
	next = a->interval ? start + (uint64_t)(a->interval * 1e9) : UINT64_MAX;
	tick = start + 1000000000ULL;
	for (;;) {
		uint64_t now = bbs_now_ns(), until = next < deadline ? next : deadline;

		if (now >= tick) {
			/* The endpoint gets cumulative counts: one second folded in at a time. */
			if (prom)
				fold_prom(t, prom, &r, &iv, &total);
			else
				bbs_tracer_tick(t);
			tick = now + 1000000000ULL;
		}
		if (!stop && now < until) {
			uint64_t left = until - now;

			/* Wake at least every 100ms: a signal may race the sleep. */
			if (left > 100000000ULL)
				left = 100000000ULL;
			poll(NULL, 0, (int)(left / 1000000) + 1);
			continue;
		}
		if (bbs_tracer_drain(t, &r)) {
			bbs_err("cannot read the BPF maps: out of memory");
			err = 1;
			break;
		}
		if (prom) {
			/* The terminal gets this interval, the endpoint the whole run. */
			bbs_report_merge(&iv, &r);
			bbs_report_merge(&total, &r);
			bbs_report_sort(&total);
			bbs_report_sort(&iv);
			bbs_prom_publish(prom, &total);
		}
		ok = print_interval(prom ? &iv : &r, a->json, &a->po);
		bbs_report_reset(&iv);
		if (!ok) {
			err = 1; /* bbs_exit() says why */
			break;
		}
		n++;
		if (stop || now >= deadline || (a->count && n >= a->count))
			break;
		next += (uint64_t)(a->interval * 1e9);
	}
	bbs_report_free(&r);
	bbs_report_free(&total);
	bbs_report_free(&iv);
	return err;
}

int cmd_hist(int argc, char **argv)
{
	struct hist_args a = { 0 };
	struct bbs_tracer *t = NULL;
	struct bbs_prom *prom = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	int err;

	bbs_opt_tracer_init(&a.ta);
	err = parse_args(argc, argv, &a);
	if (err != BBS_PARSE_GO)
		return err;

	if (a.prom_on && bbs_prom_open(&prom, a.prom_addr))
		return 2;
	err = bbs_tracer_open(&t, &a.ta.to);
	if (err) {
		bbs_prom_close(prom);
		return err == -EINVAL ? 2 : 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* A closed terminal or a service's stop: the summary all the same. */
	sigaction(SIGHUP, &sa, NULL);
	if (a.ta.to.verbose)
		bbs_tracer_describe(t, stderr);
	if (prom)
		fprintf(stderr, "bbscope: serving Prometheus metrics on %s\n", bbs_prom_url(prom));
	fprintf(stderr, "bbscope: tracing btrfs bios... Hit Ctrl-C to end.\n");

	err = trace_loop(t, prom, &a);
	bbs_tracer_close(t);
	bbs_prom_close(prom);
	return err ? 1 : 0;
}
