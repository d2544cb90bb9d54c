// SPDX-License-Identifier: GPL-2.0
/* The async_csum series' model (bench/model.h), and m and c measured for it. */
#include <math.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench/internal.h"
#include "bench/model.h"
#include "btrfs/simd.h"
#include "host/machine.h"
#include "host/median.h"
#include "host/util.h"

const char bbs_model_formula[] = "serial 1/(1/m+1/c+1/d), async 1/(1/m+max(1/c,1/d)); "
				 "m mem_bps, c csum_bps, d dev_bps";

void bbs_model_predict(struct bbs_model *m)
{
	double mem = 1 / m->mem_bps, c = 1 / m->csum_bps, d = 1 / m->dev_bps;

	m->serial_bps = 1 / (mem + c + d);
	m->async_bps = 1 / (mem + fmax(c, d));
	m->speedup = m->async_bps / m->serial_bps;
}

/* ---- m and c: one core, cold, in this process ---- */

/*
 * The method of tools/csum_perf's cold trials, on a smaller buffer (8 LLCs,
 * 256 MiB to 1 GiB): each 4 KiB block of the buffer copied into one
 * L1-resident block (memcpy: the rate memory feeds a reader), or checksummed
 * with bbs_csum_blocks() 64 KiB a call, continuing where the last trial
 * stopped, so what a trial reads was last touched a whole buffer ago.
 */
#define BW_BLOCK 4096
#define BW_CALL 65536
#define BW_TRIALS 5

int bench_bw_init(struct bw *w)
{
	unsigned int level;
	size_t llc = bbs_llc_size(&level);

	w->len = 8 * (llc ? llc : 32 << 20);
	if (w->len < (256U << 20))
		w->len = 256U << 20;
	if (w->len > (1U << 30))
		w->len = 1U << 30;
	w->len -= w->len % BW_CALL;
	w->pos = 0;
	w->buf = mmap(NULL, w->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w->buf == MAP_FAILED) {
		w->buf = NULL;
		return -1;
	}
	for (size_t i = 0; i < w->len; i += 8) {
		uint64_t v = (i >> 3) * 0x9e3779b97f4a7c15ULL;

		memcpy(w->buf + i, &v, 8);
	}
	return 0;
}

/* One pass over the buffer: bytes a second.  csum < 0: memcpy. */
static double bw_trial(struct bw *w, int csum)
{
	static uint8_t l1[BW_BLOCK] __attribute__((aligned(64)));
	uint8_t out[BW_CALL / BW_BLOCK * BBS_CSUM_MAX];
	uint64_t t0 = bbs_now_ns();

	for (size_t done = 0; done < w->len; done += BW_CALL) {
		uint8_t *p = w->buf + w->pos;

		if (csum < 0) {
			for (size_t off = 0; off < BW_CALL; off += BW_BLOCK) {
				memcpy(l1, p + off, BW_BLOCK);
				__asm__ volatile("" : : "r"(l1) : "memory");
			}
		} else {
			bbs_csum_blocks(csum, p, BW_CALL, BW_BLOCK, out);
			__asm__ volatile("" : : "r"(out) : "memory");
		}
		w->pos = (w->pos + BW_CALL) % w->len;
	}
	return w->len / ((bbs_now_ns() - t0 + 1) / 1e9);
}

/* Median of BW_TRIALS alternating trials of each, pinned to the current CPU. */
void bench_bw_measure(struct bw *w, enum bbs_csum_type algo, double *m, double *c)
{
	double tm[BW_TRIALS], tc[BW_TRIALS];
	cpu_set_t old, one;
	int cpu = sched_getcpu();
	bool pinned = false;

	if (cpu >= 0 && !sched_getaffinity(0, sizeof(old), &old)) {
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		pinned = !sched_setaffinity(0, sizeof(one), &one);
	}
	bbs_avx_upper_clear();
	for (int i = 0; i < BW_TRIALS; i++) {
		tm[i] = bw_trial(w, -1);
		tc[i] = bw_trial(w, algo);
	}
	if (pinned)
		sched_setaffinity(0, sizeof(old), &old);
	*m = bbs_median(tm, BW_TRIALS);
	*c = bbs_median(tc, BW_TRIALS);
}

/* ---- the pipeline model: a closed network, simulated event by event ---- */

#define SIM_BIOS 4000 /* bios simulated; the first SIM_WARM are not counted */
#define SIM_WARM 400

enum ev_kind {
	EV_S_DONE, /* S finished its job */
	EV_D_DONE, /* D finished a bio */
	EV_W_DONE, /* a worker finished a checksum */
	EV_W_FREE, /* a worker is ready for the next bio */
	EV_CPU, /* a job's delay is over: its CPU work starts, then .then */
};

struct ev {
	double t;
	enum ev_kind kind;
	unsigned int bio;
	enum ev_kind then; /* EV_CPU: what its end is */
	double cpu; /* EV_CPU: the CPU work, ns on a core of its own */
};

/* A job doing CPU work: the cores are shared among all of them. */
struct cpu_job {
	double left; /* ns of work on a core of its own */
	enum ev_kind then;
	unsigned int bio;
};

/* S's jobs: start a bio, or see a checksum a worker finished. */
struct job {
	unsigned int bio;
	bool notice;
};

struct sim {
	const struct bbs_pipe *p;
	double now;
	struct ev *heap;
	size_t nheap;
	/* S: one server and its FIFO */
	struct job *sq;
	size_t sq_head, sq_tail;
	bool s_busy;
	struct job s_cur;
	/* D */
	unsigned int *dq;
	size_t dq_head, dq_tail;
	bool d_busy;
	/* W */
	unsigned int *wq;
	size_t wq_head, wq_tail;
	unsigned int w_busy; /* working or waking */
	/* bios: parts left, start time */
	unsigned int *left;
	double *start;
	/* the jobs on a CPU now */
	struct cpu_job *cpu;
	unsigned int ncpu;
	unsigned int started, done, lat_n;
	double lat_sum, t_warm;
};

static void push_full(struct sim *s, struct ev e)
{
	size_t i = s->nheap++;

	while (i) {
		size_t up = (i - 1) / 2;

		if (s->heap[up].t <= e.t)
			break;
		s->heap[i] = s->heap[up];
		i = up;
	}
	s->heap[i] = e;
}

static void push_ev(struct sim *s, double t, enum ev_kind k, unsigned int bio)
{
	push_full(s, (struct ev){ .t = t, .kind = k, .bio = bio });
}

/*
 * A station's job: delay ns holding the station without a CPU (a wake-up,
 * a device's own time), then cpu ns of work on the shared cores, then the
 * event then.  Without CPU work it is one event, as in the model without
 * sharing.
 */
static void serve(struct sim *s, double delay, double cpu, enum ev_kind then, unsigned int bio)
{
	if (!(cpu > 0))
		push_ev(s, s->now + delay, then, bio);
	else if (delay > 0)
		push_full(s, (struct ev){ .t = s->now + delay,
					  .kind = EV_CPU,
					  .bio = bio,
					  .then = then,
					  .cpu = cpu });
	else
		s->cpu[s->ncpu++] = (struct cpu_job){ cpu, then, bio };
}

static struct ev pop_ev(struct sim *s)
{
	struct ev top = s->heap[0], last = s->heap[--s->nheap];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= s->nheap)
			break;
		if (c + 1 < s->nheap && s->heap[c + 1].t < s->heap[c].t)
			c++;
		if (last.t <= s->heap[c].t)
			break;
		s->heap[i] = s->heap[c];
		i = c;
	}
	s->heap[i] = last;
	return top;
}

/* S takes its next job, if idle; asleep (nothing queued) a notice costs wake_ns first. */
static void s_next(struct sim *s, bool was_asleep)
{
	const struct bbs_pipe *p = s->p;
	double svc;

	if (s->s_busy || s->sq_head == s->sq_tail)
		return;
	s->s_cur = s->sq[s->sq_head++];
	s->s_busy = true;
	/* S issues a write where the shape submits it: at start, or offload's notice */
	if (s->s_cur.notice) {
		svc = (was_asleep ? p->wake_ns : 0) +
		      (p->shape == BBS_SHAPE_OFFLOAD ? p->issue_ns : 0);
		serve(s, svc, 0, EV_S_DONE, s->s_cur.bio);
	} else {
		svc = p->submit_ns + (p->shape == BBS_SHAPE_SERIAL ? p->csum_ns : 0) +
		      (p->shape == BBS_SHAPE_OFFLOAD ? 0 : p->issue_ns);
		serve(s, svc, p->submit_cpu_ns, EV_S_DONE, s->s_cur.bio);
	}
}

static void s_add(struct sim *s, unsigned int bio, bool notice)
{
	bool asleep = !s->s_busy && s->sq_head == s->sq_tail;

	s->sq[s->sq_tail++] = (struct job){ bio, notice };
	s_next(s, asleep);
}

static void d_next(struct sim *s)
{
	if (s->d_busy || s->dq_head == s->dq_tail)
		return;
	s->d_busy = true;
	/* what the device takes beyond the part S ran inline while issuing */
	serve(s, fmax(s->p->device_ns - s->p->issue_ns, 0), s->p->device_cpu_ns, EV_D_DONE,
	      s->dq[s->dq_head++]);
}

static void d_add(struct sim *s, unsigned int bio)
{
	s->dq[s->dq_tail++] = bio;
	d_next(s);
}

/* A worker takes the next bio: at once when it just finished one, after handoff_ns if idle. */
static void w_next(struct sim *s, bool from_idle)
{
	if (s->w_busy >= s->p->workers || s->wq_head == s->wq_tail)
		return;
	s->w_busy++;
	serve(s, (from_idle ? s->p->handoff_ns : 0) + s->p->csum_ns, s->p->worker_cpu_ns, EV_W_DONE,
	      s->wq[s->wq_head++]);
}

static void start_bio(struct sim *s)
{
	if (s->started >= SIM_BIOS)
		return;
	s->start[s->started] = s->now;
	s->left[s->started] = s->p->shape == BBS_SHAPE_ASYNC ? 2 : 1;
	s_add(s, s->started++, false);
}

static void part_done(struct sim *s, unsigned int bio)
{
	if (--s->left[bio])
		return;
	if (bio >= SIM_WARM) {
		s->lat_sum += s->now - s->start[bio];
		s->lat_n++;
		if (!s->t_warm)
			s->t_warm = s->now;
	}
	s->done++;
	start_bio(s);
}

static void on_ev(struct sim *s, const struct ev *e)
{
	const struct bbs_pipe *p = s->p;

	switch (e->kind) {
	case EV_S_DONE:
		s->s_busy = false;
		if (s->s_cur.notice) {
			if (p->shape == BBS_SHAPE_OFFLOAD)
				d_add(s, e->bio);
			else
				part_done(s, e->bio);
		} else if (p->shape == BBS_SHAPE_NONE || p->shape == BBS_SHAPE_SERIAL) {
			d_add(s, e->bio);
		} else {
			if (p->shape == BBS_SHAPE_ASYNC)
				d_add(s, e->bio);
			s->wq[s->wq_tail++] = e->bio;
			w_next(s, true);
		}
		s_next(s, false);
		break;
	case EV_D_DONE:
		s->d_busy = false;
		part_done(s, e->bio);
		d_next(s);
		break;
	case EV_CPU:
		s->cpu[s->ncpu++] = (struct cpu_job){ e->cpu, e->then, e->bio };
		break;
	case EV_W_DONE:
		/* the checksum is done: S hears of it; the worker hands it back meanwhile */
		s_add(s, e->bio, true);
		push_ev(s, s->now + p->worker_ns, EV_W_FREE, e->bio);
		break;
	case EV_W_FREE:
		s->w_busy--;
		w_next(s, false);
		break;
	}
}

/*
 * Processor sharing: the n jobs on a CPU each progress at min(1, cores / n)
 * (every one at full speed when cores is 0).  If the first of them ends
 * before the next event, take it out as *e and say so; either way bring
 * every job's work left up to the time of what happens next.
 */
static bool next_cpu(struct sim *s, struct ev *e)
{
	double rate = 1, t_ev = s->nheap ? s->heap[0].t : INFINITY, dt;
	unsigned int first = 0;

	if (!s->ncpu)
		return false;
	if (s->p->cores > 0 && s->ncpu > s->p->cores)
		rate = s->p->cores / s->ncpu;
	for (unsigned int i = 1; i < s->ncpu; i++)
		if (s->cpu[i].left < s->cpu[first].left)
			first = i;
	dt = s->cpu[first].left / rate;
	if (s->now + dt > t_ev) {
		dt = t_ev - s->now;
		for (unsigned int i = 0; i < s->ncpu; i++)
			s->cpu[i].left = fmax(s->cpu[i].left - dt * rate, 0);
		return false;
	}
	for (unsigned int i = 0; i < s->ncpu; i++)
		s->cpu[i].left = fmax(s->cpu[i].left - dt * rate, 0);
	*e = (struct ev){ .t = s->now + dt, .kind = s->cpu[first].then, .bio = s->cpu[first].bio };
	s->cpu[first] = s->cpu[--s->ncpu];
	return true;
}

int bbs_pipe_predict(struct bbs_pipe *p)
{
	struct sim s = { .p = p };
	double span;
	int ret = -1;

	p->bps = p->latency_ns = NAN;
	if (!p->qd || !p->workers || !(p->bio_bytes > 0) || !(p->submit_ns >= 0) ||
	    !(p->csum_ns >= 0) || !(p->device_ns >= 0) || !(p->handoff_ns >= 0) ||
	    !(p->wake_ns >= 0) || !(p->worker_ns >= 0) || !(p->issue_ns >= 0) ||
	    !(p->submit_cpu_ns >= 0) || !(p->device_cpu_ns >= 0) || !(p->worker_cpu_ns >= 0) ||
	    !(p->cores >= 0))
		return -1;
	if (p->qd > SIM_BIOS / 4)
		p->qd = SIM_BIOS / 4;
	s.heap = calloc(3 * SIM_BIOS, sizeof(*s.heap));
	s.sq = calloc(2 * SIM_BIOS + 1, sizeof(*s.sq));
	s.dq = calloc(SIM_BIOS + 1, sizeof(*s.dq));
	s.wq = calloc(SIM_BIOS + 1, sizeof(*s.wq));
	s.left = calloc(SIM_BIOS, sizeof(*s.left));
	s.start = calloc(SIM_BIOS, sizeof(*s.start));
	s.cpu = calloc(p->workers + 2, sizeof(*s.cpu)); /* S, D and every worker */
	if (!s.heap || !s.sq || !s.dq || !s.wq || !s.left || !s.start || !s.cpu)
		goto out;
	for (unsigned int i = 0; i < p->qd; i++)
		start_bio(&s);
	while ((s.nheap || s.ncpu) && s.done < SIM_BIOS) {
		struct ev e;

		if (!next_cpu(&s, &e))
			e = pop_ev(&s);
		s.now = e.t;
		on_ev(&s, &e);
	}
	span = s.now - s.t_warm;
	/* bios done after the first counted one, over the time they took */
	if (s.done > SIM_WARM + 1 && span > 0) {
		p->bps = (s.done - SIM_WARM - 1) * p->bio_bytes / (span / 1e9);
		p->latency_ns = s.lat_sum / s.lat_n;
	} else {
		/* every time zero: nothing bounds it */
		p->bps = INFINITY;
		p->latency_ns = 0;
	}
	ret = 0;
out:
	free(s.heap);
	free(s.sq);
	free(s.dq);
	free(s.wq);
	free(s.left);
	free(s.start);
	free(s.cpu);
	return ret;
}

void bbs_pipe_seed(struct bbs_pipe *p, const struct bbs_model *m, enum bbs_model_shape shape,
		   double bio_bytes)
{
	*p = (struct bbs_pipe){
		.shape = shape,
		.qd = 1,
		.workers = 1,
		.bio_bytes = bio_bytes,
		.submit_ns = isinf(m->mem_bps) ? 0 : bio_bytes / m->mem_bps * 1e9,
		.csum_ns = bio_bytes / m->csum_bps * 1e9,
		.device_ns = bio_bytes / m->dev_bps * 1e9,
	};
}
