// SPDX-License-Identifier: GPL-2.0
/*
 * bbscope record: stream one record per btrfs bio (and per csum, ordered,
 * rmw and recover span, and raid56 stripe) into a trace file
 * (docs/format.md), optionally around a command, like `perf record`.
 *
 * Every second the in-kernel histograms are drained (so their maps never
 * fill), stale in-flight state is evicted, and the loss counters go into
 * the file with whatever records arrived: a killed recorder loses at most
 * a second.  Each chunk is one write(); a failed write stops the recording
 * and leaves the file ending at its last complete chunk.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <linux/magic.h>
#include <bpf/libbpf.h>

#include "cli/cmd.h"
#include "cli/options.h"
#include "render/report.h"
#include "render/print.h"
#include "trace/tracer.h"
#include "tracefile/tracefile.h"
#include "host/kernel.h"
#include "host/jsonstr.h"
#include "host/outfile.h"
#include "host/util.h"
#include "host/version.h"

#define TICK_NS 1000000000ULL
#define BATCH_NS 20000000L
#define CHILD_GRACE_S 5

static volatile sig_atomic_t stop_sig;

static void on_signal(int sig)
{
	stop_sig = sig;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bbscope record -o FILE [--fs MOUNTPOINT] [--dev NAME] [--duration SEC]\n"
		"                      [--func SPEC]... [--force] [--buffer-mb N] [--json] [-v]\n"
		"                      [--sample N] [-- COMMAND "
		"ARGS...]\n"
		"\n"
		"Record every btrfs bio into FILE: all its phase timestamps, size, device and\n"
		"sector, logical address (data reads), op and flags, submitting pid and comm,\n"
		"CPUs, completion and end_io contexts, end_io workqueue; csum, ordered, rmw\n"
		"and recover spans; raid56 stripe I/O.  Read it with 'bbscope report' and\n"
		"'bbscope export'.  With a COMMAND, record until it exits and exit with its\n"
		"status.  When the recording ends first (--duration, SIGINT/SIGTERM/SIGHUP,\n"
		"a failed write), COMMAND and what it started get that signal (else\n"
		"SIGTERM), then SIGKILL 5 s later; record waits for it and exits with its\n"
		"status (1 when the recording failed).  SIGINT/SIGTERM/SIGHUP end the\n"
		"recording cleanly.\n"
		"\n"
		"  -o, --output FILE     the trace file (refused if it exists, unless --force;\n"
		"                        a character device is written into, e.g. to measure)\n"
		"  -F, --force           overwrite FILE\n"
		"  -f, --fs PATH         only this btrfs filesystem (a path on it)\n"
		"  -D, --dev NAME        only this block device (loop0, /dev/loop0, 7:0)\n"
		"      --func SPEC       also time a kernel function (phase func:NAME), as\n"
		"                        'bbscope hist --func'; its histograms are recorded\n"
		"                        once a second (repeatable)\n"
		"  -d, --duration SEC    stop after SEC seconds\n"
		"  -b, --buffer-mb N     ring buffer size, a power of two (default 16)\n"
		"      --evict-after SEC drop bios in flight longer than this (default 30)\n"
		"      --hist-json FILE  also write the in-kernel histograms of this run, as\n"
		"                        'bbscope hist --json' prints them (for cross-checks)\n"
		"  -j, --json            summary and errors as JSON on stdout\n"
		"      --sample N        record one bio in N (by a hash of the bio, not\n"
		"                        time); report scales counts by N\n"
		"  -v, --verbose         libbpf messages and attach details\n");
}

/* The header's symbol table: each name and its address (0 when absent). */
static void header_syms(struct bbs_tf_header *h, const struct bbs_tracer *t)
{
	const struct bbs_kernel *k = bbs_tracer_kernel(t);

	h->nr_syms = NR_FNS;
	for (int i = 0; i < NR_FNS; i++) {
		snprintf(h->syms[i].name, sizeof(h->syms[i].name), "%s",
			 k->fn_name[i] ? k->fn_name[i] : bbs_fn_candidates(i)[0]);
		h->syms[i].addr = k->fn[i];
	}
}

static const char *resolve_name(enum tf_table table, uint32_t value, char *buf, size_t len)
{
	return table == TF_DEV ? bbs_dev_name(value, buf, len) : bbs_fs_name(value, buf, len);
}

struct recorder {
	const char *path;
	struct bbs_tracer *t;
	struct bbs_tf_writer *w;
	int werr; /* -errno of a failed write */
	int ncpus;
	uint64_t *percpu; /* lost, [cpu * NR_LOST_BPF + reason] */
	uint64_t evicted;
	uint64_t skipped_runs; /* the kernel's skips of our programs, cumulative */
	uint64_t rescued_runs; /* those the copies made up for, cumulative */
	struct bbs_report interval, total; /* in-kernel histograms: this tick, whole run */
	bool keep_total;
};

static int on_event(void *ctx, void *data, size_t len)
{
	struct recorder *rc = ctx;
	int err = bbs_tfw_event(rc->w, data, len);

	if (err)
		rc->werr = err;
	return err; /* non-zero stops ring_buffer__poll() */
}

/* Once a second and at the end: drain the maps, note losses, write a chunk. */
static int tick(struct recorder *rc)
{
	if (bbs_tracer_drain(rc->t, &rc->interval))
		bbs_warn("cannot read the BPF maps: out of memory");
	rc->evicted += rc->interval.evicted;
	rc->skipped_runs += rc->interval.skipped_runs;
	rc->rescued_runs += rc->interval.rescued_runs;
	if (rc->keep_total)
		bbs_report_merge(&rc->total, &rc->interval);
	else
		bbs_report_merge_cost(&rc->total, &rc->interval); /* for the summary */
	if (!rc->werr)
		rc->werr = bbs_tfw_funcs(rc->w, &rc->interval);
	bbs_tracer_lost_percpu(rc->t, rc->percpu, rc->ncpus);
	bbs_tfw_set_lost(rc->w, bbs_now_ns(), rc->percpu, rc->ncpus, NR_LOST_BPF, rc->evicted,
			 rc->skipped_runs);
	if (!rc->werr)
		rc->werr = bbs_tfw_flush(rc->w);
	return rc->werr;
}

static void join_command(char *dst, size_t len, char **argv)
{
	size_t used = 0;

	dst[0] = 0;
	for (int i = 0; argv && argv[i] && used < len; i++)
		used += snprintf(dst + used, len - used, "%s%s", i ? " " : "", argv[i]);
}

/*
 * The command runs in a process group of its own, so that what it starts
 * (sh -c 'dd ...') is stopped with it: stop_command() signals the group.
 */
static pid_t spawn(char **argv)
{
	pid_t pid = fork();

	if (pid == 0) {
		setpgid(0, 0);
		execvp(argv[0], argv);
		fprintf(stderr, "bbscope: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (pid < 0)
		bbs_err("cannot run %s: %s", argv[0], strerror(errno));
	else
		setpgid(pid, pid); /* both sides: no race with the signals below */
	return pid;
}

/*
 * The recording ended before the command did (--duration, SIGINT or
 * SIGTERM, a failed write): the command's process group gets sig (the
 * signal bbscope got, else SIGTERM) and CHILD_GRACE_S seconds to exit, then
 * SIGKILL.  Its status, for the exit status.
 */
static int stop_command(pid_t child, int sig, const char *name)
{
	struct timespec tick = { .tv_nsec = 100000000L };
	int status;

	kill(-child, sig);
	for (int i = 0; i < CHILD_GRACE_S * 10; i++) {
		if (waitpid(child, &status, WNOHANG) == child)
			return status;
		nanosleep(&tick, NULL);
	}
	bbs_warn("%s did not exit %d s after SIG%s: killing it", name, CHILD_GRACE_S,
		 sigabbrev_np(sig));
	kill(-child, SIGKILL);
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

static int exit_status(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void summary(const struct recorder *rc, bool json, double secs, int status)
{
	struct bbs_tf_wstats s;
	struct rusage ru;
	uint64_t lost[NR_LOST_BPF] = { 0 }, nlost = rc->evicted;
	double per, cpu_user, cpu_sys;

	bbs_tfw_stats(rc->w, &s);
	for (int c = 0; c < rc->ncpus; c++)
		for (int i = 0; i < NR_LOST_BPF; i++)
			lost[i] += rc->percpu[c * NR_LOST_BPF + i];
	for (int i = 0; i < NR_LOST_BPF; i++)
		nlost += lost[i];
	per = s.bios ? (double)s.bytes / s.bios : 0;
	getrusage(RUSAGE_SELF, &ru);
	cpu_user = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
	cpu_sys = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	if (json) {
		json_t *o, *ld = json_object();

		for (int i = 0; i < NR_LOST_BPF; i++)
			json_object_set_new(ld, bbs_lost_name[i], json_integer(lost[i]));
		json_object_set_new(ld, "evicted", json_integer(rc->evicted));
		o = json_pack("{s:o,s:f,s:I,s:I,s:I,s:I,s:f,s:I,s:o,s:I,s:f,s:f,s:i}", "file",
			      bbs_json_str(rc->path), "duration_s", secs, "bios",
			      (json_int_t)s.bios, "spans", (json_int_t)s.spans, "stripes",
			      (json_int_t)s.stripes, "bytes", (json_int_t)s.bytes, "bytes_per_bio",
			      per, "lost", (json_int_t)nlost, "lost_detail", ld, "unwritten",
			      (json_int_t)s.unwritten, "cpu_user_s", cpu_user, "cpu_sys_s", cpu_sys,
			      "exit_status", status);
		if (o) {
			bbs_json_set_str(o, "file", rc->path);
			json_object_set_new(o, "bpf_cost", bbs_report_cost_json(&rc->total));
			json_object_set_new(o, "skipped_runs",
					    json_integer((json_int_t)rc->skipped_runs));
			json_object_set_new(o, "rescued_runs",
					    json_integer((json_int_t)rc->rescued_runs));
		}
		bbs_json_print(o, 0);
		fflush(stdout);
		json_decref(o);
		return;
	}
	fprintf(stderr,
		"bbscope: recorded %llu bios, %llu spans, %llu stripes in %.2f s: %llu bytes in "
		"%s, "
		"%.1f bytes per bio; lost %llu",
		(unsigned long long)s.bios, (unsigned long long)s.spans,
		(unsigned long long)s.stripes, secs, (unsigned long long)s.bytes, rc->path, per,
		(unsigned long long)(nlost + s.unwritten));
	/* Records a failed write dropped are lost too: "lost 0" after them would mislead. */
	if (nlost + s.unwritten) {
		fputs(" (", stderr);
		for (int i = 0; i < NR_LOST_BPF; i++)
			if (lost[i])
				fprintf(stderr, "%s %llu, ", bbs_lost_name[i],
					(unsigned long long)lost[i]);
		if (s.unwritten)
			fprintf(stderr, "not written %llu, ", (unsigned long long)s.unwritten);
		fprintf(stderr, "evicted %llu)%s", (unsigned long long)rc->evicted,
			lost[LOST_RINGBUF] ? "; a larger --buffer-mb may help" : "");
	}
	if (rc->skipped_runs)
		fprintf(stderr,
			"\nbbscope: the kernel skipped %llu runs of bbscope's programs "
			"(recursion_misses): a bio may be missing or partly timed",
			(unsigned long long)rc->skipped_runs);
	fputs("\nbbscope: ", stderr);
	bbs_report_print_cost(stderr, &rc->total);
}

/* What the command line asks for. */
struct record_args {
	struct bbs_trace_args ta; /* the tracer's options (cli/options.h) */
	const char *hist_json;
	unsigned long long mb; /* --buffer-mb */
	char **cmd; /* -- COMMAND ARGS..., or NULL */
	bool json, force;
};

static int record_opt(struct record_args *a, struct recorder *rc, int c)
{
	switch (c) {
	case 'o':
		rc->path = optarg;
		return 0;
	case 'F':
		a->force = true;
		return 0;
	case 'b':
		if (bbs_parse_uint(optarg, 1024, &a->mb) || !a->mb || (a->mb & (a->mb - 1))) {
			bbs_err("--buffer-mb %s: want a power of two from 1 to 1024", optarg);
			return 2;
		}
		return 0;
	case 'H':
		a->hist_json = optarg;
		return 0;
	case 'j':
		return 0;
	case 'h':
		usage(stdout);
		return 0;
	}
	c = bbs_opt_tracer(c, optarg, &a->ta);
	if (c == BBS_PARSE_GO) {
		usage(stderr);
		return 2;
	}
	return c;
}

static int parse_args(int argc, char **argv, struct record_args *a, struct recorder *rc)
{
	static const struct option long_opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'F' },
		{ "buffer-mb", required_argument, NULL, 'b' },
		{ "hist-json", required_argument, NULL, 'H' },
		{ "json", no_argument, NULL, 'j' },
		BBS_TRACER_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int c, ret;

	a->json = bbs_opt_json(argc, argv);

	/* '+': the first non-option begins the command, as with -- */
	while ((c = getopt_long(argc, argv, "+o:Ff:D:d:b:jvh", long_opts, NULL)) != -1) {
		ret = record_opt(a, rc, c);
		if (ret || c == 'h')
			return ret;
	}
	if (optind < argc)
		a->cmd = argv + optind;
	if (!rc->path) {
		bbs_err("record needs -o FILE");
		return 2;
	}
	return BBS_PARSE_GO;
}

/* The trace file and --hist-json, refused before anything is traced. */
static int open_output(const struct record_args *a, const char *path, struct bbs_out *out)
{
	unsigned int out_flags = BBS_OUT_DIRECT | BBS_OUT_SEEKABLE;
	char why[PATH_MAX + 128];
	struct stat st;
	int n;

	/*
	 * An empty file of the caller's is what a record killed before its
	 * header (while the tracer loaded, ~0.7 s) leaves: no recording, nothing
	 * to lose, so it is replaced without --force.
	 */
	if (!a->force && !lstat(path, &st) && S_ISREG(st.st_mode) && !st.st_size &&
	    st.st_uid == geteuid())
		out_flags |= BBS_OUT_FORCE;
	/* Refused paths are refused before anything is traced. */
	if (bbs_out_precheck(a->hist_json, a->force ? BBS_OUT_FORCE : 0, why, sizeof(why))) {
		bbs_err("--hist-json %s: %s", a->hist_json, why);
		return BBS_EXIT_USAGE;
	}
	n = bbs_out_open(out, path, out_flags | (a->force ? BBS_OUT_FORCE : 0));
	if (n) {
		bbs_err("%s: %s", path, out->why);
		return bbs_out_refused(n) ? BBS_EXIT_USAGE : BBS_EXIT_FAIL;
	}
	return 0;
}

/* The header: the phases this kernel cannot show (a first drain), the host, the filters. */
static void fill_header(struct bbs_tf_header *h, struct recorder *rc, const struct record_args *a)
{
	const struct bbs_tracer_opts *to = &a->ta.to;
	struct utsname uts;

	for (int op = 0; op < BBS_NR_OPS; op++)
		for (int p = 0; p < NR_PHASES; p++) {
			h->phase_why[op][p] = rc->interval.phase_why[op][p];
			if (rc->interval.phase_why[op][p] == WHY_NO_TRACEPOINT)
				h->phase_unavailable |= 1U << p;
		}
	h->have_phase_why = true;
	snprintf(h->tracer, sizeof(h->tracer), "%s", bbs_tracer_attach_type(rc->t));
	h->sample = to->sample > 1 ? to->sample : 0;
	snprintf(h->version, sizeof(h->version), "%s", bbs_version);
	snprintf(h->commit, sizeof(h->commit), "%s", bbs_commit);
	h->ncpus = rc->ncpus;
	h->filter_fs = to->filter_fs;
	h->filter_dev = to->filter_dev;
	if (!uname(&uts))
		snprintf(h->kernel, sizeof(h->kernel), "%s", uts.release);
	gethostname(h->host, sizeof(h->host) - 1);
	join_command(h->command, sizeof(h->command), a->cmd);
	header_syms(h, rc->t);
}

/*
 * Until the duration, a signal, a failed write or the command's exit: 0, or
 * 1 when the ring buffer could not be read.
 */
static int record_loop(struct recorder *rc, const struct record_args *a, pid_t child, int *status,
		       bool *child_done)
{
	struct timespec batch = { .tv_nsec = BATCH_NS };
	uint64_t start, deadline, next_tick;
	double duration = a->ta.duration;
	int n;

	start = bbs_now_ns();
	deadline = duration ? start + (uint64_t)(duration * 1e9) : UINT64_MAX;
	next_tick = start + TICK_NS;
	while (!stop_sig && !rc->werr) {
		uint64_t now;

		/*
		 * Take what the ring buffer holds, then sleep: one wakeup per
		 * batch instead of one per bio (16 MiB hold 20 ms of far more
		 * bios than a machine submits).
		 */
		n = bbs_tracer_poll(rc->t, 0);
		if (n < 0 && n != -EINTR && !rc->werr) {
			bbs_err("cannot read the ring buffer: %s", strerror(-n));
			return 1;
		}
		nanosleep(&batch, NULL);
		now = bbs_now_ns();
		if (now >= next_tick) {
			tick(rc);
			next_tick = now + TICK_NS;
		}
		if (child > 0 && waitpid(child, status, WNOHANG) == child) {
			*child_done = true;
			break;
		}
		if (now >= deadline)
			break;
	}
	/* What is still in the ring buffer, then the last chunk and the trailer. */
	while (!rc->werr && bbs_tracer_poll(rc->t, 0) > 0)
		;
	tick(rc);
	return 0;
}

/* --hist-json: the in-kernel histograms of the whole run.  0, or 1 after one error line. */
static int write_hist_json(struct recorder *rc, const struct record_args *a, double secs)
{
	char why[PATH_MAX + 128];
	json_t *o;
	char *s;
	int ret = 0;

	rc->total.interval_s = secs;
	bbs_report_sort(&rc->total);
	o = bbs_report_json(&rc->total);
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (!s)
		snprintf(why, sizeof(why), "cannot encode the JSON");
	if (!s || bbs_out_write_all(a->hist_json, a->force ? BBS_OUT_FORCE : 0, s, strlen(s), why,
				    sizeof(why))) {
		bbs_err("cannot write %s: %s", a->hist_json, why);
		ret = 1;
	}
	free(s);
	json_decref(o);
	return ret;
}

/*
 * The end: the command stopped, the trailer written, the summary, --hist-json,
 * the file committed.  The exit status, from ret (0: recorded to the end).
 */
static int finish(struct recorder *rc, const struct record_args *a, struct bbs_out *out,
		  uint64_t start_ns, pid_t child, int status, bool child_done, int ret)
{
	int n;

	if (child > 0 && !child_done) {
		status = stop_command(child, stop_sig ? stop_sig : SIGTERM, a->cmd[0]);
		child_done = true;
	}
	n = bbs_tfw_finish(rc->w, bbs_now_ns(), 0);
	if (!rc->werr && n)
		rc->werr = n;
	if (rc->werr) {
		struct bbs_tf_wstats s;

		bbs_tfw_stats(rc->w, &s);
		bbs_err("cannot write %s: %s; recording stopped, the file holds %llu bios "
			"(%llu records not written)%s",
			rc->path, strerror(-rc->werr), (unsigned long long)s.bios,
			(unsigned long long)s.unwritten, n ? "" : ", and ends with a trailer");
		ret = 1;
	} else if (ret == 0 && child_done) {
		ret = exit_status(status);
	}
	summary(rc, a->json && !rc->werr, (bbs_now_ns() - start_ns) / 1e9,
		child_done ? exit_status(status) : 0);
	if (a->hist_json && !rc->werr && write_hist_json(rc, a, (bbs_now_ns() - start_ns) / 1e9))
		ret = ret ? ret : 1;
	bbs_tfw_free(rc->w);
	rc->w = NULL;
	if (bbs_out_commit(out) && !rc->werr) {
		bbs_err("cannot write %s: %s", rc->path, out->why);
		ret = ret ? ret : 1;
	}
	return ret;
}

int cmd_record(int argc, char **argv)
{
	struct record_args a = { 0 };
	struct bbs_tracer_opts *to = &a.ta.to;
	struct recorder rc = { 0 };
	struct bbs_tf_header *h = NULL;
	struct bbs_tf_wopts wo = { .resolve = resolve_name };
	struct sigaction sa = { .sa_handler = on_signal };
	bool child_done = false;
	pid_t child = 0;
	struct bbs_out out = { .fd = -1 };
	int ret = 1, status = 0, n;
	struct timespec rt;

	bbs_opt_tracer_init(&a.ta);
	to->emit_events = true;
	to->on_event = on_event;
	n = parse_args(argc, argv, &a, &rc);
	if (n != BBS_PARSE_GO)
		return n;
	n = open_output(&a, rc.path, &out);
	if (n)
		return n;
	to->ringbuf_mb = a.mb;
	to->event_ctx = &rc;

	h = calloc(1, sizeof(*h));
	if (!h) {
		bbs_err("out of memory");
		bbs_out_abort(&out);
		return 1;
	}
	/* The clock base: both clocks together, before anything can be traced. */
	clock_gettime(CLOCK_REALTIME, &rt);
	h->mono_ns = bbs_now_ns();
	h->real_ns = (uint64_t)rt.tv_sec * 1000000000ULL + rt.tv_nsec;
	if (bbs_tracer_open(&rc.t, to))
		goto out_free;
	if (to->verbose)
		bbs_tracer_describe(rc.t, stderr);

	rc.ncpus = libbpf_num_possible_cpus();
	rc.percpu = calloc((size_t)rc.ncpus * NR_LOST_BPF, sizeof(*rc.percpu));
	rc.keep_total = a.hist_json != NULL;
	bbs_report_init(&rc.interval);
	bbs_report_init(&rc.total);
	/* A first drain: the phases this kernel cannot show. */
	bbs_tracer_drain(rc.t, &rc.interval);
	if (!rc.percpu)
		goto out_close;
	if (rc.keep_total)
		bbs_report_merge(&rc.total, &rc.interval);
	fill_header(h, &rc, &a);
	wo.fs = to->filter_fs ? &to->filter_fs : NULL;
	wo.nr_fs = !!to->filter_fs;
	wo.dev = to->filter_dev ? &to->filter_dev : NULL;
	wo.nr_dev = !!to->filter_dev;

	n = bbs_tfw_open(&rc.w, out.fd, h, &wo);
	if (n) {
		bbs_err("cannot write %s: %s", rc.path, strerror(-n));
		goto out_close;
	}

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* A closed terminal or a service's stop: a finished file, as hist's summary. */
	sigaction(SIGHUP, &sa, NULL);
	fprintf(stderr, "bbscope: tracing btrfs bios into %s... Hit Ctrl-C to end.\n", rc.path);
	if (a.cmd)
		child = spawn(a.cmd);
	if (child >= 0)
		ret = record_loop(&rc, &a, child, &status, &child_done);
	ret = finish(&rc, &a, &out, h->mono_ns, child, status, child_done, ret);
out_close:
	bbs_report_free(&rc.interval);
	bbs_report_free(&rc.total);
	free(rc.percpu);
	bbs_tracer_close(rc.t);
out_free:
	/* Not started: the file this run created goes again. */
	if (out.fd >= 0)
		bbs_out_abort(&out);
	free(h);
	return ret;
}
