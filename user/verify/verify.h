/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What btrfs stored, checked from the member devices (O_DIRECT, never its
 * page cache):
 *
 *   verify/csum.c    data checksums of files, every copy (bbs_verify_csum)
 *   verify/parity.c  raid5/6 parity of every full stripe, or the rebuild of
 *                    a member (bbs_verify_parity)
 *
 * Both need root.  Each takes its targets, checks them first (a bad one is
 * -EINVAL: nothing was read) and fills a result; `bbscope verify`
 * (cli/verify.c) prints it, tests/verify_test.c calls them directly.
 */
#ifndef BBS_VERIFY_H
#define BBS_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btrfs/csum.h"

/* ---- data checksums ---- */

/* Why blocks were not checked; the names are the JSON keys of "skipped". */
enum bbs_verify_skip {
	BBS_SKIP_HOLE, /* no extent, or an explicit hole extent */
	BBS_SKIP_INLINE, /* data inside the fs tree leaf, covered by its node csum */
	BBS_SKIP_PREALLOC, /* fallocated, never written: no checksums */
	BBS_SKIP_NODATASUM, /* inode flag (chattr +C, mount -o nodatasum) */
	BBS_SKIP_RAID56, /* never counted now that raid5/6 data is checked; the key stays */
	BBS_SKIP_NO_CSUM, /* a data extent sector without a csum tree item */
	BBS_SKIP_MISSING_DEVICE, /* the copy's device is missing or cannot be opened */
	BBS_SKIP_READ_ERROR, /* reading the copy failed */
	BBS_NR_VERIFY_SKIPS,
};

extern const char *const bbs_verify_skip_name[BBS_NR_VERIFY_SKIPS];

/* One copy of one block whose checksum is not the stored one. */
struct bbs_verify_mismatch {
	char *path;
	char *device;
	uint64_t file_offset; /* compressed: where the extent's data starts */
	uint64_t logical;
	uint64_t devid;
	uint64_t physical;
	int mirror; /* 1-based, as the kernel's mirror_num */
	bool compressed;
	uint8_t expected[BBS_CSUM_MAX]; /* stored in the csum tree */
	uint8_t found[BBS_CSUM_MAX]; /* computed from the copy */
};

struct bbs_verify_csum {
	uint64_t files; /* regular files, each inode once */
	uint64_t checked, matched, mismatched; /* block x copy: each copy is its own check */
	uint64_t skipped[BBS_NR_VERIFY_SKIPS]; /* blocks */
	struct bbs_verify_mismatch *mm;
	size_t nr_mm, cap_mm;
	size_t csum_size; /* bytes of the checksums in mm */
};

/*
 * The paths verify takes: each exists, is on btrfs, is a regular file or a
 * directory.  0, or -EINVAL after one error line: checked before minutes of
 * reading.
 */
int bbs_verify_csum_paths(char *const *paths, int n);

/*
 * Every data block of every regular file at or below the paths (not
 * crossing into other filesystems; a file with several names once): each
 * filesystem is synced, then each copy read and checksummed.  0 with res
 * filled (free with bbs_verify_csum_free()), or a negative errno after one
 * error line.
 */
int bbs_verify_csum(char *const *paths, int n, struct bbs_verify_csum *res);
void bbs_verify_csum_free(struct bbs_verify_csum *res);

/* ---- raid5/6 parity ---- */

/* Why stripes (strips with --recover) were not compared; the JSON keys of "skipped". */
enum bbs_verify_parity_skip {
	BBS_VP_MISSING_DEVICE, /* a strip's device is missing or cannot be opened */
	BBS_VP_READ_ERROR, /* reading a strip failed */
	BBS_VP_NO_REDUNDANCY, /* --parity: strips missing, nothing left to check the rest with */
	BBS_NR_VP_SKIPS,
};

extern const char *const bbs_vp_skip_name[BBS_NR_VP_SKIPS];

struct bbs_vp_mismatch {
	uint64_t logical; /* start of the full stripe */
	uint64_t devid;
	uint64_t physical; /* of the first disagreeing sector of the strip */
	char *device;
	const char *profile;
	unsigned int strip; /* btrfs_raid_bio order: data 0 .. nr_data-1, P, Q */
	const char *kind; /* "data", "p", "q" */
	uint32_t sectors; /* disagreeing sectors in this strip */
	bool degraded; /* found with strips of the full stripe missing */
};

struct bbs_verify_parity {
	const uint64_t *recover; /* the devids rebuilt (--recover), none for --parity */
	unsigned int nr_recover;
	uint64_t block_groups, matched, mismatched, unreferenced;
	/* Of matched and mismatched: checked with strips missing; of those, through data csums. */
	uint64_t degraded_matched, degraded_mismatched, degraded_by_csum;
	uint64_t skipped[BBS_NR_VP_SKIPS];
	struct bbs_vp_mismatch *mm;
	size_t nr_mm, cap_mm;
};

/*
 * Check every full stripe of every raid5/6 block group (nr_recover 0), or
 * rebuild every strip of the recover devids (one, or two for raid6) and
 * compare with the disk, over targets: one mount point, or the member
 * devices of an unmounted filesystem.  0 with res filled (free with
 * bbs_verify_parity_free()); -EINVAL when the targets or devids are not
 * what it takes (nothing was read); another negative errno when the check
 * failed.  Either way after one error line.
 */
int bbs_verify_parity(char *const *targets, int nr_targets, const uint64_t *recover,
		      unsigned int nr_recover, struct bbs_verify_parity *res);
void bbs_verify_parity_free(struct bbs_verify_parity *res);

#endif
