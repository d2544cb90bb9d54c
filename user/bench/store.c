// SPDX-License-Identifier: GPL-2.0
/*
 * Where a bench run keeps its data, of the --backing kind: a directory on
 * tmpfs (/dev/shm), a plain directory (/var/tmp), or an ext4 made for the
 * run on a zram device hot-added for it.  The sandbox's backing files and
 * the replay targets both go there, so the kernel's loop devices and the
 * replays write to the same kind of storage.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include "bench/internal.h"
#include "host/machine.h"
#include "host/sys.h"
#include "host/util.h"
#include "render/print.h"

const char *const bbs_backing_name[BBS_NR_BACKINGS] = { "tmpfs", "file", "zram" };

/* ---- the store: tmpfs, file or zram ---- */

static int zram_up(struct bbs_bench *b, uint64_t bytes)
{
	/* initialised now, not by a kernel thread in the middle of the run */
	static char ext4_opts[] = "lazy_itable_init=0,lazy_journal_init=0";
	char path[PATH_MAX], dev[32], buf[64], algos[256];
	char *mkfs[] = { "mkfs.ext4", "-q", "-F", "-m", "0", "-E", ext4_opts, dev, NULL };
	int st;

	if (access("/sys/class/zram-control/hot_add", F_OK)) {
		char *modprobe[] = { "modprobe", "zram", "num_devices=0", NULL };

		if (bench_child(b, false, modprobe) ||
		    access("/sys/class/zram-control/hot_add", F_OK)) {
			bbs_err("bench: --backing zram: no zram in this kernel (modprobe zram "
				"failed)");
			return -1;
		}
	}
	if (bbs_sys_read("/sys/class/zram-control/hot_add", buf, sizeof(buf))) {
		bbs_err("bench: --backing zram: cannot add a zram device: %s", strerror(errno));
		return -1;
	}
	b->zram = atoi(buf);
	snprintf(dev, sizeof(dev), "/dev/zram%d", b->zram);
	/* for the next run, should this one be killed before bench_zram_down() */
	snprintf(path, sizeof(path), "%s/zram.dev", b->work);
	snprintf(buf, sizeof(buf), "%d %llu\n", b->zram, (unsigned long long)bytes);
	if (bbs_write_file_atomic(path, buf, strlen(buf)))
		bbs_warn("bench: cannot write %s: %s", path, strerror(errno));
	/* lz4 gives up fastest on incompressible data; else the kernel's default */
	snprintf(path, sizeof(path), "/sys/block/zram%d/comp_algorithm", b->zram);
	if (!bbs_sys_read(path, algos, sizeof(algos)) && strstr(algos, "lz4"))
		bbs_sys_write(path, "lz4");
	snprintf(path, sizeof(path), "/sys/block/zram%d/disksize", b->zram);
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)bytes);
	if (bbs_sys_write(path, buf)) {
		bbs_err("bench: --backing zram: cannot size zram%d: %s", b->zram, strerror(errno));
		return -1;
	}
	for (int i = 0; i < 50 && access(dev, F_OK); i++)
		usleep(100000);
	st = bench_child(b, false, mkfs);
	if (st) {
		bench_child_error(b, buf, sizeof(buf));
		bbs_err("bench: --backing zram: mkfs.ext4 %s failed: %s", dev, buf);
		return -1;
	}
	snprintf(b->zram_mnt, sizeof(b->zram_mnt), "%s/zram", b->work);
	if (mkdir(b->zram_mnt, 0700) || mount(dev, b->zram_mnt, "ext4", 0, NULL)) {
		bbs_err("bench: --backing zram: cannot mount %s: %s", dev, strerror(errno));
		return -1;
	}
	b->zram_mounted = true;
	snprintf(b->store, sizeof(b->store), "%s", b->zram_mnt);
	return 0;
}

int bench_zram_down(struct bbs_bench *b)
{
	char path[PATH_MAX], buf[16];
	int ret = 0;

	if (b->zram_mounted && !bbs_umount(b->zram_mnt, 0))
		b->zram_mounted = false;
	if (b->zram_mounted) {
		bbs_warn("bench: cannot unmount %s: %s; zram%d is left", b->zram_mnt,
			 strerror(errno), b->zram);
		return -1;
	}
	if (b->zram < 0)
		return 0;
	snprintf(path, sizeof(path), "/sys/block/zram%d/reset", b->zram);
	bbs_sys_write(path, "1");
	snprintf(buf, sizeof(buf), "%d", b->zram);
	if (bbs_sys_write("/sys/class/zram-control/hot_remove", buf)) {
		bbs_warn("bench: cannot remove zram%d: %s", b->zram, strerror(errno));
		ret = -1;
	}
	b->zram = -1;
	return ret;
}

static const char *store_parent(const struct bbs_bench_opts *o)
{
	if (o->backing == BBS_BACK_ZRAM)
		return NULL;
	if (o->backing_dir)
		return o->backing_dir;
	return o->backing == BBS_BACK_TMPFS ? "/dev/shm" : "/var/tmp";
}

/* Where the store's directory goes (tmpfs, file), NULL for zram. */
const char *bench_store_parent(const struct bbs_bench *b)
{
	return store_parent(&b->o);
}

/* ---- will it fit ---- */

/*
 * Copies of the data a profile writes, at most: raid5/6 count as two (their
 * parity on the fewest devices, three and four, is a half and a whole).
 */
static unsigned int profile_copies(const char *p)
{
	static const struct {
		const char *name;
		unsigned int copies;
	} t[] = { { "dup", 2 },	    { "raid1", 2 }, { "raid10", 2 }, { "raid1c3", 3 },
		  { "raid1c4", 4 }, { "raid5", 2 }, { "raid6", 2 } };

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(p, t[i].name))
			return t[i].copies;
	return 1;
}

/*
 * What a run writes into its store, at most: the sandbox's devices fill with
 * the profile's copies of the data (not with --fs), the replay target takes
 * the data once and replay parity's targets (raid5/6) twice; metadata, the
 * recording and mkfs take the rest.
 */
static uint64_t store_need(const struct bbs_bench_opts *o)
{
	const char *p = o->profile ? o->profile : "single";
	uint64_t s = o->size, need = s + s / 8 + (256ULL << 20);

	if (!o->fs)
		need += s * profile_copies(p);
	if (!strcmp(p, "raid5") || !strcmp(p, "raid6"))
		need += 2 * s;
	return need;
}

/* Bytes free in dir; memory too when it is a tmpfs (which can promise more). */
static int store_avail(const char *dir, uint64_t *avail, bool *memory)
{
	struct statfs sfs;

	if (statfs(dir, &sfs))
		return -1;
	*avail = (uint64_t)sfs.f_bavail * sfs.f_bsize;
	*memory = sfs.f_type == TMPFS_MAGIC;
	if (*memory && bbs_mem_available() < *avail)
		*avail = bbs_mem_available();
	return 0;
}

static int refuse_size(const struct bbs_bench_opts *o, uint64_t need, const char *where,
		       uint64_t avail)
{
	char n[32], a[32], s[32];

	bbs_human_bytes(o->size, s, sizeof(s));
	bbs_human_bytes(need, n, sizeof(n));
	bbs_human_bytes(avail, a, sizeof(a));
	bbs_err("bench: --size %s needs about %s in %s, which has %s available: give a smaller "
		"--size%s",
		s, n, where, a, o->backing == BBS_BACK_FILE ? "" : ", or --backing file");
	return -1;
}

int bbs_bench_check(const struct bbs_bench_opts *o)
{
	const char *dir = store_parent(o);
	uint64_t need = store_need(o), avail;
	char where[PATH_MAX + 64];
	bool memory = true;

	if (o->backing == BBS_BACK_ZRAM) {
		/* zram keeps what is written in memory; random data does not compress. */
		avail = bbs_mem_available();
		snprintf(where, sizeof(where), "memory (zram backing)");
	} else if (store_avail(dir, &avail, &memory)) {
		bbs_err("bench: --backing-dir %s: %s", dir, strerror(errno));
		return -1;
	} else {
		snprintf(where, sizeof(where), "%s (%s backing%s)", dir,
			 bbs_backing_name[o->backing], memory ? ", memory" : "");
	}
	if (need > avail)
		return refuse_size(o, need, where, avail);
	if (o->fs && !store_avail(o->fs, &avail, &memory) && o->size + (64ULL << 20) > avail) {
		snprintf(where, sizeof(where), "--fs %s", o->fs);
		return refuse_size(o, o->size + (64ULL << 20), where, avail);
	}
	return 0;
}

/*
 * mkdtemp() dir/RUN_PREFIX<pid>.XXXXXX into buf (dir made absolute), and
 * link WORK/link to it: what the next run follows should this one be killed.
 */
int bench_run_dir(struct bbs_bench *b, const char *dir, char *buf, size_t len, const char *link)
{
	char abs[PATH_MAX], path[PATH_MAX];

	if (!realpath(dir, abs))
		return -1;
	if (snprintf(buf, len, "%s/" RUN_PREFIX "%d.XXXXXX", abs, (int)getpid()) >= (int)len) {
		buf[0] = 0;
		errno = ENAMETOOLONG;
		return -1;
	}
	if (!mkdtemp(buf)) {
		buf[0] = 0;
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s", b->work, link);
	if (symlink(buf, path)) {
		int err = errno;

		rmdir(buf);
		buf[0] = 0;
		errno = err;
		return -1;
	}
	return 0;
}

int bench_store_up(struct bbs_bench *b, uint64_t zram_bytes)
{
	const char *base = bench_store_parent(b);
	struct statfs sfs;

	if (b->o.backing == BBS_BACK_ZRAM)
		return zram_up(b, zram_bytes);
	if (statfs(base, &sfs)) {
		bbs_err("bench: --backing-dir %s: %s", base, strerror(errno));
		return -1;
	}
	if (b->o.backing == BBS_BACK_TMPFS && sfs.f_type != TMPFS_MAGIC) {
		bbs_err("bench: --backing tmpfs: %s is not on a tmpfs", base);
		return -1;
	}
	if (bench_run_dir(b, base, b->store, sizeof(b->store), "store")) {
		bbs_err("bench: cannot make a directory in %s: %s", base, strerror(errno));
		return -1;
	}
	b->store_made = true;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_DP ? rmdir(path) : unlink(path))
		bbs_warn("bench: cannot remove %s: %s", path, strerror(errno));
	return 0;
}

/* rm -r of a directory this run made: never crossing into another filesystem. */
void bench_rm_tree(const char *dir)
{
	if (dir[0] && !access(dir, F_OK))
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}
