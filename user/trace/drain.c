// SPDX-License-Identifier: GPL-2.0
/*
 * The tracer's drain (trace/tracer.h): BPF accounts into one of two epochs;
 * each interval the tracer flips the epoch, folds the closed one's
 * histograms, groups and spill slots into a struct bbs_report and clears
 * them, and once a second sweeps in-flight state older than evict_after_ns
 * out of the BPF tables.  trace/tracer.c chooses, loads and attaches.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "trace/internal.h"
#include "host/util.h"
#include "host/array.h"

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

int tracer_map_tables(struct bbs_tracer *t)
{
	int err = table_map(&t->bios, t->skel->maps.bios, sizeof(struct bbs_bio_bucket),
			    sizeof(struct bbs_bio_state));

	if (!err)
		err = table_map(&t->ordered, t->skel->maps.ordered,
				sizeof(struct bbs_ordered_bucket),
				sizeof(struct bbs_ordered_state));
	if (!err)
		err = table_map(&t->rbios, t->skel->maps.rbios, sizeof(struct bbs_rbio_bucket),
				sizeof(struct bbs_rbio_state));
	if (err)
		bbs_err("cannot map the BPF tables: %s", strerror(-err));
	else if (t->skel->rodata->sample_n > 1)
		t->bios.filter = t->skel->bss->bio_filter;
	return err;
}

void tracer_unmap_tables(struct bbs_tracer *t)
{
	table_unmap(&t->bios);
	table_unmap(&t->ordered);
	table_unmap(&t->rbios);
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
			char *k = bbs_array_reserve(keys, &cap, count + 1, key_size, 64);

			if (!k)
				break;
			keys = k;
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
	struct bbs_group_data *gd;

	hist_count(val);
	if (k->phase >= FUNC_PHASE_BASE) {
		uint32_t i = (k->phase - FUNC_PHASE_BASE) / 2;
		struct bbs_func_data *fd =
			i / NR_UNDER < MAX_FUNCS
				? bbs_report_func(r, k->g.fs, i / NR_UNDER, i % NR_UNDER)
				: NULL;

		if (fd)
			bbs_hist_merge((k->phase - FUNC_PHASE_BASE) % 2 ? &fd->self : &fd->total,
				       val);
		return;
	}
	gd = bbs_report_group(r, &k->g);
	if (gd && k->phase < NR_PHASES)
		bbs_hist_merge(&gd->phases[k->phase], val);
}

static void fold_group(struct bbs_tracer *t, struct bbs_report *r, const void *key, void *val)
{
	struct bbs_group_data *gd = bbs_report_group(r, key);

	if (gd)
		merge_group(t, gd, val);
}

static bool all_zero(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * Move every entry of the closed epoch from a per-CPU map into the report.
 * An entry is zeroed rather than deleted, so that BPF finds it next time
 * instead of allocating one (see precreate).  Entries stay for the run:
 * at most one per device, op, kind, epoch and context level.
 */
static int drain_map(struct bbs_tracer *t, struct bpf_map *map, uint32_t epoch,
		     struct bbs_report *r, fold_fn fold)
{
	size_t ksz = bpf_map__key_size(map), vsz = (bpf_map__value_size(map) + 7) & ~7UL, n;
	int fd = bpf_map__fd(map);
	char *keys, *vals, *zero;

	vals = calloc(t->ncpus, vsz);
	zero = calloc(t->ncpus, vsz);
	keys = collect_keys(fd, ksz, &n, epoch_is, &epoch);
	if (!keys || !vals || !zero) {
		free(keys);
		free(vals);
		free(zero);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		char *key = keys + i * ksz;

		if (bpf_map_lookup_elem(fd, key, vals))
			continue;
		if (all_zero(vals, t->ncpus * vsz))
			continue;
		bpf_map_update_elem(fd, key, zero, BPF_EXIST);
		for (int c = 0; c < t->ncpus; c++)
			if (!all_zero(vals + c * vsz, vsz))
				fold(t, r, key, vals + c * vsz);
	}
	free(keys);
	free(vals);
	free(zero);
	return 0;
}

/*
 * The groups and hists entries BPF will need, created from here.  Their
 * per-CPU values are several KiB, and BPF can only allocate them in atomic
 * context, which fails when the kernel's cache is empty (6.12: a raid6 run
 * lost groups as group_map_full; 6.1: its first group).  Every btrfs device
 * gets its groups for both epochs at the two levels completions and end_io
 * work run at (softirq, task); every filesystem its phase histograms.
 * Hardirq completions and devices that appear between ticks still allocate.
 */
struct precreate_arg {
	struct bbs_tracer *t;
	char *zero;
	uint32_t last_fs;
};

static void precreate_fs(struct bbs_tracer *t, uint32_t fs, const void *zero)
{
	static const uint8_t phases[] = { PHASE_CSUM, PHASE_ORDERED, PHASE_RMW, PHASE_RECOVER };
	int fd = bpf_map__fd(t->skel->maps.hists);

	for (int e = 0; e < 2; e++)
		for (int l = CTX_SOFTIRQ; l <= CTX_TASK; l++)
			for (size_t p = 0; p < sizeof(phases); p++)
				for (int op = 0; op < BBS_NR_OPS; op++)
					for (int kind = KIND_DATA; kind <= KIND_METADATA; kind++) {
						struct bbs_hist_key k = {
							.g = { .fs = fs,
							       .op = op,
							       .kind = kind,
							       .epoch = e,
							       .level = l },
							.phase = phases[p],
						};

						bpf_map_update_elem(fd, &k, zero, BPF_NOEXIST);
					}
}

static void precreate_dev(uint32_t fs, uint32_t dev, void *arg)
{
	struct precreate_arg *a = arg;
	struct bbs_tracer *t = a->t;
	int fd = bpf_map__fd(t->skel->maps.groups);

	if ((t->filter_fs && fs != t->filter_fs) || (t->filter_dev && dev != t->filter_dev))
		return;
	for (int e = 0; e < 2; e++)
		for (int l = CTX_SOFTIRQ; l <= CTX_TASK; l++)
			for (int op = 0; op < BBS_NR_OPS; op++)
				for (int kind = 0; kind < NR_KINDS; kind++) {
					struct bbs_group g = { .fs = fs,
							       .dev = dev,
							       .op = op,
							       .kind = kind,
							       .epoch = e,
							       .level = l };

					if (kind == KIND_SUPER && op == BBS_OP_READ)
						continue;
					bpf_map_update_elem(fd, &g, a->zero, BPF_NOEXIST);
				}
	if (fs != a->last_fs)
		precreate_fs(t, fs, a->zero);
	a->last_fs = fs;
}

void tracer_precreate(struct bbs_tracer *t)
{
	size_t vsz = (sizeof(struct bbs_group_val) + 7) & ~7UL;
	struct precreate_arg a = { .t = t };

	a.zero = calloc(t->ncpus, vsz);
	if (!a.zero)
		return;
	bbs_btrfs_devices(precreate_dev, &a);
	free(a.zero);
}

/* The spill slots of the closed epoch (bbscope.h): fold each CPU's used ones, free them. */
static int drain_spill(struct bbs_tracer *t, uint32_t epoch, struct bbs_report *r)
{
	size_t vsz = (sizeof(struct bbs_spill) + 7) & ~7UL;
	int fd = bpf_map__fd(t->skel->maps.spill);
	char *vals = calloc(t->ncpus, vsz), *zero = calloc(t->ncpus, vsz);

	if (!vals || !zero) {
		free(vals);
		free(zero);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < NR_CTX * SPILL_WAYS; i++) {
		uint32_t idx = (epoch & 1) * NR_CTX * SPILL_WAYS + i;
		bool any = false;

		if (bpf_map_lookup_elem(fd, &idx, vals))
			continue;
		for (int c = 0; c < t->ncpus; c++) {
			struct bbs_spill *s = (void *)(vals + c * vsz);

			if (!s->used)
				continue;
			if (s->key.phase == SPILL_GROUP)
				fold_group(t, r, &s->key.g, &s->val);
			else
				fold_hist(t, r, &s->key, &s->val.phases[0]);
			any = true;
		}
		if (any)
			bpf_map_update_elem(fd, &idx, zero, BPF_ANY);
	}
	free(vals);
	free(zero);
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
			if (!__atomic_compare_exchange_n(&keys[w], &key, 0, false, __ATOMIC_ACQ_REL,
							 __ATOMIC_RELAXED))
				continue;
			evicted++;
			/* The way is free: out of BPF's --sample filter (bbscope.h). */
			if (tb->filter) {
				uint32_t slot =
					(((uint32_t)key * BIO_FILTER_MUL) >> 8) % BIO_FILTER_SLOTS;

				__atomic_fetch_sub(&tb->filter[slot], 1, __ATOMIC_RELAXED);
			}
		}
	}
	return evicted;
}

#define DEVS_MAX 1024U /* the devs map's max_entries */

/* The btrfs devices one refresh of the devs map found (fill_devs). */
struct devs_seen {
	struct bbs_tracer *t;
	uint32_t dev[DEVS_MAX];
	unsigned int n;
};

/* Without btrfs BTF, BPF learns a bio's filesystem from its device: tell it each one's. */
static void put_dev(uint32_t fs, uint32_t dev, void *arg)
{
	struct devs_seen *seen = arg;
	struct bbs_dev_info di = { .fs = fs, .bio_based = DEV_UNKNOWN };
	struct bbs_dev_info old;
	int fd = bpf_map__fd(seen->t->skel->maps.devs);

	if (seen->n < DEVS_MAX)
		seen->dev[seen->n++] = dev;
	/* Kept as it is (with what BPF learnt) unless the device changed filesystem. */
	if (!bpf_map_lookup_elem(fd, &dev, &old) && old.fs == fs)
		return;
	bpf_map_update_elem(fd, &dev, &di, BPF_ANY);
}

static bool devs_seen_has(const struct devs_seen *seen, uint32_t dev)
{
	for (unsigned int i = 0; i < seen->n; i++)
		if (seen->dev[i] == dev)
			return true;
	return false;
}

/*
 * Fill the devs map, or refresh it (each second): every mounted btrfs's
 * devices put or updated in place (one reformatted meanwhile gets its new
 * filesystem), then only the devices no longer in one deleted.  The map is
 * never emptied first: a bio queued while it was empty would find no
 * filesystem and, under --fs, be dropped (tests/t_hist_refresh.sh; the cause
 * of t_hist_single's rare "device stat bytes == traced" failure on 5.10).
 */
void tracer_fill_devs(struct bbs_tracer *t)
{
	struct devs_seen *seen;
	uint32_t key, *stale;
	unsigned int nr_stale = 0;
	int fd, err;

	if (t->k.btrfs_btf || t->btf)
		return;
	seen = calloc(1, sizeof(*seen));
	if (!seen)
		return;
	seen->t = t;
	bbs_btrfs_devices(put_dev, seen);
	fd = bpf_map__fd(t->skel->maps.devs);
	stale = calloc(DEVS_MAX, sizeof(*stale));
	/* Collect, then delete: the walk restarts at a key deleted under it. */
	for (err = bpf_map_get_next_key(fd, NULL, &key); stale && !err;
	     err = bpf_map_get_next_key(fd, &key, &key))
		if (!devs_seen_has(seen, key) && nr_stale < DEVS_MAX)
			stale[nr_stale++] = key;
	for (unsigned int i = 0; i < nr_stale; i++)
		bpf_map_delete_elem(fd, &stale[i]);
	free(stale);
	free(seen);
}

/* With btrfs BTF, BPF reads each device's filesystem off its next bio. */
static void forget_devs(struct bbs_tracer *t)
{
	int fd = bpf_map__fd(t->skel->maps.devs);
	uint32_t key;

	while (!bpf_map_get_next_key(fd, NULL, &key))
		if (bpf_map_delete_elem(fd, &key))
			break;
}

/* What each device is, once a second: it may have been reformatted meanwhile. */
static void refresh_devs(struct bbs_tracer *t)
{
	if (t->k.btrfs_btf)
		forget_devs(t);
	else
		tracer_fill_devs(t);
}

void bbs_tracer_tick(struct bbs_tracer *t)
{
	t->evicted +=
		sweep_table(t, &t->bios) + sweep_table(t, &t->ordered) + sweep_table(t, &t->rbios);
	tracer_attach_on_demand(t);
	tracer_precreate(t);
	tracer_watch_skips(t);
	if (t->btf)
		return;
	t->evicted += sweep(t, t->skel->maps.running);
	refresh_devs(t);
}

/* The accountings still holding epoch e, over all CPUs (bpf epoch_hold). */
static int64_t epoch_holders(struct bbs_tracer *t, uint32_t e)
{
	int fd = bpf_map__fd(t->skel->maps.inflight);
	uint64_t *vals = calloc(t->ncpus, sizeof(*vals));
	uint32_t idx = e & 1;
	int64_t sum = -1;

	if (vals && !bpf_map_lookup_elem(fd, &idx, vals))
		for (int c = sum = 0; c < t->ncpus; c++)
			sum += (int64_t)vals[c];
	free(vals);
	return sum;
}

/*
 * Wait until nothing writes into the old epoch any more.  Where tracepoint
 * programs run with preemption off (and no --func), a millisecond bounds
 * any handler.
 * Where they run preemptibly (tp_preempt, a46023d5616e), a handler that
 * read the old epoch may be preempted for any time: wait for its in-flight
 * count instead, up to EPOCH_WAIT_MS (a writer preempted longer than that is
 * on a starved CPU; its update may land after the drain and is then counted
 * in a later interval, or lost), and count such drains.
 */
#define EPOCH_WAIT_MS 200
static void epoch_wait(struct bbs_tracer *t, uint32_t old)
{
	int64_t n = 0;

	/* --func's programs hold epochs on every kernel (fentry is preemptible). */
	if (!t->skel->rodata->tp_preempt && !t->funcs.n) {
		usleep(1000);
		return;
	}
	for (int i = 0; i < EPOCH_WAIT_MS * 10; i++) {
		n = epoch_holders(t, old);
		if (n <= 0)
			return;
		usleep(100);
	}
	t->epoch_waits_timed_out++;
	bbs_warn("an interval closed with %lld accounting(s) still under way after %d ms "
		 "(%llu time(s) so far): counts may move to a later interval",
		 (long long)n, EPOCH_WAIT_MS, (unsigned long long)t->epoch_waits_timed_out);
}

int bbs_tracer_drain(struct bbs_tracer *t, struct bbs_report *r)
{
	uint32_t old = t->epoch;
	uint64_t now;
	int err;

	/* Flip the buffer BPF accounts into, and wait for its last writers. */
	t->epoch ^= 1;
	__atomic_store_n(&t->skel->bss->epoch, t->epoch, __ATOMIC_SEQ_CST);
	epoch_wait(t, old);

	bbs_report_reset(r);
	now = bbs_now_ns();
	r->interval_s = (now - t->last_drain_ns) / 1e9;
	t->last_drain_ns = now;
	bbs_tracer_phase_why(t, r->phase_why);
	bbs_funcs_describe(&t->funcs, r);

	err = drain_map(t, t->skel->maps.hists, old, r, fold_hist);
	if (!err)
		err = drain_map(t, t->skel->maps.groups, old, r, fold_group);
	if (!err)
		err = drain_spill(t, old, r);
	drain_lost(t, r);
	tracer_drain_cost(t, r);
	bbs_report_scale(r, t->sample);
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
