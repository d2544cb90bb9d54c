// SPDX-License-Identifier: GPL-2.0
/*
 * bbscope tracer: follows every btrfs bio from block_bio_queue to the end of
 * its btrfs end_io work item, using tracepoints only.
 *
 *   block_bio_queue      a bio whose bi_end_io is a btrfs one: start state
 *   block_rq_issue       walk the request's bios: issue time
 *   block_bio_complete   completion time and context (fires in bio_endio)
 *   workqueue_queue_work the btrfs end_io work is queued: which workqueue
 *   workqueue_execute_*  end_io work runs (hop, endio), rmw/recover runtimes,
 *                        async csum work (kernels with the async_csum series)
 *   btrfs_work_sched     offloaded checksum starts (run_one_async_start)
 *   btrfs_ordered_sched  ... and has ended when the ordered part runs
 *   btrfs_ordered_extent_add/remove   ordered extent lifetime
 *   raid56_write/read    per-device stripe I/O
 *   irq/softirq entry/exit   per-CPU context, to tell hardirq/softirq/task
 *
 * Every handler has a tp_btf and a raw_tp entry point; user space loads
 * whichever this kernel accepts.  Handlers read through BPF_CORE_READ so the
 * same code is valid for both.
 */
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "bbscope.h"

#define MAX_RQ_BIOS 32
#define REQ_OP_BITS 8

const volatile __u64 fn[NR_FNS] = {};
const volatile __u32 filter_fs = 0;
const volatile __u32 filter_dev = 0;
const volatile bool emit_events = false;
/* No end_io work on this kernel (or no workqueue tracepoints): end at bio completion. */
const volatile bool endio_inline = false;

/* The interval buffer BPF accounts into; flipped by user space. */
__u32 epoch = 0;

/* Per-bio state, keyed by struct bio *.  ts (queue time) comes first: the sweeper reads it. */
struct bio_state {
	__u64 queue_ns;
	__u64 issue_ns;
	__u64 complete_ns;
	__u64 start_ns;
	__u64 sector;
	__u64 wq;
	__u64 logical;
	struct bbs_group g;
	__u32 bytes;
	__u32 pid;
	__u8 class;
	__u8 flags;
	__u8 complete_ctx;
	__u8 endio_ctx;
	__u8 cpu_complete;
	__u8 cpu_endio;
	char comm[16];
};

/* A span of work on one thread: csum, rmw, recover. */
struct span {
	__u64 start_ns;
	__u64 id;
	__u32 fs;
	__u8 phase;
	__u8 kind;
	__u8 ctx;
	__u8 stripe_io; /* rmw/recover: raid56 stripe I/O issued inside the span */
};

/* An ordered extent in flight, keyed by struct btrfs_ordered_extent *. */
struct ordered_state {
	__u64 start_ns;
	__u32 fs;
};

struct cpu_ctx {
	__u32 hardirq;
	__u32 softirq;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct bio_state);
} bios SEC(".maps");

/*
 * What a kworker thread is running, keyed by thread id: an end_io work
 * (the bio may be freed and reused inside it, so it is followed by thread),
 * or a csum/rmw/recover span.  A kworker runs one work item at a time.
 */
enum run_what {
	RUN_ENDIO = 1,
	RUN_SPAN,
};

struct running {
	__u64 ts; /* first: the sweeper reads it */
	__u32 what;
	__u32 pad;
	struct span sp;
	struct bio_state st;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct running);
} running SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct running);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct ordered_state);
} ordered SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 2048);
	__type(key, struct bbs_hist_key);
	__type(value, struct bbs_hist);
} hists SEC(".maps");

/* Per device group: counters, device-phase histograms, end_io workqueues. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 512);
	__type(key, struct bbs_group);
	__type(value, struct bbs_group_val);
} groups SEC(".maps");

/* Workqueue names, learned the first time a group sees a workqueue. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u64);
	__type(value, char[WQ_NAME_LEN]);
} wq_names SEC(".maps");

/* What a block device is, learned from its first btrfs bio: saves probe reads per bio. */
struct dev_info {
	__u32 fs;
	__u8 bio_based;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct dev_info);
} devs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NR_LOST_BPF);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cpu_ctx);
} cpu_ctx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

static const struct bbs_hist zero_hist;
static const struct bbs_group_val zero_group;

static __always_inline void lose(__u32 why)
{
	__u64 *v = bpf_map_lookup_elem(&lost, &why);

	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline __u8 cur_ctx(void)
{
	__u32 zero = 0;
	struct cpu_ctx *c = bpf_map_lookup_elem(&cpu_ctx, &zero);

	if (!c)
		return CTX_TASK;
	if (c->hardirq)
		return CTX_HARDIRQ;
	if (c->softirq)
		return CTX_SOFTIRQ;
	return CTX_TASK;
}

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0, s;

	s = (v > 0xffffffffULL) << 5;
	v >>= s;
	r |= s;
	s = (v > 0xffff) << 4;
	v >>= s;
	r |= s;
	s = (v > 0xff) << 3;
	v >>= s;
	r |= s;
	s = (v > 0xf) << 2;
	v >>= s;
	r |= s;
	s = (v > 0x3) << 1;
	v >>= s;
	r |= s;
	return r | (__u32)(v >> 1);
}

/* The slot layout is documented in bbscope.h; user/hist.c inverts it. */
static __always_inline __u32 hist_slot(__u64 v)
{
	__u32 msb, slot;

	if (v < HIST_SUB)
		return v;
	msb = log2_u64(v);
	slot = (msb - HIST_SUB_BITS + 1) * HIST_SUB +
	       ((v >> (msb - HIST_SUB_BITS)) & (HIST_SUB - 1));
	return slot < HIST_SLOTS ? slot : HIST_SLOTS - 1;
}

static __always_inline void hist_add(struct bbs_hist *h, __u64 v)
{
	__u32 slot = hist_slot(v);

	/* Atomic: a nested program on this CPU may update the same entry. */
	__sync_fetch_and_add(&h->count, 1);
	__sync_fetch_and_add(&h->sum_ns, v);
	if (v > h->max_ns)
		h->max_ns = v;
	if (slot < HIST_SLOTS)
		__sync_fetch_and_add(&h->slots[slot], 1);
}

/* A filesystem phase (csum, ordered, rmw, recover): one histogram per key. */
static __always_inline void fs_hist_add(const struct bbs_group *g, __u32 phase, __u64 v)
{
	struct bbs_hist_key k = { .g = *g, .phase = phase };
	struct bbs_hist *h;

	k.g.epoch = epoch;
	h = bpf_map_lookup_elem(&hists, &k);
	if (!h) {
		bpf_map_update_elem(&hists, &k, &zero_hist, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&hists, &k);
		if (!h) {
			lose(LOST_GROUP_MAP_FULL);
			return;
		}
	}
	hist_add(h, v);
}

static __always_inline struct bbs_group_val *group_of(const struct bbs_group *g)
{
	struct bbs_group k = *g;
	struct bbs_group_val *v;

	k.epoch = epoch;
	v = bpf_map_lookup_elem(&groups, &k);
	if (v)
		return v;
	bpf_map_update_elem(&groups, &k, &zero_group, BPF_NOEXIST);
	v = bpf_map_lookup_elem(&groups, &k);
	if (!v)
		lose(LOST_GROUP_MAP_FULL);
	return v;
}

static __always_inline int fn_is(__u64 addr, enum bbs_fn which)
{
	return addr && addr == fn[which];
}

/* Which kind of btrfs bio this is, from its bi_end_io; -1 if not ours. */
static __always_inline int bio_class(__u64 end_io)
{
	if (fn_is(end_io, FN_SIMPLE_END_IO) || fn_is(end_io, FN_ORIG_WRITE_END_IO) ||
	    fn_is(end_io, FN_CLONE_WRITE_END_IO))
		return CLASS_BBIO;
	if (fn_is(end_io, FN_RAID_WRITE_END_IO) || fn_is(end_io, FN_RAID_READ_END_IO))
		return CLASS_RAID;
	if (fn_is(end_io, FN_SUPER_END_IO))
		return CLASS_SUPER;
	return -1;
}

static __always_inline struct btrfs_bio *bbio_of_bio(struct bio *bio)
{
	return (void *)bio - bpf_core_field_offset(struct btrfs_bio, bio);
}

static __always_inline struct bio *bio_of_bbio(struct btrfs_bio *bbio)
{
	return (void *)bbio + bpf_core_field_offset(struct btrfs_bio, bio);
}

static __always_inline __u32 fs_of_inode(const struct btrfs_inode *inode)
{
	return BPF_CORE_READ(inode, root, fs_info, sb, s_dev);
}

static __always_inline __u8 kind_of_opf(__u32 opf)
{
	__u32 meta = 1U << bpf_core_enum_value(enum req_flag_bits, __REQ_META);

	return (opf & meta) ? KIND_METADATA : KIND_DATA;
}

static __always_inline __u8 kind_of_bioc(struct btrfs_io_context *bioc)
{
	/* BTRFS_BLOCK_GROUP_DATA is bit 0 of map_type. */
	return (BPF_CORE_READ(bioc, map_type) & 1) ? KIND_DATA : KIND_METADATA;
}

static __always_inline __u8 flags_of_opf(__u32 opf)
{
	__u8 f = 0;

	if (opf & (1U << bpf_core_enum_value(enum req_flag_bits, __REQ_META)))
		f |= BIO_F_META;
	if (opf & (1U << bpf_core_enum_value(enum req_flag_bits, __REQ_SYNC)))
		f |= BIO_F_SYNC;
	if (opf & (1U << bpf_core_enum_value(enum req_flag_bits, __REQ_FUA)))
		f |= BIO_F_FUA;
	if (opf & (1U << bpf_core_enum_value(enum req_flag_bits, __REQ_PREFLUSH)))
		f |= BIO_F_PREFLUSH;
	return f;
}

static __always_inline void emit_bio(const struct bio_state *st, __u64 end_ns)
{
	struct bbs_event_bio *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		lose(LOST_RINGBUF);
		return;
	}
	e->type = EV_BIO;
	e->op = st->g.op;
	e->kind = st->g.kind;
	e->flags = st->flags;
	e->complete_ctx = st->complete_ctx;
	e->endio_ctx = st->endio_ctx;
	e->cpu_complete = st->cpu_complete;
	e->cpu_endio = st->cpu_endio;
	e->fs = st->g.fs;
	e->dev = st->g.dev;
	e->bytes = st->bytes;
	e->pid = st->pid;
	e->sector = st->sector;
	e->queue_ns = st->queue_ns;
	e->issue_ns = st->issue_ns;
	e->complete_ns = st->complete_ns;
	e->endio_start_ns = st->start_ns;
	e->endio_end_ns = st->start_ns ? end_ns : 0;
	e->logical = st->logical;
	__builtin_memcpy(e->comm, st->comm, sizeof(e->comm));
	e->wq[0] = 0;
	if (st->wq)
		bpf_probe_read_kernel_str(e->wq, sizeof(e->wq),
					  ((struct workqueue_struct *)st->wq)->name);
	bpf_ringbuf_submit(e, 0);
}

/* Count an end_io work item against its workqueue's slot in the group. */
static __always_inline void count_wq(struct bbs_group_val *gv, __u64 wq)
{
	int i;

	for (i = 0; i < BBS_WQ_SLOTS; i++) {
		if (gv->wq[i].wq == wq) {
			__sync_fetch_and_add(&gv->wq[i].count, 1);
			return;
		}
		if (!gv->wq[i].wq) {
			char name[WQ_NAME_LEN] = {};

			gv->wq[i].wq = wq;
			__sync_fetch_and_add(&gv->wq[i].count, 1);
			bpf_probe_read_kernel_str(name, sizeof(name),
						  ((struct workqueue_struct *)wq)->name);
			bpf_map_update_elem(&wq_names, &wq, name, BPF_NOEXIST);
			return;
		}
	}
	__sync_fetch_and_add(&gv->wq_other, 1);
}

/* The bio's life is over (end_io work ended, or it completed inline): account it. */
static __always_inline void finish_bio(struct bio_state *st, __u64 now)
{
	struct bbs_group_val *gv = group_of(&st->g);
	struct bbs_stats *s;

	if (emit_events)
		emit_bio(st, now);
	if (!gv)
		return;
	s = &gv->stats;
	__sync_fetch_and_add(&s->bios, 1);
	__sync_fetch_and_add(&s->bytes, st->bytes);
	if (st->complete_ns && st->complete_ctx < NR_CTX)
		__sync_fetch_and_add(&s->complete_ctx[st->complete_ctx], 1);
	if ((st->start_ns || (st->flags & BIO_F_NO_ENDIO)) && st->endio_ctx < NR_CTX)
		__sync_fetch_and_add(&s->endio_ctx[st->endio_ctx], 1);

	if (st->complete_ns) {
		if (st->flags & BIO_F_BIO_BASED) {
			hist_add(&gv->phases[PHASE_DEVICE], st->complete_ns - st->queue_ns);
		} else if (st->issue_ns) {
			hist_add(&gv->phases[PHASE_QUEUE], st->issue_ns - st->queue_ns);
			hist_add(&gv->phases[PHASE_DEVICE], st->complete_ns - st->issue_ns);
		}
		if (st->start_ns && !(st->flags & BIO_F_NO_ENDIO))
			hist_add(&gv->phases[PHASE_HOP], st->start_ns - st->complete_ns);
	}
	if (st->start_ns && !(st->flags & BIO_F_NO_ENDIO))
		hist_add(&gv->phases[PHASE_ENDIO], now - st->start_ns);
	if (st->complete_ns || st->start_ns)
		hist_add(&gv->phases[PHASE_TOTAL], now - st->queue_ns);
	if (st->wq)
		count_wq(gv, st->wq);
}

/* The filesystem a btrfs bio belongs to, by the way its class reaches it. */
static __always_inline __u32 fs_of_bio(struct bio *bio, int class)
{
	struct btrfs_raid_bio *rbio;
	struct btrfs_device *device;

	switch (class) {
	case CLASS_BBIO:
		return fs_of_inode(BPF_CORE_READ(bbio_of_bio(bio), inode));
	case CLASS_RAID:
		rbio = BPF_CORE_READ(bio, bi_private);
		return BPF_CORE_READ(rbio, bioc, fs_info, sb, s_dev);
	default:
		device = BPF_CORE_READ(bio, bi_private);
		return BPF_CORE_READ(device, fs_info, sb, s_dev);
	}
}

static __always_inline int on_bio_queue(struct bio *bio)
{
	struct bio_state st = {};
	struct btrfs_raid_bio *rbio;
	struct dev_info *di, dinfo;
	__u64 key = (__u64)bio;
	__u32 opf;
	int class;

	class = bio_class((__u64)BPF_CORE_READ(bio, bi_end_io));
	if (class < 0)
		return 0;
	st.g.dev = BPF_CORE_READ(bio, bi_bdev, bd_dev);
	if (filter_dev && st.g.dev != filter_dev)
		return 0;
	/*
	 * A device belongs to one filesystem and is request- or bio-based for
	 * good: learn both once.  User space empties this cache every second,
	 * so a device reformatted under a running tracer is seen afresh.
	 */
	di = bpf_map_lookup_elem(&devs, &st.g.dev);
	if (!di) {
		dinfo.fs = fs_of_bio(bio, class);
		dinfo.bio_based = !BPF_CORE_READ(bio, bi_bdev, bd_disk, queue, mq_ops);
		bpf_map_update_elem(&devs, &st.g.dev, &dinfo, BPF_ANY);
		di = &dinfo;
	}
	st.g.fs = di->fs;
	if (filter_fs && st.g.fs != filter_fs)
		return 0;
	if (di->bio_based)
		st.flags |= BIO_F_BIO_BASED;

	opf = BPF_CORE_READ(bio, bi_opf);
	st.g.op = (opf & ((1U << REQ_OP_BITS) - 1)) ? BBS_OP_WRITE : BBS_OP_READ;
	switch (class) {
	case CLASS_BBIO:
		st.g.kind = kind_of_opf(opf);
		if (st.g.op == BBS_OP_READ && st.g.kind == KIND_DATA)
			st.logical = BPF_CORE_READ(bbio_of_bio(bio), saved_iter.bi_sector) << 9;
		break;
	case CLASS_RAID:
		rbio = BPF_CORE_READ(bio, bi_private);
		st.g.kind = kind_of_bioc(BPF_CORE_READ(rbio, bioc));
		break;
	default:
		st.g.kind = KIND_SUPER;
		break;
	}

	st.queue_ns = bpf_ktime_get_ns();
	st.class = class;
	st.flags |= flags_of_opf(opf);
	st.bytes = BPF_CORE_READ(bio, bi_iter.bi_size);
	st.sector = BPF_CORE_READ(bio, bi_iter.bi_sector);
	if (emit_events) {
		st.pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(st.comm, sizeof(st.comm));
	}
	if ((st.flags & BIO_F_BIO_BASED) && st.class != CLASS_BBIO) {
		/* Nothing marks its completion on a bio-based device: count it, no latency. */
		finish_bio(&st, st.queue_ns);
		return 0;
	}
	if (bpf_map_update_elem(&bios, &key, &st, BPF_ANY))
		lose(LOST_BIO_MAP_FULL);
	return 0;
}

/* Record a bio's completion; bios without an end_io work item end here. */
static __always_inline void complete_bio(struct bio_state *st, __u64 key, __u64 now, bool own)
{
	st->complete_ns = now;
	st->complete_ctx = cur_ctx();
	st->cpu_complete = bpf_get_smp_processor_id();
	/* A split child completing says nothing of its siblings: only the bio itself ends. */
	if (!own || (st->class == CLASS_BBIO && !endio_inline))
		return;
	/* end_io runs right here, in the completion context. */
	if (st->class == CLASS_BBIO)
		st->start_ns = now;
	st->flags |= BIO_F_NO_ENDIO;
	st->endio_ctx = st->complete_ctx;
	st->cpu_endio = st->cpu_complete;
	finish_bio(st, now);
	bpf_map_delete_elem(&bios, &key);
}

/* Walk a request's bios (and split children's parents): issue or completion. */
static __always_inline int walk_rq(struct request *rq, bool complete)
{
	struct bio *bio = BPF_CORE_READ(rq, bio);
	struct bio_state *st;
	__u64 now = 0, key;
	bool own;
	int i;

	for (i = 0; i < MAX_RQ_BIOS && bio; i++) {
		key = (__u64)bio;
		own = true;
		st = bpf_map_lookup_elem(&bios, &key);
		if (!st && fn_is((__u64)BPF_CORE_READ(bio, bi_end_io), FN_BIO_CHAIN_END_IO)) {
			/* A block-layer split: the btrfs bio is the chain parent. */
			key = (__u64)BPF_CORE_READ(bio, bi_private);
			st = bpf_map_lookup_elem(&bios, &key);
			own = false;
		}
		bio = BPF_CORE_READ(bio, bi_next);
		if (!st)
			continue;
		if (!now)
			now = bpf_ktime_get_ns();
		if (!complete) {
			if (!st->issue_ns)
				st->issue_ns = now;
		} else {
			complete_bio(st, key, now, own);
		}
	}
	if (bio && now)
		lose(LOST_RQ_WALK);
	return 0;
}

/* Fires for remapped bios only on recent kernels; first completion wins. */
static __always_inline int on_bio_complete(struct bio *bio)
{
	__u64 key = (__u64)bio;
	struct bio_state *st = bpf_map_lookup_elem(&bios, &key);

	if (st && !st->complete_ns)
		complete_bio(st, key, bpf_ktime_get_ns(), true);
	return 0;
}

static __always_inline int is_endio_work(__u64 func)
{
	return fn_is(func, FN_SIMPLE_WORK) || fn_is(func, FN_ORIG_WRITE_WORK) ||
	       fn_is(func, FN_CLONE_WRITE_WORK);
}

static __always_inline __u64 bio_of_endio_work(struct work_struct *work)
{
	struct btrfs_bio *bbio =
		(void *)work - bpf_core_field_offset(struct btrfs_bio, end_io_work);

	return (__u64)bio_of_bbio(bbio);
}

static __always_inline int on_queue_work(struct pool_workqueue *pwq, struct work_struct *work)
{
	struct bio_state *st;
	__u64 key;

	if (!is_endio_work((__u64)BPF_CORE_READ(work, func)))
		return 0;
	key = bio_of_endio_work(work);
	st = bpf_map_lookup_elem(&bios, &key);
	if (!st)
		return 0;
	st->wq = (__u64)BPF_CORE_READ(pwq, wq);
	/*
	 * bi_end_io queues the work: on bio-based devices (no request to see
	 * complete) this is the completion, in the completion's context.
	 */
	if (!st->complete_ns) {
		st->complete_ns = bpf_ktime_get_ns();
		st->complete_ctx = cur_ctx();
		st->cpu_complete = bpf_get_smp_processor_id();
	}
	return 0;
}

static __always_inline void span_begin(__u32 phase, __u32 fs, __u8 kind, __u64 id)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct running r = {
		.what = RUN_SPAN,
		.sp = {
			.id = id,
			.fs = fs,
			.phase = phase,
			.kind = kind,
			.ctx = cur_ctx(),
		},
	};

	if (filter_fs && fs != filter_fs)
		return;
	r.ts = r.sp.start_ns = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&running, &tid, &r, BPF_ANY))
		lose(LOST_WORK_MAP_FULL);
}

static __always_inline void span_end(struct span *sp, __u32 tid)
{
	struct bbs_event_span *e;
	struct bbs_group g = {};
	__u64 now = bpf_ktime_get_ns();

	/*
	 * rmw_rbio_work/recover_rbio_work that found the full stripe locked
	 * only queue the rbio behind the lock holder and return; the work is
	 * done later by the _locked variant.  Such a span issued no stripe I/O:
	 * it is not an rmw or recover runtime.
	 */
	if ((sp->phase == PHASE_RMW || sp->phase == PHASE_RECOVER) && !sp->stripe_io) {
		bpf_map_delete_elem(&running, &tid);
		return;
	}
	g.fs = sp->fs;
	g.op = (sp->phase == PHASE_RECOVER) ? BBS_OP_READ : BBS_OP_WRITE;
	g.kind = sp->kind;
	fs_hist_add(&g, sp->phase, now - sp->start_ns);
	if (emit_events) {
		e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (e) {
			e->type = sp->phase == PHASE_CSUM ? EV_CSUM : EV_RBIO;
			e->phase = sp->phase;
			e->kind = sp->kind;
			e->ctx = sp->ctx;
			e->fs = sp->fs;
			e->cpu = bpf_get_smp_processor_id();
			e->pid = tid;
			e->start_ns = sp->start_ns;
			e->end_ns = now;
			e->id = sp->id;
			bpf_ringbuf_submit(e, 0);
		} else {
			lose(LOST_RINGBUF);
		}
	}
	bpf_map_delete_elem(&running, &tid);
}

static __always_inline void rbio_begin(struct work_struct *work, __u32 phase)
{
	struct btrfs_raid_bio *rbio =
		(void *)work - bpf_core_field_offset(struct btrfs_raid_bio, work);
	struct btrfs_io_context *bioc = BPF_CORE_READ(rbio, bioc);

	span_begin(phase, BPF_CORE_READ(bioc, fs_info, sb, s_dev), kind_of_bioc(bioc), (__u64)rbio);
}

static __always_inline int on_execute_start(struct work_struct *work)
{
	__u64 func = (__u64)BPF_CORE_READ(work, func);
	struct btrfs_bio *bbio;
	struct bio_state *st;
	struct running *r;
	__u32 tid, zero = 0;
	__u64 key;

	if (is_endio_work(func)) {
		key = bio_of_endio_work(work);
		st = bpf_map_lookup_elem(&bios, &key);
		if (!st)
			return 0;
		/* Build the entry in place: struct running is too big for the stack. */
		r = bpf_map_lookup_elem(&scratch, &zero);
		if (!r)
			return 0;
		r->st = *st;
		r->what = RUN_ENDIO;
		r->ts = r->st.start_ns = bpf_ktime_get_ns();
		r->st.endio_ctx = cur_ctx();
		r->st.cpu_endio = bpf_get_smp_processor_id();
		/* The work may free and reuse the bio: follow the thread instead. */
		tid = (__u32)bpf_get_current_pid_tgid();
		if (bpf_map_update_elem(&running, &tid, r, BPF_ANY))
			lose(LOST_WORK_MAP_FULL);
		bpf_map_delete_elem(&bios, &key);
	} else if (fn_is(func, FN_RMW_WORK) || fn_is(func, FN_RMW_WORK_LOCKED)) {
		rbio_begin(work, PHASE_RMW);
	} else if (fn_is(func, FN_RECOVER_WORK) || fn_is(func, FN_RECOVER_WORK_LOCKED)) {
		rbio_begin(work, PHASE_RECOVER);
	} else if (fn_is(func, FN_CSUM_WORK)) {
		bbio = (void *)work - bpf_core_field_offset(struct btrfs_bio, csum_work);
		span_begin(PHASE_CSUM, fs_of_inode(BPF_CORE_READ(bbio, inode)),
			   kind_of_opf(BPF_CORE_READ(bbio, bio.bi_opf)), (__u64)bio_of_bbio(bbio));
	}
	return 0;
}

/*
 * A kworker runs one work item at a time, so the first execute_end on this
 * thread closes whatever began on it: an end_io work, or a csum, rmw or
 * recover span.  (The function argument is not readable from tp_btf here,
 * and the work item itself may already be freed.)
 */
static __always_inline int on_execute_end(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct running *r = bpf_map_lookup_elem(&running, &tid);

	if (!r)
		return 0;
	if (r->what == RUN_ENDIO) {
		finish_bio(&r->st, bpf_ktime_get_ns());
		bpf_map_delete_elem(&running, &tid);
	} else {
		span_end(&r->sp, tid);
	}
	return 0;
}

/* Offloaded data/metadata checksum: run_one_async_start on a btrfs worker. */
static __always_inline int on_btrfs_work_sched(const struct btrfs_work *work)
{
	struct async_submit_bio *async;
	struct btrfs_bio *bbio;

	if (!fn_is((__u64)BPF_CORE_READ(work, func), FN_ASYNC_CSUM_START))
		return 0;
	async = (void *)work - bpf_core_field_offset(struct async_submit_bio, work);
	bbio = BPF_CORE_READ(async, bbio);
	span_begin(PHASE_CSUM, fs_of_inode(BPF_CORE_READ(bbio, inode)),
		   kind_of_opf(BPF_CORE_READ(bbio, bio.bi_opf)), (__u64)bio_of_bbio(bbio));
	return 0;
}

/*
 * btrfs_work_helper calls the ordered part right after the checksum
 * returns; the first ordered_sched on this thread marks the csum's end.
 */
static __always_inline int on_btrfs_ordered_sched(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct running *r = bpf_map_lookup_elem(&running, &tid);

	if (r && r->what == RUN_SPAN && r->sp.phase == PHASE_CSUM)
		span_end(&r->sp, tid);
	return 0;
}

static __always_inline int on_ordered_add(const struct btrfs_inode *inode,
					  const struct btrfs_ordered_extent *oe)
{
	struct ordered_state os = { .start_ns = bpf_ktime_get_ns() };
	__u64 key = (__u64)oe;

	os.fs = fs_of_inode(inode);
	if (filter_fs && os.fs != filter_fs)
		return 0;
	if (bpf_map_update_elem(&ordered, &key, &os, BPF_ANY))
		lose(LOST_WORK_MAP_FULL);
	return 0;
}

static __always_inline int on_ordered_remove(const struct btrfs_ordered_extent *oe)
{
	__u64 key = (__u64)oe, now;
	struct ordered_state *os = bpf_map_lookup_elem(&ordered, &key);
	struct bbs_event_span *e;
	struct bbs_group g = { .op = BBS_OP_WRITE, .kind = KIND_DATA };

	if (!os)
		return 0;
	now = bpf_ktime_get_ns();
	g.fs = os->fs;
	fs_hist_add(&g, PHASE_ORDERED, now - os->start_ns);
	if (emit_events) {
		e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (e) {
			__builtin_memset(e, 0, sizeof(*e));
			e->type = EV_ORDERED;
			e->phase = PHASE_ORDERED;
			e->fs = os->fs;
			e->cpu = bpf_get_smp_processor_id();
			e->start_ns = os->start_ns;
			e->end_ns = now;
			e->id = key;
			bpf_ringbuf_submit(e, 0);
		} else {
			lose(LOST_RINGBUF);
		}
	}
	bpf_map_delete_elem(&ordered, &key);
	return 0;
}

static __always_inline int on_raid56_io(const struct btrfs_raid_bio *rbio, const struct bio *bio,
					const struct raid56_bio_trace_info *ti, __u8 op)
{
	struct btrfs_io_context *bioc = BPF_CORE_READ(rbio, bioc);
	struct bbs_group g = { .op = op };
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct bbs_event_stripe *e;
	struct bbs_group_val *gv;
	struct running *r;

	g.fs = BPF_CORE_READ(bioc, fs_info, sb, s_dev);
	if (filter_fs && g.fs != filter_fs)
		return 0;
	g.dev = BPF_CORE_READ(bio, bi_bdev, bd_dev);
	if (filter_dev && g.dev != filter_dev)
		return 0;
	g.kind = kind_of_bioc(bioc);
	/* Mark the rmw/recover span running on this thread as one that did I/O. */
	r = bpf_map_lookup_elem(&running, &tid);
	if (r && r->what == RUN_SPAN)
		r->sp.stripe_io = 1;
	gv = group_of(&g);
	if (gv) {
		if (op == BBS_OP_WRITE)
			__sync_fetch_and_add(&gv->stats.stripe_writes, 1);
		else
			__sync_fetch_and_add(&gv->stats.stripe_reads, 1);
	}
	if (!emit_events)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		lose(LOST_RINGBUF);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->type = EV_STRIPE;
	e->op = op;
	e->stripe_nr = BPF_CORE_READ(ti, stripe_nr);
	e->nr_data = BPF_CORE_READ(rbio, nr_data);
	e->real_stripes = BPF_CORE_READ(rbio, real_stripes);
	e->kind = g.kind;
	e->fs = g.fs;
	e->dev = g.dev;
	e->len = BPF_CORE_READ(bio, bi_iter.bi_size);
	e->offset = BPF_CORE_READ(ti, offset);
	e->devid = BPF_CORE_READ(ti, devid);
	e->full_stripe = BPF_CORE_READ(bioc, full_stripe_logical);
	e->ts_ns = bpf_ktime_get_ns();
	bpf_ringbuf_submit(e, 0);
	return 0;
}

static __always_inline int ctx_enter(int hard)
{
	__u32 zero = 0;
	struct cpu_ctx *c = bpf_map_lookup_elem(&cpu_ctx, &zero);

	if (c) {
		if (hard)
			c->hardirq++;
		else
			c->softirq++;
	}
	return 0;
}

static __always_inline int ctx_exit(int hard)
{
	__u32 zero = 0;
	struct cpu_ctx *c = bpf_map_lookup_elem(&cpu_ctx, &zero);

	/* Attached mid-handler: the entry was never counted. */
	if (c) {
		if (hard && c->hardirq)
			c->hardirq--;
		else if (!hard && c->softirq)
			c->softirq--;
	}
	return 0;
}

/* One handler, two attach flavours: tp_btf where allowed, raw_tp otherwise. */
#define TRACEPOINT(tp, call, args...)  \
	SEC("tp_btf/" #tp)             \
	int BPF_PROG(btf_##tp, ##args) \
	{                              \
		return call;           \
	}                              \
	SEC("raw_tp/" #tp)             \
	int BPF_PROG(raw_##tp, ##args) \
	{                              \
		return call;           \
	}

TRACEPOINT(block_bio_queue, on_bio_queue(bio), struct bio *bio)
TRACEPOINT(block_rq_issue, walk_rq(rq, false), struct request *rq)
TRACEPOINT(block_rq_complete, walk_rq(rq, true), struct request *rq, blk_status_t error,
	   unsigned int nr_bytes)
TRACEPOINT(block_bio_complete, on_bio_complete(bio), struct request_queue *q, struct bio *bio)
TRACEPOINT(workqueue_queue_work, on_queue_work(pwq, work), int cpu, struct pool_workqueue *pwq,
	   struct work_struct *work)
TRACEPOINT(workqueue_execute_start, on_execute_start(work), struct work_struct *work)
TRACEPOINT(workqueue_execute_end, on_execute_end(), struct work_struct *work)
TRACEPOINT(btrfs_work_sched, on_btrfs_work_sched(work), const struct btrfs_work *work)
TRACEPOINT(btrfs_ordered_sched, on_btrfs_ordered_sched(), const struct btrfs_work *work)
TRACEPOINT(btrfs_ordered_extent_add, on_ordered_add(inode, oe), const struct btrfs_inode *inode,
	   const struct btrfs_ordered_extent *oe)
TRACEPOINT(btrfs_ordered_extent_remove, on_ordered_remove(oe), const struct btrfs_inode *inode,
	   const struct btrfs_ordered_extent *oe)
TRACEPOINT(raid56_write, on_raid56_io(rbio, bio, ti, BBS_OP_WRITE),
	   const struct btrfs_raid_bio *rbio, const struct bio *bio,
	   const struct raid56_bio_trace_info *ti)
TRACEPOINT(raid56_read, on_raid56_io(rbio, bio, ti, BBS_OP_READ), const struct btrfs_raid_bio *rbio,
	   const struct bio *bio, const struct raid56_bio_trace_info *ti)
TRACEPOINT(irq_handler_entry, ctx_enter(1), int irq, struct irqaction *action)
TRACEPOINT(irq_handler_exit, ctx_exit(1), int irq, struct irqaction *action, int ret)
TRACEPOINT(softirq_entry, ctx_enter(0), unsigned int vec)
TRACEPOINT(softirq_exit, ctx_exit(0), unsigned int vec)

char LICENSE[] SEC("license") = "GPL";
