// SPDX-License-Identifier: GPL-2.0
/* Output files that never replace what a path points at (host/outfile.h). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/outfile.h"

static int fail(struct bbs_out *o, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Say why in o->why; returns -err. */
static int fail(struct bbs_out *o, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(o->why, sizeof(o->why), fmt, ap);
	va_end(ap);
	return -err;
}

/* The mode a new file gets: 0644 less the umask, as open(2) would give it. */
static mode_t new_file_mode(void)
{
	mode_t mask = umask(0);

	umask(mask);
	return 0644 & ~mask;
}

/* stdout or stderr when st is the file it writes to, else -1. */
static int std_stream(const struct stat *st)
{
	struct stat s;

	for (int fd = STDOUT_FILENO; fd <= STDERR_FILENO; fd++)
		if (!fstat(fd, &s) && s.st_dev == st->st_dev && s.st_ino == st->st_ino)
			return fd;
	return -1;
}

static int dup_fd(struct bbs_out *o, int fd)
{
	o->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	return o->fd < 0 ? fail(o, errno, "%s", strerror(errno)) : 0;
}

static int check_seekable(struct bbs_out *o)
{
	if (!(o->flags & BBS_OUT_SEEKABLE) || lseek(o->fd, 0, SEEK_CUR) >= 0)
		return 0;
	close(o->fd);
	o->fd = -1;
	return fail(o, EINVAL, "cannot seek in it (a pipe or a terminal): give a file");
}

/*
 * Write into what is there: a device, a FIFO, a symlink's regular file.
 * A FIFO is opened without blocking: nobody reading it is an error, not a
 * wait.  What was opened must still be the kind of file that was checked.
 */
static int open_in_place(struct bbs_out *o, const struct stat *st)
{
	int fd = std_stream(st), flags = O_WRONLY | O_NOCTTY | O_CLOEXEC;
	struct stat now;

	if (fd >= 0)
		return dup_fd(o, fd) ?: check_seekable(o);
	if (S_ISREG(st->st_mode))
		flags |= O_TRUNC;
	if (S_ISFIFO(st->st_mode))
		flags |= O_NONBLOCK;
	o->fd = open(o->path, flags);
	if (o->fd < 0 && errno == ENXIO && S_ISFIFO(st->st_mode))
		return fail(o, EINVAL, "is a FIFO that no process reads");
	if (o->fd < 0)
		return fail(o, errno, "%s", strerror(errno));
	if (fstat(o->fd, &now) || (now.st_mode & S_IFMT) != (st->st_mode & S_IFMT)) {
		close(o->fd);
		o->fd = -1;
		return fail(o, EINVAL, "changed while it was being opened");
	}
	if (flags & O_NONBLOCK)
		fcntl(o->fd, F_SETFL, fcntl(o->fd, F_GETFL) & ~O_NONBLOCK);
	return check_seekable(o);
}

/*
 * A temporary beside the path: ".NAME.XXXXXX" in its directory, made with
 * O_CREAT | O_EXCL (mkostemp), so a symlink planted under any name is never
 * followed.  It takes the mode (and, for root, the owner) of the file it
 * replaces.
 */
static int make_temp(struct bbs_out *o, const struct stat *old)
{
	char d[PATH_MAX], b[PATH_MAX];

	snprintf(d, sizeof(d), "%s", o->path);
	snprintf(b, sizeof(b), "%s", o->path);
	if (snprintf(o->tmp, sizeof(o->tmp), "%s/.%s.XXXXXX", dirname(d), basename(b)) >=
	    (int)sizeof(o->tmp)) {
		o->tmp[0] = 0;
		return fail(o, ENAMETOOLONG, "%s", strerror(ENAMETOOLONG));
	}
	o->fd = mkostemp(o->tmp, O_CLOEXEC);
	if (o->fd < 0) {
		o->tmp[0] = 0;
		return fail(o, errno, "cannot create a file beside it: %s", strerror(errno));
	}
	if (old) {
		fchmod(o->fd, old->st_mode & 07777);
		if (!geteuid())
			(void)!fchown(o->fd, old->st_uid, old->st_gid);
	} else {
		fchmod(o->fd, new_file_mode());
	}
	return 0;
}

/* BBS_OUT_DIRECT: the file itself, new; never through a symlink (O_EXCL). */
static int create_direct(struct bbs_out *o)
{
	o->fd = open(o->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (o->fd < 0)
		return fail(o, errno, "cannot create it: %s", strerror(errno));
	o->created = true;
	return check_seekable(o);
}

static int open_regular(struct bbs_out *o, const struct stat *st)
{
	if (!(o->flags & BBS_OUT_FORCE))
		return fail(o, EEXIST, "exists (use --force to overwrite it)");
	if (!(o->flags & BBS_OUT_DIRECT))
		return make_temp(o, st);
	if (unlink(o->path) && errno != ENOENT)
		return fail(o, errno, "cannot replace it: %s", strerror(errno));
	return create_direct(o);
}

/* What a symlink points at, when it points at nothing: a clear refusal. */
static int dangling(struct bbs_out *o)
{
	char target[PATH_MAX];
	ssize_t n = readlink(o->path, target, sizeof(target) - 1);

	target[n > 0 ? n : 0] = 0;
	return fail(o, EINVAL, "is a symbolic link to '%s', which does not exist", target);
}

/*
 * fs.protected_symlinks, checked here too (hosts turn it off): a symlink in a
 * sticky world-writable directory (/tmp) is followed only when its owner is
 * the caller, the directory's owner or root; else another user planted it,
 * to have this process write through it into a file of the caller's.
 */
static int planted_link(struct bbs_out *o, const struct stat *lst)
{
	char d[PATH_MAX];
	struct stat dir;

	snprintf(d, sizeof(d), "%s", o->path);
	if (stat(dirname(d), &dir))
		return fail(o, errno, "cannot check its directory: %s", strerror(errno));
	if (!(dir.st_mode & S_ISVTX) || !(dir.st_mode & S_IWOTH) || lst->st_uid == geteuid() ||
	    lst->st_uid == dir.st_uid || lst->st_uid == 0)
		return 0;
	return fail(o, EINVAL,
		    "is a symbolic link that user %u made in a sticky world-writable "
		    "directory: not followed (as fs.protected_symlinks would not)",
		    (unsigned int)lst->st_uid);
}

/* Regular, device or FIFO: how to write to it; anything else: why not. */
static int open_existing(struct bbs_out *o, const struct stat *lst, const struct stat *st)
{
	switch (st->st_mode & S_IFMT) {
	case S_IFREG:
		if (S_ISLNK(lst->st_mode))
			return (o->flags & BBS_OUT_FORCE)
				       ? open_in_place(o, st)
				       : fail(o, EEXIST, "exists (use --force to overwrite it)");
		return open_regular(o, st);
	case S_IFIFO:
		if (o->flags & BBS_OUT_SEEKABLE)
			return fail(o, EINVAL,
				    "is a FIFO; this output must be a file it can seek in");
		return open_in_place(o, st);
	case S_IFCHR:
		return open_in_place(o, st);
	case S_IFDIR:
		return fail(o, EINVAL, "is a directory");
	case S_IFBLK:
		return fail(o, EINVAL, "is a block device (bbscope writes no output over one)");
	}
	return fail(o, EINVAL, "is not a regular file, a character device or a FIFO");
}

int bbs_out_open(struct bbs_out *o, const char *path, unsigned int flags)
{
	struct stat lst, st;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	o->flags = flags;
	if (snprintf(o->path, sizeof(o->path), "%s", path) >= (int)sizeof(o->path))
		return fail(o, ENAMETOOLONG, "%s", strerror(ENAMETOOLONG));
	if (!strcmp(path, "-"))
		return dup_fd(o, STDOUT_FILENO) ?: check_seekable(o);
	if (lstat(path, &lst)) {
		if (errno != ENOENT)
			return fail(o, errno, "%s", strerror(errno));
		return flags & BBS_OUT_DIRECT ? create_direct(o) : make_temp(o, NULL);
	}
	st = lst;
	if (S_ISLNK(lst.st_mode) && (flags & BBS_OUT_NOFOLLOW))
		return fail(o, EINVAL, "is a symbolic link, and not one this command was given");
	if (S_ISLNK(lst.st_mode) && planted_link(o, &lst))
		return -EINVAL;
	if (S_ISLNK(lst.st_mode) && stat(path, &st))
		return errno == ENOENT ? dangling(o) : fail(o, errno, "%s", strerror(errno));
	return open_existing(o, &lst, &st);
}

int bbs_out_precheck(const char *path, unsigned int flags, char *why, size_t whylen)
{
	struct stat st;

	if ((flags & BBS_OUT_FORCE) || !path || !strcmp(path, "-") || stat(path, &st) ||
	    !S_ISREG(st.st_mode))
		return 0;
	snprintf(why, whylen, "exists (use --force to overwrite it)");
	return -EEXIST;
}

FILE *bbs_out_stream(struct bbs_out *o)
{
	if (!o->f)
		o->f = fdopen(o->fd, "w");
	return o->f;
}

/*
 * The temporary becomes the path.  Without BBS_OUT_FORCE a file that
 * appeared since bbs_out_open() is not replaced (RENAME_NOREPLACE, or
 * link() where a filesystem lacks it); with it, only a regular file is.
 */
static int place(struct bbs_out *o)
{
	struct stat st;

	if (o->flags & BBS_OUT_FORCE) {
		if (!lstat(o->path, &st) && !S_ISREG(st.st_mode))
			return fail(o, EEXIST, "was replaced by something else meanwhile");
		return rename(o->tmp, o->path) ? fail(o, errno, "%s", strerror(errno)) : 0;
	}
	if (!renameat2(AT_FDCWD, o->tmp, AT_FDCWD, o->path, RENAME_NOREPLACE))
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return fail(o, errno, "%s",
			    errno == EEXIST ? "appeared meanwhile" : strerror(errno));
	if (link(o->tmp, o->path))
		return fail(o, errno, "%s",
			    errno == EEXIST ? "appeared meanwhile" : strerror(errno));
	unlink(o->tmp);
	return 0;
}

int bbs_out_commit(struct bbs_out *o)
{
	int err = 0;

	if (o->f && (fflush(o->f) || ferror(o->f)))
		err = errno ?: EIO;
	if (!err && o->tmp[0] && fsync(o->fd))
		err = errno;
	/* Some filesystems report a failed write only at close. */
	if ((o->f ? fclose(o->f) : close(o->fd)) && !err)
		err = errno ?: EIO;
	o->f = NULL;
	o->fd = -1;
	if (err) {
		fail(o, err, "%s", strerror(err));
		bbs_out_abort(o);
		return -err;
	}
	err = o->tmp[0] ? -place(o) : 0;
	if (err) {
		bbs_out_abort(o);
		return -err;
	}
	o->tmp[0] = 0;
	return 0;
}

void bbs_out_abort(struct bbs_out *o)
{
	if (o->f)
		fclose(o->f);
	else if (o->fd >= 0)
		close(o->fd);
	o->f = NULL;
	o->fd = -1;
	if (o->tmp[0])
		unlink(o->tmp);
	else if (o->created)
		unlink(o->path);
	o->tmp[0] = 0;
	o->created = false;
}

int bbs_out_write_all(const char *path, unsigned int flags, const void *buf, size_t len, char *why,
		      size_t whylen)
{
	struct bbs_out o;
	const char *p = buf;
	int ret = bbs_out_open(&o, path, flags);

	while (!ret && len) {
		ssize_t n = write(o.fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = fail(&o, n ? errno : EIO, "%s", strerror(n ? errno : EIO));
			bbs_out_abort(&o);
			break;
		}
		p += n;
		len -= n;
	}
	if (!ret)
		ret = bbs_out_commit(&o);
	if (ret)
		snprintf(why, whylen, "%s", o.why);
	return ret;
}
