/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Function phases (hist --func): kernel functions timed at entry and exit,
 * on kernels that allow fentry/fexit or kprobe/kretprobe.  One program
 * pair per slot of each kind; user space points a slot at a function
 * (bpf_program__set_attach_target, or a kprobe by name) and loads only the
 * slots in use.  A thread's traced calls nest (rmw_rbio calls
 * generate_pq_vertical), so each thread keeps a stack of open calls: a
 * call's self time is its total minus the traced calls it made.
 *
 * Cost: these fire on every call, and some functions run per sector;
 * entry is one map lookup and a clock read, exit one lookup, two clock-free
 * histogram updates.
 */

/* What each slot's first argument is (enum bbs_func_arg), set by user space. */
const volatile __u8 func_arg[MAX_FUNCS] = {};

struct func_frame {
	__u64 start_ns;
	__u64 child_ns; /* time spent in traced calls made from this one */
	__u32 fs;
	__u8 slot;
	__u8 under; /* enum bbs_under */
	__u8 pad[2];
};

struct func_stack {
	__u32 depth;
	__u32 pad;
	struct func_frame f[FUNC_DEPTH];
};

/* By thread id; inserted empty the first time (no per-CPU scratch: fentry
 * programs run preemptibly, as tracepoint ones do since a46023d5616e). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct func_stack);
} func_stacks SEC(".maps");

static const struct func_stack zero_func_stack;

/* An rbio's raid56 operation (enum btrfs_rbio_ops), as a bbs_under. */
static __always_inline __u8 under_of_rbio(struct btrfs_raid_bio *rbio)
{
	int op = BPF_CORE_READ(rbio, operation);

	if (op == bpf_core_enum_value(enum btrfs_rbio_ops, BTRFS_RBIO_WRITE))
		return UNDER_RMW;
	if (op == bpf_core_enum_value(enum btrfs_rbio_ops, BTRFS_RBIO_READ_REBUILD))
		return UNDER_RECOVER;
	return UNDER_SCRUB;
}

/* The filesystem (and raid56 operation) a call works for, by its first argument. */
static __always_inline bool func_target(__u32 slot, __u64 arg, __u32 *fs, __u8 *under)
{
	struct btrfs_raid_bio *rbio = (void *)arg;
	struct btrfs_bio *bbio = (void *)arg;
	struct btrfs_fs_info *fs_info;

	if (!HAVE_BTRFS_BTF || !arg)
		return false;
	switch (func_arg[slot & (MAX_FUNCS - 1)]) {
	case FARG_RBIO:
		*fs = BPF_CORE_READ(rbio, bioc, fs_info, sb, s_dev);
		*under = under_of_rbio(rbio);
		return true;
	case FARG_BBIO:
		if (bpf_core_field_exists(struct btrfs_bio___fs_info, fs_info))
			fs_info = BPF_CORE_READ((struct btrfs_bio___fs_info *)bbio, fs_info);
		else if (bpf_core_field_exists(bbio->inode))
			fs_info = BPF_CORE_READ(bbio, inode, root, fs_info);
		else
			return false;
		*fs = BPF_CORE_READ(fs_info, sb, s_dev);
		return true;
	case FARG_BTRFS_INODE:
		*fs = BPF_CORE_READ((struct btrfs_inode *)arg, root, fs_info, sb, s_dev);
		return true;
	case FARG_INODE:
		*fs = BPF_CORE_READ((struct inode *)arg, i_sb, s_dev);
		return true;
	default:
		return false;
	}
}

static __always_inline int func_enter(__u32 slot, __u64 arg)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid(), d;
	struct func_stack *s = bpf_map_lookup_elem(&func_stacks, &tid);
	struct func_frame *f;
	__u32 fs = 0;
	__u8 under = UNDER_FS;

	if (!s) {
		if (bpf_map_update_elem(&func_stacks, &tid, &zero_func_stack, BPF_NOEXIST) ||
		    !(s = bpf_map_lookup_elem(&func_stacks, &tid))) {
			lose(LOST_FUNC_STACK);
			return 0;
		}
	}
	d = s->depth;
	if (d >= FUNC_DEPTH) {
		s->depth = d + 1; /* still counted, so its exit pops nothing real */
		lose(LOST_FUNC_STACK);
		return 0;
	}
	/* Not told by its argument: what the call it runs inside works for. */
	if (!func_target(slot, arg, &fs, &under) && d > 0 && d <= FUNC_DEPTH) {
		fs = s->f[(d - 1) & (FUNC_DEPTH - 1)].fs;
		under = s->f[(d - 1) & (FUNC_DEPTH - 1)].under;
	}
	f = &s->f[d & (FUNC_DEPTH - 1)];
	f->slot = slot;
	f->fs = fs;
	f->under = under;
	f->child_ns = 0;
	f->start_ns = bpf_ktime_get_ns();
	s->depth = d + 1;
	return 0;
}

static __always_inline void func_account(const struct func_frame *f, __u64 total)
{
	struct bbs_group g = { .fs = f->fs, .op = BBS_OP_WRITE, .kind = KIND_DATA };
	__u32 under = f->under < NR_UNDER ? f->under : UNDER_FS;

	/* fs 0: not told (5.10's btrfs has no BTF): kept, as the filesystem unknown. */
	if (filter_fs && f->fs && f->fs != filter_fs)
		return;
	/* fentry/fexit programs run preemptibly on every kernel: atomic, epoch held. */
	fs_hist_add_in(&g, FUNC_PHASE(f->slot, under, 0), total, true);
	fs_hist_add_in(&g, FUNC_PHASE(f->slot, under, 1),
		       total > f->child_ns ? total - f->child_ns : 0, true);
}

static __always_inline int func_exit(__u32 slot)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid(), d;
	struct func_stack *s = bpf_map_lookup_elem(&func_stacks, &tid);
	struct func_frame *f;
	__u64 total;

	if (!s || !s->depth)
		return 0;
	d = --s->depth;
	if (d >= FUNC_DEPTH)
		return 0;
	f = &s->f[d & (FUNC_DEPTH - 1)];
	if (f->slot != slot) {
		/* An exit whose entry was not seen (attached in between): drop the stack. */
		s->depth = 0;
		lose(LOST_FUNC_STACK);
		return 0;
	}
	total = bpf_ktime_get_ns() - f->start_ns;
	if (d > 0)
		s->f[(d - 1) & (FUNC_DEPTH - 1)].child_ns += total;
	func_account(f, total);
	return 0;
}

/* One program per slot and kind: fentry_N, fexit_N, kprobe_N, kretprobe_N. */
#define FUNC_SLOT(n)                                            \
	SEC("fentry")                                           \
	int fentry_##n(unsigned long long *ctx)                 \
	{                                                       \
		return func_enter(n, func_arg[n] ? ctx[0] : 0); \
	}                                                       \
	SEC("fexit")                                            \
	int fexit_##n(unsigned long long *ctx)                  \
	{                                                       \
		return func_exit(n);                            \
	}                                                       \
	SEC("kprobe")                                           \
	int kprobe_##n(struct pt_regs *ctx)                     \
	{                                                       \
		return func_enter(n, PT_REGS_PARM1(ctx));       \
	}                                                       \
	SEC("kretprobe")                                        \
	int kretprobe_##n(struct pt_regs *ctx)                  \
	{                                                       \
		return func_exit(n);                            \
	}

FUNC_SLOT(0)
FUNC_SLOT(1)
FUNC_SLOT(2)
FUNC_SLOT(3)
FUNC_SLOT(4)
FUNC_SLOT(5)
FUNC_SLOT(6)
FUNC_SLOT(7)
FUNC_SLOT(8)
FUNC_SLOT(9)
FUNC_SLOT(10)
FUNC_SLOT(11)
FUNC_SLOT(12)
FUNC_SLOT(13)
FUNC_SLOT(14)
FUNC_SLOT(15)
