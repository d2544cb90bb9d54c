/* SPDX-License-Identifier: GPL-2.0 */
/* Small helpers every command uses: errors, number parsing, names. */
#ifndef BBS_UTIL_H
#define BBS_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Set by commands that were asked for --json: errors then come out as JSON too. */
extern bool bbs_json_errors;

/* "bbscope: <message>" on stderr (and {"error": ...} on stdout in JSON mode). */
void bbs_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void bbs_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* 4096, 64K, 1M, 2G, 1T (powers of 1024).  0 on success, -1 on bad input. */
int bbs_parse_size(const char *s, uint64_t *out);
/* Seconds, with an optional fraction ("1.5"), from 0 to BBS_SECONDS_MAX. */
#define BBS_SECONDS_MAX 1000000000 /* about 31 years; said in every message that parses them */
int bbs_parse_seconds(const char *s, double *out);
int bbs_parse_uint(const char *s, unsigned long long max, unsigned long long *out);

/* Monotonic clock, nanoseconds. */
uint64_t bbs_now_ns(void);

/* dev_t in the kernel's encoding (major << 20 | minor) <-> user space. */
static inline uint32_t bbs_kdev(unsigned int major, unsigned int minor)
{
	return (major << 20) | minor;
}
static inline unsigned int bbs_kdev_major(uint32_t d)
{
	return d >> 20;
}
static inline unsigned int bbs_kdev_minor(uint32_t d)
{
	return d & ((1U << 20) - 1);
}

/* Block device name ("loop0") for a kernel dev_t; "maj:min" when unknown. */
const char *bbs_dev_name(uint32_t kdev, char *buf, size_t len);
/* Kernel dev_t of a block device given as "loop0", "/dev/loop0" or "7:0". */
int bbs_dev_lookup(const char *name, uint32_t *kdev);
/* --dev NAME of hist and record: bbs_dev_lookup, or one error line and -1. */
int bbs_dev_arg(const char *name, uint32_t *kdev);

/*
 * btrfs mounts from /proc/self/mountinfo.  bbs_fs_name gives the mount point
 * of a btrfs super_block's s_dev ("maj:min" when not mounted any more).
 * bbs_fs_lookup takes a path on (or the mount point of) a btrfs filesystem.
 */
const char *bbs_fs_name(uint32_t kdev, char *buf, size_t len);
/*
 * /proc/self/mountinfo, parsed here only: each mount's device number (for
 * btrfs an anonymous one, its s_dev), mount point, type and source, the
 * \ooo escapes decoded.  cb returns non-zero to stop; that value, 0 at the
 * end, or -1 when mountinfo cannot be read.
 */
struct bbs_mount {
	unsigned int major, minor;
	const char *point, *fstype, *source;
};
int bbs_for_each_mount(int (*cb)(const struct bbs_mount *m, void *arg), void *arg);
/* Its btrfs entries (s_dev in the kernel's encoding, mount point). */
int bbs_for_each_btrfs_mount(int (*cb)(uint32_t kdev, const char *mnt, void *arg), void *arg);
int bbs_fs_lookup(const char *path, uint32_t *kdev, char *mnt, size_t mntlen);
/* --fs PATH of hist and record: the s_dev of the btrfs PATH is on, or one error line and -1. */
int bbs_fs_arg(const char *path, uint32_t *kdev);

/*
 * Run a command (argv[0] looked up in PATH) and wait for it.  Its stdout is
 * captured into out (NUL-terminated, truncated to outlen) when out is not
 * NULL; stderr is captured the same way into err when err is not NULL, and
 * passed through otherwise.  Both pipes are drained together, and what does
 * not fit is read and dropped, so the child never blocks on them.  Returns
 * the exit status (128 + N when killed by signal N), or -1 if it could not
 * run (errno set; no fd is left open).
 */
int bbs_run(char *const argv[], char *out, size_t outlen, char *err, size_t errlen);

/*
 * Write a whole file atomically (host/outfile.h, BBS_OUT_FORCE): a temporary
 * nobody can guess, fsync, rename.  0, or -1 with errno set.
 */
int bbs_write_file_atomic(const char *path, const void *buf, size_t len);

#endif
