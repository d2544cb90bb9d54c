/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A throwaway btrfs on loop devices, bbscope's default target: sparse
 * backing files -> loop devices -> mkfs.btrfs -> mount, and exactly that
 * undone.  `bbscope sandbox` (cli/sandbox.c) is its command line.
 *
 * bbs_sandbox_up() records everything it makes in <state dir>/sandbox.json
 * ($BBSCOPE_STATE_DIR, default BBS_SB_DEF_STATE_DIR) before it makes it,
 * marked incomplete until the filesystem is mounted, so an `up` killed at
 * any point (SIGKILL too) leaves a record: `down`, or the next `up`, finishes
 * the cleanup from it.  Loop devices are attached with LO_FLAGS_AUTOCLEAR and
 * held open until the mount holds them: a killed `up` leaves none.  Once
 * mounted the flag is cleared: the devices stay until `down`.  bbs_sandbox_down() touches nothing
 * that is not recorded there and still provably ours: a loop device is
 * detached only while it has the device number we attached and sysfs says
 * it is backed by our file.  Both hold an flock on the state dir, so two of
 * them never interleave; down removes the state dir once it is empty.  Both
 * need root.
 */
#ifndef BBS_SANDBOX_H
#define BBS_SANDBOX_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "btrfs/csum.h"

#define BBS_SB_DEF_STATE_DIR "/run/bbscope"
#define BBS_SB_DEF_BACKING_DIR "/var/tmp/bbscope-sandbox"
#define BBS_SB_MAX_DEVS 16
#define BBS_SB_DEF_SIZE (1ULL << 30)
/*
 * mkfs.btrfs 6.2 refuses devices under 109M (more with dup data, which it then
 * says itself); 128M leaves some room for data.
 */
#define BBS_SB_MIN_SIZE (128ULL << 20)
#define BBS_SB_FSID_LEN 37

/*
 * A block group profile and the fewest devices mkfs.btrfs 6.2 accepts for
 * it.  def_devs and meta are the defaults when it is the data profile; a
 * profile without them is valid only as metadata.
 */
struct bbs_sb_profile {
	const char *name;
	unsigned int min_devs;
	unsigned int def_devs;
	const char *meta;
};

/* single dup raid0 raid1 raid10 raid5 raid6 raid1c3 raid1c4; NULL if unknown. */
const struct bbs_sb_profile *bbs_sb_profile(const char *name, bool data_only);

struct bbs_sb_opts {
	const struct bbs_sb_profile *data, *meta;
	unsigned int ndevs; /* at least data->min_devs and meta->min_devs */
	uint64_t size; /* of each device, at least BBS_SB_MIN_SIZE */
	enum bbs_csum_type algo;
	const char *backing_dir; /* made when missing, removed by down then */
	unsigned long mnt_flags; /* mount(2) flags */
	char mnt_data[1024]; /* the options btrfs parses */
};

/*
 * Split mount(8)-style options ("noatime,compress=zstd") into o's mount(2)
 * flags and data.  0, or -1 when the data does not fit.
 */
int bbs_sb_mount_opts(const char *s, struct bbs_sb_opts *o);

/* One loop device of the sandbox, as attached. */
struct bbs_sb_member {
	char dev[32]; /* /dev/loopN; "" while not attached yet */
	char backing[PATH_MAX]; /* canonical path: what sysfs shows */
	unsigned int major, minor;
};

/* What `up` made; the state file holds exactly this. */
struct bbs_sandbox {
	char mnt[PATH_MAX];
	char backing_dir[PATH_MAX];
	bool backing_dir_created;
	char fsid[BBS_SB_FSID_LEN];
	char profile[16], metadata[16];
	char algo[16]; /* bbs_csum_name() of the checksum algorithm */
	uint64_t size;
	unsigned int ndevs;
	struct bbs_sb_member devs[BBS_SB_MAX_DEVS];
	bool complete; /* false: an `up` that did not finish (its intent) */
};

/*
 * Make a sandbox as o says and fill sb.  SIGINT, SIGTERM and SIGHUP during
 * it undo what was done.  What an earlier `up` that was killed left is
 * removed first (with a warning).  0, or -1 after one error line (bbs_err)
 * with nothing left behind.
 */
int bbs_sandbox_up(const struct bbs_sb_opts *o, struct bbs_sandbox *sb);

/*
 * Remove the sandbox that is up; sb gets what it was.  0, 1 when none is
 * up, -1 when something could not be undone (the state stays, for a
 * retry); after one error line when not 0.
 */
int bbs_sandbox_down(struct bbs_sandbox *sb);

/*
 * The sandbox that is up, still mounted.  0, or -1 after one error line
 * (also for an `up` that did not finish: 'run bbscope sandbox down').
 */
int bbs_sandbox_status(struct bbs_sandbox *sb);

/*
 * {mountpoint, devices, fsid, profile, metadata_profile, algo, size_bytes,
 * backing_dir}: what `sandbox up --json` prints.  The caller owns it.
 */
json_t *bbs_sandbox_json(const struct bbs_sandbox *sb);

#endif
