// SPDX-License-Identifier: GPL-2.0
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "host/jsonstr.h"
#include "host/outfile.h"
#include "host/sys.h"
#include "host/util.h"

bool bbs_json_errors;

void bbs_err(const char *fmt, ...)
{
	char buf[1024], *msg = NULL;
	va_list ap;

	/* Whole, however long (a 4 KiB path), so the reason at its end is never cut. */
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (!msg) {
		va_start(ap, fmt);
		vsnprintf(buf, sizeof(buf), fmt, ap);
		va_end(ap);
	}
	fprintf(stderr, "bbscope: %s\n", msg ? msg : buf);
	if (bbs_json_errors) {
		/* A path in the message may not be UTF-8: the error is never lost to that. */
		json_t *o = json_object();

		bbs_json_set_str(o, "error", msg ? msg : buf);
		json_dumpf(o, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		fflush(stdout);
		json_decref(o);
	}
	free(msg);
}

void bbs_warn(const char *fmt, ...)
{
	va_list ap;

	fputs("bbscope: warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int bbs_parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

int bbs_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case 0:
		break;
	case 'K':
		shift = 10;
		break;
	case 'M':
		shift = 20;
		break;
	case 'G':
		shift = 30;
		break;
	case 'T':
		shift = 40;
		break;
	default:
		return -1;
	}
	if (*end) {
		end++;
		if (*end == 'i' || *end == 'I')
			end++;
		if (*end == 'B' || *end == 'b')
			end++;
		if (*end)
			return -1;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

int bbs_parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !(v >= 0) || v > BBS_SECONDS_MAX)
		return -1;
	*out = v;
	return 0;
}

uint64_t bbs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

const char *bbs_dev_name(uint32_t kdev, char *buf, size_t len)
{
	char path[128], line[256];
	FILE *f;

	snprintf(buf, len, "%u:%u", bbs_kdev_major(kdev), bbs_kdev_minor(kdev));
	if (!kdev) {
		snprintf(buf, len, "-");
		return buf;
	}
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/uevent", bbs_kdev_major(kdev),
		 bbs_kdev_minor(kdev));
	f = fopen(path, "re");
	if (!f)
		return buf;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "DEVNAME=", 8)) {
			line[strcspn(line, "\n")] = 0;
			snprintf(buf, len, "%s", line + 8);
			break;
		}
	}
	fclose(f);
	return buf;
}

int bbs_dev_lookup(const char *name, uint32_t *kdev)
{
	unsigned int ma, mi;
	char path[PATH_MAX], buf[64];
	struct stat st;
	char c;

	if (sscanf(name, "%u:%u%c", &ma, &mi, &c) == 2) {
		*kdev = bbs_kdev(ma, mi);
		return 0;
	}
	if (name[0] == '/') {
		if (stat(name, &st) || !S_ISBLK(st.st_mode))
			return -1;
		*kdev = bbs_kdev(major(st.st_rdev), minor(st.st_rdev));
		return 0;
	}
	if (strchr(name, '/'))
		return -1;
	snprintf(path, sizeof(path), "/sys/class/block/%s/dev", name);
	if (bbs_sys_read(path, buf, sizeof(buf)) || sscanf(buf, "%u:%u", &ma, &mi) != 2)
		return -1;
	*kdev = bbs_kdev(ma, mi);
	return 0;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo: decode them in place. */
static void unescape_octal(char *s)
{
	for (char *p = s; (p = strchr(p, '\\')) && p[1] && p[2] && p[3]; p++) {
		int c = (p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0');

		*p = (char)c;
		memmove(p + 1, p + 4, strlen(p + 4) + 1);
	}
}

int bbs_for_each_mount(int (*cb)(const struct bbs_mount *m, void *arg), void *arg)
{
	char *line = NULL, point[PATH_MAX], fstype[64], source[PATH_MAX], *sep;
	struct bbs_mount m = { .point = point, .fstype = fstype, .source = source };
	size_t cap = 0;
	int ret = 0;
	FILE *f;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -1;
	while (getline(&line, &cap, f) > 0) {
		/* id parent maj:min root mountpoint opts ... - fstype source superopts */
		if (sscanf(line, "%*d %*d %u:%u %*s %4095s", &m.major, &m.minor, point) != 3)
			continue;
		sep = strstr(line, " - ");
		if (!sep || sscanf(sep + 3, "%63s %4095s", fstype, source) != 2)
			continue;
		unescape_octal(point);
		unescape_octal(source);
		ret = cb(&m, arg);
		if (ret)
			break;
	}
	free(line);
	fclose(f);
	return ret;
}

struct btrfs_mount_arg {
	int (*cb)(uint32_t kdev, const char *mnt, void *arg);
	void *arg;
};

static int btrfs_mount_cb(const struct bbs_mount *m, void *arg)
{
	struct btrfs_mount_arg *a = arg;

	if (strcmp(m->fstype, "btrfs"))
		return 0;
	return a->cb(bbs_kdev(m->major, m->minor), m->point, a->arg);
}

int bbs_for_each_btrfs_mount(int (*cb)(uint32_t kdev, const char *mnt, void *arg), void *arg)
{
	struct btrfs_mount_arg a = { cb, arg };

	return bbs_for_each_mount(btrfs_mount_cb, &a);
}

struct fs_name_arg {
	uint32_t kdev;
	char *buf;
	size_t len;
};

static int fs_name_cb(uint32_t kdev, const char *mnt, void *arg)
{
	struct fs_name_arg *a = arg;

	if (kdev != a->kdev)
		return 0;
	snprintf(a->buf, a->len, "%s", mnt);
	return 1;
}

const char *bbs_fs_name(uint32_t kdev, char *buf, size_t len)
{
	struct fs_name_arg a = { kdev, buf, len };

	if (!kdev) {
		snprintf(buf, len, "-");
		return buf;
	}
	if (bbs_for_each_btrfs_mount(fs_name_cb, &a) != 1)
		snprintf(buf, len, "%u:%u", bbs_kdev_major(kdev), bbs_kdev_minor(kdev));
	return buf;
}

struct fs_lookup_arg {
	const char *path;
	uint32_t kdev;
	char *mnt;
	size_t len;
	size_t best;
};

static int fs_lookup_cb(uint32_t kdev, const char *mnt, void *arg)
{
	struct fs_lookup_arg *a = arg;
	size_t n = strlen(mnt);

	/* The longest btrfs mount point that is a prefix of the path. */
	if (strncmp(a->path, mnt, n) || (a->path[n] && a->path[n] != '/' && n > 1))
		return 0;
	if (n + 1 > a->best) {
		a->best = n + 1;
		a->kdev = kdev;
		if (a->mnt)
			snprintf(a->mnt, a->len, "%s", mnt);
	}
	return 0;
}

int bbs_fs_lookup(const char *path, uint32_t *kdev, char *mnt, size_t mntlen)
{
	struct fs_lookup_arg a = { .mnt = mnt, .len = mntlen };
	char real[PATH_MAX];
	struct stat st;

	if (!realpath(path, real) || stat(real, &st))
		return -1;
	a.path = real;
	if (bbs_for_each_btrfs_mount(fs_lookup_cb, &a) < 0 || !a.best)
		return -1;
	*kdev = a.kdev;
	return 0;
}

int bbs_dev_arg(const char *name, uint32_t *kdev)
{
	char sys[64];

	/* "maj:min" parses for any numbers: a device that is not there traces nothing. */
	if (!bbs_dev_lookup(name, kdev)) {
		snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u", bbs_kdev_major(*kdev),
			 bbs_kdev_minor(*kdev));
		if (!access(sys, F_OK))
			return 0;
	}
	bbs_err("--dev %s: no such block device", name);
	return -1;
}

int bbs_fs_arg(const char *path, uint32_t *kdev)
{
	struct statfs sfs;

	if (statfs(path, &sfs)) {
		bbs_err("--fs %s: %s", path, strerror(errno));
		return -1;
	}
	if (sfs.f_type != BTRFS_SUPER_MAGIC || bbs_fs_lookup(path, kdev, NULL, 0)) {
		bbs_err("--fs %s: not on a mounted btrfs filesystem", path);
		return -1;
	}
	return 0;
}

/* One of a child's output pipes: read end, and the buffer it is captured in. */
struct run_pipe {
	int fd; /* -1 once at EOF (closed) */
	char *buf;
	size_t len, used;
};

/*
 * One read from p after poll() said it is ready.  What does not fit in the
 * buffer is read and thrown away, so that the child never blocks on a full
 * pipe.  At EOF or on an error the read end is closed.
 */
static void run_pipe_read(struct run_pipe *p)
{
	bool keep = p->buf && p->used + 1 < p->len;
	char sink[4096];
	ssize_t n;

	if (keep)
		n = read(p->fd, p->buf + p->used, p->len - 1 - p->used);
	else
		n = read(p->fd, sink, sizeof(sink));
	if (n > 0) {
		if (keep)
			p->used += n;
		return;
	}
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	close(p->fd);
	p->fd = -1;
}

/* fd becomes target in a child about to exec (and stays open across the exec). */
static void run_move_fd(int fd, int target)
{
	if (fd == target)
		fcntl(fd, F_SETFD, 0);
	else
		dup2(fd, target);
}

static void close_fds(int *fds, int n)
{
	int saved = errno;

	for (int i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
	errno = saved;
}

int bbs_run(char *const argv[], char *out, size_t outlen, char *err, size_t errlen)
{
	/* [0] [1]: stdout's pipe, [2] [3]: stderr's (read end, write end) */
	int fds[4] = { -1, -1, -1, -1 }, status;
	struct run_pipe p[2] = { { -1, out, outlen, 0 }, { -1, err, errlen, 0 } };
	struct pollfd pfd[2];
	pid_t pid;

	if (out && outlen)
		out[0] = 0;
	if (err && errlen)
		err[0] = 0;
	if ((out && pipe2(fds, O_CLOEXEC)) || (err && pipe2(fds + 2, O_CLOEXEC))) {
		close_fds(fds, 4);
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		close_fds(fds, 4);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		if (null >= 0) {
			run_move_fd(null, 0);
			if (null > 2)
				close(null);
		}
		if (out)
			run_move_fd(fds[1], 1);
		if (err)
			run_move_fd(fds[3], 2);
		execvp(argv[0], argv);
		fprintf(stderr, "bbscope: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close_fds(fds + 1, 1);
	close_fds(fds + 3, 1);
	p[0].fd = fds[0];
	p[1].fd = fds[2];

	/* Both at once: a child may fill one pipe before it writes to the other. */
	while (p[0].fd >= 0 || p[1].fd >= 0) {
		int n = 0;

		for (int i = 0; i < 2; i++)
			if (p[i].fd >= 0)
				pfd[n++] = (struct pollfd){ .fd = p[i].fd, .events = POLLIN };
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			/* Cannot wait for both: read them to EOF one after the other. */
			pfd[0].revents = pfd[1].revents = POLLIN;
		}
		for (int i = 0, j = 0; i < 2; i++) {
			if (p[i].fd < 0)
				continue;
			if (pfd[j++].revents)
				run_pipe_read(&p[i]);
		}
	}
	for (int i = 0; i < 2; i++)
		if (p[i].buf && p[i].len)
			p[i].buf[p[i].used] = 0;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

int bbs_write_file_atomic(const char *path, const void *buf, size_t len)
{
	char why[256];
	int ret = bbs_out_write_all(path, BBS_OUT_FORCE, buf, len, why, sizeof(why));

	if (!ret)
		return 0;
	errno = -ret;
	return -1;
}
