/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A mounted btrfs seen from user space, without going through its page cache:
 *
 *   - geometry and checksum algorithm (BTRFS_IOC_FS_INFO with CSUM_INFO),
 *   - member devices (BTRFS_IOC_DEV_INFO), each opened O_RDONLY | O_DIRECT,
 *   - any tree through BTRFS_IOC_TREE_SEARCH_V2 (CAP_SYS_ADMIN),
 *   - the chunk tree, so a logical address maps to (devid, physical) for
 *     every copy in every profile, the way btrfs_map_block() does,
 *   - stored data checksums (csum tree, EXTENT_CSUM items keyed by logical),
 *   - O_DIRECT reads of a logical range from one chosen copy.
 *
 * Every function returns 0 (or a count) on success and -errno on failure;
 * bbs_fs_open() also leaves a one-line description of what failed in fs->err.
 * Tree searches see the current, in-memory trees of the mounted filesystem.
 *
 * bbs_fs_open_devices() opens an unmounted filesystem from its member devices
 * instead: superblock, sys_chunk_array, then the chunk, root, extent and csum
 * trees as they are on disk.  bbs_fs_search() and everything built on it
 * work the same on both; bbs_tree_search() (an ioctl) needs a mount.
 */
#ifndef BBS_BTRFS_FS_H
#define BBS_BTRFS_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>

#include "btrfs/csum.h"

/*
 * Most copies one logical block has: raid1c4.  A raid56 block has one copy
 * (its data stripe); the other mirror numbers there are reconstructions
 * from parity, which bbs_map describes but does not count as copies.
 */
#define BBS_MAX_COPIES 4

/* A key in btrfs's 136-bit key space: (objectid, type, offset). */
struct bbs_key {
	uint64_t objectid;
	uint32_t type;
	uint64_t offset;
};

struct bbs_dev {
	uint64_t devid;
	uint64_t total_bytes;
	char path[BTRFS_DEVICE_PATH_NAME_MAX + 1]; /* "" when the device is missing */
	int fd; /* O_RDONLY | O_DIRECT, -1 when missing or unopenable */
	int open_err; /* errno of the failed open, 0 when fd is valid */
};

struct bbs_stripe {
	uint64_t devid;
	uint64_t physical; /* where the stripe starts on the device */
	struct bbs_dev *dev; /* NULL when devid is not a member any more */
};

/* One CHUNK_ITEM: the logical range [logical, logical + length). */
struct bbs_chunk {
	uint64_t logical;
	uint64_t length;
	uint64_t stripe_len;
	uint64_t type; /* BTRFS_BLOCK_GROUP_* */
	uint16_t num_stripes;
	uint16_t sub_stripes;
	struct bbs_stripe *stripes;
};

struct bbs_fs {
	int fd; /* the path given to bbs_fs_open, O_RDONLY; -1 when offline */
	uint8_t fsid[BTRFS_FSID_SIZE];
	uint32_t sectorsize;
	uint32_t nodesize;
	enum bbs_csum_type csum_type;
	size_t csum_size;
	struct bbs_dev *devs;
	size_t nr_devs;
	struct bbs_chunk *chunks; /* sorted by logical */
	size_t nr_chunks;
	/* Opened by bbs_fs_open_devices(): trees are read from the devices. */
	bool offline;
	uint64_t generation; /* of the newest superblock among the devices */
	uint64_t root_bytenr; /* the root tree's root block */
	uint64_t chunk_root_bytenr;
	uint8_t meta_fsid[BTRFS_FSID_SIZE]; /* what tree block headers carry */
	char err[2 * BTRFS_DEVICE_PATH_NAME_MAX + 256];
};

/* One place a logical address lives. */
struct bbs_copy {
	uint64_t devid;
	uint64_t physical;
	struct bbs_dev *dev; /* NULL: devid is not a member any more */
};

/*
 * Where logical lives.  len is how many bytes from logical stay contiguous
 * on every copy (to the end of the stripe element for striped profiles,
 * else to the end of the chunk): one read of up to len bytes per copy.
 * For raid5/6 copies[0] is the data stripe; nr_parity (1 or 2) says the
 * mirror numbers above 1 are rebuilds from P (and Q), not stored copies.
 */
struct bbs_map {
	const struct bbs_chunk *chunk;
	uint64_t len;
	int nr_copies;
	int nr_parity;
	struct bbs_copy copies[BBS_MAX_COPIES];
};

/*
 * Open the btrfs mounted at (or containing) path: FS_INFO, every member
 * device, the whole chunk tree.  Needs root.  -ENOTTY: not btrfs.
 * On failure fs->err says what failed; nothing is left open.
 */
int bbs_fs_open(struct bbs_fs *fs, const char *path);
void bbs_fs_close(struct bbs_fs *fs);

/*
 * Open an unmounted btrfs from some or all of its member devices, each
 * opened O_RDONLY | O_DIRECT | O_EXCL, so that -EBUSY means a device is in
 * use (mounted: use bbs_fs_open on the mount point).  Members not given are
 * in fs->devs with fd -1.  Tree blocks are checked (checksum, bytenr, fsid)
 * and read from the next copy when one is bad; raid5/6 tree blocks are read
 * from their data stripe only.  On failure fs->err says what failed.
 */
int bbs_fs_open_devices(struct bbs_fs *fs, char *const *paths, int nr_paths);

/* Is fd on the filesystem fs was opened on (same fsid)?  Cheap: one FS_INFO. */
bool bbs_fs_same(const struct bbs_fs *fs, int fd);

/*
 * Call fn for every item with min <= key <= max (as 136-bit keys) of tree
 * tree_id, in key order; tree_id 0 is the subvolume tree of the inode fd is
 * open on.  item is unaligned (the btrfs_tree.h structs are packed) and len
 * bytes long.  fn returns 0 to go on, > 0 to stop (bbs_tree_search then
 * returns that value) or -errno to fail.
 */
typedef int (*bbs_item_fn)(const struct bbs_key *key, const void *item, uint32_t len, void *arg);
int bbs_tree_search(int fd, uint64_t tree_id, const struct bbs_key *min, const struct bbs_key *max,
		    bbs_item_fn fn, void *arg);

/*
 * bbs_tree_search on fs: through the ioctl when mounted, from the tree
 * blocks on the devices when offline (tree_id 0 is then -EINVAL).
 */
int bbs_fs_search(const struct bbs_fs *fs, uint64_t tree_id, const struct bbs_key *min,
		  const struct bbs_key *max, bbs_item_fn fn, void *arg);

/* "single", "dup", "raid0", "raid1", "raid1c3", "raid1c4", "raid10", "raid5", "raid6". */
const char *bbs_profile_name(uint64_t type);
static inline bool bbs_profile_raid56(uint64_t type)
{
	return type & BTRFS_BLOCK_GROUP_RAID56_MASK;
}

/* The chunk holding logical, NULL if none does. */
const struct bbs_chunk *bbs_chunk_find(const struct bbs_fs *fs, uint64_t logical);

/*
 * raid5/6 full stripes, laid out as btrfs/stripe.h says: full stripe f
 * starts at logical chunk->logical + f * nr_data * stripe_len.
 */
static inline unsigned int bbs_chunk_nr_parity(const struct bbs_chunk *c)
{
	if (c->type & BTRFS_BLOCK_GROUP_RAID5)
		return 1;
	return c->type & BTRFS_BLOCK_GROUP_RAID6 ? 2 : 0;
}

static inline unsigned int bbs_chunk_nr_data(const struct bbs_chunk *c)
{
	unsigned int p = bbs_chunk_nr_parity(c);

	return c->num_stripes > p ? c->num_stripes - p : 0;
}

/* Full stripes in a raid56 chunk; 0 for other profiles or a nonsense chunk. */
uint64_t bbs_chunk_nr_full_stripes(const struct bbs_chunk *c);

/* Where strip j of full stripe f of raid56 chunk c lies. */
void bbs_full_stripe_strip(const struct bbs_chunk *c, uint64_t f, unsigned int j,
			   struct bbs_copy *cp);

/*
 * Map logical through the chunk tree.  -ENOENT: no chunk holds it,
 * -EUCLEAN: the chunk item makes no sense (zero stripes or stripe_len).
 */
int bbs_map_logical(const struct bbs_fs *fs, uint64_t logical, struct bbs_map *map);

/*
 * Read len bytes at physical from one device with O_DIRECT.  buf, physical
 * and len must be aligned to the device's logical block size (any multiple
 * of fs->sectorsize is, and btrfs keeps data sector aligned).  -ENODEV when
 * the device is missing, -EIO on a short read.
 */
int bbs_dev_read(const struct bbs_dev *dev, uint64_t physical, void *buf, size_t len);

/*
 * Read [logical, logical + len) as stored by copy mirror (1-based, as the
 * kernel's mirror_num: 1 is the first stripe of a mirrored chunk), across
 * stripe and chunk boundaries.  Alignment as for bbs_dev_read.  -EOPNOTSUPP
 * for raid5/6 mirrors above 1 (rebuilding from parity is not done here),
 * -ERANGE when the chunk has fewer copies than mirror.
 */
int bbs_read_logical(const struct bbs_fs *fs, uint64_t logical, size_t len, int mirror, void *buf);

/*
 * Stored data checksums of the sectors of [logical, logical + len) (len a
 * multiple of fs->sectorsize): sector i's checksum goes to
 * csums + i * fs->csum_size and have[i] is set to 1 when the csum tree has
 * one, 0 when it has none.  Returns how many sectors have one.
 */
int bbs_csum_lookup(const struct bbs_fs *fs, uint64_t logical, size_t len, uint8_t *csums,
		    uint8_t *have);

#endif
