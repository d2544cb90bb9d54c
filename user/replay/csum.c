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
 * Phases, in the tracer's histograms (model/hist.h): csum (one bio's checksum
 * computation), device (submission -> completion reaped) and total (bio
 * start -> write completed and checksum done).  Two groups, as the tracer
 * makes them: the target's device (a file's: its filesystem's device) with
 * device and total, and a dev-less one with csum.
 *
 * Entry point: bbs_replay_csum() (replay/csum.h), given a loaded workload;
 * `bbscope replay csum` (cli/replay.c) parses the options and prints the
 * result, tests/replay_test.c calls it directly.
 */
#include <dirent.h>
#include <errno.h>
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
#include "model/report.h"
#include "render/print.h"
#include "replay/csum.h"
#include "replay/replay.h"
#include "replay/target.h"
#include "replay/uring.h"
#include "host/machine.h"
#include "host/outfile.h"
#include "host/util.h"
#include "replay/workload.h"

#define EFD_TAG UINT64_MAX /* user_data of the eventfd read */

const char *const bbs_replay_mode_name[BBS_NR_REPLAY_MODES] = { "none", "serial", "async",
								"offload" };

/* A bio in flight. */
struct slot {
	size_t bio;
	uint64_t start_ns, submit_ns, complete_ns;
	uint64_t csum_start_ns, csum_end_ns; /* written by the thread that checksums */
	uint64_t handed_ns; /* put on the work FIFO (async, offload) */
	bool idle_handoff; /* a worker was idle when it was handed */
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
	const struct bbs_replay_csum_opts *o;
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
	struct bbs_replay_terms terms; /* the model's terms (replay/csum.h) */
	uint64_t dev_since; /* while dev_inflight: when the device last became busy */
	uint32_t dev_inflight; /* writes submitted, not yet reaped */
	uint64_t wait_since; /* while reaping: when the submitter's last wait began */
	atomic_uint_fast64_t worker_gap_ns, worker_gaps; /* the workers' own per-bio cost */
	/* schedstat: the workers' thread ids; every thread's counts at the run's start */
	atomic_int wtid[BBS_REPLAY_MAX_WORKERS];
	atomic_uint nwtid;
	struct task_sched *tasks0;
	ssize_t ntasks0;
	struct bbs_wakeups *wakeups;
	uint64_t idle0;
	int err; /* errno of the first failure */
	size_t err_bio; /* the bio whose write failed, or SIZE_MAX (io_uring failed) */
};

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

/* Bio i's blocks in [off, off + len) into their checksum slots. */
static inline void csum_range(struct replay *r, size_t i, uint32_t off, uint32_t len)
{
	const struct bbs_wbio *b = &r->w->bios[i];

	bbs_csum_blocks(r->o->algo, bio_data(r, b) + off, len, BBS_WL_BLOCK,
			r->csums + (r->csum_idx[i] + off / BBS_WL_BLOCK) * r->csum_size);
}

static inline void csum_bio(struct replay *r, size_t i)
{
	csum_range(r, i, 0, r->w->bios[i].len);
}

static void reap(struct replay *r);

/*
 * The serial submitter checksums a bio while earlier writes are in flight:
 * a write that completes meanwhile is reaped (so stamped) between two
 * chunks of the checksum, not when it ends.  Else the device's busy time at
 * depth held the checksum's time too (qd 4 sha256: 478 us a MiB, against
 * 158 at qd 1), and so did the model's device term.  Peeking at the
 * completion ring is one load.
 */
#define CSUM_CHUNK (16 * BBS_WL_BLOCK)

static void csum_bio_reaping(struct replay *r, size_t i)
{
	uint32_t n = r->w->bios[i].len;

	for (uint32_t off = 0; off < n; off += CSUM_CHUNK) {
		csum_range(r, i, off, n - off < CSUM_CHUNK ? n - off : CSUM_CHUNK);
		if (r->dev_inflight && io_uring_cq_ready(&r->ring))
			reap(r);
	}
}

static int pool_setup(struct replay *r)
{
	const struct bbs_workload *w = r->w;
	uint64_t nblocks = w->bytes / BBS_WL_BLOCK, idx = 0;

	if (bbs_pool_init(&r->pool, w->span, w->max_len, BBS_POOL_SEED))
		return -1;
	r->csum_size = bbs_csum_size(r->o->algo);
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
	uint64_t one = 1, last_end = 0;
	uint32_t si;

	/* The first sha256/blake2 call sets up libraries and contexts: not timed. */
	bbs_csum_block(r->o->algo, r->pool.buf, BBS_WL_BLOCK, warm);
	r->wtid[atomic_fetch_add(&r->nwtid, 1)] = gettid();
	atomic_fetch_add(&r->warmed, 1);
	while (!fifo_pop(&r->work, &si)) {
		struct slot *s = &r->slots[si];

		s->csum_start_ns = bbs_now_ns();
		/* a hand-off to an idle worker: its wake-up; to a busy one: none */
		s->idle_handoff = s->handed_ns >= last_end;
		/* busy to busy: what the worker spent between two checksums */
		if (!s->idle_handoff && last_end) {
			atomic_fetch_add(&r->worker_gap_ns, s->csum_start_ns - last_end);
			atomic_fetch_add(&r->worker_gaps, 1);
		}
		csum_bio(r, s->bio);
		s->csum_end_ns = last_end = bbs_now_ns();
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

	if (r->nqueued && !r->dev_inflight)
		r->dev_since = now;
	r->dev_inflight += r->nqueued;
	for (uint32_t i = 0; i < r->nqueued; i++)
		r->slots[r->queued[i]].submit_ns = now;
	r->nqueued = 0;
}

/* Submit what is queued without waiting. */
static int flush(struct replay *r)
{
	uint64_t t;
	int ret;

	if (!io_uring_sq_ready(&r->ring))
		return 0;
	stamp_queued(r);
	t = bbs_now_ns();
	do
		ret = io_uring_submit(&r->ring);
	while (ret == -EINTR);
	r->terms.issue_ns += bbs_now_ns() - t;
	return ret < 0 ? ret : 0;
}

static void reap(struct replay *r);

/*
 * flush(), then take what completed meanwhile: a write the kernel ran
 * inline in io_uring_enter() (a tmpfs file's copy) is done when the call
 * returns, and is stamped so, not when the next wait would have reaped it.
 */
static int flush_reap(struct replay *r)
{
	int ret = flush(r);

	if (!ret)
		reap(r);
	return ret;
}

static void finish(struct replay *r, uint32_t si)
{
	struct slot *s = &r->slots[si];
	uint64_t end = s->complete_ns;

	bbs_hist_add(&r->device, s->complete_ns - s->submit_ns);
	if (r->o->mode != BBS_REPLAY_NONE) {
		bbs_hist_add(&r->csum, s->csum_end_ns - s->csum_start_ns);
		r->csum_wait_ns += s->csum_start_ns - s->start_ns;
		if (r->o->mode >= BBS_REPLAY_ASYNC && s->idle_handoff) {
			r->terms.handoff_ns += s->csum_start_ns - s->handed_ns;
			r->terms.handoffs++;
		}
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
	case BBS_REPLAY_NONE:
		queue_write(r, si);
		break;
	case BBS_REPLAY_SERIAL:
		/* What is queued goes to the device before this checksum starts. */
		r->err = -flush_reap(r);
		s->csum_start_ns = bbs_now_ns();
		csum_bio_reaping(r, i);
		s->csum_end_ns = bbs_now_ns();
		s->csum_done = true;
		queue_write(r, si);
		break;
	case BBS_REPLAY_ASYNC:
		r->started[r->nstarted++] = si;
		queue_write(r, si);
		break;
	case BBS_REPLAY_OFFLOAD:
		r->started[r->nstarted++] = si;
		break;
	default:
		break;
	}
}

/* Checksums finished by workers: async bios may be done, offload bios go out. */
static void on_notify(struct replay *r, int res, uint64_t now)
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

		/* the submitter asleep when the checksum finished: its wake-up */
		if (r->wait_since && r->wait_since <= r->slots[si].csum_end_ns) {
			r->terms.wake_ns += now - r->slots[si].csum_end_ns;
			r->terms.wakes++;
		}
		r->slots[si].csum_done = true;
		if (r->o->mode == BBS_REPLAY_OFFLOAD)
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
	if (r->dev_inflight && !--r->dev_inflight)
		r->terms.dev_busy_ns += now - r->dev_since;
	if (r->o->mode == BBS_REPLAY_NONE || s->csum_done)
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
			on_notify(r, cqe->res, now);
		else
			on_write(r, (uint32_t)tag, cqe->res, now);
		n++;
	}
	io_uring_cq_advance(&r->ring, n);
}

/* ---- what the threads did with the CPUs (schedstat) ---- */

struct task_sched {
	int tid;
	struct bbs_sched s;
};

/* Every thread of this process and its schedstat: the count, or -1. */
static ssize_t tasks_read(struct task_sched **out)
{
	DIR *d = opendir("/proc/self/task");
	struct task_sched *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;

	*out = NULL;
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		int tid = atoi(e->d_name);

		if (tid <= 0)
			continue;
		if (n == cap) {
			struct task_sched *nv = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof(*v));

			if (!nv)
				break;
			v = nv;
		}
		/* a thread gone meanwhile has nothing left to count */
		if (!bbs_sched_read(tid, &v[n].s))
			v[n++].tid = tid;
	}
	closedir(d);
	*out = v;
	return v || !n ? (ssize_t)n : -1;
}

static void sched_start(struct replay *r)
{
	r->wakeups = bbs_wakeups_start();
	r->ntasks0 = tasks_read(&r->tasks0);
	r->idle0 = bbs_machine_idle_ns();
}

static void wake_add(struct bbs_wake_stat *to, const struct bbs_wake_stat *a)
{
	to->wakeups += a->wakeups;
	to->wait_ns += a->wait_ns;
	to->wait_idle_ns += a->wait_idle_ns;
}

static void sched_add(struct bbs_sched *to, const struct bbs_sched *a, const struct bbs_sched *b)
{
	to->run_ns += a->run_ns - (b ? b->run_ns : 0);
	to->runq_ns += a->runq_ns - (b ? b->runq_ns : 0);
	to->slices += a->slices - (b ? b->slices : 0);
}

/*
 * From the run's start to now, by thread: the submitter (this one), the
 * checksum workers, and every other thread of the process (io_uring's io-wq
 * workers; one born during the run counts from zero, one gone is lost).
 */
static void sched_end(struct replay *r)
{
	struct bbs_replay_terms *t = &r->terms;
	struct task_sched *v;
	ssize_t n = tasks_read(&v);
	int self = gettid();
	uint64_t idle1 = bbs_machine_idle_ns();

	t->cpus = bbs_cpus_allowed();
	t->machine_idle_ns = r->idle0 && idle1 >= r->idle0 ? idle1 - r->idle0 : 0;
	t->idle_known = r->idle0 && idle1 >= r->idle0;
	t->sched_known = n > 0 && r->ntasks0 > 0;
	t->wake_known = t->sched_known && r->wakeups;
	for (ssize_t i = 0; t->sched_known && i < n; i++) {
		const struct bbs_sched *from = NULL;
		struct bbs_sched *to = &t->sched_io;

		struct bbs_wake_stat ws, *wto = &t->wake_io;

		for (unsigned int k = 0; k < atomic_load(&r->nwtid); k++)
			if (r->wtid[k] == v[i].tid) {
				to = &t->sched_workers;
				wto = &t->wake_workers;
			}
		if (v[i].tid == self) {
			to = &t->sched_submitter;
			wto = &t->wake_submitter;
		}
		if (r->wakeups) {
			bbs_wakeups_read(r->wakeups, v[i].tid, &ws);
			wake_add(wto, &ws);
		}
		for (ssize_t k = 0; k < r->ntasks0; k++)
			if (r->tasks0[k].tid == v[i].tid)
				from = &r->tasks0[k].s;
		sched_add(to, &v[i].s, from);
	}
	free(v);
	bbs_wakeups_stop(r->wakeups);
	r->wakeups = NULL;
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
	uint64_t now, t_wait;
	size_t done;
	int ret;

	sched_start(r);
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
		now = bbs_now_ns();
		for (uint32_t k = 0; k < r->nstarted; k++)
			r->slots[r->started[k]].handed_ns = now;
		fifo_push(&r->work, r->started, r->nstarted);
		r->nstarted = 0;
		if (r->err)
			break;
		/* Submit, and take inline completions: start more before sleeping. */
		done = r->done;
		r->err = -flush_reap(r);
		if (r->err)
			break;
		if (r->done != done || (r->o->mode == BBS_REPLAY_OFFLOAD && r->nqueued))
			continue;
		t_wait = bbs_now_ns();
		if (r->nfree && next < w->nr) {
			/* Waiting for the next bio's recorded time, or an event. */
			uint64_t left = release_ns(r, next) - now;

			ts.tv_sec = left / 1000000000ULL;
			ts.tv_nsec = left % 1000000000ULL;
			ret = io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, &ts, NULL);
		} else {
			ret = io_uring_submit_and_wait(&r->ring, 1);
		}
		r->terms.sleep_ns += bbs_now_ns() - t_wait;
		r->terms.sleeps++;
		r->wait_since = t_wait;
		if (ret < 0 && ret != -ETIME && ret != -EINTR) {
			r->err = -ret;
			break;
		}
		reap(r);
		r->wait_since = 0;
	}
	getrusage(RUSAGE_SELF, &r->ru1);
	sched_end(r);
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
	unsigned int n = r->o->mode >= BBS_REPLAY_ASYNC ? r->o->workers : 0, qd = r->o->qd;
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
	bbs_csum_block(r->o->algo, r->pool.buf, BBS_WL_BLOCK, warm);
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
	free(r->tasks0);
	bbs_wakeups_stop(r->wakeups);
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

/* '<offset> <hex>' per block, by offset, into path (host/outfile.h: atomically). */
static int write_csums(struct replay *r, const char *path)
{
	const struct bbs_workload *w = r->w;
	struct bbs_out out;
	size_t *order;
	int ret = -1;
	FILE *f;

	if (r->o->mode == BBS_REPLAY_NONE)
		for (size_t i = 0; i < w->nr; i++)
			csum_bio(r, i); /* not timed: the run is over */
	order = malloc((w->nr ?: 1) * sizeof(*order));
	if (!order) {
		bbs_err("--csum-out %s: out of memory", path);
		return -ENOMEM;
	}
	for (size_t i = 0; i < w->nr; i++)
		order[i] = i;
	sort_w = w;
	qsort(order, w->nr, sizeof(*order), by_offset);
	ret = bbs_out_open(&out, path, r->o->force ? BBS_OUT_FORCE : 0);
	if (ret) {
		bbs_err("--csum-out %s: %s", path, out.why);
		goto out;
	}
	f = bbs_out_stream(&out);
	if (!f) {
		bbs_out_abort(&out);
		ret = -ENOMEM;
		bbs_err("--csum-out %s: out of memory", path);
		goto out;
	}
	for (size_t k = 0; k < w->nr; k++) {
		const struct bbs_wbio *b = &w->bios[order[k]];
		const uint8_t *c = r->csums + r->csum_idx[order[k]] * r->csum_size;
		char line[BBS_CSUM_LINE_MAX];

		for (uint32_t off = 0; off < b->len; off += BBS_WL_BLOCK, c += r->csum_size)
			fwrite(line, 1, bbs_csum_line(line, b->offset + off, c, r->csum_size), f);
	}
	ret = bbs_out_commit(&out);
	if (ret)
		bbs_err("--csum-out %s: %s", path, out.why);
out:
	free(order);
	return ret;
}

/*
 * The run as the tracer would have seen it: two groups, the target's
 * device (device, total) and the filesystem's (dev 0: csum).  fs is 0: no
 * btrfs is involved; the report names every group after the target.
 */
static int build_result(struct replay *r, struct bbs_replay_csum_result *res)
{
	struct bbs_group g = { .op = BBS_OP_WRITE, .kind = KIND_DATA };
	struct bbs_group_data *dev, *fs;
	struct bbs_report *rep = &res->report;

	bbs_report_init(rep);
	rep->interval_s = (r->t_last - r->t0) / 1e9;
	rep->fs_label = r->o->target;
	g.dev = r->t->kdev;
	dev = bbs_report_group(rep, &g);
	g.dev = 0;
	fs = dev ? bbs_report_group(rep, &g) : NULL;
	if (!fs) {
		bbs_report_free(rep);
		bbs_err("cannot build the report: out of memory");
		return -ENOMEM;
	}
	dev = &rep->groups[0]; /* the second group may have moved the array */
	dev->stats.bios = r->w->nr;
	dev->stats.bytes = r->w->bytes;
	dev->phases[PHASE_DEVICE] = r->device;
	dev->phases[PHASE_TOTAL] = r->total;
	fs->phases[PHASE_CSUM] = r->csum;
	bbs_report_sort(rep);
	res->elapsed_s = rep->interval_s;
	res->cpu_s = bbs_replay_cpu_s(&r->ru0, &r->ru1);
	res->csum_wait_ns = r->csum_wait_ns;
	res->terms = r->terms;
	res->terms.worker_ns = atomic_load(&r->worker_gap_ns);
	res->terms.worker_gaps = atomic_load(&r->worker_gaps);
	res->terms.csum_ns = r->csum.sum_ns;
	res->csum = r->csum;
	snprintf(res->target_name, sizeof(res->target_name), "%s", r->t->name);
	return 0;
}

/* Every offset and length a multiple of the target's logical block size? */
static int check_alignment(const struct bbs_workload *w, const struct bbs_target *t)
{
	for (size_t i = 0; i < w->nr; i++) {
		if (w->bios[i].offset % t->lbs || w->bios[i].len % t->lbs) {
			bbs_err("--target %s: bio %zu (offset %llu, %u bytes) is not aligned to "
				"its %u-byte blocks",
				t->path, i, (unsigned long long)w->bios[i].offset, w->bios[i].len,
				t->lbs);
			return -1;
		}
	}
	return 0;
}

/* Set up, run, and say what failed: 0 or a negative errno. */
static int replay_run(struct replay *r)
{
	const struct bbs_workload *w = r->w;

	if (pool_setup(r)) {
		bbs_err("cannot allocate %llu MiB of data buffers: %s",
			(unsigned long long)(r->pool.map_len >> 20), strerror(errno));
		return -ENOMEM;
	}
	if (threads_setup(r) || ring_setup(r))
		return -EIO;
	if (run(r)) {
		if (r->err_bio < w->nr)
			bbs_err("write of %u bytes at offset %llu to %s failed: %s",
				w->bios[r->err_bio].len,
				(unsigned long long)w->bios[r->err_bio].offset, r->t->path,
				r->err == EIO ? "short write or I/O error" : strerror(r->err));
		else
			bbs_err("io_uring failed during the replay: %s", strerror(r->err));
		return -r->err;
	}
	return 0;
}

int bbs_replay_csum(const struct bbs_replay_csum_opts *o, const struct bbs_workload *w,
		    struct bbs_replay_csum_result *res)
{
	struct bbs_target_opts to = { .need = w->span, .force = o->force };
	struct bbs_target t = { .fd = -1 };
	struct replay r = { .o = o, .w = w, .t = &t, .efd = -1, .err_bio = SIZE_MAX };
	int ret;

	memset(res, 0, sizeof(*res));
	if (!w->nr) {
		bbs_err("the workload has no data writes");
		return -EINVAL;
	}
	if (bbs_target_open(&t, o->target, &to))
		return -EINVAL;
	if (check_alignment(w, &t)) {
		bbs_target_close(&t, false);
		return -EINVAL;
	}
	ret = replay_run(&r);
	if (!ret && o->csum_out)
		ret = write_csums(&r, o->csum_out);
	if (!ret)
		ret = build_result(&r, res);
	teardown(&r);
	bbs_target_close(&t, ret == 0);
	return ret;
}

void bbs_replay_csum_free(struct bbs_replay_csum_result *res)
{
	bbs_report_free(&res->report);
}
