// SPDX-License-Identifier: GPL-2.0
/*
 * What this kernel is and allows (kernel.h).  The tables below are the user
 * space half of bpf/kernel.bpf.h: which function plays each role on each
 * kernel generation, and what that says about a bio.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <linux/bpf.h>
#include <linux/btrfs.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "host/kallsyms.h"
#include "host/kernel.h"
#include "host/util.h"

/*
 * Each role's function, by the name each kernel generation gives it (newest
 * first).  Roles not marked core are btrfs functions: where btrfs is a
 * module only its symbols (kallsyms "[btrfs]") count.
 */
static const struct fn_role {
	const char *names[3];
	bool core;
} roles[NR_FNS] = {
	[FN_SIMPLE_END_IO] = { { "btrfs_simple_end_io" } },
	[FN_ORIG_WRITE_END_IO] = { { "btrfs_orig_write_end_io" } },
	[FN_CLONE_WRITE_END_IO] = { { "btrfs_clone_write_end_io" } },
	[FN_END_BIO] = { { "btrfs_end_bio" } },
	/* 6.3 ("btrfs: raid56: ...wait for the I/O"): raid_wait_*_end_io. */
	[FN_RAID_WRITE_END_IO] = { { "raid_wait_write_end_io", "raid_write_end_io" } },
	[FN_RAID_READ_END_IO] = { { "raid_wait_read_end_io", "raid56_bio_end_io" } },
	[FN_RAID_WQ_END_IO] = { { "end_workqueue_bio" } },
	[FN_SUPER_END_IO] = { { "btrfs_end_super_write" } },
	[FN_BIO_CHAIN_END_IO] = { { "bio_chain_endio" }, true },
	[FN_SIMPLE_WORK] = { { "simple_end_io_work" } },
	[FN_ORIG_WRITE_WORK] = { { "orig_write_end_io_work" } },
	[FN_CLONE_WRITE_WORK] = { { "clone_write_end_io_work" } },
	[FN_END_BIO_WORK] = { { "btrfs_end_bio_work" } },
	[FN_BTRFS_WORK_HELPER] = { { "btrfs_work_helper" } },
	[FN_END_WORKQUEUE_FN] = { { "end_workqueue_fn" } },
	[FN_CSUM_WORK] = { { "csum_one_bio_work" } },
	[FN_ASYNC_CSUM_START] = { { "run_one_async_start" } },
	[FN_RMW_WORK] = { { "rmw_rbio_work", "rmw_work" } },
	[FN_RECOVER_WORK] = { { "recover_rbio_work", "read_rebuild_work" } },
	[FN_RMW_WORK_LOCKED] = { { "rmw_rbio_work_locked" } },
	[FN_RECOVER_WORK_LOCKED] = { { "recover_rbio_work_locked" } },
	[FN_RMW_END_WORK] = { { "raid56_rmw_end_io_work" } },
	[FN_RECOVER_END_WORK] = { { "raid_recover_end_io_work" } },
};

/* What each end_io function's bios are. */
static const uint8_t end_io_class[FN_NR_END_IO] = {
	[FN_SIMPLE_END_IO] = CLASS_BBIO,      [FN_ORIG_WRITE_END_IO] = CLASS_BBIO,
	[FN_CLONE_WRITE_END_IO] = CLASS_BBIO, [FN_END_BIO] = CLASS_BBIO,
	[FN_RAID_WRITE_END_IO] = CLASS_RAID,  [FN_RAID_READ_END_IO] = CLASS_RAID,
	[FN_RAID_WQ_END_IO] = CLASS_RAID,     [FN_SUPER_END_IO] = CLASS_SUPER,
};

const char *const *bbs_fn_candidates(enum bbs_fn fn)
{
	return roles[fn].names;
}

struct ksym_ctx {
	struct bbs_kernel *k;
	uint8_t role[NR_FNS * 3], cand[NR_FNS * 3];
	int best[NR_FNS];
	bool btrfs_syms_in_module;
};

/* A kallsyms symbol that is candidate c of a role: keep the newest name. */
static void ksym_seen(void *ctx, int i, const char *sym, const char *mod, unsigned long long addr)
{
	struct ksym_ctx *x = ctx;
	int r = x->role[i], c = x->cand[i];

	if (c >= x->best[r])
		return;
	if (!roles[r].core && mod[0] && strcmp(mod, "btrfs"))
		return;
	if (!roles[r].core && !strcmp(mod, "btrfs"))
		x->btrfs_syms_in_module = true;
	x->best[r] = c;
	x->k->fn[r] = addr;
	x->k->fn_name[r] = roles[r].names[c];
}

static int read_kallsyms(struct bbs_kernel *k, bool *btrfs_syms_in_module)
{
	const char *names[NR_FNS * 3];
	struct ksym_ctx x = { .k = k };
	int n = 0, err;

	for (int r = 0; r < NR_FNS; r++) {
		x.best[r] = 99;
		for (int c = 0; c < 3 && roles[r].names[c]; c++, n++) {
			names[n] = roles[r].names[c];
			x.role[n] = r;
			x.cand[n] = c;
		}
	}
	err = bbs_kallsyms_find(names, n, ksym_seen, &x);
	*btrfs_syms_in_module = x.btrfs_syms_in_module;
	return err;
}

/*
 * Where each btrfs end_io runs, by which work functions this kernel has:
 *   async csum series (6.18 here): every end_io is a work item, one per
 *     end_io function (simple/orig_write/clone_write_end_io_work);
 *   6.1 until then: btrfs_simple_end_io queues btrfs_end_bio_work for reads;
 *     writes end inline in the completion;
 *   5.10: btrfs_end_bio ends reads through end_workqueue_fn (a btrfs_work),
 *     writes inline.
 */
static void derive_end_io(struct bbs_kernel *k)
{
	const uint8_t r = 1U << BBS_OP_READ, w = 1U << BBS_OP_WRITE;

	for (int i = 0; i < FN_NR_END_IO; i++)
		k->fn_class[i] = k->fn[i] ? end_io_class[i] : CLASS_NONE;
	if (k->fn[FN_SIMPLE_WORK])
		k->fn_work_ops[FN_SIMPLE_END_IO] = r | w;
	else if (k->fn[FN_END_BIO_WORK])
		k->fn_work_ops[FN_SIMPLE_END_IO] = r;
	if (k->fn[FN_ORIG_WRITE_WORK])
		k->fn_work_ops[FN_ORIG_WRITE_END_IO] = w;
	if (k->fn[FN_CLONE_WRITE_WORK])
		k->fn_work_ops[FN_CLONE_WRITE_END_IO] = w;
	if (k->fn[FN_END_WORKQUEUE_FN] && k->fn[FN_BTRFS_WORK_HELPER])
		k->fn_work_ops[FN_END_BIO] = r;
}

static bool file_has_word(const char *path, const char *word)
{
	char line[256];
	bool found = false;
	size_t n = strlen(word);
	FILE *f = fopen(path, "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *p = line;

		while ((p = strstr(p, word))) {
			if ((p == line || p[-1] == ' ' || p[-1] == '\t') &&
			    (p[n] == ' ' || p[n] == '\t' || p[n] == '\n')) {
				found = true;
				break;
			}
			p += n;
		}
	}
	fclose(f);
	return found;
}

static enum bbs_btrfs_where btrfs_where(const struct bbs_kernel *k, bool in_module)
{
	char path[PATH_MAX];

	if (in_module || file_has_word("/proc/modules", "btrfs"))
		return BTRFS_MODULE;
	if (file_has_word("/proc/filesystems", "btrfs"))
		return BTRFS_BUILTIN;
	snprintf(path, sizeof(path), "/lib/modules/%s/kernel/fs/btrfs", k->release);
	return access(path, F_OK) ? BTRFS_ABSENT : BTRFS_NOT_LOADED;
}

int bbs_btf_tp_nargs(const struct btf *btf, const char *tp)
{
	const struct btf_type *t;
	char name[128];
	int id;

	snprintf(name, sizeof(name), "btf_trace_%s", tp);
	id = btf__find_by_name_kind(btf, name, BTF_KIND_TYPEDEF);
	if (id < 0)
		return 0;
	t = btf__type_by_id(btf, id);
	t = btf__type_by_id(btf, t->type); /* pointer */
	if (!t || !btf_is_ptr(t))
		return 0;
	t = btf__type_by_id(btf, t->type);
	/* The first parameter is the tracepoint's void *__data. */
	return t && btf_is_func_proto(t) ? btf_vlen(t) - 1 : 0;
}

static int load_probe(enum bpf_prog_type type, const struct bpf_insn *insns, size_t n,
		      struct bpf_prog_load_opts *opts)
{
	int fd = bpf_prog_load(type, NULL, "GPL", insns, n, opts);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* BPF_ATOMIC compare-and-swap on the stack (5.12, "bpf: Add instructions for atomic_cmpxchg"). */
static bool probe_cmpxchg(void)
{
	struct bpf_insn insns[] = {
		/* *(u64 *)(r10 - 8) = 0 */
		{ .code = BPF_ST | BPF_MEM | BPF_DW, .dst_reg = BPF_REG_10, .off = -8 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_1, .imm = 1 },
		/* r0 = cmpxchg(r10 - 8, r0, r1) */
		{ .code = BPF_STX | BPF_ATOMIC | BPF_DW,
		  .dst_reg = BPF_REG_10,
		  .src_reg = BPF_REG_1,
		  .off = -8,
		  .imm = BPF_CMPXCHG },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	return !load_probe(BPF_PROG_TYPE_SOCKET_FILTER, insns, 6, NULL);
}

static const struct bpf_insn ret0[] = {
	{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
	{ .code = BPF_JMP | BPF_EXIT },
};

/* Can a tp_btf program attach to this tracepoint here?  Load a 2-insn one. */
static bool probe_tp_btf(const struct btf *vmlinux, const char *tp)
{
	char name[128];
	int id;

	snprintf(name, sizeof(name), "btf_trace_%s", tp);
	id = btf__find_by_name_kind(vmlinux, name, BTF_KIND_TYPEDEF);
	if (id < 0)
		return false;
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_RAW_TP,
		    .attach_btf_id = id);
	return !load_probe(BPF_PROG_TYPE_TRACING, ret0, 2, &opts);
}

int bbs_module_btf_fd(const char *module)
{
	char name[64] = "";
	__u32 id = 0;

	while (!bpf_btf_get_next_id(id, &id)) {
		struct bpf_btf_info info = { .name = (__u64)(unsigned long)name,
					     .name_len = sizeof(name) };
		__u32 len = sizeof(info);
		int fd = bpf_btf_get_fd_by_id(id);

		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) && !strcmp(name, module))
			return fd;
		close(fd);
	}
	return -1;
}

/* Does an fentry program on a btrfs function load (btrfs_work_helper, in every generation)? */
static bool probe_fentry(const struct bbs_kernel *k, const struct btf *vmlinux)
{
	struct btf *btf = NULL;
	int id, obj_fd = 0, err;

	if (k->btrfs == BTRFS_MODULE) {
		btf = btf__load_module_btf("btrfs", (struct btf *)vmlinux);
		obj_fd = bbs_module_btf_fd("btrfs");
		if (!btf || obj_fd < 0) {
			btf__free(btf);
			if (obj_fd >= 0)
				close(obj_fd);
			return false;
		}
	}
	id = btf__find_by_name_kind(btf ? btf : vmlinux, "btrfs_work_helper", BTF_KIND_FUNC);
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_FENTRY,
		    .attach_btf_id = id, .attach_btf_obj_fd = obj_fd);
	err = id < 0 ? -ENOENT : load_probe(BPF_PROG_TYPE_TRACING, ret0, 2, &opts);
	btf__free(btf);
	if (obj_fd > 0)
		close(obj_fd);
	return !err;
}

/*
 * Do tracepoint probes, BPF programs included, run preemptibly?  Since
 * a46023d5616e ("tracing: Guard __DECLARE_TRACE() use of __DO_TRACE_CALL()
 * with SRCU-fast", 7.0) a tracepoint calls its probes inside an SRCU-fast
 * read section of tracepoint_srcu rather than with preemption disabled.
 * The macro leaves no symbol of its own; the nearest probe-able fact is the
 * SRCU-fast domain definition it needs: tracepoint_srcu is a
 * DEFINE_SRCU_FAST(), whose API came with init_srcu_struct_fast() (a
 * function, so in BTF without CONFIG_KALLSYMS_ALL, which tracepoint_srcu, a
 * variable, is not).  That API may predate the tracepoint change: a kernel
 * with one and not the other is told yes, which costs atomics, never
 * correctness.  Checked on Debian's 7.3: a
 * raw_tp program marking its CPU busy while it spins saw sched_switch away
 * from its own task 86 times in 10k runs under load; 0 in 76k on 6.18.
 */
static bool tp_preemptible(const struct btf *vmlinux)
{
	return btf__find_by_name_kind(vmlinux, "init_srcu_struct_fast", BTF_KIND_FUNC) >= 0;
}

static void read_lockdown(struct bbs_kernel *k)
{
	char buf[128], *a, *b;
	FILE *f = fopen("/sys/kernel/security/lockdown", "re");

	k->lockdown[0] = 0;
	if (!f)
		return;
	if (fgets(buf, sizeof(buf), f) && (a = strchr(buf, '[')) && (b = strchr(a, ']'))) {
		*b = 0;
		snprintf(k->lockdown, sizeof(k->lockdown), "%s", a + 1);
	}
	fclose(f);
}

int bbs_kernel_probe(struct bbs_kernel *k)
{
	struct btf *vmlinux;
	struct utsname u;
	bool in_module = false;
	int err;

	memset(k, 0, sizeof(*k));
	if (!uname(&u))
		snprintf(k->release, sizeof(k->release), "%s", u.release);
	err = read_kallsyms(k, &in_module);
	if (err == -EPERM)
		memset(k->fn, 0, sizeof(k->fn));
	else if (err)
		return err;
	k->btrfs = btrfs_where(k, in_module);
	derive_end_io(k);
	k->kprobes = !access("/sys/bus/event_source/devices/kprobe", F_OK);
	read_lockdown(k);
	vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux)
		return err == -EPERM ? err : 0;
	k->btf = true;
	k->btrfs_btf = btf__find_by_name_kind(vmlinux, "btrfs_fs_info", BTF_KIND_STRUCT) >= 0 ||
		       !access("/sys/kernel/btf/btrfs", F_OK);
	k->bio_queue_args = bbs_btf_tp_nargs(vmlinux, "block_bio_queue");
	k->rdonly_cast = btf__find_by_name_kind(vmlinux, "bpf_rdonly_cast", BTF_KIND_FUNC) >= 0;
	k->task_storage = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, NULL) == 1;
	k->cmpxchg = probe_cmpxchg();
	k->tp_btf = probe_tp_btf(vmlinux, "block_bio_queue");
	k->tp_preemptible = tp_preemptible(vmlinux);
	if (k->btrfs_btf && k->btrfs >= BTRFS_BUILTIN)
		k->fentry = probe_fentry(k, vmlinux);
	btf__free(vmlinux);
	return err == -EPERM ? err : 0;
}

bool bbs_kernel_has_btrfs_bios(const struct bbs_kernel *k)
{
	for (int i = 0; i < FN_NR_END_IO; i++)
		if (k->fn[i] && end_io_class[i] == CLASS_BBIO)
			return true;
	return false;
}

struct devs_arg {
	void (*cb)(uint32_t fs, uint32_t dev, void *arg);
	void *arg;
	int n;
};

/* One mounted btrfs: its member devices from BTRFS_IOC_FS_INFO and _DEV_INFO. */
static int fs_devices_cb(uint32_t fs, const char *mnt, void *arg)
{
	struct btrfs_ioctl_fs_info_args fi = { 0 };
	struct devs_arg *a = arg;
	int fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	if (ioctl(fd, BTRFS_IOC_FS_INFO, &fi)) {
		close(fd);
		return 0;
	}
	for (__u64 devid = 1; devid <= fi.max_id; devid++) {
		struct btrfs_ioctl_dev_info_args di = { .devid = devid };
		struct stat st;

		if (ioctl(fd, BTRFS_IOC_DEV_INFO, &di) || !di.path[0])
			continue;
		if (stat((const char *)di.path, &st) || !S_ISBLK(st.st_mode))
			continue;
		a->cb(fs, bbs_kdev(major(st.st_rdev), minor(st.st_rdev)), a->arg);
		a->n++;
	}
	close(fd);
	return 0;
}

int bbs_btrfs_devices(void (*cb)(uint32_t fs, uint32_t dev, void *arg), void *arg)
{
	struct devs_arg a = { cb, arg, 0 };

	bbs_for_each_btrfs_mount(fs_devices_cb, &a);
	return a.n;
}
