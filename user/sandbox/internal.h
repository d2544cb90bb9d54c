/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What sandbox.c (the state file, mkfs, mount, up and down) asks of
 * loop.c (the loop devices).  Each says what it does on error.
 */
#ifndef BBS_SANDBOX_INTERNAL_H
#define BBS_SANDBOX_INTERNAL_H

#include "sandbox/sandbox.h"

/*
 * Attach the backing file open on fd to a free loop device (ctl: an open
 * /dev/loop-control) and record it in m, whose backing path is set.  The
 * device, open and autoclear, or -1 after an error line.
 */
int sb_loop_attach(int ctl, int fd, struct bbs_sb_member *m);
/* Mounted: clear autoclear, so the device stays until `down`. */
void sb_loop_keep(int lfd, const struct bbs_sb_member *m);
/* Detach a device `up` attached a moment ago and still holds (unwinding). */
void sb_loop_detach_new(int lfd, const struct bbs_sb_member *m);
/* btrfs device scan --forget DEV (dev not empty).  Best effort. */
void sb_btrfs_forget(const char *dev);
/*
 * Detach m's device for `down` if it is still provably ours: 0 when done or
 * left alone (with a warning), -1 when ours and not detached (keep its file).
 */
int sb_loop_release(const struct bbs_sb_member *m);

#endif
