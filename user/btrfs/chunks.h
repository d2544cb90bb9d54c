/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Inside btrfs/: the chunk table as fs.c (from the chunk tree, mounted) and
 * disk.c (from the superblock and the on-disk chunk tree) build it, and the
 * on-disk search that search.c dispatches to.  fs.c calls neither disk.c
 * nor search.c; disk.c calls fs.c; search.c calls both.
 */
#ifndef BBS_BTRFS_CHUNKS_H
#define BBS_BTRFS_CHUNKS_H

#include <stddef.h>
#include <stdint.h>

#include "btrfs/fs.h"

/* Chunks as they are read, in key (logical) order; stripes get their device later. */
struct chunk_load {
	struct bbs_chunk *chunks;
	size_t nr, cap;
};

/* One CHUNK_ITEM (from the chunk tree or the superblock's sys_chunk_array): 0 or -errno. */
int chunk_add(struct chunk_load *cl, uint64_t logical, const void *item, uint32_t len);
/* Make cl's chunks fs's, each stripe pointing at its member in fs->devs. */
void chunks_install(struct bbs_fs *fs, struct chunk_load *cl);
void chunks_free(struct bbs_chunk *chunks, size_t nr);

/* bbs_fs_search() of an offline fs, from its tree blocks (disk.c). */
int bbs_disk_search(const struct bbs_fs *fs, uint64_t tree_id, const struct bbs_key *min,
		    const struct bbs_key *max, bbs_item_fn fn, void *arg);

#endif
