// SPDX-License-Identifier: GPL-2.0
/*
 * The tracer (trace/tracer.h): choose the programs this kernel can run
 * (tp_btf, else raw_tp: the "attach" mode), load the BPF object, attach each
 * tracepoint of tps[] and say what is missing and why.  trace/drain.c drains
 * what the programs account; trace/internal.h is the state both share.
 */
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "bbscope_nocas.skel.h"
#include "trace/internal.h"
#include "host/caps.h"
#include "host/kernel.h"
#include "host/util.h"

/*
 * Every tracepoint the BPF object has programs for (btf_<prog> and
 * raw_<prog>), what is lost without it, and the phases it feeds.  A role
 * may have several programs: the first whose tracepoint this kernel has,
 * with the argument count it has, is used.
 */
/* When a tracepoint is attached: always, or only once it is needed (want_tp). */
enum tp_need {
	NEED_ALWAYS,
	NEED_BIO_BASED, /* a btrfs on a bio-based device */
	NEED_IRQ_CTX, /* contexts not read from the preempt count */
	NEED_RECORD, /* record mode only: per-strip events for replay */
};

struct tp_prog {
	const char *prog; /* program name without the attach type's prefix (btf_, raw_) */
	const char *tp; /* the tracepoint it attaches to */
	int nargs; /* its argument count where forms differ, else 0 */
};

#define TP(name)              \
	{                     \
		name, name, 0 \
	}

static const struct tp_desc {
	const char *name;
	struct tp_prog alt[3];
	bool required;
	bool btrfs; /* its programs read btrfs structs: needs btrfs BTF */
	const char *without;
	uint32_t phases; /* bit per enum bbs_phase */
	enum tp_need need;
} tps[] = {
	{ "block_bio_queue",
	  { { "block_bio_queue", "block_bio_queue", 1 },
	    /* Before 5.11 the request_queue came first. */
	    { "block_bio_queue_q", "block_bio_queue", 2 } },
	  true,
	  false,
	  NULL,
	  0,
	  NEED_ALWAYS },
	{ "block_rq_issue",
	  { TP("block_rq_issue") },
	  false,
	  false,
	  "queue and device are not split",
	  1 << PHASE_QUEUE,
	  NEED_ALWAYS },
	{ "block_rq_complete",
	  { TP("block_rq_complete") },
	  false,
	  false,
	  "no device latency on request-based devices",
	  1 << PHASE_DEVICE,
	  NEED_ALWAYS },
	{ "block_bio_complete",
	  { TP("block_bio_complete") },
	  false,
	  false,
	  "no device latency on bio-based devices (dm, md, zram) where btrfs ends bios inline",
	  0,
	  NEED_ALWAYS },
	{ "workqueue_queue_work",
	  { TP("workqueue_queue_work") },
	  false,
	  false,
	  "no completion on bio-based devices",
	  0,
	  NEED_BIO_BASED },
	{ "workqueue_execute_start",
	  { TP("workqueue_execute_start") },
	  false,
	  false,
	  "no hop, endio, rmw or recover",
	  1 << PHASE_HOP | 1 << PHASE_ENDIO | 1 << PHASE_RMW | 1 << PHASE_RECOVER,
	  NEED_ALWAYS },
	{ "workqueue_execute_end",
	  { TP("workqueue_execute_end") },
	  false,
	  false,
	  "no hop, endio, rmw or recover",
	  1 << PHASE_HOP | 1 << PHASE_ENDIO | 1 << PHASE_RMW | 1 << PHASE_RECOVER,
	  NEED_ALWAYS },
	{ "btrfs_work_sched",
	  { TP("btrfs_work_sched") },
	  false,
	  true,
	  "offloaded checksums not seen",
	  1 << PHASE_CSUM,
	  NEED_ALWAYS },
	{ "btrfs_ordered_sched",
	  { TP("btrfs_ordered_sched") },
	  false,
	  true,
	  "offloaded checksum end less precise",
	  0,
	  NEED_ALWAYS },
	{ "btrfs_ordered_extent_add",
	  { TP("btrfs_ordered_extent_add") },
	  false,
	  true,
	  "no ordered extent latency",
	  1 << PHASE_ORDERED,
	  NEED_ALWAYS },
	{ "btrfs_ordered_extent_remove",
	  { TP("btrfs_ordered_extent_remove") },
	  false,
	  true,
	  "no ordered extent latency",
	  1 << PHASE_ORDERED,
	  NEED_ALWAYS },
	/* 6.1 named them raid56_write_stripe and raid56_read_partial. */
	{ "raid56_write",
	  { TP("raid56_write"), TP("raid56_write_stripe") },
	  false,
	  true,
	  "no raid56 strip records",
	  0,
	  NEED_RECORD },
	{ "raid56_read",
	  { TP("raid56_read"), TP("raid56_read_partial") },
	  false,
	  true,
	  "no raid56 strip records",
	  0,
	  NEED_RECORD },
	/* Exits before entries: an entry counted before its exit is attached
	 * would leave the CPU in irq context for good. */
	{ "irq_handler_exit",
	  { TP("irq_handler_exit") },
	  false,
	  false,
	  "hardirq context not told apart",
	  0,
	  NEED_IRQ_CTX },
	{ "irq_handler_entry",
	  { TP("irq_handler_entry") },
	  false,
	  false,
	  "hardirq context not told apart",
	  0,
	  NEED_IRQ_CTX },
	{ "softirq_exit",
	  { TP("softirq_exit") },
	  false,
	  false,
	  "softirq context not told apart",
	  0,
	  NEED_IRQ_CTX },
	{ "softirq_entry",
	  { TP("softirq_entry") },
	  false,
	  false,
	  "softirq context not told apart",
	  0,
	  NEED_IRQ_CTX },
};
_Static_assert(sizeof(tps) / sizeof(tps[0]) == NR_TPS, "NR_TPS (trace/internal.h) counts tps[]");

static bool libbpf_verbose;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!libbpf_verbose || level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static struct bpf_program *prog_of(struct bbs_tracer *t, const char *prefix, const char *tp)
{
	char name[128];

	snprintf(name, sizeof(name), "%s_%s", prefix, tp);
	return bpf_object__find_program_by_name(t->skel->obj, name);
}

/* The second program of a tracepoint's program (bbscope.bpf.c "Copies"), or NULL. */
static struct bpf_program *copy_of(struct bbs_tracer *t, const char *prefix, const char *prog)
{
	char name[96];

	snprintf(name, sizeof(name), "%s_copy", prog);
	return prog_of(t, prefix, name);
}

/*
 * Where this CPU's preempt count lies relative to its runqueue, from the
 * offsets of __preempt_count and runqueues in the kernel's per-CPU section
 * (x86: the count is a per-CPU variable, and per-CPU symbols are not in
 * kallsyms without CONFIG_KALLSYMS_ALL).  0 when unknown.
 */
static int64_t preempt_count_delta(const struct btf *vmlinux)
{
#if defined(__x86_64__)
	const struct btf_var_secinfo *v;
	const struct btf_type *sec;
	int64_t pc = -1, rq = -1;
	int id;

	id = btf__find_by_name_kind(vmlinux, ".data..percpu", BTF_KIND_DATASEC);
	if (id < 0)
		return 0;
	sec = btf__type_by_id(vmlinux, id);
	v = btf_var_secinfos(sec);
	for (int i = 0; i < btf_vlen(sec); i++, v++) {
		const char *name =
			btf__name_by_offset(vmlinux, btf__type_by_id(vmlinux, v->type)->name_off);

		/*
		 * An int until 7.x made it an unsigned long on x86-64, with
		 * PREEMPT_NEED_RESCHED moved to bit 63 (HAS_SEPARATE_PREEMPT_
		 * RESCHED_BITS; Debian's 7.3): the count is its low 32 bits
		 * either way, which BPF reads.
		 */
		if (!strcmp(name, "__preempt_count") && (v->size == 4 || v->size == 8))
			pc = v->offset;
		else if (!strcmp(name, "runqueues"))
			rq = v->offset;
	}
	return pc >= 0 && rq >= 0 ? pc - rq : 0;
#else
	return 0;
#endif
}

/*
 * Does this kernel have tracepoint tp, with nargs arguments when nargs is
 * given?  Its btf_trace_<tp> type in vmlinux or btrfs's BTF says, else its
 * tracefs directory (5.10's btrfs has no BTF).  Unknown (no BTF type, no
 * tracefs mounted) counts as present: attaching will tell.
 */
static bool tp_exists(const struct btf *vmlinux, const struct btf *btrfs, const char *tp, int nargs)
{
	const char *roots[] = { "/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events" };
	char name[128], path[PATH_MAX];
	glob_t g;
	int found;

	snprintf(name, sizeof(name), "btf_trace_%s", tp);
	if (btf__find_by_name_kind(vmlinux, name, BTF_KIND_TYPEDEF) >= 0)
		return !nargs || bbs_btf_tp_nargs(vmlinux, tp) == nargs;
	if (btrfs && btf__find_by_name_kind(btrfs, name, BTF_KIND_TYPEDEF) >= 0)
		return !nargs || bbs_btf_tp_nargs(btrfs, tp) == nargs;
	for (size_t r = 0; r < 2; r++) {
		if (access(roots[r], F_OK))
			continue;
		snprintf(path, sizeof(path), "%s/*/%s", roots[r], tp);
		found = !glob(path, GLOB_NOSORT, NULL, &g);
		if (found)
			globfree(&g);
		return found;
	}
	return true;
}

/* Pick the program of tracepoint role i for this kernel, or say why there is none. */
static const struct tp_prog *pick_prog(struct bbs_tracer *t, size_t i, const struct btf *vmlinux,
				       const struct btf *btrfs)
{
	const struct tp_desc *d = &tps[i];

	if (d->need == NEED_RECORD && !t->record) {
		snprintf(t->why[i], sizeof(t->why[i]), "record mode only");
		return NULL;
	}
	t->tp_why[i] = WHY_NO_TRACEPOINT;
	if (d->btrfs && !t->k.btrfs_btf) {
		snprintf(t->why[i], sizeof(t->why[i]), "btrfs has no BTF on this kernel");
		t->tp_why[i] = WHY_NO_BTRFS_BTF;
		return NULL;
	}
	for (size_t a = 0; a < 3 && d->alt[a].prog; a++)
		if (tp_exists(vmlinux, btrfs, d->alt[a].tp, d->alt[a].nargs))
			return &d->alt[a];
	snprintf(t->why[i], sizeof(t->why[i]), "not in this kernel");
	return NULL;
}

/*
 * The tp_btf attach type reads btrfs structs with bpf_rdonly_cast (6.2), which
 * takes vmlinux types only, and keeps per-thread state in task storage
 * (5.11): it needs those and btrfs built in.  Otherwise raw_tp, and why.
 */
static const char *attach_refused(const struct bbs_kernel *k)
{
	if (!k->tp_btf)
		return "tp_btf programs do not load here";
	if (!k->rdonly_cast)
		return "no bpf_rdonly_cast kfunc (6.2)";
	if (!k->task_storage)
		return "no task storage maps (5.11)";
	if (k->btrfs != BTRFS_BUILTIN)
		return "btrfs is a module: bpf_rdonly_cast takes vmlinux types only";
	return NULL;
}

/*
 * Pick tp_btf or raw_tp, and each tracepoint's program or none.
 * BBSCOPE_ATTACH=raw_tp forces the fallback (to test it on hosts that have
 * tp_btf).  Each attach type's private maps are created only for it.
 */
static int choose_programs(struct bbs_tracer *t, bool raw_only)
{
	struct btf *vmlinux = btf__load_vmlinux_btf(), *btrfs = NULL;
	const char *force = getenv("BBSCOPE_ATTACH");
	struct bbscope_bpf *skel = t->skel;

	if (!vmlinux) {
		bbs_err("cannot read kernel BTF (/sys/kernel/btf/vmlinux): %s "
			"(a kernel with CONFIG_DEBUG_INFO_BTF is needed)",
			strerror(errno));
		return -ENOENT;
	}
	if (force && *force && strcmp(force, "raw_tp") && strcmp(force, "tp_btf")) {
		bbs_err("BBSCOPE_ATTACH=%s: want tp_btf or raw_tp", force);
		btf__free(vmlinux);
		return -EINVAL;
	}
	if (t->k.btrfs == BTRFS_MODULE && t->k.btrfs_btf)
		btrfs = btf__load_module_btf("btrfs", vmlinux);
	t->attach_why = attach_refused(&t->k);
	if (force && !strcmp(force, "raw_tp"))
		t->attach_why = "BBSCOPE_ATTACH=raw_tp";
	else if (raw_only)
		t->attach_why = "the tp_btf set was refused at load";
	t->btf = !t->attach_why;
	/* BBSCOPE_CTX=tracepoints: contexts from the irq tracepoints (to compare). */
	force = getenv("BBSCOPE_CTX");
	if (!(force && !strcmp(force, "tracepoints")))
		skel->rodata->pc_delta = preempt_count_delta(vmlinux);
	skel->rodata->pc_direct = t->btf;
	bpf_map__set_autocreate(skel->maps.task_running, t->btf);
	bpf_map__set_autocreate(skel->maps.running, !t->btf);
	bpf_map__set_autocreate(skel->maps.devs, !t->btf);
	for (size_t i = 0; i < NR_TPS; i++) {
		t->prog[i] = pick_prog(t, i, vmlinux, btrfs);
		for (size_t a = 0; a < 3 && tps[i].alt[a].prog; a++) {
			bool on = &tps[i].alt[a] == t->prog[i];

			bpf_program__set_autoload(prog_of(t, "btf", tps[i].alt[a].prog),
						  on && t->btf);
			bpf_program__set_autoload(prog_of(t, "raw", tps[i].alt[a].prog),
						  on && !t->btf);
			/*
			 * Copies only where runs are skipped for preemption:
			 * elsewhere they are never loaded, and cost nothing.
			 */
			on = on && skel->rodata->tp_preempt;
			if (copy_of(t, "btf", tps[i].alt[a].prog)) {
				bpf_program__set_autoload(copy_of(t, "btf", tps[i].alt[a].prog),
							  on && t->btf);
				bpf_program__set_autoload(copy_of(t, "raw", tps[i].alt[a].prog),
							  on && !t->btf);
			}
		}
		t->kind[i] = t->prog[i] ? (t->btf ? "tp_btf" : "raw_tp") : NULL;
		if (!t->prog[i] && tps[i].required) {
			bbs_err("tracepoint %s is missing from this kernel", tps[i].name);
			btf__free(btrfs);
			btf__free(vmlinux);
			return -ENOENT;
		}
	}
	btf__free(btrfs);
	btf__free(vmlinux);
	return 0;
}

/* Does any mounted btrfs sit on a bio-based device (no blk-mq, e.g. zram)? */
static bool btrfs_on_bio_based(void)
{
	char path[PATH_MAX + 16], real[PATH_MAX];
	struct dirent *fs, *dev;
	bool found = false;
	DIR *d, *dd;

	d = opendir("/sys/fs/btrfs");
	if (!d)
		return false;
	while (!found && (fs = readdir(d))) {
		if (fs->d_name[0] == '.' || !strcmp(fs->d_name, "features"))
			continue;
		snprintf(path, sizeof(path), "/sys/fs/btrfs/%s/devices", fs->d_name);
		dd = opendir(path);
		if (!dd)
			continue;
		while (!found && (dev = readdir(dd))) {
			if (dev->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/sys/fs/btrfs/%s/devices/%s", fs->d_name,
				 dev->d_name);
			if (!realpath(path, real))
				continue;
			/* A partition's queue is its disk's, one directory up. */
			snprintf(path, sizeof(path), "%s/mq", real);
			if (!access(path, F_OK))
				continue;
			snprintf(path, sizeof(path), "%s/../mq", real);
			if (!access(path, F_OK))
				continue;
			found = true;
		}
		closedir(dd);
	}
	closedir(d);
	return found;
}

/*
 * Is tracepoint i needed now?  at_start: when the tracer starts, else at a
 * tick.
 *
 * NEED_BIO_BASED: the end_io workqueue is read off the kworker at
 * execute_start, so workqueue_queue_work (which fires for every work item on
 * the system) is only needed to see completions on bio-based devices, and
 * only where block_bio_complete, which shows them all, is not attached:
 * when such a device holds a btrfs at start, or once BPF has seen a bio go
 * to one.
 *
 * NEED_IRQ_CTX: the irq/softirq tracepoints fire for every interrupt on the
 * system; they are only needed where BPF cannot read the preempt count.
 */
static bool want_tp(struct bbs_tracer *t, size_t i, bool at_start)
{
	switch (tps[i].need) {
	case NEED_BIO_BASED:
		return !t->skel->bss->bio_complete_on &&
		       (t->skel->bss->seen_bio_based || (at_start && btrfs_on_bio_based()));
	case NEED_IRQ_CTX:
		return !t->skel->rodata->pc_delta || t->skel->bss->pc_failed;
	default:
		return true;
	}
}

/*
 * The address span of the work functions the work tracepoints look for
 * (enum bbs_fn after the end_io functions): anything outside is rejected
 * in two compares.  All btrfs functions, built in or one module.
 */
static void set_work_fn_range(struct bbs_tracer *t)
{
	uint64_t lo = ~0ULL, hi = 0;

	for (int i = FN_BIO_CHAIN_END_IO + 1; i < NR_FNS; i++) {
		uint64_t a = t->k.fn[i];

		if (!a)
			continue;
		lo = a < lo ? a : lo;
		hi = a > hi ? a : hi;
	}
	t->skel->rodata->work_fn_lo = lo;
	t->skel->rodata->work_fn_hi = hi;
}

/* Attach tracepoint i; if that fails, mark it and its phases unavailable. */
static int attach_one(struct bbs_tracer *t, size_t i)
{
	int err;

	t->links[i] = bpf_program__attach(prog_of(t, t->btf ? "btf" : "raw", t->prog[i]->prog));
	/* From now on bios on bio-based devices wait for it (bio_complete_on). */
	if (t->links[i] && !strcmp(tps[i].name, "block_bio_complete"))
		t->skel->bss->bio_complete_on = 1;
	if (t->links[i])
		return 0;
	err = -errno;
	snprintf(t->why[i], sizeof(t->why[i]), "attach failed: %s", strerror(-err));
	t->tp_why[i] = WHY_NO_TRACEPOINT;
	t->kind[i] = NULL;
	t->unavailable |= tps[i].phases;
	return err;
}

static int attach_all(struct bbs_tracer *t)
{
	for (size_t i = 0; i < NR_TPS; i++) {
		int err;

		if (!t->kind[i]) {
			t->unavailable |= tps[i].phases;
		} else if (want_tp(t, i, true) && (err = attach_one(t, i)) &&
			   (tps[i].required || err == -EMFILE || err == -ENFILE)) {
			/* Out of fds is this process's limit, not a tracepoint missing. */
			bbs_err("cannot attach %s: %s%s", tps[i].name, strerror(-err),
				err == -EPERM ? " (run as root)"
				: err == -EMFILE || err == -ENFILE
					? " (each program and link takes a file descriptor: raise "
					  "the limit, ulimit -n 1024 or more)"
					: "");
			return err;
		}
	}
	for (size_t i = 0; i < NR_TPS && !t->quiet; i++)
		if (!t->kind[i] && !(tps[i].need == NEED_RECORD && !t->record))
			bbs_warn("%s unavailable (%s): %s", tps[i].name, t->why[i], tps[i].without);
	return 0;
}

/*
 * tp_preempt: attach each attached tracepoint's copy, after the first (the
 * tracepoint calls its probes in the order attached) and after every
 * other, so that bio_complete_on is settled: block_bio_queue's copy cannot
 * tell a bio its first accounted at queue (no block_bio_complete), so it
 * is not attached then.  A copy that fails to attach leaves its first's
 * skips counted as they are.
 */
static void attach_copies(struct bbs_tracer *t)
{
	const char *prefix = t->btf ? "btf" : "raw";

	if (!t->skel->rodata->tp_preempt)
		return;
	for (size_t i = 0; i < NR_TPS; i++) {
		struct bpf_program *p;

		if (!t->links[i] || !(p = copy_of(t, prefix, t->prog[i]->prog)))
			continue;
		if (!strcmp(tps[i].name, "block_bio_queue") && !t->skel->bss->bio_complete_on)
			continue;
		t->copy_links[i] = bpf_program__attach(p);
		if (!t->copy_links[i] && !t->quiet)
			bbs_warn("%s: its copy did not attach (%s): skipped runs not made up for",
				 tps[i].name, strerror(errno));
	}
}

static int on_ringbuf(void *ctx, void *data, size_t len)
{
	struct bbs_tracer_opts *o = ctx;

	return o->on_event(o->event_ctx, data, len);
}

/*
 * The BPF object, through its skeleton.  Kernels without BPF_ATOMIC
 * compare-and-swap (before 5.12) get the same object built without it
 * (Makefile: bbscope_nocas): same maps, programs and data, so the one
 * skeleton serves both once its ELF bytes are swapped, as
 * bbscope_bpf__open() would do with its own.
 */
static struct bbscope_bpf *open_object(bool cmpxchg)
{
	struct bbscope_bpf *obj;
	int err;

	if (cmpxchg)
		return bbscope_bpf__open();
	obj = calloc(1, sizeof(*obj));
	if (!obj)
		return NULL;
	err = bbscope_bpf__create_skeleton(obj);
	if (!err) {
		obj->skeleton->data = bbscope_nocas_bpf__elf_bytes(&obj->skeleton->data_sz);
		err = bpf_object__open_skeleton(obj->skeleton, NULL);
	}
	if (err) {
		bbscope_bpf__destroy(obj);
		errno = -err;
		return NULL;
	}
	return obj;
}

/*
 * Open the BPF object, set it up and load one attach type of it (raw_only: the
 * raw_tp set).  0 or a negative errno; *refused when the kernel refused the
 * programs at load (not reported yet: the caller may retry as raw_tp).
 */
static int load(struct bbs_tracer *t, const struct bbs_tracer_opts *o, bool raw_only, bool *refused)
{
	const struct bbs_kernel *k = &t->k;
	const char *force;
	bool work_seen;
	int err;

	*refused = false;
	t->skel = open_object(k->cmpxchg);
	if (!t->skel) {
		err = -errno;
		bbs_err("cannot open the BPF object: %s", strerror(-err));
		return err;
	}
	memcpy((void *)t->skel->rodata->fn, k->fn, sizeof(k->fn));
	memcpy((void *)t->skel->rodata->fn_class, k->fn_class, sizeof(k->fn_class));
	t->skel->rodata->filter_fs = o->filter_fs;
	t->skel->rodata->filter_dev = o->filter_dev;
	t->skel->rodata->emit_events = o->emit_events;
	t->skel->rodata->sample_n = o->sample > 1 ? o->sample : 0;
	set_work_fn_range(t);
	/* Benchmarks: programs attached but empty, the cost of the events alone. */
	t->skel->rodata->events_only = getenv("BBSCOPE_EVENTS_ONLY") != NULL;
	/* BBSCOPE_TP_PREEMPT=0|1 overrides the probe (tests, cost A/B). */
	force = getenv("BBSCOPE_TP_PREEMPT");
	t->skel->rodata->tp_preempt = force && *force ? *force == '1' : k->tp_preemptible;
	if (o->emit_events)
		bpf_map__set_max_entries(t->skel->maps.events, (o->ringbuf_mb ? o->ringbuf_mb : 16)
								       << 20);
	err = choose_programs(t, raw_only);
	if (err)
		return err;
	/* Without the work tracepoints no end_io work is seen: end bios at completion. */
	work_seen = bbs_tracer_attach_kind(t, "workqueue_execute_start") &&
		    bbs_tracer_attach_kind(t, "workqueue_execute_end");
	if (work_seen)
		memcpy((void *)t->skel->rodata->fn_work_ops, k->fn_work_ops,
		       sizeof(k->fn_work_ops));
	err = bbs_funcs_prepare(&t->funcs, t->skel->obj, t->skel->rodata->func_arg);
	if (err) {
		bbs_err("cannot set up the function probes: %s", strerror(-err));
		return err;
	}
	err = bbscope_bpf__load(t->skel);
	*refused = err != 0;
	return err;
}

/* One line that names why this host cannot be traced, or 0. */
static int check_kernel(const struct bbs_kernel *k)
{
	if (!k->btf) {
		bbs_err("this kernel has no BTF (/sys/kernel/btf/vmlinux): bbscope needs "
			"CONFIG_DEBUG_INFO_BTF");
		return -ENOENT;
	}
	switch (k->btrfs) {
	case BTRFS_ABSENT:
		bbs_err("this kernel has no btrfs (not built in, no module)");
		return -ENOENT;
	case BTRFS_NOT_LOADED:
		bbs_err("the btrfs module is not loaded (modprobe btrfs, or mount a btrfs)");
		return -ENOENT;
	default:
		break;
	}
	if (!bbs_kernel_has_btrfs_bios(k)) {
		bbs_err("no btrfs end_io function of any known kernel generation is in "
			"/proc/kallsyms (%s btrfs on %s)",
			k->btrfs == BTRFS_MODULE ? "module" : "built-in", k->release);
		return -ENOENT;
	}
	return 0;
}

/*
 * bbscope's own BPF cost needs the kernel's run-time statistics: on while
 * the sysctl kernel.bpf_stats_enabled is 1, or while a BPF_ENABLE_STATS fd
 * (bpf_enable_stats, 5.8) is open, which the tracer holds for its life.
 */
static void stats_open(struct bbs_tracer *t)
{
	char v = '0';
	FILE *f;

	t->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (t->stats_fd >= 0)
		return;
	f = fopen("/proc/sys/kernel/bpf_stats_enabled", "r");
	if (f) {
		if (fread(&v, 1, 1, f) != 1)
			v = '0';
		fclose(f);
	}
	if (v != '1')
		t->cost_why =
			"the kernel has no BPF_ENABLE_STATS and kernel.bpf_stats_enabled is 0";
}

/*
 * --sample lets the end of a bio's end_io work that is not followed leave
 * before the thread's state is looked up, unless the kernel skips runs
 * (on_execute_end): once a program's recursion_misses is seen, BPF is
 * told.  Once a second (bbs_tracer_tick) until then.
 */
void tracer_watch_skips(struct bbs_tracer *t)
{
	if (t->skel->rodata->sample_n <= 1 || t->skel->bss->skipped_runs_seen)
		return;
	for (size_t i = 0; i < NR_TPS; i++) {
		struct bpf_prog_info info = { 0 };
		__u32 len = sizeof(info);
		int fd;

		if (!t->links[i])
			continue;
		fd = bpf_program__fd(prog_of(t, t->btf ? "btf" : "raw", t->prog[i]->prog));
		if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len) && info.recursion_misses) {
			__atomic_store_n(&t->skel->bss->skipped_runs_seen, 1, __ATOMIC_RELAXED);
			return;
		}
	}
}

/*
 * The run count and time of each attached program since the last drain, and
 * the runs the kernel skipped (recursion_misses, counted whether or not
 * bpf_stats is on).
 */
static void drain_prog(struct bbs_tracer *t, struct bbs_report *r, struct bpf_program *p,
		       const char *name, bool skips, uint64_t *runs_prev, uint64_t *ns_prev,
		       uint64_t *skipped_prev)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);
	struct bbs_prog_cost *c;
	int fd = bpf_program__fd(p);
	uint64_t skipped;

	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return;
	skipped = info.recursion_misses - *skipped_prev;
	if (skips)
		r->skipped_runs += skipped;
	*skipped_prev = info.recursion_misses;
	if (t->cost_why || r->nr_prog_cost == BBS_MAX_PROG_COST)
		return;
	c = &r->prog_cost[r->nr_prog_cost++];
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->skipped_runs = skipped;
	c->runs = info.run_cnt - *runs_prev;
	c->ns = info.run_time_ns - *ns_prev;
	*runs_prev = info.run_cnt;
	*ns_prev = info.run_time_ns;
}

/*
 * skipped_runs counts the skips nothing made up for: of a tracepoint with a
 * copy attached, the copy's (a run lost needs both skipped, so it is at
 * most that), whose first's skips the copy makes up (rescued_runs, the
 * copies' runs that acted).
 */
void tracer_drain_cost(struct bbs_tracer *t, struct bbs_report *r)
{
	const char *prefix = t->btf ? "btf" : "raw";
	uint64_t rescued;
	char name[64];

	r->cost_measured = !t->cost_why;
	r->cost_why = t->cost_why;
	for (size_t i = 0; i < NR_TPS; i++) {
		if (!t->links[i])
			continue;
		drain_prog(t, r, prog_of(t, prefix, t->prog[i]->prog), tps[i].name,
			   !t->copy_links[i], &t->cost_runs_prev[i], &t->cost_ns_prev[i],
			   &t->skipped_prev[i]);
		if (!t->copy_links[i])
			continue;
		snprintf(name, sizeof(name), "%s_copy", tps[i].name);
		drain_prog(t, r, copy_of(t, prefix, t->prog[i]->prog), name, true,
			   &t->copy_runs_prev[i], &t->copy_ns_prev[i], &t->copy_skipped_prev[i]);
	}
	rescued = __atomic_load_n(&t->skel->bss->rescued_runs, __ATOMIC_RELAXED);
	r->rescued_runs += rescued - t->rescued_prev;
	t->rescued_prev = rescued;
}

int bbs_tracer_open(struct bbs_tracer **out, const struct bbs_tracer_opts *o)
{
	static struct bbs_tracer_opts opts_copy;
	struct bbs_tracer *t;
	const char *force;
	bool refused, fd_limit;
	int err;

	char missing[128];

	if (!bbs_caps_for_tracing(missing, sizeof(missing))) {
		bbs_err("tracing needs %s, which this process lacks (run as root, or grant it: "
			"bbscope features lists what is needed)",
			missing);
		return -EPERM;
	}
	libbpf_verbose = o->verbose;
	libbpf_set_print(libbpf_print);

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->stats_fd = -1;
	err = bbs_kernel_probe(&t->k);
	if (err == -EPERM)
		bbs_err("/proc/kallsyms shows no addresses (kptr_restrict: needs CAP_SYSLOG)");
	else if (err)
		bbs_err("cannot read /proc/kallsyms: %s", strerror(-err));
	if (!err)
		err = check_kernel(&t->k);
	if (!err && o->nr_funcs)
		err = bbs_funcs_plan(&t->funcs, o->funcs, o->nr_funcs, &t->k);
	if (err) {
		free(t);
		return err;
	}
	if (t->funcs.refused[0])
		bbs_warn("%s", t->funcs.refused);
	t->verbose = o->verbose;
	t->record = o->emit_events;
	t->quiet = o->quiet;
	t->filter_fs = o->filter_fs;
	t->sample = o->sample > 1 ? o->sample : 0;
	t->filter_dev = o->filter_dev;
	t->ncpus = libbpf_num_possible_cpus();
	t->evict_after_ns = o->evict_after_ns ? o->evict_after_ns : 30ULL * 1000000000ULL;

	err = load(t, o, false, &refused);
	force = getenv("BBSCOPE_ATTACH");
	/* Out of fds is this process's limit, not the host refusing programs: no fallback. */
	fd_limit = err == -EMFILE || err == -ENFILE;
	if (refused && t->btf && err != -EPERM && !fd_limit &&
	    !(force && !strcmp(force, "tp_btf"))) {
		/* The probes said yes but the verifier said no: fall back, and say so. */
		bbs_warn("the tp_btf programs do not load here (%s): using raw_tp", strerror(-err));
		bbscope_bpf__destroy(t->skel);
		t->skel = NULL;
		memset(t->kind, 0, sizeof(t->kind));
		memset(t->why, 0, sizeof(t->why));
		err = load(t, o, true, &refused);
	}
	if (refused)
		bbs_err("cannot load the BPF programs: %s%s", strerror(-err),
			err == -EPERM ? " (run as root; is lockdown or a LSM refusing BPF?)"
			: fd_limit    ? " (each program and map takes a file descriptor: "
					"raise the limit, ulimit -n 1024 or more)"
				      : " (run with -v for the verifier log)");
	if (err)
		goto err_destroy;
	err = tracer_map_tables(t);
	if (err)
		goto err_destroy;
	tracer_fill_devs(t);
	tracer_precreate(t);
	err = attach_all(t);
	if (err)
		goto err_detach;
	attach_copies(t);
	bbs_funcs_attach(&t->funcs, t->skel->obj, t->func_links);
	if (o->emit_events && o->on_event) {
		opts_copy = *o;
		t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.events), on_ringbuf, &opts_copy,
					 NULL);
		if (!t->rb) {
			err = -errno;
			bbs_err("cannot open the ring buffer: %s", strerror(-err));
			goto err_detach;
		}
	}
	stats_open(t);
	t->last_drain_ns = bbs_now_ns();
	*out = t;
	return 0;

err_detach:
	for (size_t i = 0; i < NR_TPS; i++)
		bpf_link__destroy(t->copy_links[i]);
	for (size_t i = 0; i < NR_TPS; i++)
		bpf_link__destroy(t->links[i]);
	for (int i = 0; i < 2 * MAX_FUNCS; i++)
		bpf_link__destroy(t->func_links[i]);
err_destroy:
	tracer_unmap_tables(t);
	bbscope_bpf__destroy(t->skel);
	free(t);
	return err;
}

void bbs_tracer_close(struct bbs_tracer *t)
{
	if (!t)
		return;
	ring_buffer__free(t->rb);
	if (t->stats_fd >= 0)
		close(t->stats_fd);
	for (int i = 0; i < 2 * MAX_FUNCS; i++)
		bpf_link__destroy(t->func_links[i]);
	for (size_t i = 0; i < NR_TPS; i++)
		bpf_link__destroy(t->copy_links[i]);
	for (size_t i = 0; i < NR_TPS; i++)
		bpf_link__destroy(t->links[i]);
	tracer_unmap_tables(t);
	bbscope_bpf__destroy(t->skel);
	free(t);
}

/* Why a tracepoint this kernel has is not attached (yet). */
static const char *idle_why(const struct bbs_tracer *t, size_t i)
{
	if (tps[i].need == NEED_IRQ_CTX)
		return "not needed: contexts from the preempt count";
	if (t->skel->bss->bio_complete_on)
		return "not needed: block_bio_complete shows bio-based completions";
	return "attached when a bio-based device is seen";
}

void bbs_tracer_describe(struct bbs_tracer *t, FILE *f)
{
	const struct bbs_kernel *k = &t->k;

	fprintf(f, "bbscope: kernel %s, btrfs %s%s, %s programs%s%s%s\n", k->release,
		k->btrfs == BTRFS_MODULE ? "module" : "built in",
		k->btrfs_btf ? "" : " without BTF", t->btf ? "tp_btf" : "raw_tp",
		t->attach_why ? " (" : "", t->attach_why ? t->attach_why : "",
		t->attach_why ? ")" : "");
	fprintf(f, "  contexts from %s\n",
		t->skel->rodata->pc_delta && !t->skel->bss->pc_failed
			? "the preempt count"
			: "the irq and softirq tracepoints");
	if (t->skel->rodata->tp_preempt) {
		fprintf(f, "  tracepoints preemptible: atomic adds, epoch hand-over by in-flight "
			   "counts\n");
		fprintf(f, "  copies (their first's skipped runs made up for):");
		for (size_t i = 0; i < NR_TPS; i++)
			if (t->copy_links[i])
				fprintf(f, " %s", tps[i].name);
		fputc('\n', f);
	}
	for (int i = 0; i < FN_NR_END_IO; i++) {
		static const char *const where[] = { "inline at completion", "a work item" };
		uint8_t w = t->skel->rodata->fn_work_ops[i];

		if (!k->fn[i])
			continue;
		if (k->fn_class[i] == CLASS_BBIO)
			fprintf(f, "  %-26s end_io of reads: %s, of writes: %s\n", k->fn_name[i],
				where[!!(w & (1U << BBS_OP_READ))],
				where[!!(w & (1U << BBS_OP_WRITE))]);
		else
			fprintf(f, "  %-26s %s: ends at its completion\n", k->fn_name[i],
				k->fn_class[i] == CLASS_RAID ? "raid56 strip" : "superblock write");
	}
	for (int i = 0; i < t->funcs.n; i++)
		if (t->funcs.slot[i].name[0])
			fprintf(f, "  func:%-23s %s on %s\n", t->funcs.slot[i].name,
				t->funcs.slot[i].fentry ? "fentry/fexit" : "kprobe/kretprobe",
				t->funcs.slot[i].sym);
	for (size_t i = 0; i < NR_TPS; i++) {
		bool as = t->prog[i] && strcmp(t->prog[i]->tp, tps[i].name);
		bool idle = t->kind[i] && !t->links[i];

		fprintf(f, "  %-28s %s%s%s%s%s%s\n", tps[i].name,
			t->kind[i] ? t->kind[i] : t->why[i], as ? " as " : "",
			as ? t->prog[i]->tp : "", idle ? " (" : "", idle ? idle_why(t, i) : "",
			idle ? ")" : "");
	}
}

/* Why a phase cannot be seen: the first of its tracepoints that is not attached. */
static int tp_phase_why(const struct bbs_tracer *t, int p)
{
	for (size_t i = 0; i < NR_TPS; i++)
		if (!t->kind[i] && (tps[i].phases & (1U << p)))
			return t->tp_why[i] ? t->tp_why[i] : WHY_NO_TRACEPOINT;
	return WHY_NONE;
}

/*
 * What each phase can show on this kernel, per op: hop and endio only where
 * some btrfs end_io of that op runs as a work item; rmw and recover where
 * the kernel has their functions and btrfs's types to read them by.
 */
void bbs_tracer_phase_why(const struct bbs_tracer *t, uint8_t why[BBS_NR_OPS][NR_PHASES])
{
	const struct bbs_kernel *k = &t->k;

	for (int op = 0; op < BBS_NR_OPS; op++) {
		uint8_t work = 0;

		for (int i = 0; i < FN_NR_END_IO; i++)
			work |= t->skel->rodata->fn_work_ops[i];
		for (int p = 0; p < NR_PHASES; p++)
			why[op][p] = tp_phase_why(t, p);
		if (!(work & (1U << op))) {
			if (!why[op][PHASE_HOP])
				why[op][PHASE_HOP] = WHY_ENDIO_INLINE;
			if (!why[op][PHASE_ENDIO])
				why[op][PHASE_ENDIO] = WHY_ENDIO_INLINE;
		}
		if (op == BBS_OP_READ)
			why[op][PHASE_CSUM] = WHY_CSUM_IN_ENDIO;
		for (int p = PHASE_RMW; p <= PHASE_RECOVER; p++)
			if (!why[op][p])
				why[op][p] =
					!k->btrfs_btf ? WHY_NO_BTRFS_BTF
					: !k->fn[p == PHASE_RMW ? FN_RMW_WORK : FN_RECOVER_WORK]
						? WHY_NO_FUNCTION
						: WHY_NONE;
	}
}

size_t bbs_tracer_nr_tps(void)
{
	return NR_TPS;
}

void bbs_tracer_tp(const struct bbs_tracer *t, size_t i, struct bbs_tp_info *out)
{
	const struct tp_prog *p = t->prog[i];

	out->name = tps[i].name;
	out->attach = t->kind[i];
	out->as = p && strcmp(p->tp, tps[i].name) ? p->tp : NULL;
	out->attached = t->links[i] != NULL;
	out->why = !t->kind[i] ? t->why[i] : t->links[i] ? NULL : idle_why(t, i);
}

bool bbs_tracer_ctx_from_preempt_count(const struct bbs_tracer *t)
{
	return t->skel->rodata->pc_delta && !t->skel->bss->pc_failed;
}

uint8_t bbs_tracer_work_ops(const struct bbs_tracer *t, int fn)
{
	return fn >= 0 && fn < FN_NR_END_IO ? t->skel->rodata->fn_work_ops[fn] : 0;
}

const char *bbs_tracer_attach_why(const struct bbs_tracer *t)
{
	return t->attach_why;
}

const char *bbs_tracer_attach_type(const struct bbs_tracer *t)
{
	return t->btf ? "tp_btf" : "raw_tp";
}

const struct bbs_kernel *bbs_tracer_kernel(const struct bbs_tracer *t)
{
	return &t->k;
}

const char *bbs_tracer_attach_kind(struct bbs_tracer *t, const char *tp)
{
	for (size_t i = 0; i < NR_TPS; i++)
		if (!strcmp(tps[i].name, tp))
			return t->kind[i];
	return NULL;
}

/* Attach what became needed since the start (see want_tp). */
void tracer_attach_on_demand(struct bbs_tracer *t)
{
	for (size_t i = 0; i < NR_TPS; i++)
		if (!t->links[i] && t->kind[i] && want_tp(t, i, false) && attach_one(t, i))
			bbs_warn("%s unavailable (%s): %s", tps[i].name, t->why[i], tps[i].without);
}
