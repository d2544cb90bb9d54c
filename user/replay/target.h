/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The device or file a replay writes to, and the checks that come before
 * the first byte is written.  Shared by every `bbscope replay` subcommand.
 *
 * A block device is refused when it is in use (mounted, through a partition
 * too; a holder such as dm or md; swap; or already open exclusively: the
 * device is opened O_EXCL and held so for the whole run) and, unless forced,
 * when it carries a filesystem, RAID or partition-table signature (libblkid).
 * A regular file is refused when it backs a loop device or is a swap file,
 * and, unless forced, when it exists; a new one is created and preallocated.
 * Either is refused when smaller than the workload.  In-use is never
 * overridden: writing under a mounted filesystem destroys it.
 */
#ifndef BBS_TARGET_H
#define BBS_TARGET_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

struct bbs_target {
	char path[PATH_MAX];
	int fd; /* O_RDWR | O_DIRECT (| O_EXCL on a block device) */
	bool blkdev;
	bool created; /* a regular file this run created */
	uint32_t kdev; /* block device: its dev_t; file: the device of its filesystem */
	uint64_t size; /* bytes */
	unsigned int lbs; /* logical block size: O_DIRECT offsets and lengths align to it */
	char name[64]; /* "loop3", or for a file its filesystem's device ("vda", "0:45") */
};

struct bbs_target_opts {
	uint64_t need; /* bytes the workload spans: a smaller target is refused */
	bool force; /* write over a signature, or an existing file */
};

/*
 * Open path for O_DIRECT writes after the checks above.  0, or -1 after
 * saying why (bbs_err: one line, "--target PATH: ...").  Nothing has been
 * written either way; a file created here and then refused is removed.
 */
int bbs_target_open(struct bbs_target *t, const char *path, const struct bbs_target_opts *o);

/* Close; remove a file this run created unless keep (keep it once written). */
void bbs_target_close(struct bbs_target *t, bool keep);

#endif
