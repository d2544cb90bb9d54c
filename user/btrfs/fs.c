// SPDX-License-Identifier: GPL-2.0
/*
 * A mounted btrfs from user space: FS_INFO, DEV_INFO, TREE_SEARCH_V2, the
 * chunk mapping of btrfs_map_block() for every profile and O_DIRECT reads
 * from the member devices.  An unmounted one is read from its devices by
 * btrfs/disk.c; btrfs/search.c searches either, and looks checksums up.
 * See btrfs/fs.h.
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

#include "btrfs/chunks.h"
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

void chunks_free(struct bbs_chunk *chunks, size_t nr)
{
	for (size_t i = 0; i < nr; i++)
		free(chunks[i].stripes);
	free(chunks);
}

int chunk_add(struct chunk_load *cl, uint64_t logical, const void *item, uint32_t len)
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

void chunks_install(struct bbs_fs *fs, struct chunk_load *cl)
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
