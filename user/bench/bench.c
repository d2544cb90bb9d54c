// SPDX-License-Identifier: GPL-2.0
/*
 * bbscope bench: btrfs's write path in the kernel and its userspace
 * reproductions, measured side by side on this machine, beside the
 * async_csum series' model
 *
 *   serial  1 / (1/m + 1/c + 1/d)        async  1 / (1/m + max(1/c, 1/d))
 *
 * One run:
 *   1. a store for the data, of the --backing kind: a directory on tmpfs
 *      (/dev/shm), a plain directory (/var/tmp), or an ext4 made for the run
 *      on a zram device hot-added for it.  The sandbox's backing files and
 *      the replay targets both go there, so the kernel's loop devices and
 *      the replays write to the same kind of storage.
 *   2. a sandbox btrfs with its backing files in the store (or --fs: an
 *      existing btrfs, written in a directory made for the run).
 *   3. --rounds rounds, each in this order:
 *        kernel    `record -o TRACE --fs MNT -- fio ...` (--size of writes,
 *                  fsync at the end), then `report --json TRACE`
 *        none, serial, async, offload
 *                  `replay csum --trace TRACE --target STORE/replay.img`
 *        step, batched (raid5/raid6, when `replay parity` exists)
 *                  `replay parity --trace TRACE --targets STORE/parity.N.img,...`:
 *                  the recording's raid5/6 data strip writes (P and Q are
 *                  computed), on as many targets as its full stripes have
 *                  strips
 *        m, c      cold memcpy and checksum bandwidth, one core, here
 *      d is mode none's throughput in the same round.
 *   4. every number is the median over the rounds, with min and max.
 *   5. everything made is removed, on success, failure, SIGINT and SIGTERM.
 *      SIGKILL cannot be caught: the directories a run makes are named
 *      bbscope-bench.<pid>.XXXXXX, and the next run removes those of a pid
 *      that is gone, with what is in them (sandbox, zram, mounts).
 *
 * Measurements are this binary run as a child (/proc/self/exe) and their
 * JSON (docs/json.md) read back: the commands are the contract, not
 * re-implemented here.  Children run in their own process group, so a
 * Ctrl-C reaches only this process, which passes it on to the running child
 * and then tears down.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <linux/btrfs.h>
#include <linux/magic.h>

#include "cli/cmd.h"
#include "btrfs/csum.h"
#include "btrfs/simd.h"
#include "out/hist.h"
#include "out/html.h"
#include "host/machine.h"
#include "trace/tracefile.h"
#include "host/util.h"

#define MAX_ROUNDS 99
#define DEF_SIZE (256ULL << 20)
#define DEF_BS (128ULL << 10)
#define MIN_DEV_SIZE (1ULL << 30)
#define UMOUNT_TRIES 50 /* 100 ms apart */
/* Every directory a run makes is <parent>/RUN_PREFIX<pid>.XXXXXX. */
#define RUN_PREFIX "bbscope-bench."
/* In every child's environment: what a killed run's children still carry. */
#define RUN_ENV "BBSCOPE_BENCH_PID"
#define REAP_WAIT_TRIES 100 /* 100 ms apart: for a killed run's children to go */

enum backing { BACK_TMPFS, BACK_FILE, BACK_ZRAM };
static const char *const backing_name[] = { "tmpfs", "file", "zram" };

/* The rows of the table, in the order each round runs them. */
enum row {
	ROW_KERNEL,
	ROW_NONE,
	ROW_SERIAL,
	ROW_ASYNC,
	ROW_OFFLOAD,
	ROW_STEP,
	ROW_BATCHED,
	NR_ROWS
};
static const char *const row_name[NR_ROWS] = { "kernel",  "none", "serial", "async",
					       "offload", "step", "batched" };
#define ROW_IS_PARITY(r) ((r) >= ROW_STEP)

struct opts {
	const char *profile; /* NULL: single, or what --fs has */
	const char *csum; /* NULL: crc32c, or what --fs has */
	uint64_t size, bs;
	bool rand;
	bool fsync_only; /* --writeback fsync */
	enum backing backing;
	const char *backing_dir;
	unsigned int devices; /* 0: the sandbox's default for the profile */
	const char *fs;
	unsigned int rounds;
	bool json;
	const char *html;
};

struct bench {
	struct opts o;
	char self[PATH_MAX]; /* this binary */
	char work[PATH_MAX / 4]; /* $TMPDIR/bbscope-bench.PID.XXXXXX: state, traces, outputs */
	char store[PATH_MAX / 2]; /* the data: sandbox backing files and replay targets */
	bool store_made; /* store is a directory we made (tmpfs, file) */
	int zram; /* the zram device hot-added for the run, -1 none */
	bool zram_mounted;
	char zram_mnt[PATH_MAX / 2];
	bool sandbox; /* `sandbox up` was run */
	char mnt[PATH_MAX]; /* the btrfs written to */
	char datadir[PATH_MAX]; /* where the workload's file goes */
	bool datadir_made; /* --fs: a directory of ours on it */
	char profile[16], csum[16];
	unsigned int ndevs;
	bool parity; /* the step and batched rows run */
	unsigned int parity_targets; /* for them: the recording's data strips + P (+ Q) */
	char out[PATH_MAX], err[PATH_MAX]; /* a child's stdout and stderr */
	char trace[PATH_MAX]; /* this round's recording */
	json_t *samples[NR_ROWS]; /* arrays: one sample object a round */
	json_t *model; /* array: {mem_bps, csum_bps, dev_bps, csum_pipeline_bps} a round */
	json_t *speedup; /* array: {measured_async_speedup} a round */
	json_t *last[NR_ROWS]; /* last round: merged full phase objects (histograms) */
	json_t *last_report; /* last round's `report --json` */
	json_t *notes;
};

/* A line for the report's notes, and stderr now. */
static void note(struct bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static volatile sig_atomic_t stop_sig;
static volatile sig_atomic_t child_pgrp; /* the running child's process group, 0 none */
static volatile sig_atomic_t forward_sig = 1; /* off during teardown */

static void on_signal(int sig)
{
	stop_sig = sig;
	if (forward_sig && child_pgrp > 0)
		kill(-child_pgrp, sig);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bbscope bench [--profile single|raid1|raid5|raid6] [--csum ALGO]\n"
		"                     [--size SIZE] [--bs SIZE] [--pattern seq|rand]\n"
		"                     [--writeback background|fsync]\n"
		"                     [--backing tmpfs|zram|file] [--backing-dir DIR]\n"
		"                     [--devices N] [--fs MOUNTPOINT] [--rounds N]\n"
		"                     [--json] [--html FILE]\n"
		"\n"
		"Measure btrfs's write path in the kernel and its userspace reproductions side\n"
		"by side: bring up a sandbox btrfs (or use --fs), record a write workload on it\n"
		"('bbscope record'), replay the recorded data writes with 'bbscope replay csum'\n"
		"in modes none, serial, async and offload (and 'replay parity' step and batched\n"
		"for raid5/raid6), measure memory (m), checksum (c) and device (d) bandwidth,\n"
		"and print one table with the model's predicted async/serial speedup beside the\n"
		"measured one.  Rounds are interleaved; medians with min and max.  Everything\n"
		"made is torn down, also on failure and Ctrl-C; what a run killed with SIGKILL\n"
		"left is removed by the next one.  Needs root.\n"
		"\n"
		"  --profile P        sandbox data profile: single (default), raid1, raid5, raid6\n"
		"  --csum ALGO        crc32c (default), xxhash, sha256, blake2\n"
		"  --size SIZE        bytes the workload writes (default 256M)\n"
		"  --bs SIZE          bytes per write call (default 128K)\n"
		"  --pattern P        seq (default): buffered sequential writes; rand: O_DIRECT\n"
		"                     random writes, 16 in flight (buffered random writes are\n"
		"                     sorted back into sequential ones by writeback)\n"
		"  --writeback W      background (default): the writer starts writeback of\n"
		"                     every 8 MiB it wrote (sync_file_range WRITE, as the\n"
		"                     flusher would: btrfs may checksum on a worker), and\n"
		"                     fsyncs at the end; fsync: only the fsync at the end\n"
		"                     (synchronous writeback: btrfs checksums inline)\n"
		"  --backing B        where the sandbox's devices and the replay targets live:\n"
		"                     tmpfs (default, /dev/shm), file (a directory on disk,\n"
		"                     /var/tmp) or zram (an ext4 on a zram device made for the "
		"run)\n"
		"  --backing-dir DIR  the directory for tmpfs (must be on a tmpfs) or file\n"
		"  --devices N        sandbox devices (default by profile: 1, 2, 3, 4)\n"
		"  --fs MOUNTPOINT    write to this btrfs instead of a sandbox (in a directory\n"
		"                     made and removed by the run); profile and checksum are\n"
		"                     read from it\n"
		"  --rounds N         rounds, 1 to %d (default 3)\n"
		"  --json             one JSON object on stdout (errors too)\n"
		"  --html FILE        also write the tables and charts as one self-contained\n"
		"                     HTML page\n"
		"\n"
		"Exit status: 0 measured, 1 failed, 2 bad usage, 128+N killed by signal N\n"
		"(everything made was removed in every case).\n",
		MAX_ROUNDS);
}

/* ---- children ---- */

/*
 * Run argv in its own process group: this binary when self, else argv[0]
 * from PATH.  stdin is /dev/null, stdout goes to b->out, stderr to b->err
 * (both truncated).  The exit status, or 128 + the signal that killed it.
 */
static int run(struct bench *b, bool self, char **argv)
{
	pid_t pid, parent = getpid();
	int status = 0, fd;

	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		setpgid(0, 0);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		/*
		 * In its own process group it would outlive a SIGKILL of ours and
		 * keep the sandbox busy: SIGTERM it then (our commands clean up on
		 * it), and if we are gone already, do not start.
		 */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(128 + SIGTERM);
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0)
			dup2(fd, 0);
		fd = open(b->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0)
			dup2(fd, 1);
		fd = open(b->err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0)
			dup2(fd, 2);
		if (self)
			execv(b->self, argv);
		else
			execvp(argv[0], argv);
		fprintf(stderr, "bbscope: cannot run %s: %s\n", self ? b->self : argv[0],
			strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid); /* as the child does: whichever runs first */
	child_pgrp = pid;
	if (stop_sig && forward_sig)
		kill(-pid, stop_sig);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	child_pgrp = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The last non-empty line of what the child wrote on stderr, without "bbscope: ". */
static void child_error(struct bench *b, char *buf, size_t len)
{
	char line[1024];
	FILE *f = fopen(b->err, "r");

	snprintf(buf, len, "no message");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *p = line;

		line[strcspn(line, "\n")] = 0;
		if (!*p)
			continue;
		if (!strncmp(p, "bbscope: ", 9))
			p += 9;
		snprintf(buf, len, "%s", p);
	}
	fclose(f);
}

/*
 * This binary with args (NULL-terminated, without argv[0]) and its JSON
 * output.  NULL after saying why (or quietly, when interrupted).
 */
static json_t *run_json(struct bench *b, const char *what, const char **args)
{
	char *argv[64] = { "bbscope" }, msg[1024];
	json_t *o;
	int n = 1, st;

	for (; args[n - 1] && n < 63; n++)
		argv[n] = (char *)args[n - 1];
	argv[n] = NULL;
	st = run(b, true, argv);
	if (stop_sig)
		return NULL;
	o = json_load_file(b->out, 0, NULL);
	if (st == 0 && json_is_object(o) && !json_object_get(o, "error"))
		return o;
	if (st < 0)
		snprintf(msg, sizeof(msg), "cannot fork: %s", strerror(errno));
	else if (json_is_string(json_object_get(o, "error")))
		snprintf(msg, sizeof(msg), "%s", json_string_value(json_object_get(o, "error")));
	else
		child_error(b, msg, sizeof(msg));
	bbs_err("bench: %s failed: %s", what, msg);
	json_decref(o);
	return NULL;
}

static int write_sysfs(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -1;
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		ret = -1;
	if (close(fd))
		ret = -1;
	return ret;
}

static int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	int ret = -1;

	if (!f)
		return -1;
	if (fgets(buf, (int)len, f)) {
		buf[strcspn(buf, "\n")] = 0;
		ret = 0;
	}
	fclose(f);
	return ret;
}

/* ---- the store: tmpfs, file or zram ---- */

static int zram_up(struct bench *b, uint64_t bytes)
{
	/* initialised now, not by a kernel thread in the middle of the run */
	static char ext4_opts[] = "lazy_itable_init=0,lazy_journal_init=0";
	char path[PATH_MAX], dev[32], buf[64], algos[256];
	char *mkfs[] = { "mkfs.ext4", "-q", "-F", "-m", "0", "-E", ext4_opts, dev, NULL };
	int st;

	if (access("/sys/class/zram-control/hot_add", F_OK)) {
		char *modprobe[] = { "modprobe", "zram", "num_devices=0", NULL };

		if (run(b, false, modprobe) || access("/sys/class/zram-control/hot_add", F_OK)) {
			bbs_err("bench: --backing zram: no zram in this kernel (modprobe zram "
				"failed)");
			return -1;
		}
	}
	if (read_line("/sys/class/zram-control/hot_add", buf, sizeof(buf))) {
		bbs_err("bench: --backing zram: cannot add a zram device: %s", strerror(errno));
		return -1;
	}
	b->zram = atoi(buf);
	snprintf(dev, sizeof(dev), "/dev/zram%d", b->zram);
	/* for the next run, should this one be killed before zram_down() */
	snprintf(path, sizeof(path), "%s/zram.dev", b->work);
	snprintf(buf, sizeof(buf), "%d %llu\n", b->zram, (unsigned long long)bytes);
	if (bbs_write_file_atomic(path, buf, strlen(buf)))
		bbs_warn("bench: cannot write %s: %s", path, strerror(errno));
	/* lz4 gives up fastest on incompressible data; else the kernel's default */
	snprintf(path, sizeof(path), "/sys/block/zram%d/comp_algorithm", b->zram);
	if (!read_line(path, algos, sizeof(algos)) && strstr(algos, "lz4"))
		write_sysfs(path, "lz4");
	snprintf(path, sizeof(path), "/sys/block/zram%d/disksize", b->zram);
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)bytes);
	if (write_sysfs(path, buf)) {
		bbs_err("bench: --backing zram: cannot size zram%d: %s", b->zram, strerror(errno));
		return -1;
	}
	for (int i = 0; i < 50 && access(dev, F_OK); i++)
		usleep(100000);
	st = run(b, false, mkfs);
	if (st) {
		child_error(b, buf, sizeof(buf));
		bbs_err("bench: --backing zram: mkfs.ext4 %s failed: %s", dev, buf);
		return -1;
	}
	snprintf(b->zram_mnt, sizeof(b->zram_mnt), "%s/zram", b->work);
	if (mkdir(b->zram_mnt, 0700) || mount(dev, b->zram_mnt, "ext4", 0, NULL)) {
		bbs_err("bench: --backing zram: cannot mount %s: %s", dev, strerror(errno));
		return -1;
	}
	b->zram_mounted = true;
	snprintf(b->store, sizeof(b->store), "%s", b->zram_mnt);
	return 0;
}

static int zram_down(struct bench *b)
{
	char path[PATH_MAX], buf[16];
	int ret = 0, i;

	for (i = 0; b->zram_mounted && i < UMOUNT_TRIES; i++) {
		if (!umount2(b->zram_mnt, 0)) {
			b->zram_mounted = false;
		} else if (errno == EBUSY) {
			usleep(100000); /* a finished process may hold it for a moment */
		} else {
			break;
		}
	}
	if (b->zram_mounted) {
		bbs_warn("bench: cannot unmount %s: %s; zram%d is left", b->zram_mnt,
			 strerror(errno), b->zram);
		return -1;
	}
	if (b->zram < 0)
		return 0;
	snprintf(path, sizeof(path), "/sys/block/zram%d/reset", b->zram);
	write_sysfs(path, "1");
	snprintf(buf, sizeof(buf), "%d", b->zram);
	if (write_sysfs("/sys/class/zram-control/hot_remove", buf)) {
		bbs_warn("bench: cannot remove zram%d: %s", b->zram, strerror(errno));
		ret = -1;
	}
	b->zram = -1;
	return ret;
}

/* Where the store's directory goes (tmpfs, file), NULL for zram. */
static const char *store_parent(const struct bench *b)
{
	if (b->o.backing == BACK_ZRAM)
		return NULL;
	if (b->o.backing_dir)
		return b->o.backing_dir;
	return b->o.backing == BACK_TMPFS ? "/dev/shm" : "/var/tmp";
}

/*
 * mkdtemp() dir/RUN_PREFIX<pid>.XXXXXX into buf (dir made absolute), and
 * link WORK/link to it: what the next run follows should this one be killed.
 */
static int run_dir_make(struct bench *b, const char *dir, char *buf, size_t len, const char *link)
{
	char abs[PATH_MAX], path[PATH_MAX];

	if (!realpath(dir, abs))
		return -1;
	if (snprintf(buf, len, "%s/" RUN_PREFIX "%d.XXXXXX", abs, (int)getpid()) >= (int)len) {
		buf[0] = 0;
		errno = ENAMETOOLONG;
		return -1;
	}
	if (!mkdtemp(buf)) {
		buf[0] = 0;
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s", b->work, link);
	if (symlink(buf, path)) {
		int err = errno;

		rmdir(buf);
		buf[0] = 0;
		errno = err;
		return -1;
	}
	return 0;
}

static int store_up(struct bench *b, uint64_t zram_bytes)
{
	const char *base = store_parent(b);
	struct statfs sfs;

	if (b->o.backing == BACK_ZRAM)
		return zram_up(b, zram_bytes);
	if (statfs(base, &sfs)) {
		bbs_err("bench: --backing-dir %s: %s", base, strerror(errno));
		return -1;
	}
	if (b->o.backing == BACK_TMPFS && sfs.f_type != TMPFS_MAGIC) {
		bbs_err("bench: --backing tmpfs: %s is not on a tmpfs", base);
		return -1;
	}
	if (run_dir_make(b, base, b->store, sizeof(b->store), "store")) {
		bbs_err("bench: cannot make a directory in %s: %s", base, strerror(errno));
		return -1;
	}
	b->store_made = true;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_DP ? rmdir(path) : unlink(path))
		bbs_warn("bench: cannot remove %s: %s", path, strerror(errno));
	return 0;
}

/* rm -r of a directory this run made: never crossing into another filesystem. */
static void rm_tree(const char *dir)
{
	if (dir[0] && !access(dir, F_OK))
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

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
		found = !read_line(path, back, sizeof(back)) && !strncmp(back, abs, len) &&
			back[len] == '/';
	}
	if (d)
		closedir(d);
	return found;
}

/* `sandbox down` for a killed run's sandbox (state in DIR/state): 0 done or none, -1 not. */
static int sandbox_reap(struct bench *b, const char *dir)
{
	char *argv[] = { "bbscope", "sandbox", "down", NULL };
	char state[PATH_MAX + 16], file[PATH_MAX + 32], msg[512];

	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(file, sizeof(file), "%s/sandbox.json", state);
	if (access(file, F_OK))
		return 0;
	setenv("BBSCOPE_STATE_DIR", state, 1);
	if (run(b, true, argv)) {
		child_error(b, msg, sizeof(msg));
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
	int n, i;

	snprintf(path, sizeof(path), "%s/zram.dev", dir);
	if (read_line(path, buf, sizeof(buf)) || sscanf(buf, "%d %llu", &n, &bytes) != 2)
		return 0;
	snprintf(mnt, sizeof(mnt), "%s/zram", dir);
	if (!lstat(dir, &ds) && !lstat(mnt, &ms) && ms.st_dev != ds.st_dev) {
		for (i = 0; umount2(mnt, UMOUNT_NOFOLLOW); i++) {
			if (errno != EBUSY || i == UMOUNT_TRIES) {
				bbs_warn("bench: cannot unmount %s: %s", mnt, strerror(errno));
				return -1;
			}
			usleep(100000);
		}
	}
	snprintf(path, sizeof(path), "/sys/block/zram%d/disksize", n);
	if (read_line(path, buf, sizeof(buf)) || sscanf(buf, "%llu", &size) != 1 ||
	    (size && size != bytes))
		return 0;
	snprintf(path, sizeof(path), "/sys/block/zram%d/reset", n);
	snprintf(buf, sizeof(buf), "%d", n);
	if (write_sysfs(path, "1") || write_sysfs("/sys/class/zram-control/hot_remove", buf))
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
static void reap_dir(struct bench *b, const char *dir, pid_t pid)
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
		rm_tree(target);
	}
	if (loop_under(dir))
		goto kept;
	rm_tree(dir);
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
static void reap_parent(struct bench *b, const char *parent)
{
	static pid_t busy; /* a killed run waited for in vain: its other directories stay too */
	char path[PATH_MAX];
	struct dirent *e;
	pid_t pid, child;
	DIR *d;

	if (!parent || !(d = opendir(parent)))
		return;
	for (int pass = 0; pass < 2; pass++, rewinddir(d)) {
		while (!stop_sig && (e = readdir(d))) {
			if (!run_name(e->d_name, &pid) || pid == getpid() || !kill(pid, 0) ||
			    errno != ESRCH)
				continue;
			snprintf(path, sizeof(path), "%s/%s", parent, e->d_name);
			if (!own_dir(path) || has_work(path) != (pass == 0))
				continue;
			if (pid == busy)
				continue; /* its processes still run: said so once */
			/* Its children were sent SIGTERM when it died (run()): let them finish. */
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

/* ---- the filesystem: a sandbox, or --fs ---- */

/* Profile, checksum and device count of the btrfs at path, from sysfs. */
static int fs_describe(struct bench *b, const char *path)
{
	static const char *const profs[] = { "raid6", "raid5", "raid10", "raid1c4", "raid1c3",
					     "raid1", "raid0", "dup",	 "single" };
	struct btrfs_ioctl_fs_info_args fi = { 0 };
	char sys[PATH_MAX], buf[128], uuid[40];
	const uint8_t *u = fi.fsid;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || ioctl(fd, BTRFS_IOC_FS_INFO, &fi)) {
		bbs_err("bench: --fs %s: not a mounted btrfs: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	snprintf(uuid, sizeof(uuid),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
		 u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
		 u[15]);
	snprintf(sys, sizeof(sys), "/sys/fs/btrfs/%s/checksum", uuid);
	if (read_line(sys, buf, sizeof(buf))) {
		bbs_err("bench: --fs %s: cannot read %s: %s", path, sys, strerror(errno));
		return -1;
	}
	buf[strcspn(buf, " ")] = 0;
	if (bbs_csum_parse(buf) < 0) {
		bbs_err("bench: --fs %s: checksum %s is not one bbscope knows", path, buf);
		return -1;
	}
	snprintf(b->csum, sizeof(b->csum), "%s", bbs_csum_name(bbs_csum_parse(buf)));
	snprintf(b->profile, sizeof(b->profile), "single");
	for (size_t i = 0; i < sizeof(profs) / sizeof(profs[0]); i++) {
		snprintf(sys, sizeof(sys), "/sys/fs/btrfs/%s/allocation/data/%s", uuid, profs[i]);
		if (!access(sys, F_OK)) {
			snprintf(b->profile, sizeof(b->profile), "%s", profs[i]);
			break;
		}
	}
	b->ndevs = (unsigned int)fi.num_devices;
	return 0;
}

static uint64_t dev_size(const struct bench *b)
{
	uint64_t s = b->o.size + b->o.size / 4 + (512ULL << 20);

	s = (s + (1 << 20) - 1) & ~((1ULL << 20) - 1);
	return s < MIN_DEV_SIZE ? MIN_DEV_SIZE : s;
}

static int sandbox_up(struct bench *b)
{
	char size[32], devs[16], dir[PATH_MAX + 16];
	const char *args[20];
	int n = 0;
	json_t *o;

	snprintf(size, sizeof(size), "%lluM", (unsigned long long)(dev_size(b) >> 20));
	snprintf(dir, sizeof(dir), "%s/sandbox", b->store);
	args[n++] = "sandbox";
	args[n++] = "up";
	args[n++] = "--json";
	args[n++] = "--profile";
	args[n++] = b->profile;
	args[n++] = "--csum";
	args[n++] = b->csum;
	args[n++] = "--size";
	args[n++] = size;
	args[n++] = "--backing-dir";
	args[n++] = dir;
	/* freed extents keep their pages behind the loop devices (see warm_up()) */
	args[n++] = "--mount-opts";
	args[n++] = "nodiscard";
	if (b->o.devices) {
		snprintf(devs, sizeof(devs), "%u", b->o.devices);
		args[n++] = "--devices";
		args[n++] = devs;
	}
	args[n] = NULL;
	b->sandbox = true;
	o = run_json(b, "sandbox up", args);
	if (!o)
		return -1;
	snprintf(b->mnt, sizeof(b->mnt), "%s", json_string_value(json_object_get(o, "mountpoint")));
	b->ndevs = (unsigned int)json_array_size(json_object_get(o, "devices"));
	json_decref(o);
	snprintf(b->datadir, sizeof(b->datadir), "%s", b->mnt);
	return b->mnt[0] ? 0 : -1;
}

/* 0, or -1 when the sandbox is still (partly) there: its files must stay then. */
static int sandbox_down(struct bench *b)
{
	char *argv[] = { "bbscope", "sandbox", "down", NULL };
	char state[PATH_MAX + 32], msg[512];

	snprintf(state, sizeof(state), "%s/state/sandbox.json", b->work);
	if (!b->sandbox || access(state, F_OK))
		return 0;
	/* Not run_json(): a failure here is a warning; the run's error is already out. */
	if (run(b, true, argv)) {
		child_error(b, msg, sizeof(msg));
		bbs_warn("bench: sandbox down failed: %s; to retry: BBSCOPE_STATE_DIR=%s/state "
			 "bbscope sandbox down",
			 msg, b->work);
		return -1;
	}
	b->sandbox = false;
	return 0;
}

/* ---- phases: merged over groups, as hist.c would have merged them ---- */

/* Add a phase object's buckets (docs/json.md) into h. */
static void hist_add_phase(struct bbs_hist *h, const json_t *phase)
{
	const json_t *bk = json_object_get(phase, "buckets"), *e;
	uint64_t cnt = json_integer_value(json_object_get(phase, "count"));
	uint64_t max = json_integer_value(json_object_get(phase, "max_ns"));
	size_t i;

	if (!cnt)
		return;
	json_array_foreach(bk, i, e)
	{
		uint64_t lo = json_integer_value(json_array_get(e, 0));

		h->slots[bbs_hist_slot(lo)] += json_integer_value(json_array_get(e, 2));
	}
	h->count += cnt;
	h->sum_ns += cnt * json_integer_value(json_object_get(phase, "mean_ns"));
	if (max > h->max_ns)
		h->max_ns = max;
}

enum { DEV_GROUPS, FS_GROUPS }; /* which groups of a report hold a phase */

/* Phase name of the write data groups of a report (which: device or fs groups). */
static void merge_phase(struct bbs_hist *h, const json_t *report, const char *name, int which)
{
	const json_t *groups = json_object_get(report, "groups"), *g;
	size_t i;

	memset(h, 0, sizeof(*h));
	json_array_foreach(groups, i, g)
	{
		bool dev = !json_is_null(json_object_get(g, "dev"));
		const char *op = json_string_value(json_object_get(g, "op"));
		const char *kind = json_string_value(json_object_get(g, "kind"));

		if ((which == DEV_GROUPS && !dev) || (which == FS_GROUPS && dev))
			continue;
		if (!op || strcmp(op, "write") || !kind || strcmp(kind, "data"))
			continue;
		hist_add_phase(h, json_object_get(json_object_get(g, "phases"), name));
	}
}

/* The sample's view of a phase: its statistics without the buckets. */
static json_t *phase_stats(const struct bbs_hist *h)
{
	json_t *o = bbs_phase_json(h, false);

	json_object_del(o, "buckets");
	return o;
}

/*
 * Put phase name of report into sample (statistics) and into full (the
 * whole phase object, for the page's histograms).
 */
static void take_phase(json_t *sample, json_t *full, const json_t *report, const char *name,
		       int which)
{
	struct bbs_hist h;

	merge_phase(&h, report, name, which);
	json_object_set_new(json_object_get(sample, "phases"), name, phase_stats(&h));
	json_object_set_new(full, name, bbs_phase_json(&h, false));
}

static void take_raid_phase(json_t *sample, json_t *full, const json_t *report, const char *name)
{
	struct bbs_hist h = { 0 };

	hist_add_phase(&h, json_object_get(json_object_get(report, "raid56"), name));
	json_object_set_new(json_object_get(sample, "phases"), name, phase_stats(&h));
	json_object_set_new(full, name, bbs_phase_json(&h, false));
}

static double jnum(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Sum the integer members of src into dst (contexts, workqueues). */
static void add_counts(json_t *dst, const json_t *src)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)src, k, v)
	{
		json_int_t have = json_integer_value(json_object_get(dst, k));

		json_object_set_new(dst, k, json_integer(have + json_integer_value(v)));
	}
}

/* ---- the kernel round ---- */

/*
 * First data write queued to the last one finished, from the trace itself;
 * and the data strips per full stripe of its first raid5/6 data strip write
 * (what `replay parity --trace` replays), 0 when it has none.
 */
static int data_write_span(const char *trace, double *secs, uint64_t *bytes,
			   unsigned int *strip_data)
{
	uint64_t first = UINT64_MAX, last = 0;
	struct bbs_tf_reader *rd;
	struct bbs_tf_event ev;
	char err[256];

	*bytes = 0;
	*strip_data = 0;
	if (bbs_tfr_open(&rd, trace, err, sizeof(err))) {
		bbs_err("bench: cannot read %s: %s", trace, err);
		return -1;
	}
	while (bbs_tfr_next(rd, &ev) == 1) {
		struct bbs_bio_phases p;
		uint64_t end;

		if (ev.type == EV_STRIPE && ev.stripe.op == BBS_OP_WRITE &&
		    ev.stripe.kind == KIND_DATA && ev.stripe.stripe_nr < ev.stripe.nr_data &&
		    !*strip_data)
			*strip_data = ev.stripe.nr_data;
		if (ev.type != EV_BIO || ev.bio.op != BBS_OP_WRITE || ev.bio.kind != KIND_DATA)
			continue;
		bbs_bio_phases(&ev.bio, &p);
		end = ev.bio.queue_ns + ((p.have & (1U << PHASE_TOTAL)) ? p.ns[PHASE_TOTAL] : 0);
		first = ev.bio.queue_ns < first ? ev.bio.queue_ns : first;
		last = end > last ? end : last;
		*bytes += ev.bio.bytes;
	}
	bbs_tfr_close(rd);
	*secs = last > first ? (last - first) / 1e9 : 0;
	return 0;
}

/* The workload's command line, for fio; its report goes to a file, not stdout. */
#define RANGE_BYTES (8ULL << 20) /* --writeback background: sync_file_range this often */

struct fio_cmd {
	char file[PATH_MAX + 48], rw[32], bs[48], size[48], out[PATH_MAX + 48], sfr[48];
	const char *argv[20];
};

static const char **fio_cmd(struct bench *b, struct fio_cmd *c)
{
	int n = 0;

	snprintf(c->file, sizeof(c->file), "--filename=%s/bench.data", b->datadir);
	snprintf(c->rw, sizeof(c->rw), "--rw=%s", b->o.rand ? "randwrite" : "write");
	snprintf(c->bs, sizeof(c->bs), "--bs=%llu", (unsigned long long)b->o.bs);
	snprintf(c->size, sizeof(c->size), "--size=%llu", (unsigned long long)b->o.size);
	snprintf(c->out, sizeof(c->out), "--output=%s/fio.json", b->work);
	c->argv[n++] = "fio";
	c->argv[n++] = "--name=bbscope-bench";
	c->argv[n++] = c->file;
	c->argv[n++] = c->rw;
	c->argv[n++] = c->bs;
	c->argv[n++] = c->size;
	c->argv[n++] = "--end_fsync=1";
	c->argv[n++] = "--output-format=json";
	c->argv[n++] = c->out;
	if (b->o.rand) {
		/* buffered random writes would reach btrfs sorted, at writeback */
		c->argv[n++] = "--direct=1";
		c->argv[n++] = "--ioengine=libaio";
		c->argv[n++] = "--iodepth=16";
	} else {
		c->argv[n++] = "--ioengine=psync";
	}
	if (!b->o.rand && !b->o.fsync_only) {
		uint64_t every = RANGE_BYTES / b->o.bs;

		snprintf(c->sfr, sizeof(c->sfr), "--sync_file_range=write:%llu",
			 (unsigned long long)(every ? every : 1));
		c->argv[n++] = c->sfr;
	}
	c->argv[n] = NULL;
	return c->argv;
}

/* Remove the previous round's file, and commit, so its space is free again. */
static int remove_data(struct bench *b)
{
	char data[PATH_MAX + 32];
	int fd;

	snprintf(data, sizeof(data), "%s/bench.data", b->datadir);
	if (unlink(data) && errno != ENOENT) {
		bbs_err("bench: cannot remove %s: %s", data, strerror(errno));
		return -1;
	}
	fd = open(b->mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		syncfs(fd);
		close(fd);
	}
	return 0;
}

/*
 * Once, unmeasured, before the first round: the workload, so the pages
 * behind the sandbox's loop devices (tmpfs, zram) exist before anything is
 * timed.  Otherwise the first round alone pays for allocating them.  The
 * replay target gets the same in the first round (one_round()).
 */
static int warm_up(struct bench *b)
{
	struct fio_cmd c;
	char msg[512];

	fprintf(stderr, "bbscope: bench: warming up (the workload once, not measured)\n");
	if (run(b, false, (char **)fio_cmd(b, &c))) {
		if (!stop_sig) {
			child_error(b, msg, sizeof(msg));
			bbs_err("bench: fio (warm-up) failed: %s", msg);
		}
		return -1;
	}
	return remove_data(b);
}

static int kernel_round(struct bench *b)
{
	const char *args[32] = {
		"record", "-o", b->trace, "--force", "--fs", b->mnt, "--json", "--"
	};
	json_t *rec, *rep, *s, *full, *ph, *cctx, *ectx, *wq, *g;
	struct fio_cmd c;
	const char **fio = fio_cmd(b, &c);
	uint64_t dev_bytes;
	unsigned int strip_data;
	double span;
	size_t i;
	int n = 8;

	if (remove_data(b))
		return -1;
	while (*fio)
		args[n++] = *fio++;
	args[n] = NULL;
	rec = run_json(b, "record (fio writing to the filesystem)", args);
	if (!rec)
		return -1;
	{
		const char *rargs[] = { "report", "--json", b->trace, NULL };

		rep = run_json(b, "report", rargs);
	}
	if (!rep || data_write_span(b->trace, &span, &dev_bytes, &strip_data)) {
		json_decref(rec);
		json_decref(rep);
		return -1;
	}
	if (span <= 0 || !dev_bytes) {
		bbs_err("bench: the recording holds no data writes to %s (was the workload "
			"written elsewhere?)",
			b->mnt);
		json_decref(rec);
		json_decref(rep);
		return -1;
	}
	/* replay parity --trace replays the data strip writes, on their chunk's width. */
	if (b->parity && !strip_data) {
		note(b, "the recording has no raid5/raid6 data strip writes (no raid56_write "
			"tracepoint on this kernel?): the parity rows are left out");
		b->parity = false;
		json_array_clear(b->samples[ROW_STEP]);
		json_array_clear(b->samples[ROW_BATCHED]);
	}
	b->parity_targets = strip_data + (!strcmp(b->profile, "raid6") ? 2 : 1);
	s = json_pack("{s:I,s:I,s:f,s:f,s:f,s:{},s:I}", "bytes", (json_int_t)b->o.size,
		      "device_bytes", (json_int_t)dev_bytes, "elapsed_s", span, "throughput_bps",
		      b->o.size / span, "workload_s", jnum(rec, "duration_s"), "phases", "lost",
		      json_integer_value(json_object_get(rep, "lost")));
	full = json_object();
	for (int p = PHASE_QUEUE; p <= PHASE_TOTAL; p++)
		take_phase(s, full, rep, bbs_phase_name[p], DEV_GROUPS);
	take_phase(s, full, rep, "csum", FS_GROUPS);
	take_phase(s, full, rep, "ordered", FS_GROUPS);
	take_raid_phase(s, full, rep, "rmw");
	take_raid_phase(s, full, rep, "recover");
	ph = json_object_get(json_object_get(s, "phases"), "csum");
	if (json_integer_value(json_object_get(ph, "count"))) {
		double busy = jnum(ph, "count") * jnum(ph, "mean_ns") / 1e9;

		json_object_set_new(s, "csum_busy_s", json_real(busy));
		json_object_set_new(s, "csum_share", json_real(busy / span));
	}
	cctx = json_object();
	ectx = json_object();
	wq = json_object();
	json_array_foreach(json_object_get(rep, "groups"), i, g)
	{
		const char *op = json_string_value(json_object_get(g, "op"));
		const char *kind = json_string_value(json_object_get(g, "kind"));

		if (json_is_null(json_object_get(g, "dev")) || !op || strcmp(op, "write") ||
		    !kind || strcmp(kind, "data"))
			continue;
		add_counts(cctx, json_object_get(g, "complete_ctx"));
		add_counts(ectx, json_object_get(g, "endio_ctx"));
		add_counts(wq, json_object_get(g, "endio_wq"));
	}
	json_object_set_new(s, "complete_ctx", cctx);
	json_object_set_new(s, "endio_ctx", ectx);
	json_object_set_new(s, "endio_wq", wq);
	json_object_set_new(
		s, "stripe_writes",
		json_copy(json_object_get(json_object_get(rep, "raid56"), "stripe_writes")));
	json_object_set_new(
		s, "stripe_reads",
		json_copy(json_object_get(json_object_get(rep, "raid56"), "stripe_reads")));
	json_array_append_new(b->samples[ROW_KERNEL], s);
	json_decref(b->last[ROW_KERNEL]);
	b->last[ROW_KERNEL] = full;
	json_decref(b->last_report);
	b->last_report = rep;
	json_decref(rec);
	return 0;
}

/* ---- the userspace rounds ---- */

static int replay_round(struct bench *b, enum row row)
{
	char target[PATH_MAX + 32], what[64];
	const char *args[] = { "replay", "csum",    "--trace", b->trace,      "--target",
			       target,	 "--force", "--mode",  row_name[row], "--csum",
			       b->csum,	 "--json",  NULL };
	json_t *o, *s, *full;

	snprintf(target, sizeof(target), "%s/replay.img", b->store);
	snprintf(what, sizeof(what), "replay csum --mode %s", row_name[row]);
	o = run_json(b, what, args);
	if (!o)
		return -1;
	s = json_pack("{s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:{}}", "bytes", json_object_get(o, "bytes"),
		      "bios", json_object_get(o, "bios"), "elapsed_s",
		      json_object_get(o, "elapsed_s"), "throughput_bps",
		      json_object_get(o, "throughput_bps"), "cpu_s", json_object_get(o, "cpu_s"),
		      "csum_busy_s", json_object_get(o, "csum_busy_s"), "phases");
	full = json_object();
	take_phase(s, full, o, "csum", FS_GROUPS);
	take_phase(s, full, o, "device", DEV_GROUPS);
	take_phase(s, full, o, "total", DEV_GROUPS);
	json_array_append_new(b->samples[row], s);
	json_decref(b->last[row]);
	b->last[row] = full;
	json_decref(o);
	return 0;
}

static int parity_round(struct bench *b, enum row row)
{
	char targets[8192], what[64];
	const char *args[] = { "replay",      "parity",	   "--trace", b->trace,	 "--profile",
			       b->profile,    "--targets", targets,   "--force", "--mode",
			       row_name[row], "--json",	   NULL };
	size_t n = 0;
	json_t *o, *s, *full;

	for (unsigned int i = 0; i < b->parity_targets && n < sizeof(targets); i++)
		n += snprintf(targets + n, sizeof(targets) - n, "%s%s/parity.%u.img", i ? "," : "",
			      b->store, i);
	snprintf(what, sizeof(what), "replay parity --mode %s", row_name[row]);
	o = run_json(b, what, args);
	if (!o)
		return -1;
	s = json_pack("{s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:{}}", "bytes",
		      json_object_get(o, "bytes"), "elapsed_s", json_object_get(o, "elapsed_s"),
		      "throughput_bps", json_object_get(o, "throughput_bps"), "cpu_s",
		      json_object_get(o, "cpu_s"), "full_stripes",
		      json_object_get(o, "full_stripes"), "partial_stripes",
		      json_object_get(o, "partial_stripes"), "parity_busy_s",
		      json_object_get(o, "parity_busy_s"), "phases");
	full = json_object();
	take_phase(s, full, o, "device", DEV_GROUPS);
	take_phase(s, full, o, "total", DEV_GROUPS);
	take_raid_phase(s, full, o, "rmw");
	{
		struct bbs_hist h = { 0 };

		hist_add_phase(&h, json_object_get(o, "parity"));
		json_object_set_new(json_object_get(s, "phases"), "parity", phase_stats(&h));
		json_object_set_new(full, "parity", bbs_phase_json(&h, false));
	}
	json_array_append_new(b->samples[row], s);
	json_decref(b->last[row]);
	b->last[row] = full;
	json_decref(o);
	return 0;
}

/* Does this build's `replay` have the parity subcommand? */
static bool have_replay_parity(struct bench *b)
{
	char *argv[] = { "bbscope", "replay", "--help", NULL };
	char line[256];
	bool found = false;
	FILE *f;

	if (run(b, true, argv))
		return false;
	f = fopen(b->out, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "  parity ", 9))
			found = true;
	if (f)
		fclose(f);
	return found;
}

/* ---- m and c: one core, cold, in this process ---- */

/*
 * The method of tools/csum_perf's cold trials, on a smaller buffer (8 LLCs,
 * 256 MiB to 1 GiB): each 4 KiB block of the buffer copied into one
 * L1-resident block (memcpy: the rate memory feeds a reader), or checksummed
 * with bbs_csum_blocks() 64 KiB a call, continuing where the last trial
 * stopped, so what a trial reads was last touched a whole buffer ago.
 */
#define BW_BLOCK 4096
#define BW_CALL 65536
#define BW_TRIALS 5

struct bw {
	uint8_t *buf;
	size_t len, pos;
};

static int bw_init(struct bw *w)
{
	unsigned int level;
	size_t llc = bbs_llc_size(&level);

	w->len = 8 * (llc ? llc : 32 << 20);
	if (w->len < (256U << 20))
		w->len = 256U << 20;
	if (w->len > (1U << 30))
		w->len = 1U << 30;
	w->len -= w->len % BW_CALL;
	w->pos = 0;
	w->buf = mmap(NULL, w->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w->buf == MAP_FAILED) {
		w->buf = NULL;
		return -1;
	}
	for (size_t i = 0; i < w->len; i += 8) {
		uint64_t v = (i >> 3) * 0x9e3779b97f4a7c15ULL;

		memcpy(w->buf + i, &v, 8);
	}
	return 0;
}

/* One pass over the buffer: bytes a second.  csum < 0: memcpy. */
static double bw_trial(struct bw *w, int csum)
{
	static uint8_t l1[BW_BLOCK] __attribute__((aligned(64)));
	uint8_t out[BW_CALL / BW_BLOCK * BBS_CSUM_MAX];
	uint64_t t0 = bbs_now_ns();

	for (size_t done = 0; done < w->len; done += BW_CALL) {
		uint8_t *p = w->buf + w->pos;

		if (csum < 0) {
			for (size_t off = 0; off < BW_CALL; off += BW_BLOCK) {
				memcpy(l1, p + off, BW_BLOCK);
				__asm__ volatile("" : : "r"(l1) : "memory");
			}
		} else {
			bbs_csum_blocks(csum, p, BW_CALL, BW_BLOCK, out);
			__asm__ volatile("" : : "r"(out) : "memory");
		}
		w->pos = (w->pos + BW_CALL) % w->len;
	}
	return w->len / ((bbs_now_ns() - t0 + 1) / 1e9);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Median of BW_TRIALS alternating trials of each, pinned to the current CPU. */
static void bw_measure(struct bw *w, int csum, double *m, double *c)
{
	double tm[BW_TRIALS], tc[BW_TRIALS];
	cpu_set_t old, one;
	int cpu = sched_getcpu();
	bool pinned = false;

	if (cpu >= 0 && !sched_getaffinity(0, sizeof(old), &old)) {
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		pinned = !sched_setaffinity(0, sizeof(one), &one);
	}
	bbs_avx_upper_clear();
	for (int i = 0; i < BW_TRIALS; i++) {
		tm[i] = bw_trial(w, -1);
		tc[i] = bw_trial(w, csum);
	}
	if (pinned)
		sched_setaffinity(0, sizeof(old), &old);
	*m = median(tm, BW_TRIALS);
	*c = median(tc, BW_TRIALS);
}

/* ---- medians over the rounds ---- */

/*
 * The rounds' sample objects made into one: a number becomes the median of
 * its rounds, with the extremes in sibling objects "min" and "max" under
 * the same key; objects are merged key by key the same way; anything else
 * is the first round's.  A phase not observed in some rounds is the median
 * of the rounds that observed it.
 */
static json_t *aggregate(json_t *const *v, size_t n)
{
	json_t *out = json_object(), *mins = json_object(), *maxs = json_object();

	for (size_t i = 0; i < n; i++) {
		const char *key;
		json_t *x;

		json_object_foreach(v[i], key, x)
		{
			json_t *vals[MAX_ROUNDS];
			bool nums = true, objs = true, ints = true, seen = false;
			size_t k = 0;

			if (json_object_get(out, key))
				continue;
			for (size_t j = i; j < n; j++) {
				json_t *y = json_object_get(v[j], key);

				if (!y)
					continue;
				vals[k++] = y;
				nums &= json_is_number(y);
				objs &= json_is_object(y);
				ints &= json_is_integer(y);
				seen |= json_is_object(y) && !json_object_get(y, "observable");
			}
			if (nums) {
				double d[MAX_ROUNDS], med;

				for (size_t j = 0; j < k; j++)
					d[j] = json_number_value(vals[j]);
				med = median(d, k);
				json_object_set_new(out, key,
						    ints && med == floor(med)
							    ? json_integer((json_int_t)med)
							    : json_real(med));
				json_object_set_new(mins, key,
						    ints ? json_integer((json_int_t)d[0])
							 : json_real(d[0]));
				json_object_set_new(maxs, key,
						    ints ? json_integer((json_int_t)d[k - 1])
							 : json_real(d[k - 1]));
			} else if (objs) {
				size_t m = 0;

				/* rounds that did not observe a phase others did: left out */
				for (size_t j = 0; j < k; j++)
					if (!seen || !json_object_get(vals[j], "observable"))
						vals[m++] = vals[j];
				json_object_set_new(out, key, aggregate(vals, m));
			} else {
				json_object_set(out, key, vals[0]);
			}
		}
	}
	if (json_object_size(mins)) {
		json_object_set_new(out, "min", mins);
		json_object_set_new(out, "max", maxs);
	} else {
		json_decref(mins);
		json_decref(maxs);
	}
	return out;
}

static json_t *aggregate_array(const json_t *arr)
{
	json_t *v[MAX_ROUNDS];
	size_t n = json_array_size(arr);

	for (size_t i = 0; i < n && i < MAX_ROUNDS; i++)
		v[i] = json_array_get(arr, i);
	return aggregate(v, n);
}

/* ---- results ---- */

struct results {
	json_t *rows[NR_ROWS]; /* aggregated; NULL when the row did not run */
	json_t *model;
	double speedup, speedup_lo, speedup_hi;
	double pred_serial, pred_async, predicted;
};

/* Median (and min, max) at a dotted path: "phases.device.p50_ns". */
static double stat_at(const json_t *o, const char *path, double *lo, double *hi)
{
	char buf[128], *dot, *key = buf;

	snprintf(buf, sizeof(buf), "%s", path);
	while (o && (dot = strchr(key, '.'))) {
		*dot = 0;
		o = json_object_get(o, key);
		key = dot + 1;
	}
	if (lo)
		*lo = jnum(json_object_get(o, "min"), key);
	if (hi)
		*hi = jnum(json_object_get(o, "max"), key);
	return jnum(o, key);
}

static void results_build(struct bench *b, struct results *r)
{
	double m, c, d;

	for (int i = 0; i < NR_ROWS; i++)
		r->rows[i] = json_array_size(b->samples[i]) ? aggregate_array(b->samples[i]) : NULL;
	r->model = aggregate_array(b->model);
	m = jnum(r->model, "mem_bps");
	c = jnum(r->model, "csum_bps");
	d = jnum(r->model, "dev_bps");
	r->pred_serial = 1 / (1 / m + 1 / c + 1 / d);
	r->pred_async = 1 / (1 / m + fmax(1 / c, 1 / d));
	r->predicted = r->pred_async / r->pred_serial;
	json_object_set_new(r->model, "predicted_serial_bps", json_real(r->pred_serial));
	json_object_set_new(r->model, "predicted_async_bps", json_real(r->pred_async));
	json_object_set_new(r->model, "predicted_async_speedup", json_real(r->predicted));
	json_object_set_new(r->model, "formula",
			    json_string("serial 1/(1/m+1/c+1/d), async 1/(1/m+max(1/c,1/d)); "
					"m mem_bps, c csum_bps, d dev_bps"));
	{
		json_t *s = aggregate_array(b->speedup);

		r->speedup = stat_at(s, "measured_async_speedup", &r->speedup_lo, &r->speedup_hi);
		json_decref(s);
	}
}

static void results_free(struct results *r)
{
	for (int i = 0; i < NR_ROWS; i++)
		json_decref(r->rows[i]);
	json_decref(r->model);
}

/* "1.23 GB/s [1.2-1.25]": the median, and the range when rounds differ. */
static void fmt_range(char *buf, size_t len, double v, double lo, double hi,
		      enum bbs_html_unit unit, unsigned int rounds)
{
	char a[32], x[32], y[32];

	bbs_html_fmt(a, sizeof(a), v, unit);
	if (rounds < 2 || !isfinite(lo) || !isfinite(hi)) {
		snprintf(buf, len, "%s", a);
		return;
	}
	bbs_html_fmt(x, sizeof(x), lo, unit);
	bbs_html_fmt(y, sizeof(y), hi, unit);
	/* the range without its unit when the unit is the median's */
	if (strchr(x, ' ') && strchr(y, ' ') && !strcmp(strchr(x, ' '), strchr(a, ' ')) &&
	    !strcmp(strchr(y, ' '), strchr(a, ' '))) {
		*strchr(x, ' ') = 0;
		*strchr(y, ' ') = 0;
	}
	snprintf(buf, len, "%s [%s-%s]", a, x, y);
}

/* "2.96 ms / 4.1 ms": p50 / p99 of a phase, "-" when not observed. */
static void fmt_p50_p99(char *buf, size_t len, const json_t *row, const char *phase)
{
	char path[64], a[32], z[32];
	double p50, p99;

	snprintf(path, sizeof(path), "phases.%s.p50_ns", phase);
	p50 = stat_at(row, path, NULL, NULL);
	snprintf(path, sizeof(path), "phases.%s.p99_ns", phase);
	p99 = stat_at(row, path, NULL, NULL);
	if (!isfinite(p50)) {
		snprintf(buf, len, "-");
		return;
	}
	bbs_html_fmt(a, sizeof(a), p50, BBS_UNIT_NS);
	bbs_html_fmt(z, sizeof(z), p99, BBS_UNIT_NS);
	snprintf(buf, len, "%s / %s", a, z);
}

static const char *row_label(int row)
{
	static const char *const label[NR_ROWS] = { "kernel",	     "none",	"serial",
						    "async",	     "offload", "parity step",
						    "parity batched" };

	return label[row];
}

/* btrfs checksums these inline, never on a worker (BTRFS_FS_CSUM_IMPL_FAST) */
static bool csum_fast(const struct bench *b)
{
	return !strcmp(b->csum, "crc32c") || !strcmp(b->csum, "xxhash");
}

static bool raid56(const struct bench *b)
{
	return !strcmp(b->profile, "raid5") || !strcmp(b->profile, "raid6");
}

static void ctx_text(char *buf, size_t len, const json_t *ctx)
{
	const char *k;
	json_t *v;
	size_t n = 0;

	buf[0] = 0;
	json_object_foreach((json_t *)ctx, k, v)
	{
		if (strcmp(k, "min") && strcmp(k, "max") && json_integer_value(v) && n < len)
			n += snprintf(buf + n, len - n, "%s%s %lld", n ? ", " : "", k,
				      (long long)json_integer_value(v));
	}
	if (!buf[0])
		snprintf(buf, len, "none");
}

/* The table and the lines under it, as printed and as the page shows them. */
static void print_table(FILE *f, const struct bench *b, const struct results *r)
{
	const json_t *k = r->rows[ROW_KERNEL];
	bool rmw = raid56(b);
	char tp[128], cs[80], dv[80], tt[80], rm[80], a[80], z[80], x[80];
	double v, lo, hi;

	fprintf(f,
		"bbscope bench: %s %s btrfs (%s), %llu MiB of %s writes, bs %llu KiB, %s "
		"backing; %u round%s%s\n",
		b->profile, b->csum, b->o.fs ? b->o.fs : "sandbox",
		(unsigned long long)(b->o.size >> 20),
		b->o.rand	  ? "random O_DIRECT"
		: b->o.fsync_only ? "sequential buffered (fsync)"
				  : "sequential buffered (background writeback)",
		(unsigned long long)(b->o.bs >> 10), backing_name[b->o.backing], b->o.rounds,
		b->o.rounds > 1 ? "s" : "", b->o.rounds > 1 ? ", median [min-max]" : "");
	fprintf(f, "%-15s %-26s %-21s %-21s %s%s\n", "row", "throughput", "csum p50 / p99",
		"device p50 / p99", rmw ? "total p50 / p99      " : "total p50 / p99",
		rmw ? " rmw p50 / p99" : "");
	for (int i = 0; i < NR_ROWS; i++) {
		const json_t *row = r->rows[i];

		if (!row)
			continue;
		v = stat_at(row, "throughput_bps", &lo, &hi);
		fmt_range(tp, sizeof(tp), v, lo, hi, BBS_UNIT_BPS, b->o.rounds);
		fmt_p50_p99(cs, sizeof(cs), row, ROW_IS_PARITY(i) ? "parity" : "csum");
		fmt_p50_p99(dv, sizeof(dv), row, "device");
		fmt_p50_p99(tt, sizeof(tt), row, "total");
		fmt_p50_p99(rm, sizeof(rm), row, "rmw");
		if (rmw)
			fprintf(f, "%-15s %-26s %-21s %-21s %-21s %s\n", row_label(i), tp, cs, dv,
				tt, rm);
		else
			fprintf(f, "%-15s %-26s %-21s %-21s %s\n", row_label(i), tp, cs, dv, tt);
	}
	if (r->rows[ROW_STEP] || r->rows[ROW_BATCHED])
		fprintf(f,
			"(parity rows: the csum column is one rbio's P/Q generation; they replay "
			"the recorded data strip writes and compute P and Q)\n");
	if (k) {
		char ectx[128], cctx[128], wq[128];

		fmt_p50_p99(a, sizeof(a), k, "hop");
		fmt_p50_p99(z, sizeof(z), k, "endio");
		ctx_text(cctx, sizeof(cctx), json_object_get(k, "complete_ctx"));
		ctx_text(ectx, sizeof(ectx), json_object_get(k, "endio_ctx"));
		ctx_text(wq, sizeof(wq), json_object_get(k, "endio_wq"));
		fprintf(f, "\nkernel data writes: hop p50 / p99 %s, endio p50 / p99 %s\n", a, z);
		fprintf(f, "  completion context: %s; end_io context: %s; end_io workqueues: %s\n",
			cctx, ectx, wq);
		if (isfinite(jnum(k, "csum_share"))) {
			bbs_html_fmt(x, sizeof(x), jnum(k, "csum_busy_s") * 1e9, BBS_UNIT_NS);
			bbs_html_fmt(tp, sizeof(tp), jnum(k, "elapsed_s") * 1e9, BBS_UNIT_NS);
			fmt_p50_p99(a, sizeof(a), k, "csum");
			fprintf(f,
				"  checksum work: %s of it over %s of writeback (%.0f%%), "
				"p50 / p99 %s per work item\n",
				x, tp, 100 * jnum(k, "csum_share"), a);
		} else {
			fprintf(f,
				"  checksum work: not observable: it ran inline in the submitting "
				"thread (%s)\n",
				csum_fast(b) ? "crc32c and xxhash always do"
					     : "synchronous writes, such as fsync's, do");
		}
		if (rmw) {
			fmt_p50_p99(a, sizeof(a), k, "rmw");
			fmt_p50_p99(z, sizeof(z), k, "recover");
			fprintf(f, "  raid56: rmw %s, recover %s (p50 / p99); stripe writes %lld\n",
				a, z, (long long)stat_at(k, "stripe_writes", NULL, NULL));
		}
	}
	bbs_html_fmt(a, sizeof(a), jnum(r->model, "mem_bps"), BBS_UNIT_BPS);
	bbs_html_fmt(z, sizeof(z), jnum(r->model, "csum_bps"), BBS_UNIT_BPS);
	bbs_html_fmt(x, sizeof(x), jnum(r->model, "dev_bps"), BBS_UNIT_BPS);
	fprintf(f,
		"\nmodel inputs (one core): m %s (memcpy, cold), c %s (%s, cold), d %s (replay "
		"none)\n",
		a, z, b->csum, x);
	bbs_html_fmt(a, sizeof(a), r->pred_serial, BBS_UNIT_BPS);
	bbs_html_fmt(z, sizeof(z), r->pred_async, BBS_UNIT_BPS);
	fprintf(f, "model: serial 1/(1/m+1/c+1/d) = %s, async 1/(1/m+max(1/c,1/d)) = %s\n", a, z);
	fmt_range(tp, sizeof(tp), r->speedup, r->speedup_lo, r->speedup_hi, BBS_UNIT_RATIO,
		  b->o.rounds);
	fprintf(f,
		"async/serial speedup: predicted %.2fx, measured %s (replay, async over serial "
		"in the same round)\n",
		r->predicted, tp);
	if (json_array_size(b->notes))
		fputc('\n', f);
	for (size_t i = 0; i < json_array_size(b->notes); i++)
		fprintf(f, "note: %s\n", json_string_value(json_array_get(b->notes, i)));
}

static json_t *results_json(const struct bench *b, const struct results *r)
{
	json_t *o = json_object(), *us = json_object(), *p;

	p = json_pack("{s:s,s:s,s:I,s:I,s:s,s:s,s:s,s:s?,s:s,s:i}", "profile", b->profile, "csum",
		      b->csum, "size", (json_int_t)b->o.size, "bs", (json_int_t)b->o.bs, "pattern",
		      b->o.rand ? "rand" : "seq", "writeback",
		      b->o.rand		? "direct"
		      : b->o.fsync_only ? "fsync"
					: "background",
		      "backing", backing_name[b->o.backing], "fs", b->o.fs, "mountpoint", b->mnt,
		      "devices", (int)b->ndevs);
	json_object_set_new(o, "params", p);
	json_object_set_new(o, "rounds", json_integer(b->o.rounds));
	json_object_set_new(o, "machine", bbs_machine_json());
	if (r->rows[ROW_KERNEL])
		json_object_set(o, "kernel", r->rows[ROW_KERNEL]);
	for (int i = ROW_NONE; i < NR_ROWS; i++) {
		if (!r->rows[i])
			continue;
		json_object_set_new(r->rows[i], "replay",
				    json_string(ROW_IS_PARITY(i) ? "parity" : "csum"));
		json_object_set(us, row_name[i], r->rows[i]);
	}
	json_object_set_new(o, "userspace", us);
	json_object_set(o, "model", r->model);
	json_object_set_new(o, "measured_async_speedup", json_real(r->speedup));
	json_object_set_new(o, "min", json_pack("{s:f}", "measured_async_speedup", r->speedup_lo));
	json_object_set_new(o, "max", json_pack("{s:f}", "measured_async_speedup", r->speedup_hi));
	/* every round's throughput, beside the medians */
	for (int i = 0; i < NR_ROWS; i++) {
		json_t *arr = json_array(), *s;
		size_t k;

		if (!r->rows[i])
			continue;
		json_array_foreach(b->samples[i], k, s)
			json_array_append(arr, json_object_get(s, "throughput_bps"));
		json_object_set_new(r->rows[i], "throughput_rounds_bps", arr);
	}
	json_object_set(o, "notes", b->notes);
	if (b->o.html)
		json_object_set_new(o, "html", json_string(b->o.html));
	return o;
}

/* ---- the page ---- */

static void page_phase_hists(struct bbs_html *h, const struct bench *b)
{
	static const char *const shown[] = { "csum", "parity", "device", "total", "rmw" };
	char id[64], title[96];

	for (int i = ROW_NONE; i < NR_ROWS; i++) {
		const json_t *full = b->last[i];

		if (!full)
			continue;
		for (size_t k = 0; k < sizeof(shown) / sizeof(shown[0]); k++) {
			const json_t *ph = json_object_get(full, shown[k]);

			if (!json_integer_value(json_object_get(ph, "count")))
				continue;
			snprintf(id, sizeof(id), "replay-%s-%s", row_name[i], shown[k]);
			snprintf(title, sizeof(title), "replay %s: %s", row_label(i), shown[k]);
			bbs_html_phase_hist(h, id, title, ph);
		}
	}
}

static int write_page(const struct bench *b, const struct results *r, const char *table)
{
	static const char *const lat_names[] = { "device p50", "device p99", "total p50",
						 "total p99",  "csum p50",   "csum p99" };
	/* one hue a phase: light p50, dark p99 */
	static const char *const lat_colors[] = { "#9ecae9", "#2f6b9a", "#a6d89b",
						  "#3b8132", "#f8c28c", "#c8621a" };
	const char *cats[NR_ROWS];
	double v[NR_ROWS], lo[NR_ROWS], hi[NR_ROWS], lat[6][NR_ROWS];
	struct bbs_html_series s[6];
	struct bbs_html *h;
	char title[256], cpu[128], err[256];
	size_t n = 0;
	int ret;

	snprintf(title, sizeof(title), "bbscope bench: %s, %s, %llu MiB", b->profile, b->csum,
		 (unsigned long long)(b->o.size >> 20));
	h = bbs_html_new(title);
	if (!h) {
		errno = ENOMEM;
		return -1;
	}
	bbs_cpu_model(cpu, sizeof(cpu));
	{
		struct utsname u;

		uname(&u);
		bbs_html_p(h,
			   "%s, %ld cores, Linux %s. %u round%s, interleaved; bars are medians, "
			   "whiskers min to max.",
			   cpu, sysconf(_SC_NPROCESSORS_ONLN), u.release, b->o.rounds,
			   b->o.rounds > 1 ? "s" : "");
	}
	bbs_html_pre(h, table);

	for (int i = 0; i < NR_ROWS; i++) {
		if (!r->rows[i])
			continue;
		cats[n] = row_label(i);
		v[n] = stat_at(r->rows[i], "throughput_bps", &lo[n], &hi[n]);
		for (int k = 0; k < 6; k++) {
			char path[64];

			snprintf(path, sizeof(path), "phases.%s.%s_ns",
				 k < 2		    ? "device"
				 : k < 4	    ? "total"
				 : ROW_IS_PARITY(i) ? "parity"
						    : "csum",
				 k % 2 ? "p99" : "p50");
			lat[k][n] = stat_at(r->rows[i], path, NULL, NULL);
		}
		n++;
	}
	bbs_html_h2(h, "Throughput and latency");
	bbs_html_grid_begin(h);
	s[0] = (struct bbs_html_series){ "throughput", v, lo, hi, NULL };
	bbs_html_bars(h, "throughput", "throughput (bytes written / elapsed)", BBS_UNIT_BPS, cats,
		      n, s, 1, false);
	for (int k = 0; k < 6; k++)
		s[k] = (struct bbs_html_series){ lat_names[k], lat[k], NULL, NULL, lat_colors[k] };
	bbs_html_bars(h, "latency", "per-bio latency, p50 and p99 (log scale)", BBS_UNIT_NS, cats,
		      n, s, 6, true);
	bbs_html_grid_end(h);

	bbs_html_h2(h, "The model beside the measurement");
	bbs_html_grid_begin(h);
	{
		const char *in_cats[] = { "m memcpy", "c csum", "d device" };
		const char *keys[] = { "mem_bps", "csum_bps", "dev_bps" };
		double iv[3], il[3], ih[3];

		for (int k = 0; k < 3; k++)
			iv[k] = stat_at(r->model, keys[k], &il[k], &ih[k]);
		s[0] = (struct bbs_html_series){ "bandwidth", iv, il, ih, NULL };
		bbs_html_bars(h, "model-inputs", "model inputs: one core, bytes a second",
			      BBS_UNIT_BPS, in_cats, 3, s, 1, false);
	}
	{
		const char *t_cats[] = { "serial", "async" };
		double mv[2] = { r->pred_serial, r->pred_async }, xv[2], xl[2], xh[2];

		xv[0] = stat_at(r->rows[ROW_SERIAL], "throughput_bps", &xl[0], &xh[0]);
		xv[1] = stat_at(r->rows[ROW_ASYNC], "throughput_bps", &xl[1], &xh[1]);
		s[0] = (struct bbs_html_series){ "model", mv, NULL, NULL, NULL };
		s[1] = (struct bbs_html_series){ "measured (replay)", xv, xl, xh, NULL };
		bbs_html_bars(h, "model-throughput", "throughput: model and measurement",
			      BBS_UNIT_BPS, t_cats, 2, s, 2, false);
	}
	{
		const char *sp_cats[] = { "async/serial" };
		double pv = r->predicted, mv = r->speedup, ml = r->speedup_lo, mh = r->speedup_hi;

		s[0] = (struct bbs_html_series){ "predicted", &pv, NULL, NULL, NULL };
		s[1] = (struct bbs_html_series){ "measured", &mv, &ml, &mh, NULL };
		bbs_html_bars(h, "model-speedup", "async over serial speedup", BBS_UNIT_RATIO,
			      sp_cats, 1, s, 2, false);
	}
	bbs_html_grid_end(h);

	bbs_html_h2(h, "Userspace replays: latency histograms (last round)");
	bbs_html_grid_begin(h);
	page_phase_hists(h, b);
	bbs_html_grid_end(h);

	if (b->last_report) {
		bbs_html_h2(h, "Kernel: the last round's recording");
		if (bbs_html_report(h, "kernel", b->last_report, b->trace, err, sizeof(err)))
			bbs_html_p(h, "No heatmap: %s", err);
	}
	ret = bbs_html_write(h, b->o.html);
	bbs_html_free(h);
	return ret;
}

/* ---- the run ---- */

static void note(struct bench *b, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	json_array_append_new(b->notes, json_string(buf));
	fprintf(stderr, "bbscope: bench: %s\n", buf);
}

/*
 * Where the measurement leaves the model, say why, from what was measured:
 * the two shapes of gap these machines show (see docs/guide.md).
 */
static void explain(struct bench *b, const struct results *r)
{
	double ser = stat_at(r->rows[ROW_SERIAL], "throughput_bps", NULL, NULL);
	double asy = stat_at(r->rows[ROW_ASYNC], "throughput_bps", NULL, NULL);
	double c = jnum(r->model, "csum_bps"), d = jnum(r->model, "dev_bps");
	double cp = jnum(r->model, "csum_pipeline_bps"), lost = 0;
	char a[32], z[32];

	if (ser > 1.1 * r->pred_serial) {
		bbs_html_fmt(a, sizeof(a), r->pred_serial, BBS_UNIT_BPS);
		note(b,
		     "replay serial ran %.0f%% above the model's serial (%s): with 16 bios in "
		     "flight the target writes earlier bios while the submitter checksums later "
		     "ones, so serial already overlaps c and d, which the model's serial does not",
		     100 * (ser / r->pred_serial - 1), a);
	}
	if (cp > 0 && cp < 0.85 * c) {
		bbs_html_fmt(a, sizeof(a), cp, BBS_UNIT_BPS);
		bbs_html_fmt(z, sizeof(z), c, BBS_UNIT_BPS);
		note(b,
		     "the serial replay checksummed at %s, %.0f%% below c (%s) measured alone on "
		     "one core (csum_pipeline_bps): per-bio costs on small bios, or a checksum "
		     "slowed in the replay process; the model's c overstates what it got",
		     a, 100 * (1 - cp / c), z);
	}
	if (stat_at(r->rows[ROW_KERNEL], "lost", NULL, &lost) > 0 || lost > 0)
		note(b,
		     "the recordings lost observations (up to %.0f in a round): the kernel row "
		     "misses them; see lost_detail in 'bbscope report --json'",
		     lost);
	if (c < d && asy > 0.9 * c && ser > 0.9 * c) {
		bbs_html_fmt(a, sizeof(a), c, BBS_UNIT_BPS);
		bbs_html_fmt(z, sizeof(z), d, BBS_UNIT_BPS);
		note(b,
		     "c (%s) is below d (%s): the checksum bounds serial and async alike (serial "
		     "reached %.0f%% of c, async %.0f%%), so async has nothing left to win here",
		     a, z, 100 * ser / c, 100 * asy / c);
	}
}

static void progress(const struct bench *b, unsigned int round)
{
	char buf[32];

	fprintf(stderr, "bbscope: bench: round %u/%u:", round + 1, b->o.rounds);
	for (int i = 0; i < NR_ROWS; i++) {
		json_t *s = json_array_get(b->samples[i], round);

		if (!s)
			continue;
		bbs_html_fmt(buf, sizeof(buf), jnum(s, "throughput_bps"), BBS_UNIT_BPS);
		fprintf(stderr, "%s %s %s", i ? "," : "", row_name[i], buf);
	}
	fputc('\n', stderr);
}

static int one_round(struct bench *b, struct bw *w, unsigned int round)
{
	double m, c, none, ser, asy;
	int csum = bbs_csum_parse(b->csum);
	json_t *s;

	fprintf(stderr, "bbscope: bench: round %u/%u: kernel, then replays\n", round + 1,
		b->o.rounds);
	if (kernel_round(b))
		return -1;
	/* the target's pages, once, as warm_up() did for the loop devices' */
	if (round == 0 && (replay_round(b, ROW_NONE) || stop_sig))
		return -1;
	if (round == 0)
		json_array_clear(b->samples[ROW_NONE]);
	for (int row = ROW_NONE; row <= ROW_OFFLOAD; row++)
		if (stop_sig || replay_round(b, row))
			return -1;
	for (int row = ROW_STEP; b->parity && row <= ROW_BATCHED; row++) {
		if (stop_sig)
			return -1;
		if (parity_round(b, row)) {
			if (stop_sig)
				return -1;
			note(b, "replay parity --mode %s failed; the parity rows are left out",
			     row_name[row]);
			b->parity = false;
			json_array_clear(b->samples[ROW_STEP]);
			json_array_clear(b->samples[ROW_BATCHED]);
		}
	}
	if (stop_sig)
		return -1;
	bw_measure(w, csum, &m, &c);
	none = jnum(json_array_get(b->samples[ROW_NONE], round), "throughput_bps");
	ser = jnum(json_array_get(b->samples[ROW_SERIAL], round), "throughput_bps");
	asy = jnum(json_array_get(b->samples[ROW_ASYNC], round), "throughput_bps");
	s = json_pack("{s:f,s:f,s:f}", "mem_bps", m, "csum_bps", c, "dev_bps", none);
	{
		json_t *ss = json_array_get(b->samples[ROW_SERIAL], round);
		double busy = jnum(ss, "csum_busy_s");

		if (busy > 0)
			json_object_set_new(s, "csum_pipeline_bps",
					    json_real(jnum(ss, "bytes") / busy));
	}
	json_array_append_new(b->model, s);
	json_array_append_new(b->speedup, json_pack("{s:f}", "measured_async_speedup", asy / ser));
	progress(b, round);
	return 0;
}

static void teardown(struct bench *b)
{
	char path[PATH_MAX + 32];

	forward_sig = 0;
	if (b->mnt[0]) {
		snprintf(path, sizeof(path), "%s/bench.data", b->datadir);
		unlink(path);
	}
	if (b->datadir_made && rmdir(b->datadir))
		bbs_warn("bench: cannot remove %s: %s", b->datadir, strerror(errno));
	if (sandbox_down(b)) {
		/* its loop devices are backed by files in the store: keep both */
		bbs_warn("bench: %s and %s are left for that", b->store, b->work);
		return;
	}
	if (b->store_made)
		rm_tree(b->store);
	/* zram: the ext4 with the replay targets goes with the device */
	if (zram_down(b)) {
		bbs_warn("bench: %s is left", b->work);
		return;
	}
	if (b->work[0])
		rm_tree(b->work);
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option long_opts[] = {
		{ "profile", required_argument, NULL, 'p' },
		{ "csum", required_argument, NULL, 'c' },
		{ "size", required_argument, NULL, 's' },
		{ "bs", required_argument, NULL, 'b' },
		{ "pattern", required_argument, NULL, 'P' },
		{ "writeback", required_argument, NULL, 'W' },
		{ "backing", required_argument, NULL, 'B' },
		{ "backing-dir", required_argument, NULL, 'D' },
		{ "devices", required_argument, NULL, 'n' },
		{ "fs", required_argument, NULL, 'f' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "html", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	unsigned long long v;
	int c;

	while ((c = getopt_long(argc, argv, "jh", long_opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (strcmp(optarg, "single") && strcmp(optarg, "raid1") &&
			    strcmp(optarg, "raid5") && strcmp(optarg, "raid6")) {
				bbs_err("--profile %s: want single, raid1, raid5 or raid6", optarg);
				return 2;
			}
			o->profile = optarg;
			break;
		case 'c':
			if (bbs_csum_parse(optarg) < 0) {
				bbs_err("--csum %s: want crc32c, xxhash, sha256 or blake2", optarg);
				return 2;
			}
			o->csum = bbs_csum_name(bbs_csum_parse(optarg));
			break;
		case 's':
			if (bbs_parse_size(optarg, &o->size) || o->size < (1 << 20)) {
				bbs_err("--size %s: want a size of at least 1M", optarg);
				return 2;
			}
			break;
		case 'b':
			if (bbs_parse_size(optarg, &o->bs) || !o->bs || o->bs % 4096 ||
			    o->bs > (64 << 20)) {
				bbs_err("--bs %s: want a multiple of 4K, at most 64M", optarg);
				return 2;
			}
			break;
		case 'P':
			if (strcmp(optarg, "seq") && strcmp(optarg, "rand")) {
				bbs_err("--pattern %s: want seq or rand", optarg);
				return 2;
			}
			o->rand = !strcmp(optarg, "rand");
			break;
		case 'W':
			if (strcmp(optarg, "background") && strcmp(optarg, "fsync")) {
				bbs_err("--writeback %s: want background or fsync", optarg);
				return 2;
			}
			o->fsync_only = !strcmp(optarg, "fsync");
			break;
		case 'B':
			for (v = 0; v < 3 && strcmp(optarg, backing_name[v]); v++)
				;
			if (v == 3) {
				bbs_err("--backing %s: want tmpfs, zram or file", optarg);
				return 2;
			}
			o->backing = (enum backing)v;
			break;
		case 'D':
			o->backing_dir = optarg;
			break;
		case 'n':
			if (bbs_parse_uint(optarg, 16, &v) || !v) {
				bbs_err("--devices %s: want 1 to 16", optarg);
				return 2;
			}
			o->devices = (unsigned int)v;
			break;
		case 'f':
			o->fs = optarg;
			break;
		case 'r':
			if (bbs_parse_uint(optarg, MAX_ROUNDS, &v) || !v) {
				bbs_err("--rounds %s: want 1 to %d", optarg, MAX_ROUNDS);
				return 2;
			}
			o->rounds = (unsigned int)v;
			break;
		case 'j':
			break;
		case 'H':
			o->html = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		bbs_err("bench takes no arguments ('%s'); see 'bbscope bench --help'",
			argv[optind]);
		return 2;
	}
	if (o->size % o->bs) {
		bbs_err("--size must be a multiple of --bs (%llu)", (unsigned long long)o->bs);
		return 2;
	}
	if (o->fs && (o->devices || o->profile)) {
		bbs_err("--fs writes to an existing btrfs: --devices and --profile are for a "
			"sandbox");
		return 2;
	}
	if (o->backing_dir && o->backing == BACK_ZRAM) {
		bbs_err("--backing-dir is for --backing tmpfs or file");
		return 2;
	}
	return -1;
}

/* A program in PATH? */
static bool in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		size_t n = strcspn(p, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, prog);
		if (!access(buf, X_OK))
			return true;
		p += n + (p[n] == ':');
	}
	return false;
}

static int prepare(struct bench *b)
{
	const char *tmp = getenv("TMPDIR");
	char path[PATH_MAX + 16];
	ssize_t n;

	n = readlink("/proc/self/exe", b->self, sizeof(b->self) - 1);
	if (n <= 0) {
		bbs_err("bench: cannot find this binary: %s", strerror(errno));
		return -1;
	}
	b->self[n] = 0;
	if (!in_path("fio")) {
		bbs_err("bench: fio is missing (apt-get install fio, or make deps)");
		return -1;
	}
	if (b->o.html) {
		char dir[PATH_MAX], *slash;

		snprintf(dir, sizeof(dir), "%s", b->o.html);
		slash = strrchr(dir, '/');
		if (slash)
			*(slash == dir ? slash + 1 : slash) = 0;
		if (access(slash ? dir : ".", W_OK)) {
			bbs_err("bench: --html %s: cannot write in %s: %s", b->o.html,
				slash ? dir : ".", strerror(errno));
			return -1;
		}
	}
	if (!tmp || !*tmp)
		tmp = "/tmp";
	snprintf(b->work, sizeof(b->work), "%s/" RUN_PREFIX "%d.XXXXXX", tmp, (int)getpid());
	if (!mkdtemp(b->work)) {
		bbs_err("bench: cannot make a work directory in %s: %s", tmp, strerror(errno));
		b->work[0] = 0;
		return -1;
	}
	snprintf(b->out, sizeof(b->out), "%s/child.out", b->work);
	snprintf(b->err, sizeof(b->err), "%s/child.err", b->work);
	snprintf(b->trace, sizeof(b->trace), "%s/round.trace", b->work);
	/* Every child carries our pid: a run killed meanwhile waits for them to go. */
	snprintf(path, sizeof(path), "%d", (int)getpid());
	setenv(RUN_ENV, path, 1);
	/* What runs killed before left where this one makes its directories. */
	reap_parent(b, tmp);
	reap_parent(b, store_parent(b));
	reap_parent(b, b->o.fs);
	if (stop_sig)
		return -1;
	/* Our sandbox's state is ours alone: never the user's sandbox. */
	snprintf(path, sizeof(path), "%s/state", b->work);
	setenv("BBSCOPE_STATE_DIR", path, 1);
	for (int i = 0; i < NR_ROWS; i++)
		b->samples[i] = json_array();
	b->model = json_array();
	b->speedup = json_array();
	b->notes = json_array();
	return 0;
}

static int bring_up(struct bench *b)
{
	uint64_t zram_bytes;

	if (b->o.fs) {
		if (fs_describe(b, b->o.fs))
			return -1;
		if (b->o.csum && strcmp(b->o.csum, b->csum)) {
			bbs_err("bench: --fs %s has %s checksums, not %s", b->o.fs, b->csum,
				b->o.csum);
			return -1;
		}
		snprintf(b->mnt, sizeof(b->mnt), "%s", b->o.fs);
		if (run_dir_make(b, b->o.fs, b->datadir, sizeof(b->datadir), "datadir")) {
			bbs_err("bench: cannot make a directory in %s: %s", b->o.fs,
				strerror(errno));
			return -1;
		}
		b->datadir_made = true;
	} else {
		snprintf(b->profile, sizeof(b->profile), "%s", b->o.profile ?: "single");
		snprintf(b->csum, sizeof(b->csum), "%s", b->o.csum ?: "crc32c");
	}
	/* zram: the sandbox's devices, the replay target and the parity targets, sparse */
	zram_bytes = 6 * dev_size(b) + 4 * b->o.size + (256ULL << 20);
	if (store_up(b, zram_bytes))
		return -1;
	if (!b->o.fs && sandbox_up(b))
		return -1;
	if (raid56(b)) {
		b->parity = have_replay_parity(b);
		if (!b->parity)
			note(b, "this build has no 'replay parity': the parity rows are left out");
	}
	if (b->o.backing == BACK_ZRAM)
		note(b,
		     "zram backing: the sandbox's loop devices are files on an ext4 made on "
		     "zram%d for this run, and so is the replay target",
		     b->zram);
	return 0;
}

int cmd_bench(int argc, char **argv)
{
	struct bench b = { .zram = -1 };
	struct sigaction sa = { .sa_handler = on_signal };
	struct results r = { 0 };
	struct bw w = { 0 };
	char *table = NULL;
	size_t table_len = 0;
	int ret = 1;

	b.o = (struct opts){ .size = DEF_SIZE, .bs = DEF_BS, .rounds = 3 };
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j"))
			bbs_json_errors = b.o.json = true;
	ret = parse_opts(argc, argv, &b.o);
	if (ret >= 0)
		return ret;
	ret = 1;
	if (geteuid()) {
		bbs_err("bench: needs root (loop devices, mount, BPF)");
		return 1;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	if (prepare(&b) || bring_up(&b))
		goto out;
	if (bw_init(&w)) {
		bbs_err("bench: cannot allocate the memory bandwidth buffer: %s", strerror(errno));
		goto out;
	}
	fprintf(stderr, "bbscope: bench: %s %s btrfs at %s, %s backing in %s\n", b.profile, b.csum,
		b.mnt, backing_name[b.o.backing], b.store);
	if (warm_up(&b))
		goto out;
	for (unsigned int i = 0; i < b.o.rounds; i++)
		if (stop_sig || one_round(&b, &w, i))
			goto out;

	results_build(&b, &r);
	explain(&b, &r);
	{
		FILE *f = open_memstream(&table, &table_len);

		if (!f)
			goto out;
		print_table(f, &b, &r);
		fclose(f);
	}
	if (b.o.html && write_page(&b, &r, table)) {
		bbs_err("bench: cannot write %s: %s", b.o.html, strerror(errno));
		goto out;
	}
	if (b.o.json) {
		json_t *o = results_json(&b, &r);

		json_dumpf(o, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6));
		fputc('\n', stdout);
		json_decref(o);
	} else {
		fputs(table, stdout);
	}
	if (b.o.html)
		fprintf(stderr, "bbscope: bench: wrote %s\n", b.o.html);
	ret = 0;
out:
	if (stop_sig && ret) {
		bbs_err("bench: interrupted by SIG%s; tearing down", sigabbrev_np(stop_sig));
		ret = 128 + stop_sig;
	}
	teardown(&b);
	if (w.buf)
		munmap(w.buf, w.len);
	results_free(&r);
	free(table);
	for (int i = 0; i < NR_ROWS; i++) {
		json_decref(b.samples[i]);
		json_decref(b.last[i]);
	}
	json_decref(b.model);
	json_decref(b.speedup);
	json_decref(b.notes);
	json_decref(b.last_report);
	return ret;
}
