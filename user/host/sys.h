/* SPDX-License-Identifier: GPL-2.0 */
/* What the running kernel shows and takes: sysfs attributes, and unmounting. */
#ifndef BBS_HOST_SYS_H
#define BBS_HOST_SYS_H

#include <stddef.h>

/* The first line of a file (a sysfs attribute), without its newline.  0, or -1 with errno. */
int bbs_sys_read(const char *path, char *buf, size_t len);

/* Write val to a sysfs attribute in one write().  0, or -1 with errno. */
int bbs_sys_write(const char *path, const char *val);

/*
 * umount2(path, flags), again every 100 ms for up to BBS_UMOUNT_WAIT_MS
 * while it is busy: a process that has just finished may hold the mount
 * for a moment.  0, or -1 with errno (EBUSY: still in use).
 */
#define BBS_UMOUNT_WAIT_MS 5000
int bbs_umount(const char *path, int flags);

#endif
