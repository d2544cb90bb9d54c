/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The tracepoint handlers, included twice by bbscope.bpf.c:
 *
 *   BBS_BTF 1  tp_btf programs btf_<tp>: kernel memory is read with direct
 *              loads the verifier checks against BTF, pointers are re-typed
 *              with bpf_rdonly_cast, a kworker's state lives in task storage
 *              and its workqueue is read off its struct worker.
 *   BBS_BTF 0  raw_tp programs raw_<tp>: reads through bpf_probe_read_kernel
 *              (BPF_CORE_READ), a kworker's state in a hash map by thread id,
 *              each device's filesystem cached in the devs map.
 *
 * H(name) gives each inclusion its own copy of every function.
 */
#undef H
#undef RD
#undef CAST
#undef PROG_SEC
#if BBS_BTF
#define H(name) btf_##name
/* RD(p, a, b) is p->a->b: a plain load the verifier checks against BTF. */
#define RD(src, a, ...) ((src)->___arrow(a, ##__VA_ARGS__))
#define CAST(ptr, type) \
	((struct type *)bpf_rdonly_cast((void *)(ptr), bpf_core_type_id_kernel(struct type)))
#define PROG_SEC(tp) "tp_btf/" #tp
#else
#define H(name) raw_##name
#define RD(src, a, ...) BPF_CORE_READ(src, a, ##__VA_ARGS__)
#define CAST(ptr, type) ((struct type *)(ptr))
#define PROG_SEC(tp) "raw_tp/" #tp
#endif

static __always_inline __u32 H(fs_of_inode)(const struct btrfs_inode *inode)
{
	return RD(inode, root, fs_info, sb, s_dev);
}

static __always_inline __u8 H(kind_of_bioc)(const struct btrfs_io_context *bioc)
{
	return kind_of_map_type(RD(bioc, map_type));
}

static __always_inline struct btrfs_bio *H(bbio_of_bio)(const struct bio *bio)
{
	return CAST((void *)bio - bpf_core_field_offset(struct btrfs_bio, bio), btrfs_bio);
}

/* The filesystem a btrfs bio belongs to, by the way its class reaches it. */
static __always_inline __u32 H(fs_of_bio)(const struct bio *bio, int class)
{
	struct btrfs_raid_bio *rbio;
	struct btrfs_device *device;

	switch (class) {
	case CLASS_BBIO:
		return H(fs_of_inode)(RD(H(bbio_of_bio)(bio), inode));
	case CLASS_RAID:
		rbio = CAST(RD(bio, bi_private), btrfs_raid_bio);
		return RD(rbio, bioc, fs_info, sb, s_dev);
	default:
		device = CAST(RD(bio, bi_private), btrfs_device);
		return RD(device, fs_info, sb, s_dev);
	}
}

/* The filesystem and kind of device a bio goes to; false if filtered out. */
static __always_inline bool H(bio_target)(const struct bio *bio, int class, __u32 dev, __u32 *fs,
					  bool *bio_based)
{
#if BBS_BTF
	/* A handful of cached loads: cheaper than any map lookup. */
	*fs = H(fs_of_bio)(bio, class);
	*bio_based = !RD(bio, bi_bdev, bd_disk, queue, mq_ops);
#else
	/*
	 * Probe reads cost: a device belongs to one filesystem and is request-
	 * or bio-based for good, so learn both once.  User space empties this
	 * cache every second, so a device reformatted meanwhile is seen afresh.
	 */
	struct dev_info *di = bpf_map_lookup_elem(&devs, &dev), dinfo;

	if (di) {
		dinfo = *di;
	} else {
		dinfo.fs = H(fs_of_bio)(bio, class);
		dinfo.bio_based = !RD(bio, bi_bdev, bd_disk, queue, mq_ops);
		bpf_map_update_elem(&devs, &dev, &dinfo, BPF_ANY);
	}
	*fs = dinfo.fs;
	*bio_based = dinfo.bio_based;
#endif
	return !filter_fs || *fs == filter_fs;
}

/*
 * The btrfs logical address of a data bio, where the kernel keeps it: a read
 * saves its iterator before mapping; a mirrored write (dup, raid1*, raid10:
 * the orig and clone bios) points at its stripe of the btrfs_io_context.  0
 * for single-device writes, which have no copies to tell apart.
 */
static __always_inline __u64 H(logical_of)(struct bio *bio, __u64 end_io, __u8 op)
{
	struct btrfs_io_stripe *stripe;

	if (op == BBS_OP_READ)
		return RD(H(bbio_of_bio)(bio), saved_iter.bi_sector) << 9;
	if (!fn_is(end_io, FN_ORIG_WRITE_END_IO) && !fn_is(end_io, FN_CLONE_WRITE_END_IO))
		return 0;
	stripe = CAST(RD(bio, bi_private), btrfs_io_stripe);
	return RD(stripe, bioc, logical);
}

static __always_inline int H(on_bio_queue)(struct bio *bio)
{
	struct btrfs_raid_bio *rbio;
	struct bbs_bio_state *st, tmp;
	__u32 opf, dev, fs;
	bool bio_based;
	__u64 now, end_io;
	int class;

	end_io = (__u64)RD(bio, bi_end_io);
	class = bio_class(end_io);
	if (class < 0)
		return 0;
	dev = RD(bio, bi_bdev, bd_dev);
	if (filter_dev && dev != filter_dev)
		return 0;
	if (!H(bio_target)(bio, class, dev, &fs, &bio_based))
		return 0;
	now = bpf_ktime_get_ns();
	/* Nothing marks its completion on a bio-based device: count it, no latency. */
	if (bio_based && class != CLASS_BBIO) {
		st = &tmp;
		__builtin_memset(st, 0, sizeof(*st));
	} else {
		st = bios_claim((__u64)bio);
		if (!st)
			return 0;
	}
	opf = RD(bio, bi_opf);
	st->g.fs = fs;
	st->g.dev = dev;
	st->g.op = (opf & ((1U << REQ_OP_BITS) - 1)) ? BBS_OP_WRITE : BBS_OP_READ;
	st->g.epoch = 0;
	st->g.level = 0;
	st->logical = 0;
	switch (class) {
	case CLASS_BBIO:
		st->g.kind = kind_of_opf(opf);
		/* Recordings only: what replay needs to tell mirror copies apart. */
		if (emit_events && st->g.kind == KIND_DATA)
			st->logical = H(logical_of)(bio, end_io, st->g.op);
		break;
	case CLASS_RAID:
		rbio = CAST(RD(bio, bi_private), btrfs_raid_bio);
		st->g.kind = kind_of_map_type(RD(rbio, bioc, map_type));
		break;
	default:
		st->g.kind = KIND_SUPER;
		break;
	}
	st->issue_ns = 0;
	st->complete_ns = 0;
	st->start_ns = 0;
	st->wq = 0;
	st->class = class;
	st->flags = flags_of_opf(opf) | (bio_based ? BIO_F_BIO_BASED : 0);
	st->complete_ctx = 0;
	st->endio_ctx = 0;
	st->cpu_complete = 0;
	st->cpu_endio = 0;
	st->bytes = RD(bio, bi_iter.bi_size);
	st->sector = RD(bio, bi_iter.bi_sector);
	st->pid = 0;
	st->comm[0] = 0;
	if (emit_events) {
		st->pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(st->comm, sizeof(st->comm));
	}
	if (bio_based)
		seen_bio_based = 1;
	/* Last: until queue_ns is set the user-space sweeper leaves the slot alone. */
	st->queue_ns = now;
	if (st == &tmp)
		account_bio(st, now, cur_ctx());
	return 0;
}

/* Walk a request's bios (and split children's parents): issue or completion. */
static __always_inline int H(walk_rq)(struct request *rq, bool complete)
{
	struct bio *bio = RD(rq, bio);
	struct bbs_bio_state *st;
	__u64 now = 0, key, end_io, *slot;
	bool own;
	int i;

	for (i = 0; i < MAX_RQ_BIOS && bio; i++) {
		end_io = (__u64)RD(bio, bi_end_io);
		if (bio_class(end_io) >= 0) {
			key = (__u64)bio;
			own = true;
		} else if (fn_is(end_io, FN_BIO_CHAIN_END_IO)) {
			/* A block-layer split: the btrfs bio is the chain parent. */
			key = (__u64)RD(bio, bi_private);
			own = false;
		} else {
			key = 0;
		}
		bio = RD(bio, bi_next);
		st = key ? bios_find(key, &slot) : NULL;
		if (!st)
			continue;
		if (!now)
			now = bpf_ktime_get_ns();
		if (!complete) {
			if (!st->issue_ns)
				st->issue_ns = now;
		} else {
			complete_bio(st, slot, now, own);
		}
	}
	if (bio && now)
		lose(LOST_RQ_WALK);
	return 0;
}

/* Fires for remapped bios only on recent kernels; first completion wins. */
static __always_inline int H(on_bio_complete)(struct bio *bio)
{
	struct bbs_bio_state *st;
	__u64 *slot;

	if (bio_class((__u64)RD(bio, bi_end_io)) < 0)
		return 0;
	st = bios_find((__u64)bio, &slot);
	if (st && !st->complete_ns)
		complete_bio(st, slot, bpf_ktime_get_ns(), true);
	return 0;
}

static __always_inline __u64 H(bio_of_endio_work)(struct work_struct *work)
{
	return (__u64)((void *)work - bpf_core_field_offset(struct btrfs_bio, end_io_work) +
		       bpf_core_field_offset(struct btrfs_bio, bio));
}

static __always_inline int H(on_queue_work)(struct pool_workqueue *pwq, struct work_struct *work)
{
	struct bbs_bio_state *st;
	__u64 *slot;

	if (!is_endio_work((__u64)RD(work, func)))
		return 0;
	st = bios_find(H(bio_of_endio_work)(work), &slot);
	if (!st)
		return 0;
	st->wq = (__u64)RD(pwq, wq);
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

/*
 * The state of the work item this thread runs.  run_begin gives an entry to
 * fill (committed by run_commit), run_cur the open one or NULL, run_close
 * ends it.
 */
#if BBS_BTF
static __always_inline struct running *H(run_begin)(void)
{
	return bpf_task_storage_get(&task_running, bpf_get_current_task_btf(), NULL,
				    BPF_LOCAL_STORAGE_GET_F_CREATE);
}

static __always_inline void H(run_commit)(struct running *r)
{
}

static __always_inline struct running *H(run_cur)(void)
{
	struct running *r =
		bpf_task_storage_get(&task_running, bpf_get_current_task_btf(), NULL, 0);

	return r && r->what ? r : NULL;
}

static __always_inline void H(run_close)(struct running *r)
{
	r->what = RUN_NONE;
}

/*
 * The workqueue of the work item this kworker runs: process_one_work sets
 * worker->current_pwq before execute_start.  Only in task context (ctx, the
 * caller's): a BH work item runs on top of whatever task it interrupted.
 */
static __always_inline __u64 H(cur_wq)(__u8 ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct kthread *k;
	struct worker *w;

	if (!(task->flags & PF_WQ_WORKER) || ctx != CTX_TASK)
		return 0;
	k = CAST(task->worker_private, kthread);
	w = CAST(k->data, worker);
	return (__u64)w->current_pwq->wq;
}
#else
static __always_inline struct running *H(run_begin)(void)
{
	__u32 zero = 0;

	/* struct running is too big for the stack: build it in scratch. */
	return bpf_map_lookup_elem(&scratch, &zero);
}

static __always_inline void H(run_commit)(struct running *r)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	if (bpf_map_update_elem(&running, &tid, r, BPF_ANY))
		lose(LOST_WORK_MAP_FULL);
}

static __always_inline struct running *H(run_cur)(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	return bpf_map_lookup_elem(&running, &tid);
}

static __always_inline void H(run_close)(struct running *r)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&running, &tid);
}

static __always_inline __u64 H(cur_wq)(__u8 ctx)
{
	return 0;
}
#endif

static __always_inline void H(span_begin)(__u32 phase, __u32 fs, __u8 kind, __u64 id)
{
	struct running *r;

	if (filter_fs && fs != filter_fs)
		return;
	r = H(run_begin)();
	if (!r)
		return;
	r->what = RUN_SPAN;
	r->ts = r->sp.start_ns = bpf_ktime_get_ns();
	r->sp.id = id;
	r->sp.fs = fs;
	r->sp.phase = phase;
	r->sp.kind = kind;
	r->sp.ctx = cur_ctx();
	r->sp.stripe_io = 0;
	H(run_commit)(r);
}

static __always_inline void H(rbio_begin)(struct work_struct *work, __u32 phase)
{
	struct btrfs_raid_bio *rbio = CAST(
		(void *)work - bpf_core_field_offset(struct btrfs_raid_bio, work), btrfs_raid_bio);
	struct btrfs_io_context *bioc = RD(rbio, bioc);

	H(span_begin)(phase, RD(bioc, fs_info, sb, s_dev), H(kind_of_bioc)(bioc), (__u64)rbio);
}

static __always_inline int H(on_execute_start)(struct work_struct *work)
{
	__u64 func = (__u64)RD(work, func), wq, *slot;
	struct bbs_bio_state *st;
	struct btrfs_bio *bbio;
	struct running *r;

	if (is_endio_work(func)) {
		st = bios_find(H(bio_of_endio_work)(work), &slot);
		if (!st)
			return 0;
		r = H(run_begin)();
		if (!r)
			return 0;
		/* The work may free and reuse the bio: follow the thread instead. */
		r->st = *st;
		bios_free(st, slot);
		r->what = RUN_ENDIO;
		r->ts = r->st.start_ns = bpf_ktime_get_ns();
		r->st.endio_ctx = cur_ctx();
		r->st.cpu_endio = bpf_get_smp_processor_id();
		wq = H(cur_wq)(r->st.endio_ctx);
		if (wq)
			r->st.wq = wq;
		H(run_commit)(r);
	} else if (fn_is(func, FN_RMW_WORK) || fn_is(func, FN_RMW_WORK_LOCKED)) {
		H(rbio_begin)(work, PHASE_RMW);
	} else if (fn_is(func, FN_RECOVER_WORK) || fn_is(func, FN_RECOVER_WORK_LOCKED)) {
		H(rbio_begin)(work, PHASE_RECOVER);
	} else if (fn_is(func, FN_CSUM_WORK)) {
		bbio = CAST((void *)work - bpf_core_field_offset(struct btrfs_bio, csum_work),
			    btrfs_bio);
		H(span_begin)
		(PHASE_CSUM, H(fs_of_inode)(RD(bbio, inode)), kind_of_opf(RD(bbio, bio.bi_opf)),
		 (__u64)bbio + bpf_core_field_offset(struct btrfs_bio, bio));
	}
	return 0;
}

/*
 * A kworker runs one work item at a time, so the first execute_end on this
 * thread closes whatever began on it: an end_io work, or a csum, rmw or
 * recover span.  (The function argument is not readable from tp_btf here,
 * and the work item itself may already be freed.)
 */
static __always_inline int H(on_execute_end)(void)
{
	struct running *r = H(run_cur)();

	if (!r)
		return 0;
	if (r->what == RUN_ENDIO)
		account_bio(&r->st, bpf_ktime_get_ns(), cur_ctx());
	else
		span_account(&r->sp, (__u32)bpf_get_current_pid_tgid());
	H(run_close)(r);
	return 0;
}

/* Offloaded data/metadata checksum: run_one_async_start on a btrfs worker. */
static __always_inline int H(on_btrfs_work_sched)(struct btrfs_work *work)
{
	struct async_submit_bio *async;
	struct btrfs_bio *bbio;

	if (!fn_is((__u64)RD(work, func), FN_ASYNC_CSUM_START))
		return 0;
	async = CAST((void *)work - bpf_core_field_offset(struct async_submit_bio, work),
		     async_submit_bio);
	bbio = RD(async, bbio);
	H(span_begin)
	(PHASE_CSUM, H(fs_of_inode)(RD(bbio, inode)), kind_of_opf(RD(bbio, bio.bi_opf)),
	 (__u64)bbio + bpf_core_field_offset(struct btrfs_bio, bio));
	return 0;
}

/*
 * btrfs_work_helper calls the ordered part right after the checksum
 * returns; the first ordered_sched on this thread marks the csum's end.
 */
static __always_inline int H(on_btrfs_ordered_sched)(void)
{
	struct running *r = H(run_cur)();

	if (r && r->what == RUN_SPAN && r->sp.phase == PHASE_CSUM) {
		span_account(&r->sp, (__u32)bpf_get_current_pid_tgid());
		H(run_close)(r);
	}
	return 0;
}

static __always_inline int H(on_ordered_add)(struct btrfs_inode *inode,
					     struct btrfs_ordered_extent *oe)
{
	struct bbs_ordered_state *os;
	__u32 fs = H(fs_of_inode)(inode);

	if (filter_fs && fs != filter_fs)
		return 0;
	os = ordered_claim((__u64)oe);
	if (!os)
		return 0;
	os->fs = fs;
	os->start_ns = bpf_ktime_get_ns();
	return 0;
}

static __always_inline int H(on_ordered_remove)(struct btrfs_ordered_extent *oe)
{
	struct bbs_ordered_state *os;
	__u64 *slot;

	os = ordered_find((__u64)oe, &slot);
	if (!os || !os->start_ns)
		return 0;
	ordered_account((__u64)oe, os);
	ordered_free(os, slot);
	return 0;
}

static __always_inline int H(on_raid56_io)(struct btrfs_raid_bio *rbio, struct bio *bio,
					   struct raid56_bio_trace_info *ti, __u8 op)
{
	struct btrfs_io_context *bioc = RD(rbio, bioc);
	struct bbs_group g = { .op = op };
	struct bbs_event_stripe *e;
	struct bbs_group_val *gv;
	struct running *r;

	g.fs = RD(bioc, fs_info, sb, s_dev);
	if (filter_fs && g.fs != filter_fs)
		return 0;
	g.dev = RD(bio, bi_bdev, bd_dev);
	if (filter_dev && g.dev != filter_dev)
		return 0;
	g.kind = H(kind_of_bioc)(bioc);
	/* Mark the rmw/recover span running on this thread as one that did I/O. */
	r = H(run_cur)();
	if (r && r->what == RUN_SPAN)
		r->sp.stripe_io = 1;
	gv = group_of(&g, cur_ctx());
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
	e->stripe_nr = RD(ti, stripe_nr);
	e->nr_data = RD(rbio, nr_data);
	e->real_stripes = RD(rbio, real_stripes);
	e->kind = g.kind;
	e->fs = g.fs;
	e->dev = g.dev;
	e->len = RD(bio, bi_iter.bi_size);
	e->offset = RD(ti, offset);
	e->devid = RD(ti, devid);
	e->full_stripe = RD(bioc, full_stripe_logical);
	e->ts_ns = bpf_ktime_get_ns();
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* One program per tracepoint in this flavour: btf_<tp> or raw_<tp>. */
#undef TRACEPOINT
#define TRACEPOINT(tp, call, args...) \
	SEC(PROG_SEC(tp))             \
	int BBS_PROG(H(tp), ##args)   \
	{                             \
		if (events_only)      \
			return 0;     \
		return call;          \
	}

TRACEPOINT(block_bio_queue, H(on_bio_queue)(bio), struct bio *bio)
TRACEPOINT(block_rq_issue, H(walk_rq)(rq, false), struct request *rq)
TRACEPOINT(block_rq_complete, H(walk_rq)(rq, true), struct request *rq, blk_status_t error,
	   unsigned int nr_bytes)
TRACEPOINT(block_bio_complete, H(on_bio_complete)(bio), struct request_queue *q, struct bio *bio)
TRACEPOINT(workqueue_queue_work, H(on_queue_work)(pwq, work), int cpu, struct pool_workqueue *pwq,
	   struct work_struct *work)
TRACEPOINT(workqueue_execute_start, H(on_execute_start)(work), struct work_struct *work)
TRACEPOINT(workqueue_execute_end, H(on_execute_end)(), struct work_struct *work)
TRACEPOINT(btrfs_work_sched, H(on_btrfs_work_sched)(work), struct btrfs_work *work)
TRACEPOINT(btrfs_ordered_sched, H(on_btrfs_ordered_sched)(), struct btrfs_work *work)
TRACEPOINT(btrfs_ordered_extent_add, H(on_ordered_add)(inode, oe), struct btrfs_inode *inode,
	   struct btrfs_ordered_extent *oe)
TRACEPOINT(btrfs_ordered_extent_remove, H(on_ordered_remove)(oe), struct btrfs_inode *inode,
	   struct btrfs_ordered_extent *oe)
TRACEPOINT(raid56_write, H(on_raid56_io)(rbio, bio, ti, BBS_OP_WRITE), struct btrfs_raid_bio *rbio,
	   struct bio *bio, struct raid56_bio_trace_info *ti)
TRACEPOINT(raid56_read, H(on_raid56_io)(rbio, bio, ti, BBS_OP_READ), struct btrfs_raid_bio *rbio,
	   struct bio *bio, struct raid56_bio_trace_info *ti)
TRACEPOINT(irq_handler_entry, ctx_enter(1), int irq, struct irqaction *action)
TRACEPOINT(irq_handler_exit, ctx_exit(1), int irq, struct irqaction *action, int ret)
TRACEPOINT(softirq_entry, ctx_enter(0), unsigned int vec)
TRACEPOINT(softirq_exit, ctx_exit(0), unsigned int vec)
