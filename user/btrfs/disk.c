// SPDX-License-Identifier: GPL-2.0
/*
 * An unmounted btrfs from its member devices (bbs_fs_open_devices()):
 * superblock, sys_chunk_array, the chunk tree, and a reader of the on-disk
 * B-trees (bbs_disk_search(), btrfs/chunks.h) that walks them the way the
 * search ioctl would on a mounted one.  See btrfs/fs.h.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/btrfs_tree.h>

#include "btrfs/chunks.h"
#include "btrfs/fs.h"

/*
 * Unmounted filesystems: the on-disk structures that older UAPI headers
 * (Debian bookworm's, Linux 6.1) leave out: btrfs_super_block, btrfs_header,
 * btrfs_item, btrfs_key_ptr, laid out as in btrfs-progs' kernel-shared/ctree.h.
 */
#define SUPER_OFFSET 65536
#define SUPER_SIZE 4096
#define SUPER_MAGIC 0x4D5F53665248425FULL /* "_BHRfS_M" */
#define SYS_CHUNK_ARRAY_SIZE 2048
#define MAX_LEVEL 8

struct disk_super {
	uint8_t csum[BTRFS_CSUM_SIZE];
	uint8_t fsid[BTRFS_FSID_SIZE];
	__le64 bytenr;
	__le64 flags;
	__le64 magic;
	__le64 generation;
	__le64 root;
	__le64 chunk_root;
	__le64 log_root;
	__le64 log_root_transid;
	__le64 total_bytes;
	__le64 bytes_used;
	__le64 root_dir_objectid;
	__le64 num_devices;
	__le32 sectorsize;
	__le32 nodesize;
	__le32 leafsize;
	__le32 stripesize;
	__le32 sys_chunk_array_size;
	__le64 chunk_root_generation;
	__le64 compat_flags;
	__le64 compat_ro_flags;
	__le64 incompat_flags;
	__le16 csum_type;
	uint8_t root_level;
	uint8_t chunk_root_level;
	uint8_t log_root_level;
	struct btrfs_dev_item dev_item;
	char label[256];
	__le64 cache_generation;
	__le64 uuid_tree_generation;
	uint8_t metadata_uuid[BTRFS_FSID_SIZE];
	__le64 nr_global_roots;
	__le64 reserved[27];
	uint8_t sys_chunk_array[SYS_CHUNK_ARRAY_SIZE];
} __attribute__((packed));

_Static_assert(offsetof(struct disk_super, csum_type) == 0xc4, "btrfs_super_block layout");
_Static_assert(offsetof(struct disk_super, sys_chunk_array) == 0x32b, "btrfs_super_block layout");

struct disk_header {
	uint8_t csum[BTRFS_CSUM_SIZE];
	uint8_t fsid[BTRFS_FSID_SIZE];
	__le64 bytenr;
	__le64 flags;
	uint8_t chunk_tree_uuid[BTRFS_UUID_SIZE];
	__le64 generation;
	__le64 owner;
	__le32 nritems;
	uint8_t level;
} __attribute__((packed));

struct disk_item {
	struct btrfs_disk_key key;
	__le32 offset; /* of the item's data, from the end of the header */
	__le32 size;
} __attribute__((packed));

struct disk_key_ptr {
	struct btrfs_disk_key key;
	__le64 blockptr;
	__le64 generation;
} __attribute__((packed));

static void key_from_disk(struct bbs_key *k, const struct btrfs_disk_key *d)
{
	k->objectid = le64toh(d->objectid);
	k->type = d->type;
	k->offset = le64toh(d->offset);
}

static int key_cmp(const struct bbs_key *a, const struct bbs_key *b)
{
	if (a->objectid != b->objectid)
		return a->objectid < b->objectid ? -1 : 1;
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	if (a->offset != b->offset)
		return a->offset < b->offset ? -1 : 1;
	return 0;
}

/* Does the checksum in the first csum_size bytes cover the len - 32 bytes after them? */
static bool csum_ok(enum bbs_csum_type type, const uint8_t *block, size_t len)
{
	uint8_t sum[BBS_CSUM_MAX];

	bbs_csum_block(type, block + BTRFS_CSUM_SIZE, len - BTRFS_CSUM_SIZE, sum);
	return !memcmp(sum, block, bbs_csum_size(type));
}

/*
 * Read the tree block at bytenr into buf (nodesize bytes, aligned) from the
 * first copy that checks out: checksum, bytenr, fsid, level (unless level
 * is -1), item count.  -EUCLEAN when no copy does.
 */
static int read_tree_block(const struct bbs_fs *fs, uint64_t bytenr, int level, uint8_t *buf)
{
	const struct disk_header *h = (const struct disk_header *)buf;
	size_t room = fs->nodesize - sizeof(*h);
	struct bbs_map map;
	int ret;

	ret = bbs_map_logical(fs, bytenr, &map);
	if (ret)
		return ret;
	ret = -EUCLEAN;
	for (int mirror = 1; mirror <= map.nr_copies; mirror++) {
		size_t per;
		uint32_t nr;
		int err = bbs_read_logical(fs, bytenr, fs->nodesize, mirror, buf);

		if (err) {
			ret = err;
			continue;
		}
		nr = le32toh(h->nritems);
		per = h->level ? sizeof(struct disk_key_ptr) : sizeof(struct disk_item);
		if (le64toh(h->bytenr) != bytenr ||
		    memcmp(h->fsid, fs->meta_fsid, BTRFS_FSID_SIZE) ||
		    (level >= 0 && h->level != level) || h->level >= MAX_LEVEL || nr > room / per ||
		    !csum_ok(fs->csum_type, buf, fs->nodesize)) {
			ret = -EUCLEAN;
			continue;
		}
		return 0;
	}
	return ret;
}

struct tree_walk {
	const struct bbs_fs *fs;
	const struct bbs_key *min, *max;
	bbs_item_fn fn;
	void *arg;
	bool done; /* a key beyond max came by */
};

/* Every item of the subtree at bytenr with min <= key <= max, in key order. */
static int walk_tree(struct tree_walk *w, uint64_t bytenr, int level)
{
	const struct bbs_fs *fs = w->fs;
	const struct disk_header *h;
	uint8_t *buf, *body;
	struct bbs_key key, next;
	uint32_t nr;
	int ret;

	if (posix_memalign((void **)&buf, 4096, fs->nodesize))
		return -ENOMEM;
	ret = read_tree_block(fs, bytenr, level, buf);
	if (ret)
		goto out_free;
	h = (const struct disk_header *)buf;
	body = buf + sizeof(*h);
	nr = le32toh(h->nritems);
	for (uint32_t i = 0; i < nr && !w->done && !ret; i++) {
		if (h->level == 0) {
			const struct disk_item *it = (const struct disk_item *)body + i;
			uint32_t off = le32toh(it->offset), size = le32toh(it->size);

			key_from_disk(&key, &it->key);
			if (key_cmp(&key, w->min) < 0)
				continue;
			if (key_cmp(&key, w->max) > 0) {
				w->done = true;
				break;
			}
			if (off > fs->nodesize - sizeof(*h) ||
			    size > fs->nodesize - sizeof(*h) - off) {
				ret = -EUCLEAN;
				break;
			}
			ret = w->fn(&key, body + off, size, w->arg);
			continue;
		}
		const struct disk_key_ptr *kp = (const struct disk_key_ptr *)body + i;

		key_from_disk(&key, &kp->key);
		if (key_cmp(&key, w->max) > 0) {
			w->done = true;
			break;
		}
		/* Child i holds keys below child i + 1's first key. */
		if (i + 1 < nr) {
			key_from_disk(&next, &kp[1].key);
			if (key_cmp(&next, w->min) <= 0)
				continue;
		}
		ret = walk_tree(w, le64toh(kp->blockptr), h->level - 1);
	}
out_free:
	free(buf);
	return ret;
}

static int root_item(const struct bbs_key *key, const void *item, uint32_t len, void *arg)
{
	const struct btrfs_root_item *ri = item;

	if (key->type != BTRFS_ROOT_ITEM_KEY || len < offsetof(struct btrfs_root_item, level) + 1)
		return 0;
	*(uint64_t *)arg = le64toh(ri->bytenr);
	return 1;
}

int bbs_disk_search(const struct bbs_fs *fs, uint64_t tree_id, const struct bbs_key *min,
		    const struct bbs_key *max, bbs_item_fn fn, void *arg)
{
	struct tree_walk w = { fs, min, max, fn, arg, false };
	uint64_t root = 0;
	int ret;

	switch (tree_id) {
	case 0:
		return -EINVAL;
	case BTRFS_ROOT_TREE_OBJECTID:
		root = fs->root_bytenr;
		break;
	case BTRFS_CHUNK_TREE_OBJECTID:
		root = fs->chunk_root_bytenr;
		break;
	default: {
		const struct bbs_key rmin = { tree_id, BTRFS_ROOT_ITEM_KEY, 0 };
		const struct bbs_key rmax = { tree_id, BTRFS_ROOT_ITEM_KEY, UINT64_MAX };

		ret = bbs_disk_search(fs, BTRFS_ROOT_TREE_OBJECTID, &rmin, &rmax, root_item, &root);
		if (ret < 0)
			return ret;
		if (!root)
			return -ENOENT;
	}
	}
	ret = walk_tree(&w, root, -1);
	return ret;
}

/* The superblock at 64 KiB of dev, checked: magic and checksum. */
static int read_super(struct bbs_fs *fs, struct bbs_dev *dev, struct disk_super *sb)
{
	uint16_t type;
	int ret;

	ret = bbs_dev_read(dev, SUPER_OFFSET, sb, SUPER_SIZE);
	if (ret) {
		snprintf(fs->err, sizeof(fs->err), "cannot read the superblock of %s: %s",
			 dev->path, strerror(-ret));
		return ret;
	}
	type = le16toh(sb->csum_type);
	if (le64toh(sb->magic) != SUPER_MAGIC) {
		snprintf(fs->err, sizeof(fs->err), "%s has no btrfs superblock", dev->path);
		return -EINVAL;
	}
	if (type >= BBS_NR_CSUMS || !csum_ok(type, (const uint8_t *)sb, SUPER_SIZE)) {
		snprintf(fs->err, sizeof(fs->err),
			 "the superblock of %s is corrupt or of an unknown checksum type %u",
			 dev->path, type);
		return -EUCLEAN;
	}
	return 0;
}

/* The chunks of the superblock's sys_chunk_array: enough to read the chunk tree. */
static int load_sys_chunks(struct bbs_fs *fs, const struct disk_super *sb)
{
	uint32_t size = le32toh(sb->sys_chunk_array_size);
	struct chunk_load cl = { 0 };
	int ret = 0;

	if (size > SYS_CHUNK_ARRAY_SIZE)
		size = 0;
	for (uint32_t pos = 0; pos + sizeof(struct btrfs_disk_key) < size;) {
		const struct btrfs_disk_key *k = (const void *)(sb->sys_chunk_array + pos);
		const struct btrfs_chunk *ci = (const void *)(k + 1);
		uint32_t left = size - pos - sizeof(*k);
		uint16_t n;

		if (k->type != BTRFS_CHUNK_ITEM_KEY || left < sizeof(*ci)) {
			ret = -EUCLEAN;
			break;
		}
		n = le16toh(ci->num_stripes);
		ret = chunk_add(&cl, le64toh(k->offset), ci, left);
		if (ret)
			break;
		pos += sizeof(*k) + sizeof(*ci) + (n - 1) * sizeof(struct btrfs_stripe);
	}
	if (!ret && !cl.nr)
		ret = -EUCLEAN;
	if (!ret)
		chunks_install(fs, &cl);
	else
		snprintf(fs->err, sizeof(fs->err), "the superblock's sys_chunk_array is corrupt");
	chunks_free(cl.chunks, cl.nr);
	return ret;
}

/* The chunk tree: every CHUNK_ITEM, and the members (DEV_ITEMs). */
struct chunk_tree_load {
	struct chunk_load cl;
	struct bbs_dev *devs;
	size_t nr_devs;
};

static int chunk_tree_item(const struct bbs_key *key, const void *item, uint32_t len, void *arg)
{
	struct chunk_tree_load *ct = arg;
	const struct btrfs_dev_item *di = item;
	struct bbs_dev *p;

	if (key->type == BTRFS_CHUNK_ITEM_KEY)
		return chunk_add(&ct->cl, key->offset, item, len);
	if (key->objectid != BTRFS_DEV_ITEMS_OBJECTID || key->type != BTRFS_DEV_ITEM_KEY)
		return 0;
	if (len < sizeof(*di))
		return -EUCLEAN;
	p = realloc(ct->devs, (ct->nr_devs + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	ct->devs = p;
	p = &ct->devs[ct->nr_devs++];
	memset(p, 0, sizeof(*p));
	p->devid = le64toh(di->devid);
	p->total_bytes = le64toh(di->total_bytes);
	p->fd = -1;
	p->open_err = ENODEV;
	return 0;
}

/*
 * Read the chunk tree with the sys chunks, then install its chunks and its
 * member list: the devices given keep their fds, the others are missing.
 */
static int load_chunk_tree(struct bbs_fs *fs)
{
	const struct bbs_key min = { 0, 0, 0 };
	const struct bbs_key max = { UINT64_MAX, 255, UINT64_MAX };
	struct chunk_tree_load ct = { .nr_devs = 0 };
	int ret;

	ret = bbs_disk_search(fs, BTRFS_CHUNK_TREE_OBJECTID, &min, &max, chunk_tree_item, &ct);
	if (ret < 0) {
		snprintf(fs->err, sizeof(fs->err), "cannot read the chunk tree: %s",
			 strerror(-ret));
		goto out_free;
	}
	if (!ct.cl.nr || !ct.nr_devs) {
		ret = -EUCLEAN;
		snprintf(fs->err, sizeof(fs->err), "the chunk tree has no chunks or no devices");
		goto out_free;
	}
	for (size_t i = 0; i < fs->nr_devs; i++) {
		struct bbs_dev *given = &fs->devs[i], *d = NULL;

		for (size_t j = 0; j < ct.nr_devs && !d; j++)
			if (ct.devs[j].devid == given->devid)
				d = &ct.devs[j];
		if (!d) {
			ret = -EINVAL;
			snprintf(fs->err, sizeof(fs->err),
				 "%s (devid %llu) is not a member any more (a removed device?)",
				 given->path, (unsigned long long)given->devid);
			goto out_free;
		}
		memcpy(d->path, given->path, sizeof(d->path));
		d->fd = given->fd;
		d->open_err = 0;
		given->fd = -1;
	}
	free(fs->devs);
	fs->devs = ct.devs;
	fs->nr_devs = ct.nr_devs;
	ct.devs = NULL;
	chunks_install(fs, &ct.cl);
out_free:
	for (size_t j = 0; j < ct.nr_devs && ct.devs; j++)
		if (ct.devs[j].fd >= 0)
			close(ct.devs[j].fd);
	free(ct.devs);
	chunks_free(ct.cl.chunks, ct.cl.nr);
	return ret < 0 ? ret : 0;
}

/* Open the devices, read their superblocks, keep the newest. */
static int open_members(struct bbs_fs *fs, char *const *paths, int nr_paths, struct disk_super *sb)
{
	struct disk_super *cur = (struct disk_super *)((uint8_t *)sb + SUPER_SIZE);
	int ret;

	fs->devs = calloc(nr_paths, sizeof(*fs->devs));
	if (!fs->devs)
		return -ENOMEM;
	for (int i = 0; i < nr_paths; i++) {
		struct bbs_dev *d = &fs->devs[fs->nr_devs];
		struct stat st, prev;

		/* The second O_EXCL open of one device would fail as if it were mounted. */
		for (int j = 0; j < i; j++) {
			if (stat(paths[i], &st) || stat(paths[j], &prev) ||
			    st.st_rdev != prev.st_rdev)
				continue;
			snprintf(fs->err, sizeof(fs->err), "%s and %s are the same device",
				 paths[j], paths[i]);
			return -EINVAL;
		}
		snprintf(d->path, sizeof(d->path), "%s", paths[i]);
		d->fd = open(paths[i], O_RDONLY | O_DIRECT | O_EXCL | O_CLOEXEC);
		if (d->fd < 0) {
			ret = -errno;
			snprintf(fs->err, sizeof(fs->err), "cannot open %s: %s%s", paths[i],
				 strerror(errno),
				 errno == EBUSY ? " (mounted? give the mount point instead)" : "");
			return ret;
		}
		fs->nr_devs++;
		ret = read_super(fs, d, i ? cur : sb);
		if (ret)
			return ret;
		if (!i)
			continue;
		if (memcmp(cur->fsid, sb->fsid, BTRFS_FSID_SIZE)) {
			snprintf(fs->err, sizeof(fs->err),
				 "%s and %s are not of the same filesystem", paths[0], paths[i]);
			return -EINVAL;
		}
		if (le64toh(cur->generation) > le64toh(sb->generation))
			memcpy(sb, cur, SUPER_SIZE);
	}
	for (size_t i = 0; i < fs->nr_devs; i++) {
		/* Each device's own superblock says which member it is. */
		ret = read_super(fs, &fs->devs[i], cur);
		if (ret)
			return ret;
		fs->devs[i].devid = le64toh(cur->dev_item.devid);
		fs->devs[i].total_bytes = le64toh(cur->dev_item.total_bytes);
		for (size_t j = 0; j < i; j++) {
			if (fs->devs[j].devid != fs->devs[i].devid)
				continue;
			snprintf(fs->err, sizeof(fs->err),
				 "%s and %s are the same member (devid %llu)", fs->devs[j].path,
				 fs->devs[i].path, (unsigned long long)fs->devs[i].devid);
			return -EINVAL;
		}
	}
	return 0;
}

int bbs_fs_open_devices(struct bbs_fs *fs, char *const *paths, int nr_paths)
{
	struct disk_super *sb;
	uint64_t incompat;
	int ret;

	memset(fs, 0, sizeof(*fs));
	fs->fd = -1;
	fs->offline = true;
	/* Two superblocks: the newest so far and the one being read. */
	if (posix_memalign((void **)&sb, 4096, 2 * SUPER_SIZE)) {
		snprintf(fs->err, sizeof(fs->err), "out of memory");
		return -ENOMEM;
	}
	ret = open_members(fs, paths, nr_paths, sb);
	if (ret)
		goto out_close;
	memcpy(fs->fsid, sb->fsid, sizeof(fs->fsid));
	incompat = le64toh(sb->incompat_flags);
	memcpy(fs->meta_fsid,
	       incompat & BTRFS_FEATURE_INCOMPAT_METADATA_UUID ? sb->metadata_uuid : sb->fsid,
	       sizeof(fs->meta_fsid));
	fs->generation = le64toh(sb->generation);
	fs->root_bytenr = le64toh(sb->root);
	fs->chunk_root_bytenr = le64toh(sb->chunk_root);
	fs->sectorsize = le32toh(sb->sectorsize);
	fs->nodesize = le32toh(sb->nodesize);
	fs->csum_type = le16toh(sb->csum_type);
	fs->csum_size = bbs_csum_size(fs->csum_type);
	if (fs->sectorsize < 4096 || (fs->sectorsize & (fs->sectorsize - 1)) ||
	    fs->nodesize < fs->sectorsize || fs->nodesize % fs->sectorsize ||
	    fs->nodesize > 65536) {
		ret = -EOPNOTSUPP;
		snprintf(fs->err, sizeof(fs->err),
			 "%s: sector size %u or node size %u not supported", paths[0],
			 fs->sectorsize, fs->nodesize);
		goto out_close;
	}
	ret = load_sys_chunks(fs, sb);
	if (ret)
		goto out_close;
	ret = load_chunk_tree(fs);
	if (ret)
		goto out_close;
	free(sb);
	return 0;

out_close:
	free(sb);
	bbs_fs_close(fs);
	return ret;
}
