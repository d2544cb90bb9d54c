// SPDX-License-Identifier: GPL-2.0
/*
 * bbscope sandbox: a throwaway btrfs on loop devices, bbscope's default target.
 *
 *   up      sparse backing files -> loop devices -> mkfs.btrfs -> mount
 *   down    undo exactly that, as recorded in the state file
 *   status  show the state file (and check the filesystem is still mounted)
 *
 * `up` records everything it made in <state dir>/sandbox.json and `down`
 * touches nothing that is not recorded there and still provably ours: a loop
 * device is detached only while it has the device number we attached and
 * sysfs says it is backed by our file.  `up` and `down` hold an flock on the
 * state dir, so two of them never interleave.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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

#include "cli/cmd.h"
#include "host/util.h"

#define SB_DEF_STATE_DIR "/run/bbscope"
#define SB_DEF_BACKING_DIR "/var/tmp/bbscope-sandbox"
#define SB_STATE_FILE "sandbox.json"
#define SB_MAX_DEVS 16
#define SB_DEF_SIZE (1ULL << 30)
/*
 * mkfs.btrfs 6.2 refuses devices under 109M (more with dup data, which it then
 * says itself); 128M leaves some room for data.
 */
#define SB_MIN_SIZE (128ULL << 20)
/* LOOP_CTL_GET_FREE answers can be taken by others before we bind them. */
#define LOOP_TRIES 32
/* umount retries on EBUSY, 100ms apart: a finished process may linger briefly. */
#define UMOUNT_TRIES 20
#define FSID_LEN 37

/*
 * Block group profiles and the fewest devices mkfs.btrfs 6.2 accepts for each
 * (checked: raid0 takes 1, raid10 2, raid5 2, raid6 3, raid1c3 3, raid1c4
 * 4).  def_devs and meta are the defaults when the profile is the data
 * profile; an entry without them would be valid only as --metadata.
 */
static const struct profile {
	const char *name;
	unsigned int min_devs;
	unsigned int def_devs;
	const char *meta;
} profiles[] = {
	{ "single", 1, 1, "dup" },
	{ "dup", 1, 1, "dup" },
	{ "raid0", 1, 2, "raid0" },
	{ "raid1", 2, 2, "raid1" },
	{ "raid10", 2, 4, "raid10" },
	/* Metadata on raid56 has the write hole: mirror it instead. */
	{ "raid5", 2, 3, "raid1" },
	/* raid6 needs 3 devices, so its raid1c3 metadata always fits. */
	{ "raid6", 3, 4, "raid1c3" },
	{ "raid1c3", 3, 3, "raid1c3" },
	{ "raid1c4", 4, 4, "raid1c4" },
};

static const char *const csums[] = { "crc32c", "xxhash", "sha256", "blake2" };

/* mount(8)'s generic options are mount(2) flags; btrfs would reject them as data. */
static const struct mnt_flag {
	const char *name;
	unsigned long flag;
} mnt_flags[] = {
	{ "ro", MS_RDONLY },
	{ "noatime", MS_NOATIME },
	{ "nodiratime", MS_NODIRATIME },
	{ "relatime", MS_RELATIME },
	{ "strictatime", MS_STRICTATIME },
	{ "lazytime", MS_LAZYTIME },
	{ "nodev", MS_NODEV },
	{ "nosuid", MS_NOSUID },
	{ "noexec", MS_NOEXEC },
	{ "sync", MS_SYNCHRONOUS },
	{ "dirsync", MS_DIRSYNC },
};

struct up_opts {
	const struct profile *data, *meta;
	unsigned int ndevs;
	uint64_t size;
	const char *csum;
	const char *backing_dir;
	unsigned long mnt_flags;
	char mnt_data[1024]; /* --mount-opts without the flags above */
};

/* One loop device of the sandbox, as attached. */
struct sb_member {
	char dev[32]; /* /dev/loopN */
	char backing[PATH_MAX]; /* canonical path: what sysfs shows */
	unsigned int major, minor;
};

/* What `up` made; the state file holds exactly this. */
struct sb_state {
	char mnt[PATH_MAX];
	char backing_dir[PATH_MAX];
	bool backing_dir_created;
	char fsid[FSID_LEN];
	char profile[16], metadata[16], csum[16];
	uint64_t size;
	unsigned int ndevs;
	struct sb_member devs[SB_MAX_DEVS];
};

static volatile sig_atomic_t interrupted;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bbscope sandbox up [OPTIONS]\n"
		"       bbscope sandbox down [--json]\n"
		"       bbscope sandbox status [--json]\n"
		"\n"
		"Make or remove a throwaway btrfs on loop devices backed by sparse files.\n"
		"'up' prints the mount point, 'down' removes exactly what 'up' made.  The state\n"
		"is kept in $BBSCOPE_STATE_DIR (default " SB_DEF_STATE_DIR ").\n"
		"\n"
		"up options:\n"
		"  --profile P       data profile: single dup raid0 raid1 raid1c3 raid1c4 raid10\n"
		"                    raid5 raid6 (default single)\n"
		"  --devices N       loop devices, at most %d (default by profile: single/dup 1,\n"
		"                    raid0/raid1 2, raid1c3/raid5 3, raid1c4/raid6/raid10 4)\n"
		"  --size SIZE       size of each device, at least 128M (default 1G)\n"
		"  --csum C          crc32c xxhash sha256 blake2 (default crc32c)\n"
		"  --metadata P      metadata profile (default: as data, but single->dup,\n"
		"                    raid5->raid1, raid6->raid1c3)\n"
		"  --mount-opts O    extra mount options, e.g. noatime,compress=zstd\n"
		"  --backing-dir D   where devN.img go (default " SB_DEF_BACKING_DIR ")\n"
		"  --json            print a JSON object (errors too)\n"
		"\n"
		"Exit status: 0 done, 1 failed (or, for status, no sandbox is up), 2 bad usage.\n",
		SB_MAX_DEVS);
}

static const struct profile *profile_find(const char *name, bool data_only)
{
	for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
		if (!strcmp(name, profiles[i].name) && (!data_only || profiles[i].def_devs))
			return &profiles[i];
	return NULL;
}

static const char *csum_find(const char *name)
{
	for (size_t i = 0; i < sizeof(csums) / sizeof(csums[0]); i++)
		if (!strcmp(name, csums[i]))
			return csums[i];
	return NULL;
}

/* Split --mount-opts into mount(2) flags and the data string btrfs parses. */
static int parse_mount_opts(const char *s, struct up_opts *o)
{
	char *copy = strdup(s), *save, *tok;
	size_t used = 0;
	int ret = 0;

	if (!copy)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t i, n = sizeof(mnt_flags) / sizeof(mnt_flags[0]);
		int len;

		for (i = 0; i < n && strcmp(tok, mnt_flags[i].name); i++)
			;
		if (i < n) {
			o->mnt_flags |= mnt_flags[i].flag;
			continue;
		}
		len = snprintf(o->mnt_data + used, sizeof(o->mnt_data) - used, "%s%s",
			       used ? "," : "", tok);
		if (len < 0 || (size_t)len >= sizeof(o->mnt_data) - used) {
			ret = -1;
			break;
		}
		used += len;
	}
	free(copy);
	return ret;
}

static void on_signal(int sig)
{
	interrupted = sig;
}

/* Let SIGINT/SIGTERM/SIGHUP during `up` unwind instead of leaving debris. */
static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static bool stop_requested(void)
{
	if (!interrupted)
		return false;
	bbs_err("interrupted by SIG%s, undoing what was done", sigabbrev_np(interrupted));
	return true;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int copy_str(char *dst, size_t len, const char *src)
{
	return snprintf(dst, len, "%s", src) >= (int)len ? -1 : 0;
}

/* $BBSCOPE_STATE_DIR and the state file in it (PATH_MAX each). */
static int state_paths(char *dir, char *file)
{
	const char *env = getenv("BBSCOPE_STATE_DIR");

	snprintf(dir, PATH_MAX, "%s", env && *env ? env : SB_DEF_STATE_DIR);
	if (snprintf(file, PATH_MAX, "%s/" SB_STATE_FILE, dir) >= PATH_MAX) {
		bbs_err("state dir %s: %s", dir, strerror(ENAMETOOLONG));
		return -1;
	}
	return 0;
}

/*
 * Open and flock the state dir (making it first if asked).  Returns the fd,
 * -1 after an error message, or -2 when the dir does not exist and create
 * is false.
 */
static int state_lock(const char *dir, bool create)
{
	int fd;

	if (create && mkdir(dir, 0755) && errno != EEXIST) {
		bbs_err("cannot create state dir %s: %s", dir, strerror(errno));
		return -1;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT && !create)
			return -2;
		bbs_err("cannot open state dir %s: %s", dir, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		if (errno == EWOULDBLOCK)
			bbs_err("another 'bbscope sandbox' is running (it holds %s)", dir);
		else
			bbs_err("cannot lock state dir %s: %s", dir, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * The sandbox as JSON.  The state file adds what `down` needs to check
 * before it touches anything (members) and whether the backing dir is ours.
 */
static json_t *state_json(const struct sb_state *st, bool for_state_file)
{
	json_t *o, *devs = json_array(), *members;

	for (unsigned int i = 0; i < st->ndevs; i++)
		json_array_append_new(devs, json_string(st->devs[i].dev));
	o = json_pack("{s:s, s:o, s:s, s:s, s:s, s:s, s:I, s:s}", "mountpoint", st->mnt, "devices",
		      devs, "fsid", st->fsid, "profile", st->profile, "metadata_profile",
		      st->metadata, "csum", st->csum, "size_bytes", (json_int_t)st->size,
		      "backing_dir", st->backing_dir);
	if (!o || !for_state_file)
		return o;
	members = json_array();
	for (unsigned int i = 0; i < st->ndevs; i++) {
		const struct sb_member *m = &st->devs[i];

		json_array_append_new(members, json_pack("{s:s, s:s, s:i, s:i}", "device", m->dev,
							 "backing_file", m->backing, "major",
							 m->major, "minor", m->minor));
	}
	json_object_set_new(o, "members", members);
	json_object_set_new(o, "backing_dir_created", json_boolean(st->backing_dir_created));
	return o;
}

static int state_write(const char *file, const struct sb_state *st)
{
	json_t *o = state_json(st, true);
	char *text = o ? json_dumps(o, JSON_INDENT(2)) : NULL, *line = NULL;
	int ret = -1;

	if (!text || asprintf(&line, "%s\n", text) < 0) {
		line = NULL;
		bbs_err("cannot write %s: %s", file, strerror(ENOMEM));
	} else if (bbs_write_file_atomic(file, line, strlen(line))) {
		bbs_err("cannot write %s: %s", file, strerror(errno));
	} else {
		ret = 0;
	}
	free(line);
	free(text);
	json_decref(o);
	return ret;
}

static int member_from_json(json_t *j, struct sb_member *m)
{
	const char *dev, *backing;
	int ma, mi;

	if (json_unpack(j, "{s:s, s:s, s:i, s:i}", "device", &dev, "backing_file", &backing,
			"major", &ma, "minor", &mi) ||
	    ma < 0 || mi < 0 || strncmp(dev, "/dev/loop", 9) ||
	    copy_str(m->dev, sizeof(m->dev), dev) ||
	    copy_str(m->backing, sizeof(m->backing), backing))
		return -1;
	m->major = ma;
	m->minor = mi;
	return 0;
}

/* 0 with st filled, 1 when there is no state file, -1 after an error message. */
static int state_read(const char *file, struct sb_state *st)
{
	const char *mnt, *fsid, *profile, *meta, *csum, *bdir;
	json_t *o, *members;
	json_error_t jerr;
	json_int_t size;
	int created, ret = -1;
	size_t i;

	if (access(file, F_OK) && errno == ENOENT)
		return 1;
	o = json_load_file(file, 0, &jerr);
	if (!o) {
		bbs_err("cannot read %s: %s", file, jerr.text);
		return -1;
	}
	memset(st, 0, sizeof(*st));
	if (json_unpack(o, "{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:b, s:o}", "mountpoint", &mnt,
			"fsid", &fsid, "profile", &profile, "metadata_profile", &meta, "csum",
			&csum, "size_bytes", &size, "backing_dir", &bdir, "backing_dir_created",
			&created, "members", &members) ||
	    !json_is_array(members) || json_array_size(members) < 1 ||
	    json_array_size(members) > SB_MAX_DEVS || copy_str(st->mnt, sizeof(st->mnt), mnt) ||
	    copy_str(st->fsid, sizeof(st->fsid), fsid) ||
	    copy_str(st->profile, sizeof(st->profile), profile) ||
	    copy_str(st->metadata, sizeof(st->metadata), meta) ||
	    copy_str(st->csum, sizeof(st->csum), csum) ||
	    copy_str(st->backing_dir, sizeof(st->backing_dir), bdir))
		goto bad;
	st->size = size;
	st->backing_dir_created = created;
	st->ndevs = json_array_size(members);
	for (i = 0; i < st->ndevs; i++)
		if (member_from_json(json_array_get(members, i), &st->devs[i]))
			goto bad;
	ret = 0;
	goto out;
bad:
	bbs_err("%s is not a sandbox state file (remove it and clean up by hand)", file);
out:
	json_decref(o);
	return ret;
}

static void fsid_str(const __u8 *u, char *out)
{
	for (int i = 0; i < 16; i++)
		out += sprintf(out, "%02x%s", u[i],
			       (i == 3 || i == 5 || i == 7 || i == 9) ? "-" : "");
}

static int read_fsid(const char *mnt, char *fsid)
{
	struct btrfs_ioctl_fs_info_args args = { 0 };
	int fd, ret;

	fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ret = ioctl(fd, BTRFS_IOC_FS_INFO, &args);
	close(fd);
	if (ret)
		return -1;
	fsid_str(args.fsid, fsid);
	return 0;
}

/*
 * Is the sandbox mounted at st->mnt?  1 yes, 0 nothing is mounted there, -1
 * something else is (message given).  A mount point has another st_dev than
 * its parent; the fsid tells our btrfs from anything mounted over it.
 */
static int sandbox_mounted(const struct sb_state *st)
{
	char parent[PATH_MAX], fsid[FSID_LEN];
	struct stat mst, pst;

	snprintf(parent, sizeof(parent), "%s", st->mnt);
	if (stat(st->mnt, &mst) || stat(dirname(parent), &pst) || mst.st_dev == pst.st_dev)
		return 0;
	if (read_fsid(st->mnt, fsid) || strcmp(fsid, st->fsid)) {
		bbs_err("%s holds another filesystem than the sandbox (fsid %s); unmount it first",
			st->mnt, st->fsid);
		return -1;
	}
	return 1;
}

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
 * m (whose backing path is already set).  No autoclear: the device stays
 * bound after we close it, until `down` clears it.
 */
static int loop_attach(int ctl, int fd, struct sb_member *m)
{
	struct loop_config cfg = { .fd = fd };
	size_t len = strlen(m->backing);
	struct stat st = { 0 };
	int n, lfd, err = EBUSY;

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
			return -1;
		}
		/* EBUSY: another process bound it since GET_FREE; ask again. */
		err = loop_configure(lfd, &cfg);
		if (!err && fstat(lfd, &st)) {
			err = errno;
			ioctl(lfd, LOOP_CLR_FD);
		}
		close(lfd);
	}
	if (err) {
		bbs_err("cannot attach %s to %s: %s", m->backing, m->dev, strerror(err));
		return -1;
	}
	m->major = major(st.st_rdev);
	m->minor = minor(st.st_rdev);
	return 0;
}

/* Detach a loop device `up` attached a moment ago (unwinding). */
static void loop_detach_new(const struct sb_member *m)
{
	int lfd = open(m->dev, O_RDWR | O_CLOEXEC);

	if (lfd < 0 || ioctl(lfd, LOOP_CLR_FD))
		bbs_warn("cannot detach %s: %s", m->dev, strerror(errno));
	if (lfd >= 0)
		close(lfd);
}

/*
 * Make the kernel forget the btrfs it registered for dev (mkfs.btrfs and
 * mount scan it), as `btrfs device scan --forget DEV` does: otherwise a later
 * mount could find a stale member under a reused loop number.  Best effort.
 * The name must not be empty: an empty name forgets every unmounted device.
 */
static void btrfs_forget(const char *dev)
{
	struct btrfs_ioctl_vol_args args = { 0 };
	int fd;

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

/* First line of a sysfs attribute, without the newline.  -1 with errno. */
static int read_sysfs(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");

	if (!f)
		return -1;
	if (!fgets(buf, len, f)) {
		fclose(f);
		errno = EIO;
		return -1;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

/*
 * Is the loop device numbered like m bound to m's backing file?  cur gets
 * what it is bound to ("" when it is not bound).
 */
static bool loop_backed_by(const struct sb_member *m, char *cur, size_t len)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/loop/backing_file", m->major, m->minor);
	if (read_sysfs(path, cur, len))
		cur[0] = 0;
	return !strcmp(cur, m->backing);
}

/*
 * Detach one member for `down`, but only if it is still ours.  We open it
 * first: while we hold it open nobody can rebind it (a LOOP_CLR_FD from
 * anyone else only takes effect at the last close), so what we check is
 * what we detach.  0 when done or left alone (with a warning), -1 when it
 * is ours and could not be detached (its backing file must stay).
 */
static int loop_release(const struct sb_member *m)
{
	char cur[PATH_MAX];
	struct stat st;
	int lfd;

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
		else
			bbs_warn("%s is not attached any more; nothing to detach", m->dev);
		goto out;
	}
	btrfs_forget(m->dev);
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
	return 0;
}

/* The last non-empty line of text that starts with prefix, without the prefix. */
static bool last_line(const char *text, const char *prefix, char *line, size_t len)
{
	size_t plen = strlen(prefix);
	const char *p, *end;
	bool found = false;

	for (p = text; *p; p = *end ? end + 1 : end) {
		end = p + strcspn(p, "\n");
		if (end == p || strncmp(p, prefix, plen))
			continue;
		snprintf(line, len, "%.*s", (int)(end - p - plen), p + plen);
		found = true;
	}
	return found;
}

static int run_mkfs(const struct up_opts *o, const struct sb_state *st)
{
	static char out[16384], err[16384];
	char *argv[11 + SB_MAX_DEVS], line[512];
	int n = 0, rc;

	argv[n++] = "mkfs.btrfs";
	/* -f is safe: the devices are files we just created, there is nothing to lose. */
	argv[n++] = "-f";
	argv[n++] = "-L";
	argv[n++] = "bbscope-sandbox";
	argv[n++] = "--csum";
	argv[n++] = (char *)o->csum;
	argv[n++] = "-d";
	argv[n++] = (char *)o->data->name;
	argv[n++] = "-m";
	argv[n++] = (char *)o->meta->name;
	for (unsigned int i = 0; i < st->ndevs; i++)
		argv[n++] = (char *)st->devs[i].dev;
	argv[n] = NULL;
	rc = bbs_run(argv, out, sizeof(out), err, sizeof(err));
	if (rc < 0) {
		bbs_err("cannot run mkfs.btrfs: %s (install btrfs-progs)", strerror(errno));
		return -1;
	}
	/* Interrupted: mkfs got the terminal's SIGINT too; say that, not its exit. */
	if (rc && !stop_requested()) {
		/* Its last ERROR line says why; mkfs also prints ERRORs it survives. */
		if (!last_line(err, "ERROR: ", line, sizeof(line)) &&
		    !last_line(out, "ERROR: ", line, sizeof(line)) &&
		    !last_line(err, "", line, sizeof(line)) &&
		    !last_line(out, "", line, sizeof(line)))
			snprintf(line, sizeof(line), "no message");
		bbs_err("mkfs.btrfs failed (exit %d): %s", rc, line);
	}
	return rc ? -1 : 0;
}

static int do_mount(const struct up_opts *o, const struct sb_state *st)
{
	char data[sizeof(o->mnt_data) + SB_MAX_DEVS * 32];
	size_t used = 0;

	/* device= for every member: the kernel may not have scanned them all. */
	for (unsigned int i = 0; i < st->ndevs; i++)
		used += snprintf(data + used, sizeof(data) - used, "%sdevice=%s", i ? "," : "",
				 st->devs[i].dev);
	if (o->mnt_data[0])
		snprintf(data + used, sizeof(data) - used, ",%s", o->mnt_data);
	if (mount(st->devs[0].dev, st->mnt, "btrfs", o->mnt_flags, data)) {
		int err = errno;

		bbs_err("cannot mount %s on %s: %s%s", st->devs[0].dev, st->mnt, strerror(err),
			err == EINVAL ? " (check --mount-opts; the kernel log says more)" : "");
		return -1;
	}
	return 0;
}

/* Backing dir: use it if it exists, else make it (and remember to remove it). */
static int backing_dir_open(const char *dir, struct sb_state *st)
{
	struct stat sb;
	int err = 0;

	if (!mkdir(dir, 0700)) {
		st->backing_dir_created = true;
	} else if (errno != EEXIST) {
		bbs_err("cannot create backing dir %s: %s", dir, strerror(errno));
		return -1;
	}
	/* Canonical, so that it compares equal to sysfs's backing_file later. */
	if (!realpath(dir, st->backing_dir) || stat(st->backing_dir, &sb))
		err = errno;
	else if (!S_ISDIR(sb.st_mode))
		err = ENOTDIR;
	if (err) {
		bbs_err("cannot use backing dir %s: %s", dir, strerror(err));
		if (st->backing_dir_created)
			rmdir(dir);
		return -1;
	}
	return 0;
}

/* Create devN.img sparse, refusing to reuse a file that is already there. */
static int backing_create(struct sb_state *st, unsigned int i)
{
	struct sb_member *m = &st->devs[i];
	int fd;

	if (snprintf(m->backing, sizeof(m->backing), "%s/dev%u.img", st->backing_dir, i) >=
	    (int)sizeof(m->backing)) {
		bbs_err("backing dir path %s is too long", st->backing_dir);
		return -1;
	}
	fd = open(m->backing, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			bbs_err("%s exists (left from an earlier sandbox? remove it)", m->backing);
		else
			bbs_err("cannot create %s: %s", m->backing, strerror(errno));
		return -1;
	}
	if (ftruncate(fd, st->size)) {
		bbs_err("cannot size %s to %llu bytes: %s", m->backing,
			(unsigned long long)st->size, strerror(errno));
		close(fd);
		unlink(m->backing);
		return -1;
	}
	return fd;
}

static void print_state(const struct sb_state *st, bool json)
{
	json_t *o;

	if (!json) {
		/* The JSON keys as labels: one name for one thing. */
		printf("%-17s %s\n", "mountpoint", st->mnt);
		printf("%-17s %s\n", "fsid", st->fsid);
		printf("%-17s %s\n", "profile", st->profile);
		printf("%-17s %s\n", "metadata_profile", st->metadata);
		printf("%-17s %s\n", "csum", st->csum);
		printf("%-17s %llu\n", "size_bytes", (unsigned long long)st->size);
		printf("%-17s %s\n", "backing_dir", st->backing_dir);
		printf("%-17s", "devices");
		for (unsigned int i = 0; i < st->ndevs; i++)
			printf(" %s", st->devs[i].dev);
		putchar('\n');
		return;
	}
	o = state_json(st, false);
	json_dumpf(o, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(o);
}

static int need_root(void)
{
	if (geteuid() == 0)
		return 0;
	bbs_err("sandbox needs root (loop devices, mkfs and mount)");
	return -1;
}

static int sandbox_up(const struct up_opts *o, bool json)
{
	char dir[PATH_MAX], file[PATH_MAX];
	int lock, ctl, fds[SB_MAX_DEVS];
	unsigned int made = 0, attached = 0, i;
	struct sb_state st = { 0 };
	int ret = 1;

	if (state_paths(dir, file))
		return 1;
	lock = state_lock(dir, true);
	if (lock < 0)
		return 1;
	if (!access(file, F_OK)) {
		bbs_err("a sandbox is already up (see 'bbscope sandbox status')");
		goto out_unlock;
	}
	if (!realpath(dir, st.mnt) || strlen(st.mnt) + 5 > sizeof(st.mnt)) {
		bbs_err("cannot use state dir %s: %s", dir, strerror(errno ? errno : ENAMETOOLONG));
		goto out_unlock;
	}
	strcat(st.mnt, "/mnt");
	snprintf(st.profile, sizeof(st.profile), "%s", o->data->name);
	snprintf(st.metadata, sizeof(st.metadata), "%s", o->meta->name);
	snprintf(st.csum, sizeof(st.csum), "%s", o->csum);
	st.size = o->size;
	st.ndevs = o->ndevs;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		bbs_err("cannot open /dev/loop-control: %s (is the loop driver loaded?)",
			strerror(errno));
		goto out_unlock;
	}
	catch_signals();
	if (backing_dir_open(o->backing_dir, &st))
		goto out_ctl;
	for (made = 0; made < st.ndevs; made++) {
		fds[made] = backing_create(&st, made);
		if (fds[made] < 0)
			goto undo_files;
	}
	if (stop_requested())
		goto undo_files;
	for (attached = 0; attached < st.ndevs; attached++)
		if (loop_attach(ctl, fds[attached], &st.devs[attached]))
			goto undo_loops;
	if (stop_requested())
		goto undo_loops;
	/* mkfs may have registered some devices with btrfs even when it fails. */
	if (run_mkfs(o, &st) || stop_requested())
		goto undo_mkfs;
	if (mkdir(st.mnt, 0755)) {
		int err = errno;

		bbs_err("cannot create mount point %s: %s%s", st.mnt, strerror(err),
			err == EEXIST ? " (left from an earlier sandbox? remove it)" : "");
		goto undo_mkfs;
	}
	if (do_mount(o, &st))
		goto undo_mkdir;
	if (read_fsid(st.mnt, st.fsid)) {
		bbs_err("cannot read the fsid of %s: %s", st.mnt, strerror(errno));
		goto undo_mount;
	}
	if (state_write(file, &st))
		goto undo_mount;
	if (stop_requested())
		goto undo_state;

	if (json)
		print_state(&st, true);
	else
		printf("%s\n", st.mnt);
	ret = 0;
	goto out_files;

undo_state:
	unlink(file);
undo_mount:
	/*
	 * Only a process that wandered in since the mount can make this fail:
	 * detach it lazily then, so that no mount is left behind.  Its loop
	 * devices go when it is finally released (LOOP_CLR_FD below defers).
	 */
	if (umount2(st.mnt, UMOUNT_NOFOLLOW)) {
		bbs_warn("cannot unmount %s: %s; detaching it lazily", st.mnt, strerror(errno));
		umount2(st.mnt, UMOUNT_NOFOLLOW | MNT_DETACH);
	}
undo_mkdir:
	rmdir(st.mnt);
undo_mkfs:
	for (i = 0; i < st.ndevs; i++)
		btrfs_forget(st.devs[i].dev);
undo_loops:
	while (attached--)
		loop_detach_new(&st.devs[attached]);
undo_files:
	for (i = 0; i < made; i++)
		unlink(st.devs[i].backing);
	if (st.backing_dir_created)
		rmdir(st.backing_dir);
out_files:
	/* The loop devices hold their own references to the files. */
	for (i = 0; i < made; i++)
		close(fds[i]);
out_ctl:
	close(ctl);
out_unlock:
	close(lock);
	return ret;
}

static int sandbox_down(bool json)
{
	char dir[PATH_MAX], file[PATH_MAX];
	struct sb_state st;
	bool kept = false;
	int lock, r, ret = 1;
	unsigned int i;

	if (state_paths(dir, file))
		return 1;
	lock = state_lock(dir, false);
	if (lock == -2) {
		bbs_err("no sandbox is up");
		return 1;
	}
	if (lock < 0)
		return 1;
	r = state_read(file, &st);
	if (r) {
		if (r > 0)
			bbs_err("no sandbox is up");
		goto out;
	}

	/* The state stays until the unmount worked, so down can be retried. */
	r = sandbox_mounted(&st);
	if (r < 0)
		goto out;
	if (r == 0) {
		bbs_warn("%s was not mounted; removing the rest", st.mnt);
	} else {
		for (i = 0; umount2(st.mnt, UMOUNT_NOFOLLOW); i++) {
			int err = errno;

			if (err != EBUSY || i == UMOUNT_TRIES) {
				bbs_err("cannot unmount %s: %s%s", st.mnt, strerror(err),
					err == EBUSY ? " (a process is using it)" : "");
				goto out;
			}
			sleep_ms(100);
		}
	}

	for (i = 0; i < st.ndevs; i++) {
		/* A device we could not detach keeps its file, and the state its record. */
		if (loop_release(&st.devs[i])) {
			kept = true;
			continue;
		}
		if (unlink(st.devs[i].backing) && errno != ENOENT)
			bbs_warn("cannot remove %s: %s", st.devs[i].backing, strerror(errno));
	}
	if (kept) {
		bbs_err("some loop devices are still attached; run 'bbscope sandbox down' again");
		goto out;
	}
	if (rmdir(st.mnt) && errno != ENOENT)
		bbs_warn("cannot remove %s: %s", st.mnt, strerror(errno));
	if (st.backing_dir_created && rmdir(st.backing_dir) && errno != ENOENT)
		bbs_warn("cannot remove %s: %s", st.backing_dir, strerror(errno));
	if (unlink(file)) {
		bbs_err("cannot remove %s: %s", file, strerror(errno));
		goto out;
	}
	if (json)
		print_state(&st, true);
	ret = 0;
out:
	close(lock);
	return ret;
}

static int sandbox_status(bool json)
{
	char dir[PATH_MAX], file[PATH_MAX];
	struct sb_state st;
	int r;

	if (state_paths(dir, file))
		return 1;
	r = state_read(file, &st);
	if (r > 0)
		bbs_err("no sandbox is up");
	if (r)
		return 1;
	r = sandbox_mounted(&st);
	if (r == 0)
		bbs_err("sandbox is not mounted at %s any more (run 'bbscope sandbox down')",
			st.mnt);
	if (r <= 0)
		return 1;
	print_state(&st, json);
	return 0;
}

/* Options of `up`; returns 0, or the exit status after a message. */
static int parse_up(int argc, char **argv, struct up_opts *o, bool *json)
{
	static const struct option opts[] = {
		{ "profile", required_argument, NULL, 'p' },
		{ "devices", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 's' },
		{ "csum", required_argument, NULL, 'c' },
		{ "mount-opts", required_argument, NULL, 'o' },
		{ "metadata", required_argument, NULL, 'm' },
		{ "backing-dir", required_argument, NULL, 'b' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *meta = NULL, *mount_opts = NULL;
	unsigned long long n = 0;
	int c;

	o->data = profile_find("single", true);
	o->size = SB_DEF_SIZE;
	o->csum = "crc32c";
	o->backing_dir = SB_DEF_BACKING_DIR;
	/* --json anywhere on the line makes every error JSON, even an earlier one. */
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--json"))
			*json = bbs_json_errors = true;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			o->data = profile_find(optarg, true);
			if (!o->data) {
				bbs_err("bad --profile '%s': single, dup, raid0, raid1, raid1c3, "
					"raid1c4, raid10, raid5 or raid6",
					optarg);
				return 2;
			}
			break;
		case 'n':
			if (bbs_parse_uint(optarg, SB_MAX_DEVS, &n) || !n) {
				bbs_err("bad --devices '%s': a number from 1 to %d", optarg,
					SB_MAX_DEVS);
				return 2;
			}
			break;
		case 's':
			if (bbs_parse_size(optarg, &o->size)) {
				bbs_err("bad --size '%s': a size like 512M or 2G", optarg);
				return 2;
			}
			if (o->size < SB_MIN_SIZE) {
				bbs_err("--size %s is too small: btrfs needs at least 128M per "
					"device",
					optarg);
				return 2;
			}
			break;
		case 'c':
			o->csum = csum_find(optarg);
			if (!o->csum) {
				bbs_err("bad --csum '%s': crc32c, xxhash, sha256 or blake2",
					optarg);
				return 2;
			}
			break;
		case 'o':
			mount_opts = optarg;
			break;
		case 'm':
			meta = optarg;
			break;
		case 'b':
			if (!*optarg) {
				bbs_err("bad --backing-dir '': give a directory");
				return 2;
			}
			o->backing_dir = optarg;
			break;
		case 'j':
			break;
		case 'h':
			usage(stdout);
			return -1;
		case ':':
			bbs_err("sandbox up: %s needs a value (see 'bbscope sandbox --help')",
				argv[optind - 1]);
			return 2;
		default:
			bbs_err("sandbox up: unknown option '%s' (see 'bbscope sandbox --help')",
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		bbs_err("sandbox up: unexpected argument '%s'", argv[optind]);
		return 2;
	}
	o->ndevs = n ? n : o->data->def_devs;
	if (o->ndevs < o->data->min_devs) {
		bbs_err("--devices %u is too few for --profile %s: it needs at least %u", o->ndevs,
			o->data->name, o->data->min_devs);
		return 2;
	}
	o->meta = profile_find(meta ? meta : o->data->meta, false);
	if (!o->meta) {
		bbs_err("bad --metadata '%s': single, dup, raid0, raid1, raid1c3, raid1c4, raid10, "
			"raid5 or raid6",
			meta);
		return 2;
	}
	if (o->ndevs < o->meta->min_devs) {
		bbs_err("--metadata %s needs at least %u devices, not %u", o->meta->name,
			o->meta->min_devs, o->ndevs);
		return 2;
	}
	if (mount_opts && parse_mount_opts(mount_opts, o)) {
		bbs_err("bad --mount-opts: longer than %zu bytes", sizeof(o->mnt_data) - 1);
		return 2;
	}
	return 0;
}

/* Options of `down` and `status`: only --json. */
static int parse_json_only(int argc, char **argv, bool *json)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int c;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--json"))
			*json = bbs_json_errors = true;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			bbs_err("sandbox %s: unknown option '%s' (see 'bbscope sandbox --help')",
				argv[0], argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		bbs_err("sandbox %s: unexpected argument '%s'", argv[0], argv[optind]);
		return 2;
	}
	return 0;
}

static int do_up(int argc, char **argv)
{
	struct up_opts o = { 0 };
	bool json = false;
	int r = parse_up(argc, argv, &o, &json);

	if (r)
		return r < 0 ? 0 : r;
	if (need_root())
		return 1;
	return sandbox_up(&o, json);
}

static int do_down(int argc, char **argv)
{
	bool json = false;
	int r = parse_json_only(argc, argv, &json);

	if (r)
		return r < 0 ? 0 : r;
	if (need_root())
		return 1;
	return sandbox_down(json);
}

static int do_status(int argc, char **argv)
{
	bool json = false;
	int r = parse_json_only(argc, argv, &json);

	if (r)
		return r < 0 ? 0 : r;
	return sandbox_status(json);
}

int cmd_sandbox(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} subs[] = {
		{ "up", do_up },
		{ "down", do_down },
		{ "status", do_status },
	};
	size_t n;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	/* A prefix will do, as for the commands; no two subcommands share one. */
	n = strlen(argv[1]);
	for (size_t i = 0; n && i < sizeof(subs) / sizeof(subs[0]); i++)
		if (!strncmp(argv[1], subs[i].name, n))
			return subs[i].fn(argc - 1, argv + 1);
	bbs_err("sandbox: unknown subcommand '%s' (up, down or status)", argv[1]);
	return 2;
}
