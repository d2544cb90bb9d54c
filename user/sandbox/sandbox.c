// SPDX-License-Identifier: GPL-2.0
/*
 * The sandbox mechanism (sandbox/sandbox.h): sparse backing files, loop
 * devices (sandbox/loop.c), mkfs.btrfs, mount, the state file, and undoing
 * each.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

#include "host/jsonstr.h"
#include "sandbox/internal.h"
#include "host/sys.h"
#include "host/util.h"

#define SB_STATE_FILE "sandbox.json"

/*
 * The fewest devices mkfs.btrfs 6.2 accepts (checked: raid0 takes 1,
 * raid10 2, raid5 2, raid6 3, raid1c3 3, raid1c4 4).
 */
static const struct bbs_sb_profile profiles[] = {
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

static volatile sig_atomic_t interrupted;

const struct bbs_sb_profile *bbs_sb_profile(const char *name, bool data_only)
{
	for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
		if (!strcmp(name, profiles[i].name) && (!data_only || profiles[i].def_devs))
			return &profiles[i];
	return NULL;
}

int bbs_sb_mount_opts(const char *s, struct bbs_sb_opts *o)
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

static int copy_str(char *dst, size_t len, const char *src)
{
	return snprintf(dst, len, "%s", src) >= (int)len ? -1 : 0;
}

/* $BBSCOPE_STATE_DIR and the state file in it (PATH_MAX each). */
static int state_paths(char *dir, char *file)
{
	const char *env = getenv("BBSCOPE_STATE_DIR");

	snprintf(dir, PATH_MAX, "%s", env && *env ? env : BBS_SB_DEF_STATE_DIR);
	if (snprintf(file, PATH_MAX, "%s/" SB_STATE_FILE, dir) >= PATH_MAX) {
		bbs_err("state dir %s: %s", dir, strerror(ENAMETOOLONG));
		return -1;
	}
	return 0;
}

/*
 * Open and flock the state dir (making it first if asked; *made says
 * whether it did).  Returns the fd, -1 after an error message, or -2 when
 * the dir does not exist and create is false.
 */
static int state_lock(const char *dir, bool create, bool *made)
{
	int fd;

	if (made)
		*made = create && !mkdir(dir, 0755);
	if (create && !*made && errno != EEXIST) {
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
		if (made && *made)
			rmdir(dir);
		return -1;
	}
	return fd;
}

/*
 * The sandbox as JSON.  The state file adds what `down` needs to check
 * before it touches anything (members) and whether the backing dir is ours.
 */
static json_t *member_json(const struct bbs_sb_member *m)
{
	json_t *o = json_pack("{s:s, s:i, s:i}", "device", m->dev, "major", m->major, "minor",
			      m->minor);

	if (o && bbs_json_set_str(o, "backing_file", m->backing)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Paths keep their bytes (host/jsonstr.h): a state file is read back exactly. */
static json_t *state_json(const struct bbs_sandbox *st, bool for_state_file)
{
	json_t *o, *devs = json_array(), *members;
	int err = 0;

	for (unsigned int i = 0; i < st->ndevs && st->devs[i].dev[0]; i++)
		json_array_append_new(devs, json_string(st->devs[i].dev));
	o = json_pack("{s:o, s:s, s:s, s:s, s:s, s:I}", "devices", devs, "fsid", st->fsid,
		      "profile", st->profile, "metadata_profile", st->metadata, "algo", st->algo,
		      "size_bytes", (json_int_t)st->size);
	if (!o || bbs_json_set_str(o, "mountpoint", st->mnt) ||
	    bbs_json_set_str(o, "backing_dir", st->backing_dir))
		goto err;
	if (!for_state_file)
		return o;
	members = json_array();
	for (unsigned int i = 0; i < st->ndevs; i++)
		err |= json_array_append_new(members, member_json(&st->devs[i]));
	err |= json_object_set_new(o, "members", members);
	err |= json_object_set_new(o, "backing_dir_created", json_boolean(st->backing_dir_created));
	err |= json_object_set_new(o, "complete", json_boolean(st->complete));
	if (!err)
		return o;
err:
	json_decref(o);
	return NULL;
}

static int state_write(const char *file, const struct bbs_sandbox *st)
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

/* A member; its device is "" when `up` stopped before attaching it. */
static int member_from_json(json_t *j, struct bbs_sb_member *m)
{
	const char *dev;
	int ma, mi;

	if (json_unpack(j, "{s:s, s:i, s:i}", "device", &dev, "major", &ma, "minor", &mi) ||
	    ma < 0 || mi < 0 || (dev[0] && strncmp(dev, "/dev/loop", 9)) ||
	    copy_str(m->dev, sizeof(m->dev), dev) ||
	    bbs_json_get_str(j, "backing_file", m->backing, sizeof(m->backing)))
		return -1;
	m->major = ma;
	m->minor = mi;
	return 0;
}

/* A state file's algorithm: "algo", or "csum" as schema version 1 named it. */
static const char *state_algo(json_t *o)
{
	json_t *v = json_object_get(o, "algo");

	return json_string_value(v ? v : json_object_get(o, "csum"));
}

/* 0 with st filled, 1 when there is no state file, -1 after an error message. */
static int state_read(const char *file, struct bbs_sandbox *st)
{
	const char *fsid, *profile, *meta, *algo;
	json_t *o, *members, *complete;
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
	algo = state_algo(o);
	if (json_unpack(o, "{s:s, s:s, s:s, s:I, s:b, s:o}", "fsid", &fsid, "profile", &profile,
			"metadata_profile", &meta, "size_bytes", &size, "backing_dir_created",
			&created, "members", &members) ||
	    !algo || !json_is_array(members) || json_array_size(members) < 1 ||
	    json_array_size(members) > BBS_SB_MAX_DEVS ||
	    bbs_json_get_str(o, "mountpoint", st->mnt, sizeof(st->mnt)) ||
	    copy_str(st->fsid, sizeof(st->fsid), fsid) ||
	    copy_str(st->profile, sizeof(st->profile), profile) ||
	    copy_str(st->metadata, sizeof(st->metadata), meta) ||
	    copy_str(st->algo, sizeof(st->algo), algo) ||
	    bbs_json_get_str(o, "backing_dir", st->backing_dir, sizeof(st->backing_dir)))
		goto bad;
	st->size = size;
	st->backing_dir_created = created;
	/* Written by every `up` since issue 13; a state file without it is complete. */
	complete = json_object_get(o, "complete");
	st->complete = !complete || json_is_true(complete);
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
static int sandbox_mounted(const struct bbs_sandbox *st)
{
	char parent[PATH_MAX], fsid[BBS_SB_FSID_LEN];
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

static int run_mkfs(const struct bbs_sb_opts *o, const struct bbs_sandbox *st)
{
	static char out[16384], err[16384];
	char *argv[11 + BBS_SB_MAX_DEVS], line[512];
	int n = 0, rc;

	argv[n++] = "mkfs.btrfs";
	/* -f is safe: the devices are files we just created, there is nothing to lose. */
	argv[n++] = "-f";
	argv[n++] = "-L";
	argv[n++] = "bbscope-sandbox";
	argv[n++] = "--csum";
	argv[n++] = (char *)bbs_csum_name(o->algo);
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

static int do_mount(const struct bbs_sb_opts *o, const struct bbs_sandbox *st)
{
	char data[sizeof(o->mnt_data) + BBS_SB_MAX_DEVS * 32];
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

/*
 * The backing dir, before anything is made: its canonical path (what sysfs
 * shows for the files in it) whether or not it exists yet, and whether
 * `up` is to make it (and so `down` to remove it).
 */
static int backing_dir_plan(const char *dir, struct bbs_sandbox *st)
{
	char parent[PATH_MAX], base[PATH_MAX], real[PATH_MAX];
	struct stat sb;

	if (!stat(dir, &sb)) {
		if (!S_ISDIR(sb.st_mode) || !realpath(dir, st->backing_dir)) {
			bbs_err("cannot use backing dir %s: %s", dir,
				strerror(S_ISDIR(sb.st_mode) ? errno : ENOTDIR));
			return -1;
		}
		return 0;
	}
	snprintf(parent, sizeof(parent), "%s", dir);
	snprintf(base, sizeof(base), "%s", dir);
	if (errno != ENOENT || !realpath(dirname(parent), real) ||
	    copy_str(st->backing_dir, sizeof(st->backing_dir), real) ||
	    snprintf(st->backing_dir + strlen(real), sizeof(st->backing_dir) - strlen(real), "/%s",
		     basename(base)) >= (int)(sizeof(st->backing_dir) - strlen(real))) {
		bbs_err("cannot create backing dir %s: %s", dir, strerror(errno ?: ENAMETOOLONG));
		return -1;
	}
	st->backing_dir_created = true;
	return 0;
}

/* devN.img names; refused when one is there already (left from an earlier sandbox?). */
static int backing_names(struct bbs_sandbox *st)
{
	struct stat sb;

	for (unsigned int i = 0; i < st->ndevs; i++) {
		struct bbs_sb_member *m = &st->devs[i];

		if (snprintf(m->backing, sizeof(m->backing), "%s/dev%u.img", st->backing_dir, i) >=
		    (int)sizeof(m->backing)) {
			bbs_err("backing dir path %s is too long", st->backing_dir);
			return -1;
		}
		if (!lstat(m->backing, &sb)) {
			bbs_err("%s exists (left from an earlier sandbox? remove it)", m->backing);
			return -1;
		}
	}
	return 0;
}

/* Create devN.img sparse, refusing to reuse a file that is already there. */
static int backing_create(struct bbs_sandbox *st, unsigned int i)
{
	struct bbs_sb_member *m = &st->devs[i];
	int fd;

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

/* The fsid mkfs.btrfs wrote: primary superblock at 64 KiB, fsid after its 32-byte csum. */
static int super_fsid(int lfd, char *fsid)
{
	__u8 u[16];

	if (pread(lfd, u, sizeof(u), (64 << 10) + 32) != (ssize_t)sizeof(u))
		return -1;
	fsid_str(u, fsid);
	return 0;
}

/* What `up` holds while it works. */
struct up_ctx {
	const struct bbs_sb_opts *o;
	struct bbs_sandbox st;
	const char *file; /* the state file */
	int ctl; /* /dev/loop-control */
	int fds[BBS_SB_MAX_DEVS]; /* backing files */
	int lfds[BBS_SB_MAX_DEVS]; /* loop devices: autoclear, so held until mounted */
	unsigned int made, attached;
};

/* Where everything will be, written down before anything is made. */
static int up_plan(struct up_ctx *u, const char *dir)
{
	struct bbs_sandbox *st = &u->st;
	const struct bbs_sb_opts *o = u->o;

	if (!realpath(dir, st->mnt) || strlen(st->mnt) + 5 > sizeof(st->mnt)) {
		bbs_err("cannot use state dir %s: %s", dir, strerror(errno ? errno : ENAMETOOLONG));
		return -1;
	}
	strcat(st->mnt, "/mnt");
	snprintf(st->profile, sizeof(st->profile), "%s", o->data->name);
	snprintf(st->metadata, sizeof(st->metadata), "%s", o->meta->name);
	snprintf(st->algo, sizeof(st->algo), "%s", bbs_csum_name(o->algo));
	st->size = o->size;
	st->ndevs = o->ndevs;
	if (backing_dir_plan(o->backing_dir, st) || backing_names(st))
		return -1;
	return state_write(u->file, st);
}

/* Backing files and loop devices; each step recorded before the next. */
static int up_devices(struct up_ctx *u)
{
	struct bbs_sandbox *st = &u->st;

	if (st->backing_dir_created && mkdir(st->backing_dir, 0700)) {
		bbs_err("cannot create backing dir %s: %s", st->backing_dir, strerror(errno));
		st->backing_dir_created = false; /* not ours: never removed */
		return -1;
	}
	for (u->made = 0; u->made < st->ndevs; u->made++) {
		u->fds[u->made] = backing_create(st, u->made);
		if (u->fds[u->made] < 0)
			return -1;
	}
	if (stop_requested())
		return -1;
	for (u->attached = 0; u->attached < st->ndevs; u->attached++) {
		u->lfds[u->attached] =
			sb_loop_attach(u->ctl, u->fds[u->attached], &st->devs[u->attached]);
		if (u->lfds[u->attached] < 0)
			return -1;
	}
	return state_write(u->file, st) || stop_requested() ? -1 : 0;
}

/* mkfs, the fsid recorded, the mount point and the mount; 1: mkdir done, 2: mounted. */
static int up_mount(struct up_ctx *u, int *done)
{
	struct bbs_sandbox *st = &u->st;

	/* mkfs may have registered some devices with btrfs even when it fails. */
	if (run_mkfs(u->o, st) || stop_requested())
		return -1;
	if (super_fsid(u->lfds[0], st->fsid)) {
		bbs_err("cannot read the superblock of %s: %s", st->devs[0].dev, strerror(errno));
		return -1;
	}
	if (state_write(u->file, st))
		return -1;
	if (mkdir(st->mnt, 0755)) {
		int err = errno;

		bbs_err("cannot create mount point %s: %s%s", st->mnt, strerror(err),
			err == EEXIST ? " (left from an earlier sandbox? remove it)" : "");
		return -1;
	}
	*done = 1;
	if (do_mount(u->o, st))
		return -1;
	*done = 2;
	if (read_fsid(st->mnt, st->fsid)) {
		bbs_err("cannot read the fsid of %s: %s", st->mnt, strerror(errno));
		return -1;
	}
	for (unsigned int i = 0; i < u->attached; i++)
		sb_loop_keep(u->lfds[i], &st->devs[i]);
	st->complete = true;
	return state_write(u->file, st) || stop_requested() ? -1 : 0;
}

/* Undo a failed `up`, from what it did, in reverse; the state file goes last. */
static void up_undo(struct up_ctx *u, int done)
{
	struct bbs_sandbox *st = &u->st;
	unsigned int i;

	/*
	 * Only a process that wandered in since the mount can make this fail:
	 * detach it lazily then, so that no mount is left behind.  Its loop
	 * devices go when it is finally released (autoclear).
	 */
	if (done >= 2 && umount2(st->mnt, UMOUNT_NOFOLLOW)) {
		bbs_warn("cannot unmount %s: %s; detaching it lazily", st->mnt, strerror(errno));
		umount2(st->mnt, UMOUNT_NOFOLLOW | MNT_DETACH);
	}
	if (done >= 1)
		rmdir(st->mnt);
	for (i = 0; i < u->attached; i++)
		sb_btrfs_forget(st->devs[i].dev);
	while (u->attached--)
		sb_loop_detach_new(u->lfds[u->attached], &st->devs[u->attached]);
	for (i = 0; i < u->made; i++)
		unlink(st->devs[i].backing);
	if (st->backing_dir_created)
		rmdir(st->backing_dir);
	unlink(u->file);
}

static int sandbox_remove(const struct bbs_sandbox *st, const char *file);

/* A state file already there: a sandbox that is up (refused), or a killed `up`'s (removed). */
static int clear_stale(const char *file)
{
	struct bbs_sandbox st;
	int r = state_read(file, &st);

	if (r)
		return r > 0 ? 0 : -1;
	if (st.complete) {
		bbs_err("a sandbox is already up (see 'bbscope sandbox status')");
		return -1;
	}
	bbs_warn("an earlier 'sandbox up' did not finish (killed?); removing what it left");
	return sandbox_remove(&st, file);
}

int bbs_sandbox_up(const struct bbs_sb_opts *o, struct bbs_sandbox *sb)
{
	char dir[PATH_MAX], file[PATH_MAX];
	struct up_ctx u = { .o = o, .file = file };
	int lock, done = 0, ret = -1;
	bool dir_made;

	if (state_paths(dir, file))
		return -1;
	lock = state_lock(dir, true, &dir_made);
	if (lock < 0)
		return -1;
	if (clear_stale(file))
		goto out_unlock;
	u.ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (u.ctl < 0) {
		bbs_err("cannot open /dev/loop-control: %s (is the loop driver loaded?)",
			strerror(errno));
		goto out_unlock;
	}
	catch_signals();
	if (up_plan(&u, dir))
		goto out_ctl;
	if (up_devices(&u) || up_mount(&u, &done)) {
		up_undo(&u, done);
		goto out_files;
	}
	*sb = u.st;
	ret = 0;
	/* The mount holds the loop devices now. */
	for (unsigned int i = 0; i < u.attached; i++)
		close(u.lfds[i]);
out_files:
	/* The loop devices hold their own references to the files. */
	for (unsigned int i = 0; i < u.made; i++)
		close(u.fds[i]);
out_ctl:
	close(u.ctl);
out_unlock:
	/* A state dir this `up` made and leaves empty goes again. */
	if (ret && dir_made)
		rmdir(dir);
	close(lock);
	return ret;
}

/*
 * Remove what st records, and then the state file: unmount, detach the loop
 * devices still ours, remove the backing files, the mount point and the
 * backing dir if ours.  st may be a killed `up`'s, incomplete.  The state
 * stays when something could not be undone, for a retry.  0 or -1.
 */
static int sandbox_remove(const struct bbs_sandbox *st, const char *file)
{
	bool kept = false;
	int r;

	/* The state stays until the unmount worked, so down can be retried. */
	r = sandbox_mounted(st);
	if (r < 0)
		return -1;
	if (r == 0 && st->complete) {
		bbs_warn("%s was not mounted; removing the rest", st->mnt);
	} else if (r > 0 && bbs_umount(st->mnt, UMOUNT_NOFOLLOW)) {
		bbs_err("cannot unmount %s: %s%s", st->mnt, strerror(errno),
			errno == EBUSY ? " (a process is using it)" : "");
		return -1;
	}
	for (unsigned int i = 0; i < st->ndevs; i++) {
		/* A device we could not detach keeps its file, and the state its record. */
		if (sb_loop_release(&st->devs[i])) {
			kept = true;
			continue;
		}
		if (unlink(st->devs[i].backing) && errno != ENOENT)
			bbs_warn("cannot remove %s: %s", st->devs[i].backing, strerror(errno));
	}
	if (kept) {
		bbs_err("some loop devices are still attached; run 'bbscope sandbox down' again");
		return -1;
	}
	if (rmdir(st->mnt) && errno != ENOENT)
		bbs_warn("cannot remove %s: %s", st->mnt, strerror(errno));
	if (st->backing_dir_created && rmdir(st->backing_dir) && errno != ENOENT)
		bbs_warn("cannot remove %s: %s", st->backing_dir, strerror(errno));
	if (unlink(file)) {
		bbs_err("cannot remove %s: %s", file, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * The temporaries of state writes a killed `up` did not finish
 * (".sandbox.json.XXXXXX", host/outfile.h): ours, since we hold the lock.
 */
static void state_temps_remove(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, "." SB_STATE_FILE ".", sizeof(SB_STATE_FILE) + 1))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
}

int bbs_sandbox_down(struct bbs_sandbox *sb)
{
	struct bbs_sandbox st;
	char dir[PATH_MAX], file[PATH_MAX];
	int lock, r, ret = -1;

	if (state_paths(dir, file))
		return -1;
	lock = state_lock(dir, false, NULL);
	if (lock == -2) {
		bbs_err("no sandbox is up");
		return 1;
	}
	if (lock < 0)
		return -1;
	r = state_read(file, &st);
	if (r) {
		if (r > 0)
			bbs_err("no sandbox is up");
		ret = r;
		goto out;
	}
	if (!st.complete)
		bbs_warn("an earlier 'sandbox up' did not finish (killed?); removing what it left");
	if (sandbox_remove(&st, file))
		goto out;
	*sb = st;
	ret = 0;
out:
	/* An empty state dir goes too (ENOTEMPTY: something else lives there). */
	if (ret >= 0) {
		state_temps_remove(dir);
		rmdir(dir);
	}
	close(lock);
	return ret;
}

int bbs_sandbox_status(struct bbs_sandbox *sb)
{
	char dir[PATH_MAX], file[PATH_MAX];
	int r;

	if (state_paths(dir, file))
		return -1;
	r = state_read(file, sb);
	if (r > 0)
		bbs_err("no sandbox is up");
	if (r)
		return -1;
	if (!sb->complete) {
		bbs_err("an earlier 'sandbox up' did not finish (killed?); run 'bbscope sandbox "
			"down' to remove what it left");
		return -1;
	}
	r = sandbox_mounted(sb);
	if (r == 0)
		bbs_err("sandbox is not mounted at %s any more (run 'bbscope sandbox down')",
			sb->mnt);
	return r > 0 ? 0 : -1;
}

json_t *bbs_sandbox_json(const struct bbs_sandbox *sb)
{
	return state_json(sb, false);
}
