/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Output files: writing to a path the user named without harming what the
 * path points at.  Every report, list, page and recording bbscope writes
 * goes through here.  What a path is decides how it is written:
 *
 *   "-"                        standard output (a dup of fd 1)
 *   missing, or a regular      a temporary made in the path's directory
 *   file                       with mkostemp() (O_CREAT | O_EXCL: an
 *                              unguessable name, never through a planted
 *                              symlink), renamed over the path by
 *                              bbs_out_commit(): a reader sees the old file
 *                              or the whole new one.  An existing file is
 *                              refused (-EEXIST) without BBS_OUT_FORCE.
 *   a character device or a    written into as it is, never unlinked or
 *   FIFO, or a symlink to one  renamed over.  A FIFO no process reads is
 *   (/dev/stdout)              refused, not waited on.  A path that is
 *                              this process's stdout or stderr is written
 *                              through that descriptor (keeps O_APPEND).
 *   a symlink to a regular     written through the link, in place: the link
 *   file                       stays.  Needs BBS_OUT_FORCE, as any existing
 *                              file.  In a sticky world-writable directory
 *                              a link whose owner is neither the caller,
 *                              the directory's owner nor root is refused
 *                              (-EINVAL), as fs.protected_symlinks=1 does,
 *                              whatever the host's setting.
 *   a dangling symlink, a      refused (-EINVAL), with the reason in why
 *   directory, a block
 *   device, a socket
 *
 * BBS_OUT_NOFOLLOW is for names bbscope derives from what it was given
 * (--rebuilt-out PREFIX.N, DIR/<dev>.blktrace.N): a symlink found there
 * was not named by the user, so it is refused, never followed.
 *
 * BBS_OUT_DIRECT (a recording, which must be readable at its path while it
 * grows): no temporary; a new file is created at the path with O_EXCL, and
 * with BBS_OUT_FORCE an existing regular file is unlinked first (a reader
 * that has it mapped keeps the old one).  BBS_OUT_SEEKABLE refuses what
 * cannot seek (a FIFO, a terminal).
 */
#ifndef BBS_HOST_OUTFILE_H
#define BBS_HOST_OUTFILE_H

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum {
	BBS_OUT_FORCE = 1, /* an existing regular file may be replaced */
	BBS_OUT_DIRECT = 2, /* no temporary: create at the path itself */
	BBS_OUT_SEEKABLE = 4, /* refuse a FIFO, a terminal, a socket */
	BBS_OUT_NOFOLLOW = 8, /* a name bbscope made up (PREFIX.N): refuse a symlink */
};

struct bbs_out {
	int fd; /* write here; -1 when closed */
	FILE *f; /* bbs_out_stream()'s, or NULL */
	unsigned int flags;
	bool created; /* BBS_OUT_DIRECT made the file */
	char path[PATH_MAX]; /* as given */
	char tmp[PATH_MAX]; /* the temporary, "" when written in place */
	char why[PATH_MAX + 128]; /* why open or commit failed: one phrase */
};

/*
 * Open path for writing as the table above says.  0, or -errno with why
 * set: -EEXIST for an existing file without BBS_OUT_FORCE, -EINVAL for a
 * kind of file that is refused; both are bad input (exit status 2).
 */
int bbs_out_open(struct bbs_out *o, const char *path, unsigned int flags);
/*
 * Before a long run whose output comes at its end: -EEXIST, with why, when
 * bbs_out_open() will refuse path for being an existing file (no
 * BBS_OUT_FORCE); else 0 (other refusals are found when it is opened).
 */
int bbs_out_precheck(const char *path, unsigned int flags, char *why, size_t whylen);
/* A stdio stream on o->fd, owned by o (bbs_out_commit() closes it). NULL on ENOMEM. */
FILE *bbs_out_stream(struct bbs_out *o);
/*
 * Finish: flush the stream, fsync a temporary and rename it over the path
 * (without BBS_OUT_FORCE, never over a file that appeared meanwhile), close.
 * 0, or -errno with why set and the temporary removed.
 */
int bbs_out_commit(struct bbs_out *o);
/* Give up: close, remove the temporary (or what BBS_OUT_DIRECT created). */
void bbs_out_abort(struct bbs_out *o);

/* Whether bbs_out_open()'s error means "refused" (bad input) rather than "failed". */
static inline bool bbs_out_refused(int err)
{
	return err == -EEXIST || err == -EINVAL;
}

/*
 * The whole of buf to path, through bbs_out_open(flags) and commit.  0, or
 * -errno with a phrase in why.
 */
int bbs_out_write_all(const char *path, unsigned int flags, const void *buf, size_t len, char *why,
		      size_t whylen);

#endif
