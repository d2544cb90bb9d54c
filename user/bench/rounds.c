// SPDX-License-Identifier: GPL-2.0
/*
 * One round of a bench run, in this order:
 *
 *   kernel    `record -o TRACE --fs MNT -- fio ...` (--size of writes,
 *             fsync at the end), then `report --json TRACE`
 *   none, serial, async, offload
 *             `replay csum --trace TRACE --target STORE/replay.img`
 *   step, batched (raid5/raid6)
 *             `replay parity --trace TRACE --targets STORE/parity.N.img,...`:
 *             the recording's raid5/6 data strip writes (P and Q are
 *             computed), on as many targets as its full stripes have strips
 *   m, c      cold memcpy and checksum bandwidth, one core, here
 *
 * d is mode none's throughput in the same round.  Each row's sample keeps
 * its phases merged over the report's groups, as model/report.c would have
 * merged them.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/internal.h"
#include "host/util.h"
#include "render/report.h"
#include "render/html.h"
#include "tracefile/tracefile.h"

/* ---- phases: merged over groups, as model/report.c would have merged them ---- */

/* Add a phase object's buckets (docs/json.md) into h. */
static void hist_add_phase(struct bbs_hist *h, const json_t *phase)
{
	const json_t *bk = json_object_get(phase, "buckets"), *e;
	uint64_t cnt = json_integer_value(json_object_get(phase, "count"));
	uint64_t max = json_integer_value(json_object_get(phase, "max_ns"));
	size_t i;

	if (!cnt)
		return;
	json_array_foreach(bk, i, e)
	{
		uint64_t lo = json_integer_value(json_array_get(e, 0));

		h->slots[bbs_hist_slot(lo)] += json_integer_value(json_array_get(e, 2));
	}
	h->count += cnt;
	/* The exact sum; count x the integer mean for a report of schema version 1. */
	if (json_is_integer(json_object_get(phase, "sum_ns")))
		h->sum_ns += json_integer_value(json_object_get(phase, "sum_ns"));
	else
		h->sum_ns += cnt * json_integer_value(json_object_get(phase, "mean_ns"));
	if (max > h->max_ns)
		h->max_ns = max;
}

enum { DEV_GROUPS, FS_GROUPS }; /* which groups of a report hold a phase */

/* Phase name of the write data groups of a report (which: device or fs groups). */
static void merge_phase(struct bbs_hist *h, const json_t *report, const char *name, int which)
{
	const json_t *groups = json_object_get(report, "groups"), *g;
	size_t i;

	memset(h, 0, sizeof(*h));
	json_array_foreach(groups, i, g)
	{
		bool dev = !json_is_null(json_object_get(g, "dev"));
		const char *op = json_string_value(json_object_get(g, "op"));
		const char *kind = json_string_value(json_object_get(g, "kind"));

		if ((which == DEV_GROUPS && !dev) || (which == FS_GROUPS && dev))
			continue;
		if (!op || strcmp(op, "write") || !kind || strcmp(kind, "data"))
			continue;
		hist_add_phase(h, json_object_get(json_object_get(g, "phases"), name));
	}
}

/* The sample's view of a phase: its statistics without the buckets. */
static json_t *phase_stats(const struct bbs_hist *h)
{
	json_t *o = bbs_phase_json(h, WHY_NONE);

	json_object_del(o, "buckets");
	return o;
}

/*
 * Put phase name of report into sample (statistics) and into full (the
 * whole phase object, for the page's histograms).
 */
static void take_phase(json_t *sample, json_t *full, const json_t *report, const char *name,
		       int which)
{
	struct bbs_hist h;

	merge_phase(&h, report, name, which);
	json_object_set_new(json_object_get(sample, "phases"), name, phase_stats(&h));
	json_object_set_new(full, name, bbs_phase_json(&h, WHY_NONE));
}

static void take_raid_phase(json_t *sample, json_t *full, const json_t *report, const char *name)
{
	struct bbs_hist h = { 0 };

	hist_add_phase(&h, json_object_get(json_object_get(report, "raid56"), name));
	json_object_set_new(json_object_get(sample, "phases"), name, phase_stats(&h));
	json_object_set_new(full, name, bbs_phase_json(&h, WHY_NONE));
}

/* Sum the integer members of src into dst (contexts, workqueues). */
static void add_counts(json_t *dst, const json_t *src)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)src, k, v)
	{
		json_int_t have = json_integer_value(json_object_get(dst, k));

		json_object_set_new(dst, k, json_integer(have + json_integer_value(v)));
	}
}

/* ---- the kernel round ---- */

/*
 * First data write queued to the last one finished, from the trace itself;
 * and the data strips per full stripe of its first raid5/6 data strip write
 * (what `replay parity --trace` replays), 0 when it has none.
 */
struct ival {
	uint64_t a, z;
};

static int by_start(const void *x, const void *y)
{
	const struct ival *p = x, *q = y;

	return p->a < q->a ? -1 : p->a > q->a;
}

/* Time covered by at least one of the n intervals (sorted here). */
static uint64_t union_ns(struct ival *v, size_t n)
{
	uint64_t sum = 0, a = 0, z = 0;

	qsort(v, n, sizeof(*v), by_start);
	for (size_t i = 0; i < n; i++) {
		if (i && v[i].a <= z) {
			z = v[i].z > z ? v[i].z : z;
			continue;
		}
		sum += z - a;
		a = v[i].a;
		z = v[i].z;
	}
	return sum + (z - a);
}

/*
 * One write at a time (--workload direct): each write is one ordered extent
 * (made when btrfs starts writing it back, or by the direct path), so the
 * recording splits every write's time in the writer's order:
 *
 *   front   the previous write's last data bio done -> this ordered extent
 *           made: the syscall's return and the next one's start and, where
 *           btrfs falls back to a buffered write, the page-cache copy
 *   submit  ordered extent made -> its first data bio queued: writeback
 *           submission (extent_writepage) and the inline checksum
 *   bio     first data bio queued -> its last one's end_io done
 *   finish  last end_io done -> the ordered extent removed (a worker; the
 *           writer only waits for it where the kernel makes it)
 *
 * Sums over the writes that have bios; n how many.
 */
static void write_timeline(struct ival *oe, size_t noe, struct ival *iv, size_t niv,
			   struct bbs_kwrites *kw)
{
	size_t j = 0;
	uint64_t prev_end = 0;

	memset(kw, 0, sizeof(*kw));
	qsort(oe, noe, sizeof(*oe), by_start);
	/* iv is sorted by union_ns() already */
	for (size_t i = 0; i < noe; i++) {
		uint64_t next = i + 1 < noe ? oe[i + 1].a : UINT64_MAX, q = 0, z = 0;

		while (j < niv && iv[j].a < oe[i].a)
			j++;
		for (; j < niv && iv[j].a < next; j++) {
			q = q ? q : iv[j].a;
			z = iv[j].z > z ? iv[j].z : z;
		}
		if (!q)
			continue;
		kw->n++;
		kw->submit_ns += q - oe[i].a;
		kw->bio_ns += z - q;
		kw->finish_ns += oe[i].z > z ? oe[i].z - z : 0;
		if (prev_end && oe[i].a > prev_end) {
			kw->front_ns += oe[i].a - prev_end;
			kw->nfront++;
		}
		prev_end = z;
	}
}

static int data_write_span(const char *trace, double *secs, uint64_t *bytes,
			   unsigned int *strip_data, double *busy_s, struct bbs_kwrites *kw)
{
	uint64_t first = UINT64_MAX, last = 0;
	struct ival *iv = NULL, *oe = NULL;
	size_t niv = 0, cap = 0, noe = 0, oecap = 0;
	struct bbs_tf_reader *rd;
	struct bbs_tf_event ev;
	char err[256];

	*bytes = 0;
	*strip_data = 0;
	if (bbs_tfr_open(&rd, trace, err, sizeof(err))) {
		bbs_err("bench: cannot read %s: %s", trace, err);
		return -1;
	}
	while (bbs_tfr_next(rd, &ev) == 1) {
		struct bbs_bio_phases p;
		uint64_t end;

		if (ev.type == EV_STRIPE && bbs_stripe_data_write(&ev.stripe) && !*strip_data)
			*strip_data = ev.stripe.nr_data;
		if (ev.type == EV_ORDERED && kw) {
			if (noe == oecap) {
				struct ival *n = realloc(oe, (oecap = oecap ? 2 * oecap : 256) *
								     sizeof(*oe));

				if (!n)
					continue; /* the timeline is left out, not the run */
				oe = n;
			}
			oe[noe++] = (struct ival){ ev.span.start_ns, ev.span.end_ns };
		}
		if (ev.type != EV_BIO || !bbs_bio_data_write(&ev.bio))
			continue;
		bbs_bio_phases(&ev.bio, &p);
		end = ev.bio.queue_ns + ((p.have & (1U << PHASE_TOTAL)) ? p.ns[PHASE_TOTAL] : 0);
		first = ev.bio.queue_ns < first ? ev.bio.queue_ns : first;
		last = end > last ? end : last;
		*bytes += ev.bio.bytes;
		if (niv == cap) {
			struct ival *n = realloc(iv, (cap = cap ? 2 * cap : 1024) * sizeof(*iv));

			if (!n) {
				free(iv);
				free(oe);
				bbs_tfr_close(rd);
				bbs_err("bench: cannot read %s: out of memory", trace);
				return -1;
			}
			iv = n;
		}
		iv[niv++] = (struct ival){ ev.bio.queue_ns, end };
	}
	bbs_tfr_close(rd);
	*secs = last > first ? (last - first) / 1e9 : 0;
	/* time with at least one data write bio in flight (the rest: none was) */
	*busy_s = niv ? union_ns(iv, niv) / 1e9 : 0;
	if (kw)
		write_timeline(oe, noe, iv, niv, kw);
	free(iv);
	free(oe);
	return 0;
}

/* The workload's command line, for fio; its report goes to a file, not stdout. */
#define RANGE_BYTES (8ULL << 20) /* --writeback background: sync_file_range this often */

struct fio_cmd {
	char file[PATH_MAX + 48], rw[32], bs[48], size[48], out[PATH_MAX + 48], sfr[48];
	const char *argv[20];
};

static const char **fio_cmd(struct bbs_bench *b, struct fio_cmd *c)
{
	int n = 0;

	snprintf(c->file, sizeof(c->file), "--filename=%s/bench.data", b->datadir);
	snprintf(c->rw, sizeof(c->rw), "--rw=%s", b->o.rand ? "randwrite" : "write");
	snprintf(c->bs, sizeof(c->bs), "--bs=%llu", (unsigned long long)b->o.bs);
	snprintf(c->size, sizeof(c->size), "--size=%llu", (unsigned long long)b->o.size);
	snprintf(c->out, sizeof(c->out), "--output=%s/fio.json", b->work);
	c->argv[n++] = "fio";
	c->argv[n++] = "--name=bbscope-bench";
	c->argv[n++] = c->file;
	c->argv[n++] = c->rw;
	c->argv[n++] = c->bs;
	c->argv[n++] = c->size;
	c->argv[n++] = "--end_fsync=1";
	c->argv[n++] = "--output-format=json";
	c->argv[n++] = c->out;
	if (b->o.direct) {
		/* the async csum series' own case: O_DIRECT, one write in flight */
		c->argv[n++] = "--direct=1";
		c->argv[n++] = "--ioengine=psync";
	} else if (b->o.rand) {
		/* buffered random writes would reach btrfs sorted, at writeback */
		c->argv[n++] = "--direct=1";
		c->argv[n++] = "--ioengine=libaio";
		c->argv[n++] = "--iodepth=16";
	} else {
		c->argv[n++] = "--ioengine=psync";
	}
	if (!b->o.rand && !b->o.fsync_only && !b->o.direct) {
		uint64_t every = RANGE_BYTES / b->o.bs;

		snprintf(c->sfr, sizeof(c->sfr), "--sync_file_range=write:%llu",
			 (unsigned long long)(every ? every : 1));
		c->argv[n++] = c->sfr;
	}
	c->argv[n] = NULL;
	return c->argv;
}

/* Remove the previous round's file, and commit, so its space is free again. */
static int remove_data(struct bbs_bench *b)
{
	char data[PATH_MAX + 32];
	int fd;

	snprintf(data, sizeof(data), "%s/bench.data", b->datadir);
	if (unlink(data) && errno != ENOENT) {
		bbs_err("bench: cannot remove %s: %s", data, strerror(errno));
		return -1;
	}
	fd = open(b->mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		syncfs(fd);
		close(fd);
	}
	return 0;
}

/*
 * Once, unmeasured, before the first round: the workload, so the pages
 * behind the sandbox's loop devices (tmpfs, zram) exist before anything is
 * timed.  Otherwise the first round alone pays for allocating them.  The
 * replay target gets the same in the first round (bench_round()).
 */
int bench_warm_up(struct bbs_bench *b)
{
	struct fio_cmd c;
	char msg[512];

	fprintf(stderr, "bbscope: bench: warming up (the workload once, not measured)\n");
	if (bench_child(b, false, (char **)fio_cmd(b, &c))) {
		if (!bench_stop_sig) {
			bench_child_error(b, msg, sizeof(msg));
			bbs_err("bench: fio (warm-up) failed: %s", msg);
		}
		return -1;
	}
	return remove_data(b);
}

/* The contexts and workqueues of the report's device groups of data writes, summed. */
static void kernel_contexts(json_t *s, const json_t *rep)
{
	json_t *cctx = json_object(), *ectx = json_object(), *wq = json_object(), *g;
	const json_t *raid = json_object_get(rep, "raid56");
	size_t i;

	json_array_foreach(json_object_get(rep, "groups"), i, g)
	{
		const char *op = json_string_value(json_object_get(g, "op"));
		const char *kind = json_string_value(json_object_get(g, "kind"));

		if (json_is_null(json_object_get(g, "dev")) || !op || strcmp(op, "write") ||
		    !kind || strcmp(kind, "data"))
			continue;
		add_counts(cctx, json_object_get(g, "complete_ctx"));
		add_counts(ectx, json_object_get(g, "endio_ctx"));
		add_counts(wq, json_object_get(g, "endio_wq"));
	}
	json_object_set_new(s, "complete_ctx", cctx);
	json_object_set_new(s, "endio_ctx", ectx);
	json_object_set_new(s, "endio_wq", wq);
	json_object_set_new(s, "stripe_writes", json_copy(json_object_get(raid, "stripe_writes")));
	json_object_set_new(s, "stripe_reads", json_copy(json_object_get(raid, "stripe_reads")));
}

/* The kernel row's sample of this round, from the recording and its report. */
static void kernel_sample(struct bbs_bench *b, const json_t *rec, json_t *rep, double span,
			  uint64_t dev_bytes, double busy)
{
	json_t *s, *full = json_object(), *ph;

	s = json_pack("{s:I,s:I,s:f,s:f,s:f,s:{},s:I}", "bytes", (json_int_t)b->o.size,
		      "device_bytes", (json_int_t)dev_bytes, "elapsed_s", span, "throughput_bps",
		      b->o.size / span, "workload_s", bbs_json_num(rec, "duration_s"), "phases",
		      "lost", json_integer_value(json_object_get(rep, "lost")));
	for (int p = PHASE_QUEUE; p <= PHASE_TOTAL; p++)
		take_phase(s, full, rep, bbs_phase_name[p], DEV_GROUPS);
	take_phase(s, full, rep, "csum", FS_GROUPS);
	take_phase(s, full, rep, "ordered", FS_GROUPS);
	take_raid_phase(s, full, rep, "rmw");
	take_raid_phase(s, full, rep, "recover");
	ph = json_object_get(json_object_get(s, "phases"), "csum");
	if (json_integer_value(json_object_get(ph, "count"))) {
		double busy = bbs_json_num(ph, "sum_ns") / 1e9;

		json_object_set_new(s, "csum_busy_s", json_real(busy));
		json_object_set_new(s, "csum_share", json_real(busy / span));
	}
	json_object_set_new(s, "bio_busy_s", json_real(busy));
	kernel_contexts(s, rep);
	json_array_append_new(b->samples[ROW_KERNEL], s);
	json_decref(b->last[ROW_KERNEL]);
	b->last[ROW_KERNEL] = full;
	json_decref(b->last_report);
	b->last_report = json_incref(rep);
}

/* `record` of the workload, then `report --json` of the recording. */
static int kernel_record(struct bbs_bench *b, json_t **rec, json_t **rep)
{
	const char *args[32] = {
		"record", "-o", b->trace, "--force", "--fs", b->mnt, "--json", "--"
	};
	const char *rargs[] = { "report", "--json", b->trace, NULL };
	struct fio_cmd c;
	const char **fio = fio_cmd(b, &c);
	int n = 8;

	*rep = NULL;
	if (remove_data(b))
		return -1;
	while (*fio)
		args[n++] = *fio++;
	args[n] = NULL;
	*rec = bench_child_json(b, "record (fio writing to the filesystem)", args);
	if (!*rec)
		return -1;
	*rep = bench_child_json(b, "report", rargs);
	return *rep ? 0 : -1;
}

/* Pages dirtied on the machine so far (/proc/vmstat nr_dirtied), -1 unknown. */
static long long nr_dirtied(void)
{
	FILE *f = fopen("/proc/vmstat", "re");
	char line[128];
	long long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "nr_dirtied %lld", &v) == 1)
			break;
	fclose(f);
	return v;
}

#define PC_BYTES (32ULL << 20) /* what the page-cache write is timed over, at most */

/* This thread's time waiting on a run queue so far (schedstat), ns; -1 unknown. */
static double runq_wait_ns(void)
{
	FILE *f = fopen("/proc/thread-self/schedstat", "re");
	unsigned long long run, wait;
	double v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%llu %llu", &run, &wait) == 2)
		v = (double)wait;
	fclose(f);
	return v;
}

/*
 * The page-cache write, timed (kernel_round() takes it before and after the
 * kernel's round): buffered writes of the workload's --bs into a new file
 * on the same btrfs, the copy into freshly allocated folios and btrfs's
 * delalloc reservation, what a direct write that btrfs turns into a
 * buffered one does before its writeback.  Each is written back and waited
 * for before the next (so no dirty-page throttling; untimed, but the
 * run-queue wait across the wait alone is *runq_ns a write: a writer on
 * this machine sleeping on its writeback and waking, as fio does), then its
 * folios are dropped from the page cache (timed apart: *drop_ns a write, as
 * the fallback invalidates what it wrote); then the file is unlinked.
 * Bytes a second, or NAN.
 */
static double pagecache_write_bps(struct bbs_bench *b, double *drop_ns, double *runq_ns)
{
	unsigned int writes = 0;
	double rq0, rq1, rq = 0;
	bool rqbad = false;
	char path[PATH_MAX + 32];
	uint64_t len = b->o.size < PC_BYTES ? b->o.size : PC_BYTES, done = 0, t0, t1, ns = 0;
	char *buf = malloc(b->o.bs);
	int fd;

	*drop_ns = 0;
	*runq_ns = NAN;
	if (!buf)
		return NAN;
	memset(buf, 0x5a, b->o.bs);
	snprintf(path, sizeof(path), "%s/bench.copy", b->datadir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		free(buf);
		return NAN;
	}
	/* each write written back before the next, untimed: as the fallback does */
	while (done + b->o.bs <= len) {
		ssize_t w;

		t0 = bbs_now_ns();
		w = pwrite(fd, buf, b->o.bs, (off_t)done);
		t1 = bbs_now_ns();
		if (w <= 0)
			break;
		ns += t1 - t0;
		/* submitted first; then the run-queue wait where it sleeps on it and wakes */
		sync_file_range(fd, (off_t)done, w,
				SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE);
		rq0 = runq_wait_ns();
		sync_file_range(fd, (off_t)done, w, SYNC_FILE_RANGE_WAIT_AFTER);
		rq1 = runq_wait_ns();
		if (rq0 >= 0 && rq1 >= rq0)
			rq += rq1 - rq0;
		else
			rqbad = true;
		/* the fallback drops the written folios after each write: that too */
		t0 = bbs_now_ns();
		posix_fadvise(fd, (off_t)done, w, POSIX_FADV_DONTNEED);
		*drop_ns += bbs_now_ns() - t0;
		done += (uint64_t)w;
		writes++;
	}
	*drop_ns = writes ? *drop_ns / writes : NAN;
	/* run-queue wait a write: a writer that sleeps on its writeback, like fio */
	*runq_ns = writes && !rqbad ? rq / writes : NAN;
	fsync(fd);
	close(fd);
	unlink(path);
	free(buf);
	return done && ns ? done / (ns / 1e9) : NAN;
}

static int kernel_round(struct bbs_bench *b)
{
	json_t *rec = NULL, *rep = NULL;
	unsigned int strip_data;
	uint64_t dev_bytes;
	double span, busy, pc_bps = NAN, drop_ns = NAN, runq_ns = NAN;
	long long dirtied0 = -1, dirtied1 = -1;
	struct bbs_kwrites kw;
	int ret = -1;

	if (b->o.direct) {
		pc_bps = pagecache_write_bps(b, &drop_ns, &runq_ns);
		dirtied0 = nr_dirtied();
	}
	if (kernel_record(b, &rec, &rep))
		goto out;
	if (b->o.direct) {
		double pc2, drop2, runq2;

		dirtied1 = nr_dirtied();
		/* timed again after: the mean of both, the load moving meanwhile */
		pc2 = pagecache_write_bps(b, &drop2, &runq2);
		if (isfinite(runq2) && isfinite(runq_ns))
			runq_ns = (runq_ns + runq2) / 2;
		if (isfinite(pc2) && isfinite(pc_bps))
			pc_bps = 2 / (1 / pc_bps + 1 / pc2);
		if (isfinite(drop2) && isfinite(drop_ns))
			drop_ns = (drop_ns + drop2) / 2;
	}
	if (data_write_span(b->trace, &span, &dev_bytes, &strip_data, &busy, &kw))
		goto out;
	if (span <= 0 || !dev_bytes) {
		bbs_err("bench: the recording holds no data writes to %s (was the workload "
			"written elsewhere?)",
			b->mnt);
		goto out;
	}
	/* replay parity --trace replays the data strip writes, on their chunk's width. */
	if (b->parity && !strip_data) {
		bench_note(b, "the recording has no raid5/raid6 data strip writes (no raid56_write "
			      "tracepoint on this kernel?): the parity rows are left out");
		b->parity = false;
		json_array_clear(b->samples[ROW_STEP]);
		json_array_clear(b->samples[ROW_BATCHED]);
	}
	b->parity_targets = strip_data + (!strcmp(b->profile, "raid6") ? 2 : 1);
	kernel_sample(b, rec, rep, span, dev_bytes, busy);
	if (b->o.direct && kw.n) {
		/* per write; dirtied pages are the machine's, other writers' included */
		json_t *s = json_array_get(b->samples[ROW_KERNEL],
					   json_array_size(b->samples[ROW_KERNEL]) - 1);

		json_object_set_new(s, "writes",
				    json_pack("{s:i,s:f,s:f,s:f,s:f}", "count", (int)kw.n,
					      "front_ns", kw.nfront ? kw.front_ns / kw.nfront : 0.0,
					      "submit_ns", kw.submit_ns / kw.n, "bio_ns",
					      kw.bio_ns / kw.n, "finish_ns", kw.finish_ns / kw.n));
		if (dirtied0 >= 0 && dirtied1 >= dirtied0)
			json_object_set_new(
				s, "dirtied_bytes",
				json_integer((dirtied1 - dirtied0) * sysconf(_SC_PAGESIZE)));
		if (isfinite(pc_bps))
			json_object_set_new(s, "pagecache_write_bps", json_real(pc_bps));
		if (isfinite(drop_ns))
			json_object_set_new(s, "pagecache_drop_ns", json_real(drop_ns));
		if (isfinite(runq_ns))
			json_object_set_new(s, "runq_wait_ns", json_real(runq_ns));
	}
	ret = 0;
out:
	json_decref(rec);
	json_decref(rep);
	return ret;
}

/* ---- the userspace rounds ---- */

static int replay_round(struct bbs_bench *b, enum row row, struct point *pt)
{
	char target[PATH_MAX + 32], what[64], qd[16];
	const char *args[] = { "replay",
			       "csum",
			       "--trace",
			       b->trace,
			       "--target",
			       target,
			       "--force",
			       "--mode",
			       bench_row_name[row],
			       "--algo",
			       bbs_csum_name(pt->algo),
			       "--qd",
			       qd,
			       "--json",
			       NULL };
	json_t *o, *s, *full;

	snprintf(target, sizeof(target), "%s/replay.img", b->store);
	snprintf(qd, sizeof(qd), "%u", pt->qd);
	snprintf(what, sizeof(what), "replay csum --mode %s --qd %u", bench_row_name[row], pt->qd);
	o = bench_child_json(b, what, args);
	if (!o)
		return -1;
	s = json_pack("{s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:{}}", "bytes",
		      json_object_get(o, "bytes"), "bios", json_object_get(o, "bios"), "elapsed_s",
		      json_object_get(o, "elapsed_s"), "throughput_bps",
		      json_object_get(o, "throughput_bps"), "cpu_s", json_object_get(o, "cpu_s"),
		      "csum_busy_s", json_object_get(o, "csum_busy_s"), "terms",
		      json_object_get(o, "terms"), "phases");
	full = json_object();
	take_phase(s, full, o, "csum", FS_GROUPS);
	take_phase(s, full, o, "device", DEV_GROUPS);
	take_phase(s, full, o, "total", DEV_GROUPS);
	json_array_append(pt->samples[row - ROW_NONE], s);
	if (pt == b->pts) {
		json_array_append(b->samples[row], s);
		json_decref(b->last[row]);
		b->last[row] = json_incref(full);
	}
	json_decref(s);
	json_decref(full);
	json_decref(o);
	return 0;
}

static int parity_round(struct bbs_bench *b, enum row row)
{
	char targets[8192], what[64];
	const char *args[] = { "replay",    "parity",	"--trace",	     b->trace,
			       "--profile", b->profile, "--targets",	     targets,
			       "--force",   "--mode",	bench_row_name[row], "--json",
			       NULL };
	size_t n = 0;
	json_t *o, *s, *full;

	for (unsigned int i = 0; i < b->parity_targets && n < sizeof(targets); i++)
		n += snprintf(targets + n, sizeof(targets) - n, "%s%s/parity.%u.img", i ? "," : "",
			      b->store, i);
	snprintf(what, sizeof(what), "replay parity --mode %s", bench_row_name[row]);
	o = bench_child_json(b, what, args);
	if (!o)
		return -1;
	s = json_pack("{s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:{}}", "bytes",
		      json_object_get(o, "bytes"), "elapsed_s", json_object_get(o, "elapsed_s"),
		      "throughput_bps", json_object_get(o, "throughput_bps"), "cpu_s",
		      json_object_get(o, "cpu_s"), "full_stripes",
		      json_object_get(o, "full_stripes"), "partial_stripes",
		      json_object_get(o, "partial_stripes"), "parity_busy_s",
		      json_object_get(o, "parity_busy_s"), "phases");
	full = json_object();
	take_phase(s, full, o, "device", DEV_GROUPS);
	take_phase(s, full, o, "total", DEV_GROUPS);
	take_raid_phase(s, full, o, "rmw");
	{
		struct bbs_hist h = { 0 };

		hist_add_phase(&h, json_object_get(o, "parity"));
		json_object_set_new(json_object_get(s, "phases"), "parity", phase_stats(&h));
		json_object_set_new(full, "parity", bbs_phase_json(&h, WHY_NONE));
	}
	json_array_append_new(b->samples[row], s);
	json_decref(b->last[row]);
	b->last[row] = full;
	json_decref(o);
	return 0;
}

static void bench_progress(const struct bbs_bench *b, unsigned int round)
{
	char buf[32];

	fprintf(stderr, "bbscope: bench: round %u/%u:", round + 1, b->o.rounds);
	for (int i = 0; i < NR_ROWS; i++) {
		json_t *s = json_array_get(b->samples[i], round);

		if (!s)
			continue;
		bbs_html_fmt(buf, sizeof(buf), bbs_json_num(s, "throughput_bps"), BBS_UNIT_BPS);
		fprintf(stderr, "%s %s %s", i ? "," : "", bench_row_name[i], buf);
	}
	fputc('\n', stderr);
}

/* The replays of a round; a failing parity replay leaves the parity rows out. */
static int replays(struct bbs_bench *b, unsigned int round)
{
	/* the target's pages, once, as bench_warm_up() did for the loop devices' */
	if (round == 0 && (replay_round(b, ROW_NONE, b->pts) || bench_stop_sig))
		return -1;
	if (round == 0) {
		json_array_clear(b->samples[ROW_NONE]);
		json_array_clear(b->pts[0].samples[0]);
	}
	/* every point of the sweep, its shapes interleaved within the round */
	for (unsigned int p = 0; p < b->npts; p++)
		for (int row = ROW_NONE; row <= ROW_OFFLOAD; row++)
			if (bench_stop_sig || replay_round(b, row, &b->pts[p]))
				return -1;
	for (int row = ROW_STEP; b->parity && row <= ROW_BATCHED; row++) {
		if (bench_stop_sig)
			return -1;
		if (parity_round(b, row)) {
			if (bench_stop_sig)
				return -1;
			bench_note(b,
				   "replay parity --mode %s failed; the parity rows are left out",
				   bench_row_name[row]);
			b->parity = false;
			json_array_clear(b->samples[ROW_STEP]);
			json_array_clear(b->samples[ROW_BATCHED]);
		}
	}
	return bench_stop_sig ? -1 : 0;
}

/* The model's inputs of this round: m and c measured now, d the none replay's. */
static void model_sample(struct bbs_bench *b, unsigned int round)
{
	json_t *ss = json_array_get(b->samples[ROW_SERIAL], round), *s;
	double m, c, ser, asy, busy = bbs_json_num(ss, "csum_busy_s");

	bench_bw_measure(&b->bw, b->algo, &m, &c);
	/* the seed's c of every other checksum the sweep replays */
	for (unsigned int p = 0; p < b->npts; p++) {
		double pm = m, pc = c;

		if (b->pts[p].algo != b->algo)
			bench_bw_measure(&b->bw, b->pts[p].algo, &pm, &pc);
		json_array_append_new(b->pts[p].bw,
				      json_pack("{s:f,s:f}", "mem_bps", pm, "csum_bps", pc));
	}
	ser = bbs_json_num(ss, "throughput_bps");
	asy = bbs_json_num(json_array_get(b->samples[ROW_ASYNC], round), "throughput_bps");
	s = json_pack("{s:f,s:f,s:f}", "mem_bps", m, "csum_bps", c, "dev_bps",
		      bbs_json_num(json_array_get(b->samples[ROW_NONE], round), "throughput_bps"));
	if (busy > 0)
		json_object_set_new(s, "csum_pipeline_bps",
				    json_real(bbs_json_num(ss, "bytes") / busy));
	json_array_append_new(b->model, s);
	json_array_append_new(b->speedup, json_pack("{s:f}", "measured_async_speedup", asy / ser));
}

int bench_round(struct bbs_bench *b, unsigned int round)
{
	fprintf(stderr, "bbscope: bench: round %u/%u: kernel, then replays\n", round + 1,
		b->o.rounds);
	if (kernel_round(b) || replays(b, round))
		return -1;
	model_sample(b, round);
	bench_progress(b, round);
	return 0;
}
