/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the BPF tracer and user space agree on: map keys and values, phase
 * and context numbering, and the event records streamed by `bbscope record`.
 * Nothing else lives here.  Everything is fixed-width so both sides (and the
 * trace file) see the same layout.
 */
#ifndef BBSCOPE_H
#define BBSCOPE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/*
 * The phases of a btrfs bio's life.  The names (bbs_phase_name[] in user/model/names.c)
 * are the JSON keys, the histogram titles and the words the docs use.
 */
enum bbs_phase {
	PHASE_QUEUE, /* block_bio_queue -> block_rq_issue (request-based) */
	PHASE_DEVICE, /* issue (bio-based: queue) -> block_bio_complete */
	PHASE_HOP, /* bio completion -> btrfs end_io work starts */
	PHASE_ENDIO, /* btrfs end_io work start -> end */
	PHASE_TOTAL, /* block_bio_queue -> end of end_io (or completion) */
	PHASE_CSUM, /* data/metadata checksum work, where observable */
	PHASE_ORDERED, /* ordered extent add -> remove (finished) */
	PHASE_RMW, /* raid56 rmw_rbio work item runtime */
	PHASE_RECOVER, /* raid56 recover_rbio work item runtime */
	NR_PHASES,
};

/*
 * Log-linear histogram: every power of two is split into HIST_SUB linear
 * sub-buckets, so a percentile read from it is within 1/HIST_SUB of a
 * power of two (25% with 4) of the true value.  Values below HIST_SUB land
 * in their own slot.  HIST_SLOTS covers up to 2^42 ns (about 73 minutes);
 * larger values are clamped into the last slot (max_ns stays exact).
 */
#define HIST_SUB_BITS 2
#define HIST_SUB (1 << HIST_SUB_BITS)
#define HIST_MAX_LOG2 42
#define HIST_SLOTS ((HIST_MAX_LOG2 - HIST_SUB_BITS + 1) * HIST_SUB)

struct bbs_hist {
	__u64 count;
	__u64 sum_ns;
	__u64 max_ns;
	__u64 slots[HIST_SLOTS];
};

/*
 * Prefixed, unlike the other enums here: the BPF side includes vmlinux.h,
 * which has OP_READ and OP_WRITE of its own (checked on 6.18's BTF).
 */
enum bbs_op {
	BBS_OP_READ,
	BBS_OP_WRITE,
	BBS_NR_OPS,
};

enum bbs_kind {
	KIND_DATA,
	KIND_METADATA,
	KIND_SUPER, /* superblock copies: not btrfs_bios, but on the device */
	NR_KINDS,
};

/* The context a completion or an end_io ran in. */
enum bbs_ctx {
	CTX_HARDIRQ,
	CTX_SOFTIRQ,
	CTX_TASK,
	NR_CTX,
};

/*
 * What a histogram is split by.  fs is the btrfs super_block's s_dev and dev
 * the block device's bd_dev, both in the kernel's dev_t encoding
 * (major << 20 | minor).  dev is 0 for logical phases that belong to the
 * filesystem rather than one device (csum, ordered, rmw, recover).
 * epoch is the interval double buffer: BPF accounts into the epoch user
 * space announced, user space drains the other one.  level is the context
 * (enum bbs_ctx) the entry is written from: per-CPU entries are updated with
 * plain adds, safe because a program only nests over one of another level
 * (an interrupt over a task).  User space merges the levels.
 */
struct bbs_group {
	__u32 fs;
	__u32 dev;
	__u8 op;
	__u8 kind;
	__u8 epoch;
	__u8 level;
};

struct bbs_hist_key {
	struct bbs_group g;
	__u32 phase;
};

/* Per-group counters beside the histograms. */
struct bbs_stats {
	__u64 bios;
	__u64 bytes;
	__u64 complete_ctx[NR_CTX];
	__u64 endio_ctx[NR_CTX];
	__u64 stripe_writes; /* raid56_write: per-device stripe writes */
	__u64 stripe_reads; /* raid56_read */
};

#define WQ_NAME_LEN 32
/* The workqueues a group's end_io work ran on, by workqueue_struct pointer. */
#define BBS_WQ_SLOTS 4
struct bbs_wq_slot {
	__u64 wq; /* struct workqueue_struct *; name in the wq_names map */
	__u64 count; /* end_io work items run on it */
};

/*
 * Everything per device group in one per-CPU value, so that finishing a
 * bio costs one map lookup: counters, the device phases' histograms
 * (PHASE_QUEUE .. PHASE_TOTAL) and the end_io workqueues.
 */
#define NR_DEVICE_PHASES (PHASE_TOTAL + 1)
struct bbs_group_val {
	struct bbs_stats stats;
	struct bbs_hist phases[NR_DEVICE_PHASES];
	struct bbs_wq_slot wq[BBS_WQ_SLOTS];
	__u64 wq_other; /* end_io work on a workqueue beyond the slots */
};

struct bbs_spill {
	struct bbs_hist_key key; /* key.phase: SPILL_GROUP or a filesystem phase */
	__u32 used;
	struct bbs_group_val val;
};

/*
 * The `spill` per-CPU array, SPILL_WAYS slots for each epoch and context
 * level, so that user space drains one epoch's slots while BPF writes the
 * other's, and nested programs (always another level) never share a slot.
 * Each CPU's copy of a slot holds its own key: key.phase is SPILL_GROUP for
 * a group (val), else the phase of a filesystem histogram (val.phases[0]).
 * A group is looked for there first, in GROUP_CACHE_WAYS ways from a hash
 * of it (an inlined array lookup instead of the `groups` hash's helper
 * call); so is what BPF cannot allocate in `groups` or `hists` (a per-CPU
 * value allocated in atomic context can fail), in any way.  User space folds
 * and frees the closed epoch's slots at each drain.
 */
#define SPILL_WAYS 8
#define GROUP_CACHE_WAYS 2
#define NR_SPILL (2 * NR_CTX * SPILL_WAYS)
#define SPILL_GROUP NR_PHASES
/*
 * In-flight state of one btrfs bio, in the `bios` table.  queue_ns is 0
 * while a slot is being filled or after it is freed.
 */
struct bbs_bio_state {
	__u64 queue_ns;
	__u64 issue_ns;
	__u64 complete_ns;
	__u64 start_ns; /* end_io work start */
	__u64 sector;
	__u64 wq; /* struct workqueue_struct * of the end_io work */
	__u64 logical;
	struct bbs_group g;
	__u32 bytes;
	__u32 pid;
	__u8 class; /* enum bbs_bio_class */
	__u8 flags; /* BIO_F_* */
	__u8 complete_ctx;
	__u8 endio_ctx;
	__u8 cpu_complete;
	__u8 cpu_endio;
	__u8 pad[2];
	char comm[16];
};

/*
 * Tables keyed by a kernel pointer (`bios`, `ordered`): an array of buckets;
 * a pointer hashes to a bucket and lives in one of its TABLE_WAYS ways,
 * found by comparing keys (the pointer; 0 when free).  A state's first
 * field is its start time, 0 while free or being filled.  User space maps
 * the tables to sweep entries that never end.
 */
#define TABLE_WAYS 4
#define BIO_BUCKETS 16384
#define ORDERED_BUCKETS 4096
#define RBIO_BUCKETS 1024
/*
 * --sample: a count per slot of the `bios` keys hashing there
 * (bpf/bbscope.bpf.c bio_filter), slot = (((u32)key * 0x9e3779b1) >> 8) %
 * BIO_FILTER_SLOTS; the user-space sweeper takes back the ways it frees.
 */
#define BIO_FILTER_SLOTS 1024
#define BIO_FILTER_MUL 0x9e3779b1U

struct bbs_bio_bucket {
	__u64 key[TABLE_WAYS];
	struct bbs_bio_state st[TABLE_WAYS];
};

/* An ordered extent in flight, keyed by struct btrfs_ordered_extent *. */
struct bbs_ordered_state {
	__u64 start_ns;
	__u32 fs;
	__u32 pad;
};

struct bbs_ordered_bucket {
	__u64 key[TABLE_WAYS];
	struct bbs_ordered_state st[TABLE_WAYS];
};

/*
 * A raid56 rmw or recover between its two work items, keyed by struct
 * btrfs_raid_bio *: kernels before 6.3 (6.1) submit the strip reads in one
 * work item and generate parity (or rebuild) in a second one.
 */
struct bbs_rbio_state {
	__u64 start_ns;
	__u32 fs;
	__u8 phase; /* PHASE_RMW or PHASE_RECOVER */
	__u8 kind;
	__u8 pad[2];
};

struct bbs_rbio_bucket {
	__u64 key[TABLE_WAYS];
	struct bbs_rbio_state st[TABLE_WAYS];
};

/*
 * raw_tp: what a block device is, in the `devs` map (key: bd_dev), learned
 * from its first btrfs bio and forgotten every second.  On kernels without
 * btrfs BTF (5.10) user space fills in each btrfs device's filesystem, with
 * bio_based DEV_UNKNOWN for BPF to learn.
 */
#define DEV_UNKNOWN 2
struct bbs_dev_info {
	__u32 fs;
	__u8 bio_based; /* 0, 1, or DEV_UNKNOWN */
	__u8 pad[3];
};

/*
 * Function phases (hist --func): up to MAX_FUNCS kernel functions timed
 * with fentry/fexit or kprobe/kretprobe, each in its slot.  Each call is
 * attributed to the raid56 operation it ran under, or to the filesystem,
 * and gives two samples: its total time, and its self time (total minus
 * the traced functions it called).  They go to the `hists` map under
 * phase FUNC_PHASE(slot, under, self), in the filesystem's write/data
 * group.
 */
#define MAX_FUNCS 16
#define FUNC_DEPTH 8 /* traced calls nested on one thread */
enum bbs_under {
	UNDER_FS, /* no raid56 operation */
	UNDER_RMW,
	UNDER_RECOVER,
	UNDER_SCRUB,
	NR_UNDER,
};

/* What a traced function's first argument is, to find its filesystem (func_arg). */
enum bbs_func_arg {
	FARG_NONE, /* nothing usable: the caller's filesystem and operation */
	FARG_RBIO, /* struct btrfs_raid_bio *: its bioc's fs, its operation */
	FARG_BBIO, /* struct btrfs_bio * */
	FARG_BTRFS_INODE, /* struct btrfs_inode * */
	FARG_INODE, /* struct inode * */
};

#define FUNC_PHASE_BASE 32
#define FUNC_PHASE(slot, under, self) (FUNC_PHASE_BASE + ((slot)*NR_UNDER + (under)) * 2 + (self))

/* Why an observation was lost; counted per CPU in the `lost` map. */
enum bbs_lost {
	LOST_BIO_MAP_FULL, /* bios table: all ways of a bucket in flight */
	LOST_WORK_MAP_FULL, /* work/thread/ordered extent state full */
	LOST_RQ_WALK, /* request had more bios than the issue walk covers */
	LOST_RINGBUF, /* record mode: ring buffer full */
	LOST_GROUP_MAP_FULL, /* more groups or histograms than the maps hold */
	LOST_FUNC_STACK, /* traced functions nested deeper than FUNC_DEPTH, or unpaired */
	NR_LOST_BPF,
};

/*
 * Kernel functions resolved from /proc/kallsyms (btrfs's carry a " [btrfs]"
 * suffix where it is a module) at start and handed to BPF as read-only
 * data.  Each is a role; user/host/kernel.c names the function that plays it on
 * each kernel generation.  A missing one is 0 and its path is not seen.
 *
 * The first FN_NR_END_IO are bi_end_io functions: a bio queued with one of
 * them is a btrfs bio, and user space says per function what class of bio
 * it is (fn_class) and for which ops its btrfs end_io runs as a work item
 * rather than inline at completion (fn_work_ops).
 */
enum bbs_fn {
	FN_SIMPLE_END_IO, /* btrfs_simple_end_io: single-device bios (6.1+) */
	FN_ORIG_WRITE_END_IO, /* btrfs_orig_write_end_io: last copy of a mirrored write */
	FN_CLONE_WRITE_END_IO, /* btrfs_clone_write_end_io: the other copies */
	FN_END_BIO, /* btrfs_end_bio: every mapped data/metadata bio (5.10) */
	FN_RAID_WRITE_END_IO, /* raid56 strip writes: raid_wait_write_end_io, raid_write_end_io */
	FN_RAID_READ_END_IO, /* raid56 strip reads: raid_wait_read_end_io, raid56_bio_end_io */
	FN_RAID_WQ_END_IO, /* end_workqueue_bio: raid56 strip reads, wrapped (5.10) */
	FN_SUPER_END_IO, /* btrfs_end_super_write */
	FN_NR_END_IO, /* the end_io functions end here */
	FN_BIO_CHAIN_END_IO = FN_NR_END_IO, /* bio_chain_endio: block layer split child */
	FN_SIMPLE_WORK, /* simple_end_io_work (async csum series) */
	FN_ORIG_WRITE_WORK, /* orig_write_end_io_work (async csum series) */
	FN_CLONE_WRITE_WORK, /* clone_write_end_io_work (async csum series) */
	FN_END_BIO_WORK, /* btrfs_end_bio_work: read end_io work (6.1 until the series) */
	FN_BTRFS_WORK_HELPER, /* btrfs_work_helper: runs every struct btrfs_work */
	FN_END_WORKQUEUE_FN, /* end_workqueue_fn: read end_io as a btrfs_work (5.10) */
	FN_CSUM_WORK, /* csum_one_bio_work (async csum series) */
	FN_ASYNC_CSUM_START, /* run_one_async_start (offloaded csum) */
	FN_RMW_WORK, /* rmw_rbio_work (6.3+), rmw_work (6.1) */
	FN_RECOVER_WORK, /* recover_rbio_work (6.3+), read_rebuild_work (6.1) */
	FN_RMW_WORK_LOCKED, /* rmw_rbio_work_locked: after waiting for the stripe lock */
	FN_RECOVER_WORK_LOCKED, /* recover_rbio_work_locked */
	FN_RMW_END_WORK, /* raid56_rmw_end_io_work: parity and writes of an rmw (6.1) */
	FN_RECOVER_END_WORK, /* raid_recover_end_io_work: the rebuild of a recover (6.1) */
	NR_FNS,
};

/* What a tracked bio is, by its bi_end_io (fn_class). */
enum bbs_bio_class {
	CLASS_NONE, /* not a btrfs end_io */
	CLASS_BBIO, /* btrfs data/metadata bio: end_io inline or as a work item */
	CLASS_RAID, /* raid56 strip bio, completes inline */
	CLASS_SUPER, /* superblock write, completes inline */
};

/* Record mode: one record per finished bio (ring buffer). */
enum bbs_event_type {
	EV_BIO = 1,
	EV_CSUM,
	EV_ORDERED,
	EV_RBIO,
	EV_STRIPE,
};

#define BIO_F_META (1 << 0)
#define BIO_F_SYNC (1 << 1)
#define BIO_F_FUA (1 << 2)
#define BIO_F_PREFLUSH (1 << 3)
#define BIO_F_BIO_BASED (1 << 4) /* no request: queue/issue not seen */
#define BIO_F_NO_ENDIO (1 << 5) /* end_io ran inline at completion, no work item */
#define BIO_F_ENDIO_WORK (1 << 6) /* end_io is to run as a work item (fn_work_ops) */
/* end_io ran as a work item whose start the kernel skipped (endio_missed):
 * its context is known (task), its hop and endio span are not. */
#define BIO_F_ENDIO_UNSEEN (1 << 7)

struct bbs_event_bio {
	__u8 type; /* EV_BIO */
	__u8 op;
	__u8 kind;
	__u8 flags;
	__u8 complete_ctx;
	__u8 endio_ctx;
	__u8 cpu_complete;
	__u8 cpu_endio;
	__u32 fs;
	__u32 dev;
	__u32 bytes;
	__u32 pid;
	__u64 sector;
	__u64 queue_ns;
	__u64 issue_ns; /* 0 when not seen */
	__u64 complete_ns;
	__u64 endio_start_ns; /* 0 when no end_io work */
	__u64 endio_end_ns;
	__u64 logical; /* btrfs logical address, 0 when unknown */
	char comm[16];
	char wq[WQ_NAME_LEN];
};

/* csum, ordered and rbio work: one span with a start and an end. */
struct bbs_event_span {
	__u8 type; /* EV_CSUM, EV_ORDERED, EV_RBIO */
	__u8 phase;
	__u8 kind;
	__u8 ctx;
	__u32 fs;
	__u32 cpu;
	__u32 pid;
	__u64 start_ns;
	__u64 end_ns;
	__u64 id; /* bio / ordered extent / rbio, for joining */
};

struct bbs_event_stripe {
	__u8 type; /* EV_STRIPE */
	__u8 op;
	__u8 stripe_nr;
	__u8 nr_data;
	__u8 real_stripes;
	__u8 kind; /* of the block group: data or metadata */
	__u8 pad[2];
	__u32 fs;
	__u32 dev;
	__u32 len;
	__u32 offset;
	__u64 devid;
	__u64 full_stripe;
	__u64 ts_ns;
};

#endif /* BBSCOPE_H */
