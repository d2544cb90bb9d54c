// SPDX-License-Identifier: GPL-2.0
/*
 * One search over a btrfs, mounted (the search ioctl, btrfs/fs.c) or not
 * (its tree blocks, btrfs/disk.c), and what is looked up with it: the
 * data checksums of a logical range, from the csum tree.  See btrfs/fs.h.
 */
#include <errno.h>
#include <string.h>
#include <linux/btrfs_tree.h>

#include "btrfs/chunks.h"
#include "btrfs/fs.h"

int bbs_fs_search(const struct bbs_fs *fs, uint64_t tree_id, const struct bbs_key *min,
		  const struct bbs_key *max, bbs_item_fn fn, void *arg)
{
	if (!fs->offline)
		return bbs_tree_search(fs->fd, tree_id, min, max, fn, arg);
	return bbs_disk_search(fs, tree_id, min, max, fn, arg);
}

struct csum_lookup {
	const struct bbs_fs *fs;
	uint64_t start, end; /* the range asked for */
	uint8_t *csums;
	uint8_t *have;
	int found;
};

static int csum_item(const struct bbs_key *key, const void *item, uint32_t len, void *arg)
{
	struct csum_lookup *cl = arg;
	const struct bbs_fs *fs = cl->fs;
	uint64_t item_end, from, to;

	if (key->objectid != BTRFS_EXTENT_CSUM_OBJECTID || key->type != BTRFS_EXTENT_CSUM_KEY)
		return 0;
	item_end = key->offset + (uint64_t)(len / fs->csum_size) * fs->sectorsize;
	from = key->offset > cl->start ? key->offset : cl->start;
	to = item_end < cl->end ? item_end : cl->end;
	for (uint64_t a = from; a < to; a += fs->sectorsize) {
		uint64_t i = (a - cl->start) / fs->sectorsize;
		uint64_t j = (a - key->offset) / fs->sectorsize;

		memcpy(cl->csums + i * fs->csum_size, (const uint8_t *)item + j * fs->csum_size,
		       fs->csum_size);
		if (!cl->have[i])
			cl->found++;
		cl->have[i] = 1;
	}
	return 0;
}

int bbs_csum_lookup(const struct bbs_fs *fs, uint64_t logical, size_t len, uint8_t *csums,
		    uint8_t *have)
{
	/* An item is smaller than a node: it covers at most this much before logical. */
	uint64_t span = (uint64_t)(fs->nodesize / fs->csum_size) * fs->sectorsize;
	struct bbs_key min = { BTRFS_EXTENT_CSUM_OBJECTID, BTRFS_EXTENT_CSUM_KEY, 0 };
	struct bbs_key max = { BTRFS_EXTENT_CSUM_OBJECTID, BTRFS_EXTENT_CSUM_KEY, 0 };
	struct csum_lookup cl = { fs, logical, logical + len, csums, have, 0 };
	int ret;

	if (!len)
		return 0;
	if (len % fs->sectorsize)
		return -EINVAL;
	min.offset = logical > span ? logical - span : 0;
	max.offset = logical + len - 1;
	memset(have, 0, len / fs->sectorsize);
	ret = bbs_fs_search(fs, BTRFS_CSUM_TREE_OBJECTID, &min, &max, csum_item, &cl);
	return ret < 0 ? ret : cl.found;
}
