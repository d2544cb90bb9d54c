/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the kernel generations bbscope traces, in one
 * place.  Each helper names the change it copes with and is chosen by a
 * CO-RE existence check, or by what user space found at start (which
 * functions exist: fn[], fn_class[], fn_work_ops[]; user/host/kernel.c), never
 * by a version number.  Included by handlers.bpf.h once per attach type (H()).
 *
 * The generations, as Debian ships them and this machine runs:
 *   5.10  Debian 11: btrfs is a module without BTF; bios end in
 *         btrfs_end_bio, read end_io runs as a struct btrfs_work
 *         (end_workqueue_fn); no raid56 bio tracepoints.
 *   6.1   Debian 12: struct btrfs_bio embeds the bio but has neither inode
 *         nor fs_info; read end_io is btrfs_end_bio_work; raid56 rmw and
 *         recover take two work items each.
 *   6.12  Debian 13: btrfs_bio has inode and fs_info; rmw_rbio_work.
 *   6.18  with the btrfs_bio::async_csum series: every btrfs end_io is a
 *         work item (simple/orig_write/clone_write_end_io_work), btrfs_bio
 *         has inode but no fs_info.
 * Module BTF (6.1+) makes btrfs's types relocatable even where btrfs is a
 * module; bpf_rdonly_cast takes vmlinux types only, so the tp_btf attach type
 * is used where btrfs is built in (user/trace/tracer.c decides).
 */

#ifndef BBS_KERNEL_TYPES
#define BBS_KERNEL_TYPES
/* 5.12, "block: switch bio to bi_bdev": before it a bio named its disk and partition. */
struct bio___bi_disk {
	struct gendisk *bi_disk;
	__u8 bi_partno;
} __attribute__((preserve_access_index));

/* 6.12: struct btrfs_bio carries fs_info (gone again with the async csum series). */
struct btrfs_bio___fs_info {
	struct btrfs_fs_info *fs_info;
} __attribute__((preserve_access_index));

/* 6.1: the read iterator was `iter`, before it became saved_iter. */
struct btrfs_bio___iter {
	struct bvec_iter iter;
} __attribute__((preserve_access_index));

/* 6.1: an rbio's second work item (parity after the rmw reads, the rebuild of a recover). */
struct btrfs_raid_bio___end_io_work {
	struct work_struct end_io_work;
} __attribute__((preserve_access_index));

/* 6.1: a raid56 bioc had the stripe's logical addresses, not full_stripe_logical. */
struct btrfs_io_context___raid_map {
	__u64 *raid_map;
} __attribute__((preserve_access_index));

/* 6.1: the offloaded checksum's struct held the VFS inode and the bio. */
struct async_submit_bio___inode {
	struct inode *inode;
	struct bio *bio;
} __attribute__((preserve_access_index));

/*
 * 5.10 (btrfs without BTF: nothing to relocate against).  Read end_io runs
 * as a struct btrfs_work (fs/btrfs/async-thread.h) embedded in a struct
 * btrfs_end_io_wq (fs/btrfs/disk-io.c):
 *   struct btrfs_work { btrfs_func_t func, ordered_func, ordered_free;
 *                       struct work_struct normal_work; ... };
 *   struct btrfs_end_io_wq { struct bio *bio; bio_end_io_t *end_io;
 *                            void *private; struct btrfs_fs_info *info;
 *                            blk_status_t status; enum ... metadata;
 *                            struct btrfs_work work; };
 * The offsets are fixed here; a bio found through them is used only when
 * the tracer is already following it (a key in the bios table) and the
 * btrfs_work's func is end_workqueue_fn, so a different layout costs the
 * read end_io spans, not wrong data.
 */
#define LEGACY_BTRFS_WORK_NORMAL_WORK 24 /* offsetof(struct btrfs_work, normal_work) */
#define LEGACY_END_IO_WQ_WORK 40 /* offsetof(struct btrfs_end_io_wq, work) */
#define LEGACY_END_IO_WQ_BIO 0 /* offsetof(struct btrfs_end_io_wq, bio) */

/* Kernels without btrfs BTF (5.10 modules): no btrfs struct can be read. */
#define HAVE_BTRFS_BTF bpf_core_type_exists(struct btrfs_fs_info)
#endif

/*
 * The block device a bio goes to, as bd_dev.  5.12 ("block: switch bio to
 * bi_bdev") replaced bi_disk and bi_partno by bi_bdev.
 */
static __always_inline __u32 H(bio_dev)(const struct bio *bio)
{
	struct bio___bi_disk *old = (void *)bio;
	struct gendisk *disk;

	if (bpf_core_field_exists(bio->bi_bdev))
		return RD(bio, bi_bdev, bd_dev);
	disk = BPF_CORE_READ(old, bi_disk);
	return (BPF_CORE_READ(disk, major) << 20) |
	       (BPF_CORE_READ(disk, first_minor) + BPF_CORE_READ(old, bi_partno));
}

/* Does the bio go to a bio-based device (no blk-mq: no requests to see)? */
static __always_inline bool H(bio_is_bio_based)(const struct bio *bio)
{
	struct bio___bi_disk *old = (void *)bio;

	if (bpf_core_field_exists(bio->bi_bdev))
		return !RD(bio, bi_bdev, bd_disk, queue, mq_ops);
	return !BPF_CORE_READ(old, bi_disk, queue, mq_ops);
}

static __always_inline __u32 H(fs_of_inode)(const struct btrfs_inode *inode)
{
	return RD(inode, root, fs_info, sb, s_dev);
}

/*
 * The filesystem of a single-device btrfs bio (btrfs_simple_end_io).
 * 6.12 reads bbio->fs_info; 6.18 (async csum series) dropped it, its inode
 * leads there; 6.1 has neither and put fs_info in bi_private.
 */
static __always_inline __u32 H(fs_of_simple)(const struct bio *bio)
{
	struct btrfs_bio *bbio =
		CAST((void *)bio - bpf_core_field_offset(struct btrfs_bio, bio), btrfs_bio);
	struct btrfs_fs_info *fs_info;

	if (bpf_core_field_exists(struct btrfs_bio___fs_info, fs_info)) {
		fs_info = BPF_CORE_READ((struct btrfs_bio___fs_info *)bbio, fs_info);
		return BPF_CORE_READ(fs_info, sb, s_dev);
	}
	if (bpf_core_field_exists(bbio->inode))
		return H(fs_of_inode)(RD(bbio, inode));
	fs_info = CAST(RD(bio, bi_private), btrfs_fs_info);
	return RD(fs_info, sb, s_dev);
}

/*
 * The filesystem a btrfs bio belongs to, by its bi_end_io: mirrored writes
 * point at their btrfs_io_stripe, raid56 strips at their rbio, superblock
 * writes at their device (6.1 to 6.18 alike).  0 without btrfs BTF: the
 * caller then asks the devs map user space fills.
 */
static __always_inline __u32 H(fs_of_bio)(const struct bio *bio, int fn_idx)
{
	struct btrfs_io_stripe *stripe;
	struct btrfs_raid_bio *rbio;
	struct btrfs_device *device;

	if (!HAVE_BTRFS_BTF)
		return 0;
	switch (fn_idx) {
	case FN_ORIG_WRITE_END_IO:
	case FN_CLONE_WRITE_END_IO:
		stripe = CAST(RD(bio, bi_private), btrfs_io_stripe);
		return RD(stripe, bioc, fs_info, sb, s_dev);
	case FN_RAID_WRITE_END_IO:
	case FN_RAID_READ_END_IO:
		rbio = CAST(RD(bio, bi_private), btrfs_raid_bio);
		return RD(rbio, bioc, fs_info, sb, s_dev);
	case FN_SUPER_END_IO:
		device = CAST(RD(bio, bi_private), btrfs_device);
		return RD(device, fs_info, sb, s_dev);
	case FN_SIMPLE_END_IO:
		return H(fs_of_simple)(bio);
	default:
		return 0;
	}
}

/* data or metadata: raid56 strips by their block group, the rest by REQ_META. */
static __always_inline __u8 H(kind_of_bio)(const struct bio *bio, int fn_idx, int class, __u32 opf)
{
	struct btrfs_raid_bio *rbio;

	if (class == CLASS_SUPER)
		return KIND_SUPER;
	if (class == CLASS_BBIO)
		return kind_of_opf(opf);
	/* 5.10's strips: the block group cannot be read without btrfs BTF. */
	if (!HAVE_BTRFS_BTF || fn_idx == FN_RAID_WQ_END_IO)
		return KIND_DATA;
	rbio = CAST(RD(bio, bi_private), btrfs_raid_bio);
	return kind_of_map_type(RD(rbio, bioc, map_type));
}

/*
 * The bio whose btrfs end_io a work item runs, 0 if it is no end_io work:
 *   async csum series: simple/orig_write/clone_write_end_io_work, and
 *   6.1 until then: btrfs_end_bio_work (reads), on btrfs_bio.end_io_work;
 *   5.10: btrfs_work_helper running end_workqueue_fn (the layouts above).
 */
static __always_inline __u64 H(endio_work_bio)(struct work_struct *work, __u64 func)
{
	__u64 bwork, wq, bio = 0, bfunc = 0;

	if (bpf_core_field_exists(struct btrfs_bio, end_io_work)) {
		if (fn_is(func, FN_SIMPLE_WORK) || fn_is(func, FN_ORIG_WRITE_WORK) ||
		    fn_is(func, FN_CLONE_WRITE_WORK) || fn_is(func, FN_END_BIO_WORK))
			return (__u64)work - bpf_core_field_offset(struct btrfs_bio, end_io_work) +
			       bpf_core_field_offset(struct btrfs_bio, bio);
		return 0;
	}
	if (!fn[FN_END_WORKQUEUE_FN] || !fn_is(func, FN_BTRFS_WORK_HELPER))
		return 0;
	bwork = (__u64)work - LEGACY_BTRFS_WORK_NORMAL_WORK;
	bpf_probe_read_kernel(&bfunc, sizeof(bfunc), (void *)bwork);
	if (!fn_is(bfunc, FN_END_WORKQUEUE_FN))
		return 0;
	wq = bwork - LEGACY_END_IO_WQ_WORK;
	bpf_probe_read_kernel(&bio, sizeof(bio), (void *)(wq + LEGACY_END_IO_WQ_BIO));
	return bio;
}

/*
 * An end_io work item ended whose execute_start the tracer never saw.  On
 * 7.3 (Debian's) the workqueue programs are seen to skip runs: bpftool
 * shows recursion_misses, the kernel's skip of a program still running on
 * the same CPU (one preempted, or interrupted by a softirq running a BH
 * work item).  The bio would wait in the table for the sweep and its
 * bytes never count: account it now, without an end_io span.  raw_tp
 * gets the work function as the tracepoint's second argument (5.5); only
 * the work's address is used, the work itself may be freed by now.
 */
static __always_inline void H(endio_missed)(struct work_struct *work, __u64 func)
{
	struct bbs_bio_state *st;
	__u64 bio, *slot;

	/* 5.10's end_io work would have to be read: left to the sweep. */
	if (!func || !maybe_btrfs_work(func) ||
	    !bpf_core_field_exists(struct btrfs_bio, end_io_work))
		return;
	bio = H(endio_work_bio)(work, func);
	st = bio && bio_maybe_followed(bio) ? bios_find(bio, &slot) : NULL;
	if (!st || !st->queue_ns)
		return;
	/* A work item's end: task context, counted as such (no hop, no span). */
	st->flags |= BIO_F_ENDIO_UNSEEN;
	st->endio_ctx = cur_ctx();
	account_bio(st, bpf_ktime_get_ns(), st->endio_ctx);
	bios_free(st, slot);
}

/*
 * The struct worker of the kworker running this work item: kthread_data().
 * 5.17 moved the struct kthread pointer from set_child_tid to worker_private.
 */
static __always_inline struct worker *H(cur_worker)(struct task_struct *task)
{
	void *k;

	if (bpf_core_field_exists(task->worker_private))
		k = RD(task, worker_private);
	else
		k = (void *)BPF_CORE_READ(task, set_child_tid);
	return CAST(RD(CAST(k, kthread), data), worker);
}

/*
 * The btrfs logical address of a data bio, where the kernel keeps it: a read
 * saves its iterator before mapping (saved_iter; `iter` on 6.1); a mirrored
 * write (dup, raid1*, raid10: the orig and clone bios) points at its stripe
 * of the btrfs_io_context, which has `logical` from 6.3.  0 where unknown
 * and for single-device writes, which have no copies to tell apart.
 */
static __always_inline __u64 H(logical_of)(struct bio *bio, int fn_idx, __u8 op)
{
	struct btrfs_io_stripe *stripe;
	struct btrfs_bio *bbio;

	if (!HAVE_BTRFS_BTF)
		return 0;
	if (op == BBS_OP_READ) {
		if (fn_idx != FN_SIMPLE_END_IO)
			return 0;
		bbio = CAST((void *)bio - bpf_core_field_offset(struct btrfs_bio, bio), btrfs_bio);
		if (bpf_core_field_exists(bbio->saved_iter))
			return RD(bbio, saved_iter.bi_sector) << 9;
		if (bpf_core_field_exists(struct btrfs_bio___iter, iter))
			return BPF_CORE_READ((struct btrfs_bio___iter *)bbio, iter.bi_sector) << 9;
		return 0;
	}
	if ((fn_idx != FN_ORIG_WRITE_END_IO && fn_idx != FN_CLONE_WRITE_END_IO) ||
	    !bpf_core_field_exists(struct btrfs_io_context, logical))
		return 0;
	stripe = CAST(RD(bio, bi_private), btrfs_io_stripe);
	return RD(stripe, bioc, logical);
}

/*
 * The offloaded checksum of run_one_async_start: the filesystem, kind and
 * bio it works on.  6.12 keeps the btrfs_bio; 6.1 kept the VFS inode and
 * the bio.
 */
static __always_inline __u32 H(async_csum_of)(struct btrfs_work *work, __u8 *kind, __u64 *id)
{
	void *async = (void *)work - bpf_core_field_offset(struct async_submit_bio, work);
	struct async_submit_bio___inode *old = async;
	struct btrfs_bio *bbio;
	struct bio *bio;

	if (bpf_core_field_exists(struct async_submit_bio, bbio)) {
		bbio = RD(CAST(async, async_submit_bio), bbio);
		*kind = kind_of_opf(RD(bbio, bio.bi_opf));
		*id = (__u64)bbio + bpf_core_field_offset(struct btrfs_bio, bio);
		if (bpf_core_field_exists(struct btrfs_bio___fs_info, fs_info))
			return BPF_CORE_READ((struct btrfs_bio___fs_info *)bbio, fs_info, sb,
					     s_dev);
		return H(fs_of_inode)(RD(bbio, inode));
	}
	bio = BPF_CORE_READ(old, bio);
	*kind = kind_of_opf(BPF_CORE_READ(bio, bi_opf));
	*id = (__u64)bio;
	return BPF_CORE_READ(old, inode, i_sb, s_dev);
}

/* The logical address of a raid56 full stripe: its first data strip's (6.1: raid_map[0]). */
static __always_inline __u64 H(full_stripe_of)(struct btrfs_io_context *bioc)
{
	struct btrfs_io_context___raid_map *old = (void *)bioc;
	__u64 *map, logical = 0;

	if (bpf_core_field_exists(bioc->full_stripe_logical))
		return RD(bioc, full_stripe_logical);
	if (!bpf_core_field_exists(old->raid_map))
		return 0;
	map = BPF_CORE_READ(old, raid_map);
	bpf_probe_read_kernel(&logical, sizeof(logical), map);
	return logical;
}
