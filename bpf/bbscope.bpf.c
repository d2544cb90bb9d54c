// SPDX-License-Identifier: GPL-2.0
/*
 * bbscope tracer: follows every btrfs bio from block_bio_queue to the end of
 * its btrfs end_io work item, using tracepoints only.
 *
 *   block_bio_queue      a bio whose bi_end_io is a btrfs one: start state
 *                        (raid56 strips are counted as stripe I/O)
 *   block_rq_issue       walk the request's bios: issue time
 *   block_rq_complete    ... completion time and context; a bio whose
 *                        btrfs end_io runs inline ends here
 *   block_bio_complete   completion of bios on bio-based devices (dm, md,
 *                        zram; first completion wins); where the btrfs
 *                        end_io runs inline, the bio ends here
 *   workqueue_queue_work the btrfs end_io work is queued: on bio-based
 *                        devices this is the completion (attached on demand)
 *   workqueue_execute_*  end_io work runs (hop, endio), rmw/recover runtimes,
 *                        async csum work (kernels with the async_csum series)
 *   btrfs_work_sched     offloaded checksum starts (run_one_async_start)
 *   btrfs_ordered_sched  ... and has ended when the ordered part runs
 *   btrfs_ordered_extent_add/remove   ordered extent lifetime
 *   raid56_write/read    per-device stripe I/O records (record mode)
 *   irq/softirq entry/exit   per-CPU context, where the preempt count
 *                        cannot be read
 *
 * What differs between kernel generations (which end_io runs where, struct
 * layouts, tracepoint arguments) is all in kernel.bpf.h.
 *
 * The handlers live in handlers.bpf.h, compiled twice: once as tp_btf
 * programs that read kernel memory with direct (BTF-checked) loads and keep
 * per-thread state in task storage, once as raw_tp programs that read with
 * bpf_probe_read_kernel and keep it in a hash map.  User space loads the
 * tp_btf set where the kernel allows it, the raw_tp set otherwise.
 *
 * Cost is the design constraint: a fsync'd 4 KiB write is a dozen btrfs bios
 * and twice as many work items, and every event on the hot path is paid by
 * the workload.  Per-bio state is a set-associative table in an array map
 * (no hashing helper, no locks, delete is one store); foreign work items and
 * bios are rejected after one or two loads.
 */
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "bbscope.h"

#define MAX_RQ_BIOS 32
#define REQ_OP_BITS 8
#define PF_WQ_WORKER 0x00000020
/* include/linux/preempt.h */
#define SOFTIRQ_OFFSET 0x00000100
#define HARDIRQ_MASK 0x000f0000
#define NMI_MASK 0x00f00000

const volatile __u64 fn[NR_FNS] = {};
/* Per end_io function (fn[0 .. FN_NR_END_IO)): enum bbs_bio_class, and the
 * ops (bit per enum bbs_op) whose btrfs end_io runs as a work item. */
const volatile __u8 fn_class[FN_NR_END_IO] = {};
const volatile __u8 fn_work_ops[FN_NR_END_IO] = {};
const volatile __u32 filter_fs = 0;
const volatile __u32 filter_dev = 0;
const volatile bool emit_events = false;
/* Benchmarks only: every program returns at once, to measure what the
 * events cost by themselves (tools/bench_overhead.sh, mode "events"). */
const volatile bool events_only = false;
/*
 * The lowest and highest address of the work functions execute_start and
 * queue_work look for (user space): a work item whose func lies outside is
 * no btrfs work, told in two compares, before any other load.
 */
const volatile __u64 work_fn_lo = 0;
const volatile __u64 work_fn_hi = ~0ULL;
/*
 * --sample N: follow one bio (ordered extent, csum/rmw/recover span) in N,
 * chosen by a hash of its address and sector, not by time, so that the
 * histograms stay unbiased; user space scales counts by N.  0 or 1: all.
 */
const volatile __u32 sample_n = 0;
/*
 * Tracepoint probes run preemptibly (user/host/kernel.c tp_preemptible(),
 * a46023d5616e, 7.0): two programs may interleave on one CPU at one context
 * level, so per-CPU adds are atomic and accounting holds the epoch (below).
 * Off elsewhere, where the verifier prunes every branch it guards.
 */
const volatile bool tp_preempt = false;
/* The tp_btf attach type is loaded: the preempt count is read with a checked load. */
const volatile bool pc_direct = false;

/*
 * x86: the distance from runqueues to __preempt_count in .data..percpu (from
 * BTF), which locates this CPU's preempt count from its struct rq; 0 when
 * unknown, and the context then comes from the irq/softirq tracepoints.
 */
const volatile __s64 pc_delta = 0;
/* CPUs where the preempt count could not be located (user space then
 * attaches the irq/softirq tracepoints). */
__u32 pc_failed = 0;

/*
 * Set by user space once the kernel has skipped a run of one of these
 * programs (bpftool's recursion_misses; 7.x, docs/design.md "Kernel
 * generations"): a thread may then hold an end_io whose execute_end was
 * skipped, and every btrfs work item's end must look (on_execute_end).
 */
__u32 skipped_runs_seen = 0;

/*
 * Copies.  The kernel skips a program's run while the same program is
 * still running on that CPU (its per-CPU `active` count), and where
 * tracepoint programs run preemptibly (tp_preempt, a46023d5616e) a run
 * preempted mid-way holds it while other tasks hit the tracepoint.  So the
 * tracepoints whose skipped runs lose a bio or a span have a second
 * program, <name>_copy (handlers.bpf.h COPY): a distinct program with its
 * own `active` count, attached after the first only under tp_preempt.  The
 * tracepoint calls its probes in order, in one task, so the copy runs right
 * after the first for the same event, and acts only where the state the
 * first leaves in the object (never per CPU: the task may migrate between
 * the two) shows it did not run.  rescued_runs counts the copies' runs that
 * acted; both are skipped only if both were preempted mid-run on one CPU.
 */
__u64 rescued_runs = 0;

static __always_inline void rescued(void)
{
	__sync_fetch_and_add(&rescued_runs, 1);
}

/* The interval buffer BPF accounts into; flipped by user space. */
__u32 epoch = 0;
/* Set when a btrfs bio goes to a bio-based device: user space then attaches
 * workqueue_queue_work, the only place such a bio's completion shows. */
__u32 seen_bio_based = 0;
/*
 * Set by user space once block_bio_complete is attached.  bio_endio emits it
 * for every bio block_bio_queue traced that did not end in a request
 * (blk_update_request clears BIO_TRACE_COMPLETION, block_rq_complete covers
 * those): so on a bio-based device (dm, md, zram) it is a btrfs bio's
 * completion, even where btrfs then runs its end_io inline (every kernel
 * before the async csum series: 5.10 dec_pending, 6.1+ __dm_io_complete,
 * zram inside its own submission).
 */
__u32 bio_complete_on = 0;

/*
 * Per-bio state and ordered extents in flight, in pointer-keyed tables
 * (layout in bbscope.h): no hashing helper, no lock, freeing is one store.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, BIO_BUCKETS);
	__type(key, __u32);
	__type(value, struct bbs_bio_bucket);
} bios SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, ORDERED_BUCKETS);
	__type(key, __u32);
	__type(value, struct bbs_ordered_bucket);
} ordered SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, RBIO_BUCKETS);
	__type(key, __u32);
	__type(value, struct bbs_rbio_bucket);
} rbios SEC(".maps");

#define STRIPE_IO_READ 1
#define STRIPE_IO_WRITE 2

/* A span of work on one thread: csum, rmw, recover. */
struct span {
	__u64 start_ns;
	__u64 id;
	__u32 fs;
	__u8 phase;
	__u8 kind;
	__u8 ctx;
	__u8 stripe_io; /* rmw/recover: STRIPE_IO_* issued inside the span */
	__u8 first_half; /* 6.1: the first of an rmw/recover's two work items */
	__u8 parked; /* 6.1: its start is parked for the second (rbio_park) */
};

/*
 * What a kworker thread is running: an end_io work (the bio may be freed
 * and reused inside it, so it is followed by thread), or a csum/rmw/recover
 * span.  A kworker runs one work item at a time.
 */
enum run_what {
	RUN_NONE,
	RUN_ENDIO,
	RUN_SPAN,
};

struct running {
	__u64 ts; /* first: the raw_tp attach type's sweeper reads it */
	__u32 what;
	__u32 pad;
	struct span sp;
	struct bbs_bio_state st;
	__u64 bio; /* RUN_ENDIO: the bio, which bio_filter counts until its end */
};

/* tp_btf: in the thread's task storage, freed with the thread. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct running);
} task_running SEC(".maps");

/* raw_tp: by thread id, filled in place (handlers.bpf.h run_begin). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct running);
} running SEC(".maps");

static const struct running zero_running;

/*
 * Per-CPU values are large (groups: ~7 KiB): not preallocated, so memory
 * follows the groups in use rather than max_entries times the CPUs.  User
 * space creates the entries of every btrfs device ahead (BPF's allocations
 * in atomic context can fail) and zeroes rather than deletes them at each
 * drain; lookups dominate.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 8192);
	__type(key, struct bbs_hist_key);
	__type(value, struct bbs_hist);
} hists SEC(".maps");

/* Per device group: counters, device-phase histograms, end_io workqueues. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct bbs_group);
	__type(value, struct bbs_group_val);
} groups SEC(".maps");

/* Groups BPF could not allocate (bbscope.h); preallocated, as arrays are. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NR_SPILL);
	__type(key, __u32);
	__type(value, struct bbs_spill);
} spill SEC(".maps");

/* Workqueue names, learned the first time a group sees a workqueue. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u64);
	__type(value, char[WQ_NAME_LEN]);
} wq_names SEC(".maps");

/* raw_tp: what a block device is (bbscope.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct bbs_dev_info);
} devs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NR_LOST_BPF);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

/*
 * Per CPU: the address of its preempt count once located (PC_UNUSABLE if it
 * could not be), and hardirq/softirq nesting counted by the irq tracepoints.
 */
#define PC_UNUSABLE 1
struct cpu_ctx {
	__u64 pc_addr;
	__u32 hardirq;
	__u32 softirq;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cpu_ctx);
} cpu_ctx SEC(".maps");

/*
 * tp_preempt: per CPU and epoch (bit 0), the accountings under way, for user
 * space to wait on before it drains an epoch (epoch_hold below).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

static const struct bbs_hist zero_hist;
static const struct bbs_group_val zero_group;

/*
 * Take a table way: its key from old to key.  With a compare-and-swap where
 * the kernel has BPF_ATOMIC (5.12).  Before that (5.10) the verifier refuses
 * the instruction anywhere in the object, so a second object is built
 * without it (BBS_NO_CMPXCHG, user/trace/tracer.c loads it there): a store checked
 * by reading the key back, which misses only another CPU's store between
 * the two.
 */
static __always_inline bool claim_way(__u64 *slot, __u64 old, __u64 key)
{
#ifdef BBS_NO_CMPXCHG
	*(volatile __u64 *)slot = key;
	return *(volatile __u64 *)slot == key;
#else
	return __sync_val_compare_and_swap(slot, old, key) == old;
#endif
}

static __always_inline void lose(__u32 why)
{
	__u64 *v = bpf_map_lookup_elem(&lost, &why);

	if (v)
		__sync_fetch_and_add(v, 1);
}

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

/*
 * Find this CPU's __preempt_count: the running task's runqueue is this CPU's
 * copy of `runqueues`, and pc_delta away from it lies the preempt count.
 * Checked: the runqueue is this CPU's and runs this task, and the count is
 * not 0 (a tracepoint runs with preemption disabled; see below for where
 * it does not).  Once per CPU.
 */
static __always_inline __u64 find_preempt_count(void)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct rq *rq = BPF_CORE_READ(task, se.cfs_rq, rq);
	__u64 addr;
	int pc = 0;

	if (!rq || BPF_CORE_READ(rq, cpu) != bpf_get_smp_processor_id() ||
	    BPF_CORE_READ(rq, curr) != task)
		goto bad;
	addr = (__u64)rq + pc_delta;
	if (bpf_probe_read_kernel(&pc, sizeof(pc), (void *)addr))
		goto bad;
	/*
	 * Where tracepoint programs run preemptibly (a46023d5616e) the count
	 * is 0 in task context: then check only that no bit is set beyond the
	 * NMI field but bit 31 (x86's inverted need-resched while the count
	 * was an int; 7.x's unsigned long has it at bit 63, not read).
	 */
	if (tp_preempt ? (pc & 0x7f000000) : !(pc & 0x7fffffff))
		goto bad;
	return addr;
bad:
	__sync_fetch_and_add(&pc_failed, 1);
	return PC_UNUSABLE;
}

/*
 * The context this program runs in, as in_hardirq()/in_serving_softirq():
 * from the preempt count where it is located, else from the irq tracepoints.
 */
static __always_inline __u8 cur_ctx(void)
{
	__u32 zero = 0, pc;
	struct cpu_ctx *c = bpf_map_lookup_elem(&cpu_ctx, &zero);

	if (!c)
		return CTX_TASK;
	if (pc_delta) {
		if (!c->pc_addr)
			c->pc_addr = find_preempt_count();
		if (c->pc_addr != PC_UNUSABLE) {
			/* Any struct with an int first will do for a checked load. */
			if (pc_direct)
				pc = ((struct refcount_struct *)bpf_rdonly_cast(
					      (void *)c->pc_addr,
					      bpf_core_type_id_kernel(struct refcount_struct)))
					     ->refs.counter;
			else if (bpf_probe_read_kernel(&pc, sizeof(pc), (void *)c->pc_addr))
				pc = 0;
			if (pc & (HARDIRQ_MASK | NMI_MASK))
				return CTX_HARDIRQ;
			if (pc & SOFTIRQ_OFFSET)
				return CTX_SOFTIRQ;
			return CTX_TASK;
		}
	}
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

/* The slot layout is documented in bbscope.h; user/model/hist.c inverts it. */
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

/*
 * Adds to per-CPU values.  The entry is per CPU and per context level
 * (bbs_group.level): a program only nests over one of another level, so
 * where a program runs to its end once begun, nothing else writes it
 * meanwhile and a plain add will do.  Where tracepoint programs run
 * preemptibly (tp_preempt), two of one level interleave on a CPU: atomic.
 * `atomic` is a constant at each call: the caller tests tp_preempt once and
 * calls the inlined function twice, so each copy has no test of its own.
 */
#define PCPU_ADD(atomic, p, v)                          \
	do {                                            \
		if (atomic)                             \
			__sync_fetch_and_add((p), (v)); \
		else                                    \
			*(p) += (v);                    \
	} while (0)

static __always_inline void pcpu_max(__u64 *p, __u64 v, bool atomic)
{
	if (!atomic) {
		if (v > *p)
			*p = v;
		return;
	}
#ifndef BBS_NO_CMPXCHG
	/* Bounded: each failure is another program raising it meanwhile. */
	for (int i = 0; i < 4; i++) {
		__u64 old = *(volatile __u64 *)p;

		if (v <= old || __sync_val_compare_and_swap(p, old, v) == old)
			return;
	}
#else
	if (v > *p)
		*p = v;
#endif
}

/* Count is not kept: user space sums the slots. */
static __always_inline void hist_add(struct bbs_hist *h, __u64 v, bool atomic)
{
	__u32 slot = hist_slot(v);

	PCPU_ADD(atomic, &h->sum_ns, v);
	pcpu_max(&h->max_ns, v, atomic);
	if (slot < HIST_SLOTS)
		PCPU_ADD(atomic, &h->slots[slot], 1);
}

/*
 * The epoch to account into.  User space flips `epoch` and then drains the
 * other one; where programs run preemptibly, one may have read the old
 * epoch and be preempted past any fixed wait.  So under tp_preempt an
 * accounting holds its epoch in the in-flight count of this CPU (migration
 * is disabled for a program's run, so its release is on the same CPU), and
 * user space waits for the old epoch's counts to reach 0.  The count is
 * raised before the epoch is read again: a flip seen then moves the hold to
 * the new epoch; a flip not seen is one user space made after the count
 * rose, and its wait sees the count.
 */
static __always_inline __u64 *inflight_of(__u32 e)
{
	__u32 idx = e & 1;

	return bpf_map_lookup_elem(&inflight, &idx);
}

static __always_inline __u32 epoch_hold(void)
{
	__u32 e = epoch, again;
	__u64 *n = inflight_of(e);

	if (!n)
		return e;
	__sync_fetch_and_add(n, 1);
	again = *(volatile __u32 *)&epoch;
	if (again == e)
		return e;
	/* The next flip is an interval away: no need to check this one. */
	__sync_fetch_and_add(n, -1);
	n = inflight_of(again);
	if (n)
		__sync_fetch_and_add(n, 1);
	return again;
}

static __always_inline void epoch_release(__u32 e)
{
	__u64 *n = inflight_of(e);

	if (n)
		__sync_fetch_and_add(n, -1);
}

/* Take a spill slot of this CPU: a compare-and-swap where the kernel has it. */
static __always_inline bool claim_slot(__u32 *used)
{
#ifdef BBS_NO_CMPXCHG
	*used = 1;
	return true;
#else
	return __sync_val_compare_and_swap(used, 0, 1) == 0;
#endif
}

/*
 * A slot of this CPU's spill (bbscope.h) for key k and phase: the first of
 * nways ways from way on (of its epoch and level's SPILL_WAYS) that holds
 * the key, or is free and taken for it.  NULL when all hold other keys.
 * The claim is a compare-and-swap: where tracepoint programs run
 * preemptibly (7.x) two of one level can meet on a CPU.
 */
static __always_inline struct bbs_group_val *spill_ways(const struct bbs_group *k, __u32 phase,
							__u32 way, __u32 nways)
{
	__u32 base = ((k->epoch & 1) * NR_CTX + k->level % NR_CTX) * SPILL_WAYS, i, idx;
	struct bbs_spill *s;

	for (i = 0; i < nways; i++) {
		idx = base + ((way + i) & (SPILL_WAYS - 1));
		s = bpf_map_lookup_elem(&spill, &idx);
		if (!s)
			return NULL;
		if (!s->used) {
			if (!claim_slot(&s->used))
				continue;
			s->key.g = *k;
			s->key.phase = phase;
			return &s->val;
		}
		if (s->key.phase == phase && s->key.g.fs == k->fs && s->key.g.dev == k->dev &&
		    s->key.g.op == k->op && s->key.g.kind == k->kind)
			return &s->val;
	}
	return NULL;
}

/* Any slot of the spill for an entry that could not be allocated. */
static __always_inline struct bbs_group_val *spill_of(const struct bbs_group *k, __u32 phase)
{
	return spill_ways(k, phase, 0, SPILL_WAYS);
}

/*
 * A group's per-CPU value (phase SPILL_GROUP), or a filesystem phase's
 * histogram (its phases[0]), in the spill array first (bbscope.h): two of
 * its epoch and level's ways, from a hash of the key, taken for it until
 * the next drain.  Array lookups are inlined by the verifier; the `groups`
 * lookup, a helper call hashing the key, cost ~100 ns per bio (6.18, zram
 * 4 KiB reads: bpf_stats, a build with a fixed per-CPU array entry in its
 * place, same rounds).  NULL when both ways hold other keys: then `groups`
 * or `hists`.
 */
static __always_inline struct bbs_group_val *spill_cached(const struct bbs_group *k, __u32 phase)
{
	__u32 way = k->dev ^ (k->dev >> 20) ^ ((__u32)k->op << 1) ^ ((__u32)k->kind << 2) ^ phase;

	return spill_ways(k, phase, way, GROUP_CACHE_WAYS);
}

/* The histogram of key k (its epoch set), or NULL. */
static __always_inline struct bbs_hist *hist_of(struct bbs_hist_key *k, __u32 phase)
{
	struct bbs_group_val *sv = spill_cached(&k->g, phase);
	struct bbs_hist *h;

	if (sv)
		return &sv->phases[0];
	h = bpf_map_lookup_elem(&hists, k);
	if (h)
		return h;
	bpf_map_update_elem(&hists, k, &zero_hist, BPF_NOEXIST);
	h = bpf_map_lookup_elem(&hists, k);
	if (h)
		return h;
	sv = spill_of(&k->g, phase);
	if (sv)
		return &sv->phases[0];
	lose(LOST_GROUP_MAP_FULL);
	return NULL;
}

/*
 * A filesystem phase (csum, ordered, rmw, recover; --func's): one histogram
 * per key.  preemptible: the caller may be preempted mid-run (tp_preempt for
 * tracepoint programs; fentry programs always are).
 */
static __always_inline void fs_hist_add_in(const struct bbs_group *g, __u32 phase, __u64 v,
					   bool preemptible)
{
	struct bbs_hist_key k = { .g = *g, .phase = phase };
	struct bbs_hist *h;
	__u32 e;

	k.g.level = cur_ctx();
	if (preemptible) {
		e = epoch_hold();
		k.g.epoch = e;
		h = hist_of(&k, phase);
		if (h)
			hist_add(h, v, true);
		epoch_release(e);
		return;
	}
	k.g.epoch = epoch;
	h = hist_of(&k, phase);
	if (h)
		hist_add(h, v, false);
}

static __always_inline void fs_hist_add(const struct bbs_group *g, __u32 phase, __u64 v)
{
	fs_hist_add_in(g, phase, v, tp_preempt);
}

/* A group's per-CPU value, of epoch e (epoch_hold) and the context level
 * (cur_ctx()) the caller runs in. */
static __always_inline struct bbs_group_val *group_of(const struct bbs_group *g, __u8 level,
						      __u32 e)
{
	struct bbs_group k = *g;
	struct bbs_group_val *v;

	k.epoch = e;
	k.level = level;
	v = spill_cached(&k, SPILL_GROUP);
	if (v)
		return v;
	v = bpf_map_lookup_elem(&groups, &k);
	if (v)
		return v;
	bpf_map_update_elem(&groups, &k, &zero_group, BPF_NOEXIST);
	v = bpf_map_lookup_elem(&groups, &k);
	if (!v)
		v = spill_of(&k, SPILL_GROUP);
	if (!v)
		lose(LOST_GROUP_MAP_FULL);
	return v;
}

static __always_inline bool maybe_btrfs_work(__u64 func)
{
	return func >= work_fn_lo && func <= work_fn_hi;
}

/* Is the object at key (with salt: a bio's sector) one --sample follows? */
static __always_inline bool sampled(__u64 key, __u64 salt)
{
	__u32 h;

	if (sample_n <= 1)
		return true;
	asm volatile("%[h] = %[key]" : [h] "=w"(h) : [key] "w"((__u32)key));
	h ^= (__u32)salt * 0x85ebca6bU;
	h ^= h >> 16;
	h *= 0x7feb352dU;
	h ^= h >> 15;
	h *= 0x846ca68bU;
	h ^= h >> 16;
	return h % sample_n == 0;
}

static __always_inline int fn_is(__u64 addr, enum bbs_fn which)
{
	return addr && addr == fn[which];
}

/*
 * A pointer as a plain number.  A BTF pointer stays a pointer to the
 * verifier through any move or cast, may not be shifted or multiplied, and
 * cannot be passed to a global function: copy it through the stack.
 */
static __always_inline __u64 ptr_value(const void *p)
{
	__u64 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), &p);
	return v;
}

/* Is this a btrfs end_io function?  (One answer for all: the verifier prunes.) */
static __always_inline bool is_end_io(__u64 end_io)
{
	bool yes = false;
	int i;

	if (!end_io)
		return false;
	for (i = 0; i < FN_NR_END_IO; i++)
		yes |= end_io == fn[i];
	return yes;
}

/* Which end_io function (enum bbs_fn below FN_NR_END_IO) this is; -1 if not btrfs's. */
static __always_inline int end_io_of(__u64 end_io)
{
	int i;

	if (!end_io)
		return -1;
	for (i = 0; i < FN_NR_END_IO; i++)
		if (end_io == fn[i])
			return i;
	return -1;
}

static __always_inline __u8 kind_of_opf(__u32 opf)
{
	__u32 meta = 1U << bpf_core_enum_value(enum req_flag_bits, __REQ_META);

	return (opf & meta) ? KIND_METADATA : KIND_DATA;
}

static __always_inline __u8 kind_of_map_type(__u64 map_type)
{
	/* BTRFS_BLOCK_GROUP_DATA is bit 0 of map_type. */
	return (map_type & 1) ? KIND_DATA : KIND_METADATA;
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

/*
 * The bucket index of a pointer: a multiplicative hash of its low 32 bits.
 * The 32-bit move in assembly turns a BTF pointer into a plain number the
 * verifier lets us multiply (a pointer may only be added to); raw_tp
 * pointers are numbers already.
 */
static __always_inline __u32 ptr_hash(__u64 key)
{
	__u32 lo;

	asm volatile("%[lo] = %[key]" : [lo] "=w"(lo) : [key] "w"((__u32)key));
	return (lo * BIO_FILTER_MUL) >> 8;
}

/*
 * --sample: how many bios in the `bios` table hash to each slot
 * (bio_filter_slot).  A bio --sample does not follow never enters the
 * table, yet its completion and end_io work would each probe it: a cold
 * bucket of a 8 MiB table, measured at 50-90 ns a probe.  This dense
 * counting filter (4 KiB, written for followed bios only) answers first:
 * a slot at 0 holds no bio followed.  Exact: BPF counts each key a way
 * takes or gives up, except that a bio handed to its end_io work item stays
 * counted until that ends (bios_hand_off); user space takes back each way
 * it sweeps.  A count left behind (a thread gone with its end_io open) or
 * wrapped below 0 only costs probes.  Unused (all 0) without --sample.
 * Slots and hash: include/bbscope.h.
 */
__u32 bio_filter[BIO_FILTER_SLOTS] = {};

static __always_inline __u32 *bio_filter_slot(__u64 key)
{
	return &bio_filter[ptr_hash(key) & (BIO_FILTER_SLOTS - 1)];
}

/* May the bio at key be in the `bios` table?  (false: --sample does not follow it) */
static __always_inline bool bio_maybe_followed(__u64 key)
{
	return sample_n <= 1 || *bio_filter_slot(key);
}

/* A way of `bios` went from key old to key (0: free). */
static __always_inline void bios_rekeyed(__u64 old, __u64 key)
{
	if (sample_n <= 1 || old == key)
		return;
	if (key)
		__sync_fetch_and_add(bio_filter_slot(key), 1);
	if (old)
		__sync_fetch_and_add(bio_filter_slot(old), -1);
}

/*
 * An end_io work item took a bio's state out of the table (on_execute_start):
 * its way is free, but the filter counts the bio until the work item ends
 * (bio_filter_put), so that its end is not taken for one not followed.
 */
static __always_inline void bios_hand_off(struct bbs_bio_state *st, __u64 *slot)
{
	*(__u64 *)st = 0;
	*slot = 0;
}

static __always_inline void bio_filter_put(__u64 key)
{
	bios_rekeyed(key, 0);
}

/* The other tables keep no filter. */
static __always_inline void ordered_rekeyed(__u64 old, __u64 key)
{
}

static __always_inline void rbios_rekeyed(__u64 old, __u64 key)
{
}

/*
 * The operations of a pointer-keyed table:
 *   <name>_find(key, &slot)  the state, and where its key is; or NULL
 *   <name>_claim(key)        a state to fill for a new key: the same key
 *                            reused takes its old way, else a free way, else
 *                            the oldest way is evicted (and counted lost)
 *   <name>_free(st, slot)    the way is free again
 * A way is claimed with claim_way() on its key.  The caller fills the
 * state and sets its start time (first field) last.  <name>_rekeyed(old,
 * key) hears of every change of a way's key.
 */
#define TABLE_OPS(name, bucket, state, nbuckets, lost_why)                        \
	static __always_inline struct bucket *name##_bucket(__u64 key)            \
	{                                                                         \
		__u32 idx = ptr_hash(key) & ((nbuckets)-1);                       \
                                                                                  \
		return bpf_map_lookup_elem(&name, &idx);                          \
	}                                                                         \
                                                                                  \
	static __always_inline struct state *name##_find(__u64 key, __u64 **slot) \
	{                                                                         \
		struct bucket *b = name##_bucket(key);                            \
		int i;                                                            \
                                                                                  \
		if (!b)                                                           \
			return NULL;                                              \
		for (i = 0; i < TABLE_WAYS; i++)                                  \
			if (b->key[i] == key) {                                   \
				*slot = &b->key[i];                               \
				return &b->st[i];                                 \
			}                                                         \
		return NULL;                                                      \
	}                                                                         \
                                                                                  \
	static __always_inline void name##_free(struct state *st, __u64 *slot)    \
	{                                                                         \
		__u64 key = *slot;                                                \
                                                                                  \
		*(__u64 *)st = 0;                                                 \
		*slot = 0;                                                        \
		name##_rekeyed(key, 0);                                           \
	}                                                                         \
                                                                                  \
	static __always_inline struct state *name##_claim(__u64 key)              \
	{                                                                         \
		struct bucket *b = name##_bucket(key);                            \
		__u64 old, oldest = ~0ULL;                                        \
		__u32 way = TABLE_WAYS, i;                                        \
                                                                                  \
		if (!b)                                                           \
			return NULL;                                              \
		for (i = 0; i < TABLE_WAYS; i++)                                  \
			if (b->key[i] == key) {                                   \
				way = i;                                          \
				break;                                            \
			}                                                         \
		if (way == TABLE_WAYS)                                            \
			for (i = 0; i < TABLE_WAYS; i++)                          \
				if (!b->key[i]) {                                 \
					way = i;                                  \
					break;                                    \
				}                                                 \
		if (way == TABLE_WAYS) {                                          \
			for (i = 0; i < TABLE_WAYS; i++)                          \
				if (*(__u64 *)&b->st[i] < oldest) {               \
					oldest = *(__u64 *)&b->st[i];             \
					way = i;                                  \
				}                                                 \
			lose(lost_why);                                           \
		}                                                                 \
		way &= TABLE_WAYS - 1;                                            \
		old = b->key[way];                                                \
		if (!claim_way(&b->key[way], old, key)) {                         \
			/* Another CPU took this way at the same moment. */       \
			lose(lost_why);                                           \
			return NULL;                                              \
		}                                                                 \
		name##_rekeyed(old, key);                                         \
		*(__u64 *)&b->st[way] = 0;                                        \
		return &b->st[way];                                               \
	}

TABLE_OPS(bios, bbs_bio_bucket, bbs_bio_state, BIO_BUCKETS, LOST_BIO_MAP_FULL)
TABLE_OPS(ordered, bbs_ordered_bucket, bbs_ordered_state, ORDERED_BUCKETS, LOST_WORK_MAP_FULL)
TABLE_OPS(rbios, bbs_rbio_bucket, bbs_rbio_state, RBIO_BUCKETS, LOST_WORK_MAP_FULL)

static __always_inline void emit_bio(const struct bbs_bio_state *st, __u64 end_ns)
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
static __always_inline void count_wq(struct bbs_group_val *gv, __u64 wq, bool atomic)
{
	int i;

	for (i = 0; i < BBS_WQ_SLOTS; i++) {
		if (gv->wq[i].wq == wq) {
			PCPU_ADD(atomic, &gv->wq[i].count, 1);
			return;
		}
		if (!gv->wq[i].wq) {
			char name[WQ_NAME_LEN] = {};

			if (!atomic)
				gv->wq[i].wq = wq;
			else if (!claim_way(&gv->wq[i].wq, 0, wq) && gv->wq[i].wq != wq)
				continue; /* another program took the slot meanwhile */
			PCPU_ADD(atomic, &gv->wq[i].count, 1);
			bpf_probe_read_kernel_str(name, sizeof(name),
						  ((struct workqueue_struct *)wq)->name);
			bpf_map_update_elem(&wq_names, &wq, name, BPF_NOEXIST);
			return;
		}
	}
	PCPU_ADD(atomic, &gv->wq_other, 1);
}

/* The bio's life is over (end_io work ended, or it completed inline): account it. */
static __always_inline void account_group(struct bbs_group_val *gv, const struct bbs_bio_state *st,
					  __u64 now, bool atomic)
{
	struct bbs_stats *s = &gv->stats;

	PCPU_ADD(atomic, &s->bios, 1);
	PCPU_ADD(atomic, &s->bytes, st->bytes);
	if (st->complete_ns && st->complete_ctx < NR_CTX)
		PCPU_ADD(atomic, &s->complete_ctx[st->complete_ctx], 1);
	if ((st->start_ns || (st->flags & (BIO_F_NO_ENDIO | BIO_F_ENDIO_UNSEEN))) &&
	    st->endio_ctx < NR_CTX)
		PCPU_ADD(atomic, &s->endio_ctx[st->endio_ctx], 1);

	if (st->complete_ns) {
		if (st->flags & BIO_F_BIO_BASED) {
			hist_add(&gv->phases[PHASE_DEVICE], st->complete_ns - st->queue_ns, atomic);
		} else if (st->issue_ns) {
			hist_add(&gv->phases[PHASE_QUEUE], st->issue_ns - st->queue_ns, atomic);
			hist_add(&gv->phases[PHASE_DEVICE], st->complete_ns - st->issue_ns, atomic);
		}
		if (st->start_ns && !(st->flags & BIO_F_NO_ENDIO))
			hist_add(&gv->phases[PHASE_HOP], st->start_ns - st->complete_ns, atomic);
	}
	if (st->start_ns && !(st->flags & BIO_F_NO_ENDIO))
		hist_add(&gv->phases[PHASE_ENDIO], now - st->start_ns, atomic);
	if (st->complete_ns || st->start_ns)
		hist_add(&gv->phases[PHASE_TOTAL], now - st->queue_ns, atomic);
	if (st->wq)
		count_wq(gv, st->wq, atomic);
	/* A raid56 strip is one device's part of a full stripe's I/O. */
	if (st->class == CLASS_RAID) {
		if (st->g.op == BBS_OP_WRITE)
			PCPU_ADD(atomic, &s->stripe_writes, 1);
		else
			PCPU_ADD(atomic, &s->stripe_reads, 1);
	}
}

static __always_inline void account_bio(const struct bbs_bio_state *st, __u64 now, __u8 level)
{
	struct bbs_group_val *gv;
	__u32 e;

	if (emit_events)
		emit_bio(st, now);
	if (tp_preempt) {
		e = epoch_hold();
		gv = group_of(&st->g, level, e);
		if (gv)
			account_group(gv, st, now, true);
		epoch_release(e);
		return;
	}
	gv = group_of(&st->g, level, epoch);
	if (gv)
		account_group(gv, st, now, false);
}

/*
 * Record a bio's completion.  True when the bio ends here (its end_io ran
 * inline): the caller accounts and frees it.  A split child completing says
 * nothing of its siblings (own false), and a bio whose end_io is a work
 * item ends with that work.
 */
static __always_inline bool complete_mark(struct bbs_bio_state *st, __u64 now, bool own)
{
	st->complete_ns = now;
	st->complete_ctx = cur_ctx();
	st->cpu_complete = bpf_get_smp_processor_id();
	if (!own || (st->flags & BIO_F_ENDIO_WORK))
		return false;
	/* end_io runs right here, in the completion context. */
	if (st->class == CLASS_BBIO)
		st->start_ns = now;
	st->flags |= BIO_F_NO_ENDIO;
	st->endio_ctx = st->complete_ctx;
	st->cpu_endio = st->cpu_complete;
	return true;
}

/*
 * How complete_key completes: a split child, the bio, the bio unless
 * completed, a split child unless its parent is completed (a copy's).
 */
enum { COMPLETE_CHILD, COMPLETE_OWN, COMPLETE_FIRST, COMPLETE_CHILD_FIRST };

/*
 * The request walk completes up to MAX_RQ_BIOS bios in a loop; what it does
 * per bio is a global function, verified once rather than per iteration.
 * 5.10's verifier takes only scalars (and the context) as arguments to a
 * global function, and raw_tp has the bio as a number: complete_key.  The
 * tp_btf attach type has it as a pointer, and kernels that have tp_btf take a
 * pointer to the state: finish_bio.  now 0: read the clock once the bio is found.
 */
__noinline int complete_key(__u64 key, __u32 how, __u64 now)
{
	struct bbs_bio_state *st;
	__u64 *slot;
	bool own = how == COMPLETE_OWN || how == COMPLETE_FIRST;
	bool first = how == COMPLETE_FIRST || how == COMPLETE_CHILD_FIRST;

	if (!bio_maybe_followed(key))
		return 0;
	st = bios_find(key, &slot);
	if (!st || (first && st->complete_ns))
		return 0;
	/* The clock only for a bio followed (--sample: one in N). */
	if (!now)
		now = bpf_ktime_get_ns();
	if (complete_mark(st, now, own)) {
		account_bio(st, now, st->complete_ctx);
		bios_free(st, slot);
	}
	return 1;
}

__noinline int finish_bio(const struct bbs_bio_state *st, __u64 now, __u8 level)
{
	if (st)
		account_bio(st, now, level);
	return 0;
}

/*
 * 6.1 runs an rmw in rmw_work and, when it had strips to read, finishes it
 * in raid56_rmw_end_io_work once they are in (a recover likewise in
 * read_rebuild_work and raid_recover_end_io_work).  The first work item
 * parks its start by rbio, for the second to resume, as soon as it reads a
 * strip (rbio_park): the reads can complete and the second work item run on
 * another CPU before the first has returned.
 */
static __always_inline void rbio_park(struct span *sp)
{
	struct bbs_rbio_state *rs;

	if (!sp->first_half || sp->parked)
		return;
	sp->parked = 1;
	rs = rbios_claim(sp->id);
	if (!rs)
		return;
	rs->fs = sp->fs;
	rs->phase = sp->phase;
	rs->kind = sp->kind;
	rs->start_ns = sp->start_ns;
}

/*
 * Closing a first work item that parked its start: true if the second
 * will account the span.  An rmw that also wrote finished here after all:
 * its parked start is taken back and it is accounted now.
 */
static __always_inline bool span_parked(const struct span *sp)
{
	struct bbs_rbio_state *rs;
	__u64 *slot;

	if (!sp->parked)
		return false;
	if (sp->phase != PHASE_RMW || !(sp->stripe_io & STRIPE_IO_WRITE))
		return true;
	rs = rbios_find(sp->id, &slot);
	if (rs && rs->start_ns == sp->start_ns)
		rbios_free(rs, slot);
	return false;
}

/* Closing a span: its runtime into the filesystem's histogram (and an event). */
static __always_inline void span_account(const struct span *sp, __u32 tid)
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
	if ((sp->phase == PHASE_RMW || sp->phase == PHASE_RECOVER) && !sp->stripe_io)
		return;
	if (span_parked(sp))
		return;
	g.fs = sp->fs;
	g.op = (sp->phase == PHASE_RECOVER) ? BBS_OP_READ : BBS_OP_WRITE;
	g.kind = sp->kind;
	fs_hist_add(&g, sp->phase, now - sp->start_ns);
	if (!emit_events)
		return;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		lose(LOST_RINGBUF);
		return;
	}
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
}

static __always_inline void ordered_account(__u64 key, const struct bbs_ordered_state *os)
{
	struct bbs_group g = { .op = BBS_OP_WRITE, .kind = KIND_DATA, .fs = os->fs };
	struct bbs_event_span *e;
	__u64 now = bpf_ktime_get_ns();

	fs_hist_add(&g, PHASE_ORDERED, now - os->start_ns);
	if (!emit_events)
		return;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		lose(LOST_RINGBUF);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->type = EV_ORDERED;
	e->phase = PHASE_ORDERED;
	e->fs = os->fs;
	e->cpu = bpf_get_smp_processor_id();
	e->start_ns = os->start_ns;
	e->end_ns = now;
	e->id = key;
	bpf_ringbuf_submit(e, 0);
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

/* BPF_PROG with its name macro-expanded first (H(tp) below). */
#define BBS_PROG(name, args...) BPF_PROG(name, ##args)

/* tp_btf: direct loads, task storage, the workqueue read off the worker. */
#define BBS_BTF 1
#include "handlers.bpf.h"
#undef BBS_BTF

/* raw_tp: probe reads, hash maps. */
#define BBS_BTF 0
#include "handlers.bpf.h"
#undef BBS_BTF

/* Function phases: fentry/fexit, kprobe/kretprobe (hist --func). */
#include "funcs.bpf.h"

char LICENSE[] SEC("license") = "GPL";
