// SPDX-License-Identifier: GPL-2.0
/*
 * user/btrfs/parity.c against a plain scalar reference: P/Q generation for 1..15
 * data strips (raid5 2..16 devices, raid6 3..17), lengths that are and are
 * not multiples of what ISA-L takes, aligned and unaligned strips, the step
 * and batched shapes; recovery of every single failure (raid5, raid6) and
 * every pair (raid6); the degraded check (rebuild, then compare with the
 * parity left) with and without a corrupted byte in every surviving strip;
 * hand-derived known answers; bad arguments.
 *
 * The reference multiplies in GF(2^8) by shift-and-xor with 0x11d, the
 * definition in Linux lib/raid6 (mktables.c), sharing no code with ISA-L.
 *
 * Exit 0 pass, 1 fail.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l/erasure_code.h>

#include "btrfs/parity.h"

#define MAX_ND 15 /* 16 devices for raid5, 17 for raid6 */
#define MAX_LEN 65536 /* BTRFS_STRIPE_LEN */
#define SLACK 128 /* room for misalignment and a guard after each strip */
#define GUARD 0xa5

static unsigned int failures;

/* ---- reference ---- */

static uint8_t ref_mul(uint8_t a, uint8_t b)
{
	uint8_t r = 0;

	while (b) {
		if (b & 1)
			r ^= a;
		a = (uint8_t)(a << 1) ^ ((a & 0x80) ? 0x1d : 0);
		b >>= 1;
	}
	return r;
}

static uint8_t ref_tab[256][256]; /* ref_tab[c][x] = ref_mul(c, x), for speed */

static void ref_init(void)
{
	for (int c = 0; c < 256; c++)
		for (int x = 0; x < 256; x++)
			ref_tab[c][x] = ref_mul((uint8_t)c, (uint8_t)x);
}

/* g^i with g = {02}, by repeated multiplication (not Horner's rule). */
static uint8_t ref_pow2(unsigned int i)
{
	uint8_t c = 1;

	while (i--)
		c = ref_mul(c, 2);
	return c;
}

/* P = xor D_i, Q = sum g^i D_i. */
static void ref_pq(unsigned int nd, uint8_t *const *d, uint8_t *p, uint8_t *q, size_t len)
{
	memset(p, 0, len);
	if (q)
		memset(q, 0, len);
	for (unsigned int i = 0; i < nd; i++) {
		const uint8_t *t = ref_tab[ref_pow2(i)];

		for (size_t x = 0; x < len; x++) {
			p[x] ^= d[i][x];
			if (q)
				q[x] ^= t[d[i][x]];
		}
	}
}

/* ---- fixtures ---- */

static uint64_t rng = 0x2545f4914f6cdd1dULL; /* fixed seed */

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void fill(uint8_t *b, size_t len)
{
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t r = rnd();

		memcpy(b + i, &r, 8);
	}
	for (; i < len; i++)
		b[i] = (uint8_t)rnd();
}

/* Strip buffers of MAX_LEN + SLACK, 4 KiB aligned; a test places strips at an offset. */
static uint8_t *pool[BBS_PARITY_MAX_STRIPS];

static void place(uint8_t **s, unsigned int nr, size_t len, unsigned int misalign)
{
	for (unsigned int i = 0; i < nr; i++) {
		/* Different offsets per strip, so no common alignment exists. */
		s[i] = pool[i] + (misalign ? (misalign * (i + 1)) % 61 : 0);
		memset(s[i] + len, GUARD, 8);
	}
}

static bool guards_ok(uint8_t *const *s, unsigned int nr, size_t len)
{
	for (unsigned int i = 0; i < nr; i++)
		for (int g = 0; g < 8; g++)
			if (s[i][len + g] != GUARD)
				return false;
	return true;
}

static const char *raid_name(enum bbs_raid raid)
{
	return raid == BBS_RAID6 ? "raid6" : "raid5";
}

static void report(const char *group, unsigned int checks, unsigned int bad)
{
	printf("%s %-58s %6u checks\n", bad ? "FAIL" : "ok  ", group, checks);
	failures += bad;
}

/* ---- checks ---- */

/* ISA-L's field is the reference's: every product, and g of order 255. */
static void check_field(void)
{
	unsigned int bad = 0;

	for (int a = 0; a < 256; a++)
		for (int b = 0; b < 256; b++)
			bad += gf_mul((uint8_t)a, (uint8_t)b) != ref_tab[a][b];
	bad += ref_pow2(255) != 1;
	for (unsigned int i = 1; i < 255; i++)
		bad += ref_pow2(i) == 1;
	report("GF(2^8)/0x11d: ISA-L gf_mul == shift-and-xor, ord(g)=255", 65536 + 255, bad);
}

/* One byte position, computed by hand from Q = sum g^i D_i. */
struct kat {
	const char *what;
	enum bbs_raid raid;
	unsigned int nd;
	uint8_t d[10];
	uint8_t p, q;
};

static const struct kat kats[] = {
	/* 1 ^ {02}*1 */
	{ "D=01,01 -> Q=03", BBS_RAID6, 2, { 0x01, 0x01 }, 0x00, 0x03 },
	/* {02}*80 = 100 ^ 11d = 1d */
	{ "D=00,80 -> Q=1d", BBS_RAID6, 2, { 0x00, 0x80 }, 0x80, 0x1d },
	/* 80 ^ {02}80=1d ^ {04}80={02}1d=3a: 80^1d^3a */
	{ "D=80,80,80 -> Q=a7", BBS_RAID6, 3, { 0x80, 0x80, 0x80 }, 0x80, 0xa7 },
	/* g^8 = x^8 = x^4+x^3+x^2+1 = 1d */
	{ "D8=01 -> Q=g^8=1d", BBS_RAID6, 9, { 0, 0, 0, 0, 0, 0, 0, 0, 0x01 }, 0x01, 0x1d },
	/* g^9 = {02}*1d = 3a, plus g^0 * ff */
	{ "D0=ff,D9=01 -> Q=c5", BBS_RAID6, 10, { 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 1 }, 0xfe, 0xc5 },
	/* one data strip: the kernel's gen_syndrome leaves P = Q = D0 */
	{ "nr_data=1 -> P=Q=D0", BBS_RAID6, 1, { 0x5a }, 0x5a, 0x5a },
	{ "raid5 D=0f,f0,ff -> P=00", BBS_RAID5, 3, { 0x0f, 0xf0, 0xff }, 0x00, 0 },
};

static void check_kats(void)
{
	const size_t lens[] = { 1, 100, 4096 };
	uint8_t *s[BBS_PARITY_MAX_STRIPS];
	unsigned int checks = 0, bad = 0;

	for (size_t k = 0; k < sizeof(kats) / sizeof(kats[0]); k++) {
		const struct kat *t = &kats[k];
		unsigned int np = bbs_parity_nr(t->raid);
		bool ok = true;

		for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
			size_t len = lens[l];

			place(s, t->nd + np, len, 0);
			for (unsigned int i = 0; i < t->nd; i++)
				memset(s[i], t->d[i], len);
			bbs_parity_gen(t->raid, t->nd, (void *const *)s, len, 0);
			for (size_t x = 0; x < len; x++) {
				ok &= s[t->nd][x] == t->p;
				if (np == 2)
					ok &= s[t->nd + 1][x] == t->q;
			}
			checks++;
		}
		if (!ok)
			printf("     known answer %s: wrong\n", t->what);
		bad += !ok;
	}
	report("known answers (hand-derived P/Q bytes)", checks, bad);
}

/* One stripe shape: every step size against the reference. Returns the failures. */
static unsigned int gen_one(enum bbs_raid raid, unsigned int nd, size_t len, unsigned int misalign,
			    unsigned int *checks)
{
	const size_t steps[] = { 0, 4096, 512, 1000 };
	static uint8_t rp[MAX_LEN], rq[MAX_LEN];
	unsigned int np = bbs_parity_nr(raid), bad = 0;
	uint8_t *s[BBS_PARITY_MAX_STRIPS];

	place(s, nd + np, len, misalign);
	for (unsigned int i = 0; i < nd; i++)
		fill(s[i], len);
	ref_pq(nd, s, rp, np == 2 ? rq : NULL, len);

	for (size_t st = 0; st < sizeof(steps) / sizeof(steps[0]); st++) {
		bool ok;

		memset(s[nd], 0xcc, len);
		if (np == 2)
			memset(s[nd + 1], 0xcc, len);
		ok = bbs_parity_gen(raid, nd, (void *const *)s, len, steps[st]) == 0 &&
		     !memcmp(s[nd], rp, len) && (np == 1 || !memcmp(s[nd + 1], rq, len)) &&
		     guards_ok(s, nd + np, len);
		if (!ok)
			printf("     %s nr_data=%u len=%zu misalign=%u step=%zu: wrong parity\n",
			       raid_name(raid), nd, len, misalign, steps[st]);
		bad += !ok;
		(*checks)++;
	}
	return bad;
}

/* Generation against the reference, every shape, alignment and length. */
static void check_gen(enum bbs_raid raid)
{
	/*
	 * 4096 and 65536 are what btrfs uses; 4608 is a multiple of 64 but not
	 * of 4096 steps; 4120, 100, 33, 1 leave a tail ISA-L cannot take.
	 */
	const size_t lens[] = { 4096, 65536, 4096 + 512, 4096 + 24, 100, 33, 1 };
	const unsigned int misaligns[] = { 0, 1, 32 };
	unsigned int checks = 0, bad = 0;
	char group[80];

	for (unsigned int nd = 1; nd <= MAX_ND; nd++)
		for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++)
			for (size_t m = 0; m < sizeof(misaligns) / sizeof(misaligns[0]); m++)
				bad += gen_one(raid, nd, lens[l], misaligns[m], &checks);
	snprintf(group, sizeof(group), "%s gen == reference, nr_data 1..%d, step == batched",
		 raid_name(raid), MAX_ND);
	report(group, checks, bad);
}

/* Wipe failed[], recover, and compare every strip with the original. */
static bool recover_one(enum bbs_raid raid, unsigned int nd, uint8_t **s, uint8_t **orig,
			size_t len, const unsigned int *failed, unsigned int nr_failed)
{
	unsigned int nr = nd + bbs_parity_nr(raid);

	for (unsigned int f = 0; f < nr_failed; f++)
		fill(s[failed[f]], len);
	if (bbs_parity_recover(raid, nd, (void *const *)s, len, failed, nr_failed))
		return false;
	for (unsigned int i = 0; i < nr; i++)
		if (memcmp(s[i], orig[i], len))
			return false;
	return guards_ok(s, nr, len);
}

/* One stripe shape: every single failure, and every pair for raid6. */
static unsigned int recover_all(enum bbs_raid raid, unsigned int nd, size_t len,
				unsigned int misalign, unsigned int *checks)
{
	static uint8_t obuf[BBS_PARITY_MAX_STRIPS][MAX_LEN];
	unsigned int np = bbs_parity_nr(raid), nr = nd + np, bad = 0;
	uint8_t *s[BBS_PARITY_MAX_STRIPS], *orig[BBS_PARITY_MAX_STRIPS];

	place(s, nr, len, misalign);
	for (unsigned int i = 0; i < nd; i++)
		fill(s[i], len);
	ref_pq(nd, s, s[nd], np == 2 ? s[nd + 1] : NULL, len);
	for (unsigned int i = 0; i < nr; i++) {
		orig[i] = obuf[i];
		memcpy(orig[i], s[i], len);
	}

	for (unsigned int a = 0; a < nr; a++) {
		unsigned int one[1] = { a };

		if (!recover_one(raid, nd, s, orig, len, one, 1)) {
			printf("     %s nr_data=%u len=%zu misalign=%u lost %u: not recovered\n",
			       raid_name(raid), nd, len, misalign, a);
			bad++;
		}
		(*checks)++;
		for (unsigned int b = a + 1; np == 2 && b < nr; b++) {
			/* both orders of failed[] */
			unsigned int ba[2] = { b, a }, ab[2] = { a, b };

			if (!recover_one(raid, nd, s, orig, len, ba, 2) ||
			    !recover_one(raid, nd, s, orig, len, ab, 2)) {
				printf("     %s nr_data=%u len=%zu misalign=%u lost %u+%u: "
				       "not recovered\n",
				       raid_name(raid), nd, len, misalign, a, b);
				bad++;
			}
			(*checks)++;
		}
	}
	return bad;
}

static void check_recover(enum bbs_raid raid)
{
	const size_t lens[] = { 4096, 65536, 4096 + 24, 33 };
	const unsigned int misaligns[] = { 0, 1 };
	unsigned int np = bbs_parity_nr(raid), checks = 0, bad = 0;
	char group[80];

	for (unsigned int nd = 1; nd <= MAX_ND; nd++)
		for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++)
			for (size_t m = 0; m < sizeof(misaligns) / sizeof(misaligns[0]); m++)
				bad += recover_all(raid, nd, lens[l], misaligns[m], &checks);
	snprintf(group, sizeof(group), "%s recover %s, %u..%u devices", raid_name(raid),
		 np == 2 ? "all singles and pairs" : "all singles", 1 + np, MAX_ND + np);
	report(group, checks, bad);
}

/* The widest stripe: 254 data strips, Q coefficients up to g^253. */
static void check_max(void)
{
	const unsigned int nd = BBS_PARITY_MAX_DATA, nr = nd + 2;
	const unsigned int pairs[][2] = { { 0, 1 },	{ 0, 253 }, { 100, 200 },
					  { 252, 253 }, { 7, nd },  { 253, nd + 1 } };
	static uint8_t obuf[BBS_PARITY_MAX_STRIPS][256];
	uint8_t *s[BBS_PARITY_MAX_STRIPS], *orig[BBS_PARITY_MAX_STRIPS];
	static uint8_t rp[256], rq[256];
	unsigned int checks = 0, bad = 0;
	size_t len = 256;

	place(s, nr, len, 0);
	for (unsigned int i = 0; i < nd; i++)
		fill(s[i], len);
	ref_pq(nd, s, rp, rq, len);
	bad += bbs_parity_gen(BBS_RAID6, nd, (void *const *)s, len, 0) != 0 ||
	       memcmp(s[nd], rp, len) || memcmp(s[nd + 1], rq, len);
	checks++;
	for (unsigned int i = 0; i < nr; i++) {
		orig[i] = obuf[i];
		memcpy(orig[i], s[i], len);
	}
	for (size_t k = 0; k < sizeof(pairs) / sizeof(pairs[0]); k++) {
		bad += !recover_one(BBS_RAID6, nd, s, orig, len, pairs[k], 2);
		checks++;
	}
	report("raid6 nr_data=254 (256 devices): gen and two-failure recovery", checks, bad);
}

/*
 * bbs_parity_check_degraded on one stripe shape, failed[] lost (their
 * contents wiped first).  A byte of strip c (c == nr: none) at x is flipped
 * beforehand; want is the bad[] bits of its step.  True when the return,
 * bad[], the rebuilt strips and the regenerated parity are as expected.
 */
static bool degraded_one(enum bbs_raid raid, unsigned int nd, uint8_t **s, uint8_t **orig,
			 size_t len, size_t step, const unsigned int *failed,
			 unsigned int nr_failed, unsigned int c, size_t x, uint8_t want)
{
	unsigned int np = bbs_parity_nr(raid), nr = nd + np;
	uint8_t *par[2] = { pool[nr], pool[nr + 1] }, bad[MAX_LEN];
	size_t each = step ? step : len, nsteps = (len + each - 1) / each;
	int ret;
	bool ok = true;

	for (unsigned int i = 0; i < nr; i++)
		memcpy(s[i], orig[i], len);
	for (unsigned int f = 0; f < nr_failed; f++)
		fill(s[failed[f]], len);
	if (c < nr)
		s[c][x] ^= 0x5a;
	memset(bad, 0xee, sizeof(bad));
	ret = bbs_parity_check_degraded(raid, nd, (void *const *)s, len, failed, nr_failed,
					(void *const *)par, step, bad);
	if (ret != (c < nr))
		return false;
	for (size_t i = 0; i < nsteps; i++)
		ok &= bad[i] == (c < nr && i == x / each ? want : 0);
	ok &= bad[nsteps] == 0xee;
	if (c < nr)
		return ok;
	/* Clean: every strip rebuilt, and the regenerated parity is the original. */
	for (unsigned int i = 0; i < nr; i++)
		ok &= !memcmp(s[i], orig[i], len);
	for (unsigned int p = 0; p < np; p++)
		ok &= !memcmp(par[p], orig[nd + p], len);
	return ok && guards_ok(s, nr, len);
}

/* Every failure the check takes, clean and with each surviving strip corrupted. */
static unsigned int degraded_all(enum bbs_raid raid, unsigned int nd, size_t len, size_t step,
				 unsigned int *checks)
{
	static uint8_t obuf[BBS_PARITY_MAX_STRIPS][MAX_LEN];
	unsigned int np = bbs_parity_nr(raid), nr = nd + np, bad = 0;
	uint8_t *s[BBS_PARITY_MAX_STRIPS], *orig[BBS_PARITY_MAX_STRIPS];

	place(s, nr, len, 0);
	for (unsigned int i = 0; i < nd; i++)
		fill(s[i], len);
	ref_pq(nd, s, s[nd], np == 2 ? s[nd + 1] : NULL, len);
	for (unsigned int i = 0; i < nr; i++) {
		orig[i] = obuf[i];
		memcpy(orig[i], s[i], len);
	}
	/* a == nr: no failure; else raid6 loses strip a (raid5: see check_degraded). */
	for (unsigned int a = np == 2 ? 0 : nr; a <= nr; a++) {
		unsigned int one[1] = { a }, nf = a < nr;
		/* The witness: the parity strip the rebuild leaves alone (both when none failed). */
		uint8_t want = nf ? (a == nd + 1 ? 1 : 2) : (np == 2 ? 3 : 1);

		for (unsigned int c = 0; c <= nr; c++) {
			size_t x = (c * 7919 + a * 104729) % len;
			uint8_t w = want;

			if (c == a)
				continue;
			/* No failure: only the parity strip corrupted disagrees. */
			if (!nf && c >= nd && c < nr)
				w = 1U << (c - nd);
			(*checks)++;
			if (degraded_one(raid, nd, s, orig, len, step, one, nf, c, x, w))
				continue;
			printf("     %s nr_data=%u len=%zu step=%zu lost %d, corrupt %d at %zu: "
			       "wrong\n",
			       raid_name(raid), nd, len, step, nf ? (int)a : -1,
			       c < nr ? (int)c : -1, x);
			bad++;
		}
	}
	return bad;
}

static void check_degraded(enum bbs_raid raid)
{
	const size_t shapes[][2] = {
		{ 16384, 4096 }, { 65536, 4096 }, { 4096 + 24, 1000 }, { 33, 0 }
	};
	unsigned int np = bbs_parity_nr(raid), checks = 0, bad = 0;
	uint8_t *s[BBS_PARITY_MAX_STRIPS], *par[2], before[8][64], flags[2];
	const unsigned int pair[2] = { 0, 1 }, one[1] = { 0 }, out[1] = { 9 };
	char group[96];

	for (unsigned int nd = 1; nd <= MAX_ND; nd++)
		for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++)
			bad += degraded_all(raid, nd, shapes[k][0], shapes[k][1], &checks);

	/* As many failures as parity strips: -ENODATA, nothing written. */
	place(s, 4 + np, 64, 0);
	par[0] = pool[4 + np];
	par[1] = pool[5 + np];
	for (unsigned int i = 0; i < 4 + np; i++) {
		fill(s[i], 64);
		memcpy(before[i], s[i], 64);
	}
	memcpy(before[4 + np], par[0], 64);
	checks++;
	bad += bbs_parity_check_degraded(raid, 4, (void *const *)s, 64, np == 2 ? pair : one, np,
					 (void *const *)par, 0, flags) != -ENODATA;
	checks++;
	bad += bbs_parity_check_degraded(raid, 4, (void *const *)s, 64, out, 1, NULL, 0, flags) !=
	       -EINVAL;
	checks++;
	bad += bbs_parity_check_degraded(raid, 4, (void *const *)s, 64, out, 1, (void *const *)par,
					 0, NULL) != -EINVAL;
	if (np == 2) {
		checks++;
		bad += bbs_parity_check_degraded(raid, 4, (void *const *)s, 64, out, 1,
						 (void *const *)par, 0, flags) != -EINVAL;
	}
	for (unsigned int i = 0; i < 4 + np; i++) {
		checks++;
		bad += memcmp(before[i], s[i], 64) != 0;
	}
	checks++;
	bad += memcmp(before[4 + np], par[0], 64) != 0;
	snprintf(group, sizeof(group), "%s degraded check: %s lost, any strip corrupted",
		 raid_name(raid), np == 2 ? "0 or 1" : "0");
	report(group, checks, bad);
}

static void check_einval(void)
{
	static uint8_t before[6][64];
	uint8_t *s[BBS_PARITY_MAX_STRIPS];
	const unsigned int dup[2] = { 1, 1 }, out[2] = { 0, 6 }, two[2] = { 0, 1 };
	unsigned int checks = 0, bad = 0;

	place(s, 6, 64, 0);
	for (unsigned int i = 0; i < 6; i++) {
		fill(s[i], 64);
		memcpy(before[i], s[i], 64);
	}
#define EXPECT_EINVAL(call)                                   \
	do {                                                  \
		checks++;                                     \
		if ((call) != -EINVAL) {                      \
			printf("     accepted: %s\n", #call); \
			bad++;                                \
		}                                             \
	} while (0)
	EXPECT_EINVAL(bbs_parity_gen(BBS_RAID6, 0, (void *const *)s, 64, 0));
	EXPECT_EINVAL(bbs_parity_gen(BBS_RAID6, BBS_PARITY_MAX_DATA + 1, (void *const *)s, 64, 0));
	EXPECT_EINVAL(bbs_parity_gen((enum bbs_raid)3, 4, (void *const *)s, 64, 0));
	EXPECT_EINVAL(bbs_parity_gen(BBS_RAID5, 4, NULL, 64, 0));
	EXPECT_EINVAL(bbs_parity_recover(BBS_RAID5, 4, (void *const *)s, 64, two, 2));
	EXPECT_EINVAL(bbs_parity_recover(BBS_RAID6, 4, (void *const *)s, 64, dup, 2));
	EXPECT_EINVAL(bbs_parity_recover(BBS_RAID6, 4, (void *const *)s, 64, out, 2));
	EXPECT_EINVAL(bbs_parity_recover(BBS_RAID6, 4, (void *const *)s, 64, out + 1, 1));
	EXPECT_EINVAL(bbs_parity_recover(BBS_RAID6, 4, (void *const *)s, 64, NULL, 1));
#undef EXPECT_EINVAL
	checks++;
	bad += bbs_parity_recover(BBS_RAID6, 4, (void *const *)s, 64, NULL, 0) != 0;
	for (unsigned int i = 0; i < 6; i++) {
		checks++;
		bad += memcmp(before[i], s[i], 64) != 0;
	}
	report("bad arguments: -EINVAL, nothing written", checks, bad);
}

int main(void)
{
	for (unsigned int i = 0; i < BBS_PARITY_MAX_STRIPS; i++) {
		pool[i] = aligned_alloc(4096, MAX_LEN + SLACK);
		if (!pool[i]) {
			fprintf(stderr, "parity_test: out of memory\n");
			return 1;
		}
	}
	ref_init();

	check_field();
	check_kats();
	check_gen(BBS_RAID5);
	check_gen(BBS_RAID6);
	check_recover(BBS_RAID5);
	check_recover(BBS_RAID6);
	check_degraded(BBS_RAID5);
	check_degraded(BBS_RAID6);
	check_max();
	check_einval();

	for (unsigned int i = 0; i < BBS_PARITY_MAX_STRIPS; i++)
		free(pool[i]);
	printf("%s\n", failures ? "FAIL" : "PASS");
	return failures ? 1 : 0;
}
