// SPDX-License-Identifier: GPL-2.0
/* Replay targets: the safety checks, then an O_DIRECT descriptor. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/fs.h>
#include <blkid/blkid.h>

#include "replay/target.h"
#include "host/sys.h"
#include "host/util.h"
#include "render/print.h"

/* Block sizes of regular files: O_DIRECT on any filesystem accepts 4K alignment. */
#define FILE_LBS 4096U

struct mounted_arg {
	dev_t dev;
	char *mnt;
	size_t mntlen;
};

static int mounted_cb(const struct bbs_mount *m, void *arg)
{
	struct mounted_arg *a = arg;
	struct stat st;

	/*
	 * ext4 and xfs report the block device as the mount's device;
	 * btrfs reports an anonymous one, so the source is compared too.
	 */
	if (makedev(m->major, m->minor) == a->dev ||
	    (m->source[0] == '/' && !stat(m->source, &st) && S_ISBLK(st.st_mode) &&
	     st.st_rdev == a->dev)) {
		snprintf(a->mnt, a->mntlen, "%s", m->point);
		return 1;
	}
	return 0;
}

/* Is some mount's device this dev_t?  0 no, 1 yes (mnt says where), -1 error. */
static int mounted_on(dev_t dev, char *mnt, size_t mntlen)
{
	struct mounted_arg a = { dev, mnt, mntlen };

	return bbs_for_each_mount(mounted_cb, &a);
}

/* Is this block device, or this file (by inode), active swap?  0 or 1. */
static int is_swap(const struct stat *target)
{
	char *line = NULL, name[PATH_MAX];
	struct stat st;
	size_t cap = 0;
	int ret = 0;
	FILE *f;

	f = fopen("/proc/swaps", "re");
	if (!f)
		return 0;
	while (!ret && getline(&line, &cap, f) > 0) {
		if (sscanf(line, "%4095s", name) != 1 || name[0] != '/' || stat(name, &st))
			continue;
		if (S_ISBLK(target->st_mode))
			ret = S_ISBLK(st.st_mode) && st.st_rdev == target->st_rdev;
		else
			ret = st.st_dev == target->st_dev && st.st_ino == target->st_ino;
	}
	free(line);
	fclose(f);
	return ret;
}

/* The first entry of /sys/dev/block/M:m/holders, or "" when it has none. */
static void first_holder(dev_t dev, char *out, size_t len)
{
	char path[128];
	struct dirent *de;
	DIR *d;

	out[0] = 0;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/holders", major(dev), minor(dev));
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(out, len, "%s", de->d_name);
		break;
	}
	closedir(d);
}

/* Say why one device (or partition) is in use; 1 if it is, 0 if not. */
static int dev_busy(const char *path, dev_t dev, const char *what)
{
	char where[PATH_MAX], holder[256];
	struct stat st = { .st_mode = S_IFBLK, .st_rdev = dev };

	if (mounted_on(dev, where, sizeof(where)) == 1) {
		bbs_err("--target %s: %s is mounted on %s (refusing to write under a filesystem)",
			path, what, where);
		return 1;
	}
	first_holder(dev, holder, sizeof(holder));
	if (holder[0]) {
		bbs_err("--target %s: %s is held by %s (a device-mapper, md or bcache member)",
			path, what, holder);
		return 1;
	}
	if (is_swap(&st)) {
		bbs_err("--target %s: %s is active swap", path, what);
		return 1;
	}
	return 0;
}

/* The device, then each of its partitions.  1 if any is in use. */
static int blkdev_busy(const char *path, dev_t dev)
{
	char dir[128], sub[512], buf[64], what[300];
	unsigned int ma, mi;
	struct dirent *de;
	int busy = 0;
	DIR *d;

	if (dev_busy(path, dev, "the device"))
		return 1;
	snprintf(dir, sizeof(dir), "/sys/dev/block/%u:%u", major(dev), minor(dev));
	d = opendir(dir);
	if (!d)
		return 0;
	while (!busy && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s/partition", dir, de->d_name);
		if (access(sub, F_OK))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s/dev", dir, de->d_name);
		if (!bbs_sys_read(sub, buf, sizeof(buf)) && sscanf(buf, "%u:%u", &ma, &mi) == 2) {
			snprintf(what, sizeof(what), "its partition %s", de->d_name);
			busy = dev_busy(path, makedev(ma, mi), what);
		}
	}
	closedir(d);
	return busy;
}

/*
 * A filesystem, RAID member or partition table on the device?  0 none,
 * 1 found (type says which), -1 the probe failed (type says why).
 */
static int signature(const char *path, char *type, size_t len)
{
	const char *v = NULL;
	blkid_probe pr;
	int rc;

	pr = blkid_new_probe_from_filename(path);
	if (!pr) {
		snprintf(type, len, "cannot open it for probing: %s", strerror(errno));
		return -1;
	}
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_USAGE);
	blkid_probe_enable_partitions(pr, 1);
	rc = blkid_do_safeprobe(pr);
	if (rc == 0) {
		if (blkid_probe_lookup_value(pr, "TYPE", &v, NULL) &&
		    blkid_probe_lookup_value(pr, "PTTYPE", &v, NULL))
			v = "unknown";
		snprintf(type, len, "%s", v);
		rc = 1;
	} else if (rc == -2) {
		snprintf(type, len, "several (ambiguous)");
		rc = 1;
	} else if (rc == 1) {
		rc = 0;
	} else {
		snprintf(type, len, "the probe failed");
		rc = -1;
	}
	blkid_free_probe(pr);
	return rc;
}

static int open_blkdev(struct bbs_target *t, const struct stat *st, const struct bbs_target_opts *o)
{
	char sig[128], have[32], need[32];
	int lbs, rc;

	if (blkdev_busy(t->path, st->st_rdev))
		return -1;
	/* O_EXCL claims the device: mounts and md/dm/btrfs members fail here. */
	t->fd = open(t->path, O_RDWR | O_DIRECT | O_EXCL | O_CLOEXEC);
	if (t->fd < 0) {
		if (errno == EBUSY)
			bbs_err("--target %s: the device is in use (open exclusively: mounted, "
				"a RAID or btrfs member, or swap)",
				t->path);
		else
			bbs_err("--target %s: cannot open it: %s", t->path, strerror(errno));
		return -1;
	}
	if (ioctl(t->fd, BLKGETSIZE64, &t->size) || ioctl(t->fd, BLKSSZGET, &lbs)) {
		bbs_err("--target %s: cannot read its size: %s", t->path, strerror(errno));
		goto err_close;
	}
	t->lbs = lbs;
	if (t->size < o->need) {
		bbs_human_bytes(t->size, have, sizeof(have));
		bbs_human_bytes(o->need, need, sizeof(need));
		bbs_err("--target %s: too small: %s, the workload spans %s", t->path, have, need);
		goto err_close;
	}
	rc = signature(t->path, sig, sizeof(sig));
	if (rc && !o->force) {
		if (rc > 0)
			bbs_err("--target %s: %s signature found (use --force to overwrite it)",
				t->path, sig);
		else
			bbs_err("--target %s: cannot check it for signatures: %s (use --force to "
				"write anyway)",
				t->path, sig);
		goto err_close;
	}
	if (rc > 0)
		bbs_warn("--target %s: overwriting its %s signature (--force)", t->path, sig);
	t->blkdev = true;
	t->kdev = bbs_kdev(major(st->st_rdev), minor(st->st_rdev));
	return 0;

err_close:
	close(t->fd);
	t->fd = -1;
	return -1;
}

/* Does a loop device read or write this file?  Its name in out if so. */
static int backs_loop(const struct stat *st, char *out, size_t len)
{
	char path[300], file[PATH_MAX];
	struct dirent *de;
	struct stat bst;
	int ret = 0;
	DIR *d;

	d = opendir("/sys/block");
	if (!d)
		return 0;
	while (!ret && (de = readdir(d))) {
		if (strncmp(de->d_name, "loop", 4))
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", de->d_name);
		if (bbs_sys_read(path, file, sizeof(file)))
			continue;
		if (!stat(file, &bst) && bst.st_dev == st->st_dev && bst.st_ino == st->st_ino) {
			snprintf(out, len, "%s", de->d_name);
			ret = 1;
		}
	}
	closedir(d);
	return ret;
}

/* Make the file hold need bytes without writing them. */
static int preallocate(struct bbs_target *t, uint64_t need)
{
	char want[32];
	struct statvfs sv;

	if (!fallocate(t->fd, 0, 0, need))
		return 0;
	bbs_human_bytes(need, want, sizeof(want));
	if (errno == ENOSPC || errno == EFBIG) {
		bbs_err("--target %s: too small: no room for %s on its filesystem (%s)", t->path,
			want, strerror(errno));
		return -1;
	}
	if (errno != EOPNOTSUPP) {
		bbs_err("--target %s: cannot preallocate %s: %s", t->path, want, strerror(errno));
		return -1;
	}
	/* No fallocate here: check the free space, then extend sparsely. */
	if (!fstatvfs(t->fd, &sv) && (uint64_t)sv.f_bavail * sv.f_frsize < need - t->size) {
		bbs_err("--target %s: too small: no room for %s on its filesystem", t->path, want);
		return -1;
	}
	if (ftruncate(t->fd, need)) {
		bbs_err("--target %s: cannot extend it to %s: %s", t->path, want, strerror(errno));
		return -1;
	}
	bbs_warn("--target %s: no fallocate on this filesystem; extended it sparsely", t->path);
	return 0;
}

static int open_file(struct bbs_target *t, const struct stat *exist,
		     const struct bbs_target_opts *o)
{
	char loop[256];
	struct stat st;
	int flags;

	if (exist) {
		if (backs_loop(exist, loop, sizeof(loop))) {
			bbs_err("--target %s: the file backs %s (refusing to write under it)",
				t->path, loop);
			return -1;
		}
		if (is_swap(exist)) {
			bbs_err("--target %s: the file is active swap", t->path);
			return -1;
		}
		if (!o->force) {
			bbs_err("--target %s: the file exists (use --force to overwrite it)",
				t->path);
			return -1;
		}
		t->fd = open(t->path, O_RDWR | O_CLOEXEC);
	} else {
		t->fd = open(t->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		t->created = t->fd >= 0;
	}
	if (t->fd < 0) {
		bbs_err("--target %s: cannot %s it: %s", t->path, exist ? "open" : "create",
			strerror(errno));
		return -1;
	}
	/* Set O_DIRECT afterwards: an open() that refused it may have created the file. */
	flags = fcntl(t->fd, F_GETFL);
	if (flags < 0 || fcntl(t->fd, F_SETFL, flags | O_DIRECT)) {
		if (errno == EINVAL)
			bbs_err("--target %s: its filesystem does not support O_DIRECT (use a "
				"block device, or a file on tmpfs, ext4, xfs or btrfs)",
				t->path);
		else
			bbs_err("--target %s: cannot set O_DIRECT: %s", t->path, strerror(errno));
		goto err_close;
	}
	if (fstat(t->fd, &st)) {
		bbs_err("--target %s: cannot stat it: %s", t->path, strerror(errno));
		goto err_close;
	}
	t->size = st.st_size;
	if (t->size < o->need) {
		if (preallocate(t, o->need))
			goto err_close;
		t->size = o->need;
	}
	t->lbs = FILE_LBS;
	t->kdev = bbs_kdev(major(st.st_dev), minor(st.st_dev));
	return 0;

err_close:
	close(t->fd);
	t->fd = -1;
	if (t->created)
		unlink(t->path);
	t->created = false;
	return -1;
}

/*
 * Whether a path that does not exist would be created under /dev: a typo'd
 * device name (/dev/nvme0n2) must not become a file on devtmpfs that the
 * replay then measures as if it were the device.
 */
static bool under_dev(const char *path)
{
	char dir[PATH_MAX];
	struct stat d, devfs;

	snprintf(dir, sizeof(dir), "%s", path);
	if (stat(dirname(dir), &d) || stat("/dev", &devfs))
		return false;
	/* /dev's own filesystem: /dev/shm and other mounts below it are not. */
	return d.st_dev == devfs.st_dev;
}

int bbs_target_open(struct bbs_target *t, const char *path, const struct bbs_target_opts *o)
{
	struct stat st;
	int ret;

	memset(t, 0, sizeof(*t));
	t->fd = -1;
	if (snprintf(t->path, sizeof(t->path), "%s", path) >= (int)sizeof(t->path)) {
		bbs_err("--target: path too long");
		return -1;
	}
	if (stat(path, &st)) {
		if (errno != ENOENT) {
			bbs_err("--target %s: %s", path, strerror(errno));
			return -1;
		}
		if (under_dev(path)) {
			bbs_err("--target %s: no such device (a target under /dev must exist; a "
				"file would be made on devtmpfs, in memory)",
				path);
			return -1;
		}
		ret = open_file(t, NULL, o);
	} else if (S_ISBLK(st.st_mode)) {
		ret = open_blkdev(t, &st, o);
	} else if (S_ISREG(st.st_mode)) {
		ret = open_file(t, &st, o);
	} else {
		bbs_err("--target %s: not a block device or a regular file", path);
		return -1;
	}
	if (ret)
		return -1;
	bbs_dev_name(t->kdev, t->name, sizeof(t->name));
	return 0;
}

void bbs_target_close(struct bbs_target *t, bool keep)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	if (t->created && !keep)
		unlink(t->path);
	t->created = false;
}
