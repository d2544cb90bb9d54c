/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the running kernel is and allows, found out at start: its BTF, where
 * btrfs lives (built in, a module, absent) and whether its types can be
 * read, the btrfs functions under the names this generation gives them and
 * what they tell of each bio (how it ends, and where its end_io runs), and
 * the BPF features the tracer's attach types need.  `bbscope features` prints
 * it; the tracer acts on it.  Every fact is probed (kallsyms, BTF, a test
 * program load), never inferred from the version string.
 */
#ifndef BBS_KERNEL_H
#define BBS_KERNEL_H

#include <stdbool.h>
#include <stdint.h>

#include "bbscope.h"

enum bbs_btrfs_where {
	BTRFS_ABSENT, /* neither built in nor loaded */
	BTRFS_NOT_LOADED, /* a module of this kernel, not loaded */
	BTRFS_BUILTIN,
	BTRFS_MODULE,
};

struct bbs_kernel {
	char release[65];
	bool btf; /* /sys/kernel/btf/vmlinux */
	enum bbs_btrfs_where btrfs;
	bool btrfs_btf; /* btrfs's types are in vmlinux or module BTF */
	uint64_t fn[NR_FNS]; /* by enum bbs_fn; 0 when this kernel has no such function */
	const char *fn_name[NR_FNS]; /* the name found; NULL when absent */
	uint8_t fn_class[FN_NR_END_IO]; /* enum bbs_bio_class, for the end_io functions found */
	uint8_t fn_work_ops[FN_NR_END_IO]; /* bit per enum bbs_op: end_io runs as a work item */
	int bio_queue_args; /* block_bio_queue's arguments: 1 (bio), 2 (q, bio: before 5.11) */
	bool cmpxchg; /* BPF_ATOMIC compare-and-swap (5.12) */
	bool task_storage; /* BPF_MAP_TYPE_TASK_STORAGE (5.11) */
	bool rdonly_cast; /* the bpf_rdonly_cast kfunc (6.2) */
	bool tp_btf; /* a tp_btf program loads */
	bool fentry; /* an fentry program on a btrfs function loads */
	bool kprobes; /* the kernel has kprobes (kprobe_events in tracefs) */
	/*
	 * BPF programs on tracepoints may be preempted mid-run (migration
	 * stays off): a46023d5616e ("tracing: Guard __DECLARE_TRACE() use of
	 * __DO_TRACE_CALL() with SRCU-fast") runs probes under SRCU-fast.
	 */
	bool tp_preemptible;
	char lockdown[32]; /* "none", "integrity", ... or "" when unknown */
};

/* Fill k from this kernel.  0, or -errno when /proc/kallsyms cannot be read. */
int bbs_kernel_probe(struct bbs_kernel *k);

/* The role's names on the kernel generations bbscope knows, newest first. */
const char *const *bbs_fn_candidates(enum bbs_fn fn);

struct btf;
/* A tracepoint's argument count, from its btf_trace_<tp> type; 0 if not in btf. */
int bbs_btf_tp_nargs(const struct btf *btf, const char *tp);

/* The fd of a kernel module's BTF object (fentry on its functions); -1 if none. */
int bbs_module_btf_fd(const char *module);

/* Is there any btrfs end_io function to recognise btrfs bios by? */
bool bbs_kernel_has_btrfs_bios(const struct bbs_kernel *k);

/*
 * Each mounted btrfs's devices: cb(fs, dev, arg) for every member device
 * (kernel dev_t encoding; fs is the super_block's s_dev).  Returns the
 * number of devices found.
 */
int bbs_btrfs_devices(void (*cb)(uint32_t fs, uint32_t dev, void *arg), void *arg);

#endif
