// SPDX-License-Identifier: GPL-2.0
/*
 * A mounted btrfs from user space: FS_INFO, DEV_INFO, TREE_SEARCH_V2, the
 * chunk mapping of btrfs_map_block() for every profile, the csum tree and
 * O_DIRECT reads from the member devices.  An unmounted one from its devices:
 * superblock, sys_chunk_array and a reader of the on-disk B-trees that
 * bbs_fs_search() walks the way the search ioctl would.  See btrfs_fs.h.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/btrfs_tree.h>
#include <linux/magic.h>

#include "btrfs/fs.h"
#include "btrfs/stripe.h"

/* Big enough for any item (items are smaller than a 64K node) plus headers. */
#define SEARCH_BUF_SIZE (256 * 1024)

/* The next key after k in the 136-bit key space; false when k is the last. */
static bool key_next(struct bbs_key *k)
{
	if (++k->offset)
		return true;
	if (k->type < 255) {
		k->type++;
		return true;
	}
	k->type = 0;
	return ++k->objectid != 0;
}

int bbs_tree_search(int fd, uint64_t tree_id, const struct bbs_key *min, const struct bbs_key *max,
		    bbs_item_fn fn, void *arg)
{
	struct btrfs_ioctl_search_args_v2 *args;
	struct btrfs_ioctl_search_key *sk;
	struct bbs_key cur = *min, key = *min;
	int ret = 0;

	args = malloc(sizeof(*args) + SEARCH_BUF_SIZE);
	if (!args)
		return -ENOMEM;
	sk = &args->key;
	for (;;) {
		size_t pos = 0;

		memset(sk, 0, sizeof(*sk));
		sk->tree_id = tree_id;
		sk->min_objectid = cur.objectid;
		sk->min_type = cur.type;
		sk->min_offset = cur.offset;
		sk->max_objectid = max->objectid;
		sk->max_type = max->type;
		sk->max_offset = max->offset;
		sk->max_transid = UINT64_MAX;
		sk->nr_items = UINT32_MAX;
		args->buf_size = SEARCH_BUF_SIZE;
		if (ioctl(fd, BTRFS_IOC_TREE_SEARCH_V2, args) < 0) {
			ret = -errno;
			goto out_free;
		}
		if (!sk->nr_items)
			break;
		for (uint32_t i = 0; i < sk->nr_items; i++) {
			struct btrfs_ioctl_search_header sh;

			memcpy(&sh, args->buf + pos, sizeof(sh));
			pos += sizeof(sh);
			key.objectid = sh.objectid;
			key.type = sh.type;
			key.offset = sh.offset;
			ret = fn(&key, args->buf + pos, sh.len, arg);
			if (ret)
				goto out_free;
			pos += sh.len;
		}
		/* The kernel returns a key range, min and max included: go on after the last. */
		cur = key;
		if (!key_next(&cur))
			break;
		if (cur.objectid > max->objectid ||
		    (cur.objectid == max->objectid &&
		     (cur.type > max->type || (cur.type == max->type && cur.offset > max->offset))))
			break;
	}
out_free:
	free(args);
	return ret;
}

const char *bbs_profile_name(uint64_t type)
{
	switch (type & BTRFS_BLOCK_GROUP_PROFILE_MASK) {
	case 0:
		return "single";
	case BTRFS_BLOCK_GROUP_DUP:
		return "dup";
	case BTRFS_BLOCK_GROUP_RAID0:
		return "raid0";
	case BTRFS_BLOCK_GROUP_RAID1:
		return "raid1";
	case BTRFS_BLOCK_GROUP_RAID1C3:
		return "raid1c3";
	case BTRFS_BLOCK_GROUP_RAID1C4:
		return "raid1c4";
	case BTRFS_BLOCK_GROUP_RAID10:
		return "raid10";
	case BTRFS_BLOCK_GROUP_RAID5:
		return "raid5";
	case BTRFS_BLOCK_GROUP_RAID6:
		return "raid6";
	default:
		return "unknown";
	}
}

static struct bbs_dev *dev_find(struct bbs_fs *fs, uint64_t devid)
{
	for (size_t i = 0; i < fs->nr_devs; i++)
		if (fs->devs[i].devid == devid)
			return &fs->devs[i];
	return NULL;
}

static int load_devs(struct bbs_fs *fs, uint64_t max_id)
{
	struct btrfs_ioctl_dev_info_args *di;
	int ret = 0;

	di = malloc(sizeof(*di));
	if (!di)
		return -ENOMEM;
	fs->devs = calloc(max_id, sizeof(*fs->devs));
	if (!fs->devs) {
		ret = -ENOMEM;
		goto out_free;
	}
	for (uint64_t devid = 1; devid <= max_id; devid++) {
		struct bbs_dev *d = &fs->devs[fs->nr_devs];

		memset(di, 0, sizeof(*di));
		di->devid = devid;
		if (ioctl(fs->fd, BTRFS_IOC_DEV_INFO, di) < 0) {
			if (errno == ENODEV) /* a removed device's id */
				continue;
			ret = -errno;
			snprintf(fs->err, sizeof(fs->err), "cannot get device %llu info: %s",
				 (unsigned long long)devid, strerror(errno));
			goto out_free;
		}
		d->devid = devid;
		d->total_bytes = di->total_bytes;
		memcpy(d->path, di->path, sizeof(di->path));
		d->path[sizeof(d->path) - 1] = 0;
		d->fd = -1;
		d->open_err = ENODEV;
		if (d->path[0]) {
			d->fd = open(d->path, O_RDONLY | O_DIRECT | O_CLOEXEC);
			d->open_err = d->fd < 0 ? errno : 0;
		}
		fs->nr_devs++;
	}
out_free:
	free(di);
	return ret;
}

/* Chunks as they are read, in key (logical) order; stripes get their device later. */
struct chunk_load {
	struct bbs_chunk *chunks;
	size_t nr, cap;
};

static void chunks_free(struct bbs_chunk *chunks, size_t nr)
{
	for (size_t i = 0; i < nr; i++)
		free(chunks[i].stripes);
	free(chunks);
}

/* One CHUNK_ITEM (from the chunk tree or the superblock's sys_chunk_array). */
static int chunk_add(struct chunk_load *cl, uint64_t logical, const void *item, uint32_t len)
{
	const struct btrfs_chunk *ci = item;
	struct bbs_chunk *c;
	uint16_t n;

	if (len < sizeof(*ci))
		return -EUCLEAN;
	n = le16toh(ci->num_stripes);
	if (!n || len < sizeof(*ci) + (n - 1) * sizeof(struct btrfs_stripe))
		return -EUCLEAN;
	if (cl->nr == cl->cap) {
		size_t cap = cl->cap ? cl->cap * 2 : 64;
		struct bbs_chunk *p = realloc(cl->chunks, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		cl->chunks = p;
		cl->cap = cap;
	}
	c = &cl->chunks[cl->nr];
	c->stripes = calloc(n, sizeof(*c->stripes));
	if (!c->stripes)
		return -ENOMEM;
	c->logical = logical;
	c->length = le64toh(ci->length);
	c->stripe_len = le64toh(ci->stripe_len);
	c->type = le64toh(ci->type);
	c->num_stripes = n;
	c->sub_stripes = le16toh(ci->sub_stripes);
	for (uint16_t i = 0; i < n; i++) {
		const struct btrfs_stripe *s = &(&ci->stripe)[i];

		c->stripes[i].devid = le64toh(s->devid);
		c->stripes[i].physical = le64toh(s->offset);
	}
	cl->nr++;
	return 0;
}

static int chunk_item(const struct bbs_key *key, const void *item, uint32_t len, void *arg)
{
	if (key->type != BTRFS_CHUNK_ITEM_KEY)
		return 0;
	return chunk_add(arg, key->offset, item, len);
}

/* Make cl's chunks fs's, each stripe pointing at its member in fs->devs. */
static void chunks_install(struct bbs_fs *fs, struct chunk_load *cl)
{
	chunks_free(fs->chunks, fs->nr_chunks);
	fs->chunks = cl->chunks;
	fs->nr_chunks = cl->nr;
	for (size_t i = 0; i < fs->nr_chunks; i++)
		for (uint16_t j = 0; j < fs->chunks[i].num_stripes; j++)
			fs->chunks[i].stripes[j].dev = dev_find(fs, fs->chunks[i].stripes[j].devid);
	memset(cl, 0, sizeof(*cl));
}

static int load_chunks(struct bbs_fs *fs)
{
	const struct bbs_key min = { BTRFS_FIRST_CHUNK_TREE_OBJECTID, BTRFS_CHUNK_ITEM_KEY, 0 };
	const struct bbs_key max = { BTRFS_FIRST_CHUNK_TREE_OBJECTID, BTRFS_CHUNK_ITEM_KEY,
				     UINT64_MAX };
	struct chunk_load cl = { 0 };
	int ret;

	ret = bbs_tree_search(fs->fd, BTRFS_CHUNK_TREE_OBJECTID, &min, &max, chunk_item, &cl);
	if (!ret)
		chunks_install(fs, &cl);
	chunks_free(cl.chunks, cl.nr);
	if (ret < 0)
		snprintf(fs->err, sizeof(fs->err), "cannot read the chunk tree: %s",
			 strerror(-ret));
	else if (!fs->nr_chunks)
		ret = -EUCLEAN;
	if (ret == -EUCLEAN)
		snprintf(fs->err, sizeof(fs->err), "the chunk tree has no usable chunk items");
	return ret < 0 ? ret : 0;
}

static int fs_info(int fd, struct btrfs_ioctl_fs_info_args *fi)
{
	memset(fi, 0, sizeof(*fi));
	fi->flags = BTRFS_FS_INFO_FLAG_CSUM_INFO;
	return ioctl(fd, BTRFS_IOC_FS_INFO, fi) < 0 ? -errno : 0;
}

int bbs_fs_open(struct bbs_fs *fs, const char *path)
{
	struct btrfs_ioctl_fs_info_args fi;
	struct statfs sfs;
	int ret;

	memset(fs, 0, sizeof(*fs));
	fs->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fs->fd < 0) {
		ret = -errno;
		snprintf(fs->err, sizeof(fs->err), "cannot open %s: %s", path, strerror(errno));
		return ret;
	}
	if (fstatfs(fs->fd, &sfs) || sfs.f_type != BTRFS_SUPER_MAGIC) {
		ret = -ENOTTY;
		snprintf(fs->err, sizeof(fs->err), "%s is not on a btrfs filesystem", path);
		goto out_close;
	}
	ret = fs_info(fs->fd, &fi);
	if (ret) {
		snprintf(fs->err, sizeof(fs->err), "BTRFS_IOC_FS_INFO on %s: %s", path,
			 strerror(-ret));
		goto out_close;
	}
	memcpy(fs->fsid, fi.fsid, sizeof(fs->fsid));
	fs->sectorsize = fi.sectorsize;
	fs->nodesize = fi.nodesize;
	if (fi.flags & BTRFS_FS_INFO_FLAG_CSUM_INFO) {
		fs->csum_type = fi.csum_type;
		fs->csum_size = fi.csum_size;
	} else {
		/* Kernels before 5.5 only know crc32c. */
		fs->csum_type = BBS_CSUM_CRC32C;
		fs->csum_size = 4;
	}
	if (fs->csum_type >= BBS_NR_CSUMS || fs->csum_size != bbs_csum_size(fs->csum_type) ||
	    !fs->sectorsize || (fs->sectorsize & (fs->sectorsize - 1))) {
		ret = -EOPNOTSUPP;
		snprintf(fs->err, sizeof(fs->err),
			 "%s: checksum type %u (%u bytes) or sector size %u not supported", path,
			 fi.csum_type, fi.csum_size, fi.sectorsize);
		goto out_close;
	}
	ret = load_devs(fs, fi.max_id);
	if (ret)
		goto out_close;
	ret = load_chunks(fs);
	if (ret)
		goto out_close;
	return 0;

out_close:
	bbs_fs_close(fs);
	return ret;
}

/* Frees what bbs_fs_open(_devices) got; fs->err stays for the caller to print. */
void bbs_fs_close(struct bbs_fs *fs)
{
	chunks_free(fs->chunks, fs->nr_chunks);
	fs->chunks = NULL;
	fs->nr_chunks = 0;
	for (size_t i = 0; i < fs->nr_devs; i++)
		if (fs->devs[i].fd >= 0)
			close(fs->devs[i].fd);
	free(fs->devs);
	fs->devs = NULL;
	fs->nr_devs = 0;
	if (fs->fd >= 0)
		close(fs->fd);
	fs->fd = -1;
}

bool bbs_fs_same(const struct bbs_fs *fs, int fd)
{
	struct btrfs_ioctl_fs_info_args fi;

	return !fs_info(fd, &fi) && !memcmp(fi.fsid, fs->fsid, sizeof(fs->fsid));
}

const struct bbs_chunk *bbs_chunk_find(const struct bbs_fs *fs, uint64_t logical)
{
	size_t lo = 0, hi = fs->nr_chunks;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct bbs_chunk *c = &fs->chunks[mid];

		if (logical < c->logical)
			hi = mid;
		else if (logical - c->logical >= c->length)
			lo = mid + 1;
		else
			return c;
	}
	return NULL;
}

static void set_copy(struct bbs_map *map, const struct bbs_stripe *s, uint64_t offset)
{
	struct bbs_copy *cp = &map->copies[map->nr_copies++];

	cp->devid = s->devid;
	cp->physical = s->physical + offset;
	cp->dev = s->dev;
}

/*
 * btrfs_map_block() for one address.  offset is the byte offset in the
 * chunk; stripe_nr counts stripe_len elements from the chunk start.
 */
int bbs_map_logical(const struct bbs_fs *fs, uint64_t logical, struct bbs_map *map)
{
	const struct bbs_chunk *c = bbs_chunk_find(fs, logical);
	uint64_t offset, stripe_nr, stripe_off, elem_left, dev_off;
	uint64_t type;
	unsigned int n, idx;

	memset(map, 0, sizeof(*map));
	if (!c)
		return -ENOENT;
	if (!c->stripe_len || !c->num_stripes)
		return -EUCLEAN;
	map->chunk = c;
	type = c->type & BTRFS_BLOCK_GROUP_PROFILE_MASK;
	n = c->num_stripes;
	offset = logical - c->logical;
	stripe_nr = offset / c->stripe_len;
	stripe_off = offset % c->stripe_len;
	elem_left = c->stripe_len - stripe_off;

	switch (type) {
	case 0:
	case BTRFS_BLOCK_GROUP_DUP:
	case BTRFS_BLOCK_GROUP_RAID1:
	case BTRFS_BLOCK_GROUP_RAID1C3:
	case BTRFS_BLOCK_GROUP_RAID1C4:
		/* Every stripe holds the whole chunk at the same offset. */
		if (n > BBS_MAX_COPIES)
			return -EUCLEAN;
		for (unsigned int i = 0; i < n; i++)
			set_copy(map, &c->stripes[i], offset);
		map->len = c->length - offset;
		return 0;
	case BTRFS_BLOCK_GROUP_RAID0:
		idx = stripe_nr % n;
		dev_off = (stripe_nr / n) * c->stripe_len + stripe_off;
		set_copy(map, &c->stripes[idx], dev_off);
		break;
	case BTRFS_BLOCK_GROUP_RAID10: {
		unsigned int sub = c->sub_stripes ? c->sub_stripes : 2;
		unsigned int factor = n / sub;

		if (!factor || sub > BBS_MAX_COPIES)
			return -EUCLEAN;
		idx = (stripe_nr % factor) * sub;
		dev_off = (stripe_nr / factor) * c->stripe_len + stripe_off;
		for (unsigned int i = 0; i < sub; i++)
			set_copy(map, &c->stripes[idx + i], dev_off);
		break;
	}
	case BTRFS_BLOCK_GROUP_RAID5:
	case BTRFS_BLOCK_GROUP_RAID6: {
		/* Data stripe only; the geometry is btrfs/stripe.h's. */
		unsigned int nr_parity = type == BTRFS_BLOCK_GROUP_RAID5 ? 1 : 2;
		unsigned int nr_data = n > nr_parity ? n - nr_parity : 0;
		uint64_t full;

		if (!nr_data)
			return -EUCLEAN;
		full = stripe_nr / nr_data;
		idx = bbs_strip_dev(full, stripe_nr % nr_data, n);
		dev_off = full * c->stripe_len + stripe_off;
		set_copy(map, &c->stripes[idx], dev_off);
		map->nr_parity = nr_parity;
		break;
	}
	default:
		return -EUCLEAN;
	}
	map->len = elem_left;
	if (map->len > c->length - offset)
		map->len = c->length - offset;
	return 0;
}

uint64_t bbs_chunk_nr_full_stripes(const struct bbs_chunk *c)
{
	unsigned int nr_data = bbs_chunk_nr_data(c);

	if (!bbs_chunk_nr_parity(c) || !nr_data || !c->stripe_len)
		return 0;
	return c->length / (nr_data * c->stripe_len);
}

void bbs_full_stripe_strip(const struct bbs_chunk *c, uint64_t f, unsigned int j,
			   struct bbs_copy *cp)
{
	const struct bbs_stripe *s = &c->stripes[bbs_strip_dev(f, j, c->num_stripes)];

	cp->devid = s->devid;
	cp->physical = s->physical + f * c->stripe_len;
	cp->dev = s->dev;
}

int bbs_dev_read(const struct bbs_dev *dev, uint64_t physical, void *buf, size_t len)
{
	size_t done = 0;

	if (!dev || dev->fd < 0)
		return -ENODEV;
	while (done < len) {
		ssize_t n = pread(dev->fd, (char *)buf + done, len - done, physical + done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!n)
			return -EIO;
		done += n;
	}
	return 0;
}

int bbs_read_logical(const struct bbs_fs *fs, uint64_t logical, size_t len, int mirror, void *buf)
{
	size_t done = 0;

	if (mirror < 1)
		return -EINVAL;
	while (done < len) {
		struct bbs_map map;
		size_t n;
		int ret;

		ret = bbs_map_logical(fs, logical + done, &map);
		if (ret)
			return ret;
		if (mirror > map.nr_copies)
			return map.nr_parity ? -EOPNOTSUPP : -ERANGE;
		n = len - done < map.len ? len - done : map.len;
		ret = bbs_dev_read(map.copies[mirror - 1].dev, map.copies[mirror - 1].physical,
				   (char *)buf + done, n);
		if (ret)
			return ret;
		done += n;
	}
	return 0;
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

static int search_disk(const struct bbs_fs *fs, uint64_t tree_id, const struct bbs_key *min,
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

		ret = search_disk(fs, BTRFS_ROOT_TREE_OBJECTID, &rmin, &rmax, root_item, &root);
		if (ret < 0)
			return ret;
		if (!root)
			return -ENOENT;
	}
	}
	ret = walk_tree(&w, root, -1);
	return ret;
}

int bbs_fs_search(const struct bbs_fs *fs, uint64_t tree_id, const struct bbs_key *min,
		  const struct bbs_key *max, bbs_item_fn fn, void *arg)
{
	if (!fs->offline)
		return bbs_tree_search(fs->fd, tree_id, min, max, fn, arg);
	return search_disk(fs, tree_id, min, max, fn, arg);
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

	ret = bbs_fs_search(fs, BTRFS_CHUNK_TREE_OBJECTID, &min, &max, chunk_tree_item, &ct);
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
