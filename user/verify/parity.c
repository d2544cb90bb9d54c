// SPDX-License-Identifier: GPL-2.0
/*
 * bbscope verify --parity, --recover: btrfs RAID5/6 parity as it lies on the
 * member devices, recomputed in userspace with parity.h (ISA-L, bit-exact
 * with lib/raid6).
 *
 *   --parity     every full stripe of every raid5/raid6 block group: read
 *                its data and parity strips (O_DIRECT, read-only), generate
 *                P (and Q) from the data, compare with P (and Q) on disk.
 *   --recover D  rebuild every strip of member D (of D and E for raid6)
 *                from the other strips, compare with what D holds.
 *
 * Only what the kernel promises is compared.  btrfs writes P/Q for a
 * vertical sector (the same sector of every strip of a full stripe, one
 * "column") only when it writes data into that column: its RMW and full
 * stripe writes send P/Q sectors for the columns of rbio->dbitmap alone, and
 * scrub checks parity only in columns that hold an extent.  A column that
 * has held data once stays consistent, since every later write of it goes
 * through the same path (an interrupted write, the raid56 write hole,
 * aside).  So: a sector is referenced when an EXTENT_ITEM or
 * METADATA_ITEM of the extent tree covers it; a column is compared when one
 * of its data sectors is referenced; a full stripe without any is counted
 * as unreferenced and not read at all.  Preallocated extents count as
 * referenced, as they do for scrub, although nothing was written there.
 *
 * Telling which strip is bad, when P or Q disagree in a column:
 *   raid6, P and Q disagree  the syndrome names one data strip z when
 *                            dQ = g^z dP in every byte (one bad data strip);
 *                            otherwise both P and Q are reported;
 *   raid6, P or Q alone      that parity strip;
 *   raid5, P                 the data strip whose sector fails its data
 *                            checksum and is fixed by the rebuild from P, if
 *                            exactly one does; otherwise P.
 *
 * Degraded: strips on a missing member (not given, or not openable) are
 * rebuilt from the others, and what redundancy is left checks the stripe
 * (bbs_parity_check_degraded()):
 *   raid6, one strip missing   a data strip is rebuilt from P and checked
 *                              by Q; a missing P or Q is regenerated and
 *                              the other one checks the data.  A column
 *                              that disagrees blames the present strip
 *                              whose rebuild, with the missing one's, from
 *                              P and Q gives data sectors that match their
 *                              stored checksums, if exactly one does;
 *                              otherwise the parity strip that disagrees;
 *   raid5, one missing;        no parity is left to check with (any
 *   raid6, two missing         rebuild agrees with it), so the rebuilt data
 *                              sectors are checked against their stored
 *                              checksums.  The stripe counts as checked when
 *                              every referenced column has a missing data
 *                              sector with a checksum; it is skipped as
 *                              no_redundancy_left otherwise (a missing P,
 *                              metadata, free space), unless a rebuilt
 *                              sector fails its checksum: that is a
 *                              mismatch, of the one present data sector
 *                              that fails its own checksum, else of the
 *                              parity the rebuild used.
 * More strips missing than parity strips: skipped as missing_device.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "btrfs/fs.h"
#include "btrfs/csum.h"
#include "btrfs/parity.h"
#include "btrfs/stripe.h"
#include "host/util.h"
#include "verify/verify.h"
#include "host/array.h"

/* Bytes read per device per batch of full stripes; stripe_len is at most this. */
#define BATCH_BYTES (1024 * 1024)
/* All devices together read at most this much per batch. */
#define BATCH_TOTAL (16 * 1024 * 1024)

const char *const bbs_vp_skip_name[BBS_NR_VP_SKIPS] = {
	[BBS_VP_MISSING_DEVICE] = "missing_device",
	[BBS_VP_READ_ERROR] = "read_error",
	[BBS_VP_NO_REDUNDANCY] = "no_redundancy_left",
};

struct vp {
	struct bbs_fs fs;
	struct bbs_verify_parity r;

	/* The chunk being checked. */
	const struct bbs_chunk *c;
	unsigned int nr_data, nr_parity, n; /* n = nr_data + nr_parity strips */
	unsigned int cols; /* sectors per strip */
	uint64_t *ref; /* bit per sector of the chunk: referenced */
	int target[2]; /* chunk stripe index of each --recover devid, -1 if none */

	/* The batch of full stripes [f0, f0 + batch) read from every device. */
	unsigned int batch;
	uint64_t f0;
	uint8_t *buf; /* chunk stripe k's strips at k * batch * stripe_len */
	int *read_err; /* per chunk stripe: 0 or what reading it failed with */
	uint8_t *colref; /* per full stripe of the batch, per column: referenced */
	uint8_t *scratch; /* four strips: computed P and Q, or rebuilt strips and P and Q */
	uint8_t *colbad; /* per column of one full stripe: which parity disagrees (degraded) */
	uint8_t *sector; /* two sectors, for the rebuild of suspect sectors */
	uint8_t *csums, *have; /* of one full stripe's data, for the raid5 blame */
	bool csums_loaded;
};

/* GF(2^8) of lib/raid6 (x^8+x^4+x^3+x^2+1, generator {02}): logs for the syndrome. */
static uint8_t gf_log[256];

static void gf_log_init(void)
{
	uint8_t x = 1;

	for (int i = 0; i < 255; i++) {
		gf_log[x] = (uint8_t)i;
		x = (uint8_t)(x << 1) ^ ((x & 0x80) ? 0x1d : 0);
	}
}

static const char *strip_kind(const struct vp *v, unsigned int j)
{
	if (j < v->nr_data)
		return "data";
	return j == v->nr_data ? "p" : "q";
}

static bool ref_test(const struct vp *v, uint64_t sector)
{
	return v->ref[sector / 64] & (1ULL << (sector % 64));
}

static int extent_ref(const struct bbs_key *key, const void *item, uint32_t len, void *arg)
{
	struct vp *v = arg;
	const struct bbs_chunk *c = v->c;
	uint32_t ss = v->fs.sectorsize;
	uint64_t start = key->objectid, end;

	if (key->type == BTRFS_EXTENT_ITEM_KEY)
		end = start + key->offset;
	else if (key->type == BTRFS_METADATA_ITEM_KEY)
		end = start + v->fs.nodesize;
	else
		return 0;
	if (start < c->logical)
		start = c->logical;
	if (end > c->logical + c->length)
		end = c->logical + c->length;
	for (uint64_t s = (start - c->logical) / ss; s < (end - c->logical + ss - 1) / ss; s++)
		v->ref[s / 64] |= 1ULL << (s % 64);
	return 0;
}

/* The referenced sectors of the chunk, from the extent tree. */
static int load_refs(struct vp *v)
{
	const struct bbs_chunk *c = v->c;
	struct bbs_key min = { c->logical, 0, 0 };
	struct bbs_key max = { c->logical + c->length - 1, 255, UINT64_MAX };
	uint64_t sectors = c->length / v->fs.sectorsize;
	int ret;

	free(v->ref);
	v->ref = calloc((sectors + 63) / 64, sizeof(*v->ref));
	if (!v->ref)
		return -ENOMEM;
	ret = bbs_fs_search(&v->fs, BTRFS_EXTENT_TREE_OBJECTID, &min, &max, extent_ref, v);
	if (ret < 0)
		bbs_err("cannot read the extent tree at logical %llu: %s",
			(unsigned long long)c->logical, strerror(-ret));
	return ret < 0 ? ret : 0;
}

/* Which columns of full stripe f hold a referenced sector; how many do. */
static unsigned int stripe_cols(const struct vp *v, uint64_t f, uint8_t *colref)
{
	unsigned int nr = 0;

	for (unsigned int col = 0; col < v->cols; col++) {
		colref[col] = 0;
		for (unsigned int i = 0; i < v->nr_data && !colref[col]; i++)
			colref[col] = ref_test(v, (f * v->nr_data + i) * v->cols + col);
		nr += colref[col];
	}
	return nr;
}

static uint8_t *strip_ptr(const struct vp *v, uint64_t f, unsigned int j)
{
	unsigned int k = bbs_strip_dev(f, j, v->n);

	return v->buf + ((size_t)k * v->batch + (f - v->f0)) * v->c->stripe_len;
}

static int strip_err(const struct vp *v, uint64_t f, unsigned int j)
{
	return v->read_err[bbs_strip_dev(f, j, v->n)];
}

static int add_mismatch(struct vp *v, uint64_t f, unsigned int j, unsigned int first_col,
			uint32_t sectors, bool degraded)
{
	struct bbs_vp_mismatch *m;
	struct bbs_copy cp;

	m = bbs_array_reserve(v->r.mm, &v->r.cap_mm, v->r.nr_mm + 1, sizeof(*m), 16);
	if (!m)
		return -ENOMEM;
	v->r.mm = m;
	bbs_full_stripe_strip(v->c, f, j, &cp);
	m = &v->r.mm[v->r.nr_mm];
	m->device = strdup(cp.dev ? cp.dev->path : "");
	if (!m->device)
		return -ENOMEM;
	m->logical = v->c->logical + f * v->nr_data * v->c->stripe_len;
	m->devid = cp.devid;
	m->physical = cp.physical + (uint64_t)first_col * v->fs.sectorsize;
	m->profile = bbs_profile_name(v->c->type);
	m->strip = j;
	m->kind = strip_kind(v, j);
	m->sectors = sectors;
	m->degraded = degraded;
	v->r.nr_mm++;
	return 0;
}

/*
 * raid6 with P and Q both off in a column: one bad data strip z turns every
 * differing byte into dP = e, dQ = g^z e.  Returns z, or -1 when the bytes
 * do not agree on one data strip.
 */
static int syndrome_strip(const struct vp *v, uint64_t f, size_t off)
{
	const uint8_t *p = strip_ptr(v, f, v->nr_data) + off,
		      *q = strip_ptr(v, f, v->nr_data + 1) + off;
	const uint8_t *cp = v->scratch + off, *cq = v->scratch + v->c->stripe_len + off;
	int z = -1;

	for (size_t b = 0; b < v->fs.sectorsize; b++) {
		uint8_t dp = p[b] ^ cp[b], dq = q[b] ^ cq[b];
		int zz;

		if (!dp && !dq)
			continue;
		if (!dp || !dq)
			return -1;
		zz = (gf_log[dq] - gf_log[dp] + 255) % 255;
		if (z >= 0 && zz != z)
			return -1;
		z = zz;
	}
	return z < (int)v->nr_data ? z : -1;
}

/*
 * Data strip i's sector in column col of full stripe f, as in buffer data,
 * against its stored checksum: 1 matches, 0 does not, -1 none is stored.
 * The csums of the full stripe's data are looked up once per full stripe.
 */
static int sector_csum(struct vp *v, uint64_t f, unsigned int i, unsigned int col,
		       const uint8_t *data)
{
	const struct bbs_fs *fs = &v->fs;
	size_t s = (size_t)i * v->cols + col;
	uint8_t sum[BBS_CSUM_MAX];

	if (!v->csums_loaded) {
		uint64_t logical = v->c->logical + f * v->nr_data * v->c->stripe_len;

		for (unsigned int d = 0; d < v->nr_data; d++) {
			size_t first = (size_t)d * v->cols;
			int ret = bbs_csum_lookup(
				fs, logical + d * v->c->stripe_len, v->c->stripe_len,
				v->csums + first * fs->csum_size, v->have + first);

			if (ret < 0)
				memset(v->have + first, 0, v->cols);
		}
		v->csums_loaded = true;
	}
	if (!v->have[s])
		return -1;
	bbs_csum_block(fs->csum_type, data, fs->sectorsize, sum);
	return !memcmp(sum, v->csums + s * fs->csum_size, fs->csum_size);
}

/*
 * The one data strip of full stripe f, other than the strips in skip[],
 * whose sector in column col fails its stored checksum; -1 when none or
 * several do.  Strip i's sector is read from strips[i] when strips is given.
 */
static int csum_suspect(struct vp *v, uint64_t f, unsigned int col, void *const *strips,
			const unsigned int *skip, unsigned int nr_skip)
{
	size_t off = (size_t)col * v->fs.sectorsize;
	int bad = -1;

	for (unsigned int i = 0; i < v->nr_data; i++) {
		const uint8_t *d = strips ? strips[i] : strip_ptr(v, f, i);
		bool skipped = false;

		for (unsigned int k = 0; k < nr_skip; k++)
			skipped |= skip[k] == i;
		if (skipped || sector_csum(v, f, i, col, d + off))
			continue;
		if (bad >= 0)
			return -1;
		bad = (int)i;
	}
	return bad;
}

/*
 * raid5 with P off in a column: the data strip whose sector fails its stored
 * checksum while the sector rebuilt from P and the other data matches it,
 * if exactly one does.  -1 otherwise (no csums, none or several bad).
 */
static int csum_strip(struct vp *v, uint64_t f, unsigned int col)
{
	const struct bbs_fs *fs = &v->fs;
	size_t off = (size_t)col * fs->sectorsize;
	int bad = csum_suspect(v, f, col, NULL, NULL, 0);

	if (bad < 0)
		return -1;
	/* The rebuild: P ^ every other data sector. */
	memcpy(v->sector, strip_ptr(v, f, v->nr_data) + off, fs->sectorsize);
	for (unsigned int i = 0; i < v->nr_data; i++) {
		const uint8_t *d = strip_ptr(v, f, i) + off;

		if ((int)i == bad)
			continue;
		for (size_t b = 0; b < fs->sectorsize; b++)
			v->sector[b] ^= d[b];
	}
	return sector_csum(v, f, bad, col, v->sector) == 1 ? bad : -1;
}

/*
 * The strips of full stripe f on missing devices, into missing[] (room for
 * v->n); returns how many, or -EIO when reading one of the others failed.
 */
static int stripe_missing(const struct vp *v, uint64_t f, unsigned int *missing)
{
	unsigned int nr = 0;
	bool read_error = false;

	for (unsigned int j = 0; j < v->n; j++) {
		int err = strip_err(v, f, j);

		if (err == -ENODEV)
			missing[nr++] = j;
		else if (err)
			read_error = true;
	}
	return read_error ? -EIO : (int)nr;
}

/*
 * Is every strip of full stripe f readable?  Counts the stripe as skipped if
 * not: a read error first (it makes the exit status 2), then missing_device.
 */
static bool stripe_readable(struct vp *v, uint64_t f, uint64_t weight)
{
	unsigned int missing[BBS_PARITY_MAX_STRIPS];
	int nr = stripe_missing(v, f, missing);

	if (!nr)
		return true;
	v->r.skipped[nr < 0 ? BBS_VP_READ_ERROR : BBS_VP_MISSING_DEVICE] += weight;
	return false;
}

/* Per strip of one full stripe: disagreeing sectors and the first of them. */
struct strip_bad {
	uint32_t sectors;
	unsigned int first;
};

static void mark_bad(struct strip_bad *bad, unsigned int j, unsigned int col)
{
	if (!bad[j].sectors++)
		bad[j].first = col;
}

static int report_bad(struct vp *v, uint64_t f, const struct strip_bad *bad, unsigned int nr,
		      bool degraded)
{
	for (unsigned int j = 0; j < nr; j++) {
		int ret;

		if (!bad[j].sectors)
			continue;
		ret = add_mismatch(v, f, j, bad[j].first, bad[j].sectors, degraded);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * raid6, strip m of full stripe f missing, the parity left disagreeing in
 * column col: the present strip c for which rebuilding m and c from P, Q
 * and the rest gives data sectors that match their stored checksums (one
 * at least is checked), if exactly one c does.  -1 otherwise.
 */
static int witness_suspect(struct vp *v, uint64_t f, void *const *strips, unsigned int m,
			   unsigned int col)
{
	size_t ss = v->fs.sectorsize, off = (size_t)col * ss;
	void *cs[BBS_PARITY_MAX_STRIPS];
	int found = -1;

	for (unsigned int c = 0; c < v->n; c++) {
		unsigned int failed[2] = { m, c };
		unsigned int checked = 0;
		bool ok = true;

		if (c == m)
			continue;
		for (unsigned int j = 0; j < v->n; j++)
			cs[j] = (uint8_t *)strips[j] + off;
		cs[m] = v->sector;
		cs[c] = v->sector + 65536;
		if (bbs_parity_recover(BBS_RAID6, v->nr_data, cs, ss, failed, 2))
			return -1;
		for (unsigned int k = 0; k < 2; k++) {
			int r;

			if (failed[k] >= v->nr_data)
				continue;
			r = sector_csum(v, f, failed[k], col, cs[failed[k]]);
			if (r < 0)
				continue;
			checked++;
			ok &= r == 1;
		}
		if (!checked || !ok)
			continue;
		if (found >= 0)
			return -1;
		found = (int)c;
	}
	return found;
}

/*
 * No parity left to check with: the rebuilt data sectors of column col (in
 * strips[]) against their stored checksums.  1 all match, 0 one does not,
 * -1 nothing to check (no missing data sector, or one without a checksum).
 */
static int csum_witness(struct vp *v, uint64_t f, void *const *strips, const unsigned int *missing,
			unsigned int nr_missing, unsigned int col)
{
	size_t off = (size_t)col * v->fs.sectorsize;
	bool unknown = false;
	int checked = 0;

	for (unsigned int i = 0; i < nr_missing; i++) {
		int r;

		if (missing[i] >= v->nr_data)
			continue;
		r = sector_csum(v, f, missing[i], col, (const uint8_t *)strips[missing[i]] + off);
		if (!r)
			return 0;
		if (r < 0)
			unknown = true;
		checked++;
	}
	return !checked || unknown ? -1 : 1;
}

/*
 * --parity, full stripe f with strips missing[] (1 <= nr_missing <=
 * nr_parity) on missing devices: rebuild them and check with what is left,
 * the parity the rebuild did not use or else the data checksums.
 */
static int check_degraded(struct vp *v, uint64_t f, const uint8_t *colref,
			  const unsigned int *missing, unsigned int nr_missing)
{
	enum bbs_raid raid = v->nr_parity == 2 ? BBS_RAID6 : BBS_RAID5;
	size_t slen = v->c->stripe_len, ss = v->fs.sectorsize;
	struct strip_bad bad[BBS_PARITY_MAX_STRIPS] = { { 0 } };
	void *strips[BBS_PARITY_MAX_STRIPS], *parity[2];
	bool any = false, unchecked = false, by_csum = false;
	int ret;

	for (unsigned int j = 0; j < v->n; j++)
		strips[j] = strip_ptr(v, f, j);
	for (unsigned int i = 0; i < nr_missing; i++)
		strips[missing[i]] = v->scratch + i * slen;
	parity[0] = v->scratch + 2 * slen;
	parity[1] = v->scratch + 3 * slen;
	ret = bbs_parity_check_degraded(raid, v->nr_data, strips, slen, missing, nr_missing, parity,
					ss, v->colbad);
	if (ret == -ENODATA) {
		by_csum = true;
		ret = bbs_parity_recover(raid, v->nr_data, strips, slen, missing, nr_missing);
	}
	if (ret < 0)
		return ret;

	for (unsigned int col = 0; col < v->cols; col++) {
		int z;

		if (!colref[col])
			continue;
		if (by_csum) {
			int r = csum_witness(v, f, strips, missing, nr_missing, col);

			unchecked |= r < 0;
			if (r)
				continue;
			any = true;
			/* Either a present data sector known bad, or the parity rebuilt from. */
			z = csum_suspect(v, f, col, strips, missing, nr_missing);
			if (z >= 0) {
				mark_bad(bad, z, col);
				continue;
			}
			for (unsigned int p = 0; p < v->nr_parity; p++) {
				bool lost = false;

				for (unsigned int i = 0; i < nr_missing; i++)
					lost |= missing[i] == v->nr_data + p;
				if (!lost)
					mark_bad(bad, v->nr_data + p, col);
			}
			continue;
		}
		if (!v->colbad[col])
			continue;
		any = true;
		z = witness_suspect(v, f, strips, missing[0], col);
		if (z >= 0) {
			mark_bad(bad, z, col);
			continue;
		}
		for (unsigned int p = 0; p < v->nr_parity; p++)
			if (v->colbad[col] & (1U << p))
				mark_bad(bad, v->nr_data + p, col);
	}
	if (!any && unchecked) {
		v->r.skipped[BBS_VP_NO_REDUNDANCY]++;
		return 0;
	}
	v->r.degraded_by_csum += by_csum;
	if (!any) {
		v->r.matched++;
		v->r.degraded_matched++;
		return 0;
	}
	v->r.mismatched++;
	v->r.degraded_mismatched++;
	return report_bad(v, f, bad, v->n, true);
}

/* --parity: P (and Q) of full stripe f, in its referenced columns. */
static int check_stripe(struct vp *v, uint64_t f, const uint8_t *colref)
{
	enum bbs_raid raid = v->nr_parity == 2 ? BBS_RAID6 : BBS_RAID5;
	size_t slen = v->c->stripe_len, ss = v->fs.sectorsize;
	struct strip_bad bad[BBS_PARITY_MAX_STRIPS] = { { 0 } };
	unsigned int missing[BBS_PARITY_MAX_STRIPS];
	void *strips[BBS_PARITY_MAX_STRIPS];
	bool any = false;
	int nr_missing = stripe_missing(v, f, missing);

	v->csums_loaded = false;
	if (nr_missing < 0) {
		v->r.skipped[BBS_VP_READ_ERROR]++;
		return 0;
	}
	if (nr_missing > (int)v->nr_parity) {
		v->r.skipped[BBS_VP_MISSING_DEVICE]++;
		return 0;
	}
	if (nr_missing)
		return check_degraded(v, f, colref, missing, nr_missing);
	for (unsigned int j = 0; j < v->nr_data; j++)
		strips[j] = strip_ptr(v, f, j);
	for (unsigned int p = 0; p < v->nr_parity; p++)
		strips[v->nr_data + p] = v->scratch + p * slen;
	bbs_parity_gen(raid, v->nr_data, strips, slen, 0);

	for (unsigned int col = 0; col < v->cols; col++) {
		size_t off = col * ss;
		bool bad_p, bad_q = false;
		int z = -1;

		if (!colref[col])
			continue;
		bad_p = memcmp(v->scratch + off, strip_ptr(v, f, v->nr_data) + off, ss);
		if (raid == BBS_RAID6)
			bad_q = memcmp(v->scratch + slen + off,
				       strip_ptr(v, f, v->nr_data + 1) + off, ss);
		if (!bad_p && !bad_q)
			continue;
		any = true;
		if (raid == BBS_RAID6 && bad_p && bad_q)
			z = syndrome_strip(v, f, off);
		else if (raid == BBS_RAID5)
			z = csum_strip(v, f, col);
		if (z >= 0) {
			mark_bad(bad, z, col);
			continue;
		}
		if (bad_p)
			mark_bad(bad, v->nr_data, col);
		if (bad_q)
			mark_bad(bad, v->nr_data + 1, col);
	}
	if (!any) {
		v->r.matched++;
		return 0;
	}
	v->r.mismatched++;
	return report_bad(v, f, bad, v->n, false);
}

/* --recover: the strips of full stripe f on the target devices, rebuilt from the others. */
static int recover_stripe(struct vp *v, uint64_t f, const uint8_t *colref)
{
	enum bbs_raid raid = v->nr_parity == 2 ? BBS_RAID6 : BBS_RAID5;
	size_t slen = v->c->stripe_len, ss = v->fs.sectorsize;
	struct strip_bad bad[BBS_PARITY_MAX_STRIPS] = { { 0 } };
	void *strips[BBS_PARITY_MAX_STRIPS];
	unsigned int failed[2], nr_failed = 0;

	for (unsigned int t = 0; t < v->r.nr_recover; t++)
		if (v->target[t] >= 0)
			failed[nr_failed++] = bbs_dev_strip(f, v->target[t], v->n);
	if (!nr_failed || !stripe_readable(v, f, nr_failed))
		return 0;
	for (unsigned int j = 0; j < v->n; j++)
		strips[j] = strip_ptr(v, f, j);
	for (unsigned int i = 0; i < nr_failed; i++)
		strips[failed[i]] = v->scratch + i * slen;
	if (bbs_parity_recover(raid, v->nr_data, strips, slen, failed, nr_failed))
		return -EINVAL;
	for (unsigned int i = 0; i < nr_failed; i++) {
		const uint8_t *disk = strip_ptr(v, f, failed[i]);

		for (unsigned int col = 0; col < v->cols; col++)
			if (colref[col] &&
			    memcmp(v->scratch + i * slen + col * ss, disk + col * ss, ss))
				mark_bad(bad, failed[i], col);
		if (bad[failed[i]].sectors)
			v->r.mismatched++;
		else
			v->r.matched++;
	}
	return report_bad(v, f, bad, v->n, false);
}

/* Read full stripes [first, last] of every chunk stripe into the batch buffer. */
static void read_batch(struct vp *v, uint64_t first, uint64_t last)
{
	size_t slen = v->c->stripe_len, len = (last - first + 1) * slen;

	v->f0 = first;
	for (unsigned int k = 0; k < v->n; k++) {
		const struct bbs_stripe *s = &v->c->stripes[k];
		int ret;

		ret = bbs_dev_read(s->dev, s->physical + first * slen,
				   v->buf + (size_t)k * v->batch * slen, len);
		if (ret && ret != -ENODEV)
			bbs_warn("cannot read %zu bytes at physical %llu of devid %llu (%s): %s",
				 len, (unsigned long long)(s->physical + first * slen),
				 (unsigned long long)s->devid, s->dev->path, strerror(-ret));
		v->read_err[k] = ret;
	}
}

/* How many strips of a full stripe --recover rebuilds in this chunk. */
static unsigned int nr_targets(const struct vp *v)
{
	unsigned int nr = 0;

	for (unsigned int t = 0; t < v->r.nr_recover; t++)
		nr += v->target[t] >= 0;
	return nr;
}

static int chunk_buffers(struct vp *v)
{
	size_t slen = v->c->stripe_len;

	v->batch = BATCH_TOTAL / (v->n * slen);
	if (v->batch > BATCH_BYTES / slen)
		v->batch = BATCH_BYTES / slen;
	if (!v->batch)
		v->batch = 1;
	free(v->buf);
	free(v->scratch);
	free(v->read_err);
	free(v->colref);
	free(v->csums);
	free(v->have);
	free(v->colbad);
	v->buf = v->scratch = v->colref = v->csums = v->have = v->colbad = NULL;
	v->read_err = calloc(v->n, sizeof(*v->read_err));
	v->colref = malloc((size_t)v->batch * v->cols);
	v->colbad = malloc(v->cols);
	v->csums = malloc((size_t)v->nr_data * v->cols * v->fs.csum_size);
	v->have = malloc((size_t)v->nr_data * v->cols);
	if (!v->read_err || !v->colref || !v->colbad || !v->csums || !v->have ||
	    posix_memalign((void **)&v->buf, 4096, (size_t)v->n * v->batch * slen) ||
	    posix_memalign((void **)&v->scratch, 4096, 4 * slen))
		return -ENOMEM;
	return 0;
}

static int check_chunk(struct vp *v, const struct bbs_chunk *c)
{
	uint64_t nr_full = bbs_chunk_nr_full_stripes(c);
	unsigned int weight;
	int ret;

	v->c = c;
	v->nr_parity = bbs_chunk_nr_parity(c);
	v->nr_data = bbs_chunk_nr_data(c);
	v->n = c->num_stripes;
	if (!nr_full || c->stripe_len % v->fs.sectorsize || c->stripe_len > BATCH_BYTES ||
	    v->n > BBS_PARITY_MAX_STRIPS || v->nr_data > BBS_PARITY_MAX_DATA) {
		bbs_err("%s block group at logical %llu: %u stripes of %llu bytes not supported",
			bbs_profile_name(c->type), (unsigned long long)c->logical, v->n,
			(unsigned long long)c->stripe_len);
		return -EOPNOTSUPP;
	}
	v->cols = c->stripe_len / v->fs.sectorsize;
	for (unsigned int t = 0; t < 2; t++) {
		v->target[t] = -1;
		for (unsigned int k = 0; t < v->r.nr_recover && k < v->n; k++)
			if (c->stripes[k].devid == v->r.recover[t])
				v->target[t] = (int)k;
	}
	weight = v->r.nr_recover ? nr_targets(v) : 1;
	if (!weight)
		return 0;
	v->r.block_groups++;
	ret = chunk_buffers(v);
	if (ret) {
		bbs_err("cannot allocate read buffers: out of memory");
		return ret;
	}
	ret = load_refs(v);
	if (ret)
		return ret;

	for (uint64_t f0 = 0; f0 < nr_full; f0 += v->batch) {
		uint64_t end = f0 + v->batch < nr_full ? f0 + v->batch : nr_full;
		uint64_t first = UINT64_MAX, last = 0;

		for (uint64_t f = f0; f < end; f++) {
			if (!stripe_cols(v, f, v->colref + (f - f0) * v->cols)) {
				v->r.unreferenced += weight;
				continue;
			}
			if (first == UINT64_MAX)
				first = f;
			last = f;
		}
		if (first == UINT64_MAX)
			continue;
		read_batch(v, first, last);
		for (uint64_t f = first; f <= last; f++) {
			const uint8_t *colref = v->colref + (f - f0) * v->cols;

			if (!memchr(colref, 1, v->cols))
				continue;
			ret = v->r.nr_recover ? recover_stripe(v, f, colref)
					      : check_stripe(v, f, colref);
			if (ret) {
				bbs_err("cannot check the full stripe at logical %llu: %s",
					(unsigned long long)(c->logical +
							     f * v->nr_data * c->stripe_len),
					strerror(-ret));
				return ret;
			}
		}
	}
	return 0;
}

/* Every --recover devid is a member; raid5 block groups rebuild one of them at most. */
static int check_targets(const struct vp *v)
{
	for (unsigned int t = 0; t < v->r.nr_recover; t++) {
		bool found = false;

		for (size_t i = 0; i < v->fs.nr_devs; i++)
			found |= v->fs.devs[i].devid == v->r.recover[t];
		if (!found) {
			bbs_err("--recover %llu: the filesystem has no member devid %llu",
				(unsigned long long)v->r.recover[t],
				(unsigned long long)v->r.recover[t]);
			return -ENODEV;
		}
	}
	if (v->r.nr_recover < 2)
		return 0;
	for (size_t i = 0; i < v->fs.nr_chunks; i++) {
		const struct bbs_chunk *c = &v->fs.chunks[i];
		unsigned int hits = 0;

		if (bbs_chunk_nr_parity(c) != 1)
			continue;
		for (unsigned int k = 0; k < c->num_stripes; k++)
			hits += c->stripes[k].devid == v->r.recover[0] ||
				c->stripes[k].devid == v->r.recover[1];
		if (hits > 1) {
			bbs_err("--recover %llu --recover %llu: raid5 rebuilds one member, and the "
				"raid5 block group at logical %llu has strips on both",
				(unsigned long long)v->r.recover[0],
				(unsigned long long)v->r.recover[1],
				(unsigned long long)c->logical);
			return -EINVAL;
		}
	}
	return 0;
}

/* A mount point (any path on the filesystem), or block devices that are members. */
static int open_target(struct vp *v, char *const *targets, int nr_targets)
{
	struct stat st;
	int ret;

	if (stat(targets[0], &st)) {
		ret = -errno;
		bbs_err("cannot access %s: %s (check the path)", targets[0], strerror(errno));
		return ret;
	}
	if (!S_ISBLK(st.st_mode)) {
		if (nr_targets > 1) {
			bbs_err("--parity and --recover take one mount point or member devices");
			return -EINVAL;
		}
		ret = bbs_fs_open(&v->fs, targets[0]);
		if (ret) {
			bbs_err("%s", v->fs.err);
			return ret;
		}
		/* As for checksums: what is still in memory reaches the disk first. */
		if (syncfs(v->fs.fd))
			bbs_warn("cannot sync %s: %s (stripes being written may disagree)",
				 targets[0], strerror(errno));
		return 0;
	}
	for (int i = 1; i < nr_targets; i++) {
		if (stat(targets[i], &st) || !S_ISBLK(st.st_mode)) {
			bbs_err("%s is not a block device (give members, or one mount point)",
				targets[i]);
			return -EINVAL;
		}
	}
	ret = bbs_fs_open_devices(&v->fs, targets, nr_targets);
	if (ret)
		bbs_err("%s", v->fs.err);
	return ret;
}

static void free_mismatches(struct bbs_verify_parity *r)
{
	for (size_t i = 0; i < r->nr_mm; i++)
		free(r->mm[i].device);
	free(r->mm);
	r->mm = NULL;
	r->nr_mm = r->cap_mm = 0;
}

static int check_chunks(struct vp *v)
{
	int ret;

	for (size_t i = 0; i < v->fs.nr_chunks; i++) {
		if (!bbs_chunk_nr_parity(&v->fs.chunks[i]))
			continue;
		ret = check_chunk(v, &v->fs.chunks[i]);
		if (ret)
			return ret;
	}
	return 0;
}

int bbs_verify_parity(char *const *targets, int nr_targets, const uint64_t *recover,
		      unsigned int nr_recover, struct bbs_verify_parity *res)
{
	struct vp v = { .r = { .recover = recover, .nr_recover = nr_recover } };
	int ret;

	memset(res, 0, sizeof(*res));
	gf_log_init();
	/* Two sectors; a sector is at most a node, at most 64 KiB. */
	if (posix_memalign((void **)&v.sector, 4096, 2 * 65536)) {
		bbs_err("cannot allocate read buffers: out of memory");
		return -ENOMEM;
	}
	ret = open_target(&v, targets, nr_targets) ? -EINVAL : 0;
	if (ret)
		goto out_free;
	ret = check_targets(&v) ? -EINVAL : 0;
	if (!ret)
		ret = check_chunks(&v);
	if (!ret && !v.r.block_groups) {
		/* Not "0 checked, all fine": there was nothing this mode checks. */
		bbs_err("%s has no raid5 or raid6 block group: no parity to check (plain 'bbscope "
			"verify PATH' checks data checksums)",
			targets[0]);
		ret = -EINVAL;
	}
	if (!ret) {
		*res = v.r;
		v.r.mm = NULL;
		v.r.nr_mm = 0;
	}
	bbs_fs_close(&v.fs);
out_free:
	free_mismatches(&v.r);
	free(v.ref);
	free(v.buf);
	free(v.scratch);
	free(v.read_err);
	free(v.colref);
	free(v.csums);
	free(v.have);
	free(v.colbad);
	free(v.sector);
	return ret;
}

void bbs_verify_parity_free(struct bbs_verify_parity *res)
{
	free_mismatches(res);
}
