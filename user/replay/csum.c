// SPDX-License-Identifier: GPL-2.0
/*
 * bbscope replay csum: btrfs's write-with-checksum path in userspace.
 *
 * Every bio of a workload is written with io_uring (O_DIRECT, registered
 * buffer and file, up to --qd bios in flight) and its 4 KiB blocks are
 * checksummed as btrfs does, in one of four shapes:
 *
 *   none     no checksum: the device alone
 *   serial   the submitting thread checksums a bio, then submits it (btrfs
 *            before the async_csum series: btrfs_csum_one_bio() inline)
 *   async    the submitting thread hands the bio to a checksum worker and
 *            submits it at once; the bio is done when the write has
 *            completed and the worker has finished (the series' csum_work)
 *   offload  a pool of --workers threads checksums; a bio is submitted when
 *            its checksum is done (run_one_async_start, then _done submits)
 *
 * Threads: the main thread owns the ring, starts bios, submits and reaps.
 * Workers take slots from the `work` FIFO and put them on the `done` FIFO,
 * then write an eventfd whose read is always armed in the ring, so the main
 * thread sleeps in one place (io_uring_enter) for both kinds of event.  A
 * worker writes the eventfd only when no wakeup is pending (`notified`).
 *
 * The main thread submits what it has queued before anything that takes
 * time (a checksum in serial mode, or a wait): a serial bio reaches the
 * device as soon as its checksum is done, as submit_bio() after
 * btrfs_csum_one_bio() does, and everything queued meanwhile goes in one
 * io_uring_enter().
 *
 * Data: one pool of random bytes, registered once; the bytes written at
 * target offset X are pool[X % pool_len] (the pool's tail repeats its head,
 * so a bio is one contiguous slice).  What lands on the target therefore
 * depends only on the offsets, whatever the mode, order or queue depth;
 * --csum-out lists the checksums of every block written, which `bbscope
 * csum` must reproduce from the target.
 *
 * Phases, in the tracer's histograms (user/hist.h): csum (one bio's checksum
 * computation), device (submission -> completion reaped) and total (bio
 * start -> write completed and checksum done).  Two groups, as the tracer
 * makes them: the target's device (a file's: its filesystem's device) with
 * device and total, and a dev-less one with csum.
 *
 * --json adds to the report's keys (docs/json.md): mode, csum, bytes, bios,
 * elapsed_s (first bio start -> last bio done), throughput_bps, cpu_s (user
 * + system time of every thread of the process during the run, io-wq
 * workers included, a loop device's kthread not), csum_busy_s (checksum
 * time summed over bios), csum_wait_mean_ns (bio start -> its checksum
 * starts: in async and offload, mostly a worker's wake-up), qd, workers,
 * timing and target; each group's fs is the target path.
 */
#include <errno.h>
#include <getopt.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "btrfs/csum.h"
#include "out/hist.h"
#include "replay/replay.h"
#include "replay/target.h"
#include "replay/uring.h"
#include "host/util.h"
#include "replay/workload.h"

#define DEFAULT_QD 16U
#define MAX_QD 4096U
#define MAX_WORKERS 64U
#define EFD_TAG UINT64_MAX /* user_data of the eventfd read */

enum mode { MODE_NONE, MODE_SERIAL, MODE_ASYNC, MODE_OFFLOAD, NR_MODES };

static const char *const mode_name[NR_MODES] = { "none", "serial", "async", "offload" };

struct opts {
	struct bbs_replay_common co;
	const char *target, *csum_out, *timing_str;
	enum mode mode;
	enum bbs_csum_type type;
	unsigned int qd, workers;
	double scale;
	bool json, have_mode;
};

/* A bio in flight. */
struct slot {
	size_t bio;
	uint64_t start_ns, submit_ns, complete_ns;
	uint64_t csum_start_ns, csum_end_ns; /* written by the thread that checksums */
	bool dev_done, csum_done;
};

/* Slot numbers handed between threads; never holds more than qd. */
struct fifo {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint32_t *v;
	uint32_t head, tail, mask;
	bool closed;
};

struct replay {
	const struct opts *o;
	const struct bbs_workload *w;
	const struct bbs_target *t;

	struct bbs_pool pool;
	uint8_t *csums; /* every block's checksum, in workload order */
	uint64_t *csum_idx; /* per bio: its first block's index in csums */
	size_t csum_size;

	struct slot *slots;
	uint32_t *free, nfree;
	uint32_t *queued, nqueued; /* writes prepared, not yet submitted */
	uint32_t *drained; /* slots whose checksum a worker finished */
	uint32_t *started, nstarted; /* slots for the workers, handed over in one go */
	size_t done;

	struct io_uring ring;
	bool ring_up;
	int efd;
	uint64_t efd_val;
	atomic_bool notified;
	struct fifo work, done_q;
	pthread_t *threads;
	unsigned int nthreads;
	atomic_uint warmed; /* workers ready to take work */

	uint64_t t0, t_last;
	struct rusage ru0, ru1;
	struct bbs_hist csum, device, total;
	uint64_t csum_wait_ns; /* sum over bios: bio start -> its checksum starts */
	int err; /* errno of the first failure */
	size_t err_bio; /* the bio whose write failed, or SIZE_MAX (io_uring failed) */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bbscope replay csum (--synthetic SPEC | --trace FILE) --target PATH\n"
		"                           --mode none|serial|async|offload [--csum ALGO]\n"
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
		"  --csum ALGO        crc32c (default), xxhash, sha256 or blake2\n"
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
		DEFAULT_QD, bbs_synth_help);
}

/* ---- FIFO ---- */

static int fifo_init(struct fifo *q, unsigned int n)
{
	uint32_t cap = 1;

	while (cap < n)
		cap <<= 1;
	memset(q, 0, sizeof(*q));
	q->v = calloc(cap, sizeof(*q->v));
	if (!q->v)
		return -1;
	q->mask = cap - 1;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	return 0;
}

static void fifo_destroy(struct fifo *q)
{
	if (!q->v)
		return;
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
	free(q->v);
	q->v = NULL;
}

/* Add entries; wake one waiter for one entry, all of them for several. */
static void fifo_push(struct fifo *q, const uint32_t *x, uint32_t n)
{
	if (!n)
		return;
	pthread_mutex_lock(&q->lock);
	for (uint32_t i = 0; i < n; i++)
		q->v[q->tail++ & q->mask] = x[i];
	if (n == 1)
		pthread_cond_signal(&q->cond);
	else
		pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

/* Block until an entry or close; -1 once closed. */
static int fifo_pop(struct fifo *q, uint32_t *x)
{
	int ret = -1;

	pthread_mutex_lock(&q->lock);
	while (q->head == q->tail && !q->closed)
		pthread_cond_wait(&q->cond, &q->lock);
	if (!q->closed) {
		*x = q->v[q->head++ & q->mask];
		ret = 0;
	}
	pthread_mutex_unlock(&q->lock);
	return ret;
}

/* Take everything without blocking; the count taken. */
static uint32_t fifo_drain(struct fifo *q, uint32_t *out)
{
	uint32_t n = 0;

	pthread_mutex_lock(&q->lock);
	while (q->head != q->tail)
		out[n++] = q->v[q->head++ & q->mask];
	pthread_mutex_unlock(&q->lock);
	return n;
}

static void fifo_close(struct fifo *q)
{
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

/* ---- the data ---- */

static inline const uint8_t *bio_data(const struct replay *r, const struct bbs_wbio *b)
{
	return bbs_pool_at(&r->pool, b->offset);
}

static inline void csum_bio(struct replay *r, size_t i)
{
	const struct bbs_wbio *b = &r->w->bios[i];

	bbs_csum_blocks(r->o->type, bio_data(r, b), b->len, BBS_WL_BLOCK,
			r->csums + r->csum_idx[i] * r->csum_size);
}

static int pool_setup(struct replay *r)
{
	const struct bbs_workload *w = r->w;
	uint64_t nblocks = w->bytes / BBS_WL_BLOCK, idx = 0;

	if (bbs_pool_init(&r->pool, w->span, w->max_len, BBS_POOL_SEED))
		return -1;
	r->csum_size = bbs_csum_size(r->o->type);
	r->csums = malloc((nblocks ?: 1) * r->csum_size);
	r->csum_idx = malloc((w->nr ?: 1) * sizeof(*r->csum_idx));
	if (!r->csums || !r->csum_idx)
		return -1;
	memset(r->csums, 0, nblocks * r->csum_size); /* fault it in before timing */
	for (size_t i = 0; i < w->nr; i++) {
		r->csum_idx[i] = idx;
		idx += w->bios[i].len / BBS_WL_BLOCK;
	}
	return 0;
}

/* ---- the checksum workers ---- */

static void *csum_worker(void *arg)
{
	struct replay *r = arg;
	uint8_t warm[BBS_CSUM_MAX];
	uint64_t one = 1;
	uint32_t si;

	/* The first sha256/blake2 call sets up libraries and contexts: not timed. */
	bbs_csum_block(r->o->type, r->pool.buf, BBS_WL_BLOCK, warm);
	atomic_fetch_add(&r->warmed, 1);
	while (!fifo_pop(&r->work, &si)) {
		struct slot *s = &r->slots[si];

		s->csum_start_ns = bbs_now_ns();
		csum_bio(r, s->bio);
		s->csum_end_ns = bbs_now_ns();
		fifo_push(&r->done_q, &si, 1);
		/* One wakeup at a time; the main thread clears it before draining. */
		if (!atomic_exchange(&r->notified, true) && write(r->efd, &one, 8) != 8)
			atomic_store(&r->notified, false);
	}
	return NULL;
}

/* ---- the submitting thread ---- */

static void arm_eventfd(struct replay *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

	/* The SQ holds qd writes and this read: never full here. */
	io_uring_prep_read(sqe, 1, &r->efd_val, sizeof(r->efd_val), 0);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, EFD_TAG);
}

static void queue_write(struct replay *r, uint32_t si)
{
	const struct bbs_wbio *b = &r->w->bios[r->slots[si].bio];
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

	io_uring_prep_write_fixed(sqe, 0, bio_data(r, b), b->len, b->offset, 0);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, si);
	r->queued[r->nqueued++] = si;
}

static void stamp_queued(struct replay *r)
{
	uint64_t now = bbs_now_ns();

	for (uint32_t i = 0; i < r->nqueued; i++)
		r->slots[r->queued[i]].submit_ns = now;
	r->nqueued = 0;
}

/* Submit what is queued without waiting. */
static int flush(struct replay *r)
{
	int ret;

	if (!io_uring_sq_ready(&r->ring))
		return 0;
	stamp_queued(r);
	do
		ret = io_uring_submit(&r->ring);
	while (ret == -EINTR);
	return ret < 0 ? ret : 0;
}

static void finish(struct replay *r, uint32_t si)
{
	struct slot *s = &r->slots[si];
	uint64_t end = s->complete_ns;

	bbs_hist_add(&r->device, s->complete_ns - s->submit_ns);
	if (r->o->mode != MODE_NONE) {
		bbs_hist_add(&r->csum, s->csum_end_ns - s->csum_start_ns);
		r->csum_wait_ns += s->csum_start_ns - s->start_ns;
		if (s->csum_end_ns > end)
			end = s->csum_end_ns;
	}
	bbs_hist_add(&r->total, end - s->start_ns);
	if (end > r->t_last)
		r->t_last = end;
	r->done++;
	r->free[r->nfree++] = si;
}

static void start_bio(struct replay *r, size_t i, uint64_t now)
{
	uint32_t si = r->free[--r->nfree];
	struct slot *s = &r->slots[si];

	s->bio = i;
	s->start_ns = now;
	s->dev_done = s->csum_done = false;
	switch (r->o->mode) {
	case MODE_NONE:
		queue_write(r, si);
		break;
	case MODE_SERIAL:
		/* What is queued goes to the device before this checksum starts. */
		r->err = -flush(r);
		s->csum_start_ns = bbs_now_ns();
		csum_bio(r, i);
		s->csum_end_ns = bbs_now_ns();
		s->csum_done = true;
		queue_write(r, si);
		break;
	case MODE_ASYNC:
		r->started[r->nstarted++] = si;
		queue_write(r, si);
		break;
	case MODE_OFFLOAD:
		r->started[r->nstarted++] = si;
		break;
	default:
		break;
	}
}

/* Checksums finished by workers: async bios may be done, offload bios go out. */
static void on_notify(struct replay *r, int res)
{
	uint32_t n;

	if (res < 0 && res != -EINTR && res != -EAGAIN) {
		r->err = -res;
		return;
	}
	/* Clear before draining: a checksum finished after the drain wakes us again. */
	atomic_store(&r->notified, false);
	n = fifo_drain(&r->done_q, r->drained);
	for (uint32_t k = 0; k < n; k++) {
		uint32_t si = r->drained[k];

		r->slots[si].csum_done = true;
		if (r->o->mode == MODE_OFFLOAD)
			queue_write(r, si);
		else if (r->slots[si].dev_done)
			finish(r, si);
	}
	arm_eventfd(r);
}

static void on_write(struct replay *r, uint32_t si, int res, uint64_t now)
{
	struct slot *s = &r->slots[si];

	if (res != (int)r->w->bios[s->bio].len) {
		if (!r->err) {
			r->err = res < 0 ? -res : EIO;
			r->err_bio = s->bio;
		}
		return;
	}
	s->complete_ns = now;
	s->dev_done = true;
	if (r->o->mode == MODE_NONE || s->csum_done)
		finish(r, si);
}

static void reap(struct replay *r)
{
	struct io_uring_cqe *cqe;
	uint64_t now = bbs_now_ns();
	unsigned int head, n = 0;

	io_uring_for_each_cqe(&r->ring, head, cqe)
	{
		uint64_t tag = io_uring_cqe_get_data64(cqe);

		if (tag == EFD_TAG)
			on_notify(r, cqe->res);
		else
			on_write(r, (uint32_t)tag, cqe->res, now);
		n++;
	}
	io_uring_cq_advance(&r->ring, n);
}

static inline uint64_t release_ns(const struct replay *r, size_t i)
{
	return r->t0 + (uint64_t)(r->w->bios[i].ts_ns * r->o->scale);
}

static int run(struct replay *r)
{
	const struct bbs_workload *w = r->w;
	struct __kernel_timespec ts;
	struct io_uring_cqe *cqe;
	size_t next = 0;
	uint64_t now;
	int ret;

	getrusage(RUSAGE_SELF, &r->ru0);
	r->t0 = r->t_last = bbs_now_ns();
	if (r->efd >= 0)
		arm_eventfd(r);
	while (r->done < w->nr && !r->err) {
		now = bbs_now_ns();
		while (r->nfree && next < w->nr && release_ns(r, next) <= now && !r->err) {
			start_bio(r, next++, now);
			now = bbs_now_ns();
		}
		fifo_push(&r->work, r->started, r->nstarted);
		r->nstarted = 0;
		if (r->err)
			break;
		stamp_queued(r);
		if (r->nfree && next < w->nr) {
			/* Waiting for the next bio's recorded time, or an event. */
			uint64_t left = release_ns(r, next) - now;

			ts.tv_sec = left / 1000000000ULL;
			ts.tv_nsec = left % 1000000000ULL;
			ret = io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, &ts, NULL);
		} else {
			ret = io_uring_submit_and_wait(&r->ring, 1);
		}
		if (ret < 0 && ret != -ETIME && ret != -EINTR) {
			r->err = -ret;
			break;
		}
		reap(r);
	}
	getrusage(RUSAGE_SELF, &r->ru1);
	return r->err ? -1 : 0;
}

/* ---- setup and teardown ---- */

static int ring_setup(struct replay *r)
{
	struct iovec iov = { r->pool.buf, r->pool.map_len };
	int fds[2] = { r->t->fd, r->efd };
	char why[256];

	/* The SQ holds every write in flight plus the eventfd read. */
	if (bbs_uring_setup(&r->ring, r->o->qd + 1, fds, r->efd >= 0 ? 2 : 1, &iov, 1, why,
			    sizeof(why))) {
		bbs_err("%s", why);
		return -1;
	}
	r->ring_up = true;
	return 0;
}

static int threads_setup(struct replay *r)
{
	unsigned int n = r->o->mode >= MODE_ASYNC ? r->o->workers : 0, qd = r->o->qd;
	uint8_t warm[BBS_CSUM_MAX];
	int ret;

	r->slots = calloc(qd, sizeof(*r->slots));
	r->free = calloc(qd, sizeof(*r->free));
	r->queued = calloc(qd, sizeof(*r->queued));
	r->drained = calloc(qd, sizeof(*r->drained));
	r->started = calloc(qd, sizeof(*r->started));
	if (!r->slots || !r->free || !r->queued || !r->drained || !r->started)
		goto err_nomem;
	for (uint32_t i = 0; i < qd; i++)
		r->free[r->nfree++] = qd - 1 - i;
	bbs_csum_block(r->o->type, r->pool.buf, BBS_WL_BLOCK, warm);
	if (!n)
		return 0;
	r->efd = eventfd(0, EFD_CLOEXEC);
	if (r->efd < 0) {
		bbs_err("cannot make an eventfd: %s", strerror(errno));
		return -1;
	}
	if (fifo_init(&r->work, qd) || fifo_init(&r->done_q, qd))
		goto err_nomem;
	r->threads = calloc(n, sizeof(*r->threads));
	if (!r->threads)
		goto err_nomem;
	for (; r->nthreads < n; r->nthreads++) {
		ret = pthread_create(&r->threads[r->nthreads], NULL, csum_worker, r);
		if (ret) {
			bbs_err("cannot start a checksum worker: %s", strerror(ret));
			return -1;
		}
	}
	/* Start timing once every worker has set up its checksum context. */
	while (atomic_load(&r->warmed) < n) {
		struct timespec ts = { 0, 100000 };

		nanosleep(&ts, NULL);
	}
	return 0;

err_nomem:
	bbs_err("cannot set up the replay: out of memory");
	return -1;
}

static void teardown(struct replay *r)
{
	if (r->nthreads) {
		fifo_close(&r->work);
		for (unsigned int i = 0; i < r->nthreads; i++)
			pthread_join(r->threads[i], NULL);
	}
	if (r->ring_up)
		bbs_uring_teardown(&r->ring);
	fifo_destroy(&r->work);
	fifo_destroy(&r->done_q);
	if (r->efd >= 0)
		close(r->efd);
	free(r->threads);
	free(r->slots);
	free(r->free);
	free(r->queued);
	free(r->drained);
	free(r->started);
	free(r->csums);
	free(r->csum_idx);
	bbs_pool_free(&r->pool);
}

/* ---- output ---- */

static const struct bbs_workload *sort_w;

static int by_offset(const void *a, const void *b)
{
	const struct bbs_wbio *x = &sort_w->bios[*(const size_t *)a];
	const struct bbs_wbio *y = &sort_w->bios[*(const size_t *)b];

	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* '<offset> <hex>' per block, by offset, into path (atomically: tmp + rename). */
static int write_csums(struct replay *r, const char *path)
{
	static const char hex[] = "0123456789abcdef";
	const struct bbs_workload *w = r->w;
	char tmp[4096];
	size_t *order;
	int ret = -1;
	FILE *f;

	if (r->o->mode == MODE_NONE)
		for (size_t i = 0; i < w->nr; i++)
			csum_bio(r, i); /* not timed: the run is over */
	order = malloc((w->nr ?: 1) * sizeof(*order));
	if (!order) {
		bbs_err("--csum-out %s: out of memory", path);
		return -1;
	}
	for (size_t i = 0; i < w->nr; i++)
		order[i] = i;
	sort_w = w;
	qsort(order, w->nr, sizeof(*order), by_offset);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f) {
		bbs_err("--csum-out %s: %s", path, strerror(errno));
		goto out;
	}
	for (size_t k = 0; k < w->nr; k++) {
		const struct bbs_wbio *b = &w->bios[order[k]];
		const uint8_t *c = r->csums + r->csum_idx[order[k]] * r->csum_size;

		for (uint32_t off = 0; off < b->len; off += BBS_WL_BLOCK) {
			char line[32 + 2 * BBS_CSUM_MAX];
			int n = snprintf(line, sizeof(line), "%llu ",
					 (unsigned long long)(b->offset + off));

			for (size_t j = 0; j < r->csum_size; j++, c++) {
				line[n++] = hex[*c >> 4];
				line[n++] = hex[*c & 15];
			}
			line[n++] = '\n';
			fwrite(line, 1, n, f);
		}
	}
	if (fflush(f) || ferror(f) || fsync(fileno(f))) {
		bbs_err("--csum-out %s: %s", path, strerror(errno ?: EIO));
		fclose(f);
		unlink(tmp);
		goto out;
	}
	fclose(f);
	if (rename(tmp, path)) {
		bbs_err("--csum-out %s: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	ret = 0;
out:
	free(order);
	return ret;
}

static int print_result(struct replay *r)
{
	const struct opts *o = r->o;
	struct bbs_group g = { .op = BBS_OP_WRITE, .kind = KIND_DATA };
	struct bbs_group_data *dev, *fs;
	struct bbs_report rep;
	double elapsed = (r->t_last - r->t0) / 1e9, bps, cpu;
	unsigned int workers = o->mode >= MODE_ASYNC ? o->workers : 0;
	json_t *j;

	cpu = bbs_replay_cpu_s(&r->ru0, &r->ru1);
	bps = elapsed > 0 ? r->w->bytes / elapsed : 0;
	bbs_report_init(&rep);
	rep.interval_s = elapsed;
	rep.fs_label = r->t->path; /* what was written: the target */
	/*
	 * Two groups, as the tracer makes them: the device's (device, total)
	 * and the filesystem's (dev 0: csum).  fs is 0: no btrfs is involved.
	 */
	g.dev = r->t->kdev;
	dev = bbs_report_group(&rep, &g);
	g.dev = 0;
	fs = dev ? bbs_report_group(&rep, &g) : NULL;
	if (!fs) {
		bbs_report_free(&rep);
		bbs_err("cannot build the report: out of memory");
		return -1;
	}
	dev = &rep.groups[0]; /* the second group may have moved the array */
	dev->stats.bios = r->w->nr;
	dev->stats.bytes = r->w->bytes;
	dev->phases[PHASE_DEVICE] = r->device;
	dev->phases[PHASE_TOTAL] = r->total;
	fs->phases[PHASE_CSUM] = r->csum;
	bbs_report_sort(&rep);

	if (!o->json) {
		printf("replay csum: mode %s, %s, qd %u, %u worker%s, timing %s, target %s (%s)\n",
		       mode_name[o->mode], bbs_csum_name(o->type), o->qd, workers,
		       workers == 1 ? "" : "s", o->timing_str, r->t->path, r->t->name);
		printf("%llu bytes in %zu bios, %.3f s: %.3f GB/s, cpu %.3f s\n\n",
		       (unsigned long long)r->w->bytes, r->w->nr, elapsed, bps / 1e9, cpu);
		bbs_report_print(stdout, &rep, &o->co.po);
		bbs_report_free(&rep);
		return 0;
	}
	j = bbs_report_json(&rep);
	json_object_set_new(j, "mode", json_string(mode_name[o->mode]));
	json_object_set_new(j, "csum", json_string(bbs_csum_name(o->type)));
	json_object_set_new(j, "bytes", json_integer(r->w->bytes));
	json_object_set_new(j, "bios", json_integer(r->w->nr));
	json_object_set_new(j, "elapsed_s", json_real(elapsed));
	json_object_set_new(j, "throughput_bps", json_real(bps));
	json_object_set_new(j, "cpu_s", json_real(cpu));
	json_object_set_new(j, "csum_busy_s", json_real(r->csum.sum_ns / 1e9));
	json_object_set_new(j, "csum_wait_mean_ns",
			    o->mode == MODE_NONE ? json_null()
						 : json_integer(r->csum_wait_ns / r->w->nr));
	json_object_set_new(j, "qd", json_integer(o->qd));
	json_object_set_new(j, "workers", json_integer(workers));
	json_object_set_new(j, "timing", json_string(o->timing_str));
	json_object_set_new(j, "target", json_string(r->t->path));
	json_dumpf(j, stdout, JSON_COMPACT);
	fputc('\n', stdout);
	json_decref(j);
	bbs_report_free(&rep);
	return 0;
}

/* ---- the command ---- */

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option long_opts[] = {
		{ "target", required_argument, NULL, 't' },
		{ "mode", required_argument, NULL, 'M' },
		{ "csum", required_argument, NULL, 'c' },
		{ "qd", required_argument, NULL, 'q' },
		{ "workers", required_argument, NULL, 'w' },
		{ "timing", required_argument, NULL, 'i' },
		{ "csum-out", required_argument, NULL, 'o' },
		BBS_REPLAY_COMMON_OPTS,
		{},
	};
	unsigned long long v;
	int c, ret;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":msjh", long_opts, NULL)) != -1) {
		ret = bbs_replay_opt(&o->co, c, argv, "csum");
		if (ret == 1)
			continue;
		if (ret)
			return ret;
		switch (c) {
		case 't':
			o->target = optarg;
			break;
		case 'M':
			for (c = 0; c < NR_MODES && strcmp(optarg, mode_name[c]); c++)
				;
			if (c == NR_MODES) {
				bbs_err("--mode %s: want none, serial, async or offload", optarg);
				return 2;
			}
			o->mode = c;
			o->have_mode = true;
			break;
		case 'c':
			c = bbs_csum_parse(optarg);
			if (c < 0) {
				bbs_err("--csum %s: want crc32c, xxhash, sha256 or blake2", optarg);
				return 2;
			}
			o->type = c;
			break;
		case 'q':
			if (bbs_parse_uint(optarg, MAX_QD, &v) || !v) {
				bbs_err("--qd %s: want 1 to %u", optarg, MAX_QD);
				return 2;
			}
			o->qd = v;
			break;
		case 'w':
			if (bbs_parse_uint(optarg, MAX_WORKERS, &v) || !v) {
				bbs_err("--workers %s: want 1 to %u", optarg, MAX_WORKERS);
				return 2;
			}
			o->workers = v;
			break;
		case 'i':
			if (bbs_timing_parse(optarg, &o->scale)) {
				bbs_err("--timing %s: want fast, recorded or scale=X (X > 0)",
					optarg);
				return 2;
			}
			o->timing_str = optarg;
			break;
		case 'o':
			o->csum_out = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		}
	}
	ret = bbs_replay_args_done(&o->co, argc, argv);
	if (ret)
		return ret;
	if (!o->target) {
		bbs_err("--target PATH is required (a block device or a file)");
		return 2;
	}
	if (!o->have_mode) {
		bbs_err("--mode is required: none, serial, async or offload");
		return 2;
	}
	if (o->co.synthetic && o->scale) {
		bbs_err("--timing %s needs recorded times: use it with --trace", o->timing_str);
		return 2;
	}
	return -1;
}

/* Every offset and length a multiple of the target's logical block size? */
static int check_alignment(const struct bbs_workload *w, const struct bbs_target *t)
{
	for (size_t i = 0; i < w->nr; i++) {
		if (w->bios[i].offset % t->lbs || w->bios[i].len % t->lbs) {
			bbs_err("--target %s: bio %zu (offset %llu, %u bytes) is not aligned to "
				"its "
				"%u-byte blocks",
				t->path, i, (unsigned long long)w->bios[i].offset, w->bios[i].len,
				t->lbs);
			return -1;
		}
	}
	return 0;
}

int replay_csum(int argc, char **argv)
{
	struct opts o = {
		.type = BBS_CSUM_CRC32C,
		.qd = DEFAULT_QD,
		.workers = 1,
		.timing_str = "fast",
	};
	struct bbs_target_opts to = { 0 };
	struct bbs_workload w;
	struct bbs_target t = { .fd = -1 };
	struct replay r = { .o = &o, .w = &w, .t = &t, .efd = -1, .err_bio = SIZE_MAX };
	int ret;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j"))
			bbs_json_errors = o.json = true;
	ret = parse_opts(argc, argv, &o);
	if (ret >= 0)
		return ret;

	ret = 1;
	bbs_workload_init(&w);
	if (bbs_replay_load(&w, o.co.synthetic, o.co.trace, BBS_REPLAY_BIOS))
		goto out_workload;
	if (!w.nr) {
		bbs_err("the workload has no data writes");
		goto out_workload;
	}
	to.need = w.span;
	to.force = o.co.force;
	if (bbs_target_open(&t, o.target, &to))
		goto out_workload;
	if (check_alignment(&w, &t))
		goto out_target;
	if (pool_setup(&r)) {
		bbs_err("cannot allocate %llu MiB of data buffers: %s",
			(unsigned long long)(r.pool.map_len >> 20), strerror(errno));
		goto out_replay;
	}
	if (threads_setup(&r) || ring_setup(&r))
		goto out_replay;
	if (run(&r)) {
		if (r.err_bio < w.nr)
			bbs_err("write of %u bytes at offset %llu to %s failed: %s",
				w.bios[r.err_bio].len, (unsigned long long)w.bios[r.err_bio].offset,
				t.path,
				r.err == EIO ? "short write or I/O error" : strerror(r.err));
		else
			bbs_err("io_uring failed during the replay: %s", strerror(r.err));
		goto out_replay;
	}
	if (o.csum_out && write_csums(&r, o.csum_out))
		goto out_replay;
	if (print_result(&r))
		goto out_replay;
	ret = 0;
out_replay:
	teardown(&r);
out_target:
	bbs_target_close(&t, ret == 0);
out_workload:
	bbs_workload_free(&w);
	return ret;
}
