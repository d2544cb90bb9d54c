// SPDX-License-Identifier: GPL-2.0
/*
 * The replay engines through their struct API, no argv: bbs_replay_csum()
 * writes a workload's every byte and reports one bio per device and total
 * sample (csum too, except in mode none), in every mode, and its --csum-out
 * list is the checksum of what landed on the target; bbs_raid56_replay()
 * lays files out as a raid5 and a raid6 chunk whose data strips hold the
 * pool's data and whose P and Q are the parity of that data, rebuilds a
 * missing target as it was written, and both refuse bad targets with
 * -EINVAL before writing anything.
 *
 * Targets are files in a directory of their own under $TMPDIR (O_DIRECT,
 * io_uring): the test skips (77) when this kernel or filesystem has
 * neither.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "btrfs/csum.h"
#include "btrfs/parity.h"
#include "btrfs/stripe.h"
#include "host/util.h"
#include "render/print.h"
#include "replay/csum.h"
#include "replay/raid56.h"
#include "replay/uring.h"
#include "replay/workload.h"

#include "check.h"

static char dir[256];

static void path_of(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

/* The whole file, or NULL. */
static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	uint8_t *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (!fseek(f, 0, SEEK_END) && (n = ftell(f)) >= 0 && !fseek(f, 0, SEEK_SET)) {
		buf = malloc(n ? n : 1);
		if (buf && fread(buf, 1, n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		*len = n;
	}
	fclose(f);
	return buf;
}

static void synth(struct bbs_workload *w, const char *spec)
{
	struct bbs_synth_spec s;
	char err[128];

	bbs_workload_init(w);
	if (bbs_synth_parse(spec, &s, err, sizeof(err)) || bbs_workload_synth(w, &s)) {
		printf("FAIL: synthetic %s: %s\n", spec, err);
		exit(1);
	}
}

/* Can this machine run a replay at all: io_uring, and O_DIRECT in dir? */
static const char *cannot_replay(void)
{
	struct io_uring ring;
	char path[300];
	int fd;

	if (io_uring_queue_init(4, &ring, 0))
		return "io_uring is not available";
	io_uring_queue_exit(&ring);
	path_of(path, sizeof(path), "probe");
	fd = open(path, O_RDWR | O_CREAT | O_DIRECT, 0600);
	if (fd < 0)
		return "O_DIRECT files are not available in $TMPDIR";
	close(fd);
	unlink(path);
	return NULL;
}

/* ---- replay csum ---- */

/* Each '<offset> <checksum>' line of the --csum-out list is the checksum of the target there. */
static void check_csum_list(const char *list, const char *target, enum bbs_csum_type algo,
			    const struct bbs_workload *w)
{
	size_t len, tlen, lines = 0;
	uint8_t *data = slurp(target, &tlen), *text = slurp(list, &len);
	char line[BBS_CSUM_LINE_MAX];
	uint8_t sum[BBS_CSUM_MAX];
	size_t pos = 0;

	CHECK(data && text, "cannot read %s or %s", target, list);
	if (!data || !text)
		goto out;
	for (uint64_t off = 0; off + BBS_WL_BLOCK <= w->span; off += BBS_WL_BLOCK, lines++) {
		size_t n;

		bbs_csum_block(algo, data + off, BBS_WL_BLOCK, sum);
		n = bbs_csum_line(line, off, sum, bbs_csum_size(algo));
		CHECK(pos + n <= len && !memcmp(text + pos, line, n),
		      "%s: the line for offset %llu is not the target's checksum", list,
		      (unsigned long long)off);
		pos += n;
	}
	CHECK(pos == len, "%s: %zu bytes after %zu lines", list, len - pos, lines);
out:
	free(data);
	free(text);
}

static void test_csum_modes(void)
{
	static const enum bbs_csum_type algos[] = { BBS_CSUM_CRC32C, BBS_CSUM_SHA256 };
	struct bbs_replay_csum_result r;
	char target[300], list[300];
	struct bbs_workload w;

	synth(&w, "size=2M,bs=128K,pattern=rand,seed=3");
	path_of(target, sizeof(target), "csum.img");
	path_of(list, sizeof(list), "csum.list");
	for (int m = 0; m < BBS_NR_REPLAY_MODES; m++) {
		struct bbs_replay_csum_opts o = {
			.target = target,
			.force = true,
			.mode = m,
			.algo = algos[m % 2],
			.qd = 4,
			.workers = 2,
			.csum_out = list,
		};
		const struct bbs_group_data *dev, *fs;
		int ret = bbs_replay_csum(&o, &w, &r);

		CHECK(ret == 0, "mode %s: %d", bbs_replay_mode_name[m], ret);
		if (ret)
			continue;
		CHECK(r.report.nr_groups == 2, "mode %s: %zu groups", bbs_replay_mode_name[m],
		      r.report.nr_groups);
		/* Sorted by device: the filesystem's group (dev 0) first. */
		fs = &r.report.groups[0];
		dev = &r.report.groups[1];
		CHECK(dev->stats.bios == w.nr && dev->stats.bytes == w.bytes,
		      "mode %s: %llu bios, %llu bytes", bbs_replay_mode_name[m],
		      (unsigned long long)dev->stats.bios, (unsigned long long)dev->stats.bytes);
		CHECK(dev->phases[PHASE_DEVICE].count == w.nr &&
			      dev->phases[PHASE_TOTAL].count == w.nr,
		      "mode %s: device and total are one sample a bio", bbs_replay_mode_name[m]);
		CHECK(fs->phases[PHASE_CSUM].count == (m == BBS_REPLAY_NONE ? 0 : w.nr),
		      "mode %s: %llu csum samples", bbs_replay_mode_name[m],
		      (unsigned long long)fs->phases[PHASE_CSUM].count);
		CHECK(r.elapsed_s > 0, "mode %s: elapsed %f", bbs_replay_mode_name[m], r.elapsed_s);
		bbs_replay_csum_free(&r);
		check_csum_list(list, target, o.algo, &w);
	}
	bbs_workload_free(&w);
	printf("ok replay csum: every mode writes every block, checksums match the target\n");
}

static void test_csum_refused(void)
{
	struct bbs_replay_csum_opts o = { .mode = BBS_REPLAY_SERIAL, .qd = 1, .workers = 1 };
	struct bbs_replay_csum_result r;
	struct bbs_workload w;
	char target[300];
	size_t len = 0;
	uint8_t *after;
	int fd, ret;

	synth(&w, "size=1M,bs=64K");
	path_of(target, sizeof(target), "keep.img");
	fd = open(target, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0 && write(fd, "keep", 4) == 4, "cannot make %s", target);
	if (fd >= 0)
		close(fd);
	o.target = target;
	ret = bbs_replay_csum(&o, &w, &r);
	CHECK(ret == -EINVAL, "an existing file without force: %d, want -EINVAL", ret);
	after = slurp(target, &len);
	CHECK(after && len == 4 && !memcmp(after, "keep", 4), "the refused target was written");
	free(after);
	bbs_workload_free(&w);
	printf("ok replay csum: an existing file is refused untouched\n");
}

/* ---- replay parity ---- */

/* Strip j of full stripe f, as the targets hold it. */
static uint8_t *strip_at(uint8_t *const *t, unsigned int n, uint64_t f, unsigned int j)
{
	return t[bbs_strip_dev(f, j, n)] + f * BBS_STRIPE_LEN;
}

/* Data strips hold the pool's bytes; P (and Q) are their parity. */
static void check_chunk(uint8_t *const *t, unsigned int n, enum bbs_raid raid, uint64_t stripes,
			uint64_t span)
{
	unsigned int np = bbs_parity_nr(raid), nd = n - np;
	struct bbs_pool pool;
	uint8_t *want[2];
	void *s[BBS_RAID56_MAX_TARGETS];

	want[0] = malloc(BBS_STRIPE_LEN);
	want[1] = malloc(BBS_STRIPE_LEN);
	CHECK(!bbs_pool_init(&pool, span, (uint64_t)nd * BBS_STRIPE_LEN, BBS_POOL_SEED), "pool: %s",
	      strerror(errno));
	for (uint64_t f = 0; f < stripes; f++) {
		for (unsigned int j = 0; j < nd; j++) {
			uint64_t x = (f * nd + j) * BBS_STRIPE_LEN;

			s[j] = strip_at(t, n, f, j);
			CHECK(!memcmp(s[j], bbs_pool_at(&pool, x), BBS_STRIPE_LEN),
			      "stripe %llu data strip %u is not the pool's data",
			      (unsigned long long)f, j);
		}
		for (unsigned int p = 0; p < np; p++)
			s[nd + p] = want[p];
		bbs_parity_gen(raid, nd, s, BBS_STRIPE_LEN, 0);
		for (unsigned int p = 0; p < np; p++)
			CHECK(!memcmp(strip_at(t, n, f, nd + p), want[p], BBS_STRIPE_LEN),
			      "stripe %llu: %s is not the parity of its data",
			      (unsigned long long)f, p ? "Q" : "P");
	}
	bbs_pool_free(&pool);
	free(want[0]);
	free(want[1]);
}

/*
 * Replay spec on n targets as raid; full: every bio a whole full stripe (no
 * read), else half ones, each its own rbio (--no-plug): read, modify, write.
 */
static void raid56_run(enum bbs_raid raid, unsigned int n, enum bbs_raid56_mode mode, bool full)
{
	char names[BBS_RAID56_MAX_TARGETS][300], *paths[BBS_RAID56_MAX_TARGETS];
	uint8_t *t[BBS_RAID56_MAX_TARGETS] = { 0 };
	struct bbs_raid56_opts o = {
		.targets = paths,
		.nr_targets = n,
		.force = true,
		.raid = raid,
		.mode = mode,
		.threads = 2,
		.qd = 4,
		.stripe_cache = full ? 16 : 0,
		.data_seed = BBS_POOL_SEED,
		.no_plug = !full,
	};
	unsigned int nd = n - bbs_parity_nr(raid);
	struct bbs_raid56_result r;
	struct bbs_workload w;
	size_t len;
	int ret;

	/* nd is 2 in every run: a full stripe is 128 KiB. */
	synth(&w, full ? "size=2M,bs=128K" : "size=2M,bs=64K");
	for (unsigned int i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "%s/r%d.%u", dir, raid, i);
		paths[i] = names[i];
	}
	ret = bbs_raid56_replay(&o, &w, &r);
	CHECK(ret == 0, "raid%d on %u: %d", raid == BBS_RAID5 ? 5 : 6, n, ret);
	if (ret)
		goto out;
	CHECK(r.nr_data == nd && (full ? r.full == r.stripes && !r.partial : r.partial == w.nr),
	      "raid%d: %zu full, %zu partial rbios over %llu stripes", raid == BBS_RAID5 ? 5 : 6,
	      r.full, r.partial, (unsigned long long)r.stripes);
	CHECK(r.parity.count == r.full + r.partial, "one parity sample per rbio: %llu",
	      (unsigned long long)r.parity.count);
	for (unsigned int i = 0; i < n; i++)
		t[i] = slurp(paths[i], &len);
	check_chunk(t, n, raid, r.stripes, w.span);
	bbs_raid56_free(&r);
	printf("ok replay parity: raid%d on %u targets, %s, %s: data and parity as btrfs lays "
	       "them\n",
	       raid == BBS_RAID5 ? 5 : 6, n, bbs_raid56_mode_name[mode],
	       full ? "full stripes" : "read-modify-write");
out:
	for (unsigned int i = 0; i < n; i++)
		free(t[i]);
	bbs_workload_free(&w);
}

/* Read back with target 1 missing: its strips, rebuilt, are what was written there. */
static void test_raid56_degraded(void)
{
	char names[3][300], *paths[3], prefix[300], rebuilt[320];
	struct bbs_raid56_opts o = {
		.targets = paths,
		.nr_targets = 3,
		.raid = BBS_RAID5,
		.mode = BBS_RAID56_BATCHED,
		.qd = 4,
		.degraded = { 1 },
		.nr_degraded = 1,
		.data_seed = BBS_POOL_SEED,
		.rebuilt_out = prefix,
	};
	struct bbs_raid56_result r;
	struct bbs_workload w;
	uint8_t *disk, *built;
	size_t dlen = 0, blen = 0;
	int ret;

	/* The targets raid56_run() wrote as raid5 on 3: read, not written, so no --force. */
	for (int i = 0; i < 3; i++) {
		snprintf(names[i], sizeof(names[i]), "%s/r%d.%d", dir, BBS_RAID5, i);
		paths[i] = names[i];
	}
	path_of(prefix, sizeof(prefix), "rebuilt");
	o.force = true;
	synth(&w, "size=2M,bs=128K");
	ret = bbs_raid56_replay(&o, &w, &r);
	CHECK(ret == 0, "degraded read: %d", ret);
	if (!ret) {
		CHECK(r.recovered > 0 && r.plain > 0, "%zu recovers, %zu plain reads", r.recovered,
		      r.plain);
		bbs_raid56_free(&r);
	}
	snprintf(rebuilt, sizeof(rebuilt), "%s.1", prefix);
	disk = slurp(paths[1], &dlen);
	built = slurp(rebuilt, &blen);
	CHECK(disk && built && blen <= dlen, "cannot read %s and %s", paths[1], rebuilt);
	/* Rebuilt are the full stripes target 1 holds data of: those are read through it. */
	for (uint64_t f = 0; disk && built && (f + 1) * BBS_STRIPE_LEN <= blen; f++)
		if (bbs_dev_strip(f, 1, 3) < 2)
			CHECK(!memcmp(disk + f * BBS_STRIPE_LEN, built + f * BBS_STRIPE_LEN,
				      BBS_STRIPE_LEN),
			      "full stripe %llu: target 1's strip rebuilt otherwise",
			      (unsigned long long)f);
	free(disk);
	free(built);
	bbs_workload_free(&w);
	printf("ok replay parity: a missing target rebuilt as written\n");
}

static void test_raid56_refused(void)
{
	char a[300], *paths[3];
	struct bbs_raid56_opts o = {
		.targets = paths,
		.nr_targets = 3,
		.force = true,
		.raid = BBS_RAID5,
		.mode = BBS_RAID56_STEP,
		.qd = 1,
	};
	struct bbs_raid56_result r;
	struct bbs_workload w;
	int ret;

	path_of(a, sizeof(a), "dup.img");
	paths[0] = paths[1] = paths[2] = a;
	synth(&w, "size=1M,bs=128K");
	ret = bbs_raid56_replay(&o, &w, &r);
	CHECK(ret == -EINVAL, "one target three times: %d, want -EINVAL", ret);
	CHECK(access(a, F_OK), "a refused replay made %s", a);
	o.nr_targets = 2;
	o.raid = BBS_RAID6;
	ret = bbs_raid56_replay(&o, &w, &r);
	CHECK(ret == -EINVAL, "raid6 on 2 targets: %d, want -EINVAL", ret);
	bbs_workload_free(&w);
	printf("ok replay parity: bad targets refused before anything is written\n");
}

static int rm_dir(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR"), *why;

	snprintf(dir, sizeof(dir), "%s/replay_test.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		printf("FAIL: mkdtemp %s: %s\n", dir, strerror(errno));
		return 1;
	}
	why = cannot_replay();
	if (why) {
		printf("SKIP: %s\n", why);
		rm_dir();
		return 77;
	}
	test_csum_modes();
	test_csum_refused();
	raid56_run(BBS_RAID5, 3, BBS_RAID56_STEP, true);
	raid56_run(BBS_RAID5, 3, BBS_RAID56_BATCHED, false);
	raid56_run(BBS_RAID6, 4, BBS_RAID56_THREADS, true);
	test_raid56_degraded();
	test_raid56_refused();
	rm_dir();
	printf("%s\n", failures ? "FAIL" : "PASS");
	return failures ? 1 : 0;
}
