// SPDX-License-Identifier: GPL-2.0
/*
 * The sandbox's loop devices (sandbox/internal.h): attach one to a backing
 * file with autoclear, keep it once mounted, and detach only a device that
 * is provably still ours (its number, and sysfs naming our backing file).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <linux/btrfs.h>
#include <linux/loop.h>

#include "sandbox/internal.h"
#include "host/sys.h"
#include "host/util.h"

/* LOOP_CTL_GET_FREE answers can be taken by others before we bind them. */
#define LOOP_TRIES 32

/*
 * Bind a free loop device to fd (the backing file).  LOOP_CONFIGURE came in
 * Linux 5.8; older kernels answer EINVAL and get LOOP_SET_FD +
 * LOOP_SET_STATUS64.  Returns 0 or an errno.
 */
static int loop_configure(int lfd, const struct loop_config *cfg)
{
	int err;

	if (!ioctl(lfd, LOOP_CONFIGURE, cfg))
		return 0;
	if (errno != EINVAL)
		return errno;
	if (ioctl(lfd, LOOP_SET_FD, cfg->fd))
		return errno;
	if (ioctl(lfd, LOOP_SET_STATUS64, &cfg->info)) {
		err = errno;
		ioctl(lfd, LOOP_CLR_FD);
		return err;
	}
	return 0;
}

/*
 * Attach the backing file open on fd to a free loop device and record it in
 * m (whose backing path is already set).  LO_FLAGS_AUTOCLEAR: the device
 * goes when its last opener closes it.  Returns the device, open, which
 * holds it until the mount does (a killed `up` leaves no loop device), or
 * -1 after an error line.
 */
int sb_loop_attach(int ctl, int fd, struct bbs_sb_member *m)
{
	struct loop_config cfg = { .fd = fd, .info.lo_flags = LO_FLAGS_AUTOCLEAR };
	size_t len = strlen(m->backing);
	struct stat st = { 0 };
	int n, lfd = -1, err = EBUSY;

	/* lo_file_name is informational (losetup shows it); sysfs has the full path. */
	memcpy(cfg.info.lo_file_name, m->backing, len < LO_NAME_SIZE ? len : LO_NAME_SIZE - 1);
	for (int tries = 0; tries < LOOP_TRIES && err == EBUSY; tries++) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			bbs_err("cannot get a free loop device: %s", strerror(errno));
			return -1;
		}
		snprintf(m->dev, sizeof(m->dev), "/dev/loop%d", n);
		lfd = open(m->dev, O_RDWR | O_CLOEXEC);
		if (lfd < 0) {
			bbs_err("cannot open %s: %s", m->dev, strerror(errno));
			m->dev[0] = 0;
			return -1;
		}
		/* EBUSY: another process bound it since GET_FREE; ask again. */
		err = loop_configure(lfd, &cfg);
		if (!err && fstat(lfd, &st)) {
			err = errno;
			ioctl(lfd, LOOP_CLR_FD);
		}
		if (err) {
			close(lfd);
			lfd = -1;
		}
	}
	if (err) {
		bbs_err("cannot attach %s to %s: %s", m->backing, m->dev, strerror(err));
		m->dev[0] = 0;
		return -1;
	}
	m->major = major(st.st_rdev);
	m->minor = minor(st.st_rdev);
	return lfd;
}

/*
 * Mounted: the devices stay until `down` detaches them, as a sandbox's
 * should (unmounting it by hand to work on a device must not lose it).
 */
void sb_loop_keep(int lfd, const struct bbs_sb_member *m)
{
	struct loop_info64 info;

	if (ioctl(lfd, LOOP_GET_STATUS64, &info))
		goto warn;
	info.lo_flags &= ~LO_FLAGS_AUTOCLEAR;
	if (!ioctl(lfd, LOOP_SET_STATUS64, &info))
		return;
warn:
	bbs_warn("%s stays with autoclear: %s", m->dev, strerror(errno));
}

/* Detach a loop device `up` attached a moment ago and still holds (unwinding). */
void sb_loop_detach_new(int lfd, const struct bbs_sb_member *m)
{
	if (ioctl(lfd, LOOP_CLR_FD))
		bbs_warn("cannot detach %s: %s", m->dev, strerror(errno));
	close(lfd);
}

/*
 * Make the kernel forget the btrfs it registered for dev (mkfs.btrfs and
 * mount scan it), as `btrfs device scan --forget DEV` does: otherwise a later
 * mount could find a stale member under a reused loop number.  Best effort.
 * The name must not be empty: an empty name forgets every unmounted device.
 */
void sb_btrfs_forget(const char *dev)
{
	struct btrfs_ioctl_vol_args args = { 0 };
	int fd;

	if (!dev[0])
		return;
	snprintf(args.name, sizeof(args.name), "%s", dev);
	fd = open("/dev/btrfs-control", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		bbs_warn("cannot open /dev/btrfs-control to forget %s: %s", dev, strerror(errno));
		return;
	}
	/* ENOENT: nothing registered for it. */
	if (ioctl(fd, BTRFS_IOC_FORGET_DEV, &args) && errno != ENOENT)
		bbs_warn("cannot make btrfs forget %s: %s", dev, strerror(errno));
	close(fd);
}

/*
 * Is the loop device numbered like m bound to m's backing file?  cur gets
 * what it is bound to ("" when it is not bound).
 */
static bool loop_backed_by(const struct bbs_sb_member *m, char *cur, size_t len)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/loop/backing_file", m->major, m->minor);
	if (bbs_sys_read(path, cur, len))
		cur[0] = 0;
	return !strcmp(cur, m->backing);
}

/*
 * Detach one member for `down`, but only if it is still ours.  We open it
 * first: while we hold it open nobody can rebind it (a LOOP_CLR_FD from
 * anyone else only takes effect at the last close), so what we check is
 * what we detach.  A device that is not attached any more (an `up` killed
 * before the mount held it: autoclear let it go) is left quietly.  0 when
 * done or left alone
 * (with a warning), -1 when it is ours and could not be detached (its
 * backing file must stay).
 */
int sb_loop_release(const struct bbs_sb_member *m)
{
	char cur[PATH_MAX];
	struct stat st;
	int lfd;

	if (!m->dev[0])
		return 0; /* `up` stopped before attaching it */
	lfd = open(m->dev, O_RDWR | O_CLOEXEC);
	if (lfd < 0) {
		bbs_warn("%s is gone (%s); nothing to detach", m->dev, strerror(errno));
		return 0;
	}
	if (fstat(lfd, &st) || !S_ISBLK(st.st_mode) || st.st_rdev != makedev(m->major, m->minor)) {
		bbs_warn("%s is not device %u:%u any more; leaving it alone", m->dev, m->major,
			 m->minor);
		goto out;
	}
	if (!loop_backed_by(m, cur, sizeof(cur))) {
		if (cur[0])
			bbs_warn("%s is backed by %s now, not %s; leaving it alone", m->dev, cur,
				 m->backing);
		goto out;
	}
	sb_btrfs_forget(m->dev);
	if (ioctl(lfd, LOOP_CLR_FD)) {
		bbs_err("cannot detach %s: %s", m->dev, strerror(errno));
		close(lfd);
		return -1;
	}
	close(lfd);
	/* The detach happens at the last close: ours, unless someone else has it open. */
	if (loop_backed_by(m, cur, sizeof(cur)))
		bbs_warn("%s is open elsewhere; the kernel detaches it when it is closed", m->dev);
	return 0;
out:
	close(lfd);
	sb_btrfs_forget(m->dev);
	return 0;
}
