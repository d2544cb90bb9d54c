// SPDX-License-Identifier: GPL-2.0
/*
 * bbscope verify: recompute the checksum of every data sector of files from
 * the bytes on the member devices (O_DIRECT, never btrfs's page cache) and
 * compare it with the csum tree.  Each copy of a mirrored profile is its own
 * check, so one bad copy of a raid1 block is one mismatch naming its device.
 * A raid5/raid6 block has one copy, its data strip, checked once; whether
 * its parity is right is --parity's question, and whether the parity
 * rebuilds it is --recover's (both in verify_parity.c).
 *
 * Per filesystem: syncfs, so that delalloc and dirty pages are on disk with
 * their checksums and delayed inode items are in the fs tree.  Per file: the
 * inode's flags, its EXTENT_DATA items, then per on-disk range: csum tree
 * lookup, chunk mapping, one O_DIRECT read per copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <jansson.h>
#include <linux/btrfs_tree.h>
#include <linux/magic.h>

#include "btrfs/fs.h"
#include "cli/cmd.h"
#include "btrfs/csum.h"
#include "host/util.h"
#include "verify/verify.h"

/* Bytes checksummed per csum tree lookup (and largest single device read). */
#define WINDOW (1024 * 1024)
/* btrfs_inode_item.flags bits; the kernel's BTRFS_INODE_* are not UAPI. */
#define INODE_NODATASUM (1ULL << 0)

/* Why blocks were not checked; the names are the JSON keys of "skipped". */
enum skip_reason {
	SKIP_HOLE, /* no extent, or an explicit hole extent */
	SKIP_INLINE, /* data inside the fs tree leaf, covered by its node csum */
	SKIP_PREALLOC, /* fallocated, never written: no checksums */
	SKIP_NODATASUM, /* inode flag (chattr +C, mount -o nodatasum) */
	SKIP_RAID56, /* never counted now that raid5/6 data is checked; the key stays for scripts */
	SKIP_NO_CSUM, /* a data extent sector without a csum tree item */
	SKIP_MISSING_DEVICE, /* the copy's device is missing or cannot be opened */
	SKIP_READ_ERROR, /* reading the copy failed */
	NR_SKIPS,
};

static const char *const skip_name[NR_SKIPS] = {
	[SKIP_HOLE] = "hole",
	[SKIP_INLINE] = "inline",
	[SKIP_PREALLOC] = "prealloc",
	[SKIP_NODATASUM] = "nodatasum",
	[SKIP_RAID56] = "raid56",
	[SKIP_NO_CSUM] = "no_csum",
	[SKIP_MISSING_DEVICE] = "missing_device",
	[SKIP_READ_ERROR] = "read_error",
};

/* An on-disk range of one file to check, and the file offset it starts at. */
struct range {
	uint64_t logical;
	uint64_t len;
	uint64_t file_offset;
	bool compressed; /* csums cover the compressed bytes: file_offset is the extent's */
};

struct mismatch {
	char *path;
	char *device;
	uint64_t file_offset;
	uint64_t logical;
	uint64_t devid;
	uint64_t physical;
	int mirror;
	bool compressed;
	uint8_t expected[BBS_CSUM_MAX];
	uint8_t found[BBS_CSUM_MAX];
};

struct verify {
	struct bbs_fs fs;
	bool fs_open;
	dev_t *devs; /* st_dev values seen on fs (one per subvolume) */
	size_t nr_devs;
	void *seen; /* tsearch tree of struct inode_id: hard links are verified once */
	uint64_t files, checked, matched, mismatched;
	uint64_t skipped[NR_SKIPS];
	struct mismatch *mm;
	size_t nr_mm, cap_mm;
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

static void usage(FILE *f)
{
	fprintf(f, "usage: bbscope verify [--json] PATH...\n"
		   "       bbscope verify --parity [--json] MOUNTPOINT|DEVICE...\n"
		   "       bbscope verify --recover DEVID [--recover DEVID] [--json] "
		   "MOUNTPOINT|DEVICE...\n"
		   "\n"
		   "Recompute the btrfs checksum of every data block of each regular file\n"
		   "(of every regular file below a directory, not crossing into other\n"
		   "filesystems; a file with several names once) from the bytes on the\n"
		   "member devices, read with O_DIRECT, and compare it with the csum tree.\n"
		   "Every copy of dup, raid1, raid1c3, raid1c4 and raid10 is checked on its\n"
		   "own; a raid5/raid6 block once, in its data strip (its other 'copies' are\n"
		   "rebuilds from parity: --parity and --recover check those).  Needs root.\n"
		   "Read-only, except that each filesystem is synced first (syncfs: a\n"
		   "transaction commit) so that data still in the page cache is on disk with\n"
		   "its checksums; nothing is written that the kernel would not write at its\n"
		   "next commit anyway.\n"
		   "\n"
		   "Not checked, counted in blocks under 'skipped': hole, inline, prealloc,\n"
		   "nodatasum, no_csum, and per copy missing_device and read_error (raid56 is\n"
		   "always 0 now and kept for scripts).  A compressed extent is checked as\n"
		   "stored (compressed); its mismatches give the file offset where the\n"
		   "extent's data starts.\n"
		   "\n"
		   "--parity reads every full stripe of every raid5/raid6 block group from\n"
		   "the members and compares P (and Q) with the parity of the data, in the\n"
		   "columns (same sector of each strip) that hold a referenced extent (extent\n"
		   "tree): btrfs writes parity there and nowhere else.  Full stripes with no\n"
		   "referenced sector are counted as unreferenced, never as mismatches.  A\n"
		   "mismatch names the strip that disagrees: P or Q, or the data strip when\n"
		   "the raid6 syndrome or (raid5) a data checksum points at one.\n"
		   "--recover DEVID rebuilds every strip of that member (two members for\n"
		   "raid6) from the other strips and compares the rebuild with the disk.\n"
		   "Both take the mount point of a mounted filesystem (synced first; stripes\n"
		   "written meanwhile may disagree) or the member devices of an unmounted one\n"
		   "(opened exclusively; members not given count as missing).\n"
		   "--parity on a degraded array (members missing, or left out of DEVICE...)\n"
		   "rebuilds the missing strips and checks with what is left: raid6 with one\n"
		   "strip missing by the other parity; raid5 with one, raid6 with two, by the\n"
		   "stored checksums of the rebuilt data sectors, and where those do not cover\n"
		   "every referenced column (a missing P, metadata, free space) the stripe is\n"
		   "skipped as no_redundancy_left; more strips missing than parity strips:\n"
		   "missing_device.\n"
		   "\n"
		   "  -p, --parity         check raid5/raid6 parity, counting full stripes\n"
		   "  -r, --recover DEVID  rebuild a member's strips, counting strips\n"
		   "  -j, --json           one JSON object: files, checked, matched,\n"
		   "                       mismatched, skipped {reason: blocks}, mismatches\n"
		   "                       [{path, file_offset, logical, devid, device,\n"
		   "                       physical, mirror, ...}]; with --parity/--recover:\n"
		   "                       mode, unit, block_groups, checked, matched,\n"
		   "                       mismatched, unreferenced, degraded_matched,\n"
		   "                       degraded_mismatched (of matched, mismatched: with\n"
		   "                       strips missing), degraded_by_csum (of those: through\n"
		   "                       data checksums), skipped {missing_device,\n"
		   "                       read_error, no_redundancy_left}, mismatches\n"
		   "                       [{logical (of the full stripe), profile, strip, kind\n"
		   "                       (data|p|q), devid, device, physical (of the first\n"
		   "                       bad sector), sectors, degraded}]\n"
		   "  -h, --help           this text\n"
		   "\n"
		   "Exit status: 0 every checked block (stripe, strip) matches, 1 a mismatch,\n"
		   "2 an error (including read errors on a member device).\n");
}

static uint64_t blocks(const struct verify *v, uint64_t bytes)
{
	return (bytes + v->fs.sectorsize - 1) / v->fs.sectorsize;
}

static int add_range(struct verify *v, uint64_t logical, uint64_t len, uint64_t file_offset,
		     bool compressed)
{
	if (v->nr_ranges == v->cap_ranges) {
		size_t cap = v->cap_ranges ? v->cap_ranges * 2 : 64;
		struct range *p = realloc(v->ranges, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		v->ranges = p;
		v->cap_ranges = cap;
	}
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
		v->skipped[SKIP_HOLE] += (key->offset - w->next) / v->fs.sectorsize;
	if (fe->type == BTRFS_FILE_EXTENT_INLINE) {
		uint64_t end = key->offset + le64toh(fe->ram_bytes);

		v->skipped[SKIP_INLINE] += blocks(v, le64toh(fe->ram_bytes));
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
		v->skipped[SKIP_HOLE] += blocks(v, num_bytes);
	else if (fe->type == BTRFS_FILE_EXTENT_PREALLOC)
		v->skipped[SKIP_PREALLOC] += blocks(v, num_bytes);
	else if (w->nodatasum)
		v->skipped[SKIP_NODATASUM] += blocks(v, num_bytes);
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
	struct mismatch *p;

	if (v->nr_mm == v->cap_mm) {
		size_t cap = v->cap_mm ? v->cap_mm * 2 : 16;

		p = realloc(v->mm, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		v->mm = p;
		v->cap_mm = cap;
	}
	p = &v->mm[v->nr_mm];
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
	v->nr_mm++;
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
		v->skipped[SKIP_MISSING_DEVICE] += want;
		return 0;
	}
	if (ret) {
		bbs_warn("cannot read %zu bytes at physical %llu of devid %llu (%s): %s", len,
			 (unsigned long long)cp->physical, (unsigned long long)cp->devid,
			 cp->dev->path, strerror(-ret));
		v->skipped[SKIP_READ_ERROR] += want;
		return 0;
	}
	for (size_t off = 0; off < len; off += fs->sectorsize) {
		size_t s = (pos + off) / fs->sectorsize;
		const uint8_t *expected = v->csums + s * fs->csum_size;

		if (!v->have[s])
			continue;
		bbs_csum_block(fs->csum_type, v->buf + off, fs->sectorsize, found);
		v->checked++;
		if (!memcmp(found, expected, fs->csum_size)) {
			v->matched++;
			continue;
		}
		v->mismatched++;
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
		v->skipped[SKIP_NO_CSUM] += win / fs->sectorsize - found;
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
	v->files++;
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
		v->skipped[SKIP_HOLE] += (tail - w.next) / v->fs.sectorsize;

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

/* Every path first, so that a typo fails before minutes of reading. */
static int check_paths(char **paths, int n)
{
	struct statfs sfs;
	struct stat st;

	for (int i = 0; i < n; i++) {
		if (stat(paths[i], &st) || statfs(paths[i], &sfs)) {
			bbs_err("cannot access %s: %s (check the path)", paths[i], strerror(errno));
			return -1;
		}
		if (sfs.f_type != BTRFS_SUPER_MAGIC) {
			bbs_err("%s is not on a btrfs filesystem (verify reads btrfs only)",
				paths[i]);
			return -1;
		}
		if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
			bbs_err("%s is neither a regular file nor a directory", paths[i]);
			return -1;
		}
	}
	return 0;
}

static void hex(char *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

static void print_plain(const struct verify *v)
{
	char exp[2 * BBS_CSUM_MAX + 1], got[2 * BBS_CSUM_MAX + 1];
	const char *sep = "";

	for (size_t i = 0; i < v->nr_mm; i++) {
		const struct mismatch *m = &v->mm[i];

		hex(exp, m->expected, v->fs.csum_size);
		hex(got, m->found, v->fs.csum_size);
		printf("mismatch: %s file_offset %llu%s logical %llu: devid %llu %s physical %llu "
		       "(mirror %d): csum %s, stored %s\n",
		       m->path, (unsigned long long)m->file_offset,
		       m->compressed ? " (compressed extent)" : "", (unsigned long long)m->logical,
		       (unsigned long long)m->devid, m->device, (unsigned long long)m->physical,
		       m->mirror, got, exp);
	}
	printf("files %llu, blocks checked %llu: matched %llu, mismatched %llu\n",
	       (unsigned long long)v->files, (unsigned long long)v->checked,
	       (unsigned long long)v->matched, (unsigned long long)v->mismatched);
	printf("skipped blocks:");
	for (int r = 0; r < NR_SKIPS; r++) {
		if (!v->skipped[r])
			continue;
		printf("%s %s %llu", sep, skip_name[r], (unsigned long long)v->skipped[r]);
		sep = ",";
	}
	printf("%s\n", *sep ? "" : " none");
}

static int print_json(const struct verify *v)
{
	char exp[2 * BBS_CSUM_MAX + 1], got[2 * BBS_CSUM_MAX + 1];
	json_t *o, *skipped, *mms;
	int ret = -ENOMEM;

	o = json_object();
	skipped = json_object();
	mms = json_array();
	if (!o || !skipped || !mms)
		goto out_put;
	for (int r = 0; r < NR_SKIPS; r++)
		json_object_set_new(skipped, skip_name[r], json_integer(v->skipped[r]));
	for (size_t i = 0; i < v->nr_mm; i++) {
		const struct mismatch *m = &v->mm[i];

		hex(exp, m->expected, v->fs.csum_size);
		hex(got, m->found, v->fs.csum_size);
		json_array_append_new(
			mms, json_pack("{s:s, s:I, s:I, s:I, s:s, s:I, s:i, s:b, s:s, s:s}", "path",
				       m->path, "file_offset", (json_int_t)m->file_offset,
				       "logical", (json_int_t)m->logical, "devid",
				       (json_int_t)m->devid, "device", m->device, "physical",
				       (json_int_t)m->physical, "mirror", m->mirror, "compressed",
				       m->compressed, "csum", got, "stored", exp));
	}
	json_object_set_new(o, "files", json_integer(v->files));
	json_object_set_new(o, "checked", json_integer(v->checked));
	json_object_set_new(o, "matched", json_integer(v->matched));
	json_object_set_new(o, "mismatched", json_integer(v->mismatched));
	json_object_set(o, "skipped", skipped);
	json_object_set(o, "mismatches", mms);
	if (json_dumpf(o, stdout, JSON_COMPACT) == 0) {
		fputc('\n', stdout);
		ret = 0;
	}
out_put:
	json_decref(mms);
	json_decref(skipped);
	json_decref(o);
	return ret;
}

int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "parity", no_argument, NULL, 'p' },
		{ "recover", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct verify v = { .fs.fd = -1 };
	bool json = false, parity = false;
	unsigned long long devid;
	uint64_t recover[2];
	unsigned int nr_recover = 0;
	int c, ret, status = 2;

	/* Errors come out as JSON when JSON was asked for, even in option parsing. */
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j"))
			bbs_json_errors = json = true;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":jpr:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			break;
		case 'p':
			parity = true;
			break;
		case 'r':
			if (bbs_parse_uint(optarg, UINT64_MAX, &devid) || !devid) {
				bbs_err("bad --recover '%s': a devid, as 'btrfs filesystem show' "
					"lists them",
					optarg);
				return 2;
			}
			if (nr_recover == 2) {
				bbs_err("--recover at most twice: raid6 rebuilds two members");
				return 2;
			}
			if (nr_recover && recover[0] == devid) {
				bbs_err("--recover %llu given twice", devid);
				return 2;
			}
			recover[nr_recover++] = devid;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case ':':
			bbs_err("%s needs an argument (see 'bbscope verify --help')",
				argv[optind - 1]);
			return 2;
		default:
			bbs_err("unknown option '%s' (see 'bbscope verify --help')",
				argv[optind - 1]);
			return 2;
		}
	}
	if (parity && nr_recover) {
		bbs_err("--parity and --recover are separate runs (see 'bbscope verify --help')");
		return 2;
	}
	if (optind >= argc) {
		bbs_err("verify needs %s (see 'bbscope verify --help')",
			parity || nr_recover ? "a mount point or the member devices"
					     : "a file or directory");
		return 2;
	}
	if (geteuid() != 0) {
		bbs_err("verify needs root: tree search and device reads need CAP_SYS_ADMIN "
			"(run as root)");
		return 2;
	}
	if (parity || nr_recover)
		return verify_stripes(argv + optind, argc - optind, recover, nr_recover, json);
	if (check_paths(argv + optind, argc - optind))
		return 2;

	v.csums = malloc((WINDOW / 4096) * BBS_CSUM_MAX);
	v.have = malloc(WINDOW / 4096);
	if (!v.csums || !v.have || posix_memalign((void **)&v.buf, 4096, WINDOW)) {
		bbs_err("cannot allocate read buffers: out of memory");
		goto out_free;
	}
	for (int i = optind; i < argc; i++) {
		ret = verify_path(&v, argv[i]);
		if (ret)
			goto out_free;
	}
	if (!json)
		print_plain(&v);
	else if (print_json(&v)) {
		bbs_err("cannot write the report: out of memory");
		goto out_free;
	}
	if (v.mismatched)
		status = 1;
	else if (v.skipped[SKIP_READ_ERROR])
		status = 2;
	else
		status = 0;
out_free:
	if (v.fs_open)
		bbs_fs_close(&v.fs);
	for (size_t i = 0; i < v.nr_mm; i++) {
		free(v.mm[i].path);
		free(v.mm[i].device);
	}
	free(v.mm);
	tdestroy(v.seen, free);
	free(v.ranges);
	free(v.devs);
	free(v.buf);
	free(v.have);
	free(v.csums);
	return status;
}
