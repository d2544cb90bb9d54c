// SPDX-License-Identifier: GPL-2.0
/*
 * What a bench run killed with SIGKILL left.  SIGKILL cannot be caught: the
 * directories a run makes are named bbscope-bench.<pid>.XXXXXX, and the
 * next run removes those of a pid that is gone, with what is in them
 * (sandbox, zram, mounts).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/internal.h"
#include "host/sys.h"
#include "host/util.h"

/* ---- what a killed run left ---- */

/* A run's directory name, RUN_PREFIX<pid>.XXXXXX (six of mkdtemp's letters and digits)? */
static bool run_name(const char *name, pid_t *pid)
{
	const char *p = name + strlen(RUN_PREFIX);
	char *end;
	long v;

	if (strncmp(name, RUN_PREFIX, strlen(RUN_PREFIX)) || !isdigit((unsigned char)*p))
		return false;
	errno = 0;
	v = strtol(p, &end, 10);
	if (errno || v <= 0 || v > INT_MAX || *end != '.' || strlen(end + 1) != 6)
		return false;
	for (p = end + 1; *p; p++)
		if (!isalnum((unsigned char)*p))
			return false;
	*pid = (pid_t)v;
	return true;
}

/* A directory, not a link to one, that only we can have written in (mkdtemp makes 0700). */
static bool own_dir(const char *path)
{
	struct stat st;

	return !lstat(path, &st) && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
	       !(st.st_mode & (S_IWGRP | S_IWOTH));
}

/*
 * A process that has RUN_ENV=pid in its environment: a child (or grandchild)
 * of that run, still going after it was killed.  Its pid, or 0.
 */
static pid_t run_child_alive(pid_t pid)
{
	char want[64], path[300], *entry = NULL;
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t cap = 0;
	pid_t found = 0;

	snprintf(want, sizeof(want), RUN_ENV "=%d", (int)pid);
	while (d && !found && (e = readdir(d))) {
		FILE *f;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/environ", e->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (getdelim(&entry, &cap, 0, f) > 0)
			if (!strcmp(entry, want)) {
				found = (pid_t)atoi(e->d_name);
				break;
			}
		fclose(f);
	}
	if (d)
		closedir(d);
	free(entry);
	return found;
}

/* Is a loop device backed by a file under dir? */
static bool loop_under(const char *dir)
{
	char abs[PATH_MAX], path[PATH_MAX], back[PATH_MAX];
	DIR *d = opendir("/sys/block");
	struct dirent *e;
	bool found = false;
	size_t len;

	/* sysfs shows the canonical path */
	if (!realpath(dir, abs))
		snprintf(abs, sizeof(abs), "%s", dir);
	len = strlen(abs);
	while (d && !found && (e = readdir(d))) {
		if (strncmp(e->d_name, "loop", 4))
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", e->d_name);
		found = !bbs_sys_read(path, back, sizeof(back)) && !strncmp(back, abs, len) &&
			back[len] == '/';
	}
	if (d)
		closedir(d);
	return found;
}

/* `sandbox down` for a killed run's sandbox (state in DIR/state): 0 done or none, -1 not. */
static int sandbox_reap(struct bbs_bench *b, const char *dir)
{
	char *argv[] = { "bbscope", "sandbox", "down", NULL };
	char state[PATH_MAX + 16], file[PATH_MAX + 32], msg[512];

	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(file, sizeof(file), "%s/sandbox.json", state);
	if (access(file, F_OK))
		return 0;
	setenv("BBSCOPE_STATE_DIR", state, 1);
	if (bench_child(b, true, argv)) {
		bench_child_error(b, msg, sizeof(msg));
		bbs_warn("bench: sandbox down of %s failed: %s", state, msg);
		return -1;
	}
	return 0;
}

/*
 * A killed run's zram device (DIR/zram.dev: its number and size): unmounted
 * from DIR/zram, then reset and removed.  The kernel refuses both while it is
 * open; one of another size is not the run's.  0 done or none, -1 still
 * mounted.
 */
static int zram_reap(const char *dir)
{
	char path[PATH_MAX + 16], mnt[PATH_MAX + 16], buf[64];
	unsigned long long bytes, size;
	struct stat ds, ms;
	int n;

	snprintf(path, sizeof(path), "%s/zram.dev", dir);
	if (bbs_sys_read(path, buf, sizeof(buf)) || sscanf(buf, "%d %llu", &n, &bytes) != 2)
		return 0;
	snprintf(mnt, sizeof(mnt), "%s/zram", dir);
	if (!lstat(dir, &ds) && !lstat(mnt, &ms) && ms.st_dev != ds.st_dev &&
	    bbs_umount(mnt, UMOUNT_NOFOLLOW)) {
		bbs_warn("bench: cannot unmount %s: %s", mnt, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "/sys/block/zram%d/disksize", n);
	if (bbs_sys_read(path, buf, sizeof(buf)) || sscanf(buf, "%llu", &size) != 1 ||
	    (size && size != bytes))
		return 0;
	snprintf(path, sizeof(path), "/sys/block/zram%d/reset", n);
	snprintf(buf, sizeof(buf), "%d", n);
	if (bbs_sys_write(path, "1") || bbs_sys_write("/sys/class/zram-control/hot_remove", buf))
		bbs_warn("bench: cannot remove zram%d: %s", n, strerror(errno));
	return 0;
}

/*
 * What DIR/link names, if it is a directory of the same run (it is removed
 * with DIR).
 */
static bool run_link(const char *dir, const char *link, pid_t pid, char *target, size_t len)
{
	char path[PATH_MAX + 16];
	const char *base;
	ssize_t n;
	pid_t p;

	snprintf(path, sizeof(path), "%s/%s", dir, link);
	n = readlink(path, target, len - 1);
	if (n <= 0)
		return false;
	target[n] = 0;
	base = strrchr(target, '/');
	return target[0] == '/' && run_name(base + 1, &p) && p == pid && own_dir(target);
}

/*
 * Remove one directory of a killed run: first what is in it or named by it
 * (its sandbox, zram device, store, --fs directory), then the tree.  What
 * is still in use stays, with a warning; so does a directory another run is
 * removing.
 */
static void reap_dir(struct bbs_bench *b, const char *dir, pid_t pid)
{
	static const char *const links[] = { "store", "datadir" };
	char target[PATH_MAX];
	int lock;

	lock = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (lock < 0)
		return;
	if (flock(lock, LOCK_EX | LOCK_NB) || !own_dir(dir))
		goto out;
	fprintf(stderr, "bbscope: bench: removing %s, left by bench %d (killed)\n", dir, (int)pid);
	if (sandbox_reap(b, dir) || zram_reap(dir))
		goto kept;
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		if (!run_link(dir, links[i], pid, target, sizeof(target)))
			continue;
		if (loop_under(target))
			goto kept;
		bench_rm_tree(target);
	}
	if (loop_under(dir))
		goto kept;
	bench_rm_tree(dir);
	goto out;
kept:
	bbs_warn("bench: %s is left: it is still in use", dir);
out:
	close(lock);
}

/* Does dir hold what reap_dir() follows: is it a work directory? */
static bool has_work(const char *dir)
{
	static const char *const names[] = { "state", "store", "datadir", "zram.dev" };
	char path[PATH_MAX + 16];

	struct stat st;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (!lstat(path, &st))
			return true;
	}
	return false;
}

/*
 * Remove the directories in parent of runs whose process is gone (killed:
 * SIGKILL skips teardown()), never one of a live process.  Work directories
 * first: their sandbox holds files in the others.
 */
void bench_reap(struct bbs_bench *b, const char *parent)
{
	static pid_t busy; /* a killed run waited for in vain: its other directories stay too */
	char path[PATH_MAX];
	struct dirent *e;
	pid_t pid, child;
	DIR *d;

	if (!parent || !(d = opendir(parent)))
		return;
	for (int pass = 0; pass < 2; pass++, rewinddir(d)) {
		while (!bench_stop_sig && (e = readdir(d))) {
			if (!run_name(e->d_name, &pid) || pid == getpid() || !kill(pid, 0) ||
			    errno != ESRCH)
				continue;
			snprintf(path, sizeof(path), "%s/%s", parent, e->d_name);
			if (!own_dir(path) || has_work(path) != (pass == 0))
				continue;
			if (pid == busy)
				continue; /* its processes still run: said so once */
			/* Its children were sent SIGTERM when it died (bench_child()): let them finish. */
			for (int i = 0; (child = run_child_alive(pid)) && i < REAP_WAIT_TRIES; i++)
				usleep(100000);
			if (child) {
				busy = pid;
				bbs_warn("bench: %s of killed bench %d stays: its process %d runs",
					 path, (int)pid, (int)child);
				continue;
			}
			reap_dir(b, path, pid);
		}
	}
	closedir(d);
}
