// SPDX-License-Identifier: GPL-2.0
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "bbscope.skel.h"
#include "trace/tracer.h"
#include "host/util.h"

/* Kernel functions by enum bbs_fn; resolved from /proc/kallsyms. */
const char *const bbs_fn_names[NR_FNS] = {
	[FN_SIMPLE_END_IO] = "btrfs_simple_end_io",
	[FN_ORIG_WRITE_END_IO] = "btrfs_orig_write_end_io",
	[FN_CLONE_WRITE_END_IO] = "btrfs_clone_write_end_io",
	[FN_RAID_WRITE_END_IO] = "raid_wait_write_end_io",
	[FN_RAID_READ_END_IO] = "raid_wait_read_end_io",
	[FN_SUPER_END_IO] = "btrfs_end_super_write",
	[FN_BIO_CHAIN_END_IO] = "bio_chain_endio",
	[FN_SIMPLE_WORK] = "simple_end_io_work",
	[FN_ORIG_WRITE_WORK] = "orig_write_end_io_work",
	[FN_CLONE_WRITE_WORK] = "clone_write_end_io_work",
	[FN_CSUM_WORK] = "csum_one_bio_work",
	[FN_ASYNC_CSUM_START] = "run_one_async_start",
	[FN_BTRFS_WORK_HELPER] = "btrfs_work_helper",
	[FN_RMW_WORK] = "rmw_rbio_work",
	[FN_RECOVER_WORK] = "recover_rbio_work",
	[FN_RMW_WORK_LOCKED] = "rmw_rbio_work_locked",
	[FN_RECOVER_WORK_LOCKED] = "recover_rbio_work_locked",
};

/*
 * Every tracepoint the BPF object has a btf_<tp> and a raw_<tp> program
 * for, what is lost without it, and the phases it feeds.
 */
/* When a tracepoint is attached: always, or only once it is needed (want_tp). */
enum tp_need {
	NEED_ALWAYS,
	NEED_BIO_BASED, /* a btrfs on a bio-based device (tp_btf; raw_tp always) */
	NEED_IRQ_CTX, /* contexts not read from the preempt count */
};

static const struct tp_desc {
	const char *name;
	bool required;
	const char *without;
	uint32_t phases; /* bit per enum bbs_phase */
	enum tp_need need;
} tps[] = {
	{ "block_bio_queue", true, NULL, 0, NEED_ALWAYS },
	{ "block_rq_issue", false, "queue and device are not split", 1 << PHASE_QUEUE,
	  NEED_ALWAYS },
	{ "block_rq_complete", false, "no device latency on request-based devices",
	  1 << PHASE_DEVICE, NEED_ALWAYS },
	{ "block_bio_complete", false, "remapped bios complete at their end_io", 0, NEED_ALWAYS },
	{ "workqueue_queue_work", false, "no completion on bio-based devices", 0, NEED_BIO_BASED },
	{ "workqueue_execute_start", false, "no hop, endio, rmw or recover",
	  1 << PHASE_HOP | 1 << PHASE_ENDIO | 1 << PHASE_RMW | 1 << PHASE_RECOVER, NEED_ALWAYS },
	{ "workqueue_execute_end", false, "no hop, endio, rmw or recover",
	  1 << PHASE_HOP | 1 << PHASE_ENDIO | 1 << PHASE_RMW | 1 << PHASE_RECOVER, NEED_ALWAYS },
	{ "btrfs_work_sched", false, "offloaded checksums not seen", 1 << PHASE_CSUM, NEED_ALWAYS },
	{ "btrfs_ordered_sched", false, "offloaded checksum end less precise", 0, NEED_ALWAYS },
	{ "btrfs_ordered_extent_add", false, "no ordered extent latency", 1 << PHASE_ORDERED,
	  NEED_ALWAYS },
	{ "btrfs_ordered_extent_remove", false, "no ordered extent latency", 1 << PHASE_ORDERED,
	  NEED_ALWAYS },
	{ "raid56_write", false, "raid56 stripe writes not counted", 0, NEED_ALWAYS },
	{ "raid56_read", false, "raid56 stripe reads not counted", 0, NEED_ALWAYS },
	/* Exits before entries: an entry counted before its exit is attached
	 * would leave the CPU in irq context for good. */
	{ "irq_handler_exit", false, "hardirq context not told apart", 0, NEED_IRQ_CTX },
	{ "irq_handler_entry", false, "hardirq context not told apart", 0, NEED_IRQ_CTX },
	{ "softirq_exit", false, "softirq context not told apart", 0, NEED_IRQ_CTX },
	{ "softirq_entry", false, "softirq context not told apart", 0, NEED_IRQ_CTX },
};
#define NR_TPS (sizeof(tps) / sizeof(tps[0]))

struct bbs_tracer {
	struct bbscope_bpf *skel;
	bool btf; /* the tp_btf flavour is loaded (else raw_tp) */
	struct table {
		void *base; /* the map, mmapped for the sweeper */
		size_t len, bucket_size, state_size;
	} bios, ordered;
	struct bpf_link *links[NR_TPS];
	const char *kind[NR_TPS]; /* "tp_btf", "raw_tp" or NULL */
	char why[NR_TPS][96]; /* reason a tracepoint is not attached */
	struct ring_buffer *rb;
	uint32_t unavailable; /* phases without their tracepoints */
	uint32_t epoch;
	uint64_t last_drain_ns;
	uint64_t evict_after_ns;
	uint64_t evicted; /* since the last drain */
	uint64_t lost_prev[NR_LOST_BPF];
	uint64_t fn_addr[NR_FNS];
	int ncpus;
	bool verbose;
};

static bool libbpf_verbose;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!libbpf_verbose || level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* Resolve fn_names[] from /proc/kallsyms ("name" or "name.suffix"). */
static int resolve_symbols(uint64_t *addr)
{
	char line[512], sym[256], type;
	unsigned long long a;
	int found = 0;
	FILE *f;

	memset(addr, 0, sizeof(*addr) * NR_FNS);
	f = fopen("/proc/kallsyms", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx %c %255s", &a, &type, sym) != 3)
			continue;
		if (type != 't' && type != 'T')
			continue;
		for (int i = 0; i < NR_FNS; i++) {
			size_t n = strlen(bbs_fn_names[i]);

			if (addr[i] || strncmp(sym, bbs_fn_names[i], n) ||
			    (sym[n] && sym[n] != '.'))
				continue;
			addr[i] = a;
			found++;
		}
	}
	fclose(f);
	return found;
}

/* Can a tp_btf program attach to this tracepoint here?  Load a 2-insn one. */
static bool tp_btf_loads(const struct btf *vmlinux, const char *tp)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	char name[128];
	int id, fd;

	snprintf(name, sizeof(name), "btf_trace_%s", tp);
	id = btf__find_by_name_kind(vmlinux, name, BTF_KIND_TYPEDEF);
	if (id < 0)
		return false;
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_RAW_TP,
		    .attach_btf_id = id);
	fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, NULL, "GPL", insns, 2, &opts);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static struct bpf_program *prog_of(struct bbs_tracer *t, const char *prefix, const char *tp)
{
	char name[128];

	snprintf(name, sizeof(name), "%s_%s", prefix, tp);
	return bpf_object__find_program_by_name(t->skel->obj, name);
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

		if (!strcmp(name, "__preempt_count") && v->size == 4)
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
 * Pick tp_btf or raw_tp for each tracepoint, or neither when it is absent.
 * BBSCOPE_ATTACH=raw_tp forces the fallback (to test it on hosts that have
 * tp_btf).  Each flavour's private maps are created only for it.
 */
static int choose_programs(struct bbs_tracer *t, bool raw_only)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	const char *force = getenv("BBSCOPE_ATTACH");
	struct bbscope_bpf *skel = t->skel;
	char name[128];

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
	t->btf = !raw_only && tp_btf_loads(vmlinux, "block_bio_queue") &&
		 !(force && !strcmp(force, "raw_tp"));
	/* BBSCOPE_CTX=tracepoints: contexts from the irq tracepoints (to compare). */
	force = getenv("BBSCOPE_CTX");
	if (t->btf && !(force && !strcmp(force, "tracepoints")))
		skel->rodata->pc_delta = preempt_count_delta(vmlinux);
	bpf_map__set_autocreate(skel->maps.task_running, t->btf);
	bpf_map__set_autocreate(skel->maps.running, !t->btf);
	bpf_map__set_autocreate(skel->maps.scratch, !t->btf);
	bpf_map__set_autocreate(skel->maps.devs, !t->btf);
	for (size_t i = 0; i < NR_TPS; i++) {
		struct bpf_program *btf = prog_of(t, "btf", tps[i].name);
		struct bpf_program *raw = prog_of(t, "raw", tps[i].name);
		bool exists;

		snprintf(name, sizeof(name), "btf_trace_%s", tps[i].name);
		exists = btf__find_by_name_kind(vmlinux, name, BTF_KIND_TYPEDEF) >= 0;
		bpf_program__set_autoload(btf, exists && t->btf);
		bpf_program__set_autoload(raw, exists && !t->btf);
		t->kind[i] = exists ? (t->btf ? "tp_btf" : "raw_tp") : NULL;
		if (!exists) {
			snprintf(t->why[i], sizeof(t->why[i]), "not in this kernel");
			if (tps[i].required) {
				bbs_err("tracepoint %s is missing from this kernel", tps[i].name);
				btf__free(vmlinux);
				return -ENOENT;
			}
		}
	}
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
 * NEED_BIO_BASED: with tp_btf the end_io workqueue is read at execute_start,
 * so workqueue_queue_work (which fires for every work item on the system) is
 * only needed to see completions on bio-based devices: when such a device
 * holds a btrfs at start, or once BPF has seen a bio go to one.
 *
 * NEED_IRQ_CTX: the irq/softirq tracepoints fire for every interrupt on the
 * system; they are only needed where BPF cannot read the preempt count.
 */
static bool want_tp(struct bbs_tracer *t, size_t i, bool at_start)
{
	switch (tps[i].need) {
	case NEED_BIO_BASED:
		return !t->btf || t->skel->bss->seen_bio_based ||
		       (at_start && btrfs_on_bio_based());
	case NEED_IRQ_CTX:
		return !t->skel->rodata->pc_delta || t->skel->bss->pc_failed;
	default:
		return true;
	}
}

/* Attach tracepoint i; if that fails, mark it and its phases unavailable. */
static int attach_one(struct bbs_tracer *t, size_t i)
{
	int err;

	t->links[i] = bpf_program__attach(prog_of(t, t->btf ? "btf" : "raw", tps[i].name));
	if (t->links[i])
		return 0;
	err = -errno;
	snprintf(t->why[i], sizeof(t->why[i]), "attach failed: %s", strerror(-err));
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
		} else if (want_tp(t, i, true) && (err = attach_one(t, i)) && tps[i].required) {
			bbs_err("cannot attach %s: %s%s", tps[i].name, strerror(-err),
				err == -EPERM ? " (run as root)" : "");
			return err;
		}
	}
	for (size_t i = 0; i < NR_TPS; i++)
		if (!t->kind[i])
			bbs_warn("%s unavailable (%s): %s", tps[i].name, t->why[i], tps[i].without);
	return 0;
}

static int on_ringbuf(void *ctx, void *data, size_t len)
{
	struct bbs_tracer_opts *o = ctx;

	return o->on_event(o->event_ctx, data, len);
}

/* mmap sees array values back to back: each bucket must be a multiple of 8 bytes. */
_Static_assert(sizeof(struct bbs_bio_bucket) % 8 == 0, "bio bucket size");
_Static_assert(sizeof(struct bbs_ordered_bucket) % 8 == 0, "ordered bucket size");

static int table_map(struct table *tb, struct bpf_map *map, size_t bucket_size, size_t state_size)
{
	if (bpf_map__value_size(map) != bucket_size)
		return -EINVAL;
	tb->bucket_size = bucket_size;
	tb->state_size = state_size;
	tb->len = (size_t)bpf_map__max_entries(map) * bucket_size;
	tb->base = mmap(NULL, tb->len, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(map), 0);
	if (tb->base == MAP_FAILED) {
		tb->base = NULL;
		return -errno;
	}
	return 0;
}

static void table_unmap(struct table *tb)
{
	if (tb->base)
		munmap(tb->base, tb->len);
	tb->base = NULL;
}

/*
 * Open the BPF object, set it up and load one flavour of it (raw_only: the
 * raw_tp set).  0 or a negative errno; *refused when the kernel refused the
 * programs at load (not reported yet: the caller may retry as raw_tp).
 */
static int load(struct bbs_tracer *t, const struct bbs_tracer_opts *o, const uint64_t *addr,
		bool raw_only, bool *refused)
{
	int err;

	*refused = false;
	t->skel = bbscope_bpf__open();
	if (!t->skel) {
		err = -errno;
		bbs_err("cannot open the BPF object: %s", strerror(-err));
		return err;
	}
	memcpy((void *)t->skel->rodata->fn, addr, sizeof(uint64_t) * NR_FNS);
	t->skel->rodata->filter_fs = o->filter_fs;
	t->skel->rodata->filter_dev = o->filter_dev;
	t->skel->rodata->emit_events = o->emit_events;
	/* Benchmarks: programs attached but empty, the cost of the events alone. */
	t->skel->rodata->events_only = getenv("BBSCOPE_EVENTS_ONLY") != NULL;
	if (o->emit_events)
		bpf_map__set_max_entries(t->skel->maps.events, (o->ringbuf_mb ? o->ringbuf_mb : 16)
								       << 20);
	err = choose_programs(t, raw_only);
	if (err)
		return err;
	/*
	 * Kernels before the end_io work items run btrfs end_io at completion;
	 * without the work tracepoints we cannot see it either: end bios there.
	 */
	t->skel->rodata->endio_inline = !addr[FN_SIMPLE_WORK] ||
					!bbs_tracer_attach_kind(t, "workqueue_execute_start") ||
					!bbs_tracer_attach_kind(t, "workqueue_execute_end");
	err = bbscope_bpf__load(t->skel);
	*refused = err != 0;
	return err;
}

int bbs_tracer_open(struct bbs_tracer **out, const struct bbs_tracer_opts *o)
{
	static struct bbs_tracer_opts opts_copy;
	uint64_t addr[NR_FNS];
	struct bbs_tracer *t;
	bool refused;
	const char *force;
	int err, found;

	if (geteuid() != 0) {
		bbs_err("tracing needs root (CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN)");
		return -EPERM;
	}
	libbpf_verbose = o->verbose;
	libbpf_set_print(libbpf_print);

	found = resolve_symbols(addr);
	if (found < 0) {
		bbs_err("cannot read /proc/kallsyms: %s", strerror(-found));
		return found;
	}
	if (!addr[FN_SIMPLE_END_IO] && !addr[FN_ORIG_WRITE_END_IO]) {
		bbs_err("btrfs end_io functions not found in /proc/kallsyms "
			"(is btrfs loaded? are addresses hidden by kptr_restrict?)");
		return -ENOENT;
	}

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->verbose = o->verbose;
	memcpy(t->fn_addr, addr, sizeof(addr));
	t->ncpus = libbpf_num_possible_cpus();
	t->evict_after_ns = o->evict_after_ns ? o->evict_after_ns : 30ULL * 1000000000ULL;

	err = load(t, o, addr, false, &refused);
	force = getenv("BBSCOPE_ATTACH");
	if (refused && t->btf && err != -EPERM && !(force && !strcmp(force, "tp_btf"))) {
		/*
		 * The tp_btf set needs more of the kernel than tp_btf itself
		 * (bpf_rdonly_cast: 6.2, task storage: 5.11): fall back.
		 */
		bbs_warn("the tp_btf programs do not load here (%s): using raw_tp", strerror(-err));
		bbscope_bpf__destroy(t->skel);
		t->skel = NULL;
		memset(t->kind, 0, sizeof(t->kind));
		memset(t->why, 0, sizeof(t->why));
		err = load(t, o, addr, true, &refused);
	}
	if (refused)
		bbs_err("cannot load the BPF programs: %s%s", strerror(-err),
			err == -EPERM ? " (run as root; is lockdown or a LSM refusing BPF?)"
				      : " (run with -v for the verifier log)");
	if (err)
		goto err_destroy;
	err = table_map(&t->bios, t->skel->maps.bios, sizeof(struct bbs_bio_bucket),
			sizeof(struct bbs_bio_state));
	if (!err)
		err = table_map(&t->ordered, t->skel->maps.ordered,
				sizeof(struct bbs_ordered_bucket),
				sizeof(struct bbs_ordered_state));
	if (err) {
		bbs_err("cannot map the BPF tables: %s", strerror(-err));
		goto err_destroy;
	}
	err = attach_all(t);
	if (err)
		goto err_detach;
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
	t->last_drain_ns = bbs_now_ns();
	*out = t;
	return 0;

err_detach:
	for (size_t i = 0; i < NR_TPS; i++)
		bpf_link__destroy(t->links[i]);
err_destroy:
	table_unmap(&t->bios);
	table_unmap(&t->ordered);
	bbscope_bpf__destroy(t->skel);
	free(t);
	return err;
}

void bbs_tracer_close(struct bbs_tracer *t)
{
	if (!t)
		return;
	ring_buffer__free(t->rb);
	for (size_t i = 0; i < NR_TPS; i++)
		bpf_link__destroy(t->links[i]);
	table_unmap(&t->bios);
	table_unmap(&t->ordered);
	bbscope_bpf__destroy(t->skel);
	free(t);
}

void bbs_tracer_describe(struct bbs_tracer *t, FILE *f)
{
	for (size_t i = 0; i < NR_TPS; i++)
		fprintf(f, "  %-28s %s%s\n", tps[i].name, t->kind[i] ? t->kind[i] : t->why[i],
			!t->kind[i] || t->links[i] ? ""
			: tps[i].need == NEED_BIO_BASED
				? " (attached when a bio-based device is seen)"
				: " (not needed: contexts from the preempt count)");
}

const uint64_t *bbs_tracer_fn_addrs(const struct bbs_tracer *t)
{
	return t->fn_addr;
}

const char *bbs_tracer_attach_kind(struct bbs_tracer *t, const char *tp)
{
	for (size_t i = 0; i < NR_TPS; i++)
		if (!strcmp(tps[i].name, tp))
			return t->kind[i];
	return NULL;
}

/* Collect the keys of a map that match, so deleting does not upset iteration. */
static void *collect_keys(int fd, size_t key_size, size_t *n,
			  bool (*want)(const void *key, void *arg), void *arg)
{
	size_t cap = 64, count = 0;
	char *keys = malloc(cap * key_size), *prev = NULL;
	char cur[256], last[256];

	if (!keys)
		return NULL;
	while (!bpf_map_get_next_key(fd, prev, cur)) {
		if (!want || want(cur, arg)) {
			if (count == cap) {
				char *k = realloc(keys, 2 * cap * key_size);

				if (!k)
					break;
				keys = k;
				cap *= 2;
			}
			memcpy(keys + count * key_size, cur, key_size);
			count++;
		}
		/* prev must stay valid: keep a copy of the last key read. */
		memcpy(last, cur, key_size);
		prev = last;
	}
	*n = count;
	return keys;
}

static bool epoch_is(const void *key, void *arg)
{
	/* Every drained map's key begins with a struct bbs_group. */
	return ((const struct bbs_group *)key)->epoch == *(uint32_t *)arg;
}

static void wq_name(struct bbs_tracer *t, uint64_t wq, char *name)
{
	if (bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.wq_names), &wq, name))
		snprintf(name, WQ_NAME_LEN, "wq@%llx", (unsigned long long)wq);
	name[WQ_NAME_LEN - 1] = 0;
}

/* BPF does not keep a histogram's count (one atomic less per sample): sum the slots. */
static void hist_count(struct bbs_hist *h)
{
	h->count = 0;
	for (int i = 0; i < HIST_SLOTS; i++)
		h->count += h->slots[i];
}

static void merge_group(struct bbs_tracer *t, struct bbs_group_data *gd, struct bbs_group_val *v)
{
	char name[WQ_NAME_LEN];

	gd->stats.bios += v->stats.bios;
	gd->stats.bytes += v->stats.bytes;
	for (int x = 0; x < NR_CTX; x++) {
		gd->stats.complete_ctx[x] += v->stats.complete_ctx[x];
		gd->stats.endio_ctx[x] += v->stats.endio_ctx[x];
	}
	gd->stats.stripe_writes += v->stats.stripe_writes;
	gd->stats.stripe_reads += v->stats.stripe_reads;
	for (int p = 0; p < NR_DEVICE_PHASES; p++) {
		hist_count(&v->phases[p]);
		bbs_hist_merge(&gd->phases[p], &v->phases[p]);
	}
	for (int i = 0; i < BBS_WQ_SLOTS && v->wq[i].wq; i++) {
		wq_name(t, v->wq[i].wq, name);
		bbs_group_add_wq(gd, name, v->wq[i].count);
	}
	if (v->wq_other)
		bbs_group_add_wq(gd, "other", v->wq_other);
}

/* Fold one per-CPU value of a map into the report. */
typedef void (*fold_fn)(struct bbs_tracer *t, struct bbs_report *r, const void *key, void *val);

static void fold_hist(struct bbs_tracer *t, struct bbs_report *r, const void *key, void *val)
{
	const struct bbs_hist_key *k = key;
	struct bbs_group_data *gd = bbs_report_group(r, &k->g);

	hist_count(val);
	if (gd && k->phase < NR_PHASES)
		bbs_hist_merge(&gd->phases[k->phase], val);
}

static void fold_group(struct bbs_tracer *t, struct bbs_report *r, const void *key, void *val)
{
	struct bbs_group_data *gd = bbs_report_group(r, key);

	if (gd)
		merge_group(t, gd, val);
}

/* Move every entry of the closed epoch from a per-CPU map into the report. */
static int drain_map(struct bbs_tracer *t, struct bpf_map *map, uint32_t epoch,
		     struct bbs_report *r, fold_fn fold)
{
	size_t ksz = bpf_map__key_size(map), vsz = (bpf_map__value_size(map) + 7) & ~7UL, n;
	int fd = bpf_map__fd(map);
	char *keys, *vals;

	vals = calloc(t->ncpus, vsz);
	keys = collect_keys(fd, ksz, &n, epoch_is, &epoch);
	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		if (bpf_map_lookup_elem(fd, keys + i * ksz, vals))
			continue;
		bpf_map_delete_elem(fd, keys + i * ksz);
		for (int c = 0; c < t->ncpus; c++)
			fold(t, r, keys + i * ksz, vals + c * vsz);
	}
	free(keys);
	free(vals);
	return 0;
}

int bbs_tracer_lost_percpu(struct bbs_tracer *t, uint64_t *out, int ncpus)
{
	int fd = bpf_map__fd(t->skel->maps.lost);
	uint64_t *vals = calloc(t->ncpus, sizeof(*vals));

	if (!vals)
		return -ENOMEM;
	memset(out, 0, sizeof(*out) * NR_LOST_BPF * ncpus);
	for (uint32_t i = 0; i < NR_LOST_BPF; i++) {
		if (bpf_map_lookup_elem(fd, &i, vals))
			continue;
		for (int c = 0; c < t->ncpus && c < ncpus; c++)
			out[c * NR_LOST_BPF + i] = vals[c];
	}
	free(vals);
	return t->ncpus;
}

static void drain_lost(struct bbs_tracer *t, struct bbs_report *r)
{
	uint64_t *per = calloc((size_t)t->ncpus * NR_LOST_BPF, sizeof(*per));

	if (!per)
		return;
	bbs_tracer_lost_percpu(t, per, t->ncpus);
	for (int i = 0; i < NR_LOST_BPF; i++) {
		uint64_t sum = 0;

		for (int c = 0; c < t->ncpus; c++)
			sum += per[c * NR_LOST_BPF + i];
		r->lost[i] = sum - t->lost_prev[i];
		t->lost_prev[i] = sum;
	}
	free(per);
}

struct sweep_arg {
	int fd;
	uint64_t cutoff;
	void *val;
};

static bool is_stale(const void *key, void *arg)
{
	struct sweep_arg *a = arg;

	/* Every in-flight state value begins with its start time. */
	if (bpf_map_lookup_elem(a->fd, key, a->val))
		return false;
	return *(uint64_t *)a->val < a->cutoff;
}

/* Evict in-flight state that can no longer complete; count it as lost. */
static uint64_t sweep(struct bbs_tracer *t, struct bpf_map *map)
{
	struct sweep_arg a = { .fd = bpf_map__fd(map) };
	uint64_t now = bbs_now_ns();
	size_t n = 0;
	void *keys;

	if (now < t->evict_after_ns)
		return 0;
	a.cutoff = now - t->evict_after_ns;
	a.val = malloc(bpf_map__value_size(map));
	if (!a.val)
		return 0;
	keys = collect_keys(a.fd, bpf_map__key_size(map), &n, is_stale, &a);
	for (size_t i = 0; keys && i < n; i++)
		bpf_map_delete_elem(a.fd, (char *)keys + i * bpf_map__key_size(map));
	free(keys);
	free(a.val);
	return n;
}

/*
 * Free the ways of a pointer-keyed table (bbscope.h) whose entries can no
 * longer end.  BPF claims a way with a compare-and-swap on its key and sets
 * the start time last, so a way whose key changed under us, or whose start
 * time is 0, is left alone.
 */
static uint64_t sweep_table(struct bbs_tracer *t, struct table *tb)
{
	uint64_t now = bbs_now_ns(), cutoff, evicted = 0;

	if (!tb->base || now < t->evict_after_ns)
		return 0;
	cutoff = now - t->evict_after_ns;
	for (size_t off = 0; off + tb->bucket_size <= tb->len; off += tb->bucket_size) {
		uint64_t *keys = (uint64_t *)((char *)tb->base + off);

		for (int w = 0; w < TABLE_WAYS; w++) {
			uint64_t *ts =
				(uint64_t *)((char *)(keys + TABLE_WAYS) + w * tb->state_size);
			uint64_t key = __atomic_load_n(&keys[w], __ATOMIC_ACQUIRE);
			uint64_t start = __atomic_load_n(ts, __ATOMIC_RELAXED);

			if (!key || !start || start >= cutoff)
				continue;
			if (__atomic_compare_exchange_n(&keys[w], &key, 0, false, __ATOMIC_ACQ_REL,
							__ATOMIC_RELAXED))
				evicted++;
		}
	}
	return evicted;
}

/* Attach what became needed since the start (see want_tp). */
static void attach_on_demand(struct bbs_tracer *t)
{
	for (size_t i = 0; i < NR_TPS; i++)
		if (!t->links[i] && t->kind[i] && want_tp(t, i, false) && attach_one(t, i))
			bbs_warn("%s unavailable (%s): %s", tps[i].name, t->why[i], tps[i].without);
}

void bbs_tracer_tick(struct bbs_tracer *t)
{
	uint32_t key;
	int fd;

	t->evicted += sweep_table(t, &t->bios) + sweep_table(t, &t->ordered);
	attach_on_demand(t);
	if (t->btf)
		return;
	t->evicted += sweep(t, t->skel->maps.running);
	/* Forget what each device is: it may have been reformatted meanwhile. */
	fd = bpf_map__fd(t->skel->maps.devs);
	while (!bpf_map_get_next_key(fd, NULL, &key))
		if (bpf_map_delete_elem(fd, &key))
			break;
}

int bbs_tracer_drain(struct bbs_tracer *t, struct bbs_report *r)
{
	uint32_t old = t->epoch;
	uint64_t now;
	int err;

	/* Flip the buffer BPF accounts into; handlers run with preemption off,
	 * so after a millisecond none still writes into the old one. */
	t->epoch ^= 1;
	__atomic_store_n(&t->skel->bss->epoch, t->epoch, __ATOMIC_SEQ_CST);
	usleep(1000);

	bbs_report_reset(r);
	now = bbs_now_ns();
	r->interval_s = (now - t->last_drain_ns) / 1e9;
	t->last_drain_ns = now;
	for (int p = 0; p < NR_PHASES; p++)
		r->phase_unavailable[p] = !!(t->unavailable & (1U << p));

	err = drain_map(t, t->skel->maps.hists, old, r, fold_hist);
	if (!err)
		err = drain_map(t, t->skel->maps.groups, old, r, fold_group);
	drain_lost(t, r);
	bbs_tracer_tick(t);
	r->evicted = t->evicted;
	t->evicted = 0;
	bbs_report_sort(r);
	return err;
}

int bbs_tracer_poll(struct bbs_tracer *t, int timeout_ms)
{
	if (!t->rb)
		return -EINVAL;
	return ring_buffer__poll(t->rb, timeout_ms);
}
