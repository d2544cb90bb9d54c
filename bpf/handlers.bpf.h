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

#include "kernel.bpf.h"

static __always_inline __u8 H(kind_of_bioc)(const struct btrfs_io_context *bioc)
{
	return kind_of_map_type(RD(bioc, map_type));
}

/*
 * The filesystem and kind of device a bio goes to; false if filtered out.
 * Without btrfs BTF (5.10) the filesystem comes from the devs map, which
 * user space fills with every btrfs device; a device not there yet is
 * traced as filesystem 0 until it is.
 */
static __always_inline bool H(bio_target)(const struct bio *bio, int fn_idx, __u32 dev, __u32 *fs,
					  bool *bio_based)
{
#if BBS_BTF
	/* A handful of cached loads: cheaper than any map lookup. */
	*fs = H(fs_of_bio)(bio, fn_idx);
	*bio_based = H(bio_is_bio_based)(bio);
#else
	/*
	 * Probe reads cost: a device belongs to one filesystem and is request-
	 * or bio-based for good, so learn both once.  User space refreshes
	 * this cache every second, so a device reformatted meanwhile is seen
	 * afresh: with btrfs BTF it empties it; without, it updates it in
	 * place, never empty (fill_devs()), or bios would go unclaimed.
	 */
	struct bbs_dev_info *di = bpf_map_lookup_elem(&devs, &dev), dinfo = {};

	if (di && di->bio_based != DEV_UNKNOWN) {
		dinfo = *di;
	} else {
		dinfo.fs = HAVE_BTRFS_BTF ? H(fs_of_bio)(bio, fn_idx) : di ? di->fs : 0;
		dinfo.bio_based = H(bio_is_bio_based)(bio);
		if (di || HAVE_BTRFS_BTF)
			bpf_map_update_elem(&devs, &dev, &dinfo, BPF_ANY);
	}
	*fs = dinfo.fs;
	*bio_based = dinfo.bio_based;
#endif
	return !filter_fs || *fs == filter_fs;
}

/* Forward: an rmw/recover span open on this thread notes that it did I/O. */
static __always_inline void H(span_stripe_io)(const struct bio *bio, __u8 op, __u64 now);

/*
 * copy: the second program on the tracepoint (bbscope.bpf.c "Copies"): it
 * follows the bio only if the first left no way claimed for it, which the
 * first always does unless the kernel skipped it (the bio cannot complete
 * before the tracepoint returns).  A bio the first accounted right here
 * (st == &tmp) leaves nothing to tell: the copy is attached only where
 * block_bio_complete is, which never takes that branch.
 */
static __always_inline int H(on_bio_queue)(struct bio *bio, bool copy)
{
	struct bbs_bio_state *st, tmp;
	__u64 *slot;
	__u32 opf, dev, fs;
	int fn_idx, class;
	bool bio_based, work;
	__u8 op;
	__u64 now;

	fn_idx = end_io_of((__u64)RD(bio, bi_end_io));
	if (fn_idx < 0 || !sampled((__u64)bio, RD(bio, bi_iter.bi_sector)))
		return 0;
	class = fn_class[fn_idx];
	dev = H(bio_dev)(bio);
	if (filter_dev && dev != filter_dev)
		return 0;
	if (!H(bio_target)(bio, fn_idx, dev, &fs, &bio_based))
		return 0;
	if (copy && bios_find((__u64)bio, &slot))
		return 0;
	now = bpf_ktime_get_ns();
	opf = RD(bio, bi_opf);
	op = (opf & ((1U << REQ_OP_BITS) - 1)) ? BBS_OP_WRITE : BBS_OP_READ;
	work = class == CLASS_BBIO && (fn_work_ops[fn_idx] & (1U << op));
	/*
	 * On a bio-based device block_bio_complete marks the completion (and,
	 * for an end_io work item, its queueing does); without that
	 * tracepoint a bio whose end_io runs inline is counted, no latency.
	 */
	if (bio_based && !work && !bio_complete_on) {
		if (copy)
			return 0;
		st = &tmp;
		__builtin_memset(st, 0, sizeof(*st));
	} else {
		st = bios_claim((__u64)bio);
		if (!st)
			return 0;
		if (copy)
			rescued();
	}
	st->g.fs = fs;
	st->g.dev = dev;
	st->g.op = op;
	st->g.epoch = 0;
	st->g.level = 0;
	st->g.kind = H(kind_of_bio)(bio, fn_idx, class, opf);
	st->logical = 0;
	/* Recordings only: what replay needs to tell mirror copies apart. */
	if (emit_events && class == CLASS_BBIO && st->g.kind == KIND_DATA)
		st->logical = H(logical_of)(bio, fn_idx, st->g.op);
	st->issue_ns = 0;
	st->complete_ns = 0;
	st->start_ns = 0;
	st->wq = 0;
	st->class = class;
	st->flags = flags_of_opf(opf) | (bio_based ? BIO_F_BIO_BASED : 0);
	if (work)
		st->flags |= BIO_F_ENDIO_WORK;
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
	/* Read first: a store on every bio would bounce the line between CPUs. */
	if (bio_based && !seen_bio_based)
		seen_bio_based = 1;
	if (class == CLASS_RAID)
		H(span_stripe_io)(bio, st->g.op, now);
	/* Last: until queue_ns is set the user-space sweeper leaves the slot alone. */
	st->queue_ns = now;
	if (st == &tmp)
		account_bio(st, now, cur_ctx());
	return 0;
}

/*
 * Walk a request's bios (and split children's parents): issue or completion.
 * Bio addresses are read as numbers (bpf_core_read), so that the completion
 * can go to complete_key, a global function verified once, whatever the
 * attach type; each bio is then re-typed for its direct loads.
 */
static __always_inline int H(walk_rq)(struct request *rq, bool complete, bool copy)
{
	__u64 now = 0, key, end_io, addr = 0, *slot;
	struct bbs_bio_state *st;
	struct bio *bio;
	bool own, seen = false, acted = false;
	int i;

	addr = ptr_value(RD(rq, bio));
	for (i = 0; i < MAX_RQ_BIOS && addr; i++) {
		bio = CAST(addr, bio);
		end_io = (__u64)RD(bio, bi_end_io);
		key = 0;
		own = false;
		if (is_end_io(end_io)) {
			key = addr;
			own = true;
		} else if (fn_is(end_io, FN_BIO_CHAIN_END_IO)) {
			/* A block-layer split: the btrfs bio is the chain parent. */
			key = ptr_value(RD(bio, bi_private));
		}
		addr = ptr_value(RD(bio, bi_next));
		if (!key)
			continue;
		seen = true;
		/* The clock is read only for a bio followed (--sample: one in N). */
		/*
		 * The copy completes only a bio with no completion marked,
		 * which the first always leaves (or frees the bio, its end_io
		 * inline, not yet run): a split child's later sibling or its
		 * parent's own completion, skipped after another marked it,
		 * only keeps the earlier time.
		 */
		if (complete) {
			acted |= complete_key(key,
					      copy  ? (own ? COMPLETE_FIRST : COMPLETE_CHILD_FIRST)
					      : own ? COMPLETE_OWN
						    : COMPLETE_CHILD,
					      0);
			continue;
		}
		/* The copy likewise issues only a bio with no issue time. */
		st = bio_maybe_followed(key) ? bios_find(key, &slot) : NULL;
		if (!st || st->issue_ns)
			continue;
		if (!now)
			now = bpf_ktime_get_ns();
		st->issue_ns = now;
		acted = true;
	}
	if (addr && seen && !copy)
		lose(LOST_RQ_WALK);
	if (copy && acted)
		rescued();
	return 0;
}

/*
 * bio_endio of a bio that did not end in a request: on bio-based devices,
 * the btrfs bio's completion (first completion wins).  Where its end_io
 * runs inline (complete_mark), it ends here.
 */
static __always_inline int H(on_bio_complete)(struct bio *bio, bool copy)
{
	if (!is_end_io((__u64)RD(bio, bi_end_io)) || !bio_maybe_followed((__u64)bio))
		return 0;
	/*
	 * The copy does the same: the first completion wins, so where the first
	 * ran the bio is marked completed or (end_io inline) gone, and its
	 * end_io has not run yet to free the bio.
	 */
	if (complete_key(ptr_value(bio), COMPLETE_FIRST, 0) && copy)
		rescued();
	return 0;
}

static __always_inline int H(on_queue_work)(struct pool_workqueue *pwq, struct work_struct *work)
{
	struct bbs_bio_state *st;
	__u64 func = (__u64)RD(work, func), bio, *slot;

	if (!maybe_btrfs_work(func))
		return 0;
	bio = H(endio_work_bio)(work, func);
	if (!bio || !bio_maybe_followed(bio))
		return 0;
	st = bios_find(bio, &slot);
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

#else
/*
 * The thread's entry, inserted zeroed the first time and filled in place.
 * Not built in a per-CPU scratch entry and copied in: where tracepoint
 * programs run preemptibly (a46023d5616e), another program on this CPU could
 * overwrite scratch under a preempted one.
 */
static __always_inline struct running *H(run_begin)(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct running *r = bpf_map_lookup_elem(&running, &tid);

	if (r)
		return r;
	/* Failing with EEXIST is fine: an interrupt on this thread inserted it. */
	bpf_map_update_elem(&running, &tid, &zero_running, BPF_NOEXIST);
	r = bpf_map_lookup_elem(&running, &tid);
	if (!r)
		lose(LOST_WORK_MAP_FULL);
	return r;
}

static __always_inline void H(run_commit)(struct running *r)
{
}

static __always_inline struct running *H(run_cur)(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct running *r = bpf_map_lookup_elem(&running, &tid);

	return r && r->what ? r : NULL;
}

static __always_inline void H(run_close)(struct running *r)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&running, &tid);
}

#endif

/*
 * run_begin for an end_io work, which first closes an end_io this thread
 * left open (its execute_end was skipped: it is over), at now.  One lookup
 * of the thread's state serves both.
 */
static __always_inline struct running *H(run_reopen)(__u64 now, __u8 ctx)
{
	struct running *r = H(run_begin)();

	if (r && r->what == RUN_ENDIO) {
		account_bio(&r->st, now, ctx);
		bio_filter_put(r->bio);
	}
	return r;
}

static __always_inline struct task_struct *H(cur_task)(void)
{
#if BBS_BTF
	return bpf_get_current_task_btf();
#else
	return (struct task_struct *)bpf_get_current_task();
#endif
}

/*
 * The workqueue of the work item this kworker runs: process_one_work sets
 * worker->current_pwq before execute_start.  Only in task context (ctx, the
 * caller's): a BH work item runs on top of whatever task it interrupted.
 */
static __always_inline __u64 H(cur_wq)(__u8 ctx)
{
	struct task_struct *task = H(cur_task)();

	if (!(RD(task, flags) & PF_WQ_WORKER) || ctx != CTX_TASK)
		return 0;
	return (__u64)RD(H(cur_worker)(task), current_pwq, wq);
}

/*
 * Open a span on this thread.  copy (the work tracepoint's second program):
 * only unless the first opened this one (the thread's span has this id).
 */
static __always_inline void H(span_begin)(__u32 phase, __u32 fs, __u8 kind, __u64 id, bool copy)
{
	struct running *r;

	if ((filter_fs && fs != filter_fs) || !sampled(id, 0))
		return;
	if (copy) {
		r = H(run_cur)();
		if (r && r->what == RUN_SPAN && r->sp.id == id)
			return;
	}
	r = H(run_begin)();
	if (!r)
		return;
	if (copy)
		rescued();
	r->what = RUN_SPAN;
	r->ts = r->sp.start_ns = bpf_ktime_get_ns();
	r->sp.id = id;
	r->sp.fs = fs;
	r->sp.phase = phase;
	r->sp.kind = kind;
	r->sp.ctx = cur_ctx();
	r->sp.stripe_io = 0;
	r->sp.first_half = 0;
	r->sp.parked = 0;
	H(run_commit)(r);
}

/*
 * A raid56 strip bio is queued: the rmw or recover span open on this
 * thread did I/O.  6.1 reads the strips of a recover right in the reading
 * task (read_rebuild_work only runs one that had to wait for the stripe
 * lock), so a strip read outside any span starts that recover: its start
 * is parked for raid_recover_end_io_work to resume.
 */
static __always_inline void H(span_stripe_io)(const struct bio *bio, __u8 op, __u64 now)
{
	struct running *r = H(run_cur)();
	struct btrfs_raid_bio *rbio;
	struct bbs_rbio_state *rs;
	__u64 *slot;
	__u32 fs;

	if (r && r->what == RUN_SPAN) {
		r->sp.stripe_io |= op == BBS_OP_WRITE ? STRIPE_IO_WRITE : STRIPE_IO_READ;
		if (op == BBS_OP_READ)
			rbio_park(&r->sp);
		return;
	}
	if (op != BBS_OP_READ || !fn[FN_RECOVER_END_WORK] || !HAVE_BTRFS_BTF)
		return;
	rbio = CAST(RD(bio, bi_private), btrfs_raid_bio);
	if (RD(rbio, operation) !=
	    bpf_core_enum_value(enum btrfs_rbio_ops, BTRFS_RBIO_READ_REBUILD))
		return;
	fs = RD(rbio, bioc, fs_info, sb, s_dev);
	if ((filter_fs && fs != filter_fs) || !sampled((__u64)rbio, 0) ||
	    rbios_find((__u64)rbio, &slot))
		return;
	rs = rbios_claim((__u64)rbio);
	if (!rs)
		return;
	rs->fs = fs;
	rs->phase = PHASE_RECOVER;
	rs->kind = H(kind_of_bioc)(RD(rbio, bioc));
	rs->start_ns = now;
}

static __always_inline struct btrfs_raid_bio *H(rbio_of)(struct work_struct *work, bool end_io_work)
{
	__u64 off = end_io_work ? bpf_core_field_offset(struct btrfs_raid_bio___end_io_work,
							end_io_work)
				: bpf_core_field_offset(struct btrfs_raid_bio, work);

	return CAST((void *)work - off, btrfs_raid_bio);
}

/* An rmw or recover that is one work item (6.3+): a span on this thread. */
static __always_inline void H(rbio_begin)(struct work_struct *work, __u32 phase, bool copy)
{
	struct btrfs_raid_bio *rbio = H(rbio_of)(work, false);
	struct btrfs_io_context *bioc = RD(rbio, bioc);

	H(span_begin)
	(phase, RD(bioc, fs_info, sb, s_dev), H(kind_of_bioc)(bioc), (__u64)rbio, copy);
}

/*
 * 6.1: an rmw or recover whose strips had to be read ends in a second work
 * item; the first parks its start when it reads a strip (rbio_park) and the
 * second resumes it here as a span on its own thread, which closes at its
 * end: the same extent as 6.3's one work item, but for the wait on the
 * writes.
 */
/* The first frees the parked start: a copy finds it only where the first was skipped. */
static __always_inline void H(rbio_resume)(struct work_struct *work, __u32 phase, bool copy)
{
	struct btrfs_raid_bio *rbio;
	struct bbs_rbio_state *rs;
	struct running *r;
	__u64 *slot;

	if (!bpf_core_field_exists(struct btrfs_raid_bio___end_io_work, end_io_work))
		return;
	rbio = H(rbio_of)(work, true);
	rs = rbios_find((__u64)rbio, &slot);
	if (!rs || !rs->start_ns)
		return;
	r = rs->phase == phase ? H(run_begin)() : NULL;
	if (r) {
		r->what = RUN_SPAN;
		r->ts = r->sp.start_ns = rs->start_ns;
		r->sp.id = (__u64)rbio;
		r->sp.fs = rs->fs;
		r->sp.phase = phase;
		r->sp.kind = rs->kind;
		r->sp.ctx = cur_ctx();
		r->sp.stripe_io = STRIPE_IO_READ; /* its reads were the first half */
		r->sp.first_half = 0;
		r->sp.parked = 0;
		H(run_commit)(r);
		if (copy)
			rescued();
	}
	rbios_free(rs, slot);
}

static __always_inline void H(on_raid56_work)(struct work_struct *work, __u64 func, bool copy)
{
	bool split = fn[FN_RMW_END_WORK] != 0;
	struct running *r;

	if (!HAVE_BTRFS_BTF)
		return;
	if (fn_is(func, FN_RMW_END_WORK)) {
		H(rbio_resume)(work, PHASE_RMW, copy);
		return;
	}
	if (fn_is(func, FN_RECOVER_END_WORK)) {
		H(rbio_resume)(work, PHASE_RECOVER, copy);
		return;
	}
	if (fn_is(func, FN_RMW_WORK) || fn_is(func, FN_RMW_WORK_LOCKED))
		H(rbio_begin)(work, PHASE_RMW, copy);
	else if (fn_is(func, FN_RECOVER_WORK) || fn_is(func, FN_RECOVER_WORK_LOCKED))
		H(rbio_begin)(work, PHASE_RECOVER, copy);
	else
		return;
	r = H(run_cur)();
	if (r && r->what == RUN_SPAN)
		r->sp.first_half = split;
}

/* The async csum series: csum_one_bio_work computes a write bio's checksums. */
static __always_inline void H(csum_work_begin)(struct work_struct *work, bool copy)
{
	struct btrfs_bio *bbio;

	if (!bpf_core_field_exists(struct btrfs_bio, csum_work))
		return;
	bbio = CAST((void *)work - bpf_core_field_offset(struct btrfs_bio, csum_work), btrfs_bio);
	H(span_begin)
	(PHASE_CSUM, H(fs_of_inode)(RD(bbio, inode)), kind_of_opf(RD(bbio, bio.bi_opf)),
	 (__u64)bbio + bpf_core_field_offset(struct btrfs_bio, bio), copy);
}

/*
 * copy: the second program (bbscope.bpf.c "Copies").  The same code is
 * exact for an end_io work: the first takes the bio out of the table, and
 * the work, which frees the bio, has not run yet.  A span it opens only
 * where the thread's open span is not this one (span_begin, rbio_resume).
 */
static __always_inline int H(on_execute_start)(struct work_struct *work, bool copy)
{
	__u64 func = (__u64)RD(work, func), wq, bio, now, *slot;
	struct bbs_bio_state *st;
	struct running *r;
	__u8 ctx;

	if (!maybe_btrfs_work(func))
		return 0;
	bio = H(endio_work_bio)(work, func);
	if (bio) {
		if (!bio_maybe_followed(bio))
			return 0;
		st = bios_find(bio, &slot);
		if (!st)
			return 0;
		now = bpf_ktime_get_ns();
		ctx = cur_ctx();
		r = H(run_reopen)(now, ctx);
		if (!r)
			return 0;
		/* The work may free and reuse the bio: follow the thread instead. */
		r->st = *st;
		r->bio = bio;
		bios_hand_off(st, slot);
		r->what = RUN_ENDIO;
		r->ts = r->st.start_ns = now;
		r->st.endio_ctx = ctx;
		r->st.cpu_endio = bpf_get_smp_processor_id();
		wq = H(cur_wq)(r->st.endio_ctx);
		if (wq)
			r->st.wq = wq;
		H(run_commit)(r);
		if (copy)
			rescued();
	} else if (fn_is(func, FN_CSUM_WORK)) {
		H(csum_work_begin)(work, copy);
	} else {
		H(on_raid56_work)(work, func, copy);
	}
	return 0;
}

/*
 * A kworker runs one work item at a time, so the first execute_end on this
 * thread closes whatever began on it: an end_io work, or a csum, rmw or
 * recover span.  (The work item itself may already be freed: only its
 * address and the tracepoint's function argument are used.)  A thread with
 * nothing open may have had its execute_start skipped: endio_missed.  One
 * whose execute_end is skipped has its end_io closed by its next one.
 * copy (the second program): only what is still open, which the first
 * closes unless skipped; never endio_missed, whose bio the work may have
 * freed and another CPU queued anew.
 */
static __always_inline int H(on_execute_end)(struct work_struct *work, __u64 func, bool copy)
{
	struct running *r;
	__u64 bio;

	/*
	 * This fires for every work item of the system.  Whatever a thread has
	 * open began in a btrfs work function (the end_io works,
	 * btrfs_work_helper, csum, rmw, recover: all inside the span), so a
	 * work item outside it leaves before the thread's state is looked up.
	 */
	if (!maybe_btrfs_work(func))
		return 0;
	/*
	 * --sample: nor does the end_io work of a bio not followed, whose
	 * execute_start opened nothing: the thread's task storage, untouched
	 * since the last bio followed, costs ~140 ns cold (6.18).  Unless
	 * runs are skipped (known from the start where tracepoints are
	 * preemptible, else once user space sees one): then this thread may
	 * hold an end_io whose execute_end was skipped, which this end
	 * closes.  (5.10's end_io work would have to be read, and may be
	 * freed: not here.)
	 */
	if (!copy && sample_n > 1 && !tp_preempt && !skipped_runs_seen &&
	    bpf_core_field_exists(struct btrfs_bio, end_io_work)) {
		bio = H(endio_work_bio)(work, func);
		if (bio && !bio_maybe_followed(bio))
			return 0;
	}
	r = H(run_cur)();
	if (!r) {
		if (!copy)
			H(endio_missed)(work, func);
		return 0;
	}
	if (r->what == RUN_ENDIO) {
		account_bio(&r->st, bpf_ktime_get_ns(), cur_ctx());
		bio_filter_put(r->bio);
	} else
		span_account(&r->sp, (__u32)bpf_get_current_pid_tgid());
	H(run_close)(r);
	if (copy)
		rescued();
	return 0;
}

/* Offloaded data/metadata checksum: run_one_async_start on a btrfs worker. */
static __always_inline int H(on_btrfs_work_sched)(struct btrfs_work *work, bool copy)
{
	__u64 id = 0;
	__u8 kind = 0;
	__u32 fs;

	if (!fn_is((__u64)RD(work, func), FN_ASYNC_CSUM_START))
		return 0;
	fs = H(async_csum_of)(work, &kind, &id);
	H(span_begin)(PHASE_CSUM, fs, kind, id, copy);
	return 0;
}

/*
 * btrfs_work_helper calls the ordered part right after the checksum
 * returns; the first ordered_sched on this thread marks the csum's end.
 */
static __always_inline int H(on_btrfs_ordered_sched)(bool copy)
{
	struct running *r = H(run_cur)();

	/* The copy finds the span open only where the first was skipped. */
	if (r && r->what == RUN_SPAN && r->sp.phase == PHASE_CSUM) {
		span_account(&r->sp, (__u32)bpf_get_current_pid_tgid());
		H(run_close)(r);
		if (copy)
			rescued();
	}
	return 0;
}

/* The copy: only where the first claimed no way for it (it always does, unless skipped). */
static __always_inline int H(on_ordered_add)(struct btrfs_inode *inode,
					     struct btrfs_ordered_extent *oe, bool copy)
{
	struct bbs_ordered_state *os;
	__u64 *slot;
	__u32 fs;

	if (!sampled((__u64)oe, 0))
		return 0;
	fs = H(fs_of_inode)(inode);
	if (filter_fs && fs != filter_fs)
		return 0;
	if (copy && ordered_find((__u64)oe, &slot))
		return 0;
	os = ordered_claim((__u64)oe);
	if (!os)
		return 0;
	if (copy)
		rescued();
	os->fs = fs;
	os->start_ns = bpf_ktime_get_ns();
	return 0;
}

/* The copy does the same: the first frees the state, and the extent is not freed yet. */
static __always_inline int H(on_ordered_remove)(struct btrfs_ordered_extent *oe, bool copy)
{
	struct bbs_ordered_state *os;
	__u64 *slot;

	os = ordered_find((__u64)oe, &slot);
	if (!os || !os->start_ns)
		return 0;
	ordered_account((__u64)oe, os);
	ordered_free(os, slot);
	if (copy)
		rescued();
	return 0;
}

/* Record mode: each strip bio of a raid56 stripe, where in the stripe it goes. */
static __always_inline int H(on_raid56_io)(struct btrfs_raid_bio *rbio, struct bio *bio,
					   struct raid56_bio_trace_info *ti, __u8 op)
{
	struct btrfs_io_context *bioc = RD(rbio, bioc);
	struct bbs_event_stripe *e;
	__u32 fs, dev;

	fs = RD(bioc, fs_info, sb, s_dev);
	if (filter_fs && fs != filter_fs)
		return 0;
	dev = H(bio_dev)(bio);
	if (filter_dev && dev != filter_dev)
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
	e->kind = H(kind_of_bioc)(bioc);
	e->fs = fs;
	e->dev = dev;
	e->len = RD(bio, bi_iter.bi_size);
	e->offset = RD(ti, offset);
	e->devid = RD(ti, devid);
	e->full_stripe = H(full_stripe_of)(bioc);
	e->ts_ns = bpf_ktime_get_ns();
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/*
 * One program per tracepoint in this attach type: btf_<name> or raw_<name>.
 * PROGRAM(name, tp, ...) attaches to tp under another name: a second form
 * of a tracepoint whose arguments changed, or a tracepoint renamed.
 */
#undef PROGRAM
#undef TRACEPOINT
#undef COPY
#define PROGRAM(name, tp, call, args...) \
	SEC(PROG_SEC(tp))                \
	int BBS_PROG(H(name), ##args)    \
	{                                \
		if (events_only)         \
			return 0;        \
		return call;             \
	}
#define TRACEPOINT(tp, call, args...) PROGRAM(tp, tp, call, ##args)
/*
 * COPY(name, tp, ...): <name>_copy, the second program of a tracepoint
 * whose skipped runs lose data (bbscope.bpf.c "Copies"); loaded and
 * attached, after the first, only where tracepoints are preemptible.
 */
#define COPY(name, tp, call, args...) PROGRAM(name##_copy, tp, call, ##args)

TRACEPOINT(block_bio_queue, H(on_bio_queue)(bio, false), struct bio *bio)
COPY(block_bio_queue, block_bio_queue, H(on_bio_queue)(bio, true), struct bio *bio)
/* Before 5.11 block_bio_queue also passed the request_queue. */
PROGRAM(block_bio_queue_q, block_bio_queue, H(on_bio_queue)(bio, false), struct request_queue *q,
	struct bio *bio)
COPY(block_bio_queue_q, block_bio_queue, H(on_bio_queue)(bio, true), struct request_queue *q,
     struct bio *bio)
TRACEPOINT(block_rq_issue, H(walk_rq)(rq, false, false), struct request *rq)
COPY(block_rq_issue, block_rq_issue, H(walk_rq)(rq, false, true), struct request *rq)
TRACEPOINT(block_rq_complete, H(walk_rq)(rq, true, false), struct request *rq, blk_status_t error,
	   unsigned int nr_bytes)
COPY(block_rq_complete, block_rq_complete, H(walk_rq)(rq, true, true), struct request *rq,
     blk_status_t error, unsigned int nr_bytes)
TRACEPOINT(block_bio_complete, H(on_bio_complete)(bio, false), struct request_queue *q,
	   struct bio *bio)
COPY(block_bio_complete, block_bio_complete, H(on_bio_complete)(bio, true), struct request_queue *q,
     struct bio *bio)
TRACEPOINT(workqueue_queue_work, H(on_queue_work)(pwq, work), int cpu, struct pool_workqueue *pwq,
	   struct work_struct *work)
TRACEPOINT(workqueue_execute_start, H(on_execute_start)(work, false), struct work_struct *work)
COPY(workqueue_execute_start, workqueue_execute_start, H(on_execute_start)(work, true),
     struct work_struct *work)
#if BBS_BTF
/*
 * tp_btf refuses to load the function argument (a pointer to a function
 * type: "arg1 type FUNC_PROTO is not a struct").  It is the context's
 * second word, and struct callback_head { next; func; } has its function
 * pointer there too: a checked load through the context re-typed as one
 * reads it as a number, no helper call.
 */
static __always_inline __u64 H(execute_end_func)(unsigned long long *ctx)
{
	__u64 func = 0;

	if (bpf_core_field_offset(struct callback_head, func) == sizeof(__u64))
		func = (__u64)CAST(ctx, callback_head)->func;
	else
		bpf_probe_read_kernel(&func, sizeof(func), (void *)ctx + sizeof(__u64));
	return func;
}
TRACEPOINT(workqueue_execute_end, H(on_execute_end)(work, H(execute_end_func)(ctx), false),
	   struct work_struct *work)
COPY(workqueue_execute_end, workqueue_execute_end,
     H(on_execute_end)(work, H(execute_end_func)(ctx), true), struct work_struct *work)
#else
TRACEPOINT(workqueue_execute_end, H(on_execute_end)(work, (__u64)function, false),
	   struct work_struct *work, work_func_t function)
COPY(workqueue_execute_end, workqueue_execute_end, H(on_execute_end)(work, (__u64)function, true),
     struct work_struct *work, work_func_t function)
#endif
TRACEPOINT(btrfs_work_sched, H(on_btrfs_work_sched)(work, false), struct btrfs_work *work)
COPY(btrfs_work_sched, btrfs_work_sched, H(on_btrfs_work_sched)(work, true),
     struct btrfs_work *work)
TRACEPOINT(btrfs_ordered_sched, H(on_btrfs_ordered_sched)(false), struct btrfs_work *work)
COPY(btrfs_ordered_sched, btrfs_ordered_sched, H(on_btrfs_ordered_sched)(true),
     struct btrfs_work *work)
TRACEPOINT(btrfs_ordered_extent_add, H(on_ordered_add)(inode, oe, false), struct btrfs_inode *inode,
	   struct btrfs_ordered_extent *oe)
COPY(btrfs_ordered_extent_add, btrfs_ordered_extent_add, H(on_ordered_add)(inode, oe, true),
     struct btrfs_inode *inode, struct btrfs_ordered_extent *oe)
TRACEPOINT(btrfs_ordered_extent_remove, H(on_ordered_remove)(oe, false), struct btrfs_inode *inode,
	   struct btrfs_ordered_extent *oe)
COPY(btrfs_ordered_extent_remove, btrfs_ordered_extent_remove, H(on_ordered_remove)(oe, true),
     struct btrfs_inode *inode, struct btrfs_ordered_extent *oe)
TRACEPOINT(raid56_write, H(on_raid56_io)(rbio, bio, ti, BBS_OP_WRITE), struct btrfs_raid_bio *rbio,
	   struct bio *bio, struct raid56_bio_trace_info *ti)
TRACEPOINT(raid56_read, H(on_raid56_io)(rbio, bio, ti, BBS_OP_READ), struct btrfs_raid_bio *rbio,
	   struct bio *bio, struct raid56_bio_trace_info *ti)
/* 6.1 named them raid56_write_stripe and raid56_read_partial. */
TRACEPOINT(raid56_write_stripe, H(on_raid56_io)(rbio, bio, ti, BBS_OP_WRITE),
	   struct btrfs_raid_bio *rbio, struct bio *bio, struct raid56_bio_trace_info *ti)
TRACEPOINT(raid56_read_partial, H(on_raid56_io)(rbio, bio, ti, BBS_OP_READ),
	   struct btrfs_raid_bio *rbio, struct bio *bio, struct raid56_bio_trace_info *ti)
TRACEPOINT(irq_handler_entry, ctx_enter(1), int irq, struct irqaction *action)
TRACEPOINT(irq_handler_exit, ctx_exit(1), int irq, struct irqaction *action, int ret)
TRACEPOINT(softirq_entry, ctx_enter(0), unsigned int vec)
TRACEPOINT(softirq_exit, ctx_exit(0), unsigned int vec)
