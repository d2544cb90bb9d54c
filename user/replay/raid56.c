// SPDX-License-Identifier: GPL-2.0
/*
 * The raid56 replay engine (replay/raid56.h, `bbscope replay parity`):
 * btrfs's RAID5/6 write and degraded-read paths in userspace, on N targets
 * laid out as one btrfs raid56 chunk.
 *
 * One mechanism, kept in one file as the kernel keeps fs/btrfs/raid56.c:
 * rbios, the stripe cache, the read-modify-write and recover state
 * machines and the I/O lanes that drive them call each other at every step,
 * and read best top to bottom.
 *
 * Geometry: btrfs/stripe.h's, the one btrfs/fs.c maps a real chunk with.
 * nr_data = N - 1 (raid5) or N - 2 (raid6) data strips of BBS_STRIPE_LEN
 * (64 KiB) make a full stripe; data offset X of the workload lies in full
 * stripe f = X / (nr_data * 64 KiB), data strip j = (X mod (nr_data * 64
 * KiB)) / 64 KiB.  Strip j of full stripe f (data 0 .. nr_data-1, then P,
 * then Q) is on target bbs_strip_dev(f, j, N) at offset f * 64 KiB, so
 * parity rotates by one target per full stripe.
 *
 * The workload's offsets are in that data address space: --synthetic makes
 * them there; --trace takes a recording's raid5/6 data strip writes (its
 * EV_STRIPE records, not its device bios, whose offsets are physical and
 * which include the P and Q strips the replay computes itself), each placed
 * in the full stripe and data strip it wrote, full stripes counted from the
 * lowest one written (bbs_workload_finish_strips()).  That needs the
 * recording's nr_data to be this replay's: a recording of another width is
 * refused, whatever the profiles (raid6 on 4 devices replays as raid5 on 3).
 *
 * Work comes in rbios, as btrfs makes them: the workload's bios are split at
 * full-stripe boundaries, and a piece that continues the previous one in the
 * same full stripe is merged into it, as btrfs's plug merges a buffered
 * sequential write (--no-plug: every bio is its own rbio, as with O_DIRECT
 * or an fsync after every write).  One rbio is the unit the raid56 phases
 * time:
 *
 *   rmw      a write (rmw_rbio()).  Full stripe: generate P/Q from the
 *            workload's data, write every strip.  Sub-stripe: read the whole
 *            full stripe, data and P/Q (rmw_read_wait_recover() reads all of
 *            it, for csum verification), put the new data in, generate P/Q
 *            over every vertical sector, write the new data sectors and the
 *            parity sectors of the vertical stripes they touch
 *            (rmw_assemble_write_bios()).  As in btrfs, a sub-stripe rbio
 *            leaves its full stripe in the stripe cache (--stripe-cache
 *            entries, RBIO_CACHE_SIZE by default, least recently used out),
 *            and the next sub-stripe rbio of that full stripe takes it from
 *            there instead of reading; a full-stripe write drops it.
 *   recover  a degraded read (--degraded): a range on a surviving strip is a
 *            plain read, timed per I/O but not as recover; every 4 KiB sector
 *            on a missing data strip is one recover rbio, as btrfs's read
 *            repair submits it (each failed sector again with mirror 2):
 *            read every surviving strip of the full stripe, rebuild the
 *            missing ones whole (recover_rbio()).  --recover-unit stripe
 *            makes one recover rbio of the whole range instead.
 *
 * Parity is computed in one of btrfs's shapes (--mode):
 *
 *   step     generate_pq_vertical(): one 4 KiB vertical sector per call,
 *            with the pointers of every strip at that sector
 *   batched  the whole 64 KiB strip per call
 *   threads  batched, with full stripes spread over --threads threads (full
 *            stripe f goes to thread f mod T, so one full stripe is never
 *            worked on by two threads, as the kernel's stripe lock ensures)
 *
 * Each thread owns an io_uring ring (O_DIRECT, registered files and
 * buffers) and keeps up to --qd rbios in flight; an rbio whose full stripe
 * is already in flight waits for it, as lock_stripe_add() queues it.  Data
 * comes from the registered pool (replay/uring.h): the byte at data offset X is
 * bbs_pool_at(X) for the --data-seed; full-stripe writes go out from the
 * pool, as btrfs writes bio pages.  Parity, rmw reads and the stripe cache
 * use full-stripe buffers in one registered region per thread: a slot and
 * a cache entry swap buffers, as steal_rbio() moves pages, never copying.
 *
 * Output: the tracer's report.  One group per target and direction, with
 * phases device (submission -> completion reaped) and total (I/O prepared ->
 * completion reaped), bios and bytes (its I/Os), and stripe_writes or
 * stripe_reads (the rbios' strip I/Os, what raid56_write and raid56_read
 * count; a plain degraded read is a bio only).  One filesystem group with
 * rmw or recover: rbio start -> its last I/O reaped, parity work included.
 * A target's groups have fs "0:N+1" in the plain text; in JSON their fs is
 * the target's path and target_index is N.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/report.h"
#include "btrfs/parity.h"
#include "btrfs/stripe.h"
#include "replay/raid56.h"
#include "replay/replay.h"
#include "replay/target.h"
#include "replay/uring.h"
#include "host/outfile.h"
#include "host/util.h"
#include "replay/workload.h"
#include "host/array.h"

#define SECTOR 4096U /* btrfs sector: generate_pq_vertical()'s step */
#define NR_SECTORS (BBS_STRIPE_LEN / SECTOR)
#define MAX_TARGETS BBS_RAID56_MAX_TARGETS
#define MAX_IOS (MAX_TARGETS + 2) /* per rbio: nr_data data writes + 2 runs per parity */

const char *const bbs_raid56_mode_name[BBS_NR_RAID56_MODES] = { "step", "batched", "threads" };

enum rbio_kind {
	RB_WRITE, /* rmw */
	RB_READ, /* a plain read of surviving strips */
	RB_RECOVER, /* a read that rebuilds missing strips */
};

/* A range of one full stripe's data, [off, off + len): btrfs's rbio. */
struct rbio {
	uint64_t stripe;
	uint32_t off, len;
	enum rbio_kind kind;
};

/* A full stripe kept after a sub-stripe rmw: btrfs's stripe cache. */
struct cached {
	uint64_t stripe, used;
	uint8_t *buf; /* N strips, in the lane's registered region */
	bool valid;
};

struct io {
	uint64_t prep_ns, submit_ns;
	uint32_t len;
	uint8_t target, op;
	bool stripe; /* an rbio's strip I/O (raid56_read/raid56_write), not a plain read */
};

/* An rbio in flight. */
struct slot {
	size_t rbio;
	uint64_t start_ns;
	uint8_t *buf; /* N strips of BBS_STRIPE_LEN, in rbio order: data, P, Q */
	unsigned int nios, pending;
	bool busy, reading;
	struct io ios[MAX_IOS];
};

/* One thread's share of the work, with its ring and its statistics. */
struct lane {
	struct replay *r;
	unsigned int id;
	size_t *list, nr, next, done;

	struct io_uring ring;
	bool ring_up;
	uint8_t *bufs;
	size_t bufs_len;
	struct slot *slots;
	uint32_t *free, nfree;
	struct cached *cache;
	unsigned int nr_cache;
	uint64_t cache_clock, cache_hits;
	uint64_t *queued; /* user_data of SQEs prepared, not yet submitted */
	unsigned int nqueued;

	struct bbs_hist work; /* rmw or recover per rbio */
	struct bbs_hist parity; /* P/Q generation or rebuild per rbio */
	struct bbs_hist *device, *total; /* [target * 2 + op] */
	uint64_t *nr_io, *io_bytes, *nr_stripe_io; /* [target * 2 + op] */
	uint64_t t_first, t_last;
	int err; /* errno of the first failure */
	char why[PATH_MAX + 256]; /* and what failed */
	pthread_t thread;
};

struct replay {
	const struct bbs_raid56_opts *o;
	const struct bbs_workload *w;
	struct bbs_target *t;
	unsigned int n, nd, np; /* targets, data strips, parity strips */
	size_t step; /* bytes per bbs_parity_gen call: SECTOR or 0 (the whole strip) */
	uint64_t stripe_data; /* data bytes per full stripe */

	struct rbio *rbios;
	size_t nr_rbios, cap_rbios, nr_full, nr_partial, nr_plain, nr_recover;
	uint64_t nr_stripes; /* full stripes the workload spans */

	struct bbs_pool pool;
	struct lane *lanes;
	unsigned int nr_lanes;
	pthread_barrier_t ready;
	atomic_bool abort;
	unsigned int threads; /* lanes: 1, or --threads (the online CPUs) */
	bool missing[MAX_TARGETS];
	struct bbs_out rebuilt[MAX_TARGETS]; /* --rebuilt-out PREFIX.N (host/outfile.h) */
	struct rusage ru0, ru1;
};

/* ---- geometry ---- */

/* The target strip j (rbio order) of full stripe f lives on. */
static inline unsigned int strip_target(const struct replay *r, uint64_t f, unsigned int j)
{
	return bbs_strip_dev(f, j, r->n);
}

/* The strip (rbio order) of full stripe f that lives on target i. */
static inline unsigned int target_strip(const struct replay *r, uint64_t f, unsigned int i)
{
	return bbs_dev_strip(f, i, r->n);
}

static int add_rbio(struct replay *r, uint64_t stripe, uint32_t off, uint32_t len,
		    enum rbio_kind kind)
{
	struct rbio *last = r->nr_rbios ? &r->rbios[r->nr_rbios - 1] : NULL;
	struct rbio *n;

	if (last && last->stripe == stripe && last->kind == kind && !r->o->no_plug) {
		/* What btrfs's plug merges: the next piece of the same full stripe. */
		if (kind != RB_RECOVER && last->off + last->len == off) {
			last->len += len;
			return 0;
		}
		/* One recover of the whole range: its reads and rebuild cover it all. */
		if (kind == RB_RECOVER && r->o->recover_stripe) {
			uint32_t end = last->off + last->len > off + len ? last->off + last->len
									 : off + len;

			last->off = last->off < off ? last->off : off;
			last->len = end - last->off;
			return 0;
		}
	}
	n = bbs_array_reserve(r->rbios, &r->cap_rbios, r->nr_rbios + 1, sizeof(*n), 1024);
	if (!n)
		return -1;
	r->rbios = n;
	r->rbios[r->nr_rbios++] = (struct rbio){ stripe, off, len, kind };
	return 0;
}

/* A degraded read of [off, off + len) of full stripe f: plain reads and recovers. */
static int add_read(struct replay *r, uint64_t f, uint32_t off, uint32_t len)
{
	uint32_t end = off + len;

	for (unsigned int j = off / BBS_STRIPE_LEN; j < r->nd && j * BBS_STRIPE_LEN < end; j++) {
		uint32_t lo = j * BBS_STRIPE_LEN > off ? j * BBS_STRIPE_LEN : off;
		uint32_t hi = (j + 1) * BBS_STRIPE_LEN < end ? (j + 1) * BBS_STRIPE_LEN : end;

		if (!r->missing[strip_target(r, f, j)]) {
			if (add_rbio(r, f, lo, hi - lo, RB_READ))
				return -1;
			continue;
		}
		if (r->o->recover_stripe) {
			if (add_rbio(r, f, lo, hi - lo, RB_RECOVER))
				return -1;
			continue;
		}
		/* Read repair: one rbio per failed sector. */
		for (uint32_t k = lo; k < hi; k += SECTOR)
			if (add_rbio(r, f, k, SECTOR, RB_RECOVER))
				return -1;
	}
	return 0;
}

/* Split the workload into rbios; count them by kind and size. */
static int build_rbios(struct replay *r)
{
	const struct bbs_workload *w = r->w;
	int ret;

	for (size_t i = 0; i < w->nr; i++) {
		uint64_t off = w->bios[i].offset, end = off + w->bios[i].len;

		if (off % SECTOR) {
			bbs_err("bio %zu at offset %llu is not aligned to the 4 KiB sector size", i,
				(unsigned long long)off);
			return -1;
		}
		while (off < end) {
			uint64_t f = off / r->stripe_data, in = off % r->stripe_data;
			uint64_t len =
				end - off < r->stripe_data - in ? end - off : r->stripe_data - in;

			if (r->o->nr_degraded)
				ret = add_read(r, f, in, len);
			else
				ret = add_rbio(r, f, in, len, RB_WRITE);
			if (ret) {
				bbs_err("cannot split the workload into stripes: out of memory");
				return -1;
			}
			off += len;
		}
	}
	for (size_t i = 0; i < r->nr_rbios; i++) {
		const struct rbio *b = &r->rbios[i];

		if (b->len == r->stripe_data)
			r->nr_full++;
		else
			r->nr_partial++;
		r->nr_plain += b->kind == RB_READ;
		r->nr_recover += b->kind == RB_RECOVER;
		if (b->stripe >= r->nr_stripes)
			r->nr_stripes = b->stripe + 1;
	}
	return 0;
}

/* Does the rbio's range touch data strip j? */
static inline bool touches(const struct replay *r, const struct rbio *b, unsigned int j)
{
	return j < r->nd && b->off < (j + 1) * BBS_STRIPE_LEN &&
	       b->off + b->len > j * BBS_STRIPE_LEN;
}

/* ---- I/O ---- */

static int flush(struct lane *l)
{
	uint64_t now;
	int ret;

	if (!io_uring_sq_ready(&l->ring))
		return 0;
	now = bbs_now_ns();
	for (unsigned int i = 0; i < l->nqueued; i++) {
		uint64_t tag = l->queued[i];

		l->slots[tag >> 8].ios[tag & 0xff].submit_ns = now;
	}
	l->nqueued = 0;
	do
		ret = io_uring_submit(&l->ring);
	while (ret == -EINTR);
	if (ret < 0 && !l->err) {
		l->err = -ret;
		snprintf(l->why, sizeof(l->why), "io_uring submission failed: %s", strerror(-ret));
	}
	return ret < 0 ? ret : 0;
}

/*
 * Queue one read or write of len bytes at offset on target, from or into buf:
 * in the data pool (registered buffer 0) or in the lane's region of stripe
 * buffers (1).
 */
static void queue_io(struct lane *l, uint32_t si, unsigned int target, int op, uint64_t offset,
		     void *buf, uint32_t len)
{
	struct slot *s = &l->slots[si];
	unsigned int k = s->nios++;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);
	int buf_index = (uint8_t *)buf >= l->bufs && (uint8_t *)buf < l->bufs + l->bufs_len;

	if (!sqe) {
		/* Never with the SQ sized for every slot's I/Os; cope anyway. */
		flush(l);
		sqe = io_uring_get_sqe(&l->ring);
	}
	if (op == BBS_OP_WRITE)
		io_uring_prep_write_fixed(sqe, target, buf, len, offset, buf_index);
	else
		io_uring_prep_read_fixed(sqe, target, buf, len, offset, buf_index);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, (uint64_t)si << 8 | k);
	s->ios[k] = (struct io){
		.prep_ns = bbs_now_ns(),
		.len = len,
		.target = target,
		.op = op,
		.stripe = l->r->rbios[s->rbio].kind != RB_READ,
	};
	s->pending++;
	l->queued[l->nqueued++] = (uint64_t)si << 8 | k;
}

/* ---- parity ---- */

static void slot_strips(const struct replay *r, const struct slot *s, void **strips)
{
	for (unsigned int j = 0; j < r->n; j++)
		strips[j] = s->buf + (size_t)j * BBS_STRIPE_LEN;
}

/* P/Q of the strips, timed: what generate_pq_vertical() does for the stripe. */
static void gen_parity(struct lane *l, void *const *strips)
{
	const struct replay *r = l->r;
	uint64_t t0;

	/* What is queued goes to the devices before the CPU work starts. */
	flush(l);
	t0 = bbs_now_ns();
	bbs_parity_gen(r->o->raid, r->nd, strips, BBS_STRIPE_LEN, r->step);
	bbs_hist_add(&l->parity, bbs_now_ns() - t0);
}

/* Rebuild the missing strips of full stripe f in the slot buffer, timed. */
static void rebuild(struct lane *l, struct slot *s, uint64_t f)
{
	const struct replay *r = l->r;
	unsigned int failed[2], nr_failed = 0;
	void *strips[MAX_TARGETS], *step[MAX_TARGETS];
	uint64_t t0;

	for (unsigned int i = 0; i < r->n; i++)
		if (r->missing[i])
			failed[nr_failed++] = target_strip(r, f, i);
	slot_strips(r, s, strips);
	flush(l);
	t0 = bbs_now_ns();
	if (r->step) {
		/* recover_vertical(): one vertical sector at a time. */
		for (unsigned int k = 0; k < NR_SECTORS; k++) {
			for (unsigned int j = 0; j < r->n; j++)
				step[j] = (uint8_t *)strips[j] + k * SECTOR;
			bbs_parity_recover(r->o->raid, r->nd, step, SECTOR, failed, nr_failed);
		}
	} else {
		bbs_parity_recover(r->o->raid, r->nd, strips, BBS_STRIPE_LEN, failed, nr_failed);
	}
	bbs_hist_add(&l->parity, bbs_now_ns() - t0);
}

/* ---- one rbio ---- */

/* Write the rbio's new data sectors and the parity sectors of their vertical stripes. */
static void queue_writes(struct lane *l, uint32_t si, bool full)
{
	const struct replay *r = l->r;
	struct slot *s = &l->slots[si];
	const struct rbio *b = &r->rbios[s->rbio];
	uint64_t base = b->stripe * r->stripe_data, phys = b->stripe * BBS_STRIPE_LEN;
	uint32_t dirty = 0, end = b->off + b->len;

	for (unsigned int j = 0; j < r->nd; j++) {
		uint32_t lo = j * BBS_STRIPE_LEN, hi = lo + BBS_STRIPE_LEN;

		if (!touches(r, b, j))
			continue;
		if (lo < b->off)
			lo = b->off;
		if (hi > end)
			hi = end;
		queue_io(l, si, strip_target(r, b->stripe, j), BBS_OP_WRITE,
			 phys + lo % BBS_STRIPE_LEN, bbs_pool_at(&r->pool, base + lo), hi - lo);
		for (uint32_t k = lo % BBS_STRIPE_LEN / SECTOR;
		     k <= (hi - 1) % BBS_STRIPE_LEN / SECTOR; k++)
			dirty |= 1U << k;
	}
	if (full)
		dirty = (1U << NR_SECTORS) - 1;
	/* Parity: one write per run of dirty vertical sectors, as bios merge. */
	for (unsigned int p = 0; p < r->np; p++) {
		unsigned int j = r->nd + p, target = strip_target(r, b->stripe, j);
		uint8_t *strip = s->buf + (size_t)j * BBS_STRIPE_LEN;

		for (unsigned int k = 0; k < NR_SECTORS;) {
			unsigned int e;

			if (!(dirty & 1U << k)) {
				k++;
				continue;
			}
			for (e = k; e < NR_SECTORS && dirty & 1U << e; e++)
				;
			queue_io(l, si, target, BBS_OP_WRITE, phys + k * SECTOR, strip + k * SECTOR,
				 (e - k) * SECTOR);
			k = e;
		}
	}
}

/* ---- the stripe cache (per lane: a full stripe is always worked on by one lane) ---- */

static struct cached *cache_find(struct lane *l, uint64_t stripe)
{
	for (unsigned int i = 0; i < l->nr_cache; i++)
		if (l->cache[i].valid && l->cache[i].stripe == stripe)
			return &l->cache[i];
	return NULL;
}

/* steal_rbio(): the slot takes the cached full stripe; its own buffer goes spare. */
static bool cache_take(struct lane *l, struct slot *s, uint64_t stripe)
{
	struct cached *c = cache_find(l, stripe);
	uint8_t *buf;

	if (!c)
		return false;
	buf = c->buf;
	c->buf = s->buf;
	s->buf = buf;
	c->valid = false;
	l->cache_hits++;
	return true;
}

/* cache_rbio(): keep the slot's full stripe, in place of the least recently used. */
static void cache_put(struct lane *l, struct slot *s, uint64_t stripe)
{
	struct cached *c = NULL;
	uint8_t *buf;

	for (unsigned int i = 0; i < l->nr_cache; i++) {
		if (!l->cache[i].valid) {
			c = &l->cache[i];
			break;
		}
		if (!c || l->cache[i].used < c->used)
			c = &l->cache[i];
	}
	if (!c)
		return;
	buf = c->buf;
	c->buf = s->buf;
	s->buf = buf;
	c->stripe = stripe;
	c->used = ++l->cache_clock;
	c->valid = true;
}

static void cache_drop(struct lane *l, uint64_t stripe)
{
	struct cached *c = cache_find(l, stripe);

	if (c)
		c->valid = false;
}

/* ---- one rbio ---- */

static void start_read(struct lane *l, uint32_t si, const struct rbio *b)
{
	struct replay *r = l->r;
	struct slot *s = &l->slots[si];
	uint64_t phys = b->stripe * BBS_STRIPE_LEN;

	s->reading = true;
	if (b->kind == RB_RECOVER) {
		/* recover_assemble_read_bios(): every surviving strip, whole. */
		for (unsigned int i = 0; i < r->n; i++)
			if (!r->missing[i])
				queue_io(l, si, i, BBS_OP_READ, phys,
					 s->buf + (size_t)target_strip(r, b->stripe, i) *
							  BBS_STRIPE_LEN,
					 BBS_STRIPE_LEN);
		return;
	}
	/* Plain: the range, strip by strip (all on surviving targets). */
	for (unsigned int j = 0; j < r->nd; j++) {
		uint32_t lo = j * BBS_STRIPE_LEN, hi = lo + BBS_STRIPE_LEN;

		if (!touches(r, b, j))
			continue;
		lo = lo < b->off ? b->off : lo;
		hi = hi > b->off + b->len ? b->off + b->len : hi;
		queue_io(l, si, strip_target(r, b->stripe, j), BBS_OP_READ,
			 phys + lo % BBS_STRIPE_LEN, s->buf + lo, hi - lo);
	}
}

/* Sub-stripe write with the full stripe in the slot: new data in, P/Q, write. */
static void rmw_write(struct lane *l, uint32_t si)
{
	struct replay *r = l->r;
	struct slot *s = &l->slots[si];
	const struct rbio *b = &r->rbios[s->rbio];
	void *strips[MAX_TARGETS];

	memcpy(s->buf + b->off, bbs_pool_at(&r->pool, b->stripe * r->stripe_data + b->off), b->len);
	slot_strips(r, s, strips);
	gen_parity(l, strips);
	s->reading = false;
	s->nios = 0; /* any reads are all reaped: their entries are free */
	queue_writes(l, si, false);
}

static void start_rbio(struct lane *l, size_t idx)
{
	struct replay *r = l->r;
	const struct rbio *b = &r->rbios[idx];
	uint32_t si = l->free[--l->nfree];
	struct slot *s = &l->slots[si];
	uint64_t base = b->stripe * r->stripe_data;
	void *strips[MAX_TARGETS];

	s->rbio = idx;
	s->busy = true;
	s->nios = s->pending = 0;
	s->reading = false;
	s->start_ns = bbs_now_ns();
	if (!l->t_first)
		l->t_first = s->start_ns;

	if (b->kind != RB_WRITE) {
		start_read(l, si, b);
		return;
	}
	if (b->len == r->stripe_data) {
		/* Full stripe: parity straight from the data, as from the bio pages. */
		cache_drop(l, b->stripe);
		for (unsigned int j = 0; j < r->nd; j++)
			strips[j] = bbs_pool_at(&r->pool, base + (uint64_t)j * BBS_STRIPE_LEN);
		for (unsigned int j = r->nd; j < r->n; j++)
			strips[j] = s->buf + (size_t)j * BBS_STRIPE_LEN;
		gen_parity(l, strips);
		queue_writes(l, si, true);
		return;
	}
	if (cache_take(l, s, b->stripe)) {
		rmw_write(l, si);
		return;
	}
	/* Sub-stripe: rmw_read_wait_recover() reads the whole full stripe first. */
	s->reading = true;
	for (unsigned int j = 0; j < r->n; j++)
		queue_io(l, si, strip_target(r, b->stripe, j), BBS_OP_READ,
			 b->stripe * BBS_STRIPE_LEN, s->buf + (size_t)j * BBS_STRIPE_LEN,
			 BBS_STRIPE_LEN);
}

/* Not timed (the rbio is done): the rebuilt strips of the missing targets. */
static void write_rebuilt(struct lane *l, const struct slot *s, uint64_t f)
{
	struct replay *r = l->r;

	for (unsigned int i = 0; i < r->n; i++) {
		const uint8_t *strip = s->buf + (size_t)target_strip(r, f, i) * BBS_STRIPE_LEN;

		if (!r->missing[i] || pwrite(r->rebuilt[i].fd, strip, BBS_STRIPE_LEN,
					     f * BBS_STRIPE_LEN) == BBS_STRIPE_LEN)
			continue;
		if (!l->err) {
			l->err = errno ?: EIO;
			snprintf(l->why, sizeof(l->why), "--rebuilt-out %s.%u: %s",
				 r->o->rebuilt_out, i, strerror(l->err));
		}
	}
}

/* The rbio's I/Os so far are done: go on to its next step, or finish it. */
static void finish_rbio(struct lane *l, uint32_t si, uint64_t now)
{
	struct replay *r = l->r;
	struct slot *s = &l->slots[si];
	const struct rbio *b = &r->rbios[s->rbio];

	if (b->kind == RB_WRITE && s->reading) {
		rmw_write(l, si);
		return;
	}
	if (b->kind == RB_RECOVER) {
		rebuild(l, s, b->stripe);
		now = bbs_now_ns();
	}
	if (b->kind != RB_READ)
		bbs_hist_add(&l->work, now - s->start_ns);
	if (b->kind == RB_RECOVER && r->o->rebuilt_out)
		write_rebuilt(l, s, b->stripe);
	if (b->kind == RB_WRITE && b->len != r->stripe_data)
		cache_put(l, s, b->stripe);
	if (now > l->t_last)
		l->t_last = now;
	s->busy = false;
	l->free[l->nfree++] = si;
	l->done++;
}

static void on_io(struct lane *l, uint64_t tag, int res, uint64_t now)
{
	struct replay *r = l->r;
	uint32_t si = tag >> 8;
	struct slot *s = &l->slots[si];
	const struct io *io = &s->ios[tag & 0xff];
	unsigned int g = io->target * 2 + io->op;

	if (res != (int)io->len) {
		if (!l->err) {
			l->err = res < 0 ? -res : EIO;
			snprintf(l->why, sizeof(l->why), "%s of %u bytes on %s failed: %s",
				 io->op == BBS_OP_WRITE ? "write" : "read", io->len,
				 r->t[io->target].path,
				 res < 0 ? strerror(-res) : "short transfer");
		}
		return;
	}
	bbs_hist_add(&l->device[g], now - io->submit_ns);
	bbs_hist_add(&l->total[g], now - io->prep_ns);
	l->nr_io[g]++;
	l->io_bytes[g] += io->len;
	l->nr_stripe_io[g] += io->stripe;
	if (!--s->pending)
		finish_rbio(l, si, now);
}

static void reap(struct lane *l)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0;

	/*
	 * A clock read per completion: parity work done for one rbio in here
	 * submits more I/O, whose completions this loop may then see.
	 */
	io_uring_for_each_cqe(&l->ring, head, cqe)
	{
		on_io(l, io_uring_cqe_get_data64(cqe), cqe->res, bbs_now_ns());
		n++;
	}
	io_uring_cq_advance(&l->ring, n);
}

/* Is the full stripe of rbio idx in flight?  Then it waits, as on the stripe lock. */
static bool stripe_busy(const struct lane *l, size_t idx)
{
	const struct replay *r = l->r;

	for (unsigned int i = 0; i < r->o->qd; i++)
		if (l->slots[i].busy && r->rbios[l->slots[i].rbio].stripe == r->rbios[idx].stripe)
			return true;
	return false;
}

static void lane_run(struct lane *l)
{
	int ret;

	while (l->done < l->nr && !l->err) {
		while (l->nfree && l->next < l->nr && !l->err && !stripe_busy(l, l->list[l->next]))
			start_rbio(l, l->list[l->next++]);
		if (l->err)
			break;
		if (flush(l))
			break;
		/* Something is always in flight here: a busy slot has I/O pending. */
		ret = io_uring_submit_and_wait(&l->ring, 1);
		if (ret < 0 && ret != -EINTR && ret != -ETIME && !l->err) {
			l->err = -ret;
			snprintf(l->why, sizeof(l->why), "io_uring failed during the replay: %s",
				 strerror(-ret));
			break;
		}
		reap(l);
	}
}

/* ---- lanes: setup, the thread, teardown ---- */

static int lane_setup(struct lane *l)
{
	struct replay *r = l->r;
	unsigned int qd = r->o->qd, nio = r->n * 2;
	int fds[MAX_TARGETS];
	struct iovec iov[2];
	void *strips[MAX_TARGETS];

	l->slots = calloc(qd, sizeof(*l->slots));
	l->free = calloc(qd, sizeof(*l->free));
	l->queued = calloc((size_t)qd * MAX_IOS, sizeof(*l->queued));
	l->device = calloc(nio, sizeof(*l->device));
	l->total = calloc(nio, sizeof(*l->total));
	l->nr_io = calloc(nio, sizeof(*l->nr_io));
	l->io_bytes = calloc(nio, sizeof(*l->io_bytes));
	l->nr_stripe_io = calloc(nio, sizeof(*l->nr_stripe_io));
	if (!l->slots || !l->free || !l->queued || !l->device || !l->total || !l->nr_io ||
	    !l->io_bytes || !l->nr_stripe_io)
		goto err_nomem;
	/* The stripe cache lives in the registered region too: slots swap buffers with it. */
	l->cache = calloc(l->nr_cache ?: 1, sizeof(*l->cache));
	if (!l->cache)
		goto err_nomem;
	l->bufs_len = (size_t)(qd + l->nr_cache) * r->n * BBS_STRIPE_LEN;
	l->bufs = mmap(NULL, l->bufs_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (l->bufs == MAP_FAILED) {
		l->bufs = NULL;
		goto err_nomem;
	}
	for (uint32_t i = 0; i < qd; i++) {
		l->slots[i].buf = l->bufs + (size_t)i * r->n * BBS_STRIPE_LEN;
		l->free[l->nfree++] = qd - 1 - i;
	}
	for (unsigned int i = 0; i < l->nr_cache; i++)
		l->cache[i].buf = l->bufs + (size_t)(qd + i) * r->n * BBS_STRIPE_LEN;
	for (unsigned int i = 0; i < r->n; i++)
		fds[i] = r->t[i].fd;
	iov[0] = (struct iovec){ r->pool.buf, r->pool.map_len };
	iov[1] = (struct iovec){ l->bufs, l->bufs_len };
	/* The ring belongs to this thread (SINGLE_ISSUER): set it up here. */
	if (bbs_uring_setup(&l->ring, qd * MAX_IOS, fds, r->n, iov, 2, l->why, sizeof(l->why))) {
		l->err = EIO;
		return -1;
	}
	l->ring_up = true;
	/* ISA-L picks its kernels on the first call: not in the timed run. */
	slot_strips(r, &l->slots[0], strips);
	bbs_parity_gen(r->o->raid, r->nd, strips, SECTOR, 0);
	return 0;

err_nomem:
	l->err = ENOMEM;
	snprintf(l->why, sizeof(l->why), "cannot set up the replay: out of memory");
	return -1;
}

static void lane_teardown(struct lane *l)
{
	if (l->ring_up)
		bbs_uring_teardown(&l->ring);
	l->ring_up = false;
	if (l->bufs)
		munmap(l->bufs, l->bufs_len);
	free(l->slots);
	free(l->free);
	free(l->cache);
	free(l->queued);
	free(l->device);
	free(l->total);
	free(l->nr_io);
	free(l->io_bytes);
	free(l->nr_stripe_io);
	free(l->list);
}

static void *lane_thread(void *arg)
{
	struct lane *l = arg;
	struct replay *r = l->r;

	lane_setup(l);
	pthread_barrier_wait(&r->ready);
	if (!atomic_load(&r->abort))
		lane_run(l);
	/* Unregister from the thread that registered (SINGLE_ISSUER). */
	if (l->ring_up)
		bbs_uring_teardown(&l->ring);
	l->ring_up = false;
	return NULL;
}

/* The lanes' first error, said once; -1 if there was one. */
static int lanes_error(const struct replay *r)
{
	for (unsigned int i = 0; i < r->nr_lanes; i++) {
		if (r->lanes[i].err) {
			bbs_err("%s", r->lanes[i].why);
			return -1;
		}
	}
	return 0;
}

static int run(struct replay *r)
{
	unsigned int started = 0;
	int ret;

	if (r->nr_lanes == 1) {
		struct lane *l = &r->lanes[0];

		if (lane_setup(l))
			return lanes_error(r);
		getrusage(RUSAGE_SELF, &r->ru0);
		lane_run(l);
		getrusage(RUSAGE_SELF, &r->ru1);
		return lanes_error(r);
	}
	pthread_barrier_init(&r->ready, NULL, r->nr_lanes + 1);
	for (; started < r->nr_lanes; started++) {
		ret = pthread_create(&r->lanes[started].thread, NULL, lane_thread,
				     &r->lanes[started]);
		if (ret)
			break;
	}
	if (started < r->nr_lanes) {
		/* The barrier counts every lane: stand in for the ones not started. */
		bbs_err("cannot start replay thread %u: %s", started, strerror(ret));
		atomic_store(&r->abort, true);
		for (unsigned int i = started; i < r->nr_lanes; i++)
			pthread_barrier_wait(&r->ready);
	}
	pthread_barrier_wait(&r->ready);
	for (unsigned int i = 0; i < started; i++)
		if (r->lanes[i].err)
			atomic_store(&r->abort, true);
	getrusage(RUSAGE_SELF, &r->ru0);
	for (unsigned int i = 0; i < started; i++)
		pthread_join(r->lanes[i].thread, NULL);
	getrusage(RUSAGE_SELF, &r->ru1);
	pthread_barrier_destroy(&r->ready);
	if (started < r->nr_lanes)
		return -1;
	return lanes_error(r);
}

static int lanes_init(struct replay *r)
{
	size_t *count, *partial;

	r->nr_lanes = r->threads;
	r->lanes = calloc(r->nr_lanes, sizeof(*r->lanes));
	count = calloc(r->nr_lanes, sizeof(*count));
	partial = calloc(r->nr_lanes, sizeof(*partial));
	if (!r->lanes || !count || !partial)
		goto err_nomem;
	for (size_t i = 0; i < r->nr_rbios; i++) {
		const struct rbio *b = &r->rbios[i];

		count[b->stripe % r->nr_lanes]++;
		partial[b->stripe % r->nr_lanes] += b->kind == RB_WRITE && b->len < r->stripe_data;
	}
	for (unsigned int i = 0; i < r->nr_lanes; i++) {
		unsigned int cache = (r->o->stripe_cache + r->nr_lanes - 1) / r->nr_lanes;

		r->lanes[i].r = r;
		r->lanes[i].id = i;
		/* No more entries than the lane has sub-stripe writes to keep. */
		r->lanes[i].nr_cache = cache < partial[i] ? cache : partial[i];
		r->lanes[i].list = malloc((count[i] ?: 1) * sizeof(size_t));
		if (!r->lanes[i].list)
			goto err_nomem;
	}
	for (size_t i = 0; i < r->nr_rbios; i++) {
		struct lane *l = &r->lanes[r->rbios[i].stripe % r->nr_lanes];

		l->list[l->nr++] = i;
	}
	free(count);
	free(partial);
	return 0;

err_nomem:
	free(count);
	free(partial);
	bbs_err("cannot set up the replay: out of memory");
	return -1;
}

/* ---- output ---- */

static struct bbs_group_data *add_group(struct bbs_report *rep, uint32_t fs, uint32_t dev, int op)
{
	struct bbs_group g = { .fs = fs, .dev = dev, .op = op, .kind = KIND_DATA };

	return bbs_report_group(rep, &g);
}

/* Merge the lanes into a report; 0, or -1 after saying so. */
static int build_report(struct replay *r, struct bbs_report *rep, struct bbs_hist *parity)
{
	int fs_op = r->o->nr_degraded ? BBS_OP_READ : BBS_OP_WRITE;
	int phase = r->o->nr_degraded ? PHASE_RECOVER : PHASE_RMW;
	struct bbs_group_data *gd;

	bbs_report_init(rep);
	memset(parity, 0, sizeof(*parity));
	/* fs 0: the raid56 work of the whole "filesystem", as the tracer's dev-less group. */
	gd = add_group(rep, 0, 0, fs_op);
	if (!gd)
		goto err_nomem;
	for (unsigned int k = 0; k < r->nr_lanes; k++) {
		bbs_hist_merge(&rep->groups[0].phases[phase], &r->lanes[k].work);
		bbs_hist_merge(parity, &r->lanes[k].parity);
	}
	for (unsigned int i = 0; i < r->n; i++) {
		for (int op = 0; op < BBS_NR_OPS; op++) {
			uint64_t nr = 0;

			for (unsigned int k = 0; k < r->nr_lanes; k++)
				nr += r->lanes[k].nr_io[i * 2 + op];
			if (!nr)
				continue;
			/* A target is fs i + 1: files on one filesystem share a device. */
			gd = add_group(rep, i + 1, r->t[i].kdev, op);
			if (!gd)
				goto err_nomem;
			for (unsigned int k = 0; k < r->nr_lanes; k++) {
				const struct lane *l = &r->lanes[k];

				gd->stats.bios += l->nr_io[i * 2 + op];
				gd->stats.bytes += l->io_bytes[i * 2 + op];
				if (op == BBS_OP_WRITE)
					gd->stats.stripe_writes += l->nr_stripe_io[i * 2 + op];
				else
					gd->stats.stripe_reads += l->nr_stripe_io[i * 2 + op];
				bbs_hist_merge(&gd->phases[PHASE_DEVICE], &l->device[i * 2 + op]);
				bbs_hist_merge(&gd->phases[PHASE_TOTAL], &l->total[i * 2 + op]);
			}
		}
	}
	bbs_report_sort(rep);
	return 0;

err_nomem:
	bbs_report_free(rep);
	bbs_err("cannot build the report: out of memory");
	return -1;
}

/* ---- the run ---- */

/*
 * What identifies a target: the device number of a block device, the inode
 * of an existing file, else the canonical path of the file to be made.
 */
static void target_id(const char *path, char *id, size_t len)
{
	char dir[PATH_MAX], real[PATH_MAX];
	const char *slash;
	struct stat st;

	if (!stat(path, &st)) {
		if (S_ISBLK(st.st_mode))
			snprintf(id, len, "b%llu", (unsigned long long)st.st_rdev);
		else
			snprintf(id, len, "f%llu:%llu", (unsigned long long)st.st_dev,
				 (unsigned long long)st.st_ino);
		return;
	}
	slash = strrchr(path, '/');
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1,
		 slash ? (slash == path ? "/" : path) : ".");
	if (!realpath(dir, real))
		snprintf(real, sizeof(real), "%s", dir);
	snprintf(id, len, "p%s/%s", real, slash ? slash + 1 : path);
}

static int check_distinct(char *const *paths, unsigned int n)
{
	char a[PATH_MAX + 64], b[PATH_MAX + 64];

	for (unsigned int i = 0; i < n; i++) {
		target_id(paths[i], a, sizeof(a));
		for (unsigned int k = i + 1; k < n; k++) {
			target_id(paths[k], b, sizeof(b));
			if (!strcmp(a, b)) {
				bbs_err("--targets: %s and %s are the same target (targets %u and "
					"%u)",
					paths[i], paths[k], i, k);
				return -1;
			}
		}
	}
	return 0;
}

/*
 * PREFIX.N for each missing target: written at the strips' offsets, so it
 * must seek; a regular file is made beside and renamed in at the end.
 */
static int open_rebuilt(struct replay *r)
{
	char path[PATH_MAX];
	struct bbs_out *o;

	for (unsigned int i = 0; i < r->n; i++) {
		if (!r->missing[i])
			continue;
		o = &r->rebuilt[i];
		snprintf(path, sizeof(path), "%s.%u", r->o->rebuilt_out, i);
		if (bbs_out_open(o, path,
				 (r->o->force ? BBS_OUT_FORCE : 0) | BBS_OUT_SEEKABLE |
					 BBS_OUT_NOFOLLOW)) {
			bbs_err("--rebuilt-out %s: %s", path, o->why);
			return -1;
		}
		if (o->tmp[0] && ftruncate(o->fd, r->nr_stripes * BBS_STRIPE_LEN)) {
			bbs_err("--rebuilt-out %s: %s", path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Rename the rebuilt strips into place after a good run; else drop them. */
static int close_rebuilt(struct replay *r, int ret)
{
	for (unsigned int i = 0; i < MAX_TARGETS; i++) {
		struct bbs_out *o = &r->rebuilt[i];

		if (o->fd < 0)
			continue;
		if (ret) {
			bbs_out_abort(o);
		} else if (bbs_out_commit(o)) {
			bbs_err("--rebuilt-out %s: %s", o->path, o->why);
			ret = -EIO;
		}
	}
	return ret;
}

/* What the options say that no target or workload needs to be seen for. */
static int check_opts(const struct bbs_raid56_opts *o)
{
	unsigned int min = bbs_parity_nr(o->raid) + 1;

	if (o->nr_targets < min) {
		bbs_err("--targets: %s needs at least %u targets, got %u",
			o->raid == BBS_RAID5 ? "raid5" : "raid6", min, o->nr_targets);
		return -EINVAL;
	}
	if (o->nr_targets > MAX_TARGETS) {
		bbs_err("--targets: more than %u targets", MAX_TARGETS);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < o->nr_degraded; i++) {
		if (o->degraded[i] >= o->nr_targets) {
			bbs_err("--degraded %u: there are only %u targets (0 to %u)",
				o->degraded[i], o->nr_targets, o->nr_targets - 1);
			return -EINVAL;
		}
	}
	return check_distinct(o->targets, o->nr_targets) ? -EINVAL : 0;
}

/* --mode threads without --threads: one thread per online CPU. */
static unsigned int default_threads(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (cpus < 1)
		return 1;
	return cpus > (long)BBS_RAID56_MAX_THREADS ? BBS_RAID56_MAX_THREADS : cpus;
}

/* The geometry of the targets, and the workload in rbios on it. */
static int plan(struct replay *r)
{
	const struct bbs_raid56_opts *o = r->o;
	const struct bbs_workload *w = r->w;

	r->n = o->nr_targets;
	r->np = bbs_parity_nr(o->raid);
	r->nd = r->n - r->np;
	r->stripe_data = (uint64_t)r->nd * BBS_STRIPE_LEN;
	r->step = o->mode == BBS_RAID56_STEP ? SECTOR : 0;
	r->threads = 1;
	if (o->mode == BBS_RAID56_THREADS)
		r->threads = o->threads ?: default_threads();
	for (unsigned int i = 0; i < o->nr_degraded; i++)
		r->missing[o->degraded[i]] = true;
	if (w->nr_data && w->nr_data != r->nd) {
		/* Data offset X is in strip (X / 64 KiB) mod nr_data: another width moves it. */
		bbs_err("--trace: recorded with %u data strips per full stripe (%s on %u devices), "
			"%s on %u targets has %u: its writes would land in other strips (give %u "
			"targets)",
			w->nr_data, w->real_stripes - w->nr_data == 1 ? "raid5" : "raid6",
			w->real_stripes, o->raid == BBS_RAID5 ? "raid5" : "raid6", r->n, r->nd,
			w->nr_data + r->np);
		return -EINVAL;
	}
	if (!w->nr) {
		bbs_err("the workload has no data writes");
		return -EINVAL;
	}
	return build_rbios(r) ? -ENOMEM : 0;
}

/* Open every target (after its checks) for a strip of every full stripe spanned. */
static int open_targets(struct replay *r, unsigned int *opened)
{
	struct bbs_target_opts to = { .need = r->nr_stripes * BBS_STRIPE_LEN,
				      .force = r->o->force };

	for (; *opened < r->n; (*opened)++) {
		struct bbs_target *t = &r->t[*opened];

		if (bbs_target_open(t, r->o->targets[*opened], &to))
			return -EINVAL;
		if (t->lbs > SECTOR) {
			bbs_err("--targets %s: %u-byte blocks; strips are written in 4 KiB sectors",
				t->path, t->lbs);
			(*opened)++;
			return -EINVAL;
		}
	}
	return 0;
}

/* The lanes merged into res. */
static int build_result(struct replay *r, struct bbs_raid56_result *res)
{
	uint64_t t0 = UINT64_MAX, t1 = 0;

	for (unsigned int k = 0; k < r->nr_lanes; k++) {
		const struct lane *l = &r->lanes[k];

		if (l->t_first && l->t_first < t0)
			t0 = l->t_first;
		if (l->t_last > t1)
			t1 = l->t_last;
		res->cache_hits += l->cache_hits;
	}
	if (build_report(r, &res->report, &res->parity))
		return -ENOMEM;
	res->elapsed_s = t1 > t0 ? (t1 - t0) / 1e9 : 0;
	res->report.interval_s = res->elapsed_s;
	res->cpu_s = bbs_replay_cpu_s(&r->ru0, &r->ru1);
	res->nr_data = r->nd;
	res->nr_parity = r->np;
	res->threads = r->nr_lanes;
	res->step_bytes = r->step ?: BBS_STRIPE_LEN;
	res->full = r->nr_full;
	res->partial = r->nr_partial;
	res->plain = r->nr_plain;
	res->recovered = r->nr_recover;
	res->stripes = r->nr_stripes;
	for (unsigned int i = 0; i < r->n; i++)
		snprintf(res->target_name[i], sizeof(res->target_name[i]), "%s", r->t[i].name);
	return 0;
}

/* Buffers, lanes, the run, and what it measured. */
static int replay_run(struct replay *r, struct bbs_raid56_result *res)
{
	if (r->o->rebuilt_out && open_rebuilt(r))
		return -EIO;
	if (bbs_pool_init(&r->pool, r->w->span, r->stripe_data, r->o->data_seed)) {
		bbs_err("cannot allocate %llu MiB of data buffers: %s",
			(unsigned long long)(r->pool.map_len >> 20), strerror(errno));
		return -ENOMEM;
	}
	if (lanes_init(r))
		return -ENOMEM;
	if (run(r))
		return -EIO;
	return build_result(r, res);
}

int bbs_raid56_replay(const struct bbs_raid56_opts *o, const struct bbs_workload *w,
		      struct bbs_raid56_result *res)
{
	struct bbs_target t[MAX_TARGETS];
	struct replay r = { .o = o, .w = w, .t = t };
	unsigned int opened = 0;
	int ret;

	memset(res, 0, sizeof(*res));
	for (unsigned int i = 0; i < MAX_TARGETS; i++) {
		t[i].fd = -1;
		r.rebuilt[i].fd = -1;
	}
	ret = check_opts(o);
	if (!ret)
		ret = plan(&r);
	if (!ret)
		ret = open_targets(&r, &opened);
	if (!ret)
		ret = replay_run(&r, res);
	for (unsigned int i = 0; r.lanes && i < r.nr_lanes; i++)
		lane_teardown(&r.lanes[i]);
	free(r.lanes);
	bbs_pool_free(&r.pool);
	ret = close_rebuilt(&r, ret);
	/* Keep what was written (or a file another target's refusal left untouched). */
	for (unsigned int i = 0; i < opened; i++)
		bbs_target_close(&t[i], ret == 0);
	free(r.rbios);
	return ret;
}

void bbs_raid56_free(struct bbs_raid56_result *res)
{
	bbs_report_free(&res->report);
}
