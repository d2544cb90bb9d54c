// SPDX-License-Identifier: GPL-2.0
/*
 * bbscope verify: recompute the checksum of every data sector of files from
 * the bytes on the member devices (O_DIRECT, never btrfs's page cache) and
 * compare it with the csum tree.  Each copy of a mirrored profile is its own
 * check, so one bad copy of a raid1 block is one mismatch naming its device.
 * A raid5/raid6 block has one copy, its data strip, checked once; whether
 * its parity is right is --parity's question, and whether the parity
 * rebuilds it is --recover's (both in verify/parity.c).
 *
 * Per filesystem: syncfs, so that delalloc and dirty pages are on disk with
 * their checksums and delayed inode items are in the fs tree.  Per file: the
 * inode's flags, its EXTENT_DATA items, then per on-disk range: csum tree
 * lookup, chunk mapping, one O_DIRECT read per copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/btrfs_tree.h>
#include <linux/magic.h>

#include "btrfs/fs.h"
#include "btrfs/csum.h"
#include "host/util.h"
#include "verify/verify.h"
#include "host/array.h"

/* Bytes checksummed per csum tree lookup (and largest single device read). */
#define WINDOW (1024 * 1024)
/* btrfs_inode_item.flags bits; the kernel's BTRFS_INODE_* are not UAPI. */
#define INODE_NODATASUM (1ULL << 0)

const char *const bbs_verify_skip_name[BBS_NR_VERIFY_SKIPS] = {
	[BBS_SKIP_HOLE] = "hole",
	[BBS_SKIP_INLINE] = "inline",
	[BBS_SKIP_PREALLOC] = "prealloc",
	[BBS_SKIP_NODATASUM] = "nodatasum",
	[BBS_SKIP_RAID56] = "raid56",
	[BBS_SKIP_NO_CSUM] = "no_csum",
	[BBS_SKIP_MISSING_DEVICE] = "missing_device",
	[BBS_SKIP_READ_ERROR] = "read_error",
};

/* An on-disk range of one file to check, and the file offset it starts at. */
struct range {
	uint64_t logical;
	uint64_t len;
	uint64_t file_offset;
	bool compressed; /* csums cover the compressed bytes: file_offset is the extent's */
};

struct verify {
	struct bbs_fs fs;
	bool fs_open;
	dev_t *devs; /* st_dev values seen on fs (one per subvolume) */
	size_t nr_devs;
	void *seen; /* tsearch tree of struct inode_id: hard links are verified once */
	struct bbs_verify_csum r;
	uint8_t *buf; /* WINDOW bytes, aligned for O_DIRECT */
	uint8_t *csums; /* stored checksums of one window */
	uint8_t *have; /* per sector of the window: has a stored checksum */
	struct range *ranges; /* of the file being verified */
	size_t nr_ranges, cap_ranges;
	int err; /* set by the nftw callback when it stops the walk */
};

struct inode_id {
	dev_t dev;
	ino_t ino;
};

/* Per file, while its EXTENT_DATA items go by. */
struct file_walk {
	struct verify *v;
	uint64_t next; /* file offset the next extent should start at */
	bool nodatasum;
};

static uint64_t blocks(const struct verify *v, uint64_t bytes)
{
	return (bytes + v->fs.sectorsize - 1) / v->fs.sectorsize;
}

static int add_range(struct verify *v, uint64_t logical, uint64_t len, uint64_t file_offset,
		     bool compressed)
{
	struct range *p =
		bbs_array_reserve(v->ranges, &v->cap_ranges, v->nr_ranges + 1, sizeof(*p), 64);

	if (!p)
		return -ENOMEM;
	v->ranges = p;
	v->ranges[v->nr_ranges++] = (struct range){ logical, len, file_offset, compressed };
	return 0;
}

static int extent_item(const struct bbs_key *key, const void *item, uint32_t len, void *arg)
{
	const struct btrfs_file_extent_item *fe = item;
	struct file_walk *w = arg;
	struct verify *v = w->v;
	uint64_t bytenr, disk_bytes, num_bytes, offset;

	if (key->type != BTRFS_EXTENT_DATA_KEY)
		return 0;
	if (len < offsetof(struct btrfs_file_extent_item, disk_bytenr))
		return -EUCLEAN;
	/* No extent item between two (the NO_HOLES feature): a hole. */
	if (key->offset > w->next)
		v->r.skipped[BBS_SKIP_HOLE] += (key->offset - w->next) / v->fs.sectorsize;
	if (fe->type == BTRFS_FILE_EXTENT_INLINE) {
		uint64_t end = key->offset + le64toh(fe->ram_bytes);

		v->r.skipped[BBS_SKIP_INLINE] += blocks(v, le64toh(fe->ram_bytes));
		end = (end + v->fs.sectorsize - 1) & ~((uint64_t)v->fs.sectorsize - 1);
		if (end > w->next)
			w->next = end;
		return 0;
	}
	if (len < sizeof(*fe))
		return -EUCLEAN;
	bytenr = le64toh(fe->disk_bytenr);
	disk_bytes = le64toh(fe->disk_num_bytes);
	num_bytes = le64toh(fe->num_bytes);
	offset = le64toh(fe->offset);
	w->next = key->offset + num_bytes;
	if (!bytenr)
		v->r.skipped[BBS_SKIP_HOLE] += blocks(v, num_bytes);
	else if (fe->type == BTRFS_FILE_EXTENT_PREALLOC)
		v->r.skipped[BBS_SKIP_PREALLOC] += blocks(v, num_bytes);
	else if (w->nodatasum)
		v->r.skipped[BBS_SKIP_NODATASUM] += blocks(v, num_bytes);
	else if (fe->compression)
		/* The csums cover the whole compressed extent as it lies on disk. */
		return add_range(v, bytenr, disk_bytes, key->offset, true);
	else
		/* Only the part this item refers to; a clone may refer to a slice. */
		return add_range(v, bytenr + offset, num_bytes, key->offset, false);
	return 0;
}

static int inode_item(const struct bbs_key *key, const void *item, uint32_t len, void *arg)
{
	const struct btrfs_inode_item *ii = item;
	uint64_t *flags = arg;

	if (key->type != BTRFS_INODE_ITEM_KEY || len < sizeof(*ii))
		return 0;
	*flags = le64toh(ii->flags);
	return 1;
}

static int cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	if (x->logical != y->logical)
		return x->logical < y->logical ? -1 : 1;
	return x->len > y->len ? -1 : x->len < y->len;
}

/* Sort by logical and cut what an earlier range covers: each on-disk block once per file. */
static void dedup_ranges(struct verify *v)
{
	uint64_t covered = 0;
	size_t out = 0;

	qsort(v->ranges, v->nr_ranges, sizeof(*v->ranges), cmp_range);
	for (size_t i = 0; i < v->nr_ranges; i++) {
		struct range r = v->ranges[i];

		if (out && r.logical + r.len <= covered)
			continue;
		if (out && r.logical < covered) {
			uint64_t cut = covered - r.logical;

			r.logical += cut;
			r.len -= cut;
			if (!r.compressed)
				r.file_offset += cut;
		}
		v->ranges[out++] = r;
		covered = r.logical + r.len;
	}
	v->nr_ranges = out;
}

static int add_mismatch(struct verify *v, const char *path, const struct range *r,
			const struct bbs_copy *cp, int mirror, uint64_t logical, uint64_t dev_off,
			const uint8_t *expected, const uint8_t *found)
{
	struct bbs_verify_mismatch *p;

	p = bbs_array_reserve(v->r.mm, &v->r.cap_mm, v->r.nr_mm + 1, sizeof(*p), 16);
	if (!p)
		return -ENOMEM;
	v->r.mm = p;
	p = &v->r.mm[v->r.nr_mm];
	memset(p, 0, sizeof(*p));
	p->path = strdup(path);
	p->device = strdup(cp->dev ? cp->dev->path : "");
	if (!p->path || !p->device) {
		free(p->path);
		free(p->device);
		return -ENOMEM;
	}
	p->file_offset = r->compressed ? r->file_offset : r->file_offset + (logical - r->logical);
	p->logical = logical;
	p->devid = cp->devid;
	p->physical = cp->physical + dev_off;
	p->mirror = mirror;
	p->compressed = r->compressed;
	memcpy(p->expected, expected, v->fs.csum_size);
	memcpy(p->found, found, v->fs.csum_size);
	v->r.nr_mm++;
	return 0;
}

static uint64_t count_have(const struct verify *v, size_t pos, size_t len)
{
	uint64_t n = 0;

	for (size_t i = pos / v->fs.sectorsize; i < (pos + len) / v->fs.sectorsize; i++)
		n += v->have[i];
	return n;
}

/*
 * Check one copy of [win_logical + pos, + len): read it, checksum each sector
 * that has a stored checksum.  A copy that cannot be read is counted, not fatal.
 */
static int check_copy(struct verify *v, const char *path, const struct range *r,
		      const struct bbs_copy *cp, int mirror, uint64_t win_logical, size_t pos,
		      size_t len)
{
	const struct bbs_fs *fs = &v->fs;
	uint64_t want = count_have(v, pos, len);
	uint8_t found[BBS_CSUM_MAX];
	int ret;

	if (!want)
		return 0;
	ret = bbs_dev_read(cp->dev, cp->physical, v->buf, len);
	if (ret == -ENODEV) {
		v->r.skipped[BBS_SKIP_MISSING_DEVICE] += want;
		return 0;
	}
	if (ret) {
		bbs_warn("cannot read %zu bytes at physical %llu of devid %llu (%s): %s", len,
			 (unsigned long long)cp->physical, (unsigned long long)cp->devid,
			 cp->dev->path, strerror(-ret));
		v->r.skipped[BBS_SKIP_READ_ERROR] += want;
		return 0;
	}
	for (size_t off = 0; off < len; off += fs->sectorsize) {
		size_t s = (pos + off) / fs->sectorsize;
		const uint8_t *expected = v->csums + s * fs->csum_size;

		if (!v->have[s])
			continue;
		bbs_csum_block(fs->csum_type, v->buf + off, fs->sectorsize, found);
		v->r.checked++;
		if (!memcmp(found, expected, fs->csum_size)) {
			v->r.matched++;
			continue;
		}
		v->r.mismatched++;
		ret = add_mismatch(v, path, r, cp, mirror, win_logical + pos + off, off, expected,
				   found);
		if (ret)
			return ret;
	}
	return 0;
}

static int check_range(struct verify *v, const char *path, const struct range *r)
{
	const struct bbs_fs *fs = &v->fs;
	int ret;

	for (uint64_t done = 0; done < r->len;) {
		uint64_t logical = r->logical + done;
		size_t win = r->len - done < WINDOW ? r->len - done : WINDOW;
		int found;

		found = bbs_csum_lookup(fs, logical, win, v->csums, v->have);
		if (found < 0) {
			bbs_err("cannot look up checksums at logical %llu: %s",
				(unsigned long long)logical, strerror(-found));
			return found;
		}
		v->r.skipped[BBS_SKIP_NO_CSUM] += win / fs->sectorsize - found;
		for (size_t pos = 0; pos < win;) {
			struct bbs_map map;
			size_t n;

			ret = bbs_map_logical(fs, logical + pos, &map);
			if (ret) {
				bbs_err("cannot map logical %llu of %s: %s (is the chunk tree "
					"changing under a balance?)",
					(unsigned long long)(logical + pos), path, strerror(-ret));
				return ret;
			}
			n = win - pos < map.len ? win - pos : map.len;
			/* raid5/6: nr_copies is 1, the data strip; parity is not a copy. */
			for (int c = 0; c < map.nr_copies; c++) {
				ret = check_copy(v, path, r, &map.copies[c], c + 1, logical, pos,
						 n);
				if (ret)
					return ret;
			}
			pos += n;
		}
		done += win;
	}
	return 0;
}

static int cmp_inode(const void *a, const void *b)
{
	const struct inode_id *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* First time this inode comes by (under any name)?  -ENOMEM when it cannot tell. */
static int first_visit(struct verify *v, const struct stat *st)
{
	struct inode_id *id = malloc(sizeof(*id)), **slot;

	if (!id)
		return -ENOMEM;
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	slot = tsearch(id, &v->seen, cmp_inode);
	if (!slot) {
		free(id);
		return -ENOMEM;
	}
	if (*slot != id) {
		free(id);
		return 0;
	}
	return 1;
}

static int verify_file(struct verify *v, const char *path)
{
	struct bbs_key min = { 0, BTRFS_INODE_ITEM_KEY, 0 }, max = { 0, BTRFS_INODE_ITEM_KEY, 0 };
	struct file_walk w = { .v = v };
	uint64_t flags = 0, tail;
	struct stat st;
	int fd, ret;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC);
	if (fd < 0 && errno == EPERM)
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		/* Removed since the directory was read: nothing left to verify. */
		bbs_warn("%s is gone, not verified", path);
		return 0;
	}
	if (fd < 0) {
		ret = -errno;
		bbs_err("cannot open %s: %s", path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st)) {
		ret = -errno;
		bbs_err("cannot stat %s: %s", path, strerror(errno));
		goto out_close;
	}
	ret = first_visit(v, &st);
	if (ret <= 0) {
		if (ret)
			bbs_err("cannot track visited files: out of memory");
		goto out_close;
	}
	v->r.files++;
	min.objectid = max.objectid = st.st_ino;
	max.offset = UINT64_MAX;
	ret = bbs_tree_search(fd, 0, &min, &max, inode_item, &flags);
	if (ret < 0) {
		bbs_err("cannot read the inode item of %s: %s", path, strerror(-ret));
		goto out_close;
	}
	w.nodatasum = flags & INODE_NODATASUM;

	v->nr_ranges = 0;
	min.type = max.type = BTRFS_EXTENT_DATA_KEY;
	ret = bbs_tree_search(fd, 0, &min, &max, extent_item, &w);
	if (ret < 0) {
		bbs_err("cannot read the extent items of %s: %s", path, strerror(-ret));
		goto out_close;
	}
	tail = ((uint64_t)st.st_size + v->fs.sectorsize - 1) & ~((uint64_t)v->fs.sectorsize - 1);
	if (tail > w.next)
		v->r.skipped[BBS_SKIP_HOLE] += (tail - w.next) / v->fs.sectorsize;

	dedup_ranges(v);
	for (size_t i = 0; i < v->nr_ranges; i++) {
		ret = check_range(v, path, &v->ranges[i]);
		if (ret)
			goto out_close;
	}
	ret = 0;
out_close:
	close(fd);
	return ret;
}

/* Is the directory at path (st) on the filesystem being verified?  Subvolumes are. */
static bool on_fs(struct verify *v, const char *path, const struct stat *st)
{
	struct statfs sfs;
	bool same;
	dev_t *p;
	int fd;

	for (size_t i = 0; i < v->nr_devs; i++)
		if (v->devs[i] == st->st_dev)
			return true;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return false;
	same = !fstatfs(fd, &sfs) && sfs.f_type == BTRFS_SUPER_MAGIC && bbs_fs_same(&v->fs, fd);
	close(fd);
	if (!same)
		return false;
	p = realloc(v->devs, (v->nr_devs + 1) * sizeof(*p));
	if (!p)
		return false;
	v->devs = p;
	v->devs[v->nr_devs++] = st->st_dev;
	return true;
}

/* nftw() passes no argument to its callback. */
static struct verify *walk_ctx;

static int walk_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	struct verify *v = walk_ctx;

	switch (flag) {
	case FTW_D:
		return on_fs(v, path, st) ? FTW_CONTINUE : FTW_SKIP_SUBTREE;
	case FTW_DNR:
	case FTW_NS:
		v->err = -EACCES;
		bbs_err("cannot read %s (check that it still exists)", path);
		return FTW_STOP;
	case FTW_F:
		if (!S_ISREG(st->st_mode))
			return FTW_CONTINUE;
		v->err = verify_file(v, path);
		return v->err ? FTW_STOP : FTW_CONTINUE;
	default:
		return FTW_CONTINUE;
	}
}

/* Open the filesystem path is on, unless it is the one already open. */
static int use_fs(struct verify *v, const char *path)
{
	struct stat st;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		bbs_err("cannot open %s: %s", path, strerror(errno));
		return ret;
	}
	if (v->fs_open && bbs_fs_same(&v->fs, fd))
		goto out_known;
	if (v->fs_open) {
		bbs_fs_close(&v->fs);
		v->fs_open = false;
		v->nr_devs = 0;
	}
	ret = bbs_fs_open(&v->fs, path);
	if (ret) {
		close(fd);
		bbs_err("%s", v->fs.err);
		return ret;
	}
	v->fs_open = true;
	/*
	 * Commit first: dirty pages and delalloc reach the disk with their
	 * checksums, and delayed inode items (flags, sizes) reach the fs tree,
	 * which is what the tree search reads.  Nothing is written that the
	 * next transaction commit would not write anyway.
	 */
	if (syncfs(fd))
		bbs_warn("cannot sync %s: %s (data not yet on disk may be reported as no_csum)",
			 path, strerror(errno));
out_known:
	if (!fstat(fd, &st))
		on_fs(v, path, &st);
	close(fd);
	return 0;
}

static int verify_path(struct verify *v, const char *path)
{
	char *real = NULL;
	struct stat st;
	int ret;

	/* A symlink given by name is followed; nftw (FTW_PHYS) would not. */
	if (!lstat(path, &st) && S_ISLNK(st.st_mode)) {
		real = realpath(path, NULL);
		if (!real) {
			ret = -errno;
			bbs_err("cannot resolve %s: %s", path, strerror(errno));
			return ret;
		}
		path = real;
	}
	ret = use_fs(v, path);
	if (ret)
		goto out_free;
	walk_ctx = v;
	v->err = 0;
	if (nftw(path, walk_one, 64, FTW_PHYS | FTW_ACTIONRETVAL) < 0 && !v->err) {
		v->err = -errno;
		bbs_err("cannot walk %s: %s", path, strerror(errno));
	}
	ret = v->err;
out_free:
	free(real);
	return ret;
}

int bbs_verify_csum_paths(char *const *paths, int n)
{
	struct statfs sfs;
	struct stat st;

	for (int i = 0; i < n; i++) {
		if (stat(paths[i], &st) || statfs(paths[i], &sfs)) {
			bbs_err("cannot access %s: %s (check the path)", paths[i], strerror(errno));
			return -EINVAL;
		}
		if (S_ISBLK(st.st_mode)) {
			/* statfs() of a device node describes /dev, not what the device holds. */
			bbs_err("%s is a block device: verify checks the files of a mounted btrfs "
				"(give a path on it); --parity and --recover also take member "
				"devices",
				paths[i]);
			return -EINVAL;
		}
		if (sfs.f_type != BTRFS_SUPER_MAGIC) {
			bbs_err("%s is not on a btrfs filesystem (verify reads btrfs only)",
				paths[i]);
			return -EINVAL;
		}
		if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
			bbs_err("%s is neither a regular file nor a directory", paths[i]);
			return -EINVAL;
		}
	}
	return 0;
}

static void free_mismatches(struct bbs_verify_csum *r)
{
	for (size_t i = 0; i < r->nr_mm; i++) {
		free(r->mm[i].path);
		free(r->mm[i].device);
	}
	free(r->mm);
	r->mm = NULL;
	r->nr_mm = r->cap_mm = 0;
}

int bbs_verify_csum(char *const *paths, int n, struct bbs_verify_csum *res)
{
	struct verify v = { .fs.fd = -1 };
	int ret = -ENOMEM;

	memset(res, 0, sizeof(*res));
	v.csums = malloc((WINDOW / 4096) * BBS_CSUM_MAX);
	v.have = malloc(WINDOW / 4096);
	if (!v.csums || !v.have || posix_memalign((void **)&v.buf, 4096, WINDOW)) {
		v.buf = NULL;
		bbs_err("cannot allocate read buffers: out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		ret = verify_path(&v, paths[i]);
		if (ret)
			goto out;
	}
	v.r.csum_size = v.fs.csum_size;
	*res = v.r;
	v.r.mm = NULL;
	v.r.nr_mm = 0;
out:
	if (v.fs_open)
		bbs_fs_close(&v.fs);
	free_mismatches(&v.r);
	tdestroy(v.seen, free);
	free(v.ranges);
	free(v.devs);
	free(v.buf);
	free(v.have);
	free(v.csums);
	return ret;
}

void bbs_verify_csum_free(struct bbs_verify_csum *res)
{
	free_mismatches(res);
}
