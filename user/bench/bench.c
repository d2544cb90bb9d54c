// SPDX-License-Identifier: GPL-2.0
/*
 * A bench run (bench/bench.h): btrfs's write path in the kernel and its
 * userspace reproductions, measured side by side on this machine, beside
 * the async_csum series' model (bench/model.h).
 *
 *   1. a store for the data, of the --backing kind (store.c), where the
 *      sandbox's backing files and the replay targets both go;
 *   2. a sandbox btrfs with its backing files in the store (or --fs: an
 *      existing btrfs, written in a directory made for the run);
 *   3. --rounds rounds (rounds.c), interleaved;
 *   4. every number the median over the rounds, with min and max
 *      (results.c), and the page (page.c);
 *   5. everything made removed, on success, failure, SIGINT and SIGTERM;
 *      what a SIGKILL left, by the next run (reap.c).
 *
 * Measurements are this binary run as a child (child.c) and their JSON
 * read back: the commands are the contract, not re-implemented here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/btrfs.h>

#include "bench/internal.h"
#include "host/sys.h"
#include "host/util.h"

/* ---- the filesystem: a sandbox, or --fs ---- */

/* Profile, checksum and device count of the btrfs at path, from sysfs. */
static int bench_fs_describe(struct bbs_bench *b, const char *path)
{
	static const char *const profs[] = { "raid6", "raid5", "raid10", "raid1c4", "raid1c3",
					     "raid1", "raid0", "dup",	 "single" };
	struct btrfs_ioctl_fs_info_args fi = { 0 };
	char sys[PATH_MAX], buf[128], uuid[40];
	const uint8_t *u = fi.fsid;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), algo;

	if (fd < 0 || ioctl(fd, BTRFS_IOC_FS_INFO, &fi)) {
		bbs_err("bench: --fs %s: not a mounted btrfs: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	snprintf(uuid, sizeof(uuid),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
		 u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
		 u[15]);
	snprintf(sys, sizeof(sys), "/sys/fs/btrfs/%s/checksum", uuid);
	if (bbs_sys_read(sys, buf, sizeof(buf))) {
		bbs_err("bench: --fs %s: cannot read %s: %s", path, sys, strerror(errno));
		return -1;
	}
	buf[strcspn(buf, " ")] = 0;
	algo = bbs_csum_parse(buf);
	if (algo < 0) {
		bbs_err("bench: --fs %s: checksum %s is not one bbscope knows", path, buf);
		return -1;
	}
	b->algo = algo;
	snprintf(b->profile, sizeof(b->profile), "single");
	for (size_t i = 0; i < sizeof(profs) / sizeof(profs[0]); i++) {
		snprintf(sys, sizeof(sys), "/sys/fs/btrfs/%s/allocation/data/%s", uuid, profs[i]);
		if (!access(sys, F_OK)) {
			snprintf(b->profile, sizeof(b->profile), "%s", profs[i]);
			break;
		}
	}
	b->ndevs = (unsigned int)fi.num_devices;
	return 0;
}

static uint64_t dev_size(const struct bbs_bench *b)
{
	uint64_t s = b->o.size + b->o.size / 4 + (512ULL << 20);

	s = (s + (1 << 20) - 1) & ~((1ULL << 20) - 1);
	return s < MIN_DEV_SIZE ? MIN_DEV_SIZE : s;
}

static int bench_sandbox_up(struct bbs_bench *b)
{
	char size[32], devs[16], dir[PATH_MAX + 16];
	const char *args[20];
	int n = 0;
	json_t *o;

	snprintf(size, sizeof(size), "%lluM", (unsigned long long)(dev_size(b) >> 20));
	snprintf(dir, sizeof(dir), "%s/sandbox", b->store);
	args[n++] = "sandbox";
	args[n++] = "up";
	args[n++] = "--json";
	args[n++] = "--profile";
	args[n++] = b->profile;
	args[n++] = "--algo";
	args[n++] = (char *)bbs_csum_name(b->algo);
	args[n++] = "--size";
	args[n++] = size;
	args[n++] = "--backing-dir";
	args[n++] = dir;
	/* freed extents keep their pages behind the loop devices (see bench_warm_up()) */
	args[n++] = "--mount-opts";
	args[n++] = "nodiscard";
	if (b->o.devices) {
		snprintf(devs, sizeof(devs), "%u", b->o.devices);
		args[n++] = "--devices";
		args[n++] = devs;
	}
	args[n] = NULL;
	b->sandbox = true;
	o = bench_child_json(b, "sandbox up", args);
	if (!o)
		return -1;
	snprintf(b->mnt, sizeof(b->mnt), "%s", json_string_value(json_object_get(o, "mountpoint")));
	b->ndevs = (unsigned int)json_array_size(json_object_get(o, "devices"));
	json_decref(o);
	snprintf(b->datadir, sizeof(b->datadir), "%s", b->mnt);
	return b->mnt[0] ? 0 : -1;
}

/* 0, or -1 when the sandbox is still (partly) there: its files must stay then. */
static int bench_sandbox_down(struct bbs_bench *b)
{
	char *argv[] = { "bbscope", "sandbox", "down", NULL };
	char state[PATH_MAX + 32], msg[512];

	snprintf(state, sizeof(state), "%s/state/sandbox.json", b->work);
	if (!b->sandbox || access(state, F_OK))
		return 0;
	/* Not bench_child_json(): a failure here is a warning; the run's error is already out. */
	if (bench_child(b, true, argv)) {
		bench_child_error(b, msg, sizeof(msg));
		bbs_warn("bench: sandbox down failed: %s; to retry: BBSCOPE_STATE_DIR=%s/state "
			 "bbscope sandbox down",
			 msg, b->work);
		return -1;
	}
	b->sandbox = false;
	return 0;
}

/* ---- the run ---- */

static void teardown(struct bbs_bench *b)
{
	char path[PATH_MAX + 32];

	bench_forward_sig = 0;
	if (b->mnt[0]) {
		snprintf(path, sizeof(path), "%s/bench.data", b->datadir);
		unlink(path);
	}
	if (b->datadir_made && rmdir(b->datadir))
		bbs_warn("bench: cannot remove %s: %s", b->datadir, strerror(errno));
	if (bench_sandbox_down(b)) {
		/* its loop devices are backed by files in the store: keep both */
		bbs_warn("bench: %s and %s are left for that", b->store, b->work);
		return;
	}
	if (b->store_made)
		bench_rm_tree(b->store);
	/* zram: the ext4 with the replay targets goes with the device */
	if (bench_zram_down(b)) {
		bbs_warn("bench: %s is left", b->work);
		return;
	}
	if (b->work[0])
		bench_rm_tree(b->work);
}

/* A program in PATH? */
static bool in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		size_t n = strcspn(p, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, prog);
		if (!access(buf, X_OK))
			return true;
		p += n + (p[n] == ':');
	}
	return false;
}

static int prepare(struct bbs_bench *b)
{
	const char *tmp = getenv("TMPDIR");
	char path[PATH_MAX + 16];
	ssize_t n;

	n = readlink("/proc/self/exe", b->self, sizeof(b->self) - 1);
	if (n <= 0) {
		bbs_err("bench: cannot find this binary: %s", strerror(errno));
		return -1;
	}
	b->self[n] = 0;
	if (!in_path("fio")) {
		bbs_err("bench: fio is missing (apt-get install fio, or make deps)");
		return -1;
	}
	if (b->o.html) {
		char dir[PATH_MAX], *slash;

		snprintf(dir, sizeof(dir), "%s", b->o.html);
		slash = strrchr(dir, '/');
		if (slash)
			*(slash == dir ? slash + 1 : slash) = 0;
		if (access(slash ? dir : ".", W_OK)) {
			bbs_err("bench: --html %s: cannot write in %s: %s", b->o.html,
				slash ? dir : ".", strerror(errno));
			return -1;
		}
	}
	if (!tmp || !*tmp)
		tmp = "/tmp";
	snprintf(b->work, sizeof(b->work), "%s/" RUN_PREFIX "%d.XXXXXX", tmp, (int)getpid());
	if (!mkdtemp(b->work)) {
		bbs_err("bench: cannot make a work directory in %s: %s", tmp, strerror(errno));
		b->work[0] = 0;
		return -1;
	}
	snprintf(b->out, sizeof(b->out), "%s/child.out", b->work);
	snprintf(b->err, sizeof(b->err), "%s/child.err", b->work);
	snprintf(b->trace, sizeof(b->trace), "%s/round.trace", b->work);
	/* Every child carries our pid: a run killed meanwhile waits for them to go. */
	snprintf(path, sizeof(path), "%d", (int)getpid());
	setenv(RUN_ENV, path, 1);
	/* What runs killed before left where this one makes its directories. */
	bench_reap(b, tmp);
	bench_reap(b, bench_store_parent(b));
	bench_reap(b, b->o.fs);
	if (bench_stop_sig)
		return -1;
	/* Our sandbox's state is ours alone: never the user's sandbox. */
	snprintf(path, sizeof(path), "%s/state", b->work);
	setenv("BBSCOPE_STATE_DIR", path, 1);
	for (int i = 0; i < NR_ROWS; i++)
		b->samples[i] = json_array();
	b->model = json_array();
	b->speedup = json_array();
	b->notes = json_array();
	/* the sweep's points: every queue depth with every checksum */
	for (unsigned int i = 0; i < (b->o.nalgo ?: 1); i++) {
		for (unsigned int q = 0; q < (b->o.nqd ?: 1); q++) {
			struct point *pt = &b->pts[b->npts++];

			pt->qd = b->o.nqd ? b->o.qds[q] : 16;
			pt->algo =
				b->o.nalgo ? b->o.algos[i] : BBS_CSUM_CRC32C; /* set at bring-up */
			pt->bw = json_array();
			for (int k = 0; k < NR_SHAPES; k++)
				pt->samples[k] = json_array();
		}
	}
	return 0;
}

static int bring_up(struct bbs_bench *b)
{
	uint64_t zram_bytes;

	if (b->o.fs) {
		if (bench_fs_describe(b, b->o.fs))
			return -1;
		if (b->o.have_algo && b->o.algo != b->algo) {
			bbs_err("bench: --fs %s has %s checksums, not %s", b->o.fs,
				bbs_csum_name(b->algo), bbs_csum_name(b->o.algo));
			return -1;
		}
		snprintf(b->mnt, sizeof(b->mnt), "%s", b->o.fs);
		if (bench_run_dir(b, b->o.fs, b->datadir, sizeof(b->datadir), "datadir")) {
			bbs_err("bench: cannot make a directory in %s: %s", b->o.fs,
				strerror(errno));
			return -1;
		}
		b->datadir_made = true;
	} else {
		snprintf(b->profile, sizeof(b->profile), "%s", b->o.profile ?: "single");
		b->algo = b->o.have_algo ? b->o.algo : BBS_CSUM_CRC32C;
	}
	for (unsigned int p = 0; !b->o.nalgo && p < b->npts; p++)
		b->pts[p].algo = b->algo;
	/* zram: the sandbox's devices, the replay target and the parity targets, sparse */
	zram_bytes = 6 * dev_size(b) + 4 * b->o.size + (256ULL << 20);
	if (bench_store_up(b, zram_bytes))
		return -1;
	if (!b->o.fs && bench_sandbox_up(b))
		return -1;
	/* The children are this binary: `replay parity` is there when the profile needs it. */
	b->parity = bench_raid56(b);
	if (b->o.backing == BBS_BACK_ZRAM)
		bench_note(b,
			   "zram backing: the sandbox's loop devices are files on an ext4 made on "
			   "zram%d for this run, and so is the replay target",
			   b->zram);
	return 0;
}

static void bench_free(struct bbs_bench *b)
{
	if (b->bw.buf)
		munmap(b->bw.buf, b->bw.len);
	bench_results_free(&b->r);
	free(b->table);
	for (int i = 0; i < NR_ROWS; i++) {
		json_decref(b->samples[i]);
		json_decref(b->last[i]);
	}
	json_decref(b->model);
	json_decref(b->speedup);
	json_decref(b->kmodel);
	json_decref(b->cross);
	for (unsigned int p = 0; p < b->npts; p++) {
		for (int k = 0; k < NR_SHAPES; k++) {
			json_decref(b->pts[p].samples[k]);
			json_decref(b->pts[p].rows[k]);
		}
		json_decref(b->pts[p].bw);
		json_decref(b->pts[p].bw_med);
		json_decref(b->pts[p].model);
	}
	json_decref(b->notes);
	json_decref(b->last_report);
	free(b);
}

/* Everything but the teardown: 0, or -1 after saying why (or when interrupted). */
static int measure(struct bbs_bench *b)
{
	if (prepare(b) || bring_up(b))
		return -1;
	if (bench_bw_init(&b->bw)) {
		bbs_err("bench: cannot allocate the memory bandwidth buffer: %s", strerror(errno));
		return -1;
	}
	fprintf(stderr, "bbscope: bench: %s %s btrfs at %s, %s backing in %s\n", b->profile,
		bbs_csum_name(b->algo), b->mnt, bbs_backing_name[b->o.backing], b->store);
	if (bench_warm_up(b))
		return -1;
	for (unsigned int i = 0; i < b->o.rounds; i++)
		if (bench_stop_sig || bench_round(b, i))
			return -1;
	if (bench_results(b))
		return -1;
	/* The page reads the last round's trace: before the teardown removes it. */
	if (b->o.html && bench_page(b))
		return -1; /* it said why */
	if (b->o.html)
		fprintf(stderr, "bbscope: bench: wrote %s\n", b->o.html);
	return 0;
}

int bbs_bench_run(const struct bbs_bench_opts *o, struct bbs_bench **out)
{
	struct bbs_bench *b = calloc(1, sizeof(*b));
	int ret;

	*out = NULL;
	if (!b) {
		bbs_err("bench: out of memory");
		return 1;
	}
	b->o = *o;
	b->zram = -1;
	bench_catch_signals();
	ret = measure(b) ? 1 : 0;
	if (bench_stop_sig && ret) {
		bbs_err("bench: interrupted by SIG%s; tearing down", sigabbrev_np(bench_stop_sig));
		ret = 128 + bench_stop_sig;
	}
	teardown(b);
	if (ret) {
		bench_free(b);
		return ret;
	}
	*out = b;
	return 0;
}

const char *bbs_bench_table(const struct bbs_bench *b)
{
	return b->table;
}

void bbs_bench_free(struct bbs_bench *b)
{
	if (b)
		bench_free(b);
}
